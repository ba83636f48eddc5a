//! API clients: tokens (`sgn_<id>_<secret>`, only SHA-256 of the secret is
//! stored, compared in constant time), authentication, and the client
//! administration of the tenancy model in [`super::authz`].

use rand_core::RngCore as _;
use sha2::{Digest as _, Sha256};
use signet_proto::time::now_ms;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

use super::audit::{Action, Event, Outcome, SecurityEvent};
use super::authz::{Grant, Principal, Scope};
use super::limits::Limit;
use super::{Denier, Error, Result, Service};
use crate::domain::ApiClient;
use crate::store::{Store, StoreError, WriteOp};

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
    let id = signet_proto::hexstr::encode(id);
    let secret_hex = zeroize::Zeroizing::new(signet_proto::hexstr::encode(secret.as_ref()));
    NewToken {
        token: zeroize::Zeroizing::new(format!("sgn_{id}_{}", secret_hex.as_str())),
        secret_sha256: signet_proto::hexstr::encode(Sha256::digest(secret_hex.as_bytes())),
        id,
    }
}

/// Splits `sgn_<id>_<secret>`.
#[must_use]
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("sgn_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 24
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && !secret.is_empty()
        && secret.len() <= 128)
        .then_some((id, secret))
}

/// Why authentication failed (the audit reason; the caller only learns 401).
#[derive(Clone, Debug)]
pub enum AuthFailure {
    /// No `Authorization` header.
    MissingToken,
    /// Not `Bearer <token>`.
    MalformedAuthorization,
    /// Not `sgn_<id>_<secret>`.
    MalformedToken,
    /// No such client, or the wrong secret.
    BadToken,
    /// Revoked (an API client, or a logged-out or invalidated session).
    RevokedToken,
    /// A session past its expiry.
    ExpiredSession,
    /// The token was in the query string.
    TokenInQuery,
    /// Storage failed while looking the client up.
    Storage(StoreError),
}

impl PartialEq for AuthFailure {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

impl AuthFailure {
    /// The reason code in the audit log.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::MalformedToken => "malformed_token",
            Self::BadToken => "bad_token",
            Self::RevokedToken => "revoked_token",
            Self::ExpiredSession => "expired_session",
            Self::TokenInQuery => "token_in_query",
            Self::Storage(_) => "storage",
        }
    }
}

/// Who creates a client.
#[derive(Clone, Copy, Debug)]
pub enum Creator<'a> {
    /// The operator at the console of the database (`signet-host admin`,
    /// the dev bootstrap): any tenant, any scopes.
    Operator,
    /// An API client with `admin:clients`, inside the tenancy model.
    Client(&'a Principal),
}

/// Looks for credentials in the query string (refused: they end up in logs).
#[must_use]
pub fn query_has_credentials(query: &str) -> bool {
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

/// An API request's credentials, as the HTTP layer found them.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The peer's address (for the per-address failure limit).
    pub peer: std::net::IpAddr,
    /// The `Authorization` header (`None`: absent; a value that is not
    /// text is malformed).
    pub authorization: Option<&'a str>,
    /// The query string, where credentials are refused.
    pub query: Option<&'a str>,
    /// The path asked for (the audit target of a refusal).
    pub path: &'a str,
}

impl Service {
    /// Authenticates an API request, then counts it against the caller's
    /// own rate limit. A valid token passes whatever its peer address did
    /// before: a 256-bit token cannot be guessed, and the per-peer limit
    /// exists for the audit log and the work failures cause. A missing,
    /// malformed, unknown or revoked token is 401 and an `AUTH_DENY` event
    /// (capped per peer; a flood is counted, not recorded row by row); past
    /// the peer's failure limit such a failure is 429 instead. A token in
    /// the query string is always 401 (no retry helps it).
    pub async fn authenticate_request(&self, request: Credentials<'_>) -> Result<Principal> {
        let result = if request.query.is_some_and(query_has_credentials) {
            Err(AuthFailure::TokenInQuery)
        } else {
            self.authenticate(request.authorization).await
        };
        let principal = match result {
            Ok(p) => p,
            Err(AuthFailure::Storage(e)) => return Err(Error::Storage(e)),
            Err(failure) => {
                if failure != AuthFailure::TokenInQuery {
                    self.refuse_peer_over_limit(request.peer, SecurityEvent::AuthDeny)?;
                }
                self.record_peer_failure(
                    request.peer,
                    SecurityEvent::AuthDeny,
                    request.path,
                    Outcome::denied(failure.code()),
                )
                .await;
                return Err(Error::Unauthenticated(
                    if failure == AuthFailure::TokenInQuery {
                        "credentials in the query string are refused; send `Authorization: Bearer …`"
                    } else {
                        "a valid API token or session is required: `Authorization: Bearer sgn_…` or `Bearer <session>`"
                    },
                ));
            }
        };
        self.rate_limit(
            &principal,
            Limit::PerClient,
            &principal.actor(),
            request.path,
        )
        .await?;
        Ok(principal)
    }

    /// The principal of an `Authorization` header value.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> std::result::Result<Principal, AuthFailure> {
        let header = authorization.ok_or(AuthFailure::MissingToken)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or(AuthFailure::MalformedAuthorization)?;
        if !token.starts_with("sgn_") && token.bytes().filter(|b| *b == b'.').count() == 2 {
            return self.authenticate_session(token).await;
        }
        let (id, secret) = parse_token(token).ok_or(AuthFailure::MalformedToken)?;
        let row = match self.clients.get(id) {
            Some(row) => row,
            None => {
                let row = self
                    .store
                    .client(id)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "storage failure during authentication");
                        AuthFailure::Storage(e)
                    })?
                    .map(Arc::new);
                self.clients.put(id, row.clone());
                row
            }
        };
        // Hash and compare even for unknown ids, so timing does not reveal which exist.
        let presented = signet_proto::hexstr::encode(Sha256::digest(secret.as_bytes()));
        let stored = row.as_ref().map_or("", |r| r.secret_sha256.as_str());
        let matches: bool = presented.as_bytes().ct_eq(stored.as_bytes()).into();
        let row = row.filter(|_| matches).ok_or(AuthFailure::BadToken)?;
        if row.revoked_at_ms.is_some_and(|at| at <= now_ms()) {
            return Err(AuthFailure::RevokedToken);
        }
        self.note_client_use(&row.id).await;
        Ok(Principal::from_client(&row))
    }

    /// Records a client's use in the database at most once a minute per
    /// client on this replica (`last_used_at`); a failure is logged, never
    /// fails the request.
    async fn note_client_use(&self, id: &str) {
        const EVERY_MS: u64 = 60_000;
        let now = now_ms();
        let due = {
            let mut uses = self
                .client_uses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Bounded: forget the oldest half when it grows past 100,000.
            if uses.len() > 100_000 {
                let mut times: Vec<u64> = uses.values().copied().collect();
                times.sort_unstable();
                let cut = times[times.len() / 2];
                uses.retain(|_, at| *at > cut);
            }
            match uses.get(id) {
                Some(at) if now.saturating_sub(*at) < EVERY_MS => false,
                _ => {
                    uses.insert(id.to_owned(), now);
                    true
                }
            }
        };
        if due {
            if let Err(e) = self.store.touch_client(id, now).await {
                tracing::warn!(error = %e, client = id, "could not record the client's last use");
            }
        }
    }

    /// Revokes every client of `tenant` at once, but the caller's own
    /// (an operator's incident response, or a tenant admin for its own
    /// tenant; each revocation audited): the ids revoked.
    pub async fn revoke_tenant_clients(
        &self,
        principal: &Principal,
        tenant: &str,
    ) -> Result<Vec<String>> {
        self.require(principal, Scope::AdminClients, tenant).await?;
        if !principal.is_operator() && principal.tenant() != tenant {
            return Err(Error::NotFound("tenant"));
        }
        let own = match principal {
            Principal::Client(c) => Some(c.id.as_str()),
            Principal::User { .. } => None,
        };
        let now = now_ms();
        let targets: Vec<ApiClient> = self
            .store
            .clients(Some(tenant))
            .await?
            .into_iter()
            .filter(|c| c.revoked_at_ms.is_none_or(|at| at > now) && Some(c.id.as_str()) != own)
            .collect();
        // All or nothing: a client the caller may not revoke (it holds a
        // scope the caller could not grant) stops the whole request first.
        if let Some((client, scope)) = targets
            .iter()
            .find_map(|c| principal.outranked_by(&c.scopes).map(|s| (c, s)))
        {
            self.deny(
                SecurityEvent::ScopeDeny,
                Denier::Principal(principal),
                &client.id,
                Outcome::Denied(scope.to_owned().into()),
            )
            .await;
            return Err(Error::Outranked {
                client: client.id.clone(),
                scope: scope.to_owned(),
            });
        }
        let mut revoked = Vec::new();
        for client in targets {
            self.revoke_client(principal, &client.id, 0).await?;
            revoked.push(client.id);
        }
        Ok(revoked)
    }

    /// API clients the principal may see (`admin:clients`): its tenant's,
    /// or every tenant's for operators.
    pub async fn list_clients(&self, principal: &Principal) -> Result<Vec<ApiClient>> {
        self.require(principal, Scope::AdminClients, "api-clients")
            .await?;
        Ok(self.store.clients(principal.tenant_filter()).await?)
    }

    /// The API clients attached to a person's tenant (`user:<id>`: a
    /// merchant's integration), for the person (their session).
    pub async fn my_clients(&self, principal: &Principal) -> Result<Vec<ApiClient>> {
        let tenant = person_tenant(principal)?;
        Ok(self.store.clients(Some(tenant)).await?)
    }

    /// The person revokes a client attached to their tenant, at once (any
    /// client of their tenant: it acts on their wallets).
    pub async fn revoke_my_client(&self, principal: &Principal, id: &str) -> Result<u64> {
        let tenant = person_tenant(principal)?;
        let client = self
            .store
            .client(id)
            .await?
            .filter(|c| c.tenant == tenant)
            .ok_or(Error::NotFound("API client"))?;
        self.record_revocation(principal, &client, now_ms()).await
    }

    /// Creates a client as `principal` (see [`create_client`]).
    pub async fn create_client(
        &self,
        principal: &Principal,
        name: &str,
        tenant: &str,
        scopes: Vec<String>,
    ) -> Result<(ApiClient, zeroize::Zeroizing<String>)> {
        self.require(principal, Scope::AdminClients, "api-clients")
            .await?;
        create_client(
            &self.store,
            Creator::Client(principal),
            name,
            tenant,
            scopes,
        )
        .await
    }

    /// Revokes a client now or after `grace_seconds` (at most 30 days). A
    /// client already revoked earlier stays revoked from that earlier time;
    /// the time returned is the one that applies. Another tenant's client
    /// is a 404 (unless the principal is an operator); a client holding a
    /// scope the principal could not grant is refused (403 `scope_denied`,
    /// a `SCOPE_DENY` event with that scope): only an operator revokes an
    /// operator.
    pub async fn revoke_client(
        &self,
        principal: &Principal,
        id: &str,
        grace_seconds: u64,
    ) -> Result<u64> {
        self.require(principal, Scope::AdminClients, id).await?;
        if grace_seconds > 30 * 24 * 3600 {
            return Err(Error::bad_request("`grace_seconds` is at most 30 days"));
        }
        let client = self
            .store
            .client(id)
            .await?
            .filter(|c| principal.is_operator() || c.tenant == principal.tenant())
            .ok_or(Error::NotFound("API client"))?;
        if let Some(scope) = principal.outranked_by(&client.scopes) {
            self.deny(
                SecurityEvent::ScopeDeny,
                Denier::Principal(principal),
                id,
                Outcome::Denied(scope.to_owned().into()),
            )
            .await;
            return Err(Error::Outranked {
                client: id.to_owned(),
                scope: scope.to_owned(),
            });
        }
        self.record_revocation(principal, &client, now_ms() + grace_seconds * 1000)
            .await
    }

    /// Revokes `client` from `at` (audited in its tenant's view, the cache
    /// forgotten): when it is refused from, as stored (an earlier revocation
    /// stands).
    async fn record_revocation(
        &self,
        principal: &Principal,
        client: &ApiClient,
        at: u64,
    ) -> Result<u64> {
        let id = client.id.as_str();
        self.audit
            .write(
                WriteOp::RevokeClient {
                    id: id.to_owned(),
                    at,
                },
                Event::new(principal.actor(), Action::ApiClientRevoke, id, Outcome::Ok)
                    .tenant(&client.tenant),
            )
            .await?;
        self.clients.forget(id);
        Ok(self
            .store
            .client(id)
            .await?
            .and_then(|c| c.revoked_at_ms)
            .unwrap_or(at))
    }
}

/// Validates and creates an API client (the API, `admin create-client` and
/// the dev bootstrap). A client creator stays inside its tenant and grants
/// at most what it holds, unless it is an operator.
pub async fn create_client(
    store: &Store,
    by: Creator<'_>,
    name: &str,
    tenant: &str,
    scopes: Vec<String>,
) -> Result<(ApiClient, zeroize::Zeroizing<String>)> {
    // Both are shown to people (the console, the audit log): the rule of
    // [`super::text`] keeps look-alike and invisible characters out.
    if name.is_empty() {
        return Err(Error::bad_request("`name` is 1 to 128 characters"));
    }
    super::text::visible_field("name", name, 128)?;
    super::text::visible_field("tenant", tenant, 64)?;
    // `user:<id>` is a signed-in user's tenant: its clients act on the
    // user's wallets (an app requesting payments the user approves).
    let user_tenant = tenant.strip_prefix("user:");
    if tenant.is_empty() || (tenant.contains(':') && user_tenant.is_none()) {
        return Err(Error::bad_request(
            "`tenant` is 1 to 64 printable characters without ':', or `user:<user id>`",
        ));
    }
    if let Some(user) = user_tenant {
        if !store.user_exists(user).await? {
            return Err(Error::bad_request(format!(
                "`tenant` user:{user}: no such user (a user exists once they signed in)"
            )));
        }
    }
    if scopes.is_empty() {
        return Err(Error::bad_request("`scopes` must not be empty"));
    }
    for s in &scopes {
        Grant::parse(s)?;
    }
    let actor = match by {
        Creator::Operator => "operator".to_owned(),
        Creator::Client(p) => {
            p.check_tenant(tenant)?;
            p.check_can_grant(&scopes)?;
            p.actor()
        }
    };
    let token = new_token();
    let row = ApiClient {
        id: token.id.clone(),
        name: name.to_owned(),
        tenant: tenant.to_owned(),
        scopes,
        secret_sha256: token.secret_sha256.clone(),
        created_at_ms: now_ms(),
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    super::audit::Auditor::new(store.journal().clone())
        .write(
            WriteOp::CreateClient(row.clone()),
            Event::new(&actor, Action::ApiClientCreate, &row.id, Outcome::Ok).tenant(tenant),
        )
        .await?;
    Ok((row, token.token))
}

/// The tenant of a person's session (`user:<id>`); API tokens are refused.
fn person_tenant(principal: &Principal) -> Result<&str> {
    match principal {
        Principal::User { tenant, .. } => Ok(tenant),
        Principal::Client(_) => Err(Error::bad_request(
            "this is for people (a session); API clients use /v1/admin/api-clients",
        )),
    }
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

    #[test]
    fn tokens_parse_and_hash() {
        let t = new_token();
        let (id, secret) = parse_token(&t.token).unwrap();
        assert_eq!(id, t.id);
        assert_eq!(
            signet_proto::hexstr::encode(Sha256::digest(secret.as_bytes())),
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
}
