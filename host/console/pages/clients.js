// #/clients — the API clients attached to the signed-in person's tenant
// (`user:<id>`: a merchant's integration, say), and revoking one, at once,
// after a confirmation.

import { ApiError, explain, seg, session } from "../api.js";
import { dl, h, time, uid } from "../dom.js";

/** "never" for a client never used, else the time. */
function lastUsed(c) {
  return c.last_used_at ? time(c.last_used_at) : h("span", { text: "never" });
}

/** One client's fields. */
function fields(c) {
  return dl(
    [
      ["Id", c.id, "client-id"],
      ["Scopes", c.scopes && c.scopes.length ? c.scopes.join(", ") : "none", "client-scopes"],
      ["Created", time(c.created_at)],
      ["Last used", h("span", { testid: "client-last-used" }, lastUsed(c))],
      ["Revoked", h("span", { testid: "client-revoked-at" }, c.revoked_at ? time(c.revoked_at) : "no")],
    ],
    { testid: "client-fields" },
  );
}

/**
 * The revoke button and the confirmation it opens. `revoke()` does the
 * call; it resolves to whether the client is now revoked.
 */
function revokeControls(c, revoke) {
  const qId = uid("revoke-q");
  const confirmBtn = h("button", { type: "submit", class: "danger", testid: "client-revoke-confirm", text: "Revoke now" });
  const cancelBtn = h("button", { type: "button", testid: "client-revoke-cancel", text: "Cancel" });
  const panel = h(
    "form",
    { class: "confirm stack", testid: "client-revoke-panel", hidden: true, novalidate: true, role: "group", "aria-labelledby": qId },
    h(
      "p",
      { id: qId, class: "warn" },
      `Revoke “${c.name}”? Its token is refused from now on, on every request, the tickets of requests it made included. This cannot be undone: an operator would have to attach a new client.`,
    ),
    h("div", { class: "actions" }, confirmBtn, cancelBtn),
  );
  const revokeBtn = h("button", { type: "button", class: "danger", testid: "client-revoke", text: "Revoke…" });
  revokeBtn.addEventListener("click", () => {
    panel.hidden = false;
    revokeBtn.hidden = true;
    cancelBtn.focus(); // the safe choice under the keyboard; the group announces the question
  });
  cancelBtn.addEventListener("click", () => {
    panel.hidden = true;
    revokeBtn.hidden = false;
    revokeBtn.focus();
  });
  panel.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    confirmBtn.disabled = true;
    cancelBtn.disabled = true;
    if (!(await revoke())) {
      confirmBtn.disabled = false;
      cancelBtn.disabled = false;
    }
  });
  return [h("div", { class: "actions" }, revokeBtn), panel];
}

/** One client in the list; `revoke(c)` revokes it (see revokeControls). */
function clientCard(c, revoke) {
  const revoked = Boolean(c.revoked_at);
  return h(
    "li",
    { class: "card", testid: "client-row", dataset: { clientId: c.id, revoked: String(revoked) } },
    h(
      "div",
      { class: "card-head" },
      h("span", { class: "title", testid: "client-name", text: c.name }),
      revoked
        ? h("span", { class: "badge revoked", testid: "client-revoked-badge", text: "revoked" })
        : h("span", { class: "badge", text: "active" }),
    ),
    fields(c),
    revoked ? null : revokeControls(c, () => revoke(c)),
  );
}

export default async function clients(ctx) {
  ctx.title("API clients");
  const view = h("section", { class: "page", testid: "page-clients" }, h("h1", { text: "API clients" }));
  ctx.main.append(view);
  const list = h("ul", { class: "cards", testid: "client-list" });
  const empty = h("p", { testid: "client-empty", hidden: true, text: "No API client acts in your tenant." });
  const s = session();
  const tenant = s && s.user ? `your tenant, user:${s.user.id}` : "your tenant";
  view.append(
    h(
      "p",
      { class: "hint", testid: "clients-about" },
      `Programs an operator attached to ${tenant} (a shop's integration that asks you to approve its payments, say): they act on your wallets as their scopes allow, but cannot create or destroy them, and revoking one stops it at once.`,
    ),
    empty,
    list,
  );

  /** A client as the host now has it (its last use too), or `fallback`. */
  async function fetchClient(id, fallback) {
    try {
      const page = await ctx.get("/v1/clients");
      return ((page && page.api_clients) || []).find((x) => x.id === id) || fallback;
    } catch {
      return fallback; // the revocation stands: show what its answer said
    }
  }

  /** Replaces a client's card (keeping its place) and moves focus to it. */
  function replace(c) {
    const old = list.querySelector(`[data-client-id="${CSS.escape(c.id)}"]`);
    const card = clientCard(c, revoke);
    if (old) old.replaceWith(card);
    else list.append(card);
    card.setAttribute("tabindex", "-1");
    card.focus();
  }

  async function revoke(c) {
    ctx.status(`Revoking “${c.name}”…`);
    try {
      const r = await ctx.api("DELETE", `/v1/clients/${seg(c.id)}`);
      replace(await fetchClient(c.id, { ...c, revoked_at: (r.data && r.data.revoked_at) || new Date().toISOString() }));
      ctx.status(`Revoked “${c.name}”: its token is refused from now on.`, "ok");
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        ctx.status(`Could not revoke “${c.name}”: no such client in your tenant.`, "error");
      } else {
        ctx.status(`Could not revoke “${c.name}”: ${explain(e)}`, "error");
      }
      return false;
    }
  }

  try {
    const page = await ctx.get("/v1/clients");
    const all = (page && page.api_clients) || [];
    for (const c of all) list.append(clientCard(c, revoke));
    empty.hidden = all.length > 0;
    view.dataset.loaded = "true";
  } catch (e) {
    ctx.status(`Could not list the API clients: ${explain(e)}`, "error");
  }
}
