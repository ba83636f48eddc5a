// #/wallets/<id> — one wallet: its key, its owners and policy (and the
// changes of them waiting for its owners), the approval setting, its
// attestation verified in this browser against the deployment's published
// policy (a fresh document bound to a random nonce), and destruction.

import { ApiError, config, explain, seg } from "../api.js";
import { append, check, clear, countdown, dl, expiresIn, field, h, mmss, mono, quantity, time, units } from "../dom.js";
import { chainName, ethValue, render as renderContent } from "../content.js";
import { refusal, resultView } from "../attestview.js";
import { randomHex, verifyDocument } from "../verify.js";
import { approveWith, unavailable } from "../passkey.js";

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
  // A record change (the policy edited below, or a pending change its
  // owners approved) answers the wallet with its new record: the card is
  // drawn again from it, the pending changes are listed again, and the
  // attestation, which binds the record, is checked again.
  const proposals = pendingChanges(ctx, () => w, changed);
  let shownRecord = null;
  const showRecord = (notice) => {
    const next = recordCard(w, ctx, { changed, notice, proposals });
    if (shownRecord) shownRecord.replaceWith(next);
    else view.append(next);
    shownRecord = next;
  };
  function changed(updated) {
    w = { ...w, ...(updated || {}) };
    let version = null;
    try {
      version = JSON.parse(w.record).version;
    } catch {
      version = null;
    }
    const text = version === null ? "Changed." : `Changed; the attestation now binds record version ${version}.`;
    showRecord({ text, version });
    ctx.status(text, "ok");
    proposals.refresh();
    verify();
  }
  showRecord(null);
  // Only a wallet with owners has changes waiting for them.
  if (recordOwners(w).length > 0) {
    view.append(proposals.card);
    proposals.refresh();
  }

  // --- approval -------------------------------------------------------------
  // A wallet whose record has owners needs their approval for what its
  // policy does not allow alone: the switch is its policy's kinds, changed
  // with the owners' approval under "Edit the policy" (not the host's flag).
  if (recordOwners(w).length > 0) {
    view.append(
      h(
        "section",
        { class: "card", "aria-labelledby": "approval-h", testid: "wallet-approval-owners" },
        h("h2", { id: "approval-h", text: "Approval" }),
        h("p", {
          text: w.require_approval
            ? "Every signature on this wallet needs its owners' approval: its policy allows nothing alone."
            : "Its owners approve what its policy does not allow alone.",
        }),
        h("p", { class: "hint", text: "To change what needs them, use “Edit the policy” under “Owners and policy” (the kinds it may sign without its owners); the owners approve the change." }),
      ),
    );
  } else {
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
  }

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
  let verifying = 0; // the latest check: an older one (of an older record) says nothing
  async function verify() {
    const mine = ++verifying;
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
      if (mine !== verifying) return;
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
      if (!ctx.alive() || mine !== verifying) return;
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
      if (mine === verifying) setAtt("error", `Could not verify: ${explain(e)}`);
    } finally {
      if (mine === verifying) recheck.disabled = false;
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

/** The functions the signer recognises in calldata (eth/src/call.rs), by selector. */
const SELECTORS = {
  "0xa9059cbb": "transfer",
  "0x095ea7b3": "approve",
  "0x23b872dd": "transferFrom",
  "0x39509351": "increaseAllowance",
  "0xa22cb465": "setApprovalForAll",
  "0x42842e0e": "safeTransferFrom (ERC-721)",
  "0xb88d4fde": "safeTransferFrom (ERC-721, with data)",
  "0xf242432a": "safeTransferFrom (ERC-1155)",
};

/** "24 hours", "2 days", "90 seconds"; `any` gives "an hour" style words for 1. */
export function duration(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s) || s < 0) return `${seconds} seconds`;
  const unit = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (s >= 172800 && s % 86400 === 0) return unit(s / 86400, "day");
  if (s >= 3600 && s % 3600 === 0) return unit(s / 3600, "hour");
  if (s >= 60 && s % 60 === 0) return unit(s / 60, "minute");
  return unit(s, "second");
}

/** "and" between the last two of a list of words. */
function words(list) {
  if (list.length <= 1) return list.join("");
  return `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}

/** A list of full addresses, each its own mono line. */
function addresses(list) {
  return h("ul", { class: "flat" }, list.map((a) => h("li", {}, mono(a))));
}

/** The ETH part of ethValue ("0.1 ETH"), for sentences. */
function eth(wei) {
  return ethValue(wei).split(" (")[0];
}

/**
 * The wallet's policy in plain words, one line per rule present (the
 * rules and their meaning: docs/policy.md).
 */
export function policyRules(policy) {
  const list = h("ul", { class: "rules", testid: "wallet-policy-rules" });
  const line = (rule, ...content) => list.append(h("li", { dataset: { rule } }, ...content));
  const p = policy && typeof policy === "object" ? policy : {};
  for (const [rule, value] of Object.entries(p)) {
    const items = Array.isArray(value) ? value : [];
    switch (rule) {
      case "allow":
        line(
          rule,
          items.length
            ? `Kinds it may sign: ${words(items.map((k) => KIND_WORDS[k] || k))}.`
            : "Kinds it may sign: none (every signature needs its owners).",
        );
        break;
      case "chain_ids":
        line(rule, items.length ? `Chains: ${words(items.map((c) => chainName(c)))} only.` : "Chains: none (no transaction or typed data).");
        break;
      case "max_value_wei":
        line(rule, `At most ${ethValue(value)} per transaction.`);
        break;
      case "recipients":
        line(
          rule,
          items.length
            ? ["Only to these addresses (for a token call: the token contract and who gets the tokens or the rights):", addresses(items)]
            : "Recipients: none (no transaction can be sent).",
        );
        break;
      case "selectors":
        line(
          rule,
          items.length
            ? `Contract functions: ${words(items.map((sel) => (SELECTORS[sel] ? `${SELECTORS[sel]} (${sel})` : `${sel} (a function the signer does not name)`)))}, and plain transfers.`
            : "Contract functions: none (plain transfers only).",
        );
        break;
      case "tokens":
        line(
          rule,
          "At most, per call or permit:",
          h(
            "ul",
            { class: "flat" },
            items.map((t) => h("li", {}, `${t.max_amount} of the smallest units of token `, mono(t.address))),
          ),
        );
        break;
      case "typed_data_domains":
        line(
          rule,
          "Typed data only for:",
          h(
            "ul",
            { class: "flat" },
            items.map((d) =>
              h(
                "li",
                {},
                d.chain_id !== undefined ? `chain ${chainName(d.chain_id)}` : "any chain",
                d.verifying_contract !== undefined ? [", contract ", mono(d.verifying_contract)] : ", any contract",
              ),
            ),
          ),
        );
        break;
      case "windows":
        line(
          rule,
          items
            .map((wd) => {
              const limits = [];
              if (wd.max_value_wei !== undefined) limits.push(eth(wd.max_value_wei));
              if (wd.max_count !== undefined) limits.push(`${wd.max_count} signature${Number(wd.max_count) === 1 ? "" : "s"}`);
              const span = duration(wd.seconds);
              return `At most ${words(limits)} in any ${span.startsWith("1 ") ? span.slice(2) : span}.`;
            })
            .join(" "),
        );
        break;
      case "change_delay_seconds":
        line(
          rule,
          Number(value) > 0
            ? `A change that loosens this policy takes effect ${duration(value)} after the owners approve it.`
            : "A change that loosens this policy takes effect as soon as the owners approve it.",
        );
        break;
      default:
        line(rule, `${rule}: `, mono(JSON.stringify(value)));
    }
  }
  return list;
}

/** ETH as a decimal ("0.05") to wei, exactly (BigInt), or null. */
export function weiOf(text) {
  const m = /^\s*([0-9]*)(?:\.([0-9]*))?\s*$/.exec(String(text));
  if (!m || (m[1] === "" && !m[2])) return null;
  const frac = m[2] || "";
  if (frac.length > 18) return null;
  return BigInt(m[1] || "0") * 10n ** 18n + BigInt(frac.padEnd(18, "0") || "0");
}

/**
 * "What would happen?": a transaction put to the signer's dry run
 * (`POST /v1/wallets/{id}/check`); nothing is signed or counted. Shows the
 * verdict and what the signer decoded.
 */
function checkForm(ctx, w, record) {
  const chains = record.policy && Array.isArray(record.policy.chain_ids) ? record.policy.chain_ids : [];
  const to = h("input", { type: "text", autocomplete: "off", spellcheck: "false", class: "mono", testid: "wallet-check-to", placeholder: "0x…" });
  const value = h("input", { type: "text", inputmode: "decimal", autocomplete: "off", testid: "wallet-check-value", value: "0" });
  const data = h("input", { type: "text", autocomplete: "off", spellcheck: "false", class: "mono", testid: "wallet-check-data", value: "0x" });
  const chain = h("input", { type: "text", inputmode: "numeric", autocomplete: "off", testid: "wallet-check-chain", value: String(chains.length ? chains[0] : 1) });
  const submit = h("button", { type: "submit", testid: "wallet-check-submit", text: "What would happen?" });
  const out = h("div", { testid: "wallet-check-result", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "stack sub", testid: "wallet-check", novalidate: true, "aria-labelledby": "check-h" },
    h("h3", { id: "check-h", text: "What would happen?" }),
    h("p", { class: "hint", text: "Ask the signer what its policy makes of a transaction from this wallet. Nothing is signed or counted. On a wallet that requires your approval in this console, payment requests still wait for you." }),
    field("To (address)", to, "Empty: a new contract."),
    field("Value in ETH", value, "A decimal amount, e.g. 0.05."),
    field("Data (hex)", data, "0x for a plain transfer; a contract call's calldata otherwise."),
    field("Chain id", chain),
    h("div", { class: "actions" }, submit),
    out,
  );
  const problem = (text) => {
    clear(out);
    out.append(h("p", { class: "bad", role: "alert", testid: "wallet-check-error", text }));
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const target = to.value.trim();
    if (target !== "" && !/^0x[0-9a-fA-F]{40}$/.test(target)) return problem("To: an address is 0x and 40 hex digits (or leave it empty for a new contract).");
    const wei = weiOf(value.value);
    if (wei === null) return problem("Value in ETH: a decimal number such as 0.05, at most 18 decimals.");
    const input = data.value.trim() || "0x";
    if (!/^0x([0-9a-fA-F]{2})*$/.test(input)) return problem("Data: 0x and an even number of hex digits.");
    const chainId = quantity(chain.value.trim());
    if (chainId === null || chainId === 0n) return problem("Chain id: a positive whole number, e.g. 1.");
    const transaction = {
      chainId: `0x${chainId.toString(16)}`,
      nonce: "0x0",
      ...(target ? { to: target } : {}),
      value: `0x${wei.toString(16)}`,
      input,
      gas: "0x30000",
      maxFeePerGas: "0x3b9aca00",
      maxPriorityFeePerGas: "0x1",
    };
    submit.disabled = true;
    clear(out);
    out.append(h("p", { class: "hint", text: "Asking the signer…" }));
    try {
      const r = await ctx.post(`/v1/wallets/${seg(w.id)}/check`, { transaction });
      clear(out);
      out.append(verdict(r, record));
      const d = r && r.decoded;
      if (d && d.kind === "transaction") {
        out.append(
          h("h4", { text: "What the signer read" }),
          renderContent({ kind: "transaction", transaction: d.transaction, call: d.call, calldata: d.calldata, readable: d.readable }),
        );
      }
    } catch (e) {
      problem(`The signer could not check it: ${explain(e)}`);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The signer's answer to a check, in words. */
function verdict(r, record) {
  const why = r.rule ? ` (rule ${r.rule}${r.message ? `: ${r.message}` : ""})` : "";
  let text;
  let cls;
  if (r.allowed && !r.needs_owners) {
    text = "Signed on its own: the policy allows it.";
    cls = "ok";
  } else if (r.allowed) {
    text = `Signed with its owners' approvals${why}.`;
    cls = "ok";
  } else if (r.needs_owners) {
    text = `Needs ${record.threshold} of its owners${why}.`;
    cls = "warn";
  } else {
    text = `Refused${why}.`;
    cls = "bad";
  }
  return h("p", { class: cls, testid: "wallet-check-verdict", dataset: { allowed: Boolean(r.allowed), needsOwners: Boolean(r.needs_owners), rule: r.rule ?? "" }, text });
}

/** Who decides what this wallet signs: its record (owners, threshold,
 *  policy) as the signer made it, in words. The attestation below binds
 *  this exact record (its SHA-256): a page cannot show another one and
 *  still verify. With `changed` (called with the wallet after a record
 *  change), the policy can be edited here; `proposals` (the page's
 *  "Pending changes", `pendingChanges`) hears of the changes it proposes;
 *  `notice` ({text, version}) says what the last change did. */
export function recordCard(w, ctx, { changed = null, notice = null, proposals = null } = {}) {
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
  const ruled = Boolean(record.policy) && Object.keys(record.policy).some((k) => k !== "allow");
  let summary;
  let needs;
  if (allow.length === 0 && owners.length > 0) {
    summary = `Every signature needs its owners: ${record.threshold} of ${owners.length}.`;
    needs = "always";
  } else if (allow.length === 0) {
    summary = "Nothing can be signed: no kind is allowed and there are no owners.";
    needs = "nothing";
  } else if (owners.length === 0) {
    summary = `The operator can sign ${allow.join(", ")} without anyone's approval${ruled ? ", within the rules below" : ""}${allow.length < 4 || ruled ? "; nothing else can be signed" : ""}.`;
    needs = "never";
  } else {
    summary = `The operator can sign ${allow.join(", ")} without you${ruled ? ", within the rules below" : ""}; anything else needs ${record.threshold} of its ${owners.length} owners.`;
    needs = "sometimes";
  }
  card.append(h("p", { testid: "wallet-record-summary", dataset: { needsOwners: needs }, text: summary }));
  if (notice) card.append(h("p", { class: "ok", role: "status", testid: "wallet-policy-change-done", dataset: { version: notice.version ?? "" }, text: notice.text }));
  if (record.policy) card.append(h("h3", { text: "The policy, rule by rule" }), policyRules(record.policy));
  if (owners.length > 0) {
    const list = h("ul", { testid: "wallet-owners" });
    for (const o of owners) list.append(h("li", { dataset: { ownerId: o.id } }, ownerWords(o)));
    card.append(list);
  }
  card.append(
    dl([
      ["Record", `version ${record.version}, deployment ${record.deployment}`, "wallet-record-version"],
      ["Record hash", w.record_hash || "", "wallet-record-hash"],
    ]),
    h("p", { class: "hint", text: "The attestation below binds this record's hash: a host cannot show you another record and pass the check. For certainty, verify the wallet on your own machine: signet wallet verify WALLET.json --pcr …" }),
  );
  if (ctx && w.key_type === "secp256k1") card.append(checkForm(ctx, w, record));
  if (ctx && changed) card.append(policyEditForm(ctx, w, record, changed, proposals));
  return card;
}

/** An owner in words: its id, what it is, its key shortened. */
function ownerWords(o) {
  const key = o.address || o.public_key || "";
  const what = o.type === "passkey" ? `passkey for ${o.rp_id}` : `${o.type} key`;
  return [h("strong", { text: o.id }), ` — ${what} `, mono(key.length > 20 ? `${key.slice(0, 10)}…${key.slice(-8)}` : key)];
}

// --- editing the policy ---------------------------------------------------------

/** The kinds, in the order the record stores them (name order). */
const KINDS = ["digest", "message", "transaction", "typed_data"];
/** The rules the edit form says; every other rule is kept as it is. */
const EDITED = new Set(["allow", "chain_ids", "max_value_wei", "recipients", "windows", "change_delay_seconds"]);
const DAY = 86400;
const MAX_DELAY_SECONDS = 2592000;
const MAX_SAFE = 9007199254740991n;

/** JSON with its keys sorted: two policies are the same when this is. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v === undefined ? null : v);
}

/** Wei as a decimal amount of ETH for a form field ("0.01"). */
function ethText(wei) {
  const q = quantity(wei);
  return q === null ? String(wei) : units(q, 18);
}

/** Seconds as hours for a form field ("1", "0.5"). */
function hoursText(seconds) {
  return String(Number((Number(seconds) / 3600).toFixed(6)));
}

/** `policyRules`' line of each rule, by rule name. */
function ruleLines(policy) {
  const lines = new Map();
  for (const li of [...policyRules(policy).children]) lines.set(li.dataset.rule, li);
  return lines;
}

/** What a change does to the policy, rule by rule, in the words of the rules list. */
function changeList(before, after, testid = "wallet-policy-change-diff") {
  const old = ruleLines(before);
  const neu = ruleLines(after);
  const list = h("ul", { class: "rules changes", testid });
  const said = (li) => [...li.childNodes];
  for (const rule of new Set([...old.keys(), ...neu.keys()])) {
    if (canonical((before || {})[rule]) === canonical((after || {})[rule])) continue;
    const a = old.get(rule);
    const b = neu.get(rule);
    if (!a) {
      list.append(h("li", { dataset: { rule, change: "added" } }, h("strong", { text: "Added: " }), said(b)));
    } else if (!b) {
      list.append(h("li", { dataset: { rule, change: "removed" } }, h("strong", { text: "Removed (no such limit any more): " }), said(a)));
    } else {
      list.append(
        h(
          "li",
          { dataset: { rule, change: "changed" } },
          h("div", {}, h("strong", { text: "Now: " }), said(a)),
          h("div", {}, h("strong", { text: "After the change: " }), said(b)),
        ),
      );
    }
  }
  if (!list.children.length) list.append(h("li", { dataset: { change: "none" }, text: "No rule changes." }));
  return list;
}

/** The `effective_at` (Unix seconds) of a 409 change_not_yet_effective, or null. */
function effectiveAt(e) {
  const direct = Number(e && (e.effective_at ?? e.effectiveAt));
  if (Number.isFinite(direct) && direct > 0) return direct;
  // The signer's message says it too: "… takes effect 1765000000 (Unix seconds) …".
  const m = /takes effect (\d+)/.exec((e && e.message) || "");
  return m ? Number(m[1]) : null;
}

const notYet = (e) => e instanceof ApiError && e.code === "change_not_yet_effective";

/** The longest a browser timer waits (2^31 − 1 ms, about 24.8 days); a change delay may be 30 days. */
const MAX_TIMER_MS = 2147483647;

/** The passkey owners this page can approve with: those registered for its origin. */
function usablePasskeys(owners) {
  return (Array.isArray(owners) ? owners : []).filter(
    (o) => o.type === "passkey" && o.credential_id && Array.isArray(o.origins) && o.origins.includes(location.origin),
  );
}

/** Unix seconds as RFC 3339 (for `time` and `countdown`), or null. */
function unixIso(seconds) {
  const s = Number(seconds);
  return Number.isFinite(s) && s > 0 ? new Date(s * 1000).toISOString() : null;
}

/**
 * This browser's approval of a record proposal with a passkey among
 * `owners` (`navigator.credentials.get` over SHA-256 of the proposal's
 * authorization text, user verification required), sent as `{owner_id,
 * webauthn}` to `POST /v1/wallets/{id}/record/{proposal_id}/approve`.
 * Resolves to the proposal as it stands then: `pending` (more approvals
 * needed), `waiting` (an approved loosening held until `effective_at`) or
 * `applied` (with `wallet`).
 */
async function approveProposal(ctx, walletId, proposal, owners) {
  const text = proposal.authorization && proposal.authorization.text;
  if (!text) throw new Error("the proposal carries no text to approve");
  const a = await approveWith(owners, text);
  ctx.status("Sending your approval to the host…");
  const path = `/v1/wallets/${seg(walletId)}/record/${seg(proposal.proposal_id)}/approve`;
  return (await ctx.api("POST", path, { owner_id: a.owner_id, webauthn: a.webauthn })).data;
}

/** A pending proposal after this person's approval, in words. */
function pendingText(p) {
  const n = Array.isArray(p.approved_by) ? p.approved_by.length : 0;
  return `Your approval is in: ${n} of ${p.threshold}; the other owners approve it from their own devices (the wallet page lists it under “Pending changes”).`;
}

/** The command an owner without a passkey here approves a proposal with. */
function approveCommand(p, walletId) {
  return `signet approve ${p.proposal_id} --wallet ${walletId} --owner ID --key FILE`;
}

/** Why an approval of a proposal did not go through, in words; null for another failure. */
function proposalRefused(e) {
  if (e && e.name === "NotAllowedError") return "The passkey was not used (cancelled, timed out, or not in this browser).";
  if (!(e instanceof ApiError)) return null;
  switch (e.code) {
    case "approval_invalid":
      return `The approval was refused${e.reason ? ` (${e.reason})` : ""}: ${explain(e)}`;
    case "proposal_expired":
      return `This change can no longer be approved: its approvals were not all in within 10 minutes, or the signer that held the approved change restarted. Propose it again. (${explain(e)})`;
    case "proposal_decided":
      return `This change was decided meanwhile: applied, or another change of the record came first. (${explain(e)})`;
    default:
      return null;
  }
}

/**
 * What a proposed record changes from the current one, in words: owners
 * added, removed or changed, how many approve, and the policy rule by
 * rule (`changeList`, under `testid`).
 */
function recordChanges(current, next, testid) {
  const before = Array.isArray(current.owners) ? current.owners : [];
  const after = Array.isArray(next.owners) ? next.owners : [];
  const lines = [];
  const line = (change, label, o) => lines.push(h("li", { dataset: { change, ownerId: o.id } }, h("strong", { text: label }), ownerWords(o)));
  for (const o of after) {
    const was = before.find((b) => b.id === o.id);
    if (!was) line("added", "Owner added: ", o);
    else if (canonical(was) !== canonical(o)) line("changed", "Owner changed (its key, or where it approves from): ", o);
  }
  for (const o of before) if (!after.some((a) => a.id === o.id)) line("removed", "Owner removed: ", o);
  if (Number(current.threshold) !== Number(next.threshold) || before.length !== after.length) {
    lines.push(
      h(
        "li",
        { dataset: { rule: "threshold", change: "changed" } },
        h("div", {}, h("strong", { text: "Now: " }), `${current.threshold} of ${before.length} owners approve.`),
        h("div", {}, h("strong", { text: "After the change: " }), `${next.threshold} of ${after.length} owners approve.`),
      ),
    );
  }
  const samePolicy = canonical(current.policy) === canonical(next.policy);
  return [
    lines.length ? h("ul", { class: "rules changes", testid: `${testid}-owners` }, lines) : null,
    lines.length && samePolicy ? null : changeList(current.policy, next.policy, testid),
  ];
}

/**
 * "Pending changes": the record changes proposed to the wallet's owners
 * and not decided yet (`GET /v1/wallets/{id}/proposals`, newest first):
 * `pending` ones collecting approvals and `waiting` ones (an approved
 * loosening the signer holds until its `effective_at`). Each says what it
 * changes, who approved it of how many, and until when; a pending one that
 * a passkey of this page has not approved yet offers "Approve with my
 * passkey". A waiting one is watched: the host applies it by itself once
 * it is due, and `changed` then gets the wallet with its new record.
 * `wallet()`: the wallet as the page shows it now. Returns `{card,
 * refresh, settle}`; `settle(proposal)` shows what an approval did.
 */
function pendingChanges(ctx, wallet, changed) {
  const list = h("ul", { class: "cards proposals" });
  const none = h("p", { testid: "wallet-proposals-none", hidden: true, text: "No pending changes." });
  const note = h("p", { class: "proposals-note", testid: "wallet-proposals-status", "aria-live": "polite" });
  const reload = h("button", { type: "button", testid: "wallet-proposals-refresh", text: "Refresh" });
  const card = h(
    "section",
    { class: "card", testid: "wallet-proposals", "aria-labelledby": "proposals-h" },
    h("h2", { id: "proposals-h", text: "Pending changes" }),
    h("p", {
      class: "hint",
      text: "Changes of this wallet's owners or policy that wait for its owners. Each owner approves from their own device: here with a passkey registered for this page, or from the command line. A loosening under a change delay, once approved, waits for its time; the host then applies it.",
    }),
    none,
    list,
    note,
    h("div", { class: "actions" }, reload),
  );
  const walletPath = () => `/v1/wallets/${seg(wallet().id)}`;
  let loads = 0; // the latest listing: an older answer says nothing
  let stops = []; // the shown rows' countdowns
  let busy = false;
  const shownApplied = new Set(); // applied proposals whose wallet the page took
  const watched = new Set(); // waiting proposals, watched until applied

  /** Lists the undecided proposals again (only while the card is on the page). */
  async function refresh() {
    if (!card.isConnected) return;
    const mine = ++loads;
    reload.disabled = true;
    try {
      const r = await ctx.get(`${walletPath()}/proposals`);
      if (mine !== loads) return;
      const open = ((r && r.proposals) || []).filter((p) => p.state === "pending" || p.state === "waiting");
      render(open);
      for (const p of open) watch(p);
      card.dataset.loaded = "true";
    } catch (e) {
      if (mine === loads) note.textContent = `Could not list the pending changes: ${explain(e)}`;
    } finally {
      if (mine === loads) reload.disabled = false;
    }
  }
  reload.addEventListener("click", refresh);

  function render(open) {
    for (const stop of stops) stop();
    stops = [];
    clear(list);
    none.hidden = open.length > 0;
    let current = {};
    try {
      current = JSON.parse(wallet().record) || {};
    } catch {
      current = {};
    }
    for (const p of open) list.append(row(p, current));
  }

  /** One proposal, against the `current` record. */
  function row(p, current) {
    let next = null;
    try {
      next = JSON.parse(p.record);
    } catch {
      next = null;
    }
    const approvedBy = Array.isArray(p.approved_by) ? p.approved_by : [];
    const waiting = p.state === "waiting";
    const li = h(
      "li",
      { class: "card", testid: "wallet-proposal", dataset: { proposalId: p.proposal_id, state: p.state } },
      h(
        "div",
        { class: "card-head" },
        h("h3", { class: "title", text: next ? `Record version ${next.version}` : "A record change" }),
        h("span", { class: `badge state-${p.state}`, text: waiting ? "approved, waiting" : "pending" }),
      ),
      next ? recordChanges(current, next, "wallet-proposal-diff") : h("p", { class: "bad", text: "The proposed record cannot be read." }),
      h(
        "p",
        { testid: "wallet-proposal-approvals", dataset: { approvals: approvedBy.length, threshold: p.threshold } },
        h("span", { class: "label", text: "Approved by " }),
        approvedBy.length ? words(approvedBy) : "nobody yet",
        ` (${approvedBy.length} of ${p.threshold})`,
      ),
      h("p", {}, h("span", { class: "label", text: "Proposed by " }), p.created_by || "—", " · ", time(p.created_at), " · ", mono(p.proposal_id)),
    );

    if (waiting) {
      const iso = unixIso(p.effective_at);
      const left = h("span", { class: "hint" });
      li.append(
        h(
          "p",
          { class: "warn", testid: "wallet-proposal-when", dataset: { effectiveAt: p.effective_at } },
          "Its owners approved it. It loosens the policy: it takes effect ",
          iso ? ["at ", time(iso)] : "after the change delay",
          ". ",
          left,
        ),
      );
      if (iso) {
        stops.push(
          countdown(ctx, iso, (s) => {
            left.textContent = s > 0 ? `(in ${mmss(s)})` : "(due: the host is applying it)";
          }),
        );
      }
      return li;
    }

    const until = unixIso(p.expires_at);
    const expiry = h("span", { class: "hint" });
    const loosening = unixIso(p.effective_at);
    append(li, [
      h("p", { testid: "wallet-proposal-when", dataset: { expiresAt: p.expires_at } }, h("span", { class: "label", text: "Approvals taken until " }), time(until), " ", expiry),
      loosening
        ? h("p", { class: "hint" }, "It loosens the policy: once its owners approve it, it waits the change delay (approved now, it would take effect at ", time(loosening), ").")
        : null,
    ]);
    // This person's passkeys: those of this page not among the approvals.
    const usable = usablePasskeys(current.owners);
    const mine = usable.filter((o) => !approvedBy.includes(o.id));
    let approve = null;
    if (mine.length > 0) {
      const no = unavailable();
      approve = h("button", { type: "button", class: "primary", testid: "wallet-proposal-approve", text: "Approve with my passkey", disabled: Boolean(no) });
      append(li, [h("div", { class: "actions" }, approve), no ? h("p", { class: "hint", text: `Passkeys: ${no}.` }) : null]);
      approve.addEventListener("click", () => approveRow(p, mine, li, approve));
    } else if (usable.length > 0) {
      li.append(h("p", { class: "hint", testid: "wallet-proposal-mine", text: "Your passkey approved it; the other owners approve it from their own devices." }));
    }
    li.append(h("p", { class: "hint", text: `From the command line: ${approveCommand(p, wallet().id)}` }));
    if (until) {
      stops.push(
        countdown(ctx, until, (s) => {
          expiry.textContent = `(${expiresIn(s)})`;
          if (approve && s <= 0) approve.disabled = true;
        }),
      );
    }
    return li;
  }

  /** "Approve with my passkey" on a row. */
  async function approveRow(p, mine, li, button) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    for (const old of li.querySelectorAll("[role=alert]")) old.remove();
    try {
      ctx.status("Waiting for your passkey…");
      await settle(await approveProposal(ctx, wallet().id, p, mine));
    } catch (e) {
      const text = proposalRefused(e) || `Could not approve the change: ${explain(e)}`;
      li.append(h("p", { class: "bad", role: "alert", testid: "wallet-proposal-error", text }));
      ctx.status(text, "error");
      if (e instanceof ApiError && e.code === "proposal_decided") await recheck(p.proposal_id);
      else if (e instanceof ApiError && e.code === "proposal_expired") await refresh();
      else button.disabled = false;
    } finally {
      busy = false;
    }
  }

  /** A proposal decided meanwhile: applied (the page takes its wallet), or listed again. */
  async function recheck(id) {
    try {
      const q = await ctx.get(`${walletPath()}/record/${seg(id)}`);
      if (q.state === "applied") {
        await settle(q);
        return;
      }
    } catch {
      // listed again below
    }
    await refresh();
  }

  /** What an approval did: the wallet of an applied change, or the list again. */
  async function settle(q) {
    if (!q) return;
    if (q.state === "applied") {
      watched.delete(q.proposal_id);
      if (shownApplied.has(q.proposal_id)) return;
      shownApplied.add(q.proposal_id);
      note.textContent = "";
      try {
        changed(q.wallet || (await ctx.get(walletPath())));
      } catch (e) {
        shownApplied.delete(q.proposal_id);
        throw e;
      }
      return;
    }
    let said = null;
    if (q.state === "waiting") {
      const iso = unixIso(q.effective_at);
      said = `Approved. This change loosens the policy: it takes effect ${iso ? `at ${new Date(iso).toLocaleString()}` : "after the change delay"}; the host applies it then.`;
      ctx.status(said, "info");
    } else if (q.state === "pending") {
      said = pendingText(q);
      ctx.status(said, "ok");
    }
    if (said) note.textContent = said;
    await refresh();
  }

  /**
   * Watches a waiting proposal until it is applied: from its
   * `effective_at` on, reads it every 2 s (the host applies a due change
   * within seconds); after a minute, asks for it (`…/approve` without a
   * body), which applies it or says why not.
   */
  function watch(p) {
    const id = p.proposal_id;
    if (p.state !== "waiting" || watched.has(id) || shownApplied.has(id)) return;
    watched.add(id);
    const path = `${walletPath()}/record/${seg(id)}`;
    let at = (Number(p.effective_at) || 0) * 1000;
    let looks = 0;
    const stopWith = async (text) => {
      watched.delete(id);
      if (text) {
        note.textContent = text;
        ctx.status(text, "error");
      }
      await refresh();
    };
    const look = async () => {
      if (!watched.has(id)) return;
      const wait = at - Date.now();
      if (wait > 0) {
        ctx.after(look, Math.min(wait + 1000, MAX_TIMER_MS));
        return;
      }
      looks += 1;
      if (looks <= 30) {
        try {
          const q = await ctx.get(path);
          if (q.state === "applied") return await settle(q);
          if (q.state !== "waiting") return await stopWith(null);
        } catch {
          // read again below
        }
      } else {
        try {
          const q = (await ctx.api("POST", `${path}/approve`)).data;
          if (q.state === "applied") return await settle(q);
          return await stopWith(null);
        } catch (e) {
          if (!notYet(e)) return await stopWith(`The approved change ${id} was not applied: ${proposalRefused(e) || explain(e)}`);
          // The signer's clock says not yet: wait for its time.
          at = (effectiveAt(e) || Math.floor(Date.now() / 1000) + 2) * 1000;
          looks = 0;
        }
      }
      ctx.after(look, 2000);
    };
    look();
  }

  return { card, refresh, settle };
}

/**
 * "Edit the policy": the rules the person can say in words (kinds, chains,
 * the most per transaction, recipients, a 24-hour window, the change
 * delay), prefilled from the record; the rules it does not show are kept.
 * `POST /v1/wallets/{id}/record` with the new policy: applied at once
 * (200, a wallet without owners), or proposed to the owners (202, a
 * proposal `proposals` lists under "Pending changes"), approved here with
 * the passkey this browser holds (`…/record/{proposal_id}/approve`). A
 * loosening under a change delay, once approved, waits (`waiting`) until
 * the host applies it; "Apply now" asks for it from its time on
 * (docs/policy.md, `change_delay_seconds`).
 */
function policyEditForm(ctx, w, record, changed, proposals = null) {
  const current = record.policy && typeof record.policy === "object" ? record.policy : { allow: [] };
  const owners = Array.isArray(record.owners) ? record.owners : [];
  const passkeys = owners.filter((o) => o.type === "passkey" && o.credential_id);
  const usable = usablePasskeys(owners);
  const path = `/v1/wallets/${seg(w.id)}/record`;
  const tid = (name) => `wallet-policy-edit-${name}`;
  const text = (testid, value, extra = {}) =>
    h("input", { type: "text", autocomplete: "off", spellcheck: "false", testid: tid(testid), value: value ?? "", ...extra });
  const listText = (v, sep) => (Array.isArray(v) ? (v.length ? v.join(sep) : "none") : "");

  const allowed = new Set(Array.isArray(current.allow) ? current.allow : []);
  const kinds = Object.fromEntries(KINDS.map((k) => [k, h("input", { type: "checkbox", testid: tid(`kind-${k}`), checked: allowed.has(k), dataset: { kind: k } })]));
  const chains = text("chains", listText(current.chain_ids, ", "), { inputmode: "numeric", placeholder: "any chain" });
  const maxEth = text("max-eth", current.max_value_wei !== undefined ? ethText(current.max_value_wei) : "", { inputmode: "decimal", placeholder: "no limit" });
  const recipients = h("textarea", { rows: "3", class: "mono", spellcheck: "false", autocomplete: "off", testid: tid("recipients"), placeholder: "any recipient" });
  recipients.value = listText(current.recipients, "\n");
  const windows = Array.isArray(current.windows) ? current.windows : [];
  const day = windows.find((x) => Number(x.seconds) === DAY) || {};
  const dayEth = text("day-eth", day.max_value_wei !== undefined ? ethText(day.max_value_wei) : "", { inputmode: "decimal", placeholder: "no limit" });
  const dayCount = text("day-count", day.max_count !== undefined ? String(day.max_count) : "", { inputmode: "numeric", placeholder: "no limit" });
  const delay = text("delay-hours", current.change_delay_seconds !== undefined ? hoursText(current.change_delay_seconds) : "", { inputmode: "decimal", placeholder: "none" });
  const submit = h("button", { type: "submit", class: "primary", testid: tid("submit"), text: "Change the policy" });
  const out = h("div", { class: "policy-change", testid: "wallet-policy-change", "aria-live": "polite" });

  const kept = [];
  for (const rule of Object.keys(current)) {
    if (EDITED.has(rule)) continue;
    kept.push({ selectors: "contract functions", tokens: "token limits", typed_data_domains: "typed-data domains" }[rule] || rule);
  }
  const otherWindows = windows.filter((x) => Number(x.seconds) !== DAY);
  if (otherWindows.length) kept.push(`the window${otherWindows.length === 1 ? "" : "s"} of ${words(otherWindows.map((x) => duration(x.seconds)))}`);

  const kindLabels = { message: "Messages", transaction: "Transactions", typed_data: "Typed data (EIP-712)", digest: "Opaque digests" };
  const form = h(
    "form",
    { class: "stack sub policy-edit", testid: "wallet-policy-edit", novalidate: true, "aria-labelledby": "policy-edit-h" },
    h("h3", { id: "policy-edit-h", text: "Edit the policy" }),
    h("p", {
      class: "hint",
      text:
        owners.length > 0
          ? `What this wallet may sign without its owners. An empty field is no such limit. The signer makes the next record; ${record.threshold} of the wallet's owners approve it first${usable.length ? " (here: with your passkey)" : ""}.`
          : "What this wallet may sign. An empty field is no such limit. This wallet has no owners: a change that only tightens the policy applies at once, and one that loosens it is refused (nobody could approve it).",
    }),
    h(
      "fieldset",
      { testid: tid("kinds") },
      h("legend", { text: owners.length > 0 ? "Kinds it may sign without its owners" : "Kinds it may sign" }),
      ["message", "transaction", "typed_data"].map((k) => check(kindLabels[k], kinds[k])),
      check(kindLabels.digest, kinds.digest, "Only for a wallet that needs them: no other rule bounds a digest, which can be the hash of any transaction."),
    ),
    field("Chains (ids, separated by commas)", chains, "E.g. 1, 8453. Empty: any chain. “none”: no chain (no transaction or typed data)."),
    field("Most ETH per transaction", maxEth, "A decimal amount, e.g. 0.01. Empty: no limit."),
    field("Recipients (one address per line)", recipients, "For a token call: the token contract and who gets the tokens or the rights. Empty: anyone. “none”: nobody."),
    h(
      "fieldset",
      { testid: tid("day") },
      h("legend", { text: "In any 24 hours" }),
      field("Most ETH", dayEth, "Empty: no limit on the value."),
      field("Most signatures", dayCount, "Empty: no limit on the number."),
    ),
    field("Change delay (hours)", delay, "How long a change that loosens this policy waits after the owners approve it; at most 720 (30 days). Empty: none."),
    kept.length ? h("p", { class: "hint", testid: tid("kept"), text: `Kept as they are (not edited here): ${words(kept)}.` }) : null,
    h("div", { class: "actions" }, submit),
    out,
  );

  let busy = false;
  let stop = () => {};
  const reset = () => {
    stop();
    stop = () => {};
    clear(out);
  };
  const problem = (message, testid) => append(out, [h("p", { class: "bad", role: "alert", testid, text: message })]);
  const dropProblems = () => {
    for (const p of out.querySelectorAll("[role=alert]")) p.remove();
  };
  const send = (policy) => ctx.api("POST", path, { policy });
  // The page's "Pending changes" (a record card drawn alone: the wallet of an applied change only).
  const listed = proposals || {
    refresh: async () => {},
    settle: async (q) => {
      if (q && q.state === "applied") changed(q.wallet || (await ctx.get(`/v1/wallets/${seg(w.id)}`)));
    },
  };

  /** An API refusal in words. */
  function refused(e) {
    if (e instanceof ApiError && e.code === "policy_denied" && owners.length === 0) {
      return `Refused: this change loosens the policy of a wallet without owners, and nobody could approve it; it can only be tightened. (${explain(e)})`;
    }
    return proposalRefused(e) || `Could not change the policy: ${explain(e)}`;
  }

  /** A successful answer: applied (200), or proposed to the owners (202). */
  function settle(policy, r) {
    if (r.status === 202) {
      askOwners(policy, r.data || {});
      listed.refresh();
    } else changed(r.data);
  }

  /** The change proposed to the owners (202): what changes, and this browser's passkey approval of it. */
  function askOwners(policy, proposal) {
    let next = null;
    try {
      next = JSON.parse(proposal.record);
    } catch {
      next = null;
    }
    const auth = proposal.authorization || {};
    const approvedBy = Array.isArray(proposal.approved_by) ? proposal.approved_by : [];
    const mine = usable.filter((o) => !approvedBy.includes(o.id));
    const until = unixIso(proposal.expires_at);
    const no = unavailable();
    const approve = h("button", { type: "button", class: "primary", testid: "wallet-policy-change-approve", text: "Approve with my passkey", disabled: Boolean(no) || mine.length === 0 });
    const cancel = h("button", { type: "button", testid: "wallet-policy-change-cancel", text: "Close" });
    let why = null;
    if (passkeys.length === 0) {
      why = `None of this wallet's owners is a passkey: each owner approves it with their own key from the command line (${approveCommand(proposal, w.id)}), or signs the text above and the same change is sent again with their approvals (docs/owners.md).`;
    } else if (usable.length === 0) {
      why = `This wallet's passkey was registered at ${words(passkeys.flatMap((o) => o.origins || []))}: open the console there to approve with it (under “Pending changes”).`;
    } else if (no) {
      why = `Passkeys: ${no}.`;
    }
    append(out, [
      h("h4", { text: "What changes" }),
      changeList(current, (next && next.policy) || policy),
      Number(current.change_delay_seconds) > 0
        ? h("p", {
            class: "hint",
            testid: "wallet-policy-change-delay-note",
            text: `A change that loosens the policy (it lets the wallet sign something it could not) takes effect ${duration(current.change_delay_seconds)} after the approval; one that only tightens it, at once.`,
          })
        : null,
      h("p", {
        testid: "wallet-policy-change-ask",
        dataset: { proposalId: proposal.proposal_id },
        text: `The wallet's owners approve it with their own keys (${record.threshold} of ${owners.length}); the signer checks their signatures over the text below${next ? ` and makes record version ${next.version}` : ""}.`,
      }),
      h(
        "p",
        { class: "hint", testid: "wallet-policy-change-proposal" },
        "Proposed as ",
        mono(proposal.proposal_id || "—"),
        until ? [", open for approvals until ", time(until)] : "",
        ": “Pending changes” lists it until its owners decide, so that each can approve it from their own device. Closing this leaves it there.",
      ),
      h(
        "details",
        {},
        h("summary", { text: "The text the owners sign" }),
        h("pre", { class: "mono", testid: "wallet-policy-change-authorization", text: auth.text || "" }),
        h("p", { class: "hint", text: `SHA-256 ${auth.sha256 || "—"}; valid for 10 minutes.` }),
      ),
      h("div", { class: "actions" }, approve, cancel),
      why ? h("p", { class: "hint", testid: "wallet-policy-change-why", text: why }) : null,
    ]);
    cancel.addEventListener("click", () => {
      if (!busy) reset();
    });
    approve.addEventListener("click", async () => {
      if (busy) return;
      busy = true;
      approve.disabled = true;
      cancel.disabled = true;
      dropProblems();
      try {
        ctx.status("Waiting for your passkey…");
        const q = await approveProposal(ctx, w.id, proposal, mine);
        reset();
        await decided(policy, q);
      } catch (e) {
        if (notYet(e)) {
          reset();
          delayed(policy, effectiveAt(e), { proposal });
        } else {
          problem(refused(e), "wallet-policy-change-error");
          ctx.status(refused(e), "error");
          const over = e instanceof ApiError && (e.code === "proposal_decided" || e.code === "proposal_expired");
          if (over) listed.refresh();
          approve.disabled = over;
          cancel.disabled = false;
        }
      } finally {
        busy = false;
      }
    });
  }

  /** Where the proposal stands after this browser's approval (or a request to apply it). */
  async function decided(policy, q) {
    if (q.state === "applied") {
      await listed.settle(q); // the wallet: the card, this form with it, is drawn again
    } else if (q.state === "waiting") {
      delayed(policy, Number(q.effective_at) || null, { proposal: q });
      ctx.status("Approved with your passkey. The change loosens the policy: it waits its change delay.", "info");
    } else if (q.state === "pending") {
      const said = pendingText(q);
      append(out, [
        h("h4", { text: "What changes" }),
        changeList(current, policy),
        h("p", {
          class: "ok",
          testid: "wallet-policy-change-pending",
          dataset: { proposalId: q.proposal_id, approvals: Array.isArray(q.approved_by) ? q.approved_by.length : 0, threshold: q.threshold },
          text: said,
        }),
        h("p", { class: "hint", text: `From the command line: ${approveCommand(q, w.id)}` }),
      ]);
      listed.refresh();
      ctx.status(said, "ok");
    } else {
      problem(`The change is ${q.state}: nothing was applied. “Pending changes” shows what waits.`, "wallet-policy-change-error");
      listed.refresh();
    }
  }

  /** The waiting proposal of `policy` (when this page did not see it approved), or null. */
  async function waitingProposal(policy) {
    const r = await ctx.get(`/v1/wallets/${seg(w.id)}/proposals`);
    for (const p of (r && r.proposals) || []) {
      if (p.state !== "waiting") continue;
      try {
        if (canonical(JSON.parse(p.record).policy) === canonical(policy)) return p;
      } catch {
        // not a record this page can read: not this change
      }
    }
    return null;
  }

  /**
   * An approved loosening waiting for its time: the proposal's `waiting`,
   * or 409 change_not_yet_effective when the same change is sent again.
   * The host applies it by itself once it is due ("Pending changes"
   * watches it, and the card is drawn again from the new record); "Apply
   * now" asks for it from that time on (`…/approve` without a body).
   */
  function delayed(policy, at, { proposal = null, again = false } = {}) {
    const iso = unixIso(at);
    const apply = h("button", { type: "button", class: "primary", testid: "wallet-policy-change-apply", text: "Apply now", disabled: Boolean(iso) });
    const wait = h("span", { class: "hint", testid: "wallet-policy-change-wait" });
    append(out, [
      h("h4", { text: "What changes" }),
      changeList(current, policy),
      h(
        "p",
        { class: "warn", testid: "wallet-policy-change-delayed", dataset: { effectiveAt: iso ? at : null, proposalId: proposal && proposal.proposal_id } },
        "This change loosens the policy: it takes effect ",
        iso ? ["at ", time(iso)] : "after the policy's change delay",
        ".",
      ),
      again ? h("p", { class: "hint", testid: "wallet-policy-change-not-yet", text: "Not yet: the signer says the time has not come." }) : null,
      h("p", {
        class: "hint",
        text: "Its owners approved it; until then the policy stays as listed above. When the time comes the host applies exactly the change they approved, by itself, and this page shows the new record; from then on “Apply now” asks for it at once. A signer restart before then forgets the approval: the change is then proposed and approved again, and the delay starts again.",
      }),
      h("div", { class: "actions" }, apply, wait),
    ]);
    listed.refresh();
    if (iso) {
      let halt = null;
      halt = countdown(ctx, iso, (left) => {
        // The card was drawn again (the change applied): this form is gone.
        if (!out.isConnected && halt) halt();
        apply.disabled = busy || left > 0;
        wait.textContent = left > 0 ? `in ${mmss(left)}` : "";
      });
      stop = halt;
    }
    apply.addEventListener("click", async () => {
      if (busy) return;
      busy = true;
      apply.disabled = true;
      dropProblems();
      let held = proposal;
      try {
        held = held || (await waitingProposal(policy));
        if (held) {
          const q = (await ctx.api("POST", `${path}/${seg(held.proposal_id)}/approve`)).data;
          reset();
          await decided(policy, q);
          return;
        }
        // No waiting proposal of it (its owners' approvals came all at once,
        // with the change): the same change again, which the signer applies.
        const r = await send(policy);
        reset();
        if (r.status === 202) forgotten();
        settle(policy, r);
      } catch (e) {
        if (notYet(e)) {
          reset();
          delayed(policy, effectiveAt(e) ?? at, { proposal: held, again: true });
        } else if (e instanceof ApiError && e.code === "proposal_expired") {
          reset();
          forgotten();
          listed.refresh();
        } else if (e instanceof ApiError && e.code === "proposal_decided" && held && (await appliedMeanwhile(held))) {
          reset();
        } else {
          problem(refused(e), "wallet-policy-change-error");
          if (e instanceof ApiError && e.code === "proposal_decided") listed.refresh();
          apply.disabled = false;
        }
      } finally {
        busy = false;
      }
    });
  }

  /** The signer no longer holds the approved change. */
  function forgotten() {
    append(out, [
      h("p", {
        class: "warn",
        testid: "wallet-policy-change-forgotten",
        text: "The signer no longer holds the approved change (it restarted, or the record changed since): change the policy again for its owners to approve.",
      }),
    ]);
  }

  /** Whether `held` was applied meanwhile (by the host, when due): then the page takes its wallet. */
  async function appliedMeanwhile(held) {
    try {
      const q = await ctx.get(`${path}/${seg(held.proposal_id)}`);
      if (q.state !== "applied") return false;
      await listed.settle(q);
      return true;
    } catch {
      return false;
    }
  }

  /** The policy the form says, or `{error}` naming the field. */
  function build() {
    const error = (message) => ({ error: message });
    const policy = {};
    for (const [rule, value] of Object.entries(current)) if (!EDITED.has(rule)) policy[rule] = value;
    policy.allow = KINDS.filter((k) => kinds[k].checked);

    const c = chains.value.trim();
    if (c.toLowerCase() === "none") policy.chain_ids = [];
    else if (c) {
      const ids = [];
      for (const part of c.split(/[\s,]+/).filter(Boolean)) {
        if (!/^[0-9]+$/.test(part) || BigInt(part) < 1n || BigInt(part) > MAX_SAFE) {
          return error(`Chains: “${part}” is not a chain id (a whole number from 1, e.g. 1 for Ethereum, 8453 for Base).`);
        }
        if (ids.includes(Number(part))) return error(`Chains: ${part} is listed twice.`);
        ids.push(Number(part));
      }
      policy.chain_ids = ids;
    }

    const m = maxEth.value.trim();
    if (m) {
      const wei = weiOf(m);
      if (wei === null) return error("Most ETH per transaction: a decimal amount such as 0.01, at most 18 decimals.");
      policy.max_value_wei = wei.toString();
    }

    const r = recipients.value.trim();
    if (r.toLowerCase() === "none") policy.recipients = [];
    else if (r) {
      const list = [];
      for (const a of r.split(/[\s,]+/).filter(Boolean)) {
        if (!/^0x[0-9a-fA-F]{40}$/.test(a)) return error(`Recipients: “${a}” is not an address (0x and 40 hex digits).`);
        if (list.some((b) => b.toLowerCase() === a.toLowerCase())) return error(`Recipients: ${a} is listed twice.`);
        list.push(a);
      }
      policy.recipients = list;
    }

    const de = dayEth.value.trim();
    const dc = dayCount.value.trim();
    let dayWindow = null;
    if (de || dc) {
      dayWindow = { seconds: DAY };
      if (de) {
        const wei = weiOf(de);
        if (wei === null) return error("Most ETH in any 24 hours: a decimal amount such as 0.25, at most 18 decimals.");
        dayWindow.max_value_wei = wei.toString();
      }
      if (dc) {
        if (!/^[0-9]+$/.test(dc) || BigInt(dc) < 1n || BigInt(dc) > MAX_SAFE) return error("Most signatures in any 24 hours: a whole number from 1.");
        dayWindow.max_count = Number(dc);
      }
    }
    const nextWindows = windows.map((x) => (Number(x.seconds) === DAY ? dayWindow : x)).filter(Boolean);
    if (dayWindow && !windows.some((x) => Number(x.seconds) === DAY)) nextWindows.push(dayWindow);
    if (nextWindows.length) policy.windows = nextWindows;

    const d = delay.value.trim();
    if (d) {
      if (!/^[0-9]+(\.[0-9]+)?$/.test(d)) return error("Change delay: a number of hours, e.g. 24 or 0.5.");
      const seconds = Math.round(Number(d) * 3600);
      if (seconds > MAX_DELAY_SECONDS) return error("Change delay: at most 720 hours (30 days).");
      policy.change_delay_seconds = seconds;
    }

    if (canonical(policy) === canonical(current)) return error("Nothing to change: the form says what the policy already says.");
    return { policy };
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy) return;
    reset();
    const built = build();
    if (built.error) {
      problem(built.error, tid("error"));
      return;
    }
    busy = true;
    submit.disabled = true;
    append(out, [h("p", { class: "hint", text: "Asking the signer…" })]);
    try {
      const r = await send(built.policy);
      reset();
      settle(built.policy, r);
    } catch (e) {
      reset();
      if (notYet(e)) delayed(built.policy, effectiveAt(e));
      else problem(refused(e), tid("error"));
    } finally {
      busy = false;
      submit.disabled = false;
    }
  });
  return form;
}

/** The owners in a wallet's record (none for a wallet without a record). */
function recordOwners(w) {
  try {
    const record = JSON.parse(w.record);
    return Array.isArray(record.owners) ? record.owners : [];
  } catch {
    return [];
  }
}
