//! Owners: the keys whose signatures (approvals) let a wallet sign what its
//! policy alone does not allow, and change its record.
//!
//! | `type` | fields | signs |
//! |---|---|---|
//! | `passkey` | `public_key` (P-256, SEC1 hex), `rp_id`, `origins`, `credential_id`? | a WebAuthn assertion |
//! | `secp256k1` | `address` (EIP-55) | EIP-191 `personal_sign` |
//! | `ed25519` | `public_key` (32 bytes hex) | Ed25519 over the bytes |
//! | `p256` | `public_key` (P-256, SEC1 hex) | ECDSA P-256 SHA-256 over the bytes |
//!
//! Every owner has an `id` (`[a-z0-9_-]{1,32}`, unique in a record). Input is
//! read leniently where it is unambiguous (a lower-case address, a compressed
//! point, upper-case hex, padded base64url) and stored in one canonical form
//! (EIP-55, uncompressed point, lower-case hex, unpadded base64url).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::{FieldError, FieldErrorKind as K};
use crate::eth::{self, Address, AddressError};
use crate::fields::{as_str, index, join, quote, Object};

/// The most owners a record may have.
pub const MAX_OWNERS: usize = 16;
/// The most origins a passkey owner may list.
pub const MAX_ORIGINS: usize = 8;
/// The longest owner id.
pub const MAX_OWNER_ID_LEN: usize = 32;
/// The longest credential id, in bytes (WebAuthn's own limit).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// The longest host name (DNS).
const MAX_HOST_LEN: usize = 253;

/// base64url that accepts input with or without `=` padding (the stored and
/// emitted form has none). Non-zero trailing bits are refused.
pub(crate) const BASE64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An owner's type, as written in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnerType {
    /// A WebAuthn credential (ES256): a passkey in a browser or a security key.
    Passkey,
    /// An Ethereum account: approves with `personal_sign` (EIP-191).
    Secp256k1,
    /// An Ed25519 key.
    Ed25519,
    /// A NIST P-256 key signing ECDSA with SHA-256.
    P256,
}

impl OwnerType {
    /// Every owner type.
    pub const ALL: [OwnerType; 4] = [Self::Passkey, Self::Secp256k1, Self::Ed25519, Self::P256];

    /// The name written in `type`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::Secp256k1 => "secp256k1",
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
        }
    }

    /// The type named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A passkey owner: a WebAuthn credential with an ES256 (P-256) key, usable
/// from the listed origins under the relying-party id `rp_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyOwner {
    id: String,
    public_key: p256::ecdsa::VerifyingKey,
    rp_id: String,
    origins: Vec<String>,
    credential_id: Option<Vec<u8>>,
}

impl PasskeyOwner {
    /// A passkey owner. `public_key` is a SEC1 P-256 point (compressed or
    /// not); `origins` are web origins (see [`check_origin`]), 1 to
    /// [`MAX_ORIGINS`] of them, each on `rp_id` or one of its subdomains;
    /// `credential_id`, when given, is the only credential accepted.
    pub fn new(
        id: &str,
        public_key: &[u8],
        rp_id: &str,
        origins: Vec<String>,
        credential_id: Option<Vec<u8>>,
    ) -> Result<Self, FieldError> {
        check_owner_id(id, "id")?;
        let public_key = p256_key(public_key, "public_key")?;
        check_rp_id(rp_id, "rp_id")?;
        if origins.is_empty() {
            return Err(FieldError::new(
                "origins",
                K::Missing,
                "list at least one origin from which this passkey approves (e.g. https://signet.example)",
            ));
        }
        if origins.len() > MAX_ORIGINS {
            return Err(FieldError::new(
                "origins",
                K::TooMany,
                format!("at most {MAX_ORIGINS} origins"),
            ));
        }
        for (i, origin) in origins.iter().enumerate() {
            let path = index("origins", i);
            let host = check_origin(origin, &path)?;
            if origins[..i].contains(origin) {
                return Err(FieldError::new(
                    path,
                    K::Duplicate,
                    format!("{} is listed twice", quote(origin)),
                ));
            }
            if !covers(rp_id, host) {
                return Err(FieldError::new(
                    path,
                    K::RpIdMismatch,
                    format!(
                        "the host of {} is neither the rp_id {} nor a subdomain of it, so no browser would make an assertion for it there",
                        quote(origin),
                        quote(rp_id)
                    ),
                ));
            }
        }
        if let Some(c) = &credential_id {
            if c.is_empty() || c.len() > MAX_CREDENTIAL_ID_LEN {
                return Err(FieldError::new(
                    "credential_id",
                    K::InvalidBase64,
                    format!("a credential id is 1 to {MAX_CREDENTIAL_ID_LEN} bytes"),
                ));
            }
        }
        Ok(Self {
            id: id.to_owned(),
            public_key,
            rp_id: rp_id.to_owned(),
            origins,
            credential_id,
        })
    }

    /// The credential's public key.
    #[must_use]
    pub fn public_key(&self) -> &p256::ecdsa::VerifyingKey {
        &self.public_key
    }

    /// The relying-party id assertions must be made for.
    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The origins assertions may come from.
    #[must_use]
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// The credential id assertions must carry, when the record pins one.
    #[must_use]
    pub fn credential_id(&self) -> Option<&[u8]> {
        self.credential_id.as_deref()
    }
}

/// An Ethereum account owner (approves with `personal_sign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secp256k1Owner {
    id: String,
    address: Address,
}

impl Secp256k1Owner {
    /// An owner for `address` (all lower case, or with a correct EIP-55
    /// checksum). The zero address is refused: nobody holds its key.
    pub fn new(id: &str, address: &str) -> Result<Self, FieldError> {
        check_owner_id(id, "id")?;
        let address = eth::parse_address(address).map_err(|e| {
            let kind = match e {
                AddressError::BadChecksum => K::BadChecksum,
                _ => K::InvalidAddress,
            };
            FieldError::new("address", kind, e.to_string())
        })?;
        if address == [0u8; 20] {
            return Err(FieldError::new(
                "address",
                K::InvalidAddress,
                "the zero address has no key that could approve",
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            address,
        })
    }

    /// The account's address.
    #[must_use]
    pub fn address(&self) -> &Address {
        &self.address
    }
}

/// An Ed25519 owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Owner {
    id: String,
    public_key: ed25519_dalek::VerifyingKey,
}

impl Ed25519Owner {
    /// An owner for a 32-byte Ed25519 public key. Refuses encodings that are
    /// not points, are not in canonical form, or are of small order (weak
    /// keys, under which a signature proves nothing).
    pub fn new(id: &str, public_key: &[u8]) -> Result<Self, FieldError> {
        check_owner_id(id, "id")?;
        Ok(Self {
            id: id.to_owned(),
            public_key: ed25519_key(public_key, "public_key")?,
        })
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.public_key
    }
}

/// A P-256 owner (ECDSA with SHA-256 over the authorization's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P256Owner {
    id: String,
    public_key: p256::ecdsa::VerifyingKey,
}

impl P256Owner {
    /// An owner for a SEC1 P-256 point (compressed or not).
    pub fn new(id: &str, public_key: &[u8]) -> Result<Self, FieldError> {
        check_owner_id(id, "id")?;
        Ok(Self {
            id: id.to_owned(),
            public_key: p256_key(public_key, "public_key")?,
        })
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &p256::ecdsa::VerifyingKey {
        &self.public_key
    }
}

/// One owner of a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Owner {
    /// A WebAuthn passkey.
    Passkey(PasskeyOwner),
    /// An Ethereum account.
    Secp256k1(Secp256k1Owner),
    /// An Ed25519 key.
    Ed25519(Ed25519Owner),
    /// A P-256 key.
    P256(P256Owner),
}

/// The key behind an owner, to refuse one key under two ids (which would let
/// one holder count twice toward the threshold). A P-256 key is the same key
/// whether it is a `p256` or a `passkey` owner.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyIdentity {
    Ethereum(Address),
    Ed25519([u8; 32]),
    P256(Vec<u8>),
}

impl Owner {
    /// The owner's id.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Passkey(o) => &o.id,
            Self::Secp256k1(o) => &o.id,
            Self::Ed25519(o) => &o.id,
            Self::P256(o) => &o.id,
        }
    }

    /// The owner's type.
    #[must_use]
    pub fn owner_type(&self) -> OwnerType {
        match self {
            Self::Passkey(_) => OwnerType::Passkey,
            Self::Secp256k1(_) => OwnerType::Secp256k1,
            Self::Ed25519(_) => OwnerType::Ed25519,
            Self::P256(_) => OwnerType::P256,
        }
    }

    fn key_identity(&self) -> KeyIdentity {
        match self {
            Self::Passkey(o) => {
                KeyIdentity::P256(o.public_key.to_encoded_point(false).as_bytes().to_vec())
            }
            Self::P256(o) => {
                KeyIdentity::P256(o.public_key.to_encoded_point(false).as_bytes().to_vec())
            }
            Self::Secp256k1(o) => KeyIdentity::Ethereum(o.address),
            Self::Ed25519(o) => KeyIdentity::Ed25519(o.public_key.to_bytes()),
        }
    }

    /// Reads an owner from JSON (`{"type": …, "id": …, …}`), refusing
    /// unknown fields; `path` prefixes the field names in refusals
    /// (`owners[1]`).
    pub fn from_value(value: &Value, path: &str) -> Result<Self, FieldError> {
        Self::read(value, path, None)
    }

    /// Reads an owner description without `id` (the `.pub` file written by
    /// `signet owner keygen`), giving it `id`.
    pub fn from_public_description(id: &str, text: &str) -> Result<Self, FieldError> {
        if text.len() > 16 * 1024 {
            return Err(FieldError::new(
                "",
                K::TooLarge,
                "an owner description is at most 16 KiB",
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            FieldError::new(
                "",
                K::NotJson,
                format!("not an owner description (JSON): {e}"),
            )
        })?;
        if value.get("id").is_some() {
            return Err(FieldError::new(
                "id",
                K::UnknownField,
                "an owner description has no id: the id is given where the owner is added",
            ));
        }
        Self::read(&value, "", Some(id))
    }

    fn read(value: &Value, path: &str, id: Option<&str>) -> Result<Self, FieldError> {
        let obj = Object::open(value, path, "an owner")?;
        let ty_name = obj.string("type")?;
        let ty = OwnerType::from_name(ty_name).ok_or_else(|| {
            FieldError::new(
                obj.field("type"),
                K::InvalidValue,
                format!(
                    "unknown owner type {}; the types are passkey, secp256k1, ed25519, p256",
                    quote(ty_name)
                ),
            )
        })?;
        let fields: &[&str] = match ty {
            OwnerType::Passkey => &[
                "type",
                "id",
                "public_key",
                "rp_id",
                "origins",
                "credential_id",
            ],
            OwnerType::Secp256k1 => &["type", "id", "address"],
            OwnerType::Ed25519 | OwnerType::P256 => &["type", "id", "public_key"],
        };
        let what = format!("a {} owner", ty.as_str());
        obj.only(fields, &what)?;
        let id = match id {
            Some(id) => id,
            None => obj.string("id")?,
        };
        let under = |e: FieldError| e.under(path);
        let hex_key = |max: usize| -> Result<Vec<u8>, FieldError> {
            let s = obj.string("public_key")?;
            crate::fields::hex_vec(s, &obj.field("public_key"), "public_key", max)
        };
        Ok(match ty {
            OwnerType::Passkey => {
                let public_key = hex_key(65)?;
                let rp_id = obj.string("rp_id")?;
                let origins = obj
                    .array("origins")?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| as_str(v, &index(&obj.field("origins"), i)).map(str::to_owned))
                    .collect::<Result<Vec<_>, _>>()?;
                let credential_id = match obj.optional_string("credential_id")? {
                    None => None,
                    Some(s) => Some(decode_base64url(
                        s,
                        &obj.field("credential_id"),
                        MAX_CREDENTIAL_ID_LEN,
                    )?),
                };
                Self::Passkey(
                    PasskeyOwner::new(id, &public_key, rp_id, origins, credential_id)
                        .map_err(under)?,
                )
            }
            OwnerType::Secp256k1 => {
                Self::Secp256k1(Secp256k1Owner::new(id, obj.string("address")?).map_err(under)?)
            }
            OwnerType::Ed25519 => {
                Self::Ed25519(Ed25519Owner::new(id, &hex_key(32)?).map_err(under)?)
            }
            OwnerType::P256 => Self::P256(P256Owner::new(id, &hex_key(65)?).map_err(under)?),
        })
    }

    /// Reads the `owners` list: at most [`MAX_OWNERS`], ids unique, no key
    /// under two ids.
    pub fn list_from_value(value: &Value, path: &str) -> Result<Vec<Self>, FieldError> {
        let items = crate::fields::as_array(value, path)?;
        if items.len() > MAX_OWNERS {
            return Err(FieldError::new(
                path,
                K::TooMany,
                format!("at most {MAX_OWNERS} owners"),
            ));
        }
        let owners = items
            .iter()
            .enumerate()
            .map(|(i, v)| Self::from_value(v, &index(path, i)))
            .collect::<Result<Vec<_>, _>>()?;
        check_owner_list(&owners, path)?;
        Ok(owners)
    }

    /// The owner as JSON, in its canonical form.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut v = self.public_description_value();
        if let Value::Object(map) = &mut v {
            map.insert("id".into(), Value::String(self.id().to_owned()));
        }
        v
    }

    fn public_description_value(&self) -> Value {
        match self {
            Self::Passkey(o) => {
                let mut map = Map::new();
                map.insert("type".into(), json!("passkey"));
                map.insert(
                    "public_key".into(),
                    json!(hex::encode(o.public_key.to_encoded_point(false).as_bytes())),
                );
                map.insert("rp_id".into(), json!(o.rp_id));
                map.insert("origins".into(), json!(o.origins));
                if let Some(c) = &o.credential_id {
                    map.insert("credential_id".into(), json!(URL_SAFE_NO_PAD.encode(c)));
                }
                Value::Object(map)
            }
            Self::Secp256k1(o) => {
                json!({"type": "secp256k1", "address": eth::to_checksummed(&o.address)})
            }
            Self::Ed25519(o) => {
                json!({"type": "ed25519", "public_key": hex::encode(o.public_key.as_bytes())})
            }
            Self::P256(o) => json!({
                "type": "p256",
                "public_key": hex::encode(o.public_key.to_encoded_point(false).as_bytes()),
            }),
        }
    }

    /// The owner without its id as canonical JSON: the `.pub` file format.
    #[must_use]
    pub fn public_description(&self) -> String {
        // A map of strings always canonicalizes.
        crate::canonical::to_text(&self.public_description_value()).unwrap_or_default()
    }
}

/// Refuses two owners with one id or one key.
pub(crate) fn check_owner_list(owners: &[Owner], path: &str) -> Result<(), FieldError> {
    if owners.len() > MAX_OWNERS {
        return Err(FieldError::new(
            path,
            K::TooMany,
            format!("at most {MAX_OWNERS} owners"),
        ));
    }
    for (i, o) in owners.iter().enumerate() {
        if let Some(j) = owners[..i].iter().position(|p| p.id() == o.id()) {
            return Err(FieldError::new(
                join(&index(path, i), "id"),
                K::DuplicateId,
                format!("{} is already the id of {}", quote(o.id()), index(path, j)),
            ));
        }
        let key = o.key_identity();
        if let Some(j) = owners[..i].iter().position(|p| p.key_identity() == key) {
            return Err(FieldError::new(
                index(path, i),
                K::DuplicateKey,
                format!(
                    "has the same key as {}: one key would count twice toward the threshold",
                    index(path, j)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks an owner id: `[a-z0-9_-]{1,32}`.
pub(crate) fn check_owner_id(id: &str, path: &str) -> Result<(), FieldError> {
    if is_owner_id(id) {
        Ok(())
    } else {
        Err(FieldError::new(
            path,
            K::InvalidName,
            format!(
                "owner id {} must be 1 to {MAX_OWNER_ID_LEN} characters from a-z, 0-9, '_' and '-'",
                quote(id)
            ),
        ))
    }
}

/// Whether `s` is a valid owner id.
#[must_use]
pub fn is_owner_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_OWNER_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A P-256 point from SEC1 bytes: compressed (33) or uncompressed (65).
pub(crate) fn p256_key(bytes: &[u8], path: &str) -> Result<p256::ecdsa::VerifyingKey, FieldError> {
    let well_formed = matches!(
        (bytes.len(), bytes.first()),
        (33, Some(0x02 | 0x03)) | (65, Some(0x04))
    );
    if !well_formed {
        return Err(FieldError::new(
            path,
            K::InvalidPublicKey,
            "a P-256 public key is a SEC1 point: 65 bytes starting 04, or 33 bytes starting 02 or 03",
        ));
    }
    p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
        .map_err(|_| FieldError::new(path, K::InvalidPublicKey, "not a point on P-256"))
}

/// An Ed25519 public key: 32 bytes, a point in canonical encoding, not of
/// small order.
pub(crate) fn ed25519_key(
    bytes: &[u8],
    path: &str,
) -> Result<ed25519_dalek::VerifyingKey, FieldError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| {
        FieldError::new(
            path,
            K::InvalidPublicKey,
            "an Ed25519 public key is 32 bytes",
        )
    })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&array)
        .map_err(|_| FieldError::new(path, K::InvalidPublicKey, "not an Ed25519 point"))?;
    if key.to_edwards().compress().to_bytes() != array {
        return Err(FieldError::new(
            path,
            K::InvalidPublicKey,
            "not the canonical encoding of an Ed25519 point",
        ));
    }
    if key.is_weak() {
        return Err(FieldError::new(
            path,
            K::WeakKey,
            "a point of small order: any signature would verify under it",
        ));
    }
    Ok(key)
}

/// Decodes base64url (padding optional) of 1 to `max` bytes.
pub(crate) fn decode_base64url(s: &str, path: &str, max: usize) -> Result<Vec<u8>, FieldError> {
    let bad = || {
        FieldError::new(
            path,
            K::InvalidBase64,
            format!("must be base64url (A-Z a-z 0-9 - _, padding optional) of 1 to {max} bytes"),
        )
    };
    if s.is_empty() || s.len() > max.div_ceil(3) * 4 {
        return Err(bad());
    }
    let bytes = BASE64URL_LENIENT.decode(s).map_err(|_| bad())?;
    if bytes.is_empty() || bytes.len() > max {
        return Err(bad());
    }
    Ok(bytes)
}

/// Whether `host` is `rp_id` or one of its subdomains (WebAuthn's rule, without
/// the public-suffix list: see `docs/owners.md`).
fn covers(rp_id: &str, host: &str) -> bool {
    host == rp_id
        || (host.len() > rp_id.len()
            && host.ends_with(rp_id)
            && host.as_bytes()[host.len() - rp_id.len() - 1] == b'.')
}

/// Checks a web origin and returns its host. Accepted: `https://HOST[:PORT]`
/// with HOST a lower-case DNS name, and for development
/// `http://localhost[:PORT]` and `http://127.0.0.1[:PORT]`. No path, no
/// trailing slash, no user info, and no default port (`:443`, `:80`): the
/// form browsers write in clientDataJSON.
pub fn check_origin<'a>(origin: &'a str, path: &str) -> Result<&'a str, FieldError> {
    let bad = |why: &str| {
        FieldError::new(
            path,
            K::InvalidOrigin,
            format!(
                "{} is not an origin this signer accepts: {why} (write https://host or https://host:port; http only for localhost and 127.0.0.1)",
                quote(origin)
            ),
        )
    };
    let (https, rest) = if let Some(r) = origin.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = origin.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad("it must start with https://"));
    };
    if rest.bytes().any(|b| matches!(b, b'/' | b'?' | b'#' | b'@')) {
        return Err(bad("an origin has no path, query, fragment or user"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if let Some(p) = port {
        let valid = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && !p.starts_with('0')
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !valid {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
        if (https && p == "443") || (!https && p == "80") {
            return Err(bad("browsers leave the default port out"));
        }
    }
    if https {
        if host != "127.0.0.1" && !is_dns_name(host) {
            return Err(bad("the host must be a lower-case DNS name"));
        }
    } else if host != "localhost" && host != "127.0.0.1" {
        return Err(bad("http is accepted only for localhost and 127.0.0.1"));
    }
    Ok(host)
}

/// Checks a relying-party id: a lower-case DNS name (or `127.0.0.1` for
/// development).
pub(crate) fn check_rp_id(rp_id: &str, path: &str) -> Result<(), FieldError> {
    if rp_id == "127.0.0.1" || is_dns_name(rp_id) {
        Ok(())
    } else {
        Err(FieldError::new(
            path,
            K::InvalidRpId,
            format!(
                "rp_id {} must be a lower-case host name (the console's domain, e.g. signet.example)",
                quote(rp_id)
            ),
        ))
    }
}

/// A lower-case DNS name: labels of a-z, 0-9 and '-' (not at either end), 1 to
/// 63 characters each, 253 in all, and not an IPv4 address (last label all
/// digits).
fn is_dns_name(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_HOST_LEN {
        return false;
    }
    let labels_ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let last_numeric = s
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !last_numeric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_accept_what_browsers_write() {
        for (o, host) in [
            ("https://signet.example", "signet.example"),
            ("https://a.signet.example:8443", "a.signet.example"),
            ("http://localhost:8080", "localhost"),
            ("http://localhost", "localhost"),
            ("http://127.0.0.1:3000", "127.0.0.1"),
            ("https://xn--bcher-kva.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(check_origin(o, "o").unwrap(), host, "{o}");
        }
    }

    #[test]
    fn refuses_origins_browsers_never_write() {
        for o in [
            "signet.example",
            "https://signet.example/",
            "https://signet.example/path",
            "https://Signet.example",
            "https://signet.example:443",
            "http://localhost:80",
            "http://signet.example",
            "https://user@signet.example",
            "https://signet.example:0",
            "https://signet.example:65536",
            "https://signet.example:08443",
            "https://signet.example:",
            "https://10.0.0.1",
            "https://-a.example",
            "https://a..example",
            "ftp://signet.example",
            "https://",
        ] {
            assert_eq!(
                check_origin(o, "origins[0]").unwrap_err().kind,
                K::InvalidOrigin,
                "{o}"
            );
        }
    }

    #[test]
    fn rp_id_covers_itself_and_subdomains_only() {
        assert!(covers("signet.example", "signet.example"));
        assert!(covers("signet.example", "a.signet.example"));
        assert!(!covers("signet.example", "evilsignet.example"));
        assert!(!covers("signet.example", "example"));
        assert!(!covers("a.signet.example", "signet.example"));
    }
}
