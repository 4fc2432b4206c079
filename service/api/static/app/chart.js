// Hand-written SVG: held vs cancelled (cancelled + declined) 1:1s per month, grouped bars,
// with a visually hidden table of the same figures for screen readers.
import { html, raw } from "./api.js";

export function monthBuckets(meetings, from, to) {
  const buckets = new Map();
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), 1));
  while (d <= to) {
    buckets.set(d.toISOString().slice(0, 7), { held: 0, cancelled: 0 });
    d.setUTCMonth(d.getUTCMonth() + 1);
  }
  for (const m of meetings) {
    const b = buckets.get(String(m.start).slice(0, 7));
    if (!b) continue;
    if (m.status === "held") b.held += 1;
    else if (m.status === "cancelled" || m.status === "declined") b.cancelled += 1;
  }
  return [...buckets].map(([month, c]) => ({ month, ...c }));
}

export function heldVsCancelledChart(rows, title) {
  const W = 440, H = 220, left = 32, bottom = 28, top = 12;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.held, r.cancelled)));
  const plotH = H - bottom - top;
  const step = (W - left - 8) / Math.max(1, rows.length);
  const bw = Math.min(22, step / 3);
  const y = (v) => top + plotH - (v / max) * plotH;
  const ticks = [0, Math.ceil(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  const parts = [];
  for (const t of ticks) {
    parts.push(`<line x1="${left}" x2="${W - 4}" y1="${y(t)}" y2="${y(t)}" stroke="#e3e3e8"/>`);
    parts.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  rows.forEach((r, i) => {
    const x = left + i * step + step / 2;
    parts.push(
      `<rect class="bar-held" x="${x - bw - 1}" y="${y(r.held)}" width="${bw}" height="${y(0) - y(r.held)}"><title>${r.month}: ${r.held} held</title></rect>`,
    );
    parts.push(
      `<rect class="bar-cancelled" x="${x + 1}" y="${y(r.cancelled)}" width="${bw}" height="${y(0) - y(r.cancelled)}"><title>${r.month}: ${r.cancelled} cancelled or declined</title></rect>`,
    );
    parts.push(`<text x="${x}" y="${H - 10}" text-anchor="middle">${r.month}</text>`);
  });
  const id = "chart-" + Math.random().toString(36).slice(2, 8);
  return html`<figure class="card">
    <figcaption id="${id}"><strong>${title}</strong>
      <span class="badge held">held</span><span class="badge cancelled">cancelled or declined</span></figcaption>
    <svg class="chart" role="img" aria-labelledby="${id}" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMinYMin meet">${raw(parts.join(""))}</svg>
    <table class="visually-hidden"><caption>${title}</caption>
      <tr><th scope="col">Month</th><th scope="col">Held</th><th scope="col">Cancelled or declined</th></tr>
      ${rows.map((r) => html`<tr><th scope="row">${r.month}</th><td>${r.held}</td><td>${r.cancelled}</td></tr>`)}
    </table></figure>`;
}
