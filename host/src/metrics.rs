//! Prometheus metrics (DESIGN.md "Metrics and audit export"): one registry
//! per process, handles cloned into the layers that count. HTTP metrics are
//! labelled by the route template (`/v1/wallets/{id}`), never by the raw path.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// `{route, method, status}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Route template, or `unmatched`.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: u16,
}

/// `{route}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template, or `unmatched`.
    pub route: String,
}

/// `{key_type, outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignatureLabels {
    /// `secp256k1 | p256 | ed25519`.
    pub key_type: &'static str,
    /// `ok`, `denied` or `error`.
    pub outcome: &'static str,
}

/// `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `ticket_invalid | ticket_replayed | ticket_expired`.
    pub reason: &'static str,
}

/// `{scope}` of a freeze.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `all`, `tenant:<t>` or `wallet:<id>`.
    pub scope: String,
}

/// `{type}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    /// `AUTH_DENY | SCOPE_DENY | TENANT_DENY | RATE_LIMIT`.
    pub r#type: &'static str,
}

/// `{operation, outcome}` of a KMS request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KmsLabels {
    /// `decrypt` (the stored versions) or `generate_data_key` (a new one).
    pub operation: &'static str,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// `{outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok`, `refused` or `error`.
    pub outcome: &'static str,
}

/// Histograms whose buckets suit request and commit latencies (0.5 ms to
/// about 65 s, past the default ticket lifetime).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// What the store counts.
#[derive(Clone)]
pub struct StoreMetrics {
    /// Seconds per journal transaction.
    pub journal_commit: Histogram,
    /// Failed journal transactions.
    pub storage_errors: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            journal_commit: latency_histogram(),
            storage_errors: Counter::default(),
        }
    }
}

/// What the signer pool counts.
#[derive(Clone, Default)]
pub struct SignerMetrics {
    /// 1 while an attested connection to the signer is open, else 0.
    pub up: Gauge,
    /// Connections re-established after one was lost (a signer restart or a
    /// broken socket).
    pub restarts: Counter,
}

/// What KMS sealing counts (`SIGNET_SEALING=kms`; without it, nothing moves).
#[derive(Clone, Default)]
pub struct SealingMetrics {
    /// The host's requests for sealing keys, each one `Unseal` the signer
    /// answers with its KMS calls (its own retries of a throttled call are
    /// inside one request), by operation and outcome. Credentials the host
    /// cannot get count as an `error` of the request they were for.
    pub kms_requests: Family<KmsLabels, Counter>,
    /// 1 while the signer lacks a sealing key version the database holds
    /// (the last attempt to have it unseal them failed), else 0.
    pub signer_sealed: Gauge,
}

/// Every metric of the host.
#[derive(Clone)]
pub struct Metrics {
    /// `signet_http_requests_total{route,method,status}`.
    pub http_requests: Family<HttpLabels, Counter>,
    /// `signet_http_request_duration_seconds{route}`.
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `signet_signatures_total{key_type,outcome}`.
    pub signatures: Family<SignatureLabels, Counter>,
    /// `signet_ticket_refusals_total{reason}`.
    pub ticket_refusals: Family<ReasonLabels, Counter>,
    /// `signet_security_events_total{type}`.
    pub security_events: Family<TypeLabels, Counter>,
    /// `signet_rate_limited_total`.
    pub rate_limited: Counter,
    /// `signet_sealed_key_loads_total`.
    pub sealed_key_loads: Counter,
    /// `signet_signer_up`, `signet_signer_restarts_total`.
    pub signer: SignerMetrics,
    /// `signet_journal_commit_seconds`, `signet_storage_errors_total`.
    pub store: StoreMetrics,
    /// `signet_tls_certificate_expiry_timestamp_seconds` (0 without TLS).
    pub tls_expiry: Gauge,
    /// `signet_last_backup_timestamp_seconds` (0: no backup recorded).
    pub last_backup: Gauge,
    /// `signet_frozen{scope}`: 1 per freeze in force.
    pub frozen: Family<ScopeLabels, Gauge>,
    /// `signet_kms_requests_total{operation,outcome}`, `signet_signer_sealed`.
    pub sealing: SealingMetrics,
    /// `signet_eth_upstream_requests_total{outcome}`: calls to
    /// `ETH_RPC_UPSTREAM`; `refused` is the node's JSON-RPC error to a call
    /// it answered, `error` no usable answer.
    pub eth_upstream: Family<OutcomeLabels, Counter>,
    /// `signet_audit_export_last_success_timestamp_seconds`: when this
    /// replica last delivered a batch to `AUDIT_EXPORT_URL` or found nothing
    /// left to deliver (0 until then). `None`, and not exported, without
    /// `AUDIT_EXPORT_URL` (see [`Metrics::with_audit_export`]).
    pub audit_export_last_success: Option<Gauge>,
}

impl Default for Metrics {
    /// Every metric, with the series of known label values present at 0 (so
    /// `rate()` and alerts see them from the first scrape).
    fn default() -> Self {
        let m = Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            signatures: Family::default(),
            ticket_refusals: Family::default(),
            security_events: Family::default(),
            rate_limited: Counter::default(),
            sealed_key_loads: Counter::default(),
            signer: SignerMetrics::default(),
            store: StoreMetrics::default(),
            tls_expiry: Gauge::default(),
            frozen: Family::default(),
            last_backup: Gauge::default(),
            sealing: SealingMetrics::default(),
            eth_upstream: Family::default(),
            audit_export_last_success: None,
        };
        for key_type in ["secp256k1", "p256", "ed25519"] {
            for outcome in ["ok", "denied", "error"] {
                let _ = m
                    .signatures
                    .get_or_create(&SignatureLabels { key_type, outcome });
            }
        }
        for reason in ["ticket_invalid", "ticket_replayed", "ticket_expired"] {
            let _ = m.ticket_refusals.get_or_create(&ReasonLabels { reason });
        }
        for kind in ["AUTH_DENY", "SCOPE_DENY", "TENANT_DENY", "RATE_LIMIT"] {
            let _ = m
                .security_events
                .get_or_create(&TypeLabels { r#type: kind });
        }
        for operation in ["decrypt", "generate_data_key"] {
            for outcome in ["ok", "error"] {
                let _ = m
                    .sealing
                    .kms_requests
                    .get_or_create(&KmsLabels { operation, outcome });
            }
        }
        for outcome in ["ok", "refused", "error"] {
            let _ = m.eth_upstream.get_or_create(&OutcomeLabels { outcome });
        }
        m
    }
}

impl Metrics {
    /// These metrics, with the audit export's (`AUDIT_EXPORT_URL` is set):
    /// a host that exports nothing has no last success to alert on.
    #[must_use]
    pub fn with_audit_export(mut self) -> Self {
        self.audit_export_last_success = Some(Gauge::default());
        self
    }

    /// A registry holding every metric, for `/metrics`.
    #[must_use]
    pub fn registry(&self) -> Registry {
        let mut r = Registry::default();
        r.register(
            "signet_http_requests",
            "HTTP requests by route template, method and status",
            self.http_requests.clone(),
        );
        r.register(
            "signet_http_request_duration_seconds",
            "HTTP request latency by route template",
            self.http_duration.clone(),
        );
        r.register(
            "signet_signatures",
            "Signature requests by key type and outcome (ok, denied, error)",
            self.signatures.clone(),
        );
        r.register(
            "signet_ticket_refusals",
            "Tickets refused, by reason",
            self.ticket_refusals.clone(),
        );
        r.register(
            "signet_security_events",
            "Security events (AUTH_DENY, SCOPE_DENY, TENANT_DENY, RATE_LIMIT), each counted, also those the audit log aggregates",
            self.security_events.clone(),
        );
        r.register(
            "signet_frozen",
            "1 for each freeze in force, by scope (all, tenant:<t>, wallet:<id>)",
            self.frozen.clone(),
        );
        r.register(
            "signet_rate_limited",
            "Requests refused by a rate limit",
            self.rate_limited.clone(),
        );
        r.register(
            "signet_signer_up",
            "1 while an attested connection to the signer is open",
            self.signer.up.clone(),
        );
        r.register(
            "signet_signer_restarts",
            "Signer connections re-established after one was lost",
            self.signer.restarts.clone(),
        );
        r.register(
            "signet_sealed_key_loads",
            "Sealed keys sent to a signer that did not hold them",
            self.sealed_key_loads.clone(),
        );
        r.register(
            "signet_storage_errors",
            "Failed journal transactions",
            self.store.storage_errors.clone(),
        );
        r.register(
            "signet_journal_commit_seconds",
            "Seconds per journal transaction (a batch of writes and their audit events)",
            self.store.journal_commit.clone(),
        );
        r.register(
            "signet_tls_certificate_expiry_timestamp_seconds",
            "When the served TLS certificate expires (Unix seconds; 0 when serving plain HTTP)",
            self.tls_expiry.clone(),
        );
        r.register(
            "signet_last_backup_timestamp_seconds",
            "When the latest `signet-host admin backup` was taken (Unix seconds; 0 when none is recorded)",
            self.last_backup.clone(),
        );
        r.register(
            "signet_kms_requests",
            "Sealing-key requests to KMS (through the signer) by operation (decrypt, generate_data_key) and outcome (ok, error)",
            self.sealing.kms_requests.clone(),
        );
        r.register(
            "signet_signer_sealed",
            "1 while the signer lacks a sealing key version the database holds (the last attempt to have it unseal them failed)",
            self.sealing.signer_sealed.clone(),
        );
        r.register(
            "signet_eth_upstream_requests",
            "Calls to ETH_RPC_UPSTREAM by outcome (ok; refused: the node's JSON-RPC error; error: no usable answer)",
            self.eth_upstream.clone(),
        );
        if let Some(last_success) = &self.audit_export_last_success {
            r.register(
                "signet_audit_export_last_success_timestamp_seconds",
                "When this replica last delivered audit events to AUDIT_EXPORT_URL or found none left to deliver (Unix seconds; 0 until then)",
                last_success.clone(),
            );
        }
        r.register(
            "signet_build",
            "The host's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry()) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }

    /// Counts a security event of `kind`.
    pub fn security_event(&self, kind: &'static str) {
        self.security_events
            .get_or_create(&TypeLabels { r#type: kind })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_design_metric_is_exported() {
        let m = Metrics::default();
        m.http_requests
            .get_or_create(&HttpLabels {
                route: "/v1/wallets/{id}".into(),
                method: "GET".into(),
                status: 200,
            })
            .inc();
        m.http_duration
            .get_or_create(&RouteLabels {
                route: "/v1/wallets/{id}".into(),
            })
            .observe(0.01);
        m.signatures
            .get_or_create(&SignatureLabels {
                key_type: "p256",
                outcome: "ok",
            })
            .inc();
        m.ticket_refusals
            .get_or_create(&ReasonLabels {
                reason: "ticket_replayed",
            })
            .inc();
        m.security_event("AUTH_DENY");
        let text = m.encode();
        for name in [
            "signet_http_requests_total{route=\"/v1/wallets/{id}\",method=\"GET\",status=\"200\"} 1",
            "signet_http_request_duration_seconds_bucket",
            "signet_signatures_total{key_type=\"p256\",outcome=\"ok\"} 1",
            "signet_ticket_refusals_total{reason=\"ticket_replayed\"} 1",
            "signet_security_events_total{type=\"AUTH_DENY\"} 1",
            "signet_rate_limited_total 0",
            "signet_signer_up 0",
            "signet_signer_restarts_total 0",
            "signet_sealed_key_loads_total 0",
            "signet_storage_errors_total 0",
            "signet_journal_commit_seconds_bucket",
            "signet_kms_requests_total{operation=\"decrypt\",outcome=\"error\"} 0",
            "signet_kms_requests_total{operation=\"generate_data_key\",outcome=\"ok\"} 0",
            "signet_signer_sealed 0",
            "signet_eth_upstream_requests_total{outcome=\"error\"} 0",
            "signet_eth_upstream_requests_total{outcome=\"refused\"} 0",
            "signet_build_info{version=",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn the_audit_export_success_time_is_exported_only_by_a_host_that_exports() {
        let name = "signet_audit_export_last_success_timestamp_seconds";
        assert!(!Metrics::default().encode().contains(name));
        let m = Metrics::default().with_audit_export();
        assert!(
            m.encode().contains(&format!("{name} 0")),
            "0 until a success"
        );
        if let Some(g) = &m.audit_export_last_success {
            g.set(1_700_000_000);
        }
        assert!(m.encode().contains(&format!("{name} 1700000000")));
    }
}
