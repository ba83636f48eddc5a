//! Audit events leave the box: with `AUDIT_EXPORT_URL`, one replica at a
//! time (a lease in the database) pushes the log in batches of JSON lines
//! over HTTPS, from a cursor kept in the database, retrying with backoff.
//! At least once: a batch whose acknowledgement was lost is sent again, so
//! consumers dedupe on `seq`.

use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore as _;
use signet_proto::time::now_ms;

use super::Service;
use crate::config::AuditExportConfig;
use crate::store::StoreError;

/// Why the audit sink cannot be set up, or a batch was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// `AUDIT_EXPORT_CA_FILE` cannot be read or holds no valid certificate.
    #[error("AUDIT_EXPORT_CA_FILE {path}: {detail}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The sink answered with a status other than 2xx.
    #[error("the sink answered {0}")]
    Status(u16),
    /// The sink could not be reached.
    #[error("the sink is unreachable: {0}")]
    Unreachable(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event could not be written out, or the sending task failed.
    #[error("{0}")]
    Internal(String),
}

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
    /// A sink for `config` (the URL is https, checked by the
    /// configuration), trusting the public roots and, if given, the CA in
    /// its file; the token goes in `Authorization: Bearer`.
    pub fn new(config: &AuditExportConfig) -> Result<Self, ExportError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &config.ca_file {
            let ca = |e: &dyn std::fmt::Display| ExportError::CaFile {
                path: path.display().to_string(),
                detail: e.to_string(),
            };
            let pem = std::fs::read(path).map_err(|e| ca(&e))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert.map_err(|e| ca(&e))?).map_err(|e| ca(&e))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ExportError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout(Duration::from_secs(30))
            .build();
        Ok(Self {
            url: config.url.clone(),
            authorization: config.token.as_ref().map(|t| {
                zeroize::Zeroizing::new(format!("Bearer {}", String::from_utf8_lossy(t.expose())))
            }),
            agent,
        })
    }

    /// Posts one batch (blocking); Ok on a 2xx.
    fn post(&self, body: &str, first: u64, last: u64) -> Result<(), ExportError> {
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
            Err(ureq::Error::Status(code, _)) => Err(ExportError::Status(code)),
            Err(e) => Err(ExportError::Unreachable(e.kind().to_string())),
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
    /// Publishes now as the export's last success
    /// (`signet_audit_export_last_success_timestamp_seconds`).
    fn export_succeeded(&self) {
        if let Some(gauge) = &self.metrics.audit_export_last_success {
            gauge.set(i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX));
        }
    }

    /// One round: if this replica holds the lease, sends the next batch
    /// after the cursor and moves the cursor. Returns how many events were
    /// delivered (0: nothing new, or another replica exports). A batch
    /// delivered, or nothing left to deliver, is a success for the
    /// metrics; a replica without the lease has none to report.
    pub async fn export_audit_once(
        &self,
        sink: &Arc<AuditSink>,
        holder: &str,
    ) -> Result<usize, ExportError> {
        let now = now_ms();
        let ttl = u64::try_from(LEASE.as_millis()).unwrap_or(u64::MAX);
        if !self.store.try_lease(EXPORT_NAME, holder, now, ttl).await? {
            return Ok(0);
        }
        let from = self.store.export_cursor(EXPORT_NAME).await?;
        let events = self
            .store
            .audit(from, BATCH, None, &Default::default())
            .await?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            // Caught up: nothing is waiting to leave, so nothing is late.
            self.export_succeeded();
            return Ok(0);
        };
        let (first, last) = (first.seq, last.seq);
        let mut body = String::new();
        for e in &events {
            body.push_str(
                &serde_json::to_string(e).map_err(|e| ExportError::Internal(e.to_string()))?,
            );
            body.push('\n');
        }
        let sink = Arc::clone(sink);
        tokio::task::spawn_blocking(move || sink.post(&body, first, last))
            .await
            .map_err(|e| ExportError::Internal(e.to_string()))??;
        if !self
            .store
            .advance_export_cursor(EXPORT_NAME, from, last)
            .await?
        {
            tracing::warn!(
                "the audit export cursor moved under this replica; the batch may be sent twice"
            );
        }
        // Only once the cursor moved: a batch delivered again and again
        // behind a cursor that cannot advance is a stalled export.
        self.export_succeeded();
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
