//! API-client authentication (bearer tokens `sgn_<id>_<secret>`), scopes,
//! tenancy, and per-client rate limits — one tower layer, not code repeated
//! in handlers. Every refusal is an audit event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand_core::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ApiClientRow, NewEvent};

/// Scopes an API client may hold (`*` and `prefix:*` are wildcards).
pub const SCOPES: &[&str] = &[
    "*",
    "wallets:*",
    "wallets:read",
    "wallets:write",
    "sign",
    "audit:read",
    "metrics:read",
    "admin:*",
    "admin:clients",
    "admin:status",
];

/// An authenticated API client.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Client id.
    pub client_id: String,
    /// Tenant.
    pub tenant: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl Principal {
    /// `client:<id>`, the audit actor.
    #[must_use]
    pub fn actor(&self) -> String {
        format!("client:{}", self.client_id)
    }

    /// The owner string of wallets this principal creates and sees.
    #[must_use]
    pub fn owner(&self) -> String {
        format!("tenant:{}", self.tenant)
    }

    /// Whether `needed` is granted (exactly, by `*`, or by `prefix:*`).
    #[must_use]
    pub fn has_scope(&self, needed: &str) -> bool {
        self.scopes.iter().any(|s| {
            s == "*"
                || s == needed
                || s.strip_suffix(":*")
                    .is_some_and(|prefix| needed.split(':').next() == Some(prefix))
        })
    }
}

/// A freshly made token: shown once, stored as SHA-256 of its secret.
pub struct NewToken {
    /// Client id.
    pub id: String,
    /// The whole token `sgn_<id>_<secret>`.
    pub token: zeroize::Zeroizing<String>,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
}

/// Makes a client id and token.
#[must_use]
pub fn new_token() -> NewToken {
    let mut id = [0u8; 12];
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(&mut id);
    rand_core::OsRng.fill_bytes(secret.as_mut());
    let id = hex::encode(id);
    let secret_hex = zeroize::Zeroizing::new(hex::encode(secret.as_ref()));
    NewToken {
        token: zeroize::Zeroizing::new(format!("sgn_{id}_{}", secret_hex.as_str())),
        secret_sha256: hex::encode(Sha256::digest(secret_hex.as_bytes())),
        id,
    }
}

/// Splits `sgn_<id>_<secret>`.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("sgn_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 24
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && !secret.is_empty()
        && secret.len() <= 128)
        .then_some((id, secret))
}

/// Recently read API clients (`None` = no such client).
pub type ClientCache = crate::cache::TtlCache<Option<ApiClientRow>>;

/// Fixed-window counters (per client, per wallet).
pub struct RateLimiter {
    window: Duration,
    counters: Mutex<HashMap<String, (u64, Instant)>>,
}

impl RateLimiter {
    /// Counters over `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one hit on `key`; `Err(retry_after_seconds)` past `limit` (0 = unlimited).
    pub fn hit(&self, key: &str, limit: u64) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let Ok(mut counters) = self.counters.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if counters.len() > 200_000 {
            counters.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        }
        let entry = counters.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 > limit {
            let left = self.window.saturating_sub(now.duration_since(entry.1));
            return Err(left.as_secs() + 1);
        }
        Ok(())
    }
}

/// Records a refusal (`denied:<code>`) in the audit log; never fails the
/// request for it.
pub async fn record_denial(state: &AppState, actor: &str, action: &str, target: &str, code: &str) {
    record_outcome(state, actor, action, target, &format!("denied:{code}")).await;
}

/// Records an event with any outcome; never fails the request for it.
pub async fn record_outcome(
    state: &AppState,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
) {
    let event = NewEvent::new(actor, action, target, outcome);
    if let Err(e) = state
        .store
        .journal()
        .write(crate::store::WriteOp::Audit, event)
        .await
    {
        tracing::error!(error = %e, action, "could not record an audit event");
    }
}

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
    })
}

/// The authentication layer for `/v1/…`.
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if request.uri().query().is_some_and(query_has_credentials) {
        record_denial(&state, "anonymous", "AUTH_DENY", &path, "token_in_query").await;
        return ApiError::bad_request(
            "credentials in the query string are refused; send `Authorization: Bearer …`",
        )
        .into_response();
    }
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|h| h.to_str().map(str::to_owned));
    let principal = match principal(&state, authorization).await {
        Ok(p) => p,
        Err((reason, err)) => {
            record_denial(&state, "anonymous", "AUTH_DENY", &path, reason).await;
            return err.into_response();
        }
    };
    if let Err(retry) = state.limits.hit(
        &format!("client:{}", principal.client_id),
        state.config.rate_limit_per_client,
    ) {
        record_denial(
            &state,
            &principal.actor(),
            "RATE_LIMIT",
            &path,
            "rate_limited",
        )
        .await;
        return ApiError::rate_limited(retry).into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

async fn principal(
    state: &AppState,
    authorization: Option<Result<String, axum::http::header::ToStrError>>,
) -> Result<Principal, (&'static str, ApiError)> {
    let denied = |reason| {
        (
            reason,
            ApiError::unauthenticated(
                "a valid API token is required: `Authorization: Bearer sgn_…`",
            ),
        )
    };
    let header = authorization.ok_or_else(|| denied("missing_token"))?;
    let token = header
        .as_deref()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| denied("malformed_authorization"))?;
    let (id, secret) = parse_token(token).ok_or_else(|| denied("malformed_token"))?;
    let row = match state.clients.get(id) {
        Some(row) => row,
        None => {
            let row = state
                .store
                .client(id)
                .await
                .map_err(|e| ("storage", ApiError::storage(&e)))?;
            state.clients.put(id, row.clone());
            row
        }
    };
    // Hash and compare even for unknown ids, so timing does not reveal which exist.
    let presented = hex::encode(Sha256::digest(secret.as_bytes()));
    let stored = row.as_ref().map_or("", |r| r.secret_sha256.as_str());
    let matches: bool = presented.as_bytes().ct_eq(stored.as_bytes()).into();
    let row = row.filter(|_| matches).ok_or_else(|| denied("bad_token"))?;
    if row
        .revoked_at
        .is_some_and(|at| at <= signet_proto::time::now_ms())
    {
        return Err(denied("revoked_token"));
    }
    Ok(Principal {
        client_id: row.id,
        tenant: row.tenant,
        scopes: row.scopes,
    })
}

/// Refuses (with a `SCOPE_DENY` event) unless `principal` holds `scope`.
pub async fn require_scope(
    state: &AppState,
    principal: &Principal,
    scope: &str,
    target: &str,
) -> Result<(), ApiError> {
    if principal.has_scope(scope) {
        return Ok(());
    }
    record_denial(state, &principal.actor(), "SCOPE_DENY", target, scope).await;
    Err(ApiError::scope_denied(scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(scopes: &[&str]) -> Principal {
        Principal {
            client_id: "c".into(),
            tenant: "t".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn scope_wildcards() {
        assert!(p(&["*"]).has_scope("admin:clients"));
        assert!(p(&["wallets:*"]).has_scope("wallets:write"));
        assert!(!p(&["wallets:*"]).has_scope("sign"));
        assert!(p(&["sign"]).has_scope("sign"));
        assert!(!p(&["wallets:read"]).has_scope("wallets:write"));
        assert!(!p(&["admin:*"]).has_scope("adminx:clients"));
    }

    #[test]
    fn tokens_parse_and_hash() {
        let t = new_token();
        let (id, secret) = parse_token(&t.token).unwrap();
        assert_eq!(id, t.id);
        assert_eq!(
            hex::encode(Sha256::digest(secret.as_bytes())),
            t.secret_sha256
        );
        for bad in [
            "",
            "sgn_",
            "Bearer x",
            "sgn_abc_def",
            &format!("sgx_{}_x", t.id),
            &format!("sgn_{}_", t.id),
        ] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn credentials_in_queries_are_spotted() {
        assert!(query_has_credentials("token=abc"));
        assert!(query_has_credentials("limit=5&access_token=x"));
        assert!(query_has_credentials("nonce=sgn_0123"));
        assert!(!query_has_credentials("nonce=00ff&limit=10"));
    }

    #[test]
    fn rate_limiter_counts_per_key() {
        let l = RateLimiter::new(Duration::from_secs(60));
        assert!(l.hit("a", 2).is_ok());
        assert!(l.hit("a", 2).is_ok());
        assert!(l.hit("a", 2).unwrap_err() >= 1);
        assert!(l.hit("b", 2).is_ok());
        assert!(l.hit("c", 0).is_ok());
    }
}
