//! `GET /v1/audit?after=SEQ&limit=N`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::Shared;
use crate::http::error::{
    responses::{Authorized, BadInput},
    ApiError,
};
use crate::http::extract::{page_limit, ApiQuery, Authn};
use crate::http::views::AuditPage;

/// The query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    /// Page size, 1 to 1000 (100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of the events the caller may read.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), responses((status = 200, description = "Events the caller may read (its tenant's; all for operators)", body = AuditPage), Authorized, BadInput), security(("bearer" = [])))]
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
