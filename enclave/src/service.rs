//! The signer's request handling, independent of sockets: hello, keys,
//! tickets, signing, attestation.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use signet_attestation::{key_binding, signature_binding};
use signet_proto::message::{
    GeneratedKey, HelloInfo, ProvisionSecrets, PublicKeyInfo, SealingState, SignRequest,
    SignatureInfo, SignerStatus, HELLO_NONCE_LEN, MAX_LIST_PAGE, MAX_MESSAGE_LEN, PROTOCOL_VERSION,
};
use signet_proto::ticket::{Expected, TicketKeys};
use signet_proto::{hello, ErrorCode, Request, Response, SharedSecret};

use crate::attestor::Attestor;
use crate::backend::{check_key_id, KeyBackend};
use crate::error::SignerError;
use crate::kms::sealer::KmsSealer;
use crate::replay::ReplayCache;

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
        Self {
            blocking,
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
            Request::Generate { key_id, key_type } => self.generate(&key_id, key_type),
            Request::LoadSealed { sealed } => {
                self.backend.load_sealed(&sealed).map(Response::Loaded)
            }
            Request::Sign(sign) => self.sign(sign),
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
    ) -> Result<Response, SignerError> {
        let new = self.backend.generate(key_id, key_type)?;
        let binding = key_binding(key_id, key_type.as_str(), &new.public_key);
        let attestation = self
            .attestor
            .attest(Some(&new.public_key), Some(&binding), None)?;
        tracing::info!(key_id, %key_type, "key generated");
        Ok(Response::Generated(GeneratedKey {
            key: PublicKeyInfo {
                key_id: key_id.to_owned(),
                key_type,
                public_key: new.public_key,
            },
            sealed: new.sealed,
            attestation,
        }))
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
        let (key_type, public_key) = match self.backend.public_key(&req.key_id) {
            Err(e) if e.code == ErrorCode::KeyNotLoaded && req.sealed.is_some() => {
                let sealed = req.sealed.as_ref().ok_or_else(|| e.clone())?;
                if sealed.key_id != req.key_id {
                    return Err(SignerError::new(
                        ErrorCode::SealedKeyInvalid,
                        "sealed blob is for another key",
                    ));
                }
                let info = self.backend.load_sealed(sealed)?;
                (info.key_type, info.public_key)
            }
            other => other?,
        };
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
        if let Some(message) = &req.message {
            if Sha256::digest(message)[..] != req.digest[..] {
                return Err(SignerError::new(
                    ErrorCode::TicketInvalid,
                    "SHA-256 of the message is not the ticket's digest",
                ));
            }
        }
        // Last check before signing: a ticket refused above may be retried.
        self.replay.consume(&claims.jti, claims.exp, now)?;
        let signature = self
            .backend
            .sign(&req.key_id, &req.digest, req.message.as_deref())?;
        let attestation = if req.attest {
            let binding = signature_binding(&req.key_id, &req.digest, &signature.bytes);
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
                let (key_type, public_key) = self.backend.public_key(key_id)?;
                let binding = key_binding(key_id, key_type.as_str(), &public_key);
                self.attestor
                    .attest(Some(&public_key), Some(&binding), nonce)?
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
