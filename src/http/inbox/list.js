// The conversation list: views (Mine, Queues, All), filters, search, unread marks, paging, live updates.

import { S, agentName, contactName, isSup, queueName } from './state.js';
import { $, avatar, debounce, fmtTime, h, toast } from './dom.js';
import { api, qs } from './api.js';
import { openConversation } from './thread.js';
import { refreshCounts, remember } from './attention.js';
import { t } from './i18n.js';

function matchesView(c) {
  const f = S.filters;
  if (S.view === 'mine' && c.assignee_id !== S.me.id) return false;
  if (S.view === 'mine' && c.routing_state !== 'assigned' && c.status !== 'resolved') return false;
  if (S.view === 'queues' && !['waiting', 'unowned'].includes(c.routing_state)) return false;
  if (S.view === 'ai' && c.routing_state !== 'ai') return false;
  if (f.status === 'unresolved' ? c.status === 'resolved' || c.status === 'snoozed' : f.status && c.status !== f.status) return false;
  if (f.number_id && c.number_id !== f.number_id) return false;
  if (f.tag_id && !c.tag_ids.includes(f.tag_id)) return false;
  return true;
}
function listQuery(cursor) {
  const f = S.filters;
  return qs({ status: f.status, number_id: f.number_id, tag_id: f.tag_id, q: f.q.trim(),
    assignee: S.view === 'mine' ? 'me' : '', claimable: S.view === 'queues' ? 'true' : '', routing_state: S.view === 'ai' ? 'ai' : '', cursor, limit: 50 });
}
function inbox(id) {
  if (S.page !== 'inbox') {
    S.page = 'inbox';
    const views = h('div', { class: 'views', role: 'group', 'aria-label': t('view.group') },
      [['mine', t('view.mine')], ['queues', t('view.queues')], isSup() && ['ai', t('view.ai')], isSup() && ['all', t('view.all')]].filter(Boolean).map(([v, label]) =>
        h('button', { 'data-view': v, 'aria-pressed': String(S.view === v), onclick: () => { S.view = v; for (const b of views.children) b.setAttribute('aria-pressed', String(b.dataset.view === v)); loadList(); } }, label)));
    const f = S.filters;
    const sel = (name, label, options) => h('select', { 'aria-label': label, 'data-filter': name, value: f[name], onchange: (e) => { f[name] = e.target.value; loadList(); } },
      options.map(([v, t]) => h('option', { value: v }, t)));
    const filters = h('div', { class: 'filters' },
      h('input', { type: 'search', id: 'search', placeholder: t('filter.search'), 'aria-label': t('filter.search_label'), value: f.q,
        oninput: debounce((e) => { f.q = e.target.value; loadList(); }, 250) }),
      sel('status', t('filter.status'), [['unresolved', t('status.unresolved')], ['open', t('status.open')], ['pending', t('status.pending')], ['snoozed', t('status.snoozed')], ['resolved', t('status.resolved')], ['', t('status.any')]]),
      sel('number_id', t('filter.number'), [['', t('filter.all_numbers')], ...S.dir.numbers.map((n) => [n.id, n.name + ' ' + n.e164])]),
      sel('tag_id', t('filter.tag'), [['', t('filter.all_tags')], ...S.tags.map((tag) => [tag.id, tag.name])]));
    $('#main').replaceChildren(
      h('section', { class: 'list', 'aria-label': t('list.conversations') }, views, filters,
        h('ul', { class: 'items', id: 'items' }), h('div', { class: 'more', id: 'more' })),
      h('section', { class: 'conversation', id: 'conversation', 'aria-label': t('list.conversation') }),
      h('aside', { class: 'side', id: 'side', 'aria-label': t('list.details') }));
    loadList(); refreshCounts();
  }
  $('#main').classList.toggle('has-current', !!id);
  if (id) { if (!S.current || S.current.id !== id) openConversation(id); }
  else { S.current = null; $('#conversation').replaceChildren(h('p', { class: 'empty' }, t('list.choose'))); $('#side').replaceChildren(); renderList(); }
}

let listSeq = 0;
async function loadList(more) {
  const seq = ++listSeq;
  try {
    const page = await api('GET', '/conversations?' + listQuery(more ? S.next : ''));
    if (seq !== listSeq) return;
    S.list = more ? S.list.concat(page.items) : page.items;
    S.next = page.next_cursor;
    remember(page.items);
    renderList();
  } catch (x) { toast(x.message, true); }
}
function upsertListItem(id, c) {
  const i = S.list.findIndex((x) => x.id === id);
  if (c && i >= 0) S.list[i] = c; else if (c) S.list.unshift(c); else if (i >= 0) S.list.splice(i, 1); else return;
  S.list.sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
  renderList();
}
function renderList() {
  const ul = $('#items');
  if (!ul) return;
  const stateBadge = (c) => c.status === 'resolved' ? h('span', { class: 'badge resolved' }, t('status.resolved'))
    : c.status === 'snoozed' ? h('span', { class: 'badge resolved' }, t('status.snoozed') + (c.snoozed_until ? ' · ' + fmtTime(c.snoozed_until) : ''))
    : c.routing_state === 'waiting' ? h('span', { class: 'badge waiting' }, t('list.waiting') + ' · ' + (c.queue_id ? queueName(c.queue_id) : agentName(c.waiting_agent_id)))
    : c.routing_state === 'unowned' ? h('span', { class: 'badge waiting' }, t('list.unowned'))
    : c.routing_state === 'assigned' ? h('span', { class: 'badge' }, c.assignee_id === S.me.id ? t('list.mine') : agentName(c.assignee_id))
    : h('span', { class: 'badge' }, c.routing_state === 'ai' ? t('view.ai') : t('list.routing'));
  ul.replaceChildren(...S.list.map((c) => h('li', {}, h('a', {
    class: 'item' + (c.unread ? ' unread' : ''), href: '#/inbox/' + c.id, 'data-id': c.id,
    'aria-current': String(!!(S.current && S.current.id === c.id)),
    'aria-label': contactName(c) + (c.unread ? t('list.unread') : ''),
  }, avatar(contactName(c)), h('div', { class: 'row' }, h('span', { class: 'name' }, contactName(c)), h('span', { class: 'time' }, fmtTime(c.last_message ? c.last_message.at : c.updated_at))),
  h('div', { class: 'row' }, ['urgent', 'high'].includes(c.priority_level) && h('span', { class: 'badge ' + c.priority_level }, t('priority.' + c.priority_level)),
    h('span', { class: 'preview' }, c.last_message ? (c.last_message.direction === 'outbound' ? t('list.you') : '') + c.last_message.body : c.topic || ''), stateBadge(c))))));
  if (!S.list.length) ul.replaceChildren(h('li', { class: 'empty pad' }, t(S.view === 'queues' ? 'list.none_queues' : S.view === 'ai' ? 'list.none_ai' : 'list.none')));
  $('#more').replaceChildren(S.next ? h('button', { onclick: () => loadList(true) }, t('list.more')) : '');
}

export { inbox, listQuery, listSeq, loadList, matchesView, renderList, upsertListItem };
