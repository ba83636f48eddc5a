//! The authentication layer for `/v1/…`: peers over their failure limit are
//! refused before any lookup; tokens in the query string, missing, malformed,
//! unknown or revoked tokens are 401 and `AUTH_DENY` events (capped targets;
//! a flood is counted, not recorded row by row); then the per-client rate
//! limit. The principal goes into the request's extensions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::audit::{Action, Event, Outcome};
use crate::service::clients::AuthFailure;
use crate::service::limits::FailureRecord;
use crate::service::{Error, Service};

/// Looks for credentials in the query string (refused: they end up in logs).
fn query_has_credentials(query: &str) -> bool {
    query.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = k.to_ascii_lowercase();
        [
            "token",
            "access_token",
            "api_key",
            "apikey",
            "authorization",
            "key",
        ]
        .contains(&k.as_str())
            || v.starts_with("sgn_")
            || v.starts_with("sgn%5F")
            || v.starts_with("sgn%5f")
    })
}

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
    let peer = peer(&request);
    if let Err(retry_after) = service.peers.check(peer) {
        service.metrics.rate_limited.inc();
        service.metrics.security_event("RATE_LIMIT");
        service.metrics.security_event("AUTH_DENY");
        return Error::RateLimited { retry_after }.into_response();
    }
    let result = if request.uri().query().is_some_and(query_has_credentials) {
        Err(AuthFailure::TokenInQuery)
    } else {
        let authorization = request
            .headers()
            .get(AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{0}"));
        service.authenticate(authorization).await
    };
    let principal = match result {
        Ok(p) => p,
        Err(AuthFailure::Storage) => {
            return Error::Storage(crate::store::StoreError("client lookup failed".into()))
                .into_response()
        }
        Err(failure) => {
            service.metrics.security_event("AUTH_DENY");
            if service.peers.failed(peer) == FailureRecord::Log {
                service
                    .audit
                    .record(Event::new(
                        "anonymous",
                        Action::AuthDeny,
                        request.uri().path(),
                        Outcome::Denied(failure.code().to_owned()),
                    ))
                    .await;
            }
            let message = if failure == AuthFailure::TokenInQuery {
                "credentials in the query string are refused; send `Authorization: Bearer …`"
            } else {
                "a valid API token or session is required: `Authorization: Bearer sgn_…` or `Bearer <session>`"
            };
            return Error::Unauthenticated(message).into_response();
        }
    };
    let path = request.uri().path().to_owned();
    if let Err(e) = service
        .rate_limit(
            &principal,
            &principal.actor(),
            service.config.rate_limit_per_client,
            &path,
        )
        .await
    {
        return e.into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_queries_are_spotted() {
        assert!(query_has_credentials("token=abc"));
        assert!(query_has_credentials("limit=5&access_token=x"));
        assert!(query_has_credentials("nonce=sgn_0123"));
        assert!(query_has_credentials("x=sgn%5f0123"));
        assert!(!query_has_credentials("nonce=00ff&limit=10"));
    }
}
