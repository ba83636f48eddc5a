//! A thin blocking HTTP client for the host API.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

/// The host URL when neither `--url` nor `SIGNET_URL` says.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where the host is and how to authenticate.
#[derive(Args, Clone)]
pub(crate) struct Endpoint {
    /// Host URL.
    #[arg(
        long,
        env = "SIGNET_URL",
        default_value = DEFAULT_URL,
        global = true
    )]
    url: String,
    /// API token (`sgn_…`). Prefer SIGNET_TOKEN or --token-file: flags end up in shell history.
    #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// File holding the API token (e.g. a `signet-host dev` data dir's admin-token).
    #[arg(long, global = true)]
    token_file: Option<String>,
}

/// A failed call: the message and whether it was the caller's usage.
pub(crate) struct CallFailed {
    pub message: String,
    pub usage: bool,
}

/// The credential a command sends, and where it came from.
pub(crate) enum Credential {
    /// `--token-file PATH`.
    TokenFile(String, String),
    /// `--token` on the command line.
    Flag(String),
    /// The `SIGNET_TOKEN` environment variable.
    Environment(String),
    /// The session of `signet login`, stored in this file, for the URL given.
    Session(PathBuf, crate::login::StoredSession),
}

impl Credential {
    fn token(&self) -> &str {
        match self {
            Self::TokenFile(_, t) | Self::Flag(t) | Self::Environment(t) => t,
            Self::Session(_, s) => &s.token,
        }
    }
}

impl Endpoint {
    /// The host URL commands are sent to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The credential to send: `--token-file`, then `--token` or
    /// `SIGNET_TOKEN`, then the stored session. Refuses (usage) without any,
    /// and refuses a stored session made on another host than `--url`, or
    /// one from before sessions named their host.
    pub(crate) fn credential(&self) -> Result<Credential, CallFailed> {
        let usage = |message: String| CallFailed {
            message,
            usage: true,
        };
        if let Some(path) = &self.token_file {
            let t = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read {path}: {e}")))?;
            return Ok(Credential::TokenFile(path.clone(), t.trim().to_owned()));
        }
        if let Some(t) = &self.token {
            // clap merges the flag and the variable: the variable's value
            // means it came from the environment.
            let from_env = std::env::var("SIGNET_TOKEN").is_ok_and(|v| &v == t);
            return Ok(if from_env {
                Credential::Environment(t.clone())
            } else {
                Credential::Flag(t.clone())
            });
        }
        let none = || {
            usage(
                "an API token or session is required: SIGNET_TOKEN, --token, --token-file, or `signet login`".into(),
            )
        };
        let path = crate::login::session_file().ok_or_else(none)?;
        match crate::login::read_session(&path) {
            crate::login::SessionFile::Missing => Err(none()),
            crate::login::SessionFile::Legacy => Err(usage(format!(
                "the session in {} does not say which host it is for (it was stored by an older signet): \
                 sign in again with `signet login --url {}`",
                path.display(),
                self.url
            ))),
            crate::login::SessionFile::Stored(session)
                if !crate::login::same_host(&session.url, &self.url) =>
            {
                Err(usage(format!(
                    "the stored session ({}) is for {}, not {}: it is never sent to another host; \
                     pass --url {} (or SIGNET_URL), or sign in there with `signet login --url {}`",
                    path.display(),
                    session.url,
                    self.url,
                    session.url,
                    self.url
                )))
            }
            crate::login::SessionFile::Stored(session) => Ok(Credential::Session(path, session)),
        }
    }

    fn token(&self) -> Result<String, CallFailed> {
        self.credential().map(|c| c.token().to_owned())
    }

    /// Calls without a token (login).
    pub(crate) fn call_anonymous(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, CallFailed> {
        self.send(method, path, Some(body), None)
    }

    /// Calls with this token (the stored session, for logout).
    pub(crate) fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
    ) -> Result<Value, CallFailed> {
        self.send(method, path, None, Some(token))
    }

    /// `GET path` without a token.
    pub(crate) fn get_anonymous(&self, path: &str) -> Result<Value, CallFailed> {
        self.send("GET", path, None, None)
    }

    /// Calls `method path` with an optional JSON body; returns the JSON answer
    /// or the API's `{"error":{code,message}}` as a message.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallFailed> {
        let token = self.token()?;
        self.send(method, path, body, Some(&token))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Value, CallFailed> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = ureq::request(method, &url).timeout(std::time::Duration::from_secs(30));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match body {
            Some(b) => request.send_json(b.clone()),
            None => request.call(),
        };
        match response {
            Ok(r) if r.status() == 204 => Ok(Value::Null),
            Ok(r) => r.into_json().map_err(|e| CallFailed {
                message: format!("bad response: {e}"),
                usage: false,
            }),
            Err(ureq::Error::Status(status, r)) => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().unwrap_or("unknown");
                let message = body["error"]["message"].as_str().unwrap_or("");
                Err(CallFailed {
                    message: format!("{status} {code}: {message}"),
                    usage: false,
                })
            }
            Err(ureq::Error::Transport(t)) => {
                // The transport error's own text repeats the URL: name it once.
                let mut detail = t.kind().to_string();
                if let Some(m) = t.message() {
                    detail = format!("{detail}: {m}");
                }
                if let Some(source) = std::error::Error::source(&t) {
                    detail = format!("{detail}: {source}");
                }
                Err(CallFailed {
                    message: format!(
                        "cannot reach {url}: {detail}\n  is the host running? Start it (scripts/dev.sh, or signet-host dev), \
                         or point SIGNET_URL (or --url) at it (now {})",
                        self.url
                    ),
                    usage: false,
                })
            }
        }
    }
}
