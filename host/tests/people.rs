//! A person in control of their tenant (issue 23.6), and every client of a
//! tenant revoked at once — over real HTTP, audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_audited, call, code, create_client, test_mode_sign_in, DevHost};
use serde_json::json;

/// Before: a client attached to a person's tenant `user:<id>` could destroy
/// the person's wallet for good and create look-alike wallets, and the
/// person could neither see nor revoke it.
#[test]
fn a_person_sees_and_revokes_their_tenants_clients_which_cannot_touch_their_wallets() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let alice = test_mode_sign_in(url, 701);
    let session = alice["token"].as_str().unwrap().to_owned();
    let tenant = format!("user:{}", alice["user"]["id"].as_str().unwrap());
    let (s, w) = call(
        url,
        Some(&session),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1", "label": "savings"})),
    );
    assert_eq!(s, 201, "{w}");
    let wallet = w["id"].as_str().unwrap().to_owned();
    let merchant = create_client(url, &admin, &tenant, &["*"]);
    let merchant_id = merchant.split('_').nth(1).unwrap().to_owned();

    // The merchant's client signs (what it is for) but neither creates nor
    // destroys the person's wallets.
    let (s, v) = call(
        url,
        Some(&merchant),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1", "label": "savings"})),
    );
    assert_eq!((s, code(&v)), (403, "forbidden"), "{v}");
    let (s, v) = call(
        url,
        Some(&merchant),
        "DELETE",
        &format!("/v1/wallets/{wallet}"),
        None,
    );
    assert_eq!((s, code(&v)), (403, "forbidden"), "{v}");
    let (s, _) = call(
        url,
        Some(&session),
        "GET",
        &format!("/v1/wallets/{wallet}"),
        None,
    );
    assert_eq!(s, 200, "the wallet is still there");
    assert_audited(url, &admin, "SCOPE_DENY person_only", |e| {
        e.action == "SCOPE_DENY" && e.outcome == "denied:person_only" && e.target == wallet
    });

    // The person lists and revokes it.
    let (s, v) = call(url, Some(&session), "GET", "/v1/clients", None);
    assert_eq!(s, 200, "{v}");
    let ids: Vec<&str> = v["api_clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [merchant_id.as_str()], "{v}");
    assert!(!v.to_string().contains(&merchant), "never the token");
    let other = create_client(url, &admin, "acme", &["sign", "wallets:read"]);
    let other_id = other.split('_').nth(1).unwrap();
    let (s, v) = call(
        url,
        Some(&session),
        "DELETE",
        &format!("/v1/clients/{other_id}"),
        None,
    );
    assert_eq!(
        (s, code(&v)),
        (404, "not_found"),
        "another tenant's client: {v}"
    );
    let (s, v) = call(
        url,
        Some(&session),
        "DELETE",
        &format!("/v1/clients/{merchant_id}"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let (s, _) = call(url, Some(&merchant), "GET", "/v1/wallets", None);
    assert_eq!(s, 401, "revoked at once");
    let (s, _) = call(url, Some(&other), "GET", "/v1/wallets", None);
    assert_eq!(s, 200, "the other tenant's client is untouched");
    // API tokens use the admin routes.
    let (s, v) = call(url, Some(&other), "GET", "/v1/clients", None);
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    // In the person's own view of the log (a tenant's view has gaps: the
    // chain is checked by operators).
    assert!(
        common::fetch_audit(url, &session)
            .iter()
            .any(|e| e.action == "api_client.revoke"
                && e.target == merchant_id
                && e.actor.starts_with("user:")),
        "the person's revocation is in their view"
    );
    // The person still creates and destroys their own wallets.
    let (s, _) = call(
        url,
        Some(&session),
        "DELETE",
        &format!("/v1/wallets/{wallet}"),
        None,
    );
    assert_eq!(s, 200);
}

#[test]
fn every_client_of_a_tenant_is_revoked_at_once_but_the_callers_own() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let acme: Vec<String> = (0..3)
        .map(|_| create_client(url, &admin, "acme", &["sign", "wallets:read"]))
        .collect();
    let acme_admin = create_client(
        url,
        &admin,
        "acme",
        &["admin:clients", "wallets:read", "sign"],
    );
    let globex = create_client(url, &admin, "globex", &["wallets:read"]);

    // A tenant admin revokes only what it could grant: all or nothing.
    let weak = create_client(url, &admin, "acme", &["admin:clients", "wallets:read"]);
    let (s, v) = call(
        url,
        Some(&weak),
        "POST",
        "/v1/admin/tenants/acme/revoke-clients",
        None,
    );
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    for t in &acme {
        assert_eq!(
            call(url, Some(t), "GET", "/v1/wallets", None).0,
            200,
            "nothing revoked"
        );
    }
    // A tenant admin revokes its own tenant's clients, keeping itself; not
    // another tenant's.
    let (s, v) = call(
        url,
        Some(&acme_admin),
        "POST",
        "/v1/admin/tenants/globex/revoke-clients",
        None,
    );
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    let (s, v) = call(
        url,
        Some(&acme_admin),
        "POST",
        "/v1/admin/tenants/acme/revoke-clients",
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revoked"].as_array().unwrap().len(), 4, "{v}");
    for t in &acme {
        assert_eq!(call(url, Some(t), "GET", "/v1/wallets", None).0, 401);
    }
    assert_eq!(
        call(url, Some(&acme_admin), "GET", "/v1/wallets", None).0,
        200
    );
    assert_eq!(call(url, Some(&globex), "GET", "/v1/wallets", None).0, 200);
    // The operator revokes the rest of a tenant.
    let (s, v) = call(
        url,
        Some(&admin),
        "POST",
        "/v1/admin/tenants/acme/revoke-clients",
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revoked"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        call(url, Some(&acme_admin), "GET", "/v1/wallets", None).0,
        401
    );
    let (s, v) = call(
        url,
        Some(&globex),
        "POST",
        "/v1/admin/tenants/globex/revoke-clients",
        None,
    );
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
}

/// `last_used_at` (issue 23): set by a client's first request, then written
/// at most once a minute (not on every request); shown in the client lists.
#[test]
fn a_clients_last_use_is_recorded_at_most_once_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let admin = host.admin_token();
    let shop = create_client(url, &admin, "acme", &["wallets:read"]);
    let id = shop.split('_').nth(1).unwrap().to_owned();
    let last_used = || {
        let (s, v) = call(url, Some(&admin), "GET", "/v1/admin/api-clients", None);
        assert_eq!(s, 200, "{v}");
        v["api_clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap()["last_used_at"]
            .clone()
    };
    assert!(last_used().is_null(), "never used yet");
    assert_eq!(call(url, Some(&shop), "GET", "/v1/wallets", None).0, 200);
    let first = last_used();
    assert!(first.as_str().unwrap().ends_with('Z'), "{first}");
    std::thread::sleep(std::time::Duration::from_millis(50));
    for _ in 0..5 {
        assert_eq!(call(url, Some(&shop), "GET", "/v1/wallets", None).0, 200);
    }
    assert_eq!(last_used(), first, "not rewritten within the minute");
}
