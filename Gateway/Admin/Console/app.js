// The admin console's shell: sign-in, who is signed in, the organization list, and the router that
// turns an address into a screen. Screens register themselves (views.js); this file knows none of them.

import { api, session, can, seesAllOrgs, rememberToken, forget, on, enc } from './api.js';
import * as router from './router.js';
import { $, el, button, link, errorText, field, busy, showErrors, reveal, tabKeys } from './ui.js';
import { screens, orgTabs, keyFile } from './views.js';

const app = {
  orgs: [],
  rendered: null, // the route hash on screen
  cache: new Map(), // route hash → {node, at}: the last good drawing of recent views, shown (marked stale) when the gateway is down
};

// ----- sign-in -----

async function providers() {
  try {
    const answer = await fetch('/admin/auth/providers', { credentials: 'same-origin', cache: 'no-store' });
    if (!answer.ok) return { oidc: false };
    const body = await answer.json();
    return { oidc: body && body.oidc === true };
  } catch {
    return { oidc: false };
  }
}

function show(screen) {
  $('signin').hidden = screen !== 'signin';
  $('no-access').hidden = screen !== 'no-access';
  $('app').hidden = screen !== 'app';
  $('who').hidden = screen === 'signin';
}

async function showSignIn(message) {
  show('signin');
  $('token').value = '';
  $('view').replaceChildren();
  $('sidebar').replaceChildren();
  $('signin-error').textContent = message || '';
  $('signin-error').hidden = !message;
  const sso = await providers();
  $('sso').hidden = !sso.oidc;
  // Back where the operator was after the identity provider's redirect.
  $('sso-link').href = '/admin/auth/oidc/login?returnUrl=' + enc(location.pathname + location.hash);
  $('token').focus();
}

/** Asks the gateway who this is; with no token, a cookie session from SSO counts only if it says via "oidc". */
async function whoAmI() {
  const me = await api('GET', '/admin/me');
  if (!session.token && me.via !== 'oidc') throw new Error('not an SSO session');
  return me;
}

async function start(me) {
  session.me = me;
  $('who-text').textContent = me.name + ' · ' + me.role + (me.org ? ' · ' + me.org : '');
  if (me.role === 'verifier') {
    show('no-access');
    $('no-access-text').textContent = 'You are signed in as ' + me.name + ' with the verifier role. Verifier tokens check API keys '
      + 'through the verify API; they cannot open the console. Ask an owner for a viewer, admin or owner token.';
    return;
  }
  session.settings = await api('GET', '/admin/settings');
  show('app');
  await loadOrgs();
  await render();
}

async function signOut() {
  if (session.me && session.me.via === 'oidc') {
    try { await api('POST', '/admin/auth/signout'); } catch { /* the cookie expires on its own */ }
  }
  forget();
  app.orgs = [];
  app.rendered = null;
  app.cache.clear();
  await showSignIn('');
}

// ----- organizations (sidebar) -----

async function loadOrgs() {
  app.orgs = (await api('GET', '/admin/orgs')).items;
  drawSidebar();
}

function drawSidebar() {
  const nav = $('sidebar');
  const { parts } = router.current();
  nav.replaceChildren();
  nav.append(el('h2', seesAllOrgs() ? 'Organizations' : 'Organization'));
  const list = el('ul', null, 'org-list');
  for (const org of app.orgs) {
    const a = link(org.name === org.id ? org.id : org.name + ' (' + org.id + ')', router.href(['orgs', org.id, 'overview']));
    a.dataset.org = org.id;
    if (parts[0] === 'orgs' && parts[1] === org.id) a.setAttribute('aria-current', 'page');
    const item = el('li');
    item.append(a);
    list.append(item);
  }
  nav.append(list);
  if (app.orgs.length === 0) nav.append(el('p', seesAllOrgs() ? 'No organizations yet.' : 'Your organization is not there any more.', 'empty'));
  if (can('admin') && seesAllOrgs()) nav.append(createOrgForm());
  const more = el('ul', null, 'nav-more');
  for (const screen of screens.filter((s) => s.inNav && s.visible())) {
    const item = el('li');
    const a = link(screen.label, router.href([screen.id]));
    if (parts[0] === screen.id) a.setAttribute('aria-current', 'page');
    item.append(a);
    more.append(item);
  }
  if (more.children.length) nav.append(more);
}

function createOrgForm() {
  const form = el('form', null, 'create-org', { id: 'create-org' });
  form.append(el('h3', 'New organization'),
    field({ name: 'id', label: 'Id', attrs: { required: '', pattern: '[A-Za-z0-9_\\-]{1,64}', maxlength: 64 }, plain: 'Use 1 to 64 letters, digits, _ or -.', hint: 'Letters, digits, _ and -.' }),
    field({ name: 'name', label: 'Name', attrs: { maxlength: 200 } }),
    el('p', null, 'form-error', { role: 'alert', hidden: '' }));
  const submit = el('button', 'Create organization', 'primary');
  submit.type = 'submit';
  form.append(submit);
  form.onsubmit = (e) => {
    e.preventDefault();
    busy(form, async () => {
      try {
        const id = form.elements.id.value;
        const org = await api('POST', '/admin/orgs', { id, name: form.elements.name.value || id });
        form.reset();
        await reveal({ title: 'Copy the default API key now', note: 'Organization "' + org.id + '" was created with this default key. It will not be shown again.',
          secret: org.defaultKey.key, filename: org.id + '-default-api-key.txt', fileText: keyFile(org.defaultKey.key, org.defaultKey) });
        await loadOrgs();
        router.go(router.href(['orgs', org.id, 'keys']));
      } catch (err) {
        showErrors(form, err);
      }
    });
  };
  return form;
}

// ----- routing -----

function landing() {
  if (session.me.org) return router.href(['orgs', session.me.org, 'keys']);
  return null;
}

/**
 * Draws the screen for the current address. A view builds into a fresh element and replaces the old one
 * only once its data arrived; when the gateway cannot be reached the old one stays, marked stale.
 */
// Each render takes a number; one that finishes after a newer one started (a reload still loading when the operator
// moved on) drops its result instead of drawing an old page over the current one.
let renders = 0;

export async function render(options) {
  if (!session.me || session.me.role === 'verifier') return;
  const route = router.current();
  const { parts } = route;
  if (parts.length === 0) {
    const home = landing();
    if (home) { router.replace(home); return render(options); }
  }
  const mine = ++renders;
  drawSidebar();
  const view = $('view');
  const fresh = el('div', null, 'view');
  try {
    if (parts.length === 0) {
      drawHome(fresh);
    } else if (parts[0] === 'orgs' && parts[1]) {
      await drawOrg(fresh, route);
    } else {
      const screen = screens.find((s) => s.id === parts[0] && s.visible());
      if (!screen) { drawMissing(fresh); } else { await screen.render(fresh, context(route)); }
    }
  } catch (err) {
    if (mine !== renders) return;
    const cached = err.unreachable && app.cache.get(route.hash);
    if (cached) {
      // Better the last data with a warning than a blank page: the operator may still need to read it.
      view.replaceChildren(cached.node);
      view.dataset.route = route.hash;
      app.rendered = route.hash;
      markStale(view, err, cached.at);
      return;
    }
    if (err.status === 404) { drawMissing(fresh); } else {
      fresh.replaceChildren(el('h2', 'Could not load this page'), el('p', errorText(err), 'form-error', { role: 'alert' }),
        button('Try again', () => render()));
    }
  }
  if (mine !== renders) return;
  view.replaceChildren(fresh);
  view.classList.remove('stale');
  // Tests and scripts wait for this: the address the view on screen was drawn for.
  view.dataset.route = route.hash;
  app.rendered = route.hash;
  app.cache.delete(route.hash);
  app.cache.set(route.hash, { node: fresh, at: new Date() });
  if (app.cache.size > 20) app.cache.delete(app.cache.keys().next().value);
  const focus = options && options.focus;
  const target = typeof focus === 'function' ? focus() : focus ? view.querySelector(focus) : null;
  if (target) target.focus();
  else if (!options || !options.keepFocus) { const h = view.querySelector('h2'); if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); } }
}

function markStale(view, err, at) {
  view.classList.add('stale');
  const note = el('p', null, 'stale-note', { role: 'alert' });
  view.prepend(note);
  note.textContent = errorText(err) + ' Showing data loaded at ' + at.toLocaleTimeString() + '; it may be out of date.';
  note.append(' ', button('Retry', () => render({ keepFocus: true })));
}

function context(route) {
  return {
    route,
    orgs: app.orgs,
    org: null,
    reload: (options) => render(Object.assign({ keepFocus: true }, options)),
    reloadOrgs: loadOrgs,
  };
}

function drawHome(container) {
  container.append(el('h2', 'Pick an organization'),
    el('p', app.orgs.length ? 'Choose an organization on the left to see its usage, API keys and audit log.' : 'There are no organizations yet.', 'empty'));
}

function drawMissing(container) {
  container.append(el('h2', 'Not found'), el('p', 'This page does not exist, or you cannot see it.', 'empty'), link('Back to the start', '#/'));
}

async function drawOrg(container, route) {
  const [, orgId, tabId, ...rest] = route.parts;
  const org = app.orgs.find((o) => o.id === orgId) || await api('GET', '/admin/orgs/' + enc(orgId));
  const ctx = context(route);
  ctx.org = org;
  const tabs = orgTabs.filter((t) => t.visible());
  const tab = tabs.find((t) => t.id === tabId);
  if (!tabId) { router.replace(router.href(['orgs', orgId, tabs[0].id])); return drawOrg(container, router.current()); }
  if (!tab) { drawMissing(container); return; }
  if (tab.detail && rest.length) {
    // A sub-page of a tab (a key's page): no tab bar, a way back instead.
    await tab.detail(container, ctx, rest);
    return;
  }
  const head = el('div', null, 'section-head');
  head.append(el('h2', org.name === org.id ? org.id : org.name + ' (' + org.id + ')', null, { id: 'org-title' }));
  const actions = el('div', null, 'actions');
  for (const action of (tab.actions ? tab.actions(ctx) : [])) actions.append(action);
  head.append(actions);
  const list = el('div', null, 'tabs', { role: 'tablist', 'aria-label': 'Organization' });
  for (const t of tabs) {
    const selected = t.id === tab.id;
    const b = button(t.label, () => { if (!selected) router.go(router.href(['orgs', orgId, t.id]), '#tab-' + t.id); }, selected ? 'active' : '',
      { role: 'tab', id: 'tab-' + t.id, 'aria-selected': String(selected), 'aria-controls': 'panel-' + t.id, tabindex: selected ? '0' : '-1' });
    list.append(b);
  }
  tabKeys(list);
  const panel = el('div', null, 'panel', { role: 'tabpanel', id: 'panel-' + tab.id, 'aria-labelledby': 'tab-' + tab.id });
  await tab.render(panel, ctx);
  container.append(head, list, panel);
}

// ----- start -----

on('unauthorized', () => { if (session.me) { forget(); app.cache.clear(); showSignIn('Your session ended or the token was revoked. Sign in again.'); } });
on('reachable', (up) => { $('offline').hidden = up; });

router.onChange(() => {
  const focus = router.takeFocus();
  render(focus ? { focus } : undefined);
});

$('signin-form').onsubmit = (e) => {
  e.preventDefault();
  const form = e.target;
  busy(form, async () => {
    $('signin-error').hidden = true;
    session.token = $('token').value.trim();
    try {
      const me = await whoAmI();
      rememberToken(session.token);
      $('token').value = '';
      await start(me);
    } catch (err) {
      session.token = '';
      $('signin-error').textContent = err.status === 401 ? 'The token was not accepted.' : errorText(err);
      $('signin-error').hidden = false;
    }
  });
};
$('signout').onclick = () => signOut();
// The reveal dialog closes only through Done: no Escape (ui.js reveal() opens it again should Chrome close it anyway).
$('reveal-dialog').addEventListener('cancel', (e) => e.preventDefault());
$('reveal-dialog').addEventListener('keydown', (e) => { if (e.key === 'Escape') e.preventDefault(); });
$('reveal-saved').onchange = () => { $('reveal-done').disabled = !$('reveal-saved').checked; };

(async () => {
  try {
    if (session.token) { await start(await whoAmI()); return; }
    if ((await providers()).oidc) {
      session.token = '';
      await start(await whoAmI());
      return;
    }
  } catch (err) {
    if (err.unreachable) { await showSignIn(errorText(err)); return; }
    forget();
  }
  await showSignIn('');
})();
