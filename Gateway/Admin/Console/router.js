// A small hash router: every view has an address like #/orgs/acme/keys?status=active, so reload,
// Back and shared links work. The hash keeps the server simple (it serves /console/ only) and never
// reaches the server, so filters and ids stay out of its logs.

/** The current route: path segments (decoded) and the query as a URLSearchParams. */
export function current() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter((p) => p.length > 0).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  return { parts, query: new URLSearchParams(query || ''), hash: '#' + hash };
}

/** Builds '#/a/b?x=1' from segments and a plain object of query values (empty values left out). */
export function href(parts, query) {
  const path = '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) if (value !== undefined && value !== null && value !== '') search.set(name, value);
  const text = search.toString();
  return text ? path + '?' + text : path;
}

let pendingFocus = null;

/** The element (selector) the next render should focus, if the navigation asked for one. */
export function takeFocus() {
  const focus = pendingFocus;
  pendingFocus = null;
  return focus;
}

/** A new history entry (Back returns here); the hashchange renders it, then focuses `focus` if given. */
export function go(target, focus) {
  pendingFocus = focus || null;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = target;
}

/** Changes the address without a new history entry or a render: filters typed into a view. */
export function replace(target) {
  history.replaceState(history.state, '', target);
}

export function onChange(handler) {
  window.addEventListener('hashchange', handler);
}
