//! `/v1/wallets/{id}/sign-intent` and `/v1/wallets/{id}/sign`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use signet_proto::time::rfc3339_ms;

use super::Shared;
use crate::domain::IntentState;
use crate::http::error::{
    responses::{Authorized, Frozen, JsonBody, NotFound},
    ApiError, ErrorBody,
};
use crate::http::extract::{ApiJson, Authn};
use crate::http::views::{IntentView, SignatureView};
use crate::service::signing::SignArgs;

/// The body of both routes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    /// Hex 32-byte prehash (ECDSA), optionally `0x`-prefixed.
    #[schema(pattern = "^(0x)?[0-9a-fA-F]{64}$")]
    digest: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    /// `eip191` (secp256k1/p256 messages) or `raw` (ed25519, base64).
    #[schema(pattern = "^(eip191|raw)$")]
    encoding: Option<String>,
    /// An Ethereum transaction (secp256k1 wallets): JSON-RPC form,
    /// `chainId`, `nonce`, `gas` and fees required; the response adds
    /// `raw_transaction` and `transaction_hash`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    transaction: Option<serde_json::Value>,
    /// EIP-712 typed data (secp256k1 wallets), as `eth_signTypedData_v4`
    /// takes it: `{types, primaryType, domain, message}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    typed_data: Option<serde_json::Value>,
    #[serde(default)]
    attest: bool,
    /// Owners' approvals of this request (`sign` only, without `ticket`):
    /// `[{owner_id, text, signature | webauthn}]`, `text` the authorization
    /// v1 the caller wrote (docs/owners.md).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    approvals: Vec<signet_authority::Approval>,
}

impl From<SignBody> for SignArgs {
    fn from(b: SignBody) -> Self {
        Self {
            ticket: b.ticket,
            digest: b.digest,
            message: b.message,
            encoding: b.encoding,
            transaction: b.transaction,
            typed_data: b.typed_data,
            attest: b.attest,
            approvals: b.approvals,
        }
    }
}

/// `POST /v1/wallets/{id}/sign-intent` → 201 intent.
#[utoipa::path(post, path = "/v1/wallets/{id}/sign-intent", tag = "signing", params(("id" = String, Path, description = "Wallet id")), request_body(content = SignBody, description = "`digest`, or `message` with `encoding`"), responses((status = 201, description = "A single-use ticket for this digest", body = IntentView), Authorized, JsonBody, NotFound, Frozen), security(("bearer" = [])))]
pub async fn sign_intent(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<(StatusCode, Json<IntentView>), ApiError> {
    let intent = service.sign_intent(&p, &id, body.into()).await?;
    let approval_url =
        (intent.state == IntentState::Pending).then(|| service.approval_url(&intent.intent_id));
    Ok((
        StatusCode::CREATED,
        Json(IntentView {
            intent_id: intent.intent_id,
            ticket: intent.ticket,
            digest: hex::encode(&intent.digest),
            expires_at: rfc3339_ms(intent.expires_at_s.saturating_mul(1000)),
            detail: intent.detail,
            state: intent.state.as_str(),
            approval_url,
            authorization: intent
                .authorization
                .as_deref()
                .map(crate::service::owners::authorization_view),
        }),
    ))
}

/// `POST /v1/wallets/{id}/sign` → signature.
#[utoipa::path(post, path = "/v1/wallets/{id}/sign", tag = "signing", params(("id" = String, Path, description = "Wallet id")), request_body(content = SignBody, description = "`ticket` from sign-intent, or `digest` / `message` with `encoding`; `attest` for a document binding the signature"), responses((status = 200, description = "The signature", body = SignatureView), Authorized, JsonBody, NotFound, Frozen, (status = 409, description = "The ticket was already used (`ticket_replayed`), or its intent waits for the owner's approval (`approval_pending`)", body = ErrorBody), (status = 410, description = "The ticket expired (`ticket_expired`)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn sign(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<Json<SignatureView>, ApiError> {
    let signed = service.sign(&p, &id, body.into()).await?;
    Ok(Json(SignatureView::of(&signed)))
}
