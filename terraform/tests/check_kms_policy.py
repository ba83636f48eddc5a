#!/usr/bin/env python3
"""Fails if the Signet sealing key can be used for decryption without Nitro
attestation.

Reads the Terraform source of the module (every *.tf in a directory) with
python-hcl2 and checks the `aws_iam_policy_document` that becomes the sealing
key's policy (data source `sealing_key`):

- every Allow statement, static or in a `dynamic "statement"`, with a
  decrypt-class action (Decrypt, GenerateDataKey*, ReEncrypt*, CreateGrant, or
  a wildcard covering them) must be conditioned on
  kms:RecipientAttestation:ImageSha384 = the pcr0 of a set of
  var.enclave_pcr_sets with StringEquals or StringEqualsIgnoreCase (directly,
  or through a `dynamic "condition"` over a map, or over the value of the
  enclosing `dynamic "statement"`, built from var.enclave_pcr_sets);
- no Allow statement may name a wildcard principal (a Deny may: it takes
  rights away from everyone);
- no aws_kms_grant may exist (a grant carries no attestation condition and
  silently voids the policy's).

Then (sealing_key only) it renders the policy with render_kms_policy.py for
sample values, with and without retired sealing-key versions, and checks the
JSON itself:

- every Allow that covers a decrypt-class action is for named principals,
  requires the encryption context signet-purpose = sealing-key and
  signet-deployment = var.name (StringEquals), and requires exactly one whole
  PCR set of those given: ImageSha384, PCR1, PCR2 (and PCR8 when the set has
  it), each one value (several values of one key are ORed by KMS); every set
  given has such a statement;
- decided by kms_policy_logic.py (AWS's evaluation of one policy): an
  enclave attested with one of the sets is allowed Decrypt and
  GenerateDataKey with this deployment's context; a document that mixes PCRs
  of two sets, a debug-mode document (zeros), another image, a call without
  attestation, another deployment's context, a key administrator and a
  retired version are refused;
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
PCR_SETS_REF = "var.enclave_pcr_sets"
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


def builds_attestation_from_the_sets(text):
    """Whether an expression (its text, locals resolved) maps ImageSha384 to
    the pcr0 of each element of var.enclave_pcr_sets."""
    return PCR_SETS_REF in text and re.search(re.escape(ATTESTATION_KEY) + r"""['"]?\s*[:=]\s*['"]?\$\{\w+\.pcr0\}""", text) is not None


def has_attestation_condition(statement, local_vars, statement_source=""):
    """statement_source: the resolved for_each of the `dynamic "statement"`
    the statement is the content of ("" for a static one)."""
    for cond in statement.get("condition", []):
        test, variable, values = one(cond.get("test")), one(cond.get("variable")), as_list(cond.get("values"))
        if test in EQUALITY_TESTS and variable == ATTESTATION_KEY and any(".pcr0}" in str(v) for v in values) and PCR_SETS_REF in statement_source:
            return True
    for dyn in statement.get("dynamic", []):
        cond = dyn.get("condition")
        if not cond:
            continue
        source = " ".join(str(x) for x in resolve(as_list(cond.get("for_each")), local_vars))
        if source.strip() == "${statement.value}":
            source = statement_source
        for content in cond.get("content", []):
            test = one(content.get("test"))
            uses_map = one(content.get("variable")) == "${condition.key}" and "${condition.value}" in str(content.get("values"))
            if test in EQUALITY_TESTS and uses_map and builds_attestation_from_the_sets(source):
                return True
    return False


def statements_of(document, local_vars=None):
    """(label, body, for_each source) of every statement: the static ones,
    then the content of each `dynamic "statement"` with its resolved for_each."""
    out = [(f"statement {i}", st, "") for i, st in enumerate(document.get("statement", []))]
    for j, dyn in enumerate(document.get("dynamic", [])):
        for label, body in dyn.items():
            if label.strip('"') != "statement" or not isinstance(body, dict):
                continue
            source = " ".join(str(x) for x in resolve(as_list(body.get("for_each")), local_vars or {}))
            for content in body.get("content", []):
                out.append((f'dynamic "statement" {j}', content, source))
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
    for label, statement, source in statements_of(document, local_vars):
        sid = one(statement.get("sid")) or label
        # Anything but a literal Deny may allow.
        effect = one(statement.get("effect")) or "Allow"
        for p in statement.get("principals", []):
            if effect != "Deny" and any(str(x) == "*" for x in as_list(p.get("identifiers"))):
                problems.append(f"{sid}: wildcard principal in a statement that allows")
        actions = resolve(as_list(statement.get("actions")), local_vars)
        hits = decrypt_actions(actions)
        if effect != "Deny" and hits and not has_attestation_condition(statement, local_vars, source):
            problems.append(f"{sid}: allows {', '.join(hits)} without {ATTESTATION_KEY} = the pcr0 of a set of {PCR_SETS_REF}")
    if name == "sealing_key":
        problems += check_rendered(module_dir)
    return problems


# --------------------------------------------------------------------------
# The rendered policy.

SET_A = {"pcr0": "a0" * 48, "pcr1": "a1" * 48, "pcr2": "a2" * 48}
SET_B = {"pcr0": "b0" * 48, "pcr1": "b1" * 48, "pcr2": "b2" * 48, "pcr8": "b8" * 48}
SET_C = {"pcr0": "c0" * 48, "pcr1": "c1" * 48, "pcr2": "c2" * 48}
SAMPLE = {
    "name": "signet-check",
    "kms_admin_role_arns": ["arn:aws:iam::111122223333:role/admin-1", "arn:aws:iam::111122223333:role/admin-2"],
}
# The PCR sets the policy is rendered with: one image; an upgrade (the
# second image signed: PCR8); three images.
SAMPLE_SETS = ([SET_A], [SET_A, SET_B], [SET_C, SET_B, SET_A])
SAMPLE_ACCOUNT = "111122223333"
SAMPLE_REGION = "eu-west-1"
SAMPLE_ROLE = "arn:aws:iam::111122223333:role/signet-check-instance"
CONTEXT = {
    "kms:EncryptionContext:signet-purpose": "sealing-key",
    "kms:EncryptionContext:signet-deployment": SAMPLE["name"],
}
VERSION_KEY = "kms:EncryptionContext:signet-sealing-key-version"
PCR_KEYS = {
    "pcr0": "kms:RecipientAttestation:ImageSha384",
    "pcr1": "kms:RecipientAttestation:PCR1",
    "pcr2": "kms:RecipientAttestation:PCR2",
    "pcr8": "kms:RecipientAttestation:PCR8",
}


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


def required_set(statement):
    """The PCR set an Allow requires ({"pcr0": hex, ...}), or why it does not
    require exactly one: each PCR key under one equality test, one value."""
    cond = statement.get("Condition", {})
    found = {}
    for test, keys in cond.items():
        for key, values in keys.items():
            name = next((n for n, k in PCR_KEYS.items() if k == key), None)
            if name is None:
                if key.startswith("kms:RecipientAttestation:"):
                    return None, f"a condition on {key}, which no PCR set gives"
                continue
            if test not in EQUALITY_TESTS:
                return None, f"{key} under {test}, not an equality test"
            if name in found:
                return None, f"{key} under two tests"
            if isinstance(values, list):
                return None, f"{key} has {len(values)} values (KMS ORs them: PCRs of different sets would mix)"
            found[name] = values.lower()
    if "pcr0" not in found:
        return None, f"no {ATTESTATION_KEY}"
    return found, None


def render_sample(module_dir, retired, sets=None):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import render_kms_policy

    if not isinstance(module_dir, render_kms_policy.Module):
        try:
            module_dir = render_kms_policy.Module(module_dir)
        except render_kms_policy.RenderError as e:
            return None, str(e)
    variables = dict(SAMPLE, enclave_pcr_sets=sets or [SET_A], retired_sealing_key_versions=retired)
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


def mixes(sets):
    """Attestations that take each PCR from one of two different sets, never
    all from one: (description, pcrs)."""
    out = []
    names = ("pcr0", "pcr1", "pcr2")
    for i, a in enumerate(sets):
        for j, b in enumerate(sets):
            if i == j:
                continue
            for mask in range(1, 2 ** len(names) - 1):
                pcrs = {n: (b if mask >> k & 1 else a)[n] for k, n in enumerate(names)}
                pcrs["pcr8"] = a.get("pcr8") if not mask & 1 else b.get("pcr8")
                taken = ", ".join(f"{n} of set {j if mask >> k & 1 else i}" for k, n in enumerate(names))
                out.append((taken, pcrs))
    return out


def check_decisions(policy, sets, retired, label):
    """The policy's logic on the requests that matter (kms_policy_logic)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from kms_policy_logic import ALLOW, EXPLICIT_DENY, PolicyError, attested, decide

    problems = []
    version = {VERSION_KEY: "2"}
    try:
        for i, pcrs in enumerate(sets):
            for action in ("kms:Decrypt", "kms:GenerateDataKey"):
                got = decide(policy, SAMPLE_ROLE, action, attested(pcrs, **CONTEXT, **version))
                if got != ALLOW:
                    problems.append(f"{label}: an enclave attested with set {i} is refused {action} ({got}): that image is locked out")
            for action in ("kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"):
                if decide(policy, SAMPLE_ROLE, action, attested(pcrs, **CONTEXT, **version)) == ALLOW:
                    problems.append(f"{label}: the enclave may {action}")
            for admin in SAMPLE["kms_admin_role_arns"]:
                if decide(policy, admin, "kms:Decrypt", attested(pcrs, **CONTEXT, **version)) != EXPLICIT_DENY:
                    problems.append(f"{label}: key administrator {admin} is not denied Decrypt")
            other = dict(CONTEXT, **{"kms:EncryptionContext:signet-deployment": "another"})
            if decide(policy, SAMPLE_ROLE, "kms:Decrypt", attested(pcrs, **other, **version)) == ALLOW:
                problems.append(f"{label}: set {i} decrypts another deployment's sealing key")
            for v in retired:
                got = decide(policy, SAMPLE_ROLE, "kms:Decrypt", attested(pcrs, **CONTEXT, **{VERSION_KEY: str(v)}))
                if got != EXPLICIT_DENY:
                    problems.append(f"{label}: retired version {v} is not denied to an enclave attested with set {i} ({got})")
        for taken, pcrs in mixes(sets):
            if decide(policy, SAMPLE_ROLE, "kms:Decrypt", attested(pcrs, **CONTEXT, **version)) == ALLOW:
                problems.append(f"{label}: a document mixing PCRs of two sets ({taken}) may Decrypt")
        debug = {"pcr0": "0" * 96, "pcr1": "0" * 96, "pcr2": "0" * 96}
        if decide(policy, SAMPLE_ROLE, "kms:Decrypt", attested(debug, **CONTEXT, **version)) == ALLOW:
            problems.append(f"{label}: a debug-mode enclave (PCRs all zeros) may Decrypt")
        unknown = {"pcr0": "ee" * 48, "pcr1": sets[0]["pcr1"], "pcr2": sets[0]["pcr2"], "pcr8": sets[0].get("pcr8")}
        if decide(policy, SAMPLE_ROLE, "kms:Decrypt", attested(unknown, **CONTEXT, **version)) == ALLOW:
            problems.append(f"{label}: another image (unknown PCR0) may Decrypt")
        if decide(policy, SAMPLE_ROLE, "kms:Decrypt", dict(CONTEXT, **version)) != EXPLICIT_DENY:
            problems.append(f"{label}: a Decrypt without an attestation document is not denied")
    except PolicyError as e:
        problems.append(f"{label}: cannot decide requests against the policy: {e}")
    return problems


def check_rendered(module_dir):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import render_kms_policy

    try:
        module_dir = render_kms_policy.Module(module_dir)
    except render_kms_policy.RenderError as e:
        return [f"cannot render the policy: {e}"]
    problems = []
    for sets in SAMPLE_SETS:
        for retired in ([], [1, 3]):
            problems += check_one_rendering(module_dir, sets, retired)
    return problems


def check_one_rendering(module_dir, sets, retired):
    problems = []
    label = f"rendered with {len(sets)} PCR set(s), retired_sealing_key_versions = {retired}"
    policy, error = render_sample(module_dir, retired, sets)
    if policy is None:
        return [f"{label}: cannot render the policy: {error}"]
    statements = policy.get("Statement", [])
    wanted = [{k: v.lower() for k, v in s.items() if v is not None} for s in sets]
    admitted = []
    for st in statements:
        sid = st.get("Sid", "(no Sid)")
        if st["Effect"] != "Allow":
            continue
        hits = [a for a in DECRYPT_CLASS if covers(st, a)]
        if not hits:
            continue
        if "NotPrincipal" in st or everyone(st.get("Principal")):
            problems.append(f"{label}: {sid} allows {', '.join(hits)} to every principal")
        required, why = required_set(st)
        if required is None:
            problems.append(f"{label}: {sid} allows {', '.join(hits)} without exactly one PCR set: {why}")
        elif required not in wanted:
            problems.append(f"{label}: {sid} allows {', '.join(hits)} for PCRs {required}, which are not one whole set of enclave_pcr_sets")
        else:
            admitted.append(required)
        for key, value in CONTEXT.items():
            if not requires(st, {"StringEquals"}, key, value):
                problems.append(f"{label}: {sid} allows {', '.join(hits)} without StringEquals {key} = {value!r}")
    for i, s in enumerate(wanted):
        if s not in admitted:
            problems.append(f"{label}: no statement allows PCR set {i} ({s['pcr0'][:8]}…): that image is locked out")
    problems += check_decisions(policy, sets, retired, label)
    problems += cloudsplaining(policy, label)
    denies = [st for st in statements if st["Effect"] == "Deny" and VERSION_KEY in json.dumps(st.get("Condition", {}))]
    if not retired:
        if denies:
            problems.append(f"{label}: a statement denies sealing-key versions though none is retired")
        return problems
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
            print(
                "ok: rendered with 1, 2 and 3 PCR sets, each Allow requires one whole set and this deployment's encryption context; "
                "each set decrypts, mixed sets, debug zeros, other images, unattested calls and administrators are refused; "
                "retired sealing-key versions are denied to everyone"
            )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
