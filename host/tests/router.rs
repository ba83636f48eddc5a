//! The router in process, without any spawned binary: authentication,
//! scopes, the tenancy model of API clients and the audit log, bounded
//! denial records, body and route errors. The signer address points
//! nowhere; these paths never reach it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use signet_host::config::{Config, Source};
use signet_host::service::clients::{create_client, Creator};
use signet_host::service::Service;
use tower::ServiceExt as _;

struct App {
    router: Router,
    service: Arc<Service>,
    operator: String,
    _dir: tempfile::TempDir,
}

async fn app(extra: &[(&str, &str)]) -> App {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let socket = format!("unix:{}", dir.path().join("nowhere.sock").display());
    let mut pairs = vec![
        ("SIGNET_DATABASE_URL", db.as_str()),
        ("ENCLAVE_ADDR", socket.as_str()),
        (
            "INTERNAL_API_KEY",
            "router-test-internal-key-0123456789abcdef",
        ),
        (
            "TICKET_SIGNING_SECRET",
            "router-test-ticket-key-0123456789abcdef0",
        ),
        (
            "SESSION_SIGNING_SECRET",
            "router-test-session-key-0123456789abcdef",
        ),
    ];
    pairs.extend_from_slice(extra);
    let config = Config::from_source(&Source::from_pairs(&pairs), true).unwrap();
    let service = Arc::new(Service::open(config).await.unwrap());
    let (_, token) = create_client(
        service.store(),
        Creator::Operator,
        "ops",
        "ops",
        vec!["*".into(), "operator".into()],
    )
    .await
    .unwrap();
    App {
        router: signet_host::http::router(Arc::clone(&service)),
        service,
        operator: token.as_str().to_owned(),
        _dir: dir,
    }
}

impl App {
    async fn call_from(
        &self,
        peer: [u8; 4],
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut request = req.body(body).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_from([127, 0, 0, 1], token, method, path, body)
            .await
    }

    /// A client made by the operator.
    async fn client(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        let (s, v) = self
            .call(
                Some(&self.operator),
                "POST",
                "/v1/admin/api-clients",
                Some(json!({"name": tenant, "tenant": tenant, "scopes": scopes})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().unwrap().to_owned(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    /// The first `limit` events of the whole log (every tenant's).
    async fn events(&self, limit: u32) -> Vec<signet_proto::audit::AuditEvent> {
        self.service
            .store()
            .audit(0, limit, None, &Default::default())
            .await
            .unwrap()
    }

    async fn audit_bytes(&self) -> usize {
        self.events(100_000)
            .await
            .iter()
            .map(|e| serde_json::to_string(e).unwrap().len())
            .sum()
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn health_needs_no_token_and_v1_does() {
    let a = app(&[]).await;
    let (s, v) = a.call(None, "GET", "/health", None).await;
    assert_eq!((s, v["ok"].clone()), (StatusCode::OK, json!(true)));
    let (s, v) = a.call(None, "GET", "/v1/wallets", None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
}

#[tokio::test]
async fn a_token_in_the_query_string_is_401_even_with_a_valid_header() {
    let a = app(&[]).await;
    let path = format!("/v1/wallets?token={}", a.operator);
    let (s, v) = a.call(Some(&a.operator), "GET", &path, None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let events = a.events(100).await;
    let deny = events.iter().find(|e| e.action == "AUTH_DENY").unwrap();
    assert_eq!(deny.outcome, "denied:token_in_query");
    assert!(!deny.target.contains("sgn_"), "the token is not recorded");
}

/// A refusal before authentication records the path as sent: the full
/// path, and the alias's own for a call through `/v1/identities`.
#[tokio::test]
async fn an_auth_refusal_records_the_path_as_sent() {
    let a = app(&[]).await;
    for path in ["/v1/wallets/w_1/sign", "/v1/identities/w_1/sign"] {
        let (s, v) = a.call(None, "POST", path, Some(json!({}))).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    }
    let events = a.events(100).await;
    let mut targets: Vec<&str> = events
        .iter()
        .filter(|e| e.action == "AUTH_DENY")
        .map(|e| e.target.as_str())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, ["/v1/identities/w_1/sign", "/v1/wallets/w_1/sign"]);
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let a = app(&[]).await;
    let (s, v) = a.call(None, "GET", "/nope", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn bad_bodies_are_400_and_oversized_ones_413() {
    let a = app(&[]).await;
    let (s, v) = a
        .call(
            Some(&a.operator),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": "x", "tenant": "t", "scopes": ["sign"], "extra": 1})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{v}"
    );
    let big = "a".repeat(200 * 1024);
    let (s, v) = a
        .call(
            Some(&a.operator),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": big, "tenant": "t", "scopes": ["sign"]})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
    let (s, v) = a
        .call(Some(&a.operator), "GET", "/v1/audit?limit=0", None)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
}

/// Review finding: 200 anonymous requests for a 60,000-character path
/// added 12 MB of `AUTH_DENY` rows. Now targets are capped, the peer is
/// limited before authentication, and the flood is summed into one event.
#[tokio::test]
async fn an_anonymous_flood_cannot_grow_the_audit_log() {
    let a = app(&[]).await;
    let before = a.audit_bytes().await;
    let path = format!("/v1/wallets/{}", "a".repeat(60_000));
    let mut limited = 0;
    for _ in 0..200 {
        let (s, v) = a
            .call_from([198, 51, 100, 7], None, "GET", &path, None)
            .await;
        match s {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(code(&v), "rate_limited");
                limited += 1;
            }
            other => panic!("{other} {v}"),
        }
    }
    assert!(limited >= 100, "the peer was limited {limited} times");
    a.service.summarize_floods().await;
    let events = a
        .service
        .store()
        .audit(0, 10_000, None, &Default::default())
        .await
        .unwrap();
    let denies = events.iter().filter(|e| e.action == "AUTH_DENY").count();
    assert!(denies <= 10, "{denies} AUTH_DENY rows for one peer");
    let flood: Vec<_> = events
        .iter()
        .filter(|e| e.action == "AUTH_DENY_FLOOD")
        .collect();
    assert_eq!(flood.len(), 1);
    assert_eq!(flood[0].target, "peer:198.51.100.7");
    assert_eq!(
        flood[0].outcome,
        format!("denied:unauthenticated:{}", 200 - denies)
    );
    let grown = a.audit_bytes().await - before;
    assert!(grown < 8 * 1024, "the audit log grew by {grown} bytes");
    // Another peer is not affected; a valid token from it works.
    let (s, _) = a
        .call_from(
            [198, 51, 100, 8],
            Some(&a.operator),
            "GET",
            "/v1/wallets",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// Review finding: `admin:clients` let a tenant's client mint a `*` client
/// in another tenant.
#[tokio::test]
async fn a_tenant_admin_cannot_create_clients_in_another_tenant() {
    let a = app(&[]).await;
    let (_, acme_admin) = a.client("acme", &["*"]).await;
    let (s, v) = a
        .call(
            Some(&acme_admin),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": "evil", "tenant": "globex", "scopes": ["*"]})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (s, v) = a
        .call(
            Some(&acme_admin),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": "ok", "tenant": "acme", "scopes": ["sign"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn nobody_grants_a_scope_it_lacks_and_wildcards_never_grant_operator() {
    let a = app(&[]).await;
    let (_, limited_admin) = a.client("acme", &["admin:clients", "wallets:read"]).await;
    for scopes in [json!(["sign"]), json!(["*"]), json!(["operator"])] {
        let (s, v) = a
            .call(
                Some(&limited_admin),
                "POST",
                "/v1/admin/api-clients",
                Some(json!({"name": "x", "tenant": "acme", "scopes": scopes})),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{scopes}: {v}"
        );
    }
    let (_, star) = a.client("acme", &["*"]).await;
    let (s, v) = a
        .call(
            Some(&star),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": "x", "tenant": "acme", "scopes": ["*", "operator"]})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (s, v) = a
        .call(
            Some(&a.operator),
            "POST",
            "/v1/admin/api-clients",
            Some(json!({"name": "x", "tenant": "acme", "scopes": ["bogus"]})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{v}"
    );
}

#[tokio::test]
async fn a_tenant_admin_lists_and_revokes_only_its_tenants_clients() {
    let a = app(&[]).await;
    let (_, acme_admin) = a.client("acme", &["*"]).await;
    let (globex_id, globex) = a.client("globex", &["wallets:read"]).await;
    let (s, v) = a
        .call(Some(&acme_admin), "GET", "/v1/admin/api-clients", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let tenants: Vec<&str> = v["api_clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tenant"].as_str().unwrap())
        .collect();
    assert!(tenants.iter().all(|t| *t == "acme"), "{tenants:?}");
    let (s, v) = a
        .call(
            Some(&acme_admin),
            "DELETE",
            &format!("/v1/admin/api-clients/{globex_id}"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let (s, _) = a.call(Some(&globex), "GET", "/v1/wallets", None).await;
    assert_eq!(s, StatusCode::OK, "globex's client still works");
    let (s, v) = a
        .call(Some(&a.operator), "GET", "/v1/admin/api-clients", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["api_clients"].as_array().unwrap().len() >= 3,
        "the operator sees all"
    );
}

/// Review finding: `audit:read` read every tenant's events.
#[tokio::test]
async fn a_tenants_audit_reader_sees_only_its_tenants_events() {
    let a = app(&[]).await;
    let (_, acme) = a.client("acme", &["audit:read", "wallets:read"]).await;
    let (_, globex) = a.client("globex", &["audit:read"]).await;
    // Events of both tenants and an anonymous one.
    assert_eq!(
        a.call(Some(&acme), "GET", "/v1/wallets", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        a.call(
            Some(&globex),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "p256"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = a.call(None, "GET", "/v1/wallets", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = a.call(Some(&acme), "GET", "/v1/audit", None).await;
    assert_eq!(s, StatusCode::OK);
    let events = v["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        let actor = e["actor"].as_str().unwrap();
        assert!(
            !e["action"].as_str().unwrap().starts_with("AUTH_DENY"),
            "anonymous denials are the operator's: {e}"
        );
        assert_ne!(
            e["outcome"], "denied:wallets:write",
            "globex's denial leaked: {e}"
        );
        assert!(actor != "anonymous", "{e}");
    }
    let (s, v) = a.call(Some(&a.operator), "GET", "/v1/audit", None).await;
    assert_eq!(s, StatusCode::OK);
    let all = v["events"].as_array().unwrap();
    assert!(all.len() > events.len());
    assert!(all.iter().any(|e| e["outcome"] == "denied:wallets:write"));
    assert!(all.iter().any(|e| e["action"] == "AUTH_DENY"));
}

#[tokio::test]
async fn a_revocation_reports_the_time_that_applies() {
    let a = app(&[]).await;
    let (id, _) = a.client("acme", &["sign"]).await;
    let path = format!("/v1/admin/api-clients/{id}");
    let (s, first) = a.call(Some(&a.operator), "DELETE", &path, None).await;
    assert_eq!(s, StatusCode::OK);
    let later = format!("{path}?grace_seconds=3600");
    let (s, second) = a.call(Some(&a.operator), "DELETE", &later, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        second["revoked_at"], first["revoked_at"],
        "an earlier revocation stays the one that applies"
    );
}

#[tokio::test]
async fn the_per_client_rate_limit_is_429_with_retry_after() {
    let a = app(&[
        ("RATE_LIMIT_PER_USER", "3"),
        ("RATE_LIMIT_WINDOW_MS", "86400000"),
    ])
    .await;
    let (_, t) = a.client("acme", &["wallets:read"]).await;
    for _ in 0..3 {
        assert_eq!(
            a.call(Some(&t), "GET", "/v1/wallets", None).await.0,
            StatusCode::OK
        );
    }
    let (s, v) = a.call(Some(&t), "GET", "/v1/wallets", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Shared through the database: after a flush the counter holds the hits.
    a.service.flush_rate_limits().await;
    let events = a
        .service
        .store()
        .audit(0, 100, Some("acme"), &Default::default())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.action == "RATE_LIMIT"));
}

/// Many addresses at once: one logging budget across peers, and a summary
/// naming the worst peers and summing the rest.
#[tokio::test]
async fn a_flood_from_many_addresses_is_bounded_too() {
    let a = app(&[]).await;
    for i in 0..300u32 {
        let [_, _, x, y] = i.to_be_bytes();
        for _ in 0..12 {
            let (s, _) = a
                .call_from([203, 0, x, y], None, "GET", "/v1/wallets", None)
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
    }
    a.service.summarize_floods().await;
    let events = a
        .service
        .store()
        .audit(0, 100_000, None, &Default::default())
        .await
        .unwrap();
    let denies = events.iter().filter(|e| e.action == "AUTH_DENY").count();
    let floods: Vec<_> = events
        .iter()
        .filter(|e| e.action == "AUTH_DENY_FLOOD")
        .collect();
    assert_eq!(denies, 500, "one budget across peers");
    assert_eq!(floods.len(), 21, "20 named peers and one for the others");
    let counted: u64 = floods
        .iter()
        .map(|e| {
            e.outcome
                .rsplit(':')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        counted + 500,
        300 * 12,
        "every failure is recorded or counted"
    );
    assert!(floods.last().unwrap().target.starts_with("peers:"));
}

async fn scrape(a: &App, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder().uri("/metrics");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let response = a
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The value of the sample `series` (name and labels as exported), or 0.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_have_every_design_name_and_label_routes_by_template() {
    let a = app(&[]).await;
    let id = "w_0123456789abcdef0123456789abcdef";
    let (s, _) = a
        .call(Some(&a.operator), "GET", &format!("/v1/wallets/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The alias is served by the wallets' route, and counted under it.
    let (s, _) = a
        .call(
            Some(&a.operator),
            "GET",
            &format!("/v1/identities/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = a
        .call(Some(&a.operator), "GET", "/v1/identitiesx", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, text) = scrape(&a, None).await;
    assert_eq!(s, StatusCode::OK);
    for name in [
        "signet_http_requests_total",
        "signet_http_request_duration_seconds_bucket",
        "signet_signatures_total",
        "signet_ticket_refusals_total",
        "signet_security_events_total",
        "signet_rate_limited_total",
        "signet_signer_up",
        "signet_signer_restarts_total",
        "signet_sealed_key_loads_total",
        "signet_storage_errors_total",
        "signet_journal_commit_seconds_bucket",
        "signet_build_info",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            "signet_http_requests_total{route=\"/v1/wallets/{id}\",method=\"GET\",status=\"404\"}"
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "signet_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains(id), "a raw id is a label:\n{text}");
    // The journal committed the operator's client creation.
    assert!(sample(&text, "signet_journal_commit_seconds_count") >= 1.0);
}

#[tokio::test]
async fn every_security_event_is_counted_even_when_the_audit_log_aggregates_it() {
    let a = app(&[]).await;
    for _ in 0..100 {
        a.call_from([192, 0, 2, 44], None, "GET", "/v1/wallets", None)
            .await;
    }
    let (_, viewer) = a.client("acme", &["wallets:read"]).await;
    let (s, _) = a
        .call(
            Some(&viewer),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "p256"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, text) = scrape(&a, None).await;
    // 60 failures, then 40 refusals before authentication: all 100 counted,
    // though the audit log holds 10 rows and a summary.
    assert_eq!(
        sample(&text, "signet_security_events_total{type=\"AUTH_DENY\"}"),
        100.0
    );
    assert_eq!(
        sample(&text, "signet_security_events_total{type=\"RATE_LIMIT\"}"),
        40.0
    );
    assert_eq!(sample(&text, "signet_rate_limited_total"), 40.0);
    assert_eq!(
        sample(&text, "signet_security_events_total{type=\"SCOPE_DENY\"}"),
        1.0
    );
}

#[tokio::test]
async fn metrics_can_require_a_token_with_metrics_read() {
    let a = app(&[("METRICS_REQUIRE_API_KEY", "true")]).await;
    assert_eq!(scrape(&a, None).await.0, StatusCode::UNAUTHORIZED);
    let (_, other) = a.client("acme", &["wallets:read"]).await;
    assert_eq!(scrape(&a, Some(&other)).await.0, StatusCode::FORBIDDEN);
    let (_, scraper) = a.client("ops", &["metrics:read"]).await;
    let (s, text) = scrape(&a, Some(&scraper)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("signet_build_info"));
}

async fn raw(a: &App, req: Request<Body>) -> axum::http::Response<Body> {
    a.router.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn cors_answers_preflights_for_allowed_origins_only() {
    let a = app(&[(
        "ALLOWED_ORIGINS",
        "https://console.example,http://localhost:5173",
    )])
    .await;
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/v1/wallets")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let ok = raw(&a, preflight("https://console.example")).await;
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://console.example");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    for other in [
        "https://evil.example",
        "https://console.example.evil",
        "null",
    ] {
        let refused = raw(&a, preflight(other)).await;
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{other} was allowed"
        );
    }
    // A real request from an allowed origin carries the header; from another, not.
    let get = |origin: &str| {
        Request::builder()
            .uri("/health")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap()
    };
    let allowed = raw(&a, get("http://localhost:5173")).await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let exposed = allowed.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
    assert!(raw(&a, get("https://evil.example"))
        .await
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// A known route with another method: the API's JSON 405, with the
/// `Allow` the router computed and the request's `x-request-id`, like every
/// other answer (the JSON mapping runs outside the route layers).
#[tokio::test]
async fn a_wrong_method_is_a_json_405_with_allow_and_the_request_id() {
    let a = app(&[]).await;
    let response = raw(
        &a,
        Request::builder()
            .method("PUT")
            .uri("/v1/auth/challenge")
            .header("x-request-id", "wrong-method-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let headers = response.headers().clone();
    assert_eq!(headers["x-request-id"], "wrong-method-1");
    assert_eq!(headers["allow"], "POST");
    assert_eq!(headers["content-type"], "application/json");
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    // An unknown path: the JSON 404, with a fresh request id.
    let response = raw(
        &a,
        Request::builder()
            .uri("/v1/nothing-here")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["x-request-id"].len(), 16);
}

#[tokio::test]
async fn without_allowed_origins_no_browser_origin_is_allowed() {
    let a = app(&[]).await;
    let response = raw(
        &a,
        Request::builder()
            .uri("/health")
            .header("origin", "https://console.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// The shipped alert rules and dashboard use only metrics this host really
/// exports, and the dashboard is a well-formed Grafana dashboard.
#[tokio::test]
async fn alerts_and_dashboard_use_only_exported_metrics() {
    // The audit export's metric exists only with AUDIT_EXPORT_URL (nothing
    // is sent: this app runs no background tasks).
    let a = app(&[("AUDIT_EXPORT_URL", "https://127.0.0.1:9/ingest")]).await;
    let _ = a.call(Some(&a.operator), "GET", "/v1/wallets", None).await;
    // signet_frozen has a series while a freeze is in force.
    let (s, v) = a
        .call(
            Some(&a.operator),
            "POST",
            "/v1/admin/freeze",
            Some(json!({"scope": "wallet:w_none", "reason": "a drill"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, text) = scrape(&a, None).await;
    let exported: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops");
    let alerts = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(root.join("grafana/signet.json")).unwrap();
    let dash: Value = serde_json::from_str(&dashboard).unwrap();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for p in panels {
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{p}");
        assert!(targets.iter().all(|t| t["expr"].as_str().is_some()), "{p}");
    }
    let mut used = std::collections::BTreeSet::new();
    for source in [&alerts, &dashboard] {
        for (i, _) in source.match_indices("signet_") {
            let name: String = source[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.len() > "signet_".len() {
                used.insert(name);
            }
        }
    }
    assert!(used.len() >= 10, "{used:?}");
    let missing: Vec<_> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "used but not exported: {missing:?}\nexported: {exported:?}"
    );
    // Every DESIGN.md metric, and every one an alert of issue 26 watches,
    // has a panel.
    for name in [
        "signet_http_requests_total",
        "signet_signatures_total",
        "signet_ticket_refusals_total",
        "signet_security_events_total",
        "signet_signer_up",
        "signet_signer_restarts_total",
        "signet_journal_commit_seconds_bucket",
        "signet_storage_errors_total",
        "signet_frozen",
        "signet_audit_export_last_success_timestamp_seconds",
        "signet_kms_requests_total",
        "signet_eth_upstream_requests_total",
        "signet_signer_sealed",
    ] {
        assert!(dashboard.contains(name), "no panel for {name}");
    }
}

/// `/openapi.json` is OpenAPI 3.1 generated from the code and covers every
/// route, its errors and the bearer scheme.
#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let a = app(&[]).await;
    let (s, doc) = a.call(None, "GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v1/attestation", "get"),
        ("/v1/audit", "get"),
        ("/v1/admin/api-clients", "post"),
        ("/v1/admin/api-clients", "get"),
        ("/v1/admin/api-clients/{id}", "delete"),
        ("/v1/admin/confirmations/{id}", "post"),
        ("/v1/admin/freeze", "post"),
        ("/v1/admin/freeze", "delete"),
        ("/v1/admin/status", "get"),
        ("/v1/admin/sealing/rotate", "post"),
        ("/v1/admin/sessions/invalidate-all", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/clients", "get"),
        ("/v1/clients/{id}", "delete"),
        ("/v1/admin/tenants/{tenant}/revoke-clients", "post"),
        ("/v1/admin/users/{id}/revoke-sessions", "post"),
        ("/v1/admin/users/{id}/ban", "post"),
        ("/v1/admin/users/{id}/ban", "delete"),
        ("/v1/eth", "post"),
        ("/v1/intents", "get"),
        ("/v1/intents/{id}", "get"),
        ("/v1/intents/{id}/approve", "post"),
        ("/v1/intents/{id}/decline", "post"),
        ("/console/config.json", "get"),
        ("/v1/auth/challenge", "post"),
        ("/v1/auth/verify", "post"),
        ("/telegram-webhook", "post"),
    ];
    let mut wanted: Vec<(String, &str)> = expected
        .iter()
        .map(|(p, m)| ((*p).to_owned(), *m))
        .collect();
    for prefix in ["/v1/wallets", "/v1/identities"] {
        for (rest, m) in [
            ("", "post"),
            ("", "get"),
            ("/{id}", "get"),
            ("/{id}", "delete"),
            ("/{id}", "patch"),
            ("/{id}/attestation", "get"),
            ("/{id}/record", "post"),
            ("/{id}/proposals", "get"),
            ("/{id}/record/{proposal_id}", "get"),
            ("/{id}/record/{proposal_id}/approve", "post"),
            ("/{id}/check", "post"),
            ("/{id}/resume", "post"),
            ("/{id}/sign-intent", "post"),
            ("/{id}/sign", "post"),
        ] {
            wanted.push((format!("{prefix}{rest}"), m));
        }
    }
    for (path, method) in &wanted {
        let op = &paths[path.as_str()][*method];
        assert!(op.is_object(), "{method} {path} is not described");
        let responses = op["responses"].as_object().unwrap();
        // Login itself is open: no token exists yet.
        let public = path == "/v1/auth/challenge" || path == "/v1/auth/verify";
        if path.starts_with("/v1/") && !public {
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
            assert!(responses.contains_key("503"), "{method} {path}: no 503");
            assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        }
    }
    let described: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        described,
        wanted.len(),
        "a route is described that the test does not know"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for schema in [
        "WalletView",
        "SignatureView",
        "ErrorBody",
        "AuditPage",
        "SignBody",
        "CreateClientBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    // Unknown fields are refused, as the handlers do.
    assert_eq!(
        doc["components"]["schemas"]["SignBody"]["additionalProperties"],
        json!(false)
    );
}
