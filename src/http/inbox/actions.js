// The side panel: claim, assign, transfer, status, priority and tags; a refused action puts the controls back.

import { S, agentName, isSup } from './state.js';
import { $, fmtTime, h, toast } from './dom.js';
import { api } from './api.js';
import { matchesView, upsertListItem } from './list.js';
import { refreshEvents, renderHead, stateWords } from './thread.js';
import { renderComposer } from './composer.js';
import { renderContact } from './contact.js';
import { t, wallClock, zonedWeekday } from './i18n.js';

async function act(path, body, method) {
  const c = S.current, problem = $('#side-problem');
  if (problem) problem.textContent = '';
  try {
    S.current = await api(method || 'POST', `/conversations/${c.id}${path ? '/' + path : ''}`, body);
    renderHead(); renderSide(); renderComposer(false); refreshEvents(c.id);
    upsertListItem(c.id, matchesView(S.current) ? S.current : null);
  } catch (x) {
    // Put the controls back as the conversation really is, and say why.
    const side = $('#side-actions'); if (side) { side.dataset.shape = ''; renderSide(); }
    const p = $('#side-problem'); if (p) p.textContent = x.message; else toast(x.message, true);
  }
}
const PRIORITY = ['urgent', 'high', 'normal', 'low'];

// When a snooze choice ends, in the agent's own time zone (null: at the customer's next message).
function snoozeUntil(choice) {
  if (choice === 'reply') return null;
  if (choice === '1h') return new Date(Date.now() + 3600e3).toISOString();
  if (choice === 'tomorrow') return wallClock(1, 9, 0).toISOString();
  if (choice === 'monday') return wallClock(((8 - zonedWeekday()) % 7) || 7, 9, 0).toISOString();
  return undefined;
}
function renderSide() {
  const c = S.current, frame = $('#side');
  if (!c || !frame) return;
  // The actions are drawn again when the conversation changes; the contact panel below them only for another contact.
  let side = $('#side-actions'), panel = $('#contact-panel');
  if (!side || !panel) {
    side = h('div', { id: 'side-actions' }); panel = h('section', { id: 'contact-panel', class: 'contact-panel', 'aria-label': t('contact.title') });
    frame.replaceChildren(side, panel);
  }
  renderContact();
  const shape = JSON.stringify([c.id, c.routing_state, c.assignee_id, c.queue_id, c.status, c.snoozed_until, c.priority, c.tag_ids]);
  if (side.dataset.shape === shape) return;
  side.dataset.shape = shape;
  const mine = c.routing_state === 'assigned' && c.assignee_id === S.me.id;
  // Agents grouped by presence (online first), so that a name is never cut short by what follows it.
  const agentOptions = ['online', 'away', 'offline'].map((p) => [p, S.dir.agents.filter((a) => (a.presence || 'offline') === p)]).filter(([, list]) => list.length)
    .map(([p, list]) => h('optgroup', { label: t('presence.' + p) }, list.map((a) => h('option', { value: a.id }, a.name || a.email))));
  const assignTo = h('select', { 'aria-label': t('side.assign_to'), id: 'assign-agent' }, agentOptions);
  const transferTo = h('select', { 'aria-label': t('side.transfer_to'), id: 'transfer-target' },
    h('optgroup', { label: t('side.queues') }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
    h('optgroup', { label: t('side.agents') }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))));
  const priority = h('select', { 'aria-label': t('side.priority'), id: 'priority', value: c.priority_level, onchange: (e) => act('', { priority_level: e.target.value }, 'PATCH') },
    PRIORITY.map((v) => h('option', { value: v }, t('priority.' + v))));
  const resolved = c.status === 'resolved';
  side.replaceChildren(h('div', {},
    h('h3', {}, t('side.ownership')),
    h('p', {}, c.routing_state === 'assigned' ? (mine ? t('side.yours') : t('side.held_by', { name: agentName(c.assignee_id) })) : stateWords(c)),
    !resolved && !mine && ['waiting', 'unowned', 'assigned'].includes(c.routing_state) && (c.routing_state !== 'assigned' || isSup()) &&
      h('button', { class: 'primary', id: 'claim', onclick: () => act('claim') }, t('side.claim')),
    !resolved && isSup() && c.routing_state === 'ai' && h('button', { class: 'primary', id: 'take-over', onclick: () => act('handover', { note: t('side.taken_over') }) }, t('side.take_over')),
    !resolved && isSup() && h('div', { class: 'line gap-top' }, assignTo, h('button', { id: 'assign', onclick: () => act('assign', { agent_id: assignTo.value }) }, t('side.assign'))),
    !resolved && h('div', { class: 'line' }, transferTo, h('button', { id: 'transfer', onclick: () => {
      const [kind, id] = transferTo.value.split(':');
      act('transfer', kind === 'q' ? { queue_id: id } : { agent_id: id });
    } }, t('side.transfer'))),
    h('h3', {}, t('side.status')),
    c.status === 'snoozed' && h('p', { id: 'snoozed' }, c.snoozed_until ? t('side.snoozed_until', { time: fmtTime(c.snoozed_until) }) : t('side.snoozed_reply')),
    h('div', { class: 'line' },
      !resolved && c.status !== 'snoozed' && h('select', { 'aria-label': t('side.status'), id: 'status', value: c.status, onchange: (e) => act('', { status: e.target.value }, 'PATCH') },
        h('option', { value: 'open' }, t('status.open')), h('option', { value: 'pending' }, t('status.pending'))),
      c.status === 'snoozed' && h('button', { id: 'wake', onclick: () => act('', { status: 'open' }, 'PATCH') }, t('side.wake')),
      resolved ? h('button', { id: 'reopen', onclick: () => act('reopen') }, t('side.reopen')) : h('button', { id: 'resolve', onclick: () => act('resolve') }, t('side.resolve'))),
    !resolved && h('div', { class: 'line' }, h('select', { 'aria-label': t('side.snooze'), id: 'snooze', onchange: (e) => {
      const until = snoozeUntil(e.target.value);
      if (until !== undefined) act('snooze', { until });
    } }, h('option', { value: '' }, t(c.status === 'snoozed' ? 'side.snooze_again' : 'side.snooze_choose')),
      h('option', { value: 'reply' }, t('side.snooze_reply')), h('option', { value: '1h' }, t('side.snooze_hour')),
      h('option', { value: 'tomorrow' }, t('side.snooze_tomorrow')), h('option', { value: 'monday' }, t('side.snooze_monday')))),
    h('h3', {}, t('side.priority')),
    h('div', { class: 'line' }, priority),
    h('h3', {}, t('side.tags')),
    h('div', { class: 'tags' }, S.tags.length ? S.tags.map((tag) => h('label', {}, h('input', { type: 'checkbox', checked: c.tag_ids.includes(tag.id), 'data-tag': tag.name, onchange: () => {
      const ids = [...side.querySelectorAll('[data-tag-id]:checked')].map((x) => x.dataset.tagId);
      act('tags', { tag_ids: ids }, 'PUT');
    }, 'data-tag-id': tag.id }), ' ', tag.name)) : h('p', { class: 'muted' }, t('side.no_tags'))),
    h('p', { class: 'problem error', id: 'side-problem', role: 'alert' })));
}

export { act, renderSide };
