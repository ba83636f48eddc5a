//! The PKCS#11 backend: keys are generated inside an HSM as non-extractable,
//! sensitive token objects and used through a pool of logged-in sessions. The
//! HSM is the persistence: no sealed blob exists for these keys. Each key's
//! record hash is kept beside it as a private `CKO_DATA` token object (its
//! *record object*), which the signer reads on every request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use signet_proto::message::PublicKeyInfo;
use signet_proto::{ErrorCode, KeyType, SealedKey};

use crate::backend::{check_key_id, KeyBackend, Loaded, NewKey, RecordMaker};
use crate::error::SignerError;
use crate::keys::RawSignature;

/// DER OID of secp256k1 (1.3.132.0.10).
const OID_SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
/// DER OID of prime256v1 / P-256 (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER OID of Ed25519 (1.3.101.112).
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// Label prefix of Signet's objects on the token.
const LABEL_PREFIX: &str = "signet:";
/// `CKA_APPLICATION` of a record object; with the key's label it finds it.
const RECORD_APPLICATION: &[u8] = b"signet/record";

/// The `CKA_LABEL` of `key_id`'s objects: its key pair and its record object.
fn label_of(key_id: &str) -> Vec<u8> {
    format!("{LABEL_PREFIX}{key_id}").into_bytes()
}

/// The template of `key_id`'s record object holding `record_hash`: a private
/// token object, readable and writable only by a session logged in with the
/// user PIN, which only the signer holds.
fn record_template(key_id: &str, record_hash: &[u8; 32]) -> [Attribute; 7] {
    [
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Modifiable(true),
        Attribute::Application(RECORD_APPLICATION.to_vec()),
        Attribute::Label(label_of(key_id)),
        Attribute::Value(record_hash.to_vec()),
    ]
}

/// What the token holds as a key's record object.
enum RecordObject {
    /// None: a key made before record objects.
    Absent,
    /// One, at this handle, with this `CKA_VALUE` (`None`: unreadable).
    Found(ObjectHandle, Option<Vec<u8>>),
    /// This many: two signers created one at once, or someone else made
    /// one. Ambiguous, so refused.
    Several(usize),
}

/// The record hash a record object's `CKA_VALUE` holds.
fn record_hash_of(key_id: &str, value: Option<&[u8]>) -> Result<[u8; 32], SignerError> {
    let value = value.ok_or_else(|| {
        SignerError::new(
            ErrorCode::Internal,
            format!("the record object of key {key_id} on the HSM has no readable CKA_VALUE"),
        )
    })?;
    value.try_into().map_err(|_| {
        SignerError::new(
            ErrorCode::Internal,
            format!(
                "the record object of key {key_id} on the HSM holds {} bytes, not a 32-byte record hash",
                value.len()
            ),
        )
    })
}

fn several_records(key_id: &str, n: usize) -> SignerError {
    SignerError::new(
        ErrorCode::Internal,
        format!(
            "key {key_id} has {n} record objects on the HSM (CKA_APPLICATION signet/record), so its record is ambiguous and it is refused: a record change is under way on another signer (retry), or one was cut short (an operator removes the record object whose hash is not the wallet's stored record's)"
        ),
    )
}

fn ec_params(kt: KeyType) -> &'static [u8] {
    match kt {
        KeyType::Secp256k1 => OID_SECP256K1,
        KeyType::P256 => OID_P256,
        KeyType::Ed25519 => OID_ED25519,
    }
}

fn key_type_of(params: &[u8]) -> Option<KeyType> {
    KeyType::ALL.into_iter().find(|kt| ec_params(*kt) == params)
}

/// Whether a PKCS#11 error means the session or device is gone (worth one
/// retry on a fresh session).
fn is_token_error(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

fn hsm_error(e: &CkError) -> SignerError {
    // PKCS#11 errors name functions and return values, never PINs or keys.
    SignerError::new(ErrorCode::HsmUnavailable, format!("HSM: {e}"))
}

/// Keys in a PKCS#11 token.
pub struct Pkcs11Backend {
    ctx: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    idle: Mutex<Vec<Session>>,
    /// Sessions kept logged in (as many as calls can be in flight).
    max_sessions: usize,
    /// Dedicated threads for calls (0: the caller's thread).
    threads: usize,
    public_keys: Mutex<HashMap<String, (KeyType, Vec<u8>)>>,
    /// Private key handles by key id (token object handles stay valid for the
    /// life of the application; a stale one is looked up again).
    private_handles: Mutex<HashMap<String, ObjectHandle>>,
    /// Record object handles by key id: handles only, never the hash. The
    /// hash is read from the token on every request (`C_GetAttributeValue`
    /// on the cached handle), because another signer
    /// process on the same token may change it (a record change there):
    /// a hash cached here would let a host present the record this process
    /// saw last, a rolled-back record, for as long as it runs. A handle that
    /// no longer is the key's record object is looked up again. A key
    /// without one (made before record objects) is looked up on every
    /// request: its absence is not cached either, since a record change in
    /// another process creates one.
    record_handles: Mutex<HashMap<String, ObjectHandle>>,
    /// Held while a record object is rewritten: two changes in this process
    /// never interleave their create and destroy (which could leave two
    /// record objects). Other processes on the token are not held back.
    rebinding: Mutex<()>,
}

impl Pkcs11Backend {
    /// Loads `module`, finds the token labelled `token_label`, and logs in
    /// as user with `pin` (from `PKCS11_PIN`; never from a flag, never logged).
    /// With `threads` > 0 the signer runs calls on that many dedicated
    /// threads ([`KeyBackend::blocking_concurrency`]); with 0 on its async
    /// workers. Either way each call in flight has its own session.
    pub fn open(
        module: &Path,
        token_label: &str,
        pin: String,
        threads: usize,
    ) -> Result<Self, String> {
        let ctx = Pkcs11::new(module)
            .map_err(|e| format!("cannot load PKCS#11 module {}: {e}", module.display()))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| format!("C_Initialize: {e}"))?;
        let slot = ctx
            .get_slots_with_token()
            .map_err(|e| format!("C_GetSlotList: {e}"))?
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|t| t.label().trim_end() == token_label)
            })
            .ok_or_else(|| format!("no PKCS#11 token labelled `{token_label}`"))?;
        let backend = Self {
            ctx,
            slot,
            pin: AuthPin::from(pin),
            idle: Mutex::new(Vec::new()),
            max_sessions: threads
                .max(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)),
            threads,
            public_keys: Mutex::new(HashMap::new()),
            private_handles: Mutex::new(HashMap::new()),
            record_handles: Mutex::new(HashMap::new()),
            rebinding: Mutex::new(()),
        };
        // Log in now so a wrong PIN stops the signer at start.
        let session = backend.new_session().map_err(|e| e.message)?;
        backend.put_back(session);
        Ok(backend)
    }

    fn new_session(&self) -> Result<Session, SignerError> {
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| hsm_error(&e))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            )) => Err(SignerError::new(
                ErrorCode::HsmUnavailable,
                "PKCS#11 login refused: wrong PKCS11_PIN",
            )),
            Err(e) => Err(hsm_error(&e)),
        }
    }

    fn take(&self) -> Result<Session, SignerError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(s) => Ok(s),
            None => self.new_session(),
        }
    }

    fn put_back(&self, session: Session) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_sessions {
                idle.push(session);
            }
        }
    }

    /// Runs `f` on a pooled session; on a token error, once more on a fresh
    /// session, then `hsm_unavailable`.
    fn with_session<T>(
        &self,
        f: impl Fn(&Session) -> Result<T, CkError>,
    ) -> Result<T, SignerError> {
        let session = self.take()?;
        match f(&session) {
            Ok(v) => {
                self.put_back(session);
                Ok(v)
            }
            Err(e) if is_token_error(&e) => {
                tracing::warn!(error = %e, "HSM session failed; retrying on a fresh session");
                drop(session);
                let session = self.new_session()?;
                let result = f(&session).map_err(|e| hsm_error(&e));
                if result.is_ok() {
                    self.put_back(session);
                }
                result
            }
            Err(e) => {
                self.put_back(session);
                Err(hsm_error(&e))
            }
        }
    }

    fn find(
        &self,
        session: &Session,
        key_id: &str,
        class: ObjectClass,
    ) -> Result<Vec<ObjectHandle>, CkError> {
        session.find_objects(&[
            Attribute::Class(class),
            Attribute::Token(true),
            Attribute::Id(key_id.as_bytes().to_vec()),
        ])
    }

    fn find_one(
        &self,
        session: &Session,
        key_id: &str,
        class: ObjectClass,
    ) -> Result<Option<ObjectHandle>, CkError> {
        Ok(self.find(session, key_id, class)?.first().copied())
    }

    fn read_public(&self, key_id: &str) -> Result<Option<(KeyType, Vec<u8>)>, SignerError> {
        if let Some(found) = cached(&self.public_keys, key_id) {
            return Ok(Some(found));
        }
        let attrs = self.with_session(|s| {
            let Some(handle) = self.find_one(s, key_id, ObjectClass::PUBLIC_KEY)? else {
                return Ok(None);
            };
            s.get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
                .map(Some)
        })?;
        let Some(attrs) = attrs else { return Ok(None) };
        let (mut params, mut point) = (None, None);
        for a in attrs {
            match a {
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        let bad = || {
            SignerError::new(
                ErrorCode::Internal,
                "HSM public key object is not one of Signet's key types",
            )
        };
        let kt = params.as_deref().and_then(key_type_of).ok_or_else(bad)?;
        let point = point
            .as_deref()
            .and_then(unwrap_octet_string)
            .ok_or_else(bad)?;
        let found = (kt, point.to_vec());
        if let Ok(mut m) = self.public_keys.lock() {
            m.insert(key_id.to_owned(), found.clone());
        }
        Ok(Some(found))
    }

    /// The handle of `key_id`'s private key, cached after the first lookup
    /// (token object handles stay valid for the life of the application).
    /// `None` if the token has no such private key.
    fn private_handle(
        &self,
        session: &Session,
        key_id: &str,
    ) -> Result<Option<ObjectHandle>, CkError> {
        if let Some(h) = cached(&self.private_handles, key_id) {
            return Ok(Some(h));
        }
        let Some(handle) = self.find_one(session, key_id, ObjectClass::PRIVATE_KEY)? else {
            return Ok(None);
        };
        if let Ok(mut m) = self.private_handles.lock() {
            m.insert(key_id.to_owned(), handle);
        }
        Ok(Some(handle))
    }

    fn forget_handle(&self, key_id: &str) {
        if let Ok(mut m) = self.private_handles.lock() {
            m.remove(key_id);
        }
    }

    /// Forgets everything cached about `key_id` (it changed on the token).
    fn forget_key(&self, key_id: &str) {
        self.forget_handle(key_id);
        self.forget_record(key_id);
        if let Ok(mut m) = self.public_keys.lock() {
            m.remove(key_id);
        }
    }

    fn forget_record(&self, key_id: &str) {
        if let Ok(mut m) = self.record_handles.lock() {
            m.remove(key_id);
        }
    }

    fn remember_record(&self, key_id: &str, handle: ObjectHandle) {
        if let Ok(mut m) = self.record_handles.lock() {
            m.insert(key_id.to_owned(), handle);
        }
    }

    /// Every record object of `key_id` on the token.
    fn find_records(&self, session: &Session, key_id: &str) -> Result<Vec<ObjectHandle>, CkError> {
        session.find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Application(RECORD_APPLICATION.to_vec()),
            Attribute::Label(label_of(key_id)),
        ])
    }

    /// `key_id`'s record object and its value, read now: through the cached
    /// handle if it still is that object, else by a search.
    fn lookup_record(&self, session: &Session, key_id: &str) -> Result<RecordObject, CkError> {
        if let Some(handle) = cached(&self.record_handles, key_id) {
            if let Some(value) = record_value_at(session, handle, key_id)? {
                return Ok(RecordObject::Found(handle, Some(value)));
            }
        }
        Ok(match self.find_records(session, key_id)?.as_slice() {
            [] => RecordObject::Absent,
            [handle] => RecordObject::Found(*handle, record_value_at(session, *handle, key_id)?),
            more => RecordObject::Several(more.len()),
        })
    }

    /// Removes a key pair just generated whose record could not be made or
    /// kept: no key is left on the token without its record object.
    fn undo_generate(&self, key_id: &str) {
        match self.destroy(key_id) {
            Ok(_) => tracing::warn!(key_id, "half-generated key removed from the HSM"),
            Err(e) => tracing::error!(
                key_id,
                error = %e.message,
                "a half-generated key could not be removed from the HSM; remove its objects (label signet:{key_id}) by hand"
            ),
        }
    }
}

/// The `CKA_VALUE` of the object at `handle` if it still is `key_id`'s
/// record object; `None` if the handle is invalid or now names another
/// object (a cached handle whose object another process destroyed), or the
/// value is unreadable.
fn record_value_at(
    session: &Session,
    handle: ObjectHandle,
    key_id: &str,
) -> Result<Option<Vec<u8>>, CkError> {
    let attrs = match session.get_attributes(
        handle,
        &[
            AttributeType::Class,
            AttributeType::Application,
            AttributeType::Label,
            AttributeType::Value,
        ],
    ) {
        Ok(attrs) => attrs,
        Err(CkError::Pkcs11(RvError::ObjectHandleInvalid, _)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (mut ours, mut value) = ([false; 3], None);
    for a in attrs {
        match a {
            Attribute::Class(c) => ours[0] = c == ObjectClass::DATA,
            Attribute::Application(app) => ours[1] = app == RECORD_APPLICATION,
            Attribute::Label(label) => ours[2] = label == label_of(key_id),
            Attribute::Value(v) => value = Some(v),
            _ => {}
        }
    }
    Ok(if ours.iter().all(|b| *b) { value } else { None })
}

/// A copy of what `cache` holds for `key_id`.
fn cached<T: Clone>(cache: &Mutex<HashMap<String, T>>, key_id: &str) -> Option<T> {
    cache.lock().ok().and_then(|m| m.get(key_id).cloned())
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the point.
fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = match len {
        l if l < 0x80 => (usize::from(l), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        _ => return None,
    };
    (rest.len() == len).then_some(rest)
}

/// Checks what the HSM returned against the public key before it leaves
/// the signer (normalizing ECDSA to low S, with the secp256k1 recovery id).
fn check_hsm_signature(
    kt: KeyType,
    public_key: &[u8],
    digest: &[u8],
    input: &[u8],
    raw: Vec<u8>,
) -> Result<RawSignature, SignerError> {
    match kt {
        KeyType::Ed25519 => {
            let pk: [u8; 32] = public_key
                .try_into()
                .map_err(|_| SignerError::new(ErrorCode::Internal, "bad Ed25519 public key"))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk)
                .map_err(|_| SignerError::new(ErrorCode::Internal, "bad Ed25519 public key"))?;
            let sig = ed25519_dalek::Signature::from_slice(&raw)
                .map_err(|_| SignerError::new(ErrorCode::Internal, "HSM signature malformed"))?;
            vk.verify_strict(input, &sig).map_err(|_| {
                SignerError::new(ErrorCode::Internal, "HSM signature does not verify")
            })?;
            Ok(RawSignature {
                bytes: raw,
                recovery_id: None,
            })
        }
        _ => finish_ecdsa(kt, public_key, digest, &raw),
    }
}

/// Normalizes an ECDSA `r‖s` to low S, and checks it against the public key;
/// for secp256k1 also finds the recovery id.
fn finish_ecdsa(
    kt: KeyType,
    public_key: &[u8],
    digest: &[u8],
    raw: &[u8],
) -> Result<RawSignature, SignerError> {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let bad =
        |m: &str| SignerError::new(ErrorCode::Internal, format!("HSM signature rejected: {m}"));
    match kt {
        KeyType::Secp256k1 => {
            let sig = k256::ecdsa::Signature::from_slice(raw).map_err(|_| bad("malformed"))?;
            let sig = sig.normalize_s().unwrap_or(sig);
            let bytes: [u8; 64] = sig.to_bytes().into();
            let recovery_id = verify_and_recovery_id(public_key, digest, &bytes)
                .ok_or_else(|| bad("does not verify"))?;
            Ok(RawSignature {
                bytes: bytes.to_vec(),
                recovery_id: Some(recovery_id),
            })
        }
        KeyType::P256 => {
            let sig = p256::ecdsa::Signature::from_slice(raw).map_err(|_| bad("malformed"))?;
            let sig = sig.normalize_s().unwrap_or(sig);
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
                .map_err(|_| bad("public key"))?;
            vk.verify_prehash(digest, &sig)
                .map_err(|_| bad("does not verify"))?;
            Ok(RawSignature {
                bytes: sig.to_bytes().to_vec(),
                recovery_id: None,
            })
        }
        KeyType::Ed25519 => Err(bad("not ECDSA")),
    }
}

/// Verifies a (low-S) secp256k1 signature over a 32-byte prehash against
/// `public_key` and finds its recovery id in the same step, with
/// libsecp256k1: the id whose recovered key is `public_key` (recovering `Q`
/// from `(r, s, id)` and comparing it with the key is equivalent to
/// verifying). Costs one recovery when the id is 0 and two when it is 1,
/// against a verification plus one or two recoveries done separately.
/// `None` if no id yields the key (the signature does not verify).
fn verify_and_recovery_id(public_key: &[u8], digest: &[u8], sig: &[u8; 64]) -> Option<u8> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let expected = secp256k1::PublicKey::from_slice(public_key).ok()?;
    let message = secp256k1::Message::from_digest(digest.try_into().ok()?);
    (0..=3).find_map(|id| {
        let recoverable =
            RecoverableSignature::from_compact(sig, RecoveryId::from_i32(id).ok()?).ok()?;
        let recovered = secp256k1::SECP256K1
            .recover_ecdsa(&message, &recoverable)
            .ok()?;
        (recovered == expected).then_some(id as u8)
    })
}

impl KeyBackend for Pkcs11Backend {
    fn name(&self) -> &'static str {
        "pkcs11"
    }

    fn generate(
        &self,
        key_id: &str,
        key_type: KeyType,
        make_record: RecordMaker<'_>,
    ) -> Result<NewKey, SignerError> {
        check_key_id(key_id)?;
        if self.read_public(key_id)?.is_some() {
            return Err(SignerError::new(
                ErrorCode::KeyExists,
                "a key with this id exists on the token",
            ));
        }
        // A record object left without its key (a key pair removed from the
        // token by hand) would make the new key's record ambiguous.
        let orphans = self.with_session(|s| {
            let found = self.find_records(s, key_id)?;
            for handle in &found {
                s.destroy_object(*handle)?;
            }
            Ok(found.len())
        })?;
        self.forget_record(key_id);
        if orphans > 0 {
            tracing::warn!(
                key_id,
                orphans,
                "record objects without a key removed from the HSM before generating"
            );
        }
        let id = key_id.as_bytes().to_vec();
        let label = label_of(key_id);
        let mechanism = match key_type {
            KeyType::Ed25519 => Mechanism::EccEdwardsKeyPairGen,
            _ => Mechanism::EccKeyPairGen,
        };
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(ec_params(key_type).to_vec()),
            Attribute::Id(id.clone()),
            Attribute::Label(label.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Id(id),
            Attribute::Label(label),
        ];
        self.with_session(|s| {
            s.generate_key_pair(&mechanism, &public_template, &private_template)
        })?;
        // From here on a failure removes the key pair again: no wallet is
        // left half-made, a key on the token without its record object.
        let made = self
            .read_public(key_id)
            .and_then(|found| {
                found.ok_or_else(|| {
                    SignerError::new(
                        ErrorCode::HsmUnavailable,
                        "the generated key is not on the token",
                    )
                })
            })
            .and_then(|(_, public_key)| {
                let record = make_record(&public_key)?;
                let template = record_template(key_id, &record.record_hash().0);
                let handle = self.with_session(|s| s.create_object(&template))?;
                Ok((public_key, record, handle))
            });
        let (public_key, record, handle) = match made {
            Ok(made) => made,
            Err(e) => {
                self.undo_generate(key_id);
                return Err(e);
            }
        };
        self.remember_record(key_id, handle);
        tracing::info!(key_id, %key_type, "key and its record object generated in the HSM");
        Ok(NewKey {
            public_key,
            sealed: None,
            record,
        })
    }

    fn rebind(
        &self,
        key_id: &str,
        record_hash: &[u8; 32],
    ) -> Result<Option<SealedKey>, SignerError> {
        check_key_id(key_id)?;
        if self.read_public(key_id)?.is_none() {
            return Err(SignerError::new(
                ErrorCode::KeyNotFound,
                "no such key on the HSM",
            ));
        }
        // The new record object is created before the old one is destroyed:
        // tokens need not let CKA_VALUE of a data object change (SoftHSM2
        // refuses), and destroying first would leave, for an instant or for
        // good if the signer died there, a key without a record object,
        // which counts as a key from before records with the permissive
        // record. This way a reader in between sees two record objects and
        // refuses (fails closed); a change cut short between the two calls
        // leaves both, refused until an operator removes the one whose hash
        // is not the host's stored record's. Other signers' cached handles
        // of the old object turn invalid and they search again.
        //
        // PKCS#11 has no compare-and-set either: two signers changing one
        // wallet's record at the same instant may both succeed (the last
        // destroy wins, or both objects stay and are refused as ambiguous);
        // the one that lost refuses its own record (record_mismatch) from
        // then on. Either way no signer admits a record the token does not
        // name.
        let template = record_template(key_id, record_hash);
        let _one_at_a_time = self
            .rebinding
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "record object lock poisoned"))?;
        let written = self.with_session(|s| {
            let old = self.find_records(s, key_id)?;
            if old.len() > 1 {
                return Ok(Err(old.len()));
            }
            let handle = s.create_object(&template)?;
            for stale in old {
                s.destroy_object(stale)?;
            }
            Ok(Ok(handle))
        })?;
        match written {
            Ok(handle) => self.remember_record(key_id, handle),
            Err(n) => {
                self.forget_record(key_id);
                return Err(several_records(key_id, n));
            }
        }
        tracing::info!(key_id, "record object on the HSM rewritten");
        Ok(None)
    }

    fn keeps_records(&self) -> bool {
        true
    }

    fn bound_record(&self, key_id: &str) -> Result<Option<[u8; 32]>, SignerError> {
        check_key_id(key_id)?;
        match self.with_session(|s| self.lookup_record(s, key_id))? {
            RecordObject::Absent => {
                self.forget_record(key_id);
                Ok(None)
            }
            RecordObject::Found(handle, value) => {
                let hash = record_hash_of(key_id, value.as_deref());
                if hash.is_ok() {
                    self.remember_record(key_id, handle);
                } else {
                    self.forget_record(key_id);
                }
                hash.map(Some)
            }
            RecordObject::Several(n) => {
                self.forget_record(key_id);
                Err(several_records(key_id, n))
            }
        }
    }

    fn load_sealed(&self, sealed: &SealedKey) -> Result<Loaded, SignerError> {
        // HSM keys never leave the token; a sealed blob for this backend is a
        // host mistake, but the key may exist: answer with it, and with the
        // record hash its record object holds, if so.
        match self.read_public(&sealed.key_id)? {
            Some((key_type, public_key)) => Ok(Loaded {
                info: PublicKeyInfo {
                    key_id: sealed.key_id.clone(),
                    key_type,
                    public_key,
                },
                bound: self.bound_record(&sealed.key_id)?,
            }),
            None => Err(SignerError::new(
                ErrorCode::KeyNotFound,
                "no such key on the HSM (it does not use sealed blobs)",
            )),
        }
    }

    fn public_key(&self, key_id: &str) -> Result<(KeyType, Vec<u8>), SignerError> {
        check_key_id(key_id)?;
        self.read_public(key_id)?
            .ok_or_else(|| SignerError::new(ErrorCode::KeyNotFound, "no such key on the HSM"))
    }

    fn sign(
        &self,
        key_id: &str,
        digest: &[u8],
        message: Option<&[u8]>,
    ) -> Result<RawSignature, SignerError> {
        let (kt, public_key) = self.public_key(key_id)?;
        let input = match (kt, message) {
            (KeyType::Ed25519, Some(m)) => m,
            (KeyType::Ed25519, None) => {
                return Err(SignerError::bad_request(
                    "Ed25519 signs a message; none was sent",
                ))
            }
            (_, Some(_)) => {
                return Err(SignerError::bad_request(
                    "ECDSA keys sign a digest, not a message",
                ))
            }
            (_, None) if digest.len() != 32 => {
                return Err(SignerError::bad_request("digest must be 32 bytes"))
            }
            (_, None) => digest,
        };
        let mechanism = match kt {
            KeyType::Ed25519 => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            _ => Mechanism::Ecdsa,
        };
        let raw = self.with_session(|s| {
            let Some(handle) = self.private_handle(s, key_id)? else {
                return Ok(None);
            };
            match s.sign(&mechanism, handle, input) {
                // Destroyed (and perhaps re-created) behind our back by
                // another process on the same token: look it up again, once.
                Err(CkError::Pkcs11(
                    RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid,
                    _,
                )) => {
                    self.forget_handle(key_id);
                    match self.private_handle(s, key_id)? {
                        Some(handle) => s.sign(&mechanism, handle, input).map(Some),
                        None => Ok(None),
                    }
                }
                other => other.map(Some),
            }
        })?;
        let Some(raw) = raw else {
            self.forget_key(key_id);
            return Err(SignerError::new(
                ErrorCode::KeyNotFound,
                "no such key on the HSM (it was removed from the token)",
            ));
        };
        // Checked against the public key this signer knows for the id: a key
        // replaced on the token behind Signet's back is refused, never used.
        let checked = check_hsm_signature(kt, &public_key, digest, input, raw);
        if checked.is_err() {
            self.forget_handle(key_id);
        }
        checked
    }

    fn destroy(&self, key_id: &str) -> Result<bool, SignerError> {
        check_key_id(key_id)?;
        // The private key first, the record object last: a destroy cut short
        // never leaves a key without its record object (which would make it
        // a key from before records, with the permissive record); a record
        // object left without its key is removed by the next generate.
        let removed = self.with_session(|s| {
            let mut n = 0;
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                for handle in self.find(s, key_id, class)? {
                    s.destroy_object(handle)?;
                    n += 1;
                }
            }
            for handle in self.find_records(s, key_id)? {
                s.destroy_object(handle)?;
            }
            Ok(n)
        })?;
        self.forget_key(key_id);
        Ok(removed > 0)
    }

    fn loaded_ids(&self) -> Vec<String> {
        self.with_session(|s| {
            let handles = s.find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Token(true),
            ])?;
            let mut ids = Vec::new();
            for h in handles {
                for a in s.get_attributes(h, &[AttributeType::Id, AttributeType::Label])? {
                    if let Attribute::Label(l) = a {
                        if let Some(id) = String::from_utf8(l)
                            .ok()
                            .and_then(|l| l.strip_prefix(LABEL_PREFIX).map(str::to_owned))
                        {
                            ids.push(id);
                        }
                    }
                }
            }
            Ok(ids)
        })
        .unwrap_or_default()
    }

    fn capacity(&self) -> usize {
        0
    }

    fn sealing_key_version(&self) -> Option<u32> {
        None
    }

    fn blocking_concurrency(&self) -> Option<usize> {
        (self.threads > 0).then_some(self.threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn octet_strings_unwrap() {
        let mut der = vec![0x04, 0x41];
        der.extend([4u8; 65]);
        assert_eq!(unwrap_octet_string(&der).unwrap().len(), 65);
        assert!(unwrap_octet_string(&[0x04, 0x05, 1]).is_none());
        assert!(unwrap_octet_string(&[0x03, 0x01, 1]).is_none());
        assert_eq!(key_type_of(OID_P256), Some(KeyType::P256));
        assert_eq!(key_type_of(&[0x06, 0x01, 0x00]), None);
    }

    #[test]
    fn a_record_object_holds_exactly_a_32_byte_hash() {
        assert_eq!(record_hash_of("w", Some(&[7; 32])).unwrap(), [7; 32]);
        for bad in [None, Some(&[][..]), Some(&[7; 31][..]), Some(&[7; 33][..])] {
            let err = record_hash_of("w", bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::Internal);
            assert!(err.message.contains("record object of key w"), "{err:?}");
        }
        let template = record_template("w", &[7; 32]);
        assert!(template.contains(&Attribute::Private(true)));
        assert!(template.contains(&Attribute::Label(b"signet:w".to_vec())));
        assert!(template.contains(&Attribute::Application(b"signet/record".to_vec())));
    }

    #[test]
    fn one_verification_yields_the_recovery_id_k256_computes() {
        for k in 1..=24u8 {
            let key = k256::ecdsa::SigningKey::from_slice(&[k; 32]).unwrap();
            let other = k256::ecdsa::SigningKey::from_slice(&[k.wrapping_add(100); 32]).unwrap();
            let digest = sha2::Sha256::digest([k]);
            let pk = key.verifying_key().to_encoded_point(false);
            let other_pk = other.verifying_key().to_encoded_point(false);
            let (sig, recid) = key.sign_prehash_recoverable(&digest).unwrap();
            let sig: [u8; 64] = sig.to_bytes().into();
            assert_eq!(
                verify_and_recovery_id(pk.as_bytes(), &digest, &sig),
                Some(recid.to_byte())
            );
            let compressed = key.verifying_key().to_encoded_point(true);
            assert_eq!(
                verify_and_recovery_id(compressed.as_bytes(), &digest, &sig),
                Some(recid.to_byte())
            );
            let mut wrong = digest;
            wrong[0] ^= 1;
            assert_eq!(verify_and_recovery_id(pk.as_bytes(), &wrong, &sig), None);
            assert_eq!(
                verify_and_recovery_id(other_pk.as_bytes(), &digest, &sig),
                None
            );
            assert_eq!(
                verify_and_recovery_id(pk.as_bytes(), &digest[..31], &sig),
                None
            );
            assert_eq!(
                verify_and_recovery_id(&pk.as_bytes()[1..], &digest, &sig),
                None
            );
            let mut flipped = sig;
            flipped[40] ^= 1;
            assert_eq!(
                verify_and_recovery_id(pk.as_bytes(), &digest, &flipped),
                None
            );
        }
    }

    #[test]
    fn high_s_hsm_signatures_are_normalized_with_the_right_recovery_id() {
        use k256::ecdsa::signature::hazmat::PrehashSigner as _;
        let key = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pk = key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        for i in 0..16u8 {
            let digest = [i; 32];
            let (low, recid) = key.sign_prehash_recoverable(&digest).unwrap();
            // What an HSM may return: the same signature with s -> n - s.
            let high = k256::ecdsa::Signature::from_scalars(low.r(), -*low.s()).unwrap();
            for raw in [low.to_bytes(), high.to_bytes()] {
                let out = finish_ecdsa(KeyType::Secp256k1, &pk, &digest, &raw).unwrap();
                assert_eq!(out.bytes, low.to_bytes().to_vec());
                assert_eq!(out.recovery_id, Some(recid.to_byte()));
            }
        }
        let p = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let ppk = p
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let sig: p256::ecdsa::Signature = p.sign_prehash(&[1; 32]).unwrap();
        let high = p256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
        let out = finish_ecdsa(KeyType::P256, &ppk, &[1; 32], &high.to_bytes()).unwrap();
        assert!(p256::ecdsa::Signature::from_slice(&out.bytes)
            .unwrap()
            .normalize_s()
            .is_none());
        assert!(
            finish_ecdsa(KeyType::P256, &ppk, &[2; 32], &sig.to_bytes()).is_err(),
            "wrong digest is caught"
        );
    }
}
