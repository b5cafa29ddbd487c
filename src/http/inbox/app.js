// Switchboard's agent inbox, the entry module. Plain JavaScript modules, no dependencies, no build step: log in,
// the frame, and the routes (#/inbox, #/new, #/contacts, #/reports, #/supervisor, #/admin).

import { S, isSup } from './state.js';
import { $, fmtTime, h, toast } from './dom.js';
import { api, onSessionEnded } from './api.js';
import { closeLive, connectLive } from './live.js';
import { inbox } from './list.js';
import { newConversation } from './new.js';
import { supervisor } from './supervisor.js';
import { admin } from './admin.js';
import { alertsToggle } from './attention.js';
import { LANGUAGES, choose, current, t } from './i18n.js';

function showLogin(message) {
  closeLive();
  const err = h('p', { class: 'error', role: 'alert' }, message || '');
  const email = h('input', { id: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'login', onsubmit: async (e) => {
    e.preventDefault(); err.textContent = '';
    try {
      const r = await api('POST', '/auth/login', { email: email.value.trim(), password: password.value });
      S.csrf = r.csrf_token;
      if (r.must_change_password) showPasswordChange(password.value); else start();
    } catch (x) { err.textContent = x.message; }
  } }, h('h1', {}, 'Switchboard'), h('label', { for: 'email' }, t('login.email')), email,
  h('label', { for: 'password' }, t('login.password')), password, err, h('button', { class: 'primary', type: 'submit' }, t('login.submit')));
  $('#app').replaceChildren(form);
  email.focus();
}

function showPasswordChange(current) {
  const err = h('p', { class: 'error', role: 'alert' });
  const cur = h('input', { id: 'current', type: 'password', autocomplete: 'current-password', value: current || '' });
  const next = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password' });
  const again = h('input', { id: 'new-password-again', type: 'password', autocomplete: 'new-password' });
  const form = h('form', { class: 'login', onsubmit: async (e) => {
    e.preventDefault(); err.textContent = '';
    if (next.value !== again.value) { err.textContent = t('login.mismatch'); return; }
    try { await api('POST', '/auth/password', { current_password: cur.value, new_password: next.value }); start(); }
    catch (x) { err.textContent = x.message; }
  } }, h('h1', {}, t('login.choose')),
  h('p', { class: 'muted' }, t('login.first')),
  h('label', { for: 'current' }, t('login.one_time')), cur, h('label', { for: 'new-password' }, t('login.new')), next,
  h('label', { for: 'new-password-again' }, t('login.again')), again, err,
  h('button', { class: 'primary', type: 'submit' }, t('login.save')));
  $('#app').replaceChildren(form);
  (current ? next : cur).focus();
}

async function start() {
  let me;
  try {
    const s = await api('GET', '/auth/session');
    if (!s.logged_in) return showLogin();
    me = s.me;
  } catch (e) { if (e.status === 401) return showLogin(); $('#app').replaceChildren(h('p', { class: 'boot error' }, e.message)); return; }
  if (me.must_change_password) { S.csrf = me.csrf_token || S.csrf; return showPasswordChange(); }
  if (!me.user) { $('#app').replaceChildren(h('p', { class: 'boot' }, t('login.people'))); return; }
  S.me = me.user; S.role = me.role; S.csrf = me.csrf_token;
  await choose(S.me.ui_language, S.me.time_zone);
  await loadReference();
  frame();
  connectLive();
  route();
}

async function loadReference() {
  const [dir, tags, templates, canned] = await Promise.all([
    api('GET', '/directory'), api('GET', '/tags?limit=200'), api('GET', '/templates?limit=200'),
    api('GET', '/canned-responses?limit=200'),
  ]);
  S.dir = dir; S.tags = tags.items; S.templates = templates.items; S.canned = canned.items;
}

function frame() {
  const presence = h('select', { id: 'presence', 'aria-label': t('presence.label'), value: S.me.presence || 'offline', onchange: async (e) => {
    try { await api('PUT', '/agents/me/presence', { presence: e.target.value }); S.me.presence = e.target.value; dot.className = 'presence-dot presence-' + e.target.value; }
    catch (x) { toast(x.message, true); e.target.value = S.me.presence; }
  } }, h('option', { value: 'online' }, t('presence.online')), h('option', { value: 'away' }, t('presence.away')), h('option', { value: 'offline' }, t('presence.offline')));
  const dot = h('span', { class: 'presence-dot presence-' + (S.me.presence || 'offline'), 'aria-hidden': 'true' });
  const link = (href, text) => h('a', { href, 'data-nav': href }, text);
  $('#app').replaceChildren(
    h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Switchboard'),
      h('nav', { 'aria-label': t('nav.main') }, link('#/inbox', t('nav.inbox')), link('#/new', t('nav.new')), link('#/contacts', t('nav.contacts')), link('#/reports', t('nav.reports')),
        isSup() && link('#/supervisor', t('nav.supervisor')), isSup() && link('#/admin', t('nav.admin'))),
      h('span', { class: 'spacer' }), h('span', { id: 'conn', class: 'conn', role: 'status' }), alertsToggle(),
      h('span', {}, dot, preferences()), presence,
      h('button', { id: 'logout', onclick: async () => { try { await api('POST', '/auth/logout'); } catch { /* gone anyway */ } S.me = null; showLogin(t('login.out')); } }, t('nav.logout'))),
    h('main', { id: 'main' }));
}

// The person's name opens their preferences: the inbox's language and the time zone its times are shown in
// (empty: the browser's), kept with their account so they follow them to any browser.
function preferences() {
  const panel = h('div', { id: 'prefs', class: 'prefs hidden', role: 'group', 'aria-label': t('prefs.title') });
  const button = h('button', { id: 'me', class: 'me', 'aria-expanded': 'false', 'aria-controls': 'prefs', onclick: () => {
    const open = panel.classList.toggle('hidden') === false;
    button.setAttribute('aria-expanded', String(open));
    if (open) language.focus();
  } }, S.me.name || S.me.email);
  const save = async (changes) => {
    try {
      S.me = await api('PUT', '/agents/me/preferences', { ui_language: S.me.ui_language || null, time_zone: S.me.time_zone || null, ...changes });
      await choose(S.me.ui_language, S.me.time_zone); S.page = null; S.current = null; frame(); route();
    } catch (x) { toast(x.message, true); language.value = current(); zoneSelect.value = S.me.time_zone || ''; }
  };
  const language = h('select', { id: 'ui-language', value: current(), onchange: (e) => save({ ui_language: e.target.value }) },
    Object.entries(LANGUAGES).map(([code, name]) => h('option', { value: code, lang: code }, name)));
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  if (S.me.time_zone && !zones.includes(S.me.time_zone)) zones.unshift(S.me.time_zone);
  const zoneSelect = h('select', { id: 'ui-time-zone', value: S.me.time_zone || '', onchange: (e) => save({ time_zone: e.target.value || null }) },
    h('option', { value: '' }, t('prefs.browser_zone', { zone: Intl.DateTimeFormat().resolvedOptions().timeZone })), zones.map((z) => h('option', { value: z }, z)));
  panel.append(h('label', { for: 'ui-language' }, t('nav.language')), language, h('label', { for: 'ui-time-zone' }, t('prefs.time_zone')), zoneSelect,
    h('p', { class: 'muted' }, t('prefs.now', { time: fmtTime(new Date().toISOString()) })));
  return h('span', { class: 'me-wrap' }, button, panel);
}

function route() {
  if (!S.me) return;
  const parts = (location.hash || '#/inbox').slice(2).split('?')[0].split('/');
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.getAttribute('data-nav') === '#/' + parts[0]);
  clearInterval(S.pageTimer);
  if (parts[0] === 'new') return newConversation();
  if (parts[0] === 'supervisor' && isSup()) return supervisor();
  // Its own module, fetched the first time the screen opens (the inbox's first load stays small).
  if (parts[0] === 'contacts') return import('./contacts.js').then((m) => m.contacts()).catch((x) => toast(x.message, true));
  if (parts[0] === 'reports') return import('./reports.js').then((m) => m.reports()).catch((x) => toast(x.message, true));
  if (parts[0] === 'admin' && isSup()) return admin(parts[1] || 'channels');
  inbox(parts[1] || null);
}

onSessionEnded(showLogin);
window.addEventListener('hashchange', route);
choose().then(start);
