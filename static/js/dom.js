// Small DOM helpers. User text only ever goes in through textContent or
// attribute setters, never through innerHTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function initials(name) {
  const parts = String(name || "?").split(/[\s._-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : String(name || "?").slice(0, 2);
  return letters.toUpperCase();
}

const HUES = [210, 262, 330, 20, 145, 190, 45, 290];
export function avatarHue(id) {
  return HUES[Math.abs(Number(id) || 0) % HUES.length];
}

export function avatar(user, { size = "sm", title, extraClass = "" } = {}) {
  const el = h("span", { class: `avatar avatar-${size} ${extraClass}`.trim(), title: title || user.username,
                         "data-user-id": user.id }, initials(user.username));
  el.style.setProperty("--hue", avatarHue(user.id));
  return el;
}

export function colorizeAvatars(root = document) {
  for (const el of root.querySelectorAll(".avatar[data-user-id]")) {
    el.style.setProperty("--hue", avatarHue(el.dataset.userId));
    if (el.dataset.username) el.textContent = initials(el.dataset.username);
  }
}

export function toast(text, { kind = "info", timeout = 4000, title } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return null;
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "✕");
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" || kind === "conflict" ? "alert" : "status" },
    h("div", { class: "toast-body" }, title ? h("strong", { class: "toast-title" }, title) : null, h("span", {}, text)),
    close);
  const remove = () => el.remove();
  close.addEventListener("click", remove);
  box.append(el);
  if (timeout) setTimeout(remove, timeout);
  return el;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function readPageData() {
  const el = document.getElementById("page-data");
  return el ? JSON.parse(el.textContent) : null;
}

export function timeAgo(iso) {
  const then = new Date(iso).getTime();
  const secs = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (secs < 45) return "just now";
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}
