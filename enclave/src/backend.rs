//! Key backends: where private keys live and how they sign.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use signet_authority::Record;
use signet_proto::message::{PublicKeyInfo, MAX_KEY_ID_LEN};
use signet_proto::{ErrorCode, KeyType, SealedKey};

use crate::error::SignerError;
use crate::keys::{RawSignature, SoftKey};
use crate::sealing::{bound_record_hash, SealingKeys};

/// Makes the record of a key being generated, from its public key.
pub type RecordMaker<'a> = &'a dyn Fn(&[u8]) -> Result<Record, SignerError>;

/// A freshly generated key.
#[derive(Debug)]
pub struct NewKey {
    /// The public half.
    pub public_key: Vec<u8>,
    /// The sealed private half, for backends whose keys live outside the
    /// signer between uses (software); `None` when the backend persists keys.
    pub sealed: Option<SealedKey>,
    /// Its record, bound into `sealed` (software) or kept beside the key
    /// (PKCS#11).
    pub record: Record,
}

/// A key loaded from its sealed blob.
#[derive(Debug)]
pub struct Loaded {
    /// The key's public half.
    pub info: PublicKeyInfo,
    /// The record hash the blob was authenticated with (`None`: a blob from
    /// before records). Always the hash of the blob the loaded key came
    /// from, never a claim of an unverified blob. For a backend that keeps
    /// records (PKCS#11), the hash it keeps for the key (`None`: a key made
    /// before it kept them).
    pub bound: Option<[u8; 32]>,
}

/// Where keys live. Chosen at start-up (`--backend`).
pub trait KeyBackend: Send + Sync {
    /// `software` or `pkcs11`.
    fn name(&self) -> &'static str;
    /// Generates a key with id `key_id` inside the boundary, with the record
    /// `make_record` makes from its public key.
    fn generate(
        &self,
        key_id: &str,
        key_type: KeyType,
        make_record: RecordMaker<'_>,
    ) -> Result<NewKey, SignerError>;
    /// Loads a sealed key (backends that seal); returns its public half and
    /// the record hash the blob is bound to.
    fn load_sealed(&self, sealed: &SealedKey) -> Result<Loaded, SignerError>;
    /// Binds the key `key_id` to the record hashing to `record_hash` (a
    /// record change) and remembers that binding: a backend that seals
    /// (software) seals the loaded key again and returns the new blob for the
    /// host to store; a backend that keeps the hash beside the key
    /// (PKCS#11) overwrites it there and returns `None`.
    fn rebind(
        &self,
        key_id: &str,
        record_hash: &[u8; 32],
    ) -> Result<Option<SealedKey>, SignerError>;
    /// Whether the backend keeps each key's record hash itself, beside the
    /// key (PKCS#11: a record object on the token), instead of binding it
    /// into a sealed blob the host stores (software). The signer then asks
    /// [`KeyBackend::bound_record`] on every request: the backend, not the
    /// signer's memory, is the truth.
    fn keeps_records(&self) -> bool {
        false
    }
    /// The record hash bound to the key `key_id`, read now from where a
    /// backend that [keeps records](KeyBackend::keeps_records) keeps it:
    /// `None` for a key made before it kept them (its record is the one
    /// without owners and with the permissive policy). The caller checks
    /// that the key exists ([`KeyBackend::public_key`]). Refused if what the
    /// backend keeps is ambiguous or malformed (`internal`), and by a
    /// backend that binds records into sealed blobs (`bad_request`).
    fn bound_record(&self, _key_id: &str) -> Result<Option<[u8; 32]>, SignerError> {
        Err(SignerError::bad_request(
            "this key backend binds records into sealed blobs: send the blob",
        ))
    }
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
    fn sealing_key_version(&self) -> Option<u32> {
        self.sealing_keys().and_then(|k| k.current_version())
    }
    /// The sealing keys, for backends that seal.
    fn sealing_keys(&self) -> Option<&Arc<SealingKeys>> {
        None
    }
    /// Re-seals a blob under the current sealing key version, inside the
    /// signer; returns the new blob and the key's public half.
    fn reseal(&self, _sealed: &SealedKey) -> Result<(SealedKey, Vec<u8>), SignerError> {
        Err(SignerError::bad_request(
            "this key backend does not seal keys",
        ))
    }
    /// One page of [`KeyBackend::loaded_ids`] in id order: at most `limit`
    /// ids after `after`, and the id to continue after if there are more.
    fn loaded_ids_page(&self, after: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
        page(self.loaded_ids(), after, limit)
    }
    /// `Some(n)` for backends whose calls block on a device (PKCS#11): they
    /// run on at most `n` dedicated threads, off the async workers, so a slow
    /// HSM never stalls the sockets. `None`: fast in-memory calls, run inline.
    fn blocking_concurrency(&self) -> Option<usize> {
        None
    }
}

/// Sorts `ids` and cuts the page after `after` of at most `limit` ids.
#[must_use]
pub fn page(
    mut ids: Vec<String>,
    after: Option<&str>,
    limit: usize,
) -> (Vec<String>, Option<String>) {
    ids.sort_unstable();
    let start = after.map_or(0, |a| ids.partition_point(|id| id.as_str() <= a));
    let limit = limit.max(1);
    let rest = ids.len().saturating_sub(start);
    let page: Vec<String> = ids.into_iter().skip(start).take(limit).collect();
    let next = if rest > limit {
        page.last().cloned()
    } else {
        None
    };
    (page, next)
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
    sealing: Arc<SealingKeys>,
    /// The cache and the destroyed ids under ONE lock: a load racing a
    /// destroy re-checks the destroyed ids in the same critical section in
    /// which it inserts, so a destroyed key never comes back into the cache.
    state: Mutex<CacheState>,
    capacity: usize,
}

/// A cached key and the record hash of the blob it was unsealed from.
#[derive(Clone)]
struct Entry {
    key: Arc<SoftKey>,
    bound: Option<[u8; 32]>,
}

struct CacheState {
    cache: LruCache<String, Entry>,
    /// Ids destroyed during this process's life: their sealed blobs are
    /// refused even if a host kept a copy. (Across restarts, a sealing-key
    /// rotation followed by the retirement of the old version in the KMS
    /// key policy makes destruction final; SECURITY.md says so.)
    destroyed: std::collections::HashSet<String>,
}

impl SoftwareBackend {
    /// A backend caching at most `capacity` unsealed keys.
    #[must_use]
    pub fn new(sealing: Arc<SealingKeys>, capacity: NonZeroUsize) -> Self {
        Self {
            sealing,
            state: Mutex::new(CacheState {
                cache: LruCache::new(capacity),
                destroyed: std::collections::HashSet::new(),
            }),
            capacity: capacity.get(),
        }
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, CacheState>, SignerError> {
        self.state
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "key cache lock poisoned"))
    }

    fn destroyed_error() -> SignerError {
        SignerError::new(ErrorCode::KeyNotFound, "key was destroyed")
    }

    /// The cached entry for `sealed`, checking it is not destroyed and of
    /// the blob's type; `None` if it is not cached, or cached from a blob
    /// bound to another record (then `sealed` must be unsealed, which
    /// authenticates its claim).
    fn cached_for(
        state: &mut CacheState,
        sealed: &SealedKey,
        claimed: Option<[u8; 32]>,
    ) -> Result<Option<Entry>, SignerError> {
        if state.destroyed.contains(&sealed.key_id) {
            return Err(Self::destroyed_error());
        }
        match state.cache.get(&sealed.key_id) {
            Some(e) if e.key.key_type() != sealed.key_type => Err(SignerError::new(
                ErrorCode::SealedKeyInvalid,
                "a key of another type is loaded under this id",
            )),
            Some(e) if e.bound == claimed => Ok(Some(e.clone())),
            _ => Ok(None),
        }
    }

    fn get(&self, key_id: &str) -> Result<Arc<SoftKey>, SignerError> {
        self.state()?
            .cache
            .get(key_id)
            .map(|e| Arc::clone(&e.key))
            .ok_or_else(|| {
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

    fn generate(
        &self,
        key_id: &str,
        key_type: KeyType,
        make_record: RecordMaker<'_>,
    ) -> Result<NewKey, SignerError> {
        check_key_id(key_id)?;
        let key = SoftKey::generate(key_type)?;
        let public_key = key.public_key();
        let record = make_record(&public_key)?;
        let bound = record.record_hash().0;
        let sealed = self
            .sealing
            .seal(key_id, key_type, &key.secret_bytes(), Some(&bound))?;
        let mut state = self.state()?;
        if state.cache.contains(key_id) {
            return Err(SignerError::new(
                ErrorCode::KeyExists,
                "a key with this id is loaded",
            ));
        }
        if state.destroyed.contains(key_id) {
            return Err(SignerError::new(
                ErrorCode::KeyExists,
                "a key with this id was destroyed; ids are not reused",
            ));
        }
        state.cache.put(
            key_id.to_owned(),
            Entry {
                key: Arc::new(key),
                bound: Some(bound),
            },
        );
        Ok(NewKey {
            public_key,
            sealed: Some(sealed),
            record,
        })
    }

    fn rebind(
        &self,
        key_id: &str,
        record_hash: &[u8; 32],
    ) -> Result<Option<SealedKey>, SignerError> {
        let key = self.get(key_id)?;
        let sealed = self.sealing.seal(
            key_id,
            key.key_type(),
            &key.secret_bytes(),
            Some(record_hash),
        )?;
        let mut state = self.state()?;
        if state.destroyed.contains(key_id) {
            return Err(Self::destroyed_error());
        }
        state.cache.put(
            key_id.to_owned(),
            Entry {
                key,
                bound: Some(*record_hash),
            },
        );
        Ok(Some(sealed))
    }

    fn load_sealed(&self, sealed: &SealedKey) -> Result<Loaded, SignerError> {
        check_key_id(&sealed.key_id)?;
        let claimed = bound_record_hash(sealed)?;
        let loaded = |e: &Entry| Loaded {
            info: PublicKeyInfo {
                key_id: sealed.key_id.clone(),
                key_type: e.key.key_type(),
                public_key: e.key.public_key(),
            },
            bound: e.bound,
        };
        if let Some(entry) = Self::cached_for(&mut *self.state()?, sealed, claimed)? {
            return Ok(loaded(&entry));
        }
        // Unseal outside the lock (it is the slow part), then check again
        // and insert in one critical section: a destroy that ran meanwhile
        // wins. Unsealing authenticates the blob's record hash.
        let secret = self.sealing.unseal(sealed)?;
        let entry = Entry {
            key: Arc::new(SoftKey::from_secret(sealed.key_type, &secret)?),
            bound: claimed,
        };
        let mut state = self.state()?;
        if let Some(existing) = Self::cached_for(&mut state, sealed, claimed)? {
            return Ok(loaded(&existing));
        }
        state.cache.put(sealed.key_id.clone(), entry.clone());
        Ok(loaded(&entry))
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
        let mut state = self.state()?;
        state.destroyed.insert(key_id.to_owned());
        Ok(state.cache.pop(key_id).is_some())
    }

    fn loaded_ids(&self) -> Vec<String> {
        self.state()
            .map(|s| s.cache.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    fn reseal(&self, sealed: &SealedKey) -> Result<(SealedKey, Vec<u8>), SignerError> {
        check_key_id(&sealed.key_id)?;
        if self.state()?.destroyed.contains(&sealed.key_id) {
            return Err(Self::destroyed_error());
        }
        let secret = self.sealing.unseal(sealed)?;
        let key = SoftKey::from_secret(sealed.key_type, &secret)?;
        let public_key = key.public_key();
        if self.sealing.current_version() == Some(sealed.sealing_key_version) {
            return Ok((sealed.clone(), public_key));
        }
        let bound = bound_record_hash(sealed)?;
        let resealed = self.sealing.seal(
            &sealed.key_id,
            sealed.key_type,
            &key.secret_bytes(),
            bound.as_ref(),
        )?;
        Ok((resealed, public_key))
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn sealing_keys(&self) -> Option<&Arc<SealingKeys>> {
        Some(&self.sealing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealing::SealingKey;
    use zeroize::Zeroizing;

    /// Generates with the record of a wallet without owners.
    fn generate(b: &SoftwareBackend, id: &str, kt: KeyType) -> Result<NewKey, SignerError> {
        let records = crate::records::Records::new("test", NonZeroUsize::MIN).unwrap();
        b.generate(id, kt, &|pk: &[u8]| records.legacy(id, kt, pk))
    }

    fn backend(capacity: usize) -> SoftwareBackend {
        let keys = SealingKeys::new(vec![SealingKey::new(1, &Zeroizing::new([5; 32]))]).unwrap();
        SoftwareBackend::new(Arc::new(keys), NonZeroUsize::new(capacity).unwrap())
    }

    #[test]
    fn eviction_then_reload_keeps_the_key() {
        let b = backend(2);
        let k1 = generate(&b, "k1", KeyType::Secp256k1).unwrap();
        generate(&b, "k2", KeyType::P256).unwrap();
        generate(&b, "k3", KeyType::Ed25519).unwrap();
        assert_eq!(
            b.public_key("k1").unwrap_err().code,
            ErrorCode::KeyNotLoaded
        );
        let loaded = b.load_sealed(k1.sealed.as_ref().unwrap()).unwrap();
        assert_eq!(loaded.info.public_key, k1.public_key);
        assert_eq!(loaded.bound, Some(k1.record.record_hash().0));
        assert!(b.sign("k1", &[1; 32], None).is_ok());
        assert_eq!(b.loaded_ids().len(), 2);
    }

    #[test]
    fn a_loaded_key_answers_only_with_the_record_hash_its_blob_was_authenticated_with() {
        let b = backend(4);
        let k = generate(&b, "k1", KeyType::P256).unwrap();
        let sealed = k.sealed.unwrap();
        // A forged claim on the cached key: not answered from the cache, but
        // unsealed, which fails authentication.
        let mut forged = sealed.clone();
        forged.record_hash = Some(vec![0; 32]);
        assert_eq!(
            b.load_sealed(&forged).unwrap_err().code,
            ErrorCode::SealedKeyInvalid
        );
        assert_eq!(
            b.load_sealed(&sealed).unwrap().bound,
            Some(k.record.record_hash().0)
        );
    }

    #[test]
    fn destroy_forgets_and_ids_are_checked() {
        let b = backend(4);
        generate(&b, "k1", KeyType::P256).unwrap();
        assert_eq!(
            generate(&b, "k1", KeyType::P256).unwrap_err().code,
            ErrorCode::KeyExists
        );
        assert!(b.destroy("k1").unwrap());
        assert!(!b.destroy("k1").unwrap());
        let sealed = generate(&b, "k2", KeyType::P256).unwrap().sealed.unwrap();
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
                generate(&b, bad, KeyType::P256).unwrap_err().code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_load_racing_a_destroy_never_leaves_the_key_in_the_cache() {
        // Many rounds of: threads loading the blob while another destroys
        // it. After the destroy returns, the key must not be (or come back)
        // in the cache, and later loads are refused.
        for round in 0..200 {
            let b = Arc::new(backend(16));
            let id = format!("k{round}");
            let sealed = generate(&b, &id, KeyType::P256).unwrap().sealed.unwrap();
            b.state().unwrap().cache.pop(&id);
            let barrier = Arc::new(std::sync::Barrier::new(5));
            let loaders: Vec<_> = (0..4)
                .map(|_| {
                    let (b, sealed, barrier) =
                        (Arc::clone(&b), sealed.clone(), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..5 {
                            let _ = b.load_sealed(&sealed);
                        }
                    })
                })
                .collect();
            barrier.wait();
            b.destroy(&id).unwrap();
            for l in loaders {
                l.join().unwrap();
            }
            assert!(
                !b.loaded_ids().contains(&id),
                "round {round}: a destroyed key came back into the cache"
            );
            assert_eq!(
                b.load_sealed(&sealed).unwrap_err().code,
                ErrorCode::KeyNotFound
            );
            assert_eq!(b.reseal(&sealed).unwrap_err().code, ErrorCode::KeyNotFound);
        }
    }

    #[test]
    fn reseal_moves_a_blob_to_the_current_version_and_keeps_the_key() {
        let b = backend(4);
        let old = generate(&b, "k1", KeyType::Secp256k1).unwrap();
        let sealed_v1 = old.sealed.unwrap();
        b.sealing_keys()
            .unwrap()
            .install(SealingKey::new(2, &Zeroizing::new([6; 32])), true)
            .unwrap();
        let (v2, public_key) = b.reseal(&sealed_v1).unwrap();
        assert_eq!(v2.sealing_key_version, 2);
        assert_eq!(public_key, old.public_key);
        let (again, _) = b.reseal(&v2).unwrap();
        assert_eq!(again, v2, "a current blob is returned as is");
        b.sealing_keys().unwrap().retire(1).unwrap();
        assert!(b.reseal(&sealed_v1).is_err(), "v1 is gone");
        b.state().unwrap().cache.pop("k1");
        assert_eq!(b.load_sealed(&v2).unwrap().info.public_key, old.public_key);
        assert_eq!(
            v2.record_hash, sealed_v1.record_hash,
            "re-sealing keeps the record"
        );
    }

    #[test]
    fn ids_page_in_order_without_gaps_or_repeats() {
        let ids: Vec<String> = (0..2500).map(|i| format!("id-{i:05}")).rev().collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (got, next) = page(ids.clone(), after.as_deref(), 1000);
            assert!(got.len() <= 1000);
            seen.extend(got);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut expected = ids;
        expected.sort();
        assert_eq!(seen, expected);
        assert_eq!(page(vec![], None, 10), (vec![], None));
        assert_eq!(
            page(vec!["a".into(), "b".into()], Some("a"), 1),
            (vec!["b".to_owned()], None)
        );
    }
}
