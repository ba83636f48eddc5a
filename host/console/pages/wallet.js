// #/wallets/<id> — one wallet: its key, the approval setting, its
// attestation verified in this browser against the deployment's published
// policy (a fresh document bound to a random nonce), and destruction.

import { ApiError, config, explain, seg } from "../api.js";
import { check, clear, dl, field, h, mono, quantity, time } from "../dom.js";
import { chainName, ethValue, render as renderContent } from "../content.js";
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
  view.append(recordCard(w, ctx));

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
 *  still verify. */
export function recordCard(w, ctx) {
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
      ["Record", `version ${record.version}, deployment ${record.deployment}`],
      ["Record hash", w.record_hash || "", "wallet-record-hash"],
    ]),
    h("p", { class: "hint", text: "The attestation below binds this record's hash: a host cannot show you another record and pass the check. For certainty, verify the wallet on your own machine: signet wallet verify WALLET.json --pcr …" }),
  );
  if (ctx && w.key_type === "secp256k1") card.append(checkForm(ctx, w, record));
  return card;
}
