// The supervisor's view: queues with their waits, agents with presence and load, refreshed live and every 5 s.

import { S } from './state.js';
import { $, fmtDuration, fmtTime, h } from './dom.js';
import { api } from './api.js';

function supervisor() {
  S.page = 'supervisor'; S.current = null;
  $('#main').replaceChildren(h('div', { class: 'page', id: 'supervisor' }, h('h1', {}, 'Right now'), h('div', { id: 'overview' }, 'Loading…')));
  supervisorRefresh();
  S.pageTimer = setInterval(supervisorRefresh, 5000);
}
async function supervisorRefresh() {
  const box = $('#overview');
  if (!box) return;
  try {
    const o = await api('GET', '/overview');
    box.replaceChildren(
      h('h2', {}, 'Queues'), h('table', { id: 'queues-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Queue'), h('th', {}, 'Waiting'), h('th', {}, 'Longest wait'), h('th', {}, 'With an agent'))),
        h('tbody', {}, o.queues.map((q) => h('tr', {}, h('td', {}, q.name), h('td', { 'data-waiting': q.name }, String(q.waiting)), h('td', {}, q.waiting ? fmtDuration(q.longest_wait_secs) : '—'), h('td', {}, String(q.assigned)))))),
      h('p', { class: 'muted' }, `${o.unowned} open conversation(s) with no queue or owner.`),
      h('h2', {}, 'Agents'), h('table', { id: 'agents-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Agent'), h('th', {}, 'Presence'), h('th', {}, 'Load'), h('th', {}, 'Since'))),
        h('tbody', {}, o.agents.map((a) => h('tr', {}, h('td', {}, a.name || a.email, h('div', { class: 'muted' }, a.email)),
          h('td', {}, h('span', { class: 'presence-dot presence-' + a.presence }), a.presence),
          h('td', {}, `${a.load} / ${a.capacity}`), h('td', {}, fmtTime(a.presence_changed_at)))))));
  } catch (x) { box.replaceChildren(h('p', { class: 'error' }, x.message)); }
}

export { supervisor, supervisorRefresh };
