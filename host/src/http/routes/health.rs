//! `/health` (liveness) and `/ready` (storage and an attested signer).

use std::sync::atomic::Ordering;

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
    let mut reasons = Vec::new();
    if service.draining.load(Ordering::Relaxed) {
        reasons.push("draining: shutting down".to_owned());
    }
    if let Err(e) = service.store.ping().await {
        tracing::warn!(error = %e, "readiness: storage");
        reasons.push("storage: unavailable".to_owned());
    }
    if let Err(e) = service.signer.ready().await {
        // With KMS sealing, say what kind of failure keeps the key away
        // (the code only: ARNs and PCRs are for /v1/admin/status).
        let kind = service
            .sealing_manager
            .as_ref()
            .and_then(|m| m.last_failure())
            .and_then(|f| {
                let code = f.split(':').next().unwrap_or_default().to_owned();
                code.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
                    .then_some(code)
            })
            .filter(|c| !c.is_empty());
        reasons.push(match kind {
            Some(kind) => format!("{e} ({kind})"),
            None => e,
        });
    }
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(ReadyView {
            ready: reasons.is_empty(),
            reasons,
        }),
    )
}
