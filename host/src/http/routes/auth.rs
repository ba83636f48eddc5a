//! `/v1/auth/*` (user login and logout) and `/v1/admin/sessions/invalidate-all`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use signet_proto::time::rfc3339_ms;

use super::Shared;
use crate::http::error::{
    responses::{Authenticated, Authorized, BadInput, TooLarge},
    ApiError, ErrorBody,
};
use crate::http::extract::{ApiJson, Authn, Peer};

/// `POST /v1/auth/challenge` body.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    /// Test mode only: resolve the challenge at once for this Telegram user.
    #[serde(default)]
    #[schema(minimum = 1)]
    telegram_user_id: Option<i64>,
}

/// A login challenge.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChallengeView {
    /// Its id (unguessable, single use).
    challenge_id: String,
    /// Open it in Telegram and press Start: `https://t.me/<bot>?start=<challenge_id>`.
    deep_link: String,
    /// RFC 3339.
    expires_at: String,
    /// The deep link as a QR code (an SVG document), for a phone.
    qr_svg: String,
    /// A secret for this caller only: `POST /auth/verify` needs it. Keep it
    /// in the page's memory; never put it in a link or a QR code.
    verifier: String,
    /// Two digits to show on the page: in Telegram the person presses this
    /// number (another number, or "Not me", cancels the sign-in).
    code: String,
}

/// `link` as a QR code, an SVG document.
fn qr_svg(link: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(link.as_bytes())
        .map_err(|e| ApiError::from(crate::service::Error::internal(format!("QR code: {e}"))))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// `POST /v1/auth/verify` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The challenge's id.
    #[schema(min_length = 1, max_length = 64)]
    challenge_id: String,
    /// The `verifier` the challenge was created with.
    #[schema(min_length = 1, max_length = 128)]
    verifier: String,
}

/// A signed-in user.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// User id.
    id: String,
    /// Their Telegram user id.
    telegram_user_id: i64,
}

/// A session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// `Authorization: Bearer <token>` wherever an API token is accepted.
    token: String,
    /// Who.
    user: UserView,
    /// RFC 3339.
    expires_at: String,
}

/// `POST /v1/admin/sessions/invalidate-all` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvalidatedView {
    /// Sessions issued before this time (RFC 3339) are refused.
    not_before: String,
}

impl InvalidatedView {
    /// From the time (Unix ms).
    pub(crate) fn at(ms: u64) -> Self {
        Self {
            not_before: rfc3339_ms(ms),
        }
    }
}

/// Starts a login: a challenge, its Telegram deep link, the verifier only
/// this caller holds and the code its page shows.
#[utoipa::path(post, path = "/v1/auth/challenge", tag = "auth", request_body = ChallengeBody, responses((status = 201, description = "A challenge", body = ChallengeView), (status = 400, description = "Bad input (`telegram_user_id` outside test mode)", body = ErrorBody), (status = 404, description = "User login is not configured (`not_configured`)", body = ErrorBody), (status = 429, description = "Too many challenges from this address; see `Retry-After`", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)))]
pub async fn challenge(
    State(service): State<Shared>,
    Peer(peer): Peer,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ChallengeView>), ApiError> {
    // The body is optional (no body, or `{}`, outside test mode).
    let body: ChallengeBody = if body.iter().all(u8::is_ascii_whitespace) {
        ChallengeBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let c = service
        .create_challenge(peer, user_agent, body.telegram_user_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ChallengeView {
            challenge_id: c.id,
            qr_svg: qr_svg(&c.deep_link)?,
            deep_link: c.deep_link,
            expires_at: rfc3339_ms(c.expires_at),
            verifier: String::from_utf8_lossy(c.verifier.expose()).into_owned(),
            code: c.code,
        }),
    ))
}

/// Exchanges a resolved challenge for a session (once), for the caller
/// holding its verifier.
#[utoipa::path(post, path = "/v1/auth/verify", tag = "auth", request_body = VerifyBody, responses((status = 200, description = "A session", body = SessionView), BadInput, (status = 404, description = "Unknown challenge, or not this challenge's verifier", body = ErrorBody), (status = 409, description = "Not resolved yet (`challenge_pending`) or already exchanged (`challenge_used`)", body = ErrorBody), (status = 410, description = "Expired (`challenge_expired`) or refused in Telegram (`challenge_refused`)", body = ErrorBody), (status = 403, description = "The user is banned (`forbidden`)", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)))]
pub async fn verify(
    State(service): State<Shared>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<SessionView>, ApiError> {
    let s = service
        .verify_challenge(&body.challenge_id, &body.verifier)
        .await?;
    Ok(Json(SessionView {
        token: s.token,
        user: UserView {
            id: s.user.id,
            telegram_user_id: s.user.telegram_user_id,
        },
        expires_at: rfc3339_ms(s.expires_at.saturating_mul(1000)),
    }))
}

/// `POST /v1/auth/logout` body (optional).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    /// End every session of this person issued up to now (other browsers,
    /// the CLI), not only this one.
    #[serde(default)]
    all: bool,
}

/// Ends the caller's session (or, with `{"all": true}`, every session of
/// the caller's user), on every replica.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body(content = LogoutBody, description = "Optional"), responses((status = 204, description = "The session (or every session of the user) is revoked"), Authenticated, (status = 400, description = "Not a session (API tokens are revoked by an admin), or a bad body", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn logout(
    State(service): State<Shared>,
    Authn(p): Authn,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let body: LogoutBody = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    service.logout(&p, body.all).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user id in a path: anything longer than an id is no user.
fn user_id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Err(crate::service::Error::NotFound("user").into());
    }
    Ok(id)
}

/// Ends every session of user `id` issued until now, on every replica
/// (operators).
#[utoipa::path(post, path = "/v1/admin/users/{id}/revoke-sessions", tag = "admin", params(("id" = String, Path, description = "The user id")), responses((status = 200, description = "From when the user's sessions are accepted again", body = InvalidatedView), Authorized, (status = 404, description = "No such user", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_user_sessions(
    State(service): State<Shared>,
    Authn(p): Authn,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<InvalidatedView>, ApiError> {
    let at = service.revoke_user_sessions(&p, user_id(&id)?).await?;
    Ok(Json(InvalidatedView {
        not_before: rfc3339_ms(at),
    }))
}

/// Bans user `id` from signing in and ends their sessions (operators).
#[utoipa::path(post, path = "/v1/admin/users/{id}/ban", tag = "admin", params(("id" = String, Path, description = "The user id")), responses((status = 204, description = "Banned; their sessions are refused"), Authorized, (status = 404, description = "No such user", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn ban_user(
    State(service): State<Shared>,
    Authn(p): Authn,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    service.ban_user(&p, user_id(&id)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a user's ban (operators); their old sessions stay ended.
#[utoipa::path(delete, path = "/v1/admin/users/{id}/ban", tag = "admin", params(("id" = String, Path, description = "The user id")), responses((status = 204, description = "The ban is lifted"), Authorized, (status = 404, description = "No such user", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn unban_user(
    State(service): State<Shared>,
    Authn(p): Authn,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    service.ban_user(&p, user_id(&id)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses every session issued until now, on every replica (operators).
#[utoipa::path(post, path = "/v1/admin/sessions/invalidate-all", tag = "admin", responses((status = 200, description = "From when sessions are accepted again", body = InvalidatedView), (status = 202, description = "With SIGNET_OPERATOR_QUORUM=2: waiting for a second operator's confirmation", body = super::admin::PendingView), Authorized, (status = 403, description = "A scope is missing (`scope_denied`)", body = ErrorBody), (status = 503, description = "Storage unavailable; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn invalidate_all(
    State(service): State<Shared>,
    Authn(p): Authn,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    if let Some(pending) = service
        .gate(&p, crate::service::confirmations::Gated::InvalidateSessions)
        .await?
    {
        return Ok(super::admin::accepted(pending));
    }
    let at = service.invalidate_all_sessions(&p).await?;
    Ok(Json(InvalidatedView::at(at)).into_response())
}

/// Telegram delivers updates here (webhook mode): refused without the
/// secret token registered with the webhook (401, a security event, capped
/// per address as `/v1`'s authentication failures are; past the address's
/// failure limit 429); updates it does not handle are acknowledged (200)
/// and ignored; the same `update_id` twice is handled once.
#[utoipa::path(post, path = "/telegram-webhook", tag = "auth", request_body(content = Object, description = "A Telegram Update"), params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "The secret token given to setWebhook")), responses((status = 200, description = "Taken (or ignored)"), TooLarge, (status = 400, description = "Not JSON", body = ErrorBody), (status = 401, description = "Missing or wrong secret token", body = ErrorBody), (status = 404, description = "Webhook mode is not configured (`not_configured`)", body = ErrorBody), (status = 429, description = "Too many wrong secrets from this address (`RATE_LIMIT_AUTH_FAILURES_PER_IP`); see `Retry-After`", body = ErrorBody), (status = 503, description = "Storage unavailable (Telegram retries)", body = ErrorBody)))]
pub async fn telegram_webhook(
    State(service): State<Shared>,
    Peer(peer): Peer,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let secret = headers
        .get("x-telegram-bot-api-secret-token")
        .map(axum::http::HeaderValue::as_bytes);
    service.telegram_webhook(peer, secret, &body).await?;
    Ok(StatusCode::OK)
}
