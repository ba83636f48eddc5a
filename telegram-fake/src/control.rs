//! The control API (plain HTTP, for tests only).
//!
//! | route | effect |
//! |---|---|
//! | `GET /health` | 200 `{"status":"ok"}` |
//! | `POST /users/{id}/messages` | `{"text", "first_name"?, "last_name"?, "username"?, "language_code"?}`: the user sends the bot a private message; returns the update queued |
//! | `POST /users/{id}/press` | `{"message_id", "text"? , "data"?}`: the user presses the inline button (by its text or its `callback_data`) of a message the bot sent them; queues a `callback_query` update and returns it (404 no such message, 400 no such button) |
//! | `GET /callback-answers` | every `answerCallbackQuery` the bot made |
//! | `POST /users/{id}/block`, `POST /users/{id}/unblock` | the user blocks / unblocks the bot (`sendMessage` then gets 403) |
//! | `POST /updates` | queue any update as given (its `update_id` is replaced); returns it |
//! | `GET /sent`, `DELETE /sent` | the messages the bot sent / forget them |
//! | `GET /faults`, `POST /faults`, `DELETE /faults` | fault rules (see [`crate::faults`]) |
//! | `GET /calls`, `DELETE /calls` | the Bot API calls so far (never the token) / forget them |
//! | `GET /webhook` | the webhook, `getWebhookInfo`'s view, pending updates and every delivery attempt |
//!
//! An update whose type `allowed_updates` leaves out is not queued (as
//! Telegram never stores it): the answer is then 202
//! `{"dropped":"not in allowed_updates","update":…}`. Errors are
//! `{"error": "..."}` with 400 (bad body), 404 (unknown route), 507 (queue full).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::faults::FaultRule;
use crate::server::{unix_now, Chat, Fake, State, TgUser};

const MAX_CONTROL_BODY: usize = 1024 * 1024;

use signet_fake_support::{error_response as error, json_response};

/// A message a user sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserMessage {
    text: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    language_code: Option<String>,
}

/// A press on an inline button.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Press {
    message_id: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

/// Serves one control request.
pub async fn handle(fake: &Fake, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_CONTROL_BODY).collect().await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    };
    let body = body.to_bytes();
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["health"]) => json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::POST, ["users", id, action]) => {
            let Ok(user_id) = id.parse::<i64>() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("user id `{id}` is not a number"),
                );
            };
            if user_id <= 0 {
                return error(StatusCode::BAD_REQUEST, "user ids are positive");
            }
            match *action {
                "messages" => match serde_json::from_slice::<UserMessage>(&body) {
                    Ok(m) => user_message(fake, user_id, m),
                    Err(e) => error(StatusCode::BAD_REQUEST, format!("message: {e}")),
                },
                "press" => match serde_json::from_slice::<Press>(&body) {
                    Ok(p) => press(fake, user_id, &p),
                    Err(e) => error(StatusCode::BAD_REQUEST, format!("press: {e}")),
                },
                "block" | "unblock" => {
                    let mut state = fake.state();
                    match state.chats.get_mut(&user_id) {
                        Some(chat) => {
                            chat.blocked = *action == "block";
                            json_response(
                                StatusCode::OK,
                                &json!({"user_id": user_id, "blocked": chat.blocked}),
                            )
                        }
                        None => error(
                            StatusCode::NOT_FOUND,
                            format!("user {user_id} never wrote to the bot"),
                        ),
                    }
                }
                _ => not_found(&parts.method, path),
            }
        }
        (&Method::POST, ["updates"]) => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => raw_update(fake, fields),
            Ok(_) => error(StatusCode::BAD_REQUEST, "an update is a JSON object"),
            Err(e) => error(StatusCode::BAD_REQUEST, format!("update: {e}")),
        },
        (&Method::GET, ["callback-answers"]) => {
            json_response(StatusCode::OK, &fake.state().callback_answers)
        }
        (&Method::GET, ["sent"]) => json_response(StatusCode::OK, &fake.state().sent),
        (&Method::DELETE, ["sent"]) => {
            fake.state().sent.clear();
            json_response(StatusCode::OK, &json!([]))
        }
        (&Method::GET, ["faults"]) => json_response(StatusCode::OK, fake.state().faults.rules()),
        (&Method::POST, ["faults"]) => match serde_json::from_slice::<FaultRule>(&body) {
            Ok(rule) => {
                let mut state = fake.state();
                match state.faults.add(rule) {
                    Ok(()) => json_response(StatusCode::OK, state.faults.rules()),
                    Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
                }
            }
            Err(e) => error(StatusCode::BAD_REQUEST, format!("fault rule: {e}")),
        },
        (&Method::DELETE, ["faults"]) => {
            fake.state().faults.clear();
            json_response(StatusCode::OK, &json!([]))
        }
        (&Method::GET, ["calls"]) => json_response(StatusCode::OK, &fake.state().calls),
        (&Method::DELETE, ["calls"]) => {
            fake.state().calls.clear();
            json_response(StatusCode::OK, &json!([]))
        }
        (&Method::GET, ["webhook"]) => json_response(StatusCode::OK, &webhook_view(&fake.state())),
        _ => not_found(&parts.method, path),
    }
}

fn not_found(method: &Method, path: &str) -> Response<Full<Bytes>> {
    error(StatusCode::NOT_FOUND, format!("no route {method} {path}"))
}

fn webhook_view(state: &State) -> Value {
    let webhook = state.webhook.as_ref().map(|w| {
        json!({
            "url": w.url,
            "secret_token": w.secret_token,
            "max_connections": w.max_connections,
            "ip_address": w.ip_address,
        })
    });
    json!({
        "webhook": webhook,
        "info": crate::bot::webhook_info(state),
        "allowed_updates": state.allowed_updates,
        "pending": state.queue.pending().map(|u| u.id).collect::<Vec<_>>(),
        "deliveries": state.deliveries,
    })
}

fn queued(fake: &Fake, state: &mut State, fields: Map<String, Value>) -> Response<Full<Bytes>> {
    let shown = Value::Object(fields.clone());
    match fake.queue_update(state, fields) {
        Ok(Some(update)) => {
            tracing::info!(update_id = ?update.get("update_id"), "update queued");
            json_response(StatusCode::OK, &update)
        }
        Ok(None) => json_response(
            StatusCode::ACCEPTED,
            &json!({"dropped": "not in allowed_updates", "update": shown}),
        ),
        Err(e) => error(StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
    }
}

fn user_message(fake: &Fake, user_id: i64, m: UserMessage) -> Response<Full<Bytes>> {
    let mut guard = fake.state();
    let state = &mut *guard;
    let chat = state.chats.entry(user_id).or_insert_with(|| Chat {
        user: TgUser {
            id: user_id,
            is_bot: false,
            first_name: String::new(),
            last_name: None,
            username: None,
            language_code: None,
        },
        next_message_id: 1,
        messages: BTreeMap::new(),
        blocked: false,
    });
    // What the user tells about themselves now is what Telegram shows.
    chat.user.first_name = m
        .first_name
        .or_else(|| (!chat.user.first_name.is_empty()).then(|| chat.user.first_name.clone()))
        .unwrap_or_else(|| format!("User{user_id}"));
    if m.last_name.is_some() {
        chat.user.last_name = m.last_name;
    }
    if m.username.is_some() {
        chat.user.username = m.username;
    }
    if m.language_code.is_some() {
        chat.user.language_code = m.language_code;
    }
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut message = Map::new();
    message.insert("message_id".into(), Value::from(message_id));
    message.insert("from".into(), json!(chat.user));
    message.insert("chat".into(), chat.chat_json());
    message.insert("date".into(), Value::from(unix_now()));
    message.insert("text".into(), Value::from(m.text.clone()));
    let commands = crate::text::bot_commands(&m.text);
    if !commands.is_empty() {
        message.insert("entities".into(), json!(commands));
    }
    let message = Value::Object(message);
    chat.messages.insert(message_id, message.clone());
    let mut fields = Map::new();
    fields.insert("message".into(), message);
    queued(fake, state, fields)
}

/// The user presses a callback button of a bot message in their chat:
/// Telegram sends the bot a `callback_query` with the message, the
/// button's `callback_data` and a fresh query id.
fn press(fake: &Fake, user_id: i64, p: &Press) -> Response<Full<Bytes>> {
    let mut guard = fake.state();
    let state = &mut *guard;
    let Some(chat) = state.chats.get(&user_id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("user {user_id} never wrote to the bot"),
        );
    };
    let Some(message) = chat.messages.get(&p.message_id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no message {} in user {user_id}'s chat", p.message_id),
        );
    };
    let buttons = message
        .pointer("/reply_markup/inline_keyboard")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten();
    let mut found = None;
    for button in buttons {
        let text = button.get("text").and_then(Value::as_str);
        let data = button.get("callback_data").and_then(Value::as_str);
        let wanted = match (&p.text, &p.data) {
            (Some(t), None) => text == Some(t.as_str()),
            (None, Some(d)) => data == Some(d.as_str()),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "give exactly one of `text` and `data`",
                )
            }
        };
        if wanted {
            found = data.map(str::to_owned);
            break;
        }
    }
    let Some(data) = found else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("message {} has no such callback button", p.message_id),
        );
    };
    let id = format!("{}{:012}", user_id.unsigned_abs(), state.next_callback_id);
    state.next_callback_id += 1;
    let mut query = Map::new();
    query.insert("id".into(), Value::from(id.clone()));
    query.insert("from".into(), json!(chat.user));
    query.insert("message".into(), message.clone());
    query.insert(
        "chat_instance".into(),
        Value::from(format!("{}", user_id.wrapping_mul(7_919))),
    );
    query.insert("data".into(), Value::from(data));
    let mut fields = Map::new();
    fields.insert("callback_query".into(), Value::Object(query));
    let answer = queued(fake, state, fields);
    if answer.status() == StatusCode::OK {
        state.callback_queries.insert(
            id,
            crate::server::PendingCallback {
                pressed_at: std::time::Instant::now(),
            },
        );
    }
    answer
}

/// Queues an update as given; a private-chat message in it also opens (or
/// advances) that user's chat with the bot.
fn raw_update(fake: &Fake, fields: Map<String, Value>) -> Response<Full<Bytes>> {
    let mut guard = fake.state();
    let state = &mut *guard;
    if let Some(Value::Object(inner)) = fields.values().next() {
        let chat = inner.get("chat").and_then(Value::as_object);
        let private = chat.and_then(|c| c.get("type")).and_then(Value::as_str) == Some("private");
        let chat_id = chat.and_then(|c| c.get("id")).and_then(Value::as_i64);
        let message_id = inner.get("message_id").and_then(Value::as_i64);
        if let (true, Some(chat_id), Some(c)) = (private, chat_id, chat) {
            let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
            let entry = state.chats.entry(chat_id).or_insert_with(|| Chat {
                user: TgUser {
                    id: chat_id,
                    is_bot: false,
                    first_name: text("first_name").unwrap_or_else(|| format!("User{chat_id}")),
                    last_name: text("last_name"),
                    username: text("username"),
                    language_code: None,
                },
                next_message_id: 1,
                messages: BTreeMap::new(),
                blocked: false,
            });
            if let Some(id) = message_id {
                entry.next_message_id = entry.next_message_id.max(id + 1);
                entry.messages.insert(id, Value::Object(inner.clone()));
            }
        }
    }
    queued(fake, state, fields)
}
