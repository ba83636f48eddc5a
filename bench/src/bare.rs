//! The bare reference signer: what a user would write instead of Signet.
//!
//! One process, axum over HTTP/1.1, one bearer token compared in constant
//! time, secp256k1 keys held in memory and k256 signing in-process, and the
//! same request and response JSON as Signet's `sign`. No audit log, no
//! tickets, no replay protection, no rate limits, no separate signer: the
//! CPU it spends per signature is the floor that Signet's guarantees are
//! measured against (`sign ÷ bare-sign` in the same run).

use std::collections::HashMap;
use std::io::Read as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use k256::ecdsa::SigningKey;
use rand_core::RngCore as _;
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;

/// A bare reference signer started by the bench as a child process (this
/// executable with `--serve-bare`), so its CPU is measured on its own.
pub struct BareServer {
    child: Child,
    /// Its stdin: it exits when this closes.
    _stdin: ChildStdin,
    /// `host:port`.
    pub authority: String,
    /// Its bearer token.
    pub token: String,
}

impl BareServer {
    /// Starts the reference signer and waits for its listening address.
    pub fn start() -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut secret = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut secret);
        let token = hex::encode(secret);
        let mut child = Command::new(exe)
            .arg("--serve-bare")
            // In the environment, never on the command line (`ps` shows it).
            .env("SIGNET_BENCH_BARE_TOKEN", &token)
            // Held open by the bench: when the bench dies, even by SIGKILL,
            // the pipe closes and the child exits (`serve`).
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the bare reference signer: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let first = crate::server::first_line(&mut child, "the bare reference signer")?;
        let authority = first
            .strip_prefix("listening on ")
            .map(str::to_owned)
            .ok_or_else(|| format!("unexpected first line: {first}"))?;
        Ok(Self {
            child,
            _stdin: stdin,
            authority,
            token,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's state: the token and the keys by wallet id.
struct Bare {
    auth: Vec<u8>,
    keys: RwLock<HashMap<String, Arc<SigningKey>>>,
}

impl Bare {
    /// Whether the request carries the bearer token (constant time).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(axum::http::header::AUTHORIZATION)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(&self.auth)))
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({"error": {"code": code}}))).into_response()
}

/// `POST /v1/wallets`: a fresh secp256k1 key.
async fn create(State(bare): State<Arc<Bare>>, headers: HeaderMap) -> Response {
    if !bare.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let key = SigningKey::random(&mut rand_core::OsRng);
    let public_key = hex::encode(key.verifying_key().to_encoded_point(true).as_bytes());
    let mut id = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut id);
    let id = format!("w_{}", hex::encode(id));
    if let Ok(mut keys) = bare.keys.write() {
        keys.insert(id.clone(), Arc::new(key));
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "key_type": "secp256k1", "public_key": public_key, "address": ""})),
    )
        .into_response()
}

/// `POST /v1/wallets/{id}/sign` with `{"digest": "<64 hex>"}`: the same
/// fields as Signet's answer (signature, recovery id, DER, public key).
async fn sign(
    State(bare): State<Arc<Bare>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !bare.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let Some(key) = bare.keys.read().ok().and_then(|k| k.get(&id).cloned()) else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    let digest = body["digest"]
        .as_str()
        .and_then(|d| hex::decode(d).ok())
        .filter(|d| d.len() == 32);
    let Some(digest) = digest else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Ok((signature, recovery_id)) = key.sign_prehash_recoverable(&digest) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    };
    Json(json!({
        "signature": hex::encode(signature.to_bytes()),
        "recovery_id": recovery_id.to_byte(),
        "signature_der": hex::encode(signature.to_der().as_bytes()),
        "public_key": hex::encode(key.verifying_key().to_encoded_point(true).as_bytes()),
        "key_type": "secp256k1",
    }))
    .into_response()
}

/// Runs the reference signer (the `--serve-bare` child): prints
/// `listening on host:port`, then serves until killed or until its stdin
/// closes (the bench that started it is gone).
pub fn serve() -> Result<(), String> {
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let token = std::env::var("SIGNET_BENCH_BARE_TOKEN")
        .map_err(|_| "SIGNET_BENCH_BARE_TOKEN is not set".to_owned())?;
    let bare = Arc::new(Bare {
        auth: format!("Bearer {token}").into_bytes(),
        keys: RwLock::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/v1/wallets", post(create))
        .route("/v1/wallets/{id}/sign", post(sign))
        .with_state(bare);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on {addr}");
        // As Signet's server does: no Nagle delay on small responses.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}
