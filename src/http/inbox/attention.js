// What draws an agent's attention while they work all day: counts on the view buttons and in the page title,
// a desktop notification and a short sound when a conversation is assigned to them or its customer writes
// (switchable; the browser asks for permission once, when it is switched on), and keyboard shortcuts with a
// `?` overlay that lists them.

import { S, contactName } from './state.js';
import { $, debounce, h } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';

// Counts ----------------------------------------------------------------------------------------------------

const VIEW_COUNT = { mine: 'mine', queues: 'claimable', ai: 'ai', all: 'all' };
async function refreshCounts() {
  if (!S.me) return;
  let c;
  try { c = await api('GET', '/conversations/counts'); } catch { return; }
  for (const b of document.querySelectorAll('[data-view]')) {
    const n = c[VIEW_COUNT[b.dataset.view]];
    let badge = b.querySelector('.count');
    if (!badge) { badge = h('span', { class: 'count' }); b.append(badge); }
    badge.textContent = n ? String(n) : '';
    badge.setAttribute('aria-label', n ? t('view.count', { n }) : '');
  }
  document.title = (c.mine_unread ? `(${c.mine_unread}) ` : '') + 'Switchboard';
}
const refreshCountsSoon = debounce(refreshCounts, 400);

// Notifications and sound ------------------------------------------------------------------------------------

const KEY = 'switchboard.alerts';
const alertsOn = () => localStorage.getItem(KEY) === 'on';
// The control in the top bar: switching it on asks the browser's permission (once; the browser remembers).
function alertsToggle() {
  const b = h('button', { id: 'alerts', 'aria-pressed': String(alertsOn()), title: t('alerts.title'),
    onclick: async () => {
      const on = !alertsOn();
      if (on && 'Notification' in window && Notification.permission === 'default') {
        try { await Notification.requestPermission(); } catch { /* the sound still plays */ }
      }
      localStorage.setItem(KEY, on ? 'on' : 'off');
      b.setAttribute('aria-pressed', String(on)); b.textContent = t(on ? 'alerts.on' : 'alerts.off');
    } }, t(alertsOn() ? 'alerts.on' : 'alerts.off'));
  return b;
}
let audio;
function chime() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination); osc.start(); osc.stop(audio.currentTime + 0.35);
  } catch { /* no audio device */ }
}
function notifyAgent(title, body, id) {
  if (!alertsOn()) return;
  chime();
  if ('Notification' in window && Notification.permission === 'granted' && document.visibilityState !== 'visible') {
    const n = new Notification(title, { body, tag: id });
    n.onclick = () => { window.focus(); location.hash = '#/inbox/' + id; n.close(); };
  }
}
// Who held each conversation when the page last heard of it: a change to "you" is a new assignment.
const held = new Map();
// Called by the live feed with a conversation as it is after a change.
function noticeChange(kind, c) {
  refreshCountsSoon();
  if (!c || !S.me) return;
  const mine = c.routing_state === 'assigned' && c.assignee_id === S.me.id;
  const before = held.get(c.id);
  held.set(c.id, mine ? S.me.id : c.assignee_id);
  const name = contactName(c);
  if (mine && before !== S.me.id && kind === 'conversation') notifyAgent(t('alerts.assigned', { name }), c.last_message ? c.last_message.body : '', c.id);
  else if (mine && kind === 'message' && c.unread && c.last_message && c.last_message.direction === 'inbound'
    && (document.visibilityState !== 'visible' || !S.current || S.current.id !== c.id)) notifyAgent(name, c.last_message.body, c.id);
}
function remember(list) { for (const c of list) held.set(c.id, c.routing_state === 'assigned' ? c.assignee_id : null); }

// Keyboard shortcuts ------------------------------------------------------------------------------------------

const SHORTCUTS = [['j', 'keys.next'], ['k', 'keys.previous'], ['r', 'keys.reply'], ['n', 'keys.note'],
  ['e', 'keys.resolve'], ['/', 'keys.search'], ['?', 'keys.help'], ['Esc', 'keys.escape']];
function help() {
  let d = $('#shortcuts');
  if (!d) {
    d = h('dialog', { id: 'shortcuts', 'aria-label': t('keys.title') }, h('h2', {}, t('keys.title')),
      h('dl', { class: 'facts' }, SHORTCUTS.map(([k, what]) => [h('dt', {}, h('kbd', {}, k)), h('dd', {}, t(what))])),
      h('button', { onclick: () => d.close() }, t('keys.close')));
    document.body.append(d);
  }
  if (d.open) d.close(); else d.showModal();
}
function step(by) {
  const items = [...document.querySelectorAll('#items .item')];
  if (!items.length) return;
  const at = items.findIndex((a) => a.getAttribute('aria-current') === 'true');
  const next = items[Math.max(0, Math.min(items.length - 1, at < 0 ? 0 : at + by))];
  location.hash = '#/inbox/' + next.dataset.id;
  next.focus();
}
function mode(which) {
  const b = document.querySelector(`[data-mode="${which}"]`);
  if (b) b.click();
  const box = $('#message');
  if (box) box.focus();
}
function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t.closest && t.closest('input, textarea, select, [contenteditable], dialog')) return;
  if (S.page !== 'inbox' && e.key !== '?') return;
  const act = { j: () => step(1), k: () => step(-1), r: () => mode('reply'), n: () => mode('note'),
    e: () => { const b = $('#resolve'); if (b) b.click(); }, '/': () => { const s = $('#search'); if (s) s.focus(); }, '?': help }[e.key];
  if (act) { e.preventDefault(); act(); }
}
document.addEventListener('keydown', onKey);

export { alertsToggle, noticeChange, refreshCounts, refreshCountsSoon, remember };
