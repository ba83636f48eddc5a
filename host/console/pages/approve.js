// #/approve/<intent_id> — the page a merchant's link opens: what will be
// signed (decoded), by which wallet, for whom, until when; Approve or
// Decline. After approving, the intent is polled every 2 s until the
// requester has used its ticket and the signature appears.

import { ApiError, explain, get, post, seg } from "../api.js";
import { append, check, clear, dl, h, mmss, mono, time } from "../dom.js";
import { render as renderContent } from "../content.js";

const STATE_TEXT = {
  pending: "Waiting for your decision",
  approved: "Approved",
  declined: "Declined",
  expired: "Expired",
  not_required: "No approval needed",
};

export default async function approve(ctx) {
  const [id] = ctx.params;
  ctx.title("Request");
  const view = h("section", { class: "page", testid: "page-approve", dataset: { intentId: id } });
  ctx.main.append(view);
  view.append(h("p", { class: "crumbs" }, h("a", { href: "#/requests", text: "← Requests" })));
  const heading = h("h1", { testid: "approve-title", text: "Signature request" });
  const body = h("div", {});
  view.append(heading, body);

  let intent = null;
  let shown = "";
  let polling = null;
  let countdownTimer = null;

  async function fetchIntent() {
    return get(`/v1/intents/${seg(id)}`, { signal: ctx.signal });
  }

  try {
    intent = await fetchIntent();
  } catch (e) {
    if (e.name === "AbortError") return;
    if (e instanceof ApiError && e.status === 404) {
      body.append(h("p", { testid: "approve-missing", text: "No such request: it may have been pruned after expiring, or it is for a wallet that is not yours." }));
    } else {
      ctx.status(`Could not load the request: ${explain(e)}`, "error");
    }
    return;
  }
  show(intent);
  maybePoll();

  function expiresIn() {
    const t = Date.parse(intent.expires_at);
    return Number.isFinite(t) ? (t - Date.now()) / 1000 : Infinity;
  }

  function show(i, { focusResult = false } = {}) {
    const key = JSON.stringify(i);
    if (key === shown) return;
    shown = key;
    intent = i;
    const isTx = i.content && i.content.kind === "transaction";
    heading.textContent = isTx ? "Payment request" : "Signature request";
    ctx.title(heading.textContent);
    view.dataset.state = i.state;
    clear(body);

    const expiry = h("span", { testid: "approve-expiry" });
    const updateExpiry = () => {
      const left = expiresIn();
      const open_ = intent.state === "pending" || (intent.state !== "declined" && intent.state !== "expired" && !intent.signature);
      if (!open_) expiry.textContent = "";
      else if (!Number.isFinite(left)) expiry.textContent = "no expiry given";
      else if (left > 0) expiry.textContent = `expires in ${mmss(left)}`;
      else expiry.textContent = "expired";
      const canDecide = intent.state === "pending" && left > 0;
      const ack = body.querySelector("[data-testid=approve-opaque-ack]");
      for (const b of body.querySelectorAll("[data-decide]")) {
        const needsAck = b.dataset.decide === "approve" && ack && !ack.checked;
        b.disabled = !canDecide || b.dataset.busy === "true" || Boolean(needsAck);
      }
      if (left <= 0 && intent.state === "pending" && !body.querySelector("[data-testid=approve-expired-local]")) {
        body.querySelector(".decide")?.append(h("p", { class: "warn", testid: "approve-expired-local", text: "This request has expired: it can no longer be approved." }));
      }
    };

    body.append(
      h(
        "p",
        { class: "state-line" },
        h("span", { class: ["badge", `state-${i.state}`], testid: "approve-state", dataset: { state: i.state }, text: STATE_TEXT[i.state] || i.state }),
        " ",
        expiry,
      ),
      dl(
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
      ),
      h(
        "section",
        { class: "card", testid: "approve-content", "aria-labelledby": "what-h" },
        h("h2", { id: "what-h", text: "What will be signed" }),
        renderContent(i.content),
        h("details", {}, h("summary", { text: "Digest (what the signer signs)" }), mono(i.digest, { testid: "approve-digest" })),
      ),
    );

    const decide = h("section", { class: "decide card", "aria-labelledby": "decide-h" }, h("h2", { id: "decide-h", tabindex: "-1", text: "Your decision" }));
    body.append(decide);

    if (i.state === "pending" && i.approval_required !== false) {
      const approveBtn = h("button", { type: "button", class: "primary", testid: "approve-approve", dataset: { decide: "approve" }, text: "Approve" });
      const declineBtn = h("button", { type: "button", class: "danger", testid: "approve-decline", dataset: { decide: "decline" }, text: "Decline" });
      approveBtn.addEventListener("click", () => decideOn("approve"));
      declineBtn.addEventListener("click", () => decideOn("decline"));
      const opaque = !i.content || !["transaction", "typed_data", "message"].includes(i.content.kind);
      const ack = opaque ? h("input", { type: "checkbox", testid: "approve-opaque-ack" }) : null;
      if (ack) ack.addEventListener("change", () => updateExpiry());
      // `append` skips the absent acknowledgement (the DOM's own would print "null").
      append(decide, [
        h("p", { text: "Approve only if you recognise this request and agree with every detail above. Approving lets the requester get this exact content signed, once." }),
        ack ? check("I know where this request comes from and what it authorizes, although it cannot be shown", ack) : null,
        h("div", { class: "actions" }, approveBtn, declineBtn),
      ]);
    } else if (i.state === "approved" || i.state === "not_required") {
      if (i.signature) {
        const s = i.signature;
        decide.append(
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
        );
      } else if (i.state === "approved") {
        decide.append(
          h("p", { class: "ok", testid: "approve-approved", text: "Approved. Waiting for the requester to use it; the signature appears here (checked every 2 s)." }),
        );
      } else {
        decide.append(h("p", { testid: "approve-not-required", text: "This wallet does not require approval: there is nothing to decide here." }));
      }
    } else if (i.state === "declined") {
      decide.append(h("p", { class: "bad", testid: "approve-declined", text: "Declined. The requester cannot get this signed." }));
    } else if (i.state === "expired") {
      decide.append(h("p", { class: "warn", testid: "approve-expired", text: "This request expired before it was used." }));
    } else {
      decide.append(h("p", { text: `State: ${i.state}` }));
    }

    clearInterval(countdownTimer);
    updateExpiry();
    countdownTimer = ctx.every(updateExpiry, 1000);
    if (focusResult) decide.querySelector("h2").focus();
  }

  async function decideOn(what) {
    for (const b of body.querySelectorAll("[data-decide]")) {
      b.disabled = true;
      b.dataset.busy = "true";
    }
    ctx.status(what === "approve" ? "Approving…" : "Declining…");
    try {
      const i = await post(`/v1/intents/${seg(id)}/${what}`, {}, { signal: ctx.signal });
      show(i, { focusResult: true });
      ctx.status(
        what === "approve" ? "Approved. Waiting for the requester to use it." : "Declined. The requester cannot get this signed.",
        "ok",
      );
      maybePoll();
    } catch (e) {
      if (e.name === "AbortError") return;
      let msg = explain(e);
      if (e instanceof ApiError && e.code === "intent_decided") msg = "This request was already decided.";
      if (e instanceof ApiError && e.code === "intent_expired") msg = "This request expired.";
      ctx.status(`Could not ${what}: ${msg}`, "error");
      try {
        show(await fetchIntent(), { focusResult: true });
      } catch {
        for (const b of body.querySelectorAll("[data-decide]")) {
          b.dataset.busy = "false";
          b.disabled = false;
        }
      }
      maybePoll();
    }
  }

  function maybePoll() {
    const waiting = (intent.state === "approved" || intent.state === "not_required") && !intent.signature;
    if (!waiting) {
      clearInterval(polling);
      polling = null;
      return;
    }
    if (polling) return;
    let busy = false;
    polling = ctx.every(async () => {
      if (busy) return;
      if (expiresIn() < -30) {
        clearInterval(polling);
        polling = null;
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
        if (e.name !== "AbortError" && e instanceof ApiError && e.status === 404) {
          clearInterval(polling);
          polling = null;
        }
      } finally {
        busy = false;
      }
    }, 2000);
  }
}
