#!/usr/bin/env bash
# Fuzzes the live API against its own OpenAPI document with schemathesis
# (PyPI): a `signet-host dev` (the debug build the tests made, or pass
# SIGNET_BIN_DIR) with an operator token; fails on any 5xx and on any response
# that does not conform to /openapi.json (status, body schema, content type,
# headers). Revoking API clients is left out: the fuzzer would revoke its own
# token. Rate limits are off (one token sends thousands of requests a minute). Installs schemathesis into a private virtualenv, idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/schemathesis-venv"
if ! [ -x "$venv/bin/st" ]; then
  echo "installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4,<5'
fi
bin="${SIGNET_BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}"
# Always build (a no-op when up to date): binaries left in a reused target
# directory by an older commit would fuzz old code.
[ -n "${SIGNET_BIN_DIR:-}" ] || cargo build --locked -p signet-host -p signet-enclave
data=$(mktemp -d)
out="$data/host.out"
RATE_LIMIT_AUTH_FAILURES_PER_IP=0 RATE_LIMIT_PER_USER=0 RATE_LIMIT_PER_IDENTITY_SIGN=0 SIGNET_LOG=warn "$bin/signet-host" dev --data-dir "$data/d" --listen 127.0.0.1:0 >"$out" 2>"$data/host.log" &
host=$!
trap 'kill "$host" 2>/dev/null; wait "$host" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on //p' "$out" | head -n1)
[ -n "$url" ] || { echo "signet-host dev did not start:" >&2; cat "$data/host.log" >&2; exit 1; }
echo "schemathesis $("$venv/bin/st" --version) against $url"
"$venv/bin/st" run "$url/openapi.json" \
  -H "Authorization: Bearer $(cat "$data/d/admin-token")" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --exclude-operation-id revoke_client \
  --max-examples 40 --request-timeout 20 --generation-codec ascii --no-color
