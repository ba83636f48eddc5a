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

use super::audit::{Action, Event, Outcome};
use super::authz::{Owner, Principal, Scope};
use super::{Error, Result, Service};
use crate::store::{Approval, IntentRow, WalletRow, WriteOp};

/// An intent with its wallet, as the owner and the requester see it.
#[derive(Clone, Debug)]
pub struct IntentRecord {
    /// The stored intent.
    pub row: IntentRow,
    /// Its wallet.
    pub wallet: WalletRow,
    /// `pending`, `approved`, `declined`, `expired` or `not_required`.
    pub state: &'static str,
}

/// The state of `row` at `now_s`: a decision stands after expiry (it is
/// history); an undecided intent past its time is `expired`.
#[must_use]
pub fn state_of(row: &IntentRow, now_s: u64) -> &'static str {
    match row.approval {
        Some(Approval::Approved) => "approved",
        Some(Approval::Declined) => "declined",
        _ if row.expires_at < now_s => "expired",
        Some(Approval::Pending) => "pending",
        None => "not_required",
    }
}

fn refusal(code: &'static str, message: impl Into<String>) -> Error {
    Error::Approval {
        code,
        message: message.into(),
    }
}

/// The refusal of a ticket whose intent is not approved (`None`: usable).
/// An intent made before its wallet required approval carries no approval
/// state: once the wallet requires it, its ticket is refused as direct
/// signing is (it was never approved).
#[must_use]
pub fn ticket_refusal(intent: &IntentRow, wallet: &WalletRow) -> Option<Error> {
    match intent.approval {
        None if wallet.require_approval => Some(direct_refusal(&wallet.id)),
        Some(Approval::Pending) => Some(refusal(
            "approval_pending",
            "this sign intent waits for the wallet owner's approval; retry once it is approved",
        )),
        Some(Approval::Declined) => Some(refusal(
            "intent_declined",
            "the wallet's owner declined this sign intent; its ticket will never sign",
        )),
        Some(Approval::Approved) | None => None,
    }
}

/// The refusal of direct signing on a wallet that requires approval.
#[must_use]
pub fn direct_refusal(wallet_id: &str) -> Error {
    refusal(
        "approval_required",
        format!(
            "wallet {wallet_id} requires its owner's approval: create a sign intent (POST /v1/wallets/{wallet_id}/sign-intent), have the owner approve it in the console, then sign with its ticket"
        ),
    )
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
    /// Requires (or stops requiring) the owner's approval on a wallet. Only
    /// a person's wallet can require it; only that person, signed in, can
    /// stop requiring it (an API client could otherwise lift the check it is
    /// subject to).
    pub async fn set_approval(
        &self,
        principal: &Principal,
        wallet_id: &str,
        required: bool,
    ) -> Result<WalletRow> {
        self.require(principal, Scope::WalletsWrite, wallet_id)
            .await?;
        let wallet = self.owned_wallet(principal, wallet_id).await?;
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
        Ok(WalletRow {
            require_approval: required,
            ..wallet
        })
    }

    /// One intent on the caller's wallets (`wallets:read` or `sign`); another
    /// owner's is a 404.
    pub async fn intent_record(&self, principal: &Principal, id: &str) -> Result<IntentRecord> {
        if !principal.has(Scope::WalletsRead) {
            self.require(principal, Scope::Sign, id).await?;
        }
        let row = self
            .store
            .intent(id)
            .await?
            .filter(|r| r.owner == principal.owner().to_string())
            .ok_or(Error::NotFound("intent"))?;
        let wallet = self
            .wallet_row(&row.wallet_id)
            .await?
            .ok_or(Error::NotFound("intent"))?;
        Ok(IntentRecord {
            state: state_of(&row, now_ms() / 1000),
            row,
            wallet,
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
        let rows = self
            .store
            .intents_of(&principal.owner().to_string(), pending_only, now_s, 100)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            // A destroyed wallet's intents are gone with it.
            if let Some(wallet) = self.wallet_row(&row.wallet_id).await? {
                out.push(IntentRecord {
                    state: state_of(&row, now_s),
                    row,
                    wallet,
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
        approve: bool,
    ) -> Result<IntentRecord> {
        let Some(user) = principal.session_user() else {
            return Err(Error::Forbidden(
                "approvals are made by the wallet's owner, signed in (a session), not by an API client"
                    .into(),
            ));
        };
        let actor = format!("user:{user}");
        let record = self.intent_record(principal, id).await?;
        decidable(&record)?;
        let action = if approve {
            Action::IntentApprove
        } else {
            Action::IntentDecline
        };
        let applied = self
            .audit
            .write(
                WriteOp::DecideIntent {
                    jti: id.to_owned(),
                    approve,
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
            decidable(&fresh)?;
            return Err(Error::internal("an approval was not applied"));
        }
        Ok(fresh)
    }
}

/// Whether `principal` may set the approval policy of `wallet` to `required`.
fn approval_allowed(principal: &Principal, wallet: &WalletRow, required: bool) -> Result<()> {
    if !wallet.owner.starts_with("user:") {
        if required {
            return Err(Error::bad_request(
                "only a person's wallet can require approval: one created by a signed-in user, or by an API client of their tenant `user:<id>`",
            ));
        }
        return Ok(());
    }
    if !required && wallet.require_approval {
        let owner_signed_in = matches!(
            (principal.session_user(), principal.owner()),
            (Some(_), Owner::User(u)) if wallet.owner == format!("user:{u}")
        );
        if !owner_signed_in {
            return Err(Error::Forbidden(
                "only the wallet's owner, signed in, may stop requiring approval".into(),
            ));
        }
    }
    Ok(())
}

/// Refuses a decision on an intent that is not pending.
fn decidable(record: &IntentRecord) -> Result<()> {
    match record.state {
        "pending" => Ok(()),
        "not_required" => Err(refusal(
            "approval_not_required",
            "this intent's wallet did not require approval; there is nothing to decide",
        )),
        "expired" => Err(refusal(
            "intent_expired",
            "this intent expired before it was decided; ask for a new one",
        )),
        state => Err(refusal(
            "intent_decided",
            format!("this intent was already {state}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(approval: Option<Approval>, expires_at: u64) -> IntentRow {
        IntentRow {
            jti: "j".into(),
            wallet_id: "w".into(),
            digest: vec![0; 32],
            message: None,
            created_by: "client:c".into(),
            expires_at,
            content: None,
            approval,
            decided: None,
            created_at: 0,
            detail: None,
            owner: "user:u".into(),
            signature: None,
        }
    }

    fn wallet(require_approval: bool) -> WalletRow {
        WalletRow {
            id: "w".into(),
            owner: "user:u".into(),
            key_type: signet_proto::KeyType::Secp256k1,
            public_key: vec![4; 65],
            label: None,
            sealed: None,
            attestation: None,
            created_at: 0,
            require_approval,
        }
    }

    #[test]
    fn states() {
        assert_eq!(state_of(&row(None, 10), 5), "not_required");
        assert_eq!(state_of(&row(None, 10), 11), "expired");
        assert_eq!(state_of(&row(Some(Approval::Pending), 10), 10), "pending");
        assert_eq!(state_of(&row(Some(Approval::Pending), 10), 11), "expired");
        assert_eq!(state_of(&row(Some(Approval::Approved), 10), 99), "approved");
        assert_eq!(state_of(&row(Some(Approval::Declined), 10), 99), "declined");
        assert!(ticket_refusal(&row(None, 10), &wallet(false)).is_none());
        assert!(ticket_refusal(&row(Some(Approval::Approved), 10), &wallet(true)).is_none());
        assert_eq!(
            ticket_refusal(&row(Some(Approval::Pending), 10), &wallet(true)).map(|e| e.code()),
            Some("approval_pending")
        );
        assert_eq!(
            ticket_refusal(&row(Some(Approval::Declined), 10), &wallet(false)).map(|e| e.code()),
            Some("intent_declined")
        );
        assert_eq!(
            ticket_refusal(&row(None, 10), &wallet(true)).map(|e| e.code()),
            Some("approval_required"),
            "minted before the wallet required approval"
        );
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
