//! `/v1/wallets/{id}/sign-intent` and `/v1/wallets/{id}/sign`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use signet_proto::time::rfc3339_ms;

use super::Shared;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Authn};
use crate::http::views::{IntentView, SignatureView};
use crate::service::signing::SignArgs;

/// The body of both routes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    attest: bool,
}

impl From<SignBody> for SignArgs {
    fn from(b: SignBody) -> Self {
        Self {
            ticket: b.ticket,
            digest: b.digest,
            message: b.message,
            encoding: b.encoding,
            attest: b.attest,
        }
    }
}

/// `POST /v1/wallets/{id}/sign-intent` → 201 intent.
pub async fn sign_intent(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<(StatusCode, Json<IntentView>), ApiError> {
    let intent = service.sign_intent(&p, &id, body.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(IntentView {
            intent_id: intent.intent_id,
            ticket: intent.ticket,
            digest: hex::encode(&intent.digest),
            expires_at: rfc3339_ms(intent.expires_at * 1000),
        }),
    ))
}

/// `POST /v1/wallets/{id}/sign` → signature.
pub async fn sign(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<Json<SignatureView>, ApiError> {
    let (wallet, signature) = service.sign(&p, &id, body.into()).await?;
    Ok(Json(SignatureView::new(&wallet, &signature)))
}
