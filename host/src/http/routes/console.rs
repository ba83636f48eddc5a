//! `/console/`: the web console, from assets embedded in the binary (no
//! third-party origin), with a strict Content-Security-Policy (no inline
//! script or style), framing denied, and revalidated caching (ETag).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use include_dir::{include_dir, Dir};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::Shared;

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/console");

/// The console's Content-Security-Policy: its own scripts and styles only
/// (WebAssembly compiled from its own origin), images from itself or `data:`
/// (the login QR code), API calls to its own origin, no framing, no forms
/// posting elsewhere, no `<base>` rewriting.
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// ETags of the embedded files, computed once.
fn etags() -> &'static HashMap<&'static str, String> {
    static ETAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        let mut out = HashMap::new();
        let mut dirs = vec![&ASSETS];
        while let Some(dir) = dirs.pop() {
            for f in dir.files() {
                if let Some(path) = f.path().to_str() {
                    let digest = Sha256::digest(f.contents());
                    out.insert(path, format!("\"{}\"", hex::encode(&digest[..12])));
                }
            }
            dirs.extend(dir.dirs());
        }
        out
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Security headers on every console response.
fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn asset(path: &str, request: &HeaderMap) -> Response {
    let path = if path.is_empty() { "index.html" } else { path };
    let (Some(file), Some(etag)) = (ASSETS.get_file(path), etags().get(path)) else {
        let mut r = (StatusCode::NOT_FOUND, "not found").into_response();
        harden(r.headers_mut());
        return r;
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            file.contents(),
        )
            .into_response()
    };
    let h = r.headers_mut();
    harden(h);
    // Revalidated on every use (file names carry no hash): an upgrade is
    // seen at once, an unchanged file costs a 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// `GET /console` → `/console/`.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

/// `GET /console/`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    asset("index.html", &headers)
}

/// `GET /console/{*path}`: an embedded asset.
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    asset(&path, &headers)
}

/// How people sign in here.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginInfo {
    /// `telegram` (a bot), `test` (no bot: a challenge resolves for the
    /// `telegram_user_id` in its body; dev only) or `off`.
    #[schema(pattern = "^(telegram|test|off)$")]
    mode: &'static str,
    /// The bot's username, for the deep link.
    bot_username: Option<String>,
}

/// `GET /console/config.json`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsoleConfig {
    /// Sign-in.
    login: LoginInfo,
    /// The attestation policy this host enforces on its signer, published
    /// so that anyone can verify documents against it:
    /// `{root_pem (null = the AWS Nitro root), pcr_sets, allow_debug, max_age_seconds}`;
    /// null when the host does not check attestation.
    #[schema(value_type = Option<Object>)]
    policy: Option<serde_json::Value>,
    /// The host's version.
    version: &'static str,
    /// Passkeys: `{rp_id}`, the relying party (`CONSOLE_RP_ID`; null: the
    /// console's own host name).
    #[schema(value_type = Object)]
    passkeys: serde_json::Value,
}

/// The console's settings: how to sign in, the published attestation policy.
#[utoipa::path(get, path = "/console/config.json", tag = "console", responses((status = 200, description = "Sign-in mode and the published attestation policy", body = ConsoleConfig)))]
pub async fn config(State(service): State<Shared>) -> Response {
    let settings = service.console_settings();
    let mut r = Json(ConsoleConfig {
        login: LoginInfo {
            mode: settings.login.as_str(),
            bot_username: settings.bot_username,
        },
        policy: settings.policy,
        version: env!("CARGO_PKG_VERSION"),
        passkeys: serde_json::json!({ "rp_id": settings.rp_id }),
    })
    .into_response();
    harden(r.headers_mut());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
