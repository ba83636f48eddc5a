//! `GET /v1/audit?after=SEQ&limit=N` and its filters (`action`, `outcome`,
//! `actor`, `target`, `since`, `until`).

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
use crate::store::AuditFilter;

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
    /// Only this action (`sign`, `AUTH_DENY`, `LOGIN_REFUSED`, …).
    #[serde(default)]
    #[param(max_length = 128)]
    action: Option<String>,
    /// Only this outcome: `ok`, `denied`, `error` (each with any code), or
    /// one with its code (`denied:scope_denied`).
    #[serde(default)]
    #[param(max_length = 128)]
    outcome: Option<String>,
    /// Only this actor (`client:<id>`, `user:<id>`, `telegram:<id>`, `anonymous`, …).
    #[serde(default)]
    #[param(max_length = 256)]
    actor: Option<String>,
    /// Only this target (a wallet id, a client id, a path, …).
    #[serde(default)]
    #[param(max_length = 256)]
    target: Option<String>,
    /// From this time (RFC 3339, UTC, inclusive).
    #[serde(default)]
    since: Option<String>,
    /// Until this time (RFC 3339, UTC, exclusive).
    #[serde(default)]
    until: Option<String>,
}

/// A filter value: at most `max` bytes, no control characters.
fn text(name: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.is_empty() || v.len() > max || v.chars().any(char::is_control) => Err(
            ApiError::bad_request(format!("`{name}` must be 1 to {max} bytes of text")),
        ),
        v => Ok(v),
    }
}

/// A time bound: RFC 3339 UTC (`2026-12-06T10:00:00Z`, fractions allowed),
/// written as the log writes times so that they compare as text.
fn time(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    value
        .map(|v| {
            signet_proto::time::parse_rfc3339_utc(&v)
                .map(|s| signet_proto::time::rfc3339_ms(s.saturating_mul(1000)))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{name}` must be an RFC 3339 UTC time such as 2026-12-06T10:00:00Z"
                    ))
                })
        })
        .transpose()
}

/// A page of the events the caller may read.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, description = "Events the caller may read (its tenant's; all for operators) that match the filters, in order; `next` is the `after` of the next page", body = AuditPage), Authorized, BadInput), security(("bearer" = [])))]
pub async fn page(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000)?;
    let filter = AuditFilter {
        action: text("action", q.action, 128)?,
        outcome: text("outcome", q.outcome, 128)?,
        actor: text("actor", q.actor, 256)?,
        target: text("target", q.target, 256)?,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
    };
    let events = service
        .audit_page(&p, q.after.unwrap_or(0), limit, &filter)
        .await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage { events, next }))
}
