//! Compact HS256 JWTs with a `kid` header, for tickets and user sessions.
//!
//! Strict on purpose: exactly three parts, `alg` HS256 only (never `none`),
//! `typ` JWT if present, the `kid` one of the active keys, and the MAC
//! compared in constant time **before** the claims are parsed. Each use gets
//! its own key-id label, so a ticket key id never matches a session key id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::SharedSecret;

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// Why a token's structure or MAC was refused (the claims are the caller's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwtError(pub &'static str);

/// One signing secret and its derived key id.
#[derive(Clone, Debug)]
pub struct Key {
    kid: String,
    /// The encoded header this key signs under (`alg`, `typ`, `kid`), made
    /// once instead of per token.
    header: String,
    secret: SharedSecret,
}

impl Key {
    /// Wraps a secret; its `kid` is the first 16 hex digits of
    /// `SHA-256(label ‖ secret)`.
    #[must_use]
    pub fn new(label: &[u8], secret: SharedSecret) -> Self {
        let mut h = Sha256::new();
        h.update(label);
        h.update(secret.expose());
        let kid = hex::encode(&h.finalize()[..8]);
        let header = b64_json(&Header {
            alg: "HS256".into(),
            typ: Some("JWT".into()),
            kid: kid.clone(),
        });
        Self {
            kid,
            header,
            secret,
        }
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The secret (for constant-time comparisons of key sets).
    #[must_use]
    pub fn secret(&self) -> &SharedSecret {
        &self.secret
    }

    fn mac(&self, signing_input: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length: `new_from_slice` cannot fail here.
        #[allow(clippy::expect_used)]
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.secret.expose())
            .expect("HMAC accepts keys of every length");
        mac.update(signing_input);
        mac
    }
}

/// The active keys: the current one signs; current and previous verify
/// (a rotation without refusing tokens in flight).
#[derive(Clone, Debug)]
pub struct Keys {
    current: Key,
    previous: Option<Key>,
}

impl Keys {
    /// Keys under `label` from the current and, during a rotation, the
    /// previous secret.
    #[must_use]
    pub fn new(label: &[u8], current: SharedSecret, previous: Option<SharedSecret>) -> Self {
        Self {
            current: Key::new(label, current),
            previous: previous.map(|p| Key::new(label, p)),
        }
    }

    /// The signing key.
    #[must_use]
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// The previous key, during a rotation.
    #[must_use]
    pub fn previous(&self) -> Option<&Key> {
        self.previous.as_ref()
    }

    /// `header.claims.mac` with the current key.
    #[must_use]
    pub fn sign<C: Serialize>(&self, claims: &C) -> String {
        let claims = serde_json::to_vec(claims).unwrap_or_default();
        // header.claims.mac, base64url each: 4 characters per 3 bytes.
        let mut token =
            String::with_capacity(self.current.header.len() + 2 + (claims.len() + 32) * 4 / 3 + 4);
        token.push_str(&self.current.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let tag = self.current.mac(token.as_bytes()).finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// Checks length, structure, `alg`, `typ`, `kid` and the MAC, then (only
    /// then) parses the claims.
    pub fn verify<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        max_len: usize,
    ) -> Result<C, JwtError> {
        if token.len() > max_len {
            return Err(JwtError("too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(t), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError("not a three-part JWT"));
        };
        let header: Header = decode_part(h)?;
        if header.alg != "HS256" {
            return Err(JwtError("alg is not HS256"));
        }
        if header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return Err(JwtError("typ is not JWT"));
        }
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.kid == header.kid)
            .ok_or(JwtError("unknown kid"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(t)
            .map_err(|_| JwtError("MAC is not base64url"))?;
        let signing_input = &token[..h.len() + 1 + c.len()];
        key.mac(signing_input.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| JwtError("bad MAC"))?;
        decode_part(c)
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError("part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError("part is not the expected JSON"))
}

/// base64url(JSON(value)); these plain structs always serialize.
fn b64_json<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_encoded_header_claims_and_mac() {
        let keys = Keys::new(
            b"signet/test",
            SharedSecret::new_unchecked(vec![7; 32]),
            None,
        );
        let claims = serde_json::json!({"sub": "w_1", "exp": 1_700_000_000u64});
        let token = keys.sign(&claims);
        // Built the long way: each part encoded on its own, then joined.
        let header = b64_json(&Header {
            alg: "HS256".into(),
            typ: Some("JWT".into()),
            kid: keys.current().kid().to_owned(),
        });
        let input = format!("{header}.{}", b64_json(&claims));
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&[7; 32]).unwrap();
        mac.update(input.as_bytes());
        let expected = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(token, expected);
        let back: serde_json::Value = keys.verify(&token, 4096).unwrap();
        assert_eq!(back, claims);
    }
}
