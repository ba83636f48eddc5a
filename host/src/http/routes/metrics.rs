//! `GET /metrics`: Prometheus' scrape (OpenMetrics text). Open by default;
//! with `METRICS_REQUIRE_API_KEY=true` the router puts it behind the
//! authentication layer and it needs `metrics:read`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::http::error::ApiError;
use crate::http::extract::Authn;

const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The scrape.
#[utoipa::path(get, path = "/metrics", operation_id = "open", tag = "health", responses((status = 200, description = "Prometheus (OpenMetrics) text; with `METRICS_REQUIRE_API_KEY=true` a token with `metrics:read` is required (401/403)", content_type = "application/openmetrics-text")))]
pub async fn scrape(
    State(service): State<Shared>,
    caller: Option<Authn>,
) -> Result<Response, ApiError> {
    // Behind the authentication layer the caller is known; open, it is not
    // (and the service refuses a missing caller when the key is required).
    let text = service
        .metrics_text(caller.as_ref().map(|Authn(p)| p))
        .await?;
    Ok(([(CONTENT_TYPE, CONTENT)], text).into_response())
}
