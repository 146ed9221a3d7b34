// The API keys tab (the list), a key's own page, and the create, edit and rotate dialogs.

import { api, enc, can, session } from './api.js';
import { registerTab } from './registry.js';
import * as router from './router.js';
import {
  el, button, link, time, table, field, checkboxes, formDialog, fieldError, confirmAction, reveal,
  actionMenu, toast, errorText, busy,
} from './ui.js';
import { chart, stats } from './chart.js';
import { rangePicker } from './overview.js';
import { auditItem, loadAudit } from './audit.js';
import { logView } from './logs.js';

const STATUSES = ['active', 'inactive', 'expired', 'revoked'];
const ENVIRONMENTS = ['production', 'staging', 'development'];
const WINDOWS = [['', 'none'], ['00:00:01', 'second'], ['00:01:00', 'minute'], ['01:00:00', 'hour'], ['1.00:00:00', 'day']];

export function limitText(limit) {
  if (!limit) return '—';
  const known = WINDOWS.find(([v]) => v === limit.window);
  return limit.permitLimit.toLocaleString() + ' / ' + (known ? known[1] : limit.window);
}

/** The text of the "Download as .txt" file: the key on the first line, then how to use and keep it. */
export function keyFile(plaintext, key) {
  return plaintext + '\n\n'
    + 'API key "' + (key.name || 'key') + '" of organization "' + (key.orgId || 'org') + '"'
    + (key.environment ? ' for ' + key.environment : '') + (key.prefix ? ', prefix ' + key.prefix : '') + '.\n'
    + 'Send it on every request as the header:  Authorization: Bearer <key>\n'
    + 'It belongs in your secret manager or CI secret store, never in source control or chat.\n'
    + 'Delete this file once the key is stored. It cannot be shown again; if it is lost, rotate the key.\n';
}

function revealKey(issued, title) {
  return reveal({
    title: title || 'Copy your API key now', note: 'It will not be shown again. Store it in your secret manager.',
    secret: issued.key, filename: issued.orgId + '-' + issued.name + '-api-key.txt', fileText: keyFile(issued.key, issued),
  });
}

// ----- the list -----

registerTab({
  id: 'keys', label: 'API keys', order: 20, visible: () => true,
  actions: (ctx) => (can('admin') ? [button('Create API key', (e) => createKey(ctx, e.currentTarget), 'primary', { id: 'new-key' })] : []),
  render: renderList,
  detail: renderKeyPage,
});

async function renderList(panel, ctx) {
  const keys = (await api('GET', '/admin/orgs/' + enc(ctx.org.id) + '/keys')).items;
  const q = ctx.route.query;
  const filters = { q: q.get('q') || '', status: q.get('status') || '', env: q.get('env') || '' };
  const toolbar = el('div', null, 'toolbar');
  const search = field({ name: 'q', label: 'Search', type: 'search', value: filters.q, attrs: { placeholder: 'Name, prefix, description, customer', id: 'key-search' } });
  search.classList.add('grow');
  const status = field({ name: 'status', label: 'Status', type: 'select', options: [['', 'All'], ...STATUSES.map((s) => [s, s])], value: filters.status });
  const env = field({ name: 'env', label: 'Environment', type: 'select', options: [['', 'All'], ...ENVIRONMENTS.map((s) => [s, s])], value: filters.env });
  toolbar.append(search, status, env);
  const holder = el('div', null, 'table-wrap');
  const empty = el('p', null, 'empty', { id: 'keys-empty' });
  const draw = () => {
    filters.q = search.querySelector('input').value.trim();
    filters.status = status.querySelector('select').value;
    filters.env = env.querySelector('select').value;
    // Filters are part of the address, so reload and Back keep them, without a history entry per letter.
    router.replace(router.href(ctx.route.parts, { q: filters.q, status: filters.status, env: filters.env }));
    const needle = filters.q.toLowerCase();
    const shown = keys.filter((k) => (!filters.status || k.status === filters.status) && (!filters.env || k.environment === filters.env)
      && (!needle || [k.name, k.prefix, k.description, k.customerId, k.createdBy, k.id].some((v) => v && v.toLowerCase().includes(needle))));
    holder.replaceChildren(keyTable(shown, ctx));
    empty.textContent = keys.length === 0 ? 'No keys yet.' + (can('admin') ? ' Create one with "Create API key".' : '') : 'No keys match the search and filters.';
    empty.hidden = shown.length > 0;
  };
  search.querySelector('input').id = 'key-search';
  search.querySelector('label').htmlFor = 'key-search';
  search.querySelector('input').oninput = draw;
  status.querySelector('select').id = 'filter-status';
  status.querySelector('label').htmlFor = 'filter-status';
  status.querySelector('select').onchange = draw;
  env.querySelector('select').id = 'filter-env';
  env.querySelector('label').htmlFor = 'filter-env';
  env.querySelector('select').onchange = draw;
  panel.append(toolbar, holder, empty);
  draw();
}

function nameCell(key, ctx) {
  const cell = el('div', null, 'name-cell');
  const top = el('div');
  top.append(link(key.name, router.href(['orgs', ctx.org.id, 'keys', key.id]), 'key-link'));
  if (key.isDefault) top.append(el('span', 'default', 'tag'));
  cell.append(top, el('div', key.prefix + '…', 'mono muted small'));
  if (key.description) cell.append(el('div', key.description, 'muted small clamp', { title: key.description }));
  return cell;
}

function statusBadge(status) {
  return el('span', status, 'status status-' + status);
}

function created(key) {
  const span = el('span');
  span.append(time(key.createdAt, true));
  if (key.createdBy) span.append(el('span', ' by ' + key.createdBy, 'muted small by'));
  return span;
}

// Columns by priority: what an operator scans for at 1280×800 stays (name, status, environment, scopes,
// last used, created, the action menu); customer, limit and expiry show on wide screens and on the key page.
function keyTable(keys, ctx) {
  return table('keys', [
    { title: 'Name', className: 'name', cell: (k) => nameCell(k, ctx) },
    { title: 'Status', cell: (k) => statusBadge(k.status) },
    { title: 'Environment', priority: 2, cell: (k) => k.environment },
    { title: 'Scopes', priority: 2, className: 'wrap', cell: (k) => k.scopes.join(' ') },
    { title: 'Customer', priority: 3, className: 'wrap', cell: (k) => k.customerId || '—' },
    { title: 'Limit', priority: 3, cell: (k) => limitText(k.rateLimit) },
    { title: 'Expires', priority: 3, cell: (k) => time(k.expiresAt) },
    { title: 'Created', priority: 2, cell: created },
    { title: 'Last used', cell: (k) => time(k.lastUsedAt) },
    { title: 'Actions', className: 'actions', cell: (k) => rowMenu(k, ctx) },
  ], keys, (k) => k.id);
}

function rowMenu(key, ctx) {
  const items = actionItems(key, ctx, () => ctx.reload({ focus: () => document.querySelector('#keys tr[data-key="' + key.id + '"] .menu-button') || document.getElementById('new-key') }));
  if (items.length === 0) return el('span', '', 'muted');
  return actionMenu('Actions for ' + key.name, items);
}

/**
 * What may be done to a key, as {label, run, danger}. `after` runs after every answer, success or
 * refusal, so the row shows the key as it is now (it may have been changed elsewhere meanwhile).
 */
function actionItems(key, ctx, after) {
  if (!can('admin') || key.status === 'revoked') return [];
  const act = (work, done) => async (opener) => {
    let message = null;
    try { await work(opener); if (done) message = done; } catch (err) { toast(errorText(err), 'error'); }
    await after();
    if (message) toast(message);
  };
  const post = (verb) => () => api('POST', '/admin/keys/' + enc(key.id) + '/' + verb);
  const items = [
    { label: 'Edit', action: 'edit', run: act((opener) => editKey(key, opener)) },
    { label: 'Rotate', action: 'rotate', run: act((opener) => rotateKey(key, opener)) },
  ];
  if (!key.isDefault) {
    items.push(key.status === 'inactive'
      ? { label: 'Activate', action: 'activate', run: act(post('activate'), 'Key ' + key.name + ' activated.') }
      : { label: 'Deactivate', action: 'deactivate', run: act(post('deactivate'), 'Key ' + key.name + ' deactivated.') });
    items.push({
      label: 'Revoke', action: 'revoke', danger: true, run: act(async () => {
        if (!await confirmAction('Revoke "' + key.name + '"? Any application using it immediately loses access. This cannot be undone.', 'Revoke key')) return;
        await post('revoke')();
      }, null),
    });
  }
  return items;
}

// ----- the create and edit form (one form, so both have the same fields) -----

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
}

function keyFields(key) {
  const scopes = ['*', ...session.settings.scopes];
  const windows = WINDOWS.slice();
  if (key && key.rateLimit && !windows.some(([v]) => v === key.rateLimit.window)) windows.push([key.rateLimit.window, key.rateLimit.window]);
  const limit = el('fieldset', null, 'group');
  limit.append(el('legend', 'Per-key rate limit'));
  const row = el('div', null, 'inline');
  row.append(
    field({ name: 'permitLimit', label: 'Requests', type: 'number', attrs: { min: 1, max: 1000000, inputmode: 'numeric' }, value: key && key.rateLimit ? key.rateLimit.permitLimit : '' }),
    field({ name: 'window', label: 'per', type: 'select', options: windows, value: key && key.rateLimit ? key.rateLimit.window : '' }));
  limit.append(row, el('p', 'Leave both empty for no per-key limit.', 'hint'));
  const fields = [
    field({ name: 'name', label: 'Name', value: key ? key.name : '', attrs: { required: '', pattern: '[A-Za-z0-9_]{1,64}', maxlength: 64, autocomplete: 'off' }, hint: 'Letters, digits and underscores, e.g. ci_pipeline.', plain: 'Use 1 to 64 letters, digits or underscores.' }),
  ];
  if (!key) fields.push(field({ name: 'environment', label: 'Environment', type: 'select', options: ENVIRONMENTS.map((e) => [e, e]), value: session.settings.environment }));
  fields.push(
    checkboxes('scopes', 'Scopes', scopes.map((s) => [s, s === '*' ? 'Full access (*)' : s]), key ? key.scopes : ['*']),
    field({ name: 'description', label: 'Description', type: 'textarea', value: key ? key.description || '' : '', attrs: { maxlength: 1000 } }),
    field({ name: 'expiresAt', label: 'Expires at', type: 'datetime-local', value: key ? toLocalInput(key.expiresAt) : '', attrs: { min: toLocalInput(new Date().toISOString()) }, hint: 'Empty: never. Must be in the future.' }),
    field({ name: 'customerId', label: 'Customer id', value: key ? key.customerId || '' : '', attrs: { pattern: '[A-Za-z0-9_.:@\\-]{1,128}', maxlength: 128 }, hint: 'Your id for the customer this key belongs to.', plain: 'Use up to 128 letters, digits and _ . : @ -.' }),
    field({ name: 'allowedCidrs', label: 'Allowed networks', value: key && key.allowedCidrs ? key.allowedCidrs.join(' ') : '', attrs: { placeholder: 'any address', autocomplete: 'off' }, hint: 'CIDRs separated by spaces or commas, e.g. 203.0.113.0/24 2001:db8::/32. Empty: any address.' }),
    limit);
  if (!key) fields.push(field({ name: 'credits', label: 'Credits', type: 'number', attrs: { min: 0, max: 1000000000000, inputmode: 'numeric' }, hint: 'Prepaid requests; each admitted request costs its route\'s cost. Empty: no credits.' }));
  return fields;
}

/** Reads the form into a key body; checks what the browser cannot (the two halves of the limit, past expiry). */
function readKeyForm(form) {
  const f = form.elements;
  let ok = true;
  const value = {
    name: f.name.value,
    scopes: [...form.querySelectorAll('input[name=scopes]:checked')].map((b) => b.value),
    description: f.description.value || null,
    customerId: f.customerId.value || null,
    allowedCidrs: f.allowedCidrs.value.split(/[\s,]+/).filter((x) => x.length > 0),
    expiresAt: f.expiresAt.value ? new Date(f.expiresAt.value).toISOString() : null,
    rateLimit: null,
  };
  if (f.environment) value.environment = f.environment.value;
  if (value.scopes.length === 0) { fieldError(form, 'scopes', 'Pick at least one scope.'); ok = false; }
  if (value.expiresAt && new Date(value.expiresAt) <= new Date()) { fieldError(form, 'expiresAt', 'Pick a time in the future, or leave it empty for a key that does not expire.'); ok = false; }
  const requests = f.permitLimit.value;
  const window = f.window.value;
  if (requests && !window) { fieldError(form, 'window', 'Choose the window the requests are counted over.'); ok = false; }
  if (!requests && window) { fieldError(form, 'permitLimit', 'Enter how many requests the window allows, or set the window to none.'); ok = false; }
  if (requests && window) value.rateLimit = { permitLimit: Number(requests), window };
  return ok ? value : null;
}

const KEY_ALIASES = { 'credits.remaining': 'credits', 'rateLimit.permitLimit': 'permitLimit', 'rateLimit.window': 'window', rateLimit: 'permitLimit' };

function createKey(ctx, opener) {
  return formDialog({
    id: 'key-form', title: 'Create API key', fields: keyFields(null), submitLabel: 'Create key', returnTo: opener,
    async submit(form, state) {
      const value = readKeyForm(form);
      if (!value) return false;
      const body = { name: value.name, environment: value.environment, scopes: value.scopes };
      for (const name of ['description', 'customerId', 'expiresAt', 'rateLimit']) if (value[name]) body[name] = value[name];
      if (value.allowedCidrs.length) body.allowedCidrs = value.allowedCidrs;
      if (form.elements.credits && form.elements.credits.value !== '') body.credits = { remaining: Number(form.elements.credits.value) };
      // With the bootstrap token the server cannot tell who typed it; say so. Operator and SSO sessions are named by the server.
      if (session.me.via === 'bootstrap') body.createdBy = session.me.name;
      state.result = await api('POST', '/admin/orgs/' + enc(ctx.org.id) + '/keys', body).catch((err) => { throw aliased(err); });
      return true;
    },
  }).then(async (issued) => {
    if (!issued) return;
    await revealKey(issued);
    router.go(router.href(['orgs', ctx.org.id, 'keys']));
    if (router.current().hash === location.hash) await ctx.reload({ focus: () => document.querySelector('#keys tr[data-key="' + issued.id + '"] .key-link') });
  });
}

// Maps API field paths onto this form's fields before showErrors sees them.
function aliased(err) {
  if (err && err.problem && err.problem.errors) {
    const errors = {};
    for (const [path, messages] of Object.entries(err.problem.errors)) {
      const bare = path.replace(/\[\d+\]/g, '');
      const target = KEY_ALIASES[bare] ? path.replace(/^rateLimit(\.\w+)?/, KEY_ALIASES[bare]) : path;
      errors[target] = (errors[target] || []).concat(messages);
    }
    err.problem.errors = errors;
  }
  return err;
}

// Sends only what changed, so the audit entry lists exactly the edits.
function editKey(key, opener) {
  return formDialog({
    id: 'edit-form', title: 'Edit ' + key.name, fields: keyFields(key), submitLabel: 'Save changes', returnTo: opener,
    async submit(form) {
      const value = readKeyForm(form);
      if (!value) return false;
      const patch = {};
      if (value.name !== key.name) patch.name = value.name;
      if (value.description !== (key.description || null)) patch.description = value.description;
      if (value.customerId !== (key.customerId || null)) patch.customerId = value.customerId;
      if (value.scopes.join(' ') !== key.scopes.join(' ')) patch.scopes = value.scopes;
      if ((value.expiresAt ? toLocalInput(value.expiresAt) : '') !== toLocalInput(key.expiresAt)) patch.expiresAt = value.expiresAt;
      if (value.allowedCidrs.join(' ') !== (key.allowedCidrs || []).join(' ')) patch.allowedCidrs = value.allowedCidrs;
      if (JSON.stringify(value.rateLimit) !== JSON.stringify(key.rateLimit ? { permitLimit: key.rateLimit.permitLimit, window: key.rateLimit.window } : null)) patch.rateLimit = value.rateLimit;
      if (Object.keys(patch).length) {
        await api('PATCH', '/admin/keys/' + enc(key.id), patch).catch((err) => { throw aliased(err); });
        toast('Changes to ' + key.name + ' saved.');
      }
      return true;
    },
  });
}

/**
 * Rotation of an expired key would hand out a key that is refused at once, so it is refused here with the
 * way out; a deactivated key may be rotated (before re-activating it) with a warning.
 */
function rotateKey(key, opener) {
  const intro = ['A new key is issued for "' + key.name + '" with the same id, name and settings.'];
  const expired = key.status === 'expired';
  if (expired) intro.push(el('p', 'This key expired ' + new Date(key.expiresAt).toLocaleString() + '. A rotated key would be refused as well: edit the key to move or clear its expiry first, then rotate.', 'warning', { role: 'alert' }));
  if (key.status === 'inactive') intro.push(el('p', 'This key is deactivated. The new key is refused too until you activate the key.', 'warning', { role: 'alert' }));
  const grace = field({
    name: 'gracePeriod', label: 'The current key keeps working', type: 'select',
    options: [['', 'not at all: stop it now'], ['00:05:00', 'for 5 minutes'], ['01:00:00', 'for 1 hour'], ['1.00:00:00', 'for 24 hours']],
  });
  grace.querySelector('select').id = 'rotate-grace';
  const done = formDialog({
    id: 'rotate', title: 'Rotate ' + key.name, intro, fields: expired ? [] : [grace], submitLabel: 'Rotate key', returnTo: opener,
    async submit(form, state) {
      if (expired) return false;
      const value = form.elements.gracePeriod.value;
      state.result = await api('POST', '/admin/keys/' + enc(key.id) + '/rotate', value ? { gracePeriod: value } : {});
      return true;
    },
  });
  if (expired) {
    const submit = document.getElementById('rotate-submit');
    submit.disabled = true;
    submit.dataset.keepDisabled = '1';
  }
  return done.then((issued) => (issued ? revealKey(issued, 'Copy the new API key now') : undefined));
}

// ----- a key's page: #/orgs/{org}/keys/{id} -----

async function renderKeyPage(container, ctx, rest) {
  const id = rest[0];
  const key = await api('GET', '/admin/keys/' + enc(id));
  if (key.orgId !== ctx.org.id) { const e = new Error('not found'); e.status = 404; throw e; }
  const { picker, range } = rangePicker(ctx);
  const report = await api('GET', '/admin/keys/' + enc(id) + '/usage?granularity=' + range);
  const back = link('← All keys', router.href(['orgs', ctx.org.id, 'keys']), 'back');
  const head = el('div', null, 'section-head');
  const title = el('h2', null, null, { id: 'key-title' });
  title.append(el('span', key.name, 'key-name'), ' ', statusBadge(key.status));
  if (key.isDefault) title.append(' ', el('span', 'default', 'tag'));
  const actions = el('div', null, 'actions', { id: 'key-actions' });
  let last = null;
  // After an action the page is drawn again; focus goes back to the same action (or the first one left).
  const after = () => ctx.reload({ focus: () => document.querySelector('#key-actions [data-action="' + last + '"]') || document.querySelector('#key-actions button') || document.querySelector('.crumbs a') });
  for (const item of actionItems(key, ctx, after)) {
    const b = button(item.label, (e) => { last = item.action; item.run(e.currentTarget); }, item.danger ? 'danger' : '', { 'data-action': item.action });
    actions.append(b);
  }
  if (can('admin') && key.status !== 'revoked') {
    // Labelled without the word "credits": it contains "edit", and Edit must stay the only button named so.
    actions.append(button('Adjust balance', (e) => { last = 'credits'; creditsDialog(key, e.currentTarget).then(after); }, '', { 'data-action': 'credits', id: 'key-credits', title: 'Set, add or subtract credits' }));
  }
  head.append(title, actions);
  const toolbar = el('div', null, 'toolbar');
  toolbar.append(picker);
  const statBox = el('div', null, 'stats', { id: 'key-stats' });
  stats(statBox, report.totals);
  const figure = el('figure', null, 'chart', { id: 'key-chart' });
  const settings = el('dl', null, 'settings', { id: 'key-settings' });
  const rows = [
    ['Id', key.id], ['Prefix', key.prefix + '…'], ['Environment', key.environment], ['Scopes', key.scopes.join(' ')],
    ['Description', key.description || '—'], ['Customer', key.customerId || '—'], ['Per-key limit', limitText(key.rateLimit)],
    ['Allowed networks', key.allowedCidrs && key.allowedCidrs.length ? key.allowedCidrs.join(', ') : 'any address'],
    ['Created', time(key.createdAt)], ['Created by', key.createdBy || '—'], ['Expires', time(key.expiresAt)],
    ['Last used', time(key.lastUsedAt)], ['Credits', creditsText(key.credits)],
  ];
  if (key.previousKeyExpiresAt) rows.push(['Previous key works until', time(key.previousKeyExpiresAt)]);
  if (key.revokedAt) rows.push(['Revoked', time(key.revokedAt)]);
  for (const [label, value] of rows) {
    const dd = el('dd');
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    settings.append(el('dt', label), dd);
  }
  const trail = el('ol', null, 'audit', { id: 'key-audit' });
  const trailEmpty = el('p', 'No changes recorded.', 'empty', { id: 'key-audit-empty', hidden: '' });
  const more = button('Older entries', null, '', { id: 'key-audit-more', hidden: '' });
  const names = new Map([[key.id, key.name]]);
  // The server filters by key, so the trail is complete however busy the organization is.
  const pager = await loadAudit({ org: ctx.org.id, key: key.id }, (entries) => trail.append(...entries.map((e) => auditItem(e, names))));
  const settle = () => { more.hidden = !pager.more(); trailEmpty.hidden = trail.children.length > 0; };
  settle();
  more.onclick = () => busy(more, async () => { try { await pager.next(); } catch (err) { toast(errorText(err), 'error'); } settle(); });
  const columns = el('div', null, 'columns');
  const left = el('div');
  left.append(el('h3', 'Settings'), settings);
  const right = el('div');
  right.append(el('h3', 'Audit trail'), trail, trailEmpty, more);
  columns.append(left, right);
  const crumbs = el('p', null, 'crumbs');
  crumbs.append(back);
  container.append(crumbs, head, toolbar, statBox, figure, columns);
  // Its requests, filtered by the server to this key.
  const requests = el('section', null, 'key-requests', { id: 'key-requests' });
  requests.append(el('h3', 'Requests'));
  await logView(requests, { base: '/admin/orgs/' + enc(ctx.org.id) + '/requests', route: ctx.route, fixedKey: key.id, org: ctx.org.id, keys: names });
  container.append(requests);
  requestAnimationFrame(() => chart(figure, report));
}

// ----- credits -----

export function creditsText(credits) {
  if (!credits) return 'none';
  let text = credits.remaining.toLocaleString() + ' remaining';
  if (credits.refill) text += ', refilled to ' + credits.refill.amount.toLocaleString() + ' each ' + credits.refill.period;
  return text;
}

/** Set, add or subtract credits (POST /admin/keys/{id}/credits); add and subtract need the key to have credits. */
function creditsDialog(key, opener) {
  const ops = key.credits ? [['add', 'Add'], ['subtract', 'Subtract'], ['set', 'Set to']] : [['set', 'Set to']];
  return formDialog({
    id: 'credits-form', title: 'Credits of ' + key.name, returnTo: opener,
    intro: 'Now: ' + creditsText(key.credits) + '.',
    fields: [
      field({ name: 'op', label: 'Change', type: 'select', options: ops }),
      field({ name: 'amount', label: 'Amount', type: 'number', attrs: { required: '', min: 0, max: 1000000000000, inputmode: 'numeric' } }),
    ],
    submitLabel: 'Save credits',
    async submit(form) {
      const updated = await api('POST', '/admin/keys/' + enc(key.id) + '/credits', { op: form.elements.op.value, amount: Number(form.elements.amount.value) });
      toast('Credits of ' + key.name + ': ' + creditsText(updated.credits) + '.');
      return true;
    },
  });
}
