//! Handlers, one file per resource. Each parses its input, calls the
//! service once, and returns a typed view.
//!
//! Each handler's `#[utoipa::path]` is both its route and its OpenAPI
//! description ([`super::router`] registers it with utoipa-axum's
//! `routes!`): its `path` is the full path (routes are not nested; the
//! alias `/v1/identities…` is rewritten to `/v1/wallets…` before routing),
//! and its error statuses are the shared sets of
//! [`super::error::responses`] plus the route's own.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod console;
pub mod eth;
pub mod health;
pub mod intents;
pub mod metrics;
pub mod people;
pub mod signing;
pub mod wallets;

use std::sync::Arc;

use crate::service::Service;

/// The state handlers receive.
pub type Shared = Arc<Service>;
