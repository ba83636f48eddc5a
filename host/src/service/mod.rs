//! The service: what the host does, without HTTP or SQL. Handlers in
//! [`crate::http`] call it; it calls [`crate::store`] and [`crate::signer`].

pub mod approvals;
pub mod audit;
pub mod authz;
pub mod aws;
pub mod cache;
pub mod clients;
pub mod digest;
pub mod error;
pub mod eth;
pub mod export;
pub mod limits;
pub mod maintenance;
pub mod sealing;
pub mod sessions;
pub mod signing;
pub mod telegram;
pub mod wallets;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use signet_proto::ticket::TicketKeys;

use self::audit::{Action, Auditor, Event, Outcome};
use self::authz::{Principal, Scope};
use self::cache::TtlCache;
use self::limits::{PeerGuard, RateLimiter};
use crate::config::Config;
use crate::signer::SignerPool;
use crate::store::{ApiClientRow, Store, StoreError, WalletRow};

pub use self::error::{Error, Result};

/// How long a replica serves a client or wallet row it read before reading
/// it again: a change made on another replica (a revocation, a destroyed
/// wallet) applies here within this time. Changes made on this replica
/// apply at once.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// Everything the service needs; one per process, shared by handlers.
pub struct Service {
    /// Validated configuration.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Signer connections.
    pub signer: SignerPool,
    /// Ticket keys (the same secrets as the signer's).
    pub tickets: TicketKeys,
    /// The audit writer.
    pub audit: Auditor,
    /// Recently read API clients.
    pub clients: TtlCache<Option<ApiClientRow>>,
    /// Recently read wallets (`None` = absent or destroyed).
    pub wallets: TtlCache<Option<WalletRow>>,
    /// Per-client and per-wallet limits, shared through the database.
    pub limits: RateLimiter,
    /// Authentication failures per peer address.
    pub peers: PeerGuard,
    /// Login challenges per peer address.
    pub challenge_peers: PeerGuard,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// This process's id in leases (one holder of a duty across replicas).
    pub replica_id: String,
    /// Set while shutting down: `/ready` answers 503.
    pub draining: AtomicBool,
    /// Start time.
    pub started: Instant,
    /// Session JWT keys.
    pub sessions: signet_proto::jwt::Keys,
    /// The Telegram bot (`TELEGRAM_BOT_TOKEN`).
    pub bot: Option<std::sync::Arc<telegram::Bot>>,
    /// KMS sealing (`SIGNET_SEALING=kms`).
    pub sealing_manager: Option<std::sync::Arc<sealing::SealingManager>>,
    /// The chain id, once known (`/v1/eth`).
    pub eth_chain: std::sync::OnceLock<u64>,
    /// The client of `ETH_RPC_UPSTREAM`.
    pub eth_agent: ureq::Agent,
    /// Wallet ids by lower-case Ethereum address (`/v1/eth`). A wallet's key
    /// never changes, so an entry never goes stale; ownership and destruction
    /// are checked on the wallet row at each use.
    pub eth_addresses: TtlCache<String>,
}

impl Service {
    /// Opens storage and prepares the signer pool for `config`.
    pub async fn open(config: Config) -> std::result::Result<Self, StoreError> {
        let metrics = crate::metrics::Metrics::default();
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
        let sealing_manager = match &config.sealing {
            crate::config::SealingConfig::Dev => None,
            crate::config::SealingConfig::Kms(kms) => {
                let manager = std::sync::Arc::new(
                    sealing::SealingManager::new(
                        store.clone(),
                        kms.clone(),
                        replica_id.clone(),
                        audit.clone(),
                        config.rotation_grace,
                    )
                    .map_err(StoreError)?,
                );
                signer.set_on_connect(manager.clone());
                Some(manager)
            }
        };
        Ok(Self {
            sessions: sessions::session_keys(&config),
            bot: config.login.bot_token.clone().map(|token| {
                std::sync::Arc::new(telegram::Bot::new(
                    &config.login.api_base,
                    token,
                    config.login.poll_timeout,
                ))
            }),
            sealing_manager,
            eth_chain: std::sync::OnceLock::new(),
            eth_addresses: TtlCache::new(std::time::Duration::from_secs(24 * 3600)),
            eth_agent: ureq::AgentBuilder::new()
                .timeout_connect(std::time::Duration::from_secs(5))
                .build(),
            audit,
            limits: RateLimiter::new(config.rate_limit_window),
            peers: PeerGuard::new(config.auth_failures_per_peer, limits_window()),
            challenge_peers: PeerGuard::new(config.challenges_per_peer, limits_window()),
            clients: TtlCache::new(CACHE_TTL),
            wallets: TtlCache::new(CACHE_TTL),
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

    /// Refuses (with a `SCOPE_DENY` event) unless `principal` holds `scope`.
    pub async fn require(&self, principal: &Principal, scope: Scope, target: &str) -> Result<()> {
        if principal.has(scope) {
            return Ok(());
        }
        self.metrics.security_event("SCOPE_DENY");
        self.audit
            .record(Event::by(
                principal,
                Action::ScopeDeny,
                target,
                Outcome::Denied(scope.as_str().to_owned()),
            ))
            .await;
        Err(Error::ScopeDenied(scope))
    }

    /// Counts a hit on a rate-limit key; past `limit`, records a
    /// `RATE_LIMIT` event and refuses.
    pub async fn rate_limit(
        &self,
        principal: &Principal,
        key: &str,
        limit: u64,
        target: &str,
    ) -> Result<()> {
        match self.limits.hit(&self.store, key, limit).await {
            Ok(()) => Ok(()),
            Err(retry_after) => {
                self.metrics.rate_limited.inc();
                self.metrics.security_event("RATE_LIMIT");
                self.audit
                    .record(Event::by(
                        principal,
                        Action::RateLimit,
                        target,
                        Outcome::Denied("rate_limited".into()),
                    ))
                    .await;
                Err(Error::RateLimited { retry_after })
            }
        }
    }

    /// Audit events the principal may read (`audit:read`): every tenant's
    /// for operators, else the principal's tenant's.
    pub async fn audit_page(
        &self,
        principal: &Principal,
        after: u64,
        limit: u32,
    ) -> Result<Vec<signet_proto::audit::AuditEvent>> {
        self.require(principal, Scope::AuditRead, "audit").await?;
        Ok(self
            .store
            .audit(after, limit, principal.tenant_filter())
            .await?)
    }
}

/// The window of the per-peer authentication failure limit.
#[must_use]
pub fn limits_window() -> Duration {
    Duration::from_secs(60)
}
