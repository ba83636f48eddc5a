// DOM helpers. Every piece of data reaches the page as text (textContent or
// an attribute value), never as markup: no innerHTML anywhere in the console.

/**
 * Creates an element. `attrs`: `class`, `testid` (data-testid), `text`
 * (textContent), `on` ({event: handler}), `dataset` ({key: value}), boolean
 * and value properties (`disabled`, `checked`, `hidden`, `value`,
 * `selected`, `readOnly`, `required`), anything else as an attribute.
 * Children: nodes, strings (text nodes), arrays; null/undefined/false skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    switch (k) {
      case "class":
        el.className = Array.isArray(v) ? v.filter(Boolean).join(" ") : v;
        break;
      case "testid":
        el.dataset.testid = v;
        break;
      case "text":
        el.textContent = String(v);
        break;
      case "on":
        for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        break;
      case "dataset":
        for (const [dk, dv] of Object.entries(v)) {
          if (dv !== undefined && dv !== null) el.dataset[dk] = String(dv);
        }
        break;
      case "disabled":
      case "checked":
      case "hidden":
      case "selected":
      case "readOnly":
      case "required":
      case "multiple":
        el[k] = Boolean(v);
        break;
      case "value":
        el.value = String(v);
        break;
      default:
        el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (see `h`). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Removes every child. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let idSeq = 0;
/** A fresh element id with a prefix (for label/for pairs). */
export function uid(prefix) {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

/** A labelled form row: label + control (+ optional hint). */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid("f");
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id, text: labelText }), control, hintEl);
}

/** A checkbox or radio with its label after it. */
export function check(labelText, control, hint) {
  if (!control.id) control.id = uid("c");
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "check" }, control, h("label", { for: control.id, text: labelText }), hintEl);
}

/** A definition list from [term, value] pairs (value: node or text); null pairs skipped. */
export function dl(pairs, attrs = {}) {
  const list = h("dl", { class: "kv", ...attrs });
  for (const p of pairs) {
    if (!p) continue;
    const [term, value, testid] = p;
    list.append(h("dt", { text: term }), h("dd", { testid }, value instanceof Node ? value : mono(value)));
  }
  return list;
}

/** A monospace, wrapping text span (hex, ids, addresses). */
export function mono(text, attrs = {}) {
  return h("span", { class: "mono", ...attrs, text: text === null || text === undefined ? "—" : String(text) });
}

/**
 * Renders any JSON value as a readable nested tree (objects as definition
 * lists, arrays as numbered lists), text only. Depth is capped.
 */
export function tree(value, depth = 0) {
  if (depth > 24) return mono("…");
  if (value === null || value === undefined) return h("span", { class: "null", text: "null" });
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "null", text: "[] (empty)" });
    const ol = h("ol", { class: "tree", start: "0" });
    for (const item of value) ol.append(h("li", {}, tree(item, depth + 1)));
    return ol;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return h("span", { class: "null", text: "{} (empty)" });
    const list = h("dl", { class: "tree" });
    for (const k of keys) list.append(h("dt", { text: k }), h("dd", {}, tree(value[k], depth + 1)));
    return list;
  }
  if (typeof value === "boolean") return h("span", { class: "bool", text: String(value) });
  if (typeof value === "number") return h("span", { class: "mono", text: String(value) });
  return mono(value);
}

/** An RFC 3339 time as the reader's local time, with the exact value in a title. */
export function time(iso) {
  if (!iso) return h("span", { text: "—" });
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return mono(iso);
  return h("time", { datetime: d.toISOString(), title: String(iso), text: d.toLocaleString() });
}

/** "4:05" for a number of seconds (>= 0). */
export function mmss(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h_ = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h_ > 0 ? `${h_}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

/** Seconds from now until an RFC 3339 time (Infinity when it is none). */
export function secondsUntil(iso) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? (t - Date.now()) / 1000 : Infinity;
}

/** "expires in 4:05" while `left` seconds remain, then "expired". */
export function expiresIn(left) {
  return left > 0 ? `expires in ${mmss(left)}` : "expired";
}

/**
 * The one countdown of the console: calls `tick(secondsUntil(iso))` now and
 * every second while the page lives (`ctx.every`). Returns what stops it.
 */
export function countdown(ctx, iso, tick) {
  const run = () => tick(secondsUntil(iso));
  run();
  const timer = ctx.every(run, 1000);
  return () => clearInterval(timer);
}

/** Base64 of a string's UTF-8 bytes (for data: URLs). */
export function utf8Base64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Shortens a long hex/id for compact lists (the full value goes in a title). */
export function short(text, keep = 10) {
  const s = String(text ?? "");
  return s.length <= keep * 2 + 1 ? s : `${s.slice(0, keep)}…${s.slice(-keep)}`;
}

/** A quantity (JSON number, decimal string or 0x hex) as a BigInt, or null. */
export function quantity(v) {
  try {
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === "string") {
      const s = v.trim();
      if (/^0x[0-9a-fA-F]+$/.test(s)) return BigInt(s);
      if (/^[0-9]+$/.test(s)) return BigInt(s);
    }
  } catch {
    /* not a quantity */
  }
  return null;
}

/** Wei (BigInt) as a decimal amount of a unit with `decimals` digits ("0.01"). */
export function units(wei, decimals = 18) {
  const base = 10n ** BigInt(decimals);
  const whole = wei / base;
  const frac = (wei % base).toString().padStart(decimals, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}
