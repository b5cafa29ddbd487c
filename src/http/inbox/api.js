// The JSON API at /api/v1: every request carries the CSRF token; errors become ApiError with the server's code,
// message and details. The server explains in English; in another language the catalogue's words for the code
// (`error.<code>`) are shown, with the field at fault and, where the code alone says too little, the server's
// explanation (`{detail}`).

import { S } from './state.js';
import { current, has, t } from './i18n.js';

let sessionEnded = () => {};
// What to do when the server says the session is over (the page shows the login again).
function onSessionEnded(fn) { sessionEnded = fn; }
class ApiError extends Error {
  constructor(status, e) {
    const details = (e && e.details) || {};
    const said = (e && e.message) || t('error.status', { status });
    super(e && e.code && current() !== 'en' && has('error.' + e.code) ? t('error.' + e.code, { field: details.field || '', detail: said }) : said);
    this.status = status; this.code = e && e.code; this.details = details;
  }
}
async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opt.headers['x-csrf-token'] = S.csrf;
  if (body instanceof FormData) opt.body = body;
  else if (body instanceof Blob) { opt.headers['content-type'] = body.type || 'text/csv'; opt.body = body; }
  else if (body !== undefined) { opt.headers['content-type'] = 'application/json'; opt.body = JSON.stringify(body); }
  let r;
  try { r = await fetch('/api/v1' + path, opt); }
  catch { throw new ApiError(0, { message: t('error.unreachable') }); }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    if (r.status === 401 && S.me && path !== '/auth/login') { S.me = null; sessionEnded(t('error.session_ended')); }
    throw new ApiError(r.status, data && data.error);
  }
  return data;
}
const qs = (o) => Object.entries(o).filter(([, v]) => v !== '' && v != null).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');

export { ApiError, api, onSessionEnded, qs };
