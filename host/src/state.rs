//! Shared state of the API server.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use signet_proto::ticket::TicketKeys;

use crate::auth::{ClientCache, RateLimiter};
use crate::config::Config;
use crate::enclave::EnclavePool;
use crate::store::Store;

/// Everything handlers need.
pub struct AppState {
    /// Validated configuration.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Signer connections.
    pub enclave: EnclavePool,
    /// Ticket keys (the same secrets as the signer's).
    pub tickets: TicketKeys,
    /// Recently read API clients.
    pub clients: ClientCache,
    /// Recently read wallets (`None` = absent or destroyed).
    pub wallets: crate::cache::TtlCache<Option<crate::store::WalletRow>>,
    /// Rate-limit counters.
    pub limits: RateLimiter,
    /// Set while shutting down: `/ready` answers 503.
    pub draining: AtomicBool,
    /// Start time.
    pub started: Instant,
}
