//! The Telegram fake as a process: the Bot API envelope, getUpdates offsets
//! and long polling, webhooks with delivery and retries, sendMessage, faults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const ADA: i64 = 777_000_111;

fn ids(updates: &Value) -> Vec<i64> {
    updates
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect()
}

#[test]
fn get_me_answers_the_bot() {
    let fake = Fake::start();
    let me = fake.ok("getMe", json!({}));
    assert_eq!(me["id"], BOT_ID);
    assert_eq!(me["is_bot"], true);
    assert_eq!(me["first_name"], "Signet");
    assert_eq!(me["username"], BOT_USERNAME);
    // Method names are case-insensitive and GET works too.
    let r = ureq::get(&format!("{}/bot{TOKEN}/getme", fake.base())).call();
    assert_eq!(reply(r).0, 200);
}

#[test]
fn wrong_token_is_unauthorized_and_never_logged() {
    let fake = Fake::start();
    let (status, body) = fake.call_as("123456789:wrong", "getMe", json!({}));
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    let (status, body) = fake.call("noSuchMethod", json!({}));
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );
    let (_, calls) = fake.control("GET", "/calls", None);
    assert_eq!(calls[0]["method"], "getMe");
    assert_eq!(calls[0]["status"], 401);
    assert!(!calls.to_string().contains("AAE-test_token"));
    assert!(!fake.log().contains("AAE-test_token"));
}

#[test]
fn updates_look_like_telegrams() {
    let fake = Fake::start();
    let update = fake.user_says(ADA, "/start abc");
    let first = update["update_id"].as_i64().unwrap();
    assert!(first > 2_000_000, "{update}");
    let m = &update["message"];
    assert_eq!(m["message_id"], 1);
    assert_eq!(
        m["from"],
        json!({"id": ADA, "is_bot": false, "first_name": "Ada", "username": "ada"})
    );
    assert_eq!(
        m["chat"],
        json!({"id": ADA, "first_name": "Ada", "username": "ada", "type": "private"})
    );
    assert_eq!(m["text"], "/start abc");
    assert_eq!(
        m["entities"],
        json!([{"offset": 0, "length": 6, "type": "bot_command"}])
    );
    let got = fake.ok("getUpdates", json!({}));
    assert_eq!(got, json!([update]));
    assert_eq!(fake.user_says(ADA, "again")["update_id"], first + 1);
}

#[test]
fn offsets_confirm_and_limit_caps() {
    let fake = Fake::start();
    let first = fake.user_says(ADA, "one")["update_id"].as_i64().unwrap();
    for text in ["two", "three", "four"] {
        fake.user_says(ADA, text);
    }
    assert_eq!(
        ids(&fake.ok("getUpdates", json!({"limit": 2}))),
        vec![first, first + 1]
    );
    // Confirm the first two.
    assert_eq!(
        ids(&fake.ok("getUpdates", json!({"offset": first + 2}))),
        vec![first + 2, first + 3]
    );
    // They never come back, even with offset 0.
    assert_eq!(
        ids(&fake.ok("getUpdates", json!({"offset": 0, "limit": 1}))),
        vec![first + 2]
    );
    // Negative offset: only the last one remains.
    assert_eq!(
        ids(&fake.ok("getUpdates", json!({"offset": -1}))),
        vec![first + 3]
    );
    // Form-encoded parameters work too; limit is clamped to 1..=100.
    let r = ureq::post(&format!("{}/bot{TOKEN}/getUpdates", fake.base()))
        .send_form(&[("offset", &(first + 3).to_string()), ("limit", "0")]);
    let (status, body) = reply(r);
    assert_eq!(status, 200);
    assert_eq!(ids(&body["result"]), vec![first + 3]);
    // Confirming everything.
    assert_eq!(
        fake.ok("getUpdates", json!({"offset": first + 4})),
        json!([])
    );
    let (_, hook) = fake.control("GET", "/webhook", None);
    assert_eq!(hook["info"]["pending_update_count"], 0);
}

#[test]
fn long_poll_returns_as_soon_as_a_message_arrives() {
    let fake = Fake::start();
    let base = fake.base();
    let started = Instant::now();
    let poller = std::thread::spawn(move || {
        reply(
            ureq::post(&format!("{base}/bot{TOKEN}/getUpdates")).send_json(json!({"timeout": 20})),
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    let update = fake.user_says(ADA, "/start xyz");
    let (status, body) = poller.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!([update]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn long_poll_times_out_empty() {
    let fake = Fake::start();
    let started = Instant::now();
    assert_eq!(fake.ok("getUpdates", json!({"timeout": 1})), json!([]));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn a_second_long_poll_terminates_the_first() {
    let fake = Fake::start();
    let base = fake.base();
    let first = std::thread::spawn(move || {
        reply(
            ureq::post(&format!("{base}/bot{TOKEN}/getUpdates")).send_json(json!({"timeout": 10})),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let base = fake.base();
    let second = std::thread::spawn(move || {
        reply(
            ureq::post(&format!("{base}/bot{TOKEN}/getUpdates"))
                .send_json(json!({"offset": 0, "timeout": 10})),
        )
    });
    let (status, body) = first.join().unwrap();
    assert_eq!(status, 409);
    assert_eq!(
        body["description"],
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    );
    // The second one is still waiting and gets the message.
    std::thread::sleep(Duration::from_millis(200));
    let update = fake.user_says(ADA, "hello");
    let (status, body) = second.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!([update]));
}

#[test]
fn get_updates_conflicts_with_a_webhook_and_polling_returns_after_delete() {
    let fake = Fake::start();
    let receiver = Receiver::start(vec![]);
    let (status, body) = fake.call("setWebhook", json!({"url": receiver.url()}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ok": true, "result": true, "description": "Webhook was set"})
    );
    let (status, body) = fake.call("getUpdates", json!({}));
    assert_eq!(status, 409);
    assert_eq!(
        body["description"],
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    );
    let info = fake.ok("getWebhookInfo", json!({}));
    assert_eq!(info["url"], receiver.url());
    assert_eq!(info["has_custom_certificate"], false);
    assert_eq!(info["pending_update_count"], 0);
    let (status, body) = fake.call("deleteWebhook", json!({}));
    assert_eq!(
        (status, body["description"].clone()),
        (200, json!("Webhook was deleted"))
    );
    let (_, body) = fake.call("deleteWebhook", json!({}));
    assert_eq!(body["description"], "Webhook is already deleted");
    assert_eq!(fake.ok("getWebhookInfo", json!({}))["url"], "");
    let update = fake.user_says(ADA, "polling again");
    assert_eq!(fake.ok("getUpdates", json!({})), json!([update]));
}

#[test]
fn webhook_delivery_carries_the_secret_and_retries_in_order() {
    let fake = Fake::start();
    let receiver = Receiver::start(vec![500]);
    let pending = fake.user_says(ADA, "/start before");
    fake.ok(
        "setWebhook",
        json!({"url": receiver.url(), "secret_token": "s3cret_-X"}),
    );
    let later = fake.user_says(ADA, "after");
    let got = receiver.wait_for(3, Duration::from_secs(10));
    // The first attempt answered 500, the retry went through, then the next update.
    assert_eq!(got[0].status, 500);
    assert_eq!(got[0].body, pending);
    assert_eq!(got[1].body, pending);
    assert_eq!(got[2].body, later);
    for r in &got {
        assert_eq!(r.secret.as_deref(), Some("s3cret_-X"));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
    }
    let (_, hook) = fake.control("GET", "/webhook", None);
    let deliveries = hook["deliveries"].as_array().unwrap();
    assert_eq!(deliveries[0]["status"], 500);
    assert_eq!(deliveries[0]["update_id"], pending["update_id"]);
    assert_eq!(deliveries[1]["status"], 200);
    let info = fake.ok("getWebhookInfo", json!({}));
    assert_eq!(
        info["last_error_message"],
        "Wrong response from the webhook: 500 Internal Server Error"
    );
    assert_eq!(info["pending_update_count"], 0);
}

#[test]
fn webhook_to_a_closed_port_is_refused() {
    let fake = Fake::start();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (status, body) = fake.call(
        "setWebhook",
        json!({"url": format!("http://127.0.0.1:{port}/hook")}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["description"],
        "Bad Request: bad webhook: Connection refused"
    );
}

#[test]
fn webhook_urls_are_checked_like_telegram() {
    let fake = Fake::start_with(&[]);
    let (status, body) = fake.call("setWebhook", json!({"url": "http://127.0.0.1:8080/hook"}));
    assert_eq!(status, 400);
    assert_eq!(
        body["description"],
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let (_, body) = fake.call("setWebhook", json!({"url": "https://127.0.0.1/hook"}));
    assert_eq!(
        body["description"],
        "Bad Request: bad webhook: IP address 127.0.0.1 is reserved"
    );
    // A second setWebhook within a second is throttled.
    let (status, body) = fake.call("setWebhook", json!({"url": "https://127.0.0.1/hook"}));
    assert_eq!(status, 429);
    assert_eq!(body["parameters"]["retry_after"], 1);
}

#[test]
fn bad_secret_tokens_are_refused() {
    let fake = Fake::start();
    let receiver = Receiver::start(vec![]);
    let (status, body) = fake.call(
        "setWebhook",
        json!({"url": receiver.url(), "secret_token": "has space!"}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["description"],
        "Bad Request: secret token contains unallowed characters"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = fake.call(
        "setWebhook",
        json!({"url": receiver.url(), "secret_token": "a".repeat(257)}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: secret token is too long");
    assert_eq!(fake.ok("getWebhookInfo", json!({}))["url"], "");
}

#[test]
fn send_message_to_a_user_who_wrote_is_recorded() {
    let fake = Fake::start();
    let said = fake.user_says(ADA, "/start abc");
    let m = fake.ok(
        "sendMessage",
        json!({"chat_id": ADA, "text": "Signed in ✅", "reply_to_message_id": said["message"]["message_id"]}),
    );
    assert_eq!(m["message_id"], 2);
    assert_eq!(m["from"]["id"], BOT_ID);
    assert_eq!(m["from"]["is_bot"], true);
    assert_eq!(m["chat"]["id"], ADA);
    assert_eq!(m["chat"]["type"], "private");
    assert_eq!(m["text"], "Signed in ✅");
    assert_eq!(m["reply_to_message"]["text"], "/start abc");
    // chat_id as a string works too.
    fake.ok(
        "sendMessage",
        json!({"chat_id": ADA.to_string(), "text": "<b>bold</b>", "parse_mode": "HTML"}),
    );
    let (_, sent) = fake.control("GET", "/sent", None);
    assert_eq!(sent.as_array().unwrap().len(), 2);
    assert_eq!(sent[0]["chat_id"], ADA);
    assert_eq!(sent[0]["text"], "Signed in ✅");
    assert!(sent[0]["date"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(sent[1]["message"]["text"], "bold");
    fake.control("DELETE", "/sent", None);
    assert_eq!(fake.control("GET", "/sent", None).1, json!([]));
}

#[test]
fn send_message_refusals() {
    let fake = Fake::start();
    fake.user_says(ADA, "hi");
    let cases = [
        (
            json!({"chat_id": 424_242, "text": "hi"}),
            400,
            "Bad Request: chat not found",
        ),
        (
            json!({"chat_id": "@ada", "text": "hi"}),
            400,
            "Bad Request: chat not found",
        ),
        (json!({"text": "hi"}), 400, "Bad Request: chat_id is empty"),
        (
            json!({"chat_id": ADA}),
            400,
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": ADA, "text": ""}),
            400,
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": ADA, "text": "   "}),
            400,
            "Bad Request: message must be non-empty",
        ),
        (
            json!({"chat_id": ADA, "text": "x".repeat(4097)}),
            400,
            "Bad Request: message is too long",
        ),
        (
            json!({"chat_id": ADA, "text": "hi", "parse_mode": "rtf"}),
            400,
            "Bad Request: unsupported parse_mode",
        ),
        (
            json!({"chat_id": ADA, "text": "hi", "reply_to_message_id": 99}),
            400,
            "Bad Request: message to be replied not found",
        ),
    ];
    for (body, status, description) in cases {
        let (got_status, got) = fake.call("sendMessage", body.clone());
        assert_eq!(
            (got_status, got["description"].as_str().unwrap()),
            (status, description),
            "{body}"
        );
        assert_eq!(got["ok"], false);
        assert_eq!(got["error_code"], status);
    }
    // Exactly 4096 is fine.
    fake.ok(
        "sendMessage",
        json!({"chat_id": ADA, "text": "x".repeat(4096)}),
    );
    let (status, body) = fake.call(
        "sendMessage",
        json!({"chat_id": ADA, "text": "1.5", "parse_mode": "MarkdownV2"}),
    );
    assert_eq!(status, 400);
    assert!(body["description"]
        .as_str()
        .unwrap()
        .starts_with("Bad Request: can't parse entities: Character '.' is reserved"));
    fake.control("POST", &format!("/users/{ADA}/block"), None);
    let (status, body) = fake.call("sendMessage", json!({"chat_id": ADA, "text": "hi"}));
    assert_eq!(
        (status, body["description"].as_str().unwrap()),
        (403, "Forbidden: bot was blocked by the user")
    );
}

#[test]
fn fault_429_applies_count_times_to_its_methods() {
    let fake = Fake::start();
    fake.fault(json!({"status": 429, "retry_after": 7, "count": 2, "methods": ["getMe"]}));
    fake.user_says(ADA, "x");
    fake.ok("getUpdates", json!({}));
    for _ in 0..2 {
        let (status, body) = fake.call("getMe", json!({}));
        assert_eq!(status, 429);
        assert_eq!(
            body,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})
        );
    }
    fake.ok("getMe", json!({}));
    let (_, calls) = fake.control("GET", "/calls", None);
    let faulted: Vec<&Value> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["fault"] == true)
        .collect();
    assert_eq!(faulted.len(), 2);
}

#[test]
fn fault_500_and_gateway_pages() {
    let fake = Fake::start();
    fake.fault(json!({"status": 500, "count": 1}));
    fake.fault(json!({"status": 502, "count": 1}));
    let (status, body) = fake.call("getMe", json!({}));
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 500, "description": "Internal Server Error"})
    );
    let (status, body) = fake.call("getMe", json!({}));
    assert_eq!(status, 502);
    assert!(body.as_str().unwrap().contains("502 Bad Gateway"), "{body}");
    fake.ok("getMe", json!({}));
}

#[test]
fn fault_delay_then_answer() {
    let fake = Fake::start();
    fake.fault(json!({"delay_ms": 700, "count": 1, "methods": ["getme"]}));
    let started = Instant::now();
    fake.ok("getMe", json!({}));
    assert!(started.elapsed() >= Duration::from_millis(650));
    let started = Instant::now();
    fake.ok("getMe", json!({}));
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn fault_drop_connection() {
    let fake = Fake::start();
    fake.fault(json!({"drop_connection": true, "count": 2}));
    for _ in 0..2 {
        let r = ureq::post(&format!("{}/bot{TOKEN}/getMe", fake.base())).send_json(json!({}));
        assert!(matches!(r, Err(ureq::Error::Transport(_))), "{r:?}");
    }
    fake.ok("getMe", json!({}));
    let (_, calls) = fake.control("GET", "/calls", None);
    assert_eq!(calls[0]["status"], 0);
}

#[test]
fn raw_updates_are_queued_as_given() {
    let fake = Fake::start();
    let (status, update) = fake.control(
        "POST",
        "/updates",
        Some(json!({"callback_query": {"id": "1", "from": {"id": ADA, "is_bot": false, "first_name": "Ada"}, "data": "x"}})),
    );
    assert_eq!(status, 200);
    assert_eq!(update["callback_query"]["data"], "x");
    // Left out by default, as Telegram does.
    let (status, _) = fake.control(
        "POST",
        "/updates",
        Some(json!({"message_reaction": {"chat": {"id": ADA, "type": "private"}}})),
    );
    assert_eq!(status, 202);
    assert_eq!(fake.ok("getUpdates", json!({})), json!([update]));
}

#[test]
fn health() {
    let fake = Fake::start();
    assert_eq!(
        fake.control("GET", "/health", None),
        (200, json!({"status": "ok"}))
    );
}
