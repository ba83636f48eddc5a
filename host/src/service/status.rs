//! What the host says about itself: readiness (`/ready`), the operators'
//! status (`/v1/admin/status`), the console's settings and the metrics
//! scrape.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use signet_proto::message::SignerStatus;
use signet_proto::time::now_ms;

use super::authz::{Principal, Scope};
use super::replicas::ReplicaStatus;
use super::sealing::SealingStatus;
use super::{Error, Result, Service};
use crate::config::AttestationCheck;

/// Whether this replica can serve, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Why not (empty: ready). No internal detail: paths, ARNs and PCRs are
    /// for `/v1/admin/status`.
    pub reasons: Vec<String>,
}

impl Readiness {
    /// Ready to serve.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// The host, its storage and its signer, for operators.
#[derive(Clone, Debug)]
pub struct Status {
    /// The host's version.
    pub version: &'static str,
    /// Seconds since this process started.
    pub uptime_seconds: u64,
    /// The database: `sqlite` or `postgres`.
    pub dialect: &'static str,
    /// The signer's own status, when it answered.
    pub signer: Option<SignerStatus>,
    /// Why the last connection attempt failed (paths, PCR values:
    /// operators only).
    pub last_connect_error: Option<String>,
    /// The module id of the signer's last verified attestation document.
    pub module_id: Option<String>,
    /// KMS sealing, when this host uses it.
    pub sealing: Option<SealingStatus>,
    /// The freezes in force.
    pub frozen: Arc<Vec<crate::domain::Freeze>>,
    /// The replicas sharing the database (this one included once its
    /// first heartbeat is recorded), oldest start first.
    pub replicas: Vec<ReplicaStatus>,
}

/// What `/v1/admin/status` shows its caller.
#[derive(Clone, Debug)]
pub enum StatusReport {
    /// An operator (`admin:status` and `operator`): the host, its storage,
    /// signer, sealing and replicas, which serve every tenant.
    Operator(Box<Status>),
    /// A tenant's client with `admin:status` but not `operator`: its own
    /// tenant's counts, none of the shared state (the signer's errors, KMS,
    /// sealing, the replicas, other tenants' keys).
    Tenant(TenantStatus),
}

/// A tenant's own view of `/v1/admin/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantStatus {
    /// The tenant.
    pub tenant: String,
    /// Its live wallets.
    pub wallets: u64,
    /// Its API clients that are not revoked (a client revoked with a grace
    /// period counts until it ends).
    pub api_clients: u64,
}

/// How people sign in to the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginMode {
    /// Through the Telegram bot.
    Telegram,
    /// Test mode: a challenge resolves at once for a given Telegram user id.
    Test,
    /// No user login.
    Off,
}

impl LoginMode {
    /// The console's name for it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Telegram => "telegram",
            Self::Test => "test",
            Self::Off => "off",
        }
    }
}

/// What the console needs to know before anyone signs in.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// How to sign in.
    pub login: LoginMode,
    /// The bot to open (Telegram mode).
    pub bot_username: Option<String>,
    /// The attestation policy this host enforces on its signer, published
    /// so that anyone can verify documents against it (`None`: not checked).
    pub policy: Option<serde_json::Value>,
    /// The passkeys' relying party (`CONSOLE_RP_ID`; `None`: the console
    /// uses its page's host name).
    pub rp_id: Option<String>,
}

impl Service {
    /// Readiness: not draining, storage answers, an attested signer (with
    /// its sealing keys) can be reached.
    pub async fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        if self.draining.load(Ordering::Relaxed) {
            reasons.push("draining: shutting down".to_owned());
        }
        if let Err(e) = self.store.ping().await {
            tracing::warn!(error = %e, "readiness: storage");
            reasons.push("storage: unavailable".to_owned());
        }
        if let Err(e) = self.signer.ready().await {
            // With KMS sealing, say what kind of failure keeps the key away.
            let kind = self
                .sealing_manager
                .as_ref()
                .and_then(|m| m.last_failure())
                .and_then(|f| f.kind());
            reasons.push(match kind {
                Some(kind) => format!("{e} ({kind})"),
                None => e.to_string(),
            });
        }
        Readiness { reasons }
    }

    /// `/v1/admin/status` (`admin:status`): an operator's view of the
    /// host, its storage, signer, sealing and replicas, or, for a tenant's
    /// client without `operator`, its own tenant's counts only (the signer,
    /// KMS, sealing and replicas serve every tenant, and their errors name
    /// paths and PCRs).
    /// An unreachable signer is part of the status, not a failure of it.
    pub async fn status(&self, principal: &Principal) -> Result<StatusReport> {
        self.require(principal, Scope::AdminStatus, "status")
            .await?;
        if !principal.is_operator() {
            let (wallets, api_clients) = self
                .store
                .tenant_counts(&principal.owner(), principal.tenant(), now_ms())
                .await?;
            return Ok(StatusReport::Tenant(TenantStatus {
                tenant: principal.tenant().to_owned(),
                wallets,
                api_clients,
            }));
        }
        let signer = self.signer.status().await.ok();
        let sealing = self.sealing_status().await?;
        let replicas = self.replicas().await?;
        Ok(StatusReport::Operator(Box::new(Status {
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.started.elapsed().as_secs(),
            dialect: self.store.dialect().as_str(),
            signer,
            last_connect_error: self.signer.last_error(),
            module_id: self.signer.info().module_id,
            sealing,
            frozen: self.freezes(),
            replicas,
        })))
    }

    /// The console's settings.
    #[must_use]
    pub fn console_settings(&self) -> ConsoleSettings {
        let login = &self.config.login;
        let mode = if login.bot_token.is_some() {
            LoginMode::Telegram
        } else if login.test_mode {
            LoginMode::Test
        } else {
            LoginMode::Off
        };
        ConsoleSettings {
            login: mode,
            bot_username: (mode == LoginMode::Telegram).then(|| login.bot_username.clone()),
            policy: match &self.config.attestation {
                AttestationCheck::Policy { published, .. } => Some(published.clone()),
                AttestationCheck::InsecureSkip => None,
            },
            rp_id: self.config.console_rp_id.clone(),
        }
    }

    /// The metrics scrape (OpenMetrics text). With
    /// `METRICS_REQUIRE_API_KEY=true` the caller needs `metrics:read`.
    pub async fn metrics_text(&self, principal: Option<&Principal>) -> Result<String> {
        match principal {
            Some(p) => self.require(p, Scope::MetricsRead, "metrics").await?,
            None if self.config.metrics_require_api_key => {
                return Err(Error::Unauthenticated(
                    "a token with `metrics:read` is required (METRICS_REQUIRE_API_KEY=true)",
                ))
            }
            None => {}
        }
        Ok(self.metrics.encode())
    }
}
