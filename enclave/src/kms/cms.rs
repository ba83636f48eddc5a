//! Strict decoder for AWS KMS `CiphertextForRecipient`.
//!
//! When an enclave calls KMS `Decrypt`, `GenerateDataKey` or `GenerateRandom`
//! with a `Recipient`, KMS answers with a CMS (RFC 5652) `ContentInfo` holding
//! `EnvelopedData`, encoded in **BER with indefinite lengths**. The `der` crate
//! (and everything built on it) refuses BER by design, and there is no
//! well-kept Rust crate for BER-indefinite CMS, so this module is a small
//! hand-written reader in two phases:
//!
//! 1. A generic BER reader builds a tree of elements and refuses anything that
//!    is not well-formed: input over [`MAX_INPUT_LEN`], nesting deeper than
//!    [`MAX_DEPTH`], high tag numbers, indefinite lengths on primitive
//!    elements, long-form lengths of more than 4 octets or not in minimal form,
//!    lengths that run past the enclosing element or the input, misplaced or
//!    malformed end-of-contents, and any byte after the outer element.
//! 2. A schema walk accepts exactly the shape KMS sends and nothing else:
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType envelopedData, [0] EXPLICIT EnvelopedData }
//! EnvelopedData ::= SEQUENCE {
//!     version 2,                          -- no originatorInfo
//!     recipientInfos SET OF exactly one KeyTransRecipientInfo {
//!         version 2,
//!         rid [0] IMPLICIT SubjectKeyIdentifier (32 bytes),
//!         keyEncryptionAlgorithm rsaesOaep RSAES-OAEP-params {
//!             hashFunc [0] { sha256, NULL },
//!             maskGenFunc [1] { mgf1, { sha256, NULL } }
//!             -- pSourceFunc absent: the default, empty label
//!         },
//!         encryptedKey OCTET STRING (256 bytes: RSA-2048) },
//!     encryptedContentInfo SEQUENCE {
//!         contentType data,
//!         contentEncryptionAlgorithm { aes256-CBC, OCTET STRING (16-byte IV) },
//!         encryptedContent [0] IMPLICIT, primitive or constructed of
//!             primitive OCTET STRING chunks; a positive multiple of 16 bytes }
//!     -- no unprotectedAttrs
//! }
//! ```
//!
//! Every constructed element may use a definite or an indefinite length.

use thiserror::Error;

/// The largest `CiphertextForRecipient` accepted, in bytes. KMS responses are
/// a few hundred bytes to a few KiB (a 256-byte encrypted key plus at most
/// 4 KiB of padded plaintext); anything near this limit is not from KMS.
pub const MAX_INPUT_LEN: usize = 64 * 1024;

/// The deepest nesting of elements accepted. The KMS shape uses 11 levels
/// (the `NULL` of the MGF1 hash sits at depth 10).
pub const MAX_DEPTH: usize = 12;

/// Length of the SubjectKeyIdentifier KMS uses as `rid`: SHA-256 of the
/// recipient's DER SubjectPublicKeyInfo.
pub const RID_LEN: usize = 32;

/// Length of an RSA-2048 `encryptedKey`.
pub const ENCRYPTED_KEY_LEN: usize = 256;

/// Length of the AES-CBC IV.
pub const IV_LEN: usize = 16;

/// AES block length: the content ciphertext is a positive multiple of it.
const BLOCK_LEN: usize = 16;

// DER contents octets of the object identifiers this module knows.
/// 1.2.840.113549.1.7.3
const OID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
/// 1.2.840.113549.1.7.1
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// 1.2.840.113549.1.1.7
const OID_RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
/// 1.2.840.113549.1.1.8
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
/// 1.2.840.113549.1.1.9
const OID_P_SPECIFIED: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09];
/// 2.16.840.1.101.3.4.2.1
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// 2.16.840.1.101.3.4.1.42
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

// Identifier octets (class, constructed bit, tag number < 31).
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CTX0_PRIMITIVE: u8 = 0x80;
const TAG_CTX0: u8 = 0xa0;
const TAG_CTX1: u8 = 0xa1;
const TAG_CTX2: u8 = 0xa2;

/// A parsed KMS `CiphertextForRecipient`: the fields the recipient needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopedData {
    /// The `rid` SubjectKeyIdentifier: SHA-256 of the recipient's DER
    /// SubjectPublicKeyInfo.
    pub rid: [u8; RID_LEN],
    /// The RSA-OAEP-SHA256 encrypted AES-256 content-encryption key.
    pub encrypted_key: Vec<u8>,
    /// The AES-256-CBC IV.
    pub iv: [u8; IV_LEN],
    /// The AES-256-CBC ciphertext (PKCS#7 padded), chunks concatenated.
    pub ciphertext: Vec<u8>,
}

/// What is wrong with the RSAES-OAEP parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OaepParamsProblem {
    /// The algorithm identifier has no parameters.
    #[error("parameters are missing")]
    Missing,
    /// `hashFunc` is absent, so it defaults to SHA-1.
    #[error("hashFunc is absent (defaults to SHA-1)")]
    HashDefaultsToSha1,
    /// `hashFunc` is not SHA-256.
    #[error("OAEP hash is not SHA-256")]
    HashNotSha256,
    /// A SHA-256 `AlgorithmIdentifier` without the explicit `NULL` parameters
    /// KMS sends.
    #[error("SHA-256 parameters are not an explicit NULL")]
    HashParamsNotNull,
    /// `maskGenFunc` is absent, so it defaults to MGF1 with SHA-1.
    #[error("maskGenFunc is absent (defaults to MGF1 with SHA-1)")]
    MgfDefaultsToSha1,
    /// `maskGenFunc` is not MGF1.
    #[error("mask generation function is not MGF1")]
    MgfNotMgf1,
    /// MGF1 with a hash other than SHA-256.
    #[error("MGF1 hash is not SHA-256")]
    MgfHashNotSha256,
    /// `pSourceFunc` carries a label.
    #[error("non-empty OAEP label")]
    NonEmptyLabel,
    /// `pSourceFunc` is present (even if empty): KMS omits the default.
    #[error("pSourceFunc is present (KMS omits the default empty label)")]
    ExplicitPSource,
    /// An element the parameters do not have.
    #[error("unexpected element")]
    Unexpected,
}

/// Why a `CiphertextForRecipient` was refused or could not be decrypted.
///
/// Messages name the offending structure, never key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The input is larger than [`MAX_INPUT_LEN`].
    #[error("input is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends inside an element's header or before its end-of-contents.
    #[error("input truncated at offset {offset}")]
    Truncated {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// A length claims more bytes than its enclosing element or the input has.
    #[error("element at offset {offset} claims {len} bytes but only {available} remain")]
    LengthBeyondInput {
        /// Offset of the element's identifier octet.
        offset: usize,
        /// The claimed length.
        len: usize,
        /// Bytes left in the enclosing element.
        available: usize,
    },
    /// A long-form length of more than 4 octets (or the reserved `0xff`).
    #[error("length at offset {offset} uses more than 4 length octets")]
    LengthTooLong {
        /// Offset of the element's identifier octet.
        offset: usize,
    },
    /// A long-form length that is not minimal (leading zero, or under 128).
    #[error("length at offset {offset} is not in minimal form")]
    NonMinimalLength {
        /// Offset of the element's identifier octet.
        offset: usize,
    },
    /// Any other BER well-formedness violation.
    #[error("malformed BER at offset {offset}: {reason}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What.
        reason: &'static str,
    },
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {max} levels at offset {offset}")]
    TooDeep {
        /// Offset of the element that went too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes after the outer `ContentInfo` (and its end-of-contents).
    #[error("{count} trailing bytes after the ContentInfo at offset {offset}")]
    TrailingBytes {
        /// Where the trailing bytes start.
        offset: usize,
        /// How many.
        count: usize,
    },
    /// An element with another tag than the schema requires.
    #[error("expected {expected} at offset {offset}, found tag {found:#04x}")]
    UnexpectedTag {
        /// Offset of the element.
        offset: usize,
        /// What the schema wants there.
        expected: &'static str,
        /// The identifier octet found.
        found: u8,
    },
    /// A required element is missing.
    #[error("missing {what}")]
    Missing {
        /// The missing element.
        what: &'static str,
    },
    /// An element after the last one the schema allows.
    #[error("unexpected element at offset {offset} in {within}")]
    UnexpectedElement {
        /// Offset of the element.
        offset: usize,
        /// The structure it is in.
        within: &'static str,
    },
    /// The outer content type is not `envelopedData`.
    #[error("expected envelopedData")]
    NotEnvelopedData,
    /// A version other than the 2 KMS sends.
    #[error("unsupported {structure} version (expected 2)")]
    UnsupportedVersion {
        /// `EnvelopedData` or `KeyTransRecipientInfo`.
        structure: &'static str,
    },
    /// `originatorInfo` is present.
    #[error("originatorInfo is present")]
    OriginatorInfoPresent,
    /// `unprotectedAttrs` is present.
    #[error("unprotectedAttrs is present")]
    UnprotectedAttrsPresent,
    /// `recipientInfos` is empty.
    #[error("no recipient")]
    NoRecipient,
    /// `recipientInfos` holds more than one recipient.
    #[error("more than one recipient")]
    MultipleRecipients,
    /// The recipient is not a `KeyTransRecipientInfo` identified by a
    /// SubjectKeyIdentifier.
    #[error("unsupported recipient: {0}")]
    UnsupportedRecipient(&'static str),
    /// The `rid` is not [`RID_LEN`] bytes.
    #[error("rid is {0} bytes, expected 32")]
    BadRidLength(usize),
    /// The `rid` does not name this recipient key.
    #[error("rid is not this key")]
    RidMismatch,
    /// The key encryption algorithm is not `rsaesOaep`.
    #[error("unsupported key encryption algorithm (expected rsaesOaep)")]
    UnsupportedKeyEncryption,
    /// The RSAES-OAEP parameters are not SHA-256 / MGF1-SHA-256 / empty label.
    #[error("unsupported key encryption parameters: {0}")]
    UnsupportedKeyEncryptionParams(OaepParamsProblem),
    /// The `encryptedKey` is not [`ENCRYPTED_KEY_LEN`] bytes.
    #[error("encrypted key is {0} bytes, expected 256 (RSA-2048)")]
    BadEncryptedKeyLength(usize),
    /// The encrypted content type is not `data`.
    #[error("encrypted content type is not id-data")]
    NotDataContent,
    /// The content encryption algorithm is not `aes256-CBC`.
    #[error("unsupported content encryption algorithm (expected aes256-CBC)")]
    UnsupportedContentEncryption,
    /// The IV is not [`IV_LEN`] bytes.
    #[error("IV is {0} bytes, expected 16")]
    BadIvLength(usize),
    /// `encryptedContent` is absent.
    #[error("encrypted content is missing")]
    MissingContent,
    /// The content ciphertext is empty or not a multiple of the AES block.
    #[error("content is {0} bytes, not a positive multiple of 16")]
    BadContentLength(usize),
    /// RSA key generation failed.
    #[error("RSA-2048 key generation failed")]
    KeyGeneration,
    /// A recipient key that is not a usable RSA-2048 PKCS#8 key.
    #[error("bad recipient key: {0}")]
    BadKey(&'static str),
    /// RSA-OAEP-SHA256 decryption of the encrypted key failed.
    #[error("RSA-OAEP unwrap of the content key failed")]
    KeyUnwrap,
    /// The unwrapped content-encryption key is not 32 bytes.
    #[error("unwrapped content key is {0} bytes, expected 32")]
    BadContentKeyLength(usize),
    /// AES-256-CBC decryption or PKCS#7 unpadding failed.
    #[error("bad padding")]
    BadPadding,
}

/// Parses a KMS `CiphertextForRecipient` (BER `ContentInfo`).
///
/// # Errors
/// Any input that is not well-formed BER within the limits of this module, or
/// not exactly the shape described in the module documentation.
pub fn parse(ber: &[u8]) -> Result<EnvelopedData, CmsError> {
    if ber.len() > MAX_INPUT_LEN {
        return Err(CmsError::TooLarge {
            len: ber.len(),
            max: MAX_INPUT_LEN,
        });
    }
    let mut reader = Reader { input: ber, pos: 0 };
    let root = reader.element(ber.len(), 0)?;
    if reader.pos != ber.len() {
        return Err(CmsError::TrailingBytes {
            offset: reader.pos,
            count: ber.len().saturating_sub(reader.pos),
        });
    }
    content_info(&root)
}

// ---------------------------------------------------------------------------
// Phase 1: generic BER.

/// One BER element.
struct Element<'a> {
    /// Offset of its identifier octet in the input.
    offset: usize,
    /// Its identifier octet.
    tag: u8,
    body: Body<'a>,
}

enum Body<'a> {
    Primitive(&'a [u8]),
    Constructed(Vec<Element<'a>>),
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The next byte, if it lies before `end`.
    fn byte(&mut self, end: usize) -> Result<u8, CmsError> {
        let offset = self.pos;
        if offset >= end {
            return Err(CmsError::Truncated { offset });
        }
        let b = *self
            .input
            .get(offset)
            .ok_or(CmsError::Truncated { offset })?;
        // `offset < end <= usize::MAX`, so this cannot overflow.
        self.pos = offset + 1;
        Ok(b)
    }

    /// Reads one element that must end at or before `end`.
    fn element(&mut self, end: usize, depth: usize) -> Result<Element<'a>, CmsError> {
        let offset = self.pos;
        if depth >= MAX_DEPTH {
            return Err(CmsError::TooDeep {
                offset,
                max: MAX_DEPTH,
            });
        }
        let tag = self.byte(end)?;
        if tag & 0x1f == 0x1f {
            return Err(CmsError::Malformed {
                offset,
                reason: "high tag number form",
            });
        }
        if tag == 0 {
            return Err(CmsError::Malformed {
                offset,
                reason: "end-of-contents outside an indefinite-length element",
            });
        }
        let constructed = tag & 0x20 != 0;
        let len = self.length(offset, end)?;
        let body = match (constructed, len) {
            (false, None) => {
                return Err(CmsError::Malformed {
                    offset,
                    reason: "indefinite length on a primitive element",
                })
            }
            (false, Some(len)) => {
                let stop = self.stop(offset, len, end)?;
                let bytes = self
                    .input
                    .get(self.pos..stop)
                    .ok_or(CmsError::Truncated { offset: self.pos })?;
                self.pos = stop;
                Body::Primitive(bytes)
            }
            (true, Some(len)) => {
                let stop = self.stop(offset, len, end)?;
                let mut children = Vec::new();
                while self.pos < stop {
                    children.push(self.element(stop, depth + 1)?);
                }
                Body::Constructed(children)
            }
            (true, None) => {
                let mut children = Vec::new();
                loop {
                    if self.at_end_of_contents(end)? {
                        break;
                    }
                    children.push(self.element(end, depth + 1)?);
                }
                Body::Constructed(children)
            }
        };
        Ok(Element { offset, tag, body })
    }

    /// Reads a length: `None` for indefinite.
    fn length(&mut self, offset: usize, end: usize) -> Result<Option<usize>, CmsError> {
        let first = self.byte(end)?;
        match first {
            0x00..=0x7f => Ok(Some(usize::from(first))),
            0x80 => Ok(None),
            0x81..=0x84 => {
                let count = first & 0x7f;
                let mut len: usize = 0;
                for i in 0..count {
                    let b = self.byte(end)?;
                    if i == 0 && b == 0 {
                        return Err(CmsError::NonMinimalLength { offset });
                    }
                    len = len
                        .checked_mul(256)
                        .and_then(|l| l.checked_add(usize::from(b)))
                        .ok_or(CmsError::LengthTooLong { offset })?;
                }
                if len < 0x80 {
                    return Err(CmsError::NonMinimalLength { offset });
                }
                Ok(Some(len))
            }
            _ => Err(CmsError::LengthTooLong { offset }),
        }
    }

    /// Where an element of `len` content bytes starting at `self.pos` stops,
    /// checked against `end` before anything is read.
    fn stop(&self, offset: usize, len: usize, end: usize) -> Result<usize, CmsError> {
        let available = end.saturating_sub(self.pos);
        if len > available {
            return Err(CmsError::LengthBeyondInput {
                offset,
                len,
                available,
            });
        }
        self.pos
            .checked_add(len)
            .ok_or(CmsError::LengthBeyondInput {
                offset,
                len,
                available,
            })
    }

    /// Consumes an end-of-contents (`00 00`) if one is next.
    fn at_end_of_contents(&mut self, end: usize) -> Result<bool, CmsError> {
        let offset = self.pos;
        if offset >= end {
            return Err(CmsError::Truncated { offset });
        }
        if self.input.get(offset) != Some(&0) {
            return Ok(false);
        }
        self.pos = offset
            .checked_add(1)
            .ok_or(CmsError::Truncated { offset })?;
        match self.byte(end)? {
            0 => Ok(true),
            _ => Err(CmsError::Malformed {
                offset,
                reason: "end-of-contents with a non-zero length",
            }),
        }
    }
}

impl<'a> Element<'a> {
    fn bytes(&self, what: &'static str) -> Result<&'a [u8], CmsError> {
        match self.body {
            Body::Primitive(bytes) => Ok(bytes),
            Body::Constructed(_) => Err(self.unexpected(what)),
        }
    }

    fn fields(&self, within: &'static str) -> Result<Fields<'_, 'a>, CmsError> {
        match &self.body {
            Body::Constructed(children) => Ok(Fields {
                rest: children,
                within,
            }),
            Body::Primitive(_) => Err(self.unexpected(within)),
        }
    }

    fn unexpected(&self, expected: &'static str) -> CmsError {
        CmsError::UnexpectedTag {
            offset: self.offset,
            expected,
            found: self.tag,
        }
    }
}

/// The children of a constructed element, taken in order.
struct Fields<'e, 'a> {
    rest: &'e [Element<'a>],
    within: &'static str,
}

impl<'e, 'a> Fields<'e, 'a> {
    fn len(&self) -> usize {
        self.rest.len()
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().map(|e| e.tag)
    }

    /// The next child, which must exist.
    fn next_any(&mut self, what: &'static str) -> Result<&'e Element<'a>, CmsError> {
        let (first, rest) = self.rest.split_first().ok_or(CmsError::Missing { what })?;
        self.rest = rest;
        Ok(first)
    }

    /// The next child, which must exist and carry `tag`.
    fn next(&mut self, tag: u8, what: &'static str) -> Result<&'e Element<'a>, CmsError> {
        let el = self.next_any(what)?;
        if el.tag != tag {
            return Err(el.unexpected(what));
        }
        Ok(el)
    }

    /// The next child's contents octets: primitive with `tag`.
    fn next_bytes(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], CmsError> {
        self.next(tag, what)?.bytes(what)
    }

    /// Refuses any child left over.
    fn finish(&self) -> Result<(), CmsError> {
        match self.rest.first() {
            None => Ok(()),
            Some(el) => Err(CmsError::UnexpectedElement {
                offset: el.offset,
                within: self.within,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Phase 2: the KMS schema.

fn content_info(root: &Element<'_>) -> Result<EnvelopedData, CmsError> {
    if root.tag != TAG_SEQUENCE {
        return Err(root.unexpected("ContentInfo SEQUENCE"));
    }
    let mut fields = root.fields("ContentInfo")?;
    if fields.next_bytes(TAG_OID, "ContentInfo contentType")? != OID_ENVELOPED_DATA {
        return Err(CmsError::NotEnvelopedData);
    }
    let explicit = fields.next(TAG_CTX0, "ContentInfo [0] content")?;
    fields.finish()?;
    let mut inner = explicit.fields("ContentInfo [0] content")?;
    let enveloped = inner.next(TAG_SEQUENCE, "EnvelopedData SEQUENCE")?;
    inner.finish()?;
    enveloped_data(enveloped)
}

fn enveloped_data(el: &Element<'_>) -> Result<EnvelopedData, CmsError> {
    let mut fields = el.fields("EnvelopedData")?;
    version(
        fields.next(TAG_INTEGER, "EnvelopedData version")?,
        "EnvelopedData",
    )?;
    if fields.peek_tag() == Some(TAG_CTX0) {
        return Err(CmsError::OriginatorInfoPresent);
    }
    let recipients = fields.next(TAG_SET, "recipientInfos SET")?;
    let (rid, encrypted_key) = recipient_infos(recipients)?;
    let encrypted_content_info = fields.next(TAG_SEQUENCE, "EncryptedContentInfo SEQUENCE")?;
    let (iv, ciphertext) = encrypted_content(encrypted_content_info)?;
    if fields.peek_tag() == Some(TAG_CTX1) {
        return Err(CmsError::UnprotectedAttrsPresent);
    }
    fields.finish()?;
    Ok(EnvelopedData {
        rid,
        encrypted_key,
        iv,
        ciphertext,
    })
}

/// An INTEGER that must be exactly 2 (one contents octet).
fn version(el: &Element<'_>, structure: &'static str) -> Result<(), CmsError> {
    if el.bytes("version INTEGER")? != [2] {
        return Err(CmsError::UnsupportedVersion { structure });
    }
    Ok(())
}

fn recipient_infos(set: &Element<'_>) -> Result<([u8; RID_LEN], Vec<u8>), CmsError> {
    let mut fields = set.fields("recipientInfos")?;
    match fields.len() {
        0 => return Err(CmsError::NoRecipient),
        1 => {}
        _ => return Err(CmsError::MultipleRecipients),
    }
    let recipient = fields.next_any("RecipientInfo")?;
    if recipient.tag != TAG_SEQUENCE {
        return Err(CmsError::UnsupportedRecipient(
            "not a KeyTransRecipientInfo",
        ));
    }
    key_trans_recipient_info(recipient)
}

fn key_trans_recipient_info(el: &Element<'_>) -> Result<([u8; RID_LEN], Vec<u8>), CmsError> {
    let mut fields = el.fields("KeyTransRecipientInfo")?;
    version(
        fields.next(TAG_INTEGER, "KeyTransRecipientInfo version")?,
        "KeyTransRecipientInfo",
    )?;
    let rid_el = fields.next_any("rid")?;
    if rid_el.tag != TAG_CTX0_PRIMITIVE {
        return Err(CmsError::UnsupportedRecipient(
            "rid is not a primitive [0] SubjectKeyIdentifier",
        ));
    }
    let rid_bytes = rid_el.bytes("rid")?;
    let rid: [u8; RID_LEN] = rid_bytes
        .try_into()
        .map_err(|_| CmsError::BadRidLength(rid_bytes.len()))?;
    key_encryption_algorithm(fields.next(TAG_SEQUENCE, "keyEncryptionAlgorithm")?)?;
    let encrypted_key = fields.next_bytes(TAG_OCTET_STRING, "encryptedKey OCTET STRING")?;
    if encrypted_key.len() != ENCRYPTED_KEY_LEN {
        return Err(CmsError::BadEncryptedKeyLength(encrypted_key.len()));
    }
    fields.finish()?;
    Ok((rid, encrypted_key.to_vec()))
}

fn key_encryption_algorithm(el: &Element<'_>) -> Result<(), CmsError> {
    let mut fields = el.fields("keyEncryptionAlgorithm")?;
    if fields.next_bytes(TAG_OID, "keyEncryptionAlgorithm OID")? != OID_RSAES_OAEP {
        return Err(CmsError::UnsupportedKeyEncryption);
    }
    let params = fields
        .next_any("RSAES-OAEP-params")
        .map_err(|_| oaep(OaepParamsProblem::Missing))?;
    if params.tag != TAG_SEQUENCE {
        return Err(oaep(OaepParamsProblem::Missing));
    }
    fields.finish()?;
    oaep_params(params)
}

fn oaep(problem: OaepParamsProblem) -> CmsError {
    CmsError::UnsupportedKeyEncryptionParams(problem)
}

fn oaep_params(el: &Element<'_>) -> Result<(), CmsError> {
    let mut fields = el.fields("RSAES-OAEP-params")?;

    if fields.peek_tag() != Some(TAG_CTX0) {
        return Err(oaep(OaepParamsProblem::HashDefaultsToSha1));
    }
    let mut hash = fields.next_any("hashFunc")?.fields("hashFunc")?;
    let hash_alg = hash
        .next(TAG_SEQUENCE, "hashFunc AlgorithmIdentifier")
        .map_err(|_| oaep(OaepParamsProblem::Unexpected))?;
    if !hash.is_empty() {
        return Err(oaep(OaepParamsProblem::Unexpected));
    }
    sha256_with_null(hash_alg, OaepParamsProblem::HashNotSha256)?;

    if fields.peek_tag() != Some(TAG_CTX1) {
        return Err(oaep(OaepParamsProblem::MgfDefaultsToSha1));
    }
    let mut mgf = fields.next_any("maskGenFunc")?.fields("maskGenFunc")?;
    let mgf_alg = mgf
        .next(TAG_SEQUENCE, "maskGenFunc AlgorithmIdentifier")
        .map_err(|_| oaep(OaepParamsProblem::Unexpected))?;
    if !mgf.is_empty() {
        return Err(oaep(OaepParamsProblem::Unexpected));
    }
    let mut mgf_fields = mgf_alg.fields("maskGenFunc AlgorithmIdentifier")?;
    let mgf_oid = mgf_fields
        .next_bytes(TAG_OID, "maskGenFunc OID")
        .map_err(|_| oaep(OaepParamsProblem::Unexpected))?;
    if mgf_oid != OID_MGF1 {
        return Err(oaep(OaepParamsProblem::MgfNotMgf1));
    }
    let mgf_hash = mgf_fields
        .next(TAG_SEQUENCE, "MGF1 hash AlgorithmIdentifier")
        .map_err(|_| oaep(OaepParamsProblem::Unexpected))?;
    if !mgf_fields.is_empty() {
        return Err(oaep(OaepParamsProblem::Unexpected));
    }
    sha256_with_null(mgf_hash, OaepParamsProblem::MgfHashNotSha256)?;

    if fields.peek_tag() == Some(TAG_CTX2) {
        let source = fields.next_any("pSourceFunc")?;
        return Err(oaep(p_source_problem(source)));
    }
    if !fields.is_empty() {
        return Err(oaep(OaepParamsProblem::Unexpected));
    }
    Ok(())
}

/// Why a present `pSourceFunc` is refused: a label is a different key
/// transport than KMS uses; an explicit empty one is a DER default KMS omits.
fn p_source_problem(source: &Element<'_>) -> OaepParamsProblem {
    let label = source.fields("pSourceFunc").ok().and_then(|mut f| {
        let alg = f.next(TAG_SEQUENCE, "pSourceFunc").ok()?;
        let mut alg = alg.fields("pSourceFunc").ok()?;
        if alg.next_bytes(TAG_OID, "pSourceFunc OID").ok()? != OID_P_SPECIFIED {
            return None;
        }
        alg.next_bytes(TAG_OCTET_STRING, "label").ok()
    });
    match label {
        Some([]) => OaepParamsProblem::ExplicitPSource,
        Some(_) => OaepParamsProblem::NonEmptyLabel,
        None => OaepParamsProblem::Unexpected,
    }
}

/// `AlgorithmIdentifier { sha256, NULL }`, exactly as KMS sends it.
fn sha256_with_null(el: &Element<'_>, not_sha256: OaepParamsProblem) -> Result<(), CmsError> {
    let mut fields = el.fields("hash AlgorithmIdentifier")?;
    let oid = fields
        .next_bytes(TAG_OID, "hash OID")
        .map_err(|_| oaep(OaepParamsProblem::Unexpected))?;
    if oid != OID_SHA256 {
        return Err(oaep(not_sha256));
    }
    match fields.next_any("NULL") {
        Ok(null) if null.tag == TAG_NULL && null.bytes("NULL")?.is_empty() => {}
        _ => return Err(oaep(OaepParamsProblem::HashParamsNotNull)),
    }
    if !fields.is_empty() {
        return Err(oaep(OaepParamsProblem::HashParamsNotNull));
    }
    Ok(())
}

fn encrypted_content(el: &Element<'_>) -> Result<([u8; IV_LEN], Vec<u8>), CmsError> {
    let mut fields = el.fields("EncryptedContentInfo")?;
    if fields.next_bytes(TAG_OID, "EncryptedContentInfo contentType")? != OID_DATA {
        return Err(CmsError::NotDataContent);
    }

    let alg = fields.next(TAG_SEQUENCE, "contentEncryptionAlgorithm")?;
    let mut alg = alg.fields("contentEncryptionAlgorithm")?;
    if alg.next_bytes(TAG_OID, "contentEncryptionAlgorithm OID")? != OID_AES256_CBC {
        return Err(CmsError::UnsupportedContentEncryption);
    }
    let iv_bytes = alg.next_bytes(TAG_OCTET_STRING, "IV OCTET STRING")?;
    let iv: [u8; IV_LEN] = iv_bytes
        .try_into()
        .map_err(|_| CmsError::BadIvLength(iv_bytes.len()))?;
    alg.finish()?;

    let content = fields
        .next_any("encryptedContent")
        .map_err(|_| CmsError::MissingContent)?;
    let ciphertext = match content.tag {
        TAG_CTX0_PRIMITIVE => content.bytes("encryptedContent")?.to_vec(),
        TAG_CTX0 => {
            let mut chunks = content.fields("encryptedContent")?;
            let mut ciphertext = Vec::new();
            while !chunks.is_empty() {
                ciphertext
                    .extend_from_slice(chunks.next_bytes(TAG_OCTET_STRING, "OCTET STRING chunk")?);
            }
            ciphertext
        }
        _ => return Err(content.unexpected("encryptedContent [0]")),
    };
    fields.finish()?;
    if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
        return Err(CmsError::BadContentLength(ciphertext.len()));
    }
    Ok((iv, ciphertext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONSTRUCTED: &[u8] =
        include_bytes!("../../testdata/kms/aws_sdk_c_constructed_content.ber");
    const PRIMITIVE: &[u8] = include_bytes!("../../testdata/kms/aws_sdk_c_primitive_content.ber");
    const ENCLAVER: &[u8] = include_bytes!("../../testdata/kms/enclaver_hello_world.ber");
    const VECTORS: [&[u8]; 3] = [CONSTRUCTED, PRIMITIVE, ENCLAVER];

    const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    const OID_AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];

    // ----- a test-only BER encoder -----

    /// A BER element to encode. `kms_indefinite` records whether KMS uses an
    /// indefinite length there.
    #[derive(Clone)]
    enum Node {
        Prim(u8, Vec<u8>),
        Cons {
            tag: u8,
            kms_indefinite: bool,
            children: Vec<Node>,
        },
    }

    fn prim(tag: u8, bytes: &[u8]) -> Node {
        Node::Prim(tag, bytes.to_vec())
    }
    fn def(tag: u8, children: Vec<Node>) -> Node {
        Node::Cons {
            tag,
            kms_indefinite: false,
            children,
        }
    }
    fn indef(tag: u8, children: Vec<Node>) -> Node {
        Node::Cons {
            tag,
            kms_indefinite: true,
            children,
        }
    }

    fn encode_len(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }

    /// Encodes `node`; `indefinite(kms_indefinite)` picks each constructed
    /// element's length form.
    fn encode(node: &Node, indefinite: &mut dyn FnMut(bool) -> bool, out: &mut Vec<u8>) {
        match node {
            Node::Prim(tag, bytes) => {
                out.push(*tag);
                encode_len(bytes.len(), out);
                out.extend_from_slice(bytes);
            }
            Node::Cons {
                tag,
                kms_indefinite,
                children,
            } => {
                out.push(*tag);
                if indefinite(*kms_indefinite) {
                    out.push(0x80);
                    for child in children {
                        encode(child, indefinite, out);
                    }
                    out.extend_from_slice(&[0, 0]);
                } else {
                    let mut body = Vec::new();
                    for child in children {
                        encode(child, indefinite, &mut body);
                    }
                    encode_len(body.len(), out);
                    out.extend_from_slice(&body);
                }
            }
        }
    }

    fn as_kms(node: &Node) -> Vec<u8> {
        let mut out = Vec::new();
        encode(node, &mut |kms| kms, &mut out);
        out
    }

    fn all_definite(node: &Node) -> Vec<u8> {
        let mut out = Vec::new();
        encode(node, &mut |_| false, &mut out);
        out
    }

    /// How the encrypted content is carried.
    #[derive(Clone)]
    enum Content {
        Primitive(Vec<u8>),
        Chunks(Vec<Vec<u8>>),
        Absent,
    }

    /// Every knob of the KMS shape; `Shape::kms` is exactly what KMS sends.
    #[derive(Clone)]
    struct Shape {
        outer_oid: Vec<u8>,
        ed_version: Vec<u8>,
        originator_info: bool,
        recipients: usize,
        ktri_version: Vec<u8>,
        rid: Node,
        kea_oid: Vec<u8>,
        hash: Option<Node>,
        mgf: Option<Node>,
        p_source: Option<Node>,
        encrypted_key: Vec<u8>,
        content_type: Vec<u8>,
        cipher_oid: Vec<u8>,
        iv: Vec<u8>,
        content: Content,
        unprotected_attrs: bool,
    }

    fn hash_alg(oid: &[u8], null: bool) -> Node {
        let mut children = vec![prim(TAG_OID, oid)];
        if null {
            children.push(prim(TAG_NULL, &[]));
        }
        def(TAG_SEQUENCE, children)
    }

    fn hash_func(oid: &[u8], null: bool) -> Node {
        def(TAG_CTX0, vec![hash_alg(oid, null)])
    }

    fn mgf_func(mgf_oid: &[u8], hash_oid: &[u8]) -> Node {
        def(
            TAG_CTX1,
            vec![def(
                TAG_SEQUENCE,
                vec![prim(TAG_OID, mgf_oid), hash_alg(hash_oid, true)],
            )],
        )
    }

    fn p_source(label: &[u8]) -> Node {
        def(
            TAG_CTX2,
            vec![def(
                TAG_SEQUENCE,
                vec![
                    prim(TAG_OID, OID_P_SPECIFIED),
                    prim(TAG_OCTET_STRING, label),
                ],
            )],
        )
    }

    impl Shape {
        fn kms(ed: &EnvelopedData, content: Content) -> Self {
            Shape {
                outer_oid: OID_ENVELOPED_DATA.to_vec(),
                ed_version: vec![2],
                originator_info: false,
                recipients: 1,
                ktri_version: vec![2],
                rid: prim(TAG_CTX0_PRIMITIVE, &ed.rid),
                kea_oid: OID_RSAES_OAEP.to_vec(),
                hash: Some(hash_func(OID_SHA256, true)),
                mgf: Some(mgf_func(OID_MGF1, OID_SHA256)),
                p_source: None,
                encrypted_key: ed.encrypted_key.clone(),
                content_type: OID_DATA.to_vec(),
                cipher_oid: OID_AES256_CBC.to_vec(),
                iv: ed.iv.to_vec(),
                content,
                unprotected_attrs: false,
            }
        }

        fn sample() -> Self {
            Self::kms(&sample_ed(), Content::Chunks(vec![vec![0x5a; 32]]))
        }

        fn tree(&self) -> Node {
            let mut oaep_params = Vec::new();
            oaep_params.extend(self.hash.clone());
            oaep_params.extend(self.mgf.clone());
            oaep_params.extend(self.p_source.clone());
            let ktri = def(
                TAG_SEQUENCE,
                vec![
                    prim(TAG_INTEGER, &self.ktri_version),
                    self.rid.clone(),
                    def(
                        TAG_SEQUENCE,
                        vec![prim(TAG_OID, &self.kea_oid), def(TAG_SEQUENCE, oaep_params)],
                    ),
                    prim(TAG_OCTET_STRING, &self.encrypted_key),
                ],
            );
            let mut eci = vec![
                prim(TAG_OID, &self.content_type),
                def(
                    TAG_SEQUENCE,
                    vec![
                        prim(TAG_OID, &self.cipher_oid),
                        prim(TAG_OCTET_STRING, &self.iv),
                    ],
                ),
            ];
            match &self.content {
                Content::Primitive(bytes) => eci.push(prim(TAG_CTX0_PRIMITIVE, bytes)),
                Content::Chunks(chunks) => eci.push(indef(
                    TAG_CTX0,
                    chunks.iter().map(|c| prim(TAG_OCTET_STRING, c)).collect(),
                )),
                Content::Absent => {}
            }
            let mut ed = vec![prim(TAG_INTEGER, &self.ed_version)];
            if self.originator_info {
                ed.push(def(TAG_CTX0, vec![]));
            }
            ed.push(def(TAG_SET, vec![ktri; self.recipients]));
            ed.push(indef(TAG_SEQUENCE, eci));
            if self.unprotected_attrs {
                ed.push(def(
                    TAG_CTX1,
                    vec![def(
                        TAG_SEQUENCE,
                        vec![
                            prim(TAG_OID, OID_DATA),
                            def(TAG_SET, vec![prim(TAG_NULL, &[])]),
                        ],
                    )],
                ));
            }
            indef(
                TAG_SEQUENCE,
                vec![
                    prim(TAG_OID, &self.outer_oid),
                    indef(TAG_CTX0, vec![indef(TAG_SEQUENCE, ed)]),
                ],
            )
        }

        fn ber(&self) -> Vec<u8> {
            as_kms(&self.tree())
        }
    }

    fn sample_ed() -> EnvelopedData {
        EnvelopedData {
            rid: [0x11; 32],
            encrypted_key: vec![0x22; 256],
            iv: [0x33; 16],
            ciphertext: vec![0x5a; 32],
        }
    }

    /// The KMS-shaped tree of a vector, built from its parsed fields.
    fn vector_shape(vector: &[u8]) -> Shape {
        let ed = parse(vector).unwrap();
        let content = if vector == PRIMITIVE {
            Content::Primitive(ed.ciphertext.clone())
        } else {
            Content::Chunks(vec![ed.ciphertext.clone()])
        };
        Shape::kms(&ed, content)
    }

    fn refuse(shape: &Shape) -> CmsError {
        parse(&shape.ber()).unwrap_err()
    }

    // ----- the vectors -----

    #[test]
    fn parses_every_vector() {
        for vector in VECTORS {
            let ed = parse(vector).unwrap();
            assert_eq!(ed.encrypted_key.len(), 256);
            assert!(!ed.ciphertext.is_empty() && ed.ciphertext.len().is_multiple_of(16));
        }
    }

    #[test]
    fn test_encoder_reproduces_the_vectors_byte_for_byte() {
        for vector in VECTORS {
            assert_eq!(vector_shape(vector).ber(), vector);
        }
    }

    #[test]
    fn definite_length_reencoding_of_each_vector_parses() {
        for vector in VECTORS {
            let definite = all_definite(&vector_shape(vector).tree());
            assert!(!definite.windows(2).any(|w| w == [0x30, 0x80]));
            assert_eq!(parse(&definite).unwrap(), parse(vector).unwrap());
        }
    }

    #[test]
    fn sample_shape_parses() {
        assert_eq!(parse(&Shape::sample().ber()).unwrap(), sample_ed());
    }

    #[test]
    fn empty_chunks_and_many_chunks_concatenate() {
        let mut shape = Shape::sample();
        shape.content = Content::Chunks(vec![vec![], vec![0x5a; 5], vec![0x5a; 27], vec![]]);
        assert_eq!(parse(&shape.ber()).unwrap(), sample_ed());
    }

    // ----- refusals: schema -----

    #[test]
    fn refuses_wrong_outer_oid() {
        let mut shape = Shape::sample();
        shape.outer_oid = OID_SIGNED_DATA.to_vec();
        assert_eq!(refuse(&shape), CmsError::NotEnvelopedData);
    }

    #[test]
    fn refuses_data_as_outer_content_type() {
        let mut shape = Shape::sample();
        shape.outer_oid = OID_DATA.to_vec();
        assert_eq!(refuse(&shape), CmsError::NotEnvelopedData);
    }

    #[test]
    fn refuses_content_info_without_content() {
        let ber = as_kms(&indef(
            TAG_SEQUENCE,
            vec![prim(TAG_OID, OID_ENVELOPED_DATA)],
        ));
        assert!(matches!(parse(&ber), Err(CmsError::Missing { .. })));
    }

    #[test]
    fn refuses_outer_element_that_is_not_a_sequence() {
        let ber = as_kms(&prim(TAG_OCTET_STRING, &[1, 2, 3]));
        assert!(matches!(
            parse(&ber),
            Err(CmsError::UnexpectedTag {
                found: TAG_OCTET_STRING,
                ..
            })
        ));
    }

    #[test]
    fn refuses_two_recipients() {
        let mut shape = Shape::sample();
        shape.recipients = 2;
        assert_eq!(refuse(&shape), CmsError::MultipleRecipients);
    }

    #[test]
    fn refuses_no_recipient() {
        let mut shape = Shape::sample();
        shape.recipients = 0;
        assert_eq!(refuse(&shape), CmsError::NoRecipient);
    }

    #[test]
    fn refuses_wrong_enveloped_data_version() {
        for version in [vec![0], vec![3], vec![4], vec![0, 2], vec![]] {
            let mut shape = Shape::sample();
            shape.ed_version = version;
            assert_eq!(
                refuse(&shape),
                CmsError::UnsupportedVersion {
                    structure: "EnvelopedData"
                }
            );
        }
    }

    #[test]
    fn refuses_wrong_key_trans_recipient_version() {
        for version in [vec![0], vec![3], vec![0, 2]] {
            let mut shape = Shape::sample();
            shape.ktri_version = version;
            assert_eq!(
                refuse(&shape),
                CmsError::UnsupportedVersion {
                    structure: "KeyTransRecipientInfo"
                }
            );
        }
    }

    #[test]
    fn refuses_originator_info() {
        let mut shape = Shape::sample();
        shape.originator_info = true;
        assert_eq!(refuse(&shape), CmsError::OriginatorInfoPresent);
    }

    #[test]
    fn refuses_unprotected_attrs() {
        let mut shape = Shape::sample();
        shape.unprotected_attrs = true;
        assert_eq!(refuse(&shape), CmsError::UnprotectedAttrsPresent);
    }

    /// Replaces the only child of the recipientInfos SET with `with`.
    fn replace_recipient(node: &mut Node, with: &Node) {
        if let Node::Cons { tag, children, .. } = node {
            if *tag == TAG_SET {
                *children = vec![with.clone()];
                return;
            }
            for child in children {
                replace_recipient(child, with);
            }
        }
    }

    #[test]
    fn refuses_key_agreement_recipient() {
        let mut tree = Shape::sample().tree();
        let kari = def(TAG_CTX1, vec![prim(TAG_INTEGER, &[3])]);
        replace_recipient(&mut tree, &kari);
        assert_eq!(
            parse(&as_kms(&tree)).unwrap_err(),
            CmsError::UnsupportedRecipient("not a KeyTransRecipientInfo")
        );
    }

    #[test]
    fn refuses_issuer_and_serial_number_rid() {
        let mut shape = Shape::sample();
        shape.rid = def(
            TAG_SEQUENCE,
            vec![def(TAG_SEQUENCE, vec![]), prim(TAG_INTEGER, &[1])],
        );
        assert!(matches!(refuse(&shape), CmsError::UnsupportedRecipient(_)));
    }

    #[test]
    fn refuses_constructed_rid() {
        let mut shape = Shape::sample();
        shape.rid = def(TAG_CTX0, vec![prim(TAG_OCTET_STRING, &[0x11; 32])]);
        assert!(matches!(refuse(&shape), CmsError::UnsupportedRecipient(_)));
    }

    #[test]
    fn refuses_rid_of_20_bytes() {
        let mut shape = Shape::sample();
        shape.rid = prim(TAG_CTX0_PRIMITIVE, &[0x11; 20]);
        assert_eq!(refuse(&shape), CmsError::BadRidLength(20));
    }

    #[test]
    fn refuses_rsa_pkcs1_v1_5_key_encryption() {
        let mut shape = Shape::sample();
        shape.kea_oid = OID_RSA_ENCRYPTION.to_vec();
        assert_eq!(refuse(&shape), CmsError::UnsupportedKeyEncryption);
    }

    #[test]
    fn refuses_oaep_hash_sha1() {
        let mut shape = Shape::sample();
        shape.hash = Some(hash_func(OID_SHA1, true));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::HashNotSha256)
        );
    }

    #[test]
    fn refuses_other_oaep_hash() {
        let mut shape = Shape::sample();
        shape.hash = Some(hash_func(OID_SHA384, true));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::HashNotSha256)
        );
    }

    #[test]
    fn refuses_oaep_hash_defaulting_to_sha1() {
        let mut shape = Shape::sample();
        shape.hash = None;
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::HashDefaultsToSha1)
        );
    }

    #[test]
    fn refuses_sha256_without_null_params() {
        let mut shape = Shape::sample();
        shape.hash = Some(hash_func(OID_SHA256, false));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::HashParamsNotNull)
        );
    }

    #[test]
    fn refuses_mgf1_with_sha1() {
        let mut shape = Shape::sample();
        shape.mgf = Some(mgf_func(OID_MGF1, OID_SHA1));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::MgfHashNotSha256)
        );
    }

    #[test]
    fn refuses_mask_generation_other_than_mgf1() {
        let mut shape = Shape::sample();
        shape.mgf = Some(mgf_func(OID_P_SPECIFIED, OID_SHA256));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::MgfNotMgf1)
        );
    }

    #[test]
    fn refuses_mgf_defaulting_to_sha1() {
        let mut shape = Shape::sample();
        shape.mgf = None;
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::MgfDefaultsToSha1)
        );
    }

    #[test]
    fn refuses_non_empty_label() {
        let mut shape = Shape::sample();
        shape.p_source = Some(p_source(b"label"));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::NonEmptyLabel)
        );
    }

    #[test]
    fn refuses_explicit_empty_label_kms_does_not_send() {
        let mut shape = Shape::sample();
        shape.p_source = Some(p_source(b""));
        assert_eq!(
            refuse(&shape),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::ExplicitPSource)
        );
    }

    /// Replaces the RSAES-OAEP-params SEQUENCE with `with`.
    fn replace_oaep_params(node: &mut Node, with: &Node) {
        if let Node::Cons { children, .. } = node {
            if let [Node::Prim(TAG_OID, oid), params] = children.as_mut_slice() {
                if oid.as_slice() == OID_RSAES_OAEP {
                    *params = with.clone();
                    return;
                }
            }
            for child in children {
                replace_oaep_params(child, with);
            }
        }
    }

    #[test]
    fn refuses_null_oaep_params() {
        let mut tree = Shape::sample().tree();
        replace_oaep_params(&mut tree, &prim(TAG_NULL, &[]));
        assert_eq!(
            parse(&as_kms(&tree)).unwrap_err(),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::Missing)
        );
    }

    #[test]
    fn refuses_extra_oaep_param() {
        let mut tree = Shape::sample().tree();
        let params = def(
            TAG_SEQUENCE,
            vec![
                hash_func(OID_SHA256, true),
                mgf_func(OID_MGF1, OID_SHA256),
                def(0xa3, vec![]),
            ],
        );
        replace_oaep_params(&mut tree, &params);
        assert_eq!(
            parse(&as_kms(&tree)).unwrap_err(),
            CmsError::UnsupportedKeyEncryptionParams(OaepParamsProblem::Unexpected)
        );
    }

    #[test]
    fn refuses_encrypted_key_not_256_bytes() {
        for len in [0, 128, 255, 257, 512] {
            let mut shape = Shape::sample();
            shape.encrypted_key = vec![0x22; len];
            assert_eq!(refuse(&shape), CmsError::BadEncryptedKeyLength(len));
        }
    }

    #[test]
    fn refuses_content_type_other_than_data() {
        let mut shape = Shape::sample();
        shape.content_type = OID_ENVELOPED_DATA.to_vec();
        assert_eq!(refuse(&shape), CmsError::NotDataContent);
    }

    #[test]
    fn refuses_wrong_content_cipher_oid() {
        let mut shape = Shape::sample();
        shape.cipher_oid = OID_AES128_CBC.to_vec();
        assert_eq!(refuse(&shape), CmsError::UnsupportedContentEncryption);
    }

    #[test]
    fn refuses_iv_of_8_bytes() {
        let mut shape = Shape::sample();
        shape.iv = vec![0x33; 8];
        assert_eq!(refuse(&shape), CmsError::BadIvLength(8));
    }

    #[test]
    fn refuses_content_not_multiple_of_16() {
        let mut shape = Shape::sample();
        shape.content = Content::Primitive(vec![0x5a; 17]);
        assert_eq!(refuse(&shape), CmsError::BadContentLength(17));
        shape.content = Content::Chunks(vec![vec![0x5a; 8], vec![0x5a; 9]]);
        assert_eq!(refuse(&shape), CmsError::BadContentLength(17));
    }

    #[test]
    fn refuses_empty_content() {
        let mut shape = Shape::sample();
        shape.content = Content::Primitive(vec![]);
        assert_eq!(refuse(&shape), CmsError::BadContentLength(0));
        shape.content = Content::Chunks(vec![]);
        assert_eq!(refuse(&shape), CmsError::BadContentLength(0));
    }

    #[test]
    fn refuses_missing_encrypted_content() {
        let mut shape = Shape::sample();
        shape.content = Content::Absent;
        assert_eq!(refuse(&shape), CmsError::MissingContent);
    }

    #[test]
    fn refuses_nested_constructed_chunk() {
        let mut tree = Shape::sample().tree();
        fn nest(node: &mut Node) {
            if let Node::Cons { tag, children, .. } = node {
                if *tag == TAG_CTX0
                    && matches!(children.first(), Some(Node::Prim(TAG_OCTET_STRING, _)))
                {
                    *children = vec![indef(0x24, std::mem::take(children))];
                    return;
                }
                for child in children {
                    nest(child);
                }
            }
        }
        nest(&mut tree);
        assert!(matches!(
            parse(&as_kms(&tree)),
            Err(CmsError::UnexpectedTag { found: 0x24, .. })
        ));
    }

    #[test]
    fn refuses_extra_element_in_encrypted_content_info() {
        let mut tree = Shape::sample().tree();
        fn extra(node: &mut Node) {
            if let Node::Cons { children, .. } = node {
                if matches!(children.first(), Some(Node::Prim(TAG_OID, oid)) if oid.as_slice() == OID_DATA)
                {
                    children.push(prim(TAG_NULL, &[]));
                    return;
                }
                for child in children {
                    extra(child);
                }
            }
        }
        extra(&mut tree);
        assert!(matches!(
            parse(&as_kms(&tree)),
            Err(CmsError::UnexpectedElement {
                within: "EncryptedContentInfo",
                ..
            })
        ));
    }

    // ----- refusals: BER -----

    #[test]
    fn refuses_trailing_bytes_after_content_info() {
        for vector in VECTORS {
            for tail in [&[0u8][..], &[0, 0], &[0x05, 0x00], &[0xff]] {
                let mut ber = vector.to_vec();
                ber.extend_from_slice(tail);
                assert_eq!(
                    parse(&ber).unwrap_err(),
                    CmsError::TrailingBytes {
                        offset: vector.len(),
                        count: tail.len()
                    }
                );
            }
        }
    }

    #[test]
    fn refuses_trailing_bytes_after_definite_content_info() {
        let mut ber = all_definite(&vector_shape(ENCLAVER).tree());
        let len = ber.len();
        ber.push(0);
        assert!(matches!(
            parse(&ber),
            Err(CmsError::TrailingBytes { offset, count: 1 }) if offset == len
        ));
    }

    #[test]
    fn refuses_truncation_at_every_offset() {
        for vector in VECTORS {
            let definite = all_definite(&vector_shape(vector).tree());
            for input in [vector, definite.as_slice()] {
                for cut in 0..input.len() {
                    assert!(
                        parse(&input[..cut]).is_err(),
                        "prefix of {cut} bytes parsed"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_empty_input() {
        assert_eq!(parse(&[]).unwrap_err(), CmsError::Truncated { offset: 0 });
    }

    #[test]
    fn refuses_lengths_beyond_the_input() {
        for header in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff],
            &[0x30, 0x82, 0x01, 0x00, 0x00],
            &[0x04, 0x81, 0x80, 0x00],
        ] {
            assert!(
                matches!(parse(header), Err(CmsError::LengthBeyondInput { .. })),
                "{header:02x?}"
            );
        }
    }

    #[test]
    fn refuses_child_running_past_its_definite_parent() {
        // SEQUENCE of 3 bytes holding an OCTET STRING that claims 5.
        let ber = [0x30, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert!(matches!(
            parse(&ber),
            Err(CmsError::LengthBeyondInput {
                offset: 2,
                len: 5,
                available: 1
            })
        ));
    }

    #[test]
    fn refuses_lengths_of_more_than_4_octets() {
        for header in [
            &[0x30, 0x85, 0x00, 0x00, 0x00, 0x01, 0x00][..],
            &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0xfe],
            &[0x30, 0xff],
        ] {
            assert!(
                matches!(parse(header), Err(CmsError::LengthTooLong { offset: 0 })),
                "{header:02x?}"
            );
        }
    }

    #[test]
    fn refuses_non_minimal_lengths() {
        for header in [
            &[0x04, 0x81, 0x01, 0x00][..],
            &[0x04, 0x82, 0x00, 0x81],
            &[0x04, 0x84, 0x00, 0x00, 0x00, 0x01],
        ] {
            assert_eq!(
                parse(header).unwrap_err(),
                CmsError::NonMinimalLength { offset: 0 },
                "{header:02x?}"
            );
        }
    }

    #[test]
    fn refuses_indefinite_length_on_primitive() {
        assert!(matches!(
            parse(&[0x04, 0x80, 0x00, 0x00]),
            Err(CmsError::Malformed { offset: 0, .. })
        ));
    }

    #[test]
    fn refuses_high_tag_number_form() {
        assert!(matches!(
            parse(&[0x3f, 0x81, 0x01, 0x00]),
            Err(CmsError::Malformed { offset: 0, .. })
        ));
    }

    #[test]
    fn refuses_misplaced_end_of_contents() {
        assert!(matches!(
            parse(&[0x00, 0x00]),
            Err(CmsError::Malformed { .. })
        ));
        // EOC inside a definite-length SEQUENCE.
        assert!(matches!(
            parse(&[0x30, 0x02, 0x00, 0x00]),
            Err(CmsError::Malformed { offset: 2, .. })
        ));
    }

    #[test]
    fn refuses_end_of_contents_with_a_length() {
        assert!(matches!(
            parse(&[0x30, 0x80, 0x00, 0x01, 0x00]),
            Err(CmsError::Malformed { offset: 2, .. })
        ));
    }

    #[test]
    fn refuses_unterminated_indefinite_length() {
        assert_eq!(
            parse(&[0x30, 0x80, 0x05, 0x00]).unwrap_err(),
            CmsError::Truncated { offset: 4 }
        );
    }

    #[test]
    fn refuses_nesting_too_deep() {
        let depth = MAX_DEPTH + 1;
        let mut ber = [0x30, 0x80].repeat(depth);
        ber.extend(std::iter::repeat_n(0u8, 2 * depth));
        assert!(matches!(
            parse(&ber),
            Err(CmsError::TooDeep { max: MAX_DEPTH, .. })
        ));
        // Definite lengths too.
        let mut definite = vec![0x05, 0x00];
        for _ in 0..depth {
            let mut outer = vec![0x30, definite.len() as u8];
            outer.extend_from_slice(&definite);
            definite = outer;
        }
        assert!(matches!(parse(&definite), Err(CmsError::TooDeep { .. })));
    }

    #[test]
    fn nesting_at_the_limit_is_not_refused_for_depth() {
        let mut ber = [0x30, 0x80].repeat(MAX_DEPTH);
        ber.extend(std::iter::repeat_n(0u8, 2 * MAX_DEPTH));
        assert!(!matches!(parse(&ber), Err(CmsError::TooDeep { .. })));
    }

    #[test]
    fn refuses_input_over_the_size_limit() {
        let mut shape = Shape::sample();
        shape.content = Content::Chunks(vec![vec![0; 16 * 1024]; 4]);
        let ber = shape.ber();
        assert!(ber.len() > MAX_INPUT_LEN);
        assert_eq!(
            parse(&ber).unwrap_err(),
            CmsError::TooLarge {
                len: ber.len(),
                max: MAX_INPUT_LEN
            }
        );
        // Just under the limit parses.
        shape.content = Content::Chunks(vec![vec![0; 16 * 1024], vec![0; 16 * 1024 * 3 - 1024]]);
        assert!(parse(&shape.ber()).is_ok());
    }

    // ----- mutations of the vectors -----

    /// Which field a byte offset of `vector` belongs to, if any.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Field {
        Rid,
        EncryptedKey,
        Iv,
        Ciphertext,
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    }

    fn field_at(vector: &[u8], offset: usize) -> Option<Field> {
        let ed = parse(vector).unwrap();
        [
            Field::Rid,
            Field::EncryptedKey,
            Field::Iv,
            Field::Ciphertext,
        ]
        .into_iter()
        .find(|field| {
            let bytes = field_bytes(&ed, *field);
            let start = find(vector, bytes);
            (start..start + bytes.len()).contains(&offset)
        })
    }

    /// A mutated vector either fails to parse, or parses (only when the
    /// mutation hit a payload byte) to the original with just that field's
    /// byte changed.
    fn check_mutation(vector: &[u8], offset: usize, value: u8) {
        let original = parse(vector).unwrap();
        let mut mutated = vector.to_vec();
        mutated[offset] = value;
        let result = parse(&mutated);
        match field_at(vector, offset) {
            None => assert!(
                result.is_err(),
                "mutating structural byte {offset} to {value:#04x} still parsed"
            ),
            Some(field) => {
                let parsed = result.unwrap();
                let mut expected = original.clone();
                let index = offset - find(vector, field_bytes(&original, field));
                match field {
                    Field::Rid => expected.rid[index] = value,
                    Field::EncryptedKey => expected.encrypted_key[index] = value,
                    Field::Iv => expected.iv[index] = value,
                    Field::Ciphertext => expected.ciphertext[index] = value,
                }
                assert_eq!(parsed, expected);
            }
        }
    }

    fn field_bytes(ed: &EnvelopedData, field: Field) -> &[u8] {
        match field {
            Field::Rid => &ed.rid,
            Field::EncryptedKey => &ed.encrypted_key,
            Field::Iv => &ed.iv,
            Field::Ciphertext => &ed.ciphertext,
        }
    }

    #[test]
    fn every_bit_flip_of_the_vectors_errors_or_changes_only_its_field() {
        for vector in VECTORS {
            for offset in 0..vector.len() {
                for bit in 0..8 {
                    check_mutation(vector, offset, vector[offset] ^ (1 << bit));
                }
            }
        }
    }

    // ----- property tests -----

    /// A small deterministic generator for encoding choices.
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    fn arb_enveloped_data() -> impl Strategy<Value = EnvelopedData> {
        (
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 256),
            any::<[u8; 16]>(),
            (1usize..=64)
                .prop_flat_map(|blocks| proptest::collection::vec(any::<u8>(), blocks * 16)),
        )
            .prop_map(|(rid, encrypted_key, iv, ciphertext)| EnvelopedData {
                rid,
                encrypted_key,
                iv,
                ciphertext,
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_tails_on_a_valid_prefix_never_panic(
            cut in 0usize..461,
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = ENCLAVER[..cut].to_vec();
            bytes.extend_from_slice(&tail);
            let _ = parse(&bytes);
        }

        #[test]
        fn single_byte_mutations_error_or_change_only_their_field(
            which in 0usize..3,
            offset in any::<prop::sample::Index>(),
            value in any::<u8>(),
        ) {
            let vector = VECTORS[which];
            let offset = offset.index(vector.len());
            prop_assume!(vector[offset] != value);
            check_mutation(vector, offset, value);
        }

        #[test]
        fn random_reencodings_parse_back(ed in arb_enveloped_data(), seed in any::<u64>()) {
            let mut rng = SplitMix(seed);
            let content = if rng.next().is_multiple_of(2) {
                Content::Primitive(ed.ciphertext.clone())
            } else {
                let mut chunks = Vec::new();
                let mut rest = ed.ciphertext.as_slice();
                while !rest.is_empty() {
                    let take = (rng.next() as usize % (rest.len() + 1)).min(rest.len());
                    let (chunk, tail) = rest.split_at(take);
                    chunks.push(chunk.to_vec());
                    rest = tail;
                }
                Content::Chunks(chunks)
            };
            let tree = Shape::kms(&ed, content).tree();
            let mut ber = Vec::new();
            encode(&tree, &mut |_| rng.next().is_multiple_of(2), &mut ber);
            prop_assert_eq!(parse(&ber).unwrap(), ed);
        }
    }
}
