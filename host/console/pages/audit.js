// #/audit — the audit log visible to the signed-in person, 50 events a page,
// with its hash chain re-checked in this browser (WebAssembly) over every
// event fetched so far. The verifier gets the events exactly as the host
// served them (their JSON text), so nothing is lost to re-encoding.

import { explain } from "../api.js";
import { append, clear, h, mono, time, tree } from "../dom.js";
import { verifyAudit } from "../verify.js";

const PAGE = 50;
const MAX_PAGES = 400; // "check the whole log" stops after 20 000 events

/**
 * The JSON source text of each element of the array under `key` in the
 * top-level object of `text` (valid JSON: it was parsed before).
 */
export function rawArrayElements(text, key) {
  const ws = (i) => {
    while (i < text.length && " \t\r\n".includes(text[i])) i += 1;
    return i;
  };
  const str = (i) => {
    i += 1;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    return i + 1;
  };
  const value = (i) => {
    i = ws(i);
    const c = text[i];
    if (c === '"') return str(i);
    if (c === "{" || c === "[") {
      let depth = 0;
      for (;;) {
        const d = text[i];
        if (d === '"') {
          i = str(i);
          continue;
        }
        if (d === "{" || d === "[") depth += 1;
        else if (d === "}" || d === "]") {
          depth -= 1;
          if (depth === 0) return i + 1;
        }
        i += 1;
      }
    }
    while (i < text.length && !",}] \t\r\n".includes(text[i])) i += 1;
    return i;
  };
  let i = ws(0);
  if (text[i] !== "{") return null;
  i += 1;
  for (;;) {
    i = ws(i);
    if (text[i] === "}") return null;
    const kEnd = str(i);
    const k = JSON.parse(text.slice(i, kEnd));
    i = ws(kEnd) + 1; // ':'
    const vStart = ws(i);
    const vEnd = value(vStart);
    if (k === key && text[vStart] === "[") {
      const out = [];
      let j = vStart + 1;
      for (;;) {
        j = ws(j);
        if (text[j] === "]") return out;
        const e = value(j);
        out.push(text.slice(ws(j), e));
        j = ws(e);
        if (text[j] === ",") j += 1;
      }
    }
    i = ws(vEnd);
    if (text[i] === ",") i += 1;
  }
}

function outcomeClass(o) {
  const s = String(o || "");
  if (s === "ok" || s.startsWith("ok:")) return "outcome ok";
  if (s.startsWith("denied")) return "outcome denied";
  if (s.startsWith("error")) return "outcome error";
  return "outcome";
}

export default async function audit(ctx) {
  ctx.title("Audit log");
  const view = h("section", { class: "page", testid: "page-audit" }, h("h1", { text: "Audit log" }));
  ctx.main.append(view);
  const banner = h("div", { class: "chain", testid: "audit-chain", dataset: { state: "checking" }, role: "note" });
  const prev = h("button", { type: "button", testid: "audit-prev", text: "← Previous" });
  const next = h("button", { type: "button", testid: "audit-next", text: "Next →" });
  const all = h("button", { type: "button", testid: "audit-check-all", text: "Check the whole log" });
  const where = h("span", { class: "hint", testid: "audit-page", "aria-live": "polite" });
  const tbody = h("tbody", {});
  const table = h(
    "table",
    { class: "audit", testid: "audit-table" },
    h("caption", { class: "visually-hidden", text: "Audit events, oldest first" }),
    h(
      "thead",
      {},
      h("tr", {}, ["#", "Time", "Actor", "Action", "Target", "Outcome", "Detail"].map((t) => h("th", { scope: "col", text: t }))),
    ),
    tbody,
  );
  view.append(
    h(
      "p",
      { class: "hint", text: "Every event carries the hash of the one before it. This browser recomputes the chain over the events it has fetched; other people's events are gaps in your view, and links are checked wherever two of your events are consecutive." },
    ),
    banner,
    h("nav", { class: "pager", "aria-label": "Audit pages" }, prev, where, next, all),
    h("div", { class: "table-wrap" }, table),
  );

  const pages = []; // { events, raws, next }
  let index = 0;
  let result = null;

  async function fetchPage(i) {
    if (pages[i]) return pages[i];
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (i > 0) q.set("after", String(pages[i - 1].next));
    const { text, data } = await ctx.api("GET", `/v1/audit?${q}`);
    const events = (data && data.events) || [];
    let raws = null;
    try {
      raws = rawArrayElements(text, "events");
    } catch {
      raws = null;
    }
    if (!raws || raws.length !== events.length) raws = events.map((e) => JSON.stringify(e));
    pages[i] = { events, raws, next: data ? data.next ?? null : null };
    return pages[i];
  }

  async function check() {
    const raws = pages.flatMap((p) => p.raws);
    banner.dataset.state = "checking";
    banner.className = "chain";
    banner.textContent = `Checking the chain over ${raws.length} events…`;
    try {
      result = await verifyAudit(`[${raws.join(",")}]`, "view");
    } catch (e) {
      result = null;
      banner.dataset.state = "error";
      banner.className = "chain bad";
      banner.textContent = `The chain could not be checked: ${e.message || e}`;
      return;
    }
    if (!ctx.alive()) return;
    if (result && result.usage_error) {
      banner.dataset.state = "error";
      banner.className = "chain bad";
      banner.textContent = `The chain could not be checked: ${result.usage_error}`;
      ctx.status(`The audit chain could not be checked: ${result.usage_error}`, "error");
      result = null;
      return;
    }
    const complete = pages.length > 0 && pages[pages.length - 1].next === null;
    const breaks = result.breaks || [];
    clear(banner);
    if (result.ok && breaks.length === 0) {
      banner.dataset.state = "ok";
      banner.className = "chain ok";
      append(banner, [
        h("span", { class: "mark ok", "aria-hidden": "true", text: "✓ " }),
        `Chain intact over the ${result.checked} events fetched${complete ? " (the whole log visible to you)" : " so far"}`,
        result.gaps ? `; ${result.gaps} gap${result.gaps === 1 ? "" : "s"} (events of others, not shown to you)` : "",
        ".",
      ]);
      delete banner.dataset.breakSeq;
    } else {
      const first = breaks[0] || { seq: null, error: "the chain does not verify" };
      banner.dataset.state = "broken";
      banner.dataset.breakSeq = String(first.seq);
      banner.className = "chain bad";
      const onPage = pages.findIndex((p) => p.events.some((e) => e.seq === first.seq));
      append(banner, [
        h("span", { class: "mark bad", "aria-hidden": "true", text: "✗ " }),
        h("strong", { text: `The chain breaks at event #${first.seq}` }),
        `: ${first.error}. `,
        breaks.length > 1 ? `${breaks.length} breaks in all. ` : "",
        "Events from there on cannot be trusted to be the ones written.",
        onPage >= 0 && onPage !== index
          ? h("button", { type: "button", testid: "audit-show-break", text: "Show it", on: { click: () => show(onPage) } })
          : null,
      ]);
      ctx.status(`The audit chain breaks at event #${first.seq}.`, "error");
    }
    markBreaks();
  }

  function markBreaks() {
    const breaks = (result && result.breaks) || [];
    for (const old of tbody.querySelectorAll("tr.break-note-row")) old.remove();
    for (const tr of tbody.querySelectorAll("tr[data-seq]")) {
      const seq = Number(tr.dataset.seq);
      const b = breaks.find((x) => Number(x.seq) === seq);
      tr.classList.toggle("break", Boolean(b));
      if (b) {
        tr.dataset.break = "true";
        tr.setAttribute("aria-describedby", `break-${seq}`);
        tr.before(
          h(
            "tr",
            { class: "break-note-row" },
            h(
              "td",
              { colspan: "7" },
              h("strong", { class: "break-note", id: `break-${seq}`, testid: "audit-break", dataset: { seq }, text: `chain breaks here: ${b.error}` }),
            ),
          ),
        );
      } else {
        delete tr.dataset.break;
        tr.removeAttribute("aria-describedby");
      }
    }
  }

  function renderRows(p) {
    clear(tbody);
    for (const e of p.events) {
      tbody.append(
        h(
          "tr",
          { testid: "audit-row", dataset: { seq: e.seq } },
          h("td", { "data-label": "#" }, mono(e.seq)),
          h("td", { "data-label": "Time" }, time(e.at)),
          h("td", { "data-label": "Actor" }, mono(e.actor)),
          h("td", { "data-label": "Action", text: e.action ?? "" }),
          h("td", { "data-label": "Target" }, mono(e.target)),
          h("td", { "data-label": "Outcome" }, h("span", { class: outcomeClass(e.outcome), text: e.outcome ?? "" })),
          h(
            "td",
            { "data-label": "Detail" },
            e.detail !== undefined && e.detail !== null ? h("details", {}, h("summary", { text: "detail" }), tree(e.detail)) : null,
            e.tenant ? h("span", { class: "hint", text: `tenant ${e.tenant}` }) : null,
            h("details", { class: "hashes" }, h("summary", { text: "hashes" }), h("p", {}, "prev ", mono(e.prev_hash)), h("p", {}, "hash ", mono(e.hash))),
          ),
        ),
      );
    }
    if (p.events.length === 0) tbody.append(h("tr", {}, h("td", { colspan: "7", text: "No events." })));
  }

  function updatePager() {
    const p = pages[index];
    prev.disabled = index === 0;
    next.disabled = !p || p.next === null;
    const first = p && p.events[0];
    const last = p && p.events[p.events.length - 1];
    where.textContent = `Page ${index + 1}${first ? ` · events #${first.seq}–#${last.seq}` : ""}`;
    all.disabled = pages.length > 0 && pages[pages.length - 1].next === null;
  }

  async function show(i) {
    prev.disabled = true;
    next.disabled = true;
    try {
      const fetchedBefore = pages.length;
      // pages are fetched in order: the chain is checked over a prefix of the log
      for (let k = pages.length; k <= i; k += 1) await fetchPage(k);
      index = i;
      renderRows(pages[i]);
      updatePager();
      if (pages.length !== fetchedBefore || !result) await check();
      else markBreaks();
      view.dataset.loaded = "true";
    } catch (e) {
      ctx.status(`Could not load the audit log: ${explain(e)}`, "error");
      updatePager();
    }
  }

  prev.addEventListener("click", () => show(index - 1));
  next.addEventListener("click", () => show(index + 1));
  all.addEventListener("click", async () => {
    all.disabled = true;
    ctx.status("Fetching the whole log…");
    try {
      while (pages.length < MAX_PAGES && (pages.length === 0 || pages[pages.length - 1].next !== null)) {
        await fetchPage(pages.length);
      }
      await check();
      updatePager();
      if (result && result.ok && (result.breaks || []).length === 0) {
        ctx.status(
          pages[pages.length - 1].next === null
            ? `Checked the whole log: ${result.checked} events, chain intact.`
            : `Checked the first ${result.checked} events (the limit of one check): chain intact.`,
          "ok",
        );
      }
    } catch (e) {
      ctx.status(`Could not load the audit log: ${explain(e)}`, "error");
      updatePager();
    }
  });

  await show(0);
}
