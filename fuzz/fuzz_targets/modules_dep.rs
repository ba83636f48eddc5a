//! Arbitrary bytes as the enclave image's `modules.dep` and `modules.load`
//! (read by signet-init at boot): no input may panic, and an order found
//! names each module once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_init::load_order;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (dep, load) = data.split_at(split);
    if let Ok(order) = load_order(dep, load.get(1..).unwrap_or_default()) {
        let mut names: Vec<&str> = order.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
});
