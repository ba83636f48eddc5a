#!/usr/bin/env python3
"""A logging JSON-RPC proxy, for seeing which methods a client really calls.

    rpc-log-proxy.py LISTEN_PORT UPSTREAM_URL LOGFILE [--deny PREFIX,...] [--require-auth]

Forwards each POST body (with its Content-Type and Authorization headers) to
UPSTREAM_URL and appends one JSON line per JSON-RPC call to LOGFILE:
{"method", "params" ("<absent>" when the call had no params member), "batch",
"auth", "content_type", "user_agent", "error"?}. "auth" is the Authorization
header as received (the walks' tokens are test tokens), so a run also shows
that each client sent it. Two options make anvil behave more like Signet:
--deny: calls whose method starts with one of the prefixes (e.g.
anvil_,hardhat_) are not forwarded but answered -32601 (method not found), as a
signer forwarding only standard read-only methods would (a batch is split for
that and answered in order); --require-auth: a request without an
Authorization header is answered HTTP 401 with a JSON-RPC error and logged
with "refused": "no Authorization".
Standard library only; listens on 127.0.0.1 (LISTEN_PORT 0: any free port).
Prints "listening PORT" once up.
"""
import argparse
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("upstream")
ap.add_argument("logfile")
ap.add_argument("--deny", default="")
ap.add_argument("--require-auth", action="store_true")
args = ap.parse_args()
PORT, UPSTREAM, LOGFILE = args.port, args.upstream, args.logfile
DENY = tuple(p for p in args.deny.split(",") if p)
lock = threading.Lock()


def denied(call):
    return isinstance(call, dict) and isinstance(call.get("method"), str) and call["method"].startswith(DENY)


def refusal(call):
    return {"jsonrpc": "2.0", "id": call.get("id"),
            "error": {"code": -32601, "message": f"the method {call['method']} does not exist/is not available"}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def forward(self, body):
        headers = {k: self.headers[k] for k in ("Content-Type", "Authorization") if self.headers.get(k)}
        req = urllib.request.Request(UPSTREAM, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            calls = json.loads(body)
        except ValueError:
            calls = None
        batch = isinstance(calls, list)
        listed = calls if batch else [calls]
        if args.require_auth and not self.headers.get("Authorization"):
            status, resps = 401, None
            out = json.dumps({"jsonrpc": "2.0", "id": None,
                              "error": {"code": -32000, "message": "unauthorized"}}).encode()
        elif DENY and any(denied(c) for c in listed):
            passed = [c for c in listed if not denied(c)]
            answers = {}
            status = 200
            if passed:
                status, out = self.forward(json.dumps(passed if batch else passed[0]).encode())
                got = json.loads(out)
                for r in got if isinstance(got, list) else [got]:
                    answers[json.dumps(r.get("id"))] = r
            resps = [refusal(c) if denied(c) else answers.get(json.dumps(c.get("id"))) for c in listed]
            out = json.dumps(resps if batch else resps[0]).encode()
        else:
            status, out = self.forward(body)
            try:
                resps = json.loads(out)
            except ValueError:
                resps = None
        resps = resps if isinstance(resps, list) else [resps]
        by_id = {json.dumps(r.get("id")): r for r in resps if isinstance(r, dict)}
        with lock, open(LOGFILE, "a") as f:
            for c in listed:
                if not isinstance(c, dict):
                    continue
                line = {"method": c.get("method"), "params": c.get("params", "<absent>"), "batch": batch,
                        "auth": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "user_agent": self.headers.get("User-Agent")}
                err = (by_id.get(json.dumps(c.get("id"))) or {}).get("error")
                if err:
                    line["error"] = err
                if status == 401:
                    line["refused"] = "no Authorization"
                    line["error"] = {"code": -32000, "message": "unauthorized"}
                f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("listening", srv.server_address[1], flush=True)
srv.serve_forever()
