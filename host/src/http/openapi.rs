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

/// Where `/v1/wallets…` is routed again, under `/v1`.
pub const IDENTITIES: &str = "/identities";

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

/// The wallet routes are nested twice (`/v1/wallets`, `/v1/identities`);
/// operation ids must be unique, so the alias's get an `_identities` suffix.
pub fn name_aliases(api: &mut utoipa::openapi::OpenApi) {
    let prefix = format!("/v1{IDENTITIES}");
    for (_, item) in api
        .paths
        .paths
        .iter_mut()
        .filter(|(path, _)| path.starts_with(&prefix))
    {
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
    }
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
