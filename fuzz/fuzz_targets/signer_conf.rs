//! Arbitrary bytes as the enclave image's `/etc/signet/signer.conf` (read by
//! signet-init at boot): no input may panic, and whatever is accepted gives
//! a command line with the fixed arguments first and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_init::config::SIGNER_FIXED_ARGS;
use signet_init::SignerConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = SignerConfig::parse(data) {
        let args = config.signer_args();
        assert!(args.starts_with(
            &SIGNER_FIXED_ARGS
                .iter()
                .map(|a| (*a).to_owned())
                .collect::<Vec<_>>()
        ));
        assert_eq!(
            SignerConfig::parse(config.to_file().as_bytes()).ok(),
            Some(config)
        );
    }
});
