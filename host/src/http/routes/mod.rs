//! Handlers, one file per resource. Each parses its input, calls the
//! service once, and returns a typed view.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod console;
pub mod eth;
pub mod health;
pub mod intents;
pub mod metrics;
pub mod signing;
pub mod wallets;

use std::sync::Arc;

use crate::service::Service;

/// The state handlers receive.
pub type Shared = Arc<Service>;
