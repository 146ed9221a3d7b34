// Requests over time as stacked bars, one colour per outcome, drawn as inline SVG (no library, no
// inline styles: colours come from classes in app.css). Drawn at the figure's own width so the text
// keeps its size on a phone instead of being scaled down with the picture.

import { el, plural } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';

export const OUTCOME_LABELS = {
  allowed: 'Allowed', missing_key: 'Missing key', invalid_key: 'Invalid key', key_expired: 'Expired key',
  key_revoked: 'Revoked key', key_inactive: 'Inactive key', wrong_environment: 'Wrong environment',
  insufficient_scope: 'Insufficient scope', ip_not_allowed: 'IP not allowed', rate_limited: 'Rate limited',
  quota_exceeded: 'Quota exceeded', credits_exhausted: 'Credits exhausted', store_unavailable: 'Store unavailable',
  body_too_large: 'Body too large', bad_request: 'Bad request', client_aborted: 'Client went away', upstream_5xx: 'Upstream 5xx',
};

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function tickLabel(iso, granularity) {
  const d = new Date(iso);
  return granularity === 'day' ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
    : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/**
 * An axis of whole numbers: a step of 1, 2 or 5 times a power of ten and a top that is a multiple of it,
 * so 0–25 reads 0, 10, 20, 30 rather than 0, 13, 25.
 */
export function axis(max, wanted) {
  const rough = Math.max(1, max / Math.max(1, wanted));
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  let step = power;
  for (const f of [1, 2, 5, 10]) { if (f * power >= rough) { step = f * power; break; } }
  step = Math.max(1, Math.round(step));
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks = [];
  for (let v = 0; v <= top; v += step) ticks.push(v);
  return { top, ticks };
}

export function stats(container, totals) {
  const counts = totals.counts;
  const allowed = counts.allowed || 0;
  const failed = counts.upstream_5xx || 0;
  // A client that went away was not refused: it is in Requests only.
  const refused = totals.total - allowed - failed - (counts.client_aborted || 0);
  container.replaceChildren();
  for (const [label, value, cls] of [['Requests', totals.total, ''], ['Allowed', allowed, 'o-allowed'], ['Refused', refused, 'o-refused'], ['Upstream 5xx', failed, 'o-upstream_5xx']]) {
    const box = el('div', null, 'stat');
    box.append(el('span', label, 'stat-label'), el('strong', value.toLocaleString(), cls));
    container.append(box);
  }
}

export function chart(figure, report) {
  figure.replaceChildren();
  const intervals = report.intervals;
  const present = report.outcomes.filter((o) => report.totals.counts[o]);
  if (report.totals.total === 0) {
    figure.append(el('p', 'No requests in this period.', 'empty'));
    return;
  }
  const W = Math.max(300, Math.round(figure.clientWidth || 760)), H = W < 500 ? 200 : 240;
  const left = 44, right = 12, top = 10, bottom = 26;
  const plotH = H - top - bottom, plotW = W - left - right;
  const { top: max, ticks: yTicks } = axis(Math.max(1, ...intervals.map((i) => i.total)), H < 240 ? 3 : 4);
  const root = svg('svg', {
    viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', class: 'chart-svg',
    'aria-label': 'Requests over time by outcome: ' + plural(report.totals.total, 'request') + ' in total',
  });
  for (const v of yTicks) {
    const y = top + plotH - v / max * plotH;
    root.append(svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: y + 4, class: 'axis y-tick', 'text-anchor': 'end' }, v.toLocaleString()));
  }
  const width = plotW / intervals.length;
  const gap = width > 4 ? 1 : 0;
  intervals.forEach((interval, i) => {
    const group = svg('g', { class: 'bar' });
    const parts = present.filter((o) => interval.counts[o]).map((o) => (OUTCOME_LABELS[o] || o) + ' ' + interval.counts[o]);
    group.append(svg('title', {}, tickLabel(interval.start, report.granularity) + ': ' + plural(interval.total, 'request') + (parts.length ? ' (' + parts.join(', ') + ')' : '')));
    let y = top + plotH;
    for (const outcome of present) {
      const count = interval.counts[outcome];
      if (!count) continue;
      const h = count / max * plotH;
      y -= h;
      group.append(svg('rect', { x: left + i * width + gap, y, width: Math.max(width - 2 * gap, 0.5), height: h, class: 'o-' + outcome }));
    }
    // An invisible full-height target so hovering an empty or short bar still shows its numbers.
    group.append(svg('rect', { x: left + i * width, y: top, width, height: plotH, class: 'hit' }));
    root.append(group);
  });
  // About one label per 110 px; the first is anchored at its start and the last at its end so neither is cut.
  const count = Math.max(2, Math.min(intervals.length, Math.floor(plotW / 110)));
  for (let t = 0; t < count; t++) {
    const i = Math.round(t * (intervals.length - 1) / Math.max(1, count - 1));
    const anchor = t === 0 ? 'start' : t === count - 1 ? 'end' : 'middle';
    const x = anchor === 'start' ? left + i * width : anchor === 'end' ? left + (i + 1) * width : left + (i + 0.5) * width;
    root.append(svg('text', { x, y: H - 8, class: 'axis x-tick', 'text-anchor': anchor }, tickLabel(intervals[i].start, report.granularity)));
  }
  const legend = el('ul', null, 'legend');
  for (const outcome of present) {
    const item = el('li');
    item.append(el('span', null, 'swatch o-' + outcome), document.createTextNode((OUTCOME_LABELS[outcome] || outcome) + ' ' + report.totals.counts[outcome].toLocaleString()));
    legend.append(item);
  }
  figure.append(root, legend);
}
