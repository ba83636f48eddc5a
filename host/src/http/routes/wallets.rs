//! `/v1/wallets` (and its alias `/v1/identities`), `/v1/attestation`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::Shared;
use crate::http::error::ApiError;
use crate::http::extract::{page_limit, ApiJson, ApiQuery, Authn};
use crate::http::views::{
    AttestationResponse, AttestationView, DestroyedView, WalletPage, WalletView,
};

/// `POST /v1/wallets` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWalletBody {
    key_type: String,
    #[serde(default)]
    label: Option<String>,
}

/// `GET /v1/wallets` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    after: Option<String>,
}

/// `?nonce=HEX`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonceQuery {
    #[serde(default)]
    nonce: Option<String>,
}

/// `POST /v1/wallets` → 201 wallet.
pub async fn create(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiJson(body): ApiJson<CreateWalletBody>,
) -> Result<(StatusCode, Json<WalletView>), ApiError> {
    let row = service
        .create_wallet(&p, &body.key_type, body.label)
        .await?;
    Ok((StatusCode::CREATED, Json(WalletView::from(&row))))
}

/// `GET /v1/wallets` → a page.
pub async fn list(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<WalletPage>, ApiError> {
    let limit = page_limit(q.limit, 50, 500)?;
    let (rows, next) = service.list_wallets(&p, q.after.as_deref(), limit).await?;
    Ok(Json(WalletPage {
        wallets: rows.iter().map(WalletView::from).collect(),
        next,
    }))
}

/// `GET /v1/wallets/{id}`.
pub async fn show(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<WalletView>, ApiError> {
    Ok(Json(WalletView::from(&service.show_wallet(&p, &id).await?)))
}

/// `DELETE /v1/wallets/{id}`.
pub async fn destroy(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<DestroyedView>, ApiError> {
    service.destroy_wallet(&p, &id).await?;
    Ok(Json(DestroyedView {
        id,
        destroyed: true,
    }))
}

/// `GET /v1/wallets/{id}/attestation?nonce=HEX`.
pub async fn attestation(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<NonceQuery>,
) -> Result<Json<AttestationResponse>, ApiError> {
    let doc = service
        .wallet_attestation(&p, &id, q.nonce.as_deref())
        .await?;
    Ok(Json(AttestationResponse {
        attestation: AttestationView::of(doc.as_deref()),
    }))
}

/// `GET /v1/attestation?nonce=HEX` (any authenticated caller).
pub async fn signer_attestation(
    State(service): State<Shared>,
    Authn(_): Authn,
    ApiQuery(q): ApiQuery<NonceQuery>,
) -> Result<Json<AttestationResponse>, ApiError> {
    let doc = service.signer_attestation(q.nonce.as_deref()).await?;
    Ok(Json(AttestationResponse {
        attestation: AttestationView::of(doc.as_deref()),
    }))
}
