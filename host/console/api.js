// The host's API, same origin. The session token lives in sessionStorage
// only (this tab; gone when it closes), goes out in the Authorization header
// only, and is removed on sign-out, at its expiry and on any 401.

const SESSION_KEY = "signet.session";
const RETURN_KEY = "signet.return";

/** An API error: HTTP status, the error code and message of the body. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
    this.retryAfter = retryAfter;
  }
}

/** The current session `{token, user, expires_at}`, or null (an expired one is removed). */
export function session() {
  let s = null;
  try {
    s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    s = null;
  }
  if (!s || typeof s.token !== "string") return null;
  const exp = Date.parse(s.expires_at);
  if (Number.isFinite(exp) && exp <= Date.now()) {
    clearSession("expired");
    return null;
  }
  return s;
}

/** Stores a session returned by POST /v1/auth/verify. */
export function setSession(s) {
  sessionStorage.setItem(
    SESSION_KEY,
    JSON.stringify({ token: s.token, user: s.user, expires_at: s.expires_at }),
  );
  window.dispatchEvent(new CustomEvent("signet:session", { detail: { reason: "signed-in" } }));
}

/** Forgets the session (reason: "signed-out", "expired", "unauthorized"). */
export function clearSession(reason = "signed-out") {
  const had = sessionStorage.getItem(SESSION_KEY) !== null;
  sessionStorage.removeItem(SESSION_KEY);
  if (had) window.dispatchEvent(new CustomEvent("signet:session", { detail: { reason } }));
}

/** Remembers where to go back to after signing in (a console hash route). */
export function setReturn(hash) {
  if (typeof hash === "string" && hash.startsWith("#/") && !hash.startsWith("#/login")) {
    sessionStorage.setItem(RETURN_KEY, hash);
  }
}

/** Takes (and forgets) the route to go back to after signing in. */
export function takeReturn() {
  const r = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  return r && r.startsWith("#/") ? r : null;
}

/**
 * Calls the API. `body` (an object) is sent as JSON. With `auth` (default)
 * the session token is sent; a 401 then ends the session. Resolves to the
 * parsed JSON (null for an empty body), rejects with ApiError.
 */
export async function api(method, path, body, { auth = true, signal } = {}) {
  const headers = { Accept: "application/json" };
  const s = auth ? session() : null;
  if (auth && !s) {
    clearSession("unauthorized");
    throw new ApiError(401, "unauthenticated", "You are not signed in.");
  }
  if (s) headers.Authorization = `Bearer ${s.token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error", signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "The host could not be reached.");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const retry = Number(res.headers.get("Retry-After"));
    const e = new ApiError(res.status, err.code, err.message, Number.isFinite(retry) ? retry : undefined);
    // The signer's rule, reason, or when a delayed change takes effect.
    if (err.rule !== undefined) e.rule = err.rule;
    if (err.reason !== undefined) e.reason = err.reason;
    if (err.effective_at !== undefined) e.effective_at = err.effective_at;
    if (res.status === 401 && s) clearSession("unauthorized");
    throw e;
  }
  return { data, text, status: res.status };
}

/**
 * A promise that never settles. A fresh one each time: nothing holds it, so
 * what waits on it is collected with it (a shared one would keep every
 * waiting page alive).
 */
const never = () => new Promise(() => {});

/**
 * The API calls of one page, bound to its abort `signal` (aborted when the
 * page is left): `api(method, path, body, opts)` as above, `get(path,
 * opts)` and `post(path, body, opts)` resolving to the parsed body. Once the
 * page is left, a call never settles: nothing of a page that is gone runs
 * on, and no page has to tell an abort from a failure (this is the one
 * place that does). A 401 ends the session in `api`, for every page.
 */
export function pageApi(signal) {
  const call = (method, path, body, opts = {}) =>
    api(method, path, body, { ...opts, signal }).then(
      (r) => (signal.aborted ? never() : r),
      (e) => {
        if (signal.aborted) return never();
        throw e;
      },
    );
  return {
    api: call,
    get: async (path, opts) => (await call("GET", path, undefined, opts)).data,
    post: async (path, body, opts) => (await call("POST", path, body, opts)).data,
  };
}

let configPromise = null;
/** /console/config.json (login mode, published attestation policy, version); cached. */
export function config() {
  if (!configPromise) {
    configPromise = fetch("config.json", { cache: "no-store", credentials: "omit" })
      .then((r) => {
        if (!r.ok) throw new ApiError(r.status, "config", "config.json could not be loaded");
        return r.json();
      })
      .catch((e) => {
        configPromise = null;
        throw e;
      });
  }
  return configPromise;
}

/** A path segment, escaped. */
export function seg(s) {
  return encodeURIComponent(String(s));
}

/** A human sentence for an API error. */
export function explain(e) {
  if (!(e instanceof ApiError)) return String((e && e.message) || e);
  if (e.status === 0) return e.message;
  if (e.status === 429) {
    return `Too many requests; try again${e.retryAfter ? ` in ${e.retryAfter} s` : " later"}.`;
  }
  if (e.status === 503) return `The service is unavailable right now (${e.message}); try again.`;
  return `${e.message} (${e.code})`;
}
