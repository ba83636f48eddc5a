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

function transaction(tx) {
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

function typedData(td) {
  const known = ["domain", "primary_type", "primaryType", "message", "types"];
  return h(
    "div",
    { class: "content typed", testid: "content-typed-data" },
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
      return h("div", {}, transaction(content.transaction || {}), others(content, [...known, "transaction"]));
    case "typed_data":
      return h("div", {}, typedData(content.typed_data || {}), others(content, [...known, "typed_data"]));
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
