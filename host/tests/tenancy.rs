//! Tenancy defects of issue 23 against a live `signet-host dev` over real
//! HTTP: a weaker client revoking a stronger one (23.5), a tenant reading the
//! operators' status (23.7), and labels and names with invisible or
//! reordering characters (23.8). One refusal per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

use common::{assert_audited, call, code, create_client, DevHost};

/// The client id inside a token `sgn_<id>_<secret>`.
fn id_of(token: &str) -> String {
    token
        .strip_prefix("sgn_")
        .and_then(|rest| rest.split('_').next())
        .unwrap()
        .to_owned()
}

fn start() -> (tempfile::TempDir, DevHost) {
    let tmp = tempfile::tempdir().unwrap();
    let host = DevHost::start(&tmp.path().join("data"));
    (tmp, host)
}

fn revoke(url: &str, token: &str, id: &str) -> (u16, Value) {
    call(
        url,
        Some(token),
        "DELETE",
        &format!("/v1/admin/api-clients/{id}"),
        None,
    )
}

/// Whether `token` still authenticates.
fn works(url: &str, token: &str) -> bool {
    call(url, Some(token), "GET", "/v1/admin/api-clients", None).0 == 200
}

// ---------------------------------------------------------------------------
// 23.5: revoking follows granting

#[test]
fn a_client_with_only_admin_clients_cannot_revoke_its_tenants_wildcard_client() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    let strong = create_client(url, &admin, "acme", &["*"]);
    let weak = create_client(url, &admin, "acme", &["admin:clients"]);
    let (s, v) = revoke(url, &weak, &id_of(&strong));
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("`*`"), "{message}");
    assert!(works(url, &strong), "the `*` client was revoked");
    let (weak_actor, target) = (format!("client:{}", id_of(&weak)), id_of(&strong));
    assert_audited(url, &admin, "SCOPE_DENY of the revocation", |e| {
        e.action == "SCOPE_DENY"
            && e.actor == weak_actor
            && e.target == target
            && e.outcome == "denied:*"
    });
}

#[test]
fn a_tenants_wildcard_client_cannot_revoke_an_operator_client_of_its_tenant() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    let operator = create_client(url, &admin, "acme", &["*", "operator"]);
    let tenant_admin = create_client(url, &admin, "acme", &["*"]);
    let (s, v) = revoke(url, &tenant_admin, &id_of(&operator));
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    assert!(works(url, &operator), "the operator client was revoked");
    let (actor, target) = (format!("client:{}", id_of(&tenant_admin)), id_of(&operator));
    assert_audited(url, &admin, "SCOPE_DENY of the revocation", |e| {
        e.action == "SCOPE_DENY"
            && e.actor == actor
            && e.target == target
            && e.outcome == "denied:operator"
    });
}

#[test]
fn a_client_of_the_operators_tenant_cannot_revoke_the_operator() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    // The dev admin (`*,operator`) lives in the tenant `default`.
    let clients_admin = create_client(url, &admin, "default", &["admin:clients"]);
    let (s, v) = revoke(url, &clients_admin, &id_of(&admin));
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    assert!(works(url, &admin), "the operator was revoked");
    let (actor, target) = (format!("client:{}", id_of(&clients_admin)), id_of(&admin));
    assert_audited(url, &admin, "SCOPE_DENY of the revocation", |e| {
        e.action == "SCOPE_DENY" && e.actor == actor && e.target == target
    });
}

#[test]
fn a_client_still_revokes_a_client_whose_scopes_it_could_grant() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    let manager = create_client(url, &admin, "acme", &["admin:clients", "wallets:*"]);
    let reader = create_client(url, &admin, "acme", &["wallets:read"]);
    let (s, v) = revoke(url, &manager, &id_of(&reader));
    assert_eq!(s, 200, "{v}");
    let (s, _) = call(url, Some(&reader), "GET", "/v1/wallets", None);
    assert_eq!(s, 401, "the revoked client still works");
    // And the operator revokes anyone, a tenant's `*` client included.
    let tenant_admin = create_client(url, &admin, "acme", &["*"]);
    let (s, v) = revoke(url, &admin, &id_of(&tenant_admin));
    assert_eq!(s, 200, "{v}");
}

// ---------------------------------------------------------------------------
// 23.7: `/v1/admin/status`, the operators' view and a tenant's

#[test]
fn an_operator_sees_the_whole_status() {
    let (_tmp, host) = start();
    let (s, v) = call(
        host.url(),
        Some(&host.admin_token()),
        "GET",
        "/v1/admin/status",
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["view"], "operator", "{v}");
    assert_eq!(v["signer"]["reachable"], true, "{v}");
    assert!(v["signer"].get("last_connect_error").is_some(), "{v}");
    assert!(v["storage"]["dialect"].is_string(), "{v}");
    assert!(v["host"]["version"].is_string(), "{v}");
    assert!(v["replicas"].is_array(), "{v}");
    assert!(v.get("tenant").is_none(), "{v}");
}

#[test]
fn a_tenants_wildcard_client_sees_only_its_tenants_counts_in_the_status() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    let acme = create_client(url, &admin, "acme", &["*"]);
    let spare = create_client(url, &admin, "acme", &["wallets:read"]);
    let globex = create_client(url, &admin, "globex", &["*"]);
    for token in [&acme, &acme, &globex] {
        let (s, v) = call(
            url,
            Some(token),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "p256"})),
        );
        assert_eq!(s, 201, "{v}");
    }
    assert_eq!(revoke(url, &acme, &id_of(&spare)).0, 200);
    let (s, v) = call(url, Some(&acme), "GET", "/v1/admin/status", None);
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("replicas").is_none(),
        "the replicas serve every tenant: {v}"
    );
    assert_eq!(
        v,
        json!({"view": "tenant", "tenant": {"id": "acme", "wallets": 2, "api_clients": 1}}),
        "a tenant sees its own counts and nothing shared"
    );
}

#[test]
fn the_status_without_admin_status_is_scope_denied_and_audited() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    let reader = create_client(url, &admin, "acme", &["wallets:read", "admin:clients"]);
    let (s, v) = call(url, Some(&reader), "GET", "/v1/admin/status", None);
    assert_eq!((s, code(&v)), (403, "scope_denied"), "{v}");
    let actor = format!("client:{}", id_of(&reader));
    assert_audited(url, &admin, "SCOPE_DENY of the status", |e| {
        e.action == "SCOPE_DENY"
            && e.actor == actor
            && e.target == "status"
            && e.outcome == "denied:admin:status"
    });
}

// ---------------------------------------------------------------------------
// 23.8: labels and names people read

/// One text per refused kind: the character, its name in the message, and
/// where it sits (counting characters from 1).
const HIDDEN: [(&str, &str, &str); 9] = [
    ("ab\u{202E}moc.evil", "U+202E (format)", "position 3"),
    ("pay\u{200B}pal", "U+200B (format)", "position 4"),
    ("a\u{2066}b", "U+2066 (format)", "position 2"),
    ("x\u{E000}", "U+E000 (private-use)", "position 2"),
    ("\u{0378}x", "U+0378 (unassigned)", "position 1"),
    ("bell\u{7}", "U+0007 (control)", "position 5"),
    ("two\u{2028}lines", "U+2028 (line separator)", "position 4"),
    ("a\u{2029}", "U+2029 (paragraph separator)", "position 2"),
    ("no\u{00A0}break", "U+00A0 (space separator)", "position 3"),
];

const RULE: &str =
    "may not contain format, private-use, unassigned, control or separator characters other than the space";

fn assert_refused(v: &Value, s: u16, field: &str, name: &str, position: &str, text: &str) {
    assert_eq!((s, code(v)), (400, "bad_request"), "{text:?}: {v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("`{field}` {RULE}: {name} at {position}")),
        "{text:?}: {message}"
    );
}

#[test]
fn wallet_labels_with_invisible_or_reordering_characters_are_refused() {
    let (_tmp, host) = start();
    let url = host.url();
    let acme = create_client(url, &host.admin_token(), "acme", &["*"]);
    for (label, name, position) in HIDDEN {
        let (s, v) = call(
            url,
            Some(&acme),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "p256", "label": label})),
        );
        assert_refused(&v, s, "label", name, position, label);
    }
    let (_, v) = call(url, Some(&acme), "GET", "/v1/wallets", None);
    assert_eq!(v["wallets"], json!([]), "a refused wallet was made: {v}");
    // Any script, marks, symbols and the ASCII space pass.
    let fine = "Zahlungen für März, e\u{301} ☕ 支払い";
    let (s, v) = call(
        url,
        Some(&acme),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256", "label": fine})),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["label"], fine);
}

#[test]
fn client_names_with_invisible_or_reordering_characters_are_refused() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    for (name_text, name, position) in HIDDEN {
        let (s, v) = call(
            url,
            Some(&admin),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": name_text, "tenant": "acme", "scopes": ["wallets:read"]})),
        );
        assert_refused(&v, s, "name", name, position, name_text);
    }
    let (s, v) = call(
        url,
        Some(&admin),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": "Café payroll", "tenant": "acme", "scopes": ["wallets:read"]})),
    );
    assert_eq!(s, 201, "{v}");
}

#[test]
fn tenants_with_invisible_or_reordering_characters_are_refused() {
    let (_tmp, host) = start();
    let url = host.url();
    let admin = host.admin_token();
    for (tenant, name, position) in HIDDEN {
        let (s, v) = call(
            url,
            Some(&admin),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": "app", "tenant": tenant, "scopes": ["wallets:read"]})),
        );
        assert_refused(&v, s, "tenant", name, position, tenant);
    }
}

#[test]
fn a_label_with_a_lone_surrogate_is_refused_as_malformed_json() {
    let (_tmp, host) = start();
    let url = host.url();
    let acme = create_client(url, &host.admin_token(), "acme", &["*"]);
    // JSON can spell a surrogate that no Unicode string can hold.
    for body in [
        r#"{"key_type": "p256", "label": "a\ud800b"}"#,
        r#"{"key_type": "p256", "label": "\udfff"}"#,
    ] {
        let result = ureq::post(&format!("{url}/v1/wallets"))
            .set("Authorization", &format!("Bearer {acme}"))
            .set("Content-Type", "application/json")
            .send_string(body);
        let Err(ureq::Error::Status(s, r)) = result else {
            panic!("{body}: accepted");
        };
        let v: Value = r.into_json().unwrap();
        assert_eq!((s, code(&v)), (400, "bad_request"), "{body}: {v}");
    }
}
