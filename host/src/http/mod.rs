//! The HTTP adapter (axum only): the router and its tower layers, the
//! extractors, the one error mapping and the typed response views. Handlers
//! call [`crate::service`]; nothing here knows SQL or the signer protocol.

pub mod auth;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod views;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use rand_core::RngCore as _;

use self::error::ApiError;
use self::routes::{
    admin, audit, auth as login, console, eth, health, intents, metrics, signing, wallets,
};
use crate::service::Service;

/// Largest request body accepted (a 64 KiB Ed25519 message in base64 fits).
pub const MAX_BODY: usize = 128 * 1024;

/// The router: public health endpoints and the authenticated `/v1` API.
pub fn router(service: Arc<Service>) -> Router {
    let wallets = Router::new()
        .route("/", post(wallets::create).get(wallets::list))
        .route(
            "/{id}",
            get(wallets::show)
                .delete(wallets::destroy)
                .patch(wallets::update),
        )
        .route("/{id}/attestation", get(wallets::attestation))
        .route("/{id}/sign-intent", post(signing::sign_intent))
        .route("/{id}/sign", post(signing::sign));
    let v1 = Router::new()
        .nest("/wallets", wallets.clone())
        .nest("/identities", wallets)
        .route("/attestation", get(wallets::signer_attestation))
        .route("/audit", get(audit::page))
        .route("/intents", get(intents::list))
        .route("/intents/{id}", get(intents::show))
        .route("/intents/{id}/approve", post(intents::approve))
        .route("/intents/{id}/decline", post(intents::decline))
        .route(
            "/admin/api-clients",
            post(admin::create_client).get(admin::list_clients),
        )
        .route("/admin/api-clients/{id}", delete(admin::revoke_client))
        .route("/admin/status", get(admin::status))
        .route("/admin/sealing/rotate", post(admin::rotate_sealing))
        .route(
            "/admin/sessions/invalidate-all",
            post(login::invalidate_all),
        )
        .route("/auth/logout", post(login::logout))
        .route("/eth", post(eth::rpc))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            auth::authenticate,
        ))
        // Before a session exists: no token.
        .route("/auth/challenge", post(login::challenge))
        .route("/auth/verify", post(login::verify));
    let scrape = if service.config().metrics_require_api_key {
        Router::new()
            .route("/metrics", get(metrics::authenticated))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&service),
                auth::authenticate,
            ))
    } else {
        Router::new().route("/metrics", get(metrics::open))
    };
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/openapi.json", get(openapi::serve))
        .route("/telegram-webhook", post(login::telegram_webhook))
        .route("/console", get(console::redirect))
        .route("/console/", get(console::index))
        .route("/console/config.json", get(console::config))
        .route("/console/{*path}", get(console::file))
        .merge(scrape)
        .nest("/v1", v1)
        .fallback(|| async { ApiError::no_route() })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            deadline,
        ))
        .layer(middleware::from_fn(request_id))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            observe,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(cors(&service.config().allowed_origins))
        .with_state(service)
}

/// CORS for the browser origins in `ALLOWED_ORIGINS` (exact; none by
/// default): preflights answered, bearer tokens in `Authorization` (no
/// cookies, so no credentials mode), `x-request-id` and `retry-after` exposed.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(std::time::Duration::from_secs(600))
}

/// A handler that panicked: a bug. The connection survives, the caller gets
/// DESIGN.md's 500, the log gets the panic's message.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    axum::response::IntoResponse::into_response(crate::service::Error::internal(format!(
        "handler panicked: {detail}"
    )))
}

/// Answers 503 `timeout` when a request outlives `SIGNET_REQUEST_TIMEOUT_SECONDS`.
async fn deadline(
    axum::extract::State(service): axum::extract::State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(service.config().request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                seconds = service.config().request_timeout.as_secs(),
                "request timed out"
            );
            axum::response::IntoResponse::into_response(crate::service::Error::Timeout)
        }
    }
}

/// Counts every request by route template, method and status, and its
/// latency by route template (`unmatched` for paths no route matches).
async fn observe(
    axum::extract::State(service): axum::extract::State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let m = service.metrics();
    m.http_duration
        .get_or_create(&crate::metrics::RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Tags every request with an `x-request-id` (the caller's, if sane), runs it
/// in a span carrying the id, and logs it.
async fn request_id(mut request: Request, next: Next) -> Response {
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
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = route.unwrap_or_else(|| crate::service::audit::cap_target(request.uri().path()));
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", v);
    }
    let started = std::time::Instant::now();
    // Every log line of the request (handlers, service, store) carries its id.
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    tracing::info!(parent: &span, %method, %path, status = response.status().as_u16(), ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "request");
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_panic_is_a_json_500() {
        let response = super::panic_response(Box::new("boom".to_owned()));
        assert_eq!(response.status().as_u16(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "internal");
        assert_eq!(v["error"]["message"], "internal error", "no detail is sent");
    }
}
