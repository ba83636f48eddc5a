//! The KMS API: awsJson1.1 (`POST /`, `X-Amz-Target: TrentService.<Op>`),
//! SigV4-authenticated, answering as KMS does — including its errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cms::{self, Corruption, RecipientKey};
use crate::faults::{CallFault, Tamper};
use crate::policy::{Decision, RequestContext};
use crate::server::{lock, CallRecord, Fake};
use crate::sigv4::{self, AuthError, Credential, SignedParts};
use crate::store::{parse_blob, EncryptionContext, Key};

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// How much of an oversized body is read before answering 413.
pub const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
/// The awsJson1.1 content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "TrentService.";
const SERVICE: &str = "kms";
/// Longest `CiphertextBlob` KMS accepts.
const MAX_BLOB: usize = 6144;

/// A KMS error: its `__type`, HTTP status and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// The key policy does not allow the call.
    #[error("{0}")]
    AccessDenied(String),
    /// `CustomKeyStoreId` names no custom key store.
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    /// The key is disabled.
    #[error("{0}")]
    Disabled(String),
    /// `DryRun` was set and the call would have succeeded.
    #[error("{0}")]
    DryRunOperation(String),
    /// `KeyId` names another key than the ciphertext's.
    #[error("{0}")]
    IncorrectKey(String),
    /// The ciphertext is not one of this key's, is tampered with, or its
    /// encryption context differs.
    #[error("{0}")]
    InvalidCiphertext(String),
    /// An asymmetric algorithm for a symmetric key.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// Unknown key or alias.
    #[error("{0}")]
    NotFound(String),
    /// A field is missing or out of range, or the attestation document is invalid.
    #[error("{0}")]
    Validation(String),
    /// The body is not JSON of the expected shape.
    #[error("{0}")]
    Serialization(String),
    /// The `X-Amz-Target` names no KMS operation this fake implements.
    #[error("{0}")]
    UnknownOperation(String),
    /// Fault injection: `ThrottlingException`.
    #[error("{0}")]
    Throttling(String),
    /// `KMSInternalException` (HTTP 500).
    #[error("{0}")]
    Internal(String),
    /// The body exceeds [`MAX_BODY`] (HTTP 413).
    #[error("{0}")]
    RequestTooLarge(String),
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl KmsError {
    /// The `__type` KMS answers with.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::CustomKeyStoreNotFound(_) => "CustomKeyStoreNotFoundException",
            Self::Disabled(_) => "DisabledException",
            Self::DryRunOperation(_) => "DryRunOperationException",
            Self::IncorrectKey(_) => "IncorrectKeyException",
            Self::InvalidCiphertext(_) => "InvalidCiphertextException",
            Self::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            Self::NotFound(_) => "NotFoundException",
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Throttling(_) => "ThrottlingException",
            Self::Internal(_) => "KMSInternalException",
            Self::RequestTooLarge(_) => "RequestEntityTooLargeException",
            Self::Auth(e) => e.type_name(),
        }
    }

    /// The HTTP status KMS answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::DryRunOperation(_) => StatusCode::PRECONDITION_FAILED,
            Self::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The operations this fake implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `Decrypt`.
    Decrypt,
    /// `GenerateRandom`.
    GenerateRandom,
    /// `DisableKey`.
    DisableKey,
    /// `EnableKey`.
    EnableKey,
}

impl Operation {
    /// The operation named by an `X-Amz-Target` suffix.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "GenerateDataKey" => Self::GenerateDataKey,
            "Decrypt" => Self::Decrypt,
            "GenerateRandom" => Self::GenerateRandom,
            "DisableKey" => Self::DisableKey,
            "EnableKey" => Self::EnableKey,
            _ => return None,
        })
    }

    /// The IAM action, e.g. `kms:Decrypt`.
    #[must_use]
    pub fn action(self) -> &'static str {
        match self {
            Self::GenerateDataKey => "kms:GenerateDataKey",
            Self::Decrypt => "kms:Decrypt",
            Self::GenerateRandom => "kms:GenerateRandom",
            Self::DisableKey => "kms:DisableKey",
            Self::EnableKey => "kms:EnableKey",
        }
    }
}

/// Returned to hyper to close the connection without an answer (`reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("connection closed by fault injection")]
pub struct ConnectionReset;

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    type_name: &'a str,
    message: String,
}

fn request_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn response(status: StatusCode, request_id: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    resp
}

fn error_body(error: &KmsError) -> Vec<u8> {
    serde_json::to_vec(&ErrorBody {
        type_name: error.type_name(),
        message: error.to_string(),
    })
    .unwrap_or_default()
}

fn operation_label(headers: &HeaderMap) -> String {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    target
        .strip_prefix(TARGET_PREFIX)
        .unwrap_or(target)
        .to_owned()
}

/// Reads the body; one over [`MAX_BODY`] is refused, after reading (and
/// discarding) up to [`DRAIN_LIMIT`] of it so the client sees the answer
/// rather than a connection closed under its upload.
async fn read_body(body: hyper::body::Incoming) -> Result<Bytes, KmsError> {
    let too_large =
        || KmsError::RequestTooLarge(format!("Request body must be at most {MAX_BODY} bytes"));
    let mut body = body;
    let mut collected = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| KmsError::Serialization(format!("reading the body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= MAX_BODY {
                collected.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                return Err(too_large());
            }
        }
    }
    if total > MAX_BODY {
        return Err(too_large());
    }
    Ok(Bytes::from(collected))
}

/// Serves one KMS API request: faults first, then authentication, then the
/// operation. Every call is recorded for `GET /calls`.
pub async fn handle(
    fake: Arc<Fake>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionReset> {
    let request_id = request_id();
    let (parts, body) = req.into_parts();
    let mut call = CallRecord {
        request_id: request_id.clone(),
        operation: operation_label(&parts.headers),
        ..CallRecord::default()
    };
    let body = read_body(body).await;
    let fault = fake.take_call_fault();
    call.fault = fault.map(CallFault::name);
    let outcome = match fault {
        Some(CallFault::Reset) => {
            tracing::info!(request_id, operation = call.operation, "fault: closing the connection");
            fake.record(call);
            return Err(ConnectionReset);
        }
        Some(CallFault::Throttle) => Err(KmsError::Throttling("Rate exceeded".into())),
        Some(CallFault::InternalError) => Err(KmsError::Internal(
            "The request was rejected because an internal exception occurred. The request can be retried.".into(),
        )),
        Some(CallFault::ExpiredToken) => Err(KmsError::Auth(AuthError::ExpiredToken)),
        Some(CallFault::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            body.and_then(|body| process(&fake, &parts, &body, &mut call))
        }
        None => body.and_then(|body| process(&fake, &parts, &body, &mut call)),
    };
    let (status, bytes) = match outcome {
        Ok(bytes) => (StatusCode::OK, bytes),
        Err(error) => {
            call.error = Some(error.type_name().to_owned());
            (error.status(), error_body(&error))
        }
    };
    call.status = status.as_u16();
    tracing::info!(
        request_id,
        operation = call.operation,
        key = call.key_id.as_deref().unwrap_or("-"),
        principal = call.principal.as_deref().unwrap_or("-"),
        recipient = call.recipient,
        status = call.status,
        error = call.error.as_deref().unwrap_or("-"),
        fault = call.fault.unwrap_or("-"),
        "kms call"
    );
    fake.record(call);
    Ok(response(status, &request_id, bytes))
}

fn process(
    fake: &Fake,
    parts: &http::request::Parts,
    body: &[u8],
    call: &mut CallRecord,
) -> Result<Vec<u8>, KmsError> {
    if parts.method != Method::POST {
        return Err(KmsError::UnknownOperation(format!(
            "The {} method is not supported; KMS takes POST /",
            parts.method
        )));
    }
    let signed = SignedParts {
        method: parts.method.as_str(),
        path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &parts.headers,
        body,
    };
    let caller = sigv4::verify(
        &signed,
        &fake.credentials,
        &fake.region,
        SERVICE,
        SystemTime::now(),
    )?;
    call.principal = Some(caller.principal_arn.clone());

    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some(CONTENT_TYPE) {
        return Err(KmsError::Serialization(format!(
            "Content-Type must be {CONTENT_TYPE}, not '{content_type}'"
        )));
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let op = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(Operation::from_name)
        .ok_or_else(|| KmsError::UnknownOperation(format!("Unknown operation '{target}'")))?;
    match op {
        Operation::GenerateDataKey => generate_data_key(fake, caller, body, call),
        Operation::Decrypt => decrypt(fake, caller, body, call),
        Operation::GenerateRandom => generate_random(fake, body, call),
        Operation::DisableKey | Operation::EnableKey => set_enabled(fake, caller, op, body, call),
    }
}

// ---- request and response shapes (KMS's PascalCase names) ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecipientInput {
    attestation_document: Option<String>,
    key_encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyInput {
    key_id: Option<String>,
    key_spec: Option<String>,
    number_of_bytes: Option<i64>,
    encryption_context: Option<EncryptionContext>,
    /// Accepted (type-checked) and ignored: this fake has no grants.
    #[serde(rename = "GrantTokens")]
    _grant_tokens: Option<Vec<String>>,
    recipient: Option<RecipientInput>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptInput {
    ciphertext_blob: Option<String>,
    key_id: Option<String>,
    encryption_context: Option<EncryptionContext>,
    encryption_algorithm: Option<String>,
    /// Accepted (type-checked) and ignored: this fake has no grants.
    #[serde(rename = "GrantTokens")]
    _grant_tokens: Option<Vec<String>>,
    recipient: Option<RecipientInput>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateRandomInput {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<RecipientInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdInput {
    key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyOutput {
    key_id: String,
    ciphertext_blob: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_for_recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptOutput {
    key_id: String,
    encryption_algorithm: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_for_recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RandomOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ciphertext_for_recipient: Option<String>,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, KmsError> {
    serde_json::from_slice(body).map_err(|e| KmsError::Serialization(e.to_string()))
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, KmsError> {
    serde_json::to_vec(value).map_err(|e| KmsError::Internal(e.to_string()))
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, KmsError> {
    value.ok_or_else(|| {
        KmsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn key_id_member(value: Option<String>) -> Result<String, KmsError> {
    let id = required(value, "keyId")?;
    if id.is_empty() || id.len() > 2048 {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048 (got {})",
            id.len()
        )));
    }
    Ok(id)
}

fn number_of_bytes(n: i64) -> Result<usize, KmsError> {
    if (1..=1024).contains(&n) {
        usize::try_from(n).map_err(|_| KmsError::Internal("size".into()))
    } else {
        let bound = if n < 1 {
            "greater than or equal to 1"
        } else {
            "less than or equal to 1024"
        };
        Err(KmsError::Validation(format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value {bound}"
        )))
    }
}

fn decode_blob(b64: &str, member: &str) -> Result<Vec<u8>, KmsError> {
    BASE64
        .decode(b64)
        .map_err(|_| KmsError::Serialization(format!("'{member}' is not valid base64")))
}

// ---- Recipient ----

/// A verified attestation document's key and PCRs.
struct Recipient {
    key: RecipientKey,
    pcrs: BTreeMap<u8, Vec<u8>>,
}

/// Verifies `Recipient` as KMS does: a Nitro attestation document chaining
/// to the pinned root, at most five minutes old, carrying an RSA public key.
/// KMS does not check PCRs here; the key policy does.
fn verify_recipient(
    fake: &Fake,
    input: Option<RecipientInput>,
) -> Result<Option<Recipient>, KmsError> {
    let Some(input) = input else {
        return Ok(None);
    };
    match input.key_encryption_algorithm.as_deref() {
        None | Some("RSAES_OAEP_SHA_256") => {}
        Some(other) => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_256]"
            )))
        }
    }
    let document = required(input.attestation_document, "recipient.attestationDocument")?;
    let document = decode_blob(&document, "Recipient.AttestationDocument")?;
    let verified = fake
        .verifier
        .verify(&document)
        .map_err(|e| KmsError::Validation(format!("Invalid attestation document: {e}")))?;
    let public_key = verified.doc.public_key.ok_or_else(|| {
        KmsError::Validation(
            "Invalid attestation document: it does not contain a public key".into(),
        )
    })?;
    let key =
        RecipientKey::from_spki(&public_key).map_err(|e| KmsError::Validation(e.to_string()))?;
    Ok(Some(Recipient {
        key,
        pcrs: verified.doc.pcrs,
    }))
}

/// The policy context of a keyed call: caller, encryption context, attestation.
fn request_context(
    op: Operation,
    caller: &Credential,
    key: &Key,
    context: &EncryptionContext,
    recipient: Option<&Recipient>,
) -> RequestContext {
    let mut ctx = RequestContext::new(op.action(), &caller.principal_arn, &key.arn);
    for (k, v) in context {
        ctx.set(&format!("kms:EncryptionContext:{k}"), vec![v.clone()]);
    }
    ctx.set(
        "kms:EncryptionContextKeys",
        context.keys().cloned().collect(),
    );
    if let Some(recipient) = recipient {
        for (index, value) in &recipient.pcrs {
            ctx.set(
                &format!("kms:RecipientAttestation:PCR{index}"),
                vec![hex::encode(value)],
            );
        }
        if let Some(pcr0) = recipient.pcrs.get(&0) {
            ctx.set(
                "kms:RecipientAttestation:ImageSha384",
                vec![hex::encode(pcr0)],
            );
        }
    }
    if op == Operation::Decrypt {
        ctx.set("kms:EncryptionAlgorithm", vec!["SYMMETRIC_DEFAULT".into()]);
    }
    ctx
}

fn authorize(key: &Key, ctx: &RequestContext) -> Result<(), KmsError> {
    let denied = |why: &str| {
        KmsError::AccessDenied(format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            ctx.principal_arn, ctx.action, key.arn
        ))
    };
    match key.policy.evaluate(ctx) {
        Decision::Allow => Ok(()),
        Decision::ImplicitDeny => Err(denied(&format!(
            "because no resource-based policy allows the {} action",
            ctx.action
        ))),
        Decision::ExplicitDeny(_) => {
            Err(denied("with an explicit deny in a resource-based policy"))
        }
    }
}

fn usable(key: &Key, dry_run: Option<bool>) -> Result<(), KmsError> {
    if !key.enabled {
        return Err(KmsError::Disabled(format!("{} is disabled.", key.arn)));
    }
    if dry_run == Some(true) {
        return Err(KmsError::DryRunOperation(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

/// What a Recipient response carries, tampered with if a fault says so.
struct ForRecipient {
    ciphertext_for_recipient: String,
    plaintext: Option<String>,
    key_id: String,
}

fn for_recipient(
    fake: &Fake,
    recipient: &Recipient,
    key_arn: &str,
    data: &[u8],
    call: &mut CallRecord,
) -> Result<ForRecipient, KmsError> {
    let tamper = fake.take_tamper();
    if let Some(t) = tamper {
        call.fault = Some(t.name());
    }
    let content = match tamper {
        Some(Tamper::ShortKey) => &data[..data.len().min(16)],
        _ => data,
    };
    let corruption = Corruption {
        wrong_rid: tamper == Some(Tamper::WrongRid),
        flip_content_byte: tamper == Some(Tamper::TamperCms),
    };
    let envelope = cms::seal(&recipient.key, content, fake.cms_content, corruption)
        .map_err(|e| KmsError::Internal(e.to_string()))?;
    let key_id = if tamper == Some(Tamper::OtherKeyId) {
        let mut other = [0u8; 16];
        OsRng.fill_bytes(&mut other);
        lock(&fake.store).key_arn(&hex::encode(other))
    } else {
        key_arn.to_owned()
    };
    Ok(ForRecipient {
        ciphertext_for_recipient: BASE64.encode(envelope),
        plaintext: (tamper == Some(Tamper::PlaintextToo)).then(|| BASE64.encode(data)),
        key_id,
    })
}

// ---- operations ----

fn generate_data_key(
    fake: &Fake,
    caller: &Credential,
    body: &[u8],
    call: &mut CallRecord,
) -> Result<Vec<u8>, KmsError> {
    let input: GenerateDataKeyInput = parse(body)?;
    call.recipient = input.recipient.is_some();
    call.encryption_context = input.encryption_context.clone().unwrap_or_default();
    call.key_id.clone_from(&input.key_id);
    let key_id = key_id_member(input.key_id)?;
    let len = match (input.key_spec.as_deref(), input.number_of_bytes) {
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (Some(other), None) => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
            )))
        }
        (None, Some(n)) => number_of_bytes(n)?,
        _ => {
            return Err(KmsError::Validation(
                "Please specify either number of bytes or key spec.".into(),
            ))
        }
    };
    let context = input.encryption_context.unwrap_or_default();
    let recipient = verify_recipient(fake, input.recipient)?;

    let (key_arn, blob, material_id, data_key) = {
        let store = lock(&fake.store);
        let key = store.resolve(&key_id).map_err(KmsError::NotFound)?;
        call.key_id = Some(key.arn.clone());
        authorize(
            key,
            &request_context(
                Operation::GenerateDataKey,
                caller,
                key,
                &context,
                recipient.as_ref(),
            ),
        )?;
        usable(key, input.dry_run)?;
        let mut data_key = Zeroizing::new(vec![0u8; len]);
        OsRng.fill_bytes(&mut data_key);
        let blob = key
            .encrypt_blob(&data_key, &context)
            .ok_or_else(|| KmsError::Internal("sealing the data key failed".into()))?;
        (key.arn.clone(), blob, key.material_id.clone(), data_key)
    };
    let output = match &recipient {
        None => DataKeyOutput {
            key_id: key_arn,
            ciphertext_blob: BASE64.encode(&blob),
            plaintext: Some(BASE64.encode(data_key.as_slice())),
            ciphertext_for_recipient: None,
            key_material_id: Some(material_id),
        },
        Some(recipient) => {
            let r = for_recipient(fake, recipient, &key_arn, &data_key, call)?;
            DataKeyOutput {
                key_id: r.key_id,
                ciphertext_blob: BASE64.encode(&blob),
                plaintext: r.plaintext,
                ciphertext_for_recipient: Some(r.ciphertext_for_recipient),
                key_material_id: None,
            }
        }
    };
    to_json(&output)
}

fn decrypt(
    fake: &Fake,
    caller: &Credential,
    body: &[u8],
    call: &mut CallRecord,
) -> Result<Vec<u8>, KmsError> {
    let input: DecryptInput = parse(body)?;
    call.recipient = input.recipient.is_some();
    call.encryption_context = input.encryption_context.clone().unwrap_or_default();
    call.key_id.clone_from(&input.key_id);
    let blob = required(input.ciphertext_blob, "ciphertextBlob")?;
    let blob = decode_blob(&blob, "CiphertextBlob")?;
    if blob.is_empty() || blob.len() > MAX_BLOB {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length between 1 and {MAX_BLOB}"
        )));
    }
    match input.encryption_algorithm.as_deref() {
        None | Some("SYMMETRIC_DEFAULT") => {}
        Some(alg @ ("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" | "SM2PKE")) => {
            return Err(KmsError::InvalidKeyUsage(format!(
                "The encryption algorithm {alg} is not compatible with the key spec of this KMS key (SYMMETRIC_DEFAULT)."
            )))
        }
        Some(other) => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"
            )))
        }
    }
    let context = input.encryption_context.unwrap_or_default();
    let recipient = verify_recipient(fake, input.recipient)?;
    let invalid = || {
        KmsError::InvalidCiphertext(
            "The ciphertext is invalid, or was not encrypted under this KMS key and encryption context.".into(),
        )
    };

    let (key_arn, material_id, plaintext) = {
        let store = lock(&fake.store);
        let parsed = parse_blob(&blob).ok_or_else(invalid)?;
        let key = store.get(parsed.key_id).ok_or_else(invalid)?;
        call.key_id = Some(key.arn.clone());
        if let Some(named) = input.key_id {
            let named = store.resolve(&named).map_err(KmsError::NotFound)?;
            if named.id != key.id {
                return Err(KmsError::IncorrectKey(
                    "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                ));
            }
        }
        authorize(
            key,
            &request_context(
                Operation::Decrypt,
                caller,
                key,
                &context,
                recipient.as_ref(),
            ),
        )?;
        usable(key, input.dry_run)?;
        let plaintext = key.decrypt_blob(&parsed, &context).ok_or_else(invalid)?;
        (key.arn.clone(), key.material_id.clone(), plaintext)
    };
    let output = match &recipient {
        None => DecryptOutput {
            key_id: key_arn,
            encryption_algorithm: "SYMMETRIC_DEFAULT",
            plaintext: Some(BASE64.encode(plaintext.as_slice())),
            ciphertext_for_recipient: None,
            key_material_id: Some(material_id),
        },
        Some(recipient) => {
            let r = for_recipient(fake, recipient, &key_arn, &plaintext, call)?;
            DecryptOutput {
                key_id: r.key_id,
                encryption_algorithm: "SYMMETRIC_DEFAULT",
                plaintext: r.plaintext,
                ciphertext_for_recipient: Some(r.ciphertext_for_recipient),
                key_material_id: None,
            }
        }
    };
    to_json(&output)
}

fn generate_random(fake: &Fake, body: &[u8], call: &mut CallRecord) -> Result<Vec<u8>, KmsError> {
    let input: GenerateRandomInput = parse(body)?;
    call.recipient = input.recipient.is_some();
    let len = number_of_bytes(required(input.number_of_bytes, "numberOfBytes")?)?;
    if let Some(store_id) = input.custom_key_store_id {
        return Err(KmsError::CustomKeyStoreNotFound(format!(
            "Custom key store '{store_id}' does not exist"
        )));
    }
    let recipient = verify_recipient(fake, input.recipient)?;
    let mut random = Zeroizing::new(vec![0u8; len]);
    OsRng.fill_bytes(&mut random);
    let output = match recipient {
        None => RandomOutput {
            plaintext: Some(BASE64.encode(random.as_slice())),
            ciphertext_for_recipient: None,
        },
        Some(recipient) => RandomOutput {
            plaintext: None,
            ciphertext_for_recipient: Some(
                BASE64.encode(
                    cms::seal(
                        &recipient.key,
                        &random,
                        fake.cms_content,
                        Corruption::default(),
                    )
                    .map_err(|e| KmsError::Internal(e.to_string()))?,
                ),
            ),
        },
    };
    to_json(&output)
}

fn set_enabled(
    fake: &Fake,
    caller: &Credential,
    op: Operation,
    body: &[u8],
    call: &mut CallRecord,
) -> Result<Vec<u8>, KmsError> {
    let input: KeyIdInput = parse(body)?;
    call.key_id.clone_from(&input.key_id);
    let key_id = key_id_member(input.key_id)?;
    let mut store = lock(&fake.store);
    let id = {
        let key = store.resolve(&key_id).map_err(KmsError::NotFound)?;
        call.key_id = Some(key.arn.clone());
        authorize(
            key,
            &request_context(op, caller, key, &EncryptionContext::new(), None),
        )?;
        key.id.clone()
    };
    if let Some(key) = store.get_mut(&id) {
        key.enabled = op == Operation::EnableKey;
    }
    Ok(b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_kms_types_and_statuses() {
        let cases = [
            (
                KmsError::AccessDenied(String::new()),
                "AccessDeniedException",
                400,
            ),
            (KmsError::Disabled(String::new()), "DisabledException", 400),
            (
                KmsError::Internal(String::new()),
                "KMSInternalException",
                500,
            ),
            (
                KmsError::Throttling(String::new()),
                "ThrottlingException",
                400,
            ),
            (
                KmsError::DryRunOperation(String::new()),
                "DryRunOperationException",
                412,
            ),
            (
                KmsError::Auth(AuthError::ExpiredToken),
                "ExpiredTokenException",
                400,
            ),
            (
                KmsError::Auth(AuthError::UnrecognizedClient),
                "UnrecognizedClientException",
                400,
            ),
        ];
        for (error, name, status) in cases {
            assert_eq!(error.type_name(), name);
            assert_eq!(error.status().as_u16(), status, "{name}");
            let body: serde_json::Value = serde_json::from_slice(&error_body(&error)).unwrap();
            assert_eq!(body["__type"], name);
            assert!(body["message"].is_string());
        }
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, request_id());
    }

    #[test]
    fn number_of_bytes_bounds() {
        assert_eq!(number_of_bytes(1).unwrap(), 1);
        assert_eq!(number_of_bytes(1024).unwrap(), 1024);
        assert!(matches!(number_of_bytes(0), Err(KmsError::Validation(_))));
        assert!(matches!(
            number_of_bytes(1025),
            Err(KmsError::Validation(_))
        ));
    }
}
