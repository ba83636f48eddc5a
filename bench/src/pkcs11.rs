//! The raw `C_Sign` baseline: secp256k1 CKM_ECDSA on the token the signer uses.

use std::path::Path;
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// What one raw `C_Sign` run measured.
#[derive(Clone, Copy)]
pub struct RawCSign {
    /// Signatures per second over all threads.
    pub per_s: f64,
    /// CPU time of this process per signature (µs): the token's own cost,
    /// as SoftHSM computes in the caller's process.
    pub cpu_us_per_op: f64,
}

/// `C_Sign`s per second on `threads` sessions for `seconds`, with a key pair
/// made like the signer's (a sensitive, non-extractable *token* object —
/// SoftHSM re-reads token objects from disk on use, so a session object would
/// flatter the baseline), destroyed afterwards.
pub fn raw_c_sign_per_second(
    module: &Path,
    label: &str,
    threads: usize,
    seconds: f64,
) -> Result<RawCSign, String> {
    let pin = std::env::var("PKCS11_PIN")
        .map_err(|_| "PKCS11_PIN is required with --pkcs11-module".to_owned())?;
    let ctx = Pkcs11::new(module).map_err(|e| format!("{}: {e}", module.display()))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| e.to_string())?;
    let slot = ctx
        .get_slots_with_token()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .is_ok_and(|t| t.label().trim_end() == label)
        })
        .ok_or_else(|| format!("no token labelled {label}"))?;
    let setup = ctx.open_rw_session(slot).map_err(|e| e.to_string())?;
    setup
        .login(UserType::User, Some(&AuthPin::from(pin)))
        .map_err(|e| e.to_string())?;
    let secp256k1_oid = vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    let (public, private) = setup
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(secp256k1_oid),
                Attribute::Verify(true),
                Attribute::Label(b"signet-bench-baseline".to_vec()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Label(b"signet-bench-baseline".to_vec()),
            ],
        )
        .map_err(|e| e.to_string())?;
    let cpu0 = crate::server::cpu_seconds(std::process::id());
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let ctx = &ctx;
                scope.spawn(move || {
                    let Ok(session) = ctx.open_rw_session(slot) else {
                        return 0;
                    };
                    let mut n = 0u64;
                    let mut digest = [0u8; 32];
                    while start.elapsed().as_secs_f64() < seconds {
                        digest[..8].copy_from_slice(&n.to_be_bytes());
                        if session.sign(&Mechanism::Ecdsa, private, &digest).is_err() {
                            break;
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = crate::server::cpu_seconds(std::process::id())
        .zip(cpu0)
        .map_or(0.0, |(b, a)| b - a);
    let n = counts.iter().sum::<u64>().max(1) as f64;
    let _ = setup.destroy_object(private);
    let _ = setup.destroy_object(public);
    Ok(RawCSign {
        per_s: n / wall,
        cpu_us_per_op: cpu * 1e6 / n,
    })
}
