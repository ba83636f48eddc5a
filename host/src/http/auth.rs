//! The authentication layer for `/v1/…`: it hands the request's
//! credentials to the service ([`Service::authenticate_request`]: the peer's
//! failure limit, the token, the caller's rate limit) and puts the principal
//! into the request's extensions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::clients::Credentials;
use crate::service::Service;

/// The peer's address (set by the server per connection; loopback for
/// in-process callers).
fn peer(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip())
}

/// The layer.
pub async fn authenticate(
    State(service): State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    let credentials = Credentials {
        peer: peer(&request),
        // A header that is not text is malformed.
        authorization: request
            .headers()
            .get(AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{0}")),
        query: request.uri().query(),
        path: request.uri().path(),
    };
    let peer = credentials.peer;
    let principal = match service.authenticate_request(credentials).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = service
        .admit_network(&principal, peer, request.uri().path())
        .await
    {
        return e.into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}
