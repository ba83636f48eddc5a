#!/usr/bin/env python3
"""Makes and checks owner approvals with implementations independent of
signet-authority's Rust crates, for authority/tests/independent.rs.

  independent.py eth     eth-account: EIP-191 personal_sign and recovery
  independent.py crypto  pyca/cryptography (OpenSSL): P-256, Ed25519, and
                         WebAuthn assertions built here byte by byte

Reads one JSON request per line on stdin and writes one JSON answer per line.
"""
import base64
import hashlib
import json
import sys

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def eth(req):
    from eth_account import Account
    from eth_account.messages import encode_defunct

    if req["op"] == "sign":
        acct = Account.from_key(bytes.fromhex(req["key"]))
        signed = acct.sign_message(encode_defunct(text=req["text"]))
        return {"address": acct.address, "signature": bytes(signed.signature).hex()}
    if req["op"] == "recover":
        address = Account.recover_message(
            encode_defunct(text=req["text"]), signature=bytes.fromhex(req["signature"])
        )
        return {"address": address}
    raise ValueError(req["op"])


def crypto(req):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

    text = req.get("text", "").encode()

    def p256_key(hex_scalar):
        return ec.derive_private_key(int(hex_scalar, 16), ec.SECP256R1())

    def point(key):
        return key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ).hex()

    def both_s(der):
        r, s = utils.decode_dss_signature(der)
        low, high = (s, P256_N - s) if s <= P256_N // 2 else (P256_N - s, s)
        return r, low, high

    op = req["op"]
    if op == "p256_sign":
        key = p256_key(req["key"])
        r, low, high = both_s(key.sign(text, ec.ECDSA(hashes.SHA256())))
        raw = lambda s: (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()
        return {"public_key": point(key), "low": raw(low), "high": raw(high)}
    if op == "p256_verify":
        pub = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), bytes.fromhex(req["public_key"])
        )
        sig = bytes.fromhex(req["signature"])
        der = utils.encode_dss_signature(
            int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        )
        pub.verify(der, text, ec.ECDSA(hashes.SHA256()))
        return {"ok": True}
    if op == "ed25519_sign":
        key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(req["seed"]))
        pub = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"public_key": pub.hex(), "signature": key.sign(text).hex()}
    if op == "ed25519_verify":
        pub = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(req["public_key"]))
        pub.verify(bytes.fromhex(req["signature"]), text)
        return {"ok": True}
    if op == "webauthn":
        # What a browser and an authenticator produce for
        # navigator.credentials.get with challenge = SHA-256(text).
        key = p256_key(req["key"])
        client = {
            "type": "webauthn.get",
            "challenge": b64url(hashlib.sha256(text).digest()),
            "origin": req["origin"],
            "crossOrigin": req.get("cross_origin", False),
        }
        client_json = json.dumps(client, separators=(",", ":")).encode()
        auth = (
            hashlib.sha256(req["rp_id"].encode()).digest()
            + bytes([req["flags"]])
            + req["count"].to_bytes(4, "big")
        )
        der = key.sign(auth + hashlib.sha256(client_json).digest(), ec.ECDSA(hashes.SHA256()))
        r, low, high = both_s(der)
        der = utils.encode_dss_signature(r, high if req["high_s"] else low)
        return {
            "public_key": point(key),
            "webauthn": {
                "credential_id": b64url(bytes.fromhex(req["credential_id"])),
                "authenticator_data": b64url(auth),
                "client_data_json": b64url(client_json),
                "signature": b64url(der),
            },
        }
    raise ValueError(op)


def main():
    handler = {"eth": eth, "crypto": crypto}[sys.argv[1]]
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(handler(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
