// The live board: columns by status, inline create, an editor dialog, drag and
// drop plus keyboard moves, filters, presence, activity and the bell.
import { describeEvent, renderActivity } from "./activity.js";
import { api, apiAll } from "./api.js";
import { createBell } from "./bell.js";
import { createCards, STATUSES, STATUS_LABEL } from "./cards.js";
import { avatar, colorizeAvatars, debounce, h, readPageData, toast } from "./dom.js";
import { createEditor } from "./editor.js";
import { LiveSocket } from "./socket.js";
import { BoardStore } from "./store.js";

const page = readPageData();
const WS = page.workspace.id;
const ME = page.user;
const CONN_LABEL = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
                     closed: "Disconnected", idle: "Connecting…" };

let role = page.role;
const members = new Map();     // user id -> {user, role}
const presence = new Map();    // user id -> {user, status, viewing}
const titles = new Map();      // task id -> last known title (for the activity of deletions)
const activity = { seen: new Set(), items: [] };
let snapshotReady = false;
let buffered = [];
let renderQueued = false;
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
const editor = createEditor({ store, canEdit, viewersOf, setViewing });
const cards = createCards({ store, socket, board: $("board"), canEdit, matches, memberName, viewersOf,
                            openEditor: (id) => editor.open(id), render });
window.collab = { store, socket };   // a handle for debugging and the browser tests

// -- socket messages --------------------------------------------------------------
function onMessage(msg, info = {}) {
  switch (msg.type) {
    case "hello":
      presence.clear();
      for (const p of msg.presence || []) presence.set(p.user.id, p);
      setRole(msg.role);
      presenceState.sent = "active|null";   // what the server assumes for a new socket
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
    editor.conflict(current, text);
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
  editor.setDisabled(!canEdit());
  scheduleRender();
}

// -- presence -------------------------------------------------------------------------
const sendPresence = debounce(() => {
  const viewing = presenceState.viewing && !presenceState.viewing.startsWith("tmp-") ? presenceState.viewing : null;
  const key = `${presenceState.status}|${viewing}`;
  if (key === presenceState.sent) return;
  if (socket.send({ type: "presence.update", data: { status: presenceState.status, viewing } })) presenceState.sent = key;
}, 100);

function setViewing(taskId) {
  presenceState.viewing = taskId;
  sendPresence();
}

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
    if (cards.dragging()) return;   // the drop renders
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

// Cards are rebuilt only when what they show changed, and a column's nodes are
// touched only when its order changed: a click in progress, a focus or a hover
// survives the live updates of other cards.
const cardCache = new Map();   // task id -> {sig, el}

function cardFor(task) {
  const sig = JSON.stringify([task, viewersOf(task.id).map((p) => p.user.id), canEdit(), socket.state,
                              task.assigned_to && memberName(task.assigned_to)]);
  const hit = cardCache.get(task.id);
  if (hit && hit.sig === sig) return hit.el;
  const el = cards.renderCard(task);
  cardCache.set(task.id, { sig, el });
  return el;
}

function render() {
  const view = store.view();
  const active = document.activeElement;
  const focusCard = active && active.closest ? active.closest(".task") : null;
  const focus = focusCard ? { id: store.resolve(focusCard.dataset.id), action: active.dataset.action || null } : null;

  for (const status of STATUSES) {
    const all = view.filter((t) => t.status === status);
    const shown = all.filter(matches);
    const list = $(`col-${status}`);
    const nodes = shown.map(cardFor);
    const current = list.children;
    if (current.length !== nodes.length || nodes.some((node, i) => current[i] !== node)) list.replaceChildren(...nodes);
    const count = document.querySelector(`[data-count="${status}"]`);
    count.textContent = shown.length === all.length ? String(all.length) : `${shown.length} / ${all.length}`;
  }
  const ids = new Set(view.map((t) => t.id));
  for (const id of cardCache.keys()) if (!ids.has(id)) cardCache.delete(id);
  if (focus && (!document.activeElement || document.activeElement === document.body)) {
    const card = document.querySelector(`.task[data-id="${CSS.escape(focus.id)}"]`);
    const target = card && (focus.action ? card.querySelector(`[data-action="${focus.action}"]`) : card);
    if (target) target.focus();
    else if (card) card.focus();
  }
  renderPresence(view);
  renderPending();
  editor.refresh(view);
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

function fillMemberSelects() {
  const sorted = [...members.values()].sort((a, b) => a.user.username.localeCompare(b.user.username));
  editor.setMembers(sorted);
  const filter = $("filter-assignee");
  const keepFilter = filter.value || filters.assignee;
  filter.replaceChildren(h("option", { value: "" }, "Everyone"), h("option", { value: "me" }, "Assigned to me"),
    h("option", { value: "none" }, "Unassigned"), ...sorted.map((m) => h("option", { value: m.user.id }, m.user.username)));
  filter.value = keepFilter;
}

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
