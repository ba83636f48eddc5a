//! `/v1/admin/api-clients`, `/v1/admin/status`, `/v1/admin/freeze` and
//! `/v1/admin/confirmations`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use serde::Deserialize;
use signet_proto::time::rfc3339_ms;

use super::Shared;
use crate::http::error::{
    responses::{Authenticated, Authorized, BadInput, JsonBody, NotFound},
    ApiError, ErrorBody,
};
use crate::http::extract::{ApiJson, ApiQuery, Authn, OptionalApiJson};
use crate::http::views::{
    ClientList, ClientView, FreezeView, RevokedView, RotationReportView, RotationStartedView,
    SealingStatusView, StatusView,
};
use crate::service::confirmations::{Gated, Pending};
use crate::service::sealing::Requested;

/// `POST /v1/admin/api-clients` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientBody {
    /// A human name: at most 128 characters, none of them format (bidi
    /// overrides, zero-width), private-use, unassigned, control or
    /// separator characters other than the space (docs/access.md).
    #[schema(min_length = 1, max_length = 128)]
    name: String,
    /// The tenant (its own tenant for a client without `operator`), under
    /// the same character rule as `name`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[^:]+$")]
    tenant: String,
    /// Scopes (see docs/access.md); at most those the caller holds.
    #[schema(min_items = 1, inline)]
    scopes: Vec<ScopeName>,
}

/// A scope as written.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(
    pattern = "^(\\*|wallets:\\*|admin:\\*|wallets:read|wallets:write|sign|audit:read|metrics:read|admin:clients|admin:status|operator)$"
)]
pub struct ScopeName(String);

/// `?grace_seconds=N`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevokeQuery {
    #[serde(default)]
    /// Revoke after this many seconds (at most 30 days), for a rotation.
    #[param(maximum = 2592000)]
    grace_seconds: Option<u64>,
}

/// → 201 client with its token (shown once).
#[utoipa::path(post, path = "/v1/admin/api-clients", tag = "admin", request_body = CreateClientBody, responses((status = 201, description = "The client and its token (shown once)", body = ClientView), (status = 202, description = "With SIGNET_OPERATOR_QUORUM=2, a client with `operator` or an `admin:*` scope: waiting for a second operator (who receives the token)", body = PendingView), Authorized, JsonBody), security(("bearer" = [])))]
pub async fn create_client(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> Result<Response, ApiError> {
    let scopes: Vec<String> = body.scopes.into_iter().map(|s| s.0).collect();
    let gated = Gated::CreateClient {
        name: body.name.clone(),
        tenant: body.tenant.clone(),
        scopes: scopes.clone(),
    };
    if let Some(pending) = service.gate(&p, gated).await? {
        return Ok(accepted(pending));
    }
    created_client(&service, &p, &body.name, &body.tenant, scopes).await
}

async fn created_client(
    service: &Shared,
    p: &crate::service::authz::Principal,
    name: &str,
    tenant: &str,
    scopes: Vec<String>,
) -> Result<Response, ApiError> {
    let (row, token) = service.create_client(p, name, tenant, scopes).await?;
    let mut view = ClientView::from(&row);
    view.token = Some(token.as_str().to_owned());
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A request waiting for a second operator (`SIGNET_OPERATOR_QUORUM=2`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PendingView {
    /// What the second operator confirms.
    confirmation_id: String,
    /// `rotate_sealing`, `invalidate_sessions`, `create_client`, `revoke_client`.
    action: &'static str,
    /// RFC 3339: after this the request lapses.
    expires_at: String,
    /// `POST` here, as a different operator, to carry it out.
    confirm_url: String,
}

/// 202 with the pending request.
pub(crate) fn accepted(pending: Pending) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(PendingView {
            confirm_url: format!("/v1/admin/confirmations/{}", pending.id),
            confirmation_id: pending.id,
            action: pending.action.name(),
            expires_at: rfc3339_ms(pending.expires_at),
        }),
    )
        .into_response()
}

/// A second operator confirms a request, which is then carried out: the
/// answer is the action's own (the new client with its token, the
/// revocation, the rotation started, the sessions' new bound).
#[utoipa::path(post, path = "/v1/admin/confirmations/{id}", tag = "admin", params(("id" = String, Path, description = "The confirmation id")), responses((status = 200, description = "Carried out: the revocation or the sessions' new bound", body = serde_json::Value), (status = 201, description = "Carried out: the new client and its token (shown once)", body = ClientView), (status = 202, description = "Carried out: the rotation started", body = RotationStartedView), Authorized, (status = 403, description = "Not an operator (`scope_denied`), or the operator who asked (`confirmation_same_operator`)", body = ErrorBody), NotFound, (status = 409, description = "Already confirmed (`confirmation_used`)", body = ErrorBody), (status = 410, description = "Expired (`confirmation_expired`)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn confirm(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match service.confirm(&p, &id).await? {
        Gated::RotateSealing => match service.request_sealing_rotation(&p, false).await? {
            Requested::DryRun(report) => Json(RotationReportView::from(&report)).into_response(),
            Requested::Started(status) => (
                StatusCode::ACCEPTED,
                Json(RotationStartedView::new(SealingStatusView::from(&status))),
            )
                .into_response(),
        },
        Gated::InvalidateSessions => {
            let at = service.invalidate_all_sessions(&p).await?;
            Json(super::auth::InvalidatedView::at(at)).into_response()
        }
        Gated::CreateClient {
            name,
            tenant,
            scopes,
        } => created_client(&service, &p, &name, &tenant, scopes).await?,
        Gated::Unfreeze { scope } => {
            let scope = crate::service::freeze::parse_scope(&scope)?;
            service.unfreeze(&p, &scope).await?;
            Json(UnfrozenView {
                scope: scope.to_string(),
            })
            .into_response()
        }
        Gated::RevokeClient { id, grace_seconds } => {
            let at = service.revoke_client(&p, &id, grace_seconds).await?;
            Json(RevokedView {
                id,
                revoked_at: rfc3339_ms(at),
            })
            .into_response()
        }
    })
}

/// The clients the caller may see.
#[utoipa::path(get, path = "/v1/admin/api-clients", tag = "admin", responses((status = 200, description = "Clients the caller may see (never tokens)", body = ClientList), Authorized), security(("bearer" = [])))]
pub async fn list_clients(
    State(service): State<Shared>,
    Authn(p): Authn,
) -> Result<Json<ClientList>, ApiError> {
    let clients = service.list_clients(&p).await?;
    Ok(Json(ClientList {
        api_clients: clients.iter().map(ClientView::from).collect(),
    }))
}

/// Revokes now or after `grace_seconds`.
#[utoipa::path(delete, path = "/v1/admin/api-clients/{id}", tag = "admin", params(("id" = String, Path, description = "Client id"), RevokeQuery), responses((status = 200, description = "The time from which the client is refused", body = RevokedView), (status = 202, description = "With SIGNET_OPERATOR_QUORUM=2, a client with `operator` or an `admin:*` scope: waiting for a second operator", body = PendingView), Authenticated, (status = 403, description = "A scope is missing, or the client holds a scope the caller could not grant (`scope_denied`: a client revokes only clients whose every scope it could grant; only an operator revokes an operator)", body = ErrorBody), BadInput, NotFound), security(("bearer" = [])))]
pub async fn revoke_client(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RevokeQuery>,
) -> Result<Response, ApiError> {
    let grace_seconds = q.grace_seconds.unwrap_or(0);
    let gated = Gated::RevokeClient {
        id: id.clone(),
        grace_seconds,
    };
    if let Some(pending) = service.gate(&p, gated).await? {
        return Ok(accepted(pending));
    }
    let at = service.revoke_client(&p, &id, grace_seconds).await?;
    Ok(Json(RevokedView {
        id,
        revoked_at: rfc3339_ms(at),
    })
    .into_response())
}

/// `POST /v1/admin/sealing/rotate` body (optional: no body is a real
/// rotation).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Only count what a rotation would re-seal; change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// `?dry_run=true|false`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// Only count what a rotation would re-seal; change nothing (the same as
    /// the body's `dry_run`; when both are given they must agree).
    #[serde(default)]
    dry_run: Option<bool>,
}

/// Rotates the sealing key (operators): a new KMS data key version, every
/// live wallet's blob re-sealed inside the signer, verified, and the old
/// versions retired. Resumes an unfinished rotation. One at a time across
/// replicas. A dry run (`?dry_run=true` or `{"dry_run": true}`) answers 200
/// with the counts; without either (an empty body included) the rotation is
/// real: it runs in the background (202, with `status_url`: progress in
/// `GET /v1/admin/status` → `sealing.rotation`).
#[utoipa::path(post, path = "/v1/admin/sealing/rotate", tag = "admin", params(RotateQuery), request_body(content = Option<RotateBody>, description = "Optional: no body (or `{}`) is a real rotation, `{\"dry_run\": true}` a dry run"), responses((status = 200, description = "Dry run: what the rotation would do", body = RotationReportView), (status = 202, description = "Started in the background; progress in /v1/admin/status (`sealing.rotation`), named by `status_url`. With SIGNET_OPERATOR_QUORUM=2 a real rotation is instead a pending request (`confirmation_id`) for a second operator", body = RotationStartedView), Authorized, (status = 400, description = "Bad input (the query's and the body's `dry_run` disagree), or this host does not use KMS sealing", body = ErrorBody), (status = 403, description = "A scope is missing (`scope_denied`), or another replica is rotating (`forbidden`)", body = ErrorBody), (status = 503, description = "The signer, KMS or the database is unavailable, or the request timed out; retry (the rotation resumes)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_sealing(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiQuery(query): ApiQuery<RotateQuery>,
    OptionalApiJson(body): OptionalApiJson<RotateBody>,
) -> Result<Response, ApiError> {
    let dry_run = match (query.dry_run, body.map(|b| b.dry_run)) {
        (Some(q), Some(b)) if q != b => {
            return Err(ApiError::bad_request(
                "`?dry_run` and the body's `dry_run` disagree: give one",
            ))
        }
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => false,
    };
    if !dry_run {
        if let Some(pending) = service.gate(&p, Gated::RotateSealing).await? {
            return Ok(accepted(pending));
        }
    }
    Ok(match service.request_sealing_rotation(&p, dry_run).await? {
        Requested::DryRun(report) => Json(RotationReportView::from(&report)).into_response(),
        Requested::Started(status) => (
            StatusCode::ACCEPTED,
            Json(RotationStartedView::new(SealingStatusView::from(&status))),
        )
            .into_response(),
    })
}

/// The host, its storage and its signer, for operators; a tenant's client
/// with `admin:status` (without `operator`) sees its own tenant's counts
/// only.
#[utoipa::path(get, path = "/v1/admin/status", tag = "admin", responses((status = 200, description = "With `operator`: `view: \"operator\"`, the host, storage, signer (with its last connection error), sealing, the freezes in force and the replicas sharing the database (`replicas`: each one's id, version, start, last heartbeat, whether it is live and whether it answered). Without `operator` (a tenant's `admin:status` client): `view: \"tenant\"` and only `tenant` (its id, live wallets, unrevoked API clients); none of the state shared by every tenant", body = StatusView), Authorized), security(("bearer" = [])))]
pub async fn status(
    State(service): State<Shared>,
    Authn(p): Authn,
) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(StatusView::from(service.status(&p).await?)))
}

/// `POST /v1/admin/freeze` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    /// `all`, `tenant:<tenant>` (a person's tenant is `tenant:user:<id>`) or
    /// `wallet:<wallet id>`.
    #[schema(example = "tenant:acme")]
    scope: String,
    /// Why: shown to every refused caller and kept in the audit log (1 to
    /// 500 visible characters).
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// `DELETE /v1/admin/freeze` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnfreezeQuery {
    /// The frozen scope to lift.
    scope: String,
}

/// A lifted freeze.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UnfrozenView {
    /// The scope that signs again.
    scope: String,
}

/// Freezes a scope (operators): on every replica within a second, signing,
/// sign intents and approvals in it are refused with 423 `frozen`.
#[utoipa::path(post, path = "/v1/admin/freeze", tag = "admin", request_body = FreezeBody, responses((status = 200, description = "In force (freezing a frozen scope replaces its reason)", body = FreezeView), Authorized, JsonBody), security(("bearer" = [])))]
pub async fn freeze(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiJson(body): ApiJson<FreezeBody>,
) -> Result<Json<FreezeView>, ApiError> {
    let freeze = service.freeze(&p, &body.scope, &body.reason).await?;
    Ok(Json(FreezeView::from(&freeze)))
}

/// Lifts a freeze (operators; with SIGNET_OPERATOR_QUORUM=2, a second
/// operator confirms it).
#[utoipa::path(delete, path = "/v1/admin/freeze", tag = "admin", params(UnfreezeQuery), responses((status = 200, description = "Lifted: the scope signs again", body = UnfrozenView), (status = 202, description = "With SIGNET_OPERATOR_QUORUM=2: waiting for a second operator", body = PendingView), Authorized, BadInput, (status = 404, description = "The scope is not frozen", body = ErrorBody)), security(("bearer" = [])))]
pub async fn unfreeze(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiQuery(q): ApiQuery<UnfreezeQuery>,
) -> Result<Response, ApiError> {
    let scope = crate::service::freeze::parse_scope(&q.scope)?;
    if p.is_operator() && !service.freezes().iter().any(|f| f.scope == scope) {
        return Err(crate::service::Error::NotFound("freeze").into());
    }
    let gated = Gated::Unfreeze {
        scope: scope.to_string(),
    };
    if let Some(pending) = service.gate(&p, gated).await? {
        return Ok(accepted(pending));
    }
    service.unfreeze(&p, &scope).await?;
    Ok(Json(UnfrozenView {
        scope: scope.to_string(),
    })
    .into_response())
}
