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
        self.send(json!({"chat_id": chat_id, "text": text})).await;
    }

    /// `sendMessage` with an inline keyboard (`reply_markup`), best effort.
    pub async fn ask(&self, chat_id: i64, text: &str, keyboard: Value) {
        self.send(json!({"chat_id": chat_id, "text": text, "reply_markup": keyboard}))
            .await;
    }

    async fn send(&self, params: Value) {
        let chat_id = params.get("chat_id").cloned().unwrap_or_default();
        if let Err(e) = self
            .call("sendMessage", params, Duration::from_secs(10))
            .await
        {
            tracing::warn!(%chat_id, error = %e, "could not answer in Telegram");
        }
    }

    /// `answerCallbackQuery` with a notification `text` (best effort:
    /// Telegram shows a spinner on the button until it is answered).
    pub async fn answer_callback(&self, query_id: &str, text: &str) {
        let params = json!({"callback_query_id": query_id, "text": text});
        if let Err(e) = self
            .call("answerCallbackQuery", params, Duration::from_secs(10))
            .await
        {
            tracing::warn!(error = %e, "could not answer a callback query in Telegram");
        }
    }
}

/// The poller's lease outlives one long poll and its grace, with room for
/// handling the updates it returns.
fn lease_ms(poll_timeout: Duration) -> u64 {
    u64::try_from((poll_timeout + POLL_GRACE + Duration::from_secs(25)).as_millis())
        .unwrap_or(u64::MAX)
}

/// The update types the bot asks Telegram for.
const UPDATE_TYPES: [&str; 2] = ["message", "callback_query"];

/// Replies to a `/start` and to the buttons of the login keyboard.
const SIGNED_IN: &str = "You are signed in to Signet. Return to the page.";
const EXPIRED: &str =
    "This sign-in request has expired or was already answered. Ask for a new one.";
const UNKNOWN: &str = "This is not a Signet sign-in link. Open the link the page shows you.";
const TAKEN: &str =
    "This sign-in request was opened from another Telegram account. Ask for a new one on the page.";
const NOT_ME: &str = "Sign-in refused: nobody was signed in. If someone sent you this link, they were trying to get into your account.";
const WRONG_CODE: &str = "That is not the number the page shows, so this sign-in was cancelled. If it was you, start again on the page.";
const NOT_OPEN: &str = "This sign-in request is no longer open.";
/// `callback_data` prefix of the login keyboard's buttons.
const LOGIN_DATA: &str = "login:";
/// The "Not me" button's answer.
const NOT_ME_ANSWER: &str = "no";

/// The message asking the person who opened a challenge to confirm it:
/// what asked, from where, when.
fn confirmation_text(c: &crate::store::ChallengeRow) -> String {
    let when = signet_proto::time::rfc3339_ms(c.created_at);
    let when = when.get(..16).unwrap_or(&when).replace('T', " ");
    format!(
        "Someone asked to sign in to Signet with your Telegram account.\n\nWhen: {when} UTC\nFrom: {}\n\nIf it was you, press the number your screen shows. If not, press \u{201c}Not me\u{201d}: nobody will be signed in.",
        c.requester.as_deref().unwrap_or("an unknown place")
    )
}

/// The page's code and two decoys, ascending (the position tells
/// nothing), as a row of buttons, and a "Not me" row. The decoys are
/// derived from the challenge's stored secrets, so opening it twice shows
/// the same three numbers (a difference would give the code away).
fn login_keyboard(c: &crate::store::ChallengeRow) -> Option<Value> {
    use sha2::{Digest as _, Sha256};
    let code: u8 = c.code.as_deref()?.parse().ok()?;
    let seed = Sha256::new()
        .chain_update(b"signet/login-decoys/v1")
        .chain_update(c.verifier_hash.as_deref()?.as_bytes())
        .chain_update(c.id.as_bytes())
        .finalize();
    let mut codes = vec![code];
    for b in seed {
        let candidate = 10 + b % 90;
        if !codes.contains(&candidate) {
            codes.push(candidate);
        }
        if codes.len() == 3 {
            break;
        }
    }
    codes.sort_unstable();
    let button = |text: String, answer: &str| json!({"text": text, "callback_data": format!("{LOGIN_DATA}{}:{answer}", c.id)});
    let numbers: Vec<Value> = codes
        .iter()
        .map(|n| button(n.to_string(), &n.to_string()))
        .collect();
    Some(json!({"inline_keyboard": [numbers, [button("Not me".into(), NOT_ME_ANSWER)]]}))
}

/// A press on an inline button: `(update_id, telegram user id, query id,
/// data)`; `None` for anything else.
#[must_use]
pub fn callback_press(update: &Value) -> Option<(i64, i64, String, String)> {
    let update_id = update.get("update_id")?.as_i64()?;
    let query = update.get("callback_query")?;
    let from = query.get("from")?;
    if from.get("is_bot").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let user = from.get("id")?.as_i64().filter(|id| *id > 0)?;
    let id = query.get("id")?.as_str()?.to_owned();
    let data = query
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((update_id, user, id, data))
}

/// The challenge and the answer a login button carries.
fn login_answer(data: &str) -> Option<(&str, &str)> {
    let (challenge, answer) = data.strip_prefix(LOGIN_DATA)?.rsplit_once(':')?;
    let well_formed = challenge.starts_with("ch_")
        && challenge.len() <= 64
        && (answer == NOT_ME_ANSWER
            || (answer.len() == 2 && answer.bytes().all(|b| b.is_ascii_digit())));
    well_formed.then_some((challenge, answer))
}

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
    /// Handles one update (at most once per `update_id`: Telegram delivers
    /// at least once): a `/start <challenge>` opens the challenge for its
    /// sender and asks them to confirm it with the page's code; a press on
    /// that keyboard resolves it (the page's code) or cancels it (another
    /// code, "Not me": `LOGIN_REFUSED`). Anything else is ignored.
    pub async fn handle_telegram_update(&self, update: &Value) -> super::Result<()> {
        if let Some((update_id, user, query_id, data)) = callback_press(update) {
            if !self
                .store
                .record_telegram_update(update_id, now_ms())
                .await?
            {
                return Ok(());
            }
            return self.answer_login(user, &query_id, &data).await;
        }
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
        let Some(id) = challenge else {
            bot.say(user, UNKNOWN).await;
            return Ok(());
        };
        if self.store.claim_challenge(&id, user, now_ms()).await? {
            if let Some(keyboard) = self
                .store
                .challenge(&id)
                .await?
                .and_then(|c| Some((confirmation_text(&c), login_keyboard(&c)?)))
            {
                tracing::info!(
                    telegram_user_id = user,
                    "login challenge opened in Telegram"
                );
                bot.ask(user, &keyboard.0, keyboard.1).await;
                return Ok(());
            }
        }
        let reply = match self.store.challenge(&id).await? {
            None => UNKNOWN,
            Some(c)
                if c.claimed_by.is_some_and(|by| by != user)
                    && c.resolved_at.is_none()
                    && c.refused_at.is_none()
                    && c.expires_at > now_ms() =>
            {
                TAKEN
            }
            Some(_) => EXPIRED,
        };
        bot.say(user, reply).await;
        Ok(())
    }

    /// A press on the login keyboard by `user`: only the person who opened
    /// the challenge answers it; the page's code resolves it, anything else
    /// cancels it and is audited.
    async fn answer_login(&self, user: i64, query_id: &str, data: &str) -> super::Result<()> {
        let Some(bot) = self.bot.as_ref() else {
            return Ok(());
        };
        let Some((id, answer)) = login_answer(data) else {
            bot.answer_callback(query_id, UNKNOWN).await;
            return Ok(());
        };
        let now = now_ms();
        if answer != NOT_ME_ANSWER && self.store.resolve_challenge(id, user, answer, now).await? {
            tracing::info!(
                telegram_user_id = user,
                "login challenge confirmed in Telegram"
            );
            bot.answer_callback(query_id, SIGNED_IN).await;
            bot.say(user, SIGNED_IN).await;
            return Ok(());
        }
        // Not the page's code (or "Not me"): cancelled, if it was open and
        // this user's to answer.
        if !self.store.refuse_challenge(id, user, now).await? {
            bot.answer_callback(query_id, NOT_OPEN).await;
            return Ok(());
        }
        let (reason, reply) = if answer == NOT_ME_ANSWER {
            ("not_me", NOT_ME)
        } else {
            ("wrong_code", WRONG_CODE)
        };
        tracing::warn!(telegram_user_id = user, reason, "login refused in Telegram");
        self.deny(
            SecurityEvent::LoginRefused,
            Denier::Telegram(user),
            id,
            Outcome::denied(reason),
        )
        .await;
        bot.answer_callback(query_id, reply).await;
        bot.say(user, reply).await;
        Ok(())
    }

    /// An update delivered to `/telegram-webhook` (webhook mode) from
    /// `peer`: refused without the secret token registered with the webhook
    /// (401, a security event recorded under the per-address guard that
    /// `/v1` authentication uses: a few rows per window and peer, the rest
    /// counted; past the peer's failure limit 429), too large or not JSON;
    /// otherwise handled (updates it does not handle are ignored). The
    /// right secret is taken whatever the peer sent before.
    pub async fn telegram_webhook(
        &self,
        peer: std::net::IpAddr,
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
            self.refuse_peer_over_limit(peer, SecurityEvent::TelegramWebhookDeny)?;
            self.record_peer_failure(
                peer,
                SecurityEvent::TelegramWebhookDeny,
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
                "allowed_updates": UPDATE_TYPES,
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
            "allowed_updates": UPDATE_TYPES,
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

    fn row(code: &str) -> crate::store::ChallengeRow {
        crate::store::ChallengeRow {
            id: "ch_0123456789abcdef".into(),
            created_at: 1_765_000_000_000,
            expires_at: 1_765_000_300_000,
            telegram_user_id: None,
            resolved_at: None,
            verified_at: None,
            verifier_hash: Some("ab".repeat(32)),
            code: Some(code.into()),
            requester: Some("203.0.113.9, Firefox 133 on Windows".into()),
            claimed_by: Some(42),
            refused_at: None,
        }
    }

    #[test]
    fn the_login_keyboard_holds_the_code_two_decoys_and_not_me() {
        for code in ["10", "47", "99"] {
            let k = login_keyboard(&row(code)).unwrap();
            let numbers: Vec<&str> = k["inline_keyboard"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["text"].as_str().unwrap())
                .collect();
            assert_eq!(numbers.len(), 3);
            assert!(numbers.contains(&code), "{numbers:?}");
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
            assert!(numbers.iter().all(|n| n.len() == 2));
            assert_eq!(k["inline_keyboard"][1][0]["text"], "Not me");
            for b in k["inline_keyboard"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_array)
                .flatten()
            {
                let data = b["callback_data"].as_str().unwrap();
                assert!(data.len() <= 64, "{data}");
                assert!(login_answer(data).is_some(), "{data}");
            }
            // The same numbers every time it is shown.
            assert_eq!(login_keyboard(&row(code)), Some(k));
        }
        let mut no_code = row("47");
        no_code.code = None;
        assert_eq!(login_keyboard(&no_code), None);
        let text = confirmation_text(&row("47"));
        assert!(
            text.contains("From: 203.0.113.9, Firefox 133 on Windows"),
            "{text}"
        );
        assert!(text.contains("When: 2025-12-06 05:46 UTC"), "{text}");
    }

    #[test]
    fn only_login_buttons_are_read() {
        let press = |data: &str| json!({"update_id": 3, "callback_query": {"id": "77", "from": {"id": 42, "is_bot": false, "first_name": "A"}, "chat_instance": "1", "data": data}});
        assert_eq!(
            callback_press(&press("login:ch_ab:47")),
            Some((3, 42, "77".into(), "login:ch_ab:47".into()))
        );
        assert_eq!(login_answer("login:ch_ab:47"), Some(("ch_ab", "47")));
        assert_eq!(login_answer("login:ch_ab:no"), Some(("ch_ab", "no")));
        for bad in [
            "login:ch_ab:4",
            "login:ch_ab:470",
            "login:ch_ab:x7",
            "login:xx_ab:47",
            "logout:ch_ab:47",
            "login:ch_ab",
            "",
        ] {
            assert_eq!(login_answer(bad), None, "{bad}");
        }
        let mut bot = press("login:ch_ab:47");
        bot["callback_query"]["from"]["is_bot"] = json!(true);
        assert_eq!(callback_press(&bot), None);
        assert_eq!(
            callback_press(&json!({"update_id": 4, "message": {}})),
            None
        );
    }
}
