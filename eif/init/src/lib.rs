//! `signet-init`: PID 1 of the Signet enclave image.
//!
//! The binary (`src/main.rs`) mounts what the signer needs, loads the kernel
//! modules a Nitro enclave needs (virtio-mmio, vsock and its virtio
//! transport, the NSM driver), sends the Nitro heartbeat, starts the signer
//! with its pinned arguments and powers the enclave off when the signer
//! stops. This library holds what can be checked without being PID 1: the
//! signer's configuration file ([`config`]) and the module load order read
//! from `modules.dep` ([`modules`]).
//!
//! Both files come from the image's ramdisks, hence are measured (PCR1 for
//! the modules, PCR2 for the configuration); they are still parsed strictly,
//! with size limits checked before anything is decoded, so that a broken
//! build fails at boot with a clear message instead of starting a signer
//! with arguments nobody meant.

pub mod config;
pub mod modules;

pub use config::{SignerConfig, SignerConfigError};
pub use modules::{load_order, ModuleDep, ModulesError};

/// Where the image keeps the signer (ramdisk 2).
pub const SIGNER_PATH: &str = "/bin/signet-enclave";
/// Where the image keeps the signer's configuration (ramdisk 2).
pub const SIGNER_CONFIG_PATH: &str = "/etc/signet/signer.conf";
/// The directory holding the modules, `modules.dep` and `modules.load`
/// (ramdisk 1). Paths in `modules.dep` are relative to it.
pub const MODULES_DIR: &str = "/lib/modules";
/// The Nitro heartbeat: this byte goes to the parent (CID 3) on port 9000,
/// and comes back when the parent's `nitro-cli` saw the enclave boot.
pub const HEARTBEAT_BYTE: u8 = 0xB7;
/// The parent instance's vsock CID.
pub const PARENT_CID: u32 = 3;
/// The port on which the parent waits for the heartbeat.
pub const HEARTBEAT_PORT: u32 = 9000;
