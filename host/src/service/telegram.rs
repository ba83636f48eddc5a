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

use super::audit::{Outcome, SecurityEvent};
use super::{Denier, Error, Service};
use crate::store::StoreError;

/// Largest Telegram update accepted on the webhook.
pub const MAX_UPDATE: usize = 64 * 1024;

/// The lease of the one poller, and the name of its offset row.
pub const POLLER: &str = "telegram-poller";
/// How long past the long-poll timeout a `getUpdates` may take before it
/// is abandoned (and retried).
const POLL_GRACE: Duration = Duration::from_secs(10);

/// Why a polling round failed (it is retried after a back-off).
#[derive(Debug, thiserror::Error)]
enum PollError {
    /// The Bot API refused or could not be reached.
    #[error(transparent)]
    Bot(#[from] BotError),
    /// Telegram answered out of protocol.
    #[error("{0}")]
    Protocol(&'static str),
    /// The database failed (the offset could not be read or stored, or an
    /// update not handled): nothing is polled until it answers again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Handling an update failed.
    #[error(transparent)]
    Service(#[from] Error),
    /// Another poller moved the offset (this one lost its lease).
    #[error("the Telegram offset moved under this poller")]
    OffsetMoved,
}

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

    /// An update delivered to `/telegram-webhook` (webhook mode): refused
    /// without the secret token registered with the webhook (a security
    /// event, recorded under the per-address guard), too large or not JSON;
    /// otherwise handled (updates it does not handle are ignored).
    pub async fn telegram_webhook(
        &self,
        presented_secret: Option<&[u8]>,
        body: &[u8],
    ) -> super::Result<()> {
        use subtle::ConstantTimeEq as _;
        let Some((_, secret)) = self.config.login.webhook.as_ref() else {
            return Err(Error::NotConfigured(
                "Telegram webhook mode is not configured",
            ));
        };
        let matches: bool = presented_secret
            .unwrap_or_default()
            .ct_eq(secret.expose())
            .into();
        if !matches {
            self.deny(
                SecurityEvent::TelegramWebhookDeny,
                Denier::Anonymous,
                "/telegram-webhook",
                Outcome::denied("bad_webhook_secret"),
            )
            .await;
            return Err(Error::Unauthenticated(
                "missing or wrong X-Telegram-Bot-Api-Secret-Token",
            ));
        }
        if body.len() > MAX_UPDATE {
            return Err(Error::TooLarge(format!(
                "an update is at most {MAX_UPDATE} bytes"
            )));
        }
        let update: Value = serde_json::from_slice(body)
            .map_err(|_| Error::bad_request("the body is not a JSON Telegram update"))?;
        self.handle_telegram_update(&update).await
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
            match self.poll_once(&bot).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(PollError::Bot(BotError::Conflict(d))) => {
                    tracing::error!(reason = %d, retry_in = ?backoff, "Telegram refuses getUpdates (a webhook is set — unset TELEGRAM_WEBHOOK_URL means polling; run `deleteWebhook` — or another bot instance polls with this token); challenges are not being resolved");
                    self.metrics
                        .security_event(SecurityEvent::TelegramPollError.as_str());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
                Err(reason) => {
                    tracing::error!(%reason, retry_in = ?backoff, "Telegram polling failed; challenges are not being resolved");
                    self.metrics
                        .security_event(SecurityEvent::TelegramPollError.as_str());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// One polling round: the stored offset (a database failure stops the
    /// round: polling from any other offset would take updates twice or
    /// lose the record of where it stood), a long poll, the updates taken.
    async fn poll_once(&self, bot: &Bot) -> Result<(), PollError> {
        let offset = self.store.export_cursor(POLLER).await?;
        let params = json!({
            "offset": offset,
            "timeout": bot.poll_timeout.as_secs(),
            "allowed_updates": ["message"],
        });
        let wait = bot.poll_timeout + POLL_GRACE;
        match bot.call("getUpdates", params, wait).await {
            Ok(Value::Array(updates)) => self.take_updates(offset, &updates).await,
            Ok(_) => Err(PollError::Protocol(
                "getUpdates answered something other than a list",
            )),
            Err(BotError::RetryAfter(s)) => {
                tracing::warn!(seconds = s, "Telegram asks to wait");
                tokio::time::sleep(Duration::from_secs(s.min(300))).await;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn take_updates(&self, offset: u64, updates: &[Value]) -> Result<(), PollError> {
        let mut stored = offset;
        for update in updates {
            let id = update
                .get("update_id")
                .and_then(Value::as_u64)
                .ok_or(PollError::Protocol("an update without update_id"))?;
            self.handle_telegram_update(update).await?;
            // The next offset is stored after each update (and updates are
            // idempotent on their id): a crash neither loses nor replays one.
            let next = id.saturating_add(1);
            if next > stored {
                if !self
                    .store
                    .advance_export_cursor(POLLER, stored, next)
                    .await?
                {
                    return Err(PollError::OffsetMoved);
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
