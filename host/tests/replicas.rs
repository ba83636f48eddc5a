//! Several writers on one database, for real: two `signet-host serve`
//! replicas on a fresh PostgreSQL database (the server of
//! `SIGNET_TEST_POSTGRES_URL`; scripts/test.sh sets it up) beside one real
//! signer, plus the `signet-host admin` commands writing at the same time.
//! Where it applies, the same on SQLite (one replica plus the admin
//! commands), including the regression of the journal that cached the chain
//! head.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use signet_proto::audit::AuditEvent;

use common::{
    admin, assert_ok, audit_verify, bootstrap_operator, call, check_chain, code, create_client,
    eventually, fetch_audit, fresh_postgres_db, new_wallet, pid_alive, serve_env, sigkill,
    verify_independently, DevHost, ServeHost, Signer,
};

/// One signer, `n` serve replicas on `db`, an operator token.
struct Cluster {
    db: String,
    replicas: Vec<ServeHost>,
    operator: String,
    _signer: Signer,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    fn start(db: String, n: usize) -> Self {
        Self::start_with(db, n, &[])
    }

    fn start_with(db: String, n: usize, extra: &[(&'static str, String)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let signer = Signer::start(tmp.path());
        let policy = signer.policy(tmp.path());
        let operator = bootstrap_operator(&db);
        let replicas = (0..n)
            .map(|i| {
                let dir = tmp.path().join(format!("replica-{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mut env = serve_env(&signer, &db, &policy);
                env.extend_from_slice(extra);
                ServeHost::start(&dir, &env)
            })
            .collect();
        Self {
            db,
            replicas,
            operator,
            _signer: signer,
            _tmp: tmp,
        }
    }

    fn url(&self, i: usize) -> &str {
        self.replicas[i].url()
    }
}

/// A request that may fail at the transport (a replica being killed).
fn try_call(url: &str, token: &str, method: &str, path: &str, body: Value) -> Option<(u16, Value)> {
    let req = ureq::request(method, &format!("{url}{path}"))
        .timeout(Duration::from_secs(30))
        .set("Authorization", &format!("Bearer {token}"));
    match req.send_json(body) {
        Ok(r) => Some((r.status(), r.into_json().unwrap_or(Value::Null))),
        Err(ureq::Error::Status(s, r)) => Some((s, r.into_json().unwrap_or(Value::Null))),
        Err(_) => None,
    }
}

fn digest(i: u64) -> String {
    format!("{i:064x}")
}

fn checked(wallet: &Value, digest: &str, sig: &Value) -> Value {
    json!({"key_type": wallet["key_type"], "public_key": wallet["public_key"], "digest": digest, "message": null, "signature": sig["signature"]})
}

fn postgres_cluster(label: &str, n: usize) -> Option<Cluster> {
    fresh_postgres_db(label).map(|db| Cluster::start(db, n))
}

#[test]
fn a_wallet_created_on_one_replica_signs_on_the_other() {
    let Some(c) = postgres_cluster("crossreplica", 2) else {
        return;
    };
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let w = new_wallet(c.url(0), &alice, "secp256k1");
    let id = w["id"].as_str().unwrap();
    let (s, shown) = call(
        c.url(1),
        Some(&alice),
        "GET",
        &format!("/v1/wallets/{id}"),
        None,
    );
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["public_key"], w["public_key"]);
    let d = digest(7);
    let (s, sig) = call(
        c.url(1),
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{id}/sign"),
        Some(json!({"digest": d})),
    );
    assert_eq!(s, 200, "{sig}");
    verify_independently(&[checked(&w, &d, &sig)]);
}

#[test]
fn a_wallet_destroyed_on_one_replica_is_gone_on_the_other_within_the_cache_ttl() {
    let Some(c) = postgres_cluster("destroy", 2) else {
        return;
    };
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let w = new_wallet(c.url(0), &alice, "ed25519");
    let path = format!("/v1/wallets/{}", w["id"].as_str().unwrap());
    assert_eq!(call(c.url(1), Some(&alice), "GET", &path, None).0, 200);
    assert_eq!(call(c.url(0), Some(&alice), "DELETE", &path, None).0, 200);
    assert!(
        eventually(Duration::from_secs(10), || {
            call(c.url(1), Some(&alice), "GET", &path, None).0 == 404
        }),
        "replica 1 still serves a destroyed wallet"
    );
}

/// The hits every replica has shared so far (the per-wallet signing buckets).
fn shared_hits(db: &str) -> i64 {
    let out = std::process::Command::new("psql")
        .args([
            db,
            "-tAc",
            "SELECT COALESCE(SUM(hits), 0) FROM rate_limits WHERE bucket LIKE 'wallet:%'",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The per-wallet limit is one budget across replicas: what one admitted,
/// the other counts once the counters were shared (every tenth of a
/// window, at most 1 s).
#[test]
fn a_rate_limit_is_shared_by_the_replicas() {
    let Some(db) = fresh_postgres_db("ratelimit") else {
        return;
    };
    let c = Cluster::start_with(
        db,
        2,
        &[
            ("RATE_LIMIT_PER_IDENTITY_SIGN", "10".to_owned()),
            ("RATE_LIMIT_WINDOW_MS", "86400000".to_owned()),
        ],
    );
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let w = new_wallet(c.url(0), &alice, "p256");
    let path = format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap());
    let sign = |r: usize, i: u64| {
        call(
            c.url(r),
            Some(&alice),
            "POST",
            &path,
            Some(json!({"digest": digest(i)})),
        )
    };
    for i in 0..6 {
        assert_eq!(sign(0, i).0, 200);
    }
    // Replica 0 shares its counts within a second; on a loaded machine
    // (the whole suite runs at once) its flush can be late: wait until the
    // database shows all six, rather than for a fixed time.
    assert!(
        eventually(Duration::from_secs(30), || shared_hits(&c.db) >= 6),
        "replica 0 never shared its hits"
    );
    let statuses: Vec<u16> = (0..6).map(|i| sign(1, 100 + i).0).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429],
        "replica 1 counts replica 0's six"
    );
    assert!(
        eventually(Duration::from_secs(30), || shared_hits(&c.db) >= 10),
        "replica 1 never shared its hits"
    );
    // Replica 0 re-reads the shared counts within a second of its flush.
    std::thread::sleep(Duration::from_millis(2500));
    let (s, v) = sign(0, 200);
    assert_eq!(
        (s, code(&v)),
        (429, "rate_limited"),
        "replica 0 counts replica 1's four"
    );
    assert!(v["retry_after"].as_str().is_some());
}

#[test]
fn an_intent_minted_on_one_replica_is_consumed_on_the_other_and_replays_nowhere() {
    let Some(c) = postgres_cluster("intent", 2) else {
        return;
    };
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let w = new_wallet(c.url(0), &alice, "p256");
    let id = w["id"].as_str().unwrap();
    let (s, intent) = call(
        c.url(0),
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{id}/sign-intent"),
        Some(json!({"digest": digest(9)})),
    );
    assert_eq!(s, 201, "{intent}");
    let ticket = json!({"ticket": intent["ticket"]});
    let path = format!("/v1/wallets/{id}/sign");
    let (s, sig) = call(c.url(1), Some(&alice), "POST", &path, Some(ticket.clone()));
    assert_eq!(s, 200, "{sig}");
    verify_independently(&[checked(&w, &digest(9), &sig)]);
    for replica in [0, 1] {
        let (s, v) = call(
            c.url(replica),
            Some(&alice),
            "POST",
            &path,
            Some(ticket.clone()),
        );
        assert_eq!(
            (s, code(&v)),
            (409, "ticket_replayed"),
            "replica {replica}: {v}"
        );
    }
}

#[test]
fn a_client_revoked_on_one_replica_is_refused_on_both_within_the_cache_ttl() {
    let Some(c) = postgres_cluster("revoke", 2) else {
        return;
    };
    let (s, made) = call(
        c.url(0),
        Some(&c.operator),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": "bob", "tenant": "bob", "scopes": ["wallets:read"]})),
    );
    assert_eq!(s, 201, "{made}");
    let bob = made["token"].as_str().unwrap().to_owned();
    // Both replicas have read (and cached) bob.
    for r in [0, 1] {
        assert_eq!(
            call(c.url(r), Some(&bob), "GET", "/v1/wallets", None).0,
            200
        );
    }
    let (s, v) = call(
        c.url(0),
        Some(&c.operator),
        "DELETE",
        &format!("/v1/admin/api-clients/{}", made["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        call(c.url(0), Some(&bob), "GET", "/v1/wallets", None).0,
        401
    );
    // The other replica within its cache TTL (2 s; 10 s allowed for a loaded box).
    assert!(
        eventually(Duration::from_secs(10), || {
            call(c.url(1), Some(&bob), "GET", "/v1/wallets", None).0 == 401
        }),
        "replica 1 still accepts a revoked client"
    );
}

/// Both replicas sign while `signet-host admin create-client` runs again
/// and again on the same database: one chain, no gap, verified by the CLI.
fn concurrent_writers_keep_one_chain(c: &Cluster) {
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let wallets: Vec<Value> = (0..c.replicas.len())
        .map(|r| new_wallet(c.url(r), &alice, "secp256k1"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let admins = {
        let (db, stop) = (c.db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) || made < 3 {
                admin(
                    &db,
                    &[
                        "create-client",
                        "--name",
                        "x",
                        "--tenant",
                        "t",
                        "--scopes",
                        "sign",
                    ],
                );
                made += 1;
            }
            made
        })
    };
    std::thread::scope(|scope| {
        for (r, w) in wallets.iter().enumerate() {
            for t in 0..3u64 {
                let (url, alice) = (c.url(r), alice.as_str());
                let id = w["id"].as_str().unwrap().to_owned();
                scope.spawn(move || {
                    for i in 0..25u64 {
                        let (s, v) = call(
                            url,
                            Some(alice),
                            "POST",
                            &format!("/v1/wallets/{id}/sign"),
                            Some(json!({"digest": digest(t * 1000 + i)})),
                        );
                        assert_eq!(s, 200, "{v}");
                    }
                });
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    let made = admins.join().unwrap();
    let events = fetch_audit(c.url(0), &c.operator);
    let checked_events = check_chain(&events).unwrap();
    assert_eq!(checked_events, events.len() as u64);
    assert_eq!(
        events.last().unwrap().seq,
        events.len() as u64,
        "seq has a gap"
    );
    let signed = events
        .iter()
        .filter(|e| e.action == "sign" && e.outcome == "ok")
        .count();
    assert_eq!(signed, c.replicas.len() * 3 * 25);
    let created = events
        .iter()
        .filter(|e| e.action == "api_client.create" && e.actor == "operator")
        .count();
    assert_eq!(
        created,
        made + 1,
        "every admin command's event is in the chain"
    );
    let out = audit_verify(c.url(c.replicas.len() - 1), &c.operator);
    assert_ok(&out);
}

#[test]
fn replicas_and_admin_commands_write_one_gapless_chain_on_postgres() {
    if let Some(c) = postgres_cluster("chain", 2) {
        concurrent_writers_keep_one_chain(&c);
    }
}

#[test]
fn a_replica_and_admin_commands_write_one_gapless_chain_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("shared.db").display());
    concurrent_writers_keep_one_chain(&Cluster::start(db, 1));
}

/// SIGKILL one replica while both sign: every 200 it returned is in the
/// audit log with a signature that verifies independently, and the other
/// replica never stops serving.
#[test]
fn killing_one_replica_mid_signing_loses_no_acknowledged_signature() {
    // Load past the default limits (150 signatures a wallet on the survivor).
    let no_limits = [
        ("RATE_LIMIT_PER_USER", "0".to_owned()),
        ("RATE_LIMIT_PER_IDENTITY_SIGN", "0".to_owned()),
    ];
    let Some(c) = fresh_postgres_db("sigkill").map(|db| Cluster::start_with(db, 2, &no_limits))
    else {
        return;
    };
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let workers = 6u64;
    let wallets: Vec<Value> = (0..workers)
        .map(|_| new_wallet(c.url(1), &alice, "secp256k1"))
        .collect();
    let acknowledged: Mutex<HashMap<String, Vec<Value>>> = Mutex::new(HashMap::new());
    let cut_off = std::sync::atomic::AtomicUsize::new(0);
    let victim_acks = std::sync::atomic::AtomicUsize::new(0);
    let victim = c.replicas[0].pid();
    const SURVIVOR_REQUESTS: u64 = 150;
    std::thread::scope(|scope| {
        for (k, w) in wallets.iter().enumerate() {
            let (c, alice, acknowledged, cut_off, victim_acks) =
                (&c, alice.as_str(), &acknowledged, &cut_off, &victim_acks);
            scope.spawn(move || {
                // Even workers sign on the replica that dies (until it does),
                // odd ones on the survivor.
                let replica = k % 2;
                let id = w["id"].as_str().unwrap();
                let requests = if replica == 0 {
                    100_000
                } else {
                    SURVIVOR_REQUESTS
                };
                for i in 0..requests {
                    let d = digest(k as u64 * 1_000_000 + i);
                    let reply = try_call(
                        c.url(replica),
                        alice,
                        "POST",
                        &format!("/v1/wallets/{id}/sign"),
                        json!({"digest": d}),
                    );
                    match reply {
                        Some((200, sig)) => {
                            if replica == 0 {
                                victim_acks.fetch_add(1, Ordering::Relaxed);
                            }
                            acknowledged
                                .lock()
                                .unwrap()
                                .entry(id.to_owned())
                                .or_default()
                                .push(checked(w, &d, &sig));
                        }
                        Some((s, v)) => panic!("replica {replica}: {s} {v}"),
                        None => {
                            assert_eq!(replica, 0, "the surviving replica failed a request");
                            cut_off.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        }
        let victim_acks = &victim_acks;
        scope.spawn(move || {
            // Kill it once it has acknowledged some signatures, mid-load.
            assert!(
                eventually(Duration::from_secs(60), || {
                    victim_acks.load(Ordering::Relaxed) >= 30
                }),
                "the replica to kill acknowledged nothing"
            );
            sigkill(victim);
        });
    });
    assert!(eventually(Duration::from_secs(5), || !pid_alive(victim)));
    let acknowledged = acknowledged.into_inner().unwrap();
    let victim_acknowledged: usize = wallets
        .iter()
        .step_by(2)
        .map(|w| {
            acknowledged
                .get(w["id"].as_str().unwrap())
                .map_or(0, Vec::len)
        })
        .sum();
    assert!(
        victim_acknowledged > 0 && cut_off.into_inner() > 0,
        "the kill must land mid-signing ({victim_acknowledged} acknowledged before it)"
    );
    let events: Vec<AuditEvent> = fetch_audit(c.url(1), &c.operator);
    check_chain(&events).unwrap();
    let mut all = Vec::new();
    for (id, sigs) in &acknowledged {
        let audited = events
            .iter()
            .filter(|e| e.action == "sign" && e.outcome == "ok" && &e.target == id)
            .count();
        assert!(
            audited >= sigs.len(),
            "wallet {id}: {} signatures acknowledged, {audited} audited",
            sigs.len()
        );
        all.extend(sigs.iter().cloned());
    }
    // The survivor served all of its workers' requests.
    let survivor_sigs: usize = wallets
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 2 == 1)
        .map(|(_, w)| {
            acknowledged
                .get(w["id"].as_str().unwrap())
                .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(survivor_sigs, 3 * SURVIVOR_REQUESTS as usize);
    verify_independently(&all);
}

/// The regression behind the journal rebuild: `signet-host admin
/// create-client` against a live host's database used to make every later
/// write of that host fail with 503 until it restarted.
#[test]
fn admin_commands_against_a_live_dev_host_never_wedge_its_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = DevHost::start(&dir);
    let admin_token = host.admin_token();
    let db = format!("sqlite://{}", dir.join("signet.db").display());
    let _ = new_wallet(host.url(), &admin_token, "ed25519");
    for round in 0..3 {
        let token = admin(
            &db,
            &[
                "create-client",
                "--name",
                "ci",
                "--tenant",
                "default",
                "--scopes",
                "wallets:*",
            ],
        );
        let w = new_wallet(host.url(), &admin_token, "p256");
        assert!(w["id"].as_str().is_some(), "round {round}");
        // The offline client works on the live host at once.
        let (s, v) = call(host.url(), Some(token.trim()), "GET", "/v1/wallets", None);
        assert_eq!(s, 200, "{v}");
    }
    let out = audit_verify(host.url(), &admin_token);
    assert_ok(&out);
    assert!(Path::new(&dir.join("signet.db")).exists());
}

/// Issue 26: a freeze asked of one replica stops signing on the other within
/// a second, under load: each signer thread on the other replica gets its
/// first 423 `frozen` within a second of the freeze's answer, and after it
/// never another signature. The propagation is printed (the closing note's
/// number).
#[test]
fn a_freeze_on_one_replica_stops_signing_on_the_other_within_a_second() {
    let no_limits = [
        ("RATE_LIMIT_PER_USER", "0".to_owned()),
        ("RATE_LIMIT_PER_IDENTITY_SIGN", "0".to_owned()),
    ];
    let Some(c) = fresh_postgres_db("freeze").map(|db| Cluster::start_with(db, 2, &no_limits))
    else {
        return;
    };
    let alice = create_client(c.url(0), &c.operator, "alice", &["wallets:*", "sign"]);
    let wallets: Vec<Value> = (0..3)
        .map(|_| new_wallet(c.url(1), &alice, "secp256k1"))
        .collect();
    let signed = std::sync::atomic::AtomicUsize::new(0);
    let frozen_at: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    // Per thread: (when the answer came, status).
    let ledgers: Mutex<Vec<Vec<(std::time::Instant, u16)>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (k, w) in wallets.iter().enumerate() {
            let (c, alice, signed, frozen_at, ledgers) =
                (&c, alice.as_str(), &signed, &frozen_at, &ledgers);
            scope.spawn(move || {
                let id = w["id"].as_str().unwrap();
                let mut ledger = Vec::new();
                let mut refused_since: Option<std::time::Instant> = None;
                for i in 0..100_000u64 {
                    let (s, v) = call(
                        c.url(1),
                        Some(alice),
                        "POST",
                        &format!("/v1/wallets/{id}/sign"),
                        Some(json!({"digest": digest(k as u64 * 1_000_000 + i)})),
                    );
                    let now = std::time::Instant::now();
                    ledger.push((now, s));
                    match s {
                        200 => {
                            signed.fetch_add(1, Ordering::Relaxed);
                        }
                        423 => {
                            assert_eq!(v["error"]["scope"], "tenant:alice", "{v}");
                            refused_since.get_or_insert(now);
                        }
                        other => panic!("{other} {v}"),
                    }
                    // Keep asking for half a second after the first refusal.
                    if refused_since.is_some_and(|t| now - t > Duration::from_millis(500)) {
                        break;
                    }
                    let deadline = frozen_at
                        .lock()
                        .unwrap()
                        .map(|t| t + Duration::from_secs(10));
                    assert!(deadline.is_none_or(|d| now < d), "never refused");
                }
                ledgers.lock().unwrap().push(ledger);
            });
        }
        // Freeze through the first replica once signatures flow.
        assert!(eventually(Duration::from_secs(30), || signed
            .load(Ordering::Relaxed)
            >= 30));
        let (s, v) = call(
            c.url(0),
            Some(&c.operator),
            "POST",
            "/v1/admin/freeze",
            Some(json!({"scope": "tenant:alice", "reason": "drill"})),
        );
        assert_eq!(s, 200, "{v}");
        *frozen_at.lock().unwrap() = Some(std::time::Instant::now());
    });
    let frozen_at = frozen_at.into_inner().unwrap().unwrap();
    let mut worst = Duration::ZERO;
    for ledger in ledgers.into_inner().unwrap() {
        let first = ledger
            .iter()
            .position(|(_, s)| *s == 423)
            .expect("each thread is refused");
        let (when, _) = ledger[first];
        let took = when.saturating_duration_since(frozen_at);
        worst = worst.max(took);
        assert!(
            took <= Duration::from_secs(1),
            "the other replica signed for {took:?} after the freeze"
        );
        assert!(
            ledger[first..].iter().all(|(_, s)| *s == 423),
            "a signature after the first refusal"
        );
    }
    println!(
        "freeze propagation to the other replica under load: first refusal at most {worst:?} after the freeze's answer ({} signatures before)",
        signed.load(Ordering::Relaxed)
    );
}

/// Replica `r`'s `/v1/admin/status`, as the operator.
fn status(c: &Cluster, r: usize) -> Value {
    let (s, v) = call(c.url(r), Some(&c.operator), "GET", "/v1/admin/status", None);
    assert_eq!(s, 200, "replica {r}: {v}");
    v
}

/// The replicas a status lists: `(id, live, this)`, in its order.
fn listed(status: &Value) -> Vec<(String, bool, bool)> {
    status["replicas"]
        .as_array()
        .unwrap_or_else(|| panic!("no replicas in {status}"))
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["live"].as_bool().unwrap(),
                r["this"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The id of the replica that answered `status`.
fn answering(status: &Value) -> String {
    let this: Vec<String> = listed(status)
        .into_iter()
        .filter(|(_, _, this)| *this)
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(this.len(), 1, "exactly one replica answered: {status}");
    this[0].clone()
}

/// Both replicas record themselves at start (a heartbeat every 5 s), so
/// each one's status lists both as live and marks itself alone as `this`.
#[test]
fn the_status_lists_both_replicas_and_says_which_answered() {
    let Some(c) = postgres_cluster("heartbeat", 2) else {
        return;
    };
    // The first heartbeat is written as each starts; allow a loaded box.
    for r in [0, 1] {
        assert!(
            eventually(Duration::from_secs(10), || listed(&status(&c, r)).len()
                == 2),
            "replica {r} does not list both: {}",
            status(&c, r)
        );
    }
    let mut ids = Vec::new();
    let mut answered = Vec::new();
    for r in [0, 1] {
        let v = status(&c, r);
        let seen = listed(&v);
        assert!(seen.iter().all(|(_, live, _)| *live), "replica {r}: {v}");
        for replica in v["replicas"].as_array().unwrap() {
            assert_eq!(replica["version"], v["host"]["version"], "{v}");
            for time in ["started_at", "last_seen_at"] {
                assert!(
                    replica[time].as_str().is_some_and(|t| t.ends_with('Z')),
                    "{v}"
                );
            }
        }
        let mut these: Vec<String> = seen.into_iter().map(|(id, _, _)| id).collect();
        these.sort();
        ids.push(these);
        answered.push(answering(&v));
    }
    assert_eq!(ids[0], ids[1], "both replicas list the same two");
    assert_ne!(
        answered[0], answered[1],
        "each replica is `this` in its own answer"
    );
}

/// A replica killed with SIGKILL stays listed, but not live, once its last
/// heartbeat is more than three periods (15 s) old. Rather than wait 15 s,
/// the test ages the dead replica's row by 20 s once nothing can write it.
#[test]
fn a_killed_replica_is_listed_as_not_live_once_its_heartbeats_are_late() {
    let Some(c) = postgres_cluster("heartbeatkill", 2) else {
        return;
    };
    assert!(
        eventually(Duration::from_secs(10), || listed(&status(&c, 0)).len()
            == 2),
        "replica 0 does not list both: {}",
        status(&c, 0)
    );
    let (survivor, victim) = (answering(&status(&c, 0)), answering(&status(&c, 1)));
    assert!(victim.chars().all(|ch| ch.is_ascii_hexdigit()), "{victim}");
    let pid = c.replicas[1].pid();
    sigkill(pid);
    assert!(eventually(Duration::from_secs(5), || !pid_alive(pid)));
    // A heartbeat the server received just before the kill may still commit.
    std::thread::sleep(Duration::from_millis(500));
    let out = std::process::Command::new("psql")
        .arg(&c.db)
        .args(["-v", "ON_ERROR_STOP=1", "-tAc"])
        .arg(format!(
            "UPDATE replicas SET last_seen_at = last_seen_at - 20000 WHERE id = '{victim}' RETURNING id"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&victim),
        "psql: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = status(&c, 0);
    let mut seen = listed(&v);
    seen.sort();
    let mut expected = vec![(survivor, true, true), (victim, false, false)];
    expected.sort();
    assert_eq!(seen, expected, "{v}");
}
