//! The hello's proofs: each side shows it knows `INTERNAL_API_KEY` by an HMAC
//! over the signer's fresh challenge and the host's fresh nonce. The key never
//! crosses the wire, and a recorded hello cannot be replayed (new challenge
//! every connection).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SharedSecret;

const HOST_LABEL: &[u8] = b"signet/hello/host/v1";
const SIGNER_LABEL: &[u8] = b"signet/hello/signer/v1";

fn proof(key: &SharedSecret, label: &[u8], challenge: &[u8], client_nonce: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).expect("any key length");
    mac.update(label);
    mac.update(
        &u32::try_from(challenge.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    mac.update(challenge);
    mac.update(client_nonce);
    mac
}

/// The host's proof.
#[must_use]
pub fn host_proof(key: &SharedSecret, challenge: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    proof(key, HOST_LABEL, challenge, client_nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// The signer's proof.
#[must_use]
pub fn signer_proof(key: &SharedSecret, challenge: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    proof(key, SIGNER_LABEL, challenge, client_nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Checks the host's proof in constant time.
#[must_use]
pub fn verify_host_proof(
    key: &SharedSecret,
    challenge: &[u8],
    client_nonce: &[u8],
    given: &[u8],
) -> bool {
    proof(key, HOST_LABEL, challenge, client_nonce)
        .verify_slice(given)
        .is_ok()
}

/// Checks the signer's proof in constant time.
#[must_use]
pub fn verify_signer_proof(
    key: &SharedSecret,
    challenge: &[u8],
    client_nonce: &[u8],
    given: &[u8],
) -> bool {
    proof(key, SIGNER_LABEL, challenge, client_nonce)
        .verify_slice(given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_are_directional_and_keyed() {
        let k = SharedSecret::new_unchecked(vec![1; 32]);
        let other = SharedSecret::new_unchecked(vec![2; 32]);
        let p = host_proof(&k, b"challenge", b"nonce");
        assert!(verify_host_proof(&k, b"challenge", b"nonce", &p));
        assert!(
            !verify_signer_proof(&k, b"challenge", b"nonce", &p),
            "a host proof is not a signer proof"
        );
        assert!(!verify_host_proof(&other, b"challenge", b"nonce", &p));
        assert!(!verify_host_proof(&k, b"challengf", b"nonce", &p));
        assert!(!verify_host_proof(&k, b"challenge", b"nonce", &p[..31]));
    }
}
