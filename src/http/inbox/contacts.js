// The contacts screen: find a customer by name or number, see their tags, language and whether they are blocked,
// open their latest conversation; supervisors export every contact as CSV and import a CSV back (all lines or
// none: the bad lines are listed). Loaded when the screen is first opened, not with the inbox.

import { isSup } from './state.js';
import { $, debounce, h, toast } from './dom.js';
import { api, qs } from './api.js';
import { t } from './i18n.js';

let query = '', next = null, rows = [];

async function load(more) {
  try {
    const page = await api('GET', '/contacts?' + qs({ q: query, limit: 50, cursor: more ? next : '' }));
    rows = more ? rows.concat(page.items) : page.items;
    next = page.next_cursor;
    draw();
  } catch (x) { toast(x.message, true); }
}

async function openLatest(contact) {
  try {
    const page = await api('GET', `/conversations?contact_id=${contact.id}&limit=1`);
    if (page.items.length) location.hash = '#/inbox/' + page.items[0].id;
    else toast(t('contacts.no_conversation'));
  } catch (x) { toast(x.message, true); }
}

function draw() {
  const body = $('#contacts-rows');
  if (!body) return;
  body.replaceChildren(...rows.map((c) => h('tr', {},
    h('td', {}, h('button', { class: 'link', onclick: () => openLatest(c) }, c.name || c.phone || c.bsuid || t('common.customer'))),
    h('td', {}, c.phone || '—'), h('td', {}, c.language || '—'), h('td', {}, c.tags.join(', ') || '—'),
    h('td', { class: 'num' }, String(c.conversations)), h('td', {}, c.blocked_at ? h('span', { class: 'badge urgent' }, t('contacts.blocked')) : ''))));
  if (!rows.length) body.replaceChildren(h('tr', {}, h('td', { colspan: '6', class: 'muted' }, t(query ? 'contacts.no_match' : 'contacts.none'))));
  $('#contacts-more').replaceChildren(next ? h('button', { onclick: () => load(true) }, t('list.more')) : '');
}

async function importFile(file, result) {
  result.replaceChildren(h('p', { class: 'muted' }, t('contacts.importing', { file: file.name })));
  try {
    const r = await api('POST', '/contacts/import', file);
    result.replaceChildren(h('p', { role: 'status' }, t('contacts.imported', { created: r.created, updated: r.updated })));
    load();
  } catch (x) {
    const lines = (x.details && x.details.lines) || [];
    result.replaceChildren(h('p', { class: 'error', role: 'alert' }, x.message),
      lines.length ? h('ul', { class: 'plain error', id: 'import-lines' }, lines.map((l) => h('li', {}, t('contacts.bad_line', { line: l.line + (l.column ? ' (' + l.column + ')' : ''), reason: l.reason })))) : '');
  }
}

function contacts() {
  const search = h('input', { id: 'contacts-search', type: 'search', placeholder: t('contacts.search'), 'aria-label': t('contacts.search_label'), value: query,
    oninput: debounce((e) => { query = e.target.value.trim(); load(); }, 250) });
  const result = h('div', { id: 'import-result' });
  const file = h('input', { id: 'contacts-file', type: 'file', accept: '.csv,text/csv', 'aria-label': t('contacts.file'),
    onchange: (e) => { if (e.target.files[0]) importFile(e.target.files[0], result); e.target.value = ''; } });
  $('#main').replaceChildren(h('section', { class: 'page contacts-page', 'aria-label': t('nav.contacts') },
    h('div', { class: 'line' }, h('h2', {}, t('nav.contacts')), h('span', { class: 'spacer' }), search,
      isSup() && h('a', { class: 'button', id: 'contacts-export', href: '/api/v1/contacts/export', download: 'contacts.csv' }, t('contacts.export')),
      isSup() && h('label', { class: 'button' }, t('contacts.import'), file)),
    isSup() && h('p', { class: 'muted' }, t('contacts.import_help')),
    result,
    h('table', { class: 'table' }, h('thead', {}, h('tr', {}, ['contact.name', 'contact.number', 'contact.language', 'contacts.tags', 'contacts.conversations', ''].map((k) => h('th', { scope: 'col' }, k && t(k))))),
      h('tbody', { id: 'contacts-rows' })),
    h('div', { class: 'more', id: 'contacts-more' })));
  load();
}

export { contacts };
