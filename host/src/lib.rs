//! The Signet host: authenticates API clients, applies scopes, tenancy, rate
//! limits and tickets, keeps wallets, sealed keys and the hash-chained audit
//! log in storage, and talks to the signer over vsock or a unix socket.

pub mod api;
pub mod auth;
pub mod cache;
pub mod config;
pub mod dev;
pub mod digest;
pub mod enclave;
pub mod error;
pub mod server;
pub mod state;
pub mod store;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signet_proto::ticket::TicketKeys;

use crate::auth::{ClientCache, RateLimiter};
use crate::config::Config;
use crate::enclave::EnclavePool;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// Opens storage and prepares the signer pool for `config`.
pub async fn build_state(config: Config) -> Result<Arc<AppState>, StoreError> {
    let store = Store::open(&config.database_url).await?;
    let enclave = EnclavePool::new(
        config.enclave_addr.clone(),
        config.internal_api_key.clone(),
        config.attestation.clone(),
        config.enclave_connections,
    );
    let tickets = TicketKeys::new(
        config.ticket_secret.clone(),
        config.ticket_secret_previous.clone(),
    );
    Ok(Arc::new(AppState {
        limits: RateLimiter::new(config.rate_limit_window),
        clients: ClientCache::new(Duration::from_secs(2)),
        wallets: crate::cache::TtlCache::new(Duration::from_secs(2)),
        config,
        store,
        enclave,
        tickets,
        draining: AtomicBool::new(false),
        started: Instant::now(),
    }))
}

/// Sets up logging (`SIGNET_LOG_FORMAT=json|text`, filter `SIGNET_LOG`).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
