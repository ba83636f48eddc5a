// The Signet console: a hash router over small page modules. No inline
// script or style (the host's CSP forbids both), no third-party origin, no
// build step.

import { api, clearSession, config, pageApi, session, setReturn } from "./api.js";
import { clear, h } from "./dom.js";
import login from "./pages/login.js";
import wallets from "./pages/wallets.js";
import wallet from "./pages/wallet.js";
import approve from "./pages/approve.js";
import requests from "./pages/requests.js";
import audit from "./pages/audit.js";
import attest from "./pages/attest.js";
import clients from "./pages/clients.js";

// [pattern, page, needs a session]
const ROUTES = [
  [/^\/login$/, login, false],
  [/^\/wallets$/, wallets, true],
  [/^\/wallets\/([^/]+)$/, wallet, true],
  [/^\/approve\/([^/]+)$/, approve, true],
  [/^\/requests$/, requests, true],
  [/^\/audit$/, audit, true],
  [/^\/clients$/, clients, true],
  [/^\/attest$/, attest, false],
];

const main = document.getElementById("main");
const statusEl = document.getElementById("status");
let current = null; // { controller, cleanups, timers }
let expiryTimer = null;
let keepStatus = false; // a message meant for the next page survives one navigation

/** Shows a message in the live region ("info", "ok" or "error"). */
function setStatus(text, kind = "info") {
  statusEl.className = `status ${kind}`;
  statusEl.dataset.kind = kind;
  statusEl.textContent = text || "";
}

/** The current route: path and query from the hash ("#/attest?wallet=x"). */
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  return { path, query };
}

/** Goes to a console route (re-renders when it is the current one). */
export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function stopCurrent() {
  if (!current) return;
  current.controller.abort();
  for (const t of current.timers) {
    clearTimeout(t);
    clearInterval(t);
  }
  for (const fn of current.cleanups) {
    try {
      fn();
    } catch {
      /* a page's cleanup must not stop navigation */
    }
  }
  current = null;
}

function updateHeader() {
  const s = session();
  const who = document.getElementById("who");
  const user = document.getElementById("user");
  who.hidden = !s;
  user.textContent = s && s.user ? `Telegram ${s.user.telegram_user_id}` : "";
  if (s && s.user) user.title = `user ${s.user.id}`;
  const { path } = parseHash();
  for (const a of document.querySelectorAll("#nav a")) {
    const need = a.dataset.auth;
    a.hidden = (need === "in" && !s) || (need === "out" && !!s);
    const target = a.getAttribute("href").slice(1);
    const active = path === target || (target !== "/" && path.startsWith(`${target}/`));
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clearTimeout(expiryTimer);
  if (s) {
    const ms = Date.parse(s.expires_at) - Date.now();
    if (Number.isFinite(ms)) expiryTimer = setTimeout(() => clearSession("expired"), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
  }
}

/** Shows a message that stays through the next navigation. */
function flash(text, kind) {
  setStatus(text, kind);
  keepStatus = true;
}

async function render() {
  stopCurrent();
  const keep = keepStatus;
  keepStatus = false;
  if (!keep) setStatus("");
  updateHeader();
  const { path, query } = parseHash();
  if (path === "/" || path === "") {
    keepStatus = keep; // a redirect is not a page: the message is for the next one
    location.replace(session() ? "#/wallets" : "#/login");
    return;
  }
  const route = ROUTES.map(([re, page, auth]) => [path.match(re), page, auth]).find(([m]) => m);
  const controller = new AbortController();
  const state = { controller, cleanups: [], timers: [] };
  current = state;
  clear(main);
  if (!route) {
    document.title = "Not found — Signet";
    main.append(h("h1", { tabindex: "-1", text: "Not found" }), h("p", {}, "No such page. ", h("a", { href: "#/", text: "Go to the start" }), "."));
    main.querySelector("h1").focus();
    return;
  }
  const [m, page, needsAuth] = route;
  if (needsAuth && !session()) {
    setReturn(location.hash);
    keepStatus = keepStatus || keep;
    location.replace("#/login");
    return;
  }
  const alive = () => current === state && !controller.signal.aborted;
  const ctx = {
    main,
    params: m.slice(1).map((p) => decodeURIComponent(p)),
    query,
    // api, get, post: this page's calls, which never settle once it is left
    ...pageApi(controller.signal),
    alive,
    status: (text, kind) => {
      if (alive()) setStatus(text, kind);
    },
    flash: (text, kind) => {
      if (alive()) flash(text, kind);
    },
    title: (t) => {
      if (alive()) document.title = `${t} — Signet`;
    },
    go,
    every: (fn, ms) => {
      const t = setInterval(() => alive() && fn(), ms);
      state.timers.push(t);
      return t;
    },
    after: (fn, ms) => {
      const t = setTimeout(() => alive() && fn(), ms);
      state.timers.push(t);
      return t;
    },
    onCleanup: (fn) => state.cleanups.push(fn),
  };
  try {
    await page(ctx);
  } catch (e) {
    if (alive()) {
      setStatus(`Something went wrong: ${e && e.message ? e.message : e}`, "error");
    }
  }
  if (alive()) {
    const h1 = main.querySelector("h1");
    if (h1 && !main.contains(document.activeElement)) {
      h1.setAttribute("tabindex", "-1");
      h1.focus({ preventScroll: true });
    }
  }
}

window.addEventListener("hashchange", () => {
  render();
});

// A session ended (sign-out, expiry, a 401): back to the sign-in page, and
// back here after signing in again.
window.addEventListener("signet:session", (ev) => {
  const reason = ev.detail && ev.detail.reason;
  updateHeader();
  if (reason === "expired" || reason === "unauthorized") {
    setReturn(location.hash);
    flash(
      reason === "expired" ? "Your session expired: sign in again." : "Your session is no longer valid: sign in again.",
      "error",
    );
    const { path } = parseHash();
    const route = ROUTES.find(([re]) => re.test(path));
    if (!route || route[2]) {
      stopCurrent(); // the page's own error for the refused call is moot
      go("#/login");
    }
  }
});
// Another tab of this origin cannot share sessionStorage, but keep the header right.
window.addEventListener("storage", updateHeader);

document.getElementById("signout").addEventListener("click", async () => {
  const btn = document.getElementById("signout");
  btn.disabled = true;
  try {
    if (session()) await api("POST", "/v1/auth/logout");
  } catch {
    /* the session is forgotten here either way */
  } finally {
    btn.disabled = false;
  }
  clearSession("signed-out");
  flash("Signed out.", "ok");
  go("#/login");
});

document.getElementById("skip").addEventListener("click", () => {
  const h1 = main.querySelector("h1");
  (h1 || main).setAttribute("tabindex", "-1");
  (h1 || main).focus();
});

config()
  .then((c) => {
    const v = document.getElementById("version");
    if (c && c.version) v.textContent = `Signet ${c.version}`;
  })
  .catch(() => {});

render();
