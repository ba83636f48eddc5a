//! RFC 8785 (JCS) canonical JSON, through `serde_json_canonicalizer` (the
//! Rust implementation listed by the RFC's reference repository: UTF-16 key
//! order, ECMAScript number formatting).

use serde_json::Value;

use crate::error::{FieldError, FieldErrorKind as K};
use crate::fields::{index, join};
use crate::MAX_SAFE_INTEGER;

/// The canonical text of `value`.
pub(crate) fn to_text(value: &Value) -> Result<String, FieldError> {
    serde_json_canonicalizer::to_string(value).map_err(|e| {
        FieldError::new(
            "",
            K::InvalidValue,
            format!("cannot be written as RFC 8785 JSON: {e}"),
        )
    })
}

/// Refuses any number in `value` that RFC 8785 would not carry exactly:
/// fractions, exponents, and integers beyond ±(2^53 − 1). Content objects are
/// hashed in canonical form, where a larger integer would be rounded to a
/// double and two different requests could share a hash.
pub(crate) fn check_exact_numbers(value: &Value, path: &str) -> Result<(), FieldError> {
    match value {
        Value::Number(n) => {
            let exact = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_SAFE_INTEGER,
                (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
                (None, None) => false,
            };
            if exact {
                Ok(())
            } else {
                Err(FieldError::new(
                    path,
                    K::OutOfRange,
                    "numbers must be integers between -(2^53 - 1) and 2^53 - 1 without fraction or exponent; write other values as strings",
                ))
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_exact_numbers(v, &index(path, i))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_exact_numbers(v, &join(path, k))),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}
