//! The fake's state and its two listeners.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::faults::Faults;
use crate::queue::{QueueError, UpdateQueue, FIRST_ID_MAX, FIRST_ID_MIN};
use crate::webhook::{DeliveryAttempt, Webhook};

/// Calls kept for `GET /calls` (the oldest are dropped beyond this).
pub const MAX_CALL_LOG: usize = 10_000;
/// Delivery attempts kept for `GET /webhook`.
pub const MAX_DELIVERY_LOG: usize = 10_000;

/// Update types delivered unless `allowed_updates` names them (Telegram
/// leaves these three out by default).
pub const NOT_DELIVERED_BY_DEFAULT: &[&str] =
    &["chat_member", "message_reaction", "message_reaction_count"];

/// Everything the fake is started with.
#[derive(Debug)]
pub struct Config {
    /// The bot token (`<bot id>:<secret>`).
    pub token: String,
    /// The bot's username (without `@`).
    pub bot_username: String,
    /// The bot's first name.
    pub bot_first_name: String,
    /// The Bot API address.
    pub listen: SocketAddr,
    /// The control API address.
    pub control: SocketAddr,
    /// Accept webhooks on loopback hosts (`127.0.0.1`, `::1`, `localhost`)
    /// over plain HTTP and on any port.
    pub allow_http_webhook: bool,
    /// The roots HTTPS webhooks must chain to.
    pub webhook_roots: rustls::RootCertStore,
}

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The token is not `<digits>:<secret>`.
    #[error("the bot token is not <bot id>:<secret>")]
    Token,
    /// Binding a listener.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The TLS client configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// One Bot API call, as `GET /calls` reports it (the token never appears).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    /// The method as sent (`getUpdates`).
    pub method: String,
    /// The parameters as sent.
    pub params: Map<String, Value>,
    /// The HTTP status answered (0: the connection was closed instead).
    pub status: u16,
    /// The error description answered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a fault rule applied.
    pub fault: bool,
}

/// A message the bot sent, as `GET /sent` reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SentMessage {
    /// The chat (the user's id).
    pub chat_id: i64,
    /// Its id in the chat.
    pub message_id: i64,
    /// The text as sent (before any parse mode).
    pub text: String,
    /// `parse_mode`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
    /// Unix time.
    pub date: u64,
    /// The message object answered.
    pub message: Value,
    /// Its `reply_markup` (an inline keyboard), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<Value>,
}

/// A Telegram user who has a private chat with the bot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TgUser {
    /// The user id (also the chat id).
    pub id: i64,
    /// Always false for people.
    pub is_bot: bool,
    /// First name.
    pub first_name: String,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

/// A private chat with the bot.
#[derive(Clone, Debug)]
pub(crate) struct Chat {
    pub(crate) user: TgUser,
    pub(crate) next_message_id: i64,
    pub(crate) messages: BTreeMap<i64, Value>,
    pub(crate) blocked: bool,
}

impl Chat {
    pub(crate) fn chat_json(&self) -> Value {
        let mut chat = Map::new();
        chat.insert("id".into(), Value::from(self.user.id));
        chat.insert(
            "first_name".into(),
            Value::from(self.user.first_name.clone()),
        );
        if let Some(l) = &self.user.last_name {
            chat.insert("last_name".into(), Value::from(l.clone()));
        }
        if let Some(u) = &self.user.username {
            chat.insert("username".into(), Value::from(u.clone()));
        }
        chat.insert("type".into(), Value::from("private"));
        Value::Object(chat)
    }
}

/// A waiting long poll.
#[derive(Debug)]
pub(crate) struct LongPoll {
    pub(crate) id: u64,
    pub(crate) abort: oneshot::Sender<&'static str>,
}

/// The mutable state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) queue: UpdateQueue,
    /// `None`: Telegram's default set.
    pub(crate) allowed_updates: Option<Vec<String>>,
    pub(crate) webhook: Option<Webhook>,
    /// Bumped by every setWebhook/deleteWebhook that changes something.
    pub(crate) webhook_generation: u64,
    /// A setWebhook is checking its URL (getUpdates is refused meanwhile).
    pub(crate) verifying: bool,
    pub(crate) last_webhook_error: Option<(u64, String)>,
    pub(crate) long_poll: Option<LongPoll>,
    pub(crate) next_poll_id: u64,
    pub(crate) previous_get_updates: Option<(i64, Instant)>,
    pub(crate) next_conflict_at: Option<Instant>,
    pub(crate) next_set_webhook_at: Option<Instant>,
    pub(crate) chats: HashMap<i64, Chat>,
    pub(crate) sent: Vec<SentMessage>,
    pub(crate) calls: VecDeque<CallRecord>,
    pub(crate) faults: Faults,
    pub(crate) deliveries: VecDeque<DeliveryAttempt>,
    /// Callback queries delivered and not answered yet, by id.
    pub(crate) callback_queries: HashMap<String, PendingCallback>,
    /// Every `answerCallbackQuery` taken, in order.
    pub(crate) callback_answers: Vec<CallbackAnswer>,
    pub(crate) next_callback_id: u64,
}

/// A callback query the bot has not answered yet.
#[derive(Debug)]
pub(crate) struct PendingCallback {
    /// When the user pressed the button (Telegram refuses an answer later
    /// than [`crate::bot::CALLBACK_ANSWER_WINDOW`]).
    pub(crate) pressed_at: Instant,
}

/// An `answerCallbackQuery`, as `GET /callback-answers` reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallbackAnswer {
    /// The query answered.
    pub callback_query_id: String,
    /// The notification shown to the user, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Whether it is shown as an alert rather than a toast.
    pub show_alert: bool,
}

impl State {
    /// Whether `update_type` would be queued.
    pub(crate) fn allows(&self, update_type: &str) -> bool {
        match &self.allowed_updates {
            None => !NOT_DELIVERED_BY_DEFAULT.contains(&update_type),
            Some(types) => types.iter().any(|t| t == update_type),
        }
    }

    /// Applies an `allowed_updates` argument as the Bot API does: a JSON
    /// array of type names (unknown names ignored; none known → default);
    /// anything else leaves the setting as it is.
    pub(crate) fn update_allowed_updates(&mut self, arg: &str) {
        if arg.is_empty() {
            return;
        }
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(arg) else {
            return;
        };
        let mut types = Vec::new();
        for item in items {
            let Value::String(name) = item else {
                return;
            };
            let name = name.to_ascii_lowercase();
            if crate::bot::UPDATE_TYPES.contains(&name.as_str()) && !types.contains(&name) {
                types.push(name);
            }
        }
        self.allowed_updates = if types.is_empty() { None } else { Some(types) };
    }

    pub(crate) fn record_call(&mut self, call: CallRecord) {
        if self.calls.len() >= MAX_CALL_LOG {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }

    pub(crate) fn record_delivery(&mut self, attempt: DeliveryAttempt) {
        if self.deliveries.len() >= MAX_DELIVERY_LOG {
            self.deliveries.pop_front();
        }
        self.deliveries.push_back(attempt);
    }
}

/// The shared state of a running fake.
#[derive(Debug)]
pub struct Fake {
    pub(crate) token: String,
    pub(crate) bot_id: i64,
    pub(crate) bot_username: String,
    pub(crate) bot_first_name: String,
    pub(crate) allow_http_webhook: bool,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) state: Mutex<State>,
    /// Bumped whenever an update is queued.
    pub(crate) updates: watch::Sender<u64>,
}

/// Locks a mutex, also when a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Unix time now, seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The bot id a token starts with, if it is shaped like a token.
pub fn bot_id_of(token: &str) -> Option<i64> {
    let (id, secret) = token.split_once(':')?;
    if id.is_empty()
        || id.len() > 15
        || !id.bytes().all(|b| b.is_ascii_digit())
        || secret.is_empty()
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    id.parse().ok().filter(|&id: &i64| id > 0)
}

fn random_first_id() -> i64 {
    use rand_core::RngCore as _;
    let span = u64::try_from(FIRST_ID_MAX - FIRST_ID_MIN + 1).unwrap_or(1);
    let r = rand_core::OsRng.next_u64() % span;
    FIRST_ID_MIN + i64::try_from(r).unwrap_or(0)
}

impl Fake {
    /// Builds the state.
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let bot_id = bot_id_of(&config.token).ok_or(StartError::Token)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(config.webhook_roots.clone())
            .with_no_client_auth();
        Ok(Self {
            token: config.token.clone(),
            bot_id,
            bot_username: config.bot_username.clone(),
            bot_first_name: config.bot_first_name.clone(),
            allow_http_webhook: config.allow_http_webhook,
            tls: Arc::new(tls),
            state: Mutex::new(State {
                queue: UpdateQueue::new(random_first_id()),
                allowed_updates: None,
                webhook: None,
                webhook_generation: 0,
                verifying: false,
                last_webhook_error: None,
                long_poll: None,
                next_poll_id: 1,
                previous_get_updates: None,
                next_conflict_at: None,
                next_set_webhook_at: None,
                chats: HashMap::new(),
                sent: Vec::new(),
                calls: VecDeque::new(),
                faults: Faults::default(),
                deliveries: VecDeque::new(),
                callback_queries: HashMap::new(),
                callback_answers: Vec::new(),
                next_callback_id: 1,
            }),
            updates: watch::Sender::new(0),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues an update (its `update_id`, if any, is replaced). Returns the
    /// update as queued, or `Ok(None)` when `allowed_updates` leaves its
    /// type out (Telegram then never stores it).
    pub(crate) fn queue_update(
        &self,
        state: &mut State,
        mut fields: Map<String, Value>,
    ) -> Result<Option<Value>, QueueError> {
        fields.remove("update_id");
        let update_type = fields.keys().next().cloned().unwrap_or_default();
        if !state.allows(&update_type) {
            return Ok(None);
        }
        let key = queue_key(&fields);
        let id = state.queue.push(fields, key, unix_now())?;
        self.updates.send_modify(|n| *n += 1);
        Ok(state
            .queue
            .get(id)
            .map(crate::queue::QueuedUpdate::to_value))
    }
}

/// Updates of one chat (else of one user) are delivered in order.
fn queue_key(fields: &Map<String, Value>) -> i64 {
    let Some(Value::Object(inner)) = fields.values().next() else {
        return 0;
    };
    let chat = inner
        .get("chat")
        .or_else(|| inner.get("message").and_then(|m| m.get("chat")))
        .and_then(|c| c.get("id"))
        .and_then(Value::as_i64);
    let user = inner
        .get("from")
        .or_else(|| inner.get("user"))
        .and_then(|u| u.get("id"))
        .and_then(Value::as_i64);
    chat.or(user).unwrap_or(0)
}

/// A started fake. Dropping it stops the listeners.
#[derive(Debug)]
pub struct Running {
    /// The Bot API address.
    pub api: SocketAddr,
    /// The control API address.
    pub control: SocketAddr,
    /// The state, for embedding tests.
    pub fake: Arc<Fake>,
    tasks: Vec<JoinHandle<()>>,
}

impl signet_fake_support::Ready for Running {
    fn addresses(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![("api", self.api), ("control", self.control)]
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds both listeners and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let fake = Arc::new(Fake::new(&config)?);
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Io {
                what: format!("binding the {what} listener on {addr}"),
                source,
            })
    };
    let api_listener = bind(config.listen, "Bot API").await?;
    let control_listener = bind(config.control, "control").await?;
    let local = |l: &TcpListener| {
        l.local_addr().map_err(|source| StartError::Io {
            what: "reading a listener's address".into(),
            source,
        })
    };
    let (api, control) = (local(&api_listener)?, local(&control_listener)?);
    let tasks = vec![
        tokio::spawn(serve_api(api_listener, Arc::clone(&fake))),
        tokio::spawn(serve_control(control_listener, Arc::clone(&fake))),
    ];
    Ok(Running {
        api,
        control,
        fake,
        tasks,
    })
}

async fn serve_api(listener: TcpListener, fake: Arc<Fake>) {
    loop {
        let (tcp, peer) = signet_fake_support::accept(&listener).await;
        let fake = Arc::clone(&fake);
        tokio::spawn(async move {
            let service = service_fn(move |req| crate::bot::handle(Arc::clone(&fake), req));
            if let Err(e) = signet_fake_support::http1_builder()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "Bot API connection ended");
            }
        });
    }
}

async fn serve_control(listener: TcpListener, fake: Arc<Fake>) {
    signet_fake_support::serve_plain(listener, "control", move |req| {
        let fake = Arc::clone(&fake);
        async move { crate::control::handle(&fake, req).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(bot_id_of("123456:ABC-def_1"), Some(123_456));
        assert_eq!(bot_id_of("123456"), None);
        assert_eq!(bot_id_of("abc:def"), None);
        assert_eq!(bot_id_of("1:"), None);
        assert_eq!(bot_id_of("0:abc"), None);
        assert_eq!(bot_id_of("1:a/b"), None);
    }

    #[test]
    fn queue_keys() {
        let f = |v: Value| queue_key(v.as_object().unwrap());
        assert_eq!(
            f(serde_json::json!({"message": {"chat": {"id": 5}, "from": {"id": 6}}})),
            5
        );
        assert_eq!(
            f(
                serde_json::json!({"callback_query": {"from": {"id": 6}, "message": {"chat": {"id": 9}}}})
            ),
            9
        );
        assert_eq!(f(serde_json::json!({"poll": {"id": "x"}})), 0);
    }
}
