// #/wallets/<id> — one wallet: its key, the approval setting, its
// attestation verified in this browser against the deployment's published
// policy (a fresh document bound to a random nonce), and destruction.

import { ApiError, config, explain, seg } from "../api.js";
import { append, check, clear, countdown, dl, field, h, mmss, mono, quantity, time, units } from "../dom.js";
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
  // A record change (the policy edited below) answers the wallet with its
  // new record: the card is drawn again from it, and the attestation,
  // which binds the record, is checked again.
  let shownRecord = null;
  const showRecord = (notice) => {
    const next = recordCard(w, ctx, { changed, notice });
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
    verify();
  }
  showRecord(null);

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
 *  change), the policy can be edited here; `notice` ({text, version}) says
 *  what the last change did. */
export function recordCard(w, ctx, { changed = null, notice = null } = {}) {
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
    for (const o of owners) {
      const key = o.address || o.public_key || "";
      const what = o.type === "passkey" ? `passkey for ${o.rp_id}` : `${o.type} key`;
      list.append(h("li", { dataset: { ownerId: o.id } }, h("strong", { text: o.id }), ` — ${what} `, mono(key.length > 20 ? `${key.slice(0, 10)}…${key.slice(-8)}` : key)));
    }
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
  if (ctx && changed) card.append(policyEditForm(ctx, w, record, changed));
  return card;
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
function changeList(before, after) {
  const old = ruleLines(before);
  const neu = ruleLines(after);
  const list = h("ul", { class: "rules changes", testid: "wallet-policy-change-diff" });
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

/**
 * "Edit the policy": the rules the person can say in words (kinds, chains,
 * the most per transaction, recipients, a 24-hour window, the change
 * delay), prefilled from the record; the rules it does not show are kept.
 * `POST /v1/wallets/{id}/record` with the new policy: applied at once
 * (200), or the owners' authorization (202), approved here with the
 * passkey this browser holds; a loosening under a change delay waits
 * (409 change_not_yet_effective) and "Apply now" sends it again from its
 * time on (docs/policy.md, `change_delay_seconds`).
 */
function policyEditForm(ctx, w, record, changed) {
  const current = record.policy && typeof record.policy === "object" ? record.policy : { allow: [] };
  const owners = Array.isArray(record.owners) ? record.owners : [];
  const passkeys = owners.filter((o) => o.type === "passkey" && o.credential_id);
  // The passkeys this page can use: those registered for this origin.
  const usable = passkeys.filter((o) => Array.isArray(o.origins) && o.origins.includes(location.origin));
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
  const send = (policy, approvals) => ctx.api("POST", path, approvals ? { policy, approvals } : { policy });

  /** An API refusal in words. */
  function refused(e) {
    if (e instanceof ApiError && e.code === "policy_denied" && owners.length === 0) {
      return `Refused: this change loosens the policy of a wallet without owners, and nobody could approve it; it can only be tightened. (${explain(e)})`;
    }
    if (e instanceof ApiError && e.code === "approval_invalid") {
      return `The signer refused the approval: ${explain(e)}. Send the change again for a fresh text to approve.`;
    }
    if (e && e.name === "NotAllowedError") return "The passkey was not used (cancelled, timed out, or not in this browser).";
    return `Could not change the policy: ${explain(e)}`;
  }

  /** A successful answer: applied (200) or the owners' authorization (202). */
  function settle(policy, r) {
    if (r.status === 202) askOwners(policy, r.data || {});
    else changed(r.data);
  }

  /** The change, and the owners' approval of it (202). */
  function askOwners(policy, pending) {
    let next = null;
    try {
      next = JSON.parse(pending.record);
    } catch {
      next = null;
    }
    const auth = pending.authorization || {};
    const no = unavailable();
    const approve = h("button", { type: "button", class: "primary", testid: "wallet-policy-change-approve", text: "Approve with my passkey", disabled: Boolean(no) || usable.length === 0 });
    const cancel = h("button", { type: "button", testid: "wallet-policy-change-cancel", text: "Cancel" });
    let why = null;
    if (passkeys.length === 0) {
      why = "None of this wallet's owners is a passkey: each owner signs the text above with their own key, and the same change is sent again with their approvals (docs/owners.md).";
    } else if (usable.length === 0) {
      why = `This wallet's passkey was registered at ${words(passkeys.flatMap((o) => o.origins || []))}: open the console there to approve with it.`;
    } else if (no) {
      why = `Passkeys: ${no}.`;
    } else if (Number(record.threshold) > 1) {
      why = `This wallet needs ${record.threshold} approvals; this page sends yours only, and the signer refuses fewer.`;
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
        text: `The wallet's owners approve it with their own keys (${record.threshold} of ${owners.length}); the signer checks their signatures over the text below${next ? ` and makes record version ${next.version}` : ""}.`,
      }),
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
        const a = await approveWith(usable, auth.text);
        ctx.status("Sending your approval to the signer…");
        const r = await send(policy, [{ ...a, text: auth.text }]);
        reset();
        settle(policy, r);
      } catch (e) {
        if (notYet(e)) {
          reset();
          delayed(policy, effectiveAt(e));
          ctx.status("Approved with your passkey. The change loosens the policy: it waits its change delay.", "info");
        } else {
          problem(refused(e), "wallet-policy-change-error");
          ctx.status(refused(e), "error");
          approve.disabled = false;
          cancel.disabled = false;
        }
      } finally {
        busy = false;
      }
    });
  }

  /** An approved loosening waiting for its time (409 change_not_yet_effective). */
  function delayed(policy, at, again = false) {
    const iso = at ? new Date(at * 1000).toISOString() : null;
    const apply = h("button", { type: "button", class: "primary", testid: "wallet-policy-change-apply", text: "Apply now", disabled: Boolean(at) });
    const wait = h("span", { class: "hint", testid: "wallet-policy-change-wait" });
    append(out, [
      h("h4", { text: "What changes" }),
      changeList(current, policy),
      h(
        "p",
        { class: "warn", testid: "wallet-policy-change-delayed", dataset: { effectiveAt: at } },
        "This change loosens the policy: it takes effect ",
        iso ? ["at ", time(iso)] : "after the policy's change delay",
        ".",
      ),
      again ? h("p", { class: "hint", testid: "wallet-policy-change-not-yet", text: "Not yet: the signer says the time has not come." }) : null,
      h("p", {
        class: "hint",
        text: "Your passkey approved it; until then the policy stays as listed above. From that time on, “Apply now” (or the same change sent again from this form) has the signer apply exactly the change the owners approved. A signer restart forgets the approval: approve again then, and the delay starts again.",
      }),
      h("div", { class: "actions" }, apply, wait),
    ]);
    if (iso) {
      stop = countdown(ctx, iso, (left) => {
        apply.disabled = busy || left > 0;
        wait.textContent = left > 0 ? `in ${mmss(left)}` : "";
      });
    }
    apply.addEventListener("click", async () => {
      if (busy) return;
      busy = true;
      apply.disabled = true;
      dropProblems();
      try {
        const r = await send(policy);
        reset();
        if (r.status === 202) {
          append(out, [
            h("p", {
              class: "warn",
              testid: "wallet-policy-change-forgotten",
              text: "The signer no longer holds the approved change (it restarted, or the record changed since): approve it again.",
            }),
          ]);
        }
        settle(policy, r);
      } catch (e) {
        if (notYet(e)) {
          reset();
          delayed(policy, effectiveAt(e) ?? at, true);
        } else {
          problem(refused(e), "wallet-policy-change-error");
          apply.disabled = false;
        }
      } finally {
        busy = false;
      }
    });
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
