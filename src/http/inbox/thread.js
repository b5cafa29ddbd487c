// The open conversation: its header (contact, number, owner, the 24-hour window) and its thread of messages,
// private notes and timeline events in time order.

import { S, agentName, contactName, numberOf, queueName } from './state.js';
import { $, avatar, copy, fmtDuration, fmtTime, h, toast } from './dom.js';
import { api } from './api.js';
import { matchesView, renderList, upsertListItem } from './list.js';
import { isCallPermission, renderComposer, templatePicker } from './composer.js';
import { renderSide } from './actions.js';
import { current, has, t } from './i18n.js';

async function openConversation(id, again) {
  if (!again) {
    S.thread = new Map(); S.mode = 'reply'; S.attachments = [];
    $('#conversation').replaceChildren(h('header', { class: 'head', id: 'head' }),
      h('div', { class: 'thread', id: 'thread', tabindex: '0', 'aria-label': t('thread.messages'), role: 'log' }),
      h('div', { class: 'composer', id: 'composer' }));
  }
  // The conversation and its thread are asked for together: the thread does not wait for the header.
  S.opening = id;
  const thread = Promise.all([refreshMessages(id, 50), refreshNotes(id), refreshEvents(id)]);
  let c;
  try { c = await api('GET', '/conversations/' + id); }
  catch (x) { $('#conversation').replaceChildren(h('p', { class: 'empty error' }, x.message)); return; }
  if (S.opening !== id) return;
  S.current = c;
  renderHead(); renderSide(); renderComposer(!again); renderList();
  await thread;
  if (c.unread) { c.unread = false; markRead(id); upsertListItem(id, matchesView(c) ? c : null); }
}
// Whether the thread on screen is (or is becoming) conversation `id`'s.
const showing = (id) => S.opening === id || (S.current && S.current.id === id);
async function refreshCurrent() {
  if (!S.current) return;
  try { S.current = await api('GET', '/conversations/' + S.current.id); renderHead(); renderSide(); renderComposer(false); } catch { /* gone */ }
}
function markRead(id) { api('POST', `/conversations/${id}/read`).catch(() => {}); }
async function refreshMessages(id, limit) {
  try {
    const page = await api('GET', `/conversations/${id}/messages?sort=-created_at&limit=${limit || 30}`);
    if (!showing(id)) return;
    putItems(page.items.map((m) => ['m:' + m.id, { kind: 'message', at: m.created_at, m }]));
    // The first look at a conversation shows its latest messages; older ones come a page at a time, on request.
    if (limit >= 50 && page.next_cursor) earlierButton(id, page.next_cursor);
  } catch (x) { toast(x.message, true); }
}
function earlierButton(id, cursor) {
  const box = $('#thread');
  if (!box) return;
  const old = $('#earlier'); if (old) old.remove();
  const b = h('button', { id: 'earlier', class: 'earlier', onclick: async () => {
    b.disabled = true;
    try {
      const page = await api('GET', `/conversations/${id}/messages?sort=-created_at&limit=200&cursor=${encodeURIComponent(cursor)}`);
      if (!showing(id)) return;
      const height = box.scrollHeight;
      b.remove();
      putItems(page.items.map((m) => ['m:' + m.id, { kind: 'message', at: m.created_at, m }]), true);
      box.scrollTop += box.scrollHeight - height; // what the agent was reading stays where it was
      if (page.next_cursor) earlierButton(id, page.next_cursor);
    } catch (x) { b.disabled = false; toast(x.message, true); }
  } }, t('thread.earlier'));
  b.dataset.at = '0';
  box.prepend(b);
}
async function refreshNotes(id) {
  try {
    const notes = await api('GET', `/conversations/${id}/notes`);
    if (!showing(id)) return;
    putItems(notes.map((n) => ['n:' + n.id, { kind: 'note', at: n.created_at, n }]));
  } catch (x) { toast(x.message, true); }
}
async function refreshEvents(id) {
  try {
    const events = await api('GET', `/conversations/${id}/events?limit=200`);
    if (!showing(id)) return;
    putItems((events.items || events).map((e) => ['e:' + e.id, { kind: 'event', at: e.created_at, e }]));
  } catch { /* the timeline is secondary */ }
}

// One entry of the thread: inserted in time order, or replaced in place; the view stays at the bottom if it was there.
function putItem(key, item) { putItems([[key, item]]); }
// Several entries at once: the layout is read once before and the view moved once after (reading it between
// insertions made the browser lay the thread out again for every message). `keepTop`: older entries added
// above what the agent reads, which stays where it is (the caller moves the view).
function putItems(entries, keepTop) {
  const box = $('#thread');
  if (!box || !entries.length) return;
  const atBottom = !keepTop && box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  let mineSent = false, last = null;
  // Oldest first, so that each goes in after the ones before it.
  const sorted = entries.map(([key, item]) => [key, item, Date.parse(item.at)]).sort((a, b) => a[2] - b[2]);
  for (const [key, item, at] of sorted) {
    const node = renderItem(item);
    // Times as numbers: RFC 3339 strings with different numbers of fractional digits do not sort as text.
    node.dataset.key = key; node.dataset.at = String(at);
    const old = S.thread.get(key);
    S.thread.set(key, item);
    if (item.kind === 'message' && item.m.direction === 'outbound' && item.m.author_user_id === S.me.id && !old) mineSent = true;
    if (old) { const el = box.querySelector(`[data-key="${key}"]`); if (el) { el.replaceWith(node); last = node; continue; } }
    // Usually right after the entry inserted just before (the batch is in order); otherwise found from the end.
    let before;
    const next = last && last.parentNode === box ? last.nextElementSibling : undefined;
    if (next !== undefined && (!next || Number(next.dataset.at) > at)) before = next;
    else {
      before = null;
      for (let el = box.lastElementChild; el; el = el.previousElementSibling) { if (Number(el.dataset.at) <= at) break; before = el; }
    }
    box.insertBefore(node, before);
    last = node;
  }
  if (atBottom || mineSent) box.scrollTop = box.scrollHeight;
}
// Delivery statuses in words (the catalogue's `delivery.*`); `received` needs none.
const STATUS = ['queued', 'accepted', 'sending', 'sent', 'delivered', 'read', 'failed', 'undelivered'];
function renderItem(item) {
  if (item.kind === 'note') {
    const n = item.n;
    return h('div', { class: 'msg note', 'data-note': n.id }, h('div', { class: 'by' }, t('thread.note_by', { name: n.author_label })), n.body, h('div', { class: 'foot' }, fmtTime(n.created_at)));
  }
  if (item.kind === 'event') return h('div', { class: 'event' }, describeEvent(item.e), ' · ', fmtTime(item.e.created_at));
  const m = item.m;
  const failed = m.status === 'failed' || m.status === 'undelivered';
  const media = (m.attachments || []).map((a) => {
    const url = '/api/v1/attachments/' + a.id;
    if (a.download_state === 'refused') return h('div', { class: 'muted' }, t('thread.file_refused'));
    if (a.download_state !== 'downloaded') return h('div', { class: 'muted' }, t(a.download_state === 'pending' ? 'thread.file_pending' : 'thread.file_failed'));
    const type = a.content_type || '';
    const name = a.filename || type || t('thread.file');
    const download = h('a', { href: url, download: a.filename || 'file' }, a.size_bytes ? t('thread.download_size', { name, kb: Math.ceil(a.size_bytes / 1024) }) : t('thread.download', { name }));
    if (type.startsWith('image/')) return h('a', { href: url, target: '_blank', rel: 'noopener' }, h('img', { class: 'media', src: url, alt: a.filename || t('thread.image'), width: '240', height: '180', loading: 'lazy' }));
    if (type.startsWith('audio/')) return h('div', { class: 'media' }, h('audio', { controls: '', preload: 'metadata', src: url, 'aria-label': t('thread.voice') }), download);
    if (type.startsWith('video/')) return h('div', { class: 'media' }, h('video', { controls: '', preload: 'metadata', src: url, width: '240' }), download);
    if (/^text\/(x-)?vcard/.test(type)) return vcard(url, download);
    return download;
  });
  const context = [
    m.forwarded && h('div', { class: 'by forwarded' }, t(m.frequently_forwarded ? 'thread.forwarded_many' : 'thread.forwarded')),
    m.referral && h('div', { class: 'referral' }, m.referral.headline ? t('thread.from_ad_headline', { headline: m.referral.headline }) : t('thread.from_ad'),
      m.referral.source_url && [' · ', h('a', { href: m.referral.source_url, target: '_blank', rel: 'noopener noreferrer' }, t('thread.open_ad'))]),
    m.reply_to && h('a', { class: 'quote', href: '#', 'data-quote': m.reply_to.message_id || '',
      onclick: (e) => { e.preventDefault(); const q = m.reply_to.message_id && document.querySelector(`[data-message="${m.reply_to.message_id}"]`); if (q) { q.scrollIntoView({ block: 'center' }); q.classList.add('flash'); setTimeout(() => q.classList.remove('flash'), 1200); } } },
      m.reply_to.body || t('thread.earlier_message')),
  ];
  const place = m.location && h('a', { class: 'location', target: '_blank', rel: 'noopener noreferrer',
    href: `https://www.openstreetmap.org/?mlat=${m.location.latitude}&mlon=${m.location.longitude}#map=17/${m.location.latitude}/${m.location.longitude}` },
    t('thread.location', { place: (m.location.label || `${m.location.latitude}, ${m.location.longitude}`) + (m.location.address ? ' — ' + m.location.address : '') }));
  return h('div', { class: 'msg ' + m.direction, 'data-message': m.id, 'data-status': m.status },
    m.direction === 'outbound' && h('div', { class: 'by' }, (m.template_id ? t('thread.template') + ' · ' : '') + (m.author_user_id ? agentName(m.author_user_id) : m.author_label || 'Switchboard')
      + (m.automation ? ' · ' + (has('automation.' + m.automation.kind) ? t('automation.' + m.automation.kind) : m.automation.kind) : '')),
    m.direction === 'inbound' && m.button_text && h('div', { class: 'by' }, t('thread.chose', { text: m.button_text })),
    m.message_type === 'reaction' && h('div', { class: 'by' }, t('thread.reacted')),
    context, media, place, m.body,
    h('div', { class: 'foot' }, fmtTime(m.created_at), m.direction === 'outbound' && [' · ', h('span', { class: failed ? 'failed status' : 'status' }, STATUS.includes(m.status) ? t('delivery.' + m.status) : m.status === 'received' ? '' : m.status)],
      failed && h('div', { class: 'failed' }, (m.error_message || t('thread.not_delivered')) + (m.error_code ? ' ' + t('thread.error_code', { code: m.error_code }) : '')),
      failed && !m.retried_by && h('button', { class: 'retry', 'data-retry': m.id, onclick: (e) => retry(m, e.target) }, t('thread.retry')),
      failed && m.retried_by && h('div', { class: 'muted' }, t('thread.sent_again')),
      m.retry_of && h('div', { class: 'muted' }, t('thread.new_attempt')),
      m.direction === 'inbound' && h('button', { class: 'link reply-to', 'data-reply': m.id, onclick: () => {
        S.quote = m; S.mode = 'reply'; renderComposer(true);
      } }, t('composer.reply'))));
}
// A contact card (vCard) the customer shared: its names and numbers, read from the file, with the download.
function vcard(url, download) {
  const box = h('div', { class: 'vcard' }, h('div', { class: 'by' }, t('thread.vcard')), download);
  fetch(url, { credentials: 'same-origin' }).then((r) => (r.ok ? r.text() : '')).then((text) => {
    // Folded lines (a line break then a space) continue the line before.
    const lines = text.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
    const value = (line) => line.slice(line.indexOf(':') + 1).replace(/\\([,;\\])/g, '$1').trim();
    const people = [];
    for (const line of lines) {
      const name = line.split(/[;:]/)[0].toUpperCase();
      if (name === 'BEGIN') people.push({ name: '', phones: [] });
      const p = people[people.length - 1];
      if (!p) continue;
      if (name === 'FN') p.name = value(line);
      if (name === 'TEL') p.phones.push(value(line));
    }
    if (people.length) box.insertBefore(h('ul', { class: 'plain' }, people.map((p) => h('li', {}, [p.name || t('thread.vcard_person'), ...p.phones].join(' · ')))), download);
  }).catch(() => {});
  return box;
}
// Sends a failed message again (once: the server refuses a second retry and names the first).
async function retry(m, button) {
  button.disabled = true;
  try {
    const sent = await api('POST', `/conversations/${m.conversation_id}/messages/${m.id}/retry`);
    putItem('m:' + m.id, { kind: 'message', at: m.created_at, m: { ...m, retried_by: sent.id } });
    putItem('m:' + sent.id, { kind: 'message', at: sent.created_at, m: sent });
  } catch (x) { button.disabled = false; toast(x.message, true); }
}
// A timeline event in words (the catalogue's `event.*`): who did it, to whom, why. An event the catalogue does not
// know yet is shown by its kind.
const reasonWords = (group, code) => !code ? '' : has(`${group}.${code}`) ? t(`${group}.${code}`) : String(code).replace(/_/g, ' ');
function describeEvent(e) {
  const d = e.data || {};
  const by = e.actor_type === 'system' ? '' : ' ' + t('event.by', { name: e.actor_type === 'user' && e.actor_id ? agentName(e.actor_id) : e.actor_label || t('event.someone') });
  const to = d.agent_id ? ' ' + t('event.to', { name: agentName(d.agent_id) }) : d.queue_id ? ' ' + t('event.to', { name: queueName(d.queue_id) }) : '';
  const quoted = (text) => (text ? ` (“${text}”)` : '');
  const said = {
    started: () => t('event.started') + quoted(d.topic),
    queued: () => t('event.queued', { queue: d.queue_id ? queueName(d.queue_id) : t('common.a_queue') }),
    assigned: () => t('event.assigned') + to, transferred: () => t('event.transferred') + to, overflowed: () => t('event.overflowed') + to,
    handed_over: () => t('event.handed_over') + to + (d.reason ? ` (${reasonWords('handover', d.reason)})` : ''),
    priority_changed: () => t('event.priority_changed', { from: d.from, to: d.to }),
    status_changed: () => t('event.status_changed', { from: t('status.' + d.from), to: t('status.' + d.to) }),
    csat_rated: () => t('event.csat_rated', { rating: d.rating }) + quoted(d.comment),
    csat_skipped: () => t('event.csat_skipped', { reason: reasonWords('csat_skip', d.reason) }),
    automation_rule_fired: () => t('event.automation_rule_fired', { name: d.rule_name || '' }),
    automation_skipped: () => t('event.automation_skipped', { automation: reasonWords('automation', d.automation),
      reason: d.code && has('error.' + d.code) && current() !== 'en' ? t('error.' + d.code, { field: '', detail: d.reason || '' }) : d.reason || '' }),
    snoozed: () => d.until ? t('event.snoozed_until', { time: fmtTime(d.until) }) : t('event.snoozed_reply'),
    unsnoozed: () => t(d.reason === 'time' ? 'event.snooze_ended' : d.reason === 'customer_call' ? 'event.woken_by_call' : 'event.woken'),
    auto_resolved: () => t('event.auto_resolved', { time: fmtDuration((d.after_minutes || 0) * 60) }),
    call_incoming: () => t('event.call_incoming') + to,
    call_missed: () => t('event.call_missed_' + (d.reason || 'hung_up'), { time: fmtDuration(d.waited_secs || 0) }),
    call_declined: () => t('event.call_declined', { name: agentName(d.agent_id) }),
    call_not_answered: () => t('event.call_not_answered', { name: agentName(d.agent_id) }),
    call_answered: () => t('event.call_answered', { name: agentName(d.agent_id) }),
    call_ended: () => t('event.call_ended', { time: fmtDuration(d.duration_secs || 0) }),
    call_outgoing: () => t('event.call_outgoing', { name: agentName(d.agent_id) }),
    call_not_joined: () => t('event.call_not_joined', { name: agentName(d.agent_id) }),
    call_not_answered_by_customer: () => t('event.call_not_answered_by_customer'),
    call_failed: () => t('event.call_failed'),
    call_permission_requested: () => t('event.call_permission_requested'),
    call_permission_granted: () => t('event.call_permission_granted'),
    call_permission_refused: () => t('event.call_permission_refused'),
    acceptance_timeout: () => t('event.acceptance_timeout', { name: agentName(d.agent_id) })
      + (d.agent_set_away ? ' ' + t('event.set_away', { name: agentName(d.agent_id), n: d.misses_in_a_row }) : ''),
  };
  const words = said[e.kind] ? said[e.kind]() : has('event.' + e.kind) ? t('event.' + e.kind) : e.kind.replace(/_/g, ' ');
  // Words that already name the agent who did it say it once.
  const named = ['call_declined', 'call_answered', 'call_outgoing'].includes(e.kind) && e.actor_id && e.actor_id === d.agent_id;
  return words + (named ? '' : by);
}

function renderHead() {
  const c = S.current, head = $('#head');
  if (!c || !head) return;
  const n = numberOf(c.number_id);
  head.replaceChildren(
    h('div', {}, h('a', { class: 'back', href: '#/inbox' }, t('head.back')), avatar(contactName(c)), h('div', { class: 'who' }, h('h2', { id: 'contact-name' }, contactName(c)),
      h('div', { class: 'meta' }, c.contact.phone && h('span', {}, h('span', { id: 'contact-phone' }, c.contact.phone), ' ',
        h('button', { class: 'copy', 'aria-label': t('head.copy_number'), onclick: () => copy(c.contact.phone) }, t('head.copy'))),
      h('span', {}, t('head.via', { number: n ? `${n.channel_name} · ${n.name} ${n.e164}` : c.number })),
      h('span', {}, c.queue_id ? t('head.queue', { queue: queueName(c.queue_id) }) : t('head.no_queue')),
      h('span', { id: 'assignee' }, c.assignee_id && c.routing_state === 'assigned' ? (c.assignee_id === S.me.id ? t('head.assigned_you') : t('head.assigned_to', { name: agentName(c.assignee_id) })) : stateWords(c)),
      c.topic && h('span', {}, t('head.topic', { topic: c.topic }))))),
    h('span', { class: 'spacer' }),
    callActions(c),
    windowChip(c));
}

// Calling the customer (on a number that takes calls): "Request call" sends a call-permission template while
// WhatsApp's limits allow one; "Call" is enabled while the customer allows calls.
function callActions(c) {
  const n = numberOf(c.number_id);
  const el = h('span', { id: 'call-actions', class: 'call-actions' });
  if (!n || !n.supports_calling || c.status === 'resolved') return el;
  api('GET', `/conversations/${c.id}/call-permission`).then((p) => {
    if (!S.current || S.current.id !== c.id) return;
    const request = h('button', { id: 'request-call', disabled: !p.may_request, title: p.pending ? t('call.request_pending')
      : p.next_request_at ? t('call.request_after', { time: fmtTime(p.next_request_at) }) : '', onclick: () => requestCall(c) }, t('call.request'));
    const call = h('button', { id: 'place-call', class: 'primary', disabled: !p.may_call, title: p.permitted_until ? t('call.allowed_until', { time: fmtTime(p.permitted_until) })
      : t('call.not_allowed'), onclick: () => import('./calls.js').then((m) => m.placeCall(c.id, c.channel_id, n.sandbox)).catch((x) => toast(x.message, true)) }, t('call.call'));
    // Where it stands, said by the buttons themselves (and their titles) to keep the head on one line.
    el.replaceChildren(request, ' ', call);
    el.setAttribute('id', 'call-actions');
    el.dataset.state = p.pending ? 'pending' : p.may_call ? 'allowed' : 'none';
    el.title = p.pending ? t('call.request_pending') : p.permitted_until ? t('call.allowed_until', { time: fmtTime(p.permitted_until) }) : '';
  }).catch(() => {});
  return el;
}

// Picks a call-permission template and sends it into the conversation.
function requestCall(c) {
  const problem = h('p', { class: 'problem', role: 'alert' });
  const d = h('dialog', { id: 'request-call-dialog', 'aria-labelledby': 'request-call-title' });
  const picker = templatePicker(async (tpl, vars) => {
    const m = await api('POST', `/conversations/${c.id}/messages`, { template: { id: tpl.id, variables: vars } });
    putItem('m:' + m.id, { kind: 'message', at: m.created_at, m });
    d.close(); d.remove(); renderHead();
  }, problem, isCallPermission);
  d.append(h('h2', { id: 'request-call-title' }, t('call.request_title')), h('p', { class: 'muted' }, t('call.request_hint')), picker, problem,
    h('div', { class: 'actions' }, h('button', { onclick: () => { d.close(); d.remove(); } }, t('admin.cancel'))));
  document.body.append(d);
  d.showModal();
}
const stateWords = (c) => t(c.status === 'resolved' ? 'status.resolved' : c.status === 'snoozed' && c.routing_state !== 'assigned' ? 'status.snoozed'
  : ['waiting', 'unowned', 'ai', 'blocked', 'notified'].includes(c.routing_state) ? 'state.' + c.routing_state : 'state.routing');
function windowChip(c) {
  if (!c.window_expires_at) return h('span', { class: 'window closed', id: 'window' }, t('window.none'));
  const left = (new Date(c.window_expires_at) - Date.now()) / 1000;
  return left > 0 ? h('span', { class: 'window', id: 'window' }, t('window.left', { time: fmtDuration(left) }))
    : h('span', { class: 'window closed', id: 'window' }, t('window.closed'));
}
setInterval(() => { if (S.current && $('#window')) { const w = $('#window'); const open = S.current.window_open; w.replaceWith(windowChip(S.current));
  if (open && S.current.window_expires_at && new Date(S.current.window_expires_at) <= Date.now()) { S.current.window_open = false; renderComposer(false); } } }, 30000);

export { STATUS, describeEvent, markRead, openConversation, putItem, refreshCurrent, refreshEvents, refreshMessages, refreshNotes, renderHead, renderItem, stateWords, windowChip };
