//! AWS credentials for the signer's KMS calls, from the standard chain the
//! host runs with: the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the instance role
//! through IMDSv2. Cached until five minutes before they expire, refreshed
//! then or when KMS says they expired.
//!
//! Hand-written rather than `aws-config`: the host needs two sources and
//! one HTTP call, and `aws-config` brings a second HTTP stack and the SSO/STS
//! clients with it.

use std::time::Duration;

use serde::Deserialize;
use signet_proto::message::AwsCredentials;
use tokio::sync::Mutex;

/// Refresh this long before expiry.
const REFRESH_BEFORE: u64 = 300;

/// Why no credentials could be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// One of the two static keys without the other.
    #[error(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together (or neither: the instance role)"
    )]
    HalfAKey,
    /// The instance metadata service failed a step.
    #[error("instance metadata ({step}): {detail}")]
    Metadata {
        /// `token`, `role` or `credentials`.
        step: &'static str,
        /// What failed.
        detail: String,
    },
    /// The instance has no role.
    #[error("instance metadata: no instance role attached")]
    NoRole,
}

/// Where credentials come from.
#[derive(Clone, Debug)]
pub enum CredentialSource {
    /// Fixed keys from the environment.
    Static(AwsCredentials),
    /// The instance role, through IMDSv2 at this base URL.
    InstanceRole(String),
}

/// A cached credential provider.
pub struct Credentials {
    source: CredentialSource,
    cached: Mutex<Option<AwsCredentials>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImdsCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

impl Credentials {
    /// From the environment variables in `get`, else the instance role.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, AwsError> {
        let source = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                CredentialSource::Static(AwsCredentials {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
                    expires_at: None,
                })
            }
            (Some(_), None) | (None, Some(_)) => return Err(AwsError::HalfAKey),
            _ => CredentialSource::InstanceRole(
                get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                    .unwrap_or_else(|| "http://169.254.169.254".into())
                    .trim_end_matches('/')
                    .to_owned(),
            ),
        };
        Ok(Self {
            source,
            cached: Mutex::new(None),
        })
    }

    /// Always `credentials` (`signet-host dev` with its own KMS).
    #[must_use]
    pub fn fixed(credentials: AwsCredentials) -> Self {
        Self {
            source: CredentialSource::Static(credentials),
            cached: Mutex::new(None),
        }
    }

    /// Valid credentials: the cached ones unless they expire within five
    /// minutes, else fresh ones.
    pub async fn get(&self) -> Result<AwsCredentials, AwsError> {
        let mut cached = self.cached.lock().await;
        let now = signet_proto::time::now_ms() / 1000;
        if let Some(c) = cached.as_ref() {
            if c.expires_at.is_none_or(|t| t > now + REFRESH_BEFORE) {
                return Ok(c.clone());
            }
        }
        let fresh = self.fetch().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the cache (KMS said they expired); the next `get` fetches.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<AwsCredentials, AwsError> {
        match &self.source {
            CredentialSource::Static(c) => Ok(c.clone()),
            CredentialSource::InstanceRole(base) => {
                let base = base.clone();
                tokio::task::spawn_blocking(move || imds(&base))
                    .await
                    .map_err(|e| AwsError::Metadata {
                        step: "task",
                        detail: e.to_string(),
                    })?
            }
        }
    }
}

/// IMDSv2: a session token, the role name, then the role's credentials.
fn imds(base: &str) -> Result<AwsCredentials, AwsError> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let err = |step: &'static str| {
        move |e: &dyn std::fmt::Display| AwsError::Metadata {
            step,
            detail: e.to_string(),
        }
    };
    let token = agent
        .put(&format!("{base}/latest/api/token"))
        .set("X-aws-ec2-metadata-token-ttl-seconds", "300")
        .call()
        .map_err(|e| err("token")(&e))?
        .into_string()
        .map_err(|e| err("token")(&e))?;
    let path = format!("{base}/latest/meta-data/iam/security-credentials/");
    let role = agent
        .get(&path)
        .set("X-aws-ec2-metadata-token", &token)
        .call()
        .map_err(|e| err("role")(&e))?
        .into_string()
        .map_err(|e| err("role")(&e))?;
    let role = role.lines().next().unwrap_or_default().trim().to_owned();
    if role.is_empty() || role.contains('/') {
        return Err(AwsError::NoRole);
    }
    let creds: ImdsCredentials = agent
        .get(&format!("{path}{role}"))
        .set("X-aws-ec2-metadata-token", &token)
        .call()
        .map_err(|e| err("credentials")(&e))?
        .into_json()
        .map_err(|e| err("credentials")(&e))?;
    Ok(AwsCredentials {
        access_key_id: creds.access_key_id,
        secret_access_key: creds.secret_access_key,
        session_token: creds.token,
        expires_at: creds
            .expiration
            .as_deref()
            .and_then(signet_proto::time::parse_rfc3339_utc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_together() {
        let only_id = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(|| "AKID".to_owned());
        assert!(Credentials::from_env(only_id).is_err());
        let none = |_: &str| None;
        assert!(matches!(
            Credentials::from_env(none).unwrap().source,
            CredentialSource::InstanceRole(ref b) if b == "http://169.254.169.254"
        ));
    }

    #[tokio::test]
    async fn static_keys_are_handed_out_and_never_printed() {
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned()),
            _ => None,
        };
        let c = Credentials::from_env(env).unwrap();
        let got = c.get().await.unwrap();
        assert_eq!(got.access_key_id, "AKIDEXAMPLE");
        assert!(!format!("{got:?}").contains("wJalr"));
    }

    /// A minimal IMDSv2: a token, then the role, then its credentials, each
    /// only with the token.
    fn fake_imds() -> String {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut token_ok = false;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    let h = h.to_ascii_lowercase();
                    token_ok |= h.starts_with("x-aws-ec2-metadata-token: t0ken");
                }
                let body = match (first.split_whitespace().nth(1).unwrap(), token_ok) {
                    ("/latest/api/token", _) if first.starts_with("PUT") => "t0ken".to_owned(),
                    ("/latest/meta-data/iam/security-credentials/", true) => "signet-instance\n".to_owned(),
                    ("/latest/meta-data/iam/security-credentials/signet-instance", true) => {
                        r#"{"Code":"Success","AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t","Token":"session","Expiration":"2026-11-23T13:00:00Z"}"#.to_owned()
                    }
                    _ => {
                        let _ = stream.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
                        continue;
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn instance_role_credentials_come_from_imdsv2_with_their_expiry() {
        let base = fake_imds();
        let c = Credentials::from_env(|k| {
            (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT").then(|| base.clone())
        })
        .unwrap();
        let got = c.get().await.unwrap();
        assert_eq!(got.access_key_id, "ASIAEXAMPLE");
        assert_eq!(got.session_token.as_deref(), Some("session"));
        assert_eq!(got.expires_at, Some(1_795_438_800));
    }

    #[tokio::test]
    async fn no_metadata_service_is_a_clear_error() {
        let c = Credentials::from_env(|k| {
            (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT").then(|| "http://127.0.0.1:9".to_owned())
        })
        .unwrap();
        let e = c.get().await.unwrap_err();
        assert!(e.to_string().contains("instance metadata (token)"), "{e}");
    }
}
