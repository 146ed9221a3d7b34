'use strict';
// The admin console: a thin client of the admin API. Everything is rendered with textContent (and SVG
// built element by element), never innerHTML, so names and descriptions cannot inject markup. No
// inline styles or scripts: the page runs under "default-src 'self'".
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const state = {
    token: sessionStorage.getItem('gw-admin-token') || '', org: null, settings: null,
    keys: [], keysById: new Map(), auditCursor: null, audit: [], detail: null,
  };
  const OUTCOME_LABELS = {
    allowed: 'Allowed', missing_key: 'Missing key', invalid_key: 'Invalid key', key_expired: 'Expired key',
    key_revoked: 'Revoked key', key_inactive: 'Inactive key', wrong_environment: 'Wrong environment',
    insufficient_scope: 'Insufficient scope', ip_not_allowed: 'IP not allowed', rate_limited: 'Rate limited',
    store_unavailable: 'Store unavailable', upstream_5xx: 'Upstream 5xx',
  };

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

  const enc = encodeURIComponent;

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

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(label, onclick, className) {
    const b = el('button', label, className);
    b.type = 'button';
    b.onclick = onclick;
    return b;
  }

  // "3 min ago", "in 2 days"; the exact time is in the title (shown on hover).
  function relative(iso) {
    const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    const abs = Math.abs(seconds);
    if (abs < 45) return 'just now';
    const [n, unit] = abs < 3600 ? [Math.round(abs / 60), 'min']
      : abs < 86400 ? [Math.round(abs / 3600), 'h']
        : [Math.round(abs / 86400), Math.round(abs / 86400) === 1 ? 'day' : 'days'];
    return seconds >= 0 ? n + ' ' + unit + ' ago' : 'in ' + n + ' ' + unit;
  }

  function time(iso) {
    if (!iso) return el('span', '—', 'muted');
    const node = el('time', relative(iso));
    node.dateTime = iso;
    node.title = new Date(iso).toLocaleString() + ' (' + iso + ')';
    return node;
  }

  function limitText(limit) {
    return limit ? limit.permitLimit + ' / ' + limit.window : '—';
  }

  function keyLabel(id) {
    const key = state.keysById.get(id);
    return key ? key.name + ' (' + id + ')' : id;
  }

  // Dialogs: showModal traps focus and Escape closes (except the reveal dialog); focus goes back to
  // the control that opened the dialog, so keyboard users do not lose their place.
  function openDialog(dialog) {
    const opener = document.activeElement;
    dialog.addEventListener('close', () => { if (opener && opener.isConnected) opener.focus(); }, { once: true });
    dialog.showModal();
  }

  function confirmAction(text) {
    return new Promise((resolve) => {
      $('confirm-text').textContent = text;
      const dialog = $('confirm-dialog');
      let result = false;
      $('confirm-ok').onclick = () => { result = true; dialog.close(); };
      $('confirm-cancel').onclick = () => dialog.close();
      dialog.addEventListener('close', () => resolve(result), { once: true });
      openDialog(dialog);
      $('confirm-cancel').focus();
    });
  }

  // Reveal-once: the dialog cannot be dismissed until the operator confirms the key is saved.
  function reveal(plaintext, key) {
    const dialog = $('reveal-dialog');
    $('reveal-key').textContent = plaintext;
    $('reveal-saved').checked = false;
    $('reveal-done').disabled = true;
    $('reveal-download').onclick = () => download(plaintext, key || {});
    return new Promise((resolve) => {
      $('reveal-done').onclick = () => { $('reveal-key').textContent = ''; $('reveal-download').onclick = null; dialog.close(); resolve(); };
      openDialog(dialog);
    });
  }

  function download(plaintext, key) {
    const org = key.orgId || (state.org && state.org.id) || 'org';
    const name = key.name || 'key';
    const text = plaintext + '\n\n'
      + 'API key "' + name + '" of organization "' + org + '"'
      + (key.environment ? ' for ' + key.environment : '') + (key.prefix ? ', prefix ' + key.prefix : '') + '.\n'
      + 'Send it on every request as the header:  Authorization: Bearer <key>\n'
      + 'It belongs in your secret manager or CI secret store, never in source control or chat.\n'
      + 'Delete this file once the key is stored. It cannot be shown again; if it is lost, rotate the key.\n';
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    const link = el('a');
    link.href = url;
    link.download = org + '-' + name + '-api-key.txt';
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
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
    $('orgs-empty').hidden = orgs.length > 0;
    for (const org of orgs) {
      const b = button(org.name + ' (' + org.id + ')', () => selectOrg(org));
      b.dataset.org = org.id;
      if (state.org && state.org.id === org.id) b.classList.add('selected');
      const item = el('li');
      item.append(b);
      list.append(item);
    }
  }

  async function selectOrg(org, tab) {
    state.org = org;
    state.detail = null;
    $('pick-org').hidden = true;
    $('org').hidden = false;
    $('key-detail').hidden = true;
    $('org-title').textContent = org.name + ' (' + org.id + ')';
    for (const b of document.querySelectorAll('#orgs button')) b.classList.toggle('selected', b.dataset.org === org.id);
    await loadKeys();
    await showTab(tab || 'overview');
  }

  async function showTab(name) {
    for (const tab of ['overview', 'keys', 'audit']) {
      $(tab + '-panel').hidden = name !== tab;
      $('tab-' + tab).classList.toggle('active', name === tab);
      $('tab-' + tab).setAttribute('aria-selected', String(name === tab));
    }
    if (name === 'overview') await loadOverview();
    if (name === 'audit') await loadAudit(false);
  }

  // ----- usage -----

  function stats(container, totals) {
    const counts = totals.counts;
    const allowed = counts.allowed || 0;
    const failed = counts.upstream_5xx || 0;
    const refused = totals.total - allowed - failed;
    container.replaceChildren();
    for (const [label, value, cls] of [['Requests', totals.total, ''], ['Allowed', allowed, 'o-allowed'], ['Refused', refused, 'o-refused'], ['Upstream 5xx', failed, 'o-upstream_5xx']]) {
      const box = el('div', null, 'stat');
      box.append(el('span', label, 'stat-label'), el('strong', value.toLocaleString(), cls));
      container.append(box);
    }
  }

  function tickLabel(iso, granularity) {
    const d = new Date(iso);
    return granularity === 'day' ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
      : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  }

  function niceMax(value) {
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  // Requests over time as stacked bars, one colour per outcome, drawn as inline SVG.
  function chart(figure, report) {
    figure.replaceChildren();
    const intervals = report.intervals;
    const present = report.outcomes.filter((o) => report.totals.counts[o]);
    if (report.totals.total === 0) {
      figure.append(el('p', 'No requests in this period.', 'empty'));
      return;
    }
    const W = 760, H = 240, left = 48, right = 8, top = 10, bottom = 26;
    const plotH = H - top - bottom, plotW = W - left - right;
    const max = niceMax(Math.max(1, ...intervals.map((i) => i.total)));
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', class: 'chart-svg', 'aria-label': 'Requests over time by outcome: ' + report.totals.total + ' in total' });
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotH - fraction * plotH;
      root.append(svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
      root.append(svg('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(max * fraction))));
    }
    const width = plotW / intervals.length;
    const gap = width > 4 ? 1 : 0;
    intervals.forEach((interval, i) => {
      const group = svg('g', { class: 'bar' });
      const parts = present.filter((o) => interval.counts[o]).map((o) => (OUTCOME_LABELS[o] || o) + ' ' + interval.counts[o]);
      group.append(svg('title', {}, tickLabel(interval.start, report.granularity) + ': ' + interval.total + ' requests' + (parts.length ? ' (' + parts.join(', ') + ')' : '')));
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
    const ticks = Math.min(6, intervals.length);
    for (let t = 0; t < ticks; t++) {
      const i = Math.round(t * (intervals.length - 1) / Math.max(1, ticks - 1));
      root.append(svg('text', { x: left + (i + 0.5) * width, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, tickLabel(intervals[i].start, report.granularity)));
    }
    const legend = el('ul', null, 'legend');
    for (const outcome of present) {
      const item = el('li');
      item.append(el('span', null, 'swatch o-' + outcome), document.createTextNode((OUTCOME_LABELS[outcome] || outcome) + ' ' + report.totals.counts[outcome].toLocaleString()));
      legend.append(item);
    }
    figure.append(root, legend);
  }

  async function loadOverview() {
    const granularity = $('overview-range').value;
    const report = await api('GET', '/admin/orgs/' + enc(state.org.id) + '/usage?granularity=' + granularity);
    stats($('overview-stats'), report.totals);
    chart($('overview-chart'), report);
    const body = $('top-keys').tBodies[0];
    body.replaceChildren();
    const used = report.keys.filter((k) => k.usage.total > 0).slice(0, 10);
    for (const key of used) {
      const row = el('tr');
      const name = el('td');
      name.append(button(key.name, () => openKey(key.keyId), 'link'), el('span', ' ' + key.prefix + '…', 'muted'));
      const c = key.usage.counts;
      const allowed = c.allowed || 0, failed = c.upstream_5xx || 0;
      row.append(name, el('td', key.usage.total.toLocaleString(), 'num'), el('td', allowed.toLocaleString(), 'num'),
        el('td', (key.usage.total - allowed - failed).toLocaleString(), 'num'), el('td', failed.toLocaleString(), 'num'));
      body.append(row);
    }
    $('top-keys').hidden = used.length === 0;
    $('top-keys-empty').hidden = used.length > 0;
  }

  // ----- keys -----

  async function loadKeys() {
    const keys = (await api('GET', '/admin/orgs/' + enc(state.org.id) + '/keys')).items;
    state.keys = keys;
    state.keysById = new Map(keys.map((k) => [k.id, k]));
    const select = $('audit-key');
    const current = select.value;
    select.replaceChildren(new Option('All', ''));
    for (const key of keys) select.append(new Option(key.name + (key.status === 'revoked' ? ' (revoked)' : ''), key.id));
    select.value = keys.some((k) => k.id === current) ? current : '';
    renderKeys();
  }

  function renderKeys() {
    const body = $('keys').tBodies[0];
    const search = $('key-search').value.trim().toLowerCase();
    const status = $('filter-status').value;
    const env = $('filter-env').value;
    const shown = state.keys.filter((k) => (!status || k.status === status) && (!env || k.environment === env)
      && (!search || [k.name, k.prefix, k.description, k.customerId, k.createdBy, k.id].some((v) => v && v.toLowerCase().includes(search))));
    body.replaceChildren();
    for (const key of shown) {
      const row = el('tr');
      row.dataset.key = key.id;
      const name = el('td');
      name.append(button(key.name, () => openKey(key.id), 'link'));
      if (key.isDefault) name.append(el('span', ' (default)', 'muted'));
      if (key.description) name.append(el('div', key.description, 'muted small'));
      const lastUsed = el('td');
      lastUsed.append(time(key.lastUsedAt));
      const expires = el('td');
      expires.append(time(key.expiresAt));
      row.append(name, el('td', key.prefix + '…', 'mono'), el('td', key.environment), el('td', key.scopes.join(' ')),
        el('td', key.status, 'status status-' + key.status), el('td', key.customerId || '—'), el('td', limitText(key.rateLimit)),
        expires, el('td', key.createdBy || '—'), lastUsed);
      const actions = el('td', null, 'actions');
      for (const b of keyActions(key, loadKeys)) actions.append(b);
      row.append(actions);
      body.append(row);
    }
    const empty = $('keys-empty');
    empty.textContent = state.keys.length === 0 ? 'No keys yet. Create one with "Create API key".' : 'No keys match the search and filters.';
    empty.hidden = shown.length > 0;
  }

  function splitList(value) {
    return value.split(/[\s,]+/).filter((x) => x.length > 0);
  }

  // The lifecycle buttons of a key, shared by the table and the detail page; after runs on success.
  function keyActions(key, after) {
    const run = (label, work, className) => button(label, async () => {
      showError('');
      try { await work(); await after(); } catch (e) { showError(e.message); }
    }, className);
    const buttons = [];
    if (key.status === 'revoked') return buttons;
    buttons.push(run('Edit', () => edit(key)));
    const cidrs = key.allowedCidrs || [];
    const ips = run('IPs: ' + (cidrs.length === 0 ? 'any' : cidrs.length <= 2 ? cidrs.join(' ') : cidrs.length + ' CIDRs'), async () => {
      const value = window.prompt('Allowed CIDRs for "' + key.name + '", separated by spaces or commas (empty: any address)', cidrs.join(' '));
      if (value === null) return;
      await api('PATCH', '/admin/keys/' + enc(key.id), { allowedCidrs: splitList(value) });
    });
    ips.title = cidrs.join(' ') || 'any address';
    ips.dataset.action = 'allowed-cidrs';
    buttons.push(ips);
    buttons.push(run('Rotate', () => rotate(key)));
    if (!key.isDefault) {
      buttons.push(key.status === 'inactive'
        ? run('Activate', () => api('POST', '/admin/keys/' + enc(key.id) + '/activate'))
        : run('Deactivate', () => api('POST', '/admin/keys/' + enc(key.id) + '/deactivate')));
      buttons.push(run('Revoke', async () => {
        if (!await confirmAction('Are you sure you want to revoke "' + key.name + '"? Any application using it will immediately lose access. This cannot be undone.')) return;
        await api('POST', '/admin/keys/' + enc(key.id) + '/revoke');
      }, 'danger'));
    }
    return buttons;
  }

  function rotate(key) {
    return new Promise((resolve, reject) => {
      const dialog = $('rotate-dialog');
      const form = $('rotate-form');
      const message = form.querySelector('.form-error');
      $('rotate-text').textContent = 'Rotate "' + key.name + '"? A new key is issued with the same id, name and settings.';
      $('rotate-grace').value = '';
      message.hidden = true;
      let rotated = null;
      form.onsubmit = async (e) => {
        e.preventDefault();
        try {
          const grace = $('rotate-grace').value;
          rotated = await api('POST', '/admin/keys/' + enc(key.id) + '/rotate', grace ? { gracePeriod: grace } : {});
          dialog.close();
        } catch (err) { message.textContent = err.message; message.hidden = false; }
      };
      $('rotate-cancel').onclick = () => dialog.close();
      dialog.addEventListener('close', async () => {
        try { if (rotated) await reveal(rotated.key, rotated); resolve(); } catch (err) { reject(err); }
      }, { once: true });
      openDialog(dialog);
    });
  }

  function toLocalInput(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }

  function scopeBoxes(fieldset, checked) {
    fieldset.replaceChildren(el('legend', 'Scopes'));
    for (const scope of ['*', ...state.settings.scopes]) {
      const label = el('label', null, 'check');
      const box = el('input');
      box.type = 'checkbox';
      box.name = 'scope';
      box.value = scope;
      box.checked = checked.includes(scope);
      label.append(box, document.createTextNode(' ' + (scope === '*' ? 'Full access (*)' : scope)));
      fieldset.append(label);
    }
  }

  // Sends only what changed, so the audit entry lists exactly the edits.
  function edit(key) {
    return new Promise((resolve) => {
      const dialog = $('edit-dialog');
      const form = $('edit-form');
      const f = form.elements;
      const message = form.querySelector('.form-error');
      message.hidden = true;
      $('edit-title').textContent = 'Edit ' + key.name;
      f.name.value = key.name;
      f.description.value = key.description || '';
      f.expiresAt.value = toLocalInput(key.expiresAt);
      f.customerId.value = key.customerId || '';
      f.permitLimit.value = key.rateLimit ? key.rateLimit.permitLimit : '';
      f.window.value = key.rateLimit ? key.rateLimit.window : '';
      scopeBoxes($('edit-scopes'), key.scopes);
      form.onsubmit = async (e) => {
        e.preventDefault();
        const patch = {};
        if (f.name.value !== key.name) patch.name = f.name.value;
        if ((f.description.value || null) !== (key.description || null)) patch.description = f.description.value || null;
        if ((f.customerId.value || null) !== (key.customerId || null)) patch.customerId = f.customerId.value || null;
        const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((b) => b.value);
        if (scopes.join(' ') !== key.scopes.join(' ')) patch.scopes = scopes;
        if (f.expiresAt.value !== toLocalInput(key.expiresAt)) patch.expiresAt = f.expiresAt.value ? new Date(f.expiresAt.value).toISOString() : null;
        const limit = f.permitLimit.value ? { permitLimit: Number(f.permitLimit.value), window: f.window.value || '00:01:00' } : null;
        if (limitText(limit) !== limitText(key.rateLimit)) patch.rateLimit = limit;
        try {
          if (Object.keys(patch).length) await api('PATCH', '/admin/keys/' + enc(key.id), patch);
          dialog.close();
        } catch (err) { message.textContent = err.message; message.hidden = false; }
      };
      $('edit-cancel').onclick = () => dialog.close();
      dialog.addEventListener('close', () => resolve(), { once: true });
      openDialog(dialog);
    });
  }

  // ----- key detail -----

  async function openKey(id) {
    state.detail = id;
    $('org').hidden = true;
    $('key-detail').hidden = false;
    await loadDetail();
    $('key-back').focus();
  }

  async function loadDetail() {
    const id = state.detail;
    const key = await api('GET', '/admin/keys/' + enc(id));
    state.keysById.set(key.id, key);
    $('key-title').textContent = key.name + (key.isDefault ? ' (default)' : '');
    $('key-status').textContent = key.status;
    $('key-status').className = 'status status-' + key.status;
    $('key-actions').replaceChildren(...keyActions(key, async () => { await loadKeys(); await loadDetail(); }));
    const settings = $('key-settings');
    settings.replaceChildren();
    const rows = [
      ['Id', key.id], ['Prefix', key.prefix + '…'], ['Environment', key.environment], ['Scopes', key.scopes.join(' ')],
      ['Description', key.description || '—'], ['Customer', key.customerId || '—'], ['Per-key limit', limitText(key.rateLimit)],
      ['Created', time(key.createdAt)], ['Created by', key.createdBy || '—'], ['Expires', time(key.expiresAt)],
      ['Last used', time(key.lastUsedAt)],
    ];
    if (key.allowedCidrs) rows.push(['Allowed networks', key.allowedCidrs.length ? key.allowedCidrs.join(', ') : 'any']);
    if (key.previousKeyExpiresAt) rows.push(['Previous key works until', time(key.previousKeyExpiresAt)]);
    if (key.revokedAt) rows.push(['Revoked', time(key.revokedAt)]);
    for (const [label, value] of rows) {
      const dd = el('dd');
      if (value instanceof Node) dd.append(value); else dd.textContent = value;
      settings.append(el('dt', label), dd);
    }
    const report = await api('GET', '/admin/keys/' + enc(id) + '/usage?granularity=' + $('key-range').value);
    stats($('key-stats'), report.totals);
    chart($('key-chart'), report);
    const audit = await api('GET', '/admin/audit?org=' + enc(key.orgId) + '&limit=500');
    const entries = audit.items.filter((e) => e.keyId === id);
    $('key-audit').replaceChildren(...entries.map(auditItem));
    $('key-audit-empty').hidden = entries.length > 0;
  }

  // ----- audit -----

  const VERBS = {
    'org.create': 'created the organization', 'key.create': 'created key', 'key.update': 'edited key',
    'key.rotate': 'rotated key', 'key.deactivate': 'deactivated key', 'key.activate': 'activated key',
    'key.revoke': 'revoked key', 'key.leaked': 'handled a leak report for key',
  };

  function value(v) {
    if (v === null || v === undefined || v === '') return '—';
    if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
    if (typeof v === 'object' && 'permitLimit' in v) return v.permitLimit + ' per ' + v.window;
    if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return new Date(v).toLocaleString();
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  // "console rotated key ci_pipeline (key_…)" with one line per change: "scopes: read → read, write".
  function auditItem(entry) {
    const item = el('li');
    const head = el('p');
    head.append(time(entry.at), document.createTextNode(' '), el('strong', entry.actor), document.createTextNode(' ' + (VERBS[entry.action] || entry.action)));
    if (entry.keyId) head.append(document.createTextNode(' '), el('span', keyLabel(entry.keyId), 'mono'));
    const from = entry.address || entry.callerAddress || entry.ip;
    if (from) head.append(el('span', ' from ' + from, 'muted'));
    item.append(head);
    const changes = entry.changes || {};
    const names = Object.keys(changes);
    if (names.length) {
      const list = el('ul', null, 'changes');
      for (const field of names) {
        const change = changes[field];
        const created = entry.action === 'key.create' || entry.action === 'org.create';
        list.append(el('li', created || change === null || typeof change !== 'object' || !('after' in change)
          ? field + ': ' + value(change && typeof change === 'object' && 'after' in change ? change.after : change)
          : field + ': ' + value(change.before) + ' → ' + value(change.after)));
      }
      item.append(list);
    }
    return item;
  }

  function renderAudit() {
    const action = $('audit-action').value;
    const key = $('audit-key').value;
    const shown = state.audit.filter((e) => (!action || e.action === action) && (!key || e.keyId === key));
    $('audit').replaceChildren(...shown.map(auditItem));
    $('audit-empty').hidden = shown.length > 0;
  }

  async function loadAudit(more) {
    if (!more) { state.audit = []; state.auditCursor = null; }
    let path = '/admin/audit?org=' + enc(state.org.id) + '&limit=100';
    if (more && state.auditCursor) path += '&cursor=' + enc(state.auditCursor);
    const page = await api('GET', path);
    state.audit.push(...page.items);
    state.auditCursor = page.nextCursor;
    $('audit-more').hidden = !page.nextCursor;
    renderAudit();
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
    scopeBoxes($('scopes'), ['*']);
  }

  const guard = (work) => () => Promise.resolve().then(work).catch((e) => showError(e.message));

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
        await reveal(org.defaultKey.key, org.defaultKey);
        await loadOrgs();
        await selectOrg(org, 'keys');
      } catch (err) { showError(err.message); }
    };
    $('new-key').onclick = () => {
      $('key-form').reset();
      fillKeyForm();
      document.querySelector('#key-form .form-error').hidden = true;
      openDialog($('key-form-dialog'));
    };
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
        const key = await api('POST', '/admin/orgs/' + enc(state.org.id) + '/keys', body);
        $('key-form-dialog').close();
        await reveal(key.key, key);
        await loadKeys();
        await showTab('keys');
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
    $('tab-overview').onclick = guard(() => showTab('overview'));
    $('tab-keys').onclick = guard(() => showTab('keys'));
    $('tab-audit').onclick = guard(() => showTab('audit'));
    $('overview-range').onchange = guard(loadOverview);
    $('key-range').onchange = guard(loadDetail);
    $('key-search').oninput = renderKeys;
    $('filter-status').onchange = renderKeys;
    $('filter-env').onchange = renderKeys;
    $('audit-action').onchange = renderAudit;
    $('audit-key').onchange = renderAudit;
    $('audit-more').onclick = guard(() => loadAudit(true));
    $('key-back').onclick = guard(async () => {
      state.detail = null;
      $('key-detail').hidden = true;
      $('org').hidden = false;
      await loadKeys();
      await showTab('keys');
    });
    if (state.token) connect();
  });
})();
