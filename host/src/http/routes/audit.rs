//! `GET /v1/audit?after=SEQ&limit=N`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::Shared;
use crate::http::error::ApiError;
use crate::http::extract::{page_limit, ApiQuery, Authn};
use crate::http::views::AuditPage;

/// The query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// A page of the events the caller may read.
pub async fn page(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000)?;
    let events = service.audit_page(&p, q.after.unwrap_or(0), limit).await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage { events, next }))
}
