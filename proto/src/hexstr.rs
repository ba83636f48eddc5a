//! Lowercase hex for the signing path. `hex::encode` builds its string one
//! `char` at a time through an iterator (1–1.5 % of the host's CPU per
//! `sign`, issue 29); this writes it with `hex::encode_to_slice`, the same
//! crate's table-driven encoder, into one allocation.

/// `bytes` as lowercase hex, exactly as `hex::encode` writes it.
#[must_use]
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = vec![0u8; bytes.len() * 2];
    // The output is exactly twice the input's length: this cannot fail.
    if hex::encode_to_slice(bytes, &mut out).is_err() {
        return hex::encode(bytes);
    }
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_else(|_| hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_what_hex_encode_writes() {
        let bytes: Vec<u8> = (0..=255).collect();
        for n in [0, 1, 2, 31, 32, 65, 256] {
            assert_eq!(super::encode(&bytes[..n]), hex::encode(&bytes[..n]));
        }
    }
}
