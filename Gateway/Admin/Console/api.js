// The admin API client and the signed-in session. Two kinds of session: a token the operator typed
// (sent as a Bearer header, kept in memory and sessionStorage for reloads of this tab only), or the
// cookie session an OpenID Connect sign-in leaves (no token; every write carries the CSRF value
// /admin/me handed out). The console never sends X-Admin-Actor: the server names the caller itself.

const STORAGE = 'gw-admin-token';

export const session = {
  token: sessionStorage.getItem(STORAGE) || '',
  me: null, // {name, role, org, via, tokenId, csrf?}
  settings: null,
};

const ROLES = ['verifier', 'viewer', 'admin', 'owner'];

/** Whether the signed-in caller holds at least `role`. */
export function can(role) {
  return !!session.me && ROLES.indexOf(session.me.role) >= ROLES.indexOf(role);
}

/** An org-less caller sees every organization; an org-scoped one only its own. */
export function seesAllOrgs() {
  return !!session.me && !session.me.org;
}

export function rememberToken(token) {
  session.token = token;
  sessionStorage.setItem(STORAGE, token);
}

export function forget() {
  session.token = '';
  session.me = null;
  session.settings = null;
  sessionStorage.removeItem(STORAGE);
}

/** An error the console can explain: `unreachable` (no answer at all), or the API's problem with per-field `errors`. */
export class ApiError extends Error {
  constructor(message, status, problem, unreachable) {
    super(message);
    this.status = status;
    this.problem = problem || null;
    this.unreachable = !!unreachable;
  }
}

export const UNREACHABLE = 'The gateway cannot be reached. Check that it is running and your network, then try again.';

const listeners = { unauthorized: [], reachable: [] };

/** 'unauthorized': the session ended (401); 'reachable': fires with true/false as calls succeed or cannot connect. */
export function on(event, handler) {
  listeners[event].push(handler);
}

function emit(event, value) {
  for (const handler of listeners[event]) handler(value);
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session.token) headers['Authorization'] = 'Bearer ' + session.token;
  else if (session.me && session.me.csrf && method !== 'GET') headers['X-Gateway-Csrf'] = session.me.csrf;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    emit('reachable', false);
    throw new ApiError(UNREACHABLE, 0, null, true);
  }
  emit('reachable', true);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401 && path !== '/admin/me') emit('unauthorized');
    const message = data && (data.detail || data.title) || 'The gateway answered ' + response.status + '.';
    throw new ApiError(message, response.status, data, false);
  }
  return data;
}

export const enc = encodeURIComponent;
