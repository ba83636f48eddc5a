//! A thin blocking HTTP client for the host API.

use clap::Args;
use serde_json::Value;

/// Where the host is and how to authenticate.
#[derive(Args, Clone)]
pub(crate) struct Endpoint {
    /// Host URL.
    #[arg(
        long,
        env = "SIGNET_URL",
        default_value = "http://127.0.0.1:8080",
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

impl Endpoint {
    fn token(&self) -> Result<String, CallFailed> {
        let usage = |message: String| CallFailed {
            message,
            usage: true,
        };
        if let Some(path) = &self.token_file {
            let t = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read {path}: {e}")))?;
            return Ok(t.trim().to_owned());
        }
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        // A session from `signet login`.
        if let Some(t) = crate::login::session_file()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
        {
            return Ok(t);
        }
        Err(usage(
            "an API token or session is required: SIGNET_TOKEN, --token, --token-file, or `signet login`".into(),
        ))
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
            Err(e) => Err(CallFailed {
                message: format!("cannot reach {url}: {e}"),
                usage: false,
            }),
        }
    }
}
