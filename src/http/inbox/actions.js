// The side panel: claim, assign, transfer, status, priority and tags; a refused action puts the controls back.

import { S, agentName, isSup } from './state.js';
import { $, h, toast } from './dom.js';
import { api } from './api.js';
import { matchesView, upsertListItem } from './list.js';
import { refreshEvents, renderHead, stateWords } from './thread.js';
import { renderComposer } from './composer.js';

async function act(path, body, method) {
  const c = S.current, problem = $('#side-problem');
  if (problem) problem.textContent = '';
  try {
    S.current = await api(method || 'POST', `/conversations/${c.id}${path ? '/' + path : ''}`, body);
    renderHead(); renderSide(); renderComposer(false); refreshEvents(c.id);
    upsertListItem(c.id, matchesView(S.current) ? S.current : null);
  } catch (x) {
    // Put the controls back as the conversation really is, and say why.
    const side = $('#side'); if (side) { side.dataset.shape = ''; renderSide(); }
    const p = $('#side-problem'); if (p) p.textContent = x.message; else toast(x.message, true);
  }
}
function renderSide() {
  const c = S.current, side = $('#side');
  if (!c || !side) return;
  const shape = JSON.stringify([c.id, c.routing_state, c.assignee_id, c.queue_id, c.status, c.priority, c.tag_ids]);
  if (side.dataset.shape === shape) return;
  side.dataset.shape = shape;
  const mine = c.routing_state === 'assigned' && c.assignee_id === S.me.id;
  const agentOptions = S.dir.agents.map((a) => h('option', { value: a.id }, `${a.name || a.email} (${a.presence})`));
  const assignTo = h('select', { 'aria-label': 'Agent to assign', id: 'assign-agent' }, agentOptions);
  const transferTo = h('select', { 'aria-label': 'Transfer to', id: 'transfer-target' },
    h('optgroup', { label: 'Queues' }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
    h('optgroup', { label: 'Agents' }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))));
  const priority = h('input', { type: 'number', min: '-1000', max: '1000', value: String(c.priority), 'aria-label': 'Priority', id: 'priority' });
  const resolved = c.status === 'resolved';
  side.replaceChildren(h('div', {},
    h('h3', {}, 'Ownership'),
    h('p', {}, c.routing_state === 'assigned' ? (mine ? 'You hold it.' : 'Held by ' + agentName(c.assignee_id) + '.') : stateWords(c) + '.'),
    !resolved && !mine && ['waiting', 'unowned', 'assigned'].includes(c.routing_state) && (c.routing_state !== 'assigned' || isSup()) &&
      h('button', { class: 'primary', id: 'claim', onclick: () => act('claim') }, 'Claim'),
    !resolved && isSup() && c.routing_state === 'ai' && h('button', { class: 'primary', id: 'take-over', onclick: () => act('handover', { note: 'Taken over from the AI agent' }) }, 'Take over from the AI agent'),
    !resolved && isSup() && h('div', { class: 'line gap-top' }, assignTo, h('button', { id: 'assign', onclick: () => act('assign', { agent_id: assignTo.value }) }, 'Assign')),
    !resolved && h('div', { class: 'line' }, transferTo, h('button', { id: 'transfer', onclick: () => {
      const [kind, id] = transferTo.value.split(':');
      act('transfer', kind === 'q' ? { queue_id: id } : { agent_id: id });
    } }, 'Transfer')),
    h('h3', {}, 'Status'),
    h('div', { class: 'line' },
      !resolved && h('select', { 'aria-label': 'Status', id: 'status', value: c.status, onchange: (e) => act('', { status: e.target.value }, 'PATCH') },
        h('option', { value: 'open' }, 'Open'), h('option', { value: 'pending' }, 'Pending')),
      resolved ? h('button', { id: 'reopen', onclick: () => act('reopen') }, 'Reopen') : h('button', { id: 'resolve', onclick: () => act('resolve') }, 'Resolve')),
    h('h3', {}, 'Priority'),
    h('div', { class: 'line' }, priority, h('button', { onclick: () => act('', { priority: Number(priority.value) }, 'PATCH') }, 'Save')),
    h('h3', {}, 'Tags'),
    h('div', { class: 'tags' }, S.tags.length ? S.tags.map((t) => h('label', {}, h('input', { type: 'checkbox', checked: c.tag_ids.includes(t.id), 'data-tag': t.name, onchange: () => {
      const ids = [...side.querySelectorAll('[data-tag-id]:checked')].map((x) => x.dataset.tagId);
      act('tags', { tag_ids: ids }, 'PUT');
    }, 'data-tag-id': t.id }), ' ', t.name)) : h('p', { class: 'muted' }, 'No tags defined yet.')),
    h('p', { class: 'problem error', id: 'side-problem', role: 'alert' })));
}

export { act, renderSide };
