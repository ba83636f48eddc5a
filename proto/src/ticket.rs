//! Tickets: short-lived, single-use JWTs (HS256) by which the host authorizes
//! the signer to make exactly one signature (DESIGN.md, "Tickets").
//!
//! Header `{"alg":"HS256","typ":"JWT","kid":…}`; claims `{jti, sub, wid, dig,
//! kty, iat, exp, aud:"signet-signer"}`. The `kid` is derived from the secret,
//! so host and signer agree on it without configuration. Replay is refused by
//! the signer's cache and by the host's consumption record, not here.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::jwt;
use crate::message::KeyType;
use crate::secret::SharedSecret;

/// The only accepted audience.
pub const AUDIENCE: &str = "signet-signer";
/// Longest token accepted, checked before decoding.
pub const MAX_TICKET_LEN: usize = 2048;
/// Clock skew tolerated on `exp` and `iat`, seconds.
pub const SKEW_SECONDS: u64 = 5;

/// The claims of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketClaims {
    /// Unique ticket id (replay key).
    pub jti: String,
    /// Who asked: the API client or user id.
    pub sub: String,
    /// Wallet (key) id.
    pub wid: String,
    /// Hex of the 32-byte digest to be signed.
    pub dig: String,
    /// Key type.
    pub kty: KeyType,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// Always [`AUDIENCE`].
    pub aud: String,
}

/// Why a ticket was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// Malformed, wrong MAC, unknown `kid`, wrong audience, or it does not
    /// authorize this wallet, digest or key type.
    #[error("ticket invalid: {0}")]
    Invalid(&'static str),
    /// Past `exp` (plus skew).
    #[error("ticket expired at {exp} (now {now})")]
    Expired {
        /// The ticket's `exp`.
        exp: u64,
        /// The verifier's clock.
        now: u64,
    },
}

impl TicketError {
    /// The wire/HTTP code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::TicketInvalid,
            Self::Expired { .. } => ErrorCode::TicketExpired,
        }
    }
}

/// The key-id label of ticket keys.
const KID_LABEL: &[u8] = b"signet/ticket-kid/v1";

/// What a ticket must authorize to be accepted.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// Wallet id of the sign request.
    pub wid: &'a str,
    /// The 32-byte digest of the sign request.
    pub digest: &'a [u8],
    /// The key's type.
    pub kty: KeyType,
}

/// The active ticket keys: the current one mints; current and previous verify
/// (rotation without refusing tickets in flight). The `kid` is the first 16
/// hex digits of `SHA-256("signet/ticket-kid/v1" ‖ secret)`.
#[derive(Clone, Debug)]
pub struct TicketKeys(jwt::Keys);

impl TicketKeys {
    /// Whether `other` holds the same current and previous secrets
    /// (compared in constant time).
    #[must_use]
    pub fn same_keys(&self, other: &Self) -> bool {
        let current = self
            .0
            .current()
            .secret()
            .ct_eq(other.0.current().secret().expose());
        let previous = match (self.0.previous(), other.0.previous()) {
            (None, None) => true,
            (Some(a), Some(b)) => a.secret().ct_eq(b.secret().expose()),
            _ => false,
        };
        current & previous
    }

    /// Keys from `TICKET_SIGNING_SECRET` and, during rotation,
    /// `TICKET_SIGNING_SECRET_PREVIOUS`.
    #[must_use]
    pub fn new(current: SharedSecret, previous: Option<SharedSecret>) -> Self {
        Self(jwt::Keys::new(KID_LABEL, current, previous))
    }

    /// The minting key's id.
    #[must_use]
    pub fn current_kid(&self) -> &str {
        self.0.current().kid()
    }

    /// Mints a ticket with the current key.
    #[must_use]
    pub fn mint(&self, claims: &TicketClaims) -> String {
        self.0.sign(claims)
    }

    /// Verifies MAC (constant time, any active `kid`), structure, audience,
    /// expiry (with [`SKEW_SECONDS`]) and that the ticket authorizes exactly
    /// `expected`. Replay is the caller's check.
    pub fn verify(
        &self,
        token: &str,
        now: u64,
        expected: &Expected<'_>,
    ) -> Result<TicketClaims, TicketError> {
        let claims = self.verify_unbound(token, now)?;
        if claims.wid != expected.wid {
            return Err(TicketError::Invalid("issued for another wallet"));
        }
        let dig = hex::decode(&claims.dig).map_err(|_| TicketError::Invalid("dig is not hex"))?;
        if dig.len() != 32 || dig != expected.digest {
            return Err(TicketError::Invalid("issued for another digest"));
        }
        if claims.kty != expected.kty {
            return Err(TicketError::Invalid("issued for another key type"));
        }
        Ok(claims)
    }

    /// Verifies everything but the wallet/digest binding.
    pub fn verify_unbound(&self, token: &str, now: u64) -> Result<TicketClaims, TicketError> {
        // Only with an authentic ticket are the claims looked at.
        let claims: TicketClaims = self
            .0
            .verify(token, MAX_TICKET_LEN)
            .map_err(|e| TicketError::Invalid(e.0))?;
        if claims.aud != AUDIENCE {
            return Err(TicketError::Invalid("wrong audience"));
        }
        if claims.exp.saturating_add(SKEW_SECONDS) < now {
            return Err(TicketError::Expired {
                exp: claims.exp,
                now,
            });
        }
        if claims.iat > now.saturating_add(SKEW_SECONDS) {
            return Err(TicketError::Invalid("issued in the future"));
        }
        if claims.exp < claims.iat {
            return Err(TicketError::Invalid("expires before it was issued"));
        }
        if claims.jti.is_empty() || claims.jti.len() > 128 {
            return Err(TicketError::Invalid("bad jti"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn keys(secret: &str) -> TicketKeys {
        TicketKeys::new(
            SharedSecret::new_unchecked(secret.as_bytes().to_vec()),
            None,
        )
    }

    fn claims(now: u64) -> TicketClaims {
        TicketClaims {
            jti: "j1".into(),
            sub: "client-1".into(),
            wid: "w1".into(),
            dig: hex::encode([7u8; 32]),
            kty: KeyType::Secp256k1,
            iat: now,
            exp: now + 60,
            aud: AUDIENCE.into(),
        }
    }

    const NOW: u64 = 1_700_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            wid: "w1",
            digest: &[7u8; 32],
            kty: KeyType::Secp256k1,
        }
    }

    #[test]
    fn mint_then_verify() {
        let k = keys("s1-0123456789abcdef0123456789abcdef");
        let token = k.mint(&claims(NOW));
        assert_eq!(
            k.verify(&token, NOW + 10, &expected()).unwrap(),
            claims(NOW)
        );
    }

    #[test]
    fn refusals() {
        let k = keys("s1-0123456789abcdef0123456789abcdef");
        let token = k.mint(&claims(NOW));
        let e = expected();
        assert_eq!(
            k.verify(&token, NOW + 66, &e).unwrap_err().code(),
            ErrorCode::TicketExpired
        );
        assert!(k.verify(&token, NOW + 65, &e).is_ok(), "skew allowed");
        let other_wallet = Expected { wid: "w2", ..e };
        assert_eq!(
            k.verify(&token, NOW, &other_wallet),
            Err(TicketError::Invalid("issued for another wallet"))
        );
        let other_digest = Expected {
            digest: &[8u8; 32],
            ..e
        };
        assert_eq!(
            k.verify(&token, NOW, &other_digest),
            Err(TicketError::Invalid("issued for another digest"))
        );
        let other_type = Expected {
            kty: KeyType::P256,
            ..e
        };
        assert_eq!(
            k.verify(&token, NOW, &other_type),
            Err(TicketError::Invalid("issued for another key type"))
        );
        // Another secret: its kid is unknown.
        let other = keys("s2-0123456789abcdef0123456789abcdef");
        assert_eq!(
            other.verify(&token, NOW, &e),
            Err(TicketError::Invalid("unknown kid"))
        );
    }

    #[test]
    fn tampered_parts() {
        let k = keys("s1-0123456789abcdef0123456789abcdef");
        let token = k.mint(&claims(NOW));
        let parts: Vec<&str> = token.split('.').collect();
        // Claims swapped for another wallet, MAC kept.
        let mut c = claims(NOW);
        c.wid = "w2".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert_eq!(
            k.verify(&forged, NOW, &expected()),
            Err(TicketError::Invalid("bad MAC"))
        );
        // alg none.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#);
        let forged = format!("{none}.{}.", parts[1]);
        assert_eq!(
            k.verify(&forged, NOW, &expected()),
            Err(TicketError::Invalid("alg is not HS256"))
        );
        // Truncated MAC, extra part, too long.
        let cut = &token[..token.len() - 4];
        assert_eq!(
            k.verify(cut, NOW, &expected()),
            Err(TicketError::Invalid("bad MAC"))
        );
        assert!(k.verify(&format!("{token}.x"), NOW, &expected()).is_err());
        assert_eq!(
            k.verify(&"a".repeat(3000), NOW, &expected()),
            Err(TicketError::Invalid("too long"))
        );
    }

    #[test]
    fn previous_key_still_verifies_during_rotation() {
        let old = SharedSecret::new_unchecked(b"old-0123456789abcdef0123456789abcdef".to_vec());
        let new = SharedSecret::new_unchecked(b"new-0123456789abcdef0123456789abcdef".to_vec());
        let before = TicketKeys::new(old.clone(), None);
        let during = TicketKeys::new(new, Some(old));
        let token = before.mint(&claims(NOW));
        assert!(during.verify(&token, NOW, &expected()).is_ok());
        assert_ne!(before.current_kid(), during.current_kid());
    }

    #[test]
    fn wrong_audience_and_time_order() {
        let k = keys("s1-0123456789abcdef0123456789abcdef");
        let mut c = claims(NOW);
        c.aud = "someone-else".into();
        assert_eq!(
            k.verify(&k.mint(&c), NOW, &expected()),
            Err(TicketError::Invalid("wrong audience"))
        );
        let mut c = claims(NOW);
        c.iat = NOW + 100;
        assert_eq!(
            k.verify(&k.mint(&c), NOW, &expected()),
            Err(TicketError::Invalid("issued in the future"))
        );
    }
}
