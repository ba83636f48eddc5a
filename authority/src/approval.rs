//! Owners' approvals and their verification.
//!
//! An approval is one owner's signature over an authorization text
//! ([`crate::authz`]). In JSON, as the API takes it:
//!
//! ```text
//! {"owner_id":"ops","text":"{…}","signature":"<hex>"}
//! {"owner_id":"ann","text":"{…}","webauthn":{"credential_id":"…","authenticator_data":"…",
//!                                            "client_data_json":"…","signature":"…"}}
//! ```
//!
//! [`verify_approvals`] checks a set of them against what the signer itself
//! knows about the request ([`Expected`]) and the wallet's record.

use serde::{Deserialize, Serialize};

use crate::authz::{Action, Authorization, Request, MAX_LIFETIME_SECONDS};
use crate::error::FieldErrorKind;
use crate::eth;
use crate::fields::quote;
use crate::owner::{decode_base64url, is_owner_id, Owner, MAX_CREDENTIAL_ID_LEN};
use crate::record::{Record, RecordHash};
use crate::webauthn::{
    self, AssertionCheck, MAX_AUTHENTICATOR_DATA_LEN, MAX_CLIENT_DATA_LEN, MAX_SIGNATURE_LEN,
};

/// A WebAuthn assertion as the browser returns it, each field base64url
/// (padding optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebAuthnProof {
    /// The credential's id (`rawId`).
    pub credential_id: String,
    /// `response.authenticatorData`.
    pub authenticator_data: String,
    /// `response.clientDataJSON`.
    pub client_data_json: String,
    /// `response.signature` (DER ES256).
    pub signature: String,
}

/// How an approval proves its owner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A signature in hex (`0x` optional): 65 bytes `r‖s‖v` for secp256k1,
    /// 64 bytes for Ed25519, 64 bytes `r‖s` for P-256.
    Signature(String),
    /// A WebAuthn assertion (passkeys).
    WebAuthn(WebAuthnProof),
}

/// One owner's approval: the authorization text and its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ApprovalWire", into = "ApprovalWire")]
pub struct Approval {
    /// The approving owner's id in the record.
    pub owner_id: String,
    /// The authorization text, exactly as signed.
    pub text: String,
    /// The signature or assertion.
    pub proof: Proof,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalWire {
    owner_id: String,
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webauthn: Option<WebAuthnProof>,
}

/// An approval in JSON with both or neither of `signature` and `webauthn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an approval carries exactly one of `signature` (secp256k1, ed25519, p256 owners) and `webauthn` (passkey owners)")]
pub struct ProofShapeError;

impl TryFrom<ApprovalWire> for Approval {
    type Error = ProofShapeError;
    fn try_from(w: ApprovalWire) -> Result<Self, ProofShapeError> {
        let proof = match (w.signature, w.webauthn) {
            (Some(s), None) => Proof::Signature(s),
            (None, Some(a)) => Proof::WebAuthn(a),
            _ => return Err(ProofShapeError),
        };
        Ok(Self {
            owner_id: w.owner_id,
            text: w.text,
            proof,
        })
    }
}

impl From<Approval> for ApprovalWire {
    fn from(a: Approval) -> Self {
        let (signature, webauthn) = match a.proof {
            Proof::Signature(s) => (Some(s), None),
            Proof::WebAuthn(w) => (None, Some(w)),
        };
        Self {
            owner_id: a.owner_id,
            text: a.text,
            signature,
            webauthn,
        }
    }
}

/// Why approvals were refused: stable names for the API's `approval_invalid`
/// `reason` (see [`ApprovalRefusal::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApprovalRefusal {
    /// The text is not a valid authorization, or the proof is not decodable.
    Malformed,
    /// The text's `purpose` is not `signet.authz`.
    WrongPurpose,
    /// The text's format version is not 1.
    WrongVersion,
    /// For another deployment.
    WrongDeployment,
    /// For another wallet.
    WrongWallet,
    /// Under another record than the wallet's current one.
    WrongRecord,
    /// For another action.
    WrongAction,
    /// For other content.
    PayloadMismatch,
    /// For another digest.
    DigestMismatch,
    /// Expired.
    Expired,
    /// Expires more than 600 s after the signer's clock.
    ExpiresTooFar,
    /// The approvals carry different request ids.
    RequestMismatch,
    /// No such owner in the record.
    UnknownOwner,
    /// Two approvals from one owner.
    DuplicateOwner,
    /// The signature does not verify (or recovers another address).
    BadSignature,
    /// A secp256k1 signature with high S.
    HighS,
    /// clientDataJSON's type is not `webauthn.get`.
    WebauthnType,
    /// The WebAuthn challenge is not SHA-256 of the text.
    WebauthnChallenge,
    /// The WebAuthn origin is not one of the owner's.
    WebauthnOrigin,
    /// Made in a cross-origin frame.
    WebauthnCrossOrigin,
    /// For another relying party.
    WebauthnRpId,
    /// No user presence.
    WebauthnUserPresent,
    /// No user verification where it is required.
    WebauthnUserVerified,
    /// Another credential than the record pins.
    WebauthnCredential,
    /// The assertion's parts are malformed.
    WebauthnMalformed,
    /// Fewer valid approvals than the threshold (or a wallet without owners).
    BelowThreshold,
    /// The request id was already used.
    Replayed,
}

impl ApprovalRefusal {
    /// The stable snake_case name (the API's `reason`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongPurpose => "wrong_purpose",
            Self::WrongVersion => "wrong_version",
            Self::WrongDeployment => "wrong_deployment",
            Self::WrongWallet => "wrong_wallet",
            Self::WrongRecord => "wrong_record",
            Self::WrongAction => "wrong_action",
            Self::PayloadMismatch => "payload_mismatch",
            Self::DigestMismatch => "digest_mismatch",
            Self::Expired => "expired",
            Self::ExpiresTooFar => "expires_too_far",
            Self::RequestMismatch => "request_mismatch",
            Self::UnknownOwner => "unknown_owner",
            Self::DuplicateOwner => "duplicate_owner",
            Self::BadSignature => "bad_signature",
            Self::HighS => "high_s",
            Self::WebauthnType => "webauthn_type",
            Self::WebauthnChallenge => "webauthn_challenge",
            Self::WebauthnOrigin => "webauthn_origin",
            Self::WebauthnCrossOrigin => "webauthn_cross_origin",
            Self::WebauthnRpId => "webauthn_rp_id",
            Self::WebauthnUserPresent => "webauthn_user_present",
            Self::WebauthnUserVerified => "webauthn_user_verified",
            Self::WebauthnCredential => "webauthn_credential",
            Self::WebauthnMalformed => "webauthn_malformed",
            Self::BelowThreshold => "below_threshold",
            Self::Replayed => "replayed",
        }
    }

    /// Every refusal.
    pub const ALL: [ApprovalRefusal; 27] = [
        Self::Malformed,
        Self::WrongPurpose,
        Self::WrongVersion,
        Self::WrongDeployment,
        Self::WrongWallet,
        Self::WrongRecord,
        Self::WrongAction,
        Self::PayloadMismatch,
        Self::DigestMismatch,
        Self::Expired,
        Self::ExpiresTooFar,
        Self::RequestMismatch,
        Self::UnknownOwner,
        Self::DuplicateOwner,
        Self::BadSignature,
        Self::HighS,
        Self::WebauthnType,
        Self::WebauthnChallenge,
        Self::WebauthnOrigin,
        Self::WebauthnCrossOrigin,
        Self::WebauthnRpId,
        Self::WebauthnUserPresent,
        Self::WebauthnUserVerified,
        Self::WebauthnCredential,
        Self::WebauthnMalformed,
        Self::BelowThreshold,
        Self::Replayed,
    ];
}

/// Approvals refused: the reason, which approval (index in the list, and
/// its owner id when valid), and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ApprovalError {
    /// The reason.
    pub refusal: ApprovalRefusal,
    /// The index of the refused approval, when one is meant.
    pub approval: Option<usize>,
    /// Its owner id, when it is a well-formed id.
    pub owner_id: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl ApprovalError {
    /// A refusal of the set as a whole.
    pub fn new(refusal: ApprovalRefusal, message: impl Into<String>) -> Self {
        Self {
            refusal,
            approval: None,
            owner_id: None,
            message: message.into(),
        }
    }

    fn at(i: usize, owner_id: &str, refusal: ApprovalRefusal, message: impl Into<String>) -> Self {
        Self {
            refusal,
            approval: Some(i),
            owner_id: is_owner_id(owner_id).then(|| owner_id.to_owned()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApprovalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.approval, &self.owner_id) {
            (Some(i), Some(o)) => write!(f, "approval {i} (owner {o}): ")?,
            (Some(i), None) => write!(f, "approval {i}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

/// What the signer knows about the request independently of the approvals:
/// its own deployment, the wallet asked for, the hash of the record it
/// holds, and the request's action, payload hash and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The action.
    pub action: Action,
    /// The signer's deployment.
    pub deployment: String,
    /// The wallet.
    pub wallet_id: String,
    /// The hash of the wallet's current record.
    pub record_hash: RecordHash,
    /// The request's payload hash.
    pub payload_sha256: [u8; 32],
    /// The digest to be signed (`sign` only).
    pub digest: Option<[u8; 32]>,
}

impl Expected {
    /// What a signer in `deployment` expects for `request` on the wallet of
    /// `record`.
    #[must_use]
    pub fn for_request(deployment: &str, record: &Record, request: &Request) -> Self {
        Self {
            action: request.action(),
            deployment: deployment.to_owned(),
            wallet_id: record.wallet_id().to_owned(),
            record_hash: record.record_hash(),
            payload_sha256: request.payload_sha256(record.record_hash()),
            digest: request.digest(),
        }
    }
}

/// Approvals that met the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The request id they share: remember it until `expires_at` so it is
    /// never accepted again ([`crate::ReplayGuard`]).
    pub request_id: [u8; 16],
    /// The latest expiry among the approvals (Unix seconds).
    pub expires_at: u64,
    /// The owners who approved, in the order given.
    pub owners: Vec<String>,
    /// The signature counters of passkey approvals (owner id, signCount),
    /// for the caller to record; they are never required to grow.
    pub sign_counts: Vec<(String, u32)>,
}

/// Verifies `approvals` of the request described by `expected` against the
/// wallet's `record`, at `now_s` (Unix seconds).
///
/// Every approval must be valid (a bad one is reported, never skipped, so
/// the caller learns what to fix): its owner in the record and not seen
/// before in the list; its text a canonical authorization v1 for this
/// deployment, wallet, record, action, payload and digest; not expired
/// (`expires_at` ≥ now) and not more than 600 s ahead; the same `request_id`
/// as the other approvals (one request, remembered once for replay: two
/// approvals of two requests must not add up to one); and its proof valid
/// for the owner's type. Then there must be at least `threshold` of them. A
/// wallet without owners has no approvals to give: always refused. So is
/// an `expected` whose wallet or record hash is not `record`'s.
///
/// Replay is the caller's: check and remember [`Verified::request_id`] in a
/// [`crate::ReplayGuard`].
pub fn verify_approvals(
    record: &Record,
    expected: &Expected,
    approvals: &[Approval],
    now_s: u64,
) -> Result<Verified, ApprovalError> {
    use ApprovalRefusal as R;
    let threshold = record.threshold() as usize;
    if record.owners().is_empty() || threshold == 0 {
        return Err(ApprovalError::new(
            R::BelowThreshold,
            "this wallet has no owners, so nothing outside its policy can be approved; give it owners first",
        ));
    }
    // The record and the expected request must be the same wallet's: a
    // caller mixing them up is refused rather than trusted.
    if expected.record_hash != record.record_hash() || expected.wallet_id != record.wallet_id() {
        return Err(ApprovalError::new(
            R::WrongRecord,
            "the request is not for this record (its wallet or record hash differ): the signer must check approvals against the wallet's current record",
        ));
    }
    let mut owners: Vec<String> = Vec::with_capacity(approvals.len());
    let mut sign_counts = Vec::new();
    let mut request: Option<([u8; 16], u64)> = None;
    for (i, a) in approvals.iter().enumerate() {
        let refuse = |r: ApprovalRefusal, m: String| ApprovalError::at(i, &a.owner_id, r, m);
        let owner = record.owner(&a.owner_id).ok_or_else(|| {
            refuse(
                R::UnknownOwner,
                format!(
                    "{} is not an owner of this wallet (its owners: {})",
                    quote(&a.owner_id),
                    record
                        .owners()
                        .iter()
                        .map(Owner::id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if owners.iter().any(|o| o == owner.id()) {
            return Err(refuse(
                R::DuplicateOwner,
                "this owner already approved in this list; each owner counts once".into(),
            ));
        }
        let authz = Authorization::parse(&a.text).map_err(|e| {
            let r = match e.kind {
                FieldErrorKind::WrongPurpose => R::WrongPurpose,
                FieldErrorKind::UnsupportedVersion => R::WrongVersion,
                _ => R::Malformed,
            };
            refuse(r, format!("the text is not a valid authorization: {e}"))
        })?;
        check_matches(&authz, expected).map_err(|(r, m)| refuse(r, m))?;
        if authz.expires_at() < now_s {
            return Err(refuse(
                R::Expired,
                format!(
                    "the authorization expired at {}, the signer's clock is {now_s}; approve a fresh one",
                    authz.expires_at()
                ),
            ));
        }
        if authz.expires_at() > now_s.saturating_add(MAX_LIFETIME_SECONDS) {
            return Err(refuse(
                R::ExpiresTooFar,
                format!(
                    "the authorization expires at {}, more than {MAX_LIFETIME_SECONDS} s after the signer's clock ({now_s}); make one that expires sooner (or check the clock)",
                    authz.expires_at()
                ),
            ));
        }
        match request {
            None => request = Some((*authz.request_id(), authz.expires_at())),
            Some((id, _)) if id != *authz.request_id() => {
                return Err(refuse(
                    R::RequestMismatch,
                    format!(
                        "its request_id {} differs from the first approval's {}: all approvals must approve the same request",
                        hex::encode(authz.request_id()),
                        hex::encode(id)
                    ),
                ))
            }
            Some((id, expires_at)) => request = Some((id, expires_at.max(authz.expires_at()))),
        }
        if let Some(count) = verify_proof(owner, &authz, &a.proof).map_err(|(r, m)| refuse(r, m))? {
            sign_counts.push((owner.id().to_owned(), count));
        }
        owners.push(owner.id().to_owned());
    }
    let Some((request_id, expires_at)) = request.filter(|_| owners.len() >= threshold) else {
        return Err(ApprovalError::new(
            R::BelowThreshold,
            format!(
                "{} valid approval(s); this wallet needs {threshold} of its {} owners",
                owners.len(),
                record.owners().len()
            ),
        ));
    };
    Ok(Verified {
        request_id,
        expires_at,
        owners,
        sign_counts,
    })
}

/// Compares an authorization with the expected request.
fn check_matches(
    authz: &Authorization,
    expected: &Expected,
) -> Result<(), (ApprovalRefusal, String)> {
    use ApprovalRefusal as R;
    if authz.deployment() != expected.deployment {
        return Err((
            R::WrongDeployment,
            format!(
                "the authorization is for deployment {}, this signer is {}",
                quote(authz.deployment()),
                quote(&expected.deployment)
            ),
        ));
    }
    if authz.wallet_id() != expected.wallet_id {
        return Err((
            R::WrongWallet,
            format!(
                "the authorization is for wallet {}, the request is for {}",
                quote(authz.wallet_id()),
                quote(&expected.wallet_id)
            ),
        ));
    }
    if authz.record_hash() != expected.record_hash {
        return Err((
            R::WrongRecord,
            format!(
                "the authorization is under record {}, the wallet's current record is {}: fetch the wallet and approve again",
                authz.record_hash(),
                expected.record_hash
            ),
        ));
    }
    if authz.action() != expected.action {
        return Err((
            R::WrongAction,
            format!(
                "the authorization is to {}, the request is to {}",
                authz.action().as_str(),
                expected.action.as_str()
            ),
        ));
    }
    if *authz.payload_sha256() != expected.payload_sha256 {
        return Err((
            R::PayloadMismatch,
            "payload_sha256 is not the hash of this request's content: the approval was made for another request".into(),
        ));
    }
    if authz.digest() != expected.digest.as_ref() {
        return Err((
            R::DigestMismatch,
            "the digest is not what this request would sign".into(),
        ));
    }
    Ok(())
}

/// Decodes a hex signature of exactly `len` bytes (`0x` optional).
fn signature_bytes(
    hex_text: &str,
    len: usize,
    owner: &str,
) -> Result<Vec<u8>, (ApprovalRefusal, String)> {
    let digits = hex_text.strip_prefix("0x").unwrap_or(hex_text);
    if digits.len() != 2 * len {
        return Err((
            ApprovalRefusal::Malformed,
            format!(
                "a {owner} owner's signature is {len} bytes as {} hex digits",
                2 * len
            ),
        ));
    }
    hex::decode(digits).map_err(|_| {
        (
            ApprovalRefusal::Malformed,
            "the signature is not hex".to_owned(),
        )
    })
}

/// The address whose key made the recoverable ECDSA signature `rs`
/// (r ‖ s, already checked in range and low-S) over `digest`, with
/// libsecp256k1 (feature `libsecp256k1`, the signer's).
#[cfg(feature = "libsecp256k1")]
fn recover_address(digest: &[u8; 32], rs: &[u8], recovery: u8) -> Option<eth::Address> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let id = RecoveryId::from_i32(i32::from(recovery)).ok()?;
    let signature = RecoverableSignature::from_compact(rs, id).ok()?;
    let key = secp256k1::SECP256K1
        .recover_ecdsa(&secp256k1::Message::from_digest(*digest), &signature)
        .ok()?;
    let hash = eth::keccak256(&key.serialize_uncompressed()[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    Some(address)
}

/// The address whose key made the recoverable ECDSA signature `rs`
/// (r ‖ s, already checked in range and low-S) over `digest`, with k256.
#[cfg(not(feature = "libsecp256k1"))]
fn recover_address(digest: &[u8; 32], rs: &[u8], recovery: u8) -> Option<eth::Address> {
    let signature = k256::ecdsa::Signature::from_slice(rs).ok()?;
    let id = k256::ecdsa::RecoveryId::from_byte(recovery)?;
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &signature, id).ok()?;
    Some(eth::address_of(&key))
}

/// Checks the proof for the owner's type; returns a passkey's signCount.
fn verify_proof(
    owner: &Owner,
    authz: &Authorization,
    proof: &Proof,
) -> Result<Option<u32>, (ApprovalRefusal, String)> {
    use ApprovalRefusal as R;
    let text = authz.text().as_bytes();
    let bad = |m: &str| (R::BadSignature, m.to_owned());
    match (owner, proof) {
        (Owner::Secp256k1(o), Proof::Signature(s)) => {
            let bytes = signature_bytes(s, 65, "secp256k1")?;
            let recovery = match bytes[64] {
                0 | 27 => 0,
                1 | 28 => 1,
                v => {
                    return Err((
                        R::Malformed,
                        format!("v is {v}; a personal_sign signature ends in 27 or 28 (or 0 or 1)"),
                    ))
                }
            };
            let signature = k256::ecdsa::Signature::from_slice(&bytes[..64])
                .map_err(|_| bad("r or s is zero or not below the curve order"))?;
            if signature.normalize_s().is_some() {
                return Err((
                    R::HighS,
                    "the signature has a high S; Ethereum signatures are low-S (EIP-2): sign with a standard wallet".into(),
                ));
            }
            let address = recover_address(&eth::eip191_digest(text), &bytes[..64], recovery)
                .ok_or_else(|| bad("no key recovers from this signature over the authorization text (EIP-191 personal_sign)"))?;
            if &address != o.address() {
                return Err((
                    R::BadSignature,
                    format!(
                        "the signature over the authorization text (EIP-191 personal_sign) is by {}, not this owner's {}",
                        eth::to_checksummed(&address),
                        eth::to_checksummed(o.address())
                    ),
                ));
            }
            Ok(None)
        }
        (Owner::Ed25519(o), Proof::Signature(s)) => {
            let bytes = signature_bytes(s, 64, "ed25519")?;
            let mut array = [0u8; 64];
            array.copy_from_slice(&bytes);
            let signature = ed25519_dalek::Signature::from_bytes(&array);
            o.public_key()
                .verify_strict(text, &signature)
                .map_err(|_| bad("the Ed25519 signature over the authorization text does not verify under this owner's key"))?;
            Ok(None)
        }
        (Owner::P256(o), Proof::Signature(s)) => {
            use p256::ecdsa::signature::Verifier as _;
            let bytes = signature_bytes(s, 64, "p256")?;
            let signature = p256::ecdsa::Signature::from_slice(&bytes)
                .map_err(|_| bad("r or s is zero or not below the curve order"))?;
            // High S is accepted: P-256 signers (HSMs, WebCrypto) make both.
            o.public_key()
                .verify(text, &signature)
                .map_err(|_| bad("the ECDSA P-256 (SHA-256) signature over the authorization text does not verify under this owner's key"))?;
            Ok(None)
        }
        (Owner::Passkey(o), Proof::WebAuthn(w)) => {
            let decode = |s: &str, name: &str, max: usize| {
                decode_base64url(s, name, max).map_err(|e| (R::WebauthnMalformed, e.to_string()))
            };
            let credential_id = decode(&w.credential_id, "credential_id", MAX_CREDENTIAL_ID_LEN)?;
            let authenticator_data = decode(
                &w.authenticator_data,
                "authenticator_data",
                MAX_AUTHENTICATOR_DATA_LEN,
            )?;
            let client_data_json =
                decode(&w.client_data_json, "client_data_json", MAX_CLIENT_DATA_LEN)?;
            let signature = decode(&w.signature, "signature", MAX_SIGNATURE_LEN)?;
            if let Some(pinned) = o.credential_id() {
                if pinned != credential_id.as_slice() {
                    return Err((
                        R::WebauthnCredential,
                        "the assertion was made with another credential than the one this owner's record names".into(),
                    ));
                }
            }
            let check = AssertionCheck {
                public_key: o.public_key(),
                rp_id: o.rp_id(),
                origins: o.origins(),
                challenge: &authz.sha256(),
                require_user_verification: authz.action().needs_user_verification(),
            };
            let verified = webauthn::verify_assertion(
                &check,
                &authenticator_data,
                &client_data_json,
                &signature,
            )
            .map_err(|e| (e.refusal(), e.to_string()))?;
            Ok(Some(verified.sign_count))
        }
        (Owner::Passkey(_), Proof::Signature(_)) => Err((
            R::Malformed,
            "a passkey owner approves with a WebAuthn assertion (`webauthn`), not `signature`"
                .into(),
        )),
        (_, Proof::WebAuthn(_)) => Err((
            R::Malformed,
            format!(
                "a {} owner approves with `signature`, not `webauthn`",
                owner.owner_type().as_str()
            ),
        )),
    }
}
