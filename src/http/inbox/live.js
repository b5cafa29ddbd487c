// The live feed: one WebSocket (/api/v1/live) that names what changed; the page then reads it through the API.
// On every (re)connection whatever changed meanwhile is read again.

import { S } from './state.js';
import { $, debounce } from './dom.js';
import { api } from './api.js';
import { loadList, matchesView, upsertListItem } from './list.js';
import { markRead, openConversation, refreshCurrent, refreshEvents, refreshMessages, refreshNotes, renderHead } from './thread.js';
import { renderComposer } from './composer.js';
import { renderSide } from './actions.js';
import { supervisorRefresh } from './supervisor.js';
import { noticeChange, refreshCounts, refreshCountsSoon } from './attention.js';
import { t } from './i18n.js';
import { onCallChange } from './calls.js';

function closeLive() { if (S.ws) { const ws = S.ws; S.ws = null; ws.close(); } }
function setConn(live) {
  const el = $('#conn');
  if (el) el.textContent = live ? '' : t('live.reconnecting');
}
function connectLive() {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/live');
  S.ws = ws;
  ws.onmessage = (m) => {
    let e; try { e = JSON.parse(m.data); } catch { return; }
    // Whatever changed before this connection began to listen is read again (also on the first hello: the page
    // may have loaded its list just before).
    if (e.type === 'hello') { S.retry = 0; setConn(true); resync(); }
    else if (e.type === 'resync') resync();
    else if (e.type === 'change') onChange(e);
    else if (e.type === 'changes') e.changes.forEach(onChange);
  };
  ws.onclose = (ev) => {
    if (S.ws !== ws) return;
    setConn(false);
    // 1012: the server is restarting and said so; another node answers at once (spread over half a second, so
    // that a node's agents do not all arrive together). Anything else: back off.
    const wait = ev.code === 1012 ? 50 + Math.random() * 450 : Math.min(4000, 250 * 2 ** S.retry++);
    setTimeout(() => { if (S.ws === ws && S.me) connectLive(); }, wait);
  };
}
// After a dropped connection: whatever changed meanwhile is read again.
function resync() {
  refreshCounts();
  if (S.page === 'inbox') { loadList(); if (S.current) openConversation(S.current.id, true); }
  else if (S.page === 'supervisor') supervisorRefresh();
}
const refreshListSoon = debounce(() => loadList(), 300);
const supervisorSoon = debounce(() => supervisorRefresh(), 500);
async function onChange(e) {
  // A call may ring you whatever page you are on.
  if (e.kind === 'call') onCallChange(e.id);
  if (S.page === 'supervisor') supervisorSoon();
  if (S.page !== 'inbox') { refreshCountsSoon(); return; }
  const id = e.conversation_id;
  const isCurrent = S.current && S.current.id === id;
  if (isCurrent && e.kind === 'message') refreshMessages(id);
  if (isCurrent && e.kind === 'note') refreshNotes(id);
  if (S.filters.q) { refreshListSoon(); refreshCountsSoon(); if (isCurrent && e.kind === 'conversation') refreshCurrent(); return; }
  let c = null;
  try { c = await api('GET', '/conversations/' + id); } catch (x) { if (x.status !== 404) return; }
  noticeChange(e.kind, c);
  if (c && isCurrent && S.current && S.current.id === id) {
    if (e.kind === 'message' && c.unread && document.visibilityState === 'visible') { c.unread = false; markRead(id); }
    S.current = c; renderHead(); renderSide(); renderComposer(false);
    if (e.kind === 'conversation' || e.kind === 'call') refreshEvents(id);
  }
  upsertListItem(id, c && matchesView(c) ? c : null);
}

export { closeLive, connectLive, onChange, refreshListSoon, resync, setConn, supervisorSoon };
