//! Reading a document given as a file or `-`, in raw, base64 or hex form.

use std::io::Read;

use base64::Engine as _;

/// Most bytes read from a file or stdin (hex of the largest document is 32 KiB).
const MAX_INPUT: u64 = 256 * 1024;

/// Reads `path` (or stdin for `-`), refusing inputs over [`MAX_INPUT`].
pub(crate) fn read_source(path: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let read = if path == "-" {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut buf))
    };
    read.map_err(|e| format!("cannot read {path}: {e}"))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(format!(
            "{path} is larger than {MAX_INPUT} bytes; not an attestation document"
        ));
    }
    Ok(buf)
}

/// The COSE bytes of a document given raw, as hex or as base64 (standard or
/// URL-safe, padded or not). Raw CBOR is recognised by its first byte (an
/// array of four, or tag 18); text forms may carry surrounding whitespace.
pub(crate) fn decode_document(input: &[u8]) -> Vec<u8> {
    if matches!(input.first(), Some(0x84 | 0xd2)) {
        return input.to_vec();
    }
    let Ok(text) = std::str::from_utf8(input) else {
        return input.to_vec();
    };
    if text.trim_start().starts_with('{') {
        // A wallet or signature JSON from the API: take its document.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let doc = v["attestation"]["document"]
                .as_str()
                .or_else(|| v["document"].as_str());
            if let Some(bytes) =
                doc.and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            {
                return bytes;
            }
        }
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let compact = compact.strip_prefix("0x").unwrap_or(&compact);
    if !compact.is_empty()
        && compact.len() % 2 == 0
        && compact.bytes().all(|b| b.is_ascii_hexdigit())
    {
        if let Ok(bytes) = hex::decode(compact) {
            return bytes;
        }
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(compact).ok())
        .unwrap_or_else(|| input.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_three_forms() {
        let raw = vec![0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xff];
        assert_eq!(decode_document(&raw), raw);
        assert_eq!(
            decode_document(format!(" {}\n", hex::encode(&raw)).as_bytes()),
            raw
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(decode_document(format!("{b64}\n").as_bytes()), raw);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(decode_document(url.as_bytes()), raw);
        let wallet = format!(r#"{{"id":"w","attestation":{{"format":"x","document":"{b64}"}}}}"#);
        assert_eq!(decode_document(wallet.as_bytes()), raw);
        // Garbage is passed through to be refused by the verifier.
        assert_eq!(
            decode_document(b"not a document!"),
            b"not a document!".to_vec()
        );
    }
}
