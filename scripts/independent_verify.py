#!/usr/bin/env python3
"""Verifies Signet signatures with an implementation independent of Signet's
Rust crates: pyca/cryptography (OpenSSL).

Reads one JSON object per line on stdin:
  {"key_type": "secp256k1"|"p256"|"ed25519", "public_key": HEX,
   "digest": HEX (ECDSA prehash), "message": HEX (Ed25519), "signature": HEX (64 bytes r||s or Ed25519)}
Prints "ok N" and exits 0 when every signature verifies and every ECDSA
signature is low-S; otherwise names the first failure and exits 1.
"""
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ORDERS = {
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
CURVES = {"secp256k1": ec.SECP256K1(), "p256": ec.SECP256R1()}


def check(item):
    kt = item["key_type"]
    pk = bytes.fromhex(item["public_key"])
    sig = bytes.fromhex(item["signature"])
    if len(sig) != 64:
        raise ValueError(f"signature is {len(sig)} bytes")
    if kt == "ed25519":
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, bytes.fromhex(item["message"]))
        return
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if s > ORDERS[kt] // 2:
        raise ValueError("high-S signature")
    key = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[kt], pk)
    digest = bytes.fromhex(item["digest"])
    key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def main():
    n = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        try:
            check(item)
        except (InvalidSignature, ValueError) as e:
            print(f"FAIL {item.get('key_type')}: {e or 'invalid signature'}")
            return 1
        n += 1
    print(f"ok {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
