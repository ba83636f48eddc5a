//! SigV4 verification of KMS requests.
//!
//! The signature is recomputed with the `aws-sigv4` crate (the same code AWS
//! SDKs sign with) over exactly the headers the request lists in
//! `SignedHeaders`, at the request's own `X-Amz-Date`, and compared in
//! constant time. Refusals carry the `__type` AWS answers with.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How far `X-Amz-Date` may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A caller's access key, what it authenticates as, and its limits.
#[derive(Clone)]
pub struct Credential {
    /// The access key id (`AKIA…`/`ASIA…`).
    pub access_key_id: String,
    secret_access_key: Zeroizing<String>,
    /// Who the key authenticates as: an IAM user/role ARN or an STS
    /// assumed-role session ARN.
    pub principal_arn: String,
    session_token: Option<Zeroizing<String>>,
    /// When the credential stops working, Unix seconds.
    pub expires_unix: Option<u64>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("principal_arn", &self.principal_arn)
            .field("secret_access_key", &"[redacted]")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_unix", &self.expires_unix)
            .finish()
    }
}

/// A `--credentials` value that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--credentials: {0} (expected AKID:SECRET:PRINCIPAL_ARN[:SESSION_TOKEN[:EXPIRES_UNIX]])")]
pub struct CredentialSpecError(&'static str);

impl Credential {
    /// A credential; `session_token` makes it temporary (STS) credentials.
    #[must_use]
    pub fn new(
        access_key_id: &str,
        secret_access_key: &str,
        principal_arn: &str,
        session_token: Option<&str>,
        expires_unix: Option<u64>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Zeroizing::new(secret_access_key.to_owned()),
            principal_arn: principal_arn.to_owned(),
            session_token: session_token.map(|t| Zeroizing::new(t.to_owned())),
            expires_unix,
        }
    }

    /// Parses `AKID:SECRET:PRINCIPAL_ARN[:SESSION_TOKEN[:EXPIRES_UNIX]]`, where
    /// the ARN is the six colon-separated fields `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    /// An empty SESSION_TOKEN means none.
    pub fn parse(spec: &str) -> Result<Self, CredentialSpecError> {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() < 8 || parts.len() > 10 {
            return Err(CredentialSpecError("wrong number of fields"));
        }
        let (akid, secret) = (parts[0], parts[1]);
        if akid.is_empty() || secret.is_empty() {
            return Err(CredentialSpecError("empty access key id or secret"));
        }
        let arn = parts[2..8].join(":");
        if parts[2] != "arn" || parts[6].len() != 12 || parts[7].is_empty() {
            return Err(CredentialSpecError(
                "PRINCIPAL_ARN is not an ARN with an account",
            ));
        }
        let token = parts.get(8).copied().filter(|t| !t.is_empty());
        let expires = match parts.get(9) {
            None => None,
            Some(e) => Some(
                e.parse::<u64>()
                    .map_err(|_| CredentialSpecError("EXPIRES_UNIX is not a number"))?,
            ),
        };
        Ok(Self::new(akid, secret, &arn, token, expires))
    }
}

/// Why a request was not authenticated, as AWS names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header or the date header is missing or malformed.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The signature, its scope or its date is wrong.
    #[error("{0}")]
    InvalidSignature(String),
    /// Unknown access key, or a session token that is not the key's.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The credential is past its expiry.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

impl AuthError {
    /// The `__type` AWS answers with.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::ExpiredToken => "ExpiredTokenException",
        }
    }
}

/// The parts of an HTTP request a signature covers.
#[derive(Clone, Copy, Debug)]
pub struct SignedParts<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The request target as sent (`/`).
    pub path_and_query: &'a str,
    /// All request headers.
    pub headers: &'a http::HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

struct Authorization<'a> {
    access_key_id: &'a str,
    scope_date: &'a str,
    scope_region: &'a str,
    scope_service: &'a str,
    scope_terminator: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let (algorithm, rest) = value
        .split_once(' ')
        .ok_or_else(|| incomplete(value, &["Credential", "Signature", "SignedHeaders"]))?;
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((name, v)) = part.trim().split_once('=') else {
            continue;
        };
        match name {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Credential");
    }
    if signature.is_none() {
        missing.push("Signature");
    }
    if signed_headers.is_none() {
        missing.push("SignedHeaders");
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(value, &missing));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, scope_region, scope_service, scope_terminator] = scope[..]
    else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should have exactly 5 slash-separated parts, not {}: '{credential}'",
            scope.len()
        )));
    };
    Ok(Authorization {
        access_key_id,
        scope_date,
        scope_region,
        scope_service,
        scope_terminator,
        signed_headers,
        signature,
    })
}

fn incomplete(value: &str, missing: &[&str]) -> AuthError {
    let mut message: String = missing
        .iter()
        .map(|m| format!("Authorization header requires '{m}' parameter. "))
        .collect();
    message.push_str(&format!("Authorization={value}"));
    AuthError::IncompleteSignature(message)
}

fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Verifies the SigV4 signature of a request for `service` in `region` at
/// `now`, returning the credential it was made with. Checks, in order: the
/// `Authorization` header's shape, `X-Amz-Date`, the credential scope
/// (date, region, service, terminator), that `host` and `x-amz-date` are
/// signed, the 5-minute window, the access key, the session token, the
/// credential's expiry, and finally the signature itself.
pub fn verify<'c>(
    request: &SignedParts<'_>,
    credentials: &'c [Credential],
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<&'c Credential, AuthError> {
    let raw = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::MissingAuthenticationToken)?
        .to_str()
        .map_err(|_| AuthError::IncompleteSignature("Authorization header is not ASCII".into()))?;
    let auth = parse_authorization(raw)?;
    let amz_date = header(request.headers, "x-amz-date").ok_or_else(|| {
        AuthError::IncompleteSignature(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={raw}"
        ))
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    if auth.scope_terminator != "aws4_request" {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            auth.scope_terminator
        )));
    }
    if auth.scope_service != service {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if auth.scope_region != region {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.scope_region
        )));
    }
    if auth.scope_date != &amz_date[..8] {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from 'X-Amz-Date'.",
            auth.scope_date,
            &amz_date[..8]
        )));
    }
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(AuthError::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if !signed.contains(&"x-amz-date") {
        return Err(AuthError::InvalidSignature(
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    check_window(signed_at, now)?;

    let credential = credentials
        .iter()
        .find(|c| c.access_key_id == auth.access_key_id)
        .ok_or(AuthError::UnrecognizedClient)?;
    let sent_token = header(request.headers, "x-amz-security-token");
    let token_ok = match (&credential.session_token, sent_token) {
        (None, None) => true,
        (Some(expected), Some(sent)) => bool::from(expected.as_bytes().ct_eq(sent.as_bytes())),
        _ => false,
    };
    if !token_ok {
        return Err(AuthError::UnrecognizedClient);
    }
    if let Some(expires) = credential.expires_unix {
        if unix_secs(now) >= expires {
            return Err(AuthError::ExpiredToken);
        }
    }

    let (expected_headers, expected_signature) =
        compute_signature(request, credential, &signed, region, service, signed_at)?;
    let same_signature = bool::from(
        expected_signature
            .as_bytes()
            .ct_eq(auth.signature.as_bytes()),
    );
    if !same_signature || expected_headers != auth.signed_headers {
        return Err(AuthError::InvalidSignature(SIGNATURE_MISMATCH.into()));
    }
    Ok(credential)
}

fn check_window(signed_at: SystemTime, now: SystemTime) -> Result<(), AuthError> {
    let fmt = |t: SystemTime| format_amz_date(unix_secs(t));
    if signed_at + MAX_SKEW < now {
        return Err(AuthError::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            fmt(signed_at),
            fmt(now - MAX_SKEW),
            fmt(now)
        )));
    }
    if signed_at > now + MAX_SKEW {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            fmt(signed_at),
            fmt(now + MAX_SKEW),
            fmt(now)
        )));
    }
    Ok(())
}

/// Recomputes (SignedHeaders, Signature) for `request` over the headers in
/// `signed`, as an AWS SDK would have signed them.
fn compute_signature(
    request: &SignedParts<'_>,
    credential: &Credential,
    signed: &[&str],
    region: &str,
    service: &str,
    signed_at: SystemTime,
) -> Result<(String, String), AuthError> {
    let mismatch = || AuthError::InvalidSignature(SIGNATURE_MISMATCH.into());
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for &name in signed {
        // aws-sigv4 adds these two itself, from the signing time and the credential.
        if name == "x-amz-date" || name == "x-amz-security-token" {
            continue;
        }
        let mut any = false;
        for value in request.headers.get_all(name) {
            headers.push((name, value.to_str().map_err(|_| mismatch())?));
            any = true;
        }
        if !any {
            return Err(mismatch());
        }
    }
    let identity: Identity = Credentials::new(
        credential.access_key_id.as_str(),
        credential.secret_access_key.as_str(),
        credential.session_token.as_ref().map(|t| t.to_string()),
        None,
        "signet-kms-fake",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the client listed, whatever SDK defaults would skip.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.path_and_query,
        headers.into_iter(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|_| mismatch())?;
    let (instructions, signature) = sign(signable, &params)
        .map_err(|_| mismatch())?
        .into_parts();
    let signed_headers = instructions
        .headers()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| {
            value
                .split(',')
                .find_map(|p| p.trim().strip_prefix("SignedHeaders="))
                .map(str::to_owned)
        })
        .ok_or_else(mismatch)?;
    Ok((signed_headers, signature))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Parses `YYYYMMDDTHHMMSSZ`.
#[must_use]
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = signet_proto::time::days_from_civil(
        year,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    );
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
#[must_use]
pub fn format_amz_date(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let rem = unix % 86_400;
    let (y, m, d) = signet_proto::time::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: &str = "us-east-1";
    const ROLE: &str = "arn:aws:sts::111122223333:assumed-role/signet-instance/i-1";
    const BODY: &[u8] =
        br#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k1","KeySpec":"AES_256"}"#;

    fn creds() -> Vec<Credential> {
        vec![
            Credential::new(
                "AKIDSTATIC",
                "static-secret",
                "arn:aws:iam::111122223333:role/admin",
                None,
                None,
            ),
            Credential::new(
                "ASIATEMP",
                "temp-secret",
                ROLE,
                Some("session-token-1"),
                Some(4_000_000_000),
            ),
        ]
    }

    struct Signed {
        headers: http::HeaderMap,
        body: Vec<u8>,
        path: String,
    }

    /// Signs a KMS request the way an SDK does.
    fn sign_request(
        akid: &str,
        secret: &str,
        token: Option<&str>,
        region: &str,
        service: &str,
        at: SystemTime,
    ) -> Signed {
        let base = [
            ("content-type", "application/x-amz-json-1.1"),
            ("host", "kms.us-east-1.amazonaws.com"),
            ("x-amz-target", "TrentService.GenerateDataKey"),
        ];
        let identity: Identity =
            Credentials::new(akid, secret, token.map(str::to_owned), None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            "https://kms.us-east-1.amazonaws.com/",
            base.iter().copied(),
            SignableBody::Bytes(BODY),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut headers = http::HeaderMap::new();
        for (k, v) in base.iter().copied().chain(instructions.headers()) {
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        Signed {
            headers,
            body: BODY.to_vec(),
            path: "/".into(),
        }
    }

    fn check(s: &Signed, now: SystemTime) -> Result<String, AuthError> {
        let creds = creds();
        let parts = SignedParts {
            method: "POST",
            path_and_query: &s.path,
            headers: &s.headers,
            body: &s.body,
        };
        verify(&parts, &creds, REGION, "kms", now).map(|c| c.principal_arn.clone())
    }

    fn now() -> SystemTime {
        // Whole seconds, as X-Amz-Date carries.
        UNIX_EPOCH + Duration::from_secs(unix_secs(SystemTime::now()))
    }

    fn type_of(r: Result<String, AuthError>) -> &'static str {
        r.map_or_else(|e| e.type_name(), |_| "ok")
    }

    #[test]
    fn sdk_signed_request_verifies() {
        let t = now();
        let s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        assert_eq!(
            check(&s, t).unwrap(),
            "arn:aws:iam::111122223333:role/admin"
        );
        let s = sign_request(
            "ASIATEMP",
            "temp-secret",
            Some("session-token-1"),
            REGION,
            "kms",
            t,
        );
        assert!(s
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("x-amz-security-token"));
        assert_eq!(check(&s, t).unwrap(), ROLE);
        // Within the window on either side.
        assert!(check(&s, t + Duration::from_secs(290)).is_ok());
        assert!(check(&s, t - Duration::from_secs(290)).is_ok());
    }

    #[test]
    fn changing_any_signed_header_fails() {
        let t = now();
        for name in [
            "content-type",
            "host",
            "x-amz-target",
            "x-amz-security-token",
        ] {
            let mut s = sign_request(
                "ASIATEMP",
                "temp-secret",
                Some("session-token-1"),
                REGION,
                "kms",
                t,
            );
            let old = s.headers.get(name).unwrap().to_str().unwrap().to_owned();
            s.headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(&format!("{old}x")).unwrap(),
            );
            let expected = if name == "x-amz-security-token" {
                "UnrecognizedClientException"
            } else {
                "InvalidSignatureException"
            };
            assert_eq!(type_of(check(&s, t)), expected, "{name}");
        }
        // Changing the date by a second is a different signature.
        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        let later = format_amz_date(unix_secs(t) + 1);
        s.headers
            .insert("x-amz-date", http::HeaderValue::from_str(&later).unwrap());
        assert_eq!(type_of(check(&s, t)), "InvalidSignatureException");
    }

    #[test]
    fn removing_a_signed_header_fails() {
        let t = now();
        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        s.headers.remove("x-amz-target");
        assert_eq!(type_of(check(&s, t)), "InvalidSignatureException");
    }

    #[test]
    fn changing_body_or_path_fails() {
        let t = now();
        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        s.body.push(b' ');
        assert_eq!(type_of(check(&s, t)), "InvalidSignatureException");
        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        s.path = "/other".into();
        assert_eq!(type_of(check(&s, t)), "InvalidSignatureException");
    }

    #[test]
    fn old_or_future_date_is_refused() {
        let t = now();
        let old = sign_request(
            "AKIDSTATIC",
            "static-secret",
            None,
            REGION,
            "kms",
            t - Duration::from_secs(301),
        );
        let err = check(&old, t).unwrap_err();
        assert_eq!(err.type_name(), "InvalidSignatureException");
        assert!(err.to_string().starts_with("Signature expired"), "{err}");
        let future = sign_request(
            "AKIDSTATIC",
            "static-secret",
            None,
            REGION,
            "kms",
            t + Duration::from_secs(301),
        );
        let err = check(&future, t).unwrap_err();
        assert!(
            err.to_string().starts_with("Signature not yet current"),
            "{err}"
        );
    }

    #[test]
    fn other_region_or_service_is_refused() {
        let t = now();
        let s = sign_request("AKIDSTATIC", "static-secret", None, "us-west-2", "kms", t);
        let err = check(&s, t).unwrap_err();
        assert_eq!(err.type_name(), "InvalidSignatureException");
        assert!(err.to_string().contains("us-west-2"), "{err}");
        let s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "s3", t);
        assert_eq!(type_of(check(&s, t)), "InvalidSignatureException");
    }

    #[test]
    fn wrong_secret_is_refused() {
        let t = now();
        let s = sign_request("AKIDSTATIC", "not-the-secret", None, REGION, "kms", t);
        let err = check(&s, t).unwrap_err();
        assert_eq!(err, AuthError::InvalidSignature(SIGNATURE_MISMATCH.into()));
    }

    #[test]
    fn unknown_key_and_wrong_token_are_unrecognized() {
        let t = now();
        let s = sign_request("AKIDUNKNOWN", "x", None, REGION, "kms", t);
        assert_eq!(type_of(check(&s, t)), "UnrecognizedClientException");
        let s = sign_request(
            "ASIATEMP",
            "temp-secret",
            Some("another-token"),
            REGION,
            "kms",
            t,
        );
        assert_eq!(type_of(check(&s, t)), "UnrecognizedClientException");
        let s = sign_request("ASIATEMP", "temp-secret", None, REGION, "kms", t);
        assert_eq!(type_of(check(&s, t)), "UnrecognizedClientException");
        let s = sign_request(
            "AKIDSTATIC",
            "static-secret",
            Some("unexpected"),
            REGION,
            "kms",
            t,
        );
        assert_eq!(type_of(check(&s, t)), "UnrecognizedClientException");
    }

    #[test]
    fn expired_credential_is_refused() {
        let t = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let s = sign_request(
            "ASIATEMP",
            "temp-secret",
            Some("session-token-1"),
            REGION,
            "kms",
            t,
        );
        assert_eq!(type_of(check(&s, t)), "ExpiredTokenException");
    }

    #[test]
    fn malformed_or_missing_headers() {
        let t = now();
        let base = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);

        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        s.headers.remove("authorization");
        assert_eq!(type_of(check(&s, t)), "MissingAuthenticationTokenException");

        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        s.headers.remove("x-amz-date");
        assert_eq!(type_of(check(&s, t)), "IncompleteSignatureException");

        let auth = base
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        for (bad, expected) in [
            (
                auth.replace("Signature=", "Sig="),
                "IncompleteSignatureException",
            ),
            (
                auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
                "IncompleteSignatureException",
            ),
            (
                auth.replace("/aws4_request", ""),
                "IncompleteSignatureException",
            ),
            (
                auth.replace("aws4_request", "aws5_request"),
                "InvalidSignatureException",
            ),
            (
                auth.replace(
                    "SignedHeaders=content-type;host;",
                    "SignedHeaders=content-type;",
                ),
                "InvalidSignatureException",
            ),
            (auth.replace(";x-amz-date", ""), "InvalidSignatureException"),
            (
                auth.replace(";x-amz-target", ""),
                "InvalidSignatureException",
            ),
            ("garbage".to_owned(), "IncompleteSignatureException"),
        ] {
            let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
            s.headers
                .insert("authorization", http::HeaderValue::from_str(&bad).unwrap());
            assert_eq!(type_of(check(&s, t)), expected, "{bad}");
        }

        let mut s = sign_request("AKIDSTATIC", "static-secret", None, REGION, "kms", t);
        let yesterday = format_amz_date(unix_secs(t) - 86_400);
        let auth = s
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let bad = auth.replace(
            &format!("/{}/", &format_amz_date(unix_secs(t))[..8]),
            &format!("/{}/", &yesterday[..8]),
        );
        s.headers
            .insert("authorization", http::HeaderValue::from_str(&bad).unwrap());
        let err = check(&s, t).unwrap_err();
        assert!(
            err.to_string().starts_with("Date in Credential scope"),
            "{err}"
        );
    }

    #[test]
    fn credential_specs_parse() {
        let c = Credential::parse("AKID:secret:arn:aws:iam::111122223333:role/signet-instance")
            .unwrap();
        assert_eq!(
            c.principal_arn,
            "arn:aws:iam::111122223333:role/signet-instance"
        );
        assert!(c.session_token.is_none() && c.expires_unix.is_none());
        let c = Credential::parse(
            "ASIA:wJalrXUtnFEMI:arn:aws:sts::111122223333:assumed-role/r/s:FwoGZXIvYXdz:1700000000",
        )
        .unwrap();
        assert_eq!(
            c.principal_arn,
            "arn:aws:sts::111122223333:assumed-role/r/s"
        );
        assert_eq!(
            c.session_token.as_deref().map(String::as_str),
            Some("FwoGZXIvYXdz")
        );
        assert_eq!(c.expires_unix, Some(1_700_000_000));
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("wJalrXUtnFEMI") && !debug.contains("FwoGZXIvYXdz"),
            "{debug}"
        );
        for bad in [
            "AKID:secret",
            "AKID:secret:role:x:y:z:w:v",
            "AKID:secret:arn:aws:iam::1:role/x",
            "A:s:arn:aws:iam::111122223333:role/x:t:soon",
        ] {
            assert!(Credential::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amz_dates_round_trip() {
        for secs in [0, 951_782_400, 1_795_417_200, 4_102_444_799] {
            let s = format_amz_date(secs);
            assert_eq!(
                parse_amz_date(&s),
                Some(UNIX_EPOCH + Duration::from_secs(secs)),
                "{s}"
            );
        }
        assert_eq!(format_amz_date(1_795_417_200), "20261123T070000Z");
        for bad in [
            "20261123T070000",
            "2026-11-23T07:00:00Z",
            "20261323T070000Z",
            "2026112XT070000Z",
            "+0261123T070000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
