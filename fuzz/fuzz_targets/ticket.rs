//! Arbitrary strings as tickets: no input may panic, and none may verify
//! without the MAC key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_proto::ticket::TicketKeys;
use signet_proto::SharedSecret;

fuzz_target!(|data: &[u8]| {
    let keys = TicketKeys::new(
        SharedSecret::new_unchecked(b"fuzz-ticket-key-0123456789abcdef0123".to_vec()),
        None,
    );
    let token = String::from_utf8_lossy(data);
    assert!(keys.verify_unbound(&token, 1_700_000_000).is_err());
});
