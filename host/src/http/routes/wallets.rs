//! `/v1/wallets` (and its alias `/v1/identities`), `/v1/attestation`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::Shared;
use crate::http::error::{
    responses::{Authenticated, Authorized, BadInput, Frozen, JsonBody, NotFound},
    ApiError, ErrorBody,
};
use crate::http::extract::{page_limit, ApiJson, ApiQuery, Authn};
use crate::http::views::{
    AttestationResponse, AttestationView, DestroyedView, RecordProposalList, RecordProposalView,
    WalletPage, WalletView,
};
use crate::service::owners::RecordChange;

/// `POST /v1/wallets` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWalletBody {
    /// `secp256k1`, `p256` or `ed25519`.
    #[schema(pattern = "^(secp256k1|p256|ed25519)$")]
    key_type: String,
    #[serde(default)]
    /// A label, at most 128 characters, none of them format (bidi
    /// overrides, zero-width), private-use, unassigned, control or
    /// separator characters other than the space (docs/access.md).
    #[schema(max_length = 128)]
    label: Option<String>,
    /// Hold every sign intent until the owner approves it in the console
    /// (a person's wallet only: a signed-in user's, or one of their tenant's).
    #[serde(default)]
    require_approval: bool,
    /// The wallet's owners (docs/owners.md): `[{id, type, …}]`, type
    /// `passkey`, `secp256k1`, `ed25519` or `p256`. The signer writes them
    /// in the wallet's record.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    owners: Option<serde_json::Value>,
    /// How many owners must approve what the policy does not allow alone
    /// (1 to the number of owners; default 1 with owners, 0 without).
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    threshold: Option<serde_json::Value>,
    /// What the wallet may sign without its owners (docs/policy.md):
    /// `{"allow": [kinds], "chain_ids"?, "max_value_wei"?, "recipients"?,
    /// "selectors"?, "tokens"?, "typed_data_domains"?, "windows"?,
    /// "change_delay_seconds"?}`; kinds `digest`, `message`, `transaction`,
    /// `typed_data` (default: all of them without owners, none with owners).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    policy: Option<serde_json::Value>,
}

/// `PATCH /v1/wallets/{id}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWalletBody {
    /// Whether each sign intent waits for the owner's approval. Only the
    /// owner, signed in, may turn it off.
    require_approval: bool,
}

/// `GET /v1/wallets` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default)]
    /// Page size, 1 to 500 (50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[serde(default)]
    after: Option<String>,
}

/// `?nonce=HEX`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NonceQuery {
    #[serde(default)]
    /// Hex, at most 512 bytes; bound into the document.
    #[param(pattern = "^([0-9a-fA-F]{2}){0,512}$")]
    nonce: Option<String>,
}

/// `POST /v1/wallets` → 201 wallet.
#[utoipa::path(post, path = "/v1/wallets", tag = "wallets", request_body = CreateWalletBody, responses((status = 201, description = "The wallet, with its creation attestation", body = WalletView), Authorized, JsonBody), security(("bearer" = [])))]
pub async fn create(
    State(service): State<Shared>,
    Authn(p): Authn,
    ApiJson(body): ApiJson<CreateWalletBody>,
) -> Result<(StatusCode, Json<WalletView>), ApiError> {
    let row = service
        .create_wallet(
            &p,
            &body.key_type,
            body.label,
            body.require_approval,
            crate::service::owners::wallet_settings(body.owners, body.threshold, body.policy)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(WalletView::from(&row))))
}

/// `POST /v1/wallets/{id}/record` body: what changes, and the owners'
/// approvals of the change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordChangeBody {
    /// The new owners (absent: unchanged).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    owners: Option<serde_json::Value>,
    /// The new threshold (absent: unchanged).
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    threshold: Option<serde_json::Value>,
    /// The new policy (absent: unchanged).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    policy: Option<serde_json::Value>,
    /// The current owners' approvals of this change: `[{owner_id, text,
    /// signature | webauthn}]` over the authorization a first call without
    /// them answered.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    approvals: Vec<signet_authority::Approval>,
}

/// `POST /v1/wallets/{id}/record`: a record change, decided by the signer.
#[utoipa::path(post, path = "/v1/wallets/{id}/record", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), request_body = RecordChangeBody, responses((status = 200, description = "Changed: the wallet with its new record and attestation", body = WalletView), (status = 202, description = "Proposed: the owners approve it one by one (`/record/{proposal_id}/approve`), or all at once (the same change again with their `approvals`)", body = RecordProposalView), Authorized, JsonBody, NotFound, Frozen, (status = 403, description = "Refused by the signer: `owner_approval_required`, `policy_denied` (a change that loosens a wallet without owners), `approval_invalid` (with `reason`)", body = ErrorBody), (status = 409, description = "`change_not_yet_effective` (with `effective_at`): an approved loosening waits for its change delay", body = ErrorBody)), security(("bearer" = [])))]
pub async fn change_record(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecordChangeBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let settings =
        crate::service::owners::settings_object(body.owners, body.threshold, body.policy);
    let change = service
        .change_record(&p, &id, &settings, body.approvals)
        .await?;
    Ok(match change {
        RecordChange::Applied(w) => Json(WalletView::from(&w)).into_response(),
        RecordChange::Proposed(proposal) => (
            StatusCode::ACCEPTED,
            Json(RecordProposalView::from(&*proposal)),
        )
            .into_response(),
    })
}

/// `GET /v1/wallets/{id}/proposals`: the wallet's newest record proposals.
#[utoipa::path(get, path = "/v1/wallets/{id}/proposals", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), responses((status = 200, description = "Newest first, at most 50", body = RecordProposalList), Authorized, NotFound), security(("bearer" = [])))]
pub async fn list_proposals(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<RecordProposalList>, ApiError> {
    let proposals = service.record_proposals(&p, &id).await?;
    Ok(Json(RecordProposalList {
        proposals: proposals.iter().map(RecordProposalView::from).collect(),
    }))
}

/// `GET /v1/wallets/{id}/record/{proposal_id}`: a record proposal, with the
/// authorization its owners sign.
#[utoipa::path(get, path = "/v1/wallets/{id}/record/{proposal_id}", tag = "wallets", params(("id" = String, Path, description = "Wallet id"), ("proposal_id" = String, Path, description = "Proposal id")), responses((status = 200, description = "The proposal", body = RecordProposalView), Authorized, NotFound), security(("bearer" = [])))]
pub async fn show_proposal(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path((id, proposal_id)): Path<(String, String)>,
) -> Result<Json<RecordProposalView>, ApiError> {
    let proposal = service.record_proposal(&p, &id, &proposal_id).await?;
    Ok(Json(RecordProposalView::from(&proposal)))
}

/// `POST /v1/wallets/{id}/record/{proposal_id}/approve`: one owner's
/// approval; at the threshold the signer decides.
#[utoipa::path(post, path = "/v1/wallets/{id}/record/{proposal_id}/approve", tag = "wallets", params(("id" = String, Path, description = "Wallet id"), ("proposal_id" = String, Path, description = "Proposal id")), request_body(content = super::intents::OwnerApprovalBody, description = "`{owner_id, signature}` or `{owner_id, webauthn}` over the proposal's authorization; empty to hand an approved change to the signer again (a loosening once it is due)"), responses((status = 200, description = "The proposal: `pending` while approvals are missing, `waiting` (with `effective_at`) for an approved loosening, `applied` with the wallet", body = RecordProposalView), Authorized, JsonBody, NotFound, Frozen, (status = 403, description = "`approval_invalid` (with `reason`)", body = ErrorBody), (status = 409, description = "`proposal_decided` (applied, superseded, or changed meanwhile: read it again), `change_not_yet_effective` (with `effective_at`), `approval_replayed`", body = ErrorBody), (status = 410, description = "`proposal_expired`: its authorization expired before the owners approved it, or no signer holds their approval any more", body = ErrorBody)), security(("bearer" = [])))]
pub async fn approve_proposal(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path((id, proposal_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<RecordProposalView>, ApiError> {
    let approval = super::intents::optional_body::<super::intents::OwnerApprovalBody>(&body)?;
    let proposal = service
        .approve_record_proposal(&p, &id, &proposal_id, approval.map(Into::into))
        .await?;
    Ok(Json(RecordProposalView::from(&proposal)))
}

/// `POST /v1/wallets/{id}/check`: what signing this body would get, from the
/// signer (a dry run: nothing signed, reserved or remembered).
#[utoipa::path(post, path = "/v1/wallets/{id}/check", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), request_body(content = super::signing::SignBody, description = "The direct-sign body: `digest`, `message` with `encoding`, `transaction` or `typed_data`, and optionally `approvals`"), responses((status = 200, description = "`{allowed, needs_owners, rule?, message?, decoded}`: whether it would be signed, whether only with the owners' approvals, the rule that refuses, and what the signer decoded (kind, chain, recipient, value, the call or permit, the full calldata)", body = Object), Authorized, JsonBody, NotFound), security(("bearer" = [])))]
pub async fn check(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<super::signing::SignBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let checked = service.check_sign(&p, &id, body.into()).await?;
    let decoded: serde_json::Value =
        serde_json::from_str(&checked.decoded).unwrap_or(serde_json::Value::Null);
    let mut out = serde_json::json!({
        "allowed": checked.allowed,
        "needs_owners": checked.needs_owners,
        "decoded": decoded,
    });
    if let Some(rule) = checked.rule {
        out["rule"] = rule.into();
    }
    if let Some(message) = checked.message {
        out["message"] = message.into();
    }
    Ok(Json(out))
}

/// `POST /v1/wallets/{id}/resume` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    /// The owners' approvals of the authorization (action `resume`) this
    /// route answered without them.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    approvals: Vec<signet_authority::Approval>,
}

/// `POST /v1/wallets/{id}/resume`: the owners lift the wallet's cold
/// windows on the signer (docs/policy.md).
#[utoipa::path(post, path = "/v1/wallets/{id}/resume", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), request_body = ResumeBody, responses((status = 200, description = "`{resumed: true}`: the signer counts the wallet's windows from here", body = Object), (status = 202, description = "The owners must approve it: `{authorization: {text, sha256}}`; send it again with their `approvals`", body = Object), Authorized, JsonBody, NotFound, Frozen, (status = 403, description = "`policy_denied` (a wallet without owners), `approval_invalid` (with `reason`)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn resume(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResumeBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    Ok(match service.resume(&p, &id, body.approvals).await? {
        crate::service::owners::ResumeOutcome::Resumed => {
            Json(serde_json::json!({"resumed": true, "wallet_id": id})).into_response()
        }
        crate::service::owners::ResumeOutcome::NeedsOwners { authorization } => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({
                "authorization": crate::service::owners::authorization_view(&authorization),
            })),
        )
            .into_response(),
    })
}

/// `PATCH /v1/wallets/{id}`: the approval policy.
#[utoipa::path(patch, path = "/v1/wallets/{id}", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), request_body = UpdateWalletBody, responses((status = 200, description = "The wallet", body = WalletView), (status = 202, description = "A wallet whose record has owners: the record change (`allow: []`, or back to the `allow` it had) is proposed to them", body = RecordProposalView), Authorized, JsonBody, NotFound, (status = 400, description = "Bad input (unknown fields; approval on a tenant's wallet)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateWalletBody>,
) -> Result<axum::response::Response, ApiError> {
    use crate::service::owners::ApprovalSwitch;
    use axum::response::IntoResponse as _;
    Ok(
        match service.set_approval(&p, &id, body.require_approval).await? {
            ApprovalSwitch::Done(row) => Json(WalletView::from(&row)).into_response(),
            ApprovalSwitch::Proposed(proposal) => (
                StatusCode::ACCEPTED,
                Json(RecordProposalView::from(&*proposal)),
            )
                .into_response(),
        },
    )
}

/// `GET /v1/wallets` → a page.
#[utoipa::path(get, path = "/v1/wallets", tag = "wallets", params(ListQuery), responses((status = 200, description = "A page of the caller's wallets", body = WalletPage), Authorized, BadInput), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/v1/wallets/{id}", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), responses((status = 200, description = "The wallet", body = WalletView), Authorized, NotFound), security(("bearer" = [])))]
pub async fn show(
    State(service): State<Shared>,
    Authn(p): Authn,
    Path(id): Path<String>,
) -> Result<Json<WalletView>, ApiError> {
    Ok(Json(WalletView::from(&service.show_wallet(&p, &id).await?)))
}

/// `DELETE /v1/wallets/{id}`.
#[utoipa::path(delete, path = "/v1/wallets/{id}", tag = "wallets", params(("id" = String, Path, description = "Wallet id")), responses((status = 200, description = "Destroyed: the key zeroized in the signer, the sealed copy shredded", body = DestroyedView), Authorized, NotFound), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/v1/wallets/{id}/attestation", tag = "attestation", params(("id" = String, Path, description = "Wallet id"), NonceQuery), responses((status = 200, description = "A fresh document binding the wallet's key", body = AttestationResponse), Authorized, BadInput, NotFound), security(("bearer" = [])))]
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
#[utoipa::path(get, path = "/v1/attestation", tag = "attestation", params(NonceQuery), responses((status = 200, description = "A fresh document of the signer", body = AttestationResponse), Authenticated, BadInput), security(("bearer" = [])))]
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
