// The Overview tab: an organization's requests over time by outcome and its busiest keys.

import { api, enc } from './api.js';
import { registerTab } from './registry.js';
import * as router from './router.js';
import { el, field, link, table } from './ui.js';
import { chart, stats } from './chart.js';

export const RANGES = [['minute', 'Last hour'], ['hour', 'Last 24 hours'], ['day', 'Last 30 days']];

/** The period picker shared by the overview and a key's page; its value lives in the address (?range=). */
export function rangePicker(ctx) {
  const range = RANGES.some(([v]) => v === ctx.route.query.get('range')) ? ctx.route.query.get('range') : 'hour';
  const picker = field({ name: 'range', label: 'Period', type: 'select', options: RANGES, value: range });
  picker.querySelector('select').id = 'range';
  picker.querySelector('label').htmlFor = 'range';
  picker.querySelector('select').onchange = (e) => {
    router.go(router.href(ctx.route.parts, { range: e.target.value === 'hour' ? '' : e.target.value }), '#range');
  };
  return { picker, range };
}

registerTab({
  id: 'overview', label: 'Overview', order: 10, visible: () => true,
  async render(panel, ctx) {
    const { picker, range } = rangePicker(ctx);
    const report = await api('GET', '/admin/orgs/' + enc(ctx.org.id) + '/usage?granularity=' + range);
    const toolbar = el('div', null, 'toolbar');
    toolbar.append(picker);
    const statBox = el('div', null, 'stats', { id: 'overview-stats' });
    stats(statBox, report.totals);
    const figure = el('figure', null, 'chart', { id: 'overview-chart' });
    panel.append(toolbar, statBox, figure, el('h3', 'Top keys'));
    const used = report.keys.filter((k) => k.usage.total > 0).slice(0, 10);
    if (used.length === 0) {
      panel.append(el('p', 'No requests in this period. Keys show up here once they are used.', 'empty', { id: 'top-keys-empty' }));
    } else {
      const count = (k, f) => f(k.usage.counts, k.usage.total).toLocaleString();
      const wrap = el('div', null, 'table-wrap');
      panel.append(wrap);
      wrap.append(table('top-keys', [
        { title: 'Key', cell: (k) => { const s = el('span'); s.append(link(k.name, router.href(['orgs', ctx.org.id, 'keys', k.keyId])), el('span', ' ' + k.prefix + '…', 'muted mono')); return s; } },
        { title: 'Requests', className: 'num', cell: (k) => k.usage.total.toLocaleString() },
        { title: 'Allowed', className: 'num', cell: (k) => count(k, (c) => c.allowed || 0) },
        { title: 'Refused', className: 'num', cell: (k) => count(k, (c, t) => t - (c.allowed || 0) - (c.upstream_5xx || 0) - (c.client_aborted || 0)) },
        { title: 'Upstream 5xx', className: 'num', priority: 2, cell: (k) => count(k, (c) => c.upstream_5xx || 0) },
      ], used));
    }
    // Drawn once the figure is in the page, at its real width.
    requestAnimationFrame(() => chart(figure, report));
  },
});
