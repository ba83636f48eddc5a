//! The signer's request handling, independent of sockets: hello, keys,
//! tickets, signing, attestation.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use signet_attestation::{key_binding, signature_binding};
use signet_proto::message::{
    GeneratedKey, HelloInfo, PublicKeyInfo, SignRequest, SignatureInfo, SignerStatus,
    HELLO_NONCE_LEN, MAX_MESSAGE_LEN, PROTOCOL_VERSION,
};
use signet_proto::ticket::{Expected, TicketKeys};
use signet_proto::{hello, ErrorCode, Request, Response, SharedSecret};

use crate::attestor::Attestor;
use crate::backend::{check_key_id, KeyBackend};
use crate::error::SignerError;
use crate::replay::ReplayCache;

/// Longest caller nonce accepted in an attestation request (NSM limit).
pub const MAX_NONCE_LEN: usize = 512;

/// Everything a signer needs to answer requests.
pub struct Signer {
    backend: Arc<dyn KeyBackend>,
    attestor: Arc<dyn Attestor>,
    tickets: TicketKeys,
    replay: ReplayCache,
    internal_api_key: SharedSecret,
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
        let blocking = backend
            .blocking_concurrency()
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        Self {
            blocking,
            backend,
            attestor,
            tickets,
            replay: ReplayCache::new(replay_capacity),
            internal_api_key,
            started: Instant::now(),
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
        if client_nonce.len() != HELLO_NONCE_LEN
            || !hello::verify_host_proof(&self.internal_api_key, challenge, &client_nonce, &proof)
        {
            return Err(SignerError::new(
                ErrorCode::Unauthenticated,
                "hello proof is wrong",
            ));
        }
        let attestation = self.attestor.attest(None, None, Some(&client_nonce))?;
        Ok(Response::Hello(HelloInfo {
            version: PROTOCOL_VERSION,
            proof: hello::signer_proof(&self.internal_api_key, challenge, &client_nonce),
            attestation,
            backend: self.backend.name().to_owned(),
            attestation_mode: self.attestor.mode().to_owned(),
            sealing_key_version: self.backend.sealing_key_version(),
        }))
    }

    /// Answers one request of an authenticated connection from async code:
    /// inline for in-memory backends, on a bounded set of dedicated threads
    /// for blocking ones (PKCS#11).
    pub async fn serve(self: Arc<Self>, request: Request) -> Response {
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
            Request::Hello { .. } => Err(SignerError::bad_request("hello was already done")),
            Request::Generate { key_id, key_type } => self.generate(&key_id, key_type),
            Request::LoadSealed { sealed } => {
                self.backend.load_sealed(&sealed).map(Response::Loaded)
            }
            Request::Sign(sign) => self.sign(sign),
            Request::Destroy { key_id } => self.destroy(&key_id),
            Request::List => Ok(Response::Keys {
                key_ids: self.backend.loaded_ids(),
            }),
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
            uptime_seconds: self.started.elapsed().as_secs(),
        })
    }
}
