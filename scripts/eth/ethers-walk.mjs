#!/usr/bin/env node
// The ethers v6 walk of an Ethereum JSON-RPC signer (Signet's POST /v1/eth, or
// anvil's unlocked accounts during development). Unmodified ethers: the bearer
// token goes in as FetchRequest.setHeader, the documented way to give a
// JsonRpcProvider headers; the signer is provider.getSigner(address).
//
// Env: SIGNET_ETH_URL, SIGNET_ETH_TOKEN, SIGNET_ETH_ADDRESS (EIP-55),
// SIGNET_ETH_UPSTREAM (the node: funding, checks, raw submission),
// SIGNET_ETH_FUNDER_KEY, optional SIGNET_ETH_FOREIGN_ADDRESS (an address that
// is not the caller's; default 0x…dEaD), SIGNET_ETH_NODE_MODULES (or NODE_PATH)
// where ethers is installed (scripts/eth-deps.sh).
// Prints `ok ethers <step>` per step; exits 1 on the first failure.
import { createRequire } from "node:module";
import { join } from "node:path";

const nodeModules = process.env.SIGNET_ETH_NODE_MODULES || (process.env.NODE_PATH || "").split(":")[0];
const require = createRequire(join(nodeModules || process.cwd(), "noop.js"));
const ethers = require("ethers");
const { FetchRequest, JsonRpcProvider, JsonRpcSigner, Wallet, ContractFactory } = ethers;

const C = "ethers";
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

const url = env("SIGNET_ETH_URL");
const token = env("SIGNET_ETH_TOKEN");
const address = ethers.getAddress(env("SIGNET_ETH_ADDRESS"));
const upstreamUrl = env("SIGNET_ETH_UPSTREAM");
const funderKey = env("SIGNET_ETH_FUNDER_KEY");
const foreign = ethers.getAddress(env("SIGNET_ETH_FOREIGN_ADDRESS", "0x000000000000000000000000000000000000dEaD"));
const recipient = "0x000000000000000000000000000000000000bEEF";

// The signer's endpoint, with the bearer token.
const req = new FetchRequest(url);
req.setHeader("Authorization", `Bearer ${token}`);
const provider = new JsonRpcProvider(req);
// The node itself, as a user would reach it to submit raw transactions.
const upstream = new JsonRpcProvider(upstreamUrl);

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

// Waits for `hash` on the node and checks it was mined, from the wallet, status 1.
async function minedFromWallet(name, hash, type) {
  // Poll the receipt itself: waitForTransaction(hash, 1) compares with the
  // provider's cached block number, which on an automining anvil (no new
  // blocks without transactions) can stay stale until it times out.
  let receipt = null;
  for (let i = 0; i < 600 && receipt == null; i++) {
    receipt = await upstream.getTransactionReceipt(hash);
    if (receipt == null) await new Promise((r) => setTimeout(r, 100));
  }
  check(name, receipt, `no receipt for ${hash} on the upstream`);
  check(name, receipt.status === 1, `receipt status ${receipt.status} for ${hash}`);
  check(name, same(receipt.from, address), `receipt from ${receipt.from}, expected ${address}`);
  if (type !== undefined) {
    const tx = await upstream.getTransaction(hash);
    check(name, tx.type === type, `transaction type ${tx.type}, expected ${type}`);
  }
  return receipt;
}

let chainId;
let signer;

await step("fund", async () => {
  const bal = await upstream.getBalance(address);
  if (bal < ethers.parseEther("1")) {
    const funder = new Wallet(funderKey, upstream);
    const tx = await funder.sendTransaction({ to: address, value: ethers.parseEther("10") });
    await tx.wait();
    ok("fund", `sent 10 ETH (${tx.hash})`);
  } else ok("fund", `balance ${ethers.formatEther(bal)} ETH`);
});

// (a) the account is listed and the chain is the node's.
await step("accounts", async () => {
  const accounts = await provider.send("eth_accounts", []);
  check("accounts", Array.isArray(accounts) && accounts.some((a) => same(a, address)),
    `eth_accounts ${JSON.stringify(accounts)} lacks ${address}`);
  signer = await provider.getSigner(address); // ethers checks eth_accounts too
  const net = await provider.getNetwork();
  chainId = (await upstream.getNetwork()).chainId;
  check("accounts", net.chainId === chainId, `eth_chainId ${net.chainId}, upstream ${chainId}`);
  ok("accounts", `chain ${chainId}`);
});

// (b) an EIP-1559 value transfer through eth_sendTransaction.
await step("send-1559", async () => {
  const tx = await signer.sendTransaction({ to: recipient, value: ethers.parseEther("0.01"), type: 2 });
  const r = await tx.wait(); // through the signer's endpoint, as users do
  check("send-1559", r && r.status === 1, "tx.wait() gave no successful receipt");
  await minedFromWallet("send-1559", tx.hash, 2);
  ok("send-1559", tx.hash);
});

// (c) legacy and EIP-2930 transactions through eth_signTransaction, the raw
// bytes submitted to the node with eth_sendRawTransaction.
for (const [name, type, extra] of [
  ["sign-legacy", 0, {}],
  ["sign-2930", 1, { accessList: [{ address: recipient, storageKeys: [ethers.zeroPadValue("0x01", 32)] }] }],
]) {
  await step(name, async () => {
    // JsonRpcSigner.populateTransaction only resolves addresses (ethers leaves
    // the rest to the node), so fill the transaction as a user would: gas and
    // price from the provider, and the chain id. The nonce is left to the
    // signer (Signet and anvil fill it from the node's pending count): ethers
    // answers a repeated getTransactionCount within 250 ms from its cache,
    // which right after the previous step is the stale count.
    const tx = { from: address, to: recipient, value: 1000n, type, chainId, ...extra };
    tx.gasLimit = await provider.estimateGas(tx);
    tx.gasPrice = (await provider.getFeeData()).gasPrice;
    const raw = await signer.signTransaction(tx);
    check(name, typeof raw === "string" && /^0x[0-9a-f]+$/i.test(raw),
      `eth_signTransaction returned ${JSON.stringify(raw)}, not raw transaction hex`);
    const parsed = ethers.Transaction.from(raw);
    check(name, parsed.type === type, `signed type ${parsed.type}, expected ${type}`);
    check(name, same(parsed.from, address), `signed by ${parsed.from}, expected ${address}`);
    const sent = await upstream.broadcastTransaction(raw);
    await minedFromWallet(name, sent.hash, type);
    ok(name, sent.hash);
  });
}

// (d) personal_sign and eth_signTypedData_v4, recovered by ethers itself.
await step("personal_sign", async () => {
  const msg = `Signet ethers walk ${Date.now()}`;
  const sig = await signer.signMessage(msg);
  const who = ethers.verifyMessage(msg, sig);
  check("personal_sign", same(who, address), `recovered ${who}, expected ${address}`);
  ok("personal_sign");
});
await step("signTypedData_v4", async () => {
  const domain = { name: "Ether Mail", version: "1", chainId, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
  const sig = await signer.signTypedData(domain, TYPES, MAIL);
  const who = ethers.verifyTypedData(domain, TYPES, MAIL, sig);
  check("signTypedData_v4", same(who, address), `recovered ${who}, expected ${address}`);
  ok("signTypedData_v4");
});

// (e) a contract deployment through eth_sendTransaction.
await step("deploy", async () => {
  const factory = new ContractFactory([], INITCODE, signer);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  const hash = contract.deploymentTransaction().hash;
  const receipt = await minedFromWallet("deploy", hash);
  check("deploy", receipt.contractAddress, "receipt has no contractAddress");
  const code = await upstream.getCode(receipt.contractAddress);
  check("deploy", code === RUNTIME, `code at ${receipt.contractAddress} is ${code}`);
  const out = await provider.call({ to: receipt.contractAddress, data: "0x" }); // eth_call via the signer's endpoint
  check("deploy", BigInt(out) === 42n, `eth_call returned ${out}, expected 42`);
  ok("deploy", receipt.contractAddress);
});

// (f) a foreign address must get a JSON-RPC error, never a signature.
await step("foreign-refused", async () => {
  const other = new JsonRpcSigner(provider, foreign); // not through getSigner, which would refuse locally
  const attempts = [
    ["personal_sign", () => other.signMessage("not yours")],
    ["eth_sendTransaction", () => other.sendTransaction({ to: recipient, value: 1n, gasLimit: 21000n })],
  ];
  for (const [method, fn] of attempts) {
    let result, error;
    try {
      result = await fn();
    } catch (e) {
      error = e;
    }
    check("foreign-refused", error, `${method} from ${foreign} answered ${JSON.stringify(result)} instead of an error`);
    const rpcErr = error.error; // ethers keeps the JSON-RPC error object here
    check("foreign-refused", rpcErr && Number.isInteger(rpcErr.code) && typeof rpcErr.message === "string",
      `${method} from ${foreign} failed without a JSON-RPC error object: ${error.message}`);
  }
  ok("foreign-refused");
});

provider.destroy();
upstream.destroy();
