// #/attest — the attestation viewer: verifies a Nitro attestation document
// in this browser (the Rust verifier as WebAssembly) against a chosen root,
// expected PCRs (or the deployment's published policy), time and nonce; with
// a wallet picked, a fresh document of its key and the key binding.

import { config, explain, seg, session } from "../api.js";
import { check, clear, field, h } from "../dom.js";
import { refusal, resultView } from "../attestview.js";
import { randomHex, verifyDocument } from "../verify.js";

const PCR_INDEXES = ["0", "1", "2", "3", "4", "8"];
const PCR_NAMES = {
  0: "enclave image",
  1: "kernel and boot ramdisk",
  2: "application",
  3: "IAM role of the parent instance",
  4: "parent instance id",
  8: "signing certificate of the image",
};

function radio(name, value, labelText, testid, { checked = false, disabled = false } = {}) {
  const input = h("input", { type: "radio", name, value, testid, checked, disabled });
  return { input, row: check(labelText, input) };
}

export default async function attest(ctx) {
  ctx.title("Attestation");
  const view = h("section", { class: "page", testid: "page-attest" }, h("h1", { text: "Attestation" }));
  ctx.main.append(view);
  view.append(
    h(
      "p",
      { class: "hint", text: "Verify an AWS Nitro Enclaves attestation document here, in this browser: COSE signature, certificate chain to the root you choose, validity at the time you choose, the PCRs of the image you expect, debug mode, nonce, age, and (for a wallet) that the document binds its key. Nothing is sent anywhere to be verified." },
    ),
  );

  let cfg = null;
  try {
    cfg = await config();
  } catch {
    cfg = null;
  }
  const policy = cfg && cfg.policy && Array.isArray(cfg.policy.pcr_sets) && cfg.policy.pcr_sets.length ? cfg.policy : null;

  // --- the document -----------------------------------------------------------
  const source = h("select", { testid: "attest-source" }, h("option", { value: "paste", text: "A document I paste (base64)" }));
  const docText = h("textarea", { rows: "5", spellcheck: "false", autocomplete: "off", testid: "attest-document", class: "mono" });
  const docField = field("Attestation document (base64, or hex)", docText, "With a wallet picked, a fresh document of its key is fetched (bound to the nonce below) and shown here.");
  const wallets = new Map();
  if (session()) {
    try {
      let after = null;
      for (let n = 0; n < 5; n += 1) {
        const q = new URLSearchParams({ limit: "100" });
        if (after) q.set("after", after);
        const page = await ctx.get(`/v1/wallets?${q}`);
        for (const w of page.wallets || []) {
          wallets.set(w.id, w);
          source.append(h("option", { value: w.id, text: `Wallet ${w.label || w.id} (${w.key_type}): a fresh document and the key binding` }));
        }
        after = page.next;
        if (!after) break;
      }
    } catch (e) {
      ctx.status(`Your wallets could not be listed: ${explain(e)}`, "error");
    }
  }
  const want = ctx.query.get("wallet");
  if (want && wallets.has(want)) source.value = want;

  // --- root ---------------------------------------------------------------------
  const rootAws = radio("root", "aws", "AWS Nitro Enclaves Root-G1 (pinned in the verifier)", "attest-root-aws", { checked: true });
  const rootPem = radio("root", "pem", "A root certificate I paste (PEM)", "attest-root-pem");
  const rootPolicy = radio(
    "root",
    "policy",
    policy ? `The deployment's published root (${policy.root_pem ? "its own root certificate" : "AWS Nitro Enclaves Root-G1"})` : "The deployment's published root (none published)",
    "attest-root-policy",
    { disabled: !policy },
  );
  const pemText = h("textarea", { rows: "6", spellcheck: "false", autocomplete: "off", testid: "attest-root-pem-text", class: "mono" });
  const pemField = field("Root certificate (PEM)", pemText, "Trusting a root other than AWS's is for development signers only.");

  // --- PCRs -----------------------------------------------------------------------
  const pcrManual = radio("pcrmode", "manual", "The values below (an empty one is not checked)", "attest-pcrs-manual", { checked: true });
  const pcrPolicy = radio(
    "pcrmode",
    "policy",
    policy ? `The deployment's published policy (${policy.pcr_sets.length} allowed PCR set${policy.pcr_sets.length === 1 ? "" : "s"})` : "The deployment's published policy (none published)",
    "attest-pcrs-policy",
    { disabled: !policy },
  );
  const pcrInputs = {};
  const pcrGrid = h("div", { class: "pcr-grid" });
  for (const i of PCR_INDEXES) {
    const input = h("input", {
      type: "text",
      spellcheck: "false",
      autocomplete: "off",
      class: "mono",
      testid: `attest-pcr-${i}`,
      placeholder: "96 hex digits",
    });
    pcrInputs[i] = input;
    pcrGrid.append(field(`PCR${i} (${PCR_NAMES[i]})`, input));
  }
  const fill = h("button", { type: "button", testid: "attest-pcrs-fill", disabled: !policy, text: "Fill in the deployment's PCRs" });
  const clearPcrs = h("button", { type: "button", testid: "attest-pcrs-clear", text: "Clear the PCRs" });
  const allowDebug = h("input", { type: "checkbox", testid: "attest-allow-debug" });
  const anyPcrs = h("input", { type: "checkbox", testid: "attest-any-pcrs" });

  // --- time, nonce, age ---------------------------------------------------------------
  const atNow = radio("at", "now", "Now", "attest-at-now", { checked: true });
  const atDoc = radio("at", "doc", "The document's own time (audits of old documents)", "attest-at-doc");
  const atTime = radio("at", "time", "A given time", "attest-at-time");
  const atValue = h("input", { type: "text", autocomplete: "off", testid: "attest-at-value", placeholder: "1665651482136 or 2022-10-13T09:00:00Z" });
  const nonce = h("input", { type: "text", autocomplete: "off", spellcheck: "false", class: "mono", testid: "attest-nonce" });
  const maxAge = h("input", { type: "text", inputmode: "numeric", autocomplete: "off", testid: "attest-max-age" });

  const verifyBtn = h("button", { type: "submit", class: "primary", testid: "attest-verify", text: "Verify" });
  const output = h("div", { class: "output", testid: "attest-output", "aria-live": "polite", dataset: { run: "0" } });

  const form = h(
    "form",
    { class: "stack", testid: "attest-form", novalidate: true },
    h("fieldset", {}, h("legend", { text: "Document" }), field("What to verify", source), docField),
    h("fieldset", {}, h("legend", { text: "Root of trust" }), rootAws.row, rootPem.row, rootPolicy.row, pemField),
    h(
      "fieldset",
      {},
      h("legend", { text: "Expected PCRs (the enclave image)" }),
      pcrManual.row,
      pcrPolicy.row,
      pcrGrid,
      h("div", { class: "actions" }, fill, clearPcrs),
      check("Allow a debug enclave (all-zero PCRs; its memory can be read)", allowDebug),
      check("Accept any PCRs (decodes and checks the chain only: it does NOT tell you which image runs)", anyPcrs),
    ),
    h(
      "fieldset",
      {},
      h("legend", { text: "Time and freshness" }),
      atNow.row,
      atDoc.row,
      atTime.row,
      field("Time (Unix milliseconds, or an ISO 8601 time)", atValue),
      field("Nonce (hex, optional)", nonce, "With a wallet picked and this empty, a random 16-byte nonce is used."),
      field("Maximum age in seconds (optional)", maxAge),
    ),
    h("div", { class: "actions" }, verifyBtn),
  );
  view.append(form, output);

  let run = 0;

  // show only what applies
  function sync() {
    const fromWallet = source.value !== "paste";
    docText.readOnly = fromWallet;
    pemField.hidden = !rootPem.input.checked;
    pcrGrid.hidden = !pcrManual.input.checked;
    fill.hidden = !pcrManual.input.checked;
    clearPcrs.hidden = !pcrManual.input.checked;
    atValue.closest(".field").hidden = !atTime.input.checked;
  }
  for (const el of [source, rootAws.input, rootPem.input, rootPolicy.input, pcrManual.input, pcrPolicy.input, atNow.input, atDoc.input, atTime.input]) {
    el.addEventListener("change", sync);
  }
  source.addEventListener("change", () => {
    if (source.value !== "paste") docText.value = "";
  });
  sync();

  fill.addEventListener("click", () => {
    if (!policy) return;
    const set = policy.pcr_sets[0];
    for (const i of PCR_INDEXES) pcrInputs[i].value = set[i] || "";
    if (policy.pcr_sets.length > 1) {
      ctx.status(`Filled in the first of ${policy.pcr_sets.length} allowed PCR sets; use the published policy to accept any of them.`);
    }
  });
  clearPcrs.addEventListener("click", () => {
    for (const i of PCR_INDEXES) pcrInputs[i].value = "";
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    verifyBtn.disabled = true;
    clear(output);
    output.append(h("p", { text: "Verifying…" }));
    try {
      await submit();
    } finally {
      verifyBtn.disabled = false;
    }
  });

  function fail(text) {
    run += 1;
    clear(output);
    output.dataset.run = String(run);
    output.append(h("p", { class: "bad", testid: "attest-input-error", text }));
    ctx.status(text, "error");
  }

  async function submit() {
    // time
    let at = "now";
    if (atDoc.input.checked) at = "doc";
    if (atTime.input.checked) {
      const v = atValue.value.trim();
      if (/^[0-9]+$/.test(v)) at = Number(v);
      else if (v && Number.isFinite(Date.parse(v))) at = Date.parse(v);
      else return fail("Give the time as Unix milliseconds or an ISO 8601 time (2022-10-13T09:00:00Z).");
    }
    // age
    let maxAgeSeconds = null;
    if (maxAge.value.trim()) {
      if (!/^[0-9]+$/.test(maxAge.value.trim())) return fail("The maximum age is a whole number of seconds.");
      maxAgeSeconds = Number(maxAge.value.trim());
    }
    // root
    let rootPemValue = null;
    if (rootPem.input.checked) {
      if (!pemText.value.trim()) return fail("Paste the root certificate (PEM), or choose another root.");
      rootPemValue = pemText.value.trim();
    } else if (rootPolicy.input.checked) {
      rootPemValue = policy ? policy.root_pem ?? null : null;
    }
    // PCRs
    let pcrs = null;
    let pcrPolicyValue = null;
    let debug = allowDebug.checked;
    if (pcrPolicy.input.checked && policy) {
      pcrPolicyValue = { pcr_sets: policy.pcr_sets, allow_debug: Boolean(policy.allow_debug) || debug };
      if (policy.max_age_seconds != null) pcrPolicyValue.max_age_seconds = policy.max_age_seconds;
      debug = debug || Boolean(policy.allow_debug);
    } else {
      pcrs = {};
      for (const i of PCR_INDEXES) {
        const v = pcrInputs[i].value.trim().replace(/^0x/i, "").toLowerCase();
        if (v) pcrs[i] = v;
      }
      if (Object.keys(pcrs).length === 0) {
        pcrs = null;
        if (!anyPcrs.checked) {
          return fail("Give the PCRs you expect (at least one), use the deployment's policy, or accept any PCRs explicitly.");
        }
      }
    }
    // document
    let wallet = null;
    let nonceHex = nonce.value.trim().replace(/^0x/i, "").toLowerCase() || null;
    let doc = docText.value.trim();
    if (source.value !== "paste") {
      const w = wallets.get(source.value);
      if (!w) return fail("Pick a wallet.");
      wallet = { id: w.id, key_type: w.key_type, public_key: w.public_key, record: w.record ?? null };
      if (!nonceHex) {
        nonceHex = randomHex(16);
        nonce.value = nonceHex;
      }
      ctx.status("Fetching a fresh attestation document of the wallet's key…");
      let res;
      try {
        res = await ctx.get(`/v1/wallets/${seg(w.id)}/attestation?nonce=${encodeURIComponent(nonceHex)}`);
      } catch (e) {
        return fail(`Could not fetch the wallet's attestation: ${explain(e)}`);
      }
      doc = (res && res.attestation && res.attestation.document) || "";
      docText.value = doc;
      if (!doc) return fail("The signer returned no attestation document (attestation is off on this host).");
    }
    if (!doc) return fail("Paste an attestation document (base64), or pick a wallet.");

    let r;
    try {
      r = await verifyDocument(doc, {
        root_pem: rootPemValue,
        pcrs,
        policy: pcrPolicyValue,
        any_pcrs: anyPcrs.checked && !pcrs && !pcrPolicyValue,
        allow_debug: debug,
        at,
        nonce: nonceHex,
        max_age_seconds: maxAgeSeconds,
        wallet,
      });
    } catch (e) {
      return fail(String(e.message || e));
    }
    if (!ctx.alive()) return undefined;
    run += 1;
    clear(output);
    output.dataset.run = String(run);
    const view_ = resultView(r, { testid: "attest-result", wallet: wallet && wallets.get(wallet.id), at });
    view_.setAttribute("tabindex", "-1");
    output.append(view_);
    view_.focus();
    const bindingBad = r.binding && !r.binding.ok;
    if (r.usage_error) ctx.status(`Not verified: ${r.usage_error}`, "error");
    else if (r.valid && !bindingBad) ctx.status(`Valid${r.binding ? ", and the key binding holds" : ""}.`, "ok");
    else ctx.status(`Invalid: ${r.valid ? r.binding.error : refusal(r, { at }).text}`, "error");
    return undefined;
  }
}
