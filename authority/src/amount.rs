//! Unsigned 256-bit amounts (wei, token units) as policies write them:
//! decimal strings, compared and summed exactly.

use std::fmt;

use crate::error::{FieldError, FieldErrorKind as K};

/// An unsigned 256-bit integer, big-endian. The derived order is the
/// numeric order (fixed width, most significant byte first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount([u8; 32]);

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self([0; 32]);
    /// 2^256 − 1: what an "unlimited" ERC-20 approval approves.
    pub const MAX: Self = Self([0xff; 32]);

    /// The amount whose big-endian bytes are `bytes`.
    #[must_use]
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The big-endian bytes.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    /// `n` as an amount.
    #[must_use]
    pub fn from_u128(n: u128) -> Self {
        let mut out = [0u8; 32];
        out[16..].copy_from_slice(&n.to_be_bytes());
        Self(out)
    }

    /// `self + other`, or `None` past 2^256 − 1.
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let sum = u16::from(self.0[i]) + u16::from(other.0[i]) + carry;
            out[i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        (carry == 0).then_some(Self(out))
    }

    /// `self + other`, at most [`Amount::MAX`].
    #[must_use]
    pub fn saturating_add(self, other: Self) -> Self {
        self.checked_add(other).unwrap_or(Self::MAX)
    }

    /// `self − other`, at least zero.
    #[must_use]
    pub fn saturating_sub(self, other: Self) -> Self {
        if other >= self {
            return Self::ZERO;
        }
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(self.0[i]) - i16::from(other.0[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[i] = d as u8;
        }
        Self(out)
    }

    /// Reads a decimal string: digits only, no sign, no leading zero (but
    /// `"0"`), at most 2^256 − 1. `path` names the field in a refusal.
    pub fn parse_decimal(s: &str, path: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| FieldError::new(path, K::InvalidValue, why.to_owned());
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "must be a whole number written as a decimal string, like \"1000000000000000000\"",
            ));
        }
        if s.len() > 1 && s.starts_with('0') {
            return Err(bad("must not start with 0"));
        }
        let mut out = [0u8; 32];
        for digit in s.bytes().map(|b| u16::from(b - b'0')) {
            // out = out * 10 + digit
            let mut carry = digit;
            for byte in out.iter_mut().rev() {
                let v = u16::from(*byte) * 10 + carry;
                *byte = (v & 0xff) as u8;
                carry = v >> 8;
            }
            if carry != 0 {
                return Err(FieldError::new(
                    path,
                    K::OutOfRange,
                    "must be at most 2^256 - 1",
                ));
            }
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Amount {
    /// The decimal digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ZERO {
            return f.write_str("0");
        }
        let mut n = self.0;
        let mut digits = Vec::with_capacity(78);
        while n.iter().any(|&b| b != 0) {
            // n, remainder = n / 10, n % 10
            let mut rem = 0u16;
            for byte in &mut n {
                let v = (rem << 8) | u16::from(*byte);
                *byte = (v / 10) as u8;
                rem = v % 10;
            }
            digits.push(b'0' + rem as u8);
        }
        digits.reverse();
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_DECIMAL: &str =
        "115792089237316195423570985008687907853269984665640564039457584007913129639935";

    #[test]
    fn decimal_round_trips_at_the_edges() {
        for s in [
            "0",
            "1",
            "10",
            "255",
            "256",
            "18446744073709551616",
            MAX_DECIMAL,
        ] {
            assert_eq!(Amount::parse_decimal(s, "x").unwrap().to_string(), s);
        }
        assert_eq!(
            Amount::parse_decimal(MAX_DECIMAL, "x").unwrap(),
            Amount::MAX
        );
        assert_eq!(
            Amount::parse_decimal("340282366920938463463374607431768211455", "x").unwrap(),
            Amount::from_u128(u128::MAX)
        );
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for s in ["", "-1", "+1", "01", "1.0", "1e18", "0x10", " 1", "１"] {
            let e = Amount::parse_decimal(s, "policy.max_value_wei").unwrap_err();
            assert_eq!(e.field, "policy.max_value_wei", "{s}");
        }
        let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(
            Amount::parse_decimal(over, "x").unwrap_err().kind,
            K::OutOfRange
        );
    }

    #[test]
    fn adds_and_subtracts_exactly_and_orders_numerically() {
        let a = Amount::from_u128(u128::MAX);
        let b = Amount::from_u128(1);
        let sum = a.checked_add(b).unwrap();
        assert_eq!(sum.to_string(), "340282366920938463463374607431768211456");
        assert_eq!(sum.saturating_sub(b), a);
        assert_eq!(b.saturating_sub(a), Amount::ZERO);
        assert!(sum > a && a > b && b > Amount::ZERO);
        assert_eq!(Amount::MAX.checked_add(b), None);
        assert_eq!(Amount::MAX.saturating_add(b), Amount::MAX);
    }
}
