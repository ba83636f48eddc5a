//! JSON and tables for people: objects whose keys come in a chosen order
//! (identifying fields first, PCRs by number), where `serde_json` would sort
//! them as strings.

use serde::ser::{Serialize, SerializeMap as _, Serializer};
use serde_json::Value;

/// A JSON value whose objects keep the order they were built in.
pub(crate) enum Node {
    /// A value printed as `serde_json` prints it (nested keys sorted).
    Value(Value),
    /// An object printed in this order.
    Object(Vec<(String, Node)>),
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => v.serialize(serializer),
            Self::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl Node {
    /// `v` with its top-level keys in this order: `first` (those present),
    /// then the others sorted, then `last` (those present). A value that is
    /// not an object is kept as it is.
    pub(crate) fn ordered(v: Value, first: &[&str], last: &[&str]) -> Self {
        let Value::Object(mut map) = v else {
            return Self::Value(v);
        };
        let mut fields = Vec::with_capacity(map.len());
        for key in first {
            if let Some(value) = map.remove(*key) {
                fields.push(((*key).to_owned(), Self::Value(value)));
            }
        }
        let tail: Vec<(String, Node)> = last
            .iter()
            .filter_map(|key| {
                map.remove(*key)
                    .map(|v| ((*key).to_owned(), Self::Value(v)))
            })
            .collect();
        fields.extend(map.into_iter().map(|(k, v)| (k, Self::Value(v))));
        fields.extend(tail);
        Self::Object(fields)
    }

    /// Pretty JSON (two-space indentation, as `serde_json` writes it).
    pub(crate) fn pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A plain-text table: a header row, then one row per entry, columns padded
/// to their widest cell (by characters).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(&mut header.iter().copied())];
    lines.extend(rows.iter().map(|r| line(&mut r.iter().map(String::as_str))));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ordered_puts_first_fields_first_and_last_fields_last() {
        let v = json!({"attestation": {"document": "x"}, "created_at": "t", "id": "w1", "key_type": "p256", "zeta": 1});
        let text = Node::ordered(v.clone(), &["id", "key_type"], &["attestation"]).pretty();
        let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(pos("id") < pos("key_type"));
        assert!(pos("key_type") < pos("created_at"));
        assert!(pos("zeta") < pos("attestation"));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the same JSON, only reordered");
    }

    #[test]
    fn objects_keep_their_build_order() {
        let pcrs = Node::Object(
            [0u8, 1, 2, 10]
                .iter()
                .map(|i| (i.to_string(), Node::Value(json!("00"))))
                .collect(),
        );
        let text = serde_json::to_string(&pcrs).unwrap();
        assert_eq!(text, r#"{"0":"00","1":"00","2":"00","10":"00"}"#);
    }

    #[test]
    fn table_pads_columns() {
        let lines = table(
            &["ID", "TYPE"],
            &[
                vec!["w_long_id".into(), "p256".into()],
                vec!["w".into(), "ed25519".into()],
            ],
        );
        assert_eq!(
            lines,
            ["ID         TYPE", "w_long_id  p256", "w          ed25519"]
        );
    }
}
