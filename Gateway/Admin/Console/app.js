'use strict';
// The admin console: a thin client of the admin API. Everything is rendered with textContent,
// never innerHTML, so names and descriptions cannot inject markup.
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { token: sessionStorage.getItem('gw-admin-token') || '', org: null, settings: null, auditCursor: null };

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { 'Authorization': 'Bearer ' + state.token, 'Content-Type': 'application/json', 'X-Admin-Actor': 'console' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error(data && (data.detail || data.title) || ('HTTP ' + response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function showError(message) {
    $('error').textContent = message || '';
    $('error').hidden = !message;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function when(value) {
    return value ? new Date(value).toLocaleString() : '—';
  }

  function confirmAction(text) {
    return new Promise((resolve) => {
      $('confirm-text').textContent = text;
      const dialog = $('confirm-dialog');
      const done = (result) => { dialog.close(); $('confirm-ok').onclick = null; $('confirm-cancel').onclick = null; resolve(result); };
      $('confirm-ok').onclick = () => done(true);
      $('confirm-cancel').onclick = () => done(false);
      dialog.showModal();
    });
  }

  // Reveal-once: the dialog cannot be dismissed until the operator confirms the key is saved.
  function reveal(key) {
    const dialog = $('reveal-dialog');
    $('reveal-key').textContent = key;
    $('reveal-saved').checked = false;
    $('reveal-done').disabled = true;
    return new Promise((resolve) => {
      $('reveal-done').onclick = () => { $('reveal-key').textContent = ''; dialog.close(); resolve(); };
      dialog.showModal();
    });
  }

  async function connect() {
    showError('');
    try {
      state.settings = await api('GET', '/admin/settings');
    } catch (e) {
      $('app').hidden = true;
      showError(e.status === 401 ? 'The admin token was not accepted.' : e.message);
      return;
    }
    sessionStorage.setItem('gw-admin-token', state.token);
    $('app').hidden = false;
    fillKeyForm();
    await loadOrgs();
  }

  async function loadOrgs() {
    const list = $('orgs');
    list.replaceChildren();
    const orgs = (await api('GET', '/admin/orgs')).items;
    for (const org of orgs) {
      const button = el('button', org.name + ' (' + org.id + ')');
      button.type = 'button';
      button.dataset.org = org.id;
      if (state.org && state.org.id === org.id) button.classList.add('selected');
      button.onclick = () => selectOrg(org);
      const item = el('li');
      item.append(button);
      list.append(item);
    }
  }

  async function selectOrg(org) {
    state.org = org;
    $('org').hidden = false;
    $('org-title').textContent = org.name + ' (' + org.id + ')';
    for (const b of document.querySelectorAll('#orgs button')) b.classList.toggle('selected', b.dataset.org === org.id);
    showTab('keys');
    await loadKeys();
  }

  async function loadKeys() {
    const body = $('keys').tBodies[0];
    const keys = (await api('GET', '/admin/orgs/' + encodeURIComponent(state.org.id) + '/keys')).items;
    body.replaceChildren();
    for (const key of keys) {
      const row = el('tr');
      row.dataset.key = key.id;
      row.append(el('td', key.name + (key.isDefault ? ' (default)' : '')), el('td', key.prefix + '…'), el('td', key.environment),
        el('td', key.scopes.join(' ')), el('td', key.status, 'status status-' + key.status), el('td', when(key.lastUsedAt)), el('td', when(key.createdAt)));
      const actions = el('td');
      if (key.status !== 'revoked') {
        const cidrs = key.allowedCidrs || [];
        const ips = action('IPs: ' + (cidrs.length === 0 ? 'any' : cidrs.length <= 2 ? cidrs.join(' ') : cidrs.length + ' CIDRs'), async () => {
          const value = window.prompt('Allowed CIDRs for "' + key.name + '", separated by spaces or commas (empty: any address)', cidrs.join(' '));
          if (value === null) return;
          await api('PATCH', '/admin/keys/' + encodeURIComponent(key.id), { allowedCidrs: splitList(value) });
        });
        ips.title = cidrs.join(' ') || 'any address';
        ips.dataset.action = 'allowed-cidrs';
        actions.append(ips);
        actions.append(action('Rotate', async () => {
          if (!await confirmAction('Rotate "' + key.name + '"? The current key stops working immediately.')) return;
          const rotated = await api('POST', '/admin/keys/' + encodeURIComponent(key.id) + '/rotate', {});
          await reveal(rotated.key);
        }));
        if (!key.isDefault) {
          actions.append(key.status === 'inactive'
            ? action('Activate', () => api('POST', '/admin/keys/' + encodeURIComponent(key.id) + '/activate'))
            : action('Deactivate', () => api('POST', '/admin/keys/' + encodeURIComponent(key.id) + '/deactivate')));
          actions.append(action('Revoke', async () => {
            if (!await confirmAction('Are you sure you want to revoke "' + key.name + '"? Any application using it will immediately lose access. This cannot be undone.')) return;
            await api('POST', '/admin/keys/' + encodeURIComponent(key.id) + '/revoke');
          }));
        }
      }
      row.append(actions);
      body.append(row);
    }
  }

  function splitList(value) {
    return value.split(/[\s,]+/).filter((x) => x.length > 0);
  }

  function action(label, run) {
    const button = el('button', label);
    button.type = 'button';
    button.onclick = async () => {
      showError('');
      try { await run(); await loadKeys(); } catch (e) { showError(e.message); }
    };
    return button;
  }

  async function loadAudit(more) {
    const body = $('audit').tBodies[0];
    if (!more) { body.replaceChildren(); state.auditCursor = null; }
    let path = '/admin/audit?org=' + encodeURIComponent(state.org.id) + '&limit=50';
    if (more && state.auditCursor) path += '&cursor=' + encodeURIComponent(state.auditCursor);
    const page = await api('GET', path);
    for (const entry of page.items) {
      const row = el('tr');
      const changes = el('td');
      changes.append(el('pre', entry.changes ? JSON.stringify(entry.changes, null, 1) : ''));
      row.append(el('td', when(entry.at)), el('td', entry.actor), el('td', entry.action), el('td', entry.keyId || ''), changes);
      body.append(row);
    }
    state.auditCursor = page.nextCursor;
    $('audit-more').hidden = !page.nextCursor;
  }

  function showTab(name) {
    $('keys-panel').hidden = name !== 'keys';
    $('audit-panel').hidden = name !== 'audit';
    $('tab-keys').classList.toggle('active', name === 'keys');
    $('tab-audit').classList.toggle('active', name === 'audit');
  }

  function fillKeyForm() {
    const select = document.querySelector('#key-form select[name=environment]');
    select.replaceChildren();
    for (const env of ['production', 'staging', 'development']) {
      const option = el('option', env);
      option.value = env;
      option.selected = env === state.settings.environment;
      select.append(option);
    }
    const scopes = $('scopes');
    scopes.replaceChildren(el('legend', 'Scopes'));
    for (const scope of ['*', ...state.settings.scopes]) {
      const label = el('label');
      const box = el('input');
      box.type = 'checkbox';
      box.name = 'scope';
      box.value = scope;
      box.checked = scope === '*';
      label.append(box, document.createTextNode(' ' + (scope === '*' ? 'Full access (*)' : scope)));
      scopes.append(label);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('token').value = state.token;
    $('connect').onsubmit = (e) => { e.preventDefault(); state.token = $('token').value.trim(); connect(); };
    $('create-org').onsubmit = async (e) => {
      e.preventDefault();
      const form = e.target;
      showError('');
      try {
        const org = await api('POST', '/admin/orgs', { id: form.id.value, name: form.elements.name.value || form.id.value });
        form.reset();
        await reveal(org.defaultKey.key);
        await loadOrgs();
        await selectOrg(org);
      } catch (err) { showError(err.message); }
    };
    $('new-key').onclick = () => { $('key-form').reset(); fillKeyForm(); document.querySelector('#key-form .form-error').hidden = true; $('key-form-dialog').showModal(); };
    $('key-form-cancel').onclick = () => $('key-form-dialog').close();
    $('key-form').onsubmit = async (e) => {
      e.preventDefault();
      const form = e.target;
      const body = {
        name: form.elements.name.value,
        environment: form.elements.environment.value,
        scopes: [...form.querySelectorAll('input[name=scope]:checked')].map((b) => b.value),
      };
      if (form.elements.description.value) body.description = form.elements.description.value;
      if (form.elements.customerId.value) body.customerId = form.elements.customerId.value;
      if (form.elements.allowedCidrs.value.trim()) body.allowedCidrs = splitList(form.elements.allowedCidrs.value);
      if (form.elements.expiresAt.value) body.expiresAt = new Date(form.elements.expiresAt.value).toISOString();
      try {
        const key = await api('POST', '/admin/orgs/' + encodeURIComponent(state.org.id) + '/keys', body);
        $('key-form-dialog').close();
        await reveal(key.key);
        await loadKeys();
      } catch (err) {
        const message = document.querySelector('#key-form .form-error');
        message.textContent = err.message;
        message.hidden = false;
      }
    };
    $('reveal-saved').onchange = () => { $('reveal-done').disabled = !$('reveal-saved').checked; };
    $('reveal-copy').onclick = () => navigator.clipboard && navigator.clipboard.writeText($('reveal-key').textContent);
    // No Escape, no backdrop dismiss: the reveal dialog closes only through Done.
    $('reveal-dialog').addEventListener('cancel', (e) => e.preventDefault());
    $('tab-keys').onclick = () => showTab('keys');
    $('tab-audit').onclick = () => { showTab('audit'); loadAudit(false).catch((e) => showError(e.message)); };
    $('audit-more').onclick = () => loadAudit(true).catch((e) => showError(e.message));
    if (state.token) connect();
  });
})();
