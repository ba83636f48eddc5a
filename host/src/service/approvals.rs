//! Payment approval. A wallet owned by a person may require its owner's
//! approval: each `sign-intent` on it (by the owner, or by an API client of
//! the owner's tenant `user:<id>`) is then **pending**, and its ticket is
//! refused (409 `approval_pending`) until the owner, signed in, approves it
//! (then it signs once, as any ticket) or declines it (403 `intent_declined`
//! for good). A decision is a compare-and-set in the journal, so two
//! replicas or two tabs never both decide; it is an audit event; it cannot
//! be made after the intent expires. Direct signing (no intent) on such a
//! wallet is refused (403 `approval_required`).

use serde_json::{json, Value};
use signet_proto::time::now_ms;
use std::sync::Arc;

use super::audit::{Action, Event, Outcome};
use super::authz::{Principal, Scope};
use super::{Error, Result, Service};
use crate::domain::{ApprovalRefusal, Decision, Intent, IntentState, Wallet};
use crate::store::WriteOp;

/// An intent with its wallet, as the owner and the requester see it.
#[derive(Clone, Debug)]
pub struct IntentRecord {
    /// The stored intent.
    pub intent: Intent,
    /// Its wallet.
    pub wallet: Wallet,
    /// Where it stands now.
    pub state: IntentState,
}

/// The refusal of `refusal`, with what the caller can do about it.
#[must_use]
pub fn refusal(refusal: ApprovalRefusal, wallet_id: &str) -> Error {
    let message = match refusal {
        ApprovalRefusal::ApprovalRequired => format!(
            "wallet {wallet_id} requires its owner's approval: create a sign intent (POST /v1/wallets/{wallet_id}/sign-intent), have the owner approve it in the console, then sign with its ticket"
        ),
        ApprovalRefusal::ApprovalPending => {
            "this sign intent waits for the wallet owner's approval; retry once it is approved".into()
        }
        ApprovalRefusal::IntentDeclined => {
            "the wallet's owner declined this sign intent; its ticket will never sign".into()
        }
        ApprovalRefusal::ApprovalNotRequired => {
            "this intent's wallet did not require approval; there is nothing to decide".into()
        }
        ApprovalRefusal::IntentExpired => {
            "this intent expired before it was decided; ask for a new one".into()
        }
        ApprovalRefusal::IntentDecided => "this intent was already decided".into(),
        ApprovalRefusal::ProposalDecided => {
            "this record change was applied, or another change of the record came first".into()
        }
        ApprovalRefusal::ProposalExpired => {
            "this record change expired before its owners approved it; propose it again".into()
        }
    };
    Error::approval(refusal, message)
}

/// The refusal of a ticket whose intent is not approved (`None`: usable).
#[must_use]
pub fn ticket_refusal(intent: &Intent, wallet: &Wallet) -> Option<Error> {
    intent
        .ticket_usable(wallet.require_approval)
        .err()
        .map(|r| refusal(r, &wallet.id))
}

/// The refusal of direct signing on a wallet that requires approval.
#[must_use]
pub fn direct_refusal(wallet_id: &str) -> Error {
    refusal(ApprovalRefusal::ApprovalRequired, wallet_id)
}

/// What an intent authorizes, for its approver: `{kind, …}` with kind
/// `transaction` / `typed_data` (the audit log's decoded form), `message`
/// (its text, or hex/base64 when it is not text) or `digest` (opaque).
#[must_use]
pub fn content_view(
    detail: Option<&Value>,
    message: Option<&str>,
    encoding: Option<&str>,
    digest: &[u8],
) -> Value {
    if let Some(Value::Object(d)) = detail {
        let mut v = d.clone();
        let kind = if d.contains_key("transaction") {
            "transaction"
        } else {
            "typed_data"
        };
        v.insert("kind".into(), kind.into());
        return Value::Object(v);
    }
    match (message, encoding) {
        (Some(m), Some("eip191")) => match m.strip_prefix("0x") {
            Some(h) => {
                json!({"kind": "message", "message": {"encoding": "eip191", "hex": format!("0x{h}")}})
            }
            None => json!({"kind": "message", "message": {"encoding": "eip191", "text": m}}),
        },
        (Some(m), _) => {
            use base64::Engine as _;
            let text = base64::engine::general_purpose::STANDARD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|t| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            json!({"kind": "message", "message": {"encoding": "raw", "base64": m, "text": text}})
        }
        (None, _) => json!({"kind": "digest", "digest": hex::encode(digest)}),
    }
}

impl Service {
    /// The console page where an intent's owner approves or declines it:
    /// absolute under `SIGNET_PUBLIC_URL` (dev: its own address), else
    /// relative to this host.
    #[must_use]
    pub fn approval_url(&self, intent_id: &str) -> String {
        let origin = self.config.public_url.as_deref().unwrap_or("");
        format!("{origin}/console/#/approve/{intent_id}")
    }

    /// Requires (or stops requiring) the owner's approval on a wallet. Only
    /// a person's wallet can require it; only that person, signed in, can
    /// stop requiring it (an API client could otherwise lift the check it is
    /// subject to).
    ///
    /// On a wallet whose record has owners, the switch is a record change
    /// they approve (`allow: []` and back), not the host's flag.
    pub async fn set_approval(
        &self,
        principal: &Principal,
        wallet_id: &str,
        required: bool,
    ) -> Result<super::owners::ApprovalSwitch> {
        self.require(principal, Scope::WalletsWrite, wallet_id)
            .await?;
        let wallet = self.owned_wallet(principal, wallet_id).await?;
        if let Some(record) = super::owners::record_of(&wallet)?.filter(|r| !r.owners().is_empty())
        {
            return self
                .switch_owner_approval(principal, Arc::unwrap_or_clone(wallet), &record, required)
                .await;
        }
        approval_allowed(principal, &wallet, required)?;
        if wallet.require_approval != required {
            let applied = self
                .audit
                .write(
                    WriteOp::SetApproval {
                        id: wallet.id.clone(),
                        required,
                    },
                    Event::by(
                        principal,
                        Action::WalletApprovalPolicy,
                        &wallet.id,
                        Outcome::Ok,
                    )
                    .detail(Some(json!({ "require_approval": required }))),
                )
                .await?;
            self.wallets.forget(&wallet.id);
            if !applied {
                return Err(Error::NotFound("wallet"));
            }
        }
        Ok(super::owners::ApprovalSwitch::Done(Wallet {
            require_approval: required,
            ..Arc::unwrap_or_clone(wallet)
        }))
    }

    /// One intent on the caller's wallets (`wallets:read` or `sign`); another
    /// owner's is a 404.
    pub async fn intent_record(&self, principal: &Principal, id: &str) -> Result<IntentRecord> {
        if !principal.has(Scope::WalletsRead) {
            self.require(principal, Scope::Sign, id).await?;
        }
        let owner = principal.owner();
        let intent = self
            .store
            .intent(id)
            .await?
            .filter(|i| i.owner.as_ref() == Some(&owner))
            .ok_or(Error::NotFound("intent"))?;
        let wallet = self
            .wallet_row(&intent.wallet_id)
            .await?
            .ok_or(Error::NotFound("intent"))?;
        Ok(IntentRecord {
            state: intent.state(now_ms() / 1000),
            intent,
            wallet: Arc::unwrap_or_clone(wallet),
        })
    }

    /// The newest intents on the caller's wallets (at most 100): those
    /// waiting for approval, or all that are still kept.
    pub async fn list_intents(
        &self,
        principal: &Principal,
        pending_only: bool,
    ) -> Result<Vec<IntentRecord>> {
        self.require(principal, Scope::WalletsRead, "intents")
            .await?;
        let now_s = now_ms() / 1000;
        let intents = self
            .store
            .intents_of(&principal.owner(), pending_only, now_s, 100)
            .await?;
        let mut out = Vec::with_capacity(intents.len());
        for intent in intents {
            // A destroyed wallet's intents are gone with it.
            if let Some(wallet) = self.wallet_row(&intent.wallet_id).await? {
                out.push(IntentRecord {
                    state: intent.state(now_s),
                    intent,
                    wallet: Arc::unwrap_or_clone(wallet),
                });
            }
        }
        Ok(out)
    }

    /// Approves or declines a pending intent: only the wallet's owner, in a
    /// session.
    pub async fn decide_intent(
        &self,
        principal: &Principal,
        id: &str,
        decision: Decision,
    ) -> Result<IntentRecord> {
        let Some(user) = principal.session_user() else {
            return Err(Error::Forbidden(
                "approvals are made by the wallet's owner, signed in (a session), not by an API client"
                    .into(),
            ));
        };
        let actor = format!("user:{user}");
        let record = self.intent_record(principal, id).await?;
        if decision == Decision::Approve && record.intent.authorization.is_some() {
            return Err(Error::bad_request(
                "this intent waits for its wallet's owners: each approves with a body {owner_id, signature | webauthn} over the intent's authorization",
            ));
        }
        decidable(&record, decision)?;
        // A freeze stops approvals; declining stays open to the owner.
        if decision == Decision::Approve {
            self.check_not_frozen(&record.wallet.id, &record.wallet.owner)?;
        }
        let action = match decision {
            Decision::Approve => Action::IntentApprove,
            Decision::Decline => Action::IntentDecline,
        };
        let applied = self
            .audit
            .write(
                WriteOp::DecideIntent {
                    jti: id.to_owned(),
                    decision,
                    by: actor,
                    at: now_ms(),
                },
                Event::by(principal, action, &record.wallet.id, Outcome::Ok)
                    .detail(Some(json!({ "intent_id": id }))),
            )
            .await?;
        let fresh = self.intent_record(principal, id).await?;
        if !applied {
            // Decided meanwhile (another tab or replica), or it just expired.
            decidable(&fresh, decision)?;
            return Err(Error::internal("an approval was not applied"));
        }
        Ok(fresh)
    }
}

/// Whether `principal` may set the approval policy of `wallet` to `required`.
fn approval_allowed(principal: &Principal, wallet: &Wallet, required: bool) -> Result<()> {
    let Some(owner) = wallet.owner.user() else {
        if required {
            return Err(Error::bad_request(
                "only a person's wallet can require approval: one created by a signed-in user, or by an API client of their tenant `user:<id>`",
            ));
        }
        return Ok(());
    };
    if !required && wallet.require_approval && principal.session_user() != Some(owner) {
        return Err(Error::Forbidden(
            "only the wallet's owner, signed in, may stop requiring approval".into(),
        ));
    }
    Ok(())
}

/// Refuses a decision on an intent that is not pending.
fn decidable(record: &IntentRecord, decision: Decision) -> Result<()> {
    match record.state.decide(decision) {
        Ok(_) => Ok(()),
        Err(ApprovalRefusal::IntentDecided) => Err(Error::approval(
            ApprovalRefusal::IntentDecided,
            format!("this intent was already {}", record.state),
        )),
        Err(r) => Err(refusal(r, &record.wallet.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tests::intent;
    use crate::domain::{Approval, Owner};

    fn wallet(owner: Owner, require_approval: bool) -> Wallet {
        Wallet {
            id: "w".into(),
            owner,
            key_type: signet_proto::KeyType::Secp256k1,
            public_key: vec![4; 65],
            label: None,
            sealed: None,
            attestation: None,
            created_at_ms: 0,
            require_approval,
            record: None,
        }
    }

    fn persons(require_approval: bool) -> Wallet {
        wallet(Owner::User("u".into()), require_approval)
    }

    fn client_of(tenant: &str) -> Principal {
        Principal::Client(crate::service::authz::ClientPrincipal {
            id: "c".into(),
            tenant: tenant.into(),
            grants: vec![crate::service::authz::Grant::All],
        })
    }

    #[test]
    fn ticket_refusals_carry_their_codes() {
        assert!(ticket_refusal(&intent(None), &persons(false)).is_none());
        assert!(ticket_refusal(&intent(Some(Approval::Approved)), &persons(true)).is_none());
        assert_eq!(
            ticket_refusal(&intent(Some(Approval::Pending)), &persons(true)).map(|e| e.code()),
            Some("approval_pending")
        );
        assert_eq!(
            ticket_refusal(&intent(Some(Approval::Declined)), &persons(false)).map(|e| e.code()),
            Some("intent_declined")
        );
        assert_eq!(
            ticket_refusal(&intent(None), &persons(true)).map(|e| e.code()),
            Some("approval_required"),
            "minted before the wallet required approval"
        );
    }

    #[test]
    fn refuses_approval_on_a_tenants_wallet() {
        let tenants = wallet(Owner::Tenant("acme".into()), false);
        let e = approval_allowed(&client_of("acme"), &tenants, true).err();
        assert_eq!(e.map(|e| e.code()), Some("bad_request"));
        assert!(approval_allowed(&client_of("acme"), &tenants, false).is_ok());
    }

    #[test]
    fn refuses_a_client_lifting_its_persons_approval() {
        let e = approval_allowed(&client_of("user:u"), &persons(true), false).err();
        assert_eq!(e.map(|e| e.code()), Some("forbidden"));
    }

    #[test]
    fn refuses_another_user_lifting_approval() {
        let other = Principal::from_session("v", "s_1", 99);
        let e = approval_allowed(&other, &persons(true), false).err();
        assert_eq!(e.map(|e| e.code()), Some("forbidden"));
    }

    #[test]
    fn the_signed_in_owner_lifts_approval_and_a_client_may_add_it() {
        let owner = Principal::from_session("u", "s_1", 99);
        assert!(approval_allowed(&owner, &persons(true), false).is_ok());
        assert!(approval_allowed(&client_of("user:u"), &persons(false), true).is_ok());
    }

    #[test]
    fn content_views() {
        let d = [0xab; 32];
        assert_eq!(content_view(None, None, None, &d)["kind"], "digest");
        let m = content_view(None, Some("pay 5"), Some("eip191"), &d);
        assert_eq!(m["message"]["text"], "pay 5");
        let h = content_view(None, Some("0x00ff"), Some("eip191"), &d);
        assert_eq!(h["message"]["hex"], "0x00ff");
        let r = content_view(None, Some("aGk="), Some("raw"), &d);
        assert_eq!(r["message"]["text"], "hi");
        let t = content_view(
            Some(&json!({"transaction": {"chain_id": 1}})),
            None,
            None,
            &d,
        );
        assert_eq!(t["kind"], "transaction");
        assert_eq!(t["transaction"]["chain_id"], 1);
    }
}
