// Renders the result of verify_document: the verdict, each check with
// ✓/✗, the document's fields (only when valid: an invalid document's fields
// are not echoed by the verifier) and the key binding. A refusal is said as
// the CLI says it: dates, not milliseconds, and how to fix it with the
// viewer's own controls where they can.

import { dl, h, mono } from "./dom.js";
import { CHECK_LABELS } from "./verify.js";

/** SHA-256 of the DER of the AWS Nitro Enclaves Root-G1 certificate. */
export const AWS_ROOT_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

function mark(ok) {
  if (ok === true) return h("span", { class: "mark ok", "aria-hidden": "true", text: "✓" });
  if (ok === false) return h("span", { class: "mark bad", "aria-hidden": "true", text: "✗" });
  return h("span", { class: "mark notrun", "aria-hidden": "true", text: "–" });
}

function okWord(ok) {
  return ok === true ? "passed" : ok === false ? "failed" : "not run";
}

function msTime(ms) {
  if (typeof ms !== "number") return "—";
  return `${new Date(ms).toISOString()} (${ms} ms)`;
}

/** Unix milliseconds as RFC 3339 UTC, as `signet attest verify` prints them. */
function iso(ms) {
  return new Date(ms).toISOString();
}

// The verifier's words for the refusals the console explains (its Display
// of VerifyError, attestation/src/error.rs).
const NOT_VALID_AT = /^(.+) is not valid at (\d+) ms \(valid (\d+)\.\.=(\d+) ms\)$/;
const NOT_THE_ROOT = /(?: is not root| under root's key)$/;

const FIXES = {
  "dev-root":
    "The document does not chain to the default root, AWS Nitro Enclaves Root-G1. A signet-host dev host's documents chain to its own root: in the attestation viewer, under “Root of trust”, choose “A root certificate I paste (PEM)” and paste DATA/dev-root.pem (DATA: that host's data directory), or, in that dev host's own console, choose “The deployment's published root”.",
  "aws-root":
    "The document does not chain to the root you chose. An AWS Nitro document needs “AWS Nitro Enclaves Root-G1” under “Root of trust”; a dev host's, that host's DATA/dev-root.pem (a dev root is made once per data directory).",
  "at-doc":
    "The certificate has expired since the document was made (a Nitro leaf lives about three hours). To audit an archived document, check it at its own time: under “Time and freshness”, choose “The document's own time”.",
  "allow-debug":
    "A debug enclave's memory is readable by its host. To accept it anyway (tests only), tick “Allow a debug enclave” under “Expected PCRs”.",
};

/** Which fix a refusal's hint names (a key of FIXES), or null. */
function fixFor(r, at, validity) {
  const code = r.error_code;
  if ((code === "issuer_mismatch" || code === "chain_signature") && NOT_THE_ROOT.test(r.error || "")) {
    return r.root_sha256 === AWS_ROOT_SHA256 ? "dev-root" : "aws-root";
  }
  if (validity && at === "now" && validity.atMs > validity.notAfterMs) return "at-doc";
  if (code === "debug_mode") return "allow-debug";
  return null;
}

/**
 * A refusal as the console says it, like `signet attest verify`: a validity
 * period as dates instead of milliseconds, and how to fix it where a
 * control of the viewer does. `at` is the verification time chosen
 * ("now", "doc" or Unix ms). Returns `{text, fix, hint}` (`fix`: a key of
 * FIXES or null; `hint`: its sentence).
 */
export function refusal(r, { at = "now" } = {}) {
  let text = r.error || "the document did not verify";
  let validity = null;
  const m = r.error_code === "certificate_not_valid_at" ? NOT_VALID_AT.exec(text) : null;
  if (m) {
    validity = { atMs: Number(m[2]), notAfterMs: Number(m[4]) };
    text = `${m[1]} is not valid at ${iso(Number(m[2]))} (valid from ${iso(Number(m[3]))} to ${iso(Number(m[4]))})`;
  }
  const fix = fixFor(r, at, validity);
  return { text, fix, hint: fix ? FIXES[fix] : null };
}

/** The checks list. */
export function checksList(checks) {
  const ul = h("ul", { class: "checks", testid: "attest-checks" });
  for (const c of checks || []) {
    ul.append(
      h(
        "li",
        { class: c.ok === true ? "ok" : c.ok === false ? "bad" : "notrun", testid: "attest-check", dataset: { check: c.name, ok: String(c.ok) } },
        mark(c.ok),
        h("span", { class: "check-name", text: CHECK_LABELS[c.name] || c.name }),
        h("span", { class: "visually-hidden", text: `: ${okWord(c.ok)}` }),
        c.detail ? h("span", { class: "check-detail", text: ` — ${c.detail}` }) : null,
      ),
    );
  }
  return ul;
}

/** The PCRs of a verified document as a list. */
function pcrList(pcrs) {
  if (!pcrs || typeof pcrs !== "object") return mono("—");
  const list = h("dl", { class: "pcrs" });
  for (const k of Object.keys(pcrs).sort((a, b) => Number(a) - Number(b))) {
    list.append(h("dt", { text: `PCR${k}` }), h("dd", {}, mono(pcrs[k])));
  }
  return list;
}

/**
 * The whole result. `testid` names the container; its data attributes
 * carry the outcome for tests: data-valid, data-error-code, data-binding-ok,
 * data-usage-error.
 */
export function resultView(r, { testid = "attest-result", wallet = null, at = "now" } = {}) {
  const box = h("div", {
    class: ["result", r.valid ? "valid" : "invalid"],
    testid,
    dataset: {
      valid: String(Boolean(r.valid)),
      errorCode: r.error_code || (r.usage_error ? "usage_error" : ""),
      bindingOk: r.binding ? String(Boolean(r.binding.ok)) : undefined,
      usageError: r.usage_error ? "true" : undefined,
    },
  });
  const said = r.valid || r.usage_error ? null : refusal(r, { at });
  let verdict;
  if (r.usage_error) {
    verdict = h("p", { class: "verdict bad", testid: "attest-verdict" }, mark(false), ` Not verified: ${r.usage_error}`);
  } else if (r.valid) {
    verdict = h("p", { class: "verdict ok", testid: "attest-verdict" }, mark(true), " VALID attestation document");
  } else {
    verdict = h(
      "p",
      { class: "verdict bad", testid: "attest-verdict" },
      mark(false),
      ` INVALID: ${said.text}`,
      r.error_code ? h("span", { class: "code", testid: "attest-error-code", text: ` (${r.error_code})` }) : null,
    );
  }
  box.append(verdict);
  if (said && said.hint) box.append(h("p", { class: "warn", testid: "attest-hint", dataset: { fix: said.fix }, text: said.hint }));
  if (r.binding) {
    box.append(
      h(
        "p",
        { class: ["binding", r.binding.ok ? "ok" : "bad"], testid: "attest-binding", dataset: { ok: String(Boolean(r.binding.ok)) } },
        mark(r.binding.ok),
        r.binding.ok
          ? ` Key binding: the document binds ${wallet ? `wallet ${wallet.label || wallet.id}'s` : "the wallet's"} public key.`
          : ` Key binding failed: ${r.binding.error || "the document does not bind this wallet's key"}`,
      ),
    );
  }
  if (Array.isArray(r.checks) && r.checks.length) {
    // the failed check's detail is the refusal: said the same way as the verdict
    box.append(checksList(r.checks.map((c) => (said && c.ok === false && c.detail === r.error ? { ...c, detail: said.text } : c))));
  }
  if (r.valid) {
    const root =
      r.root_sha256 === AWS_ROOT_SHA256 ? `AWS Nitro Enclaves Root-G1, sha256 ${r.root_sha256}` : `a root you chose (not AWS), sha256 ${r.root_sha256}`;
    box.append(
      h("h3", { text: "Document" }),
      dl(
        [
          ["Module", r.module_id, "attest-module"],
          ["Timestamp", msTime(r.timestamp_ms), "attest-timestamp"],
          ["Checked at", msTime(r.checked_at_ms)],
          ["Root", root, "attest-root"],
          ["Debug mode", r.debug_mode ? "yes (debug enclave: its memory can be read)" : "no"],
          ["Nonce", r.nonce ?? "—", "attest-nonce-value"],
          ["Public key", r.public_key ?? "—", "attest-public-key"],
          ["User data", r.user_data ?? "—"],
          ["PCRs", pcrList(r.pcrs), "attest-pcrs"],
        ],
        { testid: "attest-fields" },
      ),
    );
  } else if (r.root_sha256) {
    box.append(dl([["Root used", r.root_sha256 === AWS_ROOT_SHA256 ? `AWS Nitro Enclaves Root-G1 (${r.root_sha256})` : r.root_sha256]]));
  }
  return box;
}
