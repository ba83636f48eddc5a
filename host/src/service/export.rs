//! Audit events leave the box: with `AUDIT_EXPORT_URL`, one replica at a
//! time (a lease in the database) pushes the log in batches of JSON lines
//! over HTTPS, from a cursor kept in the database, retrying with backoff.
//! At least once: a batch whose acknowledgement was lost is sent again, so
//! consumers dedupe on `seq`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore as _;
use signet_proto::time::now_ms;

use super::Service;

/// The cursor's and the lease's name.
pub const EXPORT_NAME: &str = "audit-export";

/// Events per batch.
pub const BATCH: u32 = 500;

/// How long a replica holds the exporter lease without renewing it.
pub const LEASE: Duration = Duration::from_secs(30);

/// An HTTPS endpoint that takes batches of audit events.
pub struct AuditSink {
    url: String,
    authorization: Option<zeroize::Zeroizing<String>>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("url", &self.url)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// A sink at `url` (https only), trusting the public roots and, if
    /// given, the CA in `ca_file`; `token` goes in `Authorization: Bearer`.
    pub fn new(url: &str, token: Option<&str>, ca_file: Option<&Path>) -> Result<Self, String> {
        if !url.starts_with("https://") {
            return Err("must be an https:// URL".into());
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout(Duration::from_secs(30))
            .build();
        Ok(Self {
            url: url.to_owned(),
            authorization: token.map(|t| zeroize::Zeroizing::new(format!("Bearer {t}"))),
            agent,
        })
    }

    /// Posts one batch (blocking); Ok on a 2xx.
    fn post(&self, body: &str, first: u64, last: u64) -> Result<(), String> {
        let mut req = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/x-ndjson")
            .set("X-Signet-First-Seq", &first.to_string())
            .set("X-Signet-Last-Seq", &last.to_string());
        if let Some(a) = &self.authorization {
            req = req.set("Authorization", a.as_str());
        }
        match req.send_string(body) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) => Err(format!("the sink answered {code}")),
            Err(e) => Err(format!("the sink is unreachable: {}", e.kind())),
        }
    }
}

/// A random id for this process's leases.
#[must_use]
pub fn replica_id() -> String {
    let mut b = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Service {
    /// One round: if this replica holds the lease, sends the next batch
    /// after the cursor and moves the cursor. Returns how many events were
    /// delivered (0: nothing new, or another replica exports).
    pub async fn export_audit_once(
        &self,
        sink: &Arc<AuditSink>,
        holder: &str,
    ) -> Result<usize, String> {
        let now = now_ms();
        let ttl = u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX);
        if !self
            .store
            .try_lease(EXPORT_NAME, holder, now, ttl)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(0);
        }
        let from = self
            .store
            .export_cursor(EXPORT_NAME)
            .await
            .map_err(|e| e.to_string())?;
        let events = self
            .store
            .audit(from, BATCH, None)
            .await
            .map_err(|e| e.to_string())?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(0);
        };
        let (first, last) = (first.seq, last.seq);
        let mut body = String::new();
        for e in &events {
            body.push_str(&serde_json::to_string(e).map_err(|e| e.to_string())?);
            body.push('\n');
        }
        let sink = Arc::clone(sink);
        tokio::task::spawn_blocking(move || sink.post(&body, first, last))
            .await
            .map_err(|e| e.to_string())??;
        if !self
            .store
            .advance_export_cursor(EXPORT_NAME, from, last)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::warn!(
                "the audit export cursor moved under this replica; the batch may be sent twice"
            );
        }
        Ok(events.len())
    }

    /// The exporter loop: batches back to back while there is a backlog,
    /// a second's pause when caught up, exponential backoff with jitter
    /// (1 s to 60 s) after a failure.
    pub async fn run_audit_export(self: Arc<Self>, sink: Arc<AuditSink>) {
        let holder = self.replica_id.clone();
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.export_audit_once(&sink, &holder).await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => {
                    backoff = Duration::from_secs(1);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    let mut jitter = [0u8; 2];
                    rand_core::OsRng.fill_bytes(&mut jitter);
                    let wait = backoff
                        + backoff.mul_f64(f64::from(u16::from_le_bytes(jitter)) / 131_070.0);
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "audit export failed; will retry");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}
