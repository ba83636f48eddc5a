//! The Bot API: `/bot<token>/<method>` (methods in any case, GET or POST),
//! answered in Telegram's envelope. Implemented: `getMe`, `getUpdates`,
//! `setWebhook`, `deleteWebhook`, `getWebhookInfo`, `sendMessage`; any
//! other method is `404 Not Found`, as Telegram answers unknown ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use serde_json::{json, Map, Value};

use crate::faults::FaultEffect;
use crate::params::Params;
use crate::server::{unix_now, CallRecord, Fake, LongPoll, SentMessage, State};
use crate::text;
use crate::webhook::{self, Target, Webhook};

/// Every update type name the Bot API knows (for `allowed_updates`).
pub const UPDATE_TYPES: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "custom_event",
    "custom_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "purchased_paid_media",
];

/// The longest `getUpdates` timeout, seconds (`LONG_POLL_MAX_TIMEOUT`).
pub const LONG_POLL_MAX_TIMEOUT: i64 = 50;
/// A 409 answered within this long of the previous one is held back this long.
pub const CONFLICT_SPACING: Duration = Duration::from_secs(3);
/// The largest request body read.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
const CONFLICT_OTHER_POLL: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const CONFLICT_WEBHOOK_ACTIVE: &str =
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
const CONFLICT_SET_WEBHOOK: &str = "Conflict: terminated by setWebhook request";

/// Returned to hyper to close the connection without an answer (fault).
#[derive(Debug, thiserror::Error)]
#[error("connection closed by fault injection")]
pub struct DropConnection;

/// A method's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `{"ok":true,"result":…}` (plus `description` for the webhook methods).
    Ok {
        /// The result, JSON.
        result: String,
        /// Telegram's comment (`Webhook was set`).
        description: Option<&'static str>,
    },
    /// `{"ok":false,"error_code":…,"description":…}`.
    Error {
        /// HTTP status and `error_code`.
        code: u16,
        /// The description.
        description: String,
        /// `parameters.retry_after` (429).
        retry_after: Option<u32>,
    },
    /// A non-JSON page (the nginx in front of the Bot API on 502/503/504).
    Html {
        /// HTTP status.
        code: u16,
        /// The page.
        body: String,
    },
}

impl Reply {
    fn ok(result: &Value) -> Self {
        Self::Ok {
            result: result.to_string(),
            description: None,
        }
    }

    fn ok_true(description: &'static str) -> Self {
        Self::Ok {
            result: "true".into(),
            description: Some(description),
        }
    }

    /// An error with Telegram's wording.
    pub fn error(code: u16, description: impl Into<String>) -> Self {
        Self::Error {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::error(400, description)
    }

    /// `429 Too Many Requests: retry after N`.
    pub fn retry_after(seconds: u32) -> Self {
        Self::Error {
            code: 429,
            description: format!("Too Many Requests: retry after {seconds}"),
            retry_after: Some(seconds),
        }
    }

    /// The answer a fault status gets.
    pub fn for_fault(status: u16, retry_after: u32, description: Option<String>) -> Self {
        if status == 429 {
            let mut reply = Self::retry_after(retry_after);
            if let (Self::Error { description: d, .. }, Some(custom)) = (&mut reply, description) {
                *d = custom;
            }
            return reply;
        }
        let (page, default) = match status {
            502 => (true, "Bad Gateway"),
            503 => (true, "Service Temporarily Unavailable"),
            504 => (true, "Gateway Time-out"),
            400 => (false, "Bad Request"),
            401 => (false, "Unauthorized"),
            403 => (false, "Forbidden"),
            404 => (false, "Not Found"),
            409 => (false, "Conflict"),
            s if s >= 500 => (false, "Internal Server Error"),
            _ => (false, "Bad Request"),
        };
        if page && description.is_none() {
            return Self::Html {
                code: status,
                body: format!(
                    "<html>\r\n<head><title>{status} {default}</title></head>\r\n<body>\r\n<center><h1>{status} {default}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
                ),
            };
        }
        Self::error(status, description.unwrap_or_else(|| default.to_owned()))
    }

    fn status(&self) -> u16 {
        match self {
            Self::Ok { .. } => 200,
            Self::Error { code, .. } | Self::Html { code, .. } => *code,
        }
    }

    fn description(&self) -> Option<String> {
        match self {
            Self::Error { description, .. } => Some(description.clone()),
            Self::Html { body, .. } => Some(body.clone()),
            Self::Ok { .. } => None,
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let (body, content_type) = match self {
            Self::Ok {
                result,
                description,
            } => {
                let mut body = format!("{{\"ok\":true,\"result\":{result}");
                if let Some(d) = description {
                    body.push_str(&format!(",\"description\":{}", Value::from(d)));
                }
                body.push('}');
                (body, "application/json")
            }
            Self::Error {
                code,
                description,
                retry_after,
            } => {
                let mut body = format!(
                    "{{\"ok\":false,\"error_code\":{code},\"description\":{}",
                    Value::from(description)
                );
                if let Some(r) = retry_after {
                    body.push_str(&format!(",\"parameters\":{{\"retry_after\":{r}}}"));
                }
                body.push('}');
                (body, "application/json")
            }
            Self::Html { body, .. } => (body, "text/html"),
        };
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        resp
    }
}

/// Splits `/bot<token>/<method>`.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/bot")?;
    let (token, method) = rest.split_once('/')?;
    if token.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((token, method))
}

/// Serves one Bot API request.
pub async fn handle(
    fake: Arc<Fake>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let Some((token, method)) = split_path(parts.uri.path()) else {
        return Ok(Reply::error(404, "Not Found").into_response());
    };
    let (token, method) = (token.to_owned(), method.to_owned());
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(Reply::error(413, "Request Entity Too Large").into_response());
        }
    };
    let params = Params::parse(
        parts.uri.query(),
        parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        &body,
    );
    let original = params
        .as_ref()
        .map(|p| p.original().clone())
        .unwrap_or_default();
    let method_lc = method.to_ascii_lowercase();
    let fault = fake.state().faults.take(&method_lc);
    let mut faulted = false;
    if let Some(fault) = fault {
        faulted = true;
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        let early = match fault.effect {
            FaultEffect::Proceed => None,
            FaultEffect::Drop => {
                record(&fake, &method, original, 0, None, true);
                tracing::info!(method, "fault: connection dropped");
                return Err(DropConnection);
            }
            FaultEffect::Fail {
                status,
                retry_after,
                description,
            } => Some(Reply::for_fault(status, retry_after, description)),
        };
        if let Some(reply) = early {
            tracing::info!(method, status = reply.status(), "fault: error answered");
            record(
                &fake,
                &method,
                original,
                reply.status(),
                reply.description(),
                true,
            );
            return Ok(reply.into_response());
        }
    }
    let reply = if token != fake.token {
        Reply::error(401, "Unauthorized")
    } else {
        match params {
            Err(e) => Reply::bad_request(format!("Bad Request: {e}")),
            Ok(params) => call(&fake, &method_lc, &params).await,
        }
    };
    tracing::debug!(method, status = reply.status(), "Bot API call");
    record(
        &fake,
        &method,
        original,
        reply.status(),
        reply.description(),
        faulted,
    );
    Ok(reply.into_response())
}

fn record(
    fake: &Fake,
    method: &str,
    params: Map<String, Value>,
    status: u16,
    description: Option<String>,
    fault: bool,
) {
    fake.state().record_call(CallRecord {
        method: method.to_owned(),
        params,
        status,
        description,
        fault,
    });
}

async fn call(fake: &Arc<Fake>, method: &str, params: &Params) -> Reply {
    match method {
        "getme" => Reply::ok(&get_me(fake)),
        "getupdates" => get_updates(fake, params).await,
        "setwebhook" => set_webhook(fake, params, params.arg("url")).await,
        "deletewebhook" => set_webhook(fake, params, "").await,
        "getwebhookinfo" => Reply::ok(&webhook_info(&fake.state())),
        "sendmessage" => send_message(fake, params),
        "answercallbackquery" => answer_callback_query(fake, params),
        _ => Reply::error(404, "Not Found"),
    }
}

/// The bot's `User` object.
pub fn get_me(fake: &Fake) -> Value {
    json!({
        "id": fake.bot_id,
        "is_bot": true,
        "first_name": fake.bot_first_name,
        "username": fake.bot_username,
        "can_join_groups": true,
        "can_read_all_group_messages": false,
        "supports_inline_queries": false,
        "can_connect_to_business": false,
        "has_main_web_app": false,
    })
}

fn bot_user(fake: &Fake) -> Value {
    json!({
        "id": fake.bot_id,
        "is_bot": true,
        "first_name": fake.bot_first_name,
        "username": fake.bot_username,
    })
}

/// Whether a 409 must be held back (answered 3 s late), as the Bot API
/// spaces them.
fn conflict_delay(state: &mut State) -> Option<Duration> {
    let now = Instant::now();
    match state.next_conflict_at {
        Some(at) if now < at => Some(CONFLICT_SPACING),
        _ => {
            state.next_conflict_at = Some(now + CONFLICT_SPACING);
            None
        }
    }
}

async fn conflict(fake: &Fake, message: &'static str) -> Reply {
    let delay = {
        let mut state = fake.state();
        conflict_delay(&mut state)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    Reply::error(409, message)
}

fn updates_json(updates: &[crate::queue::QueuedUpdate]) -> String {
    let mut out = String::from("[");
    for (i, u) in updates.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&u.to_json());
    }
    out.push(']');
    out
}

fn updates_reply(updates: &[crate::queue::QueuedUpdate]) -> Reply {
    Reply::Ok {
        result: updates_json(updates),
        description: None,
    }
}

async fn get_updates(fake: &Arc<Fake>, params: &Params) -> Reply {
    let webhook_active = {
        let state = fake.state();
        state.webhook.is_some() || state.verifying
    };
    if webhook_active {
        return conflict(fake, CONFLICT_WEBHOOK_ACTIVE).await;
    }
    let (offset, limit, poll_id, abort, mut changes, deadline) = {
        let mut guard = fake.state();
        let state = &mut *guard;
        let offset = params.integer("offset", 0, i64::from(i32::MIN), i64::from(i32::MAX));
        let mut limit = params.integer("limit", 100, 1, 100);
        let mut timeout = params.integer("timeout", 0, 0, LONG_POLL_MAX_TIMEOUT);
        state.update_allowed_updates(params.arg("allowed_updates"));
        // The Bot API's guard against tight loops: the same offset again
        // within 3 s waits at least 3 s, within 0.5 s gets one update.
        let now = Instant::now();
        if let Some((prev_offset, prev_at)) = state.previous_get_updates {
            if prev_offset == offset && timeout < 3 && now < prev_at + Duration::from_secs(3) {
                timeout = 3;
            }
            if prev_offset == offset && now < prev_at + Duration::from_millis(500) {
                limit = 1;
            }
        }
        state.previous_get_updates = Some((offset, now));
        let limit = usize::try_from(limit).unwrap_or(1);
        let updates = state.queue.poll(offset, limit, unix_now());
        if timeout == 0 || !updates.is_empty() {
            return updates_reply(&updates);
        }
        let earlier = state.long_poll.take();
        let poll_id = state.next_poll_id;
        state.next_poll_id += 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        state.long_poll = Some(LongPoll {
            id: poll_id,
            abort: tx,
        });
        if let Some(earlier) = earlier {
            let _ = earlier.abort.send(CONFLICT_OTHER_POLL);
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
        (
            offset,
            limit,
            poll_id,
            rx,
            fake.updates.subscribe(),
            deadline,
        )
    };
    tokio::pin!(abort);
    loop {
        tokio::select! {
            message = &mut abort => {
                return conflict(fake, message.unwrap_or(CONFLICT_OTHER_POLL)).await;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                // LONG_POLL_WAIT_AFTER: let a burst of updates gather.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let mut state = fake.state();
                if state.long_poll.as_ref().is_some_and(|p| p.id == poll_id) {
                    let updates = state.queue.poll(offset, limit, unix_now());
                    if !updates.is_empty() {
                        state.long_poll = None;
                        return updates_reply(&updates);
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    let mut state = fake.state();
    if state.long_poll.as_ref().is_some_and(|p| p.id == poll_id) {
        state.long_poll = None;
    }
    let updates = state.queue.poll(offset, limit, unix_now());
    updates_reply(&updates)
}

/// `getWebhookInfo`'s result.
pub(crate) fn webhook_info(state: &State) -> Value {
    let mut info = Map::new();
    let url = state.webhook.as_ref().map_or("", |w| w.url.as_str());
    info.insert("url".into(), Value::from(url));
    info.insert("has_custom_certificate".into(), Value::from(false));
    info.insert(
        "pending_update_count".into(),
        Value::from(state.queue.len()),
    );
    if let Some((date, message)) = &state.last_webhook_error {
        info.insert("last_error_date".into(), Value::from(*date));
        info.insert("last_error_message".into(), Value::from(message.clone()));
    }
    if let Some(w) = &state.webhook {
        info.insert("max_connections".into(), Value::from(w.max_connections));
        info.insert("ip_address".into(), Value::from(w.ip_address.clone()));
    }
    if let Some(types) = &state.allowed_updates {
        info.insert("allowed_updates".into(), json!(types));
    }
    Value::Object(info)
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn set_webhook(fake: &Arc<Fake>, params: &Params, new_url: &str) -> Reply {
    let drop_pending = params.boolean("drop_pending_updates");
    let new_secret = if new_url.is_empty() {
        ""
    } else {
        params.arg("secret_token")
    };
    let max_connections = if new_url.is_empty() {
        0
    } else {
        params.integer("max_connections", 40, 1, 100)
    };
    let (generation, target) = {
        let mut guard = fake.state();
        let state = &mut *guard;
        let now = Instant::now();
        if !new_url.is_empty() {
            if state.next_set_webhook_at.is_some_and(|at| now < at) {
                return Reply::retry_after(1);
            }
            state.next_set_webhook_at = Some(now + Duration::from_secs(1));
        }
        let current_url = state.webhook.as_ref().map_or("", |w| w.url.as_str());
        let unchanged = current_url == new_url
            && state
                .webhook
                .as_ref()
                .map_or("", |w| w.secret_token.as_str())
                == new_secret
            && state.webhook.as_ref().map_or(0, |w| w.max_connections) == max_connections
            && !drop_pending
            && !state.verifying;
        if unchanged {
            state.update_allowed_updates(params.arg("allowed_updates"));
            return Reply::ok_true(if new_url.is_empty() {
                "Webhook is already deleted"
            } else {
                "Webhook is already set"
            });
        }
        if !new_url.is_empty() {
            if let Some(poll) = state.long_poll.take() {
                let _ = poll.abort.send(CONFLICT_SET_WEBHOOK);
            }
        }
        // The old webhook is closed first, whatever becomes of the new one.
        state.webhook_generation += 1;
        let was_deleted = state.webhook.take().is_some();
        state.last_webhook_error = None;
        state.verifying = false;
        if drop_pending {
            state.queue.clear();
        }
        if new_url.is_empty() {
            tracing::info!("webhook deleted");
            return Reply::ok_true(if was_deleted {
                "Webhook was deleted"
            } else {
                "Webhook is already deleted"
            });
        }
        let Some(target) = Target::parse(new_url) else {
            return Reply::bad_request("Bad Request: invalid webhook URL specified");
        };
        if new_secret.len() > 256 {
            return Reply::bad_request("Bad Request: secret token is too long");
        }
        if !is_base64url(new_secret) {
            return Reply::bad_request("Bad Request: secret token contains unallowed characters");
        }
        state.verifying = true;
        (state.webhook_generation, target)
    };
    let checked = async {
        webhook::check_policy(&target, fake.allow_http_webhook)?;
        let addr = webhook::resolve(&target, fake.allow_http_webhook).await?;
        webhook::verify(fake, &target, addr).await?;
        Ok::<_, String>(addr)
    }
    .await;
    let mut state = fake.state();
    if state.webhook_generation != generation {
        return Reply::error(409, "Conflict: terminated by other setWebhook");
    }
    state.verifying = false;
    let addr = match checked {
        Ok(addr) => addr,
        Err(reason) => {
            tracing::info!(reason, "webhook refused");
            return Reply::bad_request(format!("Bad Request: bad webhook: {reason}"));
        }
    };
    state.update_allowed_updates(params.arg("allowed_updates"));
    state.webhook = Some(Webhook {
        url: new_url.to_owned(),
        target,
        secret_token: new_secret.to_owned(),
        max_connections,
        ip_address: addr.ip().to_string(),
        retry: std::collections::HashMap::new(),
    });
    tokio::spawn(webhook::deliver(Arc::clone(fake), generation));
    tracing::info!(url = new_url, "webhook set");
    Reply::ok_true("Webhook was set")
}

fn send_message(fake: &Fake, params: &Params) -> Reply {
    let chat_arg = params.arg("chat_id").trim();
    if chat_arg.is_empty() {
        return Reply::bad_request("Bad Request: chat_id is empty");
    }
    let raw_text = params.arg("text");
    if raw_text.is_empty() {
        return Reply::bad_request("Bad Request: message text is empty");
    }
    if raw_text.len() > text::MAX_TEXT_BYTES {
        return Reply::bad_request("Bad Request: text is too long");
    }
    let parse_mode = params.arg("parse_mode");
    let shown = match text::render(raw_text, parse_mode) {
        Ok(t) => t,
        Err(description) => return Reply::bad_request(description),
    };
    let shown = shown.trim();
    if shown.is_empty() {
        return Reply::bad_request("Bad Request: message must be non-empty");
    }
    if text::utf16_len(shown) > text::MAX_MESSAGE_LENGTH {
        return Reply::bad_request("Bad Request: message is too long");
    }
    let chat_id = match chat_arg.parse::<i64>() {
        Ok(id) => id,
        Err(_) => return Reply::bad_request("Bad Request: chat not found"),
    };
    let reply_to = params.integer("reply_to_message_id", 0, i64::MIN, i64::MAX);
    let reply_to = if reply_to != 0 {
        Some(reply_to)
    } else {
        serde_json::from_str::<Value>(params.arg("reply_parameters"))
            .ok()
            .and_then(|v| v.get("message_id").and_then(Value::as_i64))
    };
    let reply_markup = match inline_keyboard(params.arg("reply_markup")) {
        Ok(markup) => markup,
        Err(description) => return Reply::bad_request(description),
    };
    let mut state = fake.state();
    let date = unix_now();
    let bot = bot_user(fake);
    let Some(chat) = state.chats.get_mut(&chat_id) else {
        return Reply::bad_request("Bad Request: chat not found");
    };
    if chat.blocked {
        return Reply::error(403, "Forbidden: bot was blocked by the user");
    }
    let replied = match reply_to {
        None => None,
        Some(id) => match chat.messages.get(&id) {
            Some(m) => {
                // Telegram does not nest replies.
                let mut m = m.clone();
                if let Some(o) = m.as_object_mut() {
                    o.remove("reply_to_message");
                }
                Some(m)
            }
            None if params.boolean("allow_sending_without_reply") => None,
            None => return Reply::bad_request("Bad Request: message to be replied not found"),
        },
    };
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut message = Map::new();
    message.insert("message_id".into(), Value::from(message_id));
    message.insert("from".into(), bot);
    message.insert("chat".into(), chat.chat_json());
    message.insert("date".into(), Value::from(date));
    if let Some(r) = replied {
        message.insert("reply_to_message".into(), r);
    }
    message.insert("text".into(), Value::from(shown));
    let commands = text::bot_commands(shown);
    if !commands.is_empty() {
        message.insert("entities".into(), json!(commands));
    }
    if let Some(markup) = &reply_markup {
        message.insert("reply_markup".into(), markup.clone());
    }
    let message = Value::Object(message);
    chat.messages.insert(message_id, message.clone());
    state.sent.push(SentMessage {
        chat_id,
        message_id,
        text: raw_text.to_owned(),
        parse_mode: (!parse_mode.is_empty()).then(|| parse_mode.to_owned()),
        date,
        message: message.clone(),
        reply_markup,
    });
    Reply::ok(&message)
}

/// Longest `callback_data` Telegram takes, bytes.
pub const MAX_CALLBACK_DATA: usize = 64;
/// How long after the press Telegram still takes `answerCallbackQuery`.
pub const CALLBACK_ANSWER_WINDOW: Duration = Duration::from_secs(15);
/// Longest notification text of `answerCallbackQuery`, characters.
const MAX_CALLBACK_TEXT: usize = 200;

/// A `reply_markup` argument read as Telegram reads one: absent, or an
/// `InlineKeyboardMarkup` (rows of buttons, each with a `text` and one
/// action; only `callback_data` (1–64 bytes) and `url` are modelled).
/// Reply keyboards and other markups are outside the fake (refused, so a
/// test never relies on them silently).
pub fn inline_keyboard(arg: &str) -> Result<Option<Value>, String> {
    if arg.is_empty() {
        return Ok(None);
    }
    let Ok(Value::Object(markup)) = serde_json::from_str::<Value>(arg) else {
        return Err("Bad Request: can't parse reply keyboard markup JSON object".into());
    };
    let Some(rows) = markup.get("inline_keyboard") else {
        return Err("Bad Request: only inline keyboards are modelled by the fake".into());
    };
    let Value::Array(rows) = rows else {
        return Err(
            "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array"
                .into(),
        );
    };
    for row in rows {
        let Value::Array(buttons) = row else {
            return Err(
                "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays"
                    .into(),
            );
        };
        for button in buttons {
            let Value::Object(button) = button else {
                return Err("Bad Request: InlineKeyboardButton must be an Object".into());
            };
            match button.get("text") {
                Some(Value::String(t)) if !t.trim().is_empty() => {}
                Some(Value::String(_)) => return Err("Bad Request: BUTTON_TEXT_EMPTY".into()),
                _ => return Err("Bad Request: can't find field \"text\"".into()),
            }
            match (button.get("callback_data"), button.get("url")) {
                (Some(Value::String(d)), None) => {
                    if d.is_empty() || d.len() > MAX_CALLBACK_DATA {
                        return Err("Bad Request: BUTTON_DATA_INVALID".into());
                    }
                }
                (None, Some(Value::String(u))) => {
                    if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with("tg://")) {
                        return Err("Bad Request: BUTTON_URL_INVALID".into());
                    }
                }
                (None, None) => {
                    return Err("Bad Request: text buttons are unallowed in the inline keyboard".into())
                }
                _ => return Err("Bad Request: can't parse inline keyboard button: the fake models one action per button (callback_data or url)".into()),
            }
        }
    }
    Ok(Some(Value::Object(markup)))
}

/// `answerCallbackQuery`: only for a query delivered and not answered yet,
/// within [`CALLBACK_ANSWER_WINDOW`] of the press (Telegram's wording).
fn answer_callback_query(fake: &Fake, params: &Params) -> Reply {
    const INVALID: &str =
        "Bad Request: query is too old and response timeout expired or query ID is invalid";
    let id = params.arg("callback_query_id").trim();
    if id.is_empty() {
        return Reply::bad_request("Bad Request: parameter \"callback_query_id\" is required");
    }
    let text = params.arg("text");
    if text.chars().count() > MAX_CALLBACK_TEXT {
        return Reply::bad_request("Bad Request: MESSAGE_TOO_LONG");
    }
    let mut state = fake.state();
    let Some(pending) = state.callback_queries.remove(id) else {
        return Reply::bad_request(INVALID);
    };
    if pending.pressed_at.elapsed() > CALLBACK_ANSWER_WINDOW {
        return Reply::bad_request(INVALID);
    }
    state.callback_answers.push(crate::server::CallbackAnswer {
        callback_query_id: id.to_owned(),
        text: (!text.is_empty()).then(|| text.to_owned()),
        show_alert: params.boolean("show_alert"),
    });
    Reply::Ok {
        result: "true".into(),
        description: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(split_path("/bot1:abc/getMe"), Some(("1:abc", "getMe")));
        assert_eq!(split_path("/bot1:abc/"), None);
        assert_eq!(split_path("/bot/getMe"), None);
        assert_eq!(split_path("/1:abc/getMe"), None);
        assert_eq!(split_path("/bot1:abc/a/b"), None);
    }

    fn body(reply: Reply) -> (u16, String) {
        let status = reply.status();
        let resp = reply.into_response();
        let bytes = futures_body(resp);
        (status, bytes)
    }

    fn futures_body(resp: Response<Full<Bytes>>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            String::from_utf8(
                resp.into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            )
            .unwrap()
        })
    }

    #[test]
    fn inline_keyboards_are_checked_as_telegram_does() {
        let ok = r#"{"inline_keyboard":[[{"text":"47","callback_data":"login:ch_a:47"}],[{"text":"Docs","url":"https://example.org"}]]}"#;
        assert!(inline_keyboard(ok).unwrap().is_some());
        assert_eq!(inline_keyboard("").unwrap(), None);
        let long = format!(
            r#"{{"inline_keyboard":[[{{"text":"x","callback_data":"{}"}}]]}}"#,
            "d".repeat(65)
        );
        for (bad, said) in [
            ("not json", "can't parse reply keyboard markup"),
            (r#"{"keyboard":[["a"]]}"#, "only inline keyboards"),
            (r#"{"inline_keyboard":{}}"#, "must be an Array"),
            (r#"{"inline_keyboard":[{}]}"#, "Array of Arrays"),
            (
                r#"{"inline_keyboard":[[{"callback_data":"x"}]]}"#,
                "can't find field",
            ),
            (
                r#"{"inline_keyboard":[[{"text":" ","callback_data":"x"}]]}"#,
                "BUTTON_TEXT_EMPTY",
            ),
            (
                r#"{"inline_keyboard":[[{"text":"a"}]]}"#,
                "text buttons are unallowed",
            ),
            (
                r#"{"inline_keyboard":[[{"text":"a","callback_data":""}]]}"#,
                "BUTTON_DATA_INVALID",
            ),
            (long.as_str(), "BUTTON_DATA_INVALID"),
            (
                r#"{"inline_keyboard":[[{"text":"a","url":"javascript:x"}]]}"#,
                "BUTTON_URL_INVALID",
            ),
        ] {
            let e = inline_keyboard(bad).unwrap_err();
            assert!(e.contains(said), "{bad}: {e}");
        }
    }

    #[test]
    fn envelopes_are_telegrams() {
        assert_eq!(
            body(Reply::ok_true("Webhook was set")),
            (
                200,
                r#"{"ok":true,"result":true,"description":"Webhook was set"}"#.into()
            )
        );
        assert_eq!(
            body(Reply::error(401, "Unauthorized")),
            (
                401,
                r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.into()
            )
        );
        assert_eq!(
            body(Reply::retry_after(7)),
            (
                429,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
                    .into()
            )
        );
        let (status, page) = body(Reply::for_fault(502, 0, None));
        assert_eq!(status, 502);
        assert!(page.starts_with("<html>"));
        assert_eq!(
            body(Reply::for_fault(500, 0, None)).1,
            r#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#
        );
    }
}
