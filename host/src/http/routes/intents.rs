//! `/v1/intents`: sign intents on the caller's wallets, and their approval
//! by the wallet's owner.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;

use super::Shared;
use crate::domain::Decision;
use crate::http::error::{
    responses::{Authorized, BadInput, Frozen, NotFound},
    ApiError, ErrorBody,
};
use crate::http::extract::{ApiQuery, Authn};
use crate::http::views::{IntentDetailView, IntentList};

/// `GET /v1/intents` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IntentsQuery {
    /// `pending` (the default: waiting for approval, not expired) or `all`
    /// (every intent still kept; expired ones are pruned after a while).
    #[serde(default)]
    #[param(pattern = "^(pending|all)$")]
    state: Option<String>,
}

/// `GET /v1/intents`: the newest 100.
#[utoipa::path(get, path = "/v1/intents", tag = "approvals", params(IntentsQuery), responses((status = 200, description = "Intents on the caller's wallets, newest first", body = IntentList), Authorized, BadInput, NotFound), security(("bearer" = [])))]
pub async fn list(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiQuery(q): ApiQuery<IntentsQuery>,
) -> Result<Json<IntentList>, ApiError> {
    let pending_only = match q.state.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::bad_request("`state` is `pending` or `all`")),
    };
    let records = service.list_intents(&p, pending_only).await?;
    Ok(Json(IntentList {
        intents: records.iter().map(IntentDetailView::from).collect(),
    }))
}

/// `GET /v1/intents/{id}`.
#[utoipa::path(get, path = "/v1/intents/{id}", tag = "approvals", params(("id" = String, Path, description = "Intent id")), responses((status = 200, description = "The intent", body = IntentDetailView), Authorized, NotFound), security(("bearer" = [])))]
pub async fn show(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<IntentDetailView>, ApiError> {
    Ok(Json(IntentDetailView::from(
        &service.intent_record(&p, &id).await?,
    )))
}

/// `POST /v1/intents/{id}/approve`: the owner, in a session.
#[utoipa::path(post, path = "/v1/intents/{id}/approve", tag = "approvals", params(("id" = String, Path, description = "Intent id")), responses((status = 200, description = "Approved: its ticket now signs (once)", body = IntentDetailView), Authorized, Frozen, NotFound, (status = 409, description = "Already decided (`intent_decided`), or nothing to approve (`approval_not_required`)", body = ErrorBody), (status = 410, description = "Expired before a decision (`intent_expired`)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn approve(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<IntentDetailView>, ApiError> {
    // No body, or `{}`: the wallet's owner deciding in a session. A body
    // with `owner_id`: one of the wallet's record owners approving.
    let record = match optional_body::<OwnerApprovalBody>(&body)? {
        None => service.decide_intent(&p, &id, Decision::Approve).await?,
        Some(body) => service.approve_as_owner(&p, &id, body.into()).await?,
    };
    Ok(Json(IntentDetailView::from(&record)))
}

/// One owner's approval of an intent waiting for its owners (the
/// authorization's `text` is the intent's own).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerApprovalBody {
    /// The owner's id in the wallet's record.
    owner_id: String,
    /// secp256k1 (65-byte `r‖s‖v`), ed25519 or p256 (64-byte `r‖s`)
    /// signature of the authorization text, hex.
    #[serde(default)]
    signature: Option<String>,
    /// A passkey's assertion over the authorization: `{credential_id,
    /// authenticator_data, client_data_json, signature}`, base64url.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    webauthn: Option<signet_authority::WebAuthnProof>,
}

impl From<OwnerApprovalBody> for crate::service::owners::OwnerApproval {
    fn from(body: OwnerApprovalBody) -> Self {
        Self {
            owner_id: body.owner_id,
            signature: body.signature,
            webauthn: body.webauthn,
        }
    }
}

/// An optional JSON body: `None` when empty, `{}` or `null`.
pub(crate) fn optional_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    if value.is_null() || value.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// `POST /v1/intents/{id}/decline`: the owner, in a session.
#[utoipa::path(post, path = "/v1/intents/{id}/decline", tag = "approvals", params(("id" = String, Path, description = "Intent id")), responses((status = 200, description = "Declined: its ticket never signs", body = IntentDetailView), Authorized, NotFound, (status = 409, description = "Already decided (`intent_decided`), or nothing to decline (`approval_not_required`)", body = ErrorBody), (status = 410, description = "Expired before a decision (`intent_expired`)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn decline(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<IntentDetailView>, ApiError> {
    Ok(Json(IntentDetailView::from(
        &service.decide_intent(&p, &id, Decision::Decline).await?,
    )))
}
