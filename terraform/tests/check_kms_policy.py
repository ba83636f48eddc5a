#!/usr/bin/env python3
"""Fails if the Signet sealing key can be used for decryption without Nitro
attestation.

Reads the Terraform source of the module (every *.tf in a directory) with
python-hcl2 and checks the `aws_iam_policy_document` that becomes the sealing
key's policy (data source `sealing_key`):

- every Allow statement, static or in a `dynamic "statement"`, with a
  decrypt-class action (Decrypt, GenerateDataKey*, ReEncrypt*, CreateGrant, or
  a wildcard covering them) must be conditioned on
  kms:RecipientAttestation:ImageSha384 = var.enclave_pcr0 with StringEquals or
  StringEqualsIgnoreCase (directly, or through a `dynamic "condition"` over a
  local map that holds that key);
- no Allow statement may name a wildcard principal (a Deny may: it takes
  rights away from everyone);
- no aws_kms_grant may exist (a grant carries no attestation condition and
  silently voids the policy's).

Then (sealing_key only) it renders the policy with render_kms_policy.py for
sample values, with and without retired sealing-key versions, and checks the
JSON itself:

- every Allow that covers a decrypt-class action is for named principals and
  requires ImageSha384 = the PCR0 given, and the encryption context
  signet-purpose = sealing-key and signet-deployment = var.name (StringEquals);
- with retired_sealing_key_versions = [1, 3]: a Deny for every principal
  ("*"), of every decrypt-class action, on StringEquals
  kms:EncryptionContext:signet-sealing-key-version = "1", "3" and nothing
  else; with none retired, no such statement;
- checkov's cloudsplaining checks of policy documents (CKV_AWS_107
  credentials exposure, CKV_AWS_108 data exfiltration, CKV_AWS_110 privilege
  escalation) pass on it: checkov itself cannot run them on this document,
  whose `dynamic "statement"` refers to a variable (checkov then leaves every
  reference in the document unresolved and reports the checks as unknown).

Usage: check_kms_policy.py MODULE_DIR [DOCUMENT_NAME]; exit 0 ok, 1 violations.
"""
import fnmatch
import json
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


def statements_of(document):
    """(label, body) of every statement: the static ones, then the content of
    each `dynamic "statement"`."""
    out = [(f"statement {i}", st) for i, st in enumerate(document.get("statement", []))]
    for j, dyn in enumerate(document.get("dynamic", [])):
        for label, body in dyn.items():
            if label.strip('"') != "statement" or not isinstance(body, dict):
                continue
            for content in body.get("content", []):
                out.append((f'dynamic "statement" {j}', content))
    return out


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
    for label, statement in statements_of(document):
        sid = one(statement.get("sid")) or label
        # Anything but a literal Deny may allow.
        effect = one(statement.get("effect")) or "Allow"
        for p in statement.get("principals", []):
            if effect != "Deny" and any(str(x) == "*" for x in as_list(p.get("identifiers"))):
                problems.append(f"{sid}: wildcard principal in a statement that allows")
        actions = resolve(as_list(statement.get("actions")), local_vars)
        hits = decrypt_actions(actions)
        if effect != "Deny" and hits and not has_attestation_condition(statement, local_vars):
            problems.append(f"{sid}: allows {', '.join(hits)} without {ATTESTATION_KEY} = {PCR0_REF}")
    if name == "sealing_key":
        problems += check_rendered(module_dir)
    return problems


# --------------------------------------------------------------------------
# The rendered policy.

SAMPLE = {
    "name": "signet-check",
    "enclave_pcr0": "a0" * 48,
    "enclave_pcr1": "b1" * 48,
    "enclave_pcr2": "c2" * 48,
    "kms_admin_role_arns": ["arn:aws:iam::111122223333:role/admin-1", "arn:aws:iam::111122223333:role/admin-2"],
}
SAMPLE_ACCOUNT = "111122223333"
SAMPLE_REGION = "eu-west-1"
SAMPLE_ROLE = "arn:aws:iam::111122223333:role/signet-check-instance"
CONTEXT = {
    "kms:EncryptionContext:signet-purpose": "sealing-key",
    "kms:EncryptionContext:signet-deployment": SAMPLE["name"],
}
VERSION_KEY = "kms:EncryptionContext:signet-sealing-key-version"


def listed(v):
    return v if isinstance(v, list) else [v]


def covers(statement, action):
    """Whether the statement's Action / NotAction applies to `action`."""
    if "NotAction" in statement:
        return not any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in listed(statement["NotAction"]))
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in listed(statement.get("Action", [])))


def everyone(principal):
    return principal == "*" or (isinstance(principal, dict) and "*" in listed(principal.get("AWS", [])))


def requires(statement, tests, key, value):
    """Whether the statement requires `key` = `value` (one value) under one of `tests`."""
    cond = statement.get("Condition", {})
    return any(cond.get(t, {}).get(key) in (value, [value]) for t in tests)


def render_sample(module_dir, retired):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import render_kms_policy

    variables = dict(SAMPLE, retired_sealing_key_versions=retired)
    try:
        return render_kms_policy.render(module_dir, variables, account=SAMPLE_ACCOUNT, region=SAMPLE_REGION, instance_role_arn=SAMPLE_ROLE), None
    except render_kms_policy.RenderError as e:
        return None, str(e)


CLOUDSPLAINING_CHECKS = ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_110")


def cloudsplaining(policy, label):
    try:
        from checkov.terraform.checks.data.registry import data_registry
        from cloudsplaining.scan.policy_document import PolicyDocument
    except ImportError as e:
        return [f"{label}: cannot run checkov's cloudsplaining checks ({e})"]
    problems = []
    for check_id in CLOUDSPLAINING_CHECKS:
        chk = data_registry.get_check_by_id(check_id)
        if chk is None or not hasattr(chk, "cloudsplaining_analysis"):
            problems.append(f"{label}: checkov has no cloudsplaining check {check_id} any more")
            continue
        findings = chk.cloudsplaining_analysis(PolicyDocument(policy))
        if findings:
            problems.append(f"{label}: {check_id} ({chk.name}): {findings}")
    return problems


def check_rendered(module_dir):
    problems = []
    for retired in ([], [1, 3]):
        label = f"rendered with retired_sealing_key_versions = {retired}"
        policy, error = render_sample(module_dir, retired)
        if policy is None:
            problems.append(f"{label}: cannot render the policy: {error}")
            continue
        statements = policy.get("Statement", [])
        for st in statements:
            sid = st.get("Sid", "(no Sid)")
            if st["Effect"] != "Allow":
                continue
            hits = [a for a in DECRYPT_CLASS if covers(st, a)]
            if not hits:
                continue
            if "NotPrincipal" in st or everyone(st.get("Principal")):
                problems.append(f"{label}: {sid} allows {', '.join(hits)} to every principal")
            if not requires(st, EQUALITY_TESTS, ATTESTATION_KEY, SAMPLE["enclave_pcr0"]):
                problems.append(f"{label}: {sid} allows {', '.join(hits)} without {ATTESTATION_KEY} = the image's PCR0")
            for key, value in CONTEXT.items():
                if not requires(st, {"StringEquals"}, key, value):
                    problems.append(f"{label}: {sid} allows {', '.join(hits)} without StringEquals {key} = {value!r}")
        problems += cloudsplaining(policy, label)
        denies = [st for st in statements if st["Effect"] == "Deny" and VERSION_KEY in json.dumps(st.get("Condition", {}))]
        if not retired:
            if denies:
                problems.append(f"{label}: a statement denies sealing-key versions though none is retired")
            continue
        want = sorted(str(v) for v in retired)
        good = [
            st
            for st in denies
            if everyone(st.get("Principal"))
            and "NotPrincipal" not in st
            and all(covers(st, a) for a in DECRYPT_CLASS)
            and listed(st.get("Resource", [])) == ["*"]
            and st.get("Condition") == {"StringEquals": {VERSION_KEY: want[0] if len(want) == 1 else want}}
        ]
        if not good:
            problems.append(
                f"{label}: no Deny of every decrypt-class action to every principal (\"*\") on exactly StringEquals {VERSION_KEY} = {want}: "
                "a host that kept a blob of a retired version could still have it unsealed"
            )
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    name = argv[2] if len(argv) > 2 else "sealing_key"
    problems = check(argv[1], name)
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(f"ok: every decrypt-class grant of the {name} policy requires {ATTESTATION_KEY}")
        if name == "sealing_key":
            print("ok: rendered, it also requires this deployment's encryption context, and retired sealing-key versions are denied to everyone")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
