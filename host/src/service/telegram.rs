//! The Telegram bot that resolves login challenges: a Bot API client
//! (`TELEGRAM_API_BASE`, `/bot<token>/<method>`), the handling of
//! `/start <challenge_id>` updates (idempotent on `update_id`, Telegram
//! retries), and the two ways updates arrive: a webhook
//! (`TELEGRAM_WEBHOOK_URL`, registered at start with its secret token) or
//! long polling (`getUpdates`, one poller across replicas under a lease, the
//! offset kept in the database so a restart neither loses nor replays one).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use signet_proto::time::now_ms;
use signet_proto::SharedSecret;

use super::Service;

/// The lease of the one poller, and the name of its offset row.
pub const POLLER: &str = "telegram-poller";
/// How long past the long-poll timeout a `getUpdates` may take before it
/// is abandoned (and retried).
const POLL_GRACE: Duration = Duration::from_secs(10);

/// Why a Bot API call failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// Telegram asked us to wait (429 `retry_after`).
    #[error("Telegram rate limit: retry after {0} s")]
    RetryAfter(u64),
    /// 409: a webhook is set while polling, or another poller runs.
    #[error("Telegram conflict: {0}")]
    Conflict(String),
    /// Another refusal (4xx), with Telegram's description.
    #[error("Telegram refused ({0}): {1}")]
    Refused(u16, String),
    /// 5xx, timeout, connection.
    #[error("Telegram unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// A Bot API client.
pub struct Bot {
    base: String,
    token: SharedSecret,
    agent: ureq::Agent,
    poll_timeout: Duration,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// A client of the Bot API at `base` (`https://api.telegram.org`)
    /// that long-polls `getUpdates` for `poll_timeout`.
    #[must_use]
    pub fn new(base: &str, token: SharedSecret, poll_timeout: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            poll_timeout,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .build(),
        }
    }

    /// Calls `method` with `params` (waiting at most `timeout`).
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, BotError> {
        let url = format!(
            "{}/bot{}/{method}",
            self.base,
            String::from_utf8_lossy(self.token.expose())
        );
        let agent = self.agent.clone();
        let method_name = method.to_owned();
        let answer = tokio::task::spawn_blocking(move || {
            let response = agent.post(&url).timeout(timeout).send_json(params);
            match response {
                Ok(r) => r
                    .into_json::<Envelope>()
                    .map_err(|e| BotError::Unavailable(format!("{method_name}: {e}"))),
                Err(ureq::Error::Status(status, r)) => match r.into_json::<Envelope>() {
                    Ok(envelope) => Ok(envelope),
                    Err(_) if status >= 500 => Err(BotError::Unavailable(format!(
                        "{method_name}: HTTP {status}"
                    ))),
                    Err(_) => Err(BotError::Refused(
                        status,
                        format!("{method_name}: HTTP {status}"),
                    )),
                },
                // Never the URL (it holds the token): the kind and the
                // underlying I/O error ("timed out reading response").
                Err(ureq::Error::Transport(t)) => {
                    let cause = std::error::Error::source(&t)
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default();
                    Err(BotError::Unavailable(format!(
                        "{method_name}: {}{cause}",
                        t.kind()
                    )))
                }
            }
        })
        .await
        .map_err(|e| BotError::Unavailable(format!("{method}: {e}")))??;
        if answer.ok {
            return Ok(answer.result);
        }
        let code = answer.error_code.unwrap_or(0);
        let description = answer.description.unwrap_or_default();
        Err(match code {
            429 => BotError::RetryAfter(answer.parameters.and_then(|p| p.retry_after).unwrap_or(1)),
            409 => BotError::Conflict(description),
            c if c >= 500 => BotError::Unavailable(format!("{method}: {c} {description}")),
            c => BotError::Refused(c, format!("{method}: {description}")),
        })
    }

    /// `sendMessage` (best effort for replies: logged when it fails).
    pub async fn say(&self, chat_id: i64, text: &str) {
        let params = json!({"chat_id": chat_id, "text": text});
        if let Err(e) = self
            .call("sendMessage", params, Duration::from_secs(10))
            .await
        {
            tracing::warn!(chat_id, error = %e, "could not answer in Telegram");
        }
    }
}

/// The poller's lease outlives one long poll and its grace, with room for
/// handling the updates it returns.
fn lease_ms(poll_timeout: Duration) -> u64 {
    u64::try_from((poll_timeout + POLL_GRACE + Duration::from_secs(25)).as_millis())
        .unwrap_or(u64::MAX)
}

/// The reply to a `/start`.
const SIGNED_IN: &str = "You are signed in to Signet. Return to the app.";
const EXPIRED: &str = "This sign-in link has expired or was already used. Ask for a new one.";
const UNKNOWN: &str = "This is not a Signet sign-in link. Open the link the app shows you.";

/// What an update asked for: `(update_id, telegram user id, challenge id)`
/// for a private `/start <challenge>`; `None` for anything else (ignored).
#[must_use]
pub fn start_command(update: &Value) -> Option<(i64, i64, Option<String>)> {
    let update_id = update.get("update_id")?.as_i64()?;
    let message = update.get("message")?;
    let from = message.get("from")?;
    if from.get("is_bot").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let user = from.get("id")?.as_i64().filter(|id| *id > 0)?;
    let text = message.get("text")?.as_str()?;
    let rest = text.strip_prefix("/start")?;
    // `/start`, `/start ID`, `/start@Bot ID`.
    let rest = rest
        .strip_prefix('@')
        .map_or(rest, |r| r.split_once(' ').map_or("", |(_, a)| a));
    let arg = rest.trim();
    let challenge = (!arg.is_empty()
        && arg.len() <= 64
        && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    .then(|| arg.to_owned());
    Some((update_id, user, challenge))
}

impl Service {
    /// Handles one update: resolves the challenge of a `/start` for its
    /// sender and answers in the chat. An `update_id` seen before is
    /// skipped (Telegram delivers at least once).
    pub async fn handle_telegram_update(&self, update: &Value) -> super::Result<()> {
        let Some((update_id, user, challenge)) = start_command(update) else {
            return Ok(());
        };
        if !self
            .store
            .record_telegram_update(update_id, now_ms())
            .await?
        {
            return Ok(());
        }
        let Some(bot) = self.bot.as_ref() else {
            return Ok(());
        };
        let reply = match challenge {
            None => UNKNOWN,
            Some(id) => {
                if self.store.resolve_challenge(&id, user, now_ms()).await? {
                    tracing::info!(telegram_user_id = user, "login challenge resolved");
                    SIGNED_IN
                } else if self.store.challenge(&id).await?.is_some() {
                    EXPIRED
                } else {
                    UNKNOWN
                }
            }
        };
        bot.say(user, reply).await;
        Ok(())
    }

    /// Registers the webhook (webhook mode) at start.
    pub async fn register_webhook(&self, url: &str, secret: &SharedSecret) -> Result<(), BotError> {
        let bot = self
            .bot
            .as_ref()
            .ok_or_else(|| BotError::Refused(0, "no bot".into()))?;
        bot.call(
            "setWebhook",
            json!({
                "url": url,
                "secret_token": String::from_utf8_lossy(secret.expose()),
                "allowed_updates": ["message"],
            }),
            Duration::from_secs(15),
        )
        .await
        .map(|_| ())
    }

    /// The poller (polling mode): while this replica holds the lease, long
    /// polls from the stored offset, handles each update, then stores the
    /// next offset. Backs off on errors; a 409 (a webhook is set, or
    /// another bot instance polls) is logged as such.
    pub async fn run_telegram_poller(self: Arc<Self>) {
        let Some(bot) = self.bot.clone() else { return };
        let mut backoff = Duration::from_secs(1);
        loop {
            let held = self
                .store
                .try_lease(
                    POLLER,
                    &self.replica_id,
                    now_ms(),
                    lease_ms(bot.poll_timeout),
                )
                .await
                .unwrap_or(false);
            if !held {
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
            let offset = self.store.export_cursor(POLLER).await.unwrap_or(0);
            let params = json!({
                "offset": offset,
                "timeout": bot.poll_timeout.as_secs(),
                "allowed_updates": ["message"],
            });
            let wait = bot.poll_timeout + POLL_GRACE;
            let result = match bot.call("getUpdates", params, wait).await {
                Ok(Value::Array(updates)) => self.take_updates(offset, &updates).await,
                Ok(_) => Err("getUpdates answered something other than a list".to_owned()),
                Err(BotError::RetryAfter(s)) => {
                    tracing::warn!(seconds = s, "Telegram asks to wait");
                    tokio::time::sleep(Duration::from_secs(s.min(300))).await;
                    Ok(())
                }
                Err(BotError::Conflict(d)) => Err(format!(
                    "Telegram refuses getUpdates: {d} (a webhook is set — unset TELEGRAM_WEBHOOK_URL means polling; run `deleteWebhook` — or another bot instance polls with this token)"
                )),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(reason) => {
                    tracing::error!(%reason, retry_in = ?backoff, "Telegram polling failed; challenges are not being resolved");
                    self.metrics.security_event("TELEGRAM_POLL_ERROR");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    async fn take_updates(&self, offset: u64, updates: &[Value]) -> Result<(), String> {
        let mut stored = offset;
        for update in updates {
            let id = update
                .get("update_id")
                .and_then(Value::as_u64)
                .ok_or("an update without update_id")?;
            self.handle_telegram_update(update)
                .await
                .map_err(|e| e.to_string())?;
            // The next offset is stored after each update (and updates are
            // idempotent on their id): a crash neither loses nor replays one.
            let next = id.saturating_add(1);
            if next > stored {
                let moved = self
                    .store
                    .advance_export_cursor(POLLER, stored, next)
                    .await
                    .map_err(|e| e.to_string())?;
                if !moved {
                    return Err("the Telegram offset moved under this poller".into());
                }
                stored = next;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_commands_are_read_and_everything_else_ignored() {
        let u = |text: &str| json!({"update_id": 7, "message": {"message_id": 1, "from": {"id": 42, "is_bot": false, "first_name": "A"}, "chat": {"id": 42, "type": "private"}, "date": 0, "text": text}});
        assert_eq!(
            start_command(&u("/start ch_abc")),
            Some((7, 42, Some("ch_abc".into())))
        );
        assert_eq!(
            start_command(&u("/start@SignetBot ch_abc")),
            Some((7, 42, Some("ch_abc".into())))
        );
        assert_eq!(start_command(&u("/start")), Some((7, 42, None)));
        assert_eq!(start_command(&u("/start ../etc")), Some((7, 42, None)));
        assert_eq!(start_command(&u("hello")), None);
        assert_eq!(
            start_command(&json!({"update_id": 8, "edited_message": {}})),
            None
        );
        assert_eq!(
            start_command(
                &json!({"update_id": 9, "message": {"from": {"id": 1, "is_bot": true}, "text": "/start x"}})
            ),
            None
        );
        assert_eq!(
            start_command(&json!({"message": {"from": {"id": 1}, "text": "/start x"}})),
            None
        );
        assert_eq!(start_command(&json!([1, 2])), None);
    }
}
