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
use axum::routing::get;
use axum::Router;
use rand_core::RngCore as _;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error::ApiError;
use self::routes::{
    admin, audit, auth as login, console, eth, health, intents, metrics, people, signing, wallets,
    Shared,
};
use crate::service::Service;

/// Largest request body accepted (a 64 KiB Ed25519 message in base64 fits).
pub const MAX_BODY: usize = 128 * 1024;

/// The router: public health endpoints and the authenticated `/v1` API.
///
/// The one route list: each `routes!` registers its handlers with axum and
/// their `#[utoipa::path]` descriptions (full paths) in the OpenAPI document
/// served at `/openapi.json`. The console's pages are not API operations and
/// are routed only. `/v1/identities…` is served as `/v1/wallets…`
/// ([`openapi::alias`], before routing) and described by copies of its
/// operations ([`openapi::add_aliases`]).
///
/// Routes are registered flat, not nested: every nesting level and every
/// `Router::layer` wraps each route in a boxed service that is cloned and
/// dropped on every request, and a nested route rewrites the URI per level
/// (issue 29).
pub fn router(service: Arc<Service>) -> Router {
    // Everything here needs a token; the login routes, added below, do not.
    let authenticated = OpenApiRouter::<Shared>::default()
        .routes(routes!(wallets::create, wallets::list))
        .routes(routes!(wallets::show, wallets::destroy, wallets::update))
        .routes(routes!(wallets::attestation))
        .routes(routes!(wallets::change_record))
        .routes(routes!(wallets::list_proposals))
        .routes(routes!(wallets::show_proposal))
        .routes(routes!(wallets::approve_proposal))
        .routes(routes!(wallets::check))
        .routes(routes!(wallets::resume))
        .routes(routes!(signing::sign_intent))
        .routes(routes!(signing::sign))
        .routes(routes!(wallets::signer_attestation))
        .routes(routes!(audit::page))
        .routes(routes!(intents::list))
        .routes(routes!(intents::show))
        .routes(routes!(intents::approve))
        .routes(routes!(intents::decline))
        .routes(routes!(admin::create_client, admin::list_clients))
        .routes(routes!(admin::revoke_client))
        .routes(routes!(admin::confirm))
        .routes(routes!(admin::freeze, admin::unfreeze))
        .routes(routes!(admin::status))
        .routes(routes!(admin::rotate_sealing))
        .routes(routes!(login::invalidate_all))
        .routes(routes!(login::logout))
        .routes(routes!(people::list))
        .routes(routes!(people::revoke))
        .routes(routes!(people::revoke_tenant))
        .routes(routes!(login::revoke_user_sessions))
        .routes(routes!(login::ban_user, login::unban_user))
        .routes(routes!(eth::rpc))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            auth::authenticate,
        ));
    let scrape = OpenApiRouter::default().routes(routes!(metrics::scrape));
    let scrape = if service.config().metrics_require_api_key {
        scrape.layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            auth::authenticate,
        ))
    } else {
        scrape
    };
    let (router, mut api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(openapi::serve))
        .routes(routes!(login::telegram_webhook))
        .route("/", get(console::redirect))
        .route("/console", get(console::redirect))
        .route("/console/", get(console::index))
        .routes(routes!(console::config))
        .route("/console/{*path}", get(console::file))
        .merge(scrape)
        .merge(authenticated)
        // Before a session exists: no token.
        .routes(routes!(login::challenge))
        .routes(routes!(login::verify))
        .split_for_parts();
    openapi::add_aliases(&mut api);
    // `around` needs the matched route, so it runs after matching: a
    // `Router::layer`, which wraps every route and the fallback (404s and
    // axum's empty 405s get a request id and are counted; `route_layer`
    // would skip them). The layers that need no route wrap the routed
    // router once, in one static stack: `Router::layer` wraps every route
    // in another boxed service, cloned and dropped on every request
    // (issue 29).
    let routed = router
        .fallback(|| async { ApiError::no_route() })
        .layer(middleware::from_fn_with_state(Arc::clone(&service), around))
        .with_state(Arc::clone(&service));
    let outer = tower::ServiceBuilder::new()
        .layer(cors(&service.config().allowed_origins))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::Extension(openapi::Document::of(&api)))
        .layer(middleware::map_response(json_405))
        .map_request(openapi::alias)
        .service(routed);
    Router::new().fallback_service(outer)
}

/// Axum answers a known route with another method by an empty 405 (also
/// behind route layers): the API's JSON error instead, with the
/// empty answer's headers kept (`Allow`, and `x-request-id`, which
/// `around` has set by then).
async fn json_405(response: Response) -> Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    if response.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut json = axum::response::IntoResponse::into_response(ApiError::method_not_allowed());
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            json.headers_mut().append(name, value.clone());
        }
    }
    json
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

/// Around every request, in one layer (three `from_fn` layers cost the
/// sign path a boxed future and a service clone each, issue 29):
/// - an `x-request-id` (the caller's, if sane, else a fresh one) on the
///   request and its response, and a span carrying it for every log line of
///   the request (handlers, service, store), then the request's own log line;
/// - a deadline: 503 `timeout` when a request outlives
///   `SIGNET_REQUEST_TIMEOUT_SECONDS`;
/// - metrics: every request counted by route template, method and status,
///   and its latency by route template (`unmatched` for paths no route
///   matches), the deadline's 503 included.
async fn around(
    axum::extract::State(service): axum::extract::State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let method = request.method().clone();
    let id = request_id_of(&request);
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", v);
    }
    // Unmatched: the path as sent (before the alias rewrite), capped.
    let path = route
        .clone()
        .unwrap_or_else(|| crate::service::audit::cap_target(extract::path_as_sent(&request)));
    let span = tracing::info_span!("request", request_id = %id);
    let timeout = service.config().request_timeout;
    let run = tokio::time::timeout(timeout, next.run(request));
    let mut response = match tracing::Instrument::instrument(run, span.clone()).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(parent: &span, seconds = timeout.as_secs(), "request timed out");
            axum::response::IntoResponse::into_response(crate::service::Error::Timeout)
        }
    };
    let status = response.status().as_u16();
    tracing::info!(parent: &span, %method, %path, status, ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "request");
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let m = service.metrics();
    m.http_duration
        .get_or_create(&crate::metrics::RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            route,
            method: method.as_str().to_owned(),
            status,
        })
        .inc();
    response
}

/// The caller's `x-request-id` if sane (1–64 of `[A-Za-z0-9-]`), else a
/// fresh random one.
fn request_id_of(request: &Request) -> String {
    request
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
            signet_proto::hexstr::encode(b)
        })
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
