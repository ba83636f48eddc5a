// #/wallets — the signed-in person's wallets, and a form to create one.

import { explain, seg } from "../api.js";
import { check, clear, field, h, mono, short, time } from "../dom.js";
import { registerOwner, unavailable } from "../passkey.js";

const PAGE = 50;

/** One wallet in a list. */
export function walletCard(w, { fresh = false } = {}) {
  const name = w.label || "Unlabelled wallet";
  return h(
    "li",
    { class: ["card", fresh && "fresh"], testid: "wallet-row", dataset: { walletId: w.id, label: w.label || "" } },
    h(
      "div",
      { class: "card-head" },
      h("a", { href: `#/wallets/${seg(w.id)}`, class: "title", testid: "wallet-link", text: name }),
      h("span", { class: "badge", text: w.key_type }),
      w.require_approval ? h("span", { class: "badge approval", testid: "wallet-approval-badge", text: "approval required" }) : null,
    ),
    w.address
      ? h("p", {}, h("span", { class: "label", text: "Address " }), mono(w.address, { testid: "wallet-address" }))
      : h("p", {}, h("span", { class: "label", text: "Public key " }), mono(short(w.public_key, 16), { title: w.public_key })),
    h("p", { class: "hint" }, "Created ", time(w.created_at), " · ", mono(w.id)),
  );
}

export default async function wallets(ctx) {
  ctx.title("Wallets");
  const view = h("section", { class: "page", testid: "page-wallets" }, h("h1", { text: "Wallets" }));
  ctx.main.append(view);

  // --- create -------------------------------------------------------------
  const keyType = h(
    "select",
    { testid: "wallet-key-type", name: "key_type" },
    h("option", { value: "secp256k1", text: "secp256k1 — Ethereum (transactions, EIP-712, messages)" }),
    h("option", { value: "p256", text: "P-256 (ECDSA over a digest)" }),
    h("option", { value: "ed25519", text: "Ed25519 (raw messages)" }),
  );
  const label = h("input", { type: "text", maxlength: "128", autocomplete: "off", testid: "wallet-label", name: "label" });
  const approval = h("input", { type: "checkbox", testid: "wallet-require-approval", name: "require_approval" });
  const passkey = h("input", { type: "checkbox", testid: "wallet-passkey", name: "passkey" });
  const noPasskeys = unavailable();
  if (noPasskeys) passkey.disabled = true;
  const create = h("button", { type: "submit", class: "primary", testid: "wallet-create", text: "Create wallet" });
  const form = h(
    "form",
    { class: "stack card", testid: "wallet-create-form", novalidate: true, "aria-labelledby": "create-h" },
    h("h2", { id: "create-h", text: "Create a wallet" }),
    field("Key type", keyType),
    field("Label (optional)", label, "For you to recognise it; shown to no one else."),
    check(
      "Require my approval in this console before each signature",
      approval,
      "A payment request on this wallet waits until you approve it here, seeing what will be signed.",
    ),
    check(
      "Every signature needs my passkey",
      passkey,
      noPasskeys
        ? `Not available here: ${noPasskeys}.`
        : "Your passkey becomes the wallet's owner: the signer itself refuses any signature you did not approve with it, whatever the server asks.",
    ),
    h("div", { class: "actions" }, create),
  );
  view.append(form);

  // --- list ----------------------------------------------------------------
  const list = h("ul", { class: "cards", testid: "wallet-list" });
  const empty = h("p", { testid: "wallet-empty", hidden: true, text: "No wallets yet: create one above." });
  const more = h("button", { type: "button", testid: "wallet-more", hidden: true, text: "Show more" });
  view.append(h("h2", { text: "Your wallets" }), empty, list, more);

  let next = null;
  async function load(after) {
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (after) q.set("after", after);
      const page = await ctx.get(`/v1/wallets?${q}`);
      if (!after) clear(list);
      for (const w of page.wallets || []) list.append(walletCard(w));
      next = page.next || null;
      more.hidden = !next;
      empty.hidden = list.children.length > 0;
      view.dataset.loaded = "true";
    } catch (e) {
      ctx.status(`Could not list the wallets: ${explain(e)}`, "error");
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => load(next));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    create.disabled = true;
    const body = { key_type: keyType.value, require_approval: approval.checked };
    if (label.value.trim()) body.label = label.value.trim();
    try {
      if (passkey.checked) {
        ctx.status("Registering your passkey…");
        const owner = await registerOwner("me", body.label || "Signet wallet");
        Object.assign(body, { owners: [owner], threshold: 1, policy: { allow: [] } });
      }
      ctx.status("Creating the wallet in the signer…");
      const w = await ctx.post("/v1/wallets", body);
      for (const old of list.querySelectorAll(".fresh")) old.classList.remove("fresh");
      list.prepend(walletCard(w, { fresh: true }));
      empty.hidden = true;
      label.value = "";
      ctx.status(`Created wallet “${w.label || w.id}” (${w.key_type}, id ${w.id}).`, "ok");
    } catch (e) {
      ctx.status(`Could not create the wallet: ${explain(e)}`, "error");
    } finally {
      create.disabled = false;
    }
  });

  await load(null);
}
