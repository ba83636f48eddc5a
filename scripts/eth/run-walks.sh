#!/usr/bin/env bash
# Runs the four Ethereum client walks (ethers v6, viem v2, web3.py, Foundry
# cast) against a JSON-RPC signer, one after the other (they share the wallet's
# nonce), and reports "eth walks: N passed, N failed".
#
#   scripts/eth/run-walks.sh           the signer given by the environment:
#       SIGNET_ETH_URL, SIGNET_ETH_TOKEN, SIGNET_ETH_ADDRESS, SIGNET_ETH_UPSTREAM,
#       SIGNET_ETH_FUNDER_KEY [, SIGNET_ETH_FOREIGN_ADDRESS, SIGNET_ETH_ANVIL_QUIRKS]
#   scripts/eth/run-walks.sh --anvil   self-test with no Signet: starts anvil on
#       a free port and uses it as both signer (its account #1 is the wallet,
#       anvil ignores the token) and node (account #0 funds), behind the logging
#       proxy, which, as Signet would, answers anvil_*/hardhat_*/evm_* calls
#       -32601 and requests without an Authorization header HTTP 401. The
#       wallet's balance is zeroed before each walk, so every walk's funding
#       path runs. SIGNET_ETH_ANVIL_QUIRKS=1 lets web3py-walk.py accommodate
#       anvil (see there).
#
# Optional: SIGNET_ETH_WALKS (default "ethers viem web3py cast"); SIGNET_ETH_RPC_LOG=FILE
# puts the logging proxy (scripts/eth/rpc-log-proxy.py) in front of the signer
# and prints, per client, the JSON-RPC methods it called (always on with --anvil).
# The tools come from scripts/eth-deps.sh (sourced here unless SIGNET_REQUIRE_ETH
# is already set by it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "${SIGNET_REQUIRE_ETH:-}" != 1 ] || [ -z "${SIGNET_CAST:-}" ]; then
  # shellcheck source=../eth-deps.sh
  source "$here/../eth-deps.sh"
fi

pids=()
tmp=$(mktemp -d)
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_rpc() { # url: until it answers eth_chainId (30 s)
  local _
  for _ in $(seq 1 150); do
    "$SIGNET_CAST" chain-id --rpc-url "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "no JSON-RPC answer at $1" >&2
  return 1
}

anvil_mode=0
case "${1:-}" in
  --anvil) anvil_mode=1 ;;
  "") ;;
  *)
    echo "usage: $0 [--anvil]" >&2
    exit 2
    ;;
esac

proxy_opts=()
if ((anvil_mode)); then
  port=$(free_port)
  "$SIGNET_ANVIL" --port "$port" --silent >"$tmp/anvil.log" 2>&1 &
  pids+=($!)
  mnemonic="test test test test test test test test test test test junk" # anvil's default accounts
  export SIGNET_ETH_UPSTREAM="http://127.0.0.1:$port"
  export SIGNET_ETH_URL="$SIGNET_ETH_UPSTREAM"
  export SIGNET_ETH_TOKEN="sgn_selftest_notasecret"
  SIGNET_ETH_FUNDER_KEY=$("$SIGNET_CAST" wallet private-key "$mnemonic" 0)
  SIGNET_ETH_ADDRESS=$("$SIGNET_CAST" wallet address --private-key "$("$SIGNET_CAST" wallet private-key "$mnemonic" 1)")
  export SIGNET_ETH_FUNDER_KEY SIGNET_ETH_ADDRESS
  export SIGNET_ETH_ANVIL_QUIRKS=1
  SIGNET_ETH_RPC_LOG=${SIGNET_ETH_RPC_LOG:-$tmp/rpc.log}
  proxy_opts=(--deny anvil_,hardhat_,evm_ --require-auth)
  wait_rpc "$SIGNET_ETH_UPSTREAM"
  echo "anvil $("$SIGNET_ANVIL" --version | head -n1 | sed 's/.*Version: //') at $SIGNET_ETH_UPSTREAM; wallet $SIGNET_ETH_ADDRESS (account #1), funder account #0"
fi
for v in SIGNET_ETH_URL SIGNET_ETH_TOKEN SIGNET_ETH_ADDRESS SIGNET_ETH_UPSTREAM SIGNET_ETH_FUNDER_KEY; do
  [ -n "${!v:-}" ] || {
    echo "$v is not set (or use --anvil)" >&2
    exit 2
  }
done

if [ -n "${SIGNET_ETH_RPC_LOG:-}" ]; then
  : >"$SIGNET_ETH_RPC_LOG"
  python3 -u "$here/rpc-log-proxy.py" 0 "$SIGNET_ETH_URL" "$SIGNET_ETH_RPC_LOG" "${proxy_opts[@]}" >"$tmp/proxy.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q '^listening' "$tmp/proxy.out" && break; sleep 0.1; done
  pport=$(sed -n 's/^listening //p' "$tmp/proxy.out")
  [ -n "$pport" ] || {
    echo "the logging proxy did not start: $(cat "$tmp/proxy.out")" >&2
    exit 1
  }
  export SIGNET_ETH_URL="http://127.0.0.1:$pport"
fi

walk_cmd() {
  case "$1" in
    ethers) echo node "$here/ethers-walk.mjs" ;;
    viem) echo node "$here/viem-walk.mjs" ;;
    web3py) echo "$SIGNET_ETH_PYTHON" "$here/web3py-walk.py" ;;
    cast) echo bash "$here/cast-walk.sh" ;;
    *) return 1 ;;
  esac
}

export SIGNET_CAST SIGNET_ETH_NODE_MODULES
passed=0
failed=0
failures=()
for w in ${SIGNET_ETH_WALKS:-ethers viem web3py cast}; do
  cmd=$(walk_cmd "$w") || {
    echo "unknown walk $w (four client walks: ethers, viem, web3py, cast)" >&2
    exit 2
  }
  if ((anvil_mode)); then
    "$SIGNET_CAST" rpc --rpc-url "$SIGNET_ETH_UPSTREAM" anvil_setBalance "$SIGNET_ETH_ADDRESS" 0x0 >/dev/null
  fi
  from=0
  [ -n "${SIGNET_ETH_RPC_LOG:-}" ] && from=$(wc -l <"$SIGNET_ETH_RPC_LOG")
  # shellcheck disable=SC2086 # cmd is words
  if (cd "$tmp" && $cmd); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$w")
  fi
  if [ -n "${SIGNET_ETH_RPC_LOG:-}" ]; then
    tail -n +"$((from + 1))" "$SIGNET_ETH_RPC_LOG" | python3 -c '
import json, sys
name = sys.argv[1]
seen, batch, absent, null, errs, noct, noauth = [], set(), set(), set(), [], 0, []
for line in sys.stdin:
    d = json.loads(line)
    m = d["method"]
    if m not in seen: seen.append(m)
    if d["batch"]: batch.add(m)
    if d["params"] == "<absent>": absent.add(m)
    if d["params"] is None: null.add(m)
    if "error" in d: errs.append("%s %s%s" % (m, d["error"].get("code"), " (HTTP 401)" if d.get("refused") else ""))
    if not d["content_type"]: noct += 1
    if d["auth"] is None: noauth.append(m)
print("methods %s: %s" % (name, " ".join(seen)))
notes = []
if batch: notes.append("batched: " + " ".join(sorted(batch)))
if absent: notes.append("no params member: " + " ".join(sorted(absent)))
if null: notes.append("params null: " + " ".join(sorted(null)))
if noct: notes.append("%d calls without Content-Type" % noct)
if errs: notes.append("errors: " + ", ".join(errs))
notes.append("no Authorization header on: " + " ".join(noauth) if noauth else "Authorization on every call")
print("  (" + "; ".join(notes) + ")")
' "$w"
  fi
done
echo "eth walks: $passed passed, $failed failed${failures[*]:+ (${failures[*]})}"
((failed == 0))
