//! Key policies: the IAM JSON document a KMS key carries, parsed once and
//! evaluated against one request. Pure functions, no I/O.
//!
//! Evaluation follows IAM's rules for a key policy that is the only policy in
//! play: a matching `Deny` wins over everything, otherwise one matching `Allow`
//! is needed, otherwise the request is implicitly denied. What is deliberately
//! not modelled: IAM identity policies (the account root in a key policy is
//! treated as "any principal of the account" instead of delegating to IAM),
//! grants, policy variables (`${aws:username}` is compared literally) and
//! operators other than the string/ARN/Bool/Null families.

use std::collections::BTreeMap;

use serde_json::Value;

/// Why a policy document was refused (KMS answers `MalformedPolicyDocumentException`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed key policy: {0}")]
pub struct PolicyError(pub String);

fn malformed(what: impl Into<String>) -> PolicyError {
    PolicyError(what.into())
}

/// Whether a statement allows or denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// The principals a statement names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Principals {
    /// `"Principal": "*"`.
    Anyone,
    /// The `AWS` entries (`"*"`, account ids, ARNs); other principal types
    /// (`Service`, `Federated`, …) never match an IAM caller and are dropped.
    Aws(Vec<String>),
}

/// An element and its `Not…` form (`Action`/`NotAction`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope<T> {
    Listed(T),
    AllBut(T),
}

/// One `"Operator": {"key": values}` test.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Condition {
    operator: String,
    key: String,
    values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    principal: Scope<Principals>,
    action: Scope<Vec<String>>,
    resource: Scope<Vec<String>>,
    conditions: Vec<Condition>,
}

/// A parsed key policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    statements: Vec<Statement>,
}

/// The outcome of evaluating a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows the request and none denies it.
    Allow,
    /// No statement allows the request.
    ImplicitDeny,
    /// A `Deny` statement matches (its `Sid`, if any).
    ExplicitDeny(Option<String>),
}

/// What a request looks like to a policy: who asks for which action on which
/// key, and the condition keys KMS provides for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The action, e.g. `kms:Decrypt`.
    pub action: String,
    /// The caller's ARN (an IAM user or role, or an STS assumed-role session).
    pub principal_arn: String,
    /// The key ARN.
    pub resource: String,
    /// Condition keys, by lowercase name (IAM condition key names are
    /// case-insensitive; their values are not).
    keys: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    /// A context for `action` by `principal_arn` on `resource`, with the
    /// global keys `aws:PrincipalArn`, `aws:PrincipalAccount` and
    /// `kms:CallerAccount` set.
    #[must_use]
    pub fn new(action: &str, principal_arn: &str, resource: &str) -> Self {
        let mut ctx = Self {
            action: action.to_owned(),
            principal_arn: principal_arn.to_owned(),
            resource: resource.to_owned(),
            keys: BTreeMap::new(),
        };
        let account = arn_account(principal_arn).unwrap_or_default().to_owned();
        ctx.set(
            "aws:PrincipalArn",
            vec![principal_arn_for_conditions(principal_arn)],
        );
        ctx.set("aws:PrincipalAccount", vec![account.clone()]);
        ctx.set("kms:CallerAccount", vec![account]);
        ctx.set("aws:SecureTransport", vec!["true".to_owned()]);
        ctx
    }

    /// Sets a condition key (several values make it multi-valued); appends
    /// when two names differ only in case.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.keys
            .entry(key.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }

    /// The values of a condition key; `None` when absent or empty.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.keys
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }
}

/// The policy KMS gives a key created without one: everything to the account root.
#[must_use]
pub fn default_policy_json(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

impl KeyPolicy {
    /// Parses a policy document. Refuses what IAM refuses: non-JSON, unknown
    /// elements, a statement without `Effect`, principal, action or resource,
    /// values that are not strings (or arrays of strings). Unknown condition
    /// operators are accepted here and fail closed at evaluation.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| malformed(format!("not JSON: {e}")))?;
        Self::from_value(&value)
    }

    /// [`KeyPolicy::from_json`] for an already parsed document.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let doc = value
            .as_object()
            .ok_or_else(|| malformed("the document is not a JSON object"))?;
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("unknown element `{key}`")));
            }
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(other) => return Err(malformed(format!("unsupported Version {other}"))),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.iter().map(parse_statement).collect(),
            Some(one @ Value::Object(_)) => parse_statement(one).map(|s| vec![s]),
            _ => Err(malformed("`Statement` must be an array of statements")),
        }?;
        Ok(Self { statements })
    }

    /// Decides `ctx`: an explicit deny wins, then any allow, else implicit deny.
    #[must_use]
    pub fn evaluate(&self, ctx: &RequestContext) -> Decision {
        let mut allowed = false;
        for statement in &self.statements {
            if !statement.matches_request(ctx) {
                continue;
            }
            let applies = match statement.conditions_hold(ctx) {
                Ok(hold) => hold,
                // Fail closed: an Allow we cannot evaluate does not allow,
                // a Deny we cannot evaluate denies.
                Err(UnknownOperator) => statement.effect == Effect::Deny,
            };
            if !applies {
                continue;
            }
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny(statement.sid.clone()),
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

fn parse_statement(value: &Value) -> Result<Statement, PolicyError> {
    let st = value
        .as_object()
        .ok_or_else(|| malformed("a statement is not a JSON object"))?;
    for key in st.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("unknown statement element `{key}`")));
        }
    }
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("`Sid` must be a string")),
    };
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed("`Effect` must be \"Allow\" or \"Deny\"")),
    };
    let principal = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(p), None) => Scope::Listed(parse_principal(p)?),
        (None, Some(p)) => Scope::AllBut(parse_principal(p)?),
        _ => {
            return Err(malformed(
                "a key policy statement needs exactly one of `Principal`, `NotPrincipal`",
            ))
        }
    };
    let action = either(st, "Action", "NotAction")?;
    let resource = either(st, "Resource", "NotResource")?;
    let conditions = match st.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn either(
    st: &serde_json::Map<String, Value>,
    listed: &str,
    all_but: &str,
) -> Result<Scope<Vec<String>>, PolicyError> {
    match (st.get(listed), st.get(all_but)) {
        (Some(v), None) => Ok(Scope::Listed(strings(v, listed)?)),
        (None, Some(v)) => Ok(Scope::AllBut(strings(v, all_but)?)),
        _ => Err(malformed(format!(
            "a statement needs exactly one of `{listed}`, `{all_but}`"
        ))),
    }
}

/// A string or a non-empty array of strings (Terraform renders one value as
/// a string, several as an array).
fn strings(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| malformed(format!("`{what}` entries must be strings")))
            })
            .collect(),
        _ => Err(malformed(format!(
            "`{what}` must be a string or a non-empty array of strings"
        ))),
    }
}

fn parse_principal(value: &Value) -> Result<Principals, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(map) if !map.is_empty() => {
            let mut aws = Vec::new();
            for (kind, entries) in map {
                let entries = strings(entries, "Principal")?;
                match kind.as_str() {
                    "AWS" => aws.extend(entries),
                    "Service" | "Federated" | "CanonicalUser" => {}
                    other => return Err(malformed(format!("unknown principal type `{other}`"))),
                }
            }
            Ok(Principals::Aws(aws))
        }
        _ => Err(malformed(
            "`Principal` must be \"*\" or an object such as {\"AWS\": [...]}",
        )),
    }
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let operators = value
        .as_object()
        .ok_or_else(|| malformed("`Condition` must be an object"))?;
    let mut out = Vec::new();
    for (operator, tests) in operators {
        let tests = tests
            .as_object()
            .ok_or_else(|| malformed(format!("condition `{operator}` must be an object")))?;
        for (key, values) in tests {
            out.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values: condition_values(values)
                    .ok_or_else(|| malformed(format!("bad values for condition key `{key}`")))?,
            });
        }
    }
    Ok(out)
}

/// Condition values: strings, booleans or numbers, alone or in an array.
fn condition_values(value: &Value) -> Option<Vec<String>> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// An operator this evaluator does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UnknownOperator;

impl Statement {
    fn matches_request(&self, ctx: &RequestContext) -> bool {
        let principal = match &self.principal {
            Scope::Listed(p) => principal_matches(p, &ctx.principal_arn),
            Scope::AllBut(p) => !principal_matches(p, &ctx.principal_arn),
        };
        let action = match &self.action {
            Scope::Listed(list) => list.iter().any(|a| action_matches(a, &ctx.action)),
            Scope::AllBut(list) => !list.iter().any(|a| action_matches(a, &ctx.action)),
        };
        let resource = match &self.resource {
            Scope::Listed(list) => list.iter().any(|r| glob(r, &ctx.resource)),
            Scope::AllBut(list) => !list.iter().any(|r| glob(r, &ctx.resource)),
        };
        principal && action && resource
    }

    fn conditions_hold(&self, ctx: &RequestContext) -> Result<bool, UnknownOperator> {
        let mut all = true;
        for condition in &self.conditions {
            // Evaluate every condition so an unknown operator is never hidden
            // behind an earlier false one.
            all &= condition_holds(condition, ctx)?;
        }
        Ok(all)
    }
}

fn principal_matches(principals: &Principals, caller: &str) -> bool {
    match principals {
        Principals::Anyone => true,
        Principals::Aws(entries) => entries.iter().any(|e| aws_principal_matches(e, caller)),
    }
}

/// One `AWS` principal entry against the caller: `*`; an account (`123456789012`
/// or `arn:aws:iam::123456789012:root`, which here stands for every principal
/// of that account); the exact ARN; or a role ARN, which also matches that
/// role's STS sessions (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`).
fn aws_principal_matches(entry: &str, caller: &str) -> bool {
    if entry == "*" || entry == caller {
        return true;
    }
    let caller_account = arn_account(caller);
    if entry.len() == 12 && entry.bytes().all(|b| b.is_ascii_digit()) {
        return caller_account == Some(entry);
    }
    if let Some(account) = entry
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
    {
        return caller_account == Some(account);
    }
    match (role_of(entry), assumed_role_of(caller)) {
        (Some((account, role)), Some((caller_account, caller_role))) => {
            account == caller_account && role == caller_role
        }
        _ => false,
    }
}

/// The account field of an ARN.
#[must_use]
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.nth(3).filter(|a| !a.is_empty())
}

/// `arn:aws:iam::ACCT:role/[PATH/]NAME` → (ACCT, NAME).
fn role_of(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("role/")?;
    Some((account, path.rsplit('/').next()?))
}

/// `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` → (ACCT, NAME).
fn assumed_role_of(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:sts::")?;
    let (account, resource) = rest.split_once(':')?;
    let mut parts = resource.strip_prefix("assumed-role/")?.split('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    parts.next()?;
    Some((account, name))
}

/// IAM reports an assumed-role session's `aws:PrincipalArn` as the role's ARN.
fn principal_arn_for_conditions(caller: &str) -> String {
    match assumed_role_of(caller) {
        Some((account, role)) => format!("arn:aws:iam::{account}:role/{role}"),
        None => caller.to_owned(),
    }
}

fn action_matches(pattern: &str, action: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// Wildcard match: `*` any run of characters, `?` any one character.
#[must_use]
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOperator {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    Equals,
    EqualsIgnoreCase,
    Like,
    Arn,
    Bool,
    Null,
}

/// A parsed operator: set qualifier, test, negation, `IfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Operator {
    set: SetOperator,
    test: Test,
    negated: bool,
    if_exists: bool,
}

fn parse_operator(raw: &str) -> Option<Operator> {
    let (set, rest) = if let Some(rest) = raw.strip_prefix("ForAnyValue:") {
        (SetOperator::ForAnyValue, rest)
    } else if let Some(rest) = raw.strip_prefix("ForAllValues:") {
        (SetOperator::ForAllValues, rest)
    } else {
        (SetOperator::Single, raw)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let (test, negated) = match base {
        "StringEquals" => (Test::Equals, false),
        "StringNotEquals" => (Test::Equals, true),
        "StringEqualsIgnoreCase" => (Test::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::EqualsIgnoreCase, true),
        "StringLike" => (Test::Like, false),
        "StringNotLike" => (Test::Like, true),
        "ArnEquals" | "ArnLike" => (Test::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
        "Bool" => (Test::Bool, false),
        "Null" if !if_exists => (Test::Null, false),
        _ => return None,
    };
    Some(Operator {
        set,
        test,
        negated,
        if_exists,
    })
}

/// The positive form of `test`: does request value `v` match policy value `p`?
fn value_matches(test: Test, v: &str, p: &str) -> bool {
    match test {
        Test::Equals => v == p,
        Test::EqualsIgnoreCase => v.to_lowercase() == p.to_lowercase(),
        Test::Like => glob(p, v),
        Test::Bool => v.eq_ignore_ascii_case(p),
        Test::Arn => {
            let (pp, vp): (Vec<&str>, Vec<&str>) =
                (p.splitn(6, ':').collect(), v.splitn(6, ':').collect());
            pp.len() == 6 && vp.len() == 6 && pp.iter().zip(&vp).all(|(p, v)| glob(p, v))
        }
        Test::Null => false,
    }
}

fn condition_holds(condition: &Condition, ctx: &RequestContext) -> Result<bool, UnknownOperator> {
    let op = parse_operator(&condition.operator).ok_or(UnknownOperator)?;
    let values = ctx.get(&condition.key);
    if op.test == Test::Null {
        let present = values.is_some();
        return Ok(condition
            .values
            .iter()
            .any(|p| match p.to_ascii_lowercase().as_str() {
                "true" => !present,
                "false" => present,
                _ => false,
            }));
    }
    let Some(values) = values else {
        // IAM: an absent key makes a positive test false and a negated one
        // true; ForAnyValue is false and ForAllValues true on an empty set.
        return Ok(op.if_exists
            || match op.set {
                SetOperator::Single => op.negated,
                SetOperator::ForAnyValue => false,
                SetOperator::ForAllValues => true,
            });
    };
    let hit = |v: &String| {
        condition
            .values
            .iter()
            .any(|p| value_matches(op.test, v, p))
    };
    Ok(match (op.set, op.negated) {
        (SetOperator::Single | SetOperator::ForAnyValue, false) => values.iter().any(hit),
        (SetOperator::Single, true) => !values.iter().any(hit),
        (SetOperator::ForAnyValue, true) => values.iter().any(|v| !hit(v)),
        (SetOperator::ForAllValues, false) => values.iter().all(hit),
        (SetOperator::ForAllValues, true) => values.iter().all(|v| !hit(v)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";
    const INSTANCE_ROLE: &str = "arn:aws:iam::111122223333:role/signet-instance";
    const INSTANCE_SESSION: &str =
        "arn:aws:sts::111122223333:assumed-role/signet-instance/i-0123456789abcdef0";
    const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/admin";
    const PCR0: &str = "aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00";
    const PCR1: &str = "bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11bb11";
    const PCR2: &str = "cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22cc22";

    fn policy(json: serde_json::Value) -> KeyPolicy {
        KeyPolicy::from_value(&json).unwrap()
    }

    fn ctx(action: &str, principal: &str) -> RequestContext {
        RequestContext::new(action, principal, KEY)
    }

    fn with_attestation(mut c: RequestContext, pcr0: &str) -> RequestContext {
        c.set(
            "kms:RecipientAttestation:ImageSha384",
            vec![pcr0.to_owned()],
        );
        c.set("kms:RecipientAttestation:PCR0", vec![pcr0.to_owned()]);
        c.set("kms:RecipientAttestation:PCR1", vec![PCR1.to_owned()]);
        c.set("kms:RecipientAttestation:PCR2", vec![PCR2.to_owned()]);
        c
    }

    /// An Allow for everyone on kms:Decrypt with one condition.
    fn allow_if(operator: &str, key: &str, values: serde_json::Value) -> KeyPolicy {
        policy(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {operator: {key: values}}
            }]
        }))
    }

    fn terraform_policy(pcr0: &str) -> KeyPolicy {
        let text = include_str!("../tests/data/terraform_sealing_policy.json")
            .replace("<PCR0 hex>", pcr0)
            .replace("<PCR1 hex>", PCR1)
            .replace("<PCR2 hex>", PCR2);
        KeyPolicy::from_json(&text).unwrap()
    }

    #[test]
    fn explicit_deny_wins_over_allow() {
        let p = policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
        ]}));
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::ExplicitDeny(Some("NoDecrypt".into()))
        );
        assert_eq!(
            p.evaluate(&ctx("kms:GenerateDataKey", INSTANCE_ROLE)),
            Decision::Allow
        );
    }

    #[test]
    fn no_statement_is_implicit_deny() {
        let p = policy(serde_json::json!({"Statement": []}));
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn ignore_case_on_image_sha384_matches_and_mismatches() {
        let p = allow_if(
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:ImageSha384",
            serde_json::json!([PCR0]),
        );
        let right = with_attestation(ctx("kms:Decrypt", INSTANCE_ROLE), PCR0);
        assert_eq!(p.evaluate(&right), Decision::Allow);
        let wrong = with_attestation(ctx("kms:Decrypt", INSTANCE_ROLE), &PCR0.replace('a', "d"));
        assert_eq!(p.evaluate(&wrong), Decision::ImplicitDeny);
    }

    #[test]
    fn uppercase_pcr_in_policy_matches_only_with_ignore_case() {
        let upper = PCR1.to_ascii_uppercase();
        let request = with_attestation(ctx("kms:Decrypt", INSTANCE_ROLE), PCR0);
        let ignore = allow_if(
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:PCR1",
            serde_json::json!(upper),
        );
        assert_eq!(ignore.evaluate(&request), Decision::Allow);
        let exact = allow_if(
            "StringEquals",
            "kms:RecipientAttestation:PCR1",
            serde_json::json!(upper),
        );
        assert_eq!(exact.evaluate(&request), Decision::ImplicitDeny);
    }

    #[test]
    fn condition_key_names_are_case_insensitive() {
        let p = allow_if(
            "StringEquals",
            "KMS:recipientattestation:imagesha384",
            serde_json::json!(PCR0),
        );
        let request = with_attestation(ctx("kms:Decrypt", INSTANCE_ROLE), PCR0);
        assert_eq!(p.evaluate(&request), Decision::Allow);
    }

    #[test]
    fn null_true_and_false() {
        let absent = ctx("kms:Decrypt", INSTANCE_ROLE);
        let present = with_attestation(ctx("kms:Decrypt", INSTANCE_ROLE), PCR0);
        let when_absent = allow_if(
            "Null",
            "kms:RecipientAttestation:ImageSha384",
            serde_json::json!(["true"]),
        );
        assert_eq!(when_absent.evaluate(&absent), Decision::Allow);
        assert_eq!(when_absent.evaluate(&present), Decision::ImplicitDeny);
        let when_present = allow_if(
            "Null",
            "kms:RecipientAttestation:ImageSha384",
            serde_json::json!("false"),
        );
        assert_eq!(when_present.evaluate(&absent), Decision::ImplicitDeny);
        assert_eq!(when_present.evaluate(&present), Decision::Allow);
        // A JSON boolean is the same as the string.
        let boolean = allow_if(
            "Null",
            "kms:RecipientAttestation:ImageSha384",
            serde_json::json!(true),
        );
        assert_eq!(boolean.evaluate(&absent), Decision::Allow);
    }

    #[test]
    fn absent_key_fails_string_equals_and_passes_string_not_equals() {
        let absent = ctx("kms:Decrypt", INSTANCE_ROLE);
        let eq = allow_if(
            "StringEquals",
            "kms:EncryptionContext:purpose",
            serde_json::json!("sealing"),
        );
        assert_eq!(eq.evaluate(&absent), Decision::ImplicitDeny);
        let ne = allow_if(
            "StringNotEquals",
            "kms:EncryptionContext:purpose",
            serde_json::json!("sealing"),
        );
        assert_eq!(ne.evaluate(&absent), Decision::Allow);
        let eq_if_exists = allow_if(
            "StringEqualsIfExists",
            "kms:EncryptionContext:purpose",
            serde_json::json!("sealing"),
        );
        assert_eq!(eq_if_exists.evaluate(&absent), Decision::Allow);
    }

    #[test]
    fn string_not_equals_on_present_key() {
        let mut c = ctx("kms:Decrypt", INSTANCE_ROLE);
        c.set("kms:EncryptionContext:purpose", vec!["sealing".into()]);
        let ne = allow_if(
            "StringNotEquals",
            "kms:EncryptionContext:purpose",
            serde_json::json!(["a", "sealing"]),
        );
        assert_eq!(ne.evaluate(&c), Decision::ImplicitDeny);
        let ne_other = allow_if(
            "StringNotEquals",
            "kms:EncryptionContext:purpose",
            serde_json::json!(["a", "b"]),
        );
        assert_eq!(ne_other.evaluate(&c), Decision::Allow);
    }

    #[test]
    fn for_any_value_and_for_all_values() {
        let mut two = ctx("kms:Decrypt", INSTANCE_ROLE);
        two.set(
            "kms:EncryptionContextKeys",
            vec!["purpose".into(), "tenant".into()],
        );
        let none = ctx("kms:Decrypt", INSTANCE_ROLE);

        let any = allow_if(
            "ForAnyValue:StringEquals",
            "kms:EncryptionContextKeys",
            serde_json::json!("tenant"),
        );
        assert_eq!(any.evaluate(&two), Decision::Allow);
        assert_eq!(
            any.evaluate(&none),
            Decision::ImplicitDeny,
            "ForAnyValue on an empty set is false"
        );

        let all = allow_if(
            "ForAllValues:StringEquals",
            "kms:EncryptionContextKeys",
            serde_json::json!("purpose"),
        );
        assert_eq!(
            all.evaluate(&two),
            Decision::ImplicitDeny,
            "tenant is not allowed"
        );
        let all_both = allow_if(
            "ForAllValues:StringEquals",
            "kms:EncryptionContextKeys",
            serde_json::json!(["purpose", "tenant"]),
        );
        assert_eq!(all_both.evaluate(&two), Decision::Allow);
        assert_eq!(
            all.evaluate(&none),
            Decision::Allow,
            "ForAllValues on an empty set is true"
        );

        let any_not = allow_if(
            "ForAnyValue:StringNotEquals",
            "kms:EncryptionContextKeys",
            serde_json::json!("purpose"),
        );
        assert_eq!(any_not.evaluate(&two), Decision::Allow);
        let all_not = allow_if(
            "ForAllValues:StringNotEquals",
            "kms:EncryptionContextKeys",
            serde_json::json!("purpose"),
        );
        assert_eq!(all_not.evaluate(&two), Decision::ImplicitDeny);
    }

    #[test]
    fn string_like_wildcards() {
        let mut c = ctx("kms:Decrypt", INSTANCE_ROLE);
        c.set(
            "kms:EncryptionContext:wallet",
            vec!["tenant-7/wallet-3".into()],
        );
        let like = allow_if(
            "StringLike",
            "kms:EncryptionContext:wallet",
            serde_json::json!("tenant-?/*"),
        );
        assert_eq!(like.evaluate(&c), Decision::Allow);
        let unlike = allow_if(
            "StringLike",
            "kms:EncryptionContext:wallet",
            serde_json::json!("tenant-??/*"),
        );
        assert_eq!(unlike.evaluate(&c), Decision::ImplicitDeny);
        let not_like = allow_if(
            "StringNotLike",
            "kms:EncryptionContext:wallet",
            serde_json::json!("tenant-8*"),
        );
        assert_eq!(not_like.evaluate(&c), Decision::Allow);
    }

    #[test]
    fn bool_condition() {
        let p = allow_if("Bool", "aws:SecureTransport", serde_json::json!(true));
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::Allow
        );
        let f = allow_if("Bool", "aws:SecureTransport", serde_json::json!("false"));
        assert_eq!(
            f.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::ImplicitDeny
        );
        let absent = allow_if("Bool", "aws:ViaAWSService", serde_json::json!("false"));
        assert_eq!(
            absent.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn wildcard_actions_case_insensitive() {
        for (pattern, action, allowed) in [
            ("kms:*", "kms:Decrypt", true),
            ("*", "kms:Decrypt", true),
            ("kms:Generate*", "kms:GenerateDataKey", true),
            ("KMS:generatedatakey", "kms:GenerateDataKey", true),
            ("kms:Create*", "kms:Decrypt", false),
            ("kms:Decrypt", "kms:DecryptX", false),
            ("kms:De?rypt", "kms:Decrypt", true),
            ("s3:*", "kms:Decrypt", false),
        ] {
            let p = policy(serde_json::json!({"Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": [pattern], "Resource": "*"}
            ]}));
            let expected = if allowed {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(
                p.evaluate(&ctx(action, INSTANCE_ROLE)),
                expected,
                "{pattern} vs {action}"
            );
        }
    }

    #[test]
    fn not_action_and_resource_patterns() {
        let p = policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "NotAction": "kms:Decrypt",
             "Resource": "arn:aws:kms:us-east-1:111122223333:key/*"}
        ]}));
        assert_eq!(
            p.evaluate(&ctx("kms:GenerateDataKey", INSTANCE_ROLE)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::ImplicitDeny
        );
        let other_key = RequestContext::new(
            "kms:GenerateDataKey",
            INSTANCE_ROLE,
            "arn:aws:kms:eu-west-1:111122223333:key/k1",
        );
        assert_eq!(p.evaluate(&other_key), Decision::ImplicitDeny);
    }

    #[test]
    fn root_principal_means_any_principal_of_the_account() {
        let p = KeyPolicy::from_json(&default_policy_json(ACCOUNT)).unwrap();
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&ctx("kms:DisableKey", INSTANCE_SESSION)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&ctx(
                "kms:Decrypt",
                "arn:aws:iam::999988887777:role/signet-instance"
            )),
            Decision::ImplicitDeny
        );
        let bare = policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "kms:*", "Resource": "*"}
        ]}));
        assert_eq!(
            bare.evaluate(&ctx("kms:Decrypt", ADMIN_ROLE)),
            Decision::Allow
        );
    }

    #[test]
    fn role_principal_matches_its_sessions_only() {
        let p = policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [INSTANCE_ROLE]}, "Action": "kms:Decrypt", "Resource": "*"}
        ]}));
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_ROLE)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_SESSION)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", ADMIN_ROLE)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(&ctx(
                "kms:Decrypt",
                "arn:aws:sts::111122223333:assumed-role/admin/x"
            )),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(&ctx(
                "kms:Decrypt",
                "arn:aws:sts::999988887777:assumed-role/signet-instance/x"
            )),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn principal_arn_condition_of_a_session_is_the_role() {
        let p = allow_if(
            "ArnEquals",
            "aws:PrincipalArn",
            serde_json::json!(INSTANCE_ROLE),
        );
        assert_eq!(
            p.evaluate(&ctx("kms:Decrypt", INSTANCE_SESSION)),
            Decision::Allow
        );
        let like = allow_if(
            "ArnLike",
            "aws:PrincipalArn",
            serde_json::json!("arn:aws:iam::*:role/signet-*"),
        );
        assert_eq!(
            like.evaluate(&ctx("kms:Decrypt", INSTANCE_SESSION)),
            Decision::Allow
        );
        assert_eq!(
            like.evaluate(&ctx("kms:Decrypt", ADMIN_ROLE)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn unknown_operator_fails_closed() {
        let allow = allow_if(
            "NumericLessThan",
            "kms:EncryptionContext:n",
            serde_json::json!("5"),
        );
        let mut c = ctx("kms:Decrypt", INSTANCE_ROLE);
        c.set("kms:EncryptionContext:n", vec!["1".into()]);
        assert_eq!(
            allow.evaluate(&c),
            Decision::ImplicitDeny,
            "an Allow we cannot evaluate does not allow"
        );

        let deny = policy(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "Weird", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:n": "no"}, "stringequals": {"x": "y"}}}
        ]}));
        assert_eq!(
            deny.evaluate(&c),
            Decision::ExplicitDeny(Some("Weird".into())),
            "a Deny we cannot evaluate denies"
        );
        assert_eq!(
            deny.evaluate(&ctx("kms:Encrypt", INSTANCE_ROLE)),
            Decision::Allow,
            "only for its actions"
        );
    }

    #[test]
    fn terraform_policy_allows_attested_decrypt_only() {
        let p = terraform_policy(PCR0);
        for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
            let attested = with_attestation(ctx(action, INSTANCE_SESSION), PCR0);
            assert_eq!(p.evaluate(&attested), Decision::Allow, "{action}");
            let plain = ctx(action, INSTANCE_SESSION);
            assert_eq!(
                p.evaluate(&plain),
                Decision::ExplicitDeny(Some("DenyUseWithoutAttestation".into())),
                "{action} without Recipient"
            );
            let other_image =
                with_attestation(ctx(action, INSTANCE_SESSION), &PCR0.replace('a', "e"));
            assert_eq!(
                p.evaluate(&other_image),
                Decision::ImplicitDeny,
                "{action} another PCR0"
            );
        }
        let mut other_pcr1 = with_attestation(ctx("kms:Decrypt", INSTANCE_SESSION), PCR0);
        other_pcr1
            .keys
            .insert("kms:recipientattestation:pcr1".into(), vec![PCR2.into()]);
        assert_eq!(p.evaluate(&other_pcr1), Decision::ImplicitDeny);
    }

    #[test]
    fn terraform_policy_accepts_uppercase_pcrs() {
        let p = terraform_policy(&PCR0.to_ascii_uppercase());
        let attested = with_attestation(ctx("kms:Decrypt", INSTANCE_ROLE), PCR0);
        assert_eq!(p.evaluate(&attested), Decision::Allow);
    }

    #[test]
    fn terraform_policy_keeps_admins_away_from_data() {
        let p = terraform_policy(PCR0);
        assert_eq!(
            p.evaluate(&ctx("kms:DisableKey", ADMIN_ROLE)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&ctx("kms:DisableKey", INSTANCE_ROLE)),
            Decision::ImplicitDeny
        );
        let attested_admin = with_attestation(ctx("kms:Decrypt", ADMIN_ROLE), PCR0);
        assert_eq!(
            p.evaluate(&attested_admin),
            Decision::ExplicitDeny(Some("DenyAdministratorsDecryption".into()))
        );
        assert_eq!(
            p.evaluate(&ctx("kms:GenerateRandom", INSTANCE_ROLE)),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"Statement": "x"}"#,
            r#"{"Version": "2099-01-01", "Statement": []}"#,
            r#"{"Statement": [{"Effect": "Permit", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "*"}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*"}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Principal": "me", "Action": "kms:*", "Resource": "*"}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Extra": 1}]}"#,
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"k": {"x": 1}}}}]}"#,
        ] {
            assert!(KeyPolicy::from_json(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("**", "abc"));
        assert!(!glob("?", ""));
        assert!(glob("a*", "a"));
    }

    #[test]
    fn arn_account_parses() {
        assert_eq!(arn_account(INSTANCE_SESSION), Some(ACCOUNT));
        assert_eq!(arn_account(KEY), Some(ACCOUNT));
        assert_eq!(arn_account("nope"), None);
    }
}
