#!/usr/bin/env python3
"""Fails if the Signet sealing key can be used for decryption without Nitro
attestation.

Reads the Terraform source of the module (every *.tf in a directory) with
python-hcl2 and checks the `aws_iam_policy_document` that becomes the sealing
key's policy (data source `sealing_key`):

- every Allow statement with a decrypt-class action (Decrypt, GenerateDataKey*,
  ReEncrypt*, CreateGrant, or a wildcard covering them) must be conditioned on
  kms:RecipientAttestation:ImageSha384 = var.enclave_pcr0 with StringEquals or
  StringEqualsIgnoreCase (directly, or through a `dynamic "condition"` over a
  local map that holds that key);
- no statement may name a wildcard principal;
- no aws_kms_grant may exist (a grant carries no attestation condition and
  silently voids the policy's).

Usage: check_kms_policy.py MODULE_DIR [DOCUMENT_NAME]; exit 0 ok, 1 violations.
"""
import fnmatch
import re
import sys
from pathlib import Path

import hcl2

DECRYPT_CLASS = [
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
]
ATTESTATION_KEY = "kms:RecipientAttestation:ImageSha384"
PCR0_REF = "var.enclave_pcr0"
EQUALITY_TESTS = {"StringEquals", "StringEqualsIgnoreCase"}


def one(v):
    """python-hcl2 wraps attribute values in one-element lists."""
    while isinstance(v, list) and len(v) == 1:
        v = v[0]
    return v


def as_list(v):
    v = one(v)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def load(module_dir):
    docs = []
    for tf in sorted(Path(module_dir).glob("*.tf")):
        with open(tf) as f:
            docs.append((tf.name, hcl2.load(f)))
    return docs


def find_document(docs, name):
    for _, d in docs:
        for block in d.get("data", []):
            body = block.get("aws_iam_policy_document", {}).get(name)
            if body is not None:
                return body
    return None


def locals_of(docs):
    out = {}
    for _, d in docs:
        for block in d.get("locals", []):
            for k, v in block.items():
                if not k.startswith("__"):
                    out[k] = one(v)
    return out


def decrypt_actions(actions):
    hits = []
    for pattern in actions:
        pattern = str(pattern)
        if pattern.startswith("${"):
            # An expression (e.g. local.x): resolved by the caller.
            continue
        hits.extend(a for a in DECRYPT_CLASS if fnmatch.fnmatchcase(a, pattern) or fnmatch.fnmatchcase(a.lower(), pattern.lower()))
    return sorted(set(hits))


def resolve(values, local_vars):
    out = []
    for v in values:
        m = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\}", str(v))
        if m and m.group(1) in local_vars:
            out.extend(as_list(local_vars[m.group(1)]))
        else:
            out.append(v)
    return out


def has_attestation_condition(statement, local_vars):
    for cond in statement.get("condition", []):
        test, variable, values = one(cond.get("test")), one(cond.get("variable")), as_list(cond.get("values"))
        if test in EQUALITY_TESTS and variable == ATTESTATION_KEY and any(PCR0_REF in str(v) for v in values):
            return True
    for dyn in statement.get("dynamic", []):
        cond = dyn.get("condition")
        if not cond:
            continue
        source = " ".join(str(x) for x in resolve(as_list(cond.get("for_each")), local_vars))
        for content in cond.get("content", []):
            test = one(content.get("test"))
            uses_map = one(content.get("variable")) == "${condition.key}" and "${condition.value}" in str(content.get("values"))
            pattern = re.escape(ATTESTATION_KEY) + r"""['"]?\s*[:=]\s*['"]?\$\{""" + re.escape(PCR0_REF) + r"\}"
            if test in EQUALITY_TESTS and uses_map and re.search(pattern, source):
                return True
    return False


def check(module_dir, name="sealing_key"):
    docs = load(module_dir)
    problems = []
    for fname, d in docs:
        for block in d.get("resource", []):
            if "aws_kms_grant" in block:
                problems.append(f"{fname}: aws_kms_grant exists; grants carry no attestation condition")
    document = find_document(docs, name)
    if document is None:
        return problems + [f'no data "aws_iam_policy_document" "{name}" found']
    local_vars = locals_of(docs)
    for i, statement in enumerate(document.get("statement", [])):
        sid = one(statement.get("sid")) or f"statement {i}"
        effect = one(statement.get("effect")) or "Allow"
        for p in statement.get("principals", []):
            if any(str(x) == "*" for x in as_list(p.get("identifiers"))):
                problems.append(f"{sid}: wildcard principal")
        actions = resolve(as_list(statement.get("actions")), local_vars)
        hits = decrypt_actions(actions)
        if effect == "Allow" and hits and not has_attestation_condition(statement, local_vars):
            problems.append(f"{sid}: allows {', '.join(hits)} without {ATTESTATION_KEY} = {PCR0_REF}")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    problems = check(argv[1], argv[2] if len(argv) > 2 else "sealing_key")
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(f"ok: every decrypt-class grant of the sealing key requires {ATTESTATION_KEY}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
