// The activity feed: one line per event of the log, built as text nodes.
import { avatar, h, timeAgo } from "./dom.js";

const ROLE_WORD = { viewer: "a viewer", member: "a member", admin: "an admin", owner: "the owner" };

// Returns [verb text, quoted subject or null, trailing text] for an event.
export function describeEvent(ev, { titles, memberName, statusLabel }) {
  const d = ev.data || {};
  const title = (id, fallback) => d.title || titles.get(id) || fallback;
  switch (ev.type) {
    case "task.created":
      return ["created", title(d.id, "a task"), statusLabel[d.status] && d.status !== "todo" ? `in ${statusLabel[d.status]}` : ""];
    case "task.updated": {
      const changed = (d.changed || []).filter((f) => f !== "position");
      if (changed.includes("status")) {
        return d.status === "done" ? ["completed", title(d.id), ""] : ["moved", title(d.id), `to ${statusLabel[d.status]}`];
      }
      if (changed.length === 1 && changed[0] === "assigned_to") {
        return d.assigned_to ? ["assigned", title(d.id), `to ${memberName(d.assigned_to)}`] : ["unassigned", title(d.id), ""];
      }
      if (!changed.length && (d.changed || []).includes("position")) return ["reordered", title(d.id), ""];
      if (!changed.length) return ["touched", title(d.id), ""];
      return [`updated ${changed.map((f) => f.replace("_", " ")).join(", ")} of`, title(d.id), ""];
    }
    case "task.deleted":
      return ["deleted", titles.get(d.id) || "a task", ""];
    case "member.joined":
      return [`added ${d.user.username} as ${ROLE_WORD[d.role] || d.role}`, null, ""];
    case "member.removed":
      return ev.actor && ev.actor.id === d.user.id ? ["left the workspace", null, ""] : [`removed ${d.user.username}`, null, ""];
    case "member.role_changed":
      return [`made ${d.user.username} ${ROLE_WORD[d.role] || d.role}`, null, ""];
    case "workspace.updated":
      return ["updated the workspace", d.name || null, ""];
    case "workspace.deleted":
      return ["deleted the workspace", null, ""];
    default:
      return [ev.type, null, ""];
  }
}

export function renderActivity(list, empty, items) {
  list.replaceChildren(...items.map(({ ev, parts }) => {
    const [verb, subject, tail] = parts;
    const actor = ev.actor || { id: 0, username: "Someone" };
    const joinedSelf = ev.type === "member.joined" && ev.actor && ev.actor.id === ev.data.user.id;
    const line = h("p", { class: "activity-text" }, h("strong", {}, actor.username), " ",
      joinedSelf ? `joined as ${ev.data.role}` : verb,
      subject && !joinedSelf ? [" ", h("span", { class: "quote" }, `“${subject}”`)] : null,
      tail && !joinedSelf ? ` ${tail}` : null);
    return h("li", { class: "activity-item", dataset: { seq: ev.seq } }, avatar(actor, { size: "xs" }),
      h("div", {}, line, h("time", { class: "activity-time", datetime: ev.ts, title: ev.ts }, timeAgo(ev.ts))));
  }));
  empty.hidden = items.length > 0;
}
