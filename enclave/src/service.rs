//! The signer's request handling, independent of sockets: hello, keys,
//! tickets, signing, attestation.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use signet_attestation::{key_binding_v2, signature_binding};
use signet_authority::{
    loosens, verify_approvals, Approval, Denied, Facts, Kind, Policy, Record, ReplayError,
    ReplayGuard, Request as AuthzRequest, Verified,
};
use signet_proto::message::{
    CheckRequest, CheckResult, GeneratedKey, HelloInfo, ProvisionSecrets, PublicKeyInfo,
    ResumeRequest, SealingState, SignRequest, SignatureInfo, SignerStatus, UpdateRecordRequest,
    HELLO_NONCE_LEN, MAX_LIST_PAGE, MAX_MESSAGE_LEN, PROTOCOL_VERSION,
};
use signet_proto::ticket::{Expected, TicketKeys};
use signet_proto::{hello, ErrorCode, Request, Response, SharedSecret};

use crate::attestor::Attestor;
use crate::backend::{check_key_id, KeyBackend};
use crate::content::{self, Decoded};
use crate::error::SignerError;
use crate::kms::sealer::KmsSealer;
use crate::records::Records;
use crate::replay::ReplayCache;
use crate::windows::{Reservation, Windows};

/// The deployment a signer writes in records unless told
/// (`--deployment`'s default).
pub const DEFAULT_DEPLOYMENT: &str = "signet";

/// Owners' request ids remembered against replay (until each expires, at
/// most 600 s ahead).
const APPROVAL_REPLAY_CAPACITY: usize = 1_000_000;

/// Longest caller nonce accepted in an attestation request (NSM limit).
pub const MAX_NONCE_LEN: usize = 512;

/// The signer's runtime secrets.
pub struct Secrets {
    /// Verifies tickets.
    pub tickets: TicketKeys,
    /// The hello's shared key.
    pub internal_api_key: SharedSecret,
}

impl Secrets {
    /// Secrets handed over by the host (`--secrets host`); weak ones are
    /// refused unless `allow_weak` (dev attestation).
    pub fn from_provisioned(p: &ProvisionSecrets, allow_weak: bool) -> Result<Self, SignerError> {
        let one = |name: &str, bytes: &[u8]| -> Result<SharedSecret, SignerError> {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| SignerError::bad_request(format!("{name} is not UTF-8")))?;
            SharedSecret::from_config_in_mode(text, allow_weak)
                .map(|(s, _)| s)
                .map_err(|e| SignerError::bad_request(format!("{name} {e}")))
        };
        let previous = p
            .ticket_signing_secret_previous
            .as_deref()
            .map(|b| one("TICKET_SIGNING_SECRET_PREVIOUS", b))
            .transpose()?;
        Ok(Self {
            tickets: TicketKeys::new(
                one("TICKET_SIGNING_SECRET", &p.ticket_signing_secret)?,
                previous,
            ),
            internal_api_key: one("INTERNAL_API_KEY", &p.internal_api_key)?,
        })
    }
}

impl Secrets {
    fn clone_secrets(&self) -> Self {
        Self {
            tickets: self.tickets.clone(),
            internal_api_key: self.internal_api_key.clone(),
        }
    }

    /// Constant-time equality of every secret.
    fn same_as(&self, other: &Self) -> bool {
        let internal = self.internal_api_key.ct_eq(other.internal_api_key.expose());
        internal & self.tickets.same_keys(&other.tickets)
    }
}

/// How the signer's sealing keys come.
pub enum Sealing {
    /// A dev key file, or a backend that does not seal (PKCS#11).
    Local,
    /// KMS, through the host's relay.
    Kms(Arc<KmsSealer>),
}

/// Everything a signer needs to answer requests.
pub struct Signer {
    backend: Arc<dyn KeyBackend>,
    attestor: Arc<dyn Attestor>,
    secrets: std::sync::OnceLock<Secrets>,
    allow_weak_secrets: bool,
    sealing: Sealing,
    replay: ReplayCache,
    /// Wallet records beside their keys.
    records: Records,
    /// Owners' request ids already used.
    approval_replay: Mutex<ReplayGuard>,
    /// Policy windows: what each wallet signed lately.
    windows: Windows,
    /// Record changes that loosen a policy with `change_delay_seconds`,
    /// approved by the owners and waiting: wallet → (the new record's hash,
    /// when it takes effect). Memory only: a restart forgets them (the
    /// owners approve again, and the delay starts again).
    pending_changes: Mutex<std::collections::HashMap<String, ([u8; 32], u64)>>,
    /// Unix seconds at start: the replay memory of approvals begins here.
    started_s: u64,
    started: Instant,
    /// Bounds the dedicated threads of a blocking backend.
    blocking: Option<Arc<tokio::sync::Semaphore>>,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Signer {
    /// A signer over `backend` and `attestor`, verifying tickets with
    /// `tickets` and hellos with `internal_api_key`.
    pub fn new(
        backend: Arc<dyn KeyBackend>,
        attestor: Arc<dyn Attestor>,
        tickets: TicketKeys,
        internal_api_key: SharedSecret,
        replay_capacity: usize,
    ) -> Self {
        let signer =
            Self::awaiting_secrets(backend, attestor, Sealing::Local, replay_capacity, false);
        let _ = signer.secrets.set(Secrets {
            tickets,
            internal_api_key,
        });
        signer
    }

    /// A signer that gets its secrets from the host (`--secrets host`): it
    /// answers only a pre-hello `Attest` and `Provision` until then.
    pub fn awaiting_secrets(
        backend: Arc<dyn KeyBackend>,
        attestor: Arc<dyn Attestor>,
        sealing: Sealing,
        replay_capacity: usize,
        allow_weak_secrets: bool,
    ) -> Self {
        let blocking = backend
            .blocking_concurrency()
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        let capacity = NonZeroUsize::new(backend.capacity())
            .unwrap_or(NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN));
        #[allow(clippy::expect_used)]
        let records = Records::new(DEFAULT_DEPLOYMENT, capacity)
            .expect("the default deployment name is valid");
        Self {
            blocking,
            records,
            approval_replay: Mutex::new(ReplayGuard::new(APPROVAL_REPLAY_CAPACITY)),
            windows: Windows::new(),
            pending_changes: Mutex::new(std::collections::HashMap::new()),
            started_s: now_s(),
            backend,
            attestor,
            secrets: std::sync::OnceLock::new(),
            allow_weak_secrets,
            sealing,
            replay: ReplayCache::new(replay_capacity),
            started: Instant::now(),
        }
    }

    /// With secrets from the environment, and `sealing`.
    #[must_use]
    pub fn with_sealing(mut self, sealing: Sealing) -> Self {
        self.sealing = sealing;
        self
    }

    /// Writes `deployment` in the records it makes and expects it in those
    /// it loads (`--deployment`); refused unless `[A-Za-z0-9._-]{1,64}`.
    pub fn with_deployment(mut self, deployment: &str) -> Result<Self, SignerError> {
        let capacity = NonZeroUsize::new(self.backend.capacity())
            .unwrap_or(NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN));
        self.records = Records::new(deployment, capacity)?;
        Ok(self)
    }

    /// Whether the signer still waits for its secrets.
    #[must_use]
    pub fn needs_provisioning(&self) -> bool {
        self.secrets.get().is_none()
    }

    /// Answers a frame sent before the hello on a connection whose
    /// challenge said the signer waits for its secrets: an `Attest` without
    /// key (so the host can check what it is about to trust) or the
    /// `Provision` itself. Accepted once; a second `Provision` (another
    /// connection that opened meanwhile) is accepted only with the very same
    /// secrets, compared in constant time.
    pub fn pre_hello(&self, request: Request) -> Result<Response, SignerError> {
        match request {
            Request::Attest {
                nonce,
                key_id: None,
            } => self.attest(nonce.as_deref(), None),
            Request::Provision(secrets) => {
                let offered = Secrets::from_provisioned(&secrets, self.allow_weak_secrets)?;
                let mut fresh = false;
                let held = self.secrets.get_or_init(|| {
                    fresh = true;
                    offered.clone_secrets()
                });
                if fresh {
                    tracing::info!("runtime secrets provisioned by the host");
                    return Ok(Response::Provisioned);
                }
                if held.same_as(&offered) {
                    return Ok(Response::Provisioned);
                }
                Err(SignerError::new(
                    ErrorCode::Unauthenticated,
                    "this signer was already provisioned with other secrets",
                ))
            }
            _ => Err(SignerError::new(
                ErrorCode::Unauthenticated,
                "this signer waits for its secrets: attest, then provision",
            )),
        }
    }

    fn secrets(&self) -> Result<&Secrets, SignerError> {
        self.secrets.get().ok_or_else(|| {
            SignerError::new(
                ErrorCode::Unauthenticated,
                "this signer waits for its secrets",
            )
        })
    }

    /// The sealing keys (software backend).
    #[must_use]
    pub fn sealing_state(&self) -> Option<SealingState> {
        match &self.sealing {
            Sealing::Kms(kms) => Some(kms.state()),
            Sealing::Local => self.backend.sealing_keys().map(|keys| SealingState {
                mode: "dev".into(),
                current: keys.current_version(),
                versions: keys.versions(),
                kms_key_id: None,
            }),
        }
    }

    /// Drops replay entries of expired tickets (called periodically).
    pub fn prune_replay_cache(&self) {
        self.replay.prune(now_s());
    }

    /// Answers the hello that follows `challenge`. `Err` means the connection
    /// must be closed after sending the error.
    pub fn hello(&self, challenge: &[u8], request: Request) -> Result<Response, SignerError> {
        let Request::Hello {
            version,
            client_nonce,
            proof,
        } = request
        else {
            return Err(SignerError::new(
                ErrorCode::Unauthenticated,
                "the first message must be a hello",
            ));
        };
        if version != PROTOCOL_VERSION {
            return Err(SignerError::new(
                ErrorCode::UnsupportedVersion,
                format!("this signer speaks protocol version {PROTOCOL_VERSION}"),
            ));
        }
        let secrets = self.secrets()?;
        if client_nonce.len() != HELLO_NONCE_LEN
            || !hello::verify_host_proof(
                &secrets.internal_api_key,
                challenge,
                &client_nonce,
                &proof,
            )
        {
            return Err(SignerError::new(
                ErrorCode::Unauthenticated,
                "hello proof is wrong",
            ));
        }
        let attestation = self.attestor.attest(None, None, Some(&client_nonce))?;
        Ok(Response::Hello(HelloInfo {
            version: PROTOCOL_VERSION,
            proof: hello::signer_proof(&secrets.internal_api_key, challenge, &client_nonce),
            attestation,
            backend: self.backend.name().to_owned(),
            attestation_mode: self.attestor.mode().to_owned(),
            deployment: Some(self.records.deployment().to_owned()),
            sealing_key_version: self.backend.sealing_key_version(),
            sealing: self.sealing_state(),
        }))
    }

    /// Answers one request of an authenticated connection from async code:
    /// inline for in-memory backends, on a bounded set of dedicated threads
    /// for blocking ones (PKCS#11).
    pub async fn serve(self: Arc<Self>, request: Request) -> Response {
        if let Request::Unseal(unseal) = request {
            let result = match &self.sealing {
                Sealing::Kms(kms) => kms.unseal(unseal).await.map(Response::Unsealed),
                Sealing::Local => Err(SignerError::bad_request(
                    "this signer does not use KMS sealing (--sealing kms)",
                )),
            };
            return result.unwrap_or_else(SignerError::into_response);
        }
        let Some(gate) = self.blocking.clone() else {
            return self.handle(request);
        };
        let Ok(_permit) = gate.acquire_owned().await else {
            return Response::error(ErrorCode::Internal, "signer is shutting down");
        };
        tokio::task::spawn_blocking(move || self.handle(request))
            .await
            .unwrap_or_else(|_| Response::error(ErrorCode::Internal, "signer task failed"))
    }

    /// Answers one request of an authenticated connection.
    pub fn handle(&self, request: Request) -> Response {
        let result = match request {
            Request::Hello { .. } | Request::Provision(_) => {
                Err(SignerError::bad_request("hello was already done"))
            }
            Request::Unseal(_) => Err(SignerError::bad_request("unseal is served asynchronously")),
            Request::Reseal { sealed } => self
                .backend
                .reseal(&sealed)
                .map(|(sealed, public_key)| Response::Resealed { sealed, public_key }),
            Request::RetireSealingKey { version } => self.retire(version),
            Request::Generate {
                key_id,
                key_type,
                settings,
            } => self.generate(&key_id, key_type, settings.as_deref()),
            Request::LoadSealed { sealed, record } => self
                .load(&sealed.key_id.clone(), &sealed, record.as_deref())
                .map(|(key_type, public_key, _)| {
                    Response::Loaded(PublicKeyInfo {
                        key_id: sealed.key_id.clone(),
                        key_type,
                        public_key,
                    })
                }),
            Request::Sign(sign) => self.sign(sign),
            Request::Check(check) => self.check(check),
            Request::Resume(resume) => self.resume(resume),
            Request::UpdateRecord(update) => self.update_record(update),
            Request::Destroy { key_id } => self.destroy(&key_id),
            Request::List { after, limit } => {
                let limit = limit.unwrap_or(MAX_LIST_PAGE).clamp(1, MAX_LIST_PAGE);
                let (key_ids, next) = self
                    .backend
                    .loaded_ids_page(after.as_deref(), limit as usize);
                Ok(Response::Keys { key_ids, next })
            }
            Request::Status => Ok(self.status()),
            Request::Attest { nonce, key_id } => self.attest(nonce.as_deref(), key_id.as_deref()),
        };
        result.unwrap_or_else(SignerError::into_response)
    }

    fn generate(
        &self,
        key_id: &str,
        key_type: signet_proto::KeyType,
        settings: Option<&str>,
    ) -> Result<Response, SignerError> {
        let settings = Records::settings(settings)?;
        let new = self
            .backend
            .generate(key_id, key_type, &|public_key: &[u8]| {
                self.records
                    .initial(settings.clone(), key_id, key_type, public_key)
            })?;
        let record = self.records.hold(new.record)?;
        if !record.policy().windows().is_empty() {
            self.windows.fresh(key_id, now_s())?;
        }
        let attestation = self.attest_key(
            key_id,
            key_type,
            &new.public_key,
            &record.record_hash().0,
            None,
        )?;
        tracing::info!(
            key_id,
            %key_type,
            owners = record.owners().len(),
            record = %record.record_hash(),
            "key generated"
        );
        Ok(Response::Generated(GeneratedKey {
            key: PublicKeyInfo {
                key_id: key_id.to_owned(),
                key_type,
                public_key: new.public_key,
            },
            sealed: new.sealed,
            attestation,
            record: Some(record.text().to_owned()),
        }))
    }

    /// A document binding the key and the record hashing to `record_hash`
    /// (binding v2).
    fn attest_key(
        &self,
        key_id: &str,
        key_type: signet_proto::KeyType,
        public_key: &[u8],
        record_hash: &[u8; 32],
        nonce: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, SignerError> {
        let binding = key_binding_v2(key_id, key_type.as_str(), public_key, record_hash);
        self.attestor
            .attest(Some(public_key), Some(&binding), nonce)
    }

    /// Loads `sealed` with the wallet's `record` text (absent: the record of
    /// a wallet without owners): the record must be the one the blob is
    /// bound to and not older than one seen for the wallet.
    fn load(
        &self,
        key_id: &str,
        sealed: &signet_proto::SealedKey,
        record: Option<&str>,
    ) -> Result<(signet_proto::KeyType, Vec<u8>, Arc<Record>), SignerError> {
        check_key_id(key_id)?;
        if sealed.key_id != key_id {
            return Err(SignerError::new(
                ErrorCode::SealedKeyInvalid,
                "sealed blob is for another key",
            ));
        }
        let loaded = self.backend.load_sealed(sealed)?;
        let (key_type, public_key) = (loaded.info.key_type, loaded.info.public_key);
        let record = self
            .records
            .admit(key_id, key_type, &public_key, loaded.bound, record)?;
        if !record.policy().windows().is_empty() {
            self.windows.hold(key_id, now_s())?;
        }
        Ok((key_type, public_key, record))
    }

    /// The key and its record: held, or loaded from the request's blob; on
    /// a backend that keeps records, checked against the hash it keeps.
    fn key_and_record(
        &self,
        key_id: &str,
        sealed: Option<&signet_proto::SealedKey>,
        record: Option<&str>,
    ) -> Result<(signet_proto::KeyType, Vec<u8>, Arc<Record>), SignerError> {
        if self.backend.keeps_records() {
            return self.kept_key_and_record(key_id, record);
        }
        match self.backend.public_key(key_id) {
            Ok((key_type, public_key)) => {
                if let Some(held) = self.records.get(key_id) {
                    return Ok((key_type, public_key, held));
                }
            }
            Err(e) if e.code == ErrorCode::KeyNotLoaded => {}
            Err(e) => return Err(e),
        }
        let sealed = sealed.ok_or_else(|| {
            SignerError::new(
                ErrorCode::KeyNotLoaded,
                "key is not loaded; send its sealed blob and record",
            )
        })?;
        self.load(key_id, sealed, record)
    }

    /// The key and its record on a backend that keeps each key's record
    /// hash itself (PKCS#11), read from it on every request: the record
    /// held here if it still is the one the backend names, else the
    /// request's record `text`, admitted only if it hashes to what the
    /// backend holds (a key made before record objects: only the record
    /// without owners and with the permissive policy). So a record changed
    /// by another signer process on the same token counts here at once,
    /// and after a restart an older record of the wallet is still refused:
    /// the backend persists the latest hash, unlike a sealed blob.
    fn kept_key_and_record(
        &self,
        key_id: &str,
        text: Option<&str>,
    ) -> Result<(signet_proto::KeyType, Vec<u8>, Arc<Record>), SignerError> {
        let (key_type, public_key) = self.backend.public_key(key_id)?;
        let bound = self.backend.bound_record(key_id)?;
        let held = self.records.get(key_id);
        if let Some(held) = &held {
            let named = self.named_record_hash(key_id, key_type, &public_key, bound)?;
            if held.record_hash().0 == named && held.key().public_key == public_key {
                return Ok((key_type, public_key, Arc::clone(held)));
            }
        }
        let record = self
            .records
            .admit(key_id, key_type, &public_key, bound, text)?;
        let now = now_s();
        match &held {
            // Changed by another signer on the token: as after a change here.
            Some(old) => self.windows.changed(
                key_id,
                old.policy().windows(),
                record.policy().windows(),
                now,
            )?,
            None if !record.policy().windows().is_empty() => self.windows.hold(key_id, now)?,
            None => {}
        }
        Ok((key_type, public_key, record))
    }

    /// The key and the hash of its record, for an attestation: on a backend
    /// that keeps records, the hash it holds (no record text needed).
    fn key_and_record_hash(
        &self,
        key_id: &str,
    ) -> Result<(signet_proto::KeyType, Vec<u8>, [u8; 32]), SignerError> {
        if !self.backend.keeps_records() {
            let (key_type, public_key, record) = self.key_and_record(key_id, None, None)?;
            return Ok((key_type, public_key, record.record_hash().0));
        }
        let (key_type, public_key) = self.backend.public_key(key_id)?;
        let bound = self.backend.bound_record(key_id)?;
        let hash = self.named_record_hash(key_id, key_type, &public_key, bound)?;
        Ok((key_type, public_key, hash))
    }

    /// The hash of the record a backend that keeps records names for a key:
    /// the hash it keeps (`bound`), or for a key made before it kept them
    /// the hash of the record without owners and with the permissive policy.
    fn named_record_hash(
        &self,
        key_id: &str,
        key_type: signet_proto::KeyType,
        public_key: &[u8],
        bound: Option<[u8; 32]>,
    ) -> Result<[u8; 32], SignerError> {
        match bound {
            Some(hash) => Ok(hash),
            None => Ok(self
                .records
                .legacy(key_id, key_type, public_key)?
                .record_hash()
                .0),
        }
    }

    fn sign(&self, req: SignRequest) -> Result<Response, SignerError> {
        check_key_id(&req.key_id)?;
        if req.digest.len() != 32 {
            return Err(SignerError::bad_request("digest must be 32 bytes"));
        }
        if req
            .message
            .as_ref()
            .is_some_and(|m| m.len() > MAX_MESSAGE_LEN)
        {
            return Err(SignerError::bad_request("message exceeds 64 KiB"));
        }
        let (key_type, public_key, record) =
            self.key_and_record(&req.key_id, req.sealed.as_ref(), req.record.as_deref())?;
        let decoded = decoded(&req, key_type, &public_key)?;
        let now = now_s();
        let claims = self
            .secrets()?
            .tickets
            .verify(
                &req.ticket,
                now,
                &Expected {
                    wid: &req.key_id,
                    digest: &req.digest,
                    kty: key_type,
                },
            )
            .map_err(|e| SignerError::new(e.code(), e.to_string()))?;
        // The wallet's record decides: within its policy the ticket is
        // enough; otherwise its owners' approvals of this exact request.
        // Windows are reserved here and given back if signing fails.
        let (approved, reservation) =
            self.check_record(&req.key_id, &record, &decoded, &req.approvals, now)?;
        let release = |e: SignerError| {
            if let Some(r) = &reservation {
                self.windows.release(r);
            }
            e
        };
        // Last checks before signing: a request refused above may be retried.
        self.replay
            .consume(&claims.jti, claims.exp, now)
            .map_err(release)?;
        if let Some(verified) = &approved {
            self.remember(verified, now).map_err(release)?;
            tracing::info!(
                key_id = %req.key_id,
                owners = ?verified.owners,
                sign_counts = ?verified.sign_counts,
                "signing with owners' approval"
            );
        }
        let signature = self
            .backend
            .sign(&req.key_id, &decoded.digest, decoded.message.as_deref())
            .map_err(release)?;
        let attestation = if req.attest {
            let binding = signature_binding(&req.key_id, &decoded.digest, &signature.bytes);
            self.attestor
                .attest(Some(&public_key), Some(&binding), None)?
        } else {
            None
        };
        Ok(Response::Signed(SignatureInfo {
            signature: signature.bytes,
            recovery_id: signature.recovery_id,
            public_key,
            attestation,
        }))
    }

    /// Whether `record` lets `decoded` be signed: on its policy alone (no
    /// approvals given), or with approvals meeting its threshold. Returns
    /// the approvals (`Some`: to be remembered against replay once signing
    /// goes ahead) and the windows' reservation (given back if it does not).
    fn check_record(
        &self,
        key_id: &str,
        record: &Record,
        decoded: &Decoded,
        approvals: &[signet_authority::Approval],
        now: u64,
    ) -> Result<(Option<Verified>, Option<Reservation>), SignerError> {
        if approvals.is_empty() {
            return match self.policy_verdict(key_id, record, decoded, now, false)? {
                Ok(reservation) => Ok((None, reservation)),
                Err(denied) => Err(refusal(record, denied)),
            };
        }
        let verified = self.verify_owners(
            record,
            &AuthzRequest::Sign {
                payload_sha256: decoded.payload_sha256()?,
                digest: decoded.digest,
            },
            approvals,
            now,
        )?;
        // Owners' approval overrides the policy, yet counts in its windows.
        let windows = record.policy().windows();
        let reservation = self
            .windows
            .reserve(key_id, windows, decoded_value(record, decoded), now, true)
            .map_err(|e| match e {
                Ok(denied) => SignerError::new(ErrorCode::Internal, denied.message),
                Err(e) => e,
            })?;
        Ok((Some(verified), reservation))
    }

    /// The policy's verdict on `decoded` without owners: the stateless rules,
    /// then the windows (reserved, unless `dry`). `Err` inside: the rule
    /// that refuses.
    fn policy_verdict(
        &self,
        key_id: &str,
        record: &Record,
        decoded: &Decoded,
        now: u64,
        dry: bool,
    ) -> Result<Result<Option<Reservation>, Denied>, SignerError> {
        let policy = record.policy();
        // A policy of `allow` alone needs no decoding beyond the kind.
        let facts = if policy.has_rules() {
            decoded.facts()
        } else {
            Facts::of_kind(decoded.kind)
        };
        if let Err(denied) = policy.evaluate(&facts) {
            return Ok(Err(denied));
        }
        let windows = policy.windows();
        if dry {
            return Ok(
                match self
                    .windows
                    .would_refuse(key_id, windows, facts.value_wei(), now)?
                {
                    Some(denied) => Err(denied),
                    None => Ok(None),
                },
            );
        }
        match self
            .windows
            .reserve(key_id, windows, facts.value_wei(), now, false)
        {
            Ok(reservation) => Ok(Ok(reservation)),
            Err(Ok(denied)) => Ok(Err(denied)),
            Err(Err(e)) => Err(e),
        }
    }

    /// A dry run of a sign request: what the record would decide, nothing
    /// signed, reserved or remembered.
    fn check(&self, req: CheckRequest) -> Result<Response, SignerError> {
        check_key_id(&req.key_id)?;
        let (key_type, public_key, record) =
            self.key_and_record(&req.key_id, req.sealed.as_ref(), req.record.as_deref())?;
        let decoded = content::decode(&req.content, key_type, &public_key)?;
        let now = now_s();
        let verdict = self.policy_verdict(&req.key_id, &record, &decoded, now, true)?;
        let has_owners = !record.owners().is_empty();
        let (allowed, needs_owners, rule, message) = match verdict {
            Ok(_) => (true, false, None, None),
            Err(denied) if !has_owners => (false, false, Some(denied.rule), Some(denied.message)),
            Err(denied) if req.approvals.is_empty() => (
                false,
                true,
                Some(denied.rule),
                Some(format!(
                    "{}: {} of its owners must approve this request",
                    denied.message,
                    record.threshold()
                )),
            ),
            Err(denied) => {
                let checked = self.verify_owners(
                    &record,
                    &AuthzRequest::Sign {
                        payload_sha256: decoded.payload_sha256()?,
                        digest: decoded.digest,
                    },
                    &req.approvals,
                    now,
                );
                match checked {
                    Ok(_) => (true, true, Some(denied.rule), Some(denied.message)),
                    Err(e) => (
                        false,
                        true,
                        Some(denied.rule),
                        Some(format!(
                            "{}; the approvals given do not pass: {}",
                            denied.message, e.message
                        )),
                    ),
                }
            }
        };
        Ok(Response::Checked(CheckResult {
            allowed,
            needs_owners,
            rule,
            message,
            decoded: decoded.describe(record.policy()).to_string(),
        }))
    }

    /// The owners' `resume`: the wallet's windows are no longer cold on
    /// this signer.
    fn resume(&self, req: ResumeRequest) -> Result<Response, SignerError> {
        check_key_id(&req.key_id)?;
        let (_, _, record) =
            self.key_and_record(&req.key_id, req.sealed.as_ref(), req.record.as_deref())?;
        if record.owners().is_empty() {
            return Err(SignerError::new(
                ErrorCode::PolicyDenied,
                "this wallet has no owners to sign `resume`: its windows warm up once this signer has held it for a whole window",
            )
            .with_detail("resume"));
        }
        let now = now_s();
        let verified = self.verify_owners(&record, &AuthzRequest::Resume, &req.approvals, now)?;
        self.remember(&verified, now)?;
        self.windows.resume(&req.key_id, now)?;
        tracing::info!(
            key_id = %req.key_id,
            owners = ?verified.owners,
            "windows resumed with owners' approval"
        );
        Ok(Response::Resumed { key_id: req.key_id })
    }

    /// Verifies `approvals` of `request` by the owners of `record`, at
    /// `now`: every check of docs/owners.md, the signer's start horizon and
    /// the replay memory (not yet remembered: [`Self::remember`] once the
    /// request goes ahead).
    fn verify_owners(
        &self,
        record: &Record,
        request: &AuthzRequest,
        approvals: &[Approval],
        now: u64,
    ) -> Result<Verified, SignerError> {
        let expected =
            signet_authority::Expected::for_request(self.records.deployment(), record, request);
        let verified = verify_approvals(record, &expected, approvals, now).map_err(|e| {
            SignerError::new(ErrorCode::ApprovalInvalid, e.to_string())
                .with_detail(e.refusal.as_str())
        })?;
        // Approvals made before this signer started may have been used with
        // an earlier signer, whose replay memory is gone: every one of them
        // expires within MAX_LIFETIME_SECONDS of the start, so only those
        // expiring later are taken.
        let horizon = self
            .started_s
            .saturating_add(signet_authority::authz::MAX_LIFETIME_SECONDS);
        if verified.expires_at <= horizon {
            return Err(SignerError::new(
                ErrorCode::ApprovalInvalid,
                format!(
                    "this signer started at {}: in its first {} s it takes only authorizations that expire after {horizon} (any older one may have been used before it started); approve one that lives the full {} s",
                    self.started_s,
                    signet_authority::authz::MAX_LIFETIME_SECONDS,
                    signet_authority::authz::MAX_LIFETIME_SECONDS
                ),
            )
            .with_detail("before_start"));
        }
        let replayed = self
            .approval_replay
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "replay lock poisoned"))?
            .contains(&verified.request_id, now);
        if replayed {
            return Err(SignerError::new(
                ErrorCode::ApprovalReplayed,
                "these approvals' request id was already used; approve a new authorization",
            )
            .with_detail("replayed"));
        }
        Ok(verified)
    }

    /// Remembers approvals that let a request go ahead, until they expire.
    fn remember(&self, verified: &Verified, now: u64) -> Result<(), SignerError> {
        self.approval_replay
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "replay lock poisoned"))?
            .remember_verified(verified, now)
            .map_err(|e| match e {
                ReplayError::Replayed(_) => {
                    SignerError::new(ErrorCode::ApprovalReplayed, e.to_string())
                        .with_detail("replayed")
                }
                ReplayError::Expired(_) => {
                    SignerError::new(ErrorCode::ApprovalInvalid, e.to_string())
                        .with_detail("expired")
                }
                _ => SignerError::new(ErrorCode::Busy, e.to_string()),
            })
    }

    /// Replaces a wallet's record with the next one: approved by its
    /// current owners; for a wallet without owners, allowed only when it
    /// loosens nothing (or the wallet already signs everything). The key is
    /// sealed again bound to the new record (software), or the new record's
    /// hash replaces the old one beside the key (PKCS#11), and the signer
    /// holds it from then on: older records of the wallet are refused while
    /// it runs (and, on PKCS#11, after a restart too).
    fn update_record(&self, req: UpdateRecordRequest) -> Result<Response, SignerError> {
        check_key_id(&req.key_id)?;
        let (key_type, public_key, current) =
            self.key_and_record(&req.key_id, req.sealed.as_ref(), req.record.as_deref())?;
        let next = Record::parse(&req.new_record)
            .map_err(|e| SignerError::bad_request(format!("new record: {e}")))?;
        current
            .check_next(&next)
            .map_err(|e| SignerError::bad_request(format!("new record: {e}")))?;
        let now = now_s();
        let next_hash = next.record_hash().0;
        let delay = current.policy().change_delay_seconds();
        let delayed = delay > 0 && !current.owners().is_empty() && loosens(&current, &next);
        let approved = if req.approvals.is_empty() {
            let open = current.owners().is_empty() && *current.policy() == Policy::permissive();
            if current.owners().is_empty() && (open || !loosens(&current, &next)) {
                None
            } else if current.owners().is_empty() {
                return Err(SignerError::new(
                    ErrorCode::PolicyDenied,
                    "this change loosens the record of a wallet without owners, and nobody can approve it",
                )
                .with_detail("allow"));
            } else {
                // Only an approved loosening whose delay has passed goes
                // ahead without approvals.
                let pending = self
                    .pending_changes
                    .lock()
                    .map_err(|_| SignerError::new(ErrorCode::Internal, "pending lock poisoned"))?
                    .get(&req.key_id)
                    .copied();
                match pending {
                    Some((hash, at)) if hash == next_hash && now >= at => None,
                    Some((hash, at)) if hash == next_hash => return Err(not_yet_effective(at)),
                    _ => {
                        return Err(SignerError::new(
                            ErrorCode::OwnerApprovalRequired,
                            format!(
                                "changing this wallet's record takes {} of its owners' approvals (action update_record)",
                                current.threshold()
                            ),
                        )
                        .with_detail("record"))
                    }
                }
            }
        } else {
            Some(self.verify_owners(
                &current,
                &AuthzRequest::UpdateRecord {
                    new_record: next.record_hash(),
                },
                &req.approvals,
                now,
            )?)
        };
        if let Some(verified) = &approved {
            self.remember(verified, now)?;
            if delayed {
                // A loosening waits `change_delay_seconds` from the owners'
                // approval; it is kept here until then.
                let at = now.saturating_add(delay);
                self.pending_changes
                    .lock()
                    .map_err(|_| SignerError::new(ErrorCode::Internal, "pending lock poisoned"))?
                    .insert(req.key_id.clone(), (next_hash, at));
                tracing::info!(
                    key_id = %req.key_id,
                    effective_at = at,
                    "record change approved; it loosens the policy and waits its change delay"
                );
                return Err(not_yet_effective(at));
            }
        }
        let sealed = self.backend.rebind(&req.key_id, &next.record_hash().0)?;
        self.windows.changed(
            &req.key_id,
            current.policy().windows(),
            next.policy().windows(),
            now,
        )?;
        if let Ok(mut pending) = self.pending_changes.lock() {
            pending.remove(&req.key_id);
        }
        let record = self.records.hold(next)?;
        let attestation = self.attest_key(
            &req.key_id,
            key_type,
            &public_key,
            &record.record_hash().0,
            None,
        )?;
        tracing::info!(
            key_id = %req.key_id,
            version = record.version(),
            owners = record.owners().len(),
            record = %record.record_hash(),
            "record changed"
        );
        Ok(Response::Generated(GeneratedKey {
            key: PublicKeyInfo {
                key_id: req.key_id,
                key_type,
                public_key,
            },
            sealed,
            attestation,
            record: Some(record.text().to_owned()),
        }))
    }

    fn retire(&self, version: u32) -> Result<Response, SignerError> {
        let keys = self
            .backend
            .sealing_keys()
            .ok_or_else(|| SignerError::bad_request("this key backend does not seal keys"))?;
        if keys.retire(version)? {
            tracing::info!(version, "sealing key version retired");
        }
        self.sealing_state()
            .map(Response::Sealing)
            .ok_or_else(|| SignerError::bad_request("this key backend does not seal keys"))
    }

    fn destroy(&self, key_id: &str) -> Result<Response, SignerError> {
        check_key_id(key_id)?;
        let was_loaded = self.backend.destroy(key_id)?;
        self.records.forget(key_id);
        tracing::info!(key_id, was_loaded, "key destroyed");
        Ok(Response::Destroyed {
            key_id: key_id.to_owned(),
        })
    }

    fn attest(&self, nonce: Option<&[u8]>, key_id: Option<&str>) -> Result<Response, SignerError> {
        if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(SignerError::bad_request("nonce exceeds 512 bytes"));
        }
        let document = match key_id {
            Some(key_id) => {
                check_key_id(key_id)?;
                let (key_type, public_key, record_hash) = self.key_and_record_hash(key_id)?;
                self.attest_key(key_id, key_type, &public_key, &record_hash, nonce)?
            }
            None => self.attestor.attest(None, None, nonce)?,
        };
        Ok(Response::Attestation { document })
    }

    fn status(&self) -> Response {
        Response::Status(SignerStatus {
            backend: self.backend.name().to_owned(),
            attestation_mode: self.attestor.mode().to_owned(),
            loaded_keys: self.backend.loaded_ids().len() as u64,
            key_cache_capacity: self.backend.capacity() as u64,
            replay_cache_entries: self.replay.len() as u64,
            sealing_key_version: self.backend.sealing_key_version(),
            sealing: self.sealing_state(),
            uptime_seconds: self.started.elapsed().as_secs(),
        })
    }
}

/// An approved loosening that waits its change delay until `at`.
fn not_yet_effective(at: u64) -> SignerError {
    SignerError::new(
        ErrorCode::ChangeNotYetEffective,
        format!(
            "this change loosens the wallet's policy, so it takes effect {at} (Unix seconds), the current policy's change_delay_seconds after the owners approved it; send the same change again then, without approvals"
        ),
    )
    .with_detail(&at.to_string())
}

/// A policy refusal as the signer answers it: `policy_denied` for a wallet
/// without owners (nobody can approve), else `owner_approval_required`;
/// both name the rule.
fn refusal(record: &Record, denied: Denied) -> SignerError {
    if record.owners().is_empty() {
        SignerError::new(
            ErrorCode::PolicyDenied,
            format!(
                "{}, and this wallet has no owners to approve it",
                denied.message
            ),
        )
    } else {
        SignerError::new(
            ErrorCode::OwnerApprovalRequired,
            format!(
                "{}: {} of its owners must approve this request",
                denied.message,
                record.threshold()
            ),
        )
    }
    .with_detail(&denied.rule)
}

/// The wei `decoded` moves, when the record has windows to count it in.
fn decoded_value(record: &Record, decoded: &Decoded) -> signet_authority::Amount {
    if record.policy().windows().is_empty() {
        signet_authority::Amount::ZERO
    } else {
        decoded.facts().value_wei()
    }
}

/// What `req` signs: its content decoded by the signer, whose digest must
/// be the request's; without content, the request's digest as an opaque
/// prehash (or, for Ed25519, its message).
fn decoded(
    req: &SignRequest,
    key_type: signet_proto::KeyType,
    public_key: &[u8],
) -> Result<Decoded, SignerError> {
    let decoded = match &req.content {
        Some(text) => content::decode(text, key_type, public_key)?,
        None => {
            let (value, kind) = match &req.message {
                Some(m) => (
                    serde_json::json!({
                        "encoding": "raw",
                        "message": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, m),
                    }),
                    Kind::Message,
                ),
                None => (
                    serde_json::json!({ "digest": hex::encode(&req.digest) }),
                    Kind::Digest,
                ),
            };
            let digest: [u8; 32] = req
                .digest
                .as_slice()
                .try_into()
                .map_err(|_| SignerError::bad_request("digest must be 32 bytes"))?;
            Decoded {
                kind,
                digest,
                message: req.message.clone(),
                content: value,
                tx: None,
                typed: None,
            }
        }
    };
    if decoded.digest[..] != req.digest[..] {
        return Err(SignerError::new(
            ErrorCode::TicketInvalid,
            "the request's digest is not its content's",
        ));
    }
    if let Some(message) = &decoded.message {
        if Sha256::digest(message)[..] != req.digest[..] {
            return Err(SignerError::new(
                ErrorCode::TicketInvalid,
                "SHA-256 of the message is not the ticket's digest",
            ));
        }
        if req.message.as_ref().is_some_and(|m| m != message) {
            return Err(SignerError::bad_request(
                "the request's message is not its content's",
            ));
        }
    }
    Ok(decoded)
}
