// The request log: the Logs tab of an organization, the requests on a key's page, and the gateway-wide
// "Refused requests" screen for org-less callers (records under no organization: no key, unknown key).
// Filters run on the server and live in the address; "Load more" follows the opaque `next` cursor; the
// live tail re-reads the first page every few seconds while the view is on screen.

import { api, enc, seesAllOrgs, can } from './api.js';
import { registerTab, registerScreen } from './registry.js';
import * as router from './router.js';
import { el, button, link, time, table, field, busy, toast, errorText } from './ui.js';

const PAGE = 50;
const LIVE_EVERY_MS = 3000;

function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
}

function statusClass(status) {
  if (status >= 500) return 'status status-revoked';
  if (status >= 400) return 'status status-inactive';
  return 'status status-active';
}

function detail(box, record, keyName) {
  box.replaceChildren();
  const head = el('div', null, 'section-head');
  head.append(el('h3', 'Request ' + record.requestId, null, { id: 'log-detail-title' }), button('Close', () => { box.hidden = true; box.replaceChildren(); }, '', { id: 'log-detail-close' }));
  const dl = el('dl', null, 'settings');
  const rows = [
    ['Time', time(record.time)], ['Request id', record.requestId], ['Organization', record.orgId || 'none'],
    ['Method', record.method], ['Path', record.path], ['Route', record.route || '—'], ['Status', String(record.status)],
    ['Problem code', record.code || '—'], ['Upstream status', record.upstreamStatus == null ? '—' : String(record.upstreamStatus)],
    ['Duration', record.durationMs == null ? '—' : record.durationMs + ' ms'], ['Key', record.keyId ? (keyName(record.keyId) || record.keyId) : '—'],
    ['Customer', record.customerId || '—'], ['Client address', record.clientIp || '—'],
  ];
  for (const [label, value] of rows) {
    const dd = el('dd');
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    dl.append(el('dt', label), dd);
  }
  box.append(head, dl);
  box.hidden = false;
}

/**
 * Draws the log into `container`. opts: {base (the list path), route, keys (id → name, may be empty),
 * org (for key links), fixedKey (hides the key filter), idPrefix}.
 */
export async function logView(container, opts) {
  const q = opts.route.query;
  const filter = {
    status: q.get('status') || '', code: q.get('code') || '', keyId: opts.fixedKey || q.get('keyId') || '',
    from: q.get('from') || '', to: q.get('to') || '',
  };
  const keyName = (id) => opts.keys && opts.keys.get(id);
  const form = el('form', null, 'toolbar', { id: 'log-filters' });
  const status = field({ name: 'status', label: 'Status', type: 'number', value: filter.status, attrs: { min: 100, max: 599, inputmode: 'numeric', placeholder: 'any' } });
  const code = field({ name: 'code', label: 'Problem code', value: filter.code, attrs: { placeholder: 'any, e.g. rate_limited', pattern: '[a-z0-9_]{1,64}', autocomplete: 'off' } });
  form.append(status, code);
  if (!opts.fixedKey && opts.keys) {
    const options = [['', 'All'], ...[...opts.keys].map(([id, name]) => [id, name])];
    if (filter.keyId && !opts.keys.has(filter.keyId)) options.push([filter.keyId, filter.keyId]);
    form.append(field({ name: 'keyId', label: 'Key', type: 'select', options, value: filter.keyId }));
  }
  form.append(
    field({ name: 'from', label: 'From', type: 'datetime-local', value: localInput(filter.from) }),
    field({ name: 'to', label: 'To', type: 'datetime-local', value: localInput(filter.to) }));
  const apply = el('button', 'Apply', '', { id: 'log-apply' });
  apply.type = 'submit';
  const liveLabel = el('label', null, 'check live');
  const live = el('input', null, null, { id: 'log-live', type: 'checkbox' });
  live.checked = q.get('live') === '1';
  liveLabel.append(live, document.createTextNode(' Live'));
  form.append(apply, liveLabel);
  form.onsubmit = (e) => {
    e.preventDefault();
    const f = form.elements;
    const query = {
      status: f.status.value, code: f.code.value.trim(), keyId: f.keyId ? f.keyId.value : '',
      from: f.from.value ? new Date(f.from.value).toISOString() : '', to: f.to.value ? new Date(f.to.value).toISOString() : '',
      live: live.checked ? '1' : '', range: q.get('range') || '',
    };
    router.go(router.href(opts.route.parts, query), '#log-apply');
  };

  const url = (cursor) => {
    const params = new URLSearchParams();
    for (const name of ['status', 'code', 'keyId', 'from', 'to']) if (filter[name]) params.set(name, filter[name]);
    params.set('limit', String(PAGE));
    if (cursor) params.set('cursor', cursor);
    return opts.base + '?' + params.toString();
  };

  const holder = el('div', null, 'table-wrap');
  const empty = el('p', 'No requests match.', 'empty', { id: 'logs-empty', hidden: '' });
  const more = button('Load more', null, '', { id: 'logs-more', hidden: '' });
  const box = el('aside', null, 'log-detail', { id: 'log-detail', hidden: '', 'aria-labelledby': 'log-detail-title' });
  const note = el('p', null, 'muted small', { id: 'logs-updated', 'aria-live': 'polite' });
  let records = [];
  let next = null;

  const open = async (record, opener) => {
    try {
      // The organization's own record: another organization's request may carry the same (client-chosen) id.
      const scope = opts.org ? '?org=' + enc(opts.org) : '';
      detail(box, await api('GET', '/admin/requests/' + enc(record.requestId) + scope), keyName);
      box.querySelector('#log-detail-close').onclick = () => { box.hidden = true; box.replaceChildren(); opener.focus(); };
      box.querySelector('h3').tabIndex = -1;
      box.querySelector('h3').focus();
    } catch (err) { toast(errorText(err), 'error'); }
  };
  const draw = () => {
    holder.replaceChildren(table('logs', [
      { title: 'Time', cell: (r) => time(r.time) },
      { title: 'Status', cell: (r) => el('span', String(r.status), statusClass(r.status)) },
      { title: 'Request', className: 'wrap', cell: (r) => el('span', r.method + ' ' + r.path, 'mono') },
      { title: 'Code', cell: (r) => r.code || '—' },
      {
        title: 'Key', className: 'wrap', cell: (r) => (!r.keyId ? '—' : opts.org && !opts.fixedKey
          ? link(keyName(r.keyId) || r.keyId, router.href(['orgs', opts.org, 'keys', r.keyId])) : keyName(r.keyId) || r.keyId),
      },
      { title: 'Customer', priority: 3, cell: (r) => r.customerId || '—' },
      { title: 'Duration', priority: 2, className: 'num', cell: (r) => (r.durationMs == null ? '—' : r.durationMs + ' ms') },
      { title: 'Client', priority: 3, cell: (r) => r.clientIp || '—' },
      { title: 'Details', className: 'actions', cell: (r) => button('Details', (e) => open(r, e.currentTarget), 'small-button', { 'aria-label': 'Details of ' + r.requestId }) },
    ], records, (r) => r.requestId));
    empty.hidden = records.length > 0;
    more.hidden = !next;
  };
  const first = async () => {
    const page = await api('GET', url(null));
    records = page.items;
    next = page.next;
    draw();
    note.textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  };
  await first();
  more.onclick = () => busy(more, async () => {
    try {
      const page = await api('GET', url(next));
      records = records.concat(page.items);
      next = page.next;
      draw();
    } catch (err) { toast(errorText(err), 'error'); }
  });

  // The live tail: re-read the newest page while this view is on screen; stops itself once it is replaced.
  let timer = null;
  const tick = async () => {
    if (!container.isConnected) { clearInterval(timer); timer = null; return; }
    if (!live.checked) return;
    try { await first(); } catch (err) { note.textContent = errorText(err); }
  };
  const setLive = () => {
    router.replace(router.href(opts.route.parts, Object.assign(Object.fromEntries(router.current().query), { live: live.checked ? '1' : '' })));
    if (live.checked && !timer) timer = setInterval(tick, LIVE_EVERY_MS);
    if (!live.checked && timer) { clearInterval(timer); timer = null; }
  };
  live.onchange = setLive;
  if (live.checked) timer = setInterval(tick, LIVE_EVERY_MS);

  const layout = el('div', null, 'logs');
  const main = el('div');
  main.append(holder, empty, more, note);
  layout.append(main, box);
  container.append(form, layout);
}

registerTab({
  id: 'logs', label: 'Logs', order: 35, visible: () => true,
  async render(panel, ctx) {
    const keys = (await api('GET', '/admin/orgs/' + enc(ctx.org.id) + '/keys')).items;
    await logView(panel, {
      base: '/admin/orgs/' + enc(ctx.org.id) + '/requests', route: ctx.route, org: ctx.org.id,
      keys: new Map(keys.map((k) => [k.id, k.name])),
    });
  },
});

registerScreen({
  id: 'requests', label: 'Refused requests', inNav: true, visible: () => seesAllOrgs() && can('viewer'),
  async render(container, ctx) {
    const head = el('div', null, 'section-head');
    head.append(el('h2', 'Refused requests'));
    container.append(head, el('p', 'Requests refused before an organization was known: no key, a malformed or unknown key, or the store not answering.', 'muted'));
    await logView(container, { base: '/admin/requests', route: ctx.route, keys: null });
  },
});
