//! The host's configuration: one loader for the environment variables of
//! DESIGN.md, optionally layered over a TOML file of the same names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use signet_proto::{SharedSecret, SignerAddr};

/// `RATE_LIMIT_WINDOW_MS` unless set: a minute, the window the other
/// defaults are stated in.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 60_000;
/// `RATE_LIMIT_PER_USER` unless set: requests per client or person a minute
/// (20 a second sustained; a batch's calls each count). `0` turns it off.
pub const DEFAULT_RATE_LIMIT_PER_USER: u64 = 1_200;
/// `RATE_LIMIT_PER_IDENTITY_SIGN` unless set: signatures per wallet a minute
/// (2 a second sustained, whoever asks). `0` turns it off.
pub const DEFAULT_RATE_LIMIT_PER_WALLET_SIGN: u64 = 120;

/// Every variable the host reads (for the TOML file and `check-config`).
pub const VARIABLES: &[&str] = &[
    "SIGNET_LISTEN",
    "SIGNET_TLS_CERT",
    "SIGNET_TLS_KEY",
    "SIGNET_DATABASE_URL",
    "ENCLAVE_ADDR",
    "ENCLAVE_BASE_URL",
    "INTERNAL_API_KEY",
    "TICKET_SIGNING_SECRET",
    "TICKET_SIGNING_SECRET_PREVIOUS",
    "SESSION_SIGNING_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BOT_USERNAME",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_BASE",
    "CHALLENGE_TTL_SECONDS",
    "TICKET_TTL_SECONDS",
    "APPROVAL_TTL_SECONDS",
    "SESSION_TTL_SECONDS",
    "ALLOWED_ORIGINS",
    "ADMIN_ALLOWED_CIDRS",
    "SIGNET_PUBLIC_URL",
    "CONSOLE_RP_ID",
    "SIGNET_OPERATOR_QUORUM",
    "OPERATOR_CONFIRM_TTL_SECONDS",
    "RATE_LIMIT_WINDOW_MS",
    "RATE_LIMIT_PER_USER",
    "RATE_LIMIT_PER_IDENTITY_SIGN",
    "METRICS_REQUIRE_API_KEY",
    "ATTESTATION_POLICY",
    "SIGNET_LOG_FORMAT",
    "SIGNET_ENCLAVE_CONNECTIONS",
    "RATE_LIMIT_AUTH_FAILURES_PER_IP",
    "SIGNET_HEADER_TIMEOUT_SECONDS",
    "SIGNET_MAX_CONNECTIONS",
    "SIGNET_DRAIN_SECONDS",
    "SIGNET_REQUEST_TIMEOUT_SECONDS",
    "AUDIT_EXPORT_URL",
    "AUDIT_EXPORT_TOKEN",
    "AUDIT_EXPORT_CA_FILE",
    "SIGNET_SEALING",
    "KMS_KEY_ID",
    "AWS_REGION",
    "KMS_ENDPOINT",
    "KMS_CA_FILE",
    "SIGNET_ROTATION_GRACE_SECONDS",
    "SIGNET_BACKUP_RETENTION_DAYS",
    "SESSION_SIGNING_SECRET_PREVIOUS",
    "TELEGRAM_TEST_MODE",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_POLL_TIMEOUT_SECONDS",
    "RATE_LIMIT_CHALLENGES_PER_IP",
    "ETH_RPC_UPSTREAM",
    "ETH_CHAIN_ID",
];

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What is wrong (never the secret's value).
    pub problem: String,
}

fn err(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Where values come from: the environment over an optional TOML file.
#[derive(Clone, Debug, Default)]
pub struct Source {
    values: BTreeMap<String, String>,
}

impl Source {
    /// The process environment layered over `file` (a TOML table whose keys
    /// are the variable names above; unknown keys are refused).
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| err("--config", format!("{}: {e}", path.display())))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| err("--config", format!("{}: {e}", path.display())))?;
            for (key, value) in table {
                if !VARIABLES.contains(&key.as_str()) {
                    return Err(err("--config", format!("unknown key `{key}`")));
                }
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    _ => {
                        return Err(err(
                            "--config",
                            format!("`{key}` must be a string, integer or boolean"),
                        ))
                    }
                };
                values.insert(key, value);
            }
        }
        for name in VARIABLES {
            if let Ok(v) = std::env::var(name) {
                values.insert((*name).to_owned(), v);
            }
        }
        Ok(Self { values })
    }

    /// Builds a source from pairs (tests, `dev`).
    #[must_use]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            values: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Sets a value unless already present.
    pub fn default_value(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .entry(key.to_owned())
            .or_insert_with(|| value.into());
    }

    /// Sets a value, overriding the environment and file.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    /// A value, if set and not empty.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn number<T: std::str::FromStr>(
        &self,
        key: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| err(key, format!("`{v}` is not a valid number"))),
        }
    }

    /// A number in `range` (`default` when unset); out of range is refused
    /// with the range in the message.
    fn bounded(
        &self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let n = self.number(key, default)?;
        if range.contains(&n) {
            return Ok(n);
        }
        Err(err(
            key,
            if *range.end() == u64::MAX {
                "must be positive".to_owned()
            } else {
                format!("must be {} to {}", range.start(), range.end())
            },
        ))
    }

    /// Seconds in `range` (`default` when unset).
    fn seconds(
        &self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.bounded(key, default, range).map(Duration::from_secs)
    }

    /// `true`/`false` (`false` when unset).
    fn flag(&self, key: &'static str) -> Result<bool, ConfigError> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(err(key, "must be true or false")),
        }
    }
}

/// How the host checks the signer's attestation document at every hello.
#[derive(Clone, Debug)]
pub enum AttestationCheck {
    /// A policy file (root, PCR sets, debug, maximum age).
    Policy {
        /// Where it came from, for logs.
        path: PathBuf,
        /// The verifier.
        verifier: Box<signet_attestation::Verifier>,
        /// The same policy as the console publishes it (`/console/config.json`):
        /// `{root_pem (null = AWS), pcr_sets, allow_debug, max_age_seconds}`.
        published: serde_json::Value,
    },
    /// `ATTESTATION_POLICY=insecure-skip`: no check (loudly logged).
    InsecureSkip,
}

/// User login (Telegram challenges).
#[derive(Clone, Debug)]
pub struct LoginConfig {
    /// `TELEGRAM_BOT_TOKEN`: the bot that resolves challenges.
    pub bot_token: Option<SharedSecret>,
    /// `TELEGRAM_BOT_USERNAME`, for deep links.
    pub bot_username: String,
    /// No bot: a challenge resolves at once for the `telegram_user_id` in
    /// its body. `dev` runs so; `serve` only with `TELEGRAM_TEST_MODE=allow`.
    pub test_mode: bool,
    /// `CHALLENGE_TTL_SECONDS` (300).
    pub challenge_ttl: Duration,
    /// `TELEGRAM_API_BASE` (`https://api.telegram.org`).
    pub api_base: String,
    /// Webhook mode: `TELEGRAM_WEBHOOK_URL` and `TELEGRAM_WEBHOOK_SECRET`.
    pub webhook: Option<(String, SharedSecret)>,
    /// Polling mode: the long-poll `timeout` asked of `getUpdates`
    /// (`TELEGRAM_POLL_TIMEOUT_SECONDS`, 1 to 50, default 25). A call that
    /// gets no answer 10 s after it is abandoned and retried.
    pub poll_timeout: Duration,
}

impl LoginConfig {
    /// Whether challenges can be made at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.bot_token.is_some() || self.test_mode
    }
}

fn login(source: &Source, dev: bool) -> Result<LoginConfig, ConfigError> {
    let bot_token = secret(source, "TELEGRAM_BOT_TOKEN", dev)?;
    let test_mode = match source.get("TELEGRAM_TEST_MODE") {
        None => dev && bot_token.is_none(),
        Some("allow") if bot_token.is_none() => true,
        Some("allow") => {
            return Err(err(
                "TELEGRAM_TEST_MODE",
                "cannot be used with TELEGRAM_BOT_TOKEN (test mode resolves challenges without Telegram)",
            ))
        }
        Some("off") => false,
        Some(_) => return Err(err("TELEGRAM_TEST_MODE", "must be allow or off")),
    };
    let bot_username = source
        .get("TELEGRAM_BOT_USERNAME")
        .unwrap_or(if test_mode { "signet_test_bot" } else { "" })
        .to_owned();
    if bot_token.is_some()
        && (bot_username.is_empty()
            || !bot_username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(err(
            "TELEGRAM_BOT_USERNAME",
            "is required with TELEGRAM_BOT_TOKEN (letters, digits, _)",
        ));
    }
    let challenge_ttl = source.seconds("CHALLENGE_TTL_SECONDS", 300, 10..=3600)?;
    let api_base = source
        .get("TELEGRAM_API_BASE")
        .unwrap_or("https://api.telegram.org")
        .trim_end_matches('/')
        .to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        return Err(err("TELEGRAM_API_BASE", "must be an http(s) URL"));
    }
    let webhook = match source.get("TELEGRAM_WEBHOOK_URL") {
        None => None,
        Some(_) if bot_token.is_none() => {
            return Err(err("TELEGRAM_WEBHOOK_URL", "needs TELEGRAM_BOT_TOKEN"))
        }
        Some(url) => {
            // Telegram calls https only; a local Bot API server (tests) may
            // call a loopback http URL.
            let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
                .iter()
                .any(|p| url.starts_with(p));
            if !url.starts_with("https://") && !loopback {
                return Err(err(
                    "TELEGRAM_WEBHOOK_URL",
                    "must be an https:// URL (Telegram calls it)",
                ));
            }
            let secret = required(source, "TELEGRAM_WEBHOOK_SECRET", false)?;
            let valid = secret.expose().len() <= 256
                && secret
                    .expose()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
            if !valid {
                return Err(err(
                    "TELEGRAM_WEBHOOK_SECRET",
                    "must be at most 256 of [A-Za-z0-9_-] (Telegram's rule)",
                ));
            }
            Some((url.to_owned(), secret))
        }
    };
    let poll_timeout = source
        .seconds("TELEGRAM_POLL_TIMEOUT_SECONDS", 25, 1..=50)
        .map_err(|e| {
            err(
                e.variable,
                format!("{} (Telegram's long-poll limit)", e.problem),
            )
        })?;
    Ok(LoginConfig {
        bot_token,
        bot_username,
        test_mode,
        challenge_ttl,
        api_base,
        webhook,
        poll_timeout,
    })
}

/// Where the signer's sealing key comes from (`SIGNET_SEALING`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealingConfig {
    /// A dev key file in the signer's dev directory (INSECURE).
    Dev,
    /// A KMS data key the signer obtains under attestation.
    Kms(KmsConfig),
}

/// KMS sealing settings of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsConfig {
    /// `KMS_KEY_ID`: the key ARN; the signer's pinned one must be the same.
    pub key_id: String,
    /// `AWS_REGION`.
    pub region: String,
    /// `KMS_ENDPOINT` (dev and tests): where `signet-host dev` relays the
    /// signer's KMS connections (in Nitro, vsock-proxy relays them).
    pub endpoint: Option<String>,
    /// `KMS_CA_FILE` (dev and tests): an extra TLS root the dev signer trusts.
    pub ca_file: Option<PathBuf>,
    /// Fixed credentials (`signet-host dev` with its own KMS); otherwise the
    /// standard chain (environment, instance role).
    pub credentials: Option<signet_proto::message::AwsCredentials>,
}

fn sealing(source: &Source) -> Result<SealingConfig, ConfigError> {
    match source.get("SIGNET_SEALING") {
        None | Some("dev") => Ok(SealingConfig::Dev),
        Some("kms") => {
            let key_id = source.get("KMS_KEY_ID").ok_or_else(|| {
                err(
                    "KMS_KEY_ID",
                    "is required with SIGNET_SEALING=kms (the key ARN)",
                )
            })?;
            let mut parts = key_id.split(':');
            let arn_region = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some("arn"), Some(_), Some("kms"), Some(region)) if key_id.contains(":key/") => {
                    region
                }
                _ => {
                    return Err(err(
                        "KMS_KEY_ID",
                        "must be a key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
                    ))
                }
            };
            let region = source.get("AWS_REGION").unwrap_or(arn_region);
            if region != arn_region {
                return Err(err(
                    "AWS_REGION",
                    format!("is {region} but the key is in {arn_region}"),
                ));
            }
            let endpoint = source.get("KMS_ENDPOINT").map(str::to_owned);
            if let Some(e) = &endpoint {
                if e.rsplit_once(':')
                    .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
                {
                    return Err(err("KMS_ENDPOINT", "must be HOST:PORT"));
                }
            }
            Ok(SealingConfig::Kms(KmsConfig {
                key_id: key_id.to_owned(),
                region: region.to_owned(),
                endpoint,
                ca_file: source.get("KMS_CA_FILE").map(PathBuf::from),
                credentials: None,
            }))
        }
        Some(_) => Err(err("SIGNET_SEALING", "must be dev or kms")),
    }
}

/// Where the audit log is pushed (`AUDIT_EXPORT_URL`, https only).
#[derive(Clone, Debug)]
pub struct AuditExportConfig {
    /// The sink's URL.
    pub url: String,
    /// `AUDIT_EXPORT_TOKEN`, sent as `Authorization: Bearer`.
    pub token: Option<SharedSecret>,
    /// `AUDIT_EXPORT_CA_FILE`: an extra TLS root (PEM) for the sink.
    pub ca_file: Option<PathBuf>,
}

fn audit_export(source: &Source) -> Result<Option<AuditExportConfig>, ConfigError> {
    let Some(url) = source.get("AUDIT_EXPORT_URL") else {
        return Ok(None);
    };
    if !url.starts_with("https://") {
        return Err(err("AUDIT_EXPORT_URL", "must be an https:// URL"));
    }
    let ca_file = source.get("AUDIT_EXPORT_CA_FILE").map(PathBuf::from);
    if let Some(path) = &ca_file {
        std::fs::metadata(path)
            .map_err(|e| err("AUDIT_EXPORT_CA_FILE", format!("{}: {e}", path.display())))?;
    }
    Ok(Some(AuditExportConfig {
        url: url.to_owned(),
        token: source
            .get("AUDIT_EXPORT_TOKEN")
            .map(|t| SharedSecret::new_unchecked(t.as_bytes().to_vec())),
        ca_file,
    }))
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM files), when serving HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// The signer.
    pub enclave_addr: SignerAddr,
    /// Connections to the signer.
    pub enclave_connections: usize,
    /// Hello proof key.
    pub internal_api_key: SharedSecret,
    /// Ticket MAC key.
    pub ticket_secret: SharedSecret,
    /// Previous ticket MAC key (rotation).
    pub ticket_secret_previous: Option<SharedSecret>,
    /// Session JWT key.
    pub session_secret: SharedSecret,
    /// Previous session JWT key (rotation).
    pub session_secret_previous: Option<SharedSecret>,
    /// Session lifetime (`SESSION_TTL_SECONDS`, 3600).
    pub session_ttl: Duration,
    /// User login.
    pub login: LoginConfig,
    /// Ticket lifetime.
    pub ticket_ttl: Duration,
    /// How long a sign intent on a wallet that requires approval waits for
    /// its owner (`APPROVAL_TTL_SECONDS`, 900): its ticket lives as long.
    pub approval_ttl: Duration,
    /// Attestation check at every signer hello.
    pub attestation: AttestationCheck,
    /// Per-client requests per window (`RATE_LIMIT_PER_USER`, 1200; 0 =
    /// unlimited).
    pub rate_limit_per_client: u64,
    /// Per-wallet signatures per window (`RATE_LIMIT_PER_IDENTITY_SIGN`, 120;
    /// 0 = unlimited).
    pub rate_limit_per_wallet_sign: u64,
    /// The rate-limit window (`RATE_LIMIT_WINDOW_MS`, a minute).
    pub rate_limit_window: Duration,
    /// Time a client has to send a request's headers (also how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// Open connections served at once; past it, new ones wait in the
    /// kernel's backlog.
    pub max_connections: usize,
    /// After SIGTERM, how long requests are still accepted while `/ready`
    /// answers 503 (set it to the load balancer's deregistration delay).
    pub drain_grace: Duration,
    /// Longest a request may take before it is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// Where the audit log is pushed (SIEM), if anywhere.
    pub audit_export: Option<AuditExportConfig>,
    /// Browser origins allowed to call the API (CORS), exact.
    pub allowed_origins: Vec<String>,
    /// `ADMIN_ALLOWED_CIDRS`: the networks operator tokens and `/v1/admin/*`
    /// are taken from (empty: any).
    pub admin_allowed_cidrs: Vec<ipnet::IpNet>,
    /// `SIGNET_PUBLIC_URL`: the origin people reach this host at, for the
    /// absolute links it hands out (an intent's `approval_url`); `dev` uses
    /// its own address when unset. `None`: the links are relative.
    pub public_url: Option<String>,
    /// `CONSOLE_RP_ID`: the WebAuthn relying party of the console's
    /// passkeys (`None`: the host name of the console's origin).
    pub console_rp_id: Option<String>,
    /// `SIGNET_OPERATOR_QUORUM`: 1, or 2 (what cannot be undone needs a
    /// second operator's confirmation).
    pub operator_quorum: u64,
    /// `OPERATOR_CONFIRM_TTL_SECONDS`: how long a request waits for it.
    pub confirm_ttl: Duration,
    /// `/metrics` requires a token with `metrics:read`.
    pub metrics_require_api_key: bool,
    /// Failed authentications per peer address per minute before the peer
    /// is refused without a lookup (0 = unlimited).
    pub auth_failures_per_peer: u64,
    /// `ETH_RPC_UPSTREAM`: the Ethereum node `/v1/eth` forwards read-only
    /// methods to and fills transactions from.
    pub eth_upstream: Option<String>,
    /// `ETH_CHAIN_ID`: `eth_chainId` without an upstream.
    pub eth_chain_id: Option<u64>,
    /// Login challenges a peer address may create per minute, per replica
    /// (`RATE_LIMIT_CHALLENGES_PER_IP`, 30; 0 = unlimited).
    pub challenges_per_peer: u64,
    /// `json` or `text`.
    pub log_json: bool,
    /// Where the signer's sealing key comes from.
    pub sealing: SealingConfig,
    /// A sealing key rotation waits this long after its verify pass before
    /// a last pass and retiring the old versions (other replicas' signers
    /// move to the new version within 30 s).
    pub rotation_grace: Duration,
    /// `SIGNET_BACKUP_RETENTION_DAYS` (0 to 3650, default 14): a sealing
    /// key version a recorded backup taken within this long may need is
    /// held, not retired, until that backup is this old. Zero retires at
    /// once.
    pub backup_retention: Duration,
}

fn secret(
    source: &Source,
    key: &'static str,
    dev: bool,
) -> Result<Option<SharedSecret>, ConfigError> {
    let Some(value) = source.get(key) else {
        return Ok(None);
    };
    SharedSecret::from_config_in_mode(value, dev)
        .map(|(s, _)| Some(s))
        .map_err(|e| err(key, e.to_string()))
}

fn required(source: &Source, key: &'static str, dev: bool) -> Result<SharedSecret, ConfigError> {
    secret(source, key, dev)?.ok_or_else(|| err(key, "is required (at least 32 random bytes)"))
}

/// Every problem of a configuration, in the order the variables are
/// checked (`check-config` names them all at once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<ConfigError>);

impl ConfigProblems {
    /// The value of `result`, or `None` with its problem kept.
    fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }
}

impl std::fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} configuration problems:", all.len())?;
                for problem in all {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigProblems {}

/// Seconds in a day, for `SIGNET_BACKUP_RETENTION_DAYS`.
const DAY_SECONDS: u64 = 86_400;

/// `SIGNET_BACKUP_RETENTION_DAYS`: whole days, 0 to 3650 (ten years), 14
/// unless set.
fn backup_retention(source: &Source) -> Result<Duration, ConfigError> {
    source
        .bounded("SIGNET_BACKUP_RETENTION_DAYS", 14, 0..=3650)
        .map(|days| Duration::from_secs(days * DAY_SECONDS))
        .map_err(|e| {
            err(
                e.variable,
                format!(
                    "{} (whole days a recorded backup keeps the sealing key versions it needs)",
                    e.problem
                ),
            )
        })
}

/// `ENCLAVE_ADDR` (or the older `ENCLAVE_BASE_URL`).
fn enclave_addr(source: &Source) -> Result<SignerAddr, ConfigError> {
    source
        .get("ENCLAVE_ADDR")
        .or_else(|| source.get("ENCLAVE_BASE_URL"))
        .ok_or_else(|| {
            err(
                "ENCLAVE_ADDR",
                "is required (vsock://CID:PORT or unix:PATH)",
            )
        })?
        .parse()
        .map_err(|e: String| err("ENCLAVE_ADDR", e))
}

impl Config {
    /// Validates `source`. Outside dev mode, secrets under 32 bytes or
    /// obviously weak are refused, and an attestation policy is required.
    /// Refuses with the first problem; [`Config::check_source`] names every
    /// one.
    pub fn from_source(source: &Source, dev: bool) -> Result<Self, ConfigError> {
        Self::check_source(source, dev).map_err(|problems| {
            problems
                .0
                .into_iter()
                .next()
                .unwrap_or_else(|| err("SIGNET_CONFIG", "is invalid"))
        })
    }

    /// Validates `source` as [`Config::from_source`] does, but goes on after
    /// a problem: refuses with every problem found (each variable checked
    /// once).
    pub fn check_source(source: &Source, dev: bool) -> Result<Self, ConfigProblems> {
        let mut p = ConfigProblems::default();
        let listener = p.take(listener(source));
        let database_url = source
            .get("SIGNET_DATABASE_URL")
            .unwrap_or("sqlite://signet.db")
            .to_owned();
        let dialect = p.take(
            crate::store::Dialect::of(&database_url)
                .map_err(|e| err("SIGNET_DATABASE_URL", e.to_string())),
        );
        let enclave_addr = p.take(enclave_addr(source));
        let attestation = p.take(attestation(source, dev));
        let rate_limit_window = p.take(
            source
                .bounded(
                    "RATE_LIMIT_WINDOW_MS",
                    DEFAULT_RATE_LIMIT_WINDOW_MS,
                    1..=u64::MAX,
                )
                .map(Duration::from_millis),
        );
        let ticket_ttl = p.take(source.seconds("TICKET_TTL_SECONDS", 60, 1..=3600));
        let log_json = p.take(match source.get("SIGNET_LOG_FORMAT") {
            None | Some("text") => Ok(false),
            Some("json") => Ok(true),
            Some(_) => Err(err("SIGNET_LOG_FORMAT", "must be json or text")),
        });
        let eth = p.take(ethereum(source));
        let enclave_connections = p.take(source.number("SIGNET_ENCLAVE_CONNECTIONS", 4usize));
        let internal_api_key = p.take(required(source, "INTERNAL_API_KEY", dev));
        let ticket_secret = p.take(required(source, "TICKET_SIGNING_SECRET", dev));
        let ticket_secret_previous = p.take(secret(source, "TICKET_SIGNING_SECRET_PREVIOUS", dev));
        let session_secret = p.take(required(source, "SESSION_SIGNING_SECRET", dev));
        let session_secret_previous =
            p.take(secret(source, "SESSION_SIGNING_SECRET_PREVIOUS", dev));
        let session_ttl = p.take(source.seconds("SESSION_TTL_SECONDS", 3600, 60..=2_592_000));
        let login = p.take(login(source, dev));
        let approval_ttl = p.take(source.seconds("APPROVAL_TTL_SECONDS", 900, 5..=86_400));
        let rate_limit_per_client =
            p.take(source.number("RATE_LIMIT_PER_USER", DEFAULT_RATE_LIMIT_PER_USER));
        let rate_limit_per_wallet_sign = p.take(source.number(
            "RATE_LIMIT_PER_IDENTITY_SIGN",
            DEFAULT_RATE_LIMIT_PER_WALLET_SIGN,
        ));
        let auth_failures_per_peer = p.take(source.number("RATE_LIMIT_AUTH_FAILURES_PER_IP", 60));
        let challenges_per_peer = p.take(source.number("RATE_LIMIT_CHALLENGES_PER_IP", 30));
        let header_timeout =
            p.take(source.seconds("SIGNET_HEADER_TIMEOUT_SECONDS", 10, 1..=u64::MAX));
        let max_connections = p.take(
            source
                .bounded("SIGNET_MAX_CONNECTIONS", 4096, 1..=u64::MAX)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        );
        let allowed_origins = p.take(allowed_origins(source.get("ALLOWED_ORIGINS")));
        let admin_allowed_cidrs = p.take(admin_allowed_cidrs(source.get("ADMIN_ALLOWED_CIDRS")));
        let public_url = p.take(public_url(source.get("SIGNET_PUBLIC_URL")));
        let console_rp_id = p.take(console_rp_id(source.get("CONSOLE_RP_ID")));
        let audit_export = p.take(audit_export(source));
        let request_timeout = p.take(source.seconds("SIGNET_REQUEST_TIMEOUT_SECONDS", 30, 1..=600));
        let drain_grace = p.take(source.seconds("SIGNET_DRAIN_SECONDS", 0, 0..=300));
        let metrics_require_api_key = p.take(source.flag("METRICS_REQUIRE_API_KEY"));
        let sealing = p.take(sealing(source));
        let rotation_grace = p.take(source.seconds("SIGNET_ROTATION_GRACE_SECONDS", 60, 0..=3600));
        let backup_retention = p.take(backup_retention(source));
        let operator_quorum = p.take(source.bounded("SIGNET_OPERATOR_QUORUM", 1, 1..=2));
        let confirm_ttl = p.take(source.seconds("OPERATOR_CONFIRM_TTL_SECONDS", 600, 1..=86_400));
        let (
            Some((listen, tls)),
            Some(()),
            Some(enclave_addr),
            Some(attestation),
            Some(rate_limit_window),
            Some(ticket_ttl),
            Some(log_json),
            Some((eth_upstream, eth_chain_id)),
            Some(enclave_connections),
            Some(internal_api_key),
            Some(ticket_secret),
            Some(ticket_secret_previous),
            Some(session_secret),
            Some(session_secret_previous),
            Some(session_ttl),
            Some(login),
            Some(approval_ttl),
            Some(rate_limit_per_client),
            Some(rate_limit_per_wallet_sign),
            Some(auth_failures_per_peer),
            Some(challenges_per_peer),
            Some(header_timeout),
            Some(max_connections),
            Some(allowed_origins),
            Some(admin_allowed_cidrs),
            Some(public_url),
            Some(console_rp_id),
            Some(audit_export),
            Some(request_timeout),
            Some(drain_grace),
            Some(metrics_require_api_key),
            Some(sealing),
            Some(rotation_grace),
            Some(backup_retention),
            Some(operator_quorum),
            Some(confirm_ttl),
        ) = (
            listener,
            dialect.map(|_| ()),
            enclave_addr,
            attestation,
            rate_limit_window,
            ticket_ttl,
            log_json,
            eth,
            enclave_connections,
            internal_api_key,
            ticket_secret,
            ticket_secret_previous,
            session_secret,
            session_secret_previous,
            session_ttl,
            login,
            approval_ttl,
            rate_limit_per_client,
            rate_limit_per_wallet_sign,
            auth_failures_per_peer,
            challenges_per_peer,
            header_timeout,
            max_connections,
            allowed_origins,
            admin_allowed_cidrs,
            public_url,
            console_rp_id,
            audit_export,
            request_timeout,
            drain_grace,
            metrics_require_api_key,
            sealing,
            rotation_grace,
            backup_retention,
            operator_quorum,
            confirm_ttl,
        )
        else {
            return Err(p);
        };
        Ok(Self {
            listen,
            tls,
            database_url,
            enclave_addr,
            enclave_connections: enclave_connections.clamp(1, 64),
            internal_api_key,
            ticket_secret,
            ticket_secret_previous,
            session_secret,
            session_secret_previous,
            session_ttl,
            login,
            ticket_ttl,
            approval_ttl,
            attestation,
            rate_limit_per_client,
            rate_limit_per_wallet_sign,
            rate_limit_window,
            auth_failures_per_peer,
            challenges_per_peer,
            eth_upstream,
            eth_chain_id,
            header_timeout,
            max_connections,
            allowed_origins,
            admin_allowed_cidrs,
            public_url,
            console_rp_id,
            audit_export,
            request_timeout,
            drain_grace,
            metrics_require_api_key,
            log_json,
            sealing,
            rotation_grace,
            backup_retention,
            operator_quorum,
            confirm_ttl,
        })
    }
}

/// A database URL for people: `SQLite PATH`, or `PostgreSQL HOST[:PORT]/DB
/// (user USER)` with the password and the query (TLS files) left out.
#[must_use]
pub fn database_display(url: &str) -> String {
    let url = url.split('?').next().unwrap_or_default();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return format!("SQLite {path}");
    }
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return "an unknown kind of database".into();
    };
    // user[:password]@host[:port]/db: keep the user, never the password.
    let (user, location) = match rest.rsplit_once('@') {
        Some((userinfo, location)) => (userinfo.split(':').next(), location),
        None => (None, rest),
    };
    match user.filter(|u| !u.is_empty()) {
        Some(user) => format!("PostgreSQL {location} (user {user})"),
        None => format!("PostgreSQL {location}"),
    }
}

/// `SIGNET_LISTEN` and, for HTTPS, `SIGNET_TLS_CERT` with `SIGNET_TLS_KEY`.
fn listener(source: &Source) -> Result<(SocketAddr, Option<(PathBuf, PathBuf)>), ConfigError> {
    let listen = source
        .get("SIGNET_LISTEN")
        .unwrap_or("127.0.0.1:8080")
        .parse()
        .map_err(|_| err("SIGNET_LISTEN", "is not HOST:PORT"))?;
    let tls = match (source.get("SIGNET_TLS_CERT"), source.get("SIGNET_TLS_KEY")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => return Err(err("SIGNET_TLS_KEY", "is required with SIGNET_TLS_CERT")),
        (None, Some(_)) => return Err(err("SIGNET_TLS_CERT", "is required with SIGNET_TLS_KEY")),
    };
    Ok((listen, tls))
}

/// `ATTESTATION_POLICY`: a policy file, or `insecure-skip` (the default in
/// dev only).
fn attestation(source: &Source, dev: bool) -> Result<AttestationCheck, ConfigError> {
    match source.get("ATTESTATION_POLICY") {
        Some("insecure-skip") => Ok(AttestationCheck::InsecureSkip),
        Some(path) => {
            let path = PathBuf::from(path);
            let (verifier, published) =
                load_policy(&path).map_err(|e| err("ATTESTATION_POLICY", e.to_string()))?;
            Ok(AttestationCheck::Policy {
                path,
                verifier: Box::new(verifier),
                published,
            })
        }
        None if dev => Ok(AttestationCheck::InsecureSkip),
        None => Err(err(
            "ATTESTATION_POLICY",
            "is required: a policy file (root, expected PCRs) the signer's attestation must satisfy, or `insecure-skip`",
        )),
    }
}

/// `ETH_RPC_UPSTREAM` (an http(s) node) and `ETH_CHAIN_ID` (positive).
fn ethereum(source: &Source) -> Result<(Option<String>, Option<u64>), ConfigError> {
    let upstream = match source.get("ETH_RPC_UPSTREAM") {
        None => None,
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.to_owned()),
        Some(_) => return Err(err("ETH_RPC_UPSTREAM", "must be an http(s) URL")),
    };
    let chain_id = match source.get("ETH_CHAIN_ID") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(err("ETH_CHAIN_ID", "must be a positive integer")),
        },
    };
    Ok((upstream, chain_id))
}

/// `ADMIN_ALLOWED_CIDRS`: comma-separated networks (`10.0.0.0/8`,
/// `fd00::/8`) or single addresses (`127.0.0.1`); unset or empty: any.
fn admin_allowed_cidrs(value: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    err(
                        "ADMIN_ALLOWED_CIDRS",
                        format!("`{n}` is not a network or an address (e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8)"),
                    )
                })
        })
        .collect()
}

/// `SIGNET_PUBLIC_URL`: the origin people reach this host at
/// (`https://signet.example.com`), for the absolute links the host hands out;
/// a trailing slash is dropped, a path, query or wildcard refused.
fn public_url(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let origin = value.strip_suffix('/').unwrap_or(value);
    match allowed_origins(Some(origin)) {
        Ok(mut one) if one.len() == 1 && !origin.contains(',') => Ok(one.pop()),
        _ => Err(err(
            "SIGNET_PUBLIC_URL",
            format!("`{value}` must be scheme://host[:port] (http or https, no path)"),
        )),
    }
}

/// `CONSOLE_RP_ID`: a host name (the passkeys' relying party id): lower
/// case letters, digits, `-` and `.`, at most 253 characters.
fn console_rp_id(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let ok = value.len() <= 253
        && !value.starts_with('.')
        && !value.ends_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if ok {
        Ok(Some(value.to_owned()))
    } else {
        Err(err(
            "CONSOLE_RP_ID",
            format!("`{value}` must be a host name (lower case, no scheme, port or IP address), e.g. signet.example.com"),
        ))
    }
}

/// `ALLOWED_ORIGINS`: comma-separated exact origins (`https://app.example`,
/// `http://localhost:5173`); no wildcard, no `null`, no path.
fn allowed_origins(value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .ok_or_else(|| err("ALLOWED_ORIGINS", format!("`{o}` is not an http(s) origin")))?;
            let valid = !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            if !valid {
                return Err(err(
                    "ALLOWED_ORIGINS",
                    format!(
                        "`{o}` must be scheme://host[:port] exactly (no wildcard, path or slash)"
                    ),
                ));
            }
            Ok(o.to_owned())
        })
        .collect()
}

/// An attestation policy as the console publishes it
/// (`/console/config.json`): `{root_pem (null = the AWS Nitro root),
/// pcr_sets, allow_debug, max_age_seconds}`.
#[must_use]
pub fn published_policy(
    root_pem: Option<&str>,
    pcr_sets: &[BTreeMap<String, String>],
    allow_debug: bool,
    max_age_seconds: u64,
) -> serde_json::Value {
    serde_json::json!({
        "root_pem": root_pem,
        "pcr_sets": pcr_sets,
        "allow_debug": allow_debug,
        "max_age_seconds": max_age_seconds,
    })
}

/// Why an attestation policy file is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file cannot be read or is not JSON.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The root PEM it names cannot be read or parsed.
    #[error("root {path}: {detail}")]
    Root {
        /// The PEM file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The policy itself is invalid.
    #[error(transparent)]
    Policy(#[from] signet_attestation::VerifyError),
}

/// Reads an attestation policy file: the JSON of
/// [`signet_attestation::PolicyFile`] plus an optional `"root"` (`"aws"`, the
/// default, or a PEM file path). The verifier requires the hello's nonce and
/// a document at most `max_age_seconds` (default 300) old.
pub fn load_policy(
    path: &std::path::Path,
) -> Result<(signet_attestation::Verifier, serde_json::Value), PolicyError> {
    let file = |e: &dyn std::fmt::Display| PolicyError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| file(&e))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| file(&e))?;
    let root = json.as_object_mut().and_then(|o| o.remove("root"));
    let (anchor, root_pem) = match root.as_ref().and_then(serde_json::Value::as_str) {
        None | Some("aws") => (signet_attestation::TrustAnchor::aws_nitro_root_g1(), None),
        Some(pem_path) => {
            let root = |e: &dyn std::fmt::Display| PolicyError::Root {
                path: pem_path.to_owned(),
                detail: e.to_string(),
            };
            let pem = std::fs::read_to_string(pem_path).map_err(|e| root(&e))?;
            let anchor = signet_attestation::TrustAnchor::from_pem(&pem).map_err(|e| root(&e))?;
            (anchor, Some(pem))
        }
    };
    let policy = signet_attestation::PolicyFile::from_json(&json.to_string())?;
    let pcrs = policy.pcr_policy()?;
    let max_age = policy.max_age_seconds.unwrap_or(300);
    let published = published_policy(
        root_pem.as_deref(),
        &policy.pcr_sets,
        policy.allow_debug,
        max_age,
    );
    Ok((
        signet_attestation::Verifier::new(anchor, pcrs)
            .allow_debug(policy.allow_debug)
            .max_age(Duration::from_secs(max_age)),
        published,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa";

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ENCLAVE_ADDR", "unix:/tmp/s.sock"),
            ("INTERNAL_API_KEY", STRONG),
            (
                "TICKET_SIGNING_SECRET",
                "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d",
            ),
            (
                "SESSION_SIGNING_SECRET",
                "ffe1d2c3b4a5968778695a4b3c2d1e0f11223344",
            ),
            ("ATTESTATION_POLICY", "insecure-skip"),
        ]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = base();
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, v));
        }
        Config::from_source(&Source::from_pairs(&pairs), false)
    }

    #[test]
    fn the_database_is_named_without_its_password() {
        assert_eq!(
            database_display("sqlite:///tmp/d/signet.db"),
            "SQLite /tmp/d/signet.db"
        );
        assert_eq!(
            database_display("sqlite://signet-data/signet.db?mode=rwc"),
            "SQLite signet-data/signet.db"
        );
        let pg = database_display(
            "postgres://signet:s3cret-p%40ss@db.internal:5432/signet?sslmode=verify-full&sslrootcert=/ca.pem",
        );
        assert_eq!(pg, "PostgreSQL db.internal:5432/signet (user signet)");
        assert!(!pg.contains("s3cret"));
        assert_eq!(
            database_display("postgresql://127.0.0.1/signet"),
            "PostgreSQL 127.0.0.1/signet"
        );
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let source =
            Source::from_pairs(&[("INTERNAL_API_KEY", "short"), ("SIGNET_LOG_FORMAT", "xml")]);
        let problems = Config::check_source(&source, false).unwrap_err();
        let names: Vec<&str> = problems.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            names,
            [
                "ENCLAVE_ADDR",
                "ATTESTATION_POLICY",
                "SIGNET_LOG_FORMAT",
                "INTERNAL_API_KEY",
                "TICKET_SIGNING_SECRET",
                "SESSION_SIGNING_SECRET"
            ]
        );
        // The first one is what from_source refuses with.
        assert_eq!(
            Config::from_source(&source, false).unwrap_err(),
            problems.0[0]
        );
        assert!(problems
            .to_string()
            .starts_with("6 configuration problems:"));
    }

    #[test]
    fn a_complete_config_loads() {
        let c = with(&[]).unwrap();
        assert_eq!(c.ticket_ttl, Duration::from_secs(60));
        assert!(c.tls.is_none());
    }

    #[test]
    fn each_problem_names_its_variable() {
        assert_eq!(
            with(&[("INTERNAL_API_KEY", "short")]).unwrap_err().variable,
            "INTERNAL_API_KEY"
        );
        assert_eq!(
            with(&[("TICKET_SIGNING_SECRET", "")]).unwrap_err().variable,
            "TICKET_SIGNING_SECRET"
        );
        assert_eq!(
            with(&[(
                "SESSION_SIGNING_SECRET",
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            )])
            .unwrap_err()
            .variable,
            "SESSION_SIGNING_SECRET"
        );
        assert_eq!(
            with(&[("ENCLAVE_ADDR", "tcp://x")]).unwrap_err().variable,
            "ENCLAVE_ADDR"
        );
        assert_eq!(
            with(&[("SIGNET_LISTEN", "nowhere")]).unwrap_err().variable,
            "SIGNET_LISTEN"
        );
        assert_eq!(
            with(&[("SIGNET_TLS_CERT", "/c.pem")]).unwrap_err().variable,
            "SIGNET_TLS_KEY"
        );
        assert_eq!(
            with(&[("TICKET_TTL_SECONDS", "0")]).unwrap_err().variable,
            "TICKET_TTL_SECONDS"
        );
        assert_eq!(
            with(&[("ATTESTATION_POLICY", "/nonexistent.json")])
                .unwrap_err()
                .variable,
            "ATTESTATION_POLICY"
        );
        assert_eq!(
            with(&[("SIGNET_DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .variable,
            "SIGNET_DATABASE_URL"
        );
        let e = with(&[("INTERNAL_API_KEY", "short")]).unwrap_err();
        assert!(
            !e.to_string().contains("short"),
            "the value is never echoed"
        );
    }

    #[test]
    fn admin_networks_are_parsed_or_refused() {
        let nets = admin_allowed_cidrs(Some("10.1.2.3/8, 127.0.0.1,fd00::/8,")).unwrap();
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"]);
        assert!(admin_allowed_cidrs(None).unwrap().is_empty());
        assert!(admin_allowed_cidrs(Some(" ")).unwrap().is_empty());
        for bad in ["10.0.0.0/33", "localhost", "10.0.0.0/8;", "*"] {
            let e = admin_allowed_cidrs(Some(bad)).unwrap_err().to_string();
            assert!(
                e.contains("ADMIN_ALLOWED_CIDRS") && e.contains(bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rate_limits_default_to_a_deployments_starting_values_and_zero_turns_them_off() {
        let c = with(&[]).unwrap();
        assert_eq!(c.rate_limit_window, Duration::from_secs(60));
        assert_eq!(c.rate_limit_per_client, 1200);
        assert_eq!(c.rate_limit_per_wallet_sign, 120);
        let off = with(&[
            ("RATE_LIMIT_PER_USER", "0"),
            ("RATE_LIMIT_PER_IDENTITY_SIGN", "0"),
        ])
        .unwrap();
        assert_eq!(
            (off.rate_limit_per_client, off.rate_limit_per_wallet_sign),
            (0, 0)
        );
    }

    #[test]
    fn console_rp_id_is_a_host_name() {
        assert_eq!(with(&[]).unwrap().console_rp_id, None);
        assert_eq!(
            with(&[("CONSOLE_RP_ID", "signet.example.com")])
                .unwrap()
                .console_rp_id
                .as_deref(),
            Some("signet.example.com")
        );
        for bad in [
            "https://signet.example.com",
            "127.0.0.1",
            "Signet.example",
            "a b",
            ".example",
        ] {
            assert!(with(&[("CONSOLE_RP_ID", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_public_url_is_an_origin() {
        assert_eq!(with(&[]).unwrap().public_url, None);
        for (given, kept) in [
            ("https://signet.example.com", "https://signet.example.com"),
            ("https://signet.example.com/", "https://signet.example.com"),
            ("http://10.0.0.5:8443", "http://10.0.0.5:8443"),
        ] {
            let c = with(&[("SIGNET_PUBLIC_URL", given)]).unwrap();
            assert_eq!(c.public_url.as_deref(), Some(kept), "{given}");
        }
        for bad in [
            "signet.example.com",
            "ftp://signet.example.com",
            "https://signet.example.com/console",
            "https://a.example,https://b.example",
            "https://*.example",
        ] {
            let e = with(&[("SIGNET_PUBLIC_URL", bad)]).unwrap_err();
            assert_eq!(e.variable, "SIGNET_PUBLIC_URL", "{bad}");
        }
    }

    #[test]
    fn allowed_origins_are_exact() {
        let c = with(&[(
            "ALLOWED_ORIGINS",
            "https://app.example, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["https://app.example", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://*.example",
            "null",
            "app.example",
            "https://app.example/",
            "https://a.example/x",
        ] {
            assert_eq!(
                with(&[("ALLOWED_ORIGINS", bad)]).unwrap_err().variable,
                "ALLOWED_ORIGINS",
                "{bad}"
            );
        }
    }

    #[test]
    fn the_signer_address_alias_works() {
        let mut pairs = base();
        pairs.retain(|(k, _)| *k != "ENCLAVE_ADDR");
        pairs.push(("ENCLAVE_BASE_URL", "vsock://16:5000"));
        let c = Config::from_source(&Source::from_pairs(&pairs), false).unwrap();
        assert_eq!(
            c.enclave_addr,
            SignerAddr::Vsock {
                cid: 16,
                port: 5000
            }
        );
    }

    #[test]
    fn kms_sealing_needs_a_key_arn_in_its_region() {
        assert_eq!(with(&[]).unwrap().sealing, SealingConfig::Dev);
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k1";
        let c = with(&[("SIGNET_SEALING", "kms"), ("KMS_KEY_ID", arn)]).unwrap();
        assert_eq!(
            c.sealing,
            SealingConfig::Kms(KmsConfig {
                key_id: arn.into(),
                region: "eu-west-1".into(),
                endpoint: None,
                ca_file: None,
                credentials: None,
            })
        );
        for (extra, variable) in [
            (vec![("SIGNET_SEALING", "hsm")], "SIGNET_SEALING"),
            (vec![("SIGNET_SEALING", "kms")], "KMS_KEY_ID"),
            (
                vec![("SIGNET_SEALING", "kms"), ("KMS_KEY_ID", "alias/x")],
                "KMS_KEY_ID",
            ),
            (
                vec![
                    ("SIGNET_SEALING", "kms"),
                    ("KMS_KEY_ID", arn),
                    ("AWS_REGION", "us-east-1"),
                ],
                "AWS_REGION",
            ),
            (
                vec![
                    ("SIGNET_SEALING", "kms"),
                    ("KMS_KEY_ID", arn),
                    ("KMS_ENDPOINT", "nowhere"),
                ],
                "KMS_ENDPOINT",
            ),
        ] {
            assert_eq!(with(&extra).unwrap_err().variable, variable);
        }
    }

    #[test]
    fn backup_retention_is_fourteen_days_unless_set() {
        assert_eq!(
            with(&[]).unwrap().backup_retention,
            Duration::from_secs(14 * 86_400)
        );
        for (days, seconds) in [("0", 0), ("1", 86_400), ("3650", 3650 * 86_400)] {
            assert_eq!(
                with(&[("SIGNET_BACKUP_RETENTION_DAYS", days)])
                    .unwrap()
                    .backup_retention,
                Duration::from_secs(seconds),
                "{days}"
            );
        }
    }

    #[test]
    fn backup_retention_beyond_ten_years_is_refused() {
        let e = with(&[("SIGNET_BACKUP_RETENTION_DAYS", "3651")]).unwrap_err();
        assert_eq!(e.variable, "SIGNET_BACKUP_RETENTION_DAYS");
        assert!(e.to_string().contains("must be 0 to 3650"), "{e}");
    }

    #[test]
    fn backup_retention_that_is_not_whole_days_is_refused() {
        for bad in ["-1", "1.5", "14d", "two weeks"] {
            let e = with(&[("SIGNET_BACKUP_RETENTION_DAYS", bad)]).unwrap_err();
            assert_eq!(e.variable, "SIGNET_BACKUP_RETENTION_DAYS", "{bad}");
            assert!(e.to_string().contains("not a valid number"), "{bad}: {e}");
        }
    }

    #[test]
    fn policy_is_required_outside_dev() {
        let mut pairs = base();
        pairs.retain(|(k, _)| *k != "ATTESTATION_POLICY");
        assert_eq!(
            Config::from_source(&Source::from_pairs(&pairs), false)
                .unwrap_err()
                .variable,
            "ATTESTATION_POLICY"
        );
        assert!(Config::from_source(&Source::from_pairs(&pairs), true).is_ok());
    }
}
