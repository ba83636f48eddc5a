// What a sign intent will sign, decoded for the person approving it.
// Known kinds get a readable layout; anything else (unknown kinds, unknown
// fields) is still shown, as a key/value tree, so nothing is hidden.

import { h, dl, mono, tree, quantity, units } from "./dom.js";

const CHAINS = {
  1: "Ethereum mainnet",
  5: "Goerli testnet",
  10: "OP Mainnet",
  56: "BNB Smart Chain",
  100: "Gnosis",
  137: "Polygon PoS",
  8453: "Base",
  17000: "Holesky testnet",
  31337: "local development chain (anvil/hardhat)",
  42161: "Arbitrum One",
  43114: "Avalanche C-Chain",
  59144: "Linea",
  11155111: "Sepolia testnet",
};

/** "1 (Ethereum mainnet)". */
export function chainName(id) {
  const q = quantity(id);
  if (q === null) return id === undefined || id === null ? "—" : String(id);
  const name = CHAINS[Number(q)];
  return name ? `${q} (${name})` : `${q}`;
}

const TX_TYPES = {
  0: "legacy",
  1: "EIP-2930",
  2: "EIP-1559",
  4: "EIP-7702 (delegation)",
  legacy: "legacy",
  eip2930: "EIP-2930",
  eip1559: "EIP-1559",
  eip7702: "EIP-7702 (delegation)",
};

function pick(obj, ...names) {
  for (const n of names) if (obj && obj[n] !== undefined && obj[n] !== null) return [n, obj[n]];
  return [null, undefined];
}

/** Value in ETH and wei: "0.01 ETH (10000000000000000 wei)". */
export function ethValue(v) {
  const q = quantity(v ?? "0");
  if (q === null) return String(v);
  return `${units(q, 18)} ETH (${q} wei)`;
}

function gwei(v) {
  const q = quantity(v);
  if (q === null) return String(v);
  return `${units(q, 9)} gwei (${q} wei)`;
}

/** One line summarising an intent's content (lists). */
export function summary(content) {
  if (!content || typeof content !== "object") return "unknown content";
  switch (content.kind) {
    case "transaction": {
      const tx = content.transaction || {};
      const [, to] = pick(tx, "to");
      return `Transaction: ${ethValue(pick(tx, "value")[1] ?? "0").split(" (")[0]} to ${to || "a new contract"} on chain ${chainName(pick(tx, "chain_id", "chainId")[1])}`;
    }
    case "typed_data": {
      const td = content.typed_data || {};
      const name = td.domain && td.domain.name ? ` for ${td.domain.name}` : "";
      return `Typed data (EIP-712): ${td.primary_type || td.primaryType || "?"}${name}`;
    }
    case "message": {
      const m = content.message || {};
      const text = typeof m.text === "string" ? m.text : m.hex || "(bytes that are not text)";
      return `Message: “${text.length > 60 ? `${text.slice(0, 60)}…` : text}”`;
    }
    case "digest":
      return "Opaque digest (a raw hash: what it authorizes cannot be shown)";
    default:
      return `Unknown kind of content: ${content.kind}`;
  }
}

/** Everything not in `known`, as a tree (or null when nothing is left). */
function rest(obj, known) {
  const extra = {};
  for (const [k, v] of Object.entries(obj || {})) if (!known.includes(k)) extra[k] = v;
  return Object.keys(extra).length ? extra : null;
}

function others(obj, known, title = "Other fields") {
  const extra = rest(obj, known);
  return extra ? h("section", { class: "sub" }, h("h3", { text: title }), tree(extra)) : null;
}

/** "2^256 − 1", the largest uint256: what "unlimited" means on chain. */
const UINT256_MAX = (1n << 256n) - 1n;

/**
 * A token amount: in the token's units first when the wallet's policy names
 * its decimals (`units`, e.g. "1000.5 USDC"), and in base units as given,
 * with "(2^256 − 1)" when it is the largest there is.
 */
function baseUnits(amount, units) {
  const q = quantity(amount);
  const max = q !== null && q === UINT256_MAX ? " (2^256 − 1, the largest number there is)" : "";
  const raw = `${amount ?? "—"}${max} in the token's smallest units`;
  return typeof units === "string" ? `${units} (${raw})` : raw;
}

/** A full address as a mono span with a testid (and what it is, as a data attribute). */
function who(address, testid, role) {
  return h("span", { testid, dataset: { role } }, mono(address ?? "—"));
}

/** The first 4 bytes of calldata ("0xdeadbeef"), or the calldata when shorter. */
function selectorOf(calldata) {
  const hex = String(calldata || "").replace(/^0x/, "");
  return `0x${hex.slice(0, 8)}`;
}

/**
 * "What this call does": the token call the signer decoded from a
 * transaction's calldata (`content.call`, eth/src/call.rs), who gets tokens
 * or rights, the amount, UNLIMITED flagged; or, when the signer cannot read
 * the call (`readable: false`), a warning. Always the full calldata.
 */
function callSection(tx, content) {
  const calldata = typeof content.calldata === "string" ? content.calldata : null;
  const call = content.call && typeof content.call === "object" ? content.call : null;
  const unreadable = content.readable === false;
  if (!call && !unreadable && (!calldata || calldata === "0x")) return null;
  const [, token] = pick(tx, "to");
  const parts = [h("h3", { text: "What this call does" })];
  if (unreadable) {
    const short3 = calldata && calldata.replace(/^0x/, "").length < 8;
    parts.push(
      h(
        "p",
        { class: "opaque", role: "note", testid: "tx-unreadable" },
        h("strong", { text: "I cannot read this call" }),
        short3
          ? `: the calldata ${calldata} is too short to name a function; check the calldata yourself.`
          : call && call.error !== undefined
            ? `: the function ${selectorOf(calldata)} is one the signer knows, but its arguments do not decode as the standard says; check the calldata yourself.`
            : `: the function ${selectorOf(calldata)} is not one the signer recognises (or its arguments do not decode); check the calldata yourself.`,
      ),
    );
  }
  if (call && call.error !== undefined) {
    parts.push(dl([["What the decoder says", h("span", { text: String(call.error) }), "call-error"]]));
  } else if (call) {
    const f = call.function;
    const rows = [["Function", call.signature || f || "—", "call-function"]];
    rows.push(["Token contract", h("span", {}, mono(token ?? "—", { testid: "call-contract" }), h("span", { class: "hint", text: " (this transaction's To)" }))]);
    if (f === "approve" || f === "increaseAllowance") {
      rows.push(["Spender (may take tokens from this wallet)", who(call.spender, "call-counterparty", "spender")]);
      rows.push([f === "approve" ? "Amount it may take" : "Allowance raised by", baseUnits(call.amount, call.amount_units), "call-amount"]);
    } else if (f === "setApprovalForAll") {
      rows.push(["Operator", who(call.operator, "call-counterparty", "operator")]);
      rows.push([
        "Grants",
        h("span", { text: call.approved ? "yes: the operator may move every token of this collection this wallet holds" : "no: this takes the operator's rights away" }),
        "call-approved",
      ]);
    } else {
      if (call.from !== undefined) rows.push(["From", who(call.from, "call-from", "from")]);
      rows.push(["Recipient (gets the tokens)", who(call.to, "call-counterparty", "recipient")]);
      if (call.token_id !== undefined) rows.push(["Token id", String(call.token_id), "call-token-id"]);
      if (call.amount !== undefined) rows.push(["Amount", baseUnits(call.amount, call.amount_units), "call-amount"]);
      if (call.data !== undefined) rows.push(["Data passed on", String(call.data), "call-data"]);
    }
    if (call.unlimited) {
      parts.push(
        h(
          "p",
          { class: "opaque", role: "note", testid: "call-unlimited" },
          h("strong", { text: "UNLIMITED" }),
          f === "setApprovalForAll"
            ? ": the operator can move every token of this collection from this wallet, now and later, until the approval is revoked."
            : ": the spender can take all of this token from this wallet, now and later, until the approval is revoked.",
        ),
      );
    }
    parts.push(dl(rows, { testid: "call-fields" }));
    parts.push(others(call, ["function", "signature", "to", "from", "spender", "operator", "amount", "amount_units", "token_id", "approved", "unlimited", "data"], "Other arguments"));
  }
  if (calldata !== null) {
    const bytes = Math.floor(calldata.replace(/^0x/, "").length / 2);
    parts.push(dl([[`Calldata (${bytes} bytes)`, h("span", {}, mono(calldata, { testid: "tx-calldata" }))]]));
  }
  return h("section", { class: "sub call", testid: "tx-call" }, parts);
}

/** A Unix time in seconds (decimal string) as a UTC date; far-off values said plainly. */
function unixDate(seconds) {
  const q = quantity(seconds);
  if (q === null) return String(seconds ?? "—");
  if (q > 8640000000000n) return `${q} (Unix time: never, in practice)`;
  const d = new Date(Number(q) * 1000);
  return `${d.toISOString().replace("T", " ").replace(/\.000Z$/, " UTC")} (Unix time ${q})`;
}

/** A token permit the signer recognised in typed data (eth/src/permit.rs), or why it is malformed. */
function permitSection(permit) {
  if (!permit || typeof permit !== "object") return null;
  const parts = [h("h3", { text: "Token permit" })];
  if (permit.error !== undefined) {
    parts.push(
      h(
        "p",
        { class: "opaque", role: "note", testid: "permit-error" },
        h("strong", { text: "A token permit the signer cannot read" }),
        `: ${permit.error}. What it grants cannot be shown; check the message yourself.`,
      ),
    );
    return h("section", { class: "sub permit", testid: "typed-permit" }, parts);
  }
  if (permit.unlimited) {
    parts.push(
      h(
        "p",
        { class: "opaque", role: "note", testid: "permit-unlimited" },
        h("strong", { text: "UNLIMITED" }),
        ": the spender can take all of this token from this wallet, now and later, until the approval is revoked.",
      ),
    );
  }
  const tokens = Array.isArray(permit.tokens) ? permit.tokens : [];
  const list = h("ul", { class: "flat", testid: "permit-tokens" });
  for (const t of tokens) {
    list.append(
      h(
        "li",
        { testid: "permit-token", dataset: { unlimited: Boolean(t.unlimited) } },
        "Token ",
        mono(t.token ?? "—"),
        `: ${baseUnits(t.amount, t.amount_units)}`,
        t.unlimited ? h("strong", { class: "bad", text: " — UNLIMITED" }) : null,
      ),
    );
  }
  parts.push(
    dl(
      [
        ["Standard", permit.standard ?? "—", "permit-standard"],
        ["Spender (may take tokens from this wallet)", who(permit.spender, "permit-spender", "spender")],
        ["Tokens", tokens.length ? list : h("span", { testid: "permit-tokens", text: "none" })],
        ["Valid until", unixDate(permit.deadline), "permit-deadline"],
      ],
      { testid: "permit-fields" },
    ),
    others(permit, ["standard", "spender", "tokens", "deadline", "unlimited"]),
  );
  return h("section", { class: "sub permit", testid: "typed-permit" }, parts);
}

function transaction(tx, content = {}) {
  const [, type] = pick(tx, "type");
  const [, chain] = pick(tx, "chain_id", "chainId");
  const [, to] = pick(tx, "to");
  const [, value] = pick(tx, "value");
  const [, nonce] = pick(tx, "nonce");
  const [, gas] = pick(tx, "gas_limit", "gas", "gasLimit");
  const [, maxFee] = pick(tx, "max_fee_per_gas", "maxFeePerGas");
  const [, prio] = pick(tx, "max_priority_fee_per_gas", "maxPriorityFeePerGas");
  const [, gasPrice] = pick(tx, "gas_price", "gasPrice");
  const [, data] = pick(tx, "input", "data");
  const [, dataLen] = pick(tx, "data_len");
  const [, selector] = pick(tx, "selector");
  const [, accessList] = pick(tx, "access_list", "accessList");
  const [, auths] = pick(tx, "authorization_list", "authorizationList", "authorizations");
  const [, accessCount] = pick(tx, "access_list_len");
  const [, authCount] = pick(tx, "authorization_count");
  const known = [
    "type", "chain_id", "chainId", "to", "value", "nonce", "gas_limit", "gas", "gasLimit",
    "max_fee_per_gas", "maxFeePerGas", "max_priority_fee_per_gas", "maxPriorityFeePerGas",
    "gas_price", "gasPrice", "input", "data", "data_len", "selector", "access_list", "accessList",
    "authorization_list", "authorizationList", "authorizations", "access_list_len", "authorization_count",
  ];
  let dataNode = null;
  if (typeof data === "string" && data !== "0x" && data !== "") {
    const bytes = Math.floor((data.replace(/^0x/, "").length) / 2);
    dataNode = h("div", {}, h("p", { class: "hint", text: `${bytes} bytes; a contract call — check what it does` }), mono(data, { testid: "tx-data" }));
  } else if (dataLen !== undefined && Number(dataLen) > 0) {
    dataNode = mono(`${dataLen} bytes${selector ? `, function selector ${selector}` : ""}`, { testid: "tx-data" });
  } else {
    dataNode = h("span", { testid: "tx-data", text: "none (a plain transfer)" });
  }
  const authList = Array.isArray(auths) ? auths : [];
  const delegations = Math.max(authList.length, Number(authCount) || 0);
  return h(
    "div",
    { class: "content tx", testid: "content-transaction" },
    delegations
      ? h(
          "p",
          { class: "warn", role: "note", testid: "tx-delegation-warning" },
          `This transaction delegates your account to ${delegations === 1 ? "a contract" : `${delegations} contracts`} (EIP-7702): the delegate gets full control of the account. Approve only if you trust it.`,
        )
      : null,
    callSection(tx, content),
    dl([
      ["Chain", chainName(chain), "tx-chain"],
      ["To", to ? String(to) : "— (creates a contract)", "tx-to"],
      ["Value", ethValue(value ?? "0"), "tx-value"],
      ["Data", dataNode],
      ["Type", TX_TYPES[type] ? `${TX_TYPES[type]} (${type})` : type ?? "—"],
      ["Nonce", nonce ?? "—"],
      ["Gas limit", gas ?? "—"],
      maxFee !== undefined ? ["Max fee per gas", gwei(maxFee)] : null,
      prio !== undefined ? ["Max priority fee per gas", gwei(prio)] : null,
      gasPrice !== undefined ? ["Gas price", gwei(gasPrice)] : null,
      (() => {
        const limit = quantity(gas);
        const price = quantity(maxFee ?? gasPrice);
        return limit !== null && price !== null ? ["Maximum network fee", `${units(limit * price, 18)} ETH`] : null;
      })(),
      accessList !== undefined && !(Array.isArray(accessList) && accessList.length === 0)
        ? ["Access list", tree(accessList)]
        : null,
      !accessList && Number(accessCount) > 0 ? ["Access list", `${accessCount} entries`] : null,
      authList.length ? ["Authorizations (delegations)", tree(authList)] : null,
      !authList.length && delegations ? ["Authorizations (delegations)", `${delegations}`] : null,
    ]),
    others(tx, known),
  );
}

function typedData(td, content = {}) {
  const known = ["domain", "primary_type", "primaryType", "message", "types"];
  return h(
    "div",
    { class: "content typed", testid: "content-typed-data" },
    permitSection(content.permit),
    h("section", { class: "sub" }, h("h3", { text: "Domain (who asks)" }), tree(td.domain ?? null)),
    dl([["Primary type", td.primary_type ?? td.primaryType ?? "—", "typed-primary-type"]]),
    h("section", { class: "sub" }, h("h3", { text: "Message" }), h("div", { testid: "typed-message" }, tree(td.message ?? null))),
    td.types ? h("details", {}, h("summary", { text: "Type definitions" }), tree(td.types)) : null,
    others(td, known),
  );
}

function message(m) {
  const known = ["encoding", "text", "hex", "base64"];
  return h(
    "div",
    { class: "content message", testid: "content-message" },
    dl([
      ["Encoding", m.encoding === "eip191" ? "EIP-191 (personal_sign)" : m.encoding ?? "—"],
      typeof m.text === "string" ? ["Text", h("pre", { class: "message-text", testid: "message-text", text: m.text })] : null,
      typeof m.hex === "string" ? ["Bytes (hex)", mono(m.hex, { testid: "message-hex" })] : null,
      typeof m.base64 === "string" ? ["Bytes (base64)", mono(m.base64, { testid: "message-base64" })] : null,
    ]),
    typeof m.text !== "string" && (typeof m.hex === "string" || typeof m.base64 === "string")
      ? h("p", { class: "warn", text: "These bytes are not readable text: you cannot see what they mean." })
      : null,
    others(m, known),
  );
}

function digest(c) {
  return h(
    "div",
    { class: "content digest", testid: "content-digest" },
    h(
      "p",
      { class: "opaque", role: "note", testid: "content-opaque" },
      h("strong", { text: "OPAQUE" }),
      " — a raw hash: you cannot see what it authorizes. Approve only if you know exactly where it comes from.",
    ),
    dl([["Digest", c.digest ?? "—"]]),
  );
}

/** The decoded content of an intent. */
export function render(content) {
  if (!content || typeof content !== "object") {
    return h("div", { class: "content", testid: "content-unknown" }, h("p", { class: "warn", text: "The request carries no readable content." }), tree(content ?? null));
  }
  const known = ["kind"];
  switch (content.kind) {
    case "transaction":
      return h("div", {}, transaction(content.transaction || {}, content), others(content, [...known, "transaction", "call", "calldata", "readable"]));
    case "typed_data":
      return h("div", {}, typedData(content.typed_data || {}, content), others(content, [...known, "typed_data", "permit"]));
    case "message":
      return h("div", {}, message(content.message || {}), others(content, [...known, "message"]));
    case "digest":
      return h("div", {}, digest(content), others(content, [...known, "digest"]));
    default:
      return h(
        "div",
        { class: "content", testid: "content-unknown" },
        h("p", { class: "warn", text: `Unknown kind of content (${content.kind}); shown as given.` }),
        tree(content),
      );
  }
}
