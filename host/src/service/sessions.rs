//! User sessions: login challenges (resolved through Telegram, or at once in
//! test mode), session JWTs (HS256 with a `kid`, `SESSION_SIGNING_SECRET`,
//! `…_PREVIOUS` accepted during a rotation), logout and invalidate-all, both
//! shared by every replica through the database.

use rand_core::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use signet_proto::jwt;
use signet_proto::time::now_ms;
use signet_proto::SharedSecret;

use super::audit::{Action, Event, Outcome};
use super::authz::{Principal, Scope};
use super::clients::AuthFailure;
use super::{Error, Result, Service};
use crate::domain::{ChallengeRefusal, User};
use crate::store::{NewChallenge, Verified};

/// The only accepted session audience.
pub const SESSION_AUDIENCE: &str = "signet-session";
/// Longest session token accepted, checked before decoding.
pub const MAX_SESSION_LEN: usize = 2048;
/// Clock skew tolerated on `iat`/`exp`, seconds.
const SKEW_SECONDS: u64 = 5;
/// Key-id label of session keys (a ticket key id never matches).
const KID_LABEL: &[u8] = b"signet/session-kid/v1";

/// A session's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionClaims {
    /// The user id.
    pub sub: String,
    /// Session id (what logout revokes).
    pub jti: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// Always [`SESSION_AUDIENCE`].
    pub aud: String,
}

/// The session keys from the configuration.
#[must_use]
pub fn session_keys(config: &crate::config::Config) -> jwt::Keys {
    jwt::Keys::new(
        KID_LABEL,
        config.session_secret.clone(),
        config.session_secret_previous.clone(),
    )
}

/// `prefix` and `bytes` random bytes in hex.
pub(crate) fn random_id(prefix: &str, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}

/// A new login challenge.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// Its id.
    pub id: String,
    /// `https://t.me/<bot>?start=<id>`.
    pub deep_link: String,
    /// Unix ms.
    pub expires_at: u64,
    /// The secret only the browser that asked holds: verify needs it.
    pub verifier: SharedSecret,
    /// The two digits the page shows (the person presses them in Telegram).
    pub code: String,
}

/// Sessions carry whole seconds: "every session issued until now" is every
/// one issued up to this second, so the bound is the next second (ms).
fn next_second_ms() -> u64 {
    (now_ms() / 1000 + 1) * 1000
}

/// SHA-256 (hex) of a verifier, as stored.
fn verifier_hash(verifier: &[u8]) -> String {
    hex::encode(Sha256::digest(verifier))
}

/// A two-digit code, 10–99, uniformly (rejection sampling).
fn random_code() -> String {
    loop {
        let mut b = [0u8; 1];
        rand_core::OsRng.fill_bytes(&mut b);
        // 180 = 2 × 90: below it, `b % 90` is uniform.
        if b[0] < 180 {
            return format!("{}", 10 + b[0] % 90);
        }
    }
}

/// The requester's user agent, shortened for a chat message: the browser
/// (or tool) and the system, such as `Chrome 131 on Linux`; otherwise its
/// first printable ASCII characters. Never control, format or bidi
/// characters (the text is shown to a person deciding whether to sign in).
#[must_use]
pub fn short_user_agent(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "an unknown program".into();
    };
    let version = |name: &str| {
        ua.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('/'))
            .map(|v| v.split('.').next().unwrap_or(v))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    };
    // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
    let browser = [
        ("Edg", "Edge"),
        ("OPR", "Opera"),
        ("Firefox", "Firefox"),
        ("HeadlessChrome", "Headless Chrome"),
        ("Chrome", "Chrome"),
        ("Version", "Safari"),
        ("curl", "curl"),
        ("signet", "signet CLI"),
    ]
    .iter()
    .find_map(|(token, name)| version(token).map(|v| format!("{name} {v}")));
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find_map(|(token, name)| ua.contains(token).then_some(*name));
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b,
        _ => {
            let printable: String = ua
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(40)
                .collect();
            if printable.trim().is_empty() {
                "an unknown program".into()
            } else {
                printable.trim().to_owned()
            }
        }
    }
}

/// A session handed out by verify.
#[derive(Clone, Debug)]
pub struct Session {
    /// The JWT.
    pub token: String,
    /// Its user.
    pub user: User,
    /// Unix seconds.
    pub expires_at: u64,
}

impl Service {
    /// A new challenge, with the verifier only this caller gets and the
    /// code its page shows; `user_agent` and `peer` are what the bot tells
    /// the person. In test mode a `telegram_user_id` resolves it at once;
    /// otherwise giving one is refused (only Telegram resolves).
    pub async fn create_challenge(
        &self,
        peer: std::net::IpAddr,
        user_agent: Option<&str>,
        telegram_user_id: Option<i64>,
    ) -> Result<Challenge> {
        let login = &self.config.login;
        if !login.enabled() {
            return Err(Error::NotConfigured(
                "user login is not configured: set TELEGRAM_BOT_TOKEN (or TELEGRAM_TEST_MODE=allow for tests)",
            ));
        }
        // Anyone may ask for a challenge, and each is a row: a per-address
        // throttle (`RATE_LIMIT_CHALLENGES_PER_IP` a minute).
        if let Err(retry_after) = self.challenge_peers.admit(peer) {
            self.metrics.rate_limited.inc();
            self.metrics
                .security_event(super::audit::SecurityEvent::RateLimit.as_str());
            tracing::warn!(%peer, "login challenges refused: over RATE_LIMIT_CHALLENGES_PER_IP");
            return Err(Error::RateLimited {
                limit: super::limits::Limit::ChallengesPerPeer,
                retry_after,
            });
        }
        if telegram_user_id.is_some() && !login.test_mode {
            return Err(Error::bad_request(
                "`telegram_user_id` is only accepted in test mode; Telegram resolves challenges",
            ));
        }
        if telegram_user_id.is_some_and(|id| id <= 0) {
            return Err(Error::bad_request("`telegram_user_id` must be positive"));
        }
        let id = random_id("ch_", 24);
        let verifier = SharedSecret::new_unchecked(random_id("chv_", 32).into_bytes());
        let code = random_code();
        let requester = format!("{peer}, {}", short_user_agent(user_agent));
        let now = now_ms();
        let expires_at = now.saturating_add(login.challenge_ttl.as_millis() as u64);
        self.store
            .insert_challenge(&NewChallenge {
                id: &id,
                now,
                expires_at,
                verifier_hash: &verifier_hash(verifier.expose()),
                code: &code,
                requester: &requester,
                telegram_user_id,
            })
            .await?;
        Ok(Challenge {
            deep_link: format!("https://t.me/{}?start={id}", login.bot_username),
            id,
            expires_at,
            verifier,
            code,
        })
    }

    /// Exchanges a resolved challenge for a session, once, for the caller
    /// holding its verifier (anyone else is told it does not exist).
    pub async fn verify_challenge(&self, challenge_id: &str, verifier: &str) -> Result<Session> {
        if !challenge_id.starts_with("ch_") || challenge_id.len() > 64 || verifier.len() > 128 {
            return Err(Error::NotFound("challenge"));
        }
        let user = match self
            .store
            .verify_challenge(
                challenge_id,
                &verifier_hash(verifier.as_bytes()),
                now_ms(),
                &random_id("u_", 12),
            )
            .await?
        {
            Verified::User(user) => user,
            Verified::Refused => return Err(Error::Challenge(ChallengeRefusal::Refused)),
            Verified::Unknown => return Err(Error::NotFound("challenge")),
            Verified::Pending => return Err(Error::Challenge(ChallengeRefusal::Pending)),
            Verified::Expired => return Err(Error::Challenge(ChallengeRefusal::Expired)),
            Verified::Used => return Err(Error::Challenge(ChallengeRefusal::Used)),
        };
        if self.store.user_banned(&user.id).await? {
            tracing::warn!(user = %user.id, "sign-in refused: the user is banned");
            return Err(Error::Forbidden(
                "this account is banned from signing in; ask the operator".into(),
            ));
        }
        let now = now_ms() / 1000;
        let exp = now.saturating_add(self.config.session_ttl.as_secs());
        let claims = SessionClaims {
            sub: user.id.clone(),
            jti: random_id("s_", 16),
            iat: now,
            exp,
            aud: SESSION_AUDIENCE.into(),
        };
        let token = self.sessions.sign(&claims);
        self.audit
            .record(
                Event::new(
                    format!("user:{}", user.id),
                    Action::SessionCreate,
                    &claims.jti,
                    Outcome::Ok,
                )
                .tenant(&format!("user:{}", user.id)),
            )
            .await;
        Ok(Session {
            token,
            user,
            expires_at: exp,
        })
    }

    /// The principal of a session token: MAC, `kid`, audience, expiry,
    /// then not revoked and not issued before an invalidate-all.
    pub async fn authenticate_session(
        &self,
        token: &str,
    ) -> std::result::Result<Principal, AuthFailure> {
        let claims: SessionClaims = self
            .sessions
            .verify(token, MAX_SESSION_LEN)
            .map_err(|_| AuthFailure::BadToken)?;
        let now = now_ms() / 1000;
        if claims.aud != SESSION_AUDIENCE
            || claims.iat > now.saturating_add(SKEW_SECONDS)
            || claims.exp < claims.iat
            || claims.jti.is_empty()
            || claims.jti.len() > 64
            || claims.sub.is_empty()
            || claims.sub.len() > 64
        {
            return Err(AuthFailure::BadToken);
        }
        if claims.exp.saturating_add(SKEW_SECONDS) < now {
            return Err(AuthFailure::ExpiredSession);
        }
        let state = self
            .store
            .session_state(&claims.jti, &claims.sub)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storage failure during session check");
                AuthFailure::Storage(e)
            })?;
        if state.revoked || state.banned || claims.iat.saturating_mul(1000) < state.not_before_ms {
            return Err(AuthFailure::RevokedToken);
        }
        Ok(Principal::from_session(
            &claims.sub,
            &claims.jti,
            claims.exp,
        ))
    }

    /// Revokes the caller's own session, or with `everywhere` every session
    /// of the caller's user issued up to now (other browsers, the CLI);
    /// every replica refuses them at once.
    pub async fn logout(&self, principal: &Principal, everywhere: bool) -> Result<()> {
        let session = principal.session().ok_or_else(|| {
            Error::bad_request("logout ends a user session; API tokens are revoked by an admin")
        })?;
        if everywhere {
            let user = &session.user_id;
            self.store.end_user_sessions(user, next_second_ms()).await?;
            self.audit
                .record(Event::by(
                    principal,
                    Action::SessionRevokeAll,
                    &format!("user:{user}"),
                    Outcome::Ok,
                ))
                .await;
            return Ok(());
        }
        self.store
            .revoke_session(&session.jti, session.exp.saturating_mul(1000))
            .await?;
        self.audit
            .record(Event::by(
                principal,
                Action::SessionRevoke,
                &session.jti,
                Outcome::Ok,
            ))
            .await;
        Ok(())
    }

    /// Ends every session of user `user_id` issued until now, on every
    /// replica (operators; a stolen phone or laptop).
    pub async fn revoke_user_sessions(&self, principal: &Principal, user_id: &str) -> Result<u64> {
        self.require(principal, Scope::Operator, "sessions").await?;
        let at = next_second_ms();
        if !self.store.end_user_sessions(user_id, at).await? {
            return Err(Error::NotFound("user"));
        }
        self.audit
            .record(Event::by(
                principal,
                Action::SessionRevokeAll,
                &format!("user:{user_id}"),
                Outcome::Ok,
            ))
            .await;
        Ok(at)
    }

    /// Bans user `user_id` from signing in and ends their sessions, or
    /// (`banned: false`) lifts the ban (operators).
    pub async fn ban_user(&self, principal: &Principal, user_id: &str, banned: bool) -> Result<()> {
        self.require(principal, Scope::Operator, "users").await?;
        let now = now_ms();
        if !self
            .store
            .set_user_ban(user_id, banned.then_some(now))
            .await?
        {
            return Err(Error::NotFound("user"));
        }
        if banned {
            self.store
                .end_user_sessions(user_id, next_second_ms())
                .await?;
        }
        self.audit
            .record(Event::by(
                principal,
                if banned {
                    Action::UserBan
                } else {
                    Action::UserUnban
                },
                &format!("user:{user_id}"),
                Outcome::Ok,
            ))
            .await;
        Ok(())
    }

    /// Refuses every session issued until now, on every replica (operators).
    pub async fn invalidate_all_sessions(&self, principal: &Principal) -> Result<u64> {
        self.require(principal, Scope::Operator, "sessions").await?;
        let at = next_second_ms();
        self.store.invalidate_sessions_before(at).await?;
        self.audit
            .record(Event::by(
                principal,
                Action::SessionInvalidateAll,
                "sessions",
                Outcome::Ok,
            ))
            .await;
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_shortened_for_the_bot() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36", "Chrome 131 on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 on Windows"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", "Edge 131 on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari 18 on iPhone"),
            ("curl/8.11.0", "curl 8"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36", "Headless Chrome 131 on Linux"),
            ("ureq/2.12.1", "ureq/2.12.1"),
            ("", "an unknown program"),
            ("\u{202e}evil\u{200b}", "evil"),
            ("\u{202e}\u{200b}", "an unknown program"),
        ];
        for (ua, short) in cases {
            assert_eq!(short_user_agent(Some(ua)), short, "{ua}");
        }
        assert_eq!(short_user_agent(None), "an unknown program");
        assert!(short_user_agent(Some(&"A".repeat(500))).len() <= 40);
    }

    #[test]
    fn codes_are_two_digits() {
        for _ in 0..500 {
            let code: u8 = random_code().parse().unwrap();
            assert!((10..=99).contains(&code));
        }
        assert_eq!(verifier_hash(b"chv_x").len(), 64);
    }
}
