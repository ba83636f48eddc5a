//! Key backends: where private keys live and how they sign.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use signet_proto::message::{PublicKeyInfo, MAX_KEY_ID_LEN};
use signet_proto::{ErrorCode, KeyType, SealedKey};

use crate::error::SignerError;
use crate::keys::{RawSignature, SoftKey};
use crate::sealing::SealingKeys;

/// A freshly generated key.
#[derive(Debug)]
pub struct NewKey {
    /// The public half.
    pub public_key: Vec<u8>,
    /// The sealed private half, for backends whose keys live outside the
    /// signer between uses (software); `None` when the backend persists keys.
    pub sealed: Option<SealedKey>,
}

/// Where keys live. Chosen at start-up (`--backend`).
pub trait KeyBackend: Send + Sync {
    /// `software` or `pkcs11`.
    fn name(&self) -> &'static str;
    /// Generates a key with id `key_id` inside the boundary.
    fn generate(&self, key_id: &str, key_type: KeyType) -> Result<NewKey, SignerError>;
    /// Loads a sealed key (backends that seal); returns its public half.
    fn load_sealed(&self, sealed: &SealedKey) -> Result<PublicKeyInfo, SignerError>;
    /// The key's type and public key; `key_not_loaded` if the backend needs
    /// the sealed blob first, `key_not_found` if no such key exists.
    fn public_key(&self, key_id: &str) -> Result<(KeyType, Vec<u8>), SignerError>;
    /// Signs (see [`SoftKey::sign`] for the digest/message rules).
    fn sign(
        &self,
        key_id: &str,
        digest: &[u8],
        message: Option<&[u8]>,
    ) -> Result<RawSignature, SignerError>;
    /// Destroys the key; `Ok(false)` if it was not present.
    fn destroy(&self, key_id: &str) -> Result<bool, SignerError>;
    /// Ids of keys currently usable without a sealed blob.
    fn loaded_ids(&self) -> Vec<String>;
    /// How many keys the cache can hold (0 = unbounded/not a cache).
    fn capacity(&self) -> usize;
    /// The sealing key version, for backends that seal.
    fn sealing_key_version(&self) -> Option<u32>;
    /// `Some(n)` for backends whose calls block on a device (PKCS#11): they
    /// run on at most `n` dedicated threads, off the async workers, so a slow
    /// HSM never stalls the sockets. `None`: fast in-memory calls, run inline.
    fn blocking_concurrency(&self) -> Option<usize> {
        None
    }
}

/// Checks a key id from the wire.
pub fn check_key_id(key_id: &str) -> Result<(), SignerError> {
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID_LEN {
        return Err(SignerError::bad_request("key id must be 1 to 128 bytes"));
    }
    if !key_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(SignerError::bad_request(
            "key id may hold only ASCII letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// Keys in memory, sealed under the sealing key for storage by the host.
/// Unsealed keys sit in a bounded LRU cache: an evicted key is dropped (and
/// zeroized) and comes back through [`KeyBackend::load_sealed`].
pub struct SoftwareBackend {
    sealing: SealingKeys,
    cache: Mutex<LruCache<String, Arc<SoftKey>>>,
    capacity: usize,
    /// Ids destroyed during this process's life: their sealed blobs are
    /// refused even if a host kept a copy. (Across restarts only the host's
    /// shredding of the blob, or a sealing-key rotation, makes destruction
    /// final; SECURITY.md says so.)
    destroyed: Mutex<std::collections::HashSet<String>>,
}

impl SoftwareBackend {
    /// A backend caching at most `capacity` unsealed keys.
    #[must_use]
    pub fn new(sealing: SealingKeys, capacity: NonZeroUsize) -> Self {
        Self {
            sealing,
            cache: Mutex::new(LruCache::new(capacity)),
            capacity: capacity.get(),
            destroyed: Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn cache(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, LruCache<String, Arc<SoftKey>>>, SignerError> {
        self.cache
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "key cache lock poisoned"))
    }

    fn get(&self, key_id: &str) -> Result<Arc<SoftKey>, SignerError> {
        self.cache()?.get(key_id).cloned().ok_or_else(|| {
            SignerError::new(
                ErrorCode::KeyNotLoaded,
                "key is not loaded; send its sealed blob",
            )
        })
    }
}

impl KeyBackend for SoftwareBackend {
    fn name(&self) -> &'static str {
        "software"
    }

    fn generate(&self, key_id: &str, key_type: KeyType) -> Result<NewKey, SignerError> {
        check_key_id(key_id)?;
        let key = SoftKey::generate(key_type);
        let sealed = self.sealing.seal(key_id, key_type, &key.secret_bytes())?;
        let public_key = key.public_key();
        let mut cache = self.cache()?;
        if cache.contains(key_id) {
            return Err(SignerError::new(
                ErrorCode::KeyExists,
                "a key with this id is loaded",
            ));
        }
        cache.put(key_id.to_owned(), Arc::new(key));
        Ok(NewKey {
            public_key,
            sealed: Some(sealed),
        })
    }

    fn load_sealed(&self, sealed: &SealedKey) -> Result<PublicKeyInfo, SignerError> {
        check_key_id(&sealed.key_id)?;
        if self
            .destroyed
            .lock()
            .map_or(true, |d| d.contains(&sealed.key_id))
        {
            return Err(SignerError::new(
                ErrorCode::KeyNotFound,
                "key was destroyed",
            ));
        }
        if let Some(key) = self.cache()?.get(&sealed.key_id).cloned() {
            if key.key_type() != sealed.key_type {
                return Err(SignerError::new(
                    ErrorCode::SealedKeyInvalid,
                    "a key of another type is loaded under this id",
                ));
            }
            return Ok(PublicKeyInfo {
                key_id: sealed.key_id.clone(),
                key_type: key.key_type(),
                public_key: key.public_key(),
            });
        }
        let secret = self.sealing.unseal(sealed)?;
        let key = SoftKey::from_secret(sealed.key_type, &secret)?;
        let info = PublicKeyInfo {
            key_id: sealed.key_id.clone(),
            key_type: key.key_type(),
            public_key: key.public_key(),
        };
        self.cache()?.put(sealed.key_id.clone(), Arc::new(key));
        Ok(info)
    }

    fn public_key(&self, key_id: &str) -> Result<(KeyType, Vec<u8>), SignerError> {
        let key = self.get(key_id)?;
        Ok((key.key_type(), key.public_key()))
    }

    fn sign(
        &self,
        key_id: &str,
        digest: &[u8],
        message: Option<&[u8]>,
    ) -> Result<RawSignature, SignerError> {
        // Sign outside the cache lock: the Arc keeps the key alive even if it
        // is evicted meanwhile.
        self.get(key_id)?.sign(digest, message)
    }

    fn destroy(&self, key_id: &str) -> Result<bool, SignerError> {
        // Dropping the last Arc zeroizes the key (the curve crates' signing
        // keys zeroize on drop).
        if let Ok(mut d) = self.destroyed.lock() {
            d.insert(key_id.to_owned());
        }
        Ok(self.cache()?.pop(key_id).is_some())
    }

    fn loaded_ids(&self) -> Vec<String> {
        self.cache()
            .map(|c| c.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn sealing_key_version(&self) -> Option<u32> {
        Some(self.sealing.current_version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealing::SealingKey;
    use zeroize::Zeroizing;

    fn backend(capacity: usize) -> SoftwareBackend {
        let keys = SealingKeys::new(vec![SealingKey::new(1, &Zeroizing::new([5; 32]))]).unwrap();
        SoftwareBackend::new(keys, NonZeroUsize::new(capacity).unwrap())
    }

    #[test]
    fn eviction_then_reload_keeps_the_key() {
        let b = backend(2);
        let k1 = b.generate("k1", KeyType::Secp256k1).unwrap();
        b.generate("k2", KeyType::P256).unwrap();
        b.generate("k3", KeyType::Ed25519).unwrap();
        assert_eq!(
            b.public_key("k1").unwrap_err().code,
            ErrorCode::KeyNotLoaded
        );
        let info = b.load_sealed(k1.sealed.as_ref().unwrap()).unwrap();
        assert_eq!(info.public_key, k1.public_key);
        assert!(b.sign("k1", &[1; 32], None).is_ok());
        assert_eq!(b.loaded_ids().len(), 2);
    }

    #[test]
    fn destroy_forgets_and_ids_are_checked() {
        let b = backend(4);
        b.generate("k1", KeyType::P256).unwrap();
        assert_eq!(
            b.generate("k1", KeyType::P256).unwrap_err().code,
            ErrorCode::KeyExists
        );
        assert!(b.destroy("k1").unwrap());
        assert!(!b.destroy("k1").unwrap());
        let sealed = b.generate("k2", KeyType::P256).unwrap().sealed.unwrap();
        b.destroy("k2").unwrap();
        assert_eq!(
            b.load_sealed(&sealed).unwrap_err().code,
            ErrorCode::KeyNotFound,
            "destroyed keys stay destroyed"
        );
        assert_eq!(
            b.sign("k1", &[1; 32], None).unwrap_err().code,
            ErrorCode::KeyNotLoaded
        );
        for bad in ["", "a b", "../x", &"x".repeat(129)] {
            assert_eq!(
                b.generate(bad, KeyType::P256).unwrap_err().code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
    }
}
