// The live board: columns by status, inline create, an editor dialog, drag and
// drop plus keyboard moves, filters, presence, activity and the bell.
import { api, apiAll } from "./api.js";
import { createBell } from "./bell.js";
import { avatar, colorizeAvatars, debounce, h, readPageData, toast } from "./dom.js";
import { describeEvent, renderActivity } from "./activity.js";
import { LiveSocket } from "./socket.js";
import { BoardStore } from "./store.js";

const page = readPageData();
const WS = page.workspace.id;
const ME = page.user;
const STATUSES = ["todo", "in_progress", "done"];
const STATUS_LABEL = { todo: "To do", in_progress: "In progress", done: "Done" };
const PRIORITY_LABEL = ["None", "Low", "Medium", "High"];
const CONN_LABEL = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
                     closed: "Disconnected", idle: "Connecting…" };

let role = page.role;
const members = new Map();     // user id -> {user, role}
const presence = new Map();    // user id -> {user, status, viewing}
const titles = new Map();      // task id -> last known title (for the activity of deletions)
const activity = { seen: new Set(), items: [] };
let snapshotReady = false;
let buffered = [];
let dragging = null;
let renderQueued = false;
let editing = null;
const filters = { q: "", assignee: "" };
const presenceState = { status: document.visibilityState === "hidden" ? "idle" : "active", viewing: null, sent: null };

const $ = (id) => document.getElementById(id);
const canEdit = () => role !== "viewer";

colorizeAvatars();
const bell = createBell();
const socket = new LiveSocket(`/ws/workspaces/${WS}/`, { catchUp: true, onMessage, onState, onFatal });
const store = new BoardStore({
  workspaceId: WS, userId: ME.id, send: (message) => socket.send(message), onChange: scheduleRender, onProblem: showProblem,
});
window.collab = { store, socket };   // a handle for debugging and the browser tests

// -- socket messages --------------------------------------------------------------
function onMessage(msg, info = {}) {
  switch (msg.type) {
    case "hello":
      presence.clear();
      for (const p of msg.presence || []) presence.set(p.user.id, p);
      setRole(msg.role);
      presenceState.sent = null;
      sendPresence();
      if (info.fresh) loadSnapshot(msg.seq);
      else store.flush();
      scheduleRender();
      break;
    case "resync_required":
      loadSnapshot(socket.seq);
      break;
    case "ack":
      store.onAck(msg);
      break;
    case "error":
      store.onError(msg);
      break;
    case "presence.joined":
    case "presence.updated":
      presence.set(msg.data.user.id, msg.data);
      scheduleRender();
      break;
    case "presence.left":
      presence.delete(msg.data.user.id);
      scheduleRender();
      break;
    case "notification":
      bell.handle(msg.data);
      break;
    case "_disconnected":
      store.connectionLost();
      scheduleRender();
      break;
    default:
      if (/^(task|member|workspace)\./.test(msg.type)) {
        if (snapshotReady) applyEvent(msg);
        else buffered.push(msg);
      }
  }
}

function applyEvent(ev) {
  if (ev.type.startsWith("task.") && ev.type !== "task.deleted") titles.set(ev.data.id, ev.data.title);
  addActivity([ev]);
  store.applyEvent(ev);
  const data = ev.data || {};
  if (ev.type === "member.joined" || ev.type === "member.role_changed") {
    members.set(data.user.id, { user: data.user, role: data.role });
    if (data.user.id === ME.id) setRole(data.role);
    fillMemberSelects();
  } else if (ev.type === "member.removed") {
    members.delete(data.user.id);
    fillMemberSelects();
  } else if (ev.type === "workspace.updated") {
    $("ws-title").textContent = data.name;
    document.title = `${data.name} · Collab`;
  } else if (ev.type === "workspace.deleted") {
    toast("This workspace was deleted.", { kind: "error", timeout: 0 });
  }
  scheduleRender();
}

async function loadSnapshot(seq) {
  snapshotReady = false;
  try {
    const [tasks, memberList] = await Promise.all([
      apiAll(`/api/workspaces/${WS}/tasks/`), api("GET", `/api/workspaces/${WS}/members/`),
    ]);
    members.clear();
    for (const m of memberList) members.set(m.user.id, m);
    for (const t of tasks) titles.set(t.id, t.title);
    fillMemberSelects();
    store.setSnapshot(tasks);
    const pending = buffered;
    buffered = [];
    snapshotReady = true;
    pending.forEach(applyEvent);
    store.flush();
    loadActivity(seq);
  } catch (err) {
    toast(`Could not load the board: ${err.message}. Retrying…`, { kind: "error" });
    setTimeout(() => loadSnapshot(socket.seq), 3000);
  }
}

async function loadActivity(seq) {
  const since = Math.max(0, (seq || 0) - 30);
  try {
    const page = await api("GET", `/api/workspaces/${WS}/events/?since=${since}&limit=30`);
    addActivity(page.results.filter((ev) => ev.seq <= (seq || 0)));
  } catch { /* the feed fills from live events */ }
}

function onState(state) {
  const conn = $("conn");
  conn.dataset.state = state;
  $("conn-label").textContent = CONN_LABEL[state] || state;
  scheduleRender();
}

function onFatal(code) {
  if (code === 4401) {
    location.href = `/accounts/login/?next=${encodeURIComponent(location.pathname)}`;
  } else if (code === 4404) {
    toast("You no longer have access to this workspace.", { kind: "error", timeout: 0 });
    setTimeout(() => { location.href = "/"; }, 3000);
  } else {
    toast("The live connection was refused. Reload the page to try again.", { kind: "error", timeout: 0 });
  }
}

function showProblem({ code, detail, op, current, fields }) {
  if (code === "conflict" && current) {
    const what = fields && fields.length ? fields.join(", ") : "this task";
    const text = `Someone else changed ${what} of “${current.title}” first, so your change was not applied. ` +
      `Showing the current version (v${current.version}).`;
    toast(text, { kind: "conflict", title: "Conflict", timeout: 12000 });
    if (editing && editing.id === current.id) {
      editing.base = current.version;
      fillEditor(current, { force: true });
      showEditorError(text);
    }
    return;
  }
  const messages = {
    forbidden: "Your role does not allow this change.",
    not_found: "That task no longer exists.",
  };
  toast(messages[code] || detail || "The change could not be applied.", { kind: "error", title: "Not saved" });
}

// -- role ---------------------------------------------------------------------------
function setRole(next) {
  if (!next) return;
  role = next;
  const pill = $("my-role");
  pill.textContent = role;
  pill.className = `role-pill role-${role}`;
  for (const el of document.querySelectorAll("[data-edit-only]")) el.hidden = !canEdit();
  for (const el of $("task-form").elements) if (el.name) el.disabled = !canEdit();
  scheduleRender();
}

// -- presence -------------------------------------------------------------------------
const sendPresence = debounce(() => {
  const viewing = presenceState.viewing && !presenceState.viewing.startsWith("tmp-") ? presenceState.viewing : null;
  const key = `${presenceState.status}|${viewing}`;
  if (key === presenceState.sent) return;
  if (socket.send({ type: "presence.update", data: { status: presenceState.status, viewing } })) presenceState.sent = key;
}, 100);

document.addEventListener("visibilitychange", () => {
  presenceState.status = document.visibilityState === "hidden" ? "idle" : "active";
  sendPresence();
});

function renderPresence(view) {
  const list = $("presence");
  const people = [...presence.values()].sort((a, b) => (a.user.id === ME.id ? -1 : b.user.id === ME.id ? 1 :
    a.user.username.localeCompare(b.user.username)));
  list.replaceChildren(...people.slice(0, 6).map((p) => {
    const task = p.viewing && view.find((t) => t.id === p.viewing);
    const label = `${p.user.username}${p.user.id === ME.id ? " (you)" : ""} · ${p.status}` +
      (task ? ` · viewing “${task.title}”` : "");
    return h("li", { class: `presence-item ${p.status}`, dataset: { userId: p.user.id } },
      avatar(p.user, { size: "md", title: label }), h("span", { class: "sr-only" }, label));
  }));
  if (people.length > 6) list.append(h("li", { class: "presence-more" }, `+${people.length - 6}`));
}

function viewersOf(taskId) {
  return [...presence.values()].filter((p) => p.viewing === taskId && p.user.id !== ME.id);
}

// -- rendering --------------------------------------------------------------------------
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // A microtask, not requestAnimationFrame: background tabs must stay current too.
  Promise.resolve().then(() => {
    renderQueued = false;
    if (dragging) { dragging.dirty = true; return; }
    render();
  });
}

function matches(task) {
  if (filters.assignee === "me" && task.assigned_to !== ME.id) return false;
  if (filters.assignee === "none" && task.assigned_to !== null) return false;
  if (/^\d+$/.test(filters.assignee) && task.assigned_to !== Number(filters.assignee)) return false;
  if (filters.q) {
    const q = filters.q.toLowerCase();
    if (!task.title.toLowerCase().includes(q) && !(task.description || "").toLowerCase().includes(q)) return false;
  }
  return true;
}

function render() {
  const view = store.view();
  const active = document.activeElement;
  const focusCard = active && active.closest ? active.closest(".task") : null;
  const focus = focusCard ? { id: focusCard.dataset.id, action: active.dataset.action || null } : null;

  for (const status of STATUSES) {
    const all = view.filter((t) => t.status === status);
    const shown = all.filter(matches);
    $(`col-${status}`).replaceChildren(...shown.map(renderCard));
    const count = document.querySelector(`[data-count="${status}"]`);
    count.textContent = shown.length === all.length ? String(all.length) : `${shown.length} / ${all.length}`;
  }
  if (focus) {
    const card = document.querySelector(`.task[data-id="${CSS.escape(focus.id)}"]`);
    const target = card && (focus.action ? card.querySelector(`[data-action="${focus.action}"]`) : card);
    if (target) target.focus();
    else if (card) card.focus();
  }
  renderPresence(view);
  renderPending();
  if (editing) refreshEditor(view);
}

function renderPending() {
  const note = $("pending-note");
  const n = store.pendingCount();
  if (!n) { note.hidden = true; return; }
  note.hidden = false;
  note.textContent = socket.state === "live" ? `Saving ${n} change${n > 1 ? "s" : ""}…`
    : `${n} change${n > 1 ? "s" : ""} waiting to sync`;
}

function memberName(id) {
  const m = members.get(id);
  return m ? m.user.username : `user ${id}`;
}

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

const board = $("board");
board.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  const card = e.target.closest(".task");
  if (!button || !card) return;
  const id = card.dataset.id;
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
    moveBy(card.dataset.id, keys[e.key]);
  } else if (e.key === "Enter" && e.target === card) {
    e.preventDefault();
    openEditor(card.dataset.id);
  }
});

// Drag and drop: renders are held while dragging so the dragged node survives.
board.addEventListener("dragstart", (e) => {
  const card = e.target.closest(".task");
  if (!card || !canEdit()) return;
  dragging = { id: card.dataset.id, dirty: false };
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
  render();
}
board.addEventListener("dragend", endDrag);

// -- creating -------------------------------------------------------------------------------
for (const form of document.querySelectorAll(".add-form")) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = form.elements.title;
    const title = input.value.trim();
    if (!title || !canEdit()) return;
    store.create({ title, status: form.dataset.status });
    input.value = "";
    input.focus();
  });
}

// -- the editor ---------------------------------------------------------------------------------
const dialog = $("task-dialog");
const form = $("task-form");
const FIELDS = ["title", "description", "status", "priority", "due_date", "assigned_to"];
const inputs = { title: $("task-title"), description: $("task-description"), status: $("task-status"),
                 priority: $("task-priority"), due_date: $("task-due"), assigned_to: $("task-assignee") };

function toInput(name, value) {
  if (name === "assigned_to") return value === null || value === undefined ? "" : String(value);
  if (name === "due_date") return value || "";
  return String(value ?? "");
}

function fromInput(name, raw) {
  if (name === "priority") return Number(raw);
  if (name === "assigned_to") return raw === "" ? null : Number(raw);
  if (name === "due_date") return raw || null;
  if (name === "title") return raw.trim();
  return raw;
}

function fillMemberSelects() {
  const sorted = [...members.values()].sort((a, b) => a.user.username.localeCompare(b.user.username));
  const assignee = inputs.assigned_to;
  const keep = assignee.value;
  assignee.replaceChildren(h("option", { value: "" }, "Unassigned"),
    ...sorted.map((m) => h("option", { value: m.user.id }, m.user.username)));
  assignee.value = keep;
  const filter = $("filter-assignee");
  const keepFilter = filter.value || filters.assignee;
  filter.replaceChildren(h("option", { value: "" }, "Everyone"), h("option", { value: "me" }, "Assigned to me"),
    h("option", { value: "none" }, "Unassigned"), ...sorted.map((m) => h("option", { value: m.user.id }, m.user.username)));
  filter.value = keepFilter;
}

function fillEditor(task, { force = false } = {}) {
  for (const name of FIELDS) {
    const input = inputs[name];
    const dirty = input.value !== toInput(name, editing.baseline[name]);
    if (force || !dirty) input.value = toInput(name, task[name]);
    editing.baseline[name] = task[name];
  }
  $("task-meta").textContent = task.version ? `v${task.version}` : "not saved yet";
}

function openEditor(id) {
  const task = store.view().find((t) => t.id === id);
  if (!task) return;
  editing = { id, base: store.tasks.get(id)?.version ?? null, baseline: {} };
  for (const name of FIELDS) inputs[name].value = toInput(name, task[name]);
  fillEditor(task, { force: true });
  $("task-dialog-title").textContent = canEdit() ? "Edit task" : "Task details";
  showEditorError(null);
  resetDelete();
  if (!dialog.open) dialog.showModal();
  (canEdit() ? inputs.title : $("task-cancel")).focus();
  presenceState.viewing = id;
  sendPresence();
  renderViewers();
}

function refreshEditor(view) {
  let task = view.find((t) => t.id === editing.id);
  if (!task && store.resolved.has(editing.id)) {
    // Its create was confirmed while the editor was open: follow the real id.
    editing.id = store.resolved.get(editing.id);
    editing.base = store.tasks.get(editing.id)?.version ?? null;
    presenceState.viewing = editing.id;
    sendPresence();
    task = view.find((t) => t.id === editing.id);
  }
  if (!task) {
    closeEditor();
    toast("The task you were viewing was deleted.", { kind: "error" });
    return;
  }
  const anyDirty = FIELDS.some((n) => inputs[n].value !== toInput(n, editing.baseline[n]));
  fillEditor(task);
  if (!anyDirty && store.tasks.get(task.id)) editing.base = store.tasks.get(task.id).version;
  renderViewers();
}

function renderViewers() {
  const viewers = editing ? viewersOf(editing.id) : [];
  const box = $("task-viewers");
  box.replaceChildren(...(viewers.length ? [
    ...viewers.map((p) => avatar(p.user, { size: "xs" })),
    h("span", {}, `${viewers.map((p) => p.user.username).join(", ")} ${viewers.length > 1 ? "are" : "is"} also viewing this task`),
  ] : []));
}

function showEditorError(text) {
  const box = $("task-error");
  box.hidden = !text;
  box.textContent = text || "";
}

function closeEditor() {
  if (dialog.open) dialog.close();
}

dialog.addEventListener("close", () => {
  editing = null;
  presenceState.viewing = null;
  sendPresence();
});

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!editing || !canEdit()) return;
  const changes = {};
  for (const name of FIELDS) {
    const value = fromInput(name, inputs[name].value);
    if (value !== editing.baseline[name] && !(name === "title" && value === String(editing.baseline[name]).trim())) changes[name] = value;
  }
  if ("title" in changes && !changes.title) {
    showEditorError("A task needs a title.");
    inputs.title.focus();
    return;
  }
  if (Object.keys(changes).length) store.update(editing.id, changes, editing.base);
  closeEditor();
});

$("task-close").addEventListener("click", closeEditor);
$("task-cancel").addEventListener("click", closeEditor);

const deleteButton = $("task-delete");
function resetDelete() {
  deleteButton.dataset.armed = "";
  deleteButton.textContent = "Delete";
}
deleteButton.addEventListener("click", () => {
  if (!editing) return;
  if (!deleteButton.dataset.armed) {
    deleteButton.dataset.armed = "1";
    deleteButton.textContent = "Click again to delete";
    return;
  }
  store.remove(editing.id);
  closeEditor();
});

// -- filters ------------------------------------------------------------------------------------
const params = new URLSearchParams(location.search);
filters.q = params.get("q") || "";
filters.assignee = params.get("assignee") || "";
$("filter-q").value = filters.q;

function syncFilterUrl() {
  const next = new URLSearchParams();
  if (filters.q) next.set("q", filters.q);
  if (filters.assignee) next.set("assignee", filters.assignee);
  const query = next.toString();
  history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
}

$("filter-q").addEventListener("input", debounce((e) => {
  filters.q = e.target.value.trim();
  syncFilterUrl();
  render();
}, 100));
$("filter-assignee").addEventListener("change", (e) => {
  filters.assignee = e.target.value;
  syncFilterUrl();
  render();
});

// -- activity ------------------------------------------------------------------------------------
function addActivity(events) {
  let added = false;
  for (const ev of events) {
    if (activity.seen.has(ev.seq)) continue;
    activity.seen.add(ev.seq);
    activity.items.push({ ev, parts: describeEvent(ev, { titles, memberName, statusLabel: STATUS_LABEL }) });
    added = true;
  }
  if (!added) return;
  activity.items.sort((a, b) => b.ev.seq - a.ev.seq);
  activity.items.length = Math.min(activity.items.length, 50);
  renderActivity($("activity"), $("activity-empty"), activity.items);
}

setRole(role);
socket.start();
