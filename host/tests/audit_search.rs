//! Investigation (issue 23): `GET /v1/audit` filters by action, outcome,
//! actor, target and time, within the caller's view; `signet audit search`
//! follows the pages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, code, create_client, signet_cli, DevHost};
use serde_json::{json, Value};

fn search(url: &str, token: &str, query: &str) -> Vec<Value> {
    let (s, v) = call(url, Some(token), "GET", &format!("/v1/audit?{query}"), None);
    assert_eq!(s, 200, "{query}: {v}");
    v["events"].as_array().unwrap().clone()
}

#[test]
fn the_audit_log_is_searched_by_each_field_within_the_callers_view() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let acme = create_client(url, &admin, "acme", &["wallets:*", "sign", "audit:read"]);
    let globex = create_client(url, &admin, "globex", &["wallets:read", "audit:read"]);
    let (s, w) = call(
        url,
        Some(&acme),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "ed25519"})),
    );
    assert_eq!(s, 201, "{w}");
    let wallet = w["id"].as_str().unwrap().to_owned();
    // A refusal from globex (no wallets:write), and a bad token.
    let (s, _) = call(
        url,
        Some(&globex),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "ed25519"})),
    );
    assert_eq!(s, 403);
    let (s, _) = call(url, Some("sgn_nope_nope"), "GET", "/v1/wallets", None);
    assert_eq!(s, 401);

    let creates = search(url, &admin, "action=wallet.create");
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0]["target"], wallet.as_str());
    let denied = search(url, &admin, "outcome=denied");
    assert!(
        denied.iter().any(|e| e["action"] == "SCOPE_DENY")
            && denied.iter().any(|e| e["action"] == "AUTH_DENY")
            && denied
                .iter()
                .all(|e| e["outcome"].as_str().unwrap().starts_with("denied")),
        "{denied:?}"
    );
    let scope = search(
        url,
        &admin,
        "action=SCOPE_DENY&outcome=denied:wallets:write",
    );
    assert_eq!(scope.len(), 1, "{scope:?}");
    let by_actor = search(
        url,
        &admin,
        &format!("actor={}", scope[0]["actor"].as_str().unwrap()),
    );
    assert!(
        by_actor.iter().all(|e| e["actor"] == scope[0]["actor"]),
        "{by_actor:?}"
    );
    assert_eq!(search(url, &admin, &format!("target={wallet}")).len(), 1);
    assert!(search(url, &admin, "since=2999-01-01T00:00:00Z").is_empty());
    assert!(search(url, &admin, "until=2000-01-01T00:00:00Z").is_empty());
    let all = search(url, &admin, "since=2000-01-01T00:00:00Z&limit=1000");
    assert_eq!(all.len(), search(url, &admin, "limit=1000").len());

    // A tenant searches only its own view: globex never sees acme's wallet.
    assert!(search(url, &globex, "action=wallet.create").is_empty());
    assert_eq!(search(url, &acme, "action=wallet.create").len(), 1);
    assert!(
        search(url, &acme, "action=AUTH_DENY").is_empty(),
        "anonymous events are the operators'"
    );

    // Bad filters are 400 with what is wrong.
    for (query, says) in [
        ("since=yesterday", "RFC 3339"),
        ("until=2026-13-01T00:00:00Z", "RFC 3339"),
        ("action=", "1 to 128"),
        (&format!("actor={}", "a".repeat(257)), "1 to 256"),
        ("actor=%0A", "1 to 256"),
        ("colour=red", "unknown field"),
    ] {
        let (s, v) = call(
            url,
            Some(&admin),
            "GET",
            &format!("/v1/audit?{query}"),
            None,
        );
        assert_eq!((s, code(&v)), (400, "bad_request"), "{query}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{query}: {v}"
        );
    }

    // The CLI follows the pages: one JSON event per line.
    let out = signet_cli()
        .args([
            "audit",
            "search",
            "--url",
            url,
            "--outcome",
            "denied",
            "--action",
            "SCOPE_DENY",
        ])
        .env("SIGNET_TOKEN", &admin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["action"], "SCOPE_DENY");
}
