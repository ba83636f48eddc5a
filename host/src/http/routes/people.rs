//! `/v1/clients` (a person and the API clients attached to their tenant)
//! and `/v1/admin/tenants/{tenant}/revoke-clients` (every client of a
//! tenant at once).

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use signet_proto::time::rfc3339_ms;

use super::Shared;
use crate::http::error::{
    responses::{Authorized, NotFound},
    ApiError, ErrorBody,
};
use crate::http::extract::Authn;
use crate::http::views::{ClientList, ClientView, RevokedView};

/// The API clients attached to the caller's tenant `user:<id>` (a
/// merchant's integration that asks the person to approve payments).
#[utoipa::path(get, path = "/v1/clients", tag = "auth", responses((status = 200, description = "The clients of the person's tenant (never tokens)", body = ClientList), Authorized, (status = 400, description = "Not a session (API clients use /v1/admin/api-clients)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(service): State<Shared>,
    Authn(p): Authn,
) -> Result<Json<ClientList>, ApiError> {
    let clients = service.my_clients(&p).await?;
    Ok(Json(ClientList {
        api_clients: clients.iter().map(ClientView::from).collect(),
    }))
}

/// The person revokes, at once, a client attached to their tenant.
#[utoipa::path(delete, path = "/v1/clients/{id}", tag = "auth", params(("id" = String, Path, description = "Client id")), responses((status = 200, description = "Revoked from this time", body = RevokedView), Authorized, (status = 400, description = "Not a session", body = ErrorBody), NotFound), security(("bearer" = [])))]
pub async fn revoke(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<RevokedView>, ApiError> {
    let at = service.revoke_my_client(&p, &id).await?;
    Ok(Json(RevokedView {
        id,
        revoked_at: rfc3339_ms(at),
    }))
}

/// The clients revoked at once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantRevokedView {
    /// The tenant.
    tenant: String,
    /// The ids revoked (the caller's own client is kept).
    revoked: Vec<String>,
}

/// Revokes every client of a tenant at once, except the caller's own
/// (operators for any tenant; `admin:clients` for its own).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/revoke-clients", tag = "admin", params(("tenant" = String, Path, description = "The tenant")), responses((status = 200, description = "What was revoked (each one audited)", body = TenantRevokedView), Authorized, NotFound), security(("bearer" = [])))]
pub async fn revoke_tenant(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRevokedView>, ApiError> {
    let revoked = service.revoke_tenant_clients(&p, &tenant).await?;
    Ok(Json(TenantRevokedView { tenant, revoked }))
}
