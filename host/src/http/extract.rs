//! Extractors with DESIGN.md's errors: JSON bodies (unknown fields and bad
//! JSON are 400, oversized bodies 413), query strings (400), the
//! authenticated principal set by the authentication layer, and the peer's
//! address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Query, Request,
};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::MAX_BODY;
use crate::service::authz::Principal;
use crate::service::Error;

/// A JSON body.
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

/// A JSON body that may be absent: an empty body (no bytes, whatever the
/// headers say) is `None`; any other body is read as [`ApiJson`] would
/// (the JSON content type required, unknown fields refused, at most
/// [`MAX_BODY`] bytes).
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
            ApiError::too_large(format!("request bodies are at most {MAX_BODY} bytes"))
        })?;
        if bytes.is_empty() {
            return Ok(Self(None));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(v)| Self(Some(v)))
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// The caller, as authenticated by [`super::auth::authenticate`].
pub struct Authn(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Authn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                ApiError::from(Error::Unauthenticated(
                    "a valid API token is required: `Authorization: Bearer sgn_…`",
                ))
            })
    }
}

/// The caller if the authentication layer ran (a route that may sit behind
/// it or not, as `/metrics` does by configuration).
impl<S: Send + Sync> OptionalFromRequestParts<S> for Authn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Option<Self>, std::convert::Infallible> {
        Ok(parts.extensions.get::<Principal>().cloned().map(Self))
    }
}

/// The peer's address: set by the server per connection, loopback for
/// in-process callers (tests that call the router directly).
#[must_use]
pub fn peer_of(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip())
}

/// The path as the caller sent it (the router's `OriginalUri`): `uri()` is
/// the wallets' for a call through the `/v1/identities` alias
/// ([`super::openapi::alias`]). Audit targets and the access guard read this.
#[must_use]
pub fn path_as_sent(request: &axum::extract::Request) -> &str {
    request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or(request.uri().path(), |o| o.0.path())
}

/// The peer's address, for per-address limits (see [`peer_of`]).
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Self(peer_of(&parts.extensions)))
    }
}

/// A page size: `default` when absent, refused outside 1..=`max`.
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(format!("`limit` must be 1 to {max}")));
    }
    Ok(limit)
}
