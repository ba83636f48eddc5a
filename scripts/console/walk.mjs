#!/usr/bin/env node
// The browser walk of the web console: a real Chromium (Debian's, driven by
// playwright-core over CDP) against a real signet-host, signing in through a
// fake Telegram, approving and declining payment requests, verifying
// attestation documents in the browser (WebAssembly) and finding a tampered
// audit row. host/tests runs it; it can also run by hand against any host.
//
// Env:
//   SIGNET_URL                 the host's base URL (http://127.0.0.1:PORT)
//   SIGNET_TG_CONTROL          the fake Telegram's control base URL: the walk
//                              POSTs {control}/users/{id}/messages {"text": "/start <challenge>"},
//                              waits for the bot's question in {control}/sent and presses
//                              the page's code ({control}/users/{id}/press)
//   SIGNET_TG_USER             the Telegram user id that signs in
//   SIGNET_API_TOKEN           an API client token of the user's tenant (scope sign):
//                              the "merchant" that creates sign intents and presents tickets
//   SIGNET_SPARE_TOKEN         another API client token of the user's tenant (scope
//                              wallets:read), never used: the walk revokes it in the console
//   SIGNET_VECTORS             a JSON file: [{name, document_b64, pcrs: {"0": hex, …}, root: "aws",
//                              at_ms, expect_valid, cli_error_code, allow_debug?}] — the
//                              expectations are what `signet attest verify --json` said
//   SIGNET_DEV_ROOT_PEM        the dev attestation root (a PEM file)
//   SIGNET_TAMPER_CMD          a shell command that alters one audit row in the database;
//                              when its last line of output is a number, that is the
//                              event the console must flag
//   SIGNET_SHOTS               optional: a directory for the screenshots (PNG)
//   SIGNET_CHROMIUM            the browser (default /usr/bin/chromium)
//   SIGNET_CONSOLE_NODE_MODULES (or NODE_PATH) where playwright-core is (scripts/console-deps.sh)
// Prints `ok console <step>` or `FAIL console <step>: why` per step and
// `console walk: N passed, N failed` at the end; exits 1 when a step failed.

import { createRequire } from "node:module";
import { execSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, createPrivateKey, sign as signWith } from "node:crypto";

const nodeModules = process.env.SIGNET_CONSOLE_NODE_MODULES || (process.env.NODE_PATH || "").split(":")[0];
const require = createRequire(join(nodeModules || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");

const C = "console";
let passed = 0;
let failed = 0;

function env(name, dflt) {
  const v = process.env[name] ?? dflt;
  if (!v) {
    console.error(`FAIL ${C} setup: ${name} is not set`);
    console.log(`console walk: ${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  }
  return v;
}

const BASE = env("SIGNET_URL").replace(/\/+$/, "");
const TG = env("SIGNET_TG_CONTROL").replace(/\/+$/, "");
const TG_USER = env("SIGNET_TG_USER");
const API_TOKEN = env("SIGNET_API_TOKEN");
const SPARE_TOKEN = env("SIGNET_SPARE_TOKEN");
const VECTORS = JSON.parse(readFileSync(env("SIGNET_VECTORS"), "utf8"));
const DEV_ROOT_PEM = readFileSync(env("SIGNET_DEV_ROOT_PEM"), "utf8");
const TAMPER_CMD = env("SIGNET_TAMPER_CMD");
const SHOTS = process.env.SIGNET_SHOTS || "";
const CHROMIUM = process.env.SIGNET_CHROMIUM || "/usr/bin/chromium";
const CONSOLE = `${BASE}/console/`;
const T = (id) => `[data-testid="${id}"]`;

if (SHOTS) mkdirSync(SHOTS, { recursive: true });

// --- steps -------------------------------------------------------------------

class Skip extends Error {}
/** What the page logged as errors since the last step (console, page errors, CSP). */
const pageErrors = [];

async function step(name, fn) {
  const before = pageErrors.length;
  try {
    const detail = await fn();
    const errs = pageErrors.slice(before);
    if (errs.length) throw new Error(`the page logged errors: ${errs.join(" | ")}`);
    passed += 1;
    console.log(`ok ${C} ${name}${detail ? ` ${detail}` : ""}`);
    return true;
  } catch (e) {
    failed += 1;
    const msg = e instanceof Skip ? `not run: ${e.message}` : (e && e.message) || String(e);
    console.log(`FAIL ${C} ${name}: ${msg.split("\n")[0]}`);
    if (!(e instanceof Skip) && e && e.stack && process.env.SIGNET_WALK_VERBOSE) console.error(e.stack);
    return false;
  }
}

function need(cond, what) {
  if (!cond) throw new Skip(`needs ${what}`);
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function shot(page, name) {
  // Every photographed page is also checked for a JavaScript value printed
  // as text (a `null` or `undefined` appended to the DOM by mistake).
  const stray = await page.evaluate(() =>
    document.body.innerText.split("\n").map((l) => l.trim()).filter((l) => l === "null" || l === "undefined" || l === "[object Object]" || l === "NaN"),
  );
  if (stray.length) throw new Error(`page ${name} shows a stray value as text: ${stray.join(", ")}`);
  if (!SHOTS) return;
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A host API call with the merchant's API token (or another token). */
async function call(method, path, body, token = API_TOKEN) {
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

const code = (r) => (r.json && r.json.error && r.json.error.code) || null;

/** The client id in an API token `sgn_<id>_<secret>`. */
const clientId = (token) => token.split("_")[1];

// --- the browser ---------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
const page = await context.newPage();
page.setDefaultTimeout(20000);

// Every error the page reports fails the step it happens in, except the
// browser's own log line for an API answer with an error status: those
// answers (409 challenge_pending while polling, …) are the console's to
// handle, and what it does with them is what the steps check.
await context.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile || "?"}:${e.lineNumber || 0}`);
  });
});
page.on("console", (msg) => {
  if (msg.type() !== "error") return;
  const text = msg.text();
  const url = (msg.location() && msg.location().url) || "";
  if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) {
    try {
      if (new URL(url).pathname.startsWith("/v1/")) return;
    } catch {
      /* not a URL: report it */
    }
  }
  pageErrors.push(`console.error: ${text}${url ? ` (${url})` : ""}`);
});
page.on("pageerror", (err) => pageErrors.push(`uncaught: ${err.message}`));
page.on("requestfailed", (req) => {
  const url = req.url();
  if (url.startsWith(CONSOLE)) pageErrors.push(`request failed: ${url} ${req.failure() ? req.failure().errorText : ""}`);
});
page.on("response", (res) => {
  if (res.url().startsWith(CONSOLE) && res.status() >= 400) pageErrors.push(`HTTP ${res.status()} for ${res.url()}`);
});

async function open(hash, readyTestid) {
  await page.goto(`${CONSOLE}${hash}`);
  if (readyTestid) await page.waitForSelector(T(readyTestid));
}

async function sessionOfPage() {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem("signet.session") || "null"));
}

/**
 * The person in Telegram: opens the sign-in link of `challenge` (Start),
 * waits for the bot's question with its inline keyboard and presses `answer`
 * (the code the page shows). With `photo`, the question and its keyboard as
 * the fake recorded them are rendered and photographed.
 */
async function telegramAnswer(challenge, answer, photo) {
  const r = await fetch(`${TG}/users/${TG_USER}/messages`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: `/start ${challenge}`, first_name: "Alice" }),
  });
  expect(r.ok, `the fake Telegram answered ${r.status}`);
  let question = null;
  for (let i = 0; i < 300 && !question; i += 1) {
    const sent = await (await fetch(`${TG}/sent`)).json();
    question = sent.find((m) => String(m.chat_id) === TG_USER && JSON.stringify(m.reply_markup || {}).includes(challenge)) || null;
    if (!question) await new Promise((done) => setTimeout(done, 100));
  }
  expect(question, "the bot never asked to confirm the sign-in");
  const labels = question.reply_markup.inline_keyboard.flat().map((b) => b.text);
  expect(labels.includes(answer) && labels.includes("Not me"), `the keyboard is ${labels.join(", ")}`);
  if (photo && SHOTS) {
    const chat = await browser.newPage();
    await chat.setContent(
      `<!doctype html><meta charset="utf-8"><title>Telegram (as the fake recorded it)</title>
       <body style="font:16px system-ui;background:#dfe9f2;padding:24px;max-width:460px">
       <div style="background:#fff;border-radius:12px;padding:12px 14px;white-space:pre-wrap" id="m"></div>
       <div id="k"></div></body>`,
    );
    await chat.evaluate((q) => {
      document.getElementById("m").textContent = q.text;
      const k = document.getElementById("k");
      for (const row of q.reply_markup.inline_keyboard) {
        const line = document.createElement("div");
        line.style.cssText = "display:flex;gap:6px;margin-top:6px";
        for (const b of row) {
          const btn = document.createElement("div");
          btn.textContent = b.text;
          btn.style.cssText = "flex:1;text-align:center;background:#6a9fd4;color:#fff;border-radius:8px;padding:8px";
          line.append(btn);
        }
        k.append(line);
      }
    }, question);
    await chat.screenshot({ path: join(SHOTS, `${photo}.png`), fullPage: true });
    await chat.close();
  }
  const p = await fetch(`${TG}/users/${TG_USER}/press`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ message_id: question.message_id, text: answer }),
  });
  expect(p.ok, `pressing ${answer} answered ${p.status}`);
  return question;
}

async function text(testid) {
  return ((await page.textContent(T(testid))) || "").trim();
}

// --- the walk ----------------------------------------------------------------------

let cfg = null;
let walletId = null;
let walletLabel = null;
let intent1 = null;
let intent2 = null;
let signed1 = null;

await step("open", async () => {
  const res = await page.goto(CONSOLE);
  expect(res && res.status() === 200, `GET /console/ answered ${res && res.status()}`);
  const h = res.headers();
  const csp = h["content-security-policy"] || "";
  expect(csp, "no Content-Security-Policy header");
  for (const d of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
    expect(csp.includes(d), `the CSP lacks ${d}: ${csp}`);
  }
  expect(!/unsafe-inline|unsafe-eval[^-]|\*/.test(csp.replace("'wasm-unsafe-eval'", "")), `the CSP allows too much: ${csp}`);
  expect((h["x-frame-options"] || "").toUpperCase() === "DENY", `X-Frame-Options is ${h["x-frame-options"]}`);
  await page.waitForSelector(T("page-login"));
  const wasm = await fetch(`${CONSOLE}wasm/signet_verify_bg.wasm`);
  expect(wasm.status === 200, `the verifier's .wasm answered ${wasm.status}`);
  expect((wasm.headers.get("content-type") || "").startsWith("application/wasm"), `the .wasm is served as ${wasm.headers.get("content-type")}`);
  const c = await fetch(`${CONSOLE}config.json`);
  expect(c.status === 200, `config.json answered ${c.status}`);
  cfg = await c.json();
  expect(cfg.login && cfg.login.mode === "telegram", `config.json login mode is ${cfg.login && cfg.login.mode}, expected telegram`);
  return `(CSP ${csp.length} chars, X-Frame-Options DENY)`;
});

await step("sign in", async () => {
  await page.click(T("login-start"));
  const link = await page.waitForSelector(T("login-deeplink"));
  const href = await link.getAttribute("href");
  const m = /^https:\/\/t\.me\/[^?]+\?start=([A-Za-z0-9_-]+)$/.exec(href || "");
  expect(m, `the deep link is ${href}`);
  const qrOk = await page.$eval(T("login-qr"), (img) => img.complete && img.naturalWidth > 0);
  expect(qrOk, "the QR code image did not render");
  const code = await text("login-code");
  expect(/^[0-9]{2}$/.test(code), `the page shows the code "${code}"`);
  await shot(page, "login");
  const question = await telegramAnswer(m[1], code, "telegram-question");
  expect(question.text.includes("From: 127.0.0.1"), `the bot's question says ${question.text}`);
  await page.waitForSelector(T("page-wallets"), { timeout: 30000 });
  const who = await text("user");
  expect(who.includes(TG_USER), `the header shows "${who}", not Telegram user ${TG_USER}`);
  return `(challenge ${m[1].slice(0, 8)}…)`;
});

await step("session token only in sessionStorage", async () => {
  const s = await sessionOfPage();
  need(s && s.token, "a signed-in page");
  const where = await page.evaluate((token) => {
    const found = [];
    for (let i = 0; i < localStorage.length; i += 1) {
      const k = localStorage.key(i);
      if ((localStorage.getItem(k) || "").includes(token) || k.includes(token)) found.push(`localStorage ${k}`);
    }
    if (location.href.includes(token)) found.push("the URL");
    if (document.cookie.includes(token)) found.push("a cookie");
    if (document.documentElement.outerHTML.includes(token)) found.push("the DOM");
    return found;
  }, s.token);
  expect(where.length === 0, `the session token is in ${where.join(", ")}`);
  expect(!page.url().includes(s.token), "the session token is in the URL");
  const me = await call("GET", "/v1/wallets?limit=1", undefined, s.token);
  expect(me.status === 200, `the page's session token gets ${me.status} from /v1/wallets`);
});

await step("create a wallet (secp256k1, approval required)", async () => {
  walletLabel = `walk-${Date.now().toString(36)}`;
  await page.selectOption(T("wallet-key-type"), "secp256k1");
  await page.fill(T("wallet-label"), walletLabel);
  await page.check(T("wallet-require-approval"));
  await page.click(T("wallet-create"));
  const row = await page.waitForSelector(`${T("wallet-row")}[data-label="${walletLabel}"]`, { timeout: 30000 });
  walletId = await row.getAttribute("data-wallet-id");
  expect(walletId, "the new row has no wallet id");
  expect(await row.$(T("wallet-approval-badge")), "the new wallet is not marked as requiring approval");
  const w = await call("GET", `/v1/wallets/${walletId}`);
  expect(w.status === 200, `the API token cannot see the wallet (${w.status}): is it of the user's tenant?`);
  expect(w.json.require_approval === true, "the wallet does not require approval in the API");
  expect(/^0x[0-9a-fA-F]{40}$/.test(w.json.address || ""), `the wallet has no Ethereum address (${w.json.address})`);
  await shot(page, "wallets");
  return `(${walletId})`;
});

await step("wallet page: attestation verified against the published policy", async () => {
  need(walletId, "the wallet");
  await page.click(`${T("wallet-row")}[data-wallet-id="${walletId}"] ${T("wallet-link")}`);
  await page.waitForSelector(T("page-wallet"));
  const st = await page.waitForSelector(`${T("wallet-attestation-status")}:not([data-state="verifying"])`, { timeout: 30000 });
  const state = await st.getAttribute("data-state");
  expect(await page.isChecked(T("wallet-approval-toggle")), "the approval toggle is off");
  await shot(page, "wallet-detail");
  expect(cfg && cfg.policy, "config.json publishes no policy");
  expect(state === "valid", `the attestation status is ${state}: ${await st.textContent()}`);
  const binding = await page.getAttribute(T("wallet-attestation-result"), "data-binding-ok");
  expect(binding === "true", `key binding ${binding}`);
  // Its record in words: created without owners, the operator signs anything.
  const summary = await page.waitForSelector(T("wallet-record-summary"));
  expect((await summary.getAttribute("data-needs-owners")) === "never", `record summary: ${await summary.textContent()}`);
  const hash = await page.textContent(T("wallet-record-hash"));
  const w = await call("GET", `/v1/wallets/${walletId}`);
  expect(w.json && hash.includes(w.json.record_hash), `the page shows record hash ${hash}, the API ${w.json && w.json.record_hash}`);
});

const TX = {
  chainId: 1,
  nonce: 0,
  to: "0x000000000000000000000000000000000000bEEF",
  value: "0x2386f26fc10000", // 0.01 ETH
  gas: 21000,
  maxFeePerGas: "0x4a817c800", // 20 gwei
  maxPriorityFeePerGas: "0x3b9aca00", // 1 gwei
};

await step("sign intent on an approval wallet is pending", async () => {
  need(walletId, "the wallet");
  const r = await call("POST", `/v1/wallets/${walletId}/sign-intent`, { transaction: TX });
  expect(r.status === 201, `sign-intent answered ${r.status} ${r.text}`);
  intent1 = r.json;
  expect(intent1.intent_id && intent1.ticket, "no intent id or ticket");
  if (intent1.state !== undefined) expect(intent1.state === "pending", `state ${intent1.state}`);
  if (intent1.approval_url !== undefined) {
    // absolute: dev's own address (SIGNET_PUBLIC_URL when configured)
    expect(intent1.approval_url === `${BASE}/console/#/approve/${intent1.intent_id}`, `approval_url ${intent1.approval_url}`);
  }
  const s = await sessionOfPage();
  const seen = await call("GET", `/v1/intents/${intent1.intent_id}`, undefined, s.token);
  expect(seen.status === 200, `GET /v1/intents/{id} as the user answered ${seen.status}`);
  expect(seen.json.state === "pending", `the user sees state ${seen.json.state}`);
  return `(${intent1.intent_id})`;
});

await step("its ticket is refused while pending (409 approval_pending)", async () => {
  need(intent1, "the intent");
  const r = await call("POST", `/v1/wallets/${walletId}/sign`, { ticket: intent1.ticket });
  expect(r.status === 409 && code(r) === "approval_pending", `answered ${r.status} ${r.text}`);
});

await step("requests page lists it", async () => {
  need(intent1, "the intent");
  await open("#/requests", "page-requests");
  await page.waitForSelector(`${T("request-row")}[data-intent-id="${intent1.intent_id}"]`);
  await shot(page, "requests");
});

await step("approve page shows the transaction decoded", async () => {
  need(intent1, "the intent");
  await page.click(`${T("request-row")}[data-intent-id="${intent1.intent_id}"] ${T("request-link")}`);
  await page.waitForSelector(`${T("page-approve")}[data-state="pending"]`);
  const chain = await text("tx-chain");
  const to = await text("tx-to");
  const value = await text("tx-value");
  expect(/^1\b/.test(chain), `chain shows "${chain}"`);
  expect(to.toLowerCase().includes(TX.to.toLowerCase()), `to shows "${to}"`);
  expect(value.includes("0.01 ETH") && value.includes("10000000000000000 wei"), `value shows "${value}"`);
  expect(await page.isEnabled(T("approve-approve")), "Approve is disabled");
  await shot(page, "approve-pending");
  return `(${chain}; ${value})`;
});

await step("approve in the console", async () => {
  need(intent1, "the approve page");
  await page.click(T("approve-approve"));
  await page.waitForSelector(`${T("approve-state")}[data-state="approved"]`);
});

await step("the ticket signs once approved", async () => {
  need(intent1, "the approval");
  const r = await call("POST", `/v1/wallets/${walletId}/sign`, { ticket: intent1.ticket });
  expect(r.status === 200, `answered ${r.status} ${r.text}`);
  signed1 = r.json;
  expect(/^0x02[0-9a-f]+$/i.test(signed1.raw_transaction || ""), `raw_transaction ${signed1.raw_transaction}`);
  expect(/^0x[0-9a-f]{64}$/i.test(signed1.transaction_hash || ""), `transaction_hash ${signed1.transaction_hash}`);
  return `(${signed1.transaction_hash})`;
});

await step("approve page shows the signature and transaction hash", async () => {
  need(signed1, "the signature");
  const el = await page.waitForSelector(T("approve-tx-hash"), { timeout: 15000 });
  const shown = ((await el.textContent()) || "").trim();
  expect(shown.toLowerCase() === signed1.transaction_hash.toLowerCase(), `shows ${shown}, signed ${signed1.transaction_hash}`);
  const sig = await text("approve-signature");
  expect(sig.replace(/^0x/, "").toLowerCase() === String(signed1.signature).replace(/^0x/, "").toLowerCase(), `signature shown ${sig}`);
  await shot(page, "approve-approved");
});

await step("decline a message request in the console", async () => {
  need(walletId, "the wallet");
  const message = "Pay 5 EUR to Bob's Bakery, order 42";
  const r = await call("POST", `/v1/wallets/${walletId}/sign-intent`, { message, encoding: "eip191" });
  expect(r.status === 201, `sign-intent answered ${r.status} ${r.text}`);
  intent2 = r.json;
  await open(`#/approve/${intent2.intent_id}`, "page-approve");
  await page.waitForSelector(`${T("page-approve")}[data-state="pending"]`);
  const shown = await text("message-text");
  expect(shown === message, `the message shows "${shown}"`);
  await page.click(T("approve-decline"));
  await page.waitForSelector(T("approve-declined"));
  expect((await page.getAttribute(T("approve-state"), "data-state")) === "declined", "state is not declined");
  await shot(page, "approve-declined");
});

await step("a declined request's ticket is refused (403 intent_declined)", async () => {
  need(intent2, "the declined intent");
  const r = await call("POST", `/v1/wallets/${walletId}/sign`, { ticket: intent2.ticket });
  expect(r.status === 403 && code(r) === "intent_declined", `answered ${r.status} ${r.text}`);
});

// --- decoded calls and permits on the approve page -------------------------------
// The merchant asks the user's approval wallet for what drains wallets in
// practice: unlimited token approvals, an unlimited permit, an NFT operator,
// and a call the signer cannot read. Each is declined afterwards, so nothing
// stays pending for the steps below.

const USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const SPENDER = "0x000000000000000000000000000000000000e0e0";
const NFT = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d";
const OPERATOR = "0x000000000000000000000000000000000000cafe";
const UINT256_MAX = ((1n << 256n) - 1n).toString();
/** An ABI word: a hex value left-padded to 32 bytes. */
const word = (hex) => hex.replace(/^0x/, "").toLowerCase().padStart(64, "0");
const same = (a, b) => String(a).trim().toLowerCase() === String(b).trim().toLowerCase();
/** A contract call on chain 1 from the approval wallet. */
const callTx = (to, input, nonce) => ({ ...TX, nonce, to, value: "0x0", gas: 100000, input });

/** The merchant's sign intent on the approval wallet, its approve page open and pending. */
async function pendingOnPage(body) {
  need(walletId, "the approval wallet");
  const r = await call("POST", `/v1/wallets/${walletId}/sign-intent`, body);
  expect(r.status === 201, `sign-intent answered ${r.status} ${r.text}`);
  if (r.json.state !== undefined) expect(r.json.state === "pending", `state ${r.json.state}`);
  await open(`#/approve/${r.json.intent_id}`, "page-approve");
  await page.waitForSelector(`${T("page-approve")}[data-intent-id="${r.json.intent_id}"][data-state="pending"]`);
  return r.json;
}

/** Declines the request on the page, as its owner would. */
async function declineOnPage() {
  await page.click(T("approve-decline"));
  await page.waitForSelector(T("approve-declined"));
}

await step("approve page: an unlimited ERC-20 approve shows the function, the spender and UNLIMITED", async () => {
  const input = `0x095ea7b3${word(SPENDER)}${"f".repeat(64)}`;
  await pendingOnPage({ transaction: callTx(USDC, input, 1) });
  const fn = await text("call-function");
  expect(fn === "approve(address,uint256)", `the function shows "${fn}"`);
  const spender = await text("call-counterparty");
  expect(same(spender, SPENDER), `the spender shows "${spender}"`);
  expect((await page.getAttribute(T("call-counterparty"), "data-role")) === "spender", "the counterparty is not called the spender");
  const contract = await text("call-contract");
  expect(same(contract, USDC), `the token contract shows "${contract}"`);
  const amount = await text("call-amount");
  expect(amount.startsWith(UINT256_MAX), `the amount shows "${amount}"`);
  const warning = await text("call-unlimited");
  expect(warning.startsWith("UNLIMITED") && warning.includes("the spender can take all of this token"), `the warning says "${warning}"`);
  const calldata = await text("tx-calldata");
  expect(same(calldata, input), `the calldata shows "${calldata}"`);
  expect(!(await page.$(T("tx-unreadable"))), "a readable call is flagged unreadable");
  expect(await page.isEnabled(T("approve-approve")), "Approve is disabled for a readable call");
  await shot(page, "approve-erc20-unlimited");
  await declineOnPage();
});

await step("approve page: an unlimited EIP-2612 permit shows the standard, the spender, the deadline and UNLIMITED", async () => {
  need(walletId, "the approval wallet");
  const w = await call("GET", `/v1/wallets/${walletId}`);
  expect(w.status === 200 && w.json.address, `the wallet answered ${w.status}`);
  const typed = {
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ],
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Permit",
    domain: { name: "USD Coin", version: "2", chainId: 1, verifyingContract: USDC },
    message: { owner: w.json.address, spender: SPENDER, value: UINT256_MAX, nonce: 0, deadline: 1900000000 },
  };
  await pendingOnPage({ typed_data: typed });
  const standard = await text("permit-standard");
  expect(standard === "EIP-2612", `the standard shows "${standard}"`);
  const spender = await text("permit-spender");
  expect(same(spender, SPENDER), `the spender shows "${spender}"`);
  const token = await page.$(T("permit-token"));
  expect(token, "no token listed in the permit");
  const tokenText = ((await token.textContent()) || "").trim();
  expect(tokenText.toLowerCase().includes(USDC.toLowerCase()) && tokenText.includes(UINT256_MAX), `the token shows "${tokenText}"`);
  expect((await token.getAttribute("data-unlimited")) === "true" && tokenText.includes("UNLIMITED"), "the token is not flagged UNLIMITED");
  const warning = await text("permit-unlimited");
  expect(warning.startsWith("UNLIMITED") && warning.includes("the spender can take all of this token"), `the warning says "${warning}"`);
  const deadline = await text("permit-deadline");
  expect(deadline.includes("2030-03-17 17:46:40 UTC"), `the deadline shows "${deadline}"`);
  expect(await page.isEnabled(T("approve-approve")), "Approve is disabled for a readable permit");
  await shot(page, "approve-permit");
  await declineOnPage();
});

await step("approve page: setApprovalForAll(operator, true) shows the function, the operator and UNLIMITED", async () => {
  const input = `0xa22cb465${word(OPERATOR)}${word("1")}`;
  await pendingOnPage({ transaction: callTx(NFT, input, 2) });
  const fn = await text("call-function");
  expect(fn === "setApprovalForAll(address,bool)", `the function shows "${fn}"`);
  const operator = await text("call-counterparty");
  expect(same(operator, OPERATOR), `the operator shows "${operator}"`);
  expect((await page.getAttribute(T("call-counterparty"), "data-role")) === "operator", "the counterparty is not called the operator");
  const grants = await text("call-approved");
  expect(grants.startsWith("yes"), `"Grants" shows "${grants}"`);
  const warning = await text("call-unlimited");
  expect(warning.startsWith("UNLIMITED") && warning.includes("the operator can move every token of this collection"), `the warning says "${warning}"`);
  expect(same(await text("tx-calldata"), input), "the calldata shown differs");
  await shot(page, "approve-set-approval-for-all");
  await declineOnPage();
});

await step("approve page: a call the signer cannot read is flagged, and Approve waits for the tick", async () => {
  const input = `0xdeadbeef${word("2a")}`;
  await pendingOnPage({ transaction: callTx("0x000000000000000000000000000000000000c0de", input, 3) });
  const warning = await text("tx-unreadable");
  expect(warning.startsWith("I cannot read this call") && warning.includes("0xdeadbeef"), `the warning says "${warning}"`);
  expect(!(await page.$(T("call-function"))), "an unknown call shows a function");
  expect(same(await text("tx-calldata"), input), "the calldata shown differs");
  const approveBtn = T("approve-approve");
  expect(await page.isDisabled(approveBtn), "Approve is enabled before the tick");
  expect(await page.isEnabled(T("approve-decline")), "Decline waits for the tick too");
  const label = await page.textContent(`label[for="${await page.getAttribute(T("approve-unreadable-ack"), "id")}"]`);
  expect((label || "").includes("I cannot read this call, and approve it anyway"), `the tick's label is "${label}"`);
  await page.check(T("approve-unreadable-ack"));
  await page.waitForSelector(`${approveBtn}:not([disabled])`);
  await page.uncheck(T("approve-unreadable-ack"));
  await page.waitForSelector(`${approveBtn}[disabled]`);
  await page.check(T("approve-unreadable-ack"));
  await page.waitForSelector(`${approveBtn}:not([disabled])`);
  await shot(page, "approve-unreadable");
  await declineOnPage();
});

// --- a wallet's policy in words, and "What would happen?" ---------------------------
// In a person's tenant only the person creates wallets (an API client of it
// is refused, 403), so the user's own session makes this one, over the API
// as the console would.
const RECIPIENT = "0x000000000000000000000000000000000000b0b0";

await step("wallet page: the policy in words; \"What would happen?\" signs 0.05 ETH on its own and refuses 0.2 ETH (max_value_wei)", async () => {
  const s = await sessionOfPage();
  need(s && s.token, "a session");
  const policy = { allow: ["transaction"], chain_ids: [1], max_value_wei: "100000000000000000", recipients: [RECIPIENT] };
  const r = await call("POST", "/v1/wallets", { key_type: "secp256k1", label: `walk-policy-${Date.now().toString(36)}`, policy }, s.token);
  expect(r.status === 201, `creating the wallet answered ${r.status} ${r.text}`);
  const id = r.json.id;
  await open(`#/wallets/${id}`, "wallet-policy-rules");
  const rules = await page.$$eval(`${T("wallet-policy-rules")} > li`, (ls) => ls.map((l) => [l.dataset.rule, l.textContent]));
  const keys = rules.map(([k]) => k).sort().join(",");
  expect(keys === "allow,chain_ids,max_value_wei,recipients", `the rules listed are ${keys}`);
  const said = Object.fromEntries(rules);
  expect(said.allow.includes("transactions"), `allow says "${said.allow}"`);
  expect(said.chain_ids.includes("1 (Ethereum mainnet)"), `chain_ids says "${said.chain_ids}"`);
  expect(said.max_value_wei.includes("0.1 ETH") && said.max_value_wei.includes("per transaction"), `max_value_wei says "${said.max_value_wei}"`);
  expect(said.recipients.toLowerCase().includes(RECIPIENT), `recipients says "${said.recipients}"`);
  expect((await page.inputValue(T("wallet-check-chain"))) === "1", "the chain id is not the policy's first");
  await page.fill(T("wallet-check-to"), RECIPIENT);
  await page.fill(T("wallet-check-value"), "0.05");
  await page.click(T("wallet-check-submit"));
  let v = await page.waitForSelector(`${T("wallet-check-verdict")}[data-allowed="true"]`, { timeout: 30000 });
  let verdict = ((await v.textContent()) || "").trim();
  expect(verdict.startsWith("Signed on its own"), `0.05 ETH: the verdict is "${verdict}"`);
  const value = await page.textContent(`${T("wallet-check-result")} ${T("tx-value")}`);
  expect((value || "").includes("0.05 ETH (50000000000000000 wei)"), `what the signer read shows the value "${value}"`);
  await page.fill(T("wallet-check-value"), "0.2");
  await page.click(T("wallet-check-submit"));
  v = await page.waitForSelector(`${T("wallet-check-verdict")}[data-allowed="false"]`, { timeout: 30000 });
  verdict = ((await v.textContent()) || "").trim();
  const rule = await v.getAttribute("data-rule");
  expect(rule === "max_value_wei", `0.2 ETH: the rule is "${rule}" (${verdict})`);
  expect(verdict.startsWith("Refused (rule max_value_wei"), `0.2 ETH: the verdict is "${verdict}"`);
  await page.waitForSelector(`${T("wallet-attestation-status")}:not([data-state="verifying"])`, { timeout: 30000 });
  await shot(page, "wallet-policy");
  return `(${id}: ${verdict})`;
});

await step("API clients page lists the tenant's clients", async () => {
  const s = await sessionOfPage();
  need(s && s.token, "a session");
  const listed = await call("GET", "/v1/clients", undefined, s.token);
  expect(listed.status === 200, `GET /v1/clients as the user answered ${listed.status} ${listed.text}`);
  const clients = listed.json.api_clients || [];
  await page.click(T("nav-clients"));
  await page.waitForSelector(`${T("page-clients")}[data-loaded="true"]`);
  const about = await text("clients-about");
  expect(/cannot create or destroy/.test(about) && /stops it at once/.test(about), `the page explains: "${about}"`);
  for (const id of [clientId(API_TOKEN), clientId(SPARE_TOKEN)]) {
    expect(clients.some((c) => c.id === id), `the API does not list client ${id} for the user`);
  }
  for (const c of clients) {
    const row = `${T("client-row")}[data-client-id="${c.id}"]`;
    expect(await page.$(row), `client ${c.id} (${c.name}) is not on the page`);
    const name = ((await page.textContent(`${row} ${T("client-name")}`)) || "").trim();
    expect(name === c.name, `client ${c.id} shows the name "${name}", the API says "${c.name}"`);
    const scopes = ((await page.textContent(`${row} ${T("client-scopes")}`)) || "").trim();
    expect(scopes === c.scopes.join(", "), `client ${c.id} shows the scopes "${scopes}", the API says ${c.scopes}`);
    expect((await page.getAttribute(row, "data-revoked")) === "false", `client ${c.id} shows as revoked`);
  }
  const spareRow = `${T("client-row")}[data-client-id="${clientId(SPARE_TOKEN)}"]`;
  const spareUsed = ((await page.textContent(`${spareRow} ${T("client-last-used")}`)) || "").trim();
  expect(spareUsed === "never", `the unused client's last use shows "${spareUsed}"`);
  return `(${clients.length} clients)`;
});

await step("revoke a client after confirming: shown revoked, its token refused (401)", async () => {
  const id = clientId(SPARE_TOKEN);
  const row = `${T("client-row")}[data-client-id="${id}"]`;
  need(await page.$(row), "the clients page");
  // asking is not revoking: Cancel leaves the token working
  await page.click(`${row} ${T("client-revoke")}`);
  await page.waitForSelector(`${row} ${T("client-revoke-panel")}:not([hidden])`);
  await page.click(`${row} ${T("client-revoke-cancel")}`);
  expect(await page.isHidden(`${row} ${T("client-revoke-panel")}`), "the confirmation stays open after Cancel");
  const before = await call("GET", "/v1/wallets?limit=1", undefined, SPARE_TOKEN);
  expect(before.status === 200, `before revoking, the client's token gets ${before.status}`);
  await page.click(`${row} ${T("client-revoke")}`);
  await page.click(`${row} ${T("client-revoke-confirm")}`);
  await page.waitForSelector(`${row}[data-revoked="true"] ${T("client-revoked-badge")}`);
  expect(!(await page.$(`${row} ${T("client-revoke")}`)), "a revoked client still has a Revoke button");
  const at = await page.getAttribute(`${row} ${T("client-revoked-at")} time`, "datetime");
  expect(at && Number.isFinite(Date.parse(at)), `the revocation time shows ${at}`);
  expect((await page.getAttribute(T("status"), "data-kind")) === "ok", `the status says ${await text("status")}`);
  const after = await call("GET", "/v1/wallets?limit=1", undefined, SPARE_TOKEN);
  expect(after.status === 401, `the revoked client's token still gets ${after.status}`);
  const merchant = await call("GET", "/v1/wallets?limit=1");
  expect(merchant.status === 200, `the other client's token now gets ${merchant.status}`);
  expect(
    (await page.getAttribute(`${T("client-row")}[data-client-id="${clientId(API_TOKEN)}"]`, "data-revoked")) === "false",
    "the other client shows as revoked",
  );
  await shot(page, "clients");
  return `(${id}, revoked at ${at})`;
});

/** Clicks Verify on the attestation page and reads the outcome. */
async function attestRun() {
  const before = Number(await page.getAttribute(T("attest-output"), "data-run"));
  await page.click(T("attest-verify"));
  await page.waitForFunction(
    (b) => Number(document.querySelector('[data-testid="attest-output"]').dataset.run) > b,
    before,
    { timeout: 30000 },
  );
  return page.evaluate(() => {
    const r = document.querySelector('[data-testid="attest-result"]');
    const e = document.querySelector('[data-testid="attest-input-error"]');
    if (!r) return { input_error: e ? e.textContent : "no result" };
    const hint = r.querySelector('[data-testid="attest-hint"]');
    const failedCheck = r.querySelector('[data-testid="attest-check"][data-ok="false"]');
    return {
      valid: r.dataset.valid === "true",
      error_code: r.dataset.errorCode || null,
      binding_ok: r.dataset.bindingOk ?? null,
      verdict: (r.querySelector('[data-testid="attest-verdict"]') || {}).textContent,
      fix: hint ? hint.dataset.fix : null,
      hint: hint ? hint.textContent : null,
      failed_check: failedCheck ? failedCheck.textContent : null,
    };
  });
}

async function setPcrs(pcrs) {
  await page.check(T("attest-pcrs-manual"));
  await page.click(T("attest-pcrs-clear"));
  for (const [i, v] of Object.entries(pcrs)) {
    const input = await page.$(T(`attest-pcr-${i}`));
    if (!input) throw new Error(`the page has no input for PCR${i}`);
    await input.fill(v);
  }
}

await step("attestation viewer: the wallet's key, dev root pasted, dev PCRs → valid, key bound", async () => {
  need(walletId, "the wallet");
  need(cfg && cfg.policy && cfg.policy.pcr_sets && cfg.policy.pcr_sets[0], "config.json's policy (the dev PCRs)");
  await open(`#/attest`, "page-attest");
  await page.selectOption(T("attest-source"), walletId);
  await page.check(T("attest-root-pem"));
  await page.fill(T("attest-root-pem-text"), DEV_ROOT_PEM);
  await setPcrs(cfg.policy.pcr_sets[0]);
  await page.check(T("attest-at-now"));
  await page.fill(T("attest-nonce"), "");
  const r = await attestRun();
  await shot(page, "attest-valid");
  expect(r.valid === true, `not valid: ${r.verdict || r.input_error}`);
  expect(r.binding_ok === "true", `key binding ${r.binding_ok}`);
});

await step("attestation viewer: PCR0 off by one digit → invalid (pcr_mismatch)", async () => {
  need(walletId && cfg && cfg.policy, "the previous step");
  const pcr0 = cfg.policy.pcr_sets[0]["0"];
  need(pcr0, "PCR0 in the policy");
  const flipped = (pcr0[0] === "0" ? "1" : "0") + pcr0.slice(1);
  await page.fill(T("attest-pcr-0"), flipped);
  await page.fill(T("attest-nonce"), "");
  const r = await attestRun();
  await shot(page, "attest-invalid");
  expect(r.valid === false, `valid with a wrong PCR0: ${r.verdict || r.input_error}`);
  expect(r.error_code === "pcr_mismatch", `error_code ${r.error_code}, expected pcr_mismatch (${r.verdict})`);
});

await step("attestation viewer: a dev host's document against AWS's root → the hint names the dev root, which verifies it", async () => {
  need(walletId && cfg && cfg.policy && cfg.policy.pcr_sets && cfg.policy.pcr_sets[0], "the wallet and the dev PCRs");
  await open("#/attest", "page-attest");
  await page.selectOption(T("attest-source"), walletId);
  await page.check(T("attest-root-aws"));
  await setPcrs(cfg.policy.pcr_sets[0]);
  await page.check(T("attest-at-now"));
  await page.fill(T("attest-nonce"), "");
  let r = await attestRun();
  expect(r.valid === false, `a dev document is valid under AWS's root: ${r.verdict || r.input_error}`);
  expect(["issuer_mismatch", "chain_signature"].includes(r.error_code), `error_code ${r.error_code} (${r.verdict})`);
  expect(r.fix === "dev-root", `the hint is ${r.fix}: ${r.hint}`);
  for (const words of ["default root, AWS Nitro Enclaves Root-G1", "dev-root.pem", "“A root certificate I paste (PEM)”"]) {
    expect(r.hint.includes(words), `the hint does not say ${words}: ${r.hint}`);
  }
  // what the hint says to do
  await page.check(T("attest-root-pem"));
  await page.fill(T("attest-root-pem-text"), DEV_ROOT_PEM);
  await page.fill(T("attest-nonce"), "");
  r = await attestRun();
  expect(r.valid === true && r.fix === null, `with the dev root pasted: ${r.verdict || r.input_error}`);
});

await step("attestation viewer: an AWS document at now, long expired → dates, the hint names the document's own time, which verifies it", async () => {
  const v = VECTORS.find((x) => x.expect_valid && !x.allow_debug) || VECTORS.find((x) => x.expect_valid);
  need(v, "a valid AWS vector");
  await open("#/attest", "page-attest");
  await page.selectOption(T("attest-source"), "paste");
  await page.fill(T("attest-document"), v.document_b64);
  await page.check(T("attest-root-aws"));
  await setPcrs(v.pcrs || {});
  if (Boolean(v.allow_debug) !== (await page.isChecked(T("attest-allow-debug")))) await page.click(T("attest-allow-debug"));
  await page.check(T("attest-at-now"));
  await page.fill(T("attest-nonce"), "");
  let r = await attestRun();
  expect(r.error_code === "certificate_not_valid_at", `error_code ${r.error_code} (${r.verdict || r.input_error})`);
  const date = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
  const dated = new RegExp(`is not valid at ${date} \\(valid from ${date} to ${date}\\)`);
  expect(dated.test(r.verdict), `the verdict gives no dates: ${r.verdict}`);
  expect(dated.test(r.failed_check || ""), `the failed check gives no dates: ${r.failed_check}`);
  expect(!/[0-9] ms\b/.test(`${r.verdict} ${r.failed_check}`), `raw milliseconds shown: ${r.verdict}`);
  expect(r.fix === "at-doc" && r.hint.includes("“The document's own time”"), `the hint is ${r.fix}: ${r.hint}`);
  await shot(page, "attest-expired");
  // what the hint says to do
  await page.check(T("attest-at-doc"));
  r = await attestRun();
  expect(r.valid === true && r.fix === null, `at the document's own time: ${r.verdict || r.input_error}`);
  return `(${v.name.split(" ")[0]})`;
});

for (const v of VECTORS) {
  await step(`vector ${v.name}`, async () => {
    await open(`#/attest`, "page-attest");
    await page.selectOption(T("attest-source"), "paste");
    await page.fill(T("attest-document"), v.document_b64);
    if (!v.root || v.root === "aws") {
      await page.check(T("attest-root-aws"));
    } else {
      await page.check(T("attest-root-pem"));
      await page.fill(T("attest-root-pem-text"), v.root);
    }
    await setPcrs(v.pcrs || {});
    if (Boolean(v.allow_debug) !== (await page.isChecked(T("attest-allow-debug")))) await page.click(T("attest-allow-debug"));
    if (v.at_ms === undefined || v.at_ms === null || v.at_ms === "now") {
      await page.check(T("attest-at-now"));
    } else if (v.at_ms === "doc") {
      await page.check(T("attest-at-doc"));
    } else {
      await page.check(T("attest-at-time"));
      await page.fill(T("attest-at-value"), String(v.at_ms));
    }
    await page.fill(T("attest-nonce"), "");
    const r = await attestRun();
    expect(r.input_error === undefined, `the page refused the input: ${r.input_error}`);
    expect(r.valid === Boolean(v.expect_valid), `valid=${r.valid}, the CLI says ${v.expect_valid} (${r.verdict})`);
    const want = v.expect_valid ? null : v.cli_error_code ?? null;
    expect((r.error_code || null) === want, `error_code ${r.error_code}, the CLI says ${want}`);
    if (r.error_code === "certificate_not_valid_at") {
      expect(!/[0-9] ms\b/.test(r.verdict) && r.fix === null, `at a given time: dates and no hint, not "${r.verdict}" (hint ${r.fix})`);
    }
    return `(valid=${r.valid}${r.error_code ? ` ${r.error_code}` : ""})`;
  });
}

await step("wallet page: approval toggle, destroy after typing the label", async () => {
  const label = `walk-destroy-${Date.now().toString(36)}`;
  await open("#/wallets", "page-wallets");
  await page.waitForSelector(`${T("page-wallets")}[data-loaded="true"]`);
  await page.selectOption(T("wallet-key-type"), "ed25519");
  await page.fill(T("wallet-label"), label);
  if (await page.isChecked(T("wallet-require-approval"))) await page.uncheck(T("wallet-require-approval"));
  await page.click(T("wallet-create"));
  const row = await page.waitForSelector(`${T("wallet-row")}[data-label="${label}"]`, { timeout: 30000 });
  const id = await row.getAttribute("data-wallet-id");
  await page.click(`${T("wallet-row")}[data-wallet-id="${id}"] ${T("wallet-link")}`);
  await page.waitForSelector(T("page-wallet"));
  expect(!(await page.isChecked(T("wallet-approval-toggle"))), "approval is on for a wallet created without it");
  await page.check(T("wallet-approval-toggle"));
  await page.waitForFunction(() => !document.querySelector('[data-testid="wallet-approval-toggle"]').disabled);
  let w = await call("GET", `/v1/wallets/${id}`);
  expect(w.json && w.json.require_approval === true, `after switching approval on, the API says ${w.json && w.json.require_approval}`);
  await page.uncheck(T("wallet-approval-toggle"));
  await page.waitForFunction(() => !document.querySelector('[data-testid="wallet-approval-toggle"]').disabled);
  w = await call("GET", `/v1/wallets/${id}`);
  expect(w.json && w.json.require_approval === false, `after switching approval off, the API says ${w.json && w.json.require_approval}`);
  await page.click(T("wallet-destroy"));
  await page.fill(T("wallet-destroy-confirm-input"), "not the label");
  expect(await page.isDisabled(T("wallet-destroy-confirm")), "destroy is enabled before the label is typed");
  await page.fill(T("wallet-destroy-confirm-input"), label);
  await page.click(T("wallet-destroy-confirm"));
  await page.waitForSelector(T("page-wallets"));
  await page.waitForSelector(`${T("page-wallets")}[data-loaded="true"]`);
  expect(!(await page.$(`${T("wallet-row")}[data-wallet-id="${id}"]`)), "the destroyed wallet is still listed");
  const gone = await call("GET", `/v1/wallets/${id}`);
  expect(gone.status === 404, `the destroyed wallet answers ${gone.status}`);
});

let tamperSeq = null;
await step("audit page: chain intact", async () => {
  await open("#/audit", "page-audit");
  const banner = await page.waitForSelector(`${T("audit-chain")}:not([data-state="checking"])`, { timeout: 30000 });
  const state = await banner.getAttribute("data-state");
  const rows = await page.$$(T("audit-row"));
  await shot(page, "audit");
  expect(rows.length > 0, "no audit events shown");
  expect(state === "ok", `the chain check says ${state}: ${await banner.textContent()}`);
  return `(${rows.length} events on the first page)`;
});

await step("audit page: a tampered row is flagged", async () => {
  const out = execSync(TAMPER_CMD, { shell: "/bin/sh", encoding: "utf8", timeout: 60000, stdio: ["ignore", "pipe", "inherit"] });
  const last = out.trim().split("\n").pop() || "";
  if (/^[0-9]+$/.test(last.trim())) tamperSeq = Number(last.trim());
  await page.reload();
  await page.waitForSelector(T("page-audit"));
  let banner = await page.waitForSelector(`${T("audit-chain")}:not([data-state="checking"])`, { timeout: 30000 });
  if ((await banner.getAttribute("data-state")) === "ok") {
    // the altered event may be on a later page
    await page.click(T("audit-check-all"));
    await page.waitForFunction(() => {
      const b = document.querySelector('[data-testid="audit-chain"]');
      return b && b.dataset.state !== "checking" && document.querySelector('[data-testid="audit-check-all"]').disabled;
    }, undefined, { timeout: 60000 });
    banner = await page.$(T("audit-chain"));
  }
  const state = await banner.getAttribute("data-state");
  expect(state === "broken", `the chain check says ${state} after tampering: ${await banner.textContent()}`);
  const breakSeq = Number(await banner.getAttribute("data-break-seq"));
  if (await page.$(T("audit-show-break"))) await page.click(T("audit-show-break"));
  const row = await page.waitForSelector(`${T("audit-row")}[data-break="true"]`);
  const rowSeq = Number(await row.getAttribute("data-seq"));
  const note = await page.$(`${T("audit-break")}[data-seq="${rowSeq}"]`);
  expect(note, `the broken row #${rowSeq} has no "chain breaks here" note`);
  const noteText = ((await note.textContent()) || "").trim();
  expect(noteText.startsWith("chain breaks here:"), `the note says "${noteText}"`);
  expect(rowSeq === breakSeq, `the flagged row is #${rowSeq}, the banner says #${breakSeq}`);
  if (tamperSeq !== null) expect(rowSeq === tamperSeq, `the flagged row is #${rowSeq}, the tampered one #${tamperSeq}`);
  await row.scrollIntoViewIfNeeded();
  await shot(page, "audit-break");
  return `(event #${rowSeq}: ${noteText})`;
});

await step("375 px wide: no horizontal scroll on the wallets page", async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  await open("#/wallets", "page-wallets");
  await page.waitForSelector(`${T("page-wallets")}[data-loaded="true"]`);
  const m = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    view: window.innerWidth,
  }));
  await shot(page, "wallets-375");
  expect(m.scroll <= m.view && m.body <= m.view, `the page is ${Math.max(m.scroll, m.body)} px wide in a ${m.view} px viewport`);
  return `(${m.scroll} <= ${m.view})`;
});

await step("keyboard: Tab reaches the create button, focus visible", async () => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await open("#/wallets", "page-wallets");
  await page.waitForSelector(`${T("page-wallets")}[data-loaded="true"]`);
  await page.evaluate(() => {
    if (document.activeElement) document.activeElement.blur();
    window.scrollTo(0, 0);
  });
  const path = [];
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press("Tab");
    const at = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const cs = getComputedStyle(el);
      return { id: el.dataset.testid || el.tagName.toLowerCase(), outline: cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0 };
    });
    if (!at) continue;
    path.push(at.id);
    if (at.id === "wallet-create") {
      expect(at.outline, "the focused create button shows no focus outline");
      return `(${path.length} tabs: ${path.join(" → ")})`;
    }
  }
  throw new Error(`Tab never reached the create button: ${path.join(" → ")}`);
});

await step("sign out ends the session", async () => {
  const s = await sessionOfPage();
  need(s && s.token, "a session");
  await page.click(T("signout"));
  await page.waitForSelector(T("page-login"));
  const left = await page.evaluate(() => sessionStorage.getItem("signet.session"));
  expect(left === null, "the session is still in sessionStorage");
  const r = await call("GET", "/v1/wallets?limit=1", undefined, s.token);
  expect(r.status === 401, `the old session token still gets ${r.status}`);
});

await step("\"Not me\" in Telegram cancels the sign-in on the page", async () => {
  await page.waitForSelector(T("page-login"));
  await page.click(T("login-start"));
  const href = await (await page.waitForSelector(T("login-deeplink"))).getAttribute("href");
  const challenge = new URL(href).searchParams.get("start");
  await telegramAnswer(challenge, "Not me");
  await page.waitForSelector(T("login-refused"), { timeout: 30000 });
  const left = await page.evaluate(() => sessionStorage.getItem("signet.session"));
  expect(left === null, "a session after \"Not me\"");
  await shot(page, "login-refused");
});

await step("an approve link opened signed out: sign in first, then back to it", async () => {
  need(walletId, "the wallet");
  const r = await call("POST", `/v1/wallets/${walletId}/sign-intent`, { message: "Deep link check", encoding: "eip191" });
  expect(r.status === 201, `sign-intent answered ${r.status} ${r.text}`);
  const id = r.json.intent_id;
  // the link the merchant sends: the intent's approval_url
  await page.goto(r.json.approval_url || `${CONSOLE}#/approve/${id}`);
  await page.waitForSelector(T("page-login"));
  await page.click(T("login-start"));
  const href = await (await page.waitForSelector(T("login-deeplink"))).getAttribute("href");
  const challenge = new URL(href).searchParams.get("start");
  await telegramAnswer(challenge, await text("login-code"));
  await page.waitForSelector(`${T("page-approve")}[data-intent-id="${id}"][data-state="pending"]`, { timeout: 30000 });
  expect((await text("message-text")) === "Deep link check", "the approve page shows another message");
  await page.click(T("approve-decline"));
  await page.waitForSelector(T("approve-declined"));
});

// --- passkeys (WebAuthn), on localhost: an IP address cannot be a relying party ---
const LOCAL = `${BASE.replace("//127.0.0.1", "//localhost")}/console/`;
let pk = null; // { page, cdp, authenticatorId }
let pkWallet = null;
let pkFirst = null; // the first intent's authorization text

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();

await step("passkeys: sign in on localhost, with Chromium's virtual authenticator (ctap2, internal, user verification)", async () => {
  const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
  const p2 = await ctx2.newPage();
  p2.on("pageerror", (err) => pageErrors.push(`uncaught (localhost): ${err.message}`));
  const cdp = await ctx2.newCDPSession(p2);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await p2.goto(LOCAL);
  await p2.click(T("login-start"));
  const href = await (await p2.waitForSelector(T("login-deeplink"))).getAttribute("href");
  const code = ((await p2.textContent(T("login-code"))) || "").trim();
  await telegramAnswer(new URL(href).searchParams.get("start"), code);
  await p2.waitForSelector(T("page-wallets"), { timeout: 30000 });
  pk = { page: p2, cdp, authenticatorId };
});

await step("passkeys: create a wallet whose every signature needs my passkey", async () => {
  need(pk, "the localhost page");
  await pk.page.selectOption(T("wallet-key-type"), "secp256k1");
  await pk.page.fill(T("wallet-label"), "Passkey wallet");
  await pk.page.check(T("wallet-passkey"));
  await pk.page.click(T("wallet-create"));
  const row = await pk.page.waitForSelector(`${T("wallet-row")}[data-label="Passkey wallet"]`, { timeout: 30000 });
  pkWallet = await row.getAttribute("data-wallet-id");
  const w = await call("GET", `/v1/wallets/${pkWallet}`);
  expect(w.status === 200, `the merchant cannot see the wallet (${w.status})`);
  const rec = JSON.parse(w.json.record);
  const owner = rec.owners[0] || {};
  expect(rec.owners.length === 1 && owner.type === "passkey", `owners: ${JSON.stringify(rec.owners)}`);
  expect(owner.rp_id === "localhost", `rp_id ${owner.rp_id}`);
  expect(JSON.stringify(owner.origins) === JSON.stringify([new URL(LOCAL).origin]), `origins ${JSON.stringify(owner.origins)}`);
  expect(JSON.stringify(rec.policy) === '{"allow":[]}' && rec.threshold === 1, `policy ${JSON.stringify(rec.policy)}, threshold ${rec.threshold}`);
  const { credentials } = await pk.cdp.send("WebAuthn.getCredentials", { authenticatorId: pk.authenticatorId });
  expect(credentials.length === 1 && b64url(Buffer.from(credentials[0].credentialId, "base64")) === owner.credential_id, "the record names another credential");
  await pk.page.goto(`${LOCAL}#/wallets/${pkWallet}`);
  const summary = await pk.page.waitForSelector(T("wallet-record-summary"));
  expect((await summary.getAttribute("data-needs-owners")) === "always", `record summary: ${await summary.textContent()}`);
  // The wave-2 switch is not offered: the owners' policy says it.
  const approval = await pk.page.waitForSelector(T("wallet-approval-owners"));
  expect(/needs its owners' approval/.test(await approval.textContent()), `approval card: ${await approval.textContent()}`);
  expect((await pk.page.$(T("wallet-approval-toggle"))) === null, "the host's approval switch is offered on a wallet with owners");
  expect(w.json.require_approval === true, "the API does not say every signature needs the owners");
  return `(${pkWallet})`;
});

await step("passkeys: a payment waits for the passkey; approved with it in the console, its ticket signs", async () => {
  need(pkWallet, "the passkey wallet");
  const r = await call("POST", `/v1/wallets/${pkWallet}/sign-intent`, { transaction: TX });
  expect(r.status === 201 && r.json.state === "pending" && r.json.authorization, `sign-intent answered ${r.status} ${r.text}`);
  pkFirst = r.json.authorization.text;
  const early = await call("POST", `/v1/wallets/${pkWallet}/sign`, { ticket: r.json.ticket });
  expect(early.status === 409, `the ticket before approval answered ${early.status}`);
  const direct = await call("POST", `/v1/wallets/${pkWallet}/sign`, { digest: "11".repeat(32) });
  expect(direct.status === 403 && direct.json.error.code === "owner_approval_required", `a direct signature answered ${direct.status} ${direct.text}`);
  await pk.page.goto(`${LOCAL}#/approve/${r.json.intent_id}`);
  await pk.page.waitForSelector(T("approve-authorization"));
  await pk.page.click(T("approve-passkey"));
  await pk.page.waitForSelector(`${T("page-approve")}[data-state="approved"]`, { timeout: 30000 });
  const s = await call("POST", `/v1/wallets/${pkWallet}/sign`, { ticket: r.json.ticket });
  expect(s.status === 200 && s.json.raw_transaction, `the ticket after approval answered ${s.status} ${s.text}`);
  const again = await call("POST", `/v1/wallets/${pkWallet}/sign`, { ticket: r.json.ticket });
  expect(again.status === 409, `the ticket twice answered ${again.status}`);
});

await step("passkeys: an assertion from another origin, a tampered clientDataJSON and a replayed one are refused", async () => {
  need(pkFirst, "an approved intent");
  const r = await call("POST", `/v1/wallets/${pkWallet}/sign-intent`, { message: "refusals", encoding: "eip191" });
  expect(r.status === 201 && r.json.authorization, `sign-intent answered ${r.status} ${r.text}`);
  const id = r.json.intent_id;
  // The authenticator's own key, to make what a browser would never send.
  const { credentials } = await pk.cdp.send("WebAuthn.getCredentials", { authenticatorId: pk.authenticatorId });
  const key = createPrivateKey({ key: Buffer.from(credentials[0].privateKey, "base64"), format: "der", type: "pkcs8" });
  const credentialId = b64url(Buffer.from(credentials[0].credentialId, "base64"));
  const assertion = (text, origin, edit = (c) => c) => {
    const clientData = JSON.stringify({ type: "webauthn.get", challenge: b64url(sha256(text)), origin, crossOrigin: false });
    const authData = Buffer.concat([sha256("localhost"), Buffer.from([0x05]), Buffer.from([0, 0, 0, 9])]);
    const signature = signWith("sha256", Buffer.concat([authData, sha256(clientData)]), key);
    return { credential_id: credentialId, authenticator_data: b64url(authData), client_data_json: b64url(edit(clientData)), signature: b64url(signature) };
  };
  const approve = (webauthn) => call("POST", `/v1/intents/${id}/approve`, { owner_id: "me", webauthn });
  const origin = new URL(LOCAL).origin;
  const refusals = [
    ["another origin", assertion(r.json.authorization.text, "https://evil.example"), "webauthn_origin"],
    ["a tampered clientDataJSON", assertion(r.json.authorization.text, origin, (c) => c.replace('"crossOrigin":false', '"crossOrigin":false ')), "bad_signature"],
    ["a replayed assertion (the first payment's)", assertion(pkFirst, origin), "webauthn_challenge"],
  ];
  for (const [what, webauthn, reason] of refusals) {
    const a = await approve(webauthn);
    expect(a.status === 403 && a.json.error.code === "approval_invalid" && a.json.error.reason === reason, `${what}: ${a.status} ${a.text}`);
  }
  // The same key over the right text and origin is taken: the refusals above are the checks, not the tooling.
  const ok = await approve(assertion(r.json.authorization.text, origin));
  expect(ok.status === 200 && ok.json.state === "approved", `a good assertion: ${ok.status} ${ok.text}`);
  return `(${refusals.length} refused)`;
});

// --- the policy edited in words, approved with the passkey -------------------------
// On the passkey wallet ({"allow":[]}) each change is a proposal (202) the
// page approves with the passkey (POST …/record/{proposal_id}/approve):
// allowing transactions up to 0.01 ETH loosens the policy, but without a
// change delay it applies once the passkey approves it; a change delay of 1
// hour is a tightening (at once, approved too); a change proposed through
// the API is listed under "Pending changes" and approved there; raising the
// limit to 1 ETH then loosens under that delay, so the signer holds it (the
// proposal is `waiting`) and the page says when it takes effect.
let pkPolicyVersion = null; // the record version after the last applied change

/** The passkey wallet's record, as the host gives it. */
async function pkRecord() {
  const w = await call("GET", `/v1/wallets/${pkWallet}`);
  expect(w.status === 200, `GET the wallet answered ${w.status}`);
  return JSON.parse(w.json.record);
}

/** The localhost page's session token: the person may change their wallet's record (the merchant's token may not). */
async function pkSessionToken() {
  const session = await pk.page.evaluate(() => JSON.parse(sessionStorage.getItem("signet.session") || "null"));
  need(session && session.token, "the localhost session");
  return session.token;
}

/** JSON with its keys sorted: two policies are the same when this is. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(",")}}`;
  return JSON.stringify(v === undefined ? null : v);
}

/** The rules list of the page, by rule name. */
async function pkRules() {
  return Object.fromEntries(await pk.page.$$eval(`${T("wallet-policy-rules")} > li`, (ls) => ls.map((l) => [l.dataset.rule, (l.textContent || "").trim()])));
}

/**
 * Submits the edit form, checks the change shown (and whether it warns of
 * the change delay) and the proposal the host made of it, approves it with
 * the passkey. Returns the proposal's id.
 */
async function pkEditAndApprove(fill, diffIncludes, { delayNote = false } = {}) {
  await fill();
  await pk.page.click(T("wallet-policy-edit-submit"));
  const diff = ((await (await pk.page.waitForSelector(T("wallet-policy-change-diff"), { timeout: 30000 })).textContent()) || "").trim();
  for (const part of diffIncludes) expect(diff.includes(part), `the change shown is "${diff}" (no "${part}")`);
  expect(((await pk.page.$(T("wallet-policy-change-delay-note"))) !== null) === delayNote, `the change delay note is ${delayNote ? "missing" : "shown"}`);
  const auth = JSON.parse(((await pk.page.textContent(T("wallet-policy-change-authorization"))) || "").trim());
  expect(auth.action === "update_record" && auth.wallet_id === pkWallet, `the authorization is ${JSON.stringify(auth)}`);
  const proposalId = await pk.page.getAttribute(T("wallet-policy-change-ask"), "data-proposal-id");
  expect(/^rp_/.test(proposalId || ""), `the change was not proposed (proposal id ${proposalId})`);
  await pk.page.click(T("wallet-policy-change-approve"));
  return proposalId;
}

await step("passkeys: the policy edited in words — transactions up to 0.01 ETH, approved with the passkey, applies at once", async () => {
  need(pkWallet, "the passkey wallet");
  const before = await pkRecord();
  await pk.page.goto(`${LOCAL}#/wallets/${pkWallet}`);
  await pk.page.waitForSelector(T("wallet-policy-edit"));
  for (const k of ["message", "transaction", "typed_data", "digest"]) {
    expect(!(await pk.page.isChecked(T(`wallet-policy-edit-kind-${k}`))), `the form says ${k} is allowed; the policy is ${JSON.stringify(before.policy)}`);
  }
  expect((await pk.page.inputValue(T("wallet-policy-edit-max-eth"))) === "", "the form shows a limit the policy does not have");
  const proposalId = await pkEditAndApprove(async () => {
    await pk.page.check(T("wallet-policy-edit-kind-transaction"));
    await pk.page.fill(T("wallet-policy-edit-max-eth"), "0.01");
  }, ["Added: At most 0.01 ETH (10000000000000000 wei) per transaction.", "After the change: Kinds it may sign: transactions."]);
  const version = before.version + 1;
  const done = await pk.page.waitForSelector(`${T("wallet-policy-change-done")}[data-version="${version}"]`, { timeout: 30000 });
  const said = ((await done.textContent()) || "").trim();
  expect(said === `Changed; the attestation now binds record version ${version}.`, `the page says "${said}"`);
  const rules = await pkRules();
  expect(rules.allow === "Kinds it may sign: transactions.", `allow says "${rules.allow}"`);
  expect((rules.max_value_wei || "").includes("0.01 ETH"), `max_value_wei says "${rules.max_value_wei}"`);
  expect(((await pk.page.textContent(T("wallet-record-version"))) || "").includes(`version ${version},`), "the record version shown did not grow");
  const after = await pkRecord();
  expect(after.version === version, `the record is version ${after.version}, not ${version}`);
  expect(JSON.stringify(after.policy) === '{"allow":["transaction"],"max_value_wei":"10000000000000000"}', `policy ${JSON.stringify(after.policy)}`);
  // The approval went to the proposal, which the host marked applied.
  const proposal = await call("GET", `/v1/wallets/${pkWallet}/record/${proposalId}`);
  expect(proposal.status === 200 && proposal.json.state === "applied" && proposal.json.approved_by.length === 1, `the proposal: ${proposal.status} ${proposal.text}`);
  // The signer signs 0.01 ETH on its own now; the attestation binds the new record.
  const s = await call("POST", `/v1/wallets/${pkWallet}/sign`, { transaction: TX });
  expect(s.status === 200 && s.json.raw_transaction, `0.01 ETH without the passkey answered ${s.status} ${s.text}`);
  const att = await pk.page.waitForSelector(`${T("wallet-attestation-status")}:not([data-state="verifying"])`, { timeout: 30000 });
  expect((await att.getAttribute("data-state")) === "valid", `the attestation after the change: ${await att.textContent()}`);
  pkPolicyVersion = version;
  return `(record version ${version})`;
});

await step("passkeys: a change delay of 1 hour (a tightening) applies at once after the passkey approval", async () => {
  need(pkPolicyVersion, "the first policy change");
  expect(await pk.page.isChecked(T("wallet-policy-edit-kind-transaction")), "the form does not say transactions are allowed");
  expect((await pk.page.inputValue(T("wallet-policy-edit-max-eth"))) === "0.01", "the form does not show the 0.01 ETH limit");
  await pkEditAndApprove(() => pk.page.fill(T("wallet-policy-edit-delay-hours"), "1"), ["Added: A change that loosens this policy takes effect 1 hour after the owners approve it."]);
  const version = pkPolicyVersion + 1;
  await pk.page.waitForSelector(`${T("wallet-policy-change-done")}[data-version="${version}"]`, { timeout: 30000 });
  const rules = await pkRules();
  expect((rules.change_delay_seconds || "").includes("1 hour after"), `change_delay_seconds says "${rules.change_delay_seconds}"`);
  const after = await pkRecord();
  expect(after.version === version && after.policy.change_delay_seconds === 3600, `record version ${after.version}, policy ${JSON.stringify(after.policy)}`);
  pkPolicyVersion = version;
});

await step("passkeys: \"Pending changes\" — none once a change applied; one proposed through the API (chain 1 only) is listed, approved with its passkey button, and applied", async () => {
  need(pkPolicyVersion, "the change delay");
  // The change above is applied: nothing waits for the owners.
  await pk.page.waitForSelector(T("wallet-proposals-none"), { timeout: 30000 });
  expect((await pk.page.$$(T("wallet-proposal"))).length === 0, "a decided change is still listed");
  const before = await pkRecord();
  const owner = before.owners[0].id;
  // A tightening, proposed with the person's session: the host keeps it for the owners.
  const policy = { ...before.policy, chain_ids: [1] };
  const r = await call("POST", `/v1/wallets/${pkWallet}/record`, { policy }, await pkSessionToken());
  expect(r.status === 202 && r.json.state === "pending" && /^rp_/.test(r.json.proposal_id || ""), `proposing answered ${r.status} ${r.text}`);
  expect(r.json.approved_by.length === 0 && r.json.threshold === 1 && r.json.effective_at === null, `the proposal: ${r.text}`);
  const id = r.json.proposal_id;
  await pk.page.reload();
  const row = `${T("wallet-proposal")}[data-proposal-id="${id}"]`;
  const el = await pk.page.waitForSelector(row, { timeout: 30000 });
  expect((await el.getAttribute("data-state")) === "pending", `the row's state is ${await el.getAttribute("data-state")}`);
  expect((await pk.page.$$(T("wallet-proposal"))).length === 1, "other changes are listed as pending");
  const diff = ((await pk.page.textContent(`${row} ${T("wallet-proposal-diff")}`)) || "").trim();
  expect(diff.includes("Added: Chains: 1 (Ethereum mainnet) only."), `the change shown is "${diff}"`);
  const approvals = await pk.page.$eval(`${row} ${T("wallet-proposal-approvals")}`, (p) => `${p.dataset.approvals} of ${p.dataset.threshold}`);
  expect(approvals === "0 of 1", `approvals shown: ${approvals}`);
  await shot(pk.page, "wallet-proposals");
  await pk.page.click(`${row} ${T("wallet-proposal-approve")}`);
  const version = pkPolicyVersion + 1;
  await pk.page.waitForSelector(`${T("wallet-policy-change-done")}[data-version="${version}"]`, { timeout: 30000 });
  const p = await call("GET", `/v1/wallets/${pkWallet}/record/${id}`);
  expect(p.status === 200 && p.json.state === "applied" && JSON.stringify(p.json.approved_by) === JSON.stringify([owner]), `the proposal after the approval: ${p.status} ${p.text}`);
  const after = await pkRecord();
  expect(after.version === version && canon(after.policy) === canon(policy), `record version ${after.version}, policy ${JSON.stringify(after.policy)}`);
  const rules = await pkRules();
  expect((rules.chain_ids || "").includes("1 (Ethereum mainnet)"), `chain_ids says "${rules.chain_ids}"`);
  await pk.page.waitForSelector(T("wallet-proposals-none"), { timeout: 30000 });
  pkPolicyVersion = version;
  return `(${id}, record version ${version})`;
});

await step("passkeys: a loosening (at most 1 ETH) waits the change delay — \"takes effect at …\", the 0.01 ETH limit stays", async () => {
  need(pkPolicyVersion, "the change delay");
  expect((await pk.page.inputValue(T("wallet-policy-edit-delay-hours"))) === "1", "the form does not show the 1-hour delay");
  const proposalId = await pkEditAndApprove(
    () => pk.page.fill(T("wallet-policy-edit-max-eth"), "1"),
    ["Now: At most 0.01 ETH (10000000000000000 wei) per transaction.", "After the change: At most 1 ETH (1000000000000000000 wei) per transaction."],
    { delayNote: true },
  );
  const started = Math.floor(Date.now() / 1000);
  const note = await pk.page.waitForSelector(T("wallet-policy-change-delayed"), { timeout: 30000 });
  const said = ((await note.textContent()) || "").trim();
  expect(said.startsWith("This change loosens the policy: it takes effect at "), `the page says "${said}"`);
  const at = Number(await note.getAttribute("data-effective-at"));
  expect(Math.abs(at - (started + 3600)) <= 120, `effective_at ${at}, an hour from now is ${started + 3600}`);
  const shownAt = await pk.page.$eval(`${T("wallet-policy-change-delayed")} time`, (t) => t.getAttribute("datetime"));
  expect(Date.parse(shownAt) === at * 1000, `the time shown is ${shownAt}, effective_at ${at}`);
  expect(await pk.page.isDisabled(T("wallet-policy-change-apply")), "\"Apply now\" is enabled before effective_at");
  expect(/^in \d+:\d\d:\d\d$|^in \d+:\d\d$/.test(((await pk.page.textContent(T("wallet-policy-change-wait"))) || "").trim()), "no countdown to effective_at");
  // The approved loosening is a waiting proposal: the API and "Pending changes" say so.
  expect((await note.getAttribute("data-proposal-id")) === proposalId, `the delayed change names proposal ${await note.getAttribute("data-proposal-id")}, not ${proposalId}`);
  const held = await call("GET", `/v1/wallets/${pkWallet}/record/${proposalId}`);
  expect(held.status === 200 && held.json.state === "waiting" && held.json.effective_at === at, `the proposal: ${held.status} ${held.text}`);
  await pk.page.waitForSelector(`${T("wallet-proposal")}[data-proposal-id="${proposalId}"][data-state="waiting"]`, { timeout: 30000 });
  // Nothing changed: the rules list, the record and the signer still say 0.01 ETH.
  const rules = await pkRules();
  expect((rules.max_value_wei || "").includes("0.01 ETH"), `max_value_wei says "${rules.max_value_wei}"`);
  const rec = await pkRecord();
  expect(rec.version === pkPolicyVersion && rec.policy.max_value_wei === "10000000000000000", `record version ${rec.version}, policy ${JSON.stringify(rec.policy)}`);
  const s = await call("POST", `/v1/wallets/${pkWallet}/sign`, { transaction: { ...TX, value: "0x470de4df820000" } }); // 0.02 ETH
  expect(s.status === 403 && code(s) === "owner_approval_required", `0.02 ETH without the passkey answered ${s.status} ${s.text}`);
  // The same settings again without approvals, before effective_at: 409 again, the same time.
  const again = await call("POST", `/v1/wallets/${pkWallet}/record`, { policy: { ...rec.policy, max_value_wei: "1000000000000000000" } }, await pkSessionToken());
  expect(again.status === 409 && code(again) === "change_not_yet_effective" && again.json.error.effective_at === at, `the same change again answered ${again.status} ${again.text}`);
  await shot(pk.page, "wallet-policy-edit-delayed");
  return `(effective at ${new Date(at * 1000).toISOString()})`;
});

await browser.close();
console.log(`console walk: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
