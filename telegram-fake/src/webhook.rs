//! Webhooks: the URL checks `setWebhook` makes, and delivery.
//!
//! Delivery follows the Bot API server's `WebhookActor`: each update is
//! POSTed as JSON (`X-Telegram-Bot-Api-Secret-Token` when a secret is set)
//! and forgotten only after a 2xx. A failure (non-2xx, connection error,
//! 60 s without an answer) is retried — the first retry at once (or after
//! the receiver's `Retry-After`, at most 3600 s), then after 2, 4, 8 … s up
//! to 60–120 s. Updates of one chat go in `update_id` order, one at a time;
//! a failing update holds back only its own chat's later updates. The fake
//! delivers over one connection at a time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::server::{unix_now, Fake};

/// How long one delivery may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest back-off between retries before randomization, seconds.
pub const MAX_RESEND_TIMEOUT: u64 = 60;
const MAX_RETRY_AFTER: u64 = 3600;

/// A parsed webhook URL (`td::parse_url`, https when no scheme is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// HTTPS (else plain HTTP).
    pub https: bool,
    /// The host as written (no brackets for IPv6).
    pub host: String,
    /// The port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses a URL; `None` when Telegram would say "invalid webhook URL
    /// specified".
    pub fn parse(url: &str) -> Option<Self> {
        let lower = url.to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (true, &url[8..])
        } else if lower.starts_with("http://") {
            (false, &url[7..])
        } else if url.contains("://") {
            return None;
        } else {
            (true, url)
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':')?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        {
            return None;
        }
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
        };
        let tail = tail.split('#').next().unwrap_or("");
        let path = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Some(Self {
            https,
            host: host.to_ascii_lowercase(),
            port,
            path,
        })
    }

    /// `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.https { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Telegram's checks of a webhook URL before it connects: HTTPS, one of
/// its four ports (both waived for loopback hosts with
/// `--allow-http-webhook`). Returns the reason after `bad webhook: `.
pub fn check_policy(target: &Target, allow_local: bool) -> Result<(), String> {
    let local_ok = allow_local && target.is_loopback();
    if !target.https && !local_ok {
        return Err("An HTTPS URL must be provided for webhook".into());
    }
    if ![80, 88, 443, 8443].contains(&target.port) && !local_ok {
        return Err("Webhook can be set up only on ports 80, 88, 443 or 8443".into());
    }
    Ok(())
}

/// Addresses Telegram refuses to deliver to (private, loopback, link-local,
/// shared, multicast, reserved).
pub fn is_reserved(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] >= 240
        }
        IpAddr::V6(_) => true,
    }
}

/// Resolves the target to the IPv4 address Telegram would use.
pub async fn resolve(target: &Target, allow_local: bool) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = target.host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, target.port)]
    } else {
        tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("Failed to resolve host: {e}"))?
            .collect()
    };
    let local_ok = allow_local && target.is_loopback();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| if local_ok { addrs.first() } else { None })
        .copied()
        .ok_or_else(|| "IPv6-only addresses are not allowed".to_owned())?;
    if is_reserved(addr.ip()) && !local_ok {
        return Err(format!("IP address {} is reserved", addr.ip()));
    }
    Ok(addr)
}

/// A set webhook.
#[derive(Debug)]
pub(crate) struct Webhook {
    pub(crate) url: String,
    pub(crate) target: Target,
    pub(crate) secret_token: String,
    pub(crate) max_connections: i64,
    pub(crate) ip_address: String,
    pub(crate) retry: HashMap<i64, RetryState>,
}

/// An update's back-off.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryState {
    delay: u64,
    fail_count: u32,
    wakeup_at: Instant,
}

/// One delivery attempt, as `GET /webhook` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    /// The update.
    pub update_id: i64,
    /// The webhook URL.
    pub url: String,
    /// The receiver's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, as `last_error_message` words it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix time of the attempt.
    pub date: u64,
}

/// Connects to the target as setWebhook's verification does (TCP, then TLS
/// for HTTPS) and closes again.
pub async fn verify(fake: &Fake, target: &Target, addr: SocketAddr) -> Result<(), String> {
    match connect(fake, target, addr).await? {
        Conn::Plain(_) | Conn::Tls(_) => Ok(()),
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn connect(fake: &Fake, target: &Target, addr: SocketAddr) -> Result<Conn, String> {
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err("Connection refused".into())
        }
        Ok(Err(e)) => return Err(format!("Failed to connect to {addr}: {e}")),
        Err(_) => return Err("Connection timed out".into()),
    };
    if !target.https {
        return Ok(Conn::Plain(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| format!("SSL error: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&fake.tls));
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(Conn::Tls(Box::new(tls))),
        Ok(Err(e)) => Err(format!("SSL error {{{e}}}")),
        Err(_) => Err("SSL handshake timed out".into()),
    }
}

/// What a delivery got back.
#[derive(Debug)]
struct Answer {
    status: u16,
    reason: String,
    retry_after: Option<u64>,
}

async fn exchange<I>(io: I, request: http::Request<Full<Bytes>>) -> Result<Answer, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("Webhook connection failed: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| "Webhook connection closed".to_owned())?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // Read (and discard) the body, as an HTTP client must.
        let _ = Limited::new(response.into_body(), 1 << 20).collect().await;
        Ok(Answer {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            retry_after,
        })
    }
    .await;
    driver.abort();
    result
}

async fn post(fake: &Fake, target: &Target, secret: &str, body: String) -> Result<Answer, String> {
    let addr = resolve(target, fake.allow_http_webhook).await?;
    let mut builder = http::Request::post(target.path.as_str())
        .header(http::header::HOST, target.host_header())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT_ENCODING, "gzip, deflate");
    if !secret.is_empty() {
        builder = builder.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("URL is too long: {e}"))?;
    let attempt = async {
        match connect(fake, target, addr).await? {
            Conn::Plain(tcp) => exchange(tcp, request).await,
            Conn::Tls(tls) => exchange(*tls, request).await,
        }
    };
    tokio::time::timeout(DELIVERY_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err("Read timeout expired".into()))
}

enum Next {
    Send {
        id: i64,
        body: String,
        target: Target,
        secret: String,
        url: String,
    },
    WaitUntil(Instant),
    Idle,
    Stop,
}

fn pick(fake: &Fake, generation: u64) -> Next {
    let mut state = fake.state();
    if state.webhook_generation != generation {
        return Next::Stop;
    }
    state.queue.expire(unix_now());
    let state = &mut *state;
    let Some(webhook) = state.webhook.as_mut() else {
        return Next::Stop;
    };
    let now = Instant::now();
    let mut heads: HashMap<i64, i64> = HashMap::new();
    for update in state.queue.pending() {
        heads.entry(update.queue_key).or_insert(update.id);
    }
    webhook.retry.retain(|id, _| state.queue.get(*id).is_some());
    let mut best: Option<(Instant, i64)> = None;
    for &id in heads.values() {
        let wakeup = webhook.retry.get(&id).map_or(now, |r| r.wakeup_at);
        if best.is_none_or(|b| (wakeup, id) < b) {
            best = Some((wakeup, id));
        }
    }
    match best {
        None => Next::Idle,
        Some((wakeup, _)) if wakeup > now => Next::WaitUntil(wakeup),
        Some((_, id)) => match state.queue.get(id) {
            Some(update) => Next::Send {
                id,
                body: update.to_json(),
                target: webhook.target.clone(),
                secret: webhook.secret_token.clone(),
                url: webhook.url.clone(),
            },
            None => Next::Idle,
        },
    }
}

fn random_max_timeout() -> u64 {
    use rand_core::RngCore as _;
    MAX_RESEND_TIMEOUT + rand_core::OsRng.next_u64() % (MAX_RESEND_TIMEOUT + 1)
}

/// Delivers updates to the webhook of `generation` until it changes.
pub(crate) async fn deliver(fake: Arc<Fake>, generation: u64) {
    let mut updates = fake.updates.subscribe();
    loop {
        match pick(&fake, generation) {
            Next::Stop => return,
            Next::Idle => {
                if updates.changed().await.is_err() {
                    return;
                }
            }
            Next::WaitUntil(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    changed = updates.changed() => if changed.is_err() { return },
                }
            }
            Next::Send {
                id,
                body,
                target,
                secret,
                url,
            } => {
                let result = post(&fake, &target, &secret, body).await;
                let mut state = fake.state();
                let now = unix_now();
                let (status, error, retry_after) = match &result {
                    Ok(a) if (200..300).contains(&a.status) => (Some(a.status), None, 0),
                    Ok(a) => (
                        Some(a.status),
                        Some(format!(
                            "Wrong response from the webhook: {} {}",
                            a.status, a.reason
                        )),
                        a.retry_after.unwrap_or(0).min(MAX_RETRY_AFTER),
                    ),
                    Err(e) => (None, Some(e.clone()), 0),
                };
                tracing::info!(
                    update_id = id,
                    ?status,
                    error = error.as_deref(),
                    "webhook delivery"
                );
                state.record_delivery(DeliveryAttempt {
                    update_id: id,
                    url,
                    status,
                    error: error.clone(),
                    date: now,
                });
                match error {
                    None => state.queue.forget(id),
                    Some(message) => {
                        if state.webhook_generation == generation {
                            state.last_webhook_error = Some((now, message));
                        }
                        if let Some(webhook) = state.webhook.as_mut() {
                            let entry = webhook.retry.entry(id).or_insert(RetryState {
                                delay: 1,
                                fail_count: 0,
                                wakeup_at: Instant::now(),
                            });
                            let mut effective = retry_after;
                            if retry_after == 0 && entry.fail_count > 0 {
                                entry.delay = (entry.delay * 2).min(random_max_timeout());
                                effective = entry.delay;
                            }
                            entry.fail_count += 1;
                            entry.wakeup_at = Instant::now() + Duration::from_secs(effective);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn urls_parse_like_td() {
        let t = Target::parse("https://example.com/hook?x=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "example.com", 443, "/hook?x=1")
        );
        let t = Target::parse("example.com:8443").unwrap();
        assert_eq!((t.https, t.port, t.path.as_str()), (true, 8443, "/"));
        let t = Target::parse("http://user:pw@127.0.0.1:9000/t").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port),
            (false, "127.0.0.1", 9000)
        );
        assert_eq!(Target::parse("http://[::1]:81/").unwrap().host, "::1");
        assert!(Target::parse("ftp://example.com").is_none());
        assert!(Target::parse("https://").is_none());
        assert!(Target::parse("https://a b/").is_none());
        assert!(Target::parse("https://x:0/").is_none());
        assert!(Target::parse("https://x:99999/").is_none());
    }

    #[test]
    fn policy() {
        let p = |u: &str, local| check_policy(&Target::parse(u).unwrap(), local);
        assert!(p("https://example.com/", false).is_ok());
        assert!(p("https://example.com:8443/", false).is_ok());
        assert_eq!(
            p("http://example.com/", true).unwrap_err(),
            "An HTTPS URL must be provided for webhook"
        );
        assert!(p("https://example.com:9000/", true)
            .unwrap_err()
            .contains("ports 80, 88, 443 or 8443"));
        assert!(p("http://127.0.0.1:9000/", false).is_err());
        assert!(p("http://127.0.0.1:9000/", true).is_ok());
        assert!(p("http://localhost:9000/", true).is_ok());
    }

    #[test]
    fn reserved_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
        ] {
            assert!(is_reserved(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_reserved("149.154.167.220".parse().unwrap()));
    }
}
