// The console's sign-in page on a test-mode host (no Telegram bot), in
// Chromium: an empty Telegram user id is refused on the page (no link to a
// bot that does not exist), and an id signs in at once.
//
//   SIGNET_URL                  the host (signet-host dev without a bot)
//   SIGNET_CHROMIUM             the browser (default /usr/bin/chromium)
//   SIGNET_CONSOLE_NODE_MODULES (or NODE_PATH) where playwright-core is
// Prints `test mode: ok` and exits 0, or the failure and exits 1.

import { createRequire } from "node:module";
import { join } from "node:path";

const nodeModules = process.env.SIGNET_CONSOLE_NODE_MODULES || (process.env.NODE_PATH || "").split(":")[0];
const require = createRequire(join(nodeModules || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");

const BASE = (process.env.SIGNET_URL || "").replace(/\/+$/, "");
const T = (id) => `[data-testid="${id}"]`;
const browser = await chromium.launch({
  executablePath: process.env.SIGNET_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless=new", "--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${BASE}/console/#/login`);
  await page.waitForSelector(T("login-test-mode"));
  await page.click(T("login-start"));
  await page.waitForFunction(
    () => (document.querySelector('[data-testid="status"]')?.textContent || "").includes("test mode (no Telegram bot)"),
    null,
    { timeout: 10000 },
  );
  // Give a challenge request, if one was made, time to render its link.
  await page.waitForTimeout(1000);
  if (await page.$(T("login-deeplink"))) throw new Error("a deep link to a bot that does not exist is shown");
  await page.fill(T("login-test-user"), "4242");
  await page.click(T("login-start"));
  await page.waitForSelector(T("page-wallets"), { timeout: 20000 });
  console.log("test mode: ok");
} catch (e) {
  console.log(`test mode: FAIL ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
