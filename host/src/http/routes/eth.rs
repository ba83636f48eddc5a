//! `POST /v1/eth`: Ethereum JSON-RPC 2.0 for wallet libraries (single and
//! batch). The envelope, the method table and the error codes live here;
//! what each method does is the service's (`service::eth`). Errors are
//! JSON-RPC error objects with HTTP 200, as Ethereum clients expect; only a
//! missing or invalid token is a 401.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::Shared;
use crate::http::error::{
    responses::{Authenticated, TooLarge},
    ErrorBody,
};
use crate::http::extract::Authn;
use crate::service::authz::Principal;
use crate::service::eth::{address_of, EthError, FORWARDED};
use crate::service::signing::Signed;
use crate::service::{Error, Service};

/// Entries a batch may hold.
pub const MAX_BATCH: usize = 100;

/// JSON-RPC 2.0's and Ethereum's error codes.
mod code {
    /// Not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method (or not available here).
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A failure on this side.
    pub const INTERNAL: i64 = -32603;
    /// Refused (EIP-1474's "invalid input", used by wallets for refusals).
    pub const REFUSED: i64 = -32000;
    /// Over a rate limit (EIP-1474's "limit exceeded").
    pub const LIMIT_EXCEEDED: i64 = -32005;
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
    /// Signet's error code, when the refusal came from the service.
    pub signet_code: Option<&'static str>,
    /// A rate limit's refusal: the limit's variable and the seconds until
    /// it admits calls again (`data.limit`, `data.retry_after`).
    pub limit: Option<(&'static str, u64)>,
    /// An owner-gated call: the sign intent made for the owners, and where
    /// they approve it (`data.intent_id`, `data.approval_url`).
    pub intent: Option<(String, String)>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            signet_code: None,
            limit: None,
            intent: None,
        }
    }

    fn params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }

    /// The error member of a response.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(code) = self.signet_code {
            let mut data = json!({"code": code});
            if let Some((limit, retry_after)) = self.limit {
                data["limit"] = json!(limit);
                data["retry_after"] = json!(retry_after);
            }
            if let Some((intent_id, approval_url)) = &self.intent {
                data["intent_id"] = json!(intent_id);
                data["approval_url"] = json!(approval_url);
            }
            error["data"] = data;
        }
        error
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::BadRequest(_) | Error::TooLarge(_) => code::INVALID_PARAMS,
            Error::RateLimited { .. } => code::LIMIT_EXCEEDED,
            e if e.is_server_side() => code::INTERNAL,
            _ => code::REFUSED,
        };
        let limit = match &e {
            Error::RateLimited { limit, retry_after } => Some((limit.variable(), *retry_after)),
            _ => None,
        };
        Self {
            code,
            message: e.to_string(),
            signet_code: Some(e.code()),
            limit,
            intent: None,
        }
    }
}

impl From<EthError> for RpcError {
    fn from(e: EthError) -> Self {
        let message = e.to_string();
        match e {
            EthError::Service(e) => e.into(),
            EthError::InvalidParams(_) => Self::params(message),
            EthError::UnknownAccount(_) => Self {
                code: code::REFUSED,
                message,
                signet_code: Some("not_found"),
                limit: None,
                intent: None,
            },
            EthError::OwnerApproval {
                intent_id,
                approval_url,
            } => Self {
                code: code::REFUSED,
                message,
                signet_code: Some("owner_approval_required"),
                limit: None,
                intent: Some((intent_id, approval_url)),
            },
            EthError::NeedsUpstream(_) => Self::new(code::METHOD_NOT_FOUND, message),
            EthError::Upstream { code, .. } => Self::new(code, message),
            EthError::UpstreamFailed(_) | EthError::NoChain => Self::new(code::INTERNAL, message),
        }
    }
}

type RpcResult = std::result::Result<Value, RpcError>;

/// One response: `{jsonrpc, id, result | error}`.
#[must_use]
pub fn response(id: &Value, result: RpcResult) -> Value {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
    }
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// `params` as a list (absent and `null` are empty).
fn params_of(request: &Value) -> Result<Vec<Value>, RpcError> {
    match request.get("params") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(RpcError::params("`params` must be an array")),
    }
}

/// The 65-byte `r‖s‖v` signature Ethereum wallets return (`v` = 27 + recovery id).
fn rsv(signed: &Signed) -> RpcResult {
    let v = signed
        .signature
        .recovery_id
        .ok_or_else(|| RpcError::new(code::INTERNAL, "the signer gave no recovery id"))?;
    let mut out = signed.signature.signature.clone();
    out.push(27 + v);
    Ok(Value::String(hex0x(&out)))
}

fn two<'a>(params: &'a [Value], usage: &str) -> Result<[&'a Value; 2], RpcError> {
    match params {
        [a, b] | [a, b, _] => Ok([a, b]),
        _ => Err(RpcError::params(usage)),
    }
}

/// Answers one JSON-RPC request object (not a batch); `None` for a
/// notification (no `id`).
async fn answer(service: &Service, principal: &Principal, request: &Value) -> Option<Value> {
    let id = request.get("id").cloned();
    let valid = request.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && request.get("method").is_some_and(Value::is_string)
        && id
            .as_ref()
            .is_none_or(|i| i.is_string() || i.is_number() || i.is_null());
    if !valid {
        return Some(response(
            &id.unwrap_or(Value::Null),
            Err(RpcError::new(
                code::INVALID_REQUEST,
                "invalid request: a JSON-RPC 2.0 object with `jsonrpc: \"2.0\"`, a string `method` and an optional `params` array",
            )),
        ));
    }
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let result = match params_of(request) {
        Ok(params) => method_call(service, principal, method, params).await,
        Err(e) => Err(e),
    };
    id.map(|id| response(&id, result))
}

/// The answer to a call of a batch that was refused before it ran
/// (`refusal`: over the caller's rate limit): the error under the call's
/// `id`; `None` for a notification (an object without `id`), which is
/// not run either.
fn refused(request: &Value, refusal: &RpcError) -> Option<Value> {
    match request.get("id") {
        Some(id) => Some(response(id, Err(refusal.clone()))),
        None if request.is_object() => None,
        None => Some(response(&Value::Null, Err(refusal.clone()))),
    }
}

/// The method table.
async fn method_call(
    service: &Service,
    principal: &Principal,
    method: &str,
    params: Vec<Value>,
) -> RpcResult {
    match method {
        "eth_accounts" | "eth_requestAccounts" => {
            let accounts = service.eth_accounts(principal).await?;
            Ok(json!(accounts
                .into_iter()
                .map(|(a, _)| a)
                .collect::<Vec<_>>()))
        }
        "eth_chainId" => Ok(Value::String(format!(
            "{:#x}",
            service.eth_chain_id().await?
        ))),
        "eth_sign" => {
            let [address, data] = two(&params, "eth_sign takes [address, data]")?;
            rsv(&service.eth_sign_message(principal, address, data).await?)
        }
        "personal_sign" => {
            let [a, b] = two(&params, "personal_sign takes [data, address]")?;
            // [data, address] as specified; [address, data] as some
            // wallets send it: the address is the one that is an account.
            let accounts = service.eth_accounts(principal).await?;
            let is_account = |v: &Value| {
                address_of(v)
                    .is_some_and(|x| accounts.iter().any(|(a, _)| a.eq_ignore_ascii_case(&x)))
            };
            let signed = if !is_account(b) && is_account(a) {
                service.eth_sign_message(principal, a, b).await?
            } else {
                service.eth_sign_message(principal, b, a).await?
            };
            rsv(&signed)
        }
        "eth_signTypedData_v4" | "eth_signTypedData" => {
            let [address, typed] = two(&params, "eth_signTypedData_v4 takes [address, typedData]")?;
            rsv(&service
                .eth_sign_typed_data(principal, address, typed)
                .await?)
        }
        "eth_signTransaction" | "eth_sendTransaction" => {
            let tx = match params.as_slice() {
                [tx] | [tx, _] if tx.is_object() => tx,
                _ => return Err(RpcError::params(format!("{method} takes [transaction]"))),
            };
            if method == "eth_signTransaction" {
                let raw = service.eth_sign_transaction(principal, tx).await?;
                return Ok(Value::String(hex0x(&raw)));
            }
            Ok(service.eth_send_transaction(principal, tx).await?)
        }
        m => match service.eth_forward(principal, m, params).await {
            Some(result) => Ok(result?),
            None => Err(RpcError::new(
                code::METHOD_NOT_FOUND,
                format!(
                    "the method {m} does not exist or is not available{}",
                    if FORWARDED.contains(&m) {
                        " (read-only methods need ETH_RPC_UPSTREAM)"
                    } else {
                        ""
                    }
                ),
            )),
        },
    }
}

/// Ethereum JSON-RPC: `eth_accounts`, `eth_chainId`, `eth_sign`,
/// `personal_sign`, `eth_signTransaction`, `eth_sendTransaction`,
/// `eth_signTypedData_v4`, and read-only methods forwarded upstream. Each
/// call of a batch counts as one request against `RATE_LIMIT_PER_USER`:
/// the calls past it get a -32005 error naming the limit and when to
/// retry, and are not run.
#[utoipa::path(post, path = "/v1/eth", tag = "ethereum", request_body(content = serde_json::Value, description = "A JSON-RPC 2.0 request object, or a batch (array) of at most 100; each call of a batch counts as one request against the caller's rate limit, and calls past it get error -32005 (`data: {code: \"rate_limited\", limit, retry_after}`)"), responses((status = 200, description = "The JSON-RPC response object, or an array for a batch; errors are JSON-RPC error objects", body = serde_json::Value), (status = 204, description = "Only notifications (requests without `id`): nothing to answer"), Authenticated, TooLarge, (status = 503, description = "The database is unavailable while authenticating; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn rpc(
    State(service): State<Shared>,
    Authn(p): Authn,
    body: axum::body::Bytes,
) -> Response {
    // Any content type: web3.py, for one, may send none.
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(response(
                &Value::Null,
                Err(RpcError::new(
                    code::PARSE_ERROR,
                    format!("parse error: {e}"),
                )),
            ))
        }
    };
    match request {
        Value::Array(batch) => {
            if batch.is_empty() || batch.len() > MAX_BATCH {
                return json_response(response(
                    &Value::Null,
                    Err(RpcError::new(
                        code::INVALID_REQUEST,
                        format!("a batch holds 1 to {MAX_BATCH} requests"),
                    )),
                ));
            }
            // Each call counts as a request against the caller's limit:
            // those past it are refused, not run.
            let charge = service.charge_batch(&p, batch.len(), "/v1/eth").await;
            let refusal = charge.refusal.map(RpcError::from);
            let mut out = Vec::with_capacity(batch.len());
            for (i, r) in batch.iter().enumerate() {
                let answer = match &refusal {
                    Some(refusal) if i >= charge.runs => refused(r, refusal),
                    _ => answer(&service, &p, r).await,
                };
                out.extend(answer);
            }
            if out.is_empty() {
                return StatusCode::NO_CONTENT.into_response();
            }
            json_response(Value::Array(out))
        }
        single => match answer(&service, &p, &single).await {
            Some(answer) => json_response(answer),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

fn json_response(v: Value) -> Response {
    Json(v).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_become_rpc_errors() {
        let e = RpcError::from(Error::bad_request("transaction: `chainId` is required"));
        assert_eq!(e.code, -32602);
        assert_eq!(e.to_json()["data"]["code"], "bad_request");
        let limited = RpcError::from(Error::RateLimited {
            limit: crate::service::limits::Limit::PerClient,
            retry_after: 7,
        });
        assert_eq!(limited.code, -32005);
        assert_eq!(
            limited.to_json()["data"],
            json!({"code": "rate_limited", "limit": "RATE_LIMIT_PER_USER", "retry_after": 7})
        );
        assert!(
            limited.message.contains("RATE_LIMIT_PER_USER") && limited.message.contains("7 s"),
            "{}",
            limited.message
        );
        assert_eq!(RpcError::from(Error::NotFound("wallet")).code, -32000);
    }

    #[test]
    fn a_refused_batch_call_answers_under_its_id_and_a_notification_not_at_all() {
        let refusal = RpcError::from(Error::RateLimited {
            limit: crate::service::limits::Limit::PerClient,
            retry_after: 3,
        });
        let call = json!({"jsonrpc": "2.0", "id": 9, "method": "eth_sign", "params": []});
        let answer = refused(&call, &refusal).unwrap();
        assert_eq!(answer["id"], 9);
        assert_eq!(answer["error"]["code"], -32005);
        assert!(answer.get("result").is_none());
        let notification = json!({"jsonrpc": "2.0", "method": "eth_sign", "params": []});
        assert_eq!(refused(&notification, &refusal), None);
        assert_eq!(refused(&json!(1), &refusal).unwrap()["id"], Value::Null);
    }

    #[test]
    fn eth_errors_keep_their_codes() {
        let e = RpcError::from(EthError::UnknownAccount("0xab".into()));
        assert_eq!((e.code, e.signet_code), (-32000, Some("not_found")));
        assert_eq!(
            RpcError::from(EthError::Upstream {
                code: -32003,
                message: "nonce too low".into()
            })
            .code,
            -32003
        );
        assert_eq!(RpcError::from(EthError::NoChain).code, -32603);
        assert_eq!(
            RpcError::from(EthError::NeedsUpstream("eth_sendRawTransaction".into())).code,
            -32601
        );
    }

    #[test]
    fn signatures_are_r_s_v() {
        let signed = Signed {
            wallet: std::sync::Arc::new(crate::domain::Wallet {
                id: "w".into(),
                owner: crate::domain::Owner::Tenant("t".into()),
                key_type: signet_proto::KeyType::Secp256k1,
                public_key: vec![],
                label: None,
                sealed: None,
                attestation: None,
                created_at_ms: 0,
                require_approval: false,
                record: None,
            }),
            signature: signet_proto::message::SignatureInfo {
                signature: vec![1u8; 64],
                recovery_id: Some(1),
                public_key: vec![],
                attestation: None,
            },
            transaction: None,
        };
        assert_eq!(
            rsv(&signed).unwrap(),
            json!(format!("0x{}1c", "01".repeat(64)))
        );
    }
}
