//! Ethereum for wallet libraries (`POST /v1/eth`): the caller's accounts
//! (their secp256k1 wallets by address), signing through the same service
//! calls as the REST API (authz, limits, tickets, audit), filling what a
//! library leaves to the node, and read-only calls forwarded to
//! `ETH_RPC_UPSTREAM`. The JSON-RPC envelope, method names and error codes
//! are the HTTP side's (`http::routes::eth`).
//!
//! A request for an address that is not one of the caller's wallets is an
//! error, never a signature by another key.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use signet_proto::KeyType;

use super::audit::{Outcome, SecurityEvent};
use super::authz::{Principal, Scope};
use super::digest::eth_address;
use super::signing::{SignArgs, Signed};
use super::{Denier, Error, Service};
use crate::domain::Wallet;

/// How long an upstream call may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(15);

/// Read-only methods forwarded to the upstream node (never one that signs
/// or sends).
pub const FORWARDED: &[&str] = &[
    "eth_blockNumber",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_blobBaseFee",
    "eth_estimateGas",
    "eth_getTransactionCount",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getBlockReceipts",
    "eth_call",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_getLogs",
    "eth_getProof",
    "eth_syncing",
    "eth_createAccessList",
    "net_version",
    "net_listening",
    "web3_clientVersion",
];

/// Why an Ethereum call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum EthError {
    /// The service refused or failed (authz, limits, tickets, the signer).
    Service(Error),
    /// The call's parameters are wrong.
    InvalidParams(String),
    /// The address is not one of the caller's secp256k1 wallets.
    UnknownAccount(String),
    /// A read-only method, but no `ETH_RPC_UPSTREAM` is set.
    NeedsUpstream(String),
    /// The upstream node refused: its own JSON-RPC error, passed on.
    Upstream {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The upstream node did not answer, or answered nonsense.
    UpstreamFailed(String),
    /// This host has no chain id (neither an upstream nor `ETH_CHAIN_ID`).
    NoChain,
    /// The wallet's owners must approve this: a sign intent waits for them.
    OwnerApproval {
        /// The intent's id.
        intent_id: String,
        /// Where its owners approve it.
        approval_url: String,
    },
}

impl From<Error> for EthError {
    fn from(e: Error) -> Self {
        Self::Service(e)
    }
}

impl std::fmt::Display for EthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Service(e) => e.fmt(f),
            Self::InvalidParams(m) | Self::UpstreamFailed(m) => f.write_str(m),
            Self::UnknownAccount(a) => {
                write!(
                    f,
                    "unknown account {a}: not one of the caller's secp256k1 wallets"
                )
            }
            Self::NeedsUpstream(m) => write!(f, "{m} needs ETH_RPC_UPSTREAM"),
            Self::Upstream { message, .. } => f.write_str(message),
            Self::NoChain => f.write_str("no chain: set ETH_RPC_UPSTREAM or ETH_CHAIN_ID"),
            Self::OwnerApproval { .. } => f.write_str("owner approval required"),
        }
    }
}

/// Ethereum results.
pub type EthResult<T> = std::result::Result<T, EthError>;

/// A 20-byte `0x` address, lowercased.
#[must_use]
pub fn address_of(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    (h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("0x{}", h.to_ascii_lowercase()))
}

impl Service {
    /// The caller's secp256k1 wallets: `(EIP-55 address, wallet)`.
    pub async fn eth_accounts(&self, principal: &Principal) -> EthResult<Vec<(String, Wallet)>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let (rows, next) = self.list_wallets(principal, after.as_deref(), 500).await?;
            out.extend(
                rows.into_iter()
                    .filter(|w| w.key_type == KeyType::Secp256k1)
                    .filter_map(|w| eth_address(&w.public_key).map(|a| (a, w))),
            );
            match next {
                Some(n) if out.len() < 10_000 => after = Some(n),
                _ => return Ok(out),
            }
        }
    }

    /// The caller's wallet with `address`, or a refusal.
    async fn eth_wallet(&self, principal: &Principal, address: &Value) -> EthResult<Wallet> {
        let wanted = address_of(address)
            .ok_or_else(|| EthError::InvalidParams(format!("{address} is not an address")))?;
        // The address index spares a scan of the caller's wallets per call.
        if let Some(id) = self.eth_addresses.get(&wanted) {
            if let Some(w) = self.wallet_row(&id).await? {
                if w.owner == principal.owner() && w.key_type == KeyType::Secp256k1 {
                    return Ok(Arc::unwrap_or_clone(w));
                }
            }
        }
        let mut found = None;
        for (a, w) in self.eth_accounts(principal).await? {
            let a = a.to_ascii_lowercase();
            self.eth_addresses.put(&a, w.id.clone());
            if a == wanted {
                found = Some(w);
            }
        }
        found.ok_or(EthError::UnknownAccount(wanted))
    }

    /// `eth_sign` / `personal_sign`: EIP-191 over `data` (`0x` hex bytes, or
    /// text) by the wallet at `address`.
    pub async fn eth_sign_message(
        &self,
        principal: &Principal,
        address: &Value,
        data: &Value,
    ) -> EthResult<Signed> {
        let wallet = self.eth_wallet(principal, address).await?;
        let message = data.as_str().ok_or_else(|| {
            EthError::InvalidParams("the message must be a string (0x hex or text)".into())
        })?;
        let args = SignArgs {
            message: Some(message.to_owned()),
            encoding: Some("eip191".into()),
            ..SignArgs::default()
        };
        self.sign_or_intent(principal, &wallet.id, args).await
    }

    /// Signs `args`; when the wallet's owners must approve it, makes a sign
    /// intent for them instead and answers -32000 `owner approval required`
    /// with its id and approval page (`data: {intent_id, approval_url}`).
    async fn sign_or_intent(
        &self,
        principal: &Principal,
        wallet_id: &str,
        args: SignArgs,
    ) -> EthResult<Signed> {
        match self.sign(principal, wallet_id, args.clone()).await {
            Err(Error::Authority {
                code: signet_proto::ErrorCode::OwnerApprovalRequired,
                ..
            }) => {
                let intent = self.sign_intent(principal, wallet_id, args).await?;
                Err(EthError::OwnerApproval {
                    approval_url: self.approval_url(&intent.intent_id),
                    intent_id: intent.intent_id,
                })
            }
            other => Ok(other?),
        }
    }

    /// `eth_signTypedData_v4`: EIP-712 by the wallet at `address`.
    pub async fn eth_sign_typed_data(
        &self,
        principal: &Principal,
        address: &Value,
        typed: &Value,
    ) -> EthResult<Signed> {
        let wallet = self.eth_wallet(principal, address).await?;
        let args = SignArgs {
            typed_data: Some(typed.clone()),
            ..SignArgs::default()
        };
        self.sign_or_intent(principal, &wallet.id, args).await
    }

    /// `eth_signTransaction`: the transaction of `tx.from`, filled, signed;
    /// the raw signed bytes.
    pub async fn eth_sign_transaction(
        &self,
        principal: &Principal,
        tx: &Value,
    ) -> EthResult<Vec<u8>> {
        let from = tx
            .get("from")
            .ok_or_else(|| EthError::InvalidParams("transaction: `from` is required".into()))?;
        let wallet = self.eth_wallet(principal, from).await?;
        let tx = self.fill_transaction(tx).await?;
        let args = SignArgs {
            transaction: Some(tx),
            ..SignArgs::default()
        };
        let signed = self.sign_or_intent(principal, &wallet.id, args).await?;
        signed
            .transaction
            .map(|t| t.raw)
            .ok_or_else(|| EthError::Service(Error::internal("no signed transaction")))
    }

    /// `eth_sendTransaction`: signed as [`Self::eth_sign_transaction`], then
    /// sent upstream; the node's answer (the transaction hash).
    pub async fn eth_send_transaction(
        &self,
        principal: &Principal,
        tx: &Value,
    ) -> EthResult<Value> {
        let raw = self.eth_sign_transaction(principal, tx).await?;
        self.upstream(
            "eth_sendRawTransaction",
            json!([format!("0x{}", hex::encode(raw))]),
        )
        .await
    }

    /// A read-only method forwarded to the upstream node, for a caller that
    /// holds `sign` or `wallets:read` (a session does): the operator's node
    /// is not an open proxy for any token (a refusal is a `SCOPE_DENY`).
    /// `None` when the method is not one that is forwarded, or no upstream
    /// is set.
    pub async fn eth_forward(
        &self,
        principal: &Principal,
        method: &str,
        params: Vec<Value>,
    ) -> Option<EthResult<Value>> {
        if !FORWARDED.contains(&method) || self.config.eth_upstream.is_none() {
            return None;
        }
        if !(principal.has(Scope::Sign) || principal.has(Scope::WalletsRead)) {
            self.deny(
                SecurityEvent::ScopeDeny,
                Denier::Principal(principal),
                "/v1/eth",
                Outcome::denied("wallets:read"),
            )
            .await;
            return Some(Err(EthError::Service(Error::ScopeDenied(
                Scope::WalletsRead,
            ))));
        }
        Some(self.upstream(method, Value::Array(params)).await)
    }

    /// The chain id: the upstream's (asked once), else `ETH_CHAIN_ID`.
    pub async fn eth_chain_id(&self) -> EthResult<u64> {
        if let Some(id) = self.eth_chain.get() {
            return Ok(*id);
        }
        let id = if self.config.eth_upstream.is_some() {
            let v = self.upstream("eth_chainId", json!([])).await?;
            quantity(&v).ok_or_else(|| {
                EthError::UpstreamFailed("the upstream node's eth_chainId is not a quantity".into())
            })?
        } else {
            self.config.eth_chain_id.ok_or(EthError::NoChain)?
        };
        let _ = self.eth_chain.set(id);
        Ok(id)
    }
    /// Fills what a wallet library leaves to the node: `chainId`, `nonce`,
    /// fees and `gas` (only with an upstream; without one, what is missing
    /// stays missing and is refused when the transaction is built).
    async fn fill_transaction(&self, tx: &Value) -> EthResult<Value> {
        let mut tx = tx.clone();
        let request =
            signet_eth::parse_request(&tx).map_err(|e| EthError::InvalidParams(e.to_string()))?;
        let Some(obj) = tx.as_object_mut() else {
            return Err(EthError::InvalidParams(
                "the transaction must be an object".into(),
            ));
        };
        if request.chain_id.is_none() {
            if let Ok(id) = self.eth_chain_id().await {
                obj.insert("chainId".into(), format!("{id:#x}").into());
            }
        } else if let Some(configured) = self.eth_chain.get().copied().or(self.config.eth_chain_id)
        {
            if request.chain_id != Some(configured) {
                return Err(EthError::InvalidParams(format!(
                    "transaction: chainId {} is not this node's chain {configured}",
                    request.chain_id.unwrap_or_default()
                )));
            }
        }
        if self.config.eth_upstream.is_none() {
            return Ok(tx);
        }
        let from = obj.get("from").cloned().unwrap_or(Value::Null);
        if request.nonce.is_none() {
            let n = self
                .upstream("eth_getTransactionCount", json!([from, "pending"]))
                .await?;
            obj.insert("nonce".into(), n);
        }
        let tx_type = request
            .tx_type()
            .map_err(|e| EthError::InvalidParams(e.to_string()))?;
        if tx_type >= 2 {
            if request.max_priority_fee_per_gas.is_none() {
                let tip = match self.upstream("eth_maxPriorityFeePerGas", json!([])).await {
                    Ok(v) => quantity128(&v).unwrap_or(1_000_000_000),
                    Err(_) => 1_000_000_000,
                };
                obj.insert("maxPriorityFeePerGas".into(), format!("{tip:#x}").into());
            }
            if request.max_fee_per_gas.is_none() {
                let block = self
                    .upstream("eth_getBlockByNumber", json!(["latest", false]))
                    .await?;
                let base = block
                    .get("baseFeePerGas")
                    .and_then(quantity128)
                    .unwrap_or(0);
                let tip = obj
                    .get("maxPriorityFeePerGas")
                    .and_then(quantity128)
                    .unwrap_or(0);
                let cap = base.saturating_mul(2).saturating_add(tip);
                obj.insert("maxFeePerGas".into(), format!("{cap:#x}").into());
            }
            obj.insert("type".into(), format!("{tx_type:#x}").into());
        } else if request.gas_price.is_none() {
            let price = self.upstream("eth_gasPrice", json!([])).await?;
            obj.insert("gasPrice".into(), price);
        }
        if request.gas.is_none() && !obj.contains_key("gasLimit") {
            let filled = signet_eth::parse_request(&Value::Object(obj.clone()))
                .map_err(|e| EthError::InvalidParams(e.to_string()))?;
            let mut call = filled.to_rpc_json();
            if let Some(c) = call.as_object_mut() {
                c.insert("from".into(), from);
            }
            let gas = self.upstream("eth_estimateGas", json!([call])).await?;
            obj.insert("gas".into(), gas);
        }
        Ok(tx)
    }

    /// Calls the upstream node; its errors come back as they are (an
    /// `eth_sendRawTransaction` refusal is the node's to explain). Each
    /// call is counted in `signet_eth_upstream_requests_total`.
    async fn upstream(&self, method: &str, params: Value) -> EthResult<Value> {
        let Some(url) = self.config.eth_upstream.clone() else {
            return Err(EthError::NeedsUpstream(method.to_owned()));
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let agent = self.eth_agent.clone();
        let answered = tokio::task::spawn_blocking(move || {
            match agent.post(&url).timeout(UPSTREAM_TIMEOUT).send_json(body) {
                Ok(r) => (true, r.into_json::<Value>().map_err(|e| e.to_string())),
                Err(ureq::Error::Status(status, r)) => (
                    false,
                    r.into_json::<Value>().map_err(|_| format!("HTTP {status}")),
                ),
                // Never the URL: it may hold an API key.
                Err(ureq::Error::Transport(t)) => (false, Err(t.kind().to_string())),
            }
        })
        .await;
        let outcome = match &answered {
            Ok((http_ok, answer)) => upstream_outcome(*http_ok, answer),
            Err(_) => "error",
        };
        self.metrics
            .eth_upstream
            .get_or_create(&crate::metrics::OutcomeLabels { outcome })
            .inc();
        let (_, answer) =
            answered.map_err(|e| EthError::UpstreamFailed(format!("upstream: {e}")))?;
        let answer = answer.map_err(|e| {
            tracing::warn!(method, error = %e, "the Ethereum upstream failed");
            EthError::UpstreamFailed(format!("the upstream node did not answer {method}: {e}"))
        })?;
        if let Some(error) = answer.get("error") {
            return Err(EthError::Upstream {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream node refused")
                    .to_owned(),
            });
        }
        answer.get("result").cloned().ok_or_else(|| {
            EthError::UpstreamFailed(format!("the upstream node's {method} answer has no result"))
        })
    }
}

/// What an upstream answer counts as in `signet_eth_upstream_requests_total`:
/// `refused` for the node's JSON-RPC error in a 2xx answer (its verdict on a
/// call, e.g. a reverted `eth_call`), `ok` for a result, else `error`: no
/// answer, a non-2xx status (the node, or a provider in front of it, failing
/// or refusing the host: our envelope is always well-formed), or a body
/// that is not a JSON-RPC response.
fn upstream_outcome(http_ok: bool, answer: &Result<Value, String>) -> &'static str {
    match answer {
        Ok(v) if http_ok && v.get("error").is_some() => "refused",
        Ok(v) if http_ok && v.get("result").is_some() => "ok",
        _ => "error",
    }
}

fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

fn quantity128(v: &Value) -> Option<u128> {
    u128::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_quantities() {
        assert_eq!(
            address_of(&json!("0xAbCdEf0123456789abcdef0123456789ABCDEF01")),
            Some("0xabcdef0123456789abcdef0123456789abcdef01".into())
        );
        assert_eq!(address_of(&json!("0x1234")), None);
        assert_eq!(address_of(&json!(5)), None);
        assert_eq!(quantity(&json!("0x7a69")), Some(31337));
        assert_eq!(quantity(&json!("7a69")), None);
    }

    #[test]
    fn a_result_is_an_ok_upstream_call() {
        let answer = Ok(json!({"jsonrpc": "2.0", "id": 1, "result": "0x1"}));
        assert_eq!(upstream_outcome(true, &answer), "ok");
    }

    #[test]
    fn the_nodes_json_rpc_error_is_a_refusal_not_an_upstream_error() {
        let reverted = Ok(json!({"jsonrpc": "2.0", "id": 1,
            "error": {"code": 3, "message": "execution reverted"}}));
        assert_eq!(upstream_outcome(true, &reverted), "refused");
    }

    #[test]
    fn no_answer_is_an_upstream_error() {
        let refused_connection = Err("Connection Failed".to_owned());
        assert_eq!(upstream_outcome(false, &refused_connection), "error");
    }

    #[test]
    fn a_non_2xx_status_is_an_upstream_error_even_with_a_json_rpc_body() {
        // A provider's rate limit or a gateway's 502, whatever the body.
        let limited = Ok(json!({"jsonrpc": "2.0", "id": 1,
            "error": {"code": -32005, "message": "daily request count exceeded"}}));
        assert_eq!(upstream_outcome(false, &limited), "error");
        assert_eq!(
            upstream_outcome(false, &Err("HTTP 502".to_owned())),
            "error"
        );
    }

    #[test]
    fn a_body_that_is_not_json_rpc_is_an_upstream_error() {
        assert_eq!(
            upstream_outcome(true, &Ok(json!({"status": "up"}))),
            "error"
        );
        assert_eq!(upstream_outcome(true, &Err("not JSON".to_owned())), "error");
    }
}
