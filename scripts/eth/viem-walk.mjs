#!/usr/bin/env node
// The viem (v2) walk of an Ethereum JSON-RPC signer (Signet's POST /v1/eth, or
// anvil's unlocked accounts during development). Unmodified viem: the bearer
// token goes in as http(url, { fetchOptions: { headers } }), the documented way
// to give the HTTP transport headers; the wallet client's account is the plain
// address (a JSON-RPC account), so viem hands eth_sendTransaction,
// eth_signTransaction, personal_sign and eth_signTypedData_v4 to the endpoint
// and signs nothing itself. A public client on the node funds, checks and
// submits raw transactions.
//
// Env: SIGNET_ETH_URL, SIGNET_ETH_TOKEN, SIGNET_ETH_ADDRESS (EIP-55),
// SIGNET_ETH_UPSTREAM (the node: funding, checks, raw submission),
// SIGNET_ETH_FUNDER_KEY, optional SIGNET_ETH_FOREIGN_ADDRESS (an address that
// is not the caller's; default 0x…dEaD), SIGNET_ETH_NODE_MODULES (or NODE_PATH)
// where viem is installed (scripts/eth-deps.sh).
// Prints `ok viem <step>` per step; exits 1 on the first failure.
//
// What viem does with a JSON-RPC account: sendTransaction and signTransaction
// ask the endpoint for eth_chainId first (and refuse if it is not the client's
// chain), then send the request as given (no nonce, gas or fees filled by viem:
// the signer fills them). A sendTransaction refused with -32000, -32602,
// -32601 or -32004 is retried once as wallet_sendTransaction (EIP-5792's
// namespace); when that is -32601 too, the original error is thrown.
import { createRequire } from "node:module";
import { join } from "node:path";

const nodeModules = process.env.SIGNET_ETH_NODE_MODULES || (process.env.NODE_PATH || "").split(":")[0];
const require = createRequire(join(nodeModules || process.cwd(), "noop.js"));
const viem = require("viem");
const { privateKeyToAccount } = require("viem/accounts");
const {
  createPublicClient, createWalletClient, defineChain, http, publicActions, getAddress, parseEther, formatEther,
  pad, parseTransaction, recoverTransactionAddress, recoverMessageAddress, verifyMessage, recoverTypedDataAddress,
  RpcRequestError, TransactionReceiptNotFoundError,
} = viem;

const C = "viem";
function env(name, dflt) {
  const v = process.env[name] ?? dflt;
  if (!v) fail("setup", `${name} is not set`);
  return v;
}
function fail(step, msg) {
  console.error(`FAIL ${C} ${step}: ${msg}`);
  process.exit(1);
}
function check(step, cond, msg) {
  if (!cond) fail(step, msg);
}
const ok = (step, detail = "") => console.log(`ok ${C} ${step}${detail ? " " + detail : ""}`);
const same = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const url = env("SIGNET_ETH_URL");
const token = env("SIGNET_ETH_TOKEN");
const address = getAddress(env("SIGNET_ETH_ADDRESS"));
const upstreamUrl = env("SIGNET_ETH_UPSTREAM");
const funderKey = env("SIGNET_ETH_FUNDER_KEY");
const foreign = getAddress(env("SIGNET_ETH_FOREIGN_ADDRESS", "0x000000000000000000000000000000000000dEaD"));
const recipient = "0x000000000000000000000000000000000000bEEF";

// The node itself, as a user would reach it to submit raw transactions.
const publicClient = createPublicClient({ transport: http(upstreamUrl) });
// The signer's endpoint, with the bearer token (the wallet client is made once
// the chain is known: viem checks eth_chainId against it before sending).
const signerTransport = http(url, { fetchOptions: { headers: { Authorization: `Bearer ${token}` } } });

// A tiny contract: the init code returns the 10-byte runtime
// PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN (every call returns 42).
const RUNTIME = "0x602a60005260206000f3";
const INITCODE = "0x69602a60005260206000f3600052600a6016f3";

// EIP-712 typed data with a nested struct and arrays (the EIP's Mail example
// with Person.wallets: address[] and Mail.to: Person[]).
const TYPES = {
  Person: [
    { name: "name", type: "string" },
    { name: "wallets", type: "address[]" },
  ],
  Mail: [
    { name: "from", type: "Person" },
    { name: "to", type: "Person[]" },
    { name: "contents", type: "string" },
  ],
};
const MAIL = {
  from: { name: "Cow", wallets: ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"] },
  to: [{ name: "Bob", wallets: ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "0xB0BdaBea57B0BDABeA57b0bdABEA57b0BDabEa57"] }],
  contents: "Hello, Bob!",
};

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    fail(name, e && e.stack ? e.stack : String(e));
  }
}

// The receipt of `hash` on the node, polled (viem's waitForTransactionReceipt
// watches the block number, which the client caches for 4 s and which an
// automining anvil only moves with new transactions), or null after 60 s.
async function receiptOf(hash) {
  for (let i = 0; i < 600; i++) {
    try {
      return await publicClient.getTransactionReceipt({ hash });
    } catch (e) {
      if (!(e instanceof TransactionReceiptNotFoundError)) throw e;
    }
    await sleep(100);
  }
  return null;
}

// Waits for `hash` on the node and checks it was mined, from the wallet, status success.
async function minedFromWallet(name, hash, type) {
  const receipt = await receiptOf(hash);
  check(name, receipt, `no receipt for ${hash} on the upstream`);
  check(name, receipt.status === "success", `receipt status ${receipt.status} for ${hash}`);
  check(name, same(receipt.from, address), `receipt from ${receipt.from}, expected ${address}`);
  if (type !== undefined) {
    const tx = await publicClient.getTransaction({ hash });
    check(name, tx.type === type, `transaction type ${tx.type}, expected ${type}`);
  }
  return receipt;
}

let chain;
let walletClient;

await step("fund", async () => {
  const id = await publicClient.getChainId();
  chain = defineChain({
    id,
    name: `chain ${id}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [upstreamUrl] } },
  });
  const bal = await publicClient.getBalance({ address });
  if (bal < parseEther("1")) {
    const funder = createWalletClient({
      account: privateKeyToAccount(funderKey.startsWith("0x") ? funderKey : `0x${funderKey}`),
      chain,
      transport: http(upstreamUrl),
    });
    const hash = await funder.sendTransaction({ to: address, value: parseEther("10") });
    const r = await receiptOf(hash);
    check("fund", r && r.status === "success", `funding transaction ${hash} not mined successfully`);
    ok("fund", `sent 10 ETH (${hash})`);
  } else ok("fund", `balance ${formatEther(bal)} ETH`);
});

// (a) the account is listed and the chain is the node's.
await step("accounts", async () => {
  walletClient = createWalletClient({ account: address, chain, transport: signerTransport });
  check("accounts", walletClient.account.type === "json-rpc", `account type ${walletClient.account.type}, expected json-rpc`);
  const accounts = await walletClient.getAddresses(); // eth_accounts
  check("accounts", Array.isArray(accounts) && accounts.some((a) => same(a, address)),
    `eth_accounts ${JSON.stringify(accounts)} lacks ${address}`);
  const id = await walletClient.getChainId(); // eth_chainId on the signer
  check("accounts", id === chain.id, `eth_chainId ${id}, upstream ${chain.id}`);
  ok("accounts", `chain ${chain.id}`);
});

// (b) an EIP-1559 value transfer through eth_sendTransaction.
await step("send-1559", async () => {
  const hash = await walletClient.sendTransaction({ to: recipient, value: parseEther("0.01"), type: "eip1559" });
  const r = await minedFromWallet("send-1559", hash, "eip1559");
  check("send-1559", r.type === "eip1559", `receipt type ${r.type}, expected eip1559`);
  ok("send-1559", hash);
});

// (c) legacy and EIP-2930 transactions through eth_signTransaction, the raw
// bytes submitted to the node with eth_sendRawTransaction.
for (const [name, type, extra] of [
  ["sign-legacy", "legacy", {}],
  ["sign-2930", "eip2930", { accessList: [{ address: recipient, storageKeys: [pad("0x01", { size: 32 })] }] }],
]) {
  await step(name, async () => {
    // Filled as a user would: gas and price from the node, and the chain id
    // (viem adds the signer's eth_chainId anyway). The nonce is left to the
    // signer (Signet and anvil fill it from the node's pending count).
    const tx = { to: recipient, value: 1000n, type, chainId: chain.id, ...extra };
    tx.gas = await publicClient.estimateGas({ account: address, ...tx });
    tx.gasPrice = await publicClient.getGasPrice();
    const raw = await walletClient.signTransaction(tx);
    check(name, typeof raw === "string" && /^0x[0-9a-f]+$/i.test(raw),
      `eth_signTransaction returned ${JSON.stringify(raw)}, not raw transaction hex`);
    const parsed = parseTransaction(raw);
    check(name, parsed.type === type, `signed type ${parsed.type}, expected ${type}`);
    check(name, parsed.chainId === chain.id, `signed for chain ${parsed.chainId}, expected ${chain.id}`);
    const signer = await recoverTransactionAddress({ serializedTransaction: raw });
    check(name, same(signer, address), `signed by ${signer}, expected ${address}`);
    const hash = await publicClient.sendRawTransaction({ serializedTransaction: raw });
    await minedFromWallet(name, hash, type);
    ok(name, hash);
  });
}

// (d) personal_sign and eth_signTypedData_v4, recovered by viem itself.
await step("personal_sign", async () => {
  const message = `Signet viem walk ${Date.now()}`;
  const signature = await walletClient.signMessage({ message });
  const who = await recoverMessageAddress({ message, signature });
  check("personal_sign", same(who, address), `recovered ${who}, expected ${address}`);
  check("personal_sign", await verifyMessage({ address, message, signature }), "verifyMessage returned false");
  ok("personal_sign");
});
await step("signTypedData_v4", async () => {
  const typed = {
    domain: { name: "Ether Mail", version: "1", chainId: chain.id, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" },
    types: TYPES,
    primaryType: "Mail",
    message: MAIL,
  };
  const signature = await walletClient.signTypedData(typed);
  const who = await recoverTypedDataAddress({ ...typed, signature });
  check("signTypedData_v4", same(who, address), `recovered ${who}, expected ${address}`);
  ok("signTypedData_v4");
});

// (e) a contract deployment through eth_sendTransaction.
await step("deploy", async () => {
  const hash = await walletClient.deployContract({ abi: [], bytecode: INITCODE });
  const receipt = await minedFromWallet("deploy", hash);
  check("deploy", receipt.contractAddress, "receipt has no contractAddress");
  const code = await publicClient.getCode({ address: receipt.contractAddress });
  check("deploy", code === RUNTIME, `code at ${receipt.contractAddress} is ${code}`);
  // eth_call via the signer's endpoint: the wallet client extended with the
  // public actions, as viem documents.
  const { data } = await walletClient.extend(publicActions).call({ to: receipt.contractAddress, data: "0x" });
  check("deploy", data && BigInt(data) === 42n, `eth_call returned ${data}, expected 42`);
  ok("deploy", receipt.contractAddress);
});

// (f) a foreign address must get a JSON-RPC error, never a signature.
await step("foreign-refused", async () => {
  const attempts = [
    ["personal_sign", () => walletClient.signMessage({ account: foreign, message: "not yours" })],
    ["eth_sendTransaction", () => walletClient.sendTransaction({ account: foreign, to: recipient, value: 1n, gas: 21000n })],
  ];
  for (const [method, fn] of attempts) {
    let result, error;
    try {
      result = await fn();
    } catch (e) {
      error = e;
    }
    check("foreign-refused", error, `${method} from ${foreign} answered ${JSON.stringify(result)} instead of an error`);
    // viem wraps the JSON-RPC error object (code, message) in an RpcRequestError.
    const rpcErr = typeof error.walk === "function" ? error.walk((e) => e instanceof RpcRequestError) : null;
    check("foreign-refused", rpcErr && Number.isInteger(rpcErr.code) && typeof rpcErr.details === "string",
      `${method} from ${foreign} failed without a JSON-RPC error object: ${error.message}`);
  }
  ok("foreign-refused");
});
