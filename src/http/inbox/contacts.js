// The contacts screen: find a customer by name or number, see their tags, language and whether they are blocked,
// open their latest conversation; supervisors export every contact as CSV and import a CSV back (all lines or
// none: the bad lines are listed). Loaded when the screen is first opened, not with the inbox.

import { isSup } from './state.js';
import { $, debounce, h, toast } from './dom.js';
import { api, qs } from './api.js';

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
    else toast('No conversation with this contact yet.');
  } catch (x) { toast(x.message, true); }
}

function draw() {
  const body = $('#contacts-rows');
  if (!body) return;
  body.replaceChildren(...rows.map((c) => h('tr', {},
    h('td', {}, h('button', { class: 'link', onclick: () => openLatest(c) }, c.name || c.phone || c.bsuid || 'Customer')),
    h('td', {}, c.phone || '—'), h('td', {}, c.language || '—'), h('td', {}, c.tags.join(', ') || '—'),
    h('td', { class: 'num' }, String(c.conversations)), h('td', {}, c.blocked_at ? h('span', { class: 'badge urgent' }, 'Blocked') : ''))));
  if (!rows.length) body.replaceChildren(h('tr', {}, h('td', { colspan: '6', class: 'muted' }, query ? 'No contact matches.' : 'No contacts yet.')));
  $('#contacts-more').replaceChildren(next ? h('button', { onclick: () => load(true) }, 'Load more') : '');
}

async function importFile(file, result) {
  result.replaceChildren(h('p', { class: 'muted' }, 'Importing ' + file.name + '…'));
  try {
    const r = await api('POST', '/contacts/import', file);
    result.replaceChildren(h('p', { role: 'status' }, `Imported: ${r.created} new, ${r.updated} updated.`));
    load();
  } catch (x) {
    const lines = (x.details && x.details.lines) || [];
    result.replaceChildren(h('p', { class: 'error', role: 'alert' }, x.message),
      lines.length ? h('ul', { class: 'plain error', id: 'import-lines' }, lines.map((l) => h('li', {}, `Line ${l.line}${l.column ? ' (' + l.column + ')' : ''}: ${l.reason}`))) : '');
  }
}

function contacts() {
  const search = h('input', { id: 'contacts-search', type: 'search', placeholder: 'Search name or number', 'aria-label': 'Search contacts', value: query,
    oninput: debounce((e) => { query = e.target.value.trim(); load(); }, 250) });
  const result = h('div', { id: 'import-result' });
  const file = h('input', { id: 'contacts-file', type: 'file', accept: '.csv,text/csv', 'aria-label': 'CSV file to import',
    onchange: (e) => { if (e.target.files[0]) importFile(e.target.files[0], result); e.target.value = ''; } });
  $('#main').replaceChildren(h('section', { class: 'page contacts-page', 'aria-label': 'Contacts' },
    h('div', { class: 'line' }, h('h2', {}, 'Contacts'), h('span', { class: 'spacer' }), search,
      isSup() && h('a', { class: 'button', id: 'contacts-export', href: '/api/v1/contacts/export', download: 'contacts.csv' }, 'Export CSV'),
      isSup() && h('label', { class: 'button' }, 'Import CSV…', file)),
    isSup() && h('p', { class: 'muted' }, 'Import: a header line with phone and any of name, language, tags (separated by ;) and attributes.<name>; an exported file can be edited and imported back. All lines or none.'),
    result,
    h('table', { class: 'table' }, h('thead', {}, h('tr', {}, ['Name', 'Number', 'Language', 'Tags', 'Conversations', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', { id: 'contacts-rows' })),
    h('div', { class: 'more', id: 'contacts-more' })));
  load();
}

export { contacts };
