"""Decides a request against a rendered KMS key policy, as AWS documents the
evaluation of one policy, for the parts of the policy language the Signet
key policies use, and refuses everything else (it never guesses):

- an explicit Deny of any statement that applies wins; else an Allow of any
  statement that applies allows; else the request is implicitly denied;
- a statement applies when its Principal names the caller ("*" or the exact
  ARN), its Action covers the action (wildcards, case-insensitive), its
  Resource is "*" (a key policy's only resource: this key), and every
  condition holds;
- conditions: the operators of one statement are ANDed, the keys under one
  operator are ANDed, the values of one key are ORed; StringEquals
  (case-sensitive) and StringEqualsIgnoreCase are false for a key absent
  from the request; Null "true" holds when the key is absent, "false" when it
  is present; Bool compares "true"/"false".

Sources: the IAM User Guide, "Conditions with multiple context keys or
values" and "Policy evaluation logic"; the KMS Developer Guide, "Condition
keys for Nitro Enclaves" (kms:RecipientAttestation:ImageSha384 is PCR0 of the
attestation document in the request's Recipient; PCR<n> the other PCRs).

NotAction, NotPrincipal, NotResource, IfExists and ForAnyValue/ForAllValues
operators, and any other operator, raise PolicyError.
"""
import fnmatch


class PolicyError(Exception):
    """A policy construct this evaluator does not model."""


ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"


def listed(v):
    return v if isinstance(v, list) else [v]


def principal_matches(principal, caller):
    if principal == "*":
        return True
    if not isinstance(principal, dict) or set(principal) - {"AWS"}:
        raise PolicyError(f"principal {principal!r}: only \"*\" and {{\"AWS\": ...}} are modelled")
    return any(p == "*" or p == caller for p in listed(principal["AWS"]))


def action_matches(statement, action):
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in listed(statement.get("Action", [])))


def condition_holds(operator, key, values, context):
    values = listed(values)
    present = key in context
    if operator == "StringEquals":
        return present and any(context[key] == v for v in values)
    if operator == "StringEqualsIgnoreCase":
        return present and any(context[key].lower() == v.lower() for v in values)
    if operator == "Null":
        return any((v == "true" and not present) or (v == "false" and present) for v in values)
    if operator == "Bool":
        return present and any(context[key].lower() == v.lower() for v in values)
    raise PolicyError(f"condition operator {operator!r} is not modelled")


def applies(statement, caller, action, context):
    for unsupported in ("NotAction", "NotPrincipal", "NotResource"):
        if unsupported in statement:
            raise PolicyError(f"{statement.get('Sid', '?')}: {unsupported} is not modelled")
    if listed(statement.get("Resource", [])) != ["*"]:
        raise PolicyError(f"{statement.get('Sid', '?')}: a key policy's Resource is \"*\"")
    if not principal_matches(statement.get("Principal"), caller):
        return False
    if not action_matches(statement, action):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            if not condition_holds(operator, key, values, context):
                return False
    return True


def decide(policy, caller, action, context):
    """ALLOW, EXPLICIT_DENY or IMPLICIT_DENY for `caller` (an ARN) calling
    `action` with the request context `context` ({condition key: string})."""
    allowed = False
    for statement in policy.get("Statement", []):
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"effect {effect!r}")
        if applies(statement, caller, action, context):
            if effect == "Deny":
                return EXPLICIT_DENY
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


PCR_KEYS = {
    "pcr0": "kms:RecipientAttestation:ImageSha384",
    "pcr1": "kms:RecipientAttestation:PCR1",
    "pcr2": "kms:RecipientAttestation:PCR2",
    "pcr8": "kms:RecipientAttestation:PCR8",
}


def attested(pcrs, **context):
    """The request context of a call whose Recipient carries an attestation
    document with these PCRs ({"pcr0": hex, ...}); KMS sets a key for every
    PCR of the document, so PCR8 is present (all zeros for an unsigned
    image) even where a policy does not ask for it."""
    out = dict(context)
    for name, key in PCR_KEYS.items():
        out[key] = pcrs.get(name) or "0" * 96
    return out
