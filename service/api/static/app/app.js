// Router and screens (sign-in, week, findings, insights); the meeting page is meeting.js.
import {
  ApiError, all, api, config, fmtDateTime, fmtTime, html, loadConfig, me, now, pairOther, person, qs,
  rememberPairOther, rememberPeople, resetCalls, setMe, setToken, signOut, token,
} from "./api.js";
import { heldVsCancelledChart, monthBuckets } from "./chart.js";
import { meetingScreen } from "./meeting.js";

const main = document.getElementById("main");
const DAY = 86400000;

const FINDING_TITLES = {
  cancelled_without_reschedule: "Cancelled without a reschedule",
  late_reschedule: "Rescheduled at short notice",
  shortened: "Shortened",
  declined: "Declined",
  double_booked: "Double-booked",
  cadence_gap: "Gap in the cadence",
  no_upcoming: "No upcoming 1:1",
};

function render(el, content) {
  el.innerHTML = String(content);
}

// ---------------------------------------------------------------- sign-in
async function signinScreen() {
  render(
    main,
    html`<h1>Sign in</h1>
    <form id="signin" class="card">
      <p>Paste an API token (<code>oneonone token create</code>; after <code>make run</code>, the printed <code>TOKEN=</code>).
        It is kept in this tab only (sessionStorage).</p>
      <div class="inline"><label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" required size="48">
        <button type="submit">Sign in</button></div>
      <p id="signin-error" class="error" role="alert"></p>
      ${config.oidc_login_url ? html`<p><a href="${config.oidc_login_url}">Sign in with your identity provider</a></p>` : ""}
    </form>`,
  );
  document.getElementById("signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setToken(document.getElementById("token").value.trim());
    try {
      setMe(await api("/me"));
      location.hash = "#/week";
    } catch (e) {
      signOut();
      document.getElementById("signin-error").textContent =
        e instanceof ApiError && e.status === 401 ? "That token was not accepted." : `Sign-in failed: ${e.message}`;
    }
  });
}

// ---------------------------------------------------------------- week
function mondayOf(d) {
  const t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return new Date(t - ((new Date(t).getUTCDay() + 6) % 7) * DAY);
}
const isoDay = (d) => d.toISOString().slice(0, 10);

async function weekScreen(params) {
  const role = params.get("role") === "report" ? "report" : "manager";
  const start = mondayOf(params.get("week") ? new Date(`${params.get("week")}T12:00:00Z`) : now());
  const end = new Date(start.getTime() + 7 * DAY);
  const from = start.toISOString(), to = end.toISOString();
  // One page of the caller's 1:1s that week and their open action items, in parallel.
  const [items, actions] = await Promise.all([
    all("/meetings", { from, to, role, limit: 200 }),
    api(`/me/action-items?${qs({ status: "open", limit: 50 })}`).then((page) => page.items),
  ]);
  for (const m of items) if (m.other) rememberPairOther(m.pair_id, m.other);
  const link = (r, w) => `#/week?${qs({ role: r, week: isoDay(w) })}`;
  const byDay = new Map();
  for (const m of items) {
    const day = fmtTime(m.start, { weekday: "long", day: "numeric", month: "long" });
    if (!byDay.has(day)) byDay.set(day, []);
    byDay.get(day).push(m);
  }
  const t = now();
  render(
    main,
    html`<h1>My 1:1s, week of ${fmtTime(from, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" })}</h1>
    <div class="inline">
      <div class="toggle" role="group" aria-label="Role">
        <button type="button" data-href="${link("manager", start)}" aria-pressed="${String(role === "manager")}">As manager</button>
        <button type="button" data-href="${link("report", start)}" aria-pressed="${String(role === "report")}">As report</button>
      </div>
      <button type="button" class="secondary" data-href="${link(role, new Date(start - 7 * DAY))}">← Previous week</button>
      <button type="button" class="secondary" data-href="${link(role, mondayOf(now()))}">This week</button>
      <button type="button" class="secondary" data-href="${link(role, new Date(start.getTime() + 7 * DAY))}">Next week →</button>
    </div>
    ${items.length ? "" : html`<p class="card">No 1:1s ${role === "manager" ? "with your reports" : "with your manager"} this week.</p>`}
    ${[...byDay].map(
      ([day, ms]) => html`<section class="day"><h2>${day}</h2><ul class="plain">
        ${ms.map(
          (m) => html`<li class="meeting" data-meeting="${m.id}">
            <a href="#/meeting/${m.id}">${fmtTime(m.start, { hour: "2-digit", minute: "2-digit" })} · ${m.other ? m.other.name : ""} · ${m.title}</a>
            <span class="badge ${m.status}">${m.status}</span>
            ${m.agenda_empty === true && new Date(m.start) > t ? html`<span class="badge warn">agenda empty</span>` : ""}
            ${typeof m.agenda_items === "number" && !m.agenda_empty ? html`<span class="badge">${m.agenda_items} talking points</span>` : ""}
            ${m.open_action_items ? html`<span class="badge">${m.open_action_items} open action item${m.open_action_items === 1 ? "" : "s"}</span>` : ""}
            ${m.rated_by_me === true ? html`<span class="badge">rated</span>` : ""}
            ${m.rated_by_me === false && m.status === "held" ? html`<span class="badge">not rated yet</span>` : ""}
          </li>`,
        )}</ul></section>`,
    )}
    ${actions ? html`<section class="card" id="my-actions" aria-labelledby="my-actions-h"><h2 id="my-actions-h">Open action items (all pairs)</h2>
      ${actions.length ? html`<ul class="plain">${actions.map((a) => html`<li>${a.body}
        <span class="muted">· ${a.owner ? (a.owner.id === me().id ? "you" : a.owner.name) : ""}${a.due_date ? ` · due ${a.due_date}` : ""}</span>
        ${a.meeting_id ? html` · <a href="#/meeting/${a.meeting_id}">meeting</a>` : ""}</li>`)}</ul>` : html`<p class="muted">None.</p>`}</section>` : ""}`,
  );
  for (const b of main.querySelectorAll("button[data-href]"))
    b.addEventListener("click", () => (location.hash = b.dataset.href));
}

// ---------------------------------------------------------------- findings
function pairLabel(p) {
  if (!p) return "";
  const m = p.manager || person(p.manager_id), r = p.report || person(p.report_id);
  return m && r ? `${m.name} / ${r.name}` : `pair #${p.id}`;
}

const ISO = /^\d{4}-\d\d-\d\dT/;
const SUMMARIES = {
  cancelled_without_reschedule: (d) => `Cancelled ${d.notice_hours ?? "?"} hours ahead, and no other 1:1 of the pair was booked near it.`,
  late_reschedule: () => "Moved at short notice.",
  shortened: () => "Held, but shorter than booked.",
  declined: (d) => `Declined${d.by ? ` by the ${d.by}` : ""}.`,
  double_booked: (d) => `Overlaps${d.conflict ? ` “${d.conflict}”` : " another event"}${d.by ? ` in the ${d.by}'s calendar` : ""}.`,
  cadence_gap: (d) => `${d.gap_days ?? "?"} days without a held 1:1${d.since ? ` since ${fmtDateTime(d.since)}` : ""}.`,
  no_upcoming: () => "Nothing is scheduled for this pair.",
};

function explain(f) {
  const d = f.details || {};
  const facts = Object.entries(d).filter(([k]) => k !== "evidence");
  const value = (v) => (typeof v === "string" && ISO.test(v) ? fmtDateTime(v) : typeof v === "object" ? JSON.stringify(v) : v);
  return html`${SUMMARIES[f.type] ? html`<p class="why">${SUMMARIES[f.type](d)}</p>` : ""}
    <dl class="metrics">${facts.map(([k, v]) => html`<dt>${k.replaceAll("_", " ")}</dt><dd>${value(v)}</dd>`)}</dl>
    ${d.evidence && d.evidence.length ? html`<details><summary>Evidence (${d.evidence.length})</summary><ul>${d.evidence.map((e) => html`<li><code>${e}</code></li>`)}</ul></details>` : ""}`;
}

async function findingsScreen(params) {
  const status = ["open", "resolved", "all"].includes(params.get("status")) ? params.get("status") : "open";
  const [findings, pairs] = await Promise.all([all("/findings", { status, limit: 100 }, 3), all("/pairs", { limit: 200 }, 3)]);
  const byId = new Map(pairs.map((p) => [p.id, p]));
  render(
    main,
    html`<h1>Findings</h1>
    <div class="inline"><label for="finding-status">Show</label>
      <select id="finding-status">${["open", "resolved", "all"].map((s) => html`<option value="${s}" ${s === status ? "selected" : ""}>${s}</option>`)}</select></div>
    ${findings.length ? "" : html`<p class="card">No ${status === "all" ? "" : status} findings.</p>`}
    <ul class="plain">${findings.map(
      (f) => html`<li class="card finding" data-finding="${f.id}">
        <h2>${FINDING_TITLES[f.type] || f.type} <span class="muted">· ${pairLabel(byId.get(f.pair_id))}</span></h2>
        <p class="muted">Detected ${fmtDateTime(f.detected_at)}${f.resolved_at ? html` · resolved ${fmtDateTime(f.resolved_at)}` : ""}
          ${f.meeting_id ? html` · <a href="#/meeting/${f.meeting_id}">the meeting</a>` : ""}</p>
        ${explain(f)}
        <p class="ack">${f.acknowledged_at ? html`<span class="badge">acknowledged ${fmtDateTime(f.acknowledged_at)}</span>` : html`<button type="button" data-ack="${f.id}">Acknowledge</button>`}</p>
      </li>`,
    )}</ul>`,
  );
  document.getElementById("finding-status").addEventListener("change", (ev) => (location.hash = `#/findings?status=${ev.target.value}`));
  for (const b of main.querySelectorAll("button[data-ack]"))
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        const f = await api(`/findings/${b.dataset.ack}:acknowledge`, { method: "POST" });
        const p = b.parentElement;
        render(p, html`<span class="badge" role="status">acknowledged ${fmtDateTime(f.acknowledged_at)}</span>`);
      } catch (e) {
        b.disabled = false;
        b.insertAdjacentHTML("afterend", String(html` <span class="error" role="alert">${e.message}</span>`));
      }
    });
}

// ---------------------------------------------------------------- insights
const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`);
function metricsList(m, extra = []) {
  const rows = [
    ["Held", m.counts.held], ["Cancelled", m.counts.cancelled], ["Declined", m.counts.declined],
    ["Held rate", pct(m.held_rate)], ["Cancellation rate", pct(m.cancellation_rate)],
    ["Days between held 1:1s", m.avg_days_between_held === null ? "–" : m.avg_days_between_held.toFixed(1)],
    ["Action items done", `${m.counts.action_items_done} of ${m.counts.action_items_raised} (${pct(m.action_item_completion_rate)})`],
    ...extra,
  ];
  return html`<dl class="metrics">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

async function insightsScreen(pairId) {
  const t = now();
  const from = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() - 5, 1));
  const range = { from: from.toISOString(), to: t.toISOString() };
  const pairs = await all("/pairs", { limit: 200 }, 3);
  if (pairs.length && !pairs[0].manager && pairs.some((p) => !person(p.manager_id) || !person(p.report_id)))
    rememberPeople(await all("/people", { limit: 200 }));
  const mine = me().id;
  const managed = pairs.filter((p) => p.manager_id === mine);
  const picker = html`<div class="inline"><label for="pair-pick">Pair</label>
    <select id="pair-pick"><option value="">${managed.length ? "My team" : "Choose a pair"}</option>
    ${pairs.map((p) => html`<option value="${p.id}" ${String(p.id) === pairId ? "selected" : ""}>${pairLabel(p)}</option>`)}</select></div>`;
  let body;
  if (pairId) {
    const [ins, meetings] = await Promise.all([
      api(`/insights/pairs/${pairId}?${qs(range)}`),
      all(`/pairs/${pairId}/meetings`, { ...range, limit: 200 }),
    ]);
    const p = pairs.find((x) => String(x.id) === pairId);
    body = html`<div class="grid2"><section class="card"><h2>${pairLabel(p)}</h2>
      ${metricsList(ins.metrics, [["Your average rating", ins.own_average_rating ?? "–"], ["Streak", p ? p.current_streak ?? p.streak ?? "–" : "–"]])}</section>
      ${heldVsCancelledChart(monthBuckets(meetings, from, t), "Held vs cancelled 1:1s per month")}</div>`;
  } else if (managed.length) {
    const meetings = await all("/meetings", { ...range, role: "manager", limit: 200 });
    const team = await api(`/insights/managers/${mine}?${qs(range)}`);
    body = html`<div class="grid2"><section class="card"><h2>My team (${team.pair_count} pairs)</h2>${metricsList(team.metrics)}</section>
      ${heldVsCancelledChart(monthBuckets(meetings, from, t), "Team: held vs cancelled 1:1s per month")}</div>
      <h2>Per pair</h2><ul class="plain">${team.pairs.map((tp) => html`<li><a href="#/insights/pair/${tp.pair_id}">${pairLabel(pairs.find((p) => p.id === tp.pair_id)) || `pair #${tp.pair_id}`}</a>
        — held ${tp.metrics.counts.held}, cancelled ${tp.metrics.counts.cancelled}, held rate ${pct(tp.metrics.held_rate)}</li>`)}</ul>`;
  } else {
    body = html`<p class="card">Pick a pair to see its insights.</p>`;
  }
  render(main, html`<h1>Insights <span class="muted">(${fmtTime(range.from, { month: "short", year: "numeric" })} – now)</span></h1>${picker}${body}`);
  document.getElementById("pair-pick").addEventListener("change", (ev) =>
    (location.hash = ev.target.value ? `#/insights/pair/${ev.target.value}` : "#/insights"));
}

// ---------------------------------------------------------------- router
const ROUTES = [
  [/^#\/signin/, () => signinScreen(), "signin"],
  [/^#\/meeting\/(\d+)/, (m) => meetingScreen(main, m[1]), "meeting"],
  [/^#\/findings/, (_m, p) => findingsScreen(p), "findings"],
  [/^#\/insights(?:\/pair\/(\d+))?/, (m) => insightsScreen(m[1]), "insights"],
  [/^#\/week|^#?\/?$/, (_m, p) => weekScreen(p), "week"],
];

async function route() {
  const hash = location.hash || "#/week";
  if (!token() && !hash.startsWith("#/signin")) {
    location.hash = "#/signin";
    return;
  }
  const signedIn = !!token();
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  document.getElementById("who").textContent = signedIn && me() ? `${me().name}` : "";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const [re, screen, name] = ROUTES.find(([r]) => r.test(path)) || ROUTES[ROUTES.length - 1];
  document.body.dataset.screen = name;
  document.body.dataset.ready = "";
  window.scrollTo(0, 0);
  resetCalls();
  try {
    if (signedIn && !me()) setMe(await api("/me"));
    if (signedIn && !document.getElementById("who").textContent) document.getElementById("who").textContent = me().name;
    await screen(path.match(re), params);
  } catch (e) {
    render(main, html`<h1>Something went wrong</h1><p class="error" role="alert">${e.message}</p>`);
    console.error(e);
  }
  if (name === "signin") document.getElementById("token")?.focus();
  else if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  const h1 = main.querySelector("h1");
  document.title = h1 ? `${h1.textContent} – oneonone` : "oneonone";
  document.body.dataset.calls = window.__apiCalls;
  document.body.dataset.ready = "1";
}

document.getElementById("signout").addEventListener("click", () => {
  signOut();
  location.hash = "#/signin";
});
window.addEventListener("hashchange", route);
// Back from elsewhere (say, a terminal running `oneonone sandbox cancel`): show what changed.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && ["week", "findings", "insights"].includes(document.body.dataset.screen)) route();
});
await loadConfig();
route();
