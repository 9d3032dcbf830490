// Task cards: how one looks, and moving them by buttons, Alt+arrow keys and
// drag and drop. Positions are floats: a move takes the midpoint of its new
// neighbours, so one write moves one task.
import { avatar, h } from "./dom.js";

export const STATUSES = ["todo", "in_progress", "done"];
export const STATUS_LABEL = { todo: "To do", in_progress: "In progress", done: "Done" };
const PRIORITY_LABEL = ["None", "Low", "Medium", "High"];

export function createCards({ store, socket, board, canEdit, matches, memberName, viewersOf, openEditor, render }) {
  let dragging = null;

  function dueLabel(date) {
    const due = new Date(`${date}T00:00:00`);
    const today = new Date(); today.setHours(0, 0, 0, 0);
    const days = Math.round((due - today) / 86400000);
    const text = days === 0 ? "Today" : days === 1 ? "Tomorrow" : due.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    return { text, overdue: days < 0 };
  }

  function renderCard(task) {
    const editable = canEdit();
    const card = h("li", {
      class: `task${task.pending ? " is-pending" : ""}${task.status === "done" ? " is-done" : ""}`,
      tabindex: "0", draggable: editable ? "true" : null, dataset: { id: task.id },
      "aria-label": `${task.title}. ${STATUS_LABEL[task.status]}` + (task.assigned_to ? `, assigned to ${memberName(task.assigned_to)}` : ""),
    });
    const meta = h("div", { class: "task-meta" });
    if (task.priority > 0) meta.append(h("span", { class: `prio prio-${task.priority}` }, PRIORITY_LABEL[task.priority]));
    if (task.due_date) {
      const due = dueLabel(task.due_date);
      meta.append(h("span", { class: `due${due.overdue && task.status !== "done" ? " overdue" : ""}`, title: `Due ${task.due_date}` }, due.text));
    }
    if (task.pending) meta.append(h("span", { class: "sync-badge", title: "Not saved on the server yet" },
      socket.state === "live" ? "Saving…" : "Offline edit"));
    card.append(meta);
    card.append(h("button", { type: "button", class: "task-title", "data-action": "open" }, task.title));
    if (task.description) card.append(h("p", { class: "task-desc" }, task.description.slice(0, 140)));
    const foot = h("div", { class: "task-foot" });
    const viewers = viewersOf(task.id);
    if (viewers.length) {
      foot.append(h("span", { class: "viewing" }, viewers.map((p) => avatar(p.user, { size: "xs", title: `${p.user.username} is viewing` })),
        h("span", { class: "sr-only" }, `${viewers.map((p) => p.user.username).join(", ")} viewing`)));
    }
    foot.append(h("span", { class: "spacer" }));
    if (task.assigned_to) {
      foot.append(avatar({ id: task.assigned_to, username: memberName(task.assigned_to) },
        { size: "sm", title: `Assigned to ${memberName(task.assigned_to)}`, extraClass: "assignee" }));
    }
    if (foot.childElementCount > 1) card.append(foot);
    if (editable) {
      const i = STATUSES.indexOf(task.status);
      const actions = h("div", { class: "task-actions" });
      const act = (action, label, text, disabled) => h("button", {
        type: "button", class: "mini-btn", "data-action": action, "aria-label": label, title: label, disabled }, text);
      actions.append(
        act("left", i > 0 ? `Move to ${STATUS_LABEL[STATUSES[i - 1]]}` : "Move left", "←", i === 0),
        act("up", "Move up", "↑"),
        act("down", "Move down", "↓"),
        act("right", i < 2 ? `Move to ${STATUS_LABEL[STATUSES[i + 1]]}` : "Move right", "→", i === 2),
        act("complete", task.status === "done" ? "Reopen" : "Mark done", task.status === "done" ? "↺" : "✓"),
      );
      card.append(actions);
    }
    return card;
  }

  // -- moving ------------------------------------------------------------------------------
  function positionBetween(prev, next) {
    if (prev && next) return (prev.position + next.position) / 2;
    if (prev) return prev.position + 1;
    if (next) return next.position - 1;
    return 1;
  }

  // Move a task into `status`, before the task `beforeId` (or to the end).
  function moveTo(id, status, beforeId) {
    const view = store.view();
    const task = view.find((t) => t.id === id);
    if (!task || !canEdit()) return;
    const list = view.filter((t) => t.status === status && t.id !== id);
    let index = beforeId ? list.findIndex((t) => t.id === beforeId) : list.length;
    if (index < 0) index = list.length;
    if (status === task.status) {
      // Dropped where it already is: no write.
      const column = view.filter((t) => t.status === status);
      const at = column.findIndex((t) => t.id === id);
      if (column[at - 1] === list[index - 1] && column[at + 1] === list[index]) return;
    }
    const position = positionBetween(list[index - 1], list[index]);
    const fields = {};
    if (status !== task.status) fields.status = status;
    if (position !== task.position) fields.position = position;
    if (Object.keys(fields).length) store.update(id, fields);
  }

  function moveBy(id, direction) {
    const view = store.view();
    const task = view.find((t) => t.id === id);
    if (!task) return;
    const col = view.filter((t) => t.status === task.status && matches(t));
    const i = col.findIndex((t) => t.id === id);
    if (direction === "up" || direction === "down") {
      const j = direction === "up" ? i - 1 : i + 2;
      if ((direction === "up" && i <= 0) || (direction === "down" && i >= col.length - 1)) return;
      moveTo(id, task.status, col[j] ? col[j].id : null);
      return;
    }
    const s = STATUSES.indexOf(task.status) + (direction === "left" ? -1 : 1);
    if (s < 0 || s >= STATUSES.length) return;
    const target = view.filter((t) => t.status === STATUSES[s] && matches(t));
    moveTo(id, STATUSES[s], target[i] ? target[i].id : null);
  }

  function toggleDone(id) {
    const task = store.view().find((t) => t.id === id);
    if (task) moveTo(id, task.status === "done" ? "todo" : "done", null);
  }

  board.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    const card = e.target.closest(".task");
    if (!button || !card) return;
    const id = store.resolve(card.dataset.id);   // the card may have just been confirmed
    const action = button.dataset.action;
    if (action === "open") openEditor(id);
    else if (action === "complete") toggleDone(id);
    else moveBy(id, action);
  });

  board.addEventListener("keydown", (e) => {
    const card = e.target.closest(".task");
    if (!card) return;
    const keys = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down" };
    if (e.altKey && keys[e.key] && canEdit()) {
      e.preventDefault();
      moveBy(store.resolve(card.dataset.id), keys[e.key]);
    } else if (e.key === "Enter" && e.target === card) {
      e.preventDefault();
      openEditor(store.resolve(card.dataset.id));
    }
  });

  // Drag and drop: renders are held while dragging so the dragged node survives.
  board.addEventListener("dragstart", (e) => {
    const card = e.target.closest(".task");
    if (!card || !canEdit()) return;
    dragging = { id: store.resolve(card.dataset.id) };
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });

  function dropPoint(list, y) {
    const cards = [...list.querySelectorAll(".task:not(.dragging)")];
    return cards.find((c) => { const r = c.getBoundingClientRect(); return y < r.top + r.height / 2; }) || null;
  }

  function clearDropMarks() {
    for (const el of board.querySelectorAll(".drop-before, .drop-end")) el.classList.remove("drop-before", "drop-end");
  }

  board.addEventListener("dragover", (e) => {
    const column = e.target.closest(".column");
    if (!column || !dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    const list = column.querySelector(".cards");
    const before = dropPoint(list, e.clientY);
    clearDropMarks();
    if (before) before.classList.add("drop-before");
    else list.classList.add("drop-end");
  });

  board.addEventListener("drop", (e) => {
    const column = e.target.closest(".column");
    if (!column || !dragging) return;
    e.preventDefault();
    const list = column.querySelector(".cards");
    const before = dropPoint(list, e.clientY);
    const id = dragging.id;
    endDrag();
    moveTo(id, column.dataset.status, before ? before.dataset.id : null);
  });

  function endDrag() {
    if (!dragging) return;
    dragging = null;
    clearDropMarks();
    for (const el of board.querySelectorAll(".task.dragging")) el.classList.remove("dragging");
    render();
  }
  board.addEventListener("dragend", endDrag);


  return { renderCard, dragging: () => dragging };
}
