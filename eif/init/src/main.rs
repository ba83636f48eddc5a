//! `signet-init`: PID 1 of the Signet enclave image (the ramdisks' `/init`).
//!
//! 1. mounts `/proc`, `/sys`, `/dev` (devtmpfs, where `/dev/nsm` appears) and `/tmp`;
//! 2. loads the modules named in `/lib/modules/modules.load`, each after its
//!    dependencies from `/lib/modules/modules.dep`, with `finit_module`;
//! 3. sends the Nitro heartbeat (0xB7 to the parent, CID 3, port 9000) and
//!    waits for it to come back;
//! 4. starts `/bin/signet-enclave` with its pinned arguments (fixed ones and
//!    `/etc/signet/signer.conf`), an environment of `NO_COLOR=1` only, stdout
//!    and stderr on the console;
//! 5. when the signer stops, or any step before fails, says why on the
//!    console and powers the enclave off.
//!
//! A failed heartbeat is reported and the boot goes on: the heartbeat tells
//! the parent's `nitro-cli` that the enclave booted (it gives up on the
//! enclave without it); it protects nothing, and outside Nitro (QEMU in the
//! tests) there is no vsock device to send it on. Every other failure powers
//! off: a signer that cannot start must not leave a half-booted enclave
//! behind, nor hang.

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use nix::kmod::{finit_module, ModuleInitFlags};
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use signet_init::config::MAX_CONFIG_LEN;
use signet_init::modules::MAX_MODULES_FILE_LEN;
use signet_init::{
    load_order, ModulesError, SignerConfig, SignerConfigError, HEARTBEAT_BYTE, HEARTBEAT_PORT,
    MODULES_DIR, PARENT_CID, SIGNER_CONFIG_PATH, SIGNER_PATH,
};
use thiserror::Error;

/// `finit_module` flag: the kernel decompresses the module itself (Linux 6.4+).
const MODULE_INIT_COMPRESSED_FILE: u32 = 4;
/// How long the heartbeat may take, each way.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the boot stopped before the signer ran.
#[derive(Debug, Error)]
#[non_exhaustive]
enum BootError {
    #[error("cannot mount {fstype} on {target}: {source}")]
    Mount {
        fstype: &'static str,
        target: &'static str,
        source: nix::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: usize },
    #[error("cannot find the modules to load: {0}")]
    Modules(#[from] ModulesError),
    #[error("cannot load module {name} ({path}): {source}")]
    LoadModule {
        name: String,
        path: String,
        source: nix::Error,
    },
    #[error("{SIGNER_CONFIG_PATH}: {0}")]
    Config(#[from] SignerConfigError),
    #[error("cannot start {SIGNER_PATH}: {0}")]
    Spawn(std::io::Error),
    #[error("lost the signer: {0}")]
    Wait(std::io::Error),
}

/// Why the heartbeat did not come back.
#[derive(Debug, Error)]
enum HeartbeatError {
    #[error("cannot connect to vsock {PARENT_CID}:{HEARTBEAT_PORT}: {0}")]
    Connect(std::io::Error),
    #[error("cannot exchange the heartbeat: {0}")]
    Exchange(std::io::Error),
    #[error("the parent answered {0:#04x}, not {HEARTBEAT_BYTE:#04x}")]
    WrongAnswer(u8),
}

/// Writes one line on the console, the enclave's only output (`nitro-cli
/// console` on Nitro, the serial port under QEMU). Falls back to stderr when
/// `/dev/console` cannot be opened; never fails.
fn say(message: &str) {
    let line = format!("signet-init: {message}\n");
    match std::fs::OpenOptions::new().write(true).open("/dev/console") {
        Ok(mut console) => {
            let _ = console.write_all(line.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

fn mount_all() -> Result<(), BootError> {
    let common = MsFlags::MS_NOSUID;
    let table: [(&'static str, &'static str, MsFlags, Option<&str>); 4] = [
        (
            "proc",
            "/proc",
            common | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        (
            "sysfs",
            "/sys",
            common | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        (
            "devtmpfs",
            "/dev",
            common | MsFlags::MS_NOEXEC,
            Some("mode=0755"),
        ),
        (
            "tmpfs",
            "/tmp",
            common | MsFlags::MS_NODEV,
            Some("mode=1777"),
        ),
    ];
    for (fstype, target, flags, data) in table {
        // The ramdisk has the directories; making them again is harmless.
        let _ = std::fs::create_dir_all(target);
        mount(Some(fstype), target, Some(fstype), flags, data).map_err(|source| {
            BootError::Mount {
                fstype,
                target,
                source,
            }
        })?;
    }
    say("mounted /proc, /sys, /dev, /tmp");
    Ok(())
}

fn read_limited(path: &str, max: usize) -> Result<Vec<u8>, BootError> {
    let file = File::open(path).map_err(|source| BootError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    // One byte over the limit is enough to know it is too large.
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| BootError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() > max {
        return Err(BootError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    Ok(bytes)
}

fn load_modules() -> Result<(), BootError> {
    let dep = read_limited(&format!("{MODULES_DIR}/modules.dep"), MAX_MODULES_FILE_LEN)?;
    let load = read_limited(&format!("{MODULES_DIR}/modules.load"), MAX_MODULES_FILE_LEN)?;
    for module in load_order(&dep, &load)? {
        let path = Path::new(MODULES_DIR).join(&module.path);
        let file = File::open(&path).map_err(|source| BootError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let compressed = [".xz", ".zst", ".gz"]
            .iter()
            .any(|ext| module.path.ends_with(ext));
        let flags = if compressed {
            ModuleInitFlags::from_bits_retain(MODULE_INIT_COMPRESSED_FILE)
        } else {
            ModuleInitFlags::empty()
        };
        match finit_module(&file, c"" as &CStr, flags) {
            Ok(()) => say(&format!("loaded module {} ({})", module.name, module.path)),
            Err(nix::Error::EEXIST) => say(&format!("module {} is already loaded", module.name)),
            Err(source) => {
                return Err(BootError::LoadModule {
                    name: module.name,
                    path: module.path,
                    source,
                })
            }
        }
    }
    Ok(())
}

fn heartbeat() -> Result<(), HeartbeatError> {
    let mut stream = vsock::VsockStream::connect_with_cid_port(PARENT_CID, HEARTBEAT_PORT)
        .map_err(HeartbeatError::Connect)?;
    stream
        .set_read_timeout(Some(HEARTBEAT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(HEARTBEAT_TIMEOUT)))
        .and_then(|()| stream.write_all(&[HEARTBEAT_BYTE]))
        .map_err(HeartbeatError::Exchange)?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .map_err(HeartbeatError::Exchange)?;
    if answer[0] != HEARTBEAT_BYTE {
        return Err(HeartbeatError::WrongAnswer(answer[0]));
    }
    Ok(())
}

fn run_signer() -> Result<ExitStatus, BootError> {
    let config = SignerConfig::parse(&read_limited(SIGNER_CONFIG_PATH, MAX_CONFIG_LEN)?)?;
    let args = config.signer_args();
    say(&format!("starting {SIGNER_PATH} {}", args.join(" ")));
    let mut child = Command::new(SIGNER_PATH)
        .args(&args)
        .env_clear()
        // Plain text on the console (no ANSI colours); nothing else: with
        // `--secrets host` the signer refuses secrets from its environment.
        .env("NO_COLOR", "1")
        .current_dir("/")
        .stdin(Stdio::null())
        .spawn()
        .map_err(BootError::Spawn)?;
    child.wait().map_err(BootError::Wait)
}

fn boot() -> Result<ExitStatus, BootError> {
    mount_all()?;
    load_modules()?;
    match heartbeat() {
        Ok(()) => say("Nitro heartbeat acknowledged by the parent"),
        Err(e) => say(&format!(
            "no Nitro heartbeat ({e}); not inside a Nitro enclave? going on"
        )),
    }
    run_signer()
}

/// Powers off; if the kernel refuses, exits, which makes the kernel panic
/// and reboot after the command line's `panic=` delay: never a hang.
fn power_off() -> ExitCode {
    nix::unistd::sync();
    // Returns only on failure.
    let Err(e) = reboot(RebootMode::RB_POWER_OFF);
    say(&format!("cannot power off: {e}"));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let pid = std::process::id();
    if pid != 1 {
        eprintln!(
            "signet-init: this is the enclave image's PID 1 (it mounts, loads kernel modules \
             and powers off); refusing to run as process {pid}"
        );
        return ExitCode::from(2);
    }
    say(concat!("signet-init ", env!("CARGO_PKG_VERSION")));
    match boot() {
        Ok(status) => say(&format!("the signer stopped ({status}); powering off")),
        Err(e) => say(&format!("{e}; powering off")),
    }
    power_off()
}
