// The task dialog: edit (or, for a viewer, read) one task. The update it
// sends carries the version the user saw when the dialog opened, so a field
// someone else changed meanwhile is a conflict, never a silent overwrite.
import { avatar, h, toast } from "./dom.js";

export function createEditor({ store, canEdit, viewersOf, setViewing }) {
  const $ = (id) => document.getElementById(id);
  let editing = null;

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
    id = store.resolve(id);
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
    setViewing(id);
    renderViewers();
  }

  function refreshEditor(view) {
    let task = view.find((t) => t.id === editing.id);
    if (!task && store.resolved.has(editing.id)) {
      // Its create was confirmed while the editor was open: follow the real id.
      editing.id = store.resolved.get(editing.id);
      editing.base = store.tasks.get(editing.id)?.version ?? null;
      setViewing(editing.id);
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
    setViewing(null);
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


  return {
    open: openEditor,
    isOpen: () => editing !== null,
    refresh(view) { if (editing) refreshEditor(view); },
    conflict(current, text) {
      if (!editing || editing.id !== current.id) return;
      editing.base = current.version;
      fillEditor(current, { force: true });
      showEditorError(text);
    },
    setMembers(sorted) {
      const assignee = inputs.assigned_to;
      const keep = assignee.value;
      assignee.replaceChildren(h("option", { value: "" }, "Unassigned"),
        ...sorted.map((m) => h("option", { value: m.user.id }, m.user.username)));
      assignee.value = keep;
    },
    setDisabled(disabled) {
      for (const el of $("task-form").elements) if (el.name) el.disabled = disabled;
    },
  };
}
