//! Reading JSON objects field by field, so that every refusal names its field.

use serde_json::{Map, Value};

use crate::error::{FieldError, FieldErrorKind as K};
use crate::MAX_SAFE_INTEGER;

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    match (parent.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (_, true) => parent.to_owned(),
        _ if key.starts_with('[') => format!("{parent}{key}"),
        _ => format!("{parent}.{key}"),
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A JSON type's name, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being read: every key is either one of `known` or refused.
pub(crate) struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `value` as an object at `path`, without checking its keys.
    pub(crate) fn open(value: &'a Value, path: &str, what: &str) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self {
                path: path.to_owned(),
                map,
            }),
            other => Err(FieldError::new(
                path,
                K::WrongType,
                format!("{what} must be a JSON object, not {}", type_name(other)),
            )),
        }
    }

    /// `value` as an object at `path` holding only keys from `known`.
    pub(crate) fn new(
        value: &'a Value,
        path: &str,
        what: &str,
        known: &[&str],
    ) -> Result<Self, FieldError> {
        let obj = Self::open(value, path, what)?;
        obj.only(known, what)?;
        Ok(obj)
    }

    /// Refuses any key outside `known` (the first in sorted order).
    pub(crate) fn only(&self, known: &[&str], what: &str) -> Result<(), FieldError> {
        let mut unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(k) => Err(FieldError::new(
                self.field(k),
                K::UnknownField,
                format!(
                    "{what} has no field {}; its fields are {}",
                    quote(k),
                    known.join(", ")
                ),
            )),
        }
    }

    /// The path of `key` in this object.
    pub(crate) fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The keys present.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'a String> {
        self.map.keys()
    }

    /// The value at `key`, if present (a JSON `null` counts as present).
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The value at `key`, refused when absent.
    pub(crate) fn required(&self, key: &str) -> Result<&'a Value, FieldError> {
        self.get(key).ok_or_else(|| {
            FieldError::new(self.field(key), K::Missing, format!("{key} is required"))
        })
    }

    /// The string at `key`.
    pub(crate) fn string(&self, key: &str) -> Result<&'a str, FieldError> {
        as_str(self.required(key)?, &self.field(key))
    }

    /// The string at `key`, or `None` when absent or `null`.
    pub(crate) fn optional_string(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_str(v, &self.field(key)).map(Some),
        }
    }

    /// The non-negative integer at `key`, at most [`MAX_SAFE_INTEGER`].
    pub(crate) fn integer(&self, key: &str) -> Result<u64, FieldError> {
        as_integer(self.required(key)?, &self.field(key))
    }

    /// The array at `key`.
    pub(crate) fn array(&self, key: &str) -> Result<&'a Vec<Value>, FieldError> {
        as_array(self.required(key)?, &self.field(key))
    }
}

/// `v` as a string.
pub(crate) fn as_str<'a>(v: &'a Value, path: &str) -> Result<&'a str, FieldError> {
    v.as_str().ok_or_else(|| {
        FieldError::new(
            path,
            K::WrongType,
            format!("must be a string, not {}", type_name(v)),
        )
    })
}

/// `v` as an array.
pub(crate) fn as_array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, FieldError> {
    v.as_array().ok_or_else(|| {
        FieldError::new(
            path,
            K::WrongType,
            format!("must be an array, not {}", type_name(v)),
        )
    })
}

/// `v` as a non-negative integer no larger than [`MAX_SAFE_INTEGER`].
pub(crate) fn as_integer(v: &Value, path: &str) -> Result<u64, FieldError> {
    match v.as_u64() {
        Some(n) if n <= MAX_SAFE_INTEGER => Ok(n),
        Some(_) => Err(FieldError::new(
            path,
            K::OutOfRange,
            format!("must be at most {MAX_SAFE_INTEGER} (2^53 - 1)"),
        )),
        None => Err(FieldError::new(
            path,
            K::WrongType,
            format!(
                "must be a non-negative integer written without fraction or exponent, not {}",
                if v.is_number() {
                    "this number"
                } else {
                    type_name(v)
                }
            ),
        )),
    }
}

/// A string for a message: quoted, at most 40 characters, control characters
/// escaped (the value may come from anyone).
pub(crate) fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("{out:?}")
}

/// Checks a name: 1..=`max` bytes from `[A-Za-z0-9._-]` (wallet ids, deployments).
pub(crate) fn check_name(s: &str, path: &str, what: &str, max: usize) -> Result<(), FieldError> {
    if s.is_empty()
        || s.len() > max
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(FieldError::new(
            path,
            K::InvalidName,
            format!(
                "{what} {} must be 1 to {max} characters from A-Z, a-z, 0-9, '.', '_' and '-'",
                quote(s)
            ),
        ));
    }
    Ok(())
}

/// Decodes exactly `N` bytes of hex (either case; the canonical form, lower
/// case, is enforced by comparing a whole text with its re-serialization).
pub(crate) fn hex_array<const N: usize>(
    s: &str,
    path: &str,
    what: &str,
) -> Result<[u8; N], FieldError> {
    let mut out = [0u8; N];
    if s.len() != 2 * N || hex::decode_to_slice(s, &mut out).is_err() {
        return Err(FieldError::new(
            path,
            K::InvalidHex,
            format!("{what} must be {N} bytes as {} hex digits", 2 * N),
        ));
    }
    Ok(out)
}

/// Decodes hex of any even length up to `max` bytes.
pub(crate) fn hex_vec(s: &str, path: &str, what: &str, max: usize) -> Result<Vec<u8>, FieldError> {
    if s.len() > 2 * max {
        return Err(FieldError::new(
            path,
            K::InvalidHex,
            format!("{what} is longer than {max} bytes"),
        ));
    }
    hex::decode(s).map_err(|_| {
        FieldError::new(
            path,
            K::InvalidHex,
            format!("{what} must be hex digits (an even number of 0-9, a-f)"),
        )
    })
}

/// The first place where `actual` (what was given) differs from `canonical`
/// (the same value written canonically), as a field path under `path`.
pub(crate) fn first_difference(canonical: &Value, actual: &Value, path: &str) -> Option<String> {
    match (canonical, actual) {
        (Value::Object(c), Value::Object(a)) => {
            let mut keys: Vec<&String> = c.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub = join(path, k);
                match (c.get(k.as_str()), a.get(k.as_str())) {
                    (Some(cv), Some(av)) => {
                        if let Some(p) = first_difference(cv, av, &sub) {
                            return Some(p);
                        }
                    }
                    _ => return Some(sub),
                }
            }
            None
        }
        (Value::Array(c), Value::Array(a)) => {
            if c.len() != a.len() {
                return Some(path.to_owned());
            }
            c.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (cv, av))| first_difference(cv, av, &index(path, i)))
        }
        (c, a) if c == a => None,
        _ => Some(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_join_like_the_docs_say() {
        assert_eq!(join("", "threshold"), "threshold");
        assert_eq!(join("owners[1]", "public_key"), "owners[1].public_key");
        assert_eq!(join("policy", "[2]"), "policy[2]");
        assert_eq!(index("policy.allow", 2), "policy.allow[2]");
    }

    #[test]
    fn first_difference_names_the_deepest_field() {
        let a = json!({"owners": [{"id": "a", "k": "AB"}], "t": 1});
        let c = json!({"owners": [{"id": "a", "k": "ab"}], "t": 1});
        assert_eq!(first_difference(&c, &a, "").as_deref(), Some("owners[0].k"));
        assert_eq!(first_difference(&c, &c, ""), None);
    }

    #[test]
    fn quote_bounds_and_escapes() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        assert!(quote(&"x".repeat(100)).chars().count() < 50);
    }
}
