// The Webhooks tab of an organization: list, create (the whsec_ signing secret is shown once, like a key),
// edit (URL, events, description, enabled), delete, and a webhook's page with its deliveries and Retry.

import { api, enc, can } from './api.js';
import { registerTab } from './registry.js';
import * as router from './router.js';
import { el, button, link, time, table, field, checkboxes, formDialog, fieldError, confirmAction, reveal, actionMenu, toast, errorText, busy } from './ui.js';

export const EVENTS = ['key.created', 'key.rotated', 'key.revoked', 'key.deactivated', 'key.leaked', 'key.expiring', 'quota.threshold', 'credits.exhausted'];

function secretFile(secret, hook) {
  return secret + '\n\n'
    + 'Signing secret of webhook ' + hook.id + ' (' + hook.url + ') of organization "' + hook.orgId + '".\n'
    + 'Verify each delivery\'s webhook-signature header with it (Standard Webhooks). Keep it in your secret manager.\n'
    + 'It cannot be shown again; to replace it, delete the webhook and create it again.\n';
}

function stateBadge(hook) {
  return hook.enabled ? el('span', 'enabled', 'status status-active') : el('span', 'disabled', 'status status-inactive', hook.disabledReason ? { title: hook.disabledReason } : {});
}

function hookFields(hook) {
  const fields = [
    field({ name: 'url', label: 'URL', type: 'url', value: hook ? hook.url : '', attrs: { required: '', maxlength: 2000, placeholder: 'https://example.com/hooks/gateway', autocomplete: 'off' }, hint: 'HTTPS address that receives the events.' }),
    checkboxes('events', 'Events', EVENTS.map((e) => [e, e]), hook ? hook.events : []),
    field({ name: 'description', label: 'Description', type: 'textarea', value: hook ? hook.description || '' : '', attrs: { maxlength: 1000 } }),
  ];
  if (hook) {
    const enabled = field({ name: 'enabled', label: 'Enabled', type: 'select', options: [['true', 'enabled'], ['false', 'disabled']], value: String(hook.enabled) });
    fields.push(enabled);
  }
  return fields;
}

function readHook(form) {
  const events = [...form.querySelectorAll('input[name=events]:checked')].map((b) => b.value);
  if (events.length === 0) { fieldError(form, 'events', 'Pick at least one event.'); return null; }
  return { url: form.elements.url.value.trim(), events, description: form.elements.description.value || null };
}

function createHook(ctx, opener) {
  return formDialog({
    id: 'webhook-form', title: 'Add webhook', fields: hookFields(null), submitLabel: 'Add webhook', returnTo: opener,
    async submit(form, state) {
      const value = readHook(form);
      if (!value) return false;
      const body = { url: value.url, events: value.events };
      if (value.description) body.description = value.description;
      state.result = await api('POST', '/admin/orgs/' + enc(ctx.org.id) + '/webhooks', body);
      return true;
    },
  }).then(async (created) => {
    if (!created) return;
    await reveal({
      title: 'Copy the signing secret now', note: 'It will not be shown again. Your receiver needs it to check signatures.',
      secret: created.secret, filename: ctx.org.id + '-webhook-secret.txt', fileText: secretFile(created.secret, created),
    });
    await ctx.reload({ focus: () => document.querySelector('#webhooks tr[data-key="' + created.id + '"] a') });
  });
}

function editHook(hook, opener) {
  return formDialog({
    id: 'webhook-edit', title: 'Edit webhook', fields: hookFields(hook), submitLabel: 'Save changes', returnTo: opener,
    async submit(form) {
      const value = readHook(form);
      if (!value) return false;
      const patch = {};
      if (value.url !== hook.url) patch.url = value.url;
      if (value.events.join(' ') !== hook.events.join(' ')) patch.events = value.events;
      if (value.description !== (hook.description || null)) patch.description = value.description;
      const enabled = form.elements.enabled.value === 'true';
      if (enabled !== hook.enabled) patch.enabled = enabled;
      if (Object.keys(patch).length) {
        await api('PATCH', '/admin/webhooks/' + enc(hook.id), patch);
        toast('Webhook saved.');
      }
      return true;
    },
  });
}

function hookItems(hook, after, ctx) {
  if (!can('admin')) return [];
  const act = (work) => async (opener) => {
    try { await work(opener); } catch (err) { toast(errorText(err), 'error'); }
    await after();
  };
  return [
    { label: 'Edit', action: 'edit', run: act((opener) => editHook(hook, opener)) },
    {
      label: 'Delete', action: 'delete', danger: true, run: async (opener) => {
        if (!await confirmAction('Delete the webhook to ' + hook.url + '? Its pending deliveries are not sent.', 'Delete webhook')) return;
        try {
          await api('DELETE', '/admin/webhooks/' + enc(hook.id));
          toast('Webhook deleted.');
          router.go(router.href(['orgs', ctx.org.id, 'webhooks']), '#new-webhook');
        } catch (err) { toast(errorText(err), 'error'); await after(); }
      },
    },
  ];
}

registerTab({
  id: 'webhooks', label: 'Webhooks', order: 50, visible: () => true,
  actions: (ctx) => (can('admin') ? [button('Add webhook', (e) => createHook(ctx, e.currentTarget), 'primary', { id: 'new-webhook' })] : []),
  async render(panel, ctx) {
    const hooks = (await api('GET', '/admin/orgs/' + enc(ctx.org.id) + '/webhooks')).items;
    if (hooks.length === 0) {
      panel.append(el('p', 'No webhooks yet.' + (can('admin') ? ' Add one to be told when keys change, quotas fill up or credits run out.' : ''), 'empty', { id: 'webhooks-empty' }));
      return;
    }
    const wrap = el('div', null, 'table-wrap');
    wrap.append(table('webhooks', [
      { title: 'URL', className: 'wrap', cell: (h) => { const d = el('div'); d.append(link(h.url, router.href(['orgs', ctx.org.id, 'webhooks', h.id]))); if (h.description) d.append(el('div', h.description, 'muted small clamp')); return d; } },
      { title: 'Events', className: 'wrap', cell: (h) => h.events.join(' ') },
      { title: 'State', cell: stateBadge },
      { title: 'Failing since', priority: 2, cell: (h) => time(h.failingSince) },
      { title: 'Created', priority: 2, cell: (h) => time(h.createdAt, true) },
      {
        title: 'Actions', className: 'actions', cell: (h) => {
          const items = hookItems(h, () => ctx.reload({ focus: () => document.querySelector('#webhooks tr[data-key="' + h.id + '"] .menu-button') || document.getElementById('new-webhook') }), ctx);
          return items.length ? actionMenu('Actions for ' + h.url, items) : el('span', '', 'muted');
        },
      },
    ], hooks, (h) => h.id));
    panel.append(wrap);
  },
  detail: renderHookPage,
});

// ----- a webhook's page: #/orgs/{org}/webhooks/{id} -----

async function renderHookPage(container, ctx, rest) {
  const id = rest[0];
  const hook = await api('GET', '/admin/webhooks/' + enc(id));
  if (hook.orgId !== ctx.org.id) { const e = new Error('not found'); e.status = 404; throw e; }
  const deliveries = (await api('GET', '/admin/webhooks/' + enc(id) + '/deliveries?limit=50')).items;
  const crumbs = el('p', null, 'crumbs');
  crumbs.append(link('← All webhooks', router.href(['orgs', ctx.org.id, 'webhooks']), 'back'));
  const head = el('div', null, 'section-head');
  const title = el('h2', null, null, { id: 'webhook-title' });
  title.append(el('span', hook.url, 'key-name'), ' ', stateBadge(hook));
  const actions = el('div', null, 'actions', { id: 'webhook-actions' });
  let last = null;
  const after = () => ctx.reload({ focus: () => document.querySelector('#webhook-actions [data-action="' + last + '"]') || document.querySelector('.crumbs a') });
  for (const item of hookItems(hook, after, ctx)) {
    actions.append(button(item.label, (e) => { last = item.action; item.run(e.currentTarget); }, item.danger ? 'danger' : '', { 'data-action': item.action }));
  }
  head.append(title, actions);
  const settings = el('dl', null, 'settings', { id: 'webhook-settings' });
  const rows = [['Id', hook.id], ['Events', hook.events.join(' ')], ['Description', hook.description || '—'], ['Created', time(hook.createdAt)],
    ['Updated', time(hook.updatedAt)], ['Failing since', time(hook.failingSince)]];
  if (hook.disabledReason) rows.push(['Disabled because', hook.disabledReason]);
  for (const [label, value] of rows) {
    const dd = el('dd');
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    settings.append(el('dt', label), dd);
  }
  container.append(crumbs, head, settings, el('h3', 'Deliveries'));
  if (deliveries.length === 0) {
    container.append(el('p', 'No deliveries yet: they appear when a subscribed event happens.', 'empty', { id: 'deliveries-empty' }));
    return;
  }
  const retry = (d) => button('Retry', (e) => busy(e.currentTarget, async () => {
    try { await api('POST', '/admin/webhooks/' + enc(hook.id) + '/deliveries/' + enc(d.id) + '/retry'); toast('Delivery ' + d.id + ' will be sent again now.'); } catch (err) { toast(err.status === 409 ? 'The webhook is disabled: enable it first, then retry.' : errorText(err), 'error'); }
    await ctx.reload({ focus: () => document.querySelector('#deliveries tr[data-key="' + d.id + '"] button') });
  }), 'small-button', { 'aria-label': 'Retry ' + d.id });
  const wrap = el('div', null, 'table-wrap');
  wrap.append(table('deliveries', [
    { title: 'Event', cell: (d) => d.type },
    { title: 'Status', cell: (d) => el('span', d.status, 'status status-' + (d.status === 'delivered' ? 'active' : d.status === 'failed' ? 'revoked' : 'inactive')) },
    { title: 'Attempts', className: 'num', cell: (d) => String(d.attempts) },
    { title: 'Response', cell: (d) => (d.responseStatus ? String(d.responseStatus) : '—') },
    { title: 'Last error', priority: 2, className: 'wrap', cell: (d) => d.lastError || '—' },
    { title: 'Created', cell: (d) => time(d.createdAt) },
    { title: 'Last attempt', priority: 2, cell: (d) => time(d.lastAttemptAt) },
    { title: 'Next attempt', priority: 3, cell: (d) => time(d.nextAttemptAt) },
    { title: 'Id', priority: 3, className: 'mono', cell: (d) => d.id },
    { title: 'Actions', className: 'actions', cell: (d) => (can('admin') && d.status !== 'delivered' ? retry(d) : el('span', '', 'muted')) },
  ], deliveries, (d) => d.id));
  container.append(wrap);
}
