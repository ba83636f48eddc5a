//! Login through Telegram against `signet-telegram-fake` (a Bot API server
//! the project owns), over real HTTP in both modes: long polling (`dev`) and
//! the webhook (`serve`), with Telegram's failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    call, code, eventually, free_port, log_text, serve_env, DevHost, ServeHost, Signer,
    TelegramFake as Fake,
};
use serde_json::{json, Value};

const TOKEN: &str = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
const BOT: &str = "SignetLoginBot";
const WEBHOOK_SECRET: &str = "Wq8tX2vL9pR4nK7sB3mY6hJ1cF5dG0zA-_xEuT";

fn challenge(url: &str) -> Value {
    let (s, c) = call(url, None, "POST", "/v1/auth/challenge", None);
    assert_eq!(s, 201, "{c}");
    c
}

fn verify(url: &str, c: &Value) -> (u16, Value) {
    call(
        url,
        None,
        "POST",
        "/v1/auth/verify",
        Some(json!({"challenge_id": c["challenge_id"], "verifier": c["verifier"]})),
    )
}

/// The page's code of challenge `c`.
fn page_code(c: &Value) -> &str {
    c["code"].as_str().unwrap()
}

/// The whole flow: challenge → deep link → `/start` in Telegram → verify →
/// wallet → sign → logout → refused.
fn seed_flow(url: &str, fake: &Fake, user: i64) {
    seed_flow_logged(url, fake, user, None);
}

fn seed_flow_logged(url: &str, fake: &Fake, user: i64, log: Option<&std::path::Path>) {
    let c = challenge(url);
    let link = c["deep_link"].as_str().unwrap();
    let id = c["challenge_id"].as_str().unwrap();
    assert_eq!(link, format!("https://t.me/{BOT}?start={id}"));
    assert_eq!(verify(url, &c).0, 409, "pending before Telegram");
    fake.say(user, &format!("/start {id}"));
    let question = fake.press_on(user, &c, page_code(&c));
    let buttons = question["reply_markup"]["inline_keyboard"].to_string();
    assert!(
        buttons.contains(&format!("\"text\":\"{}\"", page_code(&c))) && buttons.contains("Not me"),
        "{question}"
    );
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(30), || {
            last = verify(url, &c);
            last.0 == 200
        }),
        "{last:?}\ncalls: {}\nhost log: {}",
        fake.get("/calls"),
        log.map(log_text).unwrap_or_default()
    );
    let session = last.1;
    assert_eq!(session["user"]["telegram_user_id"], user);
    assert!(eventually(Duration::from_secs(10), || fake
        .sent_to(user)
        .iter()
        .any(|t| t.contains("signed in"))));
    let t = session["token"].as_str().unwrap();
    let (s, w) = call(
        url,
        Some(t),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!(s, 201, "{w}");
    let (s, v) = call(
        url,
        Some(t),
        "POST",
        &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
        Some(json!({"digest": "77".repeat(32)})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(call(url, Some(t), "POST", "/v1/auth/logout", None).0, 204);
    assert_eq!(call(url, Some(t), "GET", "/v1/wallets", None).0, 401);
}

#[test]
fn polling_mode_resolves_challenges_through_telegram() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(dir.path(), TOKEN, BOT);
    // Telegram fails at first: a 429 and a 500 on getUpdates.
    fake.faults(json!({"status": 429, "retry_after": 1, "count": 1, "methods": ["getUpdates"]}));
    fake.faults(json!({"status": 500, "count": 1, "methods": ["getUpdates"]}));
    let host = DevHost::command(&dir.path().join("host"))
        .with_telegram(&fake)
        .start();
    let url = host.url();
    // With a bot, only Telegram resolves challenges.
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/auth/challenge",
        Some(json!({"telegram_user_id": 5})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    seed_flow_logged(url, &fake, 9001, Some(host.log_path()));
    // A /start for an unknown challenge, a challenge someone else resolved,
    // and plain chatter: answered or ignored, nothing resolved.
    fake.say(9002, "/start ch_doesnotexist");
    fake.say(9003, "hello bot");
    let c = challenge(url);
    fake.open_and_press(9004, &c, page_code(&c));
    assert!(eventually(Duration::from_secs(20), || verify(url, &c).0 == 200));
    fake.say(
        9005,
        &format!("/start {}", c["challenge_id"].as_str().unwrap()),
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            fake.sent_to(9002)
                .iter()
                .any(|t| t.contains("not a Signet sign-in link"))
                && fake
                    .sent_to(9005)
                    .iter()
                    .any(|t| t.contains("expired or was already answered"))
        }),
        "{:?}",
        fake.get("/sent")
    );
    assert!(fake.sent_to(9003).is_empty(), "chatter is ignored");
    // The offset is kept: a restarted host replays nothing (one answer each).
    host.stop();
    let host = DevHost::command(&dir.path().join("host"))
        .with_telegram(&fake)
        .start();
    seed_flow(host.url(), &fake, 9006);
    // The question and "signed in".
    assert_eq!(fake.sent_to(9001).len(), 2, "{:?}", fake.sent_to(9001));
    assert!(
        !log_text(host.log_path()).contains(TOKEN),
        "the bot token is never logged"
    );
}

/// A Telegram that hangs: the long poll gets no answer (the host gives up
/// 10 s past its long-poll timeout and polls again), and a reply hangs past
/// its 10 s. Nothing is lost: the update is taken on the next poll, the
/// sign-in completes, and the poller goes on to the next user.
#[test]
fn a_telegram_that_times_out_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(dir.path(), TOKEN, BOT);
    fake.faults(json!({"delay_ms": 14000, "count": 1, "methods": ["getUpdates"]}));
    fake.faults(json!({"delay_ms": 13000, "count": 1, "methods": ["sendMessage"]}));
    let host = DevHost::command(&dir.path().join("host"))
        .with_telegram(&fake)
        .envs([("TELEGRAM_POLL_TIMEOUT_SECONDS", "1")])
        .start();
    let url = host.url();
    let first = challenge(url);
    let id = first["challenge_id"].as_str().unwrap();
    fake.say(9101, &format!("/start {id}"));
    // The question may be the reply that hung (lost with its connection):
    // the person then presses Start again and is asked again, with the
    // same numbers.
    if !eventually(Duration::from_secs(25), || {
        fake.keyboard_for(9101, id).is_some()
    }) {
        fake.say(9101, &format!("/start {id}"));
    }
    fake.press_on(9101, &first, page_code(&first));
    assert!(
        eventually(Duration::from_secs(60), || verify(url, &first).0 == 200),
        "{}",
        log_text(host.log_path())
    );
    // The poller is not stuck behind the hung reply: the next user signs in
    // and is answered.
    let second = challenge(url);
    fake.open_and_press(9102, &second, page_code(&second));
    assert!(eventually(Duration::from_secs(30), || verify(url, &second)
        .0
        == 200));
    assert!(eventually(Duration::from_secs(20), || fake
        .sent_to(9102)
        .iter()
        .any(|t| t.contains("signed in"))));
    let log = log_text(host.log_path());
    assert!(
        log.contains("Telegram polling failed") && log.contains("getUpdates: Network Error"),
        "the hung poll is logged as such: {log}"
    );
    assert!(
        log.contains("could not answer in Telegram") && log.contains("sendMessage"),
        "the hung reply is logged: {log}"
    );
    assert!(!log.contains(TOKEN), "the bot token is never logged");
}

#[test]
fn webhook_mode_takes_updates_only_with_the_secret_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(dir.path(), TOKEN, BOT);
    let signer = Signer::start(dir.path());
    let policy = signer.policy(dir.path());
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/telegram-webhook");
    let mut env = serve_env(&signer, &db, &policy);
    env.extend(fake.env());
    env.extend([
        ("TELEGRAM_WEBHOOK_URL", hook.clone()),
        ("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
    ]);
    let host = ServeHost::start_on(dir.path(), &env, port);
    let url = host.url();
    assert!(
        eventually(Duration::from_secs(30), || fake.get("/webhook")["webhook"]
            ["url"]
            == hook.as_str()),
        "{}",
        fake.get("/webhook")
    );
    seed_flow(url, &fake, 8001);
    // The endpoint refuses without the secret or with another one.
    let update = json!({"update_id": 1, "message": {"message_id": 1, "from": {"id": 8002, "is_bot": false, "first_name": "M"}, "chat": {"id": 8002, "type": "private"}, "date": 0, "text": "/start ch_x"}});
    let post = |secret: Option<&str>, body: &Value| {
        let mut r = ureq::post(&format!("{url}/telegram-webhook"));
        if let Some(s) = secret {
            r = r.set("X-Telegram-Bot-Api-Secret-Token", s);
        }
        match r.send_json(body.clone()) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(post(None, &update), 401);
    assert_eq!(
        post(Some("wrong-secret-0123456789abcdefghijklmnopq"), &update),
        401
    );
    // Shapes it does not handle are acknowledged and ignored.
    for odd in [
        json!({"update_id": 2, "edited_message": {"text": "x"}}),
        json!({"update_id": 3}),
        json!([1, 2]),
        json!("text"),
    ] {
        assert_eq!(post(Some(WEBHOOK_SECRET), &odd), 200, "{odd}");
    }
    // Not JSON, or too large.
    let raw = |body: &[u8]| match ureq::post(&format!("{url}/telegram-webhook"))
        .set("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
        .send_bytes(body)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(raw(b"not json"), 400);
    assert_eq!(raw(&vec![b' '; 70 * 1024]), 413);
    // The same update twice (Telegram retries): handled once. (User 8002
    // writes to the bot first: a bot can only answer who wrote to it.)
    fake.say(8002, "hi");
    let c = challenge(url);
    let mut again = update.clone();
    again["update_id"] = json!(424242);
    again["message"]["text"] = json!(format!("/start {}", c["challenge_id"].as_str().unwrap()));
    assert_eq!(post(Some(WEBHOOK_SECRET), &again), 200);
    assert_eq!(post(Some(WEBHOOK_SECRET), &again), 200);
    assert!(eventually(Duration::from_secs(10), || fake
        .sent_to(8002)
        .len()
        == 1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.sent_to(8002).len(), 1, "one question for one update");
    assert_eq!(verify(url, &c).0, 409, "not confirmed yet");
    // The press comes back as a callback_query through the webhook.
    fake.press_on(8002, &c, page_code(&c));
    assert!(eventually(Duration::from_secs(20), || verify(url, &c).0 == 200));
    assert!(eventually(Duration::from_secs(10), || fake
        .callback_answers()
        .iter()
        .filter(|a| a.contains("signed in"))
        .count()
        == 2));
    // getUpdates is refused while the webhook is set: nothing polls.
    let calls: Vec<Value> = serde_json::from_value(fake.get("/calls")).unwrap();
    assert!(
        calls.iter().all(|c| c["method"] != "getUpdates"),
        "{calls:?}"
    );
}

/// Two replicas on one PostgreSQL database poll with one bot token: only
/// one polls at a time (Telegram would end a second long poll with 409), and
/// challenges made on either replica resolve.
#[test]
fn two_replicas_poll_with_one_poller() {
    let Some(db) = common::fresh_postgres_db("telegram_poller") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(dir.path(), TOKEN, BOT);
    let signer = Signer::start(dir.path());
    let policy = signer.policy(dir.path());
    let replicas: Vec<ServeHost> = (0..2)
        .map(|i| {
            let d = dir.path().join(format!("r{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let mut env = serve_env(&signer, &db, &policy);
            env.extend(fake.env());
            ServeHost::start(&d, &env)
        })
        .collect();
    for (i, r) in replicas.iter().enumerate() {
        let c = challenge(r.url());
        fake.open_and_press(7000 + i as i64, &c, page_code(&c));
        // Verified on the other replica: one database.
        let other = replicas[1 - i].url();
        assert!(eventually(Duration::from_secs(30), || verify(other, &c).0 == 200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let calls: Vec<Value> = serde_json::from_value(fake.get("/calls")).unwrap();
    let polls: Vec<&Value> = calls
        .iter()
        .filter(|c| c["method"] == "getUpdates")
        .collect();
    assert!(!polls.is_empty());
    assert!(
        polls.iter().all(|c| c["status"] != 409),
        "two pollers at once: {polls:?}"
    );
}

/// Runs `sql` on the dev host's SQLite database behind its back.
fn sqlite(db: &std::path::Path, sql: &str) {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", db.display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::Executor::execute(&mut conn, sqlx::raw_sql(sql))
            .await
            .unwrap();
    });
}

/// The offsets of the `getUpdates` calls the fake has seen.
fn polled_offsets(fake: &Fake) -> Vec<u64> {
    fake.get("/calls")
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == "getUpdates")
        .filter_map(|c| c["params"]["offset"].as_u64())
        .collect()
}

/// The stored offset cannot be read (the database failed): the poller waits
/// for the database instead of polling Telegram from offset 0, which would
/// take every update Telegram still holds again and lose the record of
/// where it stood.
#[test]
fn a_database_failure_never_restarts_polling_from_offset_zero() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(dir.path(), TOKEN, BOT);
    let data = dir.path().join("host");
    let host = DevHost::command(&data)
        .with_telegram(&fake)
        .envs([("TELEGRAM_POLL_TIMEOUT_SECONDS", "1")])
        .start();
    let url = host.url();
    let first = challenge(url);
    fake.open_and_press(9201, &first, page_code(&first));
    assert!(eventually(Duration::from_secs(30), || verify(url, &first)
        .0
        == 200));
    assert!(eventually(Duration::from_secs(10), || polled_offsets(
        &fake
    )
    .iter()
    .any(|o| *o > 0)));
    let reached = polled_offsets(&fake).into_iter().max().unwrap();

    // The offset's table disappears: reading it fails.
    sqlite(
        &data.join("signet.db"),
        "ALTER TABLE export_cursors RENAME TO export_cursors_hidden",
    );
    ureq::delete(&format!("{}/calls", fake.control))
        .call()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let during = polled_offsets(&fake);
    assert!(
        during.iter().all(|o| *o >= reached),
        "polled from {during:?} while the offset could not be read (it stood at {reached})\n{}",
        log_text(host.log_path())
    );
    assert!(
        log_text(host.log_path()).contains("Telegram polling failed"),
        "the failure is logged"
    );

    // The database answers again: polling goes on from where it stood.
    sqlite(
        &data.join("signet.db"),
        "ALTER TABLE export_cursors_hidden RENAME TO export_cursors",
    );
    let second = challenge(url);
    fake.open_and_press(9202, &second, page_code(&second));
    assert!(
        eventually(Duration::from_secs(90), || verify(url, &second).0 == 200),
        "{}",
        log_text(host.log_path())
    );
    assert!(polled_offsets(&fake).iter().all(|o| *o >= reached));
}

/// `POST /v1/auth/challenge` as a browser with this `User-Agent`.
fn challenge_as(url: &str, user_agent: &str) -> Value {
    let r = ureq::post(&format!("{url}/v1/auth/challenge"))
        .set("User-Agent", user_agent)
        .send_bytes(b"");
    let c: Value = r.unwrap().into_json().unwrap();
    assert!(c["verifier"].as_str().unwrap().starts_with("chv_"), "{c}");
    let code = page_code(&c);
    assert!(
        code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()) && code >= "10",
        "{c}"
    );
    assert!(
        !c["deep_link"]
            .as_str()
            .unwrap()
            .contains(c["verifier"].as_str().unwrap())
            && !c["qr_svg"].as_str().unwrap().contains("chv_"),
        "the verifier never goes into the link"
    );
    c
}

/// The hijack that was reproduced on a live host, step by step: an
/// attacker creates a challenge and sends its `t.me` link to a victim, who
/// taps Start. Before, the bot said "You are signed in" and the attacker's
/// verify got the victim's session. Now the bot asks the victim to press
/// the number on *their* screen (which they do not have), says what is
/// asking, and nothing resolves until that number is pressed by the
/// person who opened the link: "Not me" or another number cancels the
/// challenge (`LOGIN_REFUSED`). A bystander who saw the QR code holds no
/// verifier and gets nothing, not even the real user's session.
#[test]
fn the_login_hijack_fails_at_every_step() {
    const VICTIM: i64 = 9301;
    const OWNER: i64 = 9302;
    const BYSTANDER: i64 = 9303;
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(dir.path(), TOKEN, BOT);
    let host = DevHost::command(&dir.path().join("host"))
        .with_telegram(&fake)
        .envs([("TELEGRAM_POLL_TIMEOUT_SECONDS", "1")])
        .start();
    let url = host.url();
    let admin = host.admin_token();
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36";

    // 1. The victim taps Start on the attacker's link: asked, not signed in.
    let attack = challenge_as(url, chrome);
    let question = fake.open_and_press(VICTIM, &attack, "Not me");
    let text = question["text"].as_str().unwrap();
    assert!(
        text.contains("From: 127.0.0.1, Chrome 131 on Linux")
            && text.contains(" UTC")
            && text.contains("Not me")
            && !text.contains("signed in to Signet."),
        "the question says what asks: {text}"
    );
    let rows = question["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap();
    let numbers: Vec<&str> = rows[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), 3, "{question}");
    assert!(numbers.contains(&page_code(&attack)), "{numbers:?}");
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "ascending: {numbers:?}"
    );
    assert_eq!(rows[1][0]["text"], "Not me");
    // 2. "Not me": the attacker's verify never yields a session.
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(20), || {
            last = verify(url, &attack);
            last.0 == 410
        }),
        "{last:?}"
    );
    assert_eq!(code(&last.1), "challenge_refused", "{}", last.1);
    common::assert_audited(url, &admin, "LOGIN_REFUSED (not me)", |e| {
        e.action == "LOGIN_REFUSED"
            && e.actor == format!("telegram:{VICTIM}")
            && e.target == attack["challenge_id"].as_str().unwrap()
            && e.outcome == "denied:not_me"
    });
    assert!(eventually(Duration::from_secs(10), || fake
        .sent_to(VICTIM)
        .iter()
        .any(|t| t.contains("nobody was signed in"))));
    // Pressing again on the cancelled question does nothing.
    let (s, _) = fake.press(VICTIM, &question["message_id"], page_code(&attack));
    assert_eq!(s, 200);
    assert!(eventually(Duration::from_secs(20), || fake
        .callback_answers()
        .iter()
        .any(|a| a.contains("no longer open"))));
    assert_eq!(verify(url, &attack).0, 410);

    // 3. The attacker tries again; the victim guesses a number: unless it
    //    is the page's, the challenge is cancelled.
    let again = challenge_as(url, chrome);
    let id = again["challenge_id"].as_str().unwrap();
    fake.say(VICTIM, &format!("/start {id}"));
    let mut question = None;
    assert!(eventually(Duration::from_secs(30), || {
        question = fake.keyboard_for(VICTIM, id);
        question.is_some()
    }));
    let question = question.unwrap();
    let wrong = question["reply_markup"]["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .find(|n| *n != page_code(&again))
        .unwrap()
        .to_owned();
    assert_eq!(fake.press(VICTIM, &question["message_id"], &wrong).0, 200);
    assert!(
        eventually(Duration::from_secs(20), || verify(url, &again).0 == 410),
        "a wrong code cancels"
    );
    common::assert_audited(url, &admin, "LOGIN_REFUSED (wrong code)", |e| {
        e.action == "LOGIN_REFUSED" && e.target == id && e.outcome == "denied:wrong_code"
    });

    // 4. Only the account that opened the link answers: a callback for it
    //    from another account (forged into the update stream) is refused.
    let third = challenge_as(url, chrome);
    let id = third["challenge_id"].as_str().unwrap();
    fake.say(VICTIM, &format!("/start {id}"));
    assert!(eventually(Duration::from_secs(30), || fake
        .keyboard_for(VICTIM, id)
        .is_some()));
    fake.say(BYSTANDER, "hi");
    ureq::post(&format!("{}/updates", fake.control))
        .send_json(json!({"callback_query": {"id": "4242", "from": {"id": BYSTANDER, "is_bot": false, "first_name": "B"}, "chat_instance": "1", "data": format!("login:{id}:{}", page_code(&third))}}))
        .unwrap();
    // A second account opening the same link is told it is taken.
    fake.say(BYSTANDER, &format!("/start {id}"));
    assert!(
        eventually(Duration::from_secs(20), || fake
            .sent_to(BYSTANDER)
            .iter()
            .any(|t| t.contains("opened from another Telegram account"))),
        "{}",
        fake.get("/sent")
    );
    assert_eq!(verify(url, &third).0, 409, "still pending");

    // 5. The owner signs in; a bystander who saw the QR code (the
    //    challenge id) and races the browser gets nothing.
    let mine = challenge_as(url, chrome);
    fake.open_and_press(OWNER, &mine, page_code(&mine));
    let bystander = |body: Value| call(url, None, "POST", "/v1/auth/verify", Some(body));
    let (s, v) = bystander(json!({"challenge_id": mine["challenge_id"]}));
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    let forged = format!("chv_{}", "ab".repeat(32));
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(20), || {
            // Resolved by now or not, a wrong verifier is "no such challenge".
            last = bystander(json!({"challenge_id": mine["challenge_id"], "verifier": forged}));
            last.0 == 404
                && fake
                    .callback_answers()
                    .iter()
                    .any(|a| a.contains("You are signed in"))
        }),
        "{last:?}"
    );
    let session = verify(url, &mine);
    assert_eq!(session.0, 200, "{}", session.1);
    assert_eq!(session.1["user"]["telegram_user_id"], OWNER);
    let (s, _) = bystander(json!({"challenge_id": mine["challenge_id"], "verifier": forged}));
    assert_eq!(s, 404);
    assert_eq!(verify(url, &mine).0, 409, "used");
    assert!(
        !log_text(host.log_path()).contains(mine["verifier"].as_str().unwrap()),
        "the verifier is never logged"
    );
}
