// #/requests — pending sign intents on the person's wallets that wait for
// their approval, each linking to its approve page, its expiry counting
// down. Refreshed every 10 s.

import { explain, seg } from "../api.js";
import { clear, countdown, expiresIn, h, time } from "../dom.js";
import { summary } from "../content.js";

export default async function requests(ctx) {
  ctx.title("Requests");
  const view = h("section", { class: "page", testid: "page-requests" }, h("h1", { text: "Requests" }));
  ctx.main.append(view);
  const refresh = h("button", { type: "button", testid: "requests-refresh", text: "Refresh" });
  const list = h("ul", { class: "cards", testid: "request-list" });
  const empty = h("p", { testid: "request-empty", hidden: true, text: "Nothing waits for your approval." });
  view.append(
    h("p", { class: "hint", text: "Signature requests on your wallets that need your approval. Open one to see exactly what would be signed." }),
    h("div", { class: "actions" }, refresh),
    empty,
    list,
  );

  let items = [];
  let countdowns = [];
  function renderList() {
    for (const stop of countdowns) stop();
    clear(list);
    countdowns = items.map((i) => {
      const expiry = h("p", { class: "hint" });
      list.append(
        h(
          "li",
          { class: "card", testid: "request-row", dataset: { intentId: i.intent_id } },
          h(
            "div",
            { class: "card-head" },
            h("a", { href: `#/approve/${seg(i.intent_id)}`, class: "title", testid: "request-link", text: summary(i.content) }),
            i.content && i.content.kind === "digest" ? h("span", { class: "badge opaque", text: "opaque" }) : null,
          ),
          h("p", {}, h("span", { class: "label", text: "Wallet " }), i.wallet_label || i.wallet_id, ` (${i.key_type || "?"})`),
          h("p", {}, h("span", { class: "label", text: "Requested by " }), i.requested_by || "—", " · ", time(i.created_at)),
          expiry,
        ),
      );
      return countdown(ctx, i.expires_at, (left) => {
        expiry.textContent = Number.isFinite(left) ? expiresIn(left) : "";
      });
    });
    empty.hidden = items.length > 0;
  }

  async function load() {
    refresh.disabled = true;
    try {
      const page = await ctx.get("/v1/intents?state=pending");
      const fresh = (page && page.intents) || [];
      const changed = JSON.stringify(fresh) !== JSON.stringify(items);
      items = fresh;
      // keep a keyboard user's focus: rebuild under it only when something changed
      if (changed || !list.contains(document.activeElement)) renderList();
      view.dataset.loaded = "true";
    } catch (e) {
      ctx.status(`Could not list the requests: ${explain(e)}`, "error");
    } finally {
      refresh.disabled = false;
    }
  }
  refresh.addEventListener("click", load);
  ctx.every(load, 10000);
  await load();
}
