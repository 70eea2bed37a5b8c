// The dashboard's one way to the server: the public admin API, same origin, with the session
// cookie (sent by the browser, unreadable here) and the session's CSRF token on every change.
let csrfToken = null;
let onUnauthenticated = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

export function whenUnauthenticated(fn) {
  onUnauthenticated = fn;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; resolves to the parsed JSON body, rejects with ApiError (code and message). */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (csrfToken !== null) headers['x-csrf-token'] = csrfToken;
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const data = text === '' ? {} : JSON.parse(text);
  if (!res.ok) {
    if (res.status === 401 && path !== '/session') onUnauthenticated();
    throw new ApiError(res.status, data.error ?? 'HTTP_' + res.status, data.message ?? res.statusText);
  }
  return data;
}

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : '?' + s;
}
