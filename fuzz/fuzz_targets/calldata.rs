//! Arbitrary bytes as a transaction's calldata: `decode_call` never panics;
//! what it recognises is exactly the canonical encoding of the call it
//! returns (strict decoding: no dirty bits, offsets, padding or trailing
//! bytes), under the selector it returns; it refuses only known selectors
//! and says `None` for everything else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_eth::{decode_call, is_known_selector};

fuzz_target!(|data: &[u8]| {
    let known = data
        .first_chunk::<4>()
        .is_some_and(|s| is_known_selector(*s));
    match decode_call(data) {
        Ok(Some(call)) => {
            assert_eq!(call.abi_encode(), data);
            assert_eq!(&call.selector(), &data[..4]);
            let json = call.to_json();
            assert_eq!(json["function"], call.function());
            assert_eq!(json["signature"], call.signature());
            let _ = (call.counterparty(), call.amount(), call.is_unlimited());
        }
        Ok(None) => assert!(!known, "a known selector decoded to no call"),
        Err(e) => {
            assert!(known, "an unknown call was refused: {e}");
            let _ = e.to_string();
        }
    }
});
