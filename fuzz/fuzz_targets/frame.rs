//! Arbitrary bytes as a signer frame body (both directions) and as a sealed
//! key blob: no input may panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_proto::frame;
use signet_proto::{Request, Response, SealedKey};

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let _ = frame::parse_prefix([data[0], data[1], data[2], data[3]]);
    }
    let _ = frame::decode::<Request>(data);
    let _ = frame::decode::<Response>(data);
    let _ = SealedKey::from_bytes(data);
});
