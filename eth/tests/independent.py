"""The independent implementation for signet-eth's cross-check (tests/independent.rs).

Reads one JSON batch on stdin and writes one JSON answer on stdout, computed
with eth-account (web3.py's signer), which shares no code with alloy:

  in:  {"transactions": [{"key": "0x..", "tx": {eth-account transaction dict}}],
        "typed_data":   [{types, primaryType, domain, message}]}
  out: {"transactions": [{"signing_hash": "0x..", "raw": "0x..", "hash": "0x..",
                          "sender": "0x.."}],
        "typed_data":   ["0x.."]}

A case eth-account refuses comes back as {"error": "..."} (transactions) or
{"error": "..."} in place of the hash (typed data), so the Rust side can say
which case and why instead of losing the whole batch.

Run by the test with the interpreter in SIGNET_ETH_PYTHON (a venv with web3,
see scripts/eth-deps.sh).
"""

import json
import sys

from eth_account import Account
from eth_account._utils.legacy_transactions import (
    serializable_unsigned_transaction_from_dict,
)
from eth_account.messages import _hash_eip191_message, encode_typed_data


def hex0x(b: bytes) -> str:
    return "0x" + bytes(b).hex()


INT_FIELDS = ("chainId", "nonce", "gas", "gasPrice", "maxFeePerGas",
              "maxPriorityFeePerGas", "value")
AUTH_INT_FIELDS = ("chainId", "nonce", "yParity", "r", "s")


def ints(d, fields):
    """The Rust side writes integers as 0x hex (JSON numbers stop at 2^64)."""
    return {k: int(v, 16) if k in fields else v for k, v in d.items()}


def transaction(case):
    tx = ints(case["tx"], INT_FIELDS)
    if "authorizationList" in tx:
        tx["authorizationList"] = [
            ints(a, AUTH_INT_FIELDS) for a in tx["authorizationList"]
        ]
    key = case["key"]
    try:
        unsigned = serializable_unsigned_transaction_from_dict(dict(tx))
        signed = Account.sign_transaction(dict(tx), key)
        sender = Account.recover_transaction(signed.raw_transaction)
        return {
            "signing_hash": hex0x(unsigned.hash()),
            "raw": hex0x(signed.raw_transaction),
            "hash": hex0x(signed.hash),
            "sender": sender,
        }
    except Exception as e:  # reported per case, see the module doc
        return {"error": f"{type(e).__name__}: {e}"}


def typed(data):
    try:
        return hex0x(_hash_eip191_message(encode_typed_data(full_message=data)))
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    batch = json.load(sys.stdin)
    out = {
        "transactions": [transaction(c) for c in batch.get("transactions", [])],
        "typed_data": [typed(d) for d in batch.get("typed_data", [])],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
