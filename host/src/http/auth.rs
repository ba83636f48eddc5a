//! The authentication layer for `/v1/…`: it hands the request's
//! credentials to the service ([`Service::authenticate_request`]: the peer's
//! failure limit, the token, the caller's rate limit) and puts the principal
//! into the request's extensions.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::clients::Credentials;
use crate::service::Service;

/// The layer.
pub async fn authenticate(
    State(service): State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    // The target of the refusals recorded here and of `NETWORK_DENY`,
    // borrowed: no copy on every request.
    let path = super::extract::path_as_sent(&request);
    let credentials = Credentials {
        peer: super::extract::peer_of(request.extensions()),
        // A header that is not text is malformed.
        authorization: request
            .headers()
            .get(AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{0}")),
        query: request.uri().query(),
        path,
    };
    let peer = credentials.peer;
    let principal = match service.authenticate_request(credentials).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = service.admit_network(&principal, peer, path).await {
        return e.into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}
