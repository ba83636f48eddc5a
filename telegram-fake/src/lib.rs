//! `signet-telegram-fake`: a faithful stand-in for Telegram's Bot API
//! server, for Signet's tests. It answers `/bot<token>/<method>` in
//! Telegram's envelope with Telegram's error codes and wording, keeps the
//! bot's update queue with the Bot API server's `getUpdates` offset rules
//! (and its long-poll, conflict and rate quirks), checks and verifies
//! webhooks as Telegram does and delivers updates to them with retries,
//! and records what the bot sends. Tests drive it through a control API.
//!
//! Behaviour is taken from the open-source Bot API server
//! (`tdlib/telegram-bot-api`, `Client.cpp` and `WebhookActor.cpp`) and from
//! what `api.telegram.org` answers; the differences are listed in the
//! crate README.
//!
//! Modules: [`server`] (state and listeners), [`bot`] (the methods),
//! [`queue`] (updates and offsets), [`webhook`] (checks and delivery),
//! [`params`] (argument decoding), [`text`] (lengths, entities, parse
//! modes), [`faults`] and [`control`] (test hooks).

pub mod bot;
pub mod control;
pub mod faults;
pub mod params;
pub mod queue;
pub mod server;
pub mod text;
pub mod webhook;
