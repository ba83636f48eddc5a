//! `GET /metrics`: Prometheus' scrape (OpenMetrics text). Open by default;
//! with `METRICS_REQUIRE_API_KEY=true` it sits behind the authentication
//! layer and needs `metrics:read`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::http::error::ApiError;
use crate::http::extract::Authn;

const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Without a token.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus (OpenMetrics) text; with `METRICS_REQUIRE_API_KEY=true` a token with `metrics:read` is required (401/403)", content_type = "application/openmetrics-text")))]
pub async fn open(State(service): State<Shared>) -> Result<Response, ApiError> {
    let text = service.metrics_text(None).await?;
    Ok(([(CONTENT_TYPE, CONTENT)], text).into_response())
}

/// With a token holding `metrics:read`.
pub async fn authenticated(
    State(service): State<Shared>,
    Authn(p): Authn,
) -> Result<Response, ApiError> {
    let text = service.metrics_text(Some(&p)).await?;
    Ok(([(CONTENT_TYPE, CONTENT)], text).into_response())
}
