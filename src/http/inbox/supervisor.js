// The supervisor's view: queues with their waits, agents with presence and load, refreshed live and every 5 s.

import { S } from './state.js';
import { $, fmtDuration, fmtTime, h } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';

function supervisor() {
  S.page = 'supervisor'; S.current = null;
  $('#main').replaceChildren(h('div', { class: 'page', id: 'supervisor' }, h('h1', {}, t('sup.title')), h('div', { id: 'overview' }, t('common.loading'))));
  supervisorRefresh();
  S.pageTimer = setInterval(supervisorRefresh, 5000);
}
async function supervisorRefresh() {
  const box = $('#overview');
  if (!box) return;
  try {
    const o = await api('GET', '/overview');
    box.replaceChildren(
      h('h2', {}, t('side.queues')), h('table', { id: 'queues-table' }, h('thead', {}, h('tr', {}, h('th', {}, t('sup.queue')), h('th', {}, t('sup.waiting')), h('th', {}, t('sup.longest')), h('th', {}, t('sup.assigned')))),
        h('tbody', {}, o.queues.map((q) => h('tr', {}, h('td', {}, q.name), h('td', { 'data-waiting': q.name }, String(q.waiting)), h('td', {}, q.waiting ? fmtDuration(q.longest_wait_secs) : '—'), h('td', {}, String(q.assigned)))))),
      h('p', { class: 'muted' }, t('sup.unowned', { n: o.unowned })),
      h('h2', {}, t('side.agents')), h('table', { id: 'agents-table' }, h('thead', {}, h('tr', {}, h('th', {}, t('sup.agent')), h('th', {}, t('sup.presence')), h('th', {}, t('sup.load')), h('th', {}, t('sup.since')))),
        h('tbody', {}, o.agents.map((a) => h('tr', {}, h('td', {}, a.name || a.email, h('div', { class: 'muted' }, a.email)),
          h('td', {}, h('span', { class: 'presence-dot presence-' + a.presence }), t('presence.' + a.presence)),
          h('td', {}, `${a.load} / ${a.capacity}`), h('td', {}, fmtTime(a.presence_changed_at)))))));
  } catch (x) { box.replaceChildren(h('p', { class: 'error' }, x.message)); }
}

export { supervisor, supervisorRefresh };
