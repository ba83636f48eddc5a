//! Shared harness for the KMS fake's integration tests: start the real
//! binary, call it over TLS with SigV4-signed requests, drive its control
//! API, and open `CiphertextForRecipient` envelopes with a small, separate
//! BER reader (not the fake's encoder).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use signet_attestation::dev::{DevDocument, DevIssuer};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";
pub const HOST: &str = "kms.us-east-1.amazonaws.com";
pub const INSTANCE_ARN: &str =
    "arn:aws:sts::111122223333:assumed-role/signet-instance/i-0123456789abcdef0";
pub const ADMIN_ARN: &str = "arn:aws:iam::111122223333:role/admin";
pub const DEV_ARN: &str = "arn:aws:iam::111122223333:user/dev";

/// A caller's credentials.
#[derive(Clone, Debug)]
pub struct Caller {
    pub akid: &'static str,
    pub secret: &'static str,
    pub token: Option<&'static str>,
    pub arn: &'static str,
}

/// The enclave's instance-role session (temporary credentials).
pub const INSTANCE: Caller = Caller {
    akid: "ASIAINSTANCE",
    secret: "instance-secret",
    token: Some("instance-session-token"),
    arn: INSTANCE_ARN,
};
/// The key administrator.
pub const ADMIN: Caller = Caller {
    akid: "AKIAADMIN",
    secret: "admin-secret",
    token: None,
    arn: ADMIN_ARN,
};
/// A developer of the account (long-term user credentials).
pub const DEV: Caller = Caller {
    akid: "AKIADEV",
    secret: "dev-secret",
    token: None,
    arn: DEV_ARN,
};

impl Caller {
    fn spec(&self) -> String {
        match self.token {
            Some(t) => format!("{}:{}:{}:{t}", self.akid, self.secret, self.arn),
            None => format!("{}:{}:{}", self.akid, self.secret, self.arn),
        }
    }

    /// The same caller with another secret (its signatures no longer verify).
    pub fn with_secret(&self, secret: &'static str) -> Self {
        Self {
            secret,
            ..self.clone()
        }
    }
}

/// A test's directory, its dev attestation CA and its enclave RSA key.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub issuer: DevIssuer,
    pub enclave: Enclave,
}

/// The PCRs the test enclave reports.
pub fn pcrs() -> BTreeMap<u8, Vec<u8>> {
    signet_attestation::dev::dev_pcrs(b"signet-kms-fake test enclave")
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let issuer = DevIssuer::load_or_create(&dir.path().join("attestation")).unwrap();
        Self {
            dir,
            issuer,
            enclave: Enclave::new(),
        }
    }

    pub fn kms_dir(&self) -> PathBuf {
        self.dir.path().join("kms")
    }

    pub fn attestation_root(&self) -> PathBuf {
        self.dir
            .path()
            .join("attestation")
            .join(signet_attestation::dev::ROOT_CERT_FILE)
    }

    /// Writes the Terraform sealing policy for `pcrs` (PCR0 in upper case, as
    /// a hand-written variable might be) and returns its path.
    pub fn terraform_policy(&self, pcrs: &BTreeMap<u8, Vec<u8>>) -> PathBuf {
        let text = include_str!("../data/terraform_sealing_policy.json")
            .replace("<PCR0 hex>", &hex::encode_upper(&pcrs[&0]))
            .replace("<PCR1 hex>", &hex::encode(&pcrs[&1]))
            .replace("<PCR2 hex>", &hex::encode(&pcrs[&2]));
        let path = self.dir.path().join("terraform_sealing_policy.json");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An attestation document for the test enclave with `pcrs`.
    pub fn document(&self, pcrs: BTreeMap<u8, Vec<u8>>) -> Vec<u8> {
        self.issuer
            .issue(&DevDocument {
                module_id: "dev-kms-fake-test".into(),
                pcrs,
                public_key: Some(self.enclave.spki.clone()),
                ..DevDocument::default()
            })
            .unwrap()
    }

    /// `Recipient` with a fresh document for the expected PCRs.
    pub fn recipient(&self) -> Value {
        recipient(&self.document(pcrs()))
    }

    /// Starts the fake with the standard callers plus `args`.
    pub fn start(&self, args: &[&str]) -> FakeKms {
        FakeKms::start(self, args)
    }
}

pub fn recipient(document: &[u8]) -> Value {
    serde_json::json!({
        "AttestationDocument": BASE64.encode(document),
        "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"
    })
}

/// The enclave's RSA-2048 key pair.
pub struct Enclave {
    pub private: PrivateDecryptingKey,
    pub spki: Vec<u8>,
}

impl Enclave {
    pub fn new() -> Self {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let spki = private.public_key().as_der().unwrap().as_ref().to_vec();
        // It is a DER SubjectPublicKeyInfo with rsaEncryption, what the NSM binds.
        let parsed =
            <x509_cert::spki::SubjectPublicKeyInfoRef<'_> as der::Decode<'_>>::from_der(&spki)
                .unwrap();
        assert_eq!(parsed.algorithm.oid.to_string(), "1.2.840.113549.1.1.1");
        Self { private, spki }
    }

    pub fn rid(&self) -> Vec<u8> {
        Sha256::digest(&self.spki).to_vec()
    }

    /// Decrypts an envelope addressed to this enclave.
    pub fn open(&self, envelope: &Envelope) -> Result<Vec<u8>, String> {
        let oaep = OaepPrivateDecryptingKey::new(self.private.clone()).unwrap();
        let mut cek = vec![0u8; oaep.min_output_size()];
        let cek = oaep
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &envelope.encrypted_key,
                &mut cek,
                None,
            )
            .map_err(|_| "RSA-OAEP decryption failed".to_owned())?;
        if cek.len() != 32 {
            return Err(format!("content-encryption key of {} bytes", cek.len()));
        }
        let aes =
            PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, cek).unwrap())
                .unwrap();
        let mut content = envelope.content.clone();
        let iv: [u8; 16] = envelope.iv.as_slice().try_into().map_err(|_| "IV length")?;
        let plain = aes
            .decrypt(
                &mut content,
                DecryptionContext::Iv128(FixedLength::from(iv)),
            )
            .map_err(|_| "AES-CBC decryption or padding failed".to_owned())?;
        Ok(plain.to_vec())
    }
}

// ---- a minimal BER reader, independent of the fake's encoder ----

/// One BER element: tag, the raw TLV bytes, primitive content or children.
#[derive(Clone, Debug)]
pub struct Ber {
    pub tag: u8,
    pub raw: Vec<u8>,
    pub content: Vec<u8>,
    pub children: Vec<Ber>,
    pub indefinite: bool,
}

fn ber_one(input: &[u8]) -> Result<(Ber, &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated tag")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte tag".into());
    }
    let constructed = tag & 0x20 != 0;
    let (&first, mut rest) = rest.split_first().ok_or("truncated length")?;
    if first == 0x80 {
        if !constructed {
            return Err("indefinite primitive".into());
        }
        let mut children = Vec::new();
        loop {
            if rest.starts_with(&[0, 0]) {
                rest = &rest[2..];
                break;
            }
            let (child, after) = ber_one(rest)?;
            children.push(child);
            rest = after;
        }
        let used = input.len() - rest.len();
        return Ok((
            Ber {
                tag,
                raw: input[..used].to_vec(),
                content: Vec::new(),
                children,
                indefinite: true,
            },
            rest,
        ));
    }
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad long length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err("truncated content".into());
    }
    let (content, after) = rest.split_at(len);
    let mut children = Vec::new();
    if constructed {
        let mut inner = content;
        while !inner.is_empty() {
            let (child, next) = ber_one(inner)?;
            children.push(child);
            inner = next;
        }
    }
    let used = input.len() - after.len();
    Ok((
        Ber {
            tag,
            raw: input[..used].to_vec(),
            content: if constructed {
                Vec::new()
            } else {
                content.to_vec()
            },
            children,
            indefinite: false,
        },
        after,
    ))
}

/// The fields of a KMS envelope.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub rid: Vec<u8>,
    pub key_encryption_algorithm: Vec<u8>,
    pub encrypted_key: Vec<u8>,
    pub iv: Vec<u8>,
    pub content: Vec<u8>,
    pub constructed_content: bool,
}

/// Reads a `CiphertextForRecipient` envelope, checking its fixed structure.
pub fn read_envelope(ber: &[u8]) -> Result<Envelope, String> {
    let (ci, rest) = ber_one(ber)?;
    if !rest.is_empty() {
        return Err("trailing bytes".into());
    }
    let oid = |b: &Ber| {
        if b.tag == 0x06 {
            Ok(hex::encode(&b.content))
        } else {
            Err(format!("expected OID, got tag {:#x}", b.tag))
        }
    };
    let child = |b: &Ber, i: usize, tag: u8| -> Result<Ber, String> {
        let c = b
            .children
            .get(i)
            .ok_or(format!("missing child {i} of {:#x}", b.tag))?;
        if c.tag != tag {
            return Err(format!(
                "child {i} of {:#x} has tag {:#x}, expected {tag:#x}",
                b.tag, c.tag
            ));
        }
        Ok(c.clone())
    };
    if ci.tag != 0x30 || oid(&child(&ci, 0, 0x06)?)? != "2a864886f70d010703" {
        return Err("not envelopedData".into());
    }
    let ed = child(&child(&ci, 1, 0xa0)?, 0, 0x30)?;
    if child(&ed, 0, 0x02)?.content != [2] {
        return Err("EnvelopedData version".into());
    }
    let ktri = child(&child(&ed, 1, 0x31)?, 0, 0x30)?;
    if child(&ktri, 0, 0x02)?.content != [2] {
        return Err("KeyTransRecipientInfo version".into());
    }
    let rid = child(&ktri, 1, 0x80)?.content;
    let alg = child(&ktri, 2, 0x30)?.raw;
    let encrypted_key = child(&ktri, 3, 0x04)?.content;
    let eci = child(&ed, 2, 0x30)?;
    if oid(&child(&eci, 0, 0x06)?)? != "2a864886f70d010701" {
        return Err("content type is not data".into());
    }
    let cipher = child(&eci, 1, 0x30)?;
    // 2.16.840.1.101.3.4.1.42
    if oid(&child(&cipher, 0, 0x06)?)? != "60864801650304012a" {
        return Err("content cipher is not aes256-CBC".into());
    }
    let iv = child(&cipher, 1, 0x04)?.content;
    let body = eci.children.get(2).ok_or("no content")?;
    let (content, constructed_content) = match body.tag {
        0xa0 => (
            body.children
                .iter()
                .map(|c| {
                    if c.tag == 0x04 {
                        Ok(c.content.clone())
                    } else {
                        Err("content chunk is not an OCTET STRING".to_owned())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?
                .concat(),
            true,
        ),
        0x80 => (body.content.clone(), false),
        other => return Err(format!("content tag {other:#x}")),
    };
    Ok(Envelope {
        rid,
        key_encryption_algorithm: alg,
        encrypted_key,
        iv,
        content,
        constructed_content,
    })
}

/// The key transport AlgorithmIdentifier of the real KMS capture.
pub fn captured_key_encryption_algorithm() -> Vec<u8> {
    let path = format!(
        "{}/../enclave/testdata/kms/aws_sdk_c_constructed_content.ber",
        env!("CARGO_MANIFEST_DIR")
    );
    read_envelope(&std::fs::read(path).unwrap())
        .unwrap()
        .key_encryption_algorithm
}

// ---- the process ----

/// A running `signet-kms-fake`. Killed and reaped when dropped.
pub struct FakeKms {
    child: Child,
    stdin: Option<ChildStdin>,
    pub https: SocketAddr,
    pub control: SocketAddr,
    pub dir: PathBuf,
    log: PathBuf,
    extra_stdout: Arc<std::sync::Mutex<Vec<String>>>,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);

impl FakeKms {
    fn start(env: &Env, args: &[&str]) -> Self {
        let dir = env.kms_dir();
        let log = env
            .dir
            .path()
            .join(format!("fake-{}.log", std::process::id()));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_signet-kms-fake"));
        command
            .arg("--dir")
            .arg(&dir)
            .args(["--region", REGION, "--account", ACCOUNT])
            .arg("--attestation-root")
            .arg(env.attestation_root());
        for caller in [INSTANCE, ADMIN, DEV] {
            command.arg("--credentials").arg(caller.spec());
        }
        let mut child = command
            .args(args)
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let extra_stdout = Arc::new(std::sync::Mutex::new(Vec::new()));
        let extra = Arc::clone(&extra_stdout);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            // Anything more on stdout would break the one-line contract.
            for line in lines.map_while(Result::ok) {
                extra.lock().unwrap().push(line);
            }
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(line)) => line,
            other => {
                let _ = child.kill();
                panic!(
                    "no ready line ({other:?}); log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let rest = line
            .strip_prefix("signet-kms-fake listening https=")
            .unwrap_or_else(|| panic!("ready line: {line}"));
        let (https, control) = rest.split_once(" control=").unwrap();
        Self {
            stdin: child.stdin.take(),
            child,
            https: https.parse().unwrap(),
            control: control.parse().unwrap(),
            dir,
            log,
            extra_stdout,
        }
    }

    /// Lines printed on stdout after the ready line (there must be none).
    pub fn extra_stdout(&self) -> Vec<String> {
        self.extra_stdout.lock().unwrap().clone()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Closes stdin and waits for the exit status.
    pub fn close_stdin_and_wait(mut self, within: Duration) -> std::process::ExitStatus {
        drop(self.stdin.take());
        wait_with_timeout(&mut self.child, within)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate_and_wait(mut self, within: Duration) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        wait_with_timeout(&mut self.child, within)
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let pem = std::fs::read(self.dir.join("ca.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Sends one HTTP/1.1 request over a new TLS connection (SNI `HOST`).
    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<Reply, String> {
        let tcp = tokio::net::TcpStream::connect(self.https)
            .await
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(self.client_config());
        let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send_over(TokioIo::new(tls), request).await
    }

    /// A signed KMS call by `caller`.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &Value,
    ) -> Result<Reply, String> {
        self.send(signed_request(
            caller,
            operation,
            serde_json::to_vec(body).unwrap(),
            SystemTime::now(),
        ))
        .await
    }

    /// A signed KMS call that must get an answer.
    pub async fn ok_call(&self, caller: &Caller, operation: &str, body: &Value) -> Reply {
        self.call(caller, operation, body)
            .await
            .unwrap_or_else(|e| panic!("{operation}: {e}\n{}", self.log()))
    }

    /// A control API request; returns (status, JSON body).
    pub async fn control(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let tcp = tokio::net::TcpStream::connect(self.control).await.unwrap();
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let reply = send_over(TokioIo::new(tcp), request).await.unwrap();
        (reply.status, reply.json())
    }

    pub async fn faults(&self, json: &str) {
        let (status, body) = self.control("POST", "/faults", json).await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn calls(&self) -> Vec<Value> {
        let (status, body) = self.control("GET", "/calls", "").await;
        assert_eq!(status, 200);
        body.as_array().unwrap().clone()
    }
}

impl Drop for FakeKms {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_timeout(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the fake did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `__type` of an error answer ("ok" for 200).
    pub fn error_type(&self) -> String {
        if self.status == 200 {
            return "ok".into();
        }
        self.json()["__type"].as_str().unwrap_or("?").to_owned()
    }

    pub fn b64(&self, field: &str) -> Vec<u8> {
        BASE64
            .decode(
                self.json()[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("no {field} in {}", self.json())),
            )
            .unwrap()
    }

    pub fn has(&self, field: &str) -> bool {
        self.json().get(field).is_some()
    }
}

async fn send_over<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<Reply, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A KMS request signed as an AWS SDK signs it, at `at`.
pub fn signed_request(
    caller: &Caller,
    operation: &str,
    body: Vec<u8>,
    at: SystemTime,
) -> http::Request<Full<Bytes>> {
    signed_request_for(caller, operation, body, at, REGION)
}

/// [`signed_request`] with the credential scoped to `region`.
pub fn signed_request_for(
    caller: &Caller,
    operation: &str,
    body: Vec<u8>,
    at: SystemTime,
    region: &str,
) -> http::Request<Full<Bytes>> {
    let target = format!("TrentService.{operation}");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("host", HOST),
        ("x-amz-target", target.as_str()),
    ];
    let identity: Identity = Credentials::new(
        caller.akid,
        caller.secret,
        caller.token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kms")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("https://{HOST}/"),
        headers.iter().copied(),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut builder = http::Request::builder().method("POST").uri("/");
    for (name, value) in headers.iter().copied().chain(instructions.headers()) {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
