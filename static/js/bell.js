// The notification bell: unread count, a list that marks read, live arrivals.
import { api } from "./api.js";
import { h, timeAgo, toast } from "./dom.js";

export function createBell() {
  const button = document.getElementById("bell-button");
  const panel = document.getElementById("bell-panel");
  const list = document.getElementById("bell-list");
  const empty = document.getElementById("bell-empty");
  const badge = document.getElementById("bell-count");
  const readAll = document.getElementById("bell-read-all");
  if (!button) return { handle() {}, setUnread() {} };
  let unread = 0;
  let items = [];
  let loaded = false;

  function setUnread(n) {
    unread = Math.max(0, n);
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.hidden = unread === 0;
    button.setAttribute("aria-label", `Notifications, ${unread} unread`);
  }

  function render() {
    list.replaceChildren(...items.map((n) => {
      const row = h("li", { class: "notif" + (n.read_at ? "" : " unread"), dataset: { id: n.id } },
        h("button", { type: "button", class: "notif-btn" },
          h("span", { class: "notif-title" }, n.title),
          n.message ? h("span", { class: "notif-msg" }, n.message) : null,
          h("span", { class: "notif-time" }, timeAgo(n.created_at))));
      row.querySelector("button").addEventListener("click", () => markRead(n));
      return row;
    }));
    empty.hidden = items.length > 0;
  }

  async function refreshCount() {
    try {
      const page = await api("GET", "/api/notifications/?unread=true&page_size=1");
      setUnread(page.count);
    } catch { /* the badge keeps its last value */ }
  }

  async function load() {
    const page = await api("GET", "/api/notifications/?page_size=20");
    items = page.results;
    loaded = true;
    render();
  }

  async function markRead(n) {
    if (!n.read_at) {
      try {
        const updated = await api("POST", `/api/notifications/${n.id}/read/`);
        Object.assign(n, updated);
        setUnread(unread - 1);
        render();
      } catch (e) { toast(e.message, { kind: "error" }); return; }
    }
    // From another page, a notification about a workspace opens its board.
    const board = n.workspace ? `/workspaces/${n.workspace}/` : null;
    if (board && n.type !== "removed_from_workspace" && !location.pathname.startsWith(board)) location.href = board;
  }

  function toggle(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) load().catch((e) => toast(e.message, { kind: "error" }));
  }

  button.addEventListener("click", () => toggle(panel.hidden));
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !e.target.closest("#bell")) toggle(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) { toggle(false); button.focus(); }
  });
  readAll.addEventListener("click", async () => {
    try {
      await api("POST", "/api/notifications/read-all/");
      const now = new Date().toISOString();
      items.forEach((n) => { n.read_at = n.read_at || now; });
      setUnread(0);
      render();
    } catch (e) { toast(e.message, { kind: "error" }); }
  });

  refreshCount();
  return {
    setUnread,
    handle(notification) {
      setUnread(unread + 1);
      if (loaded) { items.unshift(notification); render(); }
      toast(notification.message || "", { title: notification.title, kind: "notify" });
    },
  };
}
