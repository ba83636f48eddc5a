//! Incident freezes: an operator freezes every wallet, a tenant's or one
//! wallet (`POST /v1/admin/freeze`, or `signet-host admin freeze` offline),
//! and every replica refuses signing, sign intents and approvals in that
//! scope (423 `frozen`) until the freeze is lifted.
//!
//! The freezes in force are a snapshot held in memory, so that the signing
//! path costs no database read: the replica that freezes replaces its
//! snapshot at once, and every replica re-reads the table every
//! [`REFRESH_EVERY`], so a freeze made anywhere (an offline command
//! included) holds everywhere within a second. A replica that cannot read
//! the table keeps the snapshot it has.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use signet_proto::time::now_ms;

use super::audit::{Action, Auditor, Event, Outcome};
use super::authz::{Principal, Scope};
use super::{text, Error, Result, Service};
use crate::domain::{Freeze, FreezeScope, Owner};
use crate::store::{Store, WriteOp};

/// How often each replica re-reads the freezes in force.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// The longest reason, in characters.
const MAX_REASON: usize = 500;

/// The freezes in force on this replica (a snapshot of the table).
#[derive(Debug, Default)]
pub struct Freezes {
    current: RwLock<Arc<Vec<Freeze>>>,
}

impl Freezes {
    /// A snapshot of `freezes`.
    #[must_use]
    pub fn new(freezes: Vec<Freeze>) -> Self {
        Self {
            current: RwLock::new(Arc::new(freezes)),
        }
    }

    /// Replaces the snapshot.
    pub fn set(&self, freezes: Vec<Freeze>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(freezes);
    }

    /// Every freeze in force, by scope.
    #[must_use]
    pub fn all(&self) -> Arc<Vec<Freeze>> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The freeze that covers wallet `wallet_id` of `owner`, the widest
    /// first (all, then the tenant, then the wallet).
    #[must_use]
    pub fn covering(&self, wallet_id: &str, owner: &Owner) -> Option<Freeze> {
        let all = self.all();
        all.iter()
            .filter(|f| f.scope.covers(wallet_id, owner))
            .min_by_key(|f| match f.scope {
                FreezeScope::All => 0,
                FreezeScope::Tenant(_) => 1,
                FreezeScope::Wallet(_) => 2,
            })
            .cloned()
    }
}

/// Decodes a scope as the API takes it.
///
/// # Errors
/// 400 naming the accepted forms.
pub fn parse_scope(text: &str) -> Result<FreezeScope> {
    FreezeScope::parse(text).ok_or_else(|| {
        Error::bad_request(format!(
            "scope `{}` is not `all`, `tenant:<tenant>` or `wallet:<wallet id>`",
            text.chars().take(80).collect::<String>()
        ))
    })
}

/// A freeze of `scope` for `reason` by `by`, now, validated: 400 for a bad
/// scope or an empty, over-long or invisible-character reason.
///
/// # Errors
/// [`Error::BadRequest`] naming the field.
pub fn new_freeze(scope: &str, reason: &str, by: String) -> Result<Freeze> {
    let scope = parse_scope(scope)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::bad_request(
            "`reason` is required: it is shown to every refused caller and kept in the audit log",
        ));
    }
    text::visible_field("reason", reason, MAX_REASON)?;
    Ok(Freeze {
        scope,
        reason: reason.to_owned(),
        frozen_by: by,
        frozen_at: now_ms(),
    })
}

/// `signet-host admin freeze` (offline, on the database): puts `freeze` in
/// force and audits it; running replicas refuse within a second.
///
/// # Errors
/// The database's.
pub async fn freeze_offline(store: &Store, freeze: &Freeze) -> Result<()> {
    store.freeze(freeze).await?;
    Auditor::new(store.journal().clone())
        .write(
            WriteOp::Audit,
            Event::new(
                &freeze.frozen_by,
                Action::Freeze,
                &freeze.scope.to_string(),
                Outcome::Ok,
            )
            .detail(Some(serde_json::json!({"reason": freeze.reason}))),
        )
        .await?;
    Ok(())
}

/// `signet-host admin unfreeze` (offline): lifts the freeze of `scope` and
/// audits it; `false` when none was in force. Like every offline command,
/// not subject to `SIGNET_OPERATOR_QUORUM` (who holds the database holds
/// everything the quorum protects).
///
/// # Errors
/// The database's.
pub async fn unfreeze_offline(store: &Store, scope: &FreezeScope, by: &str) -> Result<bool> {
    if !store.unfreeze(scope).await? {
        return Ok(false);
    }
    Auditor::new(store.journal().clone())
        .write(
            WriteOp::Audit,
            Event::new(by, Action::Unfreeze, &scope.to_string(), Outcome::Ok),
        )
        .await?;
    Ok(true)
}

impl Service {
    /// Freezes `scope` for `reason` (operators): from now on, on every
    /// replica within a second, signing, sign intents and approvals in it are
    /// refused with 423 `frozen`. Freezing a frozen scope replaces its reason.
    pub async fn freeze(&self, principal: &Principal, scope: &str, reason: &str) -> Result<Freeze> {
        self.require(principal, Scope::Operator, "freeze").await?;
        let freeze = new_freeze(scope, reason, principal.actor())?;
        self.store.freeze(&freeze).await?;
        self.refresh_freezes().await;
        self.audit
            .record(
                Event::by(
                    principal,
                    Action::Freeze,
                    &freeze.scope.to_string(),
                    Outcome::Ok,
                )
                .detail(Some(serde_json::json!({"reason": freeze.reason}))),
            )
            .await;
        tracing::warn!(scope = %freeze.scope, reason = %freeze.reason, by = %freeze.frozen_by, "frozen");
        Ok(freeze)
    }

    /// Lifts the freeze of `scope` (operators; with
    /// `SIGNET_OPERATOR_QUORUM=2`, once a second operator confirmed it).
    /// 404 when the scope is not frozen.
    pub async fn unfreeze(&self, principal: &Principal, scope: &FreezeScope) -> Result<()> {
        self.require(principal, Scope::Operator, "freeze").await?;
        if !self.store.unfreeze(scope).await? {
            return Err(Error::NotFound("freeze"));
        }
        self.refresh_freezes().await;
        self.audit
            .record(Event::by(
                principal,
                Action::Unfreeze,
                &scope.to_string(),
                Outcome::Ok,
            ))
            .await;
        tracing::warn!(%scope, by = %principal.actor(), "unfrozen");
        Ok(())
    }

    /// Refuses with 423 `frozen` when a freeze covers wallet `wallet_id` of
    /// `owner`.
    ///
    /// # Errors
    /// [`Error::Frozen`] naming the freeze's scope and reason.
    pub fn check_not_frozen(&self, wallet_id: &str, owner: &Owner) -> Result<()> {
        match self.freezes.covering(wallet_id, owner) {
            None => Ok(()),
            Some(f) => Err(Error::Frozen {
                scope: f.scope.to_string(),
                reason: f.reason,
            }),
        }
    }

    /// The freezes in force (this replica's snapshot).
    #[must_use]
    pub fn freezes(&self) -> Arc<Vec<Freeze>> {
        self.freezes.all()
    }

    /// Re-reads the freezes in force and publishes them in `signet_frozen`;
    /// keeps the current snapshot when the database does not answer.
    pub async fn refresh_freezes(&self) {
        match self.store.freezes().await {
            Ok(all) => {
                self.metrics.frozen.clear();
                for f in &all {
                    self.metrics
                        .frozen
                        .get_or_create(&crate::metrics::ScopeLabels {
                            scope: f.scope.to_string(),
                        })
                        .set(1);
                }
                self.freezes.set(all);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the freezes; keeping the last ones read")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freeze(scope: &str) -> Freeze {
        Freeze {
            scope: FreezeScope::parse(scope).unwrap(),
            reason: format!("because {scope}"),
            frozen_by: "client:ops".into(),
            frozen_at: 1,
        }
    }

    #[test]
    fn scopes_parse_and_print_as_the_api_takes_them() {
        for s in ["all", "tenant:acme", "tenant:user:u1", "wallet:w1"] {
            assert_eq!(FreezeScope::parse(s).unwrap().to_string(), s);
        }
        for bad in ["", "al", "tenant:", "wallet:", "user:u1", "ALL", "tenant"] {
            assert!(FreezeScope::parse(bad).is_none(), "{bad}");
            assert!(parse_scope(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_scope_covers_its_wallets_only() {
        let acme = Owner::Tenant("acme".into());
        let alice = Owner::User("u1".into());
        let all = FreezeScope::All;
        assert!(all.covers("w1", &acme) && all.covers("w2", &alice));
        let t = FreezeScope::parse("tenant:acme").unwrap();
        assert!(t.covers("w1", &acme) && !t.covers("w2", &alice));
        let p = FreezeScope::parse("tenant:user:u1").unwrap();
        assert!(p.covers("w2", &alice) && !p.covers("w1", &acme));
        assert!(!FreezeScope::parse("tenant:u1")
            .unwrap()
            .covers("w2", &alice));
        let w = FreezeScope::parse("wallet:w1").unwrap();
        assert!(w.covers("w1", &acme) && !w.covers("w2", &acme));
    }

    #[test]
    fn the_widest_freeze_is_the_one_reported() {
        let board = Freezes::new(vec![freeze("wallet:w1"), freeze("tenant:acme")]);
        let acme = Owner::Tenant("acme".into());
        assert_eq!(
            board.covering("w1", &acme).unwrap().scope.to_string(),
            "tenant:acme"
        );
        board.set(vec![freeze("wallet:w1"), freeze("all")]);
        assert_eq!(board.covering("w1", &acme).unwrap().scope, FreezeScope::All);
        board.set(vec![freeze("wallet:w1")]);
        assert!(board.covering("w2", &acme).is_none());
        board.set(Vec::new());
        assert!(board.covering("w1", &acme).is_none());
    }
}
