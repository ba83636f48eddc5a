// #/approve/<intent_id> — the page a merchant's link opens: what will be
// signed (decoded), by which wallet, for whom, until when; Approve or
// Decline. After approving, the intent is polled every 2 s until the
// requester has used its ticket and the signature appears.
//
// Where an intent stands is the server's word (its `state`); this page only
// looks it up in STATES, it never works a state out itself. The one thing
// it adds is the countdown to `expires_at`: the buttons lock when it ends.

import { ApiError, explain, seg } from "../api.js";
import { append, check, clear, countdown, dl, expiresIn, h, mono, secondsUntil, time } from "../dom.js";
import { render as renderContent } from "../content.js";
import { approveWith, unavailable } from "../passkey.js";

/**
 * Each state the server gives an intent: the badge's text, whether the
 * owner decides it here (`decidable`), whether its ticket may still sign
 * (`signs`: the page waits for the signature), and the panel under "Your
 * decision".
 */
const STATES = {
  pending: { text: "Waiting for your decision", decidable: true, panel: decisionForm },
  approved: {
    text: "Approved",
    signs: true,
    panel: signedOr("ok", "approve-approved", "Approved. Waiting for the requester to use it; the signature appears here (checked every 2 s)."),
  },
  declined: { text: "Declined", panel: () => note("bad", "approve-declined", "Declined. The requester cannot get this signed.") },
  expired: { text: "Expired", panel: () => note("warn", "approve-expired", "This request expired before it was used.") },
  not_required: {
    text: "No approval needed",
    signs: true,
    panel: signedOr(null, "approve-not-required", "This wallet does not require approval: there is nothing to decide here."),
  },
};

/** The entry of STATES for an intent (a state this page does not know is shown by name). */
function stateOf(i) {
  return STATES[i.state] || { text: i.state, panel: () => h("p", { text: `State: ${i.state}` }) };
}

/** Whether the intent's signature is still to come. */
function awaitsSignature(i) {
  return Boolean(stateOf(i).signs) && !i.signature;
}

/** Whether the intent still waits for something (a decision or its signature): its expiry counts. */
function waiting(i) {
  return Boolean(stateOf(i).decidable) || awaitsSignature(i);
}

function note(cls, testid, text) {
  return h("p", { class: cls, testid, text });
}

/** The panel of a state whose ticket signs: the signature once there, until then a note. */
function signedOr(cls, testid, text) {
  return (i) => (i.signature ? signed(i.signature) : note(cls, testid, text));
}

/** The state badge, and the countdown element after it. */
function stateLine(i, expiry) {
  return h(
    "p",
    { class: "state-line" },
    h("span", { class: ["badge", `state-${i.state}`], testid: "approve-state", dataset: { state: i.state }, text: stateOf(i).text }),
    " ",
    expiry,
  );
}

/** Who asked, when, on which wallet, and who decided. */
function meta(i) {
  return dl(
    [
      ["Requested by", i.requested_by ?? "—", "approve-requester"],
      ["Requested at", time(i.created_at)],
      ["Expires", time(i.expires_at)],
      [
        "Wallet",
        h(
          "span",
          { testid: "approve-wallet" },
          h("a", { href: `#/wallets/${seg(i.wallet_id)}`, text: i.wallet_label || i.wallet_id }),
          ` (${i.key_type || "?"})`,
          i.address ? h("br") : null,
          i.address ? mono(i.address) : null,
        ),
      ],
      i.decided_at ? ["Decided", h("span", {}, time(i.decided_at), i.decided_by ? ` by ${i.decided_by}` : "")] : null,
    ],
    { testid: "approve-meta" },
  );
}

/** What will be signed, decoded, and the digest the signer signs. */
function contentCard(i) {
  return h(
    "section",
    { class: "card", testid: "approve-content", "aria-labelledby": "what-h" },
    h("h2", { id: "what-h", text: "What will be signed" }),
    renderContent(i.content),
    h("details", {}, h("summary", { text: "Digest (what the signer signs)" }), mono(i.digest, { testid: "approve-digest" })),
  );
}

/**
 * What approving an intent needs ticked first, or null: a bare digest
 * (opaque), or a transaction whose call the signer cannot read.
 */
function ackNeeded(i) {
  if (!i.content || !["transaction", "typed_data", "message"].includes(i.content.kind)) {
    return { testid: "approve-opaque-ack", label: "I know where this request comes from and what it authorizes, although it cannot be shown" };
  }
  if (i.content.kind === "transaction" && i.content.readable === false) {
    return { testid: "approve-unreadable-ack", label: "I cannot read this call, and approve it anyway" };
  }
  return null;
}

/** A pending intent's panel: Approve and Decline (an opaque or unreadable one needs a tick first). */
function decisionForm(i, { decide, ackChanged }) {
  const approveBtn = h("button", { type: "button", class: "primary", testid: "approve-approve", dataset: { decide: "approve" }, text: "Approve" });
  const declineBtn = h("button", { type: "button", class: "danger", testid: "approve-decline", dataset: { decide: "decline" }, text: "Decline" });
  approveBtn.addEventListener("click", () => decide("approve"));
  declineBtn.addEventListener("click", () => decide("decline"));
  const need = ackNeeded(i);
  const ack = need ? h("input", { type: "checkbox", testid: need.testid, dataset: { ack: "true" } }) : null;
  if (ack) ack.addEventListener("change", ackChanged);
  return [
    h("p", { text: "Approve only if you recognise this request and agree with every detail above. Approving lets the requester get this exact content signed, once." }),
    ack ? check(need.label, ack) : null,
    h("div", { class: "actions" }, approveBtn, declineBtn),
  ];
}

/** A used ticket's signature (and transaction). */
function signed(s) {
  return [
    h("p", { class: "ok", testid: "approve-signed", text: s.transaction_hash ? "Signed: the transaction is ready to be sent by the requester." : "Signed." }),
    dl(
      [
        s.transaction_hash ? ["Transaction hash", s.transaction_hash, "approve-tx-hash"] : null,
        ["Signature", s.signature, "approve-signature"],
        s.recovery_id !== undefined && s.recovery_id !== null ? ["Recovery id", String(s.recovery_id)] : null,
        s.raw_transaction
          ? ["Raw transaction", h("details", {}, h("summary", { text: "show" }), mono(s.raw_transaction, { testid: "approve-raw-tx" }))]
          : null,
        s.signed_at ? ["Signed at", time(s.signed_at)] : null,
      ],
      { testid: "approve-signature-fields" },
    ),
  ];
}

/** "Your decision": the panel of the intent's state. */
function decisionCard(i, actions) {
  const card = h("section", { class: "decide card", "aria-labelledby": "decide-h" }, h("h2", { id: "decide-h", tabindex: "-1", text: "Your decision" }));
  // `append` skips an absent part (the DOM's own would print "null").
  append(card, [stateOf(i).panel(i, actions)]);
  if (i.authorization) {
    // The wallet's owners decide, each with their own key: the signer
    // checks their signatures over this exact text. A click here cannot.
    for (const b of card.querySelectorAll("[data-decide=approve]")) b.remove();
    const done = Array.isArray(i.approved_by) && i.approved_by.length ? `Approved so far by: ${i.approved_by.join(", ")}.` : "No owner has approved it yet.";
    card.append(
      h("div", { testid: "approve-owners" },
        h("p", { text: `This wallet's owners approve it with their own keys; the signer checks their signatures over the text below. ${done}` }),
        h("pre", { class: "mono", testid: "approve-authorization", text: i.authorization.text }),
        h("p", { class: "hint", text: `SHA-256 ${i.authorization.sha256}. From the command line: signet approve ${i.intent_id} --owner ID --key FILE` }),
      ),
    );
    if (i.state === "pending" && actions.passkey) {
      const no = unavailable();
      const button = h("button", { type: "button", class: "primary", testid: "approve-passkey", text: "Approve with my passkey", disabled: Boolean(no) });
      button.addEventListener("click", () => actions.passkey(button));
      append(card, [h("div", { class: "actions" }, button), no ? h("p", { class: "hint", text: `Passkeys: ${no}.` }) : null]);
    }
  }
  return card;
}

export default async function approve(ctx) {
  const [id] = ctx.params;
  ctx.title("Request");
  const view = h("section", { class: "page", testid: "page-approve", dataset: { intentId: id } });
  ctx.main.append(view);
  view.append(h("p", { class: "crumbs" }, h("a", { href: "#/requests", text: "← Requests" })));
  const heading = h("h1", { testid: "approve-title", text: "Signature request" });
  const body = h("div", {});
  view.append(heading, body);

  const fetchIntent = () => ctx.get(`/v1/intents/${seg(id)}`);
  let intent = null;
  let shown = "";
  let expiry = null; // the countdown's element
  let decision = null; // the "Your decision" card
  let stopCountdown = () => {};
  let polling = null;

  try {
    intent = await fetchIntent();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      body.append(h("p", { testid: "approve-missing", text: "No such request: it may have been pruned after expiring, or it is for a wallet that is not yours." }));
    } else {
      ctx.status(`Could not load the request: ${explain(e)}`, "error");
    }
    return;
  }
  show(intent);
  maybePoll();

  /** Renders an intent (unless it is the one shown) and restarts the countdown. */
  function show(i, { focusResult = false } = {}) {
    const key = JSON.stringify(i);
    if (key === shown) return;
    shown = key;
    intent = i;
    heading.textContent = i.content && i.content.kind === "transaction" ? "Payment request" : "Signature request";
    ctx.title(heading.textContent);
    view.dataset.state = i.state;
    expiry = h("span", { testid: "approve-expiry" });
    decision = decisionCard(i, { decide: decideOn, ackChanged: relock, passkey: passkeyOn });
    clear(body);
    body.append(stateLine(i, expiry), meta(i), contentCard(i), decision);
    stopCountdown();
    stopCountdown = countdown(ctx, i.expires_at, tick);
    if (focusResult) decision.querySelector("h2").focus();
  }

  /** Each second: the time left, and the decision locked once it is up (or while busy, or unacknowledged). */
  function tick(left) {
    if (!waiting(intent)) expiry.textContent = "";
    else if (!Number.isFinite(left)) expiry.textContent = "no expiry given";
    else expiry.textContent = expiresIn(left);
    const decidable = Boolean(stateOf(intent).decidable);
    const ack = decision.querySelector("input[data-ack]");
    for (const b of decision.querySelectorAll("[data-decide]")) {
      const needsAck = b.dataset.decide === "approve" && ack && !ack.checked;
      b.disabled = !(decidable && left > 0) || b.dataset.busy === "true" || Boolean(needsAck);
    }
    if (left <= 0 && decidable && !decision.querySelector("[data-testid=approve-expired-local]")) {
      decision.append(h("p", { class: "warn", testid: "approve-expired-local", text: "This request has expired: it can no longer be approved." }));
    }
  }

  function relock() {
    tick(secondsUntil(intent.expires_at));
  }

  function setBusy(busy) {
    for (const b of decision.querySelectorAll("[data-decide]")) b.dataset.busy = String(busy);
    relock();
  }

  async function decideOn(what) {
    setBusy(true);
    ctx.status(what === "approve" ? "Approving…" : "Declining…");
    try {
      const i = await ctx.post(`/v1/intents/${seg(id)}/${what}`, {});
      show(i, { focusResult: true });
      ctx.status(
        what === "approve" ? "Approved. Waiting for the requester to use it." : "Declined. The requester cannot get this signed.",
        "ok",
      );
    } catch (e) {
      let msg = explain(e);
      if (e instanceof ApiError && e.code === "intent_decided") msg = "This request was already decided.";
      if (e instanceof ApiError && e.code === "intent_expired") msg = "This request expired.";
      ctx.status(`Could not ${what}: ${msg}`, "error");
      try {
        show(await fetchIntent(), { focusResult: true });
      } catch {
        /* the buttons are released below */
      }
      setBusy(false);
    }
    maybePoll();
  }

  /** One owner's approval with their passkey, over the intent's authorization. */
  async function passkeyOn(button) {
    button.disabled = true;
    ctx.status("Waiting for your passkey…");
    try {
      const w = await ctx.get(`/v1/wallets/${seg(intent.wallet_id)}`);
      const owners = w.record ? JSON.parse(w.record).owners || [] : [];
      const body = await approveWith(owners, intent.authorization.text);
      ctx.status("Sending your approval…");
      show(await ctx.post(`/v1/intents/${seg(id)}/approve`, body), { focusResult: true });
      ctx.status(intent.state === "approved" ? "Approved with your passkey. Waiting for the requester to use it." : "Your approval is in; the other owners' are still needed.", "ok");
      maybePoll();
    } catch (e) {
      ctx.status(`Could not approve with the passkey: ${explain(e)}`, "error");
      button.disabled = false;
    }
  }

  /** Polls every 2 s while the intent's signature is still to come. */
  function maybePoll() {
    if (!awaitsSignature(intent)) {
      stopPolling();
      return;
    }
    if (polling) return;
    let busy = false;
    polling = ctx.every(async () => {
      if (busy) return;
      if (secondsUntil(intent.expires_at) < -30) {
        stopPolling();
        ctx.status("The request expired without being used.", "info");
        return;
      }
      busy = true;
      try {
        const i = await fetchIntent();
        show(i);
        if (i.signature) ctx.status(i.signature.transaction_hash ? `Signed: transaction ${i.signature.transaction_hash}.` : "Signed.", "ok");
        maybePoll();
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) stopPolling();
      } finally {
        busy = false;
      }
    }, 2000);
  }

  function stopPolling() {
    clearInterval(polling);
    polling = null;
  }
}
