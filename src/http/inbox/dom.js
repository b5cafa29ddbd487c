// Building the page: `h()` makes elements (no HTML strings, so no injection), toasts, timers and time formats.

import { t, timeFormat } from './i18n.js';

function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'multiple' || k === 'selected') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid.nodeType ? kid : String(kid));
  if (value !== undefined) el.value = value;
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
function toast(text, bad) {
  const t = h('div', { class: 'toast' + (bad ? ' bad' : '') }, text);
  $('#toasts').append(t);
  setTimeout(() => t.remove(), bad ? 8000 : 4000);
}
const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };
// A time as the person reads it: in their language and time zone; with the date unless it is today (there).
const fmtTime = (iso) => {
  if (!iso) return '';
  const d = new Date(iso);
  const day = timeFormat({ year: 'numeric', month: '2-digit', day: '2-digit' });
  const clock = timeFormat({ hour: '2-digit', minute: '2-digit' }).format(d);
  return day.format(d) === day.format(new Date()) ? clock : timeFormat({ day: 'numeric', month: 'short' }).format(d) + ' ' + clock;
};
const fmtDuration = (secs) => {
  secs = Math.max(0, Math.round(secs));
  const h_ = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60);
  return h_ ? t('time.hours', { h: h_, m }) : m ? t('time.minutes', { m }) : t('time.seconds', { s: secs });
};
async function copy(text) {
  try { await navigator.clipboard.writeText(text); }
  catch { const i = h('textarea', { value: text }); document.body.append(i); i.select(); document.execCommand('copy'); i.remove(); }
  toast(t('common.copied', { text }));
}

// A person's initials in a circle, its colour picked from their name (so it stays the same everywhere).
function avatar(name) {
  const words = String(name || '?').replace(/[^\p{L}\p{N} ]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  const initials = (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2)).toUpperCase();
  let hash = 0;
  for (const ch of String(name || '')) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return h('span', { class: 'avatar avatar-' + (hash % 8), 'aria-hidden': 'true' }, initials);
}

export { $, avatar, copy, debounce, fmtDuration, fmtTime, h, toast };
