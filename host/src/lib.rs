//! The Signet host: authenticates API clients, applies scopes, tenancy, rate
//! limits and tickets, keeps wallets, sealed keys and the hash-chained audit
//! log in storage (SQLite or PostgreSQL, shared by replicas), and talks to
//! the signer over vsock or a unix socket.
//!
//! Layers: [`http`] (axum: routes, extractors, views, the error mapping)
//! calls [`service`] (what the host does; no axum, no SQL), which calls
//! [`store`] (the database and its journal) and [`signer`] (the pool of
//! attested signer connections); every arrow points down, none back.
//! [`domain`] holds the types they share (owners, wallets, intents and
//! their states), [`config`] the validated settings. [`dev`] is the
//! one-command embedded start.

pub mod backup;
pub mod config;
pub mod dev;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod service;
pub mod signer;
pub mod store;

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
