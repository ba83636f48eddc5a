//! Ethereum JSON-RPC (`POST /v1/eth`, DESIGN.md): the signing methods that
//! wallet libraries (ethers, viem, web3.py, cast, alloy) call, answered
//! through the same service calls as the REST API (authz, limits, tickets,
//! audit), and read-only methods forwarded to `ETH_RPC_UPSTREAM`.
//!
//! Accounts are the caller's secp256k1 wallets by address. A request for an
//! address that is not one of them is an error, never a signature by
//! another key.

use std::time::Duration;

use serde_json::{json, Value};
use signet_proto::KeyType;

use super::authz::Principal;
use super::digest::eth_address;
use super::signing::SignArgs;
use super::{Error, Service};
use crate::store::WalletRow;

/// Entries a batch may hold.
pub const MAX_BATCH: usize = 100;

/// How long an upstream call may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(15);

/// Read-only methods forwarded to the upstream node (never one that signs
/// or sends).
const FORWARDED: &[&str] = &[
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

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The code (-32700 parse error, -32600 invalid request, -32601 no such
    /// method, -32602 invalid params, -32603 internal, -32000 refused,
    /// -32005 rate limited).
    pub code: i64,
    /// What went wrong.
    pub message: String,
    /// Signet's error code, when the refusal came from the service.
    pub signet_code: Option<&'static str>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            signet_code: None,
        }
    }

    fn params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }

    /// The error member of a response.
    #[must_use]
    pub fn to_json(&self) -> Value {
        match self.signet_code {
            Some(code) => {
                json!({"code": self.code, "message": self.message, "data": {"code": code}})
            }
            None => json!({"code": self.code, "message": self.message}),
        }
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::BadRequest(_) | Error::TooLarge(_) => -32602,
            Error::RateLimited { .. } => -32005,
            e if e.is_server_side() => -32603,
            _ => -32000,
        };
        Self {
            code,
            message: e.to_string(),
            signet_code: Some(e.code()),
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
        Some(_) => Err(RpcError::new(-32602, "`params` must be an array")),
    }
}

/// A 20-byte `0x` address, lowercased.
fn address_of(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    (h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("0x{}", h.to_ascii_lowercase()))
}

/// The 65-byte `r‖s‖v` signature Ethereum wallets return (`v` = 27 + recovery id).
fn rsv(signature: &[u8], recovery_id: Option<u8>) -> RpcResult {
    let v = recovery_id.ok_or_else(|| RpcError::new(-32603, "the signer gave no recovery id"))?;
    let mut out = signature.to_vec();
    out.push(27 + v);
    Ok(Value::String(hex0x(&out)))
}

impl Service {
    /// Answers one JSON-RPC request object (not a batch); `None` for a
    /// notification (no `id`).
    pub async fn eth_rpc(&self, principal: &Principal, request: &Value) -> Option<Value> {
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
                    -32600,
                    "invalid request: a JSON-RPC 2.0 object with `jsonrpc: \"2.0\"`, a string `method` and an optional `params` array",
                )),
            ));
        }
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let result = match params_of(request) {
            Ok(params) => self.eth_method(principal, method, &params).await,
            Err(e) => Err(e),
        };
        id.map(|id| response(&id, result))
    }

    async fn eth_method(&self, principal: &Principal, method: &str, params: &[Value]) -> RpcResult {
        match method {
            "eth_accounts" | "eth_requestAccounts" => {
                let accounts = self.eth_accounts(principal).await?;
                Ok(json!(accounts
                    .into_iter()
                    .map(|(a, _)| a)
                    .collect::<Vec<_>>()))
            }
            "eth_chainId" => Ok(Value::String(format!("{:#x}", self.eth_chain_id().await?))),
            "eth_sign" => {
                let [address, data] = two(params, "eth_sign takes [address, data]")?;
                self.eth_sign_message(principal, address, data).await
            }
            "personal_sign" => {
                let [a, b] = two(params, "personal_sign takes [data, address]")?;
                // [data, address] as specified; [address, data] as some
                // wallets send it: the address is the one that is an account.
                let accounts = self.eth_accounts(principal).await?;
                let is_account = |v: &Value| {
                    address_of(v)
                        .is_some_and(|x| accounts.iter().any(|(a, _)| a.eq_ignore_ascii_case(&x)))
                };
                if !is_account(b) && is_account(a) {
                    self.eth_sign_message(principal, a, b).await
                } else {
                    self.eth_sign_message(principal, b, a).await
                }
            }
            "eth_signTypedData_v4" | "eth_signTypedData" => {
                let [address, typed] =
                    two(params, "eth_signTypedData_v4 takes [address, typedData]")?;
                let wallet = self.eth_wallet(principal, address).await?;
                let args = SignArgs {
                    typed_data: Some(typed.clone()),
                    ..SignArgs::default()
                };
                let signed = self.sign(principal, &wallet.id, args).await?;
                rsv(&signed.signature.signature, signed.signature.recovery_id)
            }
            "eth_signTransaction" | "eth_sendTransaction" => {
                let tx = match params {
                    [tx] | [tx, _] if tx.is_object() => tx,
                    _ => return Err(RpcError::params(format!("{method} takes [transaction]"))),
                };
                let from = tx
                    .get("from")
                    .ok_or_else(|| RpcError::params("transaction: `from` is required"))?;
                let wallet = self.eth_wallet(principal, from).await?;
                let tx = self.fill_transaction(tx).await?;
                let args = SignArgs {
                    transaction: Some(tx),
                    ..SignArgs::default()
                };
                let signed = self.sign(principal, &wallet.id, args).await?;
                let raw = signed
                    .transaction
                    .ok_or_else(|| RpcError::new(-32603, "no signed transaction"))?
                    .raw;
                if method == "eth_signTransaction" {
                    return Ok(Value::String(hex0x(&raw)));
                }
                self.upstream("eth_sendRawTransaction", json!([hex0x(&raw)]))
                    .await
            }
            m if FORWARDED.contains(&m) && self.config.eth_upstream.is_some() => {
                self.upstream(m, Value::Array(params.to_vec())).await
            }
            m => Err(RpcError::new(
                -32601,
                format!(
                    "the method {m} does not exist or is not available{}",
                    if FORWARDED.contains(&m) {
                        " (read-only methods need ETH_RPC_UPSTREAM)"
                    } else {
                        ""
                    }
                ),
            )),
        }
    }

    /// The caller's secp256k1 wallets: `(EIP-55 address, wallet)`.
    async fn eth_accounts(
        &self,
        principal: &Principal,
    ) -> Result<Vec<(String, WalletRow)>, RpcError> {
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
    async fn eth_wallet(
        &self,
        principal: &Principal,
        address: &Value,
    ) -> Result<WalletRow, RpcError> {
        let wanted = address_of(address)
            .ok_or_else(|| RpcError::params(format!("{address} is not an address")))?;
        let key = wanted.to_ascii_lowercase();
        // The address index spares a scan of the caller's wallets per call.
        if let Some(id) = self.eth_addresses.get(&key) {
            if let Some(w) = self.wallet_row(&id).await? {
                if w.owner == principal.owner().to_string() && w.key_type == KeyType::Secp256k1 {
                    return Ok(w);
                }
            }
        }
        let mut found = None;
        for (a, w) in self.eth_accounts(principal).await? {
            let a = a.to_ascii_lowercase();
            self.eth_addresses.put(&a, w.id.clone());
            if a == key {
                found = Some(w);
            }
        }
        found.ok_or_else(|| RpcError {
            code: -32000,
            message: format!("unknown account {wanted}: not one of the caller's secp256k1 wallets"),
            signet_code: Some("not_found"),
        })
    }

    /// `eth_sign` / `personal_sign`: EIP-191 over `data` (`0x` hex bytes, or
    /// text) by the wallet at `address`.
    async fn eth_sign_message(
        &self,
        principal: &Principal,
        address: &Value,
        data: &Value,
    ) -> RpcResult {
        let wallet = self.eth_wallet(principal, address).await?;
        let message = data
            .as_str()
            .ok_or_else(|| RpcError::params("the message must be a string (0x hex or text)"))?;
        let args = SignArgs {
            message: Some(message.to_owned()),
            encoding: Some("eip191".into()),
            ..SignArgs::default()
        };
        let signed = self.sign(principal, &wallet.id, args).await?;
        rsv(&signed.signature.signature, signed.signature.recovery_id)
    }

    /// The chain id: the upstream's (asked once), else `ETH_CHAIN_ID`.
    async fn eth_chain_id(&self) -> Result<u64, RpcError> {
        if let Some(id) = self.eth_chain.get() {
            return Ok(*id);
        }
        let id = if self.config.eth_upstream.is_some() {
            let v = self.upstream("eth_chainId", json!([])).await?;
            quantity(&v).ok_or_else(|| {
                RpcError::new(-32603, "the upstream node's eth_chainId is not a quantity")
            })?
        } else {
            self.config.eth_chain_id.ok_or_else(|| {
                RpcError::new(-32603, "no chain: set ETH_RPC_UPSTREAM or ETH_CHAIN_ID")
            })?
        };
        let _ = self.eth_chain.set(id);
        Ok(id)
    }

    /// Fills what a wallet library leaves to the node: `chainId`, `nonce`,
    /// fees and `gas` (only with an upstream; without one, what is missing
    /// stays missing and is refused when the transaction is built).
    async fn fill_transaction(&self, tx: &Value) -> Result<Value, RpcError> {
        let mut tx = tx.clone();
        let request =
            signet_eth::parse_request(&tx).map_err(|e| RpcError::params(e.to_string()))?;
        let Some(obj) = tx.as_object_mut() else {
            return Err(RpcError::params("the transaction must be an object"));
        };
        if request.chain_id.is_none() {
            if let Ok(id) = self.eth_chain_id().await {
                obj.insert("chainId".into(), format!("{id:#x}").into());
            }
        } else if let Some(configured) = self.eth_chain.get().copied().or(self.config.eth_chain_id)
        {
            if request.chain_id != Some(configured) {
                return Err(RpcError::params(format!(
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
            .map_err(|e| RpcError::params(e.to_string()))?;
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
                .map_err(|e| RpcError::params(e.to_string()))?;
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
    /// `eth_sendRawTransaction` refusal is the node's to explain).
    async fn upstream(&self, method: &str, params: Value) -> RpcResult {
        let Some(url) = self.config.eth_upstream.clone() else {
            return Err(RpcError::new(
                -32601,
                format!("{method} needs ETH_RPC_UPSTREAM"),
            ));
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let agent = self.eth_agent.clone();
        let answer = tokio::task::spawn_blocking(move || {
            match agent.post(&url).timeout(UPSTREAM_TIMEOUT).send_json(body) {
                Ok(r) => r.into_json::<Value>().map_err(|e| e.to_string()),
                Err(ureq::Error::Status(status, r)) => {
                    r.into_json::<Value>().map_err(|_| format!("HTTP {status}"))
                }
                // Never the URL: it may hold an API key.
                Err(ureq::Error::Transport(t)) => Err(t.kind().to_string()),
            }
        })
        .await
        .map_err(|e| RpcError::new(-32603, format!("upstream: {e}")))?;
        let answer = answer.map_err(|e| {
            tracing::warn!(method, error = %e, "the Ethereum upstream failed");
            RpcError::new(
                -32603,
                format!("the upstream node did not answer {method}: {e}"),
            )
        })?;
        if let Some(error) = answer.get("error") {
            return Err(RpcError {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream node refused")
                    .to_owned(),
                signet_code: None,
            });
        }
        answer.get("result").cloned().ok_or_else(|| {
            RpcError::new(
                -32603,
                format!("the upstream node's {method} answer has no result"),
            )
        })
    }
}

fn two<'a>(params: &'a [Value], usage: &str) -> Result<[&'a Value; 2], RpcError> {
    match params {
        [a, b] | [a, b, _] => Ok([a, b]),
        _ => Err(RpcError::params(usage)),
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
    fn addresses_and_signatures() {
        assert_eq!(
            address_of(&json!("0xAbCdEf0123456789abcdef0123456789ABCDEF01")),
            Some("0xabcdef0123456789abcdef0123456789abcdef01".into())
        );
        assert_eq!(address_of(&json!("0x1234")), None);
        assert_eq!(address_of(&json!(5)), None);
        assert_eq!(
            rsv(&[1u8; 64], Some(1)).unwrap(),
            json!(format!("0x{}1c", "01".repeat(64)))
        );
        assert_eq!(quantity(&json!("0x7a69")), Some(31337));
        assert_eq!(quantity(&json!("7a69")), None);
    }

    #[test]
    fn service_errors_become_rpc_errors() {
        let e = RpcError::from(Error::bad_request("transaction: `chainId` is required"));
        assert_eq!(e.code, -32602);
        assert_eq!(e.to_json()["data"]["code"], "bad_request");
        assert_eq!(
            RpcError::from(Error::RateLimited { retry_after: 1 }).code,
            -32005
        );
        assert_eq!(RpcError::from(Error::NotFound("wallet")).code, -32000);
    }
}
