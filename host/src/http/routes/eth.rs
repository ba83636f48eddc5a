//! `POST /v1/eth`: Ethereum JSON-RPC 2.0 for wallet libraries (single and
//! batch). Transport errors are JSON-RPC error objects with HTTP 200, as
//! Ethereum clients expect; only a missing or invalid token is a 401.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::Shared;
use crate::http::error::ErrorBody;
use crate::http::extract::Authn;
use crate::service::eth::{response, RpcError, MAX_BATCH};

/// Ethereum JSON-RPC: `eth_accounts`, `eth_chainId`, `eth_sign`,
/// `personal_sign`, `eth_signTransaction`, `eth_sendTransaction`,
/// `eth_signTypedData_v4`, and read-only methods forwarded upstream.
#[utoipa::path(post, path = "/v1/eth", tag = "ethereum", request_body(content = serde_json::Value, description = "A JSON-RPC 2.0 request object, or a batch (array) of at most 100"), responses((status = 200, description = "The JSON-RPC response object, or an array for a batch; errors are JSON-RPC error objects", body = serde_json::Value), (status = 204, description = "Only notifications (requests without `id`): nothing to answer"), (status = 401, description = "No valid token", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 429, description = "Rate limited; see `Retry-After`", body = ErrorBody), (status = 503, description = "The database is unavailable while authenticating; retry", body = ErrorBody)), security(("bearer" = [])))]
pub async fn rpc(
    State(service): State<Shared>,
    Authn(p): Authn,
    body: axum::body::Bytes,
) -> Response {
    // Any content type: web3.py, for one, may send none.
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json(response(
                &Value::Null,
                Err(RpcError {
                    code: -32700,
                    message: format!("parse error: {e}"),
                    signet_code: None,
                }),
            ))
        }
    };
    match request {
        Value::Array(batch) => {
            if batch.is_empty() || batch.len() > MAX_BATCH {
                return json(response(
                    &Value::Null,
                    Err(RpcError {
                        code: -32600,
                        message: format!("a batch holds 1 to {MAX_BATCH} requests"),
                        signet_code: None,
                    }),
                ));
            }
            let mut out = Vec::with_capacity(batch.len());
            for r in &batch {
                if let Some(answer) = service.eth_rpc(&p, r).await {
                    out.push(answer);
                }
            }
            if out.is_empty() {
                return StatusCode::NO_CONTENT.into_response();
            }
            json(Value::Array(out))
        }
        single => match service.eth_rpc(&p, &single).await {
            Some(answer) => json(answer),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

fn json(v: Value) -> Response {
    Json(v).into_response()
}
