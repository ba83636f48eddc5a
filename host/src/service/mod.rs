//! The service: what the host does, without HTTP or SQL. Handlers in
//! [`crate::http`] call its operations; it calls [`crate::store`] and
//! [`crate::signer`], never the other way round.

pub mod approvals;
pub mod audit;
pub mod authz;
pub mod aws;
pub mod cache;
pub mod clients;
pub mod confirmations;
pub mod digest;
pub mod error;
pub mod eth;
pub mod export;
pub mod freeze;
pub mod limits;
pub mod maintenance;
pub mod owners;
pub mod replicas;
pub mod sealing;
pub mod sessions;
pub mod signing;
mod status;
pub mod telegram;
pub mod text;
pub mod wallets;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use signet_proto::ticket::TicketKeys;

use self::audit::{Auditor, Event, Outcome, SecurityEvent};
use self::authz::{Principal, Scope};
use self::cache::TtlCache;
use self::limits::{FailureRecord, Limit, PeerGuard, RateLimiter};
use crate::config::Config;
use crate::domain::{ApiClient, Wallet};
use crate::metrics::Metrics;
use crate::signer::SignerPool;
use crate::store::{Store, StoreError};

pub use self::error::{Error, Result};
pub use self::status::{ConsoleSettings, LoginMode, Readiness, Status, StatusReport, TenantStatus};

/// How long a replica serves a client or wallet row it read before reading
/// it again: a change made on another replica (a revocation, a destroyed
/// wallet) applies here within this time. Changes made on this replica
/// apply at once.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// What the host does; one per process, shared by handlers, which call its
/// operations (never its parts).
pub struct Service {
    /// Validated configuration.
    config: Config,
    /// Database.
    store: Store,
    /// Signer connections.
    signer: SignerPool,
    /// Ticket keys (the same secrets as the signer's).
    tickets: TicketKeys,
    /// The audit writer.
    audit: Auditor,
    /// Recently read API clients.
    clients: TtlCache<Option<Arc<ApiClient>>>,
    /// When this replica last recorded each client's use (ms): at most
    /// one write a minute per client.
    client_uses: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Recently read wallets (`None` = absent or destroyed).
    wallets: TtlCache<Option<Arc<Wallet>>>,
    /// Intents minted here that need no approval, until their ticket is
    /// used or expires: nothing about them can change (no decision applies
    /// to them; their wallet's own state is checked at use), so their
    /// ticket is checked without a read.
    minted: TtlCache<Arc<crate::domain::Intent>>,
    /// Per-client and per-wallet limits, shared through the database.
    limits: RateLimiter,
    /// Authentication failures per peer address.
    peers: PeerGuard,
    /// Login challenges per peer address.
    challenge_peers: PeerGuard,
    /// Prometheus metrics.
    metrics: Metrics,
    /// This process's id in leases (one holder of a duty across replicas).
    replica_id: String,
    /// Set while shutting down: `/ready` answers 503.
    draining: AtomicBool,
    /// Start time.
    started: Instant,
    /// Session JWT keys.
    sessions: signet_proto::jwt::Keys,
    /// The Telegram bot (`TELEGRAM_BOT_TOKEN`).
    bot: Option<Arc<telegram::Bot>>,
    /// KMS sealing (`SIGNET_SEALING=kms`).
    sealing_manager: Option<Arc<sealing::SealingManager>>,
    /// The chain id, once known (`/v1/eth`).
    eth_chain: OnceLock<u64>,
    /// The client of `ETH_RPC_UPSTREAM`.
    eth_agent: ureq::Agent,
    /// Wallet ids by lower-case Ethereum address (`/v1/eth`). A wallet's key
    /// never changes, so an entry never goes stale; ownership and destruction
    /// are checked on the wallet row at each use.
    eth_addresses: TtlCache<String>,
    /// Where the audit log is pushed (`AUDIT_EXPORT_URL`).
    audit_sink: Option<Arc<export::AuditSink>>,
    /// The freezes in force (refreshed from the database every 250 ms).
    freezes: freeze::Freezes,
}

impl Service {
    /// Opens storage and prepares the signer pool for `config`.
    pub async fn open(config: Config) -> std::result::Result<Self, OpenError> {
        let metrics = if config.audit_export.is_some() {
            Metrics::default().with_audit_export()
        } else {
            Metrics::default()
        };
        let store = Store::open_with(&config.database_url, metrics.store.clone()).await?;
        let signer = SignerPool::new(&config, metrics.signer.clone());
        let tickets = TicketKeys::new(
            config.ticket_secret.clone(),
            config.ticket_secret_previous.clone(),
        );
        if config.login.test_mode {
            tracing::warn!("user login in TEST MODE: a challenge resolves at once for the telegram_user_id in its body; never expose this host");
        }
        let replica_id = export::replica_id();
        let audit = Auditor::new(store.journal().clone());
        // In force from the first request, not from the first refresh.
        let freezes = freeze::Freezes::new(store.freezes().await?);
        let sealing_manager = match &config.sealing {
            crate::config::SealingConfig::Dev => None,
            crate::config::SealingConfig::Kms(kms) => {
                let manager = Arc::new(sealing::SealingManager::new(
                    store.clone(),
                    kms.clone(),
                    replica_id.clone(),
                    audit.clone(),
                    config.rotation_grace,
                    metrics.sealing.clone(),
                )?);
                signer.set_on_connect(manager.clone());
                Some(manager)
            }
        };
        let audit_sink = config
            .audit_export
            .as_ref()
            .map(export::AuditSink::new)
            .transpose()?
            .map(Arc::new);
        Ok(Self {
            freezes,
            audit_sink,
            sessions: sessions::session_keys(&config),
            bot: config.login.bot_token.clone().map(|token| {
                Arc::new(telegram::Bot::new(
                    &config.login.api_base,
                    token,
                    config.login.poll_timeout,
                ))
            }),
            sealing_manager,
            eth_chain: OnceLock::new(),
            eth_addresses: TtlCache::new(Duration::from_secs(24 * 3600)),
            eth_agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .build(),
            audit,
            limits: RateLimiter::new(config.rate_limit_window),
            peers: PeerGuard::new(config.auth_failures_per_peer, limits_window()),
            challenge_peers: PeerGuard::new(config.challenges_per_peer, limits_window()),
            clients: TtlCache::new(CACHE_TTL),
            client_uses: std::sync::Mutex::default(),
            wallets: TtlCache::new(CACHE_TTL),
            minted: TtlCache::new(config.ticket_ttl),
            config,
            store,
            signer,
            tickets,
            metrics,
            replica_id,
            draining: AtomicBool::new(false),
            started: Instant::now(),
        })
    }

    /// The configuration this service runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The metrics (for the HTTP layers that count requests).
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The database, for the offline `admin` commands, the dev bootstrap
    /// and tests; requests go through the service's operations.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Marks this process as shutting down: `/ready` answers 503 from now.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Writes the rate-limit hits counted here to the shared counters now
    /// (they are written periodically otherwise).
    pub async fn flush_rate_limits(&self) {
        self.limits.flush(&self.store).await;
    }

    /// Counts a security event and records it in the audit log (a capped
    /// row; see [`audit`]) as `actor` on `target` for `reason`.
    pub(crate) async fn deny(
        &self,
        event: SecurityEvent,
        by: Denier<'_>,
        target: &str,
        reason: Outcome,
    ) {
        self.metrics.security_event(event.as_str());
        let Some(action) = event.action() else {
            return;
        };
        let event = match by {
            Denier::Principal(p) => Event::by(p, action, target, reason),
            Denier::Anonymous => Event::new("anonymous", action, target, reason),
            Denier::Telegram(id) => Event::new(format!("telegram:{id}"), action, target, reason),
        };
        self.audit.record(event).await;
    }

    /// `ADMIN_ALLOWED_CIDRS`: `/v1/admin/*`, and every request of a
    /// principal holding `operator`, are taken only from those networks;
    /// from elsewhere 403 `network_denied`, a `NETWORK_DENY` event and a
    /// log line with the address. Unset: any address.
    pub async fn admit_network(
        &self,
        principal: &Principal,
        peer: std::net::IpAddr,
        path: &str,
    ) -> Result<()> {
        let networks = &self.config.admin_allowed_cidrs;
        if networks.is_empty() {
            return Ok(());
        }
        let guarded = path.starts_with("/v1/admin/") || principal.has(Scope::Operator);
        let peer = peer.to_canonical();
        if !guarded || networks.iter().any(|n| n.contains(&peer)) {
            return Ok(());
        }
        tracing::warn!(%peer, path, actor = %principal.actor(), "refused: outside ADMIN_ALLOWED_CIDRS");
        self.deny(
            SecurityEvent::NetworkDeny,
            Denier::Principal(principal),
            path,
            Outcome::denied("network_denied"),
        )
        .await;
        Err(Error::NetworkDenied)
    }

    /// Refuses (with a `SCOPE_DENY` event) unless `principal` holds `scope`.
    pub async fn require(&self, principal: &Principal, scope: Scope, target: &str) -> Result<()> {
        if principal.has(scope) {
            return Ok(());
        }
        self.deny(
            SecurityEvent::ScopeDeny,
            Denier::Principal(principal),
            target,
            Outcome::denied(scope.as_str()),
        )
        .await;
        Err(Error::ScopeDenied(scope))
    }

    /// The configured value of `limit` (0 = unlimited).
    fn limit_value(&self, limit: Limit) -> u64 {
        match limit {
            Limit::PerClient => self.config.rate_limit_per_client,
            Limit::PerWalletSign => self.config.rate_limit_per_wallet_sign,
            Limit::AuthFailuresPerPeer => self.config.auth_failures_per_peer,
            Limit::ChallengesPerPeer => self.config.challenges_per_peer,
        }
    }

    /// Counts a hit of `principal` on `limit` under `key`; past it, records
    /// a `RATE_LIMIT` event and refuses.
    pub async fn rate_limit(
        &self,
        principal: &Principal,
        limit: Limit,
        key: &str,
        target: &str,
    ) -> Result<()> {
        match self
            .limits
            .hit(&self.store, key, self.limit_value(limit))
            .await
        {
            Ok(()) => Ok(()),
            Err(retry_after) => {
                self.metrics.rate_limited.inc();
                let e = Error::RateLimited { limit, retry_after };
                self.deny(
                    SecurityEvent::RateLimit,
                    Denier::Principal(principal),
                    target,
                    Outcome::of(&e),
                )
                .await;
                Err(e)
            }
        }
    }

    /// Charges the calls of a JSON-RPC batch against the caller's
    /// `RATE_LIMIT_PER_USER`, so that a batch of `calls` costs what as many
    /// requests cost: the HTTP request that carried it was charged once
    /// when it was authenticated, so `calls - 1` more hits. Which calls,
    /// from the first, may run; when not all, the refusal of the others:
    /// one `RATE_LIMIT` event for the batch, each refused call counted in
    /// `signet_rate_limited_total`.
    pub async fn charge_batch(
        &self,
        principal: &Principal,
        calls: usize,
        target: &str,
    ) -> BatchCharge {
        let extra = u64::try_from(calls.saturating_sub(1)).unwrap_or(u64::MAX);
        let admitted = self
            .limits
            .hit_many(
                &self.store,
                &principal.actor(),
                extra,
                self.limit_value(Limit::PerClient),
            )
            .await;
        let runs = usize::try_from(admitted.hits)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(calls);
        let Some(retry_after) = admitted.retry_after else {
            return BatchCharge {
                runs: calls,
                refusal: None,
            };
        };
        let refused = calls - runs;
        self.metrics
            .rate_limited
            .inc_by(u64::try_from(refused).unwrap_or(u64::MAX));
        let e = Error::RateLimited {
            limit: Limit::PerClient,
            retry_after,
        };
        self.deny(
            SecurityEvent::RateLimit,
            Denier::Principal(principal),
            target,
            Outcome::of(&e),
        )
        .await;
        BatchCharge {
            runs,
            refusal: Some(e),
        }
    }

    /// Before refusing a failed authentication of `peer` (a bad token, a
    /// wrong webhook secret): `Err` (429) once the peer is over
    /// `RATE_LIMIT_AUTH_FAILURES_PER_IP`. Such a refusal is counted as
    /// `event` and `RATE_LIMIT` in the metrics and in the peer's next
    /// `AUTH_DENY_FLOOD`, never as a row of its own.
    pub(crate) fn refuse_peer_over_limit(&self, peer: IpAddr, event: SecurityEvent) -> Result<()> {
        if let Err(retry_after) = self.peers.check(peer) {
            self.metrics.rate_limited.inc();
            self.metrics
                .security_event(SecurityEvent::RateLimit.as_str());
            self.metrics.security_event(event.as_str());
            return Err(Error::RateLimited {
                limit: Limit::AuthFailuresPerPeer,
                retry_after,
            });
        }
        Ok(())
    }

    /// A failed authentication of `peer`: recorded as `event` on `target`
    /// while the peer's (and the window's) row budget lasts, else counted
    /// only (the metrics, and the peer's next `AUTH_DENY_FLOOD`).
    pub(crate) async fn record_peer_failure(
        &self,
        peer: IpAddr,
        event: SecurityEvent,
        target: &str,
        reason: Outcome,
    ) {
        if self.peers.failed(peer) == FailureRecord::Log {
            self.deny(event, Denier::Anonymous, target, reason).await;
        } else {
            self.metrics.security_event(event.as_str());
        }
    }

    /// Audit events the principal may read (`audit:read`): every tenant's
    /// for operators, else the principal's tenant's.
    pub async fn audit_page(
        &self,
        principal: &Principal,
        after: u64,
        limit: u32,
        filter: &crate::store::AuditFilter,
    ) -> Result<Vec<signet_proto::audit::AuditEvent>> {
        self.require(principal, Scope::AuditRead, "audit").await?;
        Ok(self
            .store
            .audit(after, limit, principal.tenant_filter(), filter)
            .await?)
    }
}

/// The window of the per-peer authentication failure limit.
#[must_use]
pub fn limits_window() -> Duration {
    Duration::from_secs(60)
}

/// What [`Service::charge_batch`] admitted of a JSON-RPC batch.
#[derive(Debug)]
pub struct BatchCharge {
    /// How many calls, from the first, may run.
    pub runs: usize,
    /// Why the others may not (`None` when all may run).
    pub refusal: Option<Error>,
}

/// Who a security event is recorded as.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Denier<'a> {
    /// An authenticated caller (in their tenant's view of the log).
    Principal(&'a Principal),
    /// A caller without valid credentials (operators' view only).
    Anonymous,
    /// A Telegram user, by id (operators' view only).
    Telegram(i64),
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// KMS sealing could not be prepared.
    #[error(transparent)]
    Sealing(#[from] sealing::SealingError),
    /// The audit sink could not be set up.
    #[error(transparent)]
    AuditExport(#[from] export::ExportError),
}
