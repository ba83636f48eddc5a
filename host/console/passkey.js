// Passkeys (WebAuthn): a person's passkey as an owner of their wallet, and
// their approval of a request with it. The passkey's private key never
// leaves the authenticator; the signer checks the assertion (docs/owners.md,
// "What the signer checks for a passkey").

import { config } from "./api.js";

/** base64url without padding. */
export function b64url(bytes) {
  const u = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  let s = "";
  for (const b of u) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** bytes from base64url. */
export function fromB64url(text) {
  const s = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(s + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const hex = (u) => Array.from(u, (b) => b.toString(16).padStart(2, "0")).join("");

/** The relying party: CONSOLE_RP_ID when the host sets it, else this page's host name. */
export async function rpId() {
  let cfg = null;
  try {
    cfg = await config();
  } catch {
    cfg = null;
  }
  return (cfg && cfg.passkeys && cfg.passkeys.rp_id) || location.hostname;
}

/** Why passkeys cannot be used here, or null. */
export function unavailable() {
  if (!window.PublicKeyCredential || !navigator.credentials) return "this browser has no passkeys (WebAuthn)";
  if (!window.isSecureContext) return "passkeys need HTTPS (or localhost)";
  if (/^[0-9.]+$/.test(location.hostname) || location.hostname.includes(":")) {
    return "passkeys need a host name, not an IP address: open the console at its name (e.g. localhost)";
  }
  return null;
}

/**
 * Registers a new passkey (ES256) for a wallet about to be created; the
 * owner it makes, as `POST /v1/wallets` takes it.
 */
export async function registerOwner(ownerId, userName) {
  const rp = await rpId();
  const user = crypto.getRandomValues(new Uint8Array(16));
  const cred = await navigator.credentials.create({
    publicKey: {
      rp: { id: rp, name: "Signet" },
      user: { id: user, name: userName, displayName: userName },
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      pubKeyCredParams: [{ type: "public-key", alg: -7 }],
      authenticatorSelection: { userVerification: "preferred", residentKey: "discouraged" },
      attestation: "none",
      timeout: 120000,
    },
  });
  if (!cred || typeof cred.response.getPublicKey !== "function") throw new Error("the browser returned no passkey");
  // SubjectPublicKeyInfo of a P-256 key: the last 65 bytes are the SEC1 point.
  const spki = new Uint8Array(cred.response.getPublicKey());
  if (spki.length < 65 || spki[spki.length - 65] !== 0x04) throw new Error("the passkey is not a P-256 (ES256) key");
  return {
    id: ownerId,
    type: "passkey",
    public_key: hex(spki.slice(spki.length - 65)),
    rp_id: rp,
    origins: [location.origin],
    credential_id: b64url(cred.rawId),
  };
}

/**
 * Whether the signer wants the user verified (PIN, biometrics) for this
 * authorization: for record changes and resumes, not for signatures
 * (docs/owners.md, "What the signer checks for a passkey"). A text that
 * cannot be read asks for it too.
 */
export function needsUserVerification(text) {
  try {
    return JSON.parse(text).action !== "sign";
  } catch {
    return true;
  }
}

/**
 * An assertion over an authorization's text by one of `owners` (the
 * passkey owners of the wallet's record): `{owner_id, webauthn}` as
 * `POST /v1/intents/{id}/approve` takes it (an approval of a record change
 * adds `text`). User verification is required when the text's action needs
 * it (`update_record`, `resume`), else preferred.
 */
export async function approveWith(owners, text) {
  const passkeys = owners.filter((o) => o.type === "passkey" && o.credential_id);
  if (passkeys.length === 0) throw new Error("this wallet has no passkey owner on record");
  const challenge = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const assertion = await navigator.credentials.get({
    publicKey: {
      rpId: passkeys[0].rp_id,
      challenge,
      allowCredentials: passkeys.map((o) => ({ type: "public-key", id: fromB64url(o.credential_id) })),
      userVerification: needsUserVerification(text) ? "required" : "preferred",
      timeout: 120000,
    },
  });
  const used = b64url(assertion.rawId);
  const owner = passkeys.find((o) => o.credential_id.replace(/=+$/, "") === used);
  if (!owner) throw new Error("the passkey used is not one of this wallet's owners");
  return {
    owner_id: owner.id,
    webauthn: {
      credential_id: used,
      authenticator_data: b64url(assertion.response.authenticatorData),
      client_data_json: b64url(assertion.response.clientDataJSON),
      signature: b64url(assertion.response.signature),
    },
  };
}
