//! The signer's KMS client: `GenerateDataKey` and `Decrypt` with a
//! `Recipient`, awsJson1.1 over TLS that the signer terminates itself (the
//! host only relays bytes), SigV4-signed with credentials the host hands over.
//!
//! Every answer is checked before use: an error body is mapped to a clear
//! refusal; a success must name the pinned key, carry `CiphertextForRecipient`
//! and must NOT carry `Plaintext` (KMS never sends the plaintext when a
//! recipient is given; one that does is not talking to an attested enclave).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use serde::{Deserialize, Serialize};
use signet_proto::message::AwsCredentials;
use signet_proto::ErrorCode;

use crate::error::SignerError;

/// Largest KMS response body read.
const MAX_RESPONSE: usize = 256 * 1024;
/// Attempts per call (throttling, 5xx and network failures are retried).
const ATTEMPTS: u32 = 5;
/// Time allowed for one attempt (connect, TLS, request, response).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the signer's KMS connections go: the host's relay (vsock-proxy in
/// Nitro, a TCP relay in dev and tests). The TLS session inside is the
/// signer's own, with KMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmsProxy {
    /// `vsock://CID:PORT`.
    Vsock {
        /// Context id (3: the parent instance).
        cid: u32,
        /// Port.
        port: u32,
    },
    /// `tcp://HOST:PORT`.
    Tcp(String),
}

impl std::str::FromStr for KmsProxy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("vsock://") {
            let (cid, port) = rest.split_once(':').ok_or("vsock://CID:PORT expected")?;
            return Ok(Self::Vsock {
                cid: cid.parse().map_err(|_| format!("bad vsock CID {cid:?}"))?,
                port: port
                    .parse()
                    .map_err(|_| format!("bad vsock port {port:?}"))?,
            });
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            if rest
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                return Ok(Self::Tcp(rest.to_owned()));
            }
            return Err("tcp://HOST:PORT expected".into());
        }
        Err(format!(
            "{s:?}: expected vsock://CID:PORT or tcp://HOST:PORT"
        ))
    }
}

impl std::fmt::Display for KmsProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Vsock { cid, port } => write!(f, "vsock://{cid}:{port}"),
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A KMS call's failure.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// Retry may help (throttling, 5xx, network).
    #[error("{0}")]
    Transient(String),
    /// The credentials expired: the host must hand fresh ones.
    #[error("{0}")]
    Expired(String),
    /// KMS refused, or its answer failed our checks.
    #[error("{0}")]
    Refused(String),
}

impl From<KmsError> for SignerError {
    fn from(e: KmsError) -> Self {
        match e {
            KmsError::Transient(m) => SignerError::new(ErrorCode::KmsUnavailable, m),
            KmsError::Expired(m) => SignerError::new(ErrorCode::CredentialsExpired, m),
            KmsError::Refused(m) => SignerError::new(ErrorCode::KmsRefused, m),
        }
    }
}

/// What a successful recipient call returned.
#[derive(Debug)]
pub struct RecipientAnswer {
    /// `CiphertextForRecipient`: CMS for the signer's RSA key.
    pub ciphertext_for_recipient: Vec<u8>,
    /// `CiphertextBlob` (GenerateDataKey only), for the host to store.
    pub ciphertext_blob: Option<Vec<u8>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Recipient<'a> {
    attestation_document: String,
    key_encryption_algorithm: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyRequest<'a> {
    key_id: &'a str,
    key_spec: &'a str,
    encryption_context: &'a BTreeMap<String, String>,
    recipient: Recipient<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptRequest<'a> {
    key_id: &'a str,
    ciphertext_blob: String,
    encryption_context: &'a BTreeMap<String, String>,
    encryption_algorithm: &'a str,
    recipient: Recipient<'a>,
}

/// The fields of a KMS answer the signer looks at (unknown ones ignored, as
/// AWS SDKs do).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    key_id: Option<String>,
    ciphertext_blob: Option<String>,
    ciphertext_for_recipient: Option<String>,
    plaintext: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct AwsError {
    #[serde(rename = "__type")]
    kind: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// The signer's KMS client, with its pinned configuration.
pub struct KmsClient {
    key_id: String,
    region: String,
    proxy: KmsProxy,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for KmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsClient")
            .field("key_id", &self.key_id)
            .field("region", &self.region)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl KmsClient {
    /// A client for `key_id` in `region` through `proxy`, trusting the
    /// webpki roots and, for tests, the certificates in `extra_ca` (PEM).
    pub fn new(
        key_id: &str,
        region: &str,
        proxy: KmsProxy,
        extra_ca: Option<&Path>,
    ) -> Result<Self, String> {
        if !key_id.starts_with("arn:") || !key_id.contains(":key/") {
            return Err(format!(
                "--kms-key-id must be a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got {key_id:?}"
            ));
        }
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("--kms-region {region:?} is not a region name"));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let pem =
                std::fs::read(path).map_err(|e| format!("--kms-ca {}: {e}", path.display()))?;
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| format!("--kms-ca {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--kms-ca {}: {e}", path.display()))?;
                added += 1;
            }
            if added == 0 {
                return Err(format!("--kms-ca {}: no certificate", path.display()));
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            key_id: key_id.to_owned(),
            region: region.to_owned(),
            proxy,
            tls: Arc::new(tls),
        })
    }

    /// The pinned key ARN.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// KMS's host name, the TLS server name and the signed `Host`.
    #[must_use]
    pub fn host(&self) -> String {
        format!("kms.{}.amazonaws.com", self.region)
    }

    /// `GenerateDataKey` (`AES_256`) for the recipient in `document`.
    pub async fn generate_data_key(
        &self,
        credentials: &AwsCredentials,
        context: &BTreeMap<String, String>,
        document: &[u8],
    ) -> Result<RecipientAnswer, KmsError> {
        let body = serde_json::to_vec(&GenerateDataKeyRequest {
            key_id: &self.key_id,
            key_spec: "AES_256",
            encryption_context: context,
            recipient: recipient(document),
        })
        .map_err(|e| KmsError::Refused(format!("request: {e}")))?;
        let answer = self.call("GenerateDataKey", credentials, body).await?;
        let blob = answer
            .ciphertext_blob
            .as_deref()
            .ok_or_else(|| KmsError::Refused("GenerateDataKey: no CiphertextBlob".into()))
            .and_then(|b| b64("CiphertextBlob", b))?;
        if blob.is_empty() || blob.len() > 6144 {
            return Err(KmsError::Refused(format!(
                "GenerateDataKey: CiphertextBlob of {} bytes",
                blob.len()
            )));
        }
        Ok(RecipientAnswer {
            ciphertext_for_recipient: self.check(&answer, "GenerateDataKey")?,
            ciphertext_blob: Some(blob),
        })
    }

    /// `Decrypt` of a stored `CiphertextBlob` for the recipient in `document`.
    pub async fn decrypt(
        &self,
        credentials: &AwsCredentials,
        context: &BTreeMap<String, String>,
        ciphertext_blob: &[u8],
        document: &[u8],
    ) -> Result<RecipientAnswer, KmsError> {
        let body = serde_json::to_vec(&DecryptRequest {
            key_id: &self.key_id,
            ciphertext_blob: base64::engine::general_purpose::STANDARD.encode(ciphertext_blob),
            encryption_context: context,
            encryption_algorithm: "SYMMETRIC_DEFAULT",
            recipient: recipient(document),
        })
        .map_err(|e| KmsError::Refused(format!("request: {e}")))?;
        let answer = self.call("Decrypt", credentials, body).await?;
        Ok(RecipientAnswer {
            ciphertext_for_recipient: self.check(&answer, "Decrypt")?,
            ciphertext_blob: None,
        })
    }

    /// The checks every recipient answer passes: the pinned key, no
    /// plaintext, a `CiphertextForRecipient`.
    fn check(&self, answer: &Answer, op: &str) -> Result<Vec<u8>, KmsError> {
        if answer.plaintext.as_ref().is_some_and(|p| !p.is_null()) {
            return Err(KmsError::Refused(format!(
                "{op}: the answer carries Plaintext; KMS never sends it with a Recipient: refused"
            )));
        }
        match answer.key_id.as_deref() {
            Some(id) if id == self.key_id => {}
            Some(id) => {
                return Err(KmsError::Refused(format!(
                    "{op}: the answer names key {id}, not the pinned {}",
                    self.key_id
                )))
            }
            None => {
                return Err(KmsError::Refused(format!(
                    "{op}: the answer names no KeyId"
                )))
            }
        }
        let cms = answer
            .ciphertext_for_recipient
            .as_deref()
            .ok_or_else(|| KmsError::Refused(format!("{op}: no CiphertextForRecipient")))?;
        b64("CiphertextForRecipient", cms)
    }

    /// One operation, retried with backoff and jitter on throttling, 5xx
    /// and network failures.
    async fn call(
        &self,
        op: &str,
        credentials: &AwsCredentials,
        body: Vec<u8>,
    ) -> Result<Answer, KmsError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let delay = backoff(attempt);
                tracing::warn!(op, attempt, delay_ms = delay.as_millis() as u64, reason = %last, "KMS call failed; retrying");
                tokio::time::sleep(delay).await;
            }
            let result =
                tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(op, credentials, &body)).await;
            match result {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(KmsError::Transient(m))) => last = m,
                Ok(Err(other)) => return Err(other),
                Err(_) => last = format!("{op}: no answer within {ATTEMPT_TIMEOUT:?}"),
            }
        }
        Err(KmsError::Transient(format!(
            "{op}: KMS kept failing after {ATTEMPTS} attempts: {last}"
        )))
    }

    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        match &self.proxy {
            KmsProxy::Tcp(addr) => Ok(Box::new(tokio::net::TcpStream::connect(addr).await?)),
            KmsProxy::Vsock { cid, port } => Ok(Box::new(
                tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(*cid, *port)).await?,
            )),
        }
    }

    async fn attempt(
        &self,
        op: &str,
        credentials: &AwsCredentials,
        body: &[u8],
    ) -> Result<Answer, KmsError> {
        let net = |e: &dyn std::fmt::Display| KmsError::Transient(format!("{op}: {e}"));
        let host = self.host();
        let stream = self.connect().await.map_err(|e| {
            KmsError::Transient(format!(
                "{op}: cannot reach the KMS proxy {}: {e}",
                self.proxy
            ))
        })?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| KmsError::Refused(format!("server name {host}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, stream)
            .await
            .map_err(|e| {
                // A certificate KMS's name does not match is not transient.
                if e.kind() == std::io::ErrorKind::InvalidData {
                    KmsError::Refused(format!("{op}: TLS with {host}: {e}"))
                } else {
                    net(&e)
                }
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| net(&e))?;
        let driver = tokio::spawn(conn);
        let request = self.signed_request(op, credentials, body, &host)?;
        let response = sender.send_request(request).await.map_err(|e| net(&e));
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                driver.abort();
                return Err(e);
            }
        };
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| net(&e))?
            .to_bytes();
        driver.abort();
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| KmsError::Refused(format!("{op}: the answer is not KMS JSON: {e}")));
        }
        Err(classify(op, status.as_u16(), &bytes))
    }

    fn signed_request(
        &self,
        op: &str,
        credentials: &AwsCredentials,
        body: &[u8],
        host: &str,
    ) -> Result<http::Request<Full<Bytes>>, KmsError> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let target = format!("TrentService.{op}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("host", host),
            ("x-amz-target", target.as_str()),
        ];
        let identity = aws_credential_types::Credentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.clone(),
            credentials.session_token.clone(),
            None,
            "signet-host",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| KmsError::Refused(format!("SigV4: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            "/",
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| KmsError::Refused(format!("SigV4: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| KmsError::Refused(format!("SigV4: {e}")))?
            .into_parts();
        let mut request = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("host", host)
            .header("x-amz-target", target)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| KmsError::Refused(format!("request: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

fn recipient(document: &[u8]) -> Recipient<'static> {
    Recipient {
        attestation_document: base64::engine::general_purpose::STANDARD.encode(document),
        key_encryption_algorithm: "RSAES_OAEP_SHA_256",
    }
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, KmsError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| KmsError::Refused(format!("{field} is not base64")))
}

/// Maps a KMS error answer (`{"__type": …, "message": …}`) to what to do.
fn classify(op: &str, status: u16, body: &[u8]) -> KmsError {
    let parsed: Option<AwsError> = serde_json::from_slice(body).ok();
    let kind = parsed
        .as_ref()
        .and_then(|e| e.kind.as_deref())
        .map(|k| k.rsplit('#').next().unwrap_or(k).to_owned())
        .unwrap_or_default();
    let message = parsed.and_then(|e| e.message).unwrap_or_default();
    let text = format!("{op}: KMS answered {status} {kind}: {message}");
    match kind.as_str() {
        "ThrottlingException"
        | "KMSInternalException"
        | "DependencyTimeoutException"
        | "LimitExceededException"
        | "ServiceUnavailableException" => KmsError::Transient(text),
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => KmsError::Expired(text),
        _ if status >= 500 || status == 429 => KmsError::Transient(text),
        _ => KmsError::Refused(text),
    }
}

/// Exponential backoff with full jitter: up to 100 ms · 2^attempt, capped.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
    let mut r = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
    Duration::from_millis(cap_ms / 2 + u64::from_le_bytes(r) % (cap_ms / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_and_print() {
        assert_eq!(
            "vsock://3:8000".parse::<KmsProxy>().unwrap(),
            KmsProxy::Vsock { cid: 3, port: 8000 }
        );
        assert_eq!(
            "tcp://127.0.0.1:4443"
                .parse::<KmsProxy>()
                .unwrap()
                .to_string(),
            "tcp://127.0.0.1:4443"
        );
        for bad in [
            "vsock://3",
            "tcp://:1",
            "tcp://h:x",
            "http://h:1",
            "vsock://a:1",
        ] {
            assert!(bad.parse::<KmsProxy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_key_must_be_an_arn_and_the_region_a_name() {
        let proxy = KmsProxy::Tcp("127.0.0.1:1".into());
        assert!(KmsClient::new("alias/x", "us-east-1", proxy.clone(), None).is_err());
        assert!(KmsClient::new(
            "arn:aws:kms:us-east-1:1:key/k",
            "us east",
            proxy.clone(),
            None
        )
        .is_err());
        let c = KmsClient::new("arn:aws:kms:us-east-1:1:key/k", "us-east-1", proxy, None).unwrap();
        assert_eq!(c.host(), "kms.us-east-1.amazonaws.com");
    }

    fn client() -> KmsClient {
        KmsClient::new(
            "arn:aws:kms:us-east-1:111122223333:key/k1",
            "us-east-1",
            KmsProxy::Tcp("127.0.0.1:1".into()),
            None,
        )
        .unwrap()
    }

    fn answer(json: &str) -> Answer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_answer_with_plaintext_is_refused() {
        let a = answer(
            r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k1","CiphertextForRecipient":"AAAA","Plaintext":"AAAA"}"#,
        );
        let e = client().check(&a, "Decrypt").unwrap_err();
        assert!(
            matches!(e, KmsError::Refused(ref m) if m.contains("Plaintext")),
            "{e}"
        );
    }

    #[test]
    fn an_answer_for_another_key_is_refused() {
        let a = answer(
            r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k2","CiphertextForRecipient":"AAAA"}"#,
        );
        let e = client().check(&a, "Decrypt").unwrap_err();
        assert!(
            matches!(e, KmsError::Refused(ref m) if m.contains("not the pinned")),
            "{e}"
        );
        let none = answer(r#"{"CiphertextForRecipient":"AAAA"}"#);
        assert!(client().check(&none, "Decrypt").is_err());
    }

    #[test]
    fn an_answer_without_recipient_ciphertext_is_refused() {
        let a = answer(r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k1"}"#);
        assert!(client().check(&a, "Decrypt").is_err());
        let ok = answer(
            r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k1","CiphertextForRecipient":"AAEC","Plaintext":null}"#,
        );
        assert_eq!(client().check(&ok, "Decrypt").unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn errors_are_classified() {
        let t = |status, body: &str| classify("Decrypt", status, body.as_bytes());
        assert!(matches!(
            t(
                400,
                r#"{"__type":"ThrottlingException","message":"slow down"}"#
            ),
            KmsError::Transient(_)
        ));
        assert!(matches!(
            t(500, r#"{"__type":"KMSInternalException"}"#),
            KmsError::Transient(_)
        ));
        assert!(matches!(t(503, "not json"), KmsError::Transient(_)));
        assert!(matches!(
            t(400, r#"{"__type":"ExpiredTokenException","message":"x"}"#),
            KmsError::Expired(_)
        ));
        let denied = t(
            400,
            r#"{"__type":"com.amazonaws.kms#AccessDeniedException","Message":"no"}"#,
        );
        assert!(
            matches!(denied, KmsError::Refused(ref m) if m.contains("AccessDeniedException") && m.contains("no")),
            "{denied}"
        );
        assert!(matches!(
            t(400, r#"{"__type":"InvalidCiphertextException"}"#),
            KmsError::Refused(_)
        ));
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 1..10 {
            let d = backoff(attempt);
            assert!(d <= Duration::from_secs(5), "{d:?}");
            assert!(d >= Duration::from_millis(50), "{d:?}");
        }
    }
}
