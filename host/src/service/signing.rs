//! The ticket lifecycle, in one place: **mint** (after authz and limits),
//! **consume** (recorded in the database, so a ticket is single-use across
//! restarts and replicas), **sign** (the signer checks the ticket again),
//! **audit** (the outcome, once).
//!
//! Two ways in: `sign-intent` mints a ticket for the caller to present
//! later (consumed before signing), and a direct `sign` mints and presents
//! its own (consumed with the signature's audit event).

use std::sync::Arc;

use rand_core::RngCore as _;
use serde_json::Value;
use signet_proto::message::{CheckRequest, CheckResult, SignRequest, SignatureInfo};
use signet_proto::ticket::{TicketClaims, AUDIENCE};
use signet_proto::time::now_ms;
use signet_proto::{ErrorCode, KeyType, SealedKey};

use super::approvals;
use super::audit::{Action, Event, Outcome};
use super::authz::{Principal, Scope};
use super::digest::{assemble, content_digest, sign_input, Content, SignInput};
use super::limits::Limit;
use super::owners;
use super::wallets::{sealed_of, stored_sealed};
use super::{Error, Result, Service};
use crate::domain::{Approval, Intent, IntentState, Wallet};
use crate::metrics::{ReasonLabels, SignatureLabels};
use crate::signer::CallError;
use crate::store::WriteOp;

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
    /// Owners' approvals of this request, for one-request signing on a
    /// wallet whose policy does not allow it on a ticket alone.
    pub approvals: Vec<signet_authority::Approval>,
}

impl SignArgs {
    /// The digest (and Ed25519 message, or structured content) to sign, by
    /// the digest rules, and the decoded form of structured content.
    fn input(&self, wallet: &Wallet) -> Result<(SignInput, Option<Value>)> {
        let content = match (&self.transaction, &self.typed_data) {
            (None, None) => {
                let mut input = sign_input(
                    wallet.key_type,
                    self.digest.as_deref(),
                    self.message.as_deref(),
                    self.encoding.as_deref(),
                )?;
                input.approvals.clone_from(&self.approvals);
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
                payload: content.payload(),
                content: Some(content),
                approvals: self.approvals.clone(),
            },
            Some(detail),
        ))
    }

    /// Whether any payload (not a ticket) is given.
    fn has_payload(&self) -> bool {
        !self.approvals.is_empty()
            || self.digest.is_some()
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
    pub wallet: Arc<Wallet>,
    /// The signature.
    pub signature: SignatureInfo,
    /// For an Ethereum transaction: the raw signed bytes and their hash.
    pub transaction: Option<signet_eth::SignedTx>,
}

/// A minted sign intent.
#[derive(Clone, Debug)]
pub struct MintedIntent {
    /// The ticket's `jti`.
    pub intent_id: String,
    /// The ticket.
    pub ticket: String,
    /// The digest it authorizes.
    pub digest: Vec<u8>,
    /// Unix seconds.
    pub expires_at_s: u64,
    /// What is to be signed, decoded (structured content only).
    pub detail: Option<Value>,
    /// [`IntentState::Pending`] (the wallet requires its owner's approval,
    /// or its owners') or [`IntentState::NotRequired`].
    pub state: IntentState,
    /// The authorization (v1 text) the wallet's owners sign, when its
    /// policy does not allow this on a ticket alone.
    pub authorization: Option<String>,
}

/// How the ticket of an authorized signature came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TicketSource {
    /// Minted by the host for a direct `sign`: consumed with the
    /// signature's audit event.
    Minted,
    /// Presented by the caller (from `sign-intent`): consumed before
    /// signing; its intent keeps the signature.
    Presented,
}

/// A signature request that passed every check of the host: scope, owner,
/// limits, and a ticket (minted now, or presented and consumed).
#[derive(Debug)]
struct Authorized {
    wallet: Arc<Wallet>,
    claims: TicketClaims,
    ticket: String,
    source: TicketSource,
    input: SignInput,
    /// What is signed, decoded (structured content only).
    detail: Option<Value>,
}

impl Authorized {
    fn request(&self, attest: bool) -> SignRequest {
        SignRequest {
            key_id: self.wallet.id.clone(),
            ticket: self.ticket.clone(),
            digest: self.input.digest.clone(),
            message: self.input.message.clone(),
            attest,
            sealed: None,
            record: None,
            content: (!self.input.payload.is_null()).then(|| self.input.payload.to_string()),
            approvals: self.input.approvals.clone(),
        }
    }
}

/// The digest a verified ticket authorizes on `wallet` (the ticket's wallet
/// and key type must be the wallet's).
fn ticket_digest(claims: &TicketClaims, wallet: &Wallet) -> Result<Vec<u8>> {
    if claims.wid != wallet.id || claims.kty != wallet.key_type {
        return Err(Error::ticket(
            ErrorCode::TicketInvalid,
            "ticket invalid: issued for another wallet",
        ));
    }
    hex::decode(&claims.dig).map_err(|_| Error::bad_request("ticket digest is not hex"))
}

fn no_intent() -> Error {
    Error::ticket(
        ErrorCode::TicketInvalid,
        "ticket invalid: no recorded intent",
    )
}

/// What a presented ticket signs, from its recorded intent: Ed25519 signs
/// the recorded message; a secp256k1 ticket may be for a transaction or
/// typed data, whose content the intent holds (and must still hash to the
/// ticket's digest); the intent must not be waiting for (or refused by) the
/// wallet's owner.
fn intent_input(
    digest: Vec<u8>,
    wallet: &Wallet,
    intent: Option<&Intent>,
) -> Result<(SignInput, Option<Value>)> {
    let intent = intent
        .filter(|i| i.wallet_id == wallet.id)
        .ok_or_else(no_intent)?;
    if let Some(e) = approvals::ticket_refusal(intent, wallet) {
        return Err(e);
    }
    let message = match wallet.key_type {
        KeyType::Ed25519 => Some(intent.message.clone().ok_or_else(no_intent)?),
        KeyType::Secp256k1 | KeyType::P256 => None,
    };
    let (content, detail) = match intent.content.as_deref() {
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
    let payload = match intent.payload.as_deref() {
        Some(stored) => serde_json::from_str(stored)
            .map_err(|_| Error::internal("an intent's payload is not JSON"))?,
        // Intents from before payloads were kept.
        None => match (&content, &message) {
            (Some(c), _) => c.payload(),
            (None, Some(m)) => serde_json::json!({
                "message": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, m),
                "encoding": "raw",
            }),
            (None, None) => serde_json::json!({ "digest": signet_proto::hexstr::encode(&digest) }),
        },
    };
    let approvals = owners::stored_approvals(intent.owner_approvals.as_deref())?;
    Ok((
        SignInput {
            digest,
            message,
            content,
            payload,
            approvals,
        },
        detail,
    ))
}

/// The signature as the intent keeps it for its approver's page.
fn intent_signature(signature: &SignatureInfo, tx: Option<&signet_eth::SignedTx>) -> String {
    serde_json::json!({
        "signature": signet_proto::hexstr::encode(&signature.signature),
        "recovery_id": signature.recovery_id,
        "raw_transaction": tx.map(|t| format!("0x{}", signet_proto::hexstr::encode(&t.raw))),
        "transaction_hash": tx.map(|t| format!("0x{}", signet_proto::hexstr::encode(t.hash))),
        "signed_at": signet_proto::time::rfc3339_ms(now_ms()),
    })
    .to_string()
}

/// The audit detail of a signature: what was signed, and for a
/// transaction the hash it can now go on chain with.
fn signed_detail(detail: Option<Value>, tx: Option<&signet_eth::SignedTx>) -> Option<Value> {
    match (detail, tx) {
        (Some(Value::Object(mut d)), Some(t)) => {
            d.insert(
                "transaction_hash".into(),
                format!("0x{}", signet_proto::hexstr::encode(t.hash)).into(),
            );
            Some(Value::Object(d))
        }
        (detail, _) => detail,
    }
}

impl Service {
    fn mint(
        &self,
        principal: &Principal,
        wallet: &Wallet,
        digest: &[u8],
    ) -> (TicketClaims, String) {
        self.mint_for(principal, wallet, digest, self.config.ticket_ttl.as_secs())
    }

    fn mint_for(
        &self,
        principal: &Principal,
        wallet: &Wallet,
        digest: &[u8],
        ttl_s: u64,
    ) -> (TicketClaims, String) {
        let now_ms = now_ms();
        let now = now_ms / 1000;
        let claims = TicketClaims {
            jti: new_jti(now_ms),
            sub: principal.actor(),
            wid: wallet.id.clone(),
            dig: signet_proto::hexstr::encode(digest),
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
    ) -> Result<MintedIntent> {
        self.require(principal, Scope::Sign, wallet_id).await?;
        if args.ticket.is_some() || args.attest {
            return Err(Error::bad_request(
                "sign-intent takes `digest`, `message`/`encoding`, `transaction` or `typed_data` only",
            ));
        }
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        self.check_not_frozen(&wallet.id, &wallet.owner)?;
        if !args.approvals.is_empty() {
            return Err(Error::bad_request(
                "owners approve an intent with POST /v1/intents/{id}/approve; sign-intent takes what to sign only",
            ));
        }
        let (input, mut detail) = args.input(&wallet)?;
        owners::annotate_units(&wallet, detail.as_mut())?;
        // Outside the wallet's policy: its owners sign this authorization.
        // A policy of more than `allow` is the signer's to judge (it decodes
        // the content and keeps the windows): it is asked, nothing signed.
        let authorization = match owners::record_of(&wallet)? {
            Some(record) if record.policy().has_rules() => {
                let checked = self
                    .signer_check(&wallet, &input.payload, Vec::new())
                    .await?;
                if checked.allowed {
                    None
                } else if !checked.needs_owners {
                    return Err(Error::Authority {
                        code: ErrorCode::PolicyDenied,
                        message: checked.message.unwrap_or_default(),
                        detail: checked.rule,
                    });
                } else {
                    Some(owners::authorization(
                        &record,
                        &input.payload,
                        &input.digest,
                    )?)
                }
            }
            Some(record) => owners::owners_needed(&wallet.id, record, &input.payload)?
                .map(|record| owners::authorization(&record, &input.payload, &input.digest))
                .transpose()?,
            None => None,
        };
        // An intent that waits for its owner lives (and its ticket with it)
        // long enough for a person to look at it.
        let (approval, ttl, state) = if wallet.require_approval || authorization.is_some() {
            (
                Some(Approval::Pending),
                self.config.approval_ttl,
                IntentState::Pending,
            )
        } else {
            (None, self.config.ticket_ttl, IntentState::NotRequired)
        };
        let (claims, ticket) = self.mint_for(principal, &wallet, &input.digest, ttl.as_secs());
        let view = approvals::content_view(
            detail.as_ref(),
            args.message.as_deref(),
            args.encoding.as_deref(),
            &input.digest,
        );
        let intent = Intent {
            jti: claims.jti.clone(),
            wallet_id: wallet.id.clone(),
            digest: input.digest.clone(),
            message: input.message,
            created_by: principal.actor(),
            expires_at_s: claims.exp,
            content: input.content.as_ref().map(Content::to_stored),
            approval,
            decided: None,
            created_at_ms: now_ms(),
            detail: Some(view.to_string()),
            owner: Some(wallet.owner.clone()),
            signature: None,
            payload: Some(input.payload.to_string()),
            authorization: authorization.as_ref().map(|a| a.text().to_owned()),
            owner_approvals: None,
        };
        let cached = (intent.approval.is_none()).then(|| Arc::new(intent.clone()));
        self.audit
            .write(
                WriteOp::CreateIntent(intent),
                Event::by(principal, Action::SignIntent, &wallet.id, Outcome::Ok)
                    .detail(detail.clone()),
            )
            .await?;
        if let Some(intent) = cached {
            let jti = intent.jti.clone();
            self.minted.put(&jti, intent);
        }
        Ok(MintedIntent {
            intent_id: claims.jti,
            ticket,
            digest: input.digest,
            expires_at_s: claims.exp,
            detail,
            state,
            authorization: authorization.map(|a| a.text().to_owned()),
        })
    }

    /// What signing `args` on the wallet would get, decided by the signer
    /// (`POST /v1/wallets/{id}/check`): nothing is signed, reserved or
    /// remembered.
    pub async fn check_sign(
        &self,
        principal: &Principal,
        wallet_id: &str,
        args: SignArgs,
    ) -> Result<CheckResult> {
        self.require(principal, Scope::Sign, wallet_id).await?;
        if args.ticket.is_some() || args.attest {
            return Err(Error::bad_request(
                "check takes what to sign (`digest`, `message`/`encoding`, `transaction` or `typed_data`) and `approvals`, not `ticket` or `attest`",
            ));
        }
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        let (input, _) = args.input(&wallet)?;
        self.signer_check(&wallet, &input.payload, args.approvals)
            .await
    }

    /// The signer's dry run of signing `payload` on `wallet`.
    async fn signer_check(
        &self,
        wallet: &Wallet,
        payload: &Value,
        approvals: Vec<signet_authority::Approval>,
    ) -> Result<CheckResult> {
        let sealed = stored_sealed(wallet)?;
        Ok(self
            .signer
            .check(CheckRequest {
                key_id: wallet.id.clone(),
                sealed,
                record: wallet.record.clone(),
                content: payload.to_string(),
                approvals,
            })
            .await?)
    }

    /// Signs with a presented ticket or directly: `authorize` (every check of
    /// the host), the signer, then `record_signature`. Returns the wallet (for the
    /// view), the signature and, for a transaction, the signed transaction.
    pub async fn sign(
        &self,
        principal: &Principal,
        wallet_id: &str,
        args: SignArgs,
    ) -> Result<Signed> {
        let authorized = self.authorize(principal, wallet_id, &args).await?;
        let request = authorized.request(args.attest);
        match self
            .signer_sign(principal, &authorized.wallet, request)
            .await
        {
            Ok(signature) => {
                self.record_signature(principal, authorized, signature)
                    .await
            }
            Err(e) => {
                self.count_signature(authorized.wallet.key_type, &e);
                self.audit
                    .record(
                        Event::by(
                            principal,
                            Action::Sign,
                            &authorized.wallet.id,
                            Outcome::of(&e),
                        )
                        .detail(authorized.detail),
                    )
                    .await;
                Err(e)
            }
        }
    }

    /// Every check before the signer: the `sign` scope, the caller's own
    /// wallet, its rate limit, then either the presented ticket (verified,
    /// its intent approved, consumed) or direct signing (refused on a
    /// wallet that requires approval) with a freshly minted ticket. Refused
    /// tickets and approvals are counted and audited here.
    async fn authorize(
        &self,
        principal: &Principal,
        wallet_id: &str,
        args: &SignArgs,
    ) -> Result<Authorized> {
        self.require(principal, Scope::Sign, wallet_id).await?;
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        if let Err(e) = self.check_not_frozen(&wallet.id, &wallet.owner) {
            self.count_signature(wallet.key_type, &e);
            self.record_sign_denial(principal, &wallet.id, &e).await;
            return Err(e);
        }
        self.rate_limit(
            principal,
            Limit::PerWalletSign,
            &format!("wallet:{}", wallet.id),
            &wallet.id,
        )
        .await?;
        if let Some(ticket) = &args.ticket {
            if args.has_payload() {
                return Err(Error::bad_request(
                    "send either `ticket` or what to sign, not both",
                ));
            }
            return match self.consume_client_ticket(principal, &wallet, ticket).await {
                Ok((claims, input, detail)) => Ok(Authorized {
                    wallet,
                    claims,
                    ticket: ticket.clone(),
                    source: TicketSource::Presented,
                    input,
                    detail,
                }),
                Err(e) => {
                    self.count_signature(wallet.key_type, &e);
                    Err(e)
                }
            };
        }
        if wallet.require_approval {
            let e = approvals::direct_refusal(&wallet.id);
            self.count_signature(wallet.key_type, &e);
            self.record_sign_denial(principal, &wallet.id, &e).await;
            return Err(e);
        }
        let (input, mut detail) = args.input(&wallet)?;
        owners::annotate_units(&wallet, detail.as_mut())?;
        // The wallet's record is the signer's to apply: outside its policy
        // and without approvals, the signer refuses (with the rule).
        let (claims, ticket) = self.mint(principal, &wallet, &input.digest);
        Ok(Authorized {
            wallet,
            claims,
            ticket,
            source: TicketSource::Minted,
            input,
            detail,
        })
    }

    /// After the signer signed: the ticket consumed (a minted one) or the
    /// intent given its signature (a presented one), with the signature's
    /// audit event, in one journal write; the signed transaction assembled.
    async fn record_signature(
        &self,
        principal: &Principal,
        authorized: Authorized,
        signature: SignatureInfo,
    ) -> Result<Signed> {
        let Authorized {
            wallet,
            claims,
            source,
            input,
            detail,
            ..
        } = authorized;
        let transaction = match &input.content {
            Some(content) => assemble(content, &signature.signature, signature.recovery_id)?,
            None => None,
        };
        let op = match source {
            TicketSource::Minted => WriteOp::ConsumeTicket {
                jti: claims.jti,
                wallet_id: wallet.id.clone(),
                expires_at: claims.exp,
            },
            TicketSource::Presented => WriteOp::IntentSigned {
                jti: claims.jti,
                signature: intent_signature(&signature, transaction.as_ref()),
            },
        };
        self.audit
            .write(
                op,
                Event::by(principal, Action::Sign, &wallet.id, Outcome::Ok)
                    .detail(signed_detail(detail, transaction.as_ref())),
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
    async fn record_sign_denial(&self, principal: &Principal, wallet_id: &str, e: &Error) {
        self.audit
            .record(Event::by(
                principal,
                Action::Sign,
                wallet_id,
                Outcome::of(e),
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
    /// type), checks its recorded intent and consumes it in storage before
    /// anything is signed. Refusals of the ticket or its approval are
    /// recorded as refused signatures; a replay is recorded by the consume.
    async fn consume_client_ticket(
        &self,
        principal: &Principal,
        wallet: &Wallet,
        ticket: &str,
    ) -> Result<(TicketClaims, SignInput, Option<Value>)> {
        let claims = match self.tickets.verify_unbound(ticket, now_ms() / 1000) {
            Ok(c) => c,
            Err(e) => {
                let e = Error::ticket(e.code(), e.to_string());
                self.record_sign_denial(principal, &wallet.id, &e).await;
                return Err(e);
            }
        };
        let checked = match ticket_digest(&claims, wallet) {
            Ok(digest) => {
                let intent = match self.minted.get(&claims.jti) {
                    Some(minted) => Some(minted),
                    None => self.store.intent(&claims.jti).await?.map(Arc::new),
                };
                intent_input(digest, wallet, intent.as_deref())
            }
            Err(e) => Err(e),
        };
        let (input, detail) = match checked {
            Ok(v) => v,
            Err(e) => {
                self.record_sign_denial(principal, &wallet.id, &e).await;
                return Err(e);
            }
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
        self.minted.forget(&claims.jti);
        if !fresh {
            return Err(Error::ticket(
                ErrorCode::TicketReplayed,
                "ticket was already used",
            ));
        }
        Ok((claims, input, detail))
    }

    /// Sends a sign request; reloads the sealed key if the signer lost it,
    /// and if the connection broke (signer restarting), waits for it and
    /// retries with a fresh host-minted ticket for the same wallet and digest.
    async fn signer_sign(
        &self,
        principal: &Principal,
        wallet: &Wallet,
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
                    request.record.clone_from(&wallet.record);
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
                    request.record.clone_from(&wallet.record);
                }
                Err(CallError::Unavailable(m)) if attempt < 2 => {
                    tracing::warn!(wallet = %wallet.id, reason = %m, "signer unavailable; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(250 * (attempt + 1))).await;
                    let (_, ticket) = self.mint(principal, wallet, &request.digest);
                    request.ticket = ticket;
                    request.sealed = stored_sealed(wallet)?;
                    request.record.clone_from(&wallet.record);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::SignerUnavailable("the signer did not answer".into()))
    }
}

/// A ticket's id (also its intent's): 6 bytes of the time in milliseconds,
/// big-endian, then 10 random bytes, as 32 hex digits. Time-ordered like a
/// UUIDv7, so the ids a journal batch inserts (consumed tickets, intents)
/// land together at the end of their `jti` index instead of on a random
/// page each: fewer pages written per commit (issue 29). The 80 random bits
/// keep ids unique across replicas and unguessable; the ticket's MAC, not
/// its id, is what makes it valid.
fn new_jti(now_ms: u64) -> String {
    let mut jti = [0u8; 16];
    jti[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    rand_core::OsRng.fill_bytes(&mut jti[6..]);
    signet_proto::hexstr::encode(jti)
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
        stored_sealed(&fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Owner;

    #[test]
    fn ticket_ids_sort_by_time_and_differ_within_a_millisecond() {
        let (a, b, later) = (
            new_jti(1_765_000_000_000),
            new_jti(1_765_000_000_000),
            new_jti(1_765_000_000_001),
        );
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(&a[..12], "019af232b200", "the time, in ms, leads");
        assert_eq!(a[..12], b[..12]);
        assert_ne!(a, b, "80 random bits after it");
        assert!(later > a && later > b);
    }

    fn wallet(key_type: KeyType, require_approval: bool) -> Wallet {
        Wallet {
            id: "w_1".into(),
            owner: Owner::User("u".into()),
            key_type,
            public_key: vec![4; 65],
            label: None,
            sealed: None,
            attestation: None,
            created_at_ms: 0,
            require_approval,
            record: None,
        }
    }

    fn claims(wid: &str, kty: KeyType, dig: &str) -> TicketClaims {
        TicketClaims {
            jti: "j".into(),
            sub: "client:c".into(),
            wid: wid.into(),
            dig: dig.into(),
            kty,
            iat: 0,
            exp: 10,
            aud: AUDIENCE.into(),
        }
    }

    fn intent(wallet_id: &str, approval: Option<Approval>, message: Option<Vec<u8>>) -> Intent {
        Intent {
            jti: "j".into(),
            wallet_id: wallet_id.into(),
            digest: vec![7; 32],
            message,
            created_by: "client:c".into(),
            expires_at_s: 10,
            content: None,
            approval,
            decided: None,
            created_at_ms: 0,
            detail: None,
            owner: Some(Owner::User("u".into())),
            signature: None,
            payload: None,
            authorization: None,
            owner_approvals: None,
        }
    }

    fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        r.err().map_or("ok", |e| e.code())
    }

    #[test]
    fn refuses_a_ticket_for_another_wallet() {
        let w = wallet(KeyType::Secp256k1, false);
        let c = claims(
            "w_2",
            KeyType::Secp256k1,
            &signet_proto::hexstr::encode([7; 32]),
        );
        assert_eq!(code(ticket_digest(&c, &w)), "ticket_invalid");
    }

    #[test]
    fn refuses_a_ticket_for_another_key_type() {
        let w = wallet(KeyType::Secp256k1, false);
        let c = claims("w_1", KeyType::P256, &signet_proto::hexstr::encode([7; 32]));
        assert_eq!(code(ticket_digest(&c, &w)), "ticket_invalid");
    }

    #[test]
    fn a_tickets_digest_is_its_claim() {
        let w = wallet(KeyType::P256, false);
        let c = claims("w_1", KeyType::P256, &signet_proto::hexstr::encode([7; 32]));
        assert_eq!(ticket_digest(&c, &w).ok(), Some(vec![7; 32]));
    }

    #[test]
    fn refuses_a_ticket_without_a_recorded_intent() {
        let w = wallet(KeyType::P256, false);
        assert_eq!(code(intent_input(vec![7; 32], &w, None)), "ticket_invalid");
    }

    #[test]
    fn refuses_a_ticket_whose_intent_is_another_wallets() {
        let w = wallet(KeyType::P256, false);
        let i = intent("w_2", None, None);
        assert_eq!(
            code(intent_input(vec![7; 32], &w, Some(&i))),
            "ticket_invalid"
        );
    }

    #[test]
    fn refuses_an_ed25519_ticket_without_its_message() {
        let w = wallet(KeyType::Ed25519, false);
        let i = intent("w_1", None, None);
        assert_eq!(
            code(intent_input(vec![7; 32], &w, Some(&i))),
            "ticket_invalid"
        );
    }

    #[test]
    fn refuses_a_ticket_waiting_for_approval() {
        let w = wallet(KeyType::P256, true);
        let i = intent("w_1", Some(Approval::Pending), None);
        assert_eq!(
            code(intent_input(vec![7; 32], &w, Some(&i))),
            "approval_pending"
        );
    }

    #[test]
    fn refuses_a_declined_ticket() {
        let w = wallet(KeyType::P256, true);
        let i = intent("w_1", Some(Approval::Declined), None);
        assert_eq!(
            code(intent_input(vec![7; 32], &w, Some(&i))),
            "intent_declined"
        );
    }

    #[test]
    fn refuses_an_unapproved_ticket_once_approval_is_required() {
        let w = wallet(KeyType::P256, true);
        let i = intent("w_1", None, None);
        assert_eq!(
            code(intent_input(vec![7; 32], &w, Some(&i))),
            "approval_required"
        );
    }

    #[test]
    fn refuses_content_that_does_not_hash_to_the_ticket() {
        let w = wallet(KeyType::Secp256k1, false);
        let mut i = intent("w_1", None, None);
        i.content = Some(
            Content::TypedData(serde_json::json!({
                "types": {
                    "EIP712Domain": [{"name": "name", "type": "string"}],
                    "Note": [{"name": "n", "type": "uint256"}]
                },
                "primaryType": "Note",
                "domain": {"name": "x"},
                "message": {"n": "1"}
            }))
            .to_stored(),
        );
        assert_eq!(code(intent_input(vec![7; 32], &w, Some(&i))), "internal");
    }

    #[test]
    fn an_approved_ed25519_ticket_signs_its_message() {
        let w = wallet(KeyType::Ed25519, true);
        let i = intent("w_1", Some(Approval::Approved), Some(b"hi".to_vec()));
        let (input, detail) = intent_input(vec![7; 32], &w, Some(&i)).unwrap_or_default();
        assert_eq!(input.message.as_deref(), Some(&b"hi"[..]));
        assert_eq!(detail, None);
    }

    #[test]
    fn refuses_a_ticket_together_with_a_payload() {
        let args = SignArgs {
            ticket: Some("t".into()),
            digest: Some("00".into()),
            ..SignArgs::default()
        };
        assert!(args.has_payload());
    }

    #[test]
    fn refuses_a_transaction_with_typed_data() {
        let args = SignArgs {
            transaction: Some(serde_json::json!({})),
            typed_data: Some(serde_json::json!({})),
            ..SignArgs::default()
        };
        assert_eq!(
            code(args.input(&wallet(KeyType::Secp256k1, false))),
            "bad_request"
        );
    }

    #[test]
    fn refuses_a_transaction_with_a_digest() {
        let args = SignArgs {
            transaction: Some(serde_json::json!({})),
            digest: Some(signet_proto::hexstr::encode([1; 32])),
            ..SignArgs::default()
        };
        assert_eq!(
            code(args.input(&wallet(KeyType::Secp256k1, false))),
            "bad_request"
        );
    }

    #[test]
    fn a_signed_transactions_hash_joins_its_detail() {
        let detail = serde_json::json!({"transaction": {"chain_id": 1}});
        assert_eq!(signed_detail(Some(detail.clone()), None), Some(detail));
        assert_eq!(signed_detail(None, None), None);
    }
}
