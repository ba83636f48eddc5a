#!/usr/bin/env python3
"""The web3.py walk of an Ethereum JSON-RPC signer (Signet's POST /v1/eth, or
anvil's unlocked accounts during development). Unmodified web3.py: the bearer
token goes in as HTTPProvider(url, request_kwargs={"headers": {...}}), the
documented way to give the provider headers (which replaces web3's default
headers, so the requests carry no Content-Type: the signer must accept that;
anvil does not, see HEADERS below).

Env: SIGNET_ETH_URL, SIGNET_ETH_TOKEN, SIGNET_ETH_ADDRESS (EIP-55),
SIGNET_ETH_UPSTREAM (the node: funding, checks, raw submission),
SIGNET_ETH_FUNDER_KEY, optional SIGNET_ETH_FOREIGN_ADDRESS (an address that is
not the caller's; default 0x...dEaD) and SIGNET_ETH_ANVIL_QUIRKS=1 (the signer
is anvil itself: allow its known differences, each printed as a `note`, and
keep web3's default Content-Type header, without which anvil answers -32600).
Prints `ok web3py <step>` per step; exits 1 on the first failure.

Two web3.py calls need what anvil does not give: w3.eth.sign_typed_data sends
`eth_signTypedData` (anvil: "Not implemented"), and w3.eth.sign_transaction
parses geth's `{raw, tx}` result (anvil, like ethers and cast, returns the raw
transaction hex string). The walk takes the string form from any signer (with a
note: web3.py's own parser cannot read it; the same bytes are then read with
w3.provider.make_request, web3's documented raw call, through the same
provider), and the eth_signTypedData fallback only under SIGNET_ETH_ANVIL_QUIRKS.
"""
import os
import sys
import time

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from web3 import Web3
from web3.exceptions import Web3RPCError

C = "web3py"


def fail(step, msg):
    print(f"FAIL {C} {step}: {msg}", file=sys.stderr)
    sys.exit(1)


def check(step, cond, msg):
    if not cond:
        fail(step, msg)


def ok(step, detail=""):
    print(f"ok {C} {step}" + (f" {detail}" if detail else ""), flush=True)


def note(step, msg):
    print(f"note {C} {step}: {msg}", flush=True)


def env(name, default=None):
    v = os.environ.get(name, default)
    if not v:
        fail("setup", f"{name} is not set")
    return v


def same(a, b):
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


URL = env("SIGNET_ETH_URL")
TOKEN = env("SIGNET_ETH_TOKEN")
ADDRESS = Web3.to_checksum_address(env("SIGNET_ETH_ADDRESS"))
UPSTREAM = env("SIGNET_ETH_UPSTREAM")
FUNDER_KEY = env("SIGNET_ETH_FUNDER_KEY")
FOREIGN = Web3.to_checksum_address(env("SIGNET_ETH_FOREIGN_ADDRESS", "0x000000000000000000000000000000000000dEaD"))
QUIRKS = os.environ.get("SIGNET_ETH_ANVIL_QUIRKS") == "1"
RECIPIENT = Web3.to_checksum_address("0x000000000000000000000000000000000000bEEF")

# The signer's endpoint, with the bearer token; the node, as users reach it.
# request_kwargs["headers"] replaces web3's default headers, so the common user
# code below sends no Content-Type. anvil (like geth) refuses that with -32600,
# so with SIGNET_ETH_ANVIL_QUIRKS the defaults (HTTPProvider.get_request_headers(),
# Content-Type: application/json) are kept and the header added to them.
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
if QUIRKS:
    HEADERS = {**Web3.HTTPProvider.get_request_headers(), **HEADERS}
w3 = Web3(Web3.HTTPProvider(URL, request_kwargs={"headers": HEADERS, "timeout": 60}))
up = Web3(Web3.HTTPProvider(UPSTREAM))

# The init code returns the 10-byte runtime PUSH1 42 PUSH1 0 MSTORE PUSH1 32
# PUSH1 0 RETURN (every call returns 42).
RUNTIME = bytes.fromhex("602a60005260206000f3")
INITCODE = "0x69602a60005260206000f3600052600a6016f3"


def typed_data(chain_id):
    """EIP-712 Mail with a nested struct and arrays (Person.wallets, Mail.to)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[]"}],
            "Mail": [
                {"name": "from", "type": "Person"},
                {"name": "to", "type": "Person[]"},
                {"name": "contents", "type": "string"},
            ],
        },
        "primaryType": "Mail",
        "domain": {
            "name": "Ether Mail",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
        },
        "message": {
            "from": {
                "name": "Cow",
                "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"],
            },
            "to": [
                {
                    "name": "Bob",
                    "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "0xB0BdaBea57B0BDABeA57b0bdABEA57b0BDabEa57"],
                }
            ],
            "contents": "Hello, Bob!",
        },
    }


def mined_from_wallet(step, tx_hash, tx_type=None):
    r = up.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.2)
    check(step, r["status"] == 1, f"receipt status {r['status']} for {tx_hash.hex()}")
    check(step, same(r["from"], ADDRESS), f"receipt from {r['from']}, expected {ADDRESS}")
    if tx_type is not None:
        t = up.eth.get_transaction(tx_hash)["type"]
        check(step, int(t) == tx_type, f"transaction type {t}, expected {tx_type}")
    return r


def run(step, fn):
    try:
        fn()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - any failure is this step's
        fail(step, f"{type(e).__name__}: {e}")


state = {}


def fund():
    bal = up.eth.get_balance(ADDRESS)
    if bal < Web3.to_wei(1, "ether"):
        funder = Account.from_key(FUNDER_KEY)
        tx = {
            "to": ADDRESS,
            "value": Web3.to_wei(10, "ether"),
            "nonce": up.eth.get_transaction_count(funder.address, "pending"),
            "gas": 21000,
            "maxFeePerGas": up.eth.gas_price * 2,
            "maxPriorityFeePerGas": 10**9,
            "chainId": up.eth.chain_id,
        }
        h = up.eth.send_raw_transaction(funder.sign_transaction(tx).raw_transaction)
        up.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.2)
        ok("fund", f"sent 10 ETH (0x{h.hex()})")
    else:
        ok("fund", f"balance {Web3.from_wei(bal, 'ether')} ETH")


def accounts():  # (a)
    accts = w3.eth.accounts
    check("accounts", any(same(a, ADDRESS) for a in accts), f"eth_accounts {accts} lacks {ADDRESS}")
    state["chain_id"] = up.eth.chain_id
    check("accounts", w3.eth.chain_id == state["chain_id"], f"eth_chainId {w3.eth.chain_id}, upstream {state['chain_id']}")
    ok("accounts", f"chain {state['chain_id']}")


def send_1559():  # (b) web3 fills gas and EIP-1559 fees, the signer the nonce
    h = w3.eth.send_transaction({"from": ADDRESS, "to": RECIPIENT, "value": Web3.to_wei(0.01, "ether")})
    r = w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.2)  # through the signer's endpoint
    check("send-1559", r["status"] == 1, "no successful receipt through the signer's endpoint")
    mined_from_wallet("send-1559", h, 2)
    ok("send-1559", "0x" + h.hex())


def sign_tx(step, tx_type, extra):  # (c)
    tx = {"from": ADDRESS, "to": RECIPIENT, "value": 1000, "chainId": state["chain_id"], "type": tx_type, **extra}
    tx["nonce"] = w3.eth.get_transaction_count(ADDRESS, "pending")
    tx["gas"] = w3.eth.estimate_gas(tx)
    tx["gasPrice"] = w3.eth.gas_price
    try:
        raw = bytes(w3.eth.sign_transaction(tx)["raw"])  # geth's {raw, tx} form
    except (ValueError, TypeError) as e:
        # Not geth's form: the same call, unparsed, through the same provider.
        resp = w3.provider.make_request("eth_signTransaction", [_rpc_tx(tx)])
        result = resp.get("result")
        check(step, isinstance(result, str) and result.startswith("0x"),
              f"w3.eth.sign_transaction failed ({e}) and the raw answer is {resp}")
        note(step, "eth_signTransaction answered a bare raw-transaction hex string (anvil/ethers/cast form): "
             "w3.eth.sign_transaction cannot parse it (it expects geth's {raw, tx}); read via provider.make_request")
        raw = bytes.fromhex(result[2:])
    # A typed transaction starts with its type byte, a legacy one with an RLP list.
    check(step, raw[0] == 1 if tx_type == 1 else raw[0] >= 0xC0,
          f"signed bytes are not a type-{tx_type} transaction: 0x{raw[:4].hex()}...")
    signer_of = Account.recover_transaction(raw)
    check(step, same(signer_of, ADDRESS), f"signed by {signer_of}, expected {ADDRESS}")
    h = up.eth.send_raw_transaction(raw)
    mined_from_wallet(step, h, tx_type)
    ok(step, "0x" + h.hex())


def _rpc_tx(tx):
    """The transaction as JSON-RPC wants it (hex quantities), as web3 sends it."""
    out = {}
    for k, v in tx.items():
        out[k] = hex(v) if isinstance(v, int) else v
    return out


def personal_sign():  # (d)
    msg = f"Signet web3py walk {time.time()}"
    # web3.py's own call is eth_sign (EIP-191 personal message, geth's meaning).
    sig = w3.eth.sign(ADDRESS, text=msg)
    who = Account.recover_message(encode_defunct(text=msg), signature=sig)
    check("personal_sign", same(who, ADDRESS), f"eth_sign: recovered {who}, expected {ADDRESS}")
    # personal_sign has no web3.py method since v7: the raw call, same provider.
    resp = w3.provider.make_request("personal_sign", ["0x" + msg.encode().hex(), ADDRESS])
    check("personal_sign", "result" in resp, f"personal_sign answered {resp}")
    who = Account.recover_message(encode_defunct(text=msg), signature=resp["result"])
    check("personal_sign", same(who, ADDRESS), f"personal_sign: recovered {who}, expected {ADDRESS}")
    ok("personal_sign", "(eth_sign and personal_sign)")


def sign_typed():  # (d)
    td = typed_data(state["chain_id"])
    try:
        sig = w3.eth.sign_typed_data(ADDRESS, td)  # sends eth_signTypedData
    except Web3RPCError as e:
        if not QUIRKS:
            raise
        note("signTypedData", f"w3.eth.sign_typed_data (eth_signTypedData) refused by anvil ({e}); "
             "eth_signTypedData_v4 through provider.make_request")
        resp = w3.provider.make_request("eth_signTypedData_v4", [ADDRESS, td])
        check("signTypedData", "result" in resp, f"eth_signTypedData_v4 answered {resp}")
        sig = resp["result"]
    who = Account.recover_message(encode_typed_data(full_message=td), signature=sig)
    check("signTypedData", same(who, ADDRESS), f"recovered {who}, expected {ADDRESS}")
    ok("signTypedData")


def deploy():  # (e)
    h = w3.eth.contract(abi=[], bytecode=INITCODE).constructor().transact({"from": ADDRESS})
    r = mined_from_wallet("deploy", h)
    check("deploy", r["contractAddress"], "receipt has no contractAddress")
    code = bytes(up.eth.get_code(r["contractAddress"]))
    check("deploy", code == RUNTIME, f"code at {r['contractAddress']} is 0x{code.hex()}")
    out = w3.eth.call({"to": r["contractAddress"], "data": "0x"})  # eth_call via the signer's endpoint
    check("deploy", int.from_bytes(out, "big") == 42, f"eth_call returned 0x{bytes(out).hex()}, expected 42")
    ok("deploy", r["contractAddress"])


def foreign_refused():  # (f)
    attempts = [
        ("eth_sign", lambda: w3.eth.sign(FOREIGN, text="not yours")),
        ("eth_sendTransaction",
         lambda: w3.eth.send_transaction({"from": FOREIGN, "to": RECIPIENT, "value": 1, "gas": 21000})),
    ]
    for method, fn in attempts:
        try:
            result = fn()
        except Web3RPCError as e:  # a JSON-RPC error object
            check("foreign-refused", isinstance(e.rpc_response, dict) and "error" in e.rpc_response,
                  f"{method}: {e} without a JSON-RPC error object")
            continue
        fail("foreign-refused", f"{method} from {FOREIGN} answered {result!r} instead of a JSON-RPC error")
    ok("foreign-refused")


run("fund", fund)
run("accounts", accounts)
run("send-1559", send_1559)
run("sign-legacy", lambda: sign_tx("sign-legacy", 0, {}))
run("sign-2930", lambda: sign_tx("sign-2930", 1, {
    "accessList": [{"address": RECIPIENT, "storageKeys": ["0x" + "00" * 31 + "01"]}]}))
run("personal_sign", personal_sign)
run("signTypedData", sign_typed)
run("deploy", deploy)
run("foreign-refused", foreign_refused)
