//! `/health` (liveness) and `/ready` (storage and an attested signer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::Shared;
use crate::http::views::{HealthView, ReadyView};

/// `GET /health`.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "The process is alive", body = HealthView)))]
pub async fn health() -> Json<HealthView> {
    Json(HealthView {
        ok: true,
        service: "signet-host",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `GET /ready`: 200 when storage and an attested signer are reachable,
/// else 503 with reasons; 503 while draining.
#[utoipa::path(get, path = "/ready", tag = "health", responses((status = 200, description = "Storage and an attested signer are reachable", body = ReadyView), (status = 503, description = "Not ready, with reasons (no internal detail)", body = ReadyView)))]
pub async fn ready(State(service): State<Shared>) -> (StatusCode, Json<ReadyView>) {
    let readiness = service.readiness().await;
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(ReadyView {
            ready: readiness.ready(),
            reasons: readiness.reasons,
        }),
    )
}
