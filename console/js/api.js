// The API client: signing in and out, the session's tokens, and every request the console
// makes. Tokens live in this module's variables only: never in localStorage, sessionStorage,
// a cookie or a URL, so a reload or a closed tab ends the session.

/** The API's root, beside the console: `<origin>/console/` → `<origin>/`. */
const ROOT = new URL('..', document.baseURI);

/** Refresh this long before the access token expires, so no request carries a stale one. */
const REFRESH_MARGIN_MS = 30_000;

/** A problem+json answer (or a network failure, with status 0). */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `request failed (${status})`);
    this.status = status;
    this.code = problem.code || 'unknown';
    this.title = problem.title || '';
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

let session = null; // {access, refresh, expiresAt}
let refreshing = null; // the refresh in flight, shared by every request that needs it
const endListeners = [];

/** Calls `listener(reason)` when the session ends without the user signing out. */
export function onSessionEnded(listener) {
  endListeners.push(listener);
}

export function signedIn() {
  return session !== null;
}

function url(path, query) {
  const u = new URL(path.replace(/^\//, ''), ROOT);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') u.searchParams.set(key, value);
  }
  return u;
}

async function problemOf(response) {
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) {
    try {
      return new ApiProblem(response.status, await response.json());
    } catch {
      // fall through: a body that is not JSON after all
    }
  }
  return new ApiProblem(response.status, { title: response.statusText });
}

async function post(path, body, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(url(path), {
      method: 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiProblem(0, { detail: `the server cannot be reached (${e.message})` });
  }
}

function keep(tokens) {
  session = {
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
  };
}

function end(reason) {
  const had = session !== null;
  session = null;
  if (had) for (const listener of endListeners) listener(reason);
}

export async function signIn(email, password) {
  const response = await post('/v1/auth/login', { email, password });
  if (!response.ok) throw await problemOf(response);
  keep(await response.json());
}

/** Ends the session on the server too (its refresh family is revoked). */
export async function signOut() {
  const token = session && session.access;
  session = null;
  if (token) {
    try {
      await post('/v1/auth/logout', undefined, token);
    } catch {
      // Signed out here either way; the server's session expires on its own.
    }
  }
}

/**
 * Trades the refresh token for a new pair, once however many requests ask at the same
 * time: refresh tokens rotate, and presenting a used one revokes the whole session.
 */
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const current = session;
      if (!current) throw new ApiProblem(401, { detail: 'signed out' });
      const response = await post('/v1/auth/refresh', { refresh_token: current.refresh });
      if (!response.ok) {
        end('Your session has ended. Please sign in again.');
        throw await problemOf(response);
      }
      if (session === current) keep(await response.json());
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function send(method, path, options, token) {
  const headers = { accept: options.accept || 'application/json', authorization: `Bearer ${token}` };
  let body;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  try {
    return await fetch(url(path, options.query), {
      method, headers, body, credentials: 'omit', cache: 'no-store',
    });
  } catch (e) {
    throw new ApiProblem(0, { detail: `the server cannot be reached (${e.message})` });
  }
}

/**
 * One API request as the signed-in user. Answers the parsed JSON body (or `null` for an
 * empty one), or with `raw: true` the Response itself; throws an ApiProblem otherwise.
 */
export async function api(method, path, options = {}) {
  if (!session) throw new ApiProblem(401, { detail: 'signed out' });
  if (Date.now() > session.expiresAt - REFRESH_MARGIN_MS) await refresh();
  let token = session.access;
  let response = await send(method, path, options, token);
  if (response.status === 401 && session) {
    // Expired early (a clock apart) or revoked: refresh once, unless another request
    // already did, then try again.
    if (session.access === token) await refresh();
    token = session.access;
    response = await send(method, path, options, token);
  }
  if (response.status === 401) {
    end('Your session has ended. Please sign in again.');
  }
  if (!response.ok) throw await problemOf(response);
  if (options.raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** Every item of a list endpoint, following `next_cursor`. */
export async function all(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api('GET', path, { query: { ...query, limit: 1000, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** The console's settings (`config.json` beside the page); needs no session. */
export async function consoleConfig() {
  const response = await fetch(new URL('config.json', document.baseURI), { credentials: 'omit' });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}
