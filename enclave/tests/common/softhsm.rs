//! A throwaway SoftHSM2 token in a temporary directory, via its own
//! `SOFTHSM2_CONF`: the system token directory is never touched.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TOKEN_LABEL: &str = "signet-test";
/// Distinctive, so a test can prove it never appears in logs.
pub const USER_PIN: &str = "918273645";
const SO_PIN: &str = "5647382910";

pub struct SoftHsm {
    pub conf: PathBuf,
    pub module: PathBuf,
    _dir: tempfile::TempDir,
}

fn module() -> Option<PathBuf> {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

impl SoftHsm {
    /// A fresh token, or `None` (with a loud note) where SoftHSM2 is not
    /// installed and `SIGNET_REQUIRE_SOFTHSM` is unset; scripts/test.sh installs
    /// it and sets that variable, so CI never skips.
    pub fn new() -> Option<Self> {
        let Some(module) = module() else {
            if std::env::var_os("SIGNET_REQUIRE_SOFTHSM").is_some() {
                panic!("SoftHSM2 is required (SIGNET_REQUIRE_SOFTHSM) but libsofthsm2.so is not installed");
            }
            eprintln!("SKIPPED: SoftHSM2 is not installed (scripts/test.sh installs it); PKCS#11 test not run");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens.display())).unwrap();
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                TOKEN_LABEL,
                "--pin",
                USER_PIN,
                "--so-pin",
                SO_PIN,
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "softhsm2-util: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Self {
            conf,
            module,
            _dir: dir,
        })
    }

    /// Environment for a signer using this token.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SOFTHSM2_CONF".into(), self.conf.display().to_string()),
            ("PKCS11_PIN".into(), USER_PIN.into()),
        ]
    }

    /// Signer flags for this token.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--backend".into(),
            "pkcs11".into(),
            "--pkcs11-module".into(),
            self.module.display().to_string(),
            "--pkcs11-token-label".into(),
            TOKEN_LABEL.into(),
        ]
    }

    pub fn module(&self) -> &Path {
        &self.module
    }

    /// A logged-in user session on this token from the test process itself,
    /// as another process on the token (an operator tool, an intruder) would
    /// have. SoftHSM reads `SOFTHSM2_CONF` at `C_Initialize` and is one
    /// library per process, so the session holds it for its life: tests
    /// using their own tokens take turns, each turn initializing the
    /// library for its token.
    pub fn session(&self) -> TokenSession {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::session::UserType;
        use cryptoki::types::AuthPin;
        let mut library = LIBRARY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if library.as_ref().is_some_and(|(_, conf)| conf != &self.conf) {
            let (ctx, _) = library.take().unwrap();
            ctx.finalize().unwrap();
        }
        if library.is_none() {
            std::env::set_var("SOFTHSM2_CONF", &self.conf);
            let ctx = LOADED
                .get_or_init(|| Pkcs11::new(&self.module).unwrap())
                .clone();
            ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                .unwrap();
            *library = Some((ctx, self.conf.clone()));
        }
        let ctx = &library.as_ref().unwrap().0;
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == TOKEN_LABEL)
            .unwrap();
        let session = ctx.open_rw_session(slot).unwrap();
        session
            .login(UserType::User, Some(&AuthPin::from(USER_PIN.to_owned())))
            .unwrap();
        TokenSession {
            session,
            _library: library,
        }
    }
}

/// The SoftHSM library, loaded once for this process (never unloaded).
static LOADED: std::sync::OnceLock<cryptoki::context::Pkcs11> = std::sync::OnceLock::new();
/// The library initialized for the token whose configuration is named, if any.
static LIBRARY: std::sync::Mutex<Option<(cryptoki::context::Pkcs11, PathBuf)>> =
    std::sync::Mutex::new(None);

/// A session on a test token; other tests wait for their own until it is
/// dropped.
pub struct TokenSession {
    // Dropped first: the session closes before the library is let go.
    session: cryptoki::session::Session,
    _library: std::sync::MutexGuard<'static, Option<(cryptoki::context::Pkcs11, PathBuf)>>,
}

impl std::ops::Deref for TokenSession {
    type Target = cryptoki::session::Session;

    fn deref(&self) -> &Self::Target {
        &self.session
    }
}

/// Destroys the key pair with `CKA_ID` = `id` and makes another one (secp256k1
/// or Ed25519) under the same id and label, through `session`: what an
/// intruder or a careless operator on the token could do behind Signet's back.
pub fn replace_key_pair(session: &cryptoki::session::Session, id: &str, ed25519: bool) {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    destroy_key_pair(session, id);
    let (mechanism, params) = if ed25519 {
        (
            Mechanism::EccEdwardsKeyPairGen,
            vec![0x06, 0x03, 0x2b, 0x65, 0x70],
        )
    } else {
        (
            Mechanism::EccKeyPairGen,
            vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        )
    };
    let label = format!("signet:{id}").into_bytes();
    session
        .generate_key_pair(
            &mechanism,
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::EcParams(params),
                Attribute::Id(id.as_bytes().to_vec()),
                Attribute::Label(label.clone()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
                Attribute::Id(id.as_bytes().to_vec()),
                Attribute::Label(label),
            ],
        )
        .unwrap();
}

/// Destroys both objects with `CKA_ID` = `id`, through `session`.
pub fn destroy_key_pair(session: &cryptoki::session::Session, id: &str) {
    use cryptoki::object::{Attribute, ObjectClass};
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        for h in session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Id(id.as_bytes().to_vec()),
            ])
            .unwrap()
        {
            session.destroy_object(h).unwrap();
        }
    }
}
