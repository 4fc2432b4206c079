// The public API with the caller's token (sessionStorage), and small helpers.
// Every API call goes through api(), which counts it: window.__apiCalls (per screen,
// reset by the router) and window.__apiLog, which the browser tests read.

const TOKEN = "oneonone.token";
const ME = "oneonone.me";
const PEOPLE = "oneonone.people"; // person id -> {id, name, email, timezone}, learnt from answers
const PAIR_OTHER = "oneonone.pairOther"; // pair id -> the other person, learnt from answers
const BASE = new URL("../v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const token = () => sessionStorage.getItem(TOKEN);
export const setToken = (t) => sessionStorage.setItem(TOKEN, t);
export function signOut() {
  for (const k of [TOKEN, ME, PEOPLE, PAIR_OTHER]) sessionStorage.removeItem(k);
}
export const me = () => JSON.parse(sessionStorage.getItem(ME) || "null");
export const setMe = (p) => sessionStorage.setItem(ME, JSON.stringify(p));

const readMap = (k) => JSON.parse(sessionStorage.getItem(k) || "{}");
export function rememberPeople(list) {
  const m = readMap(PEOPLE);
  for (const p of list) if (p && p.id) m[p.id] = { id: p.id, name: p.name, email: p.email, timezone: p.timezone };
  sessionStorage.setItem(PEOPLE, JSON.stringify(m));
}
export const person = (id) => readMap(PEOPLE)[id] || null;
export function rememberPairOther(pairId, other) {
  const m = readMap(PAIR_OTHER);
  m[pairId] = other;
  sessionStorage.setItem(PAIR_OTHER, JSON.stringify(m));
  rememberPeople([other]);
}
export const pairOther = (pairId) => readMap(PAIR_OTHER)[pairId] || null;

window.__apiCalls = 0;
window.__apiLog = [];
export function resetCalls() {
  window.__apiCalls = 0;
}

/** One API call. `etag: true` answers {data, etag}. Throws ApiError on 4xx/5xx. */
export async function api(path, { method = "GET", body, headers = {}, etag = false } = {}) {
  window.__apiCalls += 1;
  window.__apiLog.push(`${method} ${path}`);
  const h = { Accept: "application/json", ...headers };
  if (token()) h.Authorization = `Bearer ${token()}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(new URL(path.replace(/^\//, ""), BASE), {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && !path.startsWith("/me")) {
    signOut();
    location.hash = "#/signin";
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return etag ? { data, etag: res.headers.get("ETag") } : data;
}

/** Every page of a cursor-paginated list (bounded). */
export async function all(path, params = {}, maxPages = 5) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const q = qs({ ...params, cursor });
    const page = await api(`${path}?${q}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") u.set(k, v);
  return u.toString();
}

// Escaping templates: html`...${value}...` escapes values; nested html`` and raw() pass through.
class Raw {
  constructor(s) {
    this.s = s;
  }
  toString() {
    return this.s;
  }
}
export const raw = (s) => new Raw(s);
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
function fmt(v) {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(fmt).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(v);
}
export function html(strings, ...vals) {
  return new Raw(strings.reduce((a, s, i) => a + s + (i < vals.length ? fmt(vals[i]) : ""), ""));
}

// The server's clock: the sandbox demo lives on its own date (config.json).
let offsetMs = 0;
export let config = { now: null, oidc_login_url: null };
export async function loadConfig() {
  try {
    const res = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
    config = await res.json();
    offsetMs = new Date(config.now).getTime() - Date.now();
  } catch {
    offsetMs = 0;
  }
}
export const now = () => new Date(Date.now() + offsetMs);

export function fmtTime(iso, opts = {}) {
  const tz = (me() && me().timezone) || undefined;
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone: tz, ...opts }).format(new Date(iso));
  } catch {
    return new Date(iso).toISOString();
  }
}
export const fmtDateTime = (iso) =>
  fmtTime(iso, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
