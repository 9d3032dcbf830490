// Board state: the tasks as the server last confirmed them, plus an outbox of
// this tab's writes that are not confirmed yet. What the page shows is the
// confirmed state with the outbox replayed on top (optimistic updates): an
// ack moves a write into the confirmed state, an error drops it (the change
// rolls back by itself). The outbox is kept in localStorage, so writes made
// offline survive a reload and are sent on reconnect with their op_id, which
// the server applies at most once.
import { newOpId } from "./api.js";

const STALE_OUTBOX_MS = 20000;
const RETRY_CODES = { rate_limited: 5000, in_progress: 1000 };

function tabId() {
  let id = sessionStorage.getItem("collab.tab");
  if (!id) {
    id = newOpId().slice(0, 12);
    sessionStorage.setItem("collab.tab", id);
  }
  return id;
}

export class BoardStore {
  constructor({ workspaceId, userId, send, onChange = () => {}, onProblem = () => {} }) {
    this.userId = userId;
    this.send = send;
    this.onChange = onChange;
    this.onProblem = onProblem;
    this.prefix = `collab.outbox.${workspaceId}.${userId}.`;
    this.key = this.prefix + tabId();
    this.tasks = new Map();
    this.ops = [];
    this.inflight = null;
    this.retryTimer = null;
    this.resolved = new Map();   // temporary id -> server id, once a create is confirmed
    this._load();
    this._touch = setInterval(() => this._save(), 5000);
  }

  // -- persistence ------------------------------------------------------------
  _load() {
    const read = (key) => {
      try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; }
    };
    const mine = read(this.key);
    this.ops = (mine && mine.ops) || [];
    // Adopt what a closed tab of this user left unsent; op_ids keep it applied once.
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (!key || !key.startsWith(this.prefix) || key === this.key) continue;
      const other = read(key);
      if (other && Date.now() - (other.touched || 0) > STALE_OUTBOX_MS) {
        this.ops.push(...(other.ops || []));
        localStorage.removeItem(key);
      }
    }
    this._save();
  }

  _save() {
    try {
      if (this.ops.length) localStorage.setItem(this.key, JSON.stringify({ touched: Date.now(), ops: this.ops }));
      else localStorage.removeItem(this.key);
    } catch { /* storage full or disabled: the outbox still works in memory */ }
  }

  // -- confirmed state ----------------------------------------------------------
  setSnapshot(tasks) {
    this.tasks = new Map(tasks.map((t) => [t.id, t]));
    this._changed();
  }

  _serverTask(task) {
    const known = this.tasks.get(task.id);
    if (known && known.version > task.version) return false;
    this.tasks.set(task.id, task);
    return true;
  }

  // A workspace event (already de-duplicated by seq). Returns true when tasks changed.
  applyEvent(ev) {
    const mine = ev.op_id && ev.actor && ev.actor.id === this.userId
      ? this.ops.find((op) => op.op_id === ev.op_id) : null;
    if (mine) {
      this._confirm(mine, ev.data);
      return true;
    }
    if (ev.type === "task.created" || ev.type === "task.updated") {
      const { changed, ...task } = ev.data;
      this._serverTask(task);
    } else if (ev.type === "task.deleted") {
      this.tasks.delete(ev.data.id);
    } else {
      return false;
    }
    this._changed();
    return true;
  }

  // -- writes ------------------------------------------------------------------
  create(fields) {
    const op = { op_id: newOpId(), type: "task.create", data: { ...fields }, sent: false };
    op.tmp = `tmp-${op.op_id}`;
    this.ops.push(op);
    this._commitLocal();
    return op.tmp;
  }

  // `base` is the version the user saw when they started this edit.
  update(id, fields, base) {
    if (id.startsWith("tmp-")) {
      const create = this.ops.find((op) => op.tmp === id);
      if (!create) return;
      if (!create.sent) Object.assign(create.data, fields);
      else this.ops.push({ op_id: newOpId(), type: "task.update", data: { id, version: null, ...fields }, sent: false });
      this._commitLocal();
      return;
    }
    const version = base ?? this.tasks.get(id)?.version;
    if (version === undefined) return;
    const pending = [...this.ops].reverse().find((op) => op.data.id === id && !op.sent);
    if (pending && pending.type === "task.update") {
      const keep = Math.min(pending.data.version, version);
      Object.assign(pending.data, fields, { version: keep });
    } else {
      this.ops.push({ op_id: newOpId(), type: "task.update", data: { id, version, ...fields }, sent: false });
    }
    this._commitLocal();
  }

  remove(id) {
    if (id.startsWith("tmp-")) {
      const create = this.ops.find((op) => op.tmp === id);
      if (create && !create.sent) {
        this.ops = this.ops.filter((op) => op !== create && op.data.id !== id);
        this._commitLocal();
        return;
      }
    } else {
      this.ops = this.ops.filter((op) => op.sent || op.data.id !== id);
    }
    this.ops.push({ op_id: newOpId(), type: "task.delete", data: { id }, sent: false });
    this._commitLocal();
  }

  _commitLocal() {
    this._save();
    this._changed();
    this.flush();
  }

  // -- transport -----------------------------------------------------------------
  // One write in flight at a time, oldest first: later writes of a task may
  // need the id or the version the earlier one gets.
  flush() {
    if (this.inflight || !this.ops.length || this.retryTimer) return;
    const op = this.ops[0];
    if (op.data.id && op.data.id.startsWith("tmp-")) {
      // Its create failed and was dropped: nothing to address.
      this.ops.shift();
      this._save();
      return this.flush();
    }
    const data = { ...op.data };
    if (!this.send({ type: op.type, op_id: op.op_id, data })) return;
    this.inflight = op.op_id;
    if (!op.sent) { op.sent = true; this._save(); }
  }

  connectionLost() {
    this.inflight = null;
  }

  onAck(msg) {
    const op = this.ops.find((o) => o.op_id === msg.op_id);
    if (!op) { if (this.inflight === msg.op_id) this.inflight = null; this.flush(); return; }
    this._confirm(op, msg.data);
  }

  _confirm(op, data) {
    this.ops = this.ops.filter((o) => o !== op);
    if (this.inflight === op.op_id) this.inflight = null;
    if (op.type === "task.create" && data) {
      const { changed, ...task } = data;
      this._serverTask(task);
      this.resolved.set(op.tmp, task.id);
      for (const other of this.ops) {
        if (other.data.id === op.tmp) {
          other.data.id = task.id;
          if (other.type === "task.update" && other.data.version === null) other.data.version = task.version;
        }
      }
    } else if (op.type === "task.update" && data) {
      const { changed, ...task } = data;
      this._serverTask(task);
      // Our own write moved the version on; later edits made on top of the same
      // base would otherwise conflict with it. Only when nobody wrote in between.
      if (task.version === op.data.version + 1) {
        for (const other of this.ops) {
          if (!other.sent && other.type === "task.update" && other.data.id === task.id && other.data.version === op.data.version) {
            other.data.version = task.version;
          }
        }
      }
    } else if (op.type === "task.delete") {
      this.tasks.delete(op.data.id);
    }
    this._save();
    this._changed();
    this.flush();
  }

  onError(msg) {
    const op = this.ops.find((o) => o.op_id === msg.op_id);
    if (!op) {
      // Not a write of ours (a presence update, a message from before a reload).
      if (msg.op_id || msg.code !== "invalid") this.onProblem({ code: msg.code, detail: msg.detail });
      else console.warn("socket error", msg.detail);
      return;
    }
    if (this.inflight === op.op_id) this.inflight = null;
    if (RETRY_CODES[msg.code]) {
      this.retryTimer = setTimeout(() => { this.retryTimer = null; this.flush(); }, RETRY_CODES[msg.code]);
      return;
    }
    this.ops = this.ops.filter((o) => o !== op && !(op.tmp && o.data.id === op.tmp));
    const current = msg.data && msg.data.current;
    if (current) this._serverTask(current);
    if (msg.code === "not_found" && op.data.id) this.tasks.delete(op.data.id);
    this._save();
    this._changed();
    this.onProblem({ code: msg.code, detail: msg.detail, op, current, fields: (msg.data && msg.data.fields) || [] });
    this.flush();
  }

  // -- what the page shows ----------------------------------------------------------
  view() {
    const tasks = new Map([...this.tasks].map(([id, t]) => [id, { ...t, pending: false }]));
    let maxPos = Math.max(0, ...[...tasks.values()].map((t) => t.position));
    for (const op of this.ops) {
      if (op.type === "task.create") {
        const position = op.data.position ?? (maxPos += 1);
        tasks.set(op.tmp, { id: op.tmp, title: "", description: "", status: "todo", priority: 0, due_date: null,
                            assigned_to: null, version: 0, created_by: this.userId, ...op.data, position, pending: true });
      } else if (op.type === "task.update") {
        const task = tasks.get(op.data.id);
        if (!task) continue;
        const { id, version, ...fields } = op.data;
        Object.assign(task, fields, { pending: true });
        maxPos = Math.max(maxPos, task.position);
      } else if (op.type === "task.delete") {
        tasks.delete(op.data.id);
      }
    }
    return [...tasks.values()].sort((a, b) => a.position - b.position || String(a.id).localeCompare(String(b.id)));
  }

  // The current id of a task: a temporary id is followed to its server id.
  resolve(id) {
    return this.resolved.get(id) || id;
  }

  pendingCount() {
    return this.ops.length;
  }

  _changed() {
    this.onChange();
  }
}
