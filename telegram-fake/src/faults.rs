//! Fault injection for tests: rules set with `POST /faults`, each consumed
//! by the next Bot API calls it matches.
//!
//! A rule `{"status"?, "retry_after"?, "count", "methods"?, "delay_ms"?,
//! "drop_connection"?, "description"?}` makes the next `count` calls (of
//! `methods`, any case, or of every method) first wait `delay_ms`, then:
//! close the connection without an answer (`drop_connection`), or fail
//! with `status`, or — with neither — run normally. Failures look like
//! Telegram's: 429 `Too Many Requests: retry after N` with
//! `parameters.retry_after`; 500 `Internal Server Error`; 502/503/504 the
//! HTML page of the nginx in front of the Bot API (not JSON!); other 4xx
//! `Bad Request`/`Unauthorized`/`Forbidden`/`Not Found`/`Conflict`.
//! Rules apply in the order they were added; the first matching one with
//! calls left is used.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One rule as `POST /faults` takes it and `GET /faults` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The HTTP status (and `error_code`) to answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// `parameters.retry_after` of a 429 (default 5).
    #[serde(default)]
    pub retry_after: Option<u32>,
    /// How many calls it applies to.
    pub count: u32,
    /// The methods it applies to (default: all).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Wait this long first.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop_connection: bool,
    /// Replace the description of the error answered.
    #[serde(default)]
    pub description: Option<String>,
}

/// Why a rule was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// `status` is not an error status.
    #[error("status {0} is not a 4xx or 5xx")]
    Status(u16),
    /// `drop_connection` together with `status`.
    #[error("drop_connection and status exclude each other")]
    Both,
}

/// What a call gets instead of (or before) its normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFault {
    /// Wait first.
    pub delay: Option<Duration>,
    /// Then this.
    pub effect: FaultEffect,
}

/// The end of a faulty call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultEffect {
    /// Run the method normally (after the delay).
    Proceed,
    /// Close the connection.
    Drop,
    /// Answer this error.
    Fail {
        /// HTTP status.
        status: u16,
        /// For 429.
        retry_after: u32,
        /// Overrides the usual description.
        description: Option<String>,
    },
}

/// The active rules.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&mut self, rule: FaultRule) -> Result<(), FaultError> {
        if let Some(status) = rule.status {
            if !(400..=599).contains(&status) {
                return Err(FaultError::Status(status));
            }
            if rule.drop_connection {
                return Err(FaultError::Both);
            }
        }
        if rule.count > 0 {
            self.rules.push(rule);
        }
        Ok(())
    }

    /// Forgets every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules with calls left.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Consumes one call of the first rule matching `method`.
    pub fn take(&mut self, method: &str) -> Option<CallFault> {
        let index = self.rules.iter().position(|r| {
            r.methods
                .as_ref()
                .is_none_or(|ms| ms.iter().any(|m| m.eq_ignore_ascii_case(method)))
        })?;
        let rule = self.rules.get_mut(index)?;
        rule.count -= 1;
        let fault = CallFault {
            delay: rule.delay_ms.map(Duration::from_millis),
            effect: if rule.drop_connection {
                FaultEffect::Drop
            } else if let Some(status) = rule.status {
                FaultEffect::Fail {
                    status,
                    retry_after: rule.retry_after.unwrap_or(5),
                    description: rule.description.clone(),
                }
            } else {
                FaultEffect::Proceed
            },
        };
        if rule.count == 0 {
            self.rules.remove(index);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn rules_apply_count_times_to_their_methods() {
        let mut f = Faults::default();
        f.add(FaultRule {
            status: Some(429),
            retry_after: Some(3),
            count: 2,
            methods: Some(vec!["getUpdates".into()]),
            ..FaultRule::default()
        })
        .unwrap();
        assert_eq!(f.take("sendmessage"), None);
        for _ in 0..2 {
            assert_eq!(
                f.take("getupdates").unwrap().effect,
                FaultEffect::Fail {
                    status: 429,
                    retry_after: 3,
                    description: None
                }
            );
        }
        assert_eq!(f.take("getupdates"), None);
        assert!(f.rules().is_empty());
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut f = Faults::default();
        assert!(f
            .add(FaultRule {
                status: Some(200),
                count: 1,
                ..FaultRule::default()
            })
            .is_err());
        assert!(f
            .add(FaultRule {
                status: Some(500),
                drop_connection: true,
                count: 1,
                ..FaultRule::default()
            })
            .is_err());
    }

    #[test]
    fn delay_alone_proceeds() {
        let mut f = Faults::default();
        f.add(FaultRule {
            delay_ms: Some(10),
            count: 1,
            ..FaultRule::default()
        })
        .unwrap();
        let fault = f.take("getMe").unwrap();
        assert_eq!(fault.delay, Some(Duration::from_millis(10)));
        assert_eq!(fault.effect, FaultEffect::Proceed);
    }
}
