//! The HTTP API of DESIGN.md: routes, bodies, and responses.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use rand_core::RngCore as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use signet_proto::message::SignRequest;
use signet_proto::ticket::{TicketClaims, AUDIENCE};
use signet_proto::time::{now_ms, rfc3339_ms};
use signet_proto::{
    ErrorCode, KeyType, Request as SignerRequest, Response as SignerResponse, SealedKey,
};

use crate::auth::{self, record_denial, require_scope, Principal, SCOPES};
use crate::digest::{eth_address, sign_input, SignInput};
use crate::enclave::CallError;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ApiClientRow, IntentRow, NewEvent, WalletRow, WriteOp};

/// Largest request body accepted (a 64 KiB Ed25519 message in base64 fits).
pub const MAX_BODY: usize = 128 * 1024;

type Shared = Arc<AppState>;

/// The router: public health endpoints and the authenticated `/v1` API.
pub fn router(state: Shared) -> Router {
    let wallets = Router::new()
        .route("/", post(create_wallet).get(list_wallets))
        .route("/{id}", get(show_wallet).delete(destroy_wallet))
        .route("/{id}/attestation", get(wallet_attestation))
        .route("/{id}/sign-intent", post(sign_intent))
        .route("/{id}/sign", post(sign));
    let v1 = Router::new()
        .nest("/wallets", wallets.clone())
        .nest("/identities", wallets)
        .route("/attestation", get(signer_attestation))
        .route("/audit", get(audit))
        .route("/admin/api-clients", post(create_client).get(list_clients))
        .route("/admin/api-clients/{id}", delete(revoke_client))
        .route("/admin/status", get(admin_status))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::authenticate,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .nest("/v1", v1)
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Tags every request with an `x-request-id` (the caller's, if sane) and logs it.
async fn request_id(mut request: Request, next: middleware::Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let mut b = [0u8; 8];
            rand_core::OsRng.fill_bytes(&mut b);
            hex::encode(b)
        });
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", v);
    }
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    tracing::info!(request_id = %id, %method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// JSON bodies with DESIGN.md's errors: unknown fields and bad JSON are 400,
/// oversized bodies 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::too_large(format!(
                    "request bodies are at most {MAX_BODY} bytes"
                )))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "expected `Content-Type: application/json`",
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// A page size: `default` when absent, refused outside 1..=`max`.
fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(format!("`limit` must be 1 to {max}")));
    }
    Ok(limit)
}

fn query<T: DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn health() -> Json<Value> {
    Json(json!({"ok": true, "service": "signet-host", "version": env!("CARGO_PKG_VERSION")}))
}

async fn ready(State(state): State<Shared>) -> Response {
    let mut reasons = Vec::new();
    if state.draining.load(Ordering::Relaxed) {
        reasons.push("draining: shutting down".to_owned());
    }
    if let Err(e) = state.store.ping().await {
        reasons.push(format!("storage: {e}"));
    }
    if let Err(e) = state.enclave.ready().await {
        reasons.push(e);
    }
    if reasons.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reasons": reasons})),
        )
            .into_response()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn attestation_json(doc: Option<&Vec<u8>>) -> Value {
    doc.map_or(
        Value::Null,
        |d| json!({"format": "aws-nitro-cose-sign1", "document": b64(d)}),
    )
}

fn wallet_json(w: &WalletRow) -> Value {
    let mut v = json!({
        "id": w.id,
        "key_type": w.key_type.as_str(),
        "public_key": hex::encode(&w.public_key),
        "created_at": rfc3339_ms(w.created_at),
        "attestation": attestation_json(w.attestation.as_ref()),
    });
    if let Some(label) = &w.label {
        v["label"] = json!(label);
    }
    if w.key_type == KeyType::Secp256k1 {
        v["address"] = json!(eth_address(&w.public_key));
    }
    v
}

fn parse_nonce(nonce: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    nonce
        .map(|n| {
            let bytes = hex::decode(n).map_err(|_| ApiError::bad_request("`nonce` must be hex"))?;
            if bytes.len() > 512 {
                return Err(ApiError::bad_request("`nonce` is at most 512 bytes"));
            }
            Ok(bytes)
        })
        .transpose()
}

/// Loads a wallet the principal may use: another tenant's wallet is a 404
/// (and a `TENANT_DENY` event), indistinguishable from a missing one.
async fn owned_wallet(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<WalletRow, ApiError> {
    let wallet = match state.wallets.get(id) {
        Some(w) => w,
        None => {
            let w = state.store.wallet(id).await?;
            state.wallets.put(id, w.clone());
            w
        }
    };
    match wallet {
        Some(w) if w.owner == principal.owner() => Ok(w),
        Some(_) => {
            record_denial(state, &principal.actor(), "TENANT_DENY", id, "other_tenant").await;
            Err(ApiError::not_found("wallet"))
        }
        None => Err(ApiError::not_found("wallet")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateWalletBody {
    key_type: String,
    #[serde(default)]
    label: Option<String>,
}

async fn create_wallet(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(body): ApiJson<CreateWalletBody>,
) -> Result<Response, ApiError> {
    require_scope(&state, &p, "wallets:write", "wallets").await?;
    let key_type: KeyType = body
        .key_type
        .parse()
        .map_err(|()| ApiError::bad_request("`key_type` must be secp256k1, p256 or ed25519"))?;
    if body
        .label
        .as_ref()
        .is_some_and(|l| l.chars().count() > 128 || l.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "`label` is at most 128 printable characters",
        ));
    }
    let mut raw = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut raw);
    let id = format!("w_{}", hex::encode(raw));
    let generated = match state
        .enclave
        .call(SignerRequest::Generate {
            key_id: id.clone(),
            key_type,
        })
        .await?
    {
        SignerResponse::Generated(g) => g,
        _ => return Err(ApiError::internal("unexpected signer response to generate")),
    };
    let row = WalletRow {
        id: id.clone(),
        owner: p.owner(),
        key_type,
        public_key: generated.key.public_key,
        label: body.label,
        sealed: generated.sealed.as_ref().map(SealedKey::to_bytes),
        attestation: generated.attestation,
        created_at: now_ms(),
    };
    let event = NewEvent::new(p.actor(), "wallet.create", &id, "ok");
    if let Err(e) = state
        .store
        .journal()
        .write(WriteOp::CreateWallet(row.clone()), event)
        .await
    {
        // Not stored, so not created: drop the key from the signer too.
        let _ = state
            .enclave
            .call(SignerRequest::Destroy { key_id: id })
            .await;
        return Err(e.into());
    }
    state.wallets.forget(&id);
    Ok((StatusCode::CREATED, Json(wallet_json(&row))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    after: Option<String>,
}

async fn list_wallets(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "wallets:read", "wallets").await?;
    let q = query(q)?;
    let limit = page_limit(q.limit, 50, 500)?;
    let after = q
        .after
        .map(|cursor| {
            let (at, id) = cursor
                .split_once('.')
                .ok_or_else(|| ApiError::bad_request("bad `after` cursor"))?;
            Ok::<_, ApiError>((
                at.parse::<u64>()
                    .map_err(|_| ApiError::bad_request("bad `after` cursor"))?,
                id.to_owned(),
            ))
        })
        .transpose()?;
    let rows = state.store.wallets(&p.owner(), after, limit).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|w| format!("{}.{}", w.created_at, w.id)))
        .flatten();
    Ok(Json(
        json!({"wallets": rows.iter().map(wallet_json).collect::<Vec<_>>(), "next": next}),
    ))
}

async fn show_wallet(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "wallets:read", &id).await?;
    Ok(Json(wallet_json(&owned_wallet(&state, &p, &id).await?)))
}

async fn destroy_wallet(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_scope(&state, &p, "wallets:write", &id).await?;
    let wallet = owned_wallet(&state, &p, &id).await?;
    match state
        .enclave
        .call(SignerRequest::Destroy {
            key_id: wallet.id.clone(),
        })
        .await
    {
        Ok(_) => {}
        Err(CallError::Refused(ErrorCode::KeyNotFound, _)) => {}
        Err(e) => return Err(e.into()),
    }
    let event = NewEvent::new(p.actor(), "wallet.destroy", &id, "ok");
    state
        .store
        .journal()
        .write(
            WriteOp::DestroyWallet {
                id: id.clone(),
                at: now_ms(),
            },
            event,
        )
        .await?;
    state.wallets.forget(&id);
    Ok((StatusCode::OK, Json(json!({"id": id, "destroyed": true}))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NonceQuery {
    #[serde(default)]
    nonce: Option<String>,
}

/// Calls the signer, loading the wallet's sealed key once if the signer lost it.
async fn call_with_key(
    state: &AppState,
    wallet: &WalletRow,
    request: SignerRequest,
) -> Result<SignerResponse, ApiError> {
    match state.enclave.call(request.clone()).await {
        Err(CallError::Refused(ErrorCode::KeyNotLoaded, _)) => {
            let sealed = sealed_of(wallet)?;
            state
                .enclave
                .call(SignerRequest::LoadSealed { sealed })
                .await?;
            Ok(state.enclave.call(request).await?)
        }
        other => Ok(other?),
    }
}

fn sealed_of(wallet: &WalletRow) -> Result<SealedKey, ApiError> {
    let bytes = wallet.sealed.as_ref().ok_or_else(|| {
        ApiError::enclave_unavailable(
            "the signer does not hold this key and no sealed copy is stored",
        )
    })?;
    SealedKey::from_bytes(bytes)
        .map_err(|e| ApiError::internal(&format!("stored sealed key of {}: {e}", wallet.id)))
}

async fn wallet_attestation(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "wallets:read", &id).await?;
    let nonce = parse_nonce(query(q)?.nonce.as_deref())?;
    let wallet = owned_wallet(&state, &p, &id).await?;
    match call_with_key(
        &state,
        &wallet,
        SignerRequest::Attest {
            nonce,
            key_id: Some(id),
        },
    )
    .await?
    {
        SignerResponse::Attestation { document } => Ok(Json(
            json!({"attestation": attestation_json(document.as_ref())}),
        )),
        _ => Err(ApiError::internal("unexpected signer response to attest")),
    }
}

async fn signer_attestation(
    State(state): State<Shared>,
    q: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let nonce = parse_nonce(query(q)?.nonce.as_deref())?;
    match state
        .enclave
        .call(SignerRequest::Attest {
            nonce,
            key_id: None,
        })
        .await?
    {
        SignerResponse::Attestation { document } => Ok(Json(
            json!({"attestation": attestation_json(document.as_ref())}),
        )),
        _ => Err(ApiError::internal("unexpected signer response to attest")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
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

fn mint(
    state: &AppState,
    p: &Principal,
    wallet: &WalletRow,
    digest: &[u8],
) -> (TicketClaims, String) {
    let mut jti = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut jti);
    let now = now_ms() / 1000;
    let claims = TicketClaims {
        jti: hex::encode(jti),
        sub: p.actor(),
        wid: wallet.id.clone(),
        dig: hex::encode(digest),
        kty: wallet.key_type,
        iat: now,
        exp: now + state.config.ticket_ttl.as_secs(),
        aud: AUDIENCE.into(),
    };
    let token = state.tickets.mint(&claims);
    (claims, token)
}

async fn sign_intent(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<Response, ApiError> {
    require_scope(&state, &p, "sign", &id).await?;
    if body.ticket.is_some() || body.attest {
        return Err(ApiError::bad_request(
            "sign-intent takes `digest` or `message`/`encoding` only",
        ));
    }
    let wallet = owned_wallet(&state, &p, &id).await?;
    let input = sign_input(
        wallet.key_type,
        body.digest.as_deref(),
        body.message.as_deref(),
        body.encoding.as_deref(),
    )?;
    let (claims, ticket) = mint(&state, &p, &wallet, &input.digest);
    let intent = IntentRow {
        jti: claims.jti.clone(),
        wallet_id: wallet.id.clone(),
        digest: input.digest.clone(),
        message: input.message,
        created_by: p.actor(),
        expires_at: claims.exp,
    };
    let event = NewEvent::new(p.actor(), "sign.intent", &wallet.id, "ok");
    state
        .store
        .journal()
        .write(WriteOp::CreateIntent(intent), event)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "intent_id": claims.jti,
            "ticket": ticket,
            "digest": hex::encode(&input.digest),
            "expires_at": rfc3339_ms(claims.exp * 1000),
        })),
    )
        .into_response())
}

async fn sign(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignBody>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "sign", &id).await?;
    let wallet = owned_wallet(&state, &p, &id).await?;
    if let Err(retry) = state.limits.hit(
        &format!("wallet:{}", wallet.id),
        state.config.rate_limit_per_wallet_sign,
    ) {
        record_denial(&state, &p.actor(), "RATE_LIMIT", &wallet.id, "rate_limited").await;
        return Err(ApiError::rate_limited(retry));
    }
    let (claims, ticket, input, direct) = match &body.ticket {
        Some(ticket) => {
            if body.digest.is_some() || body.message.is_some() || body.encoding.is_some() {
                return Err(ApiError::bad_request(
                    "send either `ticket` or `digest`/`message`, not both",
                ));
            }
            let (claims, input) = check_client_ticket(&state, &p, &wallet, ticket).await?;
            (claims, ticket.clone(), input, false)
        }
        None => {
            let input = sign_input(
                wallet.key_type,
                body.digest.as_deref(),
                body.message.as_deref(),
                body.encoding.as_deref(),
            )?;
            let (claims, ticket) = mint(&state, &p, &wallet, &input.digest);
            (claims, ticket, input, true)
        }
    };
    let request = SignRequest {
        key_id: wallet.id.clone(),
        ticket,
        digest: input.digest.clone(),
        message: input.message.clone(),
        attest: body.attest,
        sealed: None,
    };
    let signature = match signer_sign(&state, &p, &wallet, request).await {
        Ok(s) => s,
        Err(e) => {
            let outcome = if e.status.is_server_error() {
                format!("error:{}", e.code)
            } else {
                format!("denied:{}", e.code)
            };
            auth::record_outcome(&state, &p.actor(), "sign", &wallet.id, &outcome).await;
            return Err(e);
        }
    };
    // Host-minted tickets are consumed with the signature's audit event; a
    // client's ticket was consumed before signing.
    let op = if direct {
        WriteOp::ConsumeTicket {
            jti: claims.jti.clone(),
            wallet_id: wallet.id.clone(),
            expires_at: claims.exp,
        }
    } else {
        WriteOp::Audit
    };
    state
        .store
        .journal()
        .write(op, NewEvent::new(p.actor(), "sign", &wallet.id, "ok"))
        .await?;
    Ok(Json(signature_json(&wallet, &signature)))
}

/// Verifies a client-presented ticket (MAC, audience, expiry, wallet, key
/// type) and consumes it in storage before anything is signed, so it is
/// single-use across host restarts and replicas.
async fn check_client_ticket(
    state: &AppState,
    p: &Principal,
    wallet: &WalletRow,
    ticket: &str,
) -> Result<(TicketClaims, SignInput), ApiError> {
    let deny = |code: &'static str, status: StatusCode, message: &str| ApiError {
        status,
        code,
        message: message.to_owned(),
        retry_after: None,
    };
    let claims = match state.tickets.verify_unbound(ticket, now_ms() / 1000) {
        Ok(c) => c,
        Err(e) => {
            let code = e.code();
            record_denial(state, &p.actor(), "sign", &wallet.id, code.as_str()).await;
            return Err(ApiError::from_signer(code, &e.to_string()));
        }
    };
    if claims.wid != wallet.id || claims.kty != wallet.key_type {
        record_denial(state, &p.actor(), "sign", &wallet.id, "ticket_invalid").await;
        return Err(deny(
            "ticket_invalid",
            StatusCode::FORBIDDEN,
            "ticket invalid: issued for another wallet",
        ));
    }
    let digest =
        hex::decode(&claims.dig).map_err(|_| ApiError::bad_request("ticket digest is not hex"))?;
    let message = if wallet.key_type == KeyType::Ed25519 {
        let intent = state
            .store
            .intent(&claims.jti)
            .await?
            .filter(|i| i.wallet_id == wallet.id);
        Some(intent.and_then(|i| i.message).ok_or_else(|| {
            deny(
                "ticket_invalid",
                StatusCode::FORBIDDEN,
                "ticket invalid: no recorded intent",
            )
        })?)
    } else {
        None
    };
    let fresh = state
        .store
        .journal()
        .write(
            WriteOp::ConsumeTicket {
                jti: claims.jti.clone(),
                wallet_id: wallet.id.clone(),
                expires_at: claims.exp,
            },
            NewEvent::new(p.actor(), "ticket.consume", &wallet.id, "ok"),
        )
        .await?;
    if !fresh {
        return Err(deny(
            "ticket_replayed",
            StatusCode::CONFLICT,
            "ticket was already used",
        ));
    }
    Ok((claims, SignInput { digest, message }))
}

/// Sends a sign request; reloads the sealed key if the signer lost it, and
/// if the connection broke (signer restarting), waits for it and retries once
/// with a fresh host-minted ticket for the same wallet and digest.
async fn signer_sign(
    state: &AppState,
    p: &Principal,
    wallet: &WalletRow,
    mut request: SignRequest,
) -> Result<signet_proto::message::SignatureInfo, ApiError> {
    for attempt in 0..3 {
        match state
            .enclave
            .call(SignerRequest::Sign(request.clone()))
            .await
        {
            Ok(SignerResponse::Signed(s)) if s.public_key == wallet.public_key => return Ok(s),
            Ok(SignerResponse::Signed(_)) => {
                // E.g. an HSM key replaced on the token behind Signet's back:
                // a signature by any other key is not the wallet's.
                tracing::error!(wallet = %wallet.id, "the signer signed with a key other than the wallet's; refused");
                return Err(ApiError::internal(
                    "the signer signed with a key other than the wallet's; refused",
                ));
            }
            Ok(_) => return Err(ApiError::internal("unexpected signer response to sign")),
            Err(CallError::Refused(ErrorCode::KeyNotLoaded, _)) if request.sealed.is_none() => {
                request.sealed = Some(sealed_of(wallet)?);
            }
            Err(CallError::Unavailable(m)) if attempt < 2 => {
                tracing::warn!(wallet = %wallet.id, reason = %m, "signer unavailable; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(250 * (attempt + 1))).await;
                let (_, ticket) = mint(state, p, wallet, &request.digest);
                request.ticket = ticket;
                request.sealed = wallet
                    .sealed
                    .as_ref()
                    .map(|_| sealed_of(wallet))
                    .transpose()?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::enclave_unavailable("the signer did not answer"))
}

fn signature_json(wallet: &WalletRow, s: &signet_proto::message::SignatureInfo) -> Value {
    let der = match wallet.key_type {
        KeyType::Secp256k1 => k256::ecdsa::Signature::from_slice(&s.signature)
            .ok()
            .map(|sig| hex::encode(sig.to_der().as_bytes())),
        KeyType::P256 => p256::ecdsa::Signature::from_slice(&s.signature)
            .ok()
            .map(|sig| hex::encode(sig.to_der().as_bytes())),
        KeyType::Ed25519 => None,
    };
    let mut v = json!({
        "signature": hex::encode(&s.signature),
        "public_key": hex::encode(&s.public_key),
        "key_type": wallet.key_type.as_str(),
    });
    if let Some(r) = s.recovery_id {
        v["recovery_id"] = json!(r);
    }
    if let Some(der) = der {
        v["signature_der"] = json!(der);
    }
    if s.attestation.is_some() {
        v["attestation"] = attestation_json(s.attestation.as_ref());
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
}

async fn audit(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "audit:read", "audit").await?;
    let q = query(q)?;
    let limit = page_limit(q.limit, 100, 1000)?;
    let events = state.store.audit(q.after.unwrap_or(0), limit).await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({"events": events, "next": next})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateClientBody {
    name: String,
    tenant: String,
    scopes: Vec<String>,
}

/// Validates and creates an API client (shared by the API and `admin create-client`).
pub async fn create_api_client(
    state_store: &crate::store::Store,
    actor: &str,
    name: &str,
    tenant: &str,
    scopes: Vec<String>,
) -> Result<(ApiClientRow, zeroize::Zeroizing<String>), ApiError> {
    let printable = |s: &str, max: usize| {
        !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
    };
    if !printable(name, 128) {
        return Err(ApiError::bad_request(
            "`name` is 1 to 128 printable characters",
        ));
    }
    if !printable(tenant, 64) || tenant.contains(':') {
        return Err(ApiError::bad_request(
            "`tenant` is 1 to 64 printable characters without ':'",
        ));
    }
    if scopes.is_empty() {
        return Err(ApiError::bad_request("`scopes` must not be empty"));
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown scope `{bad}`; known: {}",
            SCOPES.join(", ")
        )));
    }
    let token = auth::new_token();
    let row = ApiClientRow {
        id: token.id.clone(),
        name: name.to_owned(),
        tenant: tenant.to_owned(),
        scopes,
        secret_sha256: token.secret_sha256.clone(),
        created_at: now_ms(),
        revoked_at: None,
    };
    let event = NewEvent::new(actor, "api_client.create", &row.id, "ok");
    state_store
        .journal()
        .write(WriteOp::CreateClient(row.clone()), event)
        .await?;
    Ok((row, token.token))
}

fn client_json(c: &ApiClientRow) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "tenant": c.tenant,
        "scopes": c.scopes,
        "created_at": rfc3339_ms(c.created_at),
        "revoked_at": c.revoked_at.map(rfc3339_ms),
    })
}

async fn create_client(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> Result<Response, ApiError> {
    require_scope(&state, &p, "admin:clients", "api-clients").await?;
    let (row, token) = create_api_client(
        &state.store,
        &p.actor(),
        &body.name,
        &body.tenant,
        body.scopes,
    )
    .await?;
    let mut v = client_json(&row);
    v["token"] = json!(token.as_str());
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn list_clients(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "admin:clients", "api-clients").await?;
    let clients = state.store.clients().await?;
    Ok(Json(
        json!({"api_clients": clients.iter().map(client_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeQuery {
    #[serde(default)]
    grace_seconds: Option<u64>,
}

async fn revoke_client(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<RevokeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "admin:clients", &id).await?;
    let grace = query(q)?.grace_seconds.unwrap_or(0);
    if grace > 30 * 24 * 3600 {
        return Err(ApiError::bad_request("`grace_seconds` is at most 30 days"));
    }
    if state.store.client(&id).await?.is_none() {
        return Err(ApiError::not_found("API client"));
    }
    let at = now_ms() + grace * 1000;
    state
        .store
        .journal()
        .write(
            WriteOp::RevokeClient { id: id.clone(), at },
            NewEvent::new(p.actor(), "api_client.revoke", &id, "ok"),
        )
        .await?;
    state.clients.forget(&id);
    Ok(Json(json!({"id": id, "revoked_at": rfc3339_ms(at)})))
}

async fn admin_status(
    State(state): State<Shared>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    require_scope(&state, &p, "admin:status", "status").await?;
    let signer = match state.enclave.call(SignerRequest::Status).await? {
        SignerResponse::Status(s) => s,
        _ => return Err(ApiError::internal("unexpected signer response to status")),
    };
    let info = state.enclave.info();
    Ok(Json(json!({
        "host": {"version": env!("CARGO_PKG_VERSION"), "uptime_seconds": state.started.elapsed().as_secs()},
        "signer": {
            "backend": signer.backend,
            "attestation_mode": signer.attestation_mode,
            "module_id": info.module_id,
            "loaded_keys": signer.loaded_keys,
            "key_cache_capacity": signer.key_cache_capacity,
            "replay_cache_entries": signer.replay_cache_entries,
            "sealing_key_version": signer.sealing_key_version,
            "uptime_seconds": signer.uptime_seconds,
        },
    })))
}
