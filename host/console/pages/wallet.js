// #/wallets/<id> — one wallet: its key, the approval setting, its
// attestation verified in this browser against the deployment's published
// policy (a fresh document bound to a random nonce), and destruction.

import { ApiError, config, explain, seg } from "../api.js";
import { check, clear, dl, field, h, mono, time } from "../dom.js";
import { refusal, resultView } from "../attestview.js";
import { randomHex, verifyDocument } from "../verify.js";

export default async function walletPage(ctx) {
  const [id] = ctx.params;
  ctx.title("Wallet");
  const view = h("section", { class: "page", testid: "page-wallet", dataset: { walletId: id } });
  ctx.main.append(view);
  view.append(h("p", { class: "crumbs" }, h("a", { href: "#/wallets", text: "← Wallets" })));

  let w;
  try {
    w = await ctx.get(`/v1/wallets/${seg(id)}`);
  } catch (e) {
    view.append(h("h1", { text: "Wallet" }));
    if (e instanceof ApiError && e.status === 404) {
      view.append(h("p", { testid: "wallet-missing", text: "No such wallet (it may have been destroyed, or it is not yours)." }));
    } else {
      ctx.status(`Could not load the wallet: ${explain(e)}`, "error");
    }
    return;
  }
  ctx.title(w.label || "Wallet");
  view.append(
    h("h1", { testid: "wallet-title", text: w.label || "Unlabelled wallet" }),
    dl(
      [
        ["Id", w.id, "wallet-id"],
        ["Key type", w.key_type, "wallet-key-type-value"],
        w.address ? ["Ethereum address", w.address, "wallet-address"] : null,
        ["Public key", w.public_key, "wallet-public-key"],
        ["Created", time(w.created_at)],
      ],
      { testid: "wallet-fields" },
    ),
  );

  // --- record ---------------------------------------------------------------
  view.append(recordCard(w));

  // --- approval -------------------------------------------------------------
  const toggle = h("input", { type: "checkbox", testid: "wallet-approval-toggle", checked: Boolean(w.require_approval) });
  view.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "approval-h" },
      h("h2", { id: "approval-h", text: "Approval" }),
      check(
        "Require my approval for every signature",
        toggle,
        "When on, a payment request on this wallet waits until you approve it in this console (Requests).",
      ),
    ),
  );
  toggle.addEventListener("change", async () => {
    const want = toggle.checked;
    toggle.disabled = true;
    try {
      const updated = (await ctx.api("PATCH", `/v1/wallets/${seg(w.id)}`, { require_approval: want })).data;
      w = { ...w, ...(updated || {}) };
      toggle.checked = Boolean(w.require_approval);
      ctx.status(toggle.checked ? "Approval is now required for this wallet." : "Approval is no longer required for this wallet.", "ok");
    } catch (e) {
      toggle.checked = !want;
      ctx.status(`Could not change the approval setting: ${explain(e)}`, "error");
    } finally {
      toggle.disabled = false;
    }
  });

  // --- attestation ----------------------------------------------------------
  const attState = h("p", { class: "att-state", testid: "wallet-attestation-status", dataset: { state: "verifying" }, text: "Verifying…" });
  const attBody = h("div", {});
  const recheck = h("button", { type: "button", testid: "wallet-attestation-recheck", text: "Check again" });
  view.append(
    h(
      "section",
      { class: "card", testid: "wallet-attestation", "aria-labelledby": "att-h" },
      h("h2", { id: "att-h", text: "Attestation" }),
      h(
        "p",
        { class: "hint" },
        "The signer is asked for a fresh attestation document of this key, bound to a random nonce; this browser verifies it (WebAssembly) against the deployment's published policy: root certificate, PCRs of the signer image, nonce and key binding.",
      ),
      attState,
      attBody,
      h("div", { class: "actions" }, recheck, h("a", { href: `#/attest?wallet=${seg(w.id)}`, class: "button", testid: "wallet-attest-link", text: "Open in the attestation viewer" })),
    ),
  );
  function setAtt(state, text) {
    attState.dataset.state = state;
    attState.className = `att-state ${state}`;
    attState.textContent = text;
  }
  async function verify() {
    recheck.disabled = true;
    clear(attBody);
    setAtt("verifying", "Verifying…");
    try {
      const cfg = await config();
      const policy = cfg && cfg.policy;
      if (!policy || !Array.isArray(policy.pcr_sets) || policy.pcr_sets.length === 0) {
        setAtt(
          "unavailable",
          "Not verified: this host publishes no attestation policy. Verify the document with the PCRs you expect in the attestation viewer.",
        );
        return;
      }
      const nonce = randomHex(16);
      const res = await ctx.get(`/v1/wallets/${seg(w.id)}/attestation?nonce=${nonce}`);
      const doc = res && res.attestation && res.attestation.document;
      if (!doc) {
        setAtt("invalid", "Not verified: the signer returned no attestation document (attestation is off on this host).");
        return;
      }
      const r = await verifyDocument(doc, {
        root_pem: policy.root_pem ?? null,
        pcrs: null,
        policy: {
          pcr_sets: policy.pcr_sets,
          allow_debug: Boolean(policy.allow_debug),
          ...(policy.max_age_seconds != null ? { max_age_seconds: policy.max_age_seconds } : {}),
        },
        any_pcrs: false,
        allow_debug: Boolean(policy.allow_debug),
        at: "now",
        nonce,
        max_age_seconds: null,
        wallet: { id: w.id, key_type: w.key_type, public_key: w.public_key, record: w.record ?? null },
      });
      if (!ctx.alive()) return;
      const good = r.valid === true && r.binding && r.binding.ok === true;
      setAtt(
        good ? "valid" : "invalid",
        good
          ? "✓ Verified: this key lives in a signer running the published image, and the document is fresh (nonce) and binds this key."
          : `✗ Not verified: ${r.usage_error || (r.binding && !r.binding.ok && r.valid ? r.binding.error : refusal(r).text) || "see the checks"}`,
      );
      attBody.append(
        h(
          "details",
          { open: !good, testid: "wallet-attestation-details" },
          h("summary", { text: "Each check, and the document" }),
          resultView(r, { testid: "wallet-attestation-result", wallet: w }),
        ),
      );
    } catch (e) {
      setAtt("error", `Could not verify: ${explain(e)}`);
    } finally {
      recheck.disabled = false;
    }
  }
  recheck.addEventListener("click", verify);

  // --- destroy --------------------------------------------------------------
  const expected = w.label || w.id;
  const confirmInput = h("input", { type: "text", autocomplete: "off", spellcheck: "false", testid: "wallet-destroy-confirm-input" });
  const confirmBtn = h("button", { type: "submit", class: "danger", testid: "wallet-destroy-confirm", disabled: true, text: "Destroy permanently" });
  const cancelBtn = h("button", { type: "button", testid: "wallet-destroy-cancel", text: "Cancel" });
  const panel = h(
    "form",
    { class: "confirm stack", testid: "wallet-destroy-panel", hidden: true, novalidate: true, role: "group", "aria-labelledby": "destroy-q" },
    h(
      "p",
      { id: "destroy-q", class: "warn" },
      "The key is erased inside the signer and its sealed copy is shredded. Nothing can sign with it again, and funds at its address become unreachable.",
    ),
    field(`Type “${expected}” to confirm`, confirmInput),
    h("div", { class: "actions" }, confirmBtn, cancelBtn),
  );
  const destroyBtn = h("button", { type: "button", class: "danger", testid: "wallet-destroy", text: "Destroy this wallet…" });
  view.append(
    h("section", { class: "card danger-zone", "aria-labelledby": "destroy-h" }, h("h2", { id: "destroy-h", text: "Destroy" }), destroyBtn, panel),
  );
  destroyBtn.addEventListener("click", () => {
    panel.hidden = false;
    destroyBtn.hidden = true;
    confirmInput.value = "";
    confirmBtn.disabled = true;
    confirmInput.focus();
  });
  cancelBtn.addEventListener("click", () => {
    panel.hidden = true;
    destroyBtn.hidden = false;
    destroyBtn.focus();
  });
  confirmInput.addEventListener("input", () => {
    confirmBtn.disabled = confirmInput.value.trim() !== expected;
  });
  panel.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (confirmInput.value.trim() !== expected) return;
    confirmBtn.disabled = true;
    cancelBtn.disabled = true;
    try {
      await ctx.api("DELETE", `/v1/wallets/${seg(w.id)}`);
      ctx.flash(`Wallet “${expected}” destroyed.`, "ok");
      ctx.go("#/wallets");
    } catch (e) {
      ctx.status(`Could not destroy the wallet: ${explain(e)}`, "error");
      confirmBtn.disabled = false;
      cancelBtn.disabled = false;
    }
  });

  await verify();
}

const KIND_WORDS = { digest: "opaque digests", message: "messages", transaction: "transactions", typed_data: "typed data" };

/** Who decides what this wallet signs: its record (owners, threshold,
 *  policy) as the signer made it, in words. The attestation below binds
 *  this exact record (its SHA-256): a page cannot show another one and
 *  still verify. */
export function recordCard(w) {
  const card = h("section", { class: "card", testid: "wallet-record", "aria-labelledby": "record-h" }, h("h2", { id: "record-h", text: "Owners and policy" }));
  let record = null;
  try {
    record = w.record ? JSON.parse(w.record) : null;
  } catch {
    record = null;
  }
  if (!record) {
    card.append(
      h("p", { testid: "wallet-record-summary", dataset: { needsOwners: "never" }, text: "A wallet from before owners: nobody approves its signatures — the operator can sign anything with it." }),
    );
    return card;
  }
  const owners = Array.isArray(record.owners) ? record.owners : [];
  const allow = (record.policy && Array.isArray(record.policy.allow) ? record.policy.allow : []).map((k) => KIND_WORDS[k] || k);
  let summary;
  let needs;
  if (allow.length === 0 && owners.length > 0) {
    summary = `Every signature needs its owners: ${record.threshold} of ${owners.length}.`;
    needs = "always";
  } else if (allow.length === 0) {
    summary = "Nothing can be signed: no kind is allowed and there are no owners.";
    needs = "nothing";
  } else if (owners.length === 0) {
    summary = `The operator can sign ${allow.join(", ")} without anyone's approval${allow.length < 4 ? "; nothing else can be signed" : ""}.`;
    needs = "never";
  } else {
    summary = `The operator can sign ${allow.join(", ")} without you; anything else needs ${record.threshold} of its ${owners.length} owners.`;
    needs = "sometimes";
  }
  card.append(h("p", { testid: "wallet-record-summary", dataset: { needsOwners: needs }, text: summary }));
  if (owners.length > 0) {
    const list = h("ul", { testid: "wallet-owners" });
    for (const o of owners) {
      const key = o.address || o.public_key || "";
      const what = o.type === "passkey" ? `passkey for ${o.rp_id}` : `${o.type} key`;
      list.append(h("li", { dataset: { ownerId: o.id } }, h("strong", { text: o.id }), ` — ${what} `, mono(key.length > 20 ? `${key.slice(0, 10)}…${key.slice(-8)}` : key)));
    }
    card.append(list);
  }
  card.append(
    dl([
      ["Record", `version ${record.version}, deployment ${record.deployment}`],
      ["Record hash", w.record_hash || "", "wallet-record-hash"],
    ]),
    h("p", { class: "hint", text: "The attestation below binds this record's hash: a host cannot show you another record and pass the check. For certainty, verify the wallet on your own machine: signet wallet verify WALLET.json --pcr …" }),
  );
  return card;
}
