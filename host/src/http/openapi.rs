//! `GET /openapi.json`: the OpenAPI 3.1 description of every route. The
//! router ([`super::router`]) registers each handler together with its
//! `#[utoipa::path]` description (utoipa-axum's `routes!`), so the document
//! lists exactly the routes that are served; this module holds what is not
//! a route: the title, the tags, the bearer scheme, the alias naming.

use axum::body::Bytes;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;

/// The wallets' routes.
pub const WALLETS: &str = "/v1/wallets";

/// The alias of [`WALLETS`] (older clients use that name).
pub const IDENTITIES: &str = "/v1/identities";

/// The document's parts that are not routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Signet host API",
        description = "The HTTPS API of the Signet signer appliance (DESIGN.md). Errors are `{\"error\":{\"code\",\"message\"}}`; unknown JSON fields are refused. `/v1/identities…` are aliases of `/v1/wallets…`."
    ),
    // The error sets of `super::error::responses` refer to it.
    components(schemas(ErrorBody)),
    modifiers(&Bearer),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "wallets", description = "Keys generated and held in the signer"),
        (name = "signing", description = "Tickets and signatures"),
        (name = "attestation", description = "Fresh attestation documents"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "admin", description = "API clients and status"),
        (name = "auth", description = "User login through Telegram, sessions"),
        (name = "approvals", description = "Sign intents waiting for the wallet owner's approval"),
        (name = "console", description = "The web console"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer sgn_<id>_<secret>`.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("sgn_<client id>_<secret>".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The rest of `path` after `prefix`, if `path` is `prefix` or below it
/// (`/v1/identitiesx` is not below `/v1/identities`).
fn below<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    path.strip_prefix(prefix)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Before routing: a request for `/v1/identities…` becomes one for
/// `/v1/wallets…`, its query kept. The router's `OriginalUri` keeps the
/// path as sent; the route template (metrics) is the wallets' one.
pub fn alias(mut request: axum::extract::Request) -> axum::extract::Request {
    let Some(rest) = below(IDENTITIES, request.uri().path()) else {
        return request;
    };
    let query = request.uri().query();
    let mut path =
        String::with_capacity(WALLETS.len() + rest.len() + 1 + query.map_or(0, str::len));
    path.push_str(WALLETS);
    path.push_str(rest);
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = request.uri().clone().into_parts();
    // A path that parsed once parses again with another prefix.
    if let Ok(path) = path.parse() {
        parts.path_and_query = Some(path);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Describes `/v1/identities…` by a copy of each `/v1/wallets…` operation;
/// operation ids must be unique, so the copies' get an `_identities`
/// suffix.
pub fn add_aliases(api: &mut utoipa::openapi::OpenApi) {
    let copies: Vec<(String, utoipa::openapi::PathItem)> = api
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let rest = below(WALLETS, path)?;
            let mut item = item.clone();
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.operation_id = op
                    .operation_id
                    .as_ref()
                    .map(|id| format!("{id}_identities"));
            }
            Some((format!("{IDENTITIES}{rest}"), item))
        })
        .collect();
    api.paths.paths.extend(copies);
}

/// The document as served, serialized once when the router is built.
#[derive(Clone)]
pub struct Document(Bytes);

impl Document {
    /// `api` as JSON.
    #[must_use]
    pub fn of(api: &utoipa::openapi::OpenApi) -> Self {
        Self(Bytes::from(
            api.to_json()
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
        ))
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn serve(Extension(document): Extension<Document>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.0,
    )
}

#[cfg(test)]
mod tests {
    use super::{alias, below, IDENTITIES};

    fn rewritten(uri: &str) -> String {
        let request = axum::extract::Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap_or_default();
        alias(request).uri().to_string()
    }

    #[test]
    fn the_alias_is_rewritten_with_its_query_and_nothing_else_is() {
        assert_eq!(rewritten("/v1/identities"), "/v1/wallets");
        assert_eq!(rewritten("/v1/identities/w_1/sign"), "/v1/wallets/w_1/sign");
        assert_eq!(
            rewritten("/v1/identities?limit=2&after=w_1"),
            "/v1/wallets?limit=2&after=w_1"
        );
        assert_eq!(
            rewritten("http://h:1/v1/identities/w_1?x=1"),
            "http://h:1/v1/wallets/w_1?x=1"
        );
        for untouched in [
            "/v1/identitiesx",
            "/v1/identity/w_1",
            "/identities/w_1",
            "/v1/wallets/w_1",
            "/v1/audit?target=/v1/identities",
        ] {
            assert_eq!(rewritten(untouched), untouched);
        }
        assert_eq!(below(IDENTITIES, "/v1/identities/"), Some("/"));
    }
}
