//! `signet-init` outside an enclave image (where it is not PID 1) mounts
//! nothing, loads nothing and powers nothing off: it refuses and exits 2.
//! Its boot as PID 1 is tested under QEMU by `scripts/test-image.sh`.

#[test]
fn refuses_to_run_as_an_ordinary_process() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet-init"))
        .output()
        .expect("run signet-init");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("signet-init: this is the enclave image's PID 1")
            && stderr.contains("refusing to run as process"),
        "{stderr}"
    );
}
