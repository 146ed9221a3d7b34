// Reusable pieces: elements, time, toast, dialogs, form fields with per-field errors, busy submits,
// row action menus and tables. Everything is built with textContent (never innerHTML), so names and
// descriptions cannot inject markup, and there are no inline styles or scripts (CSP "default-src 'self'").

import { UNREACHABLE } from './api.js';

export const $ = (id) => document.getElementById(id);

export function el(tag, text, className, attributes) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  return node;
}

export function button(label, onclick, className, attributes) {
  const b = el('button', label, className, attributes);
  b.type = 'button';
  if (onclick) b.onclick = onclick;
  return b;
}

export function link(label, target, className) {
  const a = el('a', label, className);
  a.href = target;
  return a;
}

export function plural(n, one, many) {
  return Number(n).toLocaleString() + ' ' + (n === 1 ? one : many || one + 's');
}

// "3 min ago", "in 2 days"; the exact time is in the title (shown on hover).
export function relative(iso) {
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  const [n, unit] = abs < 3600 ? [Math.round(abs / 60), 'min']
    : abs < 86400 ? [Math.round(abs / 3600), 'h']
      : [Math.round(abs / 86400), Math.round(abs / 86400) === 1 ? 'day' : 'days'];
  return seconds >= 0 ? n + ' ' + unit + ' ago' : 'in ' + n + ' ' + unit;
}

export function time(iso, absolute) {
  if (!iso) return el('span', '—', 'muted');
  const d = new Date(iso);
  const node = el('time', absolute ? d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : relative(iso));
  node.dateTime = iso;
  node.title = d.toLocaleString() + ' (' + iso + ')';
  return node;
}

/** The text to show for any failure: the gateway being unreachable is said in plain words. */
export function errorText(error) {
  if (error && error.unreachable) return UNREACHABLE;
  if (error && error.status === 403) return 'Your role does not allow this.';
  return (error && error.message) || String(error);
}

// ----- toast: short confirmations read out by screen readers -----

export function toast(message, kind) {
  const box = $('toasts');
  const item = el('p', message, 'toast' + (kind ? ' toast-' + kind : ''));
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

// ----- dialogs -----

/** showModal traps focus and Escape closes; focus returns to `returnTo` (or the opener) afterwards. */
export function openDialog(dialog, returnTo) {
  const opener = returnTo || document.activeElement;
  dialog.addEventListener('close', () => {
    const target = typeof opener === 'function' ? opener() : opener;
    if (target && target.isConnected) target.focus();
  }, { once: true });
  dialog.showModal();
}

export function confirmAction(text, okLabel) {
  return new Promise((resolve) => {
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel || 'Confirm';
    const dialog = $('confirm-dialog');
    let result = false;
    $('confirm-ok').onclick = () => { result = true; dialog.close(); };
    $('confirm-cancel').onclick = () => dialog.close();
    dialog.addEventListener('close', () => resolve(result), { once: true });
    openDialog(dialog);
    $('confirm-cancel').focus();
  });
}

/**
 * Copies `text`; where the Clipboard API is missing or refused (plain http on a host name) it selects the
 * text instead so Ctrl+C works, and says which happened in `status`.
 */
export async function copy(text, source, status) {
  try {
    if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    status.textContent = 'Copied.';
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = 'This browser blocked copying here: the key is selected, press Ctrl+C (⌘C on a Mac).';
  }
}

/** Reveal-once: the dialog closes only through Done, after the operator confirms the secret is saved. */
export function reveal({ title, note, secret, filename, fileText }) {
  const dialog = $('reveal-dialog');
  $('reveal-title').textContent = title;
  $('reveal-note').textContent = note;
  $('reveal-key').textContent = secret;
  $('reveal-status').textContent = '';
  $('reveal-saved').checked = false;
  $('reveal-done').disabled = true;
  $('reveal-copy').onclick = () => copy(secret, $('reveal-key'), $('reveal-status'));
  $('reveal-download').onclick = () => download(filename, fileText);
  return new Promise((resolve) => {
    let done = false;
    // Chrome closes a modal dialog on a second Escape whatever its cancel handler does (a close watcher skips
    // the cancel event on a repeated close request), so a close that Done did not make opens it again.
    const keepOpen = () => { if (!done) dialog.showModal(); };
    dialog.addEventListener('close', keepOpen);
    $('reveal-done').onclick = () => {
      done = true;
      dialog.removeEventListener('close', keepOpen);
      $('reveal-key').textContent = '';
      $('reveal-copy').onclick = null;
      $('reveal-download').onclick = null;
      dialog.close();
      resolve();
    };
    openDialog(dialog);
  });
}

function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = el('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ----- busy: one request at a time per form or button -----

/**
 * Runs `work` with every submit button of `scope` disabled and marked busy; a second click or Enter while
 * the request is in flight does nothing, so a double click cannot rotate twice or create two keys.
 */
export async function busy(scope, work) {
  if (scope.dataset.busy === '1') return undefined;
  scope.dataset.busy = '1';
  const buttons = scope.matches('button') ? [scope] : [...scope.querySelectorAll('button[type=submit], button.primary, button.danger')];
  for (const b of buttons) { b.disabled = true; b.setAttribute('aria-busy', 'true'); }
  try {
    return await work();
  } finally {
    delete scope.dataset.busy;
    for (const b of buttons) { b.removeAttribute('aria-busy'); if (!b.dataset.keepDisabled) b.disabled = false; }
  }
}

// ----- form fields with their own error line -----

let fieldSeq = 0;

/**
 * A labelled control with a hint and an error line under it, tied together with aria-describedby.
 * spec: {name, label, type, hint, plain, options:[[value,label]], attrs, value, control}.
 * `plain` is the rule in plain words, shown instead of a server message quoting a pattern.
 */
export function field(spec) {
  const id = 'f' + (++fieldSeq) + '-' + spec.name;
  const wrap = el('div', null, 'field', { 'data-field': spec.name });
  if (spec.plain) wrap.dataset.plain = spec.plain;
  let control = spec.control;
  if (!control) {
    if (spec.type === 'select') {
      control = el('select');
      for (const [value, label] of spec.options) control.append(new Option(label, value));
    } else if (spec.type === 'textarea') {
      control = el('textarea');
      control.rows = 2;
    } else {
      control = el('input');
      control.type = spec.type || 'text';
    }
    control.name = spec.name;
    for (const [name, value] of Object.entries(spec.attrs || {})) control.setAttribute(name, String(value));
    if (spec.value !== undefined && spec.value !== null) control.value = spec.value;
  }
  control.id = id;
  const label = el('label', spec.label, null, { for: id });
  const error = el('p', null, 'field-error', { id: id + '-error' });
  error.hidden = true;
  const described = [id + '-error'];
  wrap.append(label, control);
  if (spec.hint) {
    wrap.append(el('p', spec.hint, 'hint', { id: id + '-hint' }));
    described.unshift(id + '-hint');
  }
  wrap.append(error);
  control.setAttribute('aria-describedby', described.join(' '));
  return wrap;
}

/** A fieldset of checkboxes (scopes) built like a field, with its own error line. */
export function checkboxes(name, legend, choices, checked) {
  const set = el('fieldset', null, 'field', { 'data-field': name });
  set.append(el('legend', legend));
  for (const [value, label] of choices) {
    const item = el('label', null, 'check');
    const box = el('input');
    box.type = 'checkbox';
    box.name = name;
    box.value = value;
    box.checked = checked.includes(value);
    item.append(box, document.createTextNode(' ' + label));
    set.append(item);
  }
  const error = el('p', null, 'field-error');
  error.hidden = true;
  set.append(error);
  return set;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error, .form-error')) { p.textContent = ''; p.hidden = true; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/** Shows one message next to a field; returns false when the form has no such field. */
export function fieldError(form, name, message) {
  const wrap = form.querySelector('[data-field="' + name + '"]');
  if (!wrap) return false;
  const p = wrap.querySelector('.field-error');
  p.textContent = p.textContent ? p.textContent + ' ' + message : message;
  p.hidden = false;
  const control = wrap.querySelector('input, select, textarea');
  if (control) control.setAttribute('aria-invalid', 'true');
  return true;
}

/**
 * Puts every error of an API answer next to its field, in plain words: "rateLimit.window" goes to the
 * field named "window" (via `aliases`), "allowedCidrs[1]" to allowedCidrs as "Entry 2: …". Errors with no
 * field go to the form's general line. Focus moves to the first field in error.
 */
export function showErrors(form, error, aliases) {
  clearErrors(form);
  const general = form.querySelector('.form-error');
  const problem = error && error.problem;
  let placed = false;
  if (problem && problem.errors) {
    for (const [path, messages] of Object.entries(problem.errors)) {
      const index = /\[(\d+)\]/.exec(path);
      const root = path.replace(/\[\d+\].*$/, '');
      const name = (aliases && (aliases[path.replace(/\[\d+\]/g, '')] || aliases[root])) || root.split('.')[0];
      const wrap = form.querySelector('[data-field="' + name + '"]');
      for (const message of messages) {
        let text = /^Must match \^/.test(message) && wrap && wrap.dataset.plain ? wrap.dataset.plain : message;
        if (index) text = 'Entry ' + (Number(index[1]) + 1) + ': ' + text;
        if (fieldError(form, name, text)) placed = true;
        else { general.textContent += (general.textContent ? ' ' : '') + text; general.hidden = false; }
      }
    }
  } else if (problem && problem.field && fieldError(form, problem.field, errorText(error))) {
    placed = true;
  } else {
    general.textContent = errorText(error);
    general.hidden = false;
  }
  const first = form.querySelector('[aria-invalid=true]');
  if (placed && first) first.focus();
}

/**
 * A modal form built from fields. `submit(form)` returns true to close; it runs inside busy(), so a double
 * click or a second Enter sends nothing more. Returns a promise of whatever `submit` left in `result`.
 */
export function formDialog({ id, title, intro, fields, submitLabel, danger, submit, returnTo }) {
  const dialog = el('dialog', null, 'form-dialog', { id, 'aria-labelledby': id + '-title' });
  const form = el('form');
  form.method = 'dialog';
  form.append(el('h3', title, null, { id: id + '-title' }));
  if (intro) for (const node of [].concat(intro)) form.append(typeof node === 'string' ? el('p', node) : node);
  for (const f of fields) form.append(f);
  form.append(el('p', null, 'form-error', { role: 'alert', hidden: '' }));
  const menu = el('menu');
  const cancel = button('Cancel', () => dialog.close());
  const ok = el('button', submitLabel, danger ? 'danger' : 'primary', { id: id + '-submit' });
  ok.type = 'submit';
  menu.append(cancel, ok);
  form.append(menu);
  dialog.append(form);
  document.body.append(dialog);
  const state = { result: undefined };
  form.onsubmit = (e) => {
    e.preventDefault();
    busy(form, async () => {
      clearErrors(form);
      try {
        if (await submit(form, state)) dialog.close();
      } catch (err) {
        showErrors(form, err);
      }
    });
  };
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => { dialog.remove(); resolve(state.result); }, { once: true });
    openDialog(dialog, returnTo);
    const first = form.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
  });
}

// ----- row action menu -----

let openMenu = null;

function closeMenu(focusButton) {
  if (!openMenu) return;
  const { list, trigger } = openMenu;
  list.remove();
  trigger.setAttribute('aria-expanded', 'false');
  openMenu = null;
  if (focusButton) trigger.focus();
}

document.addEventListener('click', (e) => {
  if (openMenu && !openMenu.list.contains(e.target) && e.target !== openMenu.trigger) closeMenu(false);
});

/**
 * A "⋯" button that opens a menu of actions: arrow keys move, Escape closes and returns focus, each item
 * runs its action. `items`: [{label, run, danger}]. Keeps wide action rows out of narrow tables.
 */
export function actionMenu(label, items) {
  const wrap = el('div', null, 'menu-wrap');
  const trigger = button('⋯', null, 'menu-button', { 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': label, title: label });
  trigger.onclick = () => {
    if (openMenu && openMenu.trigger === trigger) { closeMenu(true); return; }
    closeMenu(false);
    const list = el('div', null, 'menu', { role: 'menu', 'aria-label': label });
    for (const item of items) {
      const entry = button(item.label, () => { closeMenu(false); item.run(trigger); }, item.danger ? 'danger' : '', { role: 'menuitem', tabindex: '-1' });
      list.append(entry);
    }
    list.onkeydown = (e) => {
      const entries = [...list.querySelectorAll('[role=menuitem]')];
      const at = entries.indexOf(document.activeElement);
      if (e.key === 'ArrowDown') { e.preventDefault(); entries[(at + 1) % entries.length].focus(); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); entries[(at - 1 + entries.length) % entries.length].focus(); }
      else if (e.key === 'Home') { e.preventDefault(); entries[0].focus(); }
      else if (e.key === 'End') { e.preventDefault(); entries[entries.length - 1].focus(); }
      else if (e.key === 'Escape' || e.key === 'Tab') { e.preventDefault(); closeMenu(true); }
    };
    wrap.append(list);
    trigger.setAttribute('aria-expanded', 'true');
    openMenu = { list, trigger };
    list.querySelector('[role=menuitem]').focus();
  };
  wrap.append(trigger);
  return wrap;
}

// ----- tables -----

/**
 * A table from column specs: {title, cell(row) → Node|string, className, priority}. Priority 1 columns
 * always show; 2 hide below 1100 px, 3 below 1400 px (the key page has them all). Below 760 px rows turn
 * into cards and each cell shows its column title (data-label).
 */
export function table(id, columns, rows, rowKey) {
  const t = el('table', null, 'data', { id });
  const head = el('thead');
  const tr = el('tr');
  for (const c of columns) tr.append(el('th', c.title, c.priority ? 'p' + c.priority : '', { scope: 'col' }));
  head.append(tr);
  const body = el('tbody');
  for (const row of rows) {
    const line = el('tr');
    if (rowKey) line.dataset.key = rowKey(row);
    for (const c of columns) {
      const cell = el('td', null, [c.className, c.priority ? 'p' + c.priority : ''].filter(Boolean).join(' '), { 'data-label': c.title });
      const value = c.cell(row);
      if (value instanceof Node) cell.append(value); else cell.textContent = value === undefined || value === null ? '—' : String(value);
      line.append(cell);
    }
    body.append(line);
  }
  t.append(head, body);
  return t;
}

/** Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern); activation follows focus. */
export function tabKeys(list) {
  list.onkeydown = (e) => {
    const tabs = [...list.querySelectorAll('[role=tab]')];
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    let next = null;
    if (e.key === 'ArrowRight') next = tabs[(at + 1) % tabs.length];
    else if (e.key === 'ArrowLeft') next = tabs[(at - 1 + tabs.length) % tabs.length];
    else if (e.key === 'Home') next = tabs[0];
    else if (e.key === 'End') next = tabs[tabs.length - 1];
    if (next) { e.preventDefault(); next.focus(); next.click(); }
  };
}
