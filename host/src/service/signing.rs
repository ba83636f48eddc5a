//! The ticket lifecycle, in one place: **mint** (after authz and limits),
//! **consume** (recorded in the database, so a ticket is single-use across
//! restarts and replicas), **sign** (the signer checks the ticket again),
//! **audit** (the outcome, once).
//!
//! Two ways in: `sign-intent` mints a ticket for the caller to present
//! later (consumed before signing), and a direct `sign` mints and presents
//! its own (consumed with the signature's audit event).

use rand_core::RngCore as _;
use signet_proto::message::{SignRequest, SignatureInfo};
use signet_proto::ticket::{TicketClaims, AUDIENCE};
use signet_proto::time::now_ms;
use signet_proto::{ErrorCode, KeyType, SealedKey};

use super::approvals;
use super::audit::{Action, Event, Outcome};
use super::authz::{Principal, Scope};
use super::digest::{assemble, content_digest, sign_input, Content, SignInput};
use super::wallets::sealed_of;
use super::{Error, Result, Service};
use crate::metrics::{ReasonLabels, SignatureLabels};
use crate::signer::CallError;
use crate::store::{Approval, IntentRow, WalletRow, WriteOp};

/// What a caller asks to have signed (DESIGN.md's digest rules).
#[derive(Clone, Debug, Default)]
pub struct SignArgs {
    /// A ticket from `sign-intent` (then nothing else but `attest`).
    pub ticket: Option<String>,
    /// Hex 32-byte prehash (ECDSA).
    pub digest: Option<String>,
    /// A message, with `encoding`.
    pub message: Option<String>,
    /// `eip191` or `raw` (ed25519).
    pub encoding: Option<String>,
    /// An Ethereum transaction (secp256k1 wallets).
    pub transaction: Option<serde_json::Value>,
    /// EIP-712 typed data (secp256k1 wallets).
    pub typed_data: Option<serde_json::Value>,
    /// Whether to return an attestation document binding the signature.
    pub attest: bool,
}

impl SignArgs {
    /// The digest (and Ed25519 message, or structured content) to sign, by
    /// the digest rules, and the decoded form of structured content.
    fn input(&self, wallet: &WalletRow) -> Result<(SignInput, Option<serde_json::Value>)> {
        let content = match (&self.transaction, &self.typed_data) {
            (None, None) => {
                let input = sign_input(
                    wallet.key_type,
                    self.digest.as_deref(),
                    self.message.as_deref(),
                    self.encoding.as_deref(),
                )?;
                return Ok((input, None));
            }
            (Some(_), Some(_)) => {
                return Err(Error::bad_request(
                    "send either `transaction` or `typed_data`, not both",
                ))
            }
            _ if self.digest.is_some() || self.message.is_some() || self.encoding.is_some() => {
                return Err(Error::bad_request(
                    "send one of `digest`, `message`, `transaction` or `typed_data`",
                ))
            }
            (Some(t), None) => Content::Transaction(t.clone()),
            (None, Some(t)) => Content::TypedData(t.clone()),
        };
        let (digest, detail) = content_digest(wallet.key_type, &wallet.public_key, &content)?;
        Ok((
            SignInput {
                digest: digest.to_vec(),
                message: None,
                content: Some(content),
            },
            Some(detail),
        ))
    }

    /// Whether any payload (not a ticket) is given.
    fn has_payload(&self) -> bool {
        self.digest.is_some()
            || self.message.is_some()
            || self.encoding.is_some()
            || self.transaction.is_some()
            || self.typed_data.is_some()
    }
}

/// A signature and, for a transaction, the signed transaction.
#[derive(Debug)]
pub struct Signed {
    /// The wallet.
    pub wallet: WalletRow,
    /// The signature.
    pub signature: SignatureInfo,
    /// For an Ethereum transaction: the raw signed bytes and their hash.
    pub transaction: Option<signet_eth::SignedTx>,
}

/// A minted sign intent.
#[derive(Clone, Debug)]
pub struct Intent {
    /// The ticket's `jti`.
    pub intent_id: String,
    /// The ticket.
    pub ticket: String,
    /// The digest it authorizes.
    pub digest: Vec<u8>,
    /// Unix seconds.
    pub expires_at: u64,
    /// What is to be signed, decoded (structured content only).
    pub detail: Option<serde_json::Value>,
    /// `pending` (the wallet requires its owner's approval) or `not_required`.
    pub state: &'static str,
}

impl Service {
    fn mint(
        &self,
        principal: &Principal,
        wallet: &WalletRow,
        digest: &[u8],
    ) -> (TicketClaims, String) {
        self.mint_for(principal, wallet, digest, self.config.ticket_ttl.as_secs())
    }

    fn mint_for(
        &self,
        principal: &Principal,
        wallet: &WalletRow,
        digest: &[u8],
        ttl_s: u64,
    ) -> (TicketClaims, String) {
        let mut jti = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut jti);
        let now = now_ms() / 1000;
        let claims = TicketClaims {
            jti: hex::encode(jti),
            sub: principal.actor(),
            wid: wallet.id.clone(),
            dig: hex::encode(digest),
            kty: wallet.key_type,
            iat: now,
            exp: now + ttl_s,
            aud: AUDIENCE.into(),
        };
        let token = self.tickets.mint(&claims);
        (claims, token)
    }

    /// Mints a ticket for `args`' digest or message, recorded as an intent.
    pub async fn sign_intent(
        &self,
        principal: &Principal,
        wallet_id: &str,
        args: SignArgs,
    ) -> Result<Intent> {
        self.require(principal, Scope::Sign, wallet_id).await?;
        if args.ticket.is_some() || args.attest {
            return Err(Error::bad_request(
                "sign-intent takes `digest`, `message`/`encoding`, `transaction` or `typed_data` only",
            ));
        }
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        let (input, detail) = args.input(&wallet)?;
        // An intent that waits for its owner lives (and its ticket with it)
        // long enough for a person to look at it.
        let (approval, ttl) = if wallet.require_approval {
            (Some(Approval::Pending), self.config.approval_ttl)
        } else {
            (None, self.config.ticket_ttl)
        };
        let (claims, ticket) = self.mint_for(principal, &wallet, &input.digest, ttl.as_secs());
        let view = approvals::content_view(
            detail.as_ref(),
            args.message.as_deref(),
            args.encoding.as_deref(),
            &input.digest,
        );
        let intent = IntentRow {
            jti: claims.jti.clone(),
            wallet_id: wallet.id.clone(),
            digest: input.digest.clone(),
            message: input.message,
            created_by: principal.actor(),
            expires_at: claims.exp,
            content: input.content.as_ref().map(Content::to_stored),
            approval,
            decided: None,
            created_at: now_ms(),
            detail: Some(view.to_string()),
            owner: wallet.owner.clone(),
            signature: None,
        };
        self.audit
            .write(
                WriteOp::CreateIntent(intent),
                Event::by(principal, Action::SignIntent, &wallet.id, Outcome::Ok)
                    .detail(detail.clone()),
            )
            .await?;
        Ok(Intent {
            intent_id: claims.jti,
            ticket,
            digest: input.digest,
            expires_at: claims.exp,
            detail,
            state: if wallet.require_approval {
                "pending"
            } else {
                "not_required"
            },
        })
    }

    /// Signs with a presented ticket or directly; returns the wallet (for
    /// the view) and the signature.
    pub async fn sign(
        &self,
        principal: &Principal,
        wallet_id: &str,
        args: SignArgs,
    ) -> Result<Signed> {
        self.require(principal, Scope::Sign, wallet_id).await?;
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        self.rate_limit(
            principal,
            &format!("wallet:{}", wallet.id),
            self.config.rate_limit_per_wallet_sign,
            &wallet.id,
        )
        .await?;
        let (claims, ticket, (input, detail), direct) = match &args.ticket {
            Some(ticket) => {
                if args.has_payload() {
                    return Err(Error::bad_request(
                        "send either `ticket` or what to sign, not both",
                    ));
                }
                let (claims, input) =
                    match self.consume_client_ticket(principal, &wallet, ticket).await {
                        Ok(v) => v,
                        Err(e) => {
                            self.count_signature(wallet.key_type, &e);
                            return Err(e);
                        }
                    };
                (claims, ticket.clone(), input, false)
            }
            None => {
                if wallet.require_approval {
                    let e = approvals::direct_refusal(&wallet.id);
                    self.count_signature(wallet.key_type, &e);
                    self.record_sign_denial(principal, &wallet.id, e.code())
                        .await;
                    return Err(e);
                }
                let input = args.input(&wallet)?;
                let (claims, ticket) = self.mint(principal, &wallet, &input.0.digest);
                (claims, ticket, input, true)
            }
        };
        let request = SignRequest {
            key_id: wallet.id.clone(),
            ticket,
            digest: input.digest.clone(),
            message: input.message.clone(),
            attest: args.attest,
            sealed: None,
        };
        let event = |outcome| {
            Event::by(principal, Action::Sign, &wallet.id, outcome).detail(detail.clone())
        };
        let signature = match self.signer_sign(principal, &wallet, request).await {
            Ok(s) => s,
            Err(e) => {
                self.count_signature(wallet.key_type, &e);
                let outcome = if e.is_server_side() {
                    Outcome::Error(e.code().to_owned())
                } else {
                    Outcome::Denied(e.code().to_owned())
                };
                self.audit.record(event(outcome)).await;
                return Err(e);
            }
        };
        // Host-minted tickets are consumed with the signature's audit event;
        // a client's ticket was consumed before signing.
        let op = if direct {
            WriteOp::ConsumeTicket {
                jti: claims.jti.clone(),
                wallet_id: wallet.id.clone(),
                expires_at: claims.exp,
            }
        } else {
            WriteOp::Audit
        };
        let transaction = match &input.content {
            Some(content) => assemble(content, &signature.signature, signature.recovery_id)?,
            None => None,
        };
        // The intent keeps what its ticket signed, for its approver's page.
        let op = if direct {
            op
        } else {
            WriteOp::IntentSigned {
                jti: claims.jti.clone(),
                signature: serde_json::json!({
                    "signature": hex::encode(&signature.signature),
                    "recovery_id": signature.recovery_id,
                    "raw_transaction": transaction.as_ref().map(|t| format!("0x{}", hex::encode(&t.raw))),
                    "transaction_hash": transaction.as_ref().map(|t| format!("0x{}", hex::encode(t.hash))),
                    "signed_at": signet_proto::time::rfc3339_ms(now_ms()),
                })
                .to_string(),
            }
        };
        // The audit event names the transaction that can now go on chain.
        let signed_detail = match (&detail, &transaction) {
            (Some(serde_json::Value::Object(d)), Some(t)) => {
                let mut d = d.clone();
                d.insert(
                    "transaction_hash".into(),
                    format!("0x{}", hex::encode(t.hash)).into(),
                );
                Some(serde_json::Value::Object(d))
            }
            _ => detail.clone(),
        };
        self.audit
            .write(
                op,
                Event::by(principal, Action::Sign, &wallet.id, Outcome::Ok).detail(signed_detail),
            )
            .await?;
        self.metrics
            .signatures
            .get_or_create(&SignatureLabels {
                key_type: wallet.key_type.as_str(),
                outcome: "ok",
            })
            .inc();
        Ok(Signed {
            wallet,
            signature,
            transaction,
        })
    }

    /// Records a refused signature (`sign`, `denied:<code>`) in the audit log.
    async fn record_sign_denial(&self, principal: &Principal, wallet_id: &str, code: &str) {
        self.audit
            .record(Event::by(
                principal,
                Action::Sign,
                wallet_id,
                Outcome::Denied(code.to_owned()),
            ))
            .await;
    }

    /// Counts a refused or failed signature (and a ticket refusal by reason).
    fn count_signature(&self, key_type: KeyType, e: &Error) {
        let outcome = if e.is_server_side() {
            "error"
        } else {
            "denied"
        };
        self.metrics
            .signatures
            .get_or_create(&SignatureLabels {
                key_type: key_type.as_str(),
                outcome,
            })
            .inc();
        if let Error::Ticket { code, .. } = e {
            self.metrics
                .ticket_refusals
                .get_or_create(&ReasonLabels {
                    reason: code.as_str(),
                })
                .inc();
        }
    }

    /// Verifies a client-presented ticket (MAC, audience, expiry, wallet, key
    /// type) and consumes it in storage before anything is signed.
    async fn consume_client_ticket(
        &self,
        principal: &Principal,
        wallet: &WalletRow,
        ticket: &str,
    ) -> Result<(TicketClaims, (SignInput, Option<serde_json::Value>))> {
        let deny = |code: ErrorCode| self.record_sign_denial(principal, &wallet.id, code.as_str());
        let claims = match self.tickets.verify_unbound(ticket, now_ms() / 1000) {
            Ok(c) => c,
            Err(e) => {
                deny(e.code()).await;
                return Err(Error::ticket(e.code(), e.to_string()));
            }
        };
        if claims.wid != wallet.id || claims.kty != wallet.key_type {
            deny(ErrorCode::TicketInvalid).await;
            return Err(Error::ticket(
                ErrorCode::TicketInvalid,
                "ticket invalid: issued for another wallet",
            ));
        }
        let digest =
            hex::decode(&claims.dig).map_err(|_| Error::bad_request("ticket digest is not hex"))?;
        let no_intent = || {
            Error::ticket(
                ErrorCode::TicketInvalid,
                "ticket invalid: no recorded intent",
            )
        };
        // Ed25519 signs the recorded message; a secp256k1 ticket may be for
        // a transaction or typed data, whose content the intent holds (and
        // must still hash to the ticket's digest); any intent may wait for
        // its owner's approval.
        let intent = self
            .store
            .intent(&claims.jti)
            .await?
            .filter(|i| i.wallet_id == wallet.id);
        let Some(intent_row) = intent.as_ref() else {
            deny(ErrorCode::TicketInvalid).await;
            return Err(no_intent());
        };
        if let Some(e) = approvals::ticket_refusal(intent_row, wallet) {
            self.record_sign_denial(principal, &wallet.id, e.code())
                .await;
            return Err(e);
        }
        let message = if wallet.key_type == KeyType::Ed25519 {
            Some(
                intent
                    .as_ref()
                    .and_then(|i| i.message.clone())
                    .ok_or_else(no_intent)?,
            )
        } else {
            None
        };
        let (content, detail) = match intent.as_ref().and_then(|i| i.content.as_deref()) {
            Some(stored) => {
                let content = Content::from_stored(stored)?;
                let (hash, detail) = content_digest(wallet.key_type, &wallet.public_key, &content)?;
                if hash.as_slice() != digest.as_slice() {
                    return Err(Error::internal(
                        "an intent's content does not hash to its ticket's digest",
                    ));
                }
                (Some(content), Some(detail))
            }
            None => (None, None),
        };
        let fresh = self
            .audit
            .write(
                WriteOp::ConsumeTicket {
                    jti: claims.jti.clone(),
                    wallet_id: wallet.id.clone(),
                    expires_at: claims.exp,
                },
                Event::by(principal, Action::TicketConsume, &wallet.id, Outcome::Ok),
            )
            .await?;
        if !fresh {
            return Err(Error::ticket(
                ErrorCode::TicketReplayed,
                "ticket was already used",
            ));
        }
        Ok((
            claims,
            (
                SignInput {
                    digest,
                    message,
                    content,
                },
                detail,
            ),
        ))
    }

    /// Sends a sign request; reloads the sealed key if the signer lost it,
    /// and if the connection broke (signer restarting), waits for it and
    /// retries with a fresh host-minted ticket for the same wallet and digest.
    async fn signer_sign(
        &self,
        principal: &Principal,
        wallet: &WalletRow,
        mut request: SignRequest,
    ) -> Result<SignatureInfo> {
        let mut resynced = false;
        for attempt in 0..3u64 {
            match self.signer.sign(request.clone()).await {
                Ok(s) if s.public_key == wallet.public_key => return Ok(s),
                Ok(_) => {
                    // E.g. an HSM key replaced on the token behind Signet's
                    // back: a signature by any other key is not the wallet's.
                    tracing::error!(wallet = %wallet.id, "the signer signed with a key other than the wallet's; refused");
                    return Err(Error::internal(
                        "the signer signed with a key other than the wallet's",
                    ));
                }
                Err(CallError::Refused(ErrorCode::KeyNotLoaded, _)) if request.sealed.is_none() => {
                    self.metrics.sealed_key_loads.inc();
                    request.sealed = Some(sealed_of(wallet)?);
                }
                // A blob under a version this signer does not hold: another
                // replica rotated the sealing key. Bring the signer to the
                // stored versions, take the wallet's current blob, once.
                // (The refusal came before the ticket was consumed.)
                Err(CallError::Refused(ErrorCode::SealingUnavailable, _))
                    if !resynced && self.sealing_manager.is_some() =>
                {
                    resynced = true;
                    request.sealed = self.resync_sealed(&wallet.id).await?;
                }
                Err(CallError::Unavailable(m)) if attempt < 2 => {
                    tracing::warn!(wallet = %wallet.id, reason = %m, "signer unavailable; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(250 * (attempt + 1))).await;
                    let (_, ticket) = self.mint(principal, wallet, &request.digest);
                    request.ticket = ticket;
                    request.sealed = wallet
                        .sealed
                        .as_ref()
                        .map(|_| sealed_of(wallet))
                        .transpose()?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::SignerUnavailable("the signer did not answer".into()))
    }
}

impl Service {
    /// After a `sealing_unavailable`: the signer brought to the stored
    /// sealing versions and the wallet's blob read afresh (a rotation on
    /// another replica may have re-sealed it).
    pub(super) async fn resync_sealed(&self, wallet_id: &str) -> Result<Option<SealedKey>> {
        self.sync_sealing().await;
        self.wallets.forget(wallet_id);
        let fresh = self
            .store
            .wallet(wallet_id)
            .await?
            .ok_or(Error::NotFound("wallet"))?;
        fresh.sealed.as_ref().map(|_| sealed_of(&fresh)).transpose()
    }
}
