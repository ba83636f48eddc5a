#!/usr/bin/env python3
"""Audit search on a million-event log (issue 23): how long a filtered page
of `GET /v1/audit` takes, against the unfiltered first page measured in the
same run (the machine is shared and noisy: read the ratios).

    scripts/bench-audit-search.py [--host target/debug/signet-host]
        [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--events 1000000]

Starts `signet-host dev` once to create the schema, stops it, writes N
synthetic events straight into the database (their hash chain is not valid:
this measures the query, not the chain), starts it again and times each query
(median of 30, after 3 warm-ups), on SQLite and, with --postgres, on a fresh
PostgreSQL database.
"""
import argparse, json, os, random, re, signal, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.request

QUERIES = [
    ("unfiltered first page (baseline)", "limit=100"),
    ("action, rare (100 of N)", "action=LOGIN_REFUSED&limit=100"),
    ("action + outcome", "action=SCOPE_DENY&outcome=denied&limit=100"),
    ("actor (one client of 1,000)", "actor=client:c7&limit=100"),
    ("target (one wallet of 100,000)", "target=w_4242&limit=100"),
    ("outcome, coded and rare", "outcome=error:enclave_unavailable&limit=100"),
    ("outcome prefix (denied, 4 %)", "outcome=denied&limit=100"),
    ("one day (since + until)", "since=2026-06-01T00:00:00Z&until=2026-06-02T00:00:00Z&limit=100"),
]

def rows(n, first_seq):
    rnd = random.Random(7)
    start = 1767225600  # 2026-01-01
    for i in range(n):
        r = rnd.random()
        c = rnd.randrange(1000)
        if i % (n // 100 or 1) == 0:
            action, outcome, actor = "LOGIN_REFUSED", "denied:not_me", f"telegram:{rnd.randrange(10**6)}"
        elif r < 0.03:
            action, outcome, actor = "AUTH_DENY", "denied:bad_token", "anonymous"
        elif r < 0.04:
            action, outcome, actor = "SCOPE_DENY", "denied:wallets:write", f"client:c{c}"
        elif r < 0.09:
            action, outcome, actor = "sign.intent", "ok", f"client:c{c}"
        elif r < 0.0901:
            action, outcome, actor = "sign", "error:enclave_unavailable", f"client:c{c}"
        else:
            action, outcome, actor = "sign", "ok", f"client:c{c}"
        t = start + i * 30
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"
        yield (first_seq + i, at, actor, action, f"w_{rnd.randrange(100000)}", outcome, "00" * 32, "11" * 32, f"t{c % 100}")

def start(host, data, env):
    p = subprocess.Popen([host, "dev", "--listen", "127.0.0.1:0", "--data-dir", data],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "SIGNET_LOG": "warn", **env}, text=True)
    for line in p.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return p, m.group(1)
    raise SystemExit("signet-host dev did not start")

def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)

def timed(url, token, query):
    req = urllib.request.Request(f"{url}/v1/audit?{query}", headers={"Authorization": f"Bearer {token}"})
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    return (time.perf_counter() - t) * 1000, len(body["events"])

def measure(label, host, data, env):
    p, url = start(host, data, env)
    token = open(os.path.join(data, "admin-token")).read().strip()
    results = []
    for name, q in QUERIES:
        for _ in range(3):
            timed(url, token, q)
        samples = [timed(url, token, q) for _ in range(30)]
        results.append((name, statistics.median(s[0] for s in samples), samples[0][1]))
    stop(p)
    base = results[0][1]
    print(f"\n{label}")
    print(f"| query | events returned | median ms | × baseline |\n|---|---:|---:|---:|")
    for name, ms, n in results:
        print(f"| {name} | {n} | {ms:.1f} | {ms / base:.2f} |")

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--host", default="target/debug/signet-host")
    a.add_argument("--postgres")
    a.add_argument("--events", type=int, default=1_000_000)
    args = a.parse_args()
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "sqlite")
        stop(start(args.host, data, {})[0])
        db = sqlite3.connect(os.path.join(data, "signet.db"))
        first = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events").fetchone()[0]
        t = time.time()
        db.executemany("INSERT INTO audit_events (seq, at, actor, action, target, outcome, prev_hash, hash, tenant) VALUES (?,?,?,?,?,?,?,?,?)", rows(args.events, first))
        db.commit(); db.execute("ANALYZE"); db.commit(); db.close()
        print(f"SQLite: {args.events} events written in {time.time() - t:.0f} s", file=sys.stderr)
        measure(f"SQLite, {args.events:,} events", args.host, data, {})
        if args.postgres:
            name = f"signet_bench_audit_{os.getpid()}"
            subprocess.run(["psql", args.postgres, "-qc", f"CREATE DATABASE {name}"], check=True)
            url = args.postgres.rsplit("/", 1)[0] + "/" + name
            pdata = os.path.join(d, "pg")
            env = {"SIGNET_DATABASE_URL": url}
            stop(start(args.host, pdata, env)[0])
            t = time.time()
            copy = subprocess.Popen(["psql", url, "-qc", "COPY audit_events (seq, at, actor, action, target, outcome, prev_hash, hash, tenant) FROM STDIN"], stdin=subprocess.PIPE, text=True)
            first = int(subprocess.run(["psql", url, "-Atc", "SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events"], capture_output=True, text=True).stdout)
            for r in rows(args.events, first):
                copy.stdin.write("\t".join(map(str, r)) + "\n")
            copy.stdin.close(); copy.wait()
            subprocess.run(["psql", url, "-qc", "ANALYZE audit_events"], check=True)
            print(f"PostgreSQL: {args.events} events written in {time.time() - t:.0f} s", file=sys.stderr)
            try:
                measure(f"PostgreSQL, {args.events:,} events", args.host, pdata, env)
            finally:
                subprocess.run(["psql", args.postgres, "-qc", f"DROP DATABASE {name}"])

main()
