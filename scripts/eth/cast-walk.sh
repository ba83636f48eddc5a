#!/usr/bin/env bash
# The Foundry cast walk of an Ethereum JSON-RPC signer (Signet's POST /v1/eth,
# or anvil's unlocked accounts during development). Unmodified cast: the bearer
# token goes in with cast's own flag `--rpc-headers "Authorization: Bearer …"`
# (env equivalent ETH_RPC_HEADERS), on every command that talks to the signer.
#
# Env: SIGNET_ETH_URL, SIGNET_ETH_TOKEN, SIGNET_ETH_ADDRESS (EIP-55),
# SIGNET_ETH_UPSTREAM (the node: funding, checks, raw submission),
# SIGNET_ETH_FUNDER_KEY, optional SIGNET_ETH_FOREIGN_ADDRESS (an address that
# is not the caller's; default 0x…dEaD), SIGNET_CAST (default: cast on PATH).
# Prints `ok cast <step>` per step; exits 1 on the first failure.
#
# Which cast command uses which signer method:
#   eth_sendTransaction  cast send --unlocked --from ADDR (also --create)
#   eth_signTransaction  cast mktx --ethsign --from ADDR (--legacy; --legacy
#                        --access-list JSON gives EIP-2930), then cast publish
#                        on the node
#   personal_sign, eth_signTypedData_v4, eth_accounts: no cast command signs
#                        through an RPC signer (cast wallet sign wants a local
#                        key, keystore or hardware wallet), so `cast rpc`;
#                        recovery with cast wallet verify (--data for EIP-712).
set -euo pipefail

C=cast
step=setup
fail() {
  echo "FAIL $C $step: $*" >&2
  exit 1
}
ok() { echo "ok $C $step${1:+ $1}"; }
for v in SIGNET_ETH_URL SIGNET_ETH_TOKEN SIGNET_ETH_ADDRESS SIGNET_ETH_UPSTREAM SIGNET_ETH_FUNDER_KEY; do
  [ -n "${!v:-}" ] || fail "$v is not set"
done
CAST=${SIGNET_CAST:-$(command -v cast || true)}
[ -x "$CAST" ] || fail "cast not found (SIGNET_CAST, or cast on PATH; scripts/eth-deps.sh installs it)"
A=$SIGNET_ETH_ADDRESS
FOREIGN=${SIGNET_ETH_FOREIGN_ADDRESS:-0x000000000000000000000000000000000000dEaD}
R=0x000000000000000000000000000000000000bEEF
SIGNER=(--rpc-url "$SIGNET_ETH_URL" --rpc-headers "Authorization: Bearer $SIGNET_ETH_TOKEN")
NODE=(--rpc-url "$SIGNET_ETH_UPSTREAM")
# The init code returns the 10-byte runtime PUSH1 42 PUSH1 0 MSTORE PUSH1 32
# PUSH1 0 RETURN (every call returns 42).
RUNTIME=0x602a60005260206000f3
INITCODE=0x69602a60005260206000f3600052600a6016f3

# cmd… : runs cast, its stdout on success, the step's failure with its output otherwise.
run() {
  local out
  out=$("$CAST" "$@" 2>&1) || fail "cast $1 failed: $out"
  printf '%s\n' "$out"
}
lc() { tr '[:upper:]' '[:lower:]' <<<"$1"; }
# json FIELD : FIELD of the JSON object on stdin (a string, as JSON would show it).
json() { python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
# mined HASH [TYPE] : the node mined HASH from the wallet with status 1 (and TYPE).
mined() {
  local r t
  r=$(run receipt "${NODE[@]}" --json "$1")
  [ "$(json status <<<"$r")" = 0x1 ] || fail "receipt status $(json status <<<"$r") for $1"
  [ "$(lc "$(json from <<<"$r")")" = "$(lc "$A")" ] || fail "receipt from $(json from <<<"$r"), expected $A"
  if [ -n "${2:-}" ]; then
    t=$(run tx "${NODE[@]}" --json "$1" | json type)
    [ "$t" = "$2" ] || fail "transaction type $t, expected $2"
  fi
  printf '%s\n' "$r"
}

step=fund
bal=$(run balance "${NODE[@]}" -e "$A")
if [ "${bal%%.*}" -lt 1 ]; then
  h=$(run send "${NODE[@]}" --private-key "$SIGNET_ETH_FUNDER_KEY" "$A" --value 10ether --json | json transactionHash)
  ok "sent 10 ETH ($h)"
else
  ok "balance $bal ETH"
fi

# (a) the account is listed and the chain is the node's.
step=accounts
accounts=$(run rpc "${SIGNER[@]}" eth_accounts)
grep -qi "\"$A\"" <<<"$accounts" || fail "eth_accounts $accounts lacks $A"
chain=$(run chain-id "${NODE[@]}")
[ "$(run chain-id "${SIGNER[@]}")" = "$chain" ] || fail "eth_chainId differs from the upstream's $chain"
ok "chain $chain"

# (b) an EIP-1559 value transfer through eth_sendTransaction (cast's default type).
step=send-1559
h=$(run send --unlocked --from "$A" "${SIGNER[@]}" "$R" --value 0.01ether --json | json transactionHash)
[ -n "$h" ] || fail "cast send gave no transaction hash"
mined "$h" 0x2 >/dev/null
ok "$h"

# (c) legacy and EIP-2930 through eth_signTransaction, published on the node.
step=sign-legacy
raw=$(run mktx --ethsign --from "$A" "${SIGNER[@]}" --legacy "$R" --value 1000)
[[ $raw =~ ^0x[0-9a-f]+$ ]] || fail "eth_signTransaction gave $raw"
h=$(run publish "${NODE[@]}" --async "$raw")
mined "$h" 0x0 >/dev/null
ok "$h"
step=sign-2930
raw=$(run mktx --ethsign --from "$A" "${SIGNER[@]}" --legacy \
  --access-list "[{\"address\":\"$R\",\"storageKeys\":[\"0x0000000000000000000000000000000000000000000000000000000000000001\"]}]" \
  "$R" --value 1000)
[[ $raw =~ ^0x01[0-9a-f]+$ ]] || fail "eth_signTransaction gave $raw, not an EIP-2930 transaction"
h=$(run publish "${NODE[@]}" --async "$raw")
mined "$h" 0x1 >/dev/null
ok "$h"

# (d) personal_sign and eth_signTypedData_v4 (cast rpc), recovered by cast wallet verify.
step=personal_sign
msg="Signet cast walk $(date +%s%N)"
sig=$(run rpc "${SIGNER[@]}" personal_sign "$(run from-utf8 "$msg")" "$A" | tr -d '"')
run wallet verify --address "$A" "$msg" "$sig" >/dev/null
ok
step=signTypedData_v4
typed=$(
  cat <<EOF
{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
 "Person":[{"name":"name","type":"string"},{"name":"wallets","type":"address[]"}],
 "Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person[]"},{"name":"contents","type":"string"}]},
 "primaryType":"Mail",
 "domain":{"name":"Ether Mail","version":"1","chainId":$chain,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
 "message":{"from":{"name":"Cow","wallets":["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826","0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"]},
  "to":[{"name":"Bob","wallets":["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB","0xB0BdaBea57B0BDABeA57b0bdABEA57b0BDabEa57"]}],
  "contents":"Hello, Bob!"}}
EOF
)
sig=$(run rpc "${SIGNER[@]}" eth_signTypedData_v4 "$A" "$typed" | tr -d '"')
run wallet verify --data --address "$A" "$typed" "$sig" >/dev/null
ok

# (e) a contract deployment through eth_sendTransaction.
step=deploy
h=$(run send --unlocked --from "$A" "${SIGNER[@]}" --create "$INITCODE" --json | json transactionHash)
addr=$(mined "$h" | json contractAddress)
[ -n "$addr" ] || fail "receipt has no contractAddress"
code=$(run code "${NODE[@]}" "$addr")
[ "$code" = "$RUNTIME" ] || fail "code at $addr is $code"
out=$(run call "${SIGNER[@]}" "$addr") # eth_call via the signer's endpoint
[ "$out" = 0x000000000000000000000000000000000000000000000000000000000000002a ] || fail "eth_call returned $out, expected 42"
ok "$addr"

# (f) a foreign address must get a JSON-RPC error, never a signature. cast
# reports a JSON-RPC error object as "server returned an error response: error code N".
step=foreign-refused
refused() { # method cast-args…
  local method=$1 out
  shift
  if out=$("$CAST" "$@" 2>&1); then fail "$method from $FOREIGN answered $out instead of an error"; fi
  grep -q "error response: error code -\?[0-9]" <<<"$out" || fail "$method from $FOREIGN failed without a JSON-RPC error object: $out"
}
refused personal_sign rpc "${SIGNER[@]}" personal_sign "$(run from-utf8 "not yours")" "$FOREIGN"
refused eth_sendTransaction send --unlocked --from "$FOREIGN" "${SIGNER[@]}" "$R" --value 1 --gas-limit 21000
ok
