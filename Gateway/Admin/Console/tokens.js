// The Operator tokens screen (#/tokens), for owners: list, create (shown once) and revoke the gwa_ tokens
// people and systems use to call the admin API and sign in here. An organization's owner sees and makes
// only its organization's tokens; the server enforces the same.

import { api, enc, can, session } from './api.js';
import { registerScreen } from './registry.js';
import { el, button, time, table, field, formDialog, confirmAction, reveal, toast, errorText } from './ui.js';

const ROLES = [['viewer', 'viewer: reads keys, usage and audit'], ['admin', 'admin: also creates and changes keys'],
  ['owner', 'owner: also manages operator tokens'], ['verifier', 'verifier: only checks keys (no console)']];

registerScreen({
  id: 'tokens', label: 'Operator tokens', inNav: true, visible: () => can('owner'),
  async render(container, ctx) {
    const tokens = (await api('GET', '/admin/tokens')).items;
    const head = el('div', null, 'section-head');
    head.append(el('h2', 'Operator tokens'));
    const create = button('Create token', (e) => createToken(ctx, e.currentTarget), 'primary', { id: 'new-token' });
    head.append(create);
    container.append(head, el('p', 'Named tokens with a role' + (session.me.org ? ' in ' + session.me.org : ', for one organization or all')
      + '. Each person or system gets its own, so the audit log names who did what, and one can be revoked without the others.', 'muted'));
    if (tokens.length === 0) {
      container.append(el('p', 'No operator tokens yet.', 'empty'));
      return;
    }
    const wrap = el('div', null, 'table-wrap');
    wrap.append(table('tokens', [
      { title: 'Name', className: 'wrap', cell: (t) => { const d = el('div'); d.append(el('strong', t.name), el('div', t.prefix + '…', 'mono muted small')); return d; } },
      { title: 'Role', cell: (t) => t.role },
      { title: 'Organization', cell: (t) => t.org || 'all' },
      { title: 'Status', cell: (t) => el('span', t.status, 'status status-' + t.status) },
      { title: 'Created', priority: 2, cell: (t) => { const s = el('span'); s.append(time(t.createdAt, true)); if (t.createdBy) s.append(el('span', ' by ' + t.createdBy, 'muted small')); return s; } },
      { title: 'Last used', cell: (t) => time(t.lastUsedAt) },
      { title: 'Expires', priority: 2, cell: (t) => time(t.expiresAt) },
      {
        title: 'Actions', className: 'actions', cell: (t) => (t.status === 'revoked' ? el('span', '', 'muted')
          : button('Revoke', async () => {
            if (!await confirmAction('Revoke the token "' + t.name + '"? Whoever uses it loses admin access within a second.', 'Revoke token')) return;
            try { await api('POST', '/admin/tokens/' + enc(t.id) + '/revoke'); toast('Token ' + t.name + ' revoked.'); } catch (err) { toast(errorText(err), 'error'); }
            await ctx.reload({ focus: () => document.getElementById('new-token') });
          }, 'danger', { 'aria-label': 'Revoke ' + t.name })),
      },
    ], tokens, (t) => t.id));
    container.append(wrap);
  },
});

function createToken(ctx, opener) {
  const orgs = session.me.org ? [[session.me.org, session.me.org]] : [['', 'All organizations'], ...ctx.orgs.map((o) => [o.id, o.name === o.id ? o.id : o.name + ' (' + o.id + ')'])];
  return formDialog({
    id: 'token-form', title: 'Create operator token', returnTo: opener, submitLabel: 'Create token',
    fields: [
      field({ name: 'name', label: 'Name', attrs: { required: '', maxlength: 64, pattern: '[A-Za-z0-9][A-Za-z0-9 ._@+\\-]{0,63}' }, hint: 'Who uses it, e.g. alice@example.com or deploy bot. It names them in the audit log.', plain: 'Start with a letter or digit; then letters, digits, spaces and . _ @ + - (up to 64).' }),
      field({ name: 'role', label: 'Role', type: 'select', options: ROLES, value: 'viewer' }),
      field({ name: 'org', label: 'Organization', type: 'select', options: orgs }),
      field({ name: 'expiresAt', label: 'Expires at', type: 'datetime-local', hint: 'Empty: never.' }),
    ],
    async submit(form, state) {
      const f = form.elements;
      const body = { name: f.name.value, role: f.role.value };
      if (f.org.value) body.org = f.org.value;
      if (f.expiresAt.value) body.expiresAt = new Date(f.expiresAt.value).toISOString();
      state.result = await api('POST', '/admin/tokens', body);
      return true;
    },
  }).then(async (token) => {
    if (!token) return;
    await reveal({ title: 'Copy the operator token now', note: 'Give it to ' + token.name + ' through a safe channel. It will not be shown again.',
      secret: token.token, filename: 'gateway-operator-token-' + token.name.replace(/[^A-Za-z0-9_.-]+/g, '_') + '.txt',
      fileText: token.token + '\n\nGateway operator token "' + token.name + '", role ' + token.role + (token.org ? ' in organization ' + token.org : ' for every organization') + '.\n'
        + 'Sign in to the admin console with it, or send it as "Authorization: Bearer <token>" to the admin API.\nDelete this file once the token is stored.\n' });
    await ctx.reload({ focus: () => document.getElementById('new-token') });
  });
}
