// The attestation and audit-chain verifier: Signet's Rust verifier compiled
// to WebAssembly (wasm/, produced by wasm-bindgen --target web), loaded on
// first use. It runs in this browser: nothing is sent to the host to verify.

let loading = null;

/** The initialised verifier module. */
export function verifier() {
  if (!loading) {
    loading = import("./wasm/signet_verify.js")
      .then(async (m) => {
        await m.default();
        return m;
      })
      .catch((e) => {
        loading = null;
        throw new Error(`the WebAssembly verifier could not be loaded: ${e && e.message ? e.message : e}`);
      });
  }
  return loading;
}

/**
 * Verifies an attestation document (base64) with the options of
 * `verify_document` (see docs/console.md); resolves to its result object.
 */
export async function verifyDocument(documentB64, options) {
  const m = await verifier();
  const opts = { now_ms: Date.now(), ...options };
  return JSON.parse(m.verify_document(String(documentB64).trim(), JSON.stringify(opts)));
}

/**
 * Re-checks an audit hash chain. `eventsJson` is the JSON text of the array
 * of events in order (as served, byte for byte: numbers are not re-encoded);
 * mode "view" (a caller's view with gaps) or "full".
 */
export async function verifyAudit(eventsJson, mode = "view") {
  const m = await verifier();
  return JSON.parse(m.verify_audit(eventsJson, mode));
}

/** `n` random bytes from the browser's CSPRNG, as lowercase hex. */
export function randomHex(n = 16) {
  const b = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The steps a verification reports, in order, with readable names. */
export const CHECK_LABELS = {
  decode: "Decode (COSE_Sign1 / CBOR)",
  signature: "Signature (ES384, by the leaf certificate)",
  "certificate chain": "Certificate chain to the root",
  "signature and certificate chain": "Signature and certificate chain",
  root: "Root certificate",
  validity: "Certificates valid at the chosen time",
  "debug mode": "Not a debug enclave",
  PCRs: "PCRs (the enclave image)",
  nonce: "Nonce",
  age: "Age",
  "key binding": "Key binding (this wallet's key)",
};
