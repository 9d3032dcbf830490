// Members and invites: roles, change role, remove, leave; create, copy, revoke invites.
import { api, apiAll } from "./api.js";
import { avatar, h, readPageData, toast } from "./dom.js";

const page = readPageData();
const WS = page.workspace.id;
const ME = page.user;
const myRole = page.role;
const RANK = { viewer: 0, member: 1, admin: 2, owner: 3 };
const $ = (id) => document.getElementById(id);

// What the caller may grant, and whom they may manage (the server checks again).
const grantable = myRole === "owner" ? ["viewer", "member", "admin"] : myRole === "admin" ? ["viewer", "member"] : [];
const canManage = (role) => role !== "owner" && (myRole === "owner" || (myRole === "admin" && RANK[role] < RANK.admin));

function roleOptions(select, selected = "member") {
  select.replaceChildren(...grantable.map((r) => h("option", { value: r, selected: r === selected }, r)));
}

function confirmButton(label, onConfirm) {
  const button = h("button", { type: "button", class: "btn btn-danger-ghost btn-sm" }, label);
  button.addEventListener("click", () => {
    if (!button.dataset.armed) {
      button.dataset.armed = "1";
      button.textContent = "Confirm";
      setTimeout(() => { button.dataset.armed = ""; button.textContent = label; }, 4000);
      return;
    }
    onConfirm();
  });
  return button;
}

async function run(action, success) {
  try {
    const result = await action();
    if (success) toast(success);
    return result;
  } catch (err) {
    toast(err.message, { kind: "error", title: "Not done" });
    return undefined;
  } finally {
    loadMembers();
  }
}

async function loadMembers() {
  let list;
  try { list = await api("GET", `/api/workspaces/${WS}/members/`); } catch (err) {
    if (err.status === 404) location.href = "/";
    return;
  }
  list.sort((a, b) => RANK[b.role] - RANK[a.role] || a.user.username.localeCompare(b.user.username));
  $("member-list").replaceChildren(...list.map((m) => {
    const isMe = m.user.id === ME.id;
    const row = h("li", { class: "member", dataset: { userId: m.user.id } }, avatar(m.user, { size: "md" }),
      h("span", { class: "member-name" }, m.user.username, isMe ? h("span", { class: "muted" }, " (you)") : null));
    if (!isMe && canManage(m.role)) {
      const select = h("select", { "aria-label": `Role of ${m.user.username}` });
      roleOptions(select, m.role);
      if (!grantable.includes(m.role)) select.prepend(h("option", { value: m.role, selected: true }, m.role));
      select.addEventListener("change", () => run(
        () => api("PATCH", `/api/workspaces/${WS}/members/${m.user.id}/`, { role: select.value }),
        `${m.user.username} is now ${select.value}.`));
      row.append(select, confirmButton("Remove", () => run(
        () => api("DELETE", `/api/workspaces/${WS}/members/${m.user.id}/`), `${m.user.username} was removed.`)));
      if (myRole === "owner") {
        // The owner cannot leave; handing over makes them an admin.
        row.append(confirmButton("Make owner", async () => {
          await run(() => api("POST", `/api/workspaces/${WS}/transfer/`, { user_id: m.user.id }),
            `${m.user.username} is now the owner.`);
          location.reload();
        }));
      }
    } else {
      row.append(h("span", { class: `role-pill role-${m.role}` }, m.role));
    }
    return row;
  }));
}

function describeInvite(inv) {
  const uses = inv.max_uses ? `${inv.uses} / ${inv.max_uses} uses` : `${inv.uses} use${inv.uses === 1 ? "" : "s"}`;
  let expiry = "never expires";
  if (inv.expires_at) {
    const at = new Date(inv.expires_at);
    expiry = at < new Date() ? "expired" : `expires ${at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}`;
  }
  return `${uses} · ${inv.revoked ? "revoked" : expiry}`;
}

async function loadInvites() {
  if (!grantable.length) return;
  const invites = await apiAll(`/api/workspaces/${WS}/invites/`).catch(() => []);
  $("invite-list").replaceChildren(...invites.map((inv) => {
    const row = h("li", { class: `invite${inv.revoked ? " revoked" : ""}`, dataset: { id: inv.id } },
      h("span", { class: `role-pill role-${inv.role}` }, inv.role), h("span", { class: "invite-info" }, describeInvite(inv)));
    if (!inv.revoked && grantable.includes(inv.role)) {
      row.append(confirmButton("Revoke", async () => {
        try {
          await api("DELETE", `/api/workspaces/${WS}/invites/${inv.id}/`);
          toast("Invite revoked.");
        } catch (err) { toast(err.message, { kind: "error" }); }
        loadInvites();
      }));
    }
    return row;
  }));
  $("invite-empty").hidden = invites.length > 0;
}

for (const el of document.querySelectorAll("[data-manage-only]")) el.hidden = !grantable.length;
roleOptions($("invite-role"));
roleOptions($("member-add-role"));

const leave = $("leave-btn");
leave.hidden = myRole === "owner";
leave.addEventListener("click", async () => {
  if (!leave.dataset.armed) {
    leave.dataset.armed = "1";
    leave.textContent = "Click again to leave";
    return;
  }
  try {
    await api("DELETE", `/api/workspaces/${WS}/members/${ME.id}/`);
    location.href = "/";
  } catch (err) { toast(err.message, { kind: "error" }); }
});

$("member-add").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  const username = form.elements.username.value.trim();
  if (!username) return;
  run(() => api("POST", `/api/workspaces/${WS}/members/`, { username, role: form.elements.role.value }),
    `${username} was added.`).then((added) => { if (added) form.reset(); roleOptions($("member-add-role")); });
});

$("invite-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const maxUses = form.elements.max_uses.value.trim();
  const hours = form.elements.expires_in_hours.value.trim();
  try {
    const invite = await api("POST", `/api/workspaces/${WS}/invites/`, {
      role: form.elements.role.value,
      max_uses: maxUses ? Number(maxUses) : null,
      expires_in_hours: hours ? Number(hours) : null,
    });
    $("invite-result").hidden = false;
    $("invite-url").value = invite.url;
    $("invite-url").select();
    toast("Invite link created.");
  } catch (err) {
    const fields = err.body && err.body.fields ? Object.values(err.body.fields).flat().join(" ") : "";
    toast(fields || err.message, { kind: "error", title: "Invite not created" });
  }
  loadInvites();
});

$("invite-copy").addEventListener("click", async () => {
  const input = $("invite-url");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  toast("Link copied to the clipboard.");
});

loadMembers();
loadInvites();
