//! End to end, over real HTTP: `signet-host dev` with its real signer child,
//! walked the way docs/RUNBOOK.md walks it. One happy path; every refusal
//! (DESIGN.md, "HTTP API" and "Auth") is its own test on its own host, so the
//! first failure hides none of the others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signet_proto::audit::ChainBreak;
use signet_proto::ticket::{TicketClaims, TicketKeys, AUDIENCE};
use signet_proto::{KeyType, SharedSecret};

use common::{
    assert_audited, assert_ok, audit_verify, call, check_chain, check_recovery, code,
    create_client, dev_verifier, eip191, eip55, eventually, fetch_audit, now_s, pid_alive,
    send_signal, sigkill, try_read_pid, verified_audit, verify_independently, DevHost,
};

/// The dev host's ticket secret, so tests can mint tickets of their own.
const TICKET_SECRET: &str = "e2e-ticket-mac-key-5d4c3b2a1908f7e6d5c4";

/// A dev host of its own (in its own temporary directory, with
/// [`TICKET_SECRET`]), its admin token, and tenant `alice`'s client.
struct Fixture {
    /// Declared before `_tmp`: the host is killed before its directory goes.
    host: DevHost,
    admin: String,
    alice: String,
    _tmp: tempfile::TempDir,
}

fn start_host(dir: &Path) -> DevHost {
    DevHost::command(dir)
        .env("TICKET_SIGNING_SECRET", TICKET_SECRET)
        .start()
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let host = start_host(&tmp.path().join("data"));
        let admin = host.admin_token();
        let alice = create_client(
            host.url(),
            &admin,
            "alice",
            &["wallets:*", "sign", "audit:read"],
        );
        Self {
            host,
            admin,
            alice,
            _tmp: tmp,
        }
    }

    fn url(&self) -> &str {
        self.host.url()
    }

    /// A client of `tenant` with `scopes`.
    fn client(&self, tenant: &str, scopes: &[&str]) -> String {
        create_client(self.url(), &self.admin, tenant, scopes)
    }

    /// A new wallet of alice's.
    fn wallet(&self, kt: KeyType) -> Value {
        let (s, w) = call(
            self.url(),
            Some(&self.alice),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt.as_str()})),
        );
        assert_eq!(s, 201, "{w}");
        w
    }

    /// `POST /v1/wallets/{id}/sign` as `token`.
    fn sign(&self, token: &str, id: &str, body: Value) -> (u16, Value) {
        call(
            self.url(),
            Some(token),
            "POST",
            &format!("/v1/wallets/{id}/sign"),
            Some(body),
        )
    }

    /// `POST /v1/wallets/{id}/sign-intent` as alice: the ticket.
    fn intent(&self, id: &str, body: Value) -> String {
        let (s, intent) = call(
            self.url(),
            Some(&self.alice),
            "POST",
            &format!("/v1/wallets/{id}/sign-intent"),
            Some(body),
        );
        assert_eq!(s, 201, "{intent}");
        intent["ticket"].as_str().unwrap().to_owned()
    }

    /// Stops the host (SIGTERM), runs `while_down` on the data directory, and
    /// starts a host on it again.
    fn restart(self, while_down: impl FnOnce(&Path)) -> Self {
        let Self {
            host,
            admin,
            alice,
            _tmp,
        } = self;
        let dir = host.dir().to_owned();
        host.stop();
        while_down(&dir);
        Self {
            host: start_host(&dir),
            admin,
            alice,
            _tmp,
        }
    }
}

fn id(w: &Value) -> &str {
    w["id"].as_str().unwrap()
}

fn b64d(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn hexd(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Ticket keys with the host's secret.
fn host_ticket_keys() -> TicketKeys {
    TicketKeys::new(
        SharedSecret::new_unchecked(TICKET_SECRET.as_bytes().to_vec()),
        None,
    )
}

/// Claims for a secp256k1 signature of `11…11` by `wid`, valid for a minute.
fn claims(jti: &str, wid: &str) -> TicketClaims {
    TicketClaims {
        jti: jti.into(),
        sub: "t".into(),
        wid: wid.into(),
        dig: "11".repeat(32),
        kty: KeyType::Secp256k1,
        iat: now_s(),
        exp: now_s() + 60,
        aud: AUDIENCE.into(),
    }
}

// ---------------------------------------------------------------------------
// The happy path

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

#[test]
fn the_runbook_end_to_end() {
    let fx = Fixture::new();
    let (url, alice) = (fx.url(), fx.alice.as_str());
    let verifier = dev_verifier(&fx.host);

    // Startup and health.
    assert_eq!(call(url, None, "GET", "/health", None).0, 200);
    let (s, v) = call(url, None, "GET", "/ready", None);
    assert_eq!((s, &v["ready"]), (200, &json!(true)));
    let mode = std::fs::metadata(fx.host.dir().join("admin-token")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // API clients are listed, never with their tokens.
    let (s, v) = call(url, Some(&fx.admin), "GET", "/v1/admin/api-clients", None);
    assert_eq!(s, 200);
    assert!(!v.to_string().contains("sgn_"), "tokens are never listed");

    // Wallets of the three key types, each attested.
    let mut wallets = Vec::new();
    for kt in KeyType::ALL {
        let (s, w) = call(
            url,
            Some(alice),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt.as_str(), "label": format!("{kt} wallet")})),
        );
        assert_eq!(s, 201, "{w}");
        let pk = hexd(&w["public_key"]);
        let doc = verifier
            .verify(&b64d(&w["attestation"]["document"]))
            .unwrap();
        let record = w["record"].as_str().expect("a new wallet has a record");
        let record_hash = sha256(record.as_bytes());
        assert_eq!(w["record_hash"].as_str().unwrap(), hex::encode(record_hash));
        let parsed: Value = serde_json::from_str(record).unwrap();
        assert_eq!(parsed["owners"], json!([]));
        assert_eq!(parsed["threshold"], 0);
        assert_eq!(parsed["wallet_id"], w["id"]);
        doc.check_record_binding(id(&w), kt.as_str(), &pk, &record_hash, false)
            .unwrap();
        if kt == KeyType::Secp256k1 {
            assert_eq!(w["address"].as_str().unwrap(), eip55(&pk));
        } else {
            assert!(w.get("address").is_none());
        }
        // A fresh, nonce-bound document for the wallet.
        let (s, a) = call(
            url,
            Some(alice),
            "GET",
            &format!("/v1/wallets/{}/attestation?nonce=c0ffee", id(&w)),
            None,
        );
        assert_eq!(s, 200, "{a}");
        let fresh = verifier
            .clone()
            .expect_nonce(vec![0xc0, 0xff, 0xee])
            .verify(&b64d(&a["attestation"]["document"]))
            .unwrap();
        fresh
            .check_record_binding(id(&w), kt.as_str(), &pk, &record_hash, false)
            .unwrap();
        wallets.push((kt, w));
    }
    let (_, list) = call(url, Some(alice), "GET", "/v1/wallets?limit=2", None);
    assert_eq!(list["wallets"].as_array().unwrap().len(), 2);
    let next = list["next"].as_str().unwrap();
    let (_, rest) = call(
        url,
        Some(alice),
        "GET",
        &format!("/v1/wallets?limit=2&after={next}"),
        None,
    );
    assert_eq!(rest["wallets"].as_array().unwrap().len(), 1);
    let (_, alias) = call(url, Some(alice), "GET", "/v1/identities", None);
    assert_eq!(
        alias["wallets"].as_array().unwrap().len(),
        3,
        "/v1/identities aliases /v1/wallets"
    );

    // Signatures, each checked by an independent implementation.
    let mut checked = Vec::new();
    for (kt, w) in &wallets {
        let pk = hexd(&w["public_key"]);
        let bodies: Vec<(Value, Vec<u8>, Option<Vec<u8>>)> = match kt {
            KeyType::Ed25519 => {
                let msg = b"an ed25519 message".to_vec();
                vec![(
                    json!({"message": STANDARD.encode(&msg), "encoding": "raw", "attest": true}),
                    Sha256::digest(&msg).to_vec(),
                    Some(msg),
                )]
            }
            KeyType::Secp256k1 => vec![
                (
                    json!({"digest": "ab".repeat(32), "attest": true}),
                    vec![0xab; 32],
                    None,
                ),
                (
                    json!({"message": "hello signet", "encoding": "eip191"}),
                    eip191(b"hello signet"),
                    None,
                ),
                (
                    json!({"message": "0x68656c6c6f", "encoding": "eip191"}),
                    eip191(b"hello"),
                    None,
                ),
            ],
            KeyType::P256 => vec![(
                json!({"digest": "cd".repeat(32), "attest": true}),
                vec![0xcd; 32],
                None,
            )],
        };
        for (body, digest, message) in bodies {
            let attest = body["attest"] == json!(true);
            let (s, sig) = fx.sign(alice, id(w), body);
            assert_eq!(s, 200, "{sig}");
            assert_eq!(hexd(&sig["public_key"]), pk);
            if *kt == KeyType::Secp256k1 {
                check_recovery(&sig, &digest, &pk);
            }
            if *kt != KeyType::Ed25519 {
                let der = hexd(&sig["signature_der"]);
                assert_eq!(der[0], 0x30, "DER sequence");
            }
            if attest {
                let d = verifier
                    .verify(&b64d(&sig["attestation"]["document"]))
                    .unwrap();
                d.check_signature_binding(id(w), &digest, &hexd(&sig["signature"]))
                    .unwrap();
            }
            checked.push(json!({"key_type": kt.as_str(), "public_key": hex::encode(&pk), "digest": hex::encode(&digest), "message": message.map(hex::encode), "signature": sig["signature"]}));
        }
    }
    verify_independently(&checked);

    // Two-step signing: intent, then ticket.
    let secp = &wallets[0].1;
    let ticket = fx.intent(id(secp), json!({"digest": "11".repeat(32)}));
    let (s, v) = fx.sign(alice, id(secp), json!({"ticket": ticket}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["public_key"], secp["public_key"]);
    check_recovery(&v, &[0x11; 32], &hexd(&secp["public_key"]));
    // Ed25519 intents keep the message for the ticket.
    let ed = &wallets[2].1;
    let ticket = fx.intent(id(ed), json!({"message": "aGk=", "encoding": "raw"}));
    let (s, v) = fx.sign(alice, id(ed), json!({"ticket": ticket}));
    assert_eq!(s, 200, "{v}");
    verify_independently(&[
        json!({"key_type": "ed25519", "public_key": ed["public_key"], "message": hex::encode(b"hi"), "digest": "", "signature": v["signature"]}),
    ]);

    // The audit log: alice may read it; the whole chain (read by the
    // operator) verifies, here and with `signet audit verify`.
    let (s, v) = call(url, Some(alice), "GET", "/v1/audit", None);
    assert_eq!(s, 200, "{v}");
    let events = verified_audit(url, &fx.admin);
    for action in ["wallet.create", "sign"] {
        assert!(
            events.iter().any(|e| e.action == action),
            "no {action} event"
        );
    }
    let out = audit_verify(url, &fx.admin);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("audit chain intact"));

    // Restart the host with the same data dir: wallets and the admin token survive.
    let (secp_id, secp_key) = (id(secp).to_owned(), secp["public_key"].clone());
    let admin = fx.admin.clone();
    let fx = fx.restart(|_| {});
    let (s, v) = fx.sign(&fx.alice, &secp_id, json!({"digest": "22".repeat(32)}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["public_key"], secp_key);
    assert_eq!(
        fx.host.admin_token(),
        admin,
        "the admin token survives restarts"
    );
}

// ---------------------------------------------------------------------------
// Tickets

#[test]
fn a_replayed_ticket_is_409_and_audited() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    let ticket = fx.intent(id(&w), json!({"digest": "11".repeat(32)}));
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"ticket": ticket}));
    assert_eq!(s, 200, "{v}");
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"ticket": ticket}));
    assert_eq!((s, code(&v)), (409, "ticket_replayed"), "{v}");
    assert_audited(fx.url(), &fx.admin, "denied:ticket_replayed", |e| {
        e.outcome == "denied:ticket_replayed"
    });
}

#[test]
fn an_expired_ticket_is_410() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    // Minted with the configured secret, expired long past the skew.
    let old = TicketClaims {
        iat: now_s() - 600,
        exp: now_s() - 540,
        ..claims("expired-1", id(&w))
    };
    let (s, v) = fx.sign(
        &fx.alice,
        id(&w),
        json!({"ticket": host_ticket_keys().mint(&old)}),
    );
    assert_eq!((s, code(&v)), (410, "ticket_expired"), "{v}");
}

#[test]
fn a_ticket_for_another_wallet_is_403() {
    let fx = Fixture::new();
    let secp = fx.wallet(KeyType::Secp256k1);
    let p256 = fx.wallet(KeyType::P256);
    // Minted with the configured secret for the P-256 wallet.
    let other = host_ticket_keys().mint(&claims("other-1", id(&p256)));
    let (s, v) = fx.sign(&fx.alice, id(&secp), json!({"ticket": other}));
    assert_eq!((s, code(&v)), (403, "ticket_invalid"), "{v}");
    // A real intent's ticket, redeemed at another wallet.
    let ticket = fx.intent(id(&p256), json!({"digest": "11".repeat(32)}));
    let (s, v) = fx.sign(&fx.alice, id(&secp), json!({"ticket": ticket}));
    assert_eq!((s, code(&v)), (403, "ticket_invalid"), "{v}");
}

#[test]
fn a_ticket_minted_with_another_secret_is_403() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    let forged = TicketKeys::new(
        SharedSecret::new_unchecked(b"forged-key-0123456789abcdef0123456789".to_vec()),
        None,
    )
    .mint(&claims("forged-1", id(&w)));
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"ticket": forged}));
    assert_eq!((s, code(&v)), (403, "ticket_invalid"), "{v}");
}

#[test]
fn a_tampered_ticket_is_403() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    let ticket = fx.intent(id(&w), json!({"digest": "11".repeat(32)}));
    let parts: Vec<&str> = ticket.split('.').collect();
    assert_eq!(parts.len(), 3, "a ticket is a three-part JWT: {ticket}");
    // Another digest in the claims, under the original MAC.
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["dig"] = json!("22".repeat(32));
    let altered_claims = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"ticket": altered_claims}));
    assert_eq!(
        (s, code(&v)),
        (403, "ticket_invalid"),
        "altered claims: {v}"
    );
    // The original claims under a MAC with one bit flipped.
    let mut mac = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    mac[0] ^= 1;
    let altered_mac = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(mac));
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"ticket": altered_mac}));
    assert_eq!((s, code(&v)), (403, "ticket_invalid"), "altered MAC: {v}");
}

// ---------------------------------------------------------------------------
// Tenants, scopes, tokens

#[test]
fn another_tenants_wallet_is_404_and_audited() {
    let fx = Fixture::new();
    let bob = fx.client("bob", &["wallets:*", "sign"]);
    let w = fx.wallet(KeyType::Secp256k1);
    for (method, path, body) in [
        ("GET", format!("/v1/wallets/{}", id(&w)), None),
        (
            "POST",
            format!("/v1/wallets/{}/sign", id(&w)),
            Some(json!({"digest": "11".repeat(32)})),
        ),
        ("DELETE", format!("/v1/wallets/{}", id(&w)), None),
    ] {
        let (s, v) = call(fx.url(), Some(&bob), method, &path, body);
        assert_eq!((s, code(&v)), (404, "not_found"), "{method} {path}");
    }
    let (s, v) = call(fx.url(), Some(&bob), "GET", "/v1/wallets", None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["wallets"], json!([]));
    // Bob's DELETE destroyed nothing.
    let (s, v) = call(
        fx.url(),
        Some(&fx.alice),
        "GET",
        &format!("/v1/wallets/{}", id(&w)),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_audited(fx.url(), &fx.admin, "TENANT_DENY", |e| {
        e.action == "TENANT_DENY"
    });
}

#[test]
fn a_read_only_client_is_403_scope_denied_and_audited() {
    let fx = Fixture::new();
    let reader = fx.client("alice", &["wallets:read"]);
    let (s, v) = call(fx.url(), Some(&reader), "GET", "/v1/wallets", None);
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        fx.url(),
        Some(&reader),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    let (s, v) = call(fx.url(), Some(&reader), "GET", "/v1/audit", None);
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    assert_audited(fx.url(), &fx.admin, "SCOPE_DENY", |e| {
        e.action == "SCOPE_DENY"
    });
}

#[test]
fn a_request_without_a_token_is_401_and_audited() {
    let fx = Fixture::new();
    let (s, v) = call(fx.url(), None, "GET", "/v1/wallets", None);
    assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
    assert_audited(fx.url(), &fx.admin, "AUTH_DENY", |e| {
        e.action == "AUTH_DENY"
    });
}

#[test]
fn an_unknown_token_is_401() {
    let fx = Fixture::new();
    let (s, v) = call(
        fx.url(),
        Some("sgn_000000000000000000000000_nope"),
        "GET",
        "/v1/wallets",
        None,
    );
    assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
}

#[test]
fn a_token_in_the_query_string_is_401() {
    let fx = Fixture::new();
    for (token, path) in [
        (None, format!("/v1/wallets?token={}", fx.alice)),
        (
            None,
            format!("/v1/wallets?limit=5&access_token={}", fx.alice),
        ),
        // Refused even beside a valid header: the token is in logs by now.
        (
            Some(fx.alice.as_str()),
            format!("/v1/wallets?token={}", fx.alice),
        ),
    ] {
        let (s, v) = call(fx.url(), token, "GET", &path, None);
        assert_eq!(
            (s, code(&v)),
            (401, "unauthenticated"),
            "tokens in query strings are refused: {path} {v}"
        );
    }
    assert_audited(fx.url(), &fx.admin, "AUTH_DENY", |e| {
        e.action == "AUTH_DENY"
    });
}

#[test]
fn a_client_revoked_now_is_refused_at_once() {
    let fx = Fixture::new();
    let doomed = fx.client("alice", &["wallets:read"]);
    let doomed_id = doomed.split('_').nth(1).unwrap();
    assert_eq!(
        call(fx.url(), Some(&doomed), "GET", "/v1/wallets", None).0,
        200
    );
    let (s, v) = call(
        fx.url(),
        Some(&fx.admin),
        "DELETE",
        &format!("/v1/admin/api-clients/{doomed_id}"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(fx.url(), Some(&doomed), "GET", "/v1/wallets", None);
    assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
    assert_audited(fx.url(), &fx.admin, "api_client.revoke", |e| {
        e.action == "api_client.revoke"
    });
}

#[test]
fn a_revoked_client_is_refused_after_its_grace() {
    let fx = Fixture::new();
    // A long grace: still valid.
    let rotated = fx.client("alice", &["wallets:read"]);
    let rotated_id = rotated.split('_').nth(1).unwrap();
    let (s, v) = call(
        fx.url(),
        Some(&fx.admin),
        "DELETE",
        &format!("/v1/admin/api-clients/{rotated_id}?grace_seconds=3600"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        call(fx.url(), Some(&rotated), "GET", "/v1/wallets", None).0,
        200,
        "still valid during grace"
    );
    // Revoking it again without a grace ends the grace at once.
    let (s, v) = call(
        fx.url(),
        Some(&fx.admin),
        "DELETE",
        &format!("/v1/admin/api-clients/{rotated_id}"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(fx.url(), Some(&rotated), "GET", "/v1/wallets", None);
    assert_eq!((s, code(&v)), (401, "unauthenticated"), "{v}");
    // A short grace: refused once it has run out.
    let doomed = fx.client("alice", &["wallets:read"]);
    let doomed_id = doomed.split('_').nth(1).unwrap();
    let (s, v) = call(
        fx.url(),
        Some(&fx.admin),
        "DELETE",
        &format!("/v1/admin/api-clients/{doomed_id}?grace_seconds=1"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let mut last = (0, Value::Null);
    let refused = eventually(Duration::from_secs(15), || {
        last = call(fx.url(), Some(&doomed), "GET", "/v1/wallets", None);
        last.0 == 401
    });
    assert!(refused, "still accepted 15 s after a 1 s grace: {last:?}");
    assert_eq!(code(&last.1), "unauthenticated");
}

// ---------------------------------------------------------------------------
// Bad input

#[test]
fn unknown_fields_are_400() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    let (s, v) = fx.sign(
        &fx.alice,
        id(&w),
        json!({"digest": "11".repeat(32), "extra": 1}),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    let (s, v) = call(
        fx.url(),
        Some(&fx.alice),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256", "colour": "red"})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
}

#[test]
fn malformed_sign_requests_are_400() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    for body in [
        json!({"digest": "zz"}),
        json!({"digest": "11".repeat(31)}),
        json!({"message": "x", "encoding": "raw"}),
        json!({}),
    ] {
        let (s, v) = fx.sign(&fx.alice, id(&w), body.clone());
        assert_eq!((s, code(&v)), (400, "bad_request"), "{body}: {v}");
    }
}

#[test]
fn an_unknown_key_type_is_400() {
    let fx = Fixture::new();
    let (s, v) = call(
        fx.url(),
        Some(&fx.alice),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "rsa"})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
}

#[test]
fn oversized_body_is_413() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"digest": "11".repeat(66_000)}));
    assert_eq!((s, code(&v)), (413, "too_large"), "{v}");
}

// ---------------------------------------------------------------------------
// Destruction and the audit log

#[test]
fn a_destroyed_wallet_is_gone_for_good() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::P256);
    let path = format!("/v1/wallets/{}", id(&w));
    assert_eq!(
        call(fx.url(), Some(&fx.alice), "DELETE", &path, None).0,
        200
    );
    assert_eq!(call(fx.url(), Some(&fx.alice), "GET", &path, None).0, 404);
    assert_eq!(
        fx.sign(&fx.alice, id(&w), json!({"digest": "11".repeat(32)}))
            .0,
        404
    );
    assert_audited(fx.url(), &fx.admin, "wallet.destroy", |e| {
        e.action == "wallet.destroy"
    });
}

#[test]
fn a_tampered_audit_row_is_named_by_audit_verify() {
    let fx = Fixture::new();
    fx.wallet(KeyType::P256);
    let w = fx.wallet(KeyType::Secp256k1);
    let (s, v) = fx.sign(&fx.alice, id(&w), json!({"digest": "11".repeat(32)}));
    assert_eq!(s, 200, "{v}");
    let events = verified_audit(fx.url(), &fx.admin);
    assert!(events.len() >= 3, "{events:#?}");
    assert!(audit_verify(fx.url(), &fx.admin).status.success());

    let fx = fx.restart(|dir| {
        let status = Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_events SET target='forged' WHERE seq=3\"); c.commit()"])
            .arg(dir.join("signet.db"))
            .status()
            .unwrap();
        assert!(status.success());
    });
    let out = audit_verify(fx.url(), &fx.admin);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("event 3"), "{stderr}");
    assert_eq!(
        check_chain(&fetch_audit(fx.url(), &fx.admin)),
        Err(ChainBreak::Altered { seq: 3 })
    );
}

// ---------------------------------------------------------------------------
// The signer child

#[test]
fn killing_the_signer_mid_signing_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::start(&tmp.path().join("data"));
    let (url, admin) = (host.url(), host.admin_token());
    let mut wallets = Vec::new();
    for kt in KeyType::ALL {
        let (s, w) = call(
            url,
            Some(&admin),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt.as_str()})),
        );
        assert_eq!(s, 201, "{w}");
        wallets.push(w);
    }
    let body = |w: &Value| match w["key_type"].as_str().unwrap() {
        "ed25519" => json!({"message": "aGVsbG8=", "encoding": "raw"}),
        _ => json!({"digest": "33".repeat(32)}),
    };
    // (status, error code, Retry-After) of every signature asked for.
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let pid_file = host.dir().join("signer.pid");
    std::thread::scope(|scope| {
        for w in &wallets {
            let (admin, statuses) = (&admin, Arc::clone(&statuses));
            scope.spawn(move || {
                for _ in 0..60 {
                    let (s, v) = call(
                        url,
                        Some(admin),
                        "POST",
                        &format!("/v1/wallets/{}/sign", id(w)),
                        Some(body(w)),
                    );
                    if s == 200 {
                        assert_eq!(v["public_key"], w["public_key"]);
                    }
                    let retry_after = v["retry_after"].as_str().map(str::to_owned);
                    statuses
                        .lock()
                        .unwrap()
                        .push((s, code(&v).to_owned(), retry_after));
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        // Kill the signer once signatures are flowing, then the one the
        // supervisor starts in its place.
        assert!(eventually(Duration::from_secs(30), || {
            statuses.lock().unwrap().len() >= 6
        }));
        let first = host.signer_pid();
        sigkill(first);
        let mut second = None;
        let restarted = eventually(Duration::from_secs(10), || {
            second = try_read_pid(&pid_file).filter(|p| *p != first && pid_alive(*p));
            second.is_some()
        });
        assert!(restarted, "the supervisor did not restart the signer");
        sigkill(second.unwrap());
    });
    let statuses = statuses.lock().unwrap();
    assert!(
        statuses.iter().all(|(s, c, retry)| *s == 200
            || (*s == 503 && c == "enclave_unavailable" && retry.as_deref() == Some("1"))),
        "{statuses:?}"
    );
    assert!(statuses.iter().filter(|(s, _, _)| *s == 200).count() > 100);
    // Once the supervisor restarted it, every wallet signs with its original key.
    let ready = || call(url, None, "GET", "/ready", None).0 == 200;
    assert!(
        eventually(Duration::from_secs(15), ready),
        "the signer did not come back"
    );
    for w in &wallets {
        let (s, v) = call(
            url,
            Some(&admin),
            "POST",
            &format!("/v1/wallets/{}/sign", id(w)),
            Some(body(w)),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["public_key"], w["public_key"]);
    }
    let (s, _) = call(url, None, "GET", "/ready", None);
    assert_eq!(s, 200);
}

#[test]
fn signer_child_dies_with_a_killed_dev_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = DevHost::start(&dir);
    let signer = host.signer_pid();
    assert!(pid_alive(signer), "the signer runs beside its host");
    host.kill();
    if !eventually(Duration::from_secs(10), || !pid_alive(signer)) {
        // Leave no orphan behind a failed test.
        send_signal("KILL", signer);
        panic!("signer {signer} outlived its SIGKILLed dev host by 10 s");
    }
    // The dead signer's socket is stale: the next host on the same directory
    // takes it over and works.
    let host = DevHost::start(&dir);
    let restarted = host.signer_pid();
    assert_ne!(restarted, signer);
    assert!(pid_alive(restarted));
    let admin = host.admin_token();
    let (s, w) = call(
        host.url(),
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1"})),
    );
    assert_eq!(s, 201, "{w}");
    let (s, v) = call(
        host.url(),
        Some(&admin),
        "POST",
        &format!("/v1/wallets/{}/sign", id(&w)),
        Some(json!({"digest": "44".repeat(32)})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["public_key"], w["public_key"]);
}

/// A Prometheus scrape of a live host: signatures by key type and outcome,
/// ticket refusals by reason, the signer up.
#[test]
fn a_scrape_of_a_live_host_counts_signatures_and_refusals() {
    let fx = Fixture::new();
    let w = fx.wallet(KeyType::Secp256k1);
    let (s, _) = fx.sign(&fx.alice, id(&w), json!({"digest": "22".repeat(32)}));
    assert_eq!(s, 200);
    let ticket = fx.intent(id(&w), json!({"digest": "33".repeat(32)}));
    assert_eq!(fx.sign(&fx.alice, id(&w), json!({"ticket": ticket})).0, 200);
    assert_eq!(fx.sign(&fx.alice, id(&w), json!({"ticket": ticket})).0, 409);
    let text = ureq::get(&format!("{}/metrics", fx.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
    };
    assert_eq!(
        value("signet_signatures_total{key_type=\"secp256k1\",outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(
        value("signet_signatures_total{key_type=\"secp256k1\",outcome=\"denied\"}"),
        1.0
    );
    assert_eq!(
        value("signet_ticket_refusals_total{reason=\"ticket_replayed\"}"),
        1.0
    );
    assert_eq!(value("signet_signer_up"), 1.0);
    assert!(
        value("signet_http_requests_total{route=\"/v1/wallets/{id}/sign\",method=\"POST\",status=\"200\"}") >= 2.0
    );
}
