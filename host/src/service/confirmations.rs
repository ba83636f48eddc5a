//! `SIGNET_OPERATOR_QUORUM=2`: what cannot be undone — a sealing rotation,
//! invalidating every session, creating or revoking a client that holds
//! `operator` or an `admin:*` scope — and lifting a freeze are only asked
//! for by one operator and
//! carried out when a second, different operator confirms it within
//! `OPERATOR_CONFIRM_TTL_SECONDS`. Every step is audited.

use std::sync::Arc;

use rand_core::RngCore as _;
use serde::{Deserialize, Serialize};
use signet_proto::time::now_ms;

use super::audit::{Action, Event, Outcome, SecurityEvent};
use super::authz::{Principal, Scope};
use super::{Denier, Error, Result, Service};
use crate::config::SealingConfig;
use crate::store::ConfirmationRow;

/// An action that needs a second operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Gated {
    /// `POST /v1/admin/sealing/rotate` (not a dry run).
    RotateSealing,
    /// `POST /v1/admin/sessions/invalidate-all`.
    InvalidateSessions,
    /// `POST /v1/admin/api-clients` with `operator` or an `admin:*` scope.
    CreateClient {
        /// Its name.
        name: String,
        /// Its tenant.
        tenant: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
    /// `DELETE /v1/admin/api-clients/{id}` of such a client.
    RevokeClient {
        /// The client.
        id: String,
        /// The grace period asked for.
        grace_seconds: u64,
    },
    /// `DELETE /v1/admin/freeze?scope=…`: lifting a freeze.
    Unfreeze {
        /// The scope (`all`, `tenant:<t>`, `wallet:<id>`).
        scope: String,
    },
}

impl Gated {
    /// The action's name in the API and the audit log.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::RotateSealing => "rotate_sealing",
            Self::InvalidateSessions => "invalidate_sessions",
            Self::CreateClient { .. } => "create_client",
            Self::RevokeClient { .. } => "revoke_client",
            Self::Unfreeze { .. } => "unfreeze",
        }
    }
}

/// Whether scopes as written make a client one whose creation or
/// revocation needs a second operator.
#[must_use]
pub fn powerful(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| s == "operator" || s == "*" || s.starts_with("admin:"))
}

/// A request waiting for a second operator.
#[derive(Clone, Debug)]
pub struct Pending {
    /// `cf_…`: what the second operator confirms.
    pub id: String,
    /// What.
    pub action: Gated,
    /// Unix ms.
    pub expires_at: u64,
}

/// Why a confirmation is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmationRefusal {
    /// The operator who asked cannot confirm (403).
    SameOperator,
    /// Past `OPERATOR_CONFIRM_TTL_SECONDS` (410).
    Expired,
    /// Already confirmed (409).
    Used,
}

impl ConfirmationRefusal {
    /// The API's error code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::SameOperator => "confirmation_same_operator",
            Self::Expired => "confirmation_expired",
            Self::Used => "confirmation_used",
        }
    }

    /// What the caller should do.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::SameOperator => {
                "the operator who asked cannot confirm: a second, different operator must"
            }
            Self::Expired => "the confirmation expired (OPERATOR_CONFIRM_TTL_SECONDS): ask again",
            Self::Used => "this request was already confirmed and carried out",
        }
    }
}

impl Service {
    /// With `SIGNET_OPERATOR_QUORUM=2`, an operator's request for `action`
    /// is stored for a second operator (`Some`, to answer 202); otherwise
    /// (`None`) it goes ahead as before. Only operators' requests wait:
    /// anyone else is refused as before by the action itself.
    pub async fn gate(&self, principal: &Principal, action: Gated) -> Result<Option<Pending>> {
        if self.config.operator_quorum < 2 || !principal.is_operator() {
            return Ok(None);
        }
        let gated = match &action {
            // Without KMS sealing the rotation is refused as before.
            Gated::RotateSealing => matches!(self.config.sealing, SealingConfig::Kms(_)),
            Gated::InvalidateSessions | Gated::Unfreeze { .. } => true,
            Gated::CreateClient { scopes, .. } => powerful(scopes),
            Gated::RevokeClient { id, .. } => self
                .store
                .client(id)
                .await?
                .is_some_and(|c| powerful(&c.scopes)),
        };
        if !gated {
            return Ok(None);
        }
        let mut raw = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut raw);
        let now = now_ms();
        let ttl = u64::try_from(self.config.confirm_ttl.as_millis()).unwrap_or(u64::MAX);
        let pending = Pending {
            id: format!("cf_{}", hex::encode(raw)),
            expires_at: now.saturating_add(ttl),
            action,
        };
        let text = serde_json::to_string(&pending.action)
            .map_err(|e| Error::internal(format!("confirmation: {e}")))?;
        self.store
            .insert_confirmation(&ConfirmationRow {
                id: pending.id.clone(),
                action: text,
                requested_by: principal.actor(),
                created_at: now,
                expires_at: pending.expires_at,
                confirmed_by: None,
            })
            .await?;
        let mut event = Event::by(
            principal,
            Action::ConfirmationRequest,
            &pending.id,
            Outcome::Ok,
        );
        event.detail = serde_json::to_value(&pending.action).ok();
        self.audit.record(event).await;
        Ok(Some(pending))
    }

    /// A second operator confirms `id`: refused to the operator who asked
    /// (403), past its expiry (410) or twice (409); otherwise claimed once
    /// across replicas and returned, for the caller to carry out.
    pub async fn confirm(self: &Arc<Self>, principal: &Principal, id: &str) -> Result<Gated> {
        self.require(principal, Scope::Operator, "confirmations")
            .await?;
        if !id.starts_with("cf_") || id.len() > 64 {
            return Err(Error::NotFound("confirmation"));
        }
        let row = self
            .store
            .confirmation(id)
            .await?
            .ok_or(Error::NotFound("confirmation"))?;
        let refusal = if row.confirmed_by.is_some() {
            Some(ConfirmationRefusal::Used)
        } else if row.requested_by == principal.actor() {
            Some(ConfirmationRefusal::SameOperator)
        } else if row.expires_at <= now_ms() {
            Some(ConfirmationRefusal::Expired)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.deny(
                SecurityEvent::ScopeDeny,
                Denier::Principal(principal),
                id,
                Outcome::denied(refusal.code()),
            )
            .await;
            return Err(Error::Confirmation(refusal));
        }
        let action: Gated = serde_json::from_str(&row.action)
            .map_err(|e| Error::internal(format!("stored confirmation {id}: {e}")))?;
        if !self
            .store
            .claim_confirmation(id, &principal.actor(), now_ms())
            .await?
        {
            return Err(Error::Confirmation(ConfirmationRefusal::Used));
        }
        let mut event = Event::by(principal, Action::ConfirmationConfirm, id, Outcome::Ok);
        event.detail =
            Some(serde_json::json!({"action": action.name(), "requested_by": row.requested_by}));
        self.audit.record(event).await;
        Ok(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powerful_clients_are_those_with_operator_or_an_admin_scope() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(powerful(&s(&["operator"])));
        assert!(powerful(&s(&["*"])));
        assert!(powerful(&s(&["admin:*"])));
        assert!(powerful(&s(&["sign", "admin:clients"])));
        assert!(!powerful(&s(&["sign", "wallets:*", "audit:read"])));
    }

    #[test]
    fn gated_actions_round_trip_as_stored() {
        for a in [
            Gated::RotateSealing,
            Gated::InvalidateSessions,
            Gated::CreateClient {
                name: "ops2".into(),
                tenant: "ops".into(),
                scopes: vec!["*".into(), "operator".into()],
            },
            Gated::RevokeClient {
                id: "abc".into(),
                grace_seconds: 0,
            },
            Gated::Unfreeze {
                scope: "tenant:acme".into(),
            },
        ] {
            let text = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Gated>(&text).unwrap(), a, "{text}");
        }
        assert!(serde_json::from_str::<Gated>(r#"{"action":"drop_tables"}"#).is_err());
    }
}
