// The Customers tab of an organization: list, create, edit, delete, and a customer's page with its quota
// (used, remaining, reset) and usage chart. Plans are configured in the gateway's settings
// (Gateway:Plans) and /admin/settings does not list them, so the plan is typed; the server names an
// unknown plan next to the field.

import { api, enc, can } from './api.js';
import { registerTab } from './registry.js';
import * as router from './router.js';
import { el, button, link, time, table, field, formDialog, fieldError, confirmAction, actionMenu, toast, errorText } from './ui.js';
import { chart, stats } from './chart.js';
import { rangePicker } from './overview.js';
import { limitText } from './keys.js';

const WINDOWS = [['', 'none'], ['00:00:01', 'second'], ['00:01:00', 'minute'], ['01:00:00', 'hour'], ['1.00:00:00', 'day']];
const PERIODS = [['', 'none'], ['day', 'day'], ['month', 'month']];

function quotaText(quota) {
  return quota ? quota.limit.toLocaleString() + ' / ' + quota.period : '—';
}

function customerFields(customer) {
  const windows = WINDOWS.slice();
  if (customer && customer.rateLimit && !windows.some(([v]) => v === customer.rateLimit.window)) windows.push([customer.rateLimit.window, customer.rateLimit.window]);
  const limit = el('fieldset', null, 'group');
  limit.append(el('legend', 'Own rate limit'));
  const row = el('div', null, 'inline');
  row.append(
    field({ name: 'permitLimit', label: 'Requests', type: 'number', attrs: { min: 1, max: 1000000, inputmode: 'numeric' }, value: customer && customer.rateLimit ? customer.rateLimit.permitLimit : '' }),
    field({ name: 'window', label: 'per', type: 'select', options: windows, value: customer && customer.rateLimit ? customer.rateLimit.window : '' }));
  limit.append(row, el('p', 'Overrides the plan\'s. Leave both empty to use the plan\'s (or none).', 'hint'));
  const quota = el('fieldset', null, 'group');
  quota.append(el('legend', 'Own quota'));
  const qrow = el('div', null, 'inline');
  qrow.append(
    field({ name: 'quotaLimit', label: 'Requests', type: 'number', attrs: { min: 1, inputmode: 'numeric' }, value: customer && customer.quota ? customer.quota.limit : '' }),
    field({ name: 'period', label: 'per', type: 'select', options: PERIODS, value: customer && customer.quota ? customer.quota.period : '' }));
  quota.append(qrow, el('p', 'Per calendar day or month (UTC), shared by all the customer\'s keys.', 'hint'));
  const fields = [];
  if (!customer) fields.push(field({ name: 'id', label: 'Id', attrs: { required: '', pattern: '[A-Za-z0-9_.:@\\-]{1,128}', maxlength: 128, autocomplete: 'off' }, hint: 'Your id for the customer; keys name it in their customer id.', plain: 'Use up to 128 letters, digits and _ . : @ -.' }));
  fields.push(
    field({ name: 'name', label: 'Name', value: customer ? customer.name : '', attrs: { required: '', maxlength: 200 } }),
    field({ name: 'plan', label: 'Plan', value: customer ? customer.plan || '' : '', attrs: { maxlength: 64, autocomplete: 'off' }, hint: 'A plan configured in Gateway:Plans, e.g. free or pro. Empty: no plan.' }),
    limit, quota);
  return fields;
}

function readCustomer(form) {
  const f = form.elements;
  let ok = true;
  const value = { name: f.name.value.trim(), plan: f.plan.value.trim() || null, rateLimit: null, quota: null };
  if (f.id) value.id = f.id.value.trim();
  if (f.permitLimit.value && !f.window.value) { fieldError(form, 'window', 'Choose the window the requests are counted over.'); ok = false; }
  if (!f.permitLimit.value && f.window.value) { fieldError(form, 'permitLimit', 'Enter how many requests the window allows, or set the window to none.'); ok = false; }
  if (f.permitLimit.value && f.window.value) value.rateLimit = { permitLimit: Number(f.permitLimit.value), window: f.window.value };
  if (f.quotaLimit.value && !f.period.value) { fieldError(form, 'period', 'Choose day or month.'); ok = false; }
  if (!f.quotaLimit.value && f.period.value) { fieldError(form, 'quotaLimit', 'Enter how many requests the period allows, or set the period to none.'); ok = false; }
  if (f.quotaLimit.value && f.period.value) value.quota = { limit: Number(f.quotaLimit.value), period: f.period.value };
  return ok ? value : null;
}

// API paths onto this form's fields.
function aliased(err) {
  if (err && err.problem && err.problem.errors) {
    const map = { 'rateLimit.permitLimit': 'permitLimit', 'rateLimit.window': 'window', rateLimit: 'permitLimit', 'quota.limit': 'quotaLimit', 'quota.period': 'period', quota: 'quotaLimit' };
    const errors = {};
    for (const [path, messages] of Object.entries(err.problem.errors)) {
      const target = map[path] || path;
      errors[target] = (errors[target] || []).concat(messages);
    }
    err.problem.errors = errors;
  }
  return err;
}

function createCustomer(ctx, opener) {
  return formDialog({
    id: 'customer-form', title: 'Add customer', fields: customerFields(null), submitLabel: 'Add customer', returnTo: opener,
    async submit(form, state) {
      const value = readCustomer(form);
      if (!value) return false;
      const body = { id: value.id, name: value.name };
      for (const name of ['plan', 'rateLimit', 'quota']) if (value[name]) body[name] = value[name];
      state.result = await api('POST', '/admin/orgs/' + enc(ctx.org.id) + '/customers', body).catch((err) => { throw aliased(err); });
      return true;
    },
  }).then(async (created) => {
    if (!created) return;
    toast('Customer ' + created.name + ' added.');
    await ctx.reload({ focus: () => document.querySelector('#customers tr[data-key="' + created.id + '"] a') });
  });
}

function editCustomer(ctx, customer, opener) {
  return formDialog({
    id: 'customer-edit', title: 'Edit ' + customer.name, fields: customerFields(customer), submitLabel: 'Save changes', returnTo: opener,
    async submit(form) {
      const value = readCustomer(form);
      if (!value) return false;
      const patch = {};
      if (value.name !== customer.name) patch.name = value.name;
      if (value.plan !== (customer.plan || null)) patch.plan = value.plan;
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      if (!same(value.rateLimit, customer.rateLimit ? { permitLimit: customer.rateLimit.permitLimit, window: customer.rateLimit.window } : null)) patch.rateLimit = value.rateLimit;
      if (!same(value.quota, customer.quota ? { limit: customer.quota.limit, period: customer.quota.period } : null)) patch.quota = value.quota;
      if (Object.keys(patch).length) {
        await api('PATCH', '/admin/orgs/' + enc(ctx.org.id) + '/customers/' + enc(customer.id), patch).catch((err) => { throw aliased(err); });
        toast('Changes to ' + customer.name + ' saved.');
      }
      return true;
    },
  });
}

function customerItems(ctx, customer, after) {
  if (!can('admin')) return [];
  return [
    { label: 'Edit', action: 'edit', run: async (opener) => { try { await editCustomer(ctx, customer, opener); } catch (err) { toast(errorText(err), 'error'); } await after(); } },
    {
      label: 'Delete', action: 'delete', danger: true, run: async () => {
        if (!await confirmAction('Delete the customer "' + customer.name + '"? Its keys stop sharing its limits.', 'Delete customer')) return;
        try {
          await api('DELETE', '/admin/orgs/' + enc(ctx.org.id) + '/customers/' + enc(customer.id));
          toast('Customer ' + customer.name + ' deleted.');
          router.go(router.href(['orgs', ctx.org.id, 'customers']), '#new-customer');
        } catch (err) {
          // 409: an active key still names the customer; say what to do.
          toast(err.status === 409 ? 'Customer ' + customer.name + ' still has active keys. Revoke them or move them to another customer first.' : errorText(err), 'error');
          await after();
        }
      },
    },
  ];
}

registerTab({
  id: 'customers', label: 'Customers', order: 40, visible: () => true,
  actions: (ctx) => (can('admin') ? [button('Add customer', (e) => createCustomer(ctx, e.currentTarget), 'primary', { id: 'new-customer' })] : []),
  async render(panel, ctx) {
    const customers = (await api('GET', '/admin/orgs/' + enc(ctx.org.id) + '/customers')).items;
    if (customers.length === 0) {
      panel.append(el('p', 'No customers yet.' + (can('admin') ? ' Add one to give its keys a shared plan, limit and quota.' : ''), 'empty', { id: 'customers-empty' }));
      return;
    }
    const wrap = el('div', null, 'table-wrap');
    wrap.append(table('customers', [
      { title: 'Name', className: 'wrap', cell: (c) => { const d = el('div'); d.append(link(c.name, router.href(['orgs', ctx.org.id, 'customers', c.id])), el('div', c.id, 'mono muted small')); return d; } },
      { title: 'Plan', cell: (c) => c.plan || '—' },
      { title: 'Rate limit', cell: (c) => limitText(c.rateLimit) },
      { title: 'Quota', cell: (c) => quotaText(c.quota) },
      { title: 'Created', priority: 2, cell: (c) => time(c.createdAt, true) },
      {
        title: 'Actions', className: 'actions', cell: (c) => {
          const items = customerItems(ctx, c, () => ctx.reload({ focus: () => document.querySelector('#customers tr[data-key="' + c.id + '"] .menu-button') || document.getElementById('new-customer') }));
          return items.length ? actionMenu('Actions for ' + c.name, items) : el('span', '', 'muted');
        },
      },
    ], customers, (c) => c.id));
    panel.append(wrap);
  },
  detail: renderCustomerPage,
});

async function renderCustomerPage(container, ctx, rest) {
  const id = rest[0];
  const base = '/admin/orgs/' + enc(ctx.org.id) + '/customers/' + enc(id);
  const customer = await api('GET', base);
  const { picker, range } = rangePicker(ctx);
  const report = await api('GET', base + '/usage?granularity=' + range);
  const crumbs = el('p', null, 'crumbs');
  crumbs.append(link('← All customers', router.href(['orgs', ctx.org.id, 'customers']), 'back'));
  const head = el('div', null, 'section-head');
  head.append(el('h2', customer.name, null, { id: 'customer-title' }));
  const actions = el('div', null, 'actions', { id: 'customer-actions' });
  let last = null;
  const after = () => ctx.reload({ focus: () => document.querySelector('#customer-actions [data-action="' + last + '"]') || document.querySelector('.crumbs a') });
  for (const item of customerItems(ctx, customer, after)) {
    actions.append(button(item.label, (e) => { last = item.action; item.run(e.currentTarget); }, item.danger ? 'danger' : '', { 'data-action': item.action }));
  }
  head.append(actions);
  const quota = el('div', null, 'stats', { id: 'customer-quota' });
  if (report.quota) {
    const q = report.quota;
    for (const [label, value] of [['Quota used', q.used.toLocaleString() + ' of ' + q.limit.toLocaleString()], ['Remaining', q.remaining.toLocaleString()], ['Per', q.period]]) {
      const box = el('div', null, 'stat');
      box.append(el('span', label, 'stat-label'), el('strong', value));
      quota.append(box);
    }
    const reset = el('div', null, 'stat');
    reset.append(el('span', 'Resets', 'stat-label'), time(q.resetAt));
    quota.append(reset);
  } else {
    quota.append(el('p', 'No quota applies to this customer.', 'muted'));
  }
  const settings = el('dl', null, 'settings', { id: 'customer-settings' });
  for (const [label, value] of [['Id', customer.id], ['Plan', customer.plan || '—'], ['Own rate limit', limitText(customer.rateLimit)], ['Own quota', quotaText(customer.quota)], ['Created', time(customer.createdAt)], ['Updated', time(customer.updatedAt)]]) {
    const dd = el('dd');
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    settings.append(el('dt', label), dd);
  }
  const toolbar = el('div', null, 'toolbar');
  toolbar.append(picker);
  const statBox = el('div', null, 'stats', { id: 'customer-stats' });
  stats(statBox, report.totals);
  const figure = el('figure', null, 'chart', { id: 'customer-chart' });
  container.append(crumbs, head, el('h3', 'Quota'), quota, settings, el('h3', 'Usage'), toolbar, statBox, figure);
  requestAnimationFrame(() => chart(figure, report));
}
