//! Method parameters as the Bot API reads them: from the query string, an
//! `application/x-www-form-urlencoded` body or an `application/json` body
//! (a top-level object), all merged into string arguments. JSON strings are
//! taken as they are, numbers and booleans as their text, objects and arrays
//! as compact JSON (so `allowed_updates` may be sent either way).
//!
//! Integers are read as the Bot API server does (`td::to_integer`): an
//! optional `-`, then digits up to the first other character; anything else
//! reads as 0. Booleans are `true`, `yes` or `1`, any case.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a request's parameters could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// A JSON body that is not a JSON object.
    #[error("can't parse JSON object")]
    Json,
    /// A body of a content type the Bot API does not read.
    #[error("unsupported Content-Type {0}")]
    ContentType(String),
}

/// A method call's arguments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    args: BTreeMap<String, String>,
    /// The arguments as sent (JSON values when the body was JSON), for the
    /// call log.
    original: Map<String, Value>,
}

impl Params {
    /// Reads the query string and the body.
    pub fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, ParamsError> {
        let mut params = Self::default();
        if let Some(q) = query {
            params.add_form(q.as_bytes());
        }
        let mime = content_type
            .and_then(|c| c.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        match mime.as_str() {
            "application/json" => {
                let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
                    return Err(ParamsError::Json);
                };
                for (k, v) in map {
                    let text = match &v {
                        Value::Null => continue,
                        Value::String(s) => s.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        Value::Array(_) | Value::Object(_) => v.to_string(),
                    };
                    params.args.insert(k.clone(), text);
                    params.original.insert(k, v);
                }
            }
            "application/x-www-form-urlencoded" | "" => params.add_form(body),
            other => return Err(ParamsError::ContentType(other.to_owned())),
        }
        Ok(params)
    }

    fn add_form(&mut self, form: &[u8]) {
        for pair in form.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let (k, v) = (percent_decode(k), percent_decode(v));
            self.original.insert(k.clone(), Value::String(v.clone()));
            self.args.insert(k, v);
        }
    }

    /// Adds or replaces one argument (tests, internal calls).
    pub fn insert(&mut self, name: &str, value: &str) {
        self.args.insert(name.to_owned(), value.to_owned());
        self.original
            .insert(name.to_owned(), Value::String(value.to_owned()));
    }

    /// An argument's text; empty when absent (the Bot API does not tell the two apart).
    pub fn arg(&self, name: &str) -> &str {
        self.args.get(name).map_or("", String::as_str)
    }

    /// An integer argument, `default` when absent, clamped to `min..=max`.
    pub fn integer(&self, name: &str, default: i64, min: i64, max: i64) -> i64 {
        let s = self.arg(name);
        let value = if s.is_empty() { default } else { to_integer(s) };
        value.clamp(min, max)
    }

    /// A boolean argument.
    pub fn boolean(&self, name: &str) -> bool {
        to_bool(self.arg(name))
    }

    /// The arguments as sent, for the call log.
    pub fn original(&self) -> &Map<String, Value> {
        &self.original
    }
}

/// `td::to_integer<int32>`: optional `-`, digits up to the first non-digit,
/// wrapping like the C++ does.
pub fn to_integer(s: &str) -> i64 {
    let bytes = s.as_bytes();
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut value: u32 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        value = value.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
    }
    if negative {
        value = value.wrapping_neg();
    }
    i64::from(value as i32)
}

/// The Bot API's `to_bool`.
pub fn to_bool(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s == "true" || s == "yes" || s == "1"
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                match (hex_value(input[i + 1]), hex_value(input[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn json_values_become_text() {
        let p = Params::parse(
            None,
            Some("application/json; charset=utf-8"),
            br#"{"chat_id":42,"text":"hi","flag":true,"allowed_updates":["message"],"n":null}"#,
        )
        .unwrap();
        assert_eq!(p.arg("chat_id"), "42");
        assert_eq!(p.arg("text"), "hi");
        assert!(p.boolean("flag"));
        assert_eq!(p.arg("allowed_updates"), r#"["message"]"#);
        assert_eq!(p.arg("n"), "");
        assert_eq!(p.original()["chat_id"], Value::from(42));
    }

    #[test]
    fn forms_and_query_strings_are_decoded() {
        let p = Params::parse(
            Some("offset=5&x"),
            Some("application/x-www-form-urlencoded"),
            b"text=%2Fstart+abc&bad=%zz%4",
        )
        .unwrap();
        assert_eq!(p.arg("offset"), "5");
        assert_eq!(p.arg("x"), "");
        assert_eq!(p.arg("text"), "/start abc");
        assert_eq!(p.arg("bad"), "%zz%4");
    }

    #[test]
    fn a_json_body_that_is_not_an_object_is_refused() {
        assert_eq!(
            Params::parse(None, Some("application/json"), b"[1]"),
            Err(ParamsError::Json)
        );
        assert_eq!(
            Params::parse(None, Some("application/json"), b"{"),
            Err(ParamsError::Json)
        );
        assert!(Params::parse(None, Some("application/json"), b"").is_ok());
    }

    #[test]
    fn integers_read_like_td() {
        assert_eq!(to_integer("12"), 12);
        assert_eq!(to_integer("-3"), -3);
        assert_eq!(to_integer("7abc"), 7);
        assert_eq!(to_integer("abc"), 0);
        assert_eq!(to_integer(""), 0);
        assert_eq!(to_integer("4294967297"), 1);
        let p = Params::parse(Some("limit=500&timeout=-4"), None, b"").unwrap();
        assert_eq!(p.integer("limit", 100, 1, 100), 100);
        assert_eq!(p.integer("timeout", 0, 0, 50), 0);
        assert_eq!(p.integer("absent", 100, 1, 100), 100);
    }

    #[test]
    fn booleans_read_like_the_bot_api() {
        for yes in ["true", "True", "yes", "1"] {
            assert!(to_bool(yes));
        }
        for no in ["", "false", "0", "on"] {
            assert!(!to_bool(no));
        }
    }
}
