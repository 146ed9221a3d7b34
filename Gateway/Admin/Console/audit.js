// The Audit log tab and the audit sentences shared with a key's page. Filters run on the server
// (GET /admin/audit?org=&action=&key=), so a filter finds entries however far back they are.

import { api, enc } from './api.js';
import { registerTab } from './registry.js';
import * as router from './router.js';
import { el, time, field, button, busy, toast, errorText } from './ui.js';

const VERBS = {
  'org.create': 'created the organization', 'key.create': 'created key', 'key.update': 'edited key',
  'key.rotate': 'rotated key', 'key.deactivate': 'deactivated key', 'key.activate': 'activated key',
  'key.revoke': 'revoked key', 'key.leaked': 'handled a leak report for key',
};

export const ACTIONS = [['', 'All'], ['key.create', 'Created'], ['key.update', 'Edited'], ['key.rotate', 'Rotated'],
  ['key.deactivate', 'Deactivated'], ['key.activate', 'Activated'], ['key.revoke', 'Revoked'], ['key.leaked', 'Reported leaked'],
  ['org.create', 'Organization created']];

const PAGE = 50;

function value(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
  if (typeof v === 'object' && 'permitLimit' in v) return v.permitLimit + ' per ' + v.window;
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return new Date(v).toLocaleString();
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** "alice rotated key ci_pipeline (key_…)" with one line per change: "scopes: read → read, write". */
export function auditItem(entry, names) {
  const item = el('li');
  const head = el('p');
  head.append(time(entry.at), ' ', el('strong', entry.actor), ' ' + (VERBS[entry.action] || entry.action));
  if (entry.keyId) {
    const name = names && names.get(entry.keyId);
    head.append(' ', el('span', name ? name + ' (' + entry.keyId + ')' : entry.keyId, 'mono'));
  }
  if (entry.callerAddress) head.append(el('span', ' from ' + entry.callerAddress, 'muted'));
  item.append(head);
  const changes = entry.changes || {};
  const fields = Object.keys(changes);
  if (fields.length) {
    const list = el('ul', null, 'changes');
    const created = entry.action === 'key.create' || entry.action === 'org.create';
    for (const name of fields) {
      const change = changes[name];
      const diff = change !== null && typeof change === 'object' && 'after' in change;
      list.append(el('li', created || !diff ? name + ': ' + value(diff ? change.after : change) : name + ': ' + value(change.before) + ' → ' + value(change.after)));
    }
    item.append(list);
  }
  return item;
}

/**
 * Pages through the audit log with the filters applied by the server. The server reads a bounded number
 * of entries per call, so a page may come back short with a cursor: keep reading until the page is
 * full or the log ends. Returns {more(), next()}; `onEntries` gets each batch.
 */
export async function loadAudit(filter, onEntries) {
  let cursor = null;
  let done = false;
  const next = async () => {
    let got = 0;
    for (let round = 0; round < 20 && !done && got < PAGE; round++) {
      let path = '/admin/audit?org=' + enc(filter.org) + '&limit=' + (PAGE - got);
      if (filter.action) path += '&action=' + enc(filter.action);
      if (filter.key) path += '&key=' + enc(filter.key);
      if (cursor) path += '&cursor=' + enc(cursor);
      const page = await api('GET', path);
      onEntries(page.items);
      got += page.items.length;
      cursor = page.nextCursor;
      done = !cursor;
    }
  };
  await next();
  return { more: () => !done, next };
}

registerTab({
  id: 'audit', label: 'Audit log', order: 30, visible: () => true,
  async render(panel, ctx) {
    const q = ctx.route.query;
    const keys = (await api('GET', '/admin/orgs/' + enc(ctx.org.id) + '/keys')).items;
    const names = new Map(keys.map((k) => [k.id, k.name]));
    const filter = { org: ctx.org.id, action: q.get('action') || '', key: q.get('key') || '' };
    const action = field({ name: 'action', label: 'Action', type: 'select', options: ACTIONS, value: filter.action });
    const keyOptions = [['', 'All'], ...keys.map((k) => [k.id, k.name + (k.status === 'revoked' ? ' (revoked)' : '')])];
    if (filter.key && !names.has(filter.key)) keyOptions.push([filter.key, filter.key]);
    const key = field({ name: 'key', label: 'Key', type: 'select', options: keyOptions, value: filter.key });
    action.querySelector('select').id = 'audit-action';
    action.querySelector('label').htmlFor = 'audit-action';
    key.querySelector('select').id = 'audit-key';
    key.querySelector('label').htmlFor = 'audit-key';
    const apply = (e) => router.go(router.href(ctx.route.parts, { action: action.querySelector('select').value, key: key.querySelector('select').value }), '#' + e.target.id);
    action.querySelector('select').onchange = apply;
    key.querySelector('select').onchange = apply;
    const toolbar = el('div', null, 'toolbar');
    toolbar.append(action, key);
    const list = el('ol', null, 'audit', { id: 'audit' });
    const empty = el('p', 'No audit entries match.', 'empty', { id: 'audit-empty', hidden: '' });
    const more = button('Older entries', null, '', { id: 'audit-more', hidden: '' });
    const pager = await loadAudit(filter, (entries) => list.append(...entries.map((e) => auditItem(e, names))));
    const settle = () => { more.hidden = !pager.more(); empty.hidden = list.children.length > 0; };
    settle();
    more.onclick = () => busy(more, async () => { try { await pager.next(); } catch (err) { toast(errorText(err), 'error'); } settle(); });
    panel.append(toolbar, list, empty, more);
  },
});
