//! JSON for people: objects whose keys come in a chosen order (PCRs by
//! number), where `serde_json` would sort them as strings.

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
    /// Pretty JSON (two-space indentation, as `serde_json` writes it).
    pub(crate) fn pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
