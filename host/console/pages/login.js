// #/login — Telegram sign-in: a challenge, its deep link and QR code and the
// two-digit code to press in Telegram, then POST /v1/auth/verify (with the
// challenge's verifier, which stays in this page's memory) every second
// until the person presses Start and then the code.

import { ApiError, config, explain, session, setSession, takeReturn } from "../api.js";
import { append, clear, countdown, field, h, mmss, mono, utf8Base64 } from "../dom.js";

export default async function login(ctx) {
  ctx.title("Sign in");
  if (session()) {
    ctx.go(takeReturn() || "#/wallets");
    return;
  }
  const view = h("section", { class: "page", testid: "page-login" }, h("h1", { text: "Sign in" }));
  ctx.main.append(view);

  let cfg;
  try {
    cfg = await config();
  } catch (e) {
    ctx.status(`The console's configuration could not be loaded: ${explain(e)}`, "error");
    return;
  }
  const mode = (cfg.login && cfg.login.mode) || "off";
  const bot = cfg.login && cfg.login.bot_username;
  if (mode === "off") {
    view.append(
      h("p", { testid: "login-off", text: "Sign-in is not configured on this host (it has no Telegram bot). An operator can enable it with TELEGRAM_BOT_TOKEN." }),
      h("p", {}, "You can still ", h("a", { href: "#/attest", text: "verify an attestation document" }), " in this browser."),
    );
    return;
  }

  view.append(
    h(
      "p",
      {},
      `Sign in with your Telegram account: open the link below (or scan its QR code with your phone), press Start in the chat with ${bot ? `@${bot}` : "the Signet bot"}, then press the number this page shows. This page continues by itself.`,
    ),
  );

  let testUser = null;
  const form = h("form", { class: "stack", testid: "login-form", novalidate: true });
  if (mode === "test") {
    testUser = h("input", { type: "text", inputmode: "numeric", autocomplete: "off", pattern: "[0-9]*", testid: "login-test-user" });
    form.append(
      h("p", { class: "warn", testid: "login-test-mode", text: "This host runs in test mode (it has no Telegram bot): enter a Telegram user id and sign-in completes at once." }),
      field("Telegram user id (test mode)", testUser),
    );
  }
  const start = h("button", { type: "submit", class: "primary", testid: "login-start", text: "Sign in with Telegram" });
  form.append(start);
  const box = h("div", { class: "challenge", testid: "login-challenge", hidden: true });
  view.append(form, box);

  let generation = 0;
  let stopCountdown = () => {};

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    begin();
  });

  async function begin() {
    generation += 1;
    const gen = generation;
    start.disabled = true;
    const body = {};
    if (testUser && !testUser.value.trim()) {
      // No bot answers in test mode: a link to it would wait forever.
      ctx.status("This host is in test mode (no Telegram bot): enter a Telegram user id.", "error");
      start.disabled = false;
      testUser.focus();
      return;
    }
    if (testUser && testUser.value.trim()) {
      if (!/^[0-9]+$/.test(testUser.value.trim())) {
        ctx.status("The Telegram user id is a number.", "error");
        start.disabled = false;
        testUser.focus();
        return;
      }
      body.telegram_user_id = Number(testUser.value.trim());
    }
    let c;
    try {
      c = await ctx.post("/v1/auth/challenge", body, { auth: false });
    } catch (e) {
      ctx.status(`Could not start signing in: ${explain(e)}`, "error");
      start.disabled = false;
      return;
    }
    if (gen !== generation) return;
    showChallenge(c, gen);
    poll(c.challenge_id, c.verifier, gen);
  }

  function showChallenge(c, gen) {
    clear(box);
    box.hidden = false;
    const link = typeof c.deep_link === "string" && c.deep_link.startsWith("https://") ? c.deep_link : null;
    const expiry = h("p", { class: "hint", testid: "login-expiry" });
    // `append` skips an absent QR code or link (the DOM's own would print "null").
    append(box, [
      h("h2", { text: "Open Telegram, press Start, then press this number" }),
      typeof c.code === "string" && /^[0-9]{2}$/.test(c.code)
        ? h("p", { class: "login-code", testid: "login-code", "aria-label": `Your code: ${c.code}`, text: c.code })
        : null,
      h("p", { class: "hint", text: "The bot shows three numbers: press only this one. If it asks about a sign-in you did not start, press \u201cNot me\u201d." }),
      c.qr_svg
        ? h(
            "figure",
            { class: "qr" },
            h("img", {
              src: `data:image/svg+xml;base64,${utf8Base64(c.qr_svg)}`,
              alt: "QR code of the Telegram sign-in link",
              testid: "login-qr",
              width: "220",
              height: "220",
            }),
            h("figcaption", { text: "Scan with your phone's camera" }),
          )
        : null,
      link
        ? h("a", {
            class: "button primary",
            href: link,
            target: "_blank",
            rel: "noopener noreferrer",
            testid: "login-deeplink",
            text: "Open in Telegram",
          })
        : null,
      link ? h("p", { class: "hint" }, "Or open: ", mono(link, { testid: "login-deeplink-text" })) : null,
      expiry,
    ]);
    start.textContent = "Get a new link";
    start.disabled = false;
    ctx.status("Waiting for you to press Start and your number in Telegram…");
    // last: a link already expired (a clock ahead) replaces all of the above
    stopCountdown();
    stopCountdown = countdown(ctx, c.expires_at, (left) => {
      if (gen !== generation) return;
      if (!Number.isFinite(left)) expiry.textContent = "";
      else if (left <= 0) expired(gen);
      else expiry.textContent = `This link expires in ${mmss(left)}.`;
    });
  }

  function expired(gen) {
    if (gen !== generation) return;
    generation += 1;
    clear(box);
    box.append(
      h("p", { class: "warn", testid: "login-expired", text: "This sign-in link expired." }),
      h("button", { type: "button", class: "primary", testid: "login-restart", text: "Get a new link", on: { click: begin } }),
    );
    ctx.status("The sign-in link expired: get a new one.", "error");
  }

  function refused(gen) {
    if (gen !== generation) return;
    generation += 1;
    clear(box);
    box.append(
      h("p", { class: "warn", testid: "login-refused", text: "This sign-in was cancelled in Telegram (another number or \u201cNot me\u201d was pressed). Nobody was signed in." }),
      h("button", { type: "button", class: "primary", testid: "login-restart", text: "Start again", on: { click: begin } }),
    );
    ctx.status("The sign-in was cancelled in Telegram.", "error");
  }

  async function poll(id, verifier, gen) {
    if (gen !== generation || !ctx.alive()) return;
    try {
      const s = await ctx.post("/v1/auth/verify", { challenge_id: id, verifier }, { auth: false });
      if (gen !== generation) return;
      generation += 1;
      setSession(s);
      ctx.flash("Signed in.", "ok");
      ctx.go(takeReturn() || "#/wallets");
    } catch (e) {
      if (gen !== generation) return;
      if (e instanceof ApiError && e.status === 409 && e.code === "challenge_pending") {
        ctx.after(() => poll(id, verifier, gen), 1000);
      } else if (e instanceof ApiError && e.status === 410 && e.code === "challenge_refused") {
        refused(gen);
      } else if (e instanceof ApiError && e.status === 410) {
        expired(gen);
      } else if (e instanceof ApiError && e.status === 429) {
        ctx.after(() => poll(id, verifier, gen), (e.retryAfter || 5) * 1000);
      } else if (e instanceof ApiError && (e.status === 0 || e.status === 503)) {
        ctx.status(`${explain(e)} Retrying…`, "error");
        ctx.after(() => poll(id, verifier, gen), 2000);
      } else {
        generation += 1;
        ctx.status(`Signing in failed: ${explain(e)}`, "error");
        clear(box);
        box.append(h("button", { type: "button", class: "primary", testid: "login-restart", text: "Try again", on: { click: begin } }));
      }
    }
  }
}
