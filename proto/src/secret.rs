//! Shared secrets (`INTERNAL_API_KEY`, `TICKET_SIGNING_SECRET`, …).

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Shortest secret accepted outside dev mode.
pub const MIN_SECRET_LEN: usize = 32;

/// A shared secret: zeroized on drop, `[redacted]` in `Debug`, compared in
/// constant time.
#[derive(Clone)]
pub struct SharedSecret(Zeroizing<Vec<u8>>);

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakSecret {
    /// Fewer than [`MIN_SECRET_LEN`] bytes.
    #[error("is {0} bytes; at least 32 are required")]
    TooShort(usize),
    /// Few distinct bytes (e.g. `aaaa…`, `0101…`) or a well-known placeholder.
    #[error("is obviously weak (repeated characters or a placeholder value)")]
    Obvious,
}

impl SharedSecret {
    /// Wraps bytes without checking their strength (dev mode, tests).
    #[must_use]
    pub fn new_unchecked(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses a secret from its configured text form, refusing short or
    /// obviously weak values. The text is used as UTF-8 bytes as given.
    pub fn from_config(text: &str) -> Result<Self, WeakSecret> {
        let bytes = text.as_bytes();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(WeakSecret::TooShort(bytes.len()));
        }
        let mut distinct = bytes.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let lowered = text.to_ascii_lowercase();
        let placeholder = [
            "changeme",
            "change-me",
            "secret",
            "password",
            "example",
            "replace",
        ]
        .iter()
        .any(|p| lowered.contains(p));
        if distinct.len() < 8 || placeholder {
            return Err(WeakSecret::Obvious);
        }
        Ok(Self::new_unchecked(bytes.to_vec()))
    }

    /// [`Self::from_config`], except that with `allow_weak` (dev mode only) a
    /// weak but non-empty value is accepted; the weakness is returned so the
    /// caller can warn. The one rule for every binary's dev mode.
    pub fn from_config_in_mode(
        text: &str,
        allow_weak: bool,
    ) -> Result<(Self, Option<WeakSecret>), WeakSecret> {
        match Self::from_config(text) {
            Ok(s) => Ok((s, None)),
            Err(e) if allow_weak && !text.is_empty() => {
                Ok((Self::new_unchecked(text.as_bytes().to_vec()), Some(e)))
            }
            Err(e) => Err(e),
        }
    }

    /// A fresh random secret (32 bytes from the OS RNG, hex encoded so it
    /// can be written to an environment variable).
    #[must_use]
    pub fn generate_hex() -> Zeroizing<String> {
        use rand_core::RngCore as _;
        let mut raw = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(raw.as_mut());
        Zeroizing::new(hex::encode(raw.as_ref()))
    }

    /// The secret's bytes (for MAC keys; never print them).
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time equality.
    #[must_use]
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_short_and_obvious_secrets() {
        assert_eq!(
            SharedSecret::from_config("short").unwrap_err(),
            WeakSecret::TooShort(5)
        );
        assert_eq!(
            SharedSecret::from_config(&"a".repeat(40)).unwrap_err(),
            WeakSecret::Obvious
        );
        assert_eq!(
            SharedSecret::from_config(&"01".repeat(20)).unwrap_err(),
            WeakSecret::Obvious
        );
        assert_eq!(
            SharedSecret::from_config("changeme-changeme-changeme-changeme-1234").unwrap_err(),
            WeakSecret::Obvious
        );
        assert!(SharedSecret::from_config(&SharedSecret::generate_hex()).is_ok());
    }

    #[test]
    fn debug_is_redacted() {
        let s = SharedSecret::new_unchecked(b"super-secret-value".to_vec());
        assert_eq!(format!("{s:?}"), "SharedSecret([redacted])");
        assert!(s.ct_eq(b"super-secret-value"));
        assert!(!s.ct_eq(b"super-secret-valuf"));
        assert!(!s.ct_eq(b"super"));
    }
}
