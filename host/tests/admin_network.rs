//! `ADMIN_ALLOWED_CIDRS` (issue 23): operator tokens and `/v1/admin/*` are
//! taken only from the listed networks. Shown from two loopback addresses:
//! 127.0.0.1 is listed, 127.0.0.2 is not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{assert_audited, create_client, DevHost};
use serde_json::{json, Value};

/// One HTTP/1.1 request to `url` from the local address `from`: the
/// status and the JSON body.
fn call_from(
    from: Ipv4Addr,
    url: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
            let mut stream = socket.connect(addr).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            raw
        });
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, rest) = text.split_once("\r\n\r\n").unwrap();
    // The body is chunked or not: the JSON object in it.
    let json = rest
        .find('{')
        .and_then(|start| rest.rfind('}').map(|end| &rest[start..=end]))
        .map_or(Value::Null, |j| {
            serde_json::from_str(j).unwrap_or(Value::Null)
        });
    (status, json)
}

#[test]
fn admin_requests_and_operator_tokens_are_taken_only_from_the_listed_networks() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::command(&dir.path().join("host"))
        .env("ADMIN_ALLOWED_CIDRS", "127.0.0.1/32, ::1")
        .start();
    let url = host.url();
    let admin = host.admin_token();
    let inside = Ipv4Addr::new(127, 0, 0, 1);
    let outside = Ipv4Addr::new(127, 0, 0, 2);

    // From a listed address the operator works as before.
    let (s, v) = call_from(inside, url, &admin, "GET", "/v1/admin/status", None);
    assert_eq!(s, 200, "{v}");
    let shop = create_client(url, &admin, "shop", &["wallets:*", "admin:clients"]);

    // From elsewhere: the operator's token is refused for admin routes and
    // for anything else (it holds `operator`).
    for (method, path) in [
        ("GET", "/v1/admin/status"),
        ("GET", "/v1/wallets"),
        ("GET", "/v1/audit"),
    ] {
        let (s, v) = call_from(outside, url, &admin, method, path, None);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("network_denied")),
            "{path}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ADMIN_ALLOWED_CIDRS"),
            "{v}"
        );
    }
    let (s, v) = call_from(
        outside,
        url,
        &admin,
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": "x", "tenant": "t", "scopes": ["sign"]})),
    );
    assert_eq!(
        s, 403,
        "an operator client is not created from outside: {v}"
    );

    // A tenant's client works from anywhere, except on /v1/admin/*.
    let (s, v) = call_from(outside, url, &shop, "GET", "/v1/wallets", None);
    assert_eq!(s, 200, "{v}");
    let (s, v) = call_from(outside, url, &shop, "GET", "/v1/admin/api-clients", None);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("network_denied")),
        "{v}"
    );
    let (s, v) = call_from(inside, url, &shop, "GET", "/v1/admin/api-clients", None);
    assert_eq!(s, 200, "{v}");

    // Every refusal is audited with the path.
    assert_audited(url, &admin, "NETWORK_DENY", |e| {
        e.action == "NETWORK_DENY"
            && e.target == "/v1/admin/status"
            && e.outcome == "denied:network_denied"
    });
    assert!(common::log_text(host.log_path()).contains("outside ADMIN_ALLOWED_CIDRS"));
}
