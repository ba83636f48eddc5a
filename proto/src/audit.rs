//! The audit log's hash chain, shared by the host (which writes it) and the
//! `signet audit verify` command (which recomputes it).
//!
//! `hash = SHA-256(prev_hash ‖ canonical_event)` where `prev_hash` is the
//! previous event's hash as 32 raw bytes (all zero for the first event) and
//! `canonical_event` is the compact JSON of [`AuditEventBody`] with its fields
//! in declaration order. `detail` (what was signed, decoded: an Ethereum
//! transaction's type, chain, to, value…) is present only on the events that
//! have one, as an object whose keys are sorted at every level; events
//! without it hash exactly as before it existed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed part of an audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEventBody {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// RFC 3339 UTC time with milliseconds.
    pub at: String,
    /// Who: `client:<id>`, `user:<id>`, `operator`, `anonymous`, `system`.
    pub actor: String,
    /// What: `wallet.create`, `sign`, `AUTH_DENY`, …
    pub action: String,
    /// On what: a wallet id, client id, or request path.
    pub target: String,
    /// `ok`, `denied` or `error`, optionally with a code (`denied:ticket_replayed`).
    pub outcome: String,
    /// What was signed, decoded (sorted keys); absent on most events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// An event as stored and served: the body plus its chain links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Position in the log.
    pub seq: u64,
    /// Time.
    pub at: String,
    /// Actor.
    pub actor: String,
    /// Action.
    pub action: String,
    /// Target.
    pub target: String,
    /// Outcome.
    pub outcome: String,
    /// What was signed, decoded (see [`AuditEventBody::detail`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Hex SHA-256 of the previous event (or [`GENESIS_HASH`]).
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash ‖ canonical(body)`.
    pub hash: String,
}

impl AuditEvent {
    /// The hashed part.
    #[must_use]
    pub fn body(&self) -> AuditEventBody {
        AuditEventBody {
            seq: self.seq,
            at: self.at.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: self.outcome.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// `value` with every object's keys in sorted order (the form `detail` is
/// hashed and stored in, whatever order the JSON library keeps keys in).
#[must_use]
pub fn canonical(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

/// Computes an event's hash from the previous hash (hex) and its body.
/// An unparsable `prev_hash` hashes as given bytes, so it can never match.
#[must_use]
pub fn chain_hash(prev_hash: &str, body: &AuditEventBody) -> String {
    let mut h = Sha256::new();
    match hex::decode(prev_hash) {
        Ok(prev) if prev.len() == 32 => h.update(prev),
        _ => h.update(prev_hash.as_bytes()),
    }
    h.update(serde_json::to_vec(body).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Where a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBreak {
    /// A sequence number is missing or out of order.
    #[error("event {found} follows {expected_after}: a gap or reordering")]
    Gap {
        /// The previous event's seq.
        expected_after: u64,
        /// The seq found.
        found: u64,
    },
    /// `prev_hash` is not the previous event's hash.
    #[error("event {seq}: prev_hash does not match the hash of event {}", seq.saturating_sub(1))]
    BrokenLink {
        /// The event.
        seq: u64,
    },
    /// The event's content does not hash to its `hash` (it was altered).
    #[error("event {seq}: content does not match its hash (altered)")]
    Altered {
        /// The event.
        seq: u64,
    },
}

/// Incrementally checks a chain, page after page.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    last_seq: u64,
    last_hash: String,
    checked: u64,
    gaps: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            checked: 0,
            gaps: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next event.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        if event.seq != self.last_seq + 1 {
            return Err(ChainBreak::Gap {
                expected_after: self.last_seq,
                found: event.seq,
            });
        }
        if event.prev_hash != self.last_hash {
            return Err(ChainBreak::BrokenLink { seq: event.seq });
        }
        if chain_hash(&event.prev_hash, &event.body()) != event.hash {
            return Err(ChainBreak::Altered { seq: event.seq });
        }
        self.last_seq = event.seq;
        self.last_hash.clone_from(&event.hash);
        self.checked += 1;
        Ok(())
    }

    /// A verifier for a range of the log that starts after event `seq`,
    /// whose hash is `hash` (the first event's `prev_hash`, obtained from a
    /// trusted source: an earlier verified export or a recorded head).
    #[must_use]
    pub fn resume(seq: u64, hash: &str) -> Self {
        Self {
            last_seq: seq,
            last_hash: hash.to_owned(),
            checked: 0,
            gaps: 0,
        }
    }

    /// Checks the next event of a *view* of the log (a tenant's events
    /// only): an event that directly follows the previous one is checked as
    /// by [`push`](Self::push); after a gap (other tenants' events) only its
    /// own hash is recomputed, and the gap is counted. Order is still enforced.
    pub fn push_view(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        if event.seq > self.last_seq + 1 {
            if chain_hash(&event.prev_hash, &event.body()) != event.hash {
                return Err(ChainBreak::Altered { seq: event.seq });
            }
            self.gaps += 1;
            self.last_seq = event.seq;
            self.last_hash.clone_from(&event.hash);
            self.checked += 1;
            return Ok(());
        }
        self.push(event)
    }

    /// Gaps crossed by [`push_view`](Self::push_view).
    #[must_use]
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Events checked so far.
    #[must_use]
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Hash of the last checked event (the chain head).
    #[must_use]
    pub fn head(&self) -> &str {
        &self.last_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let body = AuditEventBody {
                    seq,
                    at: "2026-01-01T00:00:00.000Z".into(),
                    actor: "client:a".into(),
                    action: "sign".into(),
                    target: format!("w{seq}"),
                    outcome: "ok".into(),
                    detail: (seq % 2 == 0).then(|| {
                        canonical(serde_json::json!({"transaction": {"value": "1", "chain_id": 1}}))
                    }),
                };
                let hash = chain_hash(&prev, &body);
                let e = AuditEvent {
                    seq,
                    at: body.at,
                    actor: body.actor,
                    action: body.action,
                    target: body.target,
                    outcome: body.outcome,
                    detail: body.detail,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let mut v = ChainVerifier::default();
        for e in chain(5) {
            v.push(&e).unwrap();
        }
        assert_eq!(v.checked(), 5);
    }

    #[test]
    fn detail_is_hashed_only_when_present() {
        // Without `detail`, the canonical event is the one of before it
        // existed: older chains still verify.
        let mut e = chain(1).remove(0);
        assert!(!serde_json::to_string(&e.body()).unwrap().contains("detail"));
        // With it, its keys are sorted and a change is an alteration.
        let mut events = chain(3);
        let text = serde_json::to_string(&events[1].body()).unwrap();
        assert!(
            text.ends_with(r#""detail":{"transaction":{"chain_id":1,"value":"1"}}}"#),
            "{text}"
        );
        events[1].detail =
            Some(serde_json::json!({"transaction": {"value": "1000", "chain_id": 1}}));
        let mut v = ChainVerifier::default();
        assert_eq!(
            events.iter().try_for_each(|e| v.push(e)).unwrap_err(),
            ChainBreak::Altered { seq: 2 }
        );
        e.detail = Some(serde_json::json!({}));
        assert_ne!(chain_hash(GENESIS_HASH, &e.body()), e.hash);
    }

    #[test]
    fn alterations_are_named() {
        let mut events = chain(5);
        events[2].outcome = "denied".into();
        let mut v = ChainVerifier::default();
        let err = events.iter().try_for_each(|e| v.push(e)).unwrap_err();
        assert_eq!(err, ChainBreak::Altered { seq: 3 });

        let mut events = chain(5);
        events.remove(2);
        let mut v = ChainVerifier::default();
        assert_eq!(
            events.iter().try_for_each(|e| v.push(e)).unwrap_err(),
            ChainBreak::Gap {
                expected_after: 2,
                found: 4
            }
        );

        // Rewriting an event and its hash breaks the next link.
        let mut events = chain(5);
        events[1].target = "forged".into();
        events[1].hash = chain_hash(&events[1].prev_hash, &events[1].body());
        let mut v = ChainVerifier::default();
        assert_eq!(
            events.iter().try_for_each(|e| v.push(e)).unwrap_err(),
            ChainBreak::BrokenLink { seq: 3 }
        );
    }

    #[test]
    fn a_tenant_view_checks_hashes_across_gaps_and_links_where_consecutive() {
        let all = chain(8);
        let view: Vec<AuditEvent> = [0usize, 1, 4, 6, 7]
            .iter()
            .map(|i| all[*i].clone())
            .collect();
        let mut v = ChainVerifier::default();
        view.iter().try_for_each(|e| v.push_view(e)).unwrap();
        assert_eq!((v.checked(), v.gaps()), (5, 2));
        // An altered event after a gap is caught by its own hash.
        let mut altered = view.clone();
        altered[2].outcome = "ok-forged".into();
        let mut v = ChainVerifier::default();
        assert_eq!(
            altered.iter().try_for_each(|e| v.push_view(e)).unwrap_err(),
            ChainBreak::Altered { seq: 5 }
        );
        // A consecutive pair is still linked.
        let mut relinked = view.clone();
        relinked[4].prev_hash = GENESIS_HASH.into();
        relinked[4].hash = chain_hash(&relinked[4].prev_hash, &relinked[4].body());
        let mut v = ChainVerifier::default();
        assert_eq!(
            relinked
                .iter()
                .try_for_each(|e| v.push_view(e))
                .unwrap_err(),
            ChainBreak::BrokenLink { seq: 8 }
        );
        // Order is enforced.
        let mut v = ChainVerifier::default();
        let reordered = [view[2].clone(), view[1].clone()];
        assert!(reordered.iter().try_for_each(|e| v.push_view(e)).is_err());
    }
}
