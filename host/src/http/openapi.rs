//! `GET /openapi.json`: the OpenAPI 3.1 description of every route,
//! generated from the handlers' and views' annotations (utoipa), so it
//! cannot drift from the code.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::{
    admin, audit, auth as login, console, eth, health, intents, metrics, signing, wallets,
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Signet host API",
        description = "The HTTPS API of the Signet signer appliance (DESIGN.md). Errors are `{\"error\":{\"code\",\"message\"}}`; unknown JSON fields are refused. `/v1/identities…` are aliases of `/v1/wallets…`."
    ),
    paths(
        health::health,
        health::ready,
        serve,
        metrics::open,
        wallets::create,
        wallets::list,
        wallets::show,
        wallets::destroy,
        wallets::update,
        wallets::attestation,
        wallets::signer_attestation,
        signing::sign_intent,
        signing::sign,
        eth::rpc,
        audit::page,
        intents::list,
        intents::show,
        intents::approve,
        intents::decline,
        console::config,
        admin::create_client,
        admin::list_clients,
        admin::revoke_client,
        admin::status,
        admin::rotate_sealing,
        login::challenge,
        login::verify,
        login::logout,
        login::invalidate_all,
        login::telegram_webhook,
    ),
    modifiers(&Bearer, &Aliases),
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

/// Every `/v1/wallets…` path again as `/v1/identities…`.
struct Aliases;

impl Modify for Aliases {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let aliases: Vec<(String, utoipa::openapi::PathItem)> = api
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                let rest = path.strip_prefix("/v1/wallets")?;
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
                Some((format!("/v1/identities{rest}"), item))
            })
            .collect();
        api.paths.paths.extend(aliases);
    }
}

/// The document as JSON.
#[must_use]
pub fn document() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
}
