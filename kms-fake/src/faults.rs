//! Fault injection for tests: counters set over the control API, each
//! consumed by the next KMS API calls.
//!
//! Call faults (at most one per call, in this order of precedence): `reset`
//! closes the connection without an answer, `delay_ms`/`delay_count` answers
//! late (the call then runs normally), `throttle` → `ThrottlingException`,
//! `internal_error` → `KMSInternalException`, `expired_token` →
//! `ExpiredTokenException`.
//!
//! Tampering (at most one per response, same precedence rule) applies only to
//! successful `GenerateDataKey`/`Decrypt` responses to a request with
//! `Recipient`: `plaintext_too`, `other_key_id`, `wrong_rid`, `tamper_cms`,
//! `short_key`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The counters, as `POST /faults` sets them and returns them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultState {
    /// Close the TCP connection without answering.
    pub reset: u32,
    /// How long a delayed call waits, milliseconds.
    pub delay_ms: u64,
    /// How many calls are delayed.
    pub delay_count: u32,
    /// Answer `ThrottlingException`.
    pub throttle: u32,
    /// Answer `KMSInternalException` (HTTP 500).
    pub internal_error: u32,
    /// Answer `ExpiredTokenException`.
    pub expired_token: u32,
    /// Also return `Plaintext` (the real data key) next to `CiphertextForRecipient`.
    pub plaintext_too: u32,
    /// Return another key ARN of the same account as `KeyId`.
    pub other_key_id: u32,
    /// Use a random `rid` in the envelope.
    pub wrong_rid: u32,
    /// Flip one byte of the envelope's content ciphertext.
    pub tamper_cms: u32,
    /// Put only the first 16 bytes of the data key into the envelope.
    pub short_key: u32,
}

/// A `POST /faults` body: every field optional, unknown fields refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultUpdate {
    reset: Option<u32>,
    delay_ms: Option<u64>,
    delay_count: Option<u32>,
    throttle: Option<u32>,
    internal_error: Option<u32>,
    expired_token: Option<u32>,
    plaintext_too: Option<u32>,
    other_key_id: Option<u32>,
    wrong_rid: Option<u32>,
    tamper_cms: Option<u32>,
    short_key: Option<u32>,
    /// Zero every counter first.
    clear: Option<bool>,
}

/// What happens to one call before it is processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFault {
    /// Close the connection.
    Reset,
    /// Wait, then process normally.
    Delay(Duration),
    /// `ThrottlingException`.
    Throttle,
    /// `KMSInternalException`.
    InternalError,
    /// `ExpiredTokenException`.
    ExpiredToken,
}

impl CallFault {
    /// The counter's name, for the call log.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Delay(_) => "delay",
            Self::Throttle => "throttle",
            Self::InternalError => "internal_error",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// How one successful Recipient response is tampered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// Include `Plaintext`.
    PlaintextToo,
    /// Another `KeyId`.
    OtherKeyId,
    /// A random `rid`.
    WrongRid,
    /// A flipped content byte.
    TamperCms,
    /// A 16-byte data key in the envelope.
    ShortKey,
}

impl Tamper {
    /// The counter's name, for the call log.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::PlaintextToo => "plaintext_too",
            Self::OtherKeyId => "other_key_id",
            Self::WrongRid => "wrong_rid",
            Self::TamperCms => "tamper_cms",
            Self::ShortKey => "short_key",
        }
    }
}

fn take(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

impl FaultState {
    /// Applies an update: `clear` first, then every given counter replaces
    /// the current one.
    pub fn apply(&mut self, update: FaultUpdate) {
        if update.clear == Some(true) {
            *self = Self::default();
        }
        let set = |slot: &mut u32, value: Option<u32>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(&mut self.reset, update.reset);
        if let Some(ms) = update.delay_ms {
            self.delay_ms = ms;
        }
        set(&mut self.delay_count, update.delay_count);
        set(&mut self.throttle, update.throttle);
        set(&mut self.internal_error, update.internal_error);
        set(&mut self.expired_token, update.expired_token);
        set(&mut self.plaintext_too, update.plaintext_too);
        set(&mut self.other_key_id, update.other_key_id);
        set(&mut self.wrong_rid, update.wrong_rid);
        set(&mut self.tamper_cms, update.tamper_cms);
        set(&mut self.short_key, update.short_key);
    }

    /// Consumes the fault for the next call, if any.
    pub fn take_call_fault(&mut self) -> Option<CallFault> {
        if take(&mut self.reset) {
            Some(CallFault::Reset)
        } else if take(&mut self.delay_count) {
            Some(CallFault::Delay(Duration::from_millis(self.delay_ms)))
        } else if take(&mut self.throttle) {
            Some(CallFault::Throttle)
        } else if take(&mut self.internal_error) {
            Some(CallFault::InternalError)
        } else if take(&mut self.expired_token) {
            Some(CallFault::ExpiredToken)
        } else {
            None
        }
    }

    /// Consumes the tampering for the next successful Recipient response, if any.
    pub fn take_tamper(&mut self) -> Option<Tamper> {
        [
            (&mut self.plaintext_too, Tamper::PlaintextToo),
            (&mut self.other_key_id, Tamper::OtherKeyId),
            (&mut self.wrong_rid, Tamper::WrongRid),
            (&mut self.tamper_cms, Tamper::TamperCms),
            (&mut self.short_key, Tamper::ShortKey),
        ]
        .into_iter()
        .find_map(|(counter, tamper)| take(counter).then_some(tamper))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> FaultUpdate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn counters_are_consumed_in_precedence_order() {
        let mut f = FaultState::default();
        f.apply(update(r#"{"expired_token":1,"throttle":2,"reset":1,"delay_ms":5,"delay_count":1,"internal_error":1}"#));
        let seen: Vec<_> = std::iter::from_fn(|| f.take_call_fault()).collect();
        assert_eq!(
            seen,
            vec![
                CallFault::Reset,
                CallFault::Delay(Duration::from_millis(5)),
                CallFault::Throttle,
                CallFault::Throttle,
                CallFault::InternalError,
                CallFault::ExpiredToken
            ]
        );
        assert_eq!(
            f,
            FaultState {
                delay_ms: 5,
                ..FaultState::default()
            }
        );
    }

    #[test]
    fn tampering_is_one_per_response() {
        let mut f = FaultState::default();
        f.apply(update(r#"{"short_key":1,"plaintext_too":1,"wrong_rid":1}"#));
        assert_eq!(f.take_tamper(), Some(Tamper::PlaintextToo));
        assert_eq!(f.take_tamper(), Some(Tamper::WrongRid));
        assert_eq!(f.take_tamper(), Some(Tamper::ShortKey));
        assert_eq!(f.take_tamper(), None);
        assert_eq!(f.take_call_fault(), None);
    }

    #[test]
    fn updates_replace_and_clear() {
        let mut f = FaultState::default();
        f.apply(update(r#"{"throttle":3,"tamper_cms":1}"#));
        f.apply(update(r#"{"throttle":1}"#));
        assert_eq!((f.throttle, f.tamper_cms), (1, 1));
        f.apply(update(r#"{"clear":true,"other_key_id":2}"#));
        assert_eq!(
            f,
            FaultState {
                other_key_id: 2,
                ..FaultState::default()
            }
        );
        assert!(serde_json::from_str::<FaultUpdate>(r#"{"throttel":1}"#).is_err());
    }
}
