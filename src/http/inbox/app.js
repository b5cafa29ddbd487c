// Switchboard's agent inbox. Plain JavaScript, no dependencies: the page talks to /api/v1 and keeps one
// WebSocket (/api/v1/live) open, which names what changed; the page then reads it through the API.
'use strict';
(() => {
  const S = {
    me: null, role: 'agent', csrf: '',
    dir: { numbers: [], queues: [], agents: [] }, tags: [], templates: [], canned: [],
    view: 'mine', filters: { status: 'unresolved', number_id: '', tag_id: '', q: '' },
    list: [], next: null, current: null, thread: new Map(), mode: 'reply', attachments: [],
    ws: null, retry: 0, page: null,
  };
  const isSup = () => S.role === 'supervisor' || S.role === 'admin';
  const isAdmin = () => S.role === 'admin';

  // ---- DOM helpers ---------------------------------------------------------------------------------------------
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    let value;
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the page's Content-Security-Policy
      else if (k === 'value') value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'multiple' || k === 'selected') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid.nodeType ? kid : String(kid));
    if (value !== undefined) el.value = value;
    return el;
  }
  const $ = (sel, root = document) => root.querySelector(sel);
  function toast(text, bad) {
    const t = h('div', { class: 'toast' + (bad ? ' bad' : '') }, text);
    $('#toasts').append(t);
    setTimeout(() => t.remove(), bad ? 8000 : 4000);
  }
  const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };
  const fmtTime = (iso) => {
    if (!iso) return '';
    const d = new Date(iso), now = new Date();
    return d.toDateString() === now.toDateString()
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  };
  const fmtDuration = (secs) => {
    secs = Math.max(0, Math.round(secs));
    const h_ = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60);
    return h_ ? `${h_}h ${m}m` : m ? `${m}m` : `${secs}s`;
  };
  const agentName = (id) => { const a = S.dir.agents.find((x) => x.id === id); return a ? (a.name || a.email) : 'an agent'; };
  const queueName = (id) => { const q = S.dir.queues.find((x) => x.id === id); return q ? q.name : 'a queue'; };
  const numberOf = (id) => S.dir.numbers.find((x) => x.id === id);
  const contactName = (c) => c.contact.name || c.contact.phone || 'Customer';
  async function copy(text) {
    try { await navigator.clipboard.writeText(text); toast('Copied ' + text); }
    catch { const i = h('textarea', { value: text }); document.body.append(i); i.select(); document.execCommand('copy'); i.remove(); toast('Copied ' + text); }
  }

  // ---- API -------------------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, e) {
      super((e && e.message) || `The server answered ${status}.`);
      this.status = status; this.code = e && e.code; this.details = (e && e.details) || {};
    }
  }
  async function api(method, path, body) {
    const opt = { method, headers: {}, credentials: 'same-origin' };
    if (method !== 'GET') opt.headers['x-csrf-token'] = S.csrf;
    if (body instanceof FormData) opt.body = body;
    else if (body !== undefined) { opt.headers['content-type'] = 'application/json'; opt.body = JSON.stringify(body); }
    let r;
    try { r = await fetch('/api/v1' + path, opt); }
    catch { throw new ApiError(0, { message: 'The server cannot be reached: check the connection. Nothing was saved.' }); }
    if (r.status === 204) return null;
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      if (r.status === 401 && S.me && path !== '/auth/login') { S.me = null; showLogin('Your session ended: log in again.'); }
      throw new ApiError(r.status, data && data.error);
    }
    return data;
  }
  const qs = (o) => Object.entries(o).filter(([, v]) => v !== '' && v != null).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');

  // ---- Log in ------------------------------------------------------------------------------------------------------
  function showLogin(message) {
    closeLive();
    const err = h('p', { class: 'error', role: 'alert' }, message || '');
    const email = h('input', { id: 'email', type: 'email', autocomplete: 'username', required: true });
    const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const form = h('form', { class: 'login', onsubmit: async (e) => {
      e.preventDefault(); err.textContent = '';
      try {
        const r = await api('POST', '/auth/login', { email: email.value.trim(), password: password.value });
        S.csrf = r.csrf_token;
        if (r.must_change_password) showPasswordChange(password.value); else start();
      } catch (x) { err.textContent = x.message; }
    } }, h('h1', {}, 'Switchboard'), h('label', { for: 'email' }, 'E-mail'), email,
    h('label', { for: 'password' }, 'Password'), password, err, h('button', { class: 'primary', type: 'submit' }, 'Log in'));
    $('#app').replaceChildren(form);
    email.focus();
  }

  function showPasswordChange(current) {
    const err = h('p', { class: 'error', role: 'alert' });
    const cur = h('input', { id: 'current', type: 'password', autocomplete: 'current-password', value: current || '' });
    const next = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password' });
    const again = h('input', { id: 'new-password-again', type: 'password', autocomplete: 'new-password' });
    const form = h('form', { class: 'login', onsubmit: async (e) => {
      e.preventDefault(); err.textContent = '';
      if (next.value !== again.value) { err.textContent = 'The two new passwords are not the same.'; return; }
      try { await api('POST', '/auth/password', { current_password: cur.value, new_password: next.value }); start(); }
      catch (x) { err.textContent = x.message; }
    } }, h('h1', {}, 'Choose your password'),
    h('p', { class: 'muted' }, 'This is your first login: replace the one-time password with one only you know.'),
    h('label', { for: 'current' }, 'One-time password'), cur, h('label', { for: 'new-password' }, 'New password'), next,
    h('label', { for: 'new-password-again' }, 'New password again'), again, err,
    h('button', { class: 'primary', type: 'submit' }, 'Save and continue'));
    $('#app').replaceChildren(form);
    (current ? next : cur).focus();
  }

  async function start() {
    let me;
    try { me = await api('GET', '/auth/me'); }
    catch (e) { if (e.status === 401) return showLogin(); $('#app').replaceChildren(h('p', { class: 'boot error' }, e.message)); return; }
    if (me.must_change_password) { S.csrf = me.csrf_token || S.csrf; return showPasswordChange(); }
    if (!me.user) { $('#app').replaceChildren(h('p', { class: 'boot' }, 'The inbox is for people: log in with your e-mail.')); return; }
    S.me = me.user; S.role = me.role; S.csrf = me.csrf_token;
    await loadReference();
    frame();
    connectLive();
    route();
  }

  async function loadReference() {
    const [dir, tags, templates, canned] = await Promise.all([
      api('GET', '/directory'), api('GET', '/tags?limit=200'), api('GET', '/templates?limit=200'),
      api('GET', '/canned-responses?limit=200'),
    ]);
    S.dir = dir; S.tags = tags.items; S.templates = templates.items; S.canned = canned.items;
  }

  // ---- Frame -----------------------------------------------------------------------------------------------------
  function frame() {
    const presence = h('select', { id: 'presence', 'aria-label': 'Your presence', value: S.me.presence || 'offline', onchange: async (e) => {
      try { await api('PUT', '/agents/me/presence', { presence: e.target.value }); S.me.presence = e.target.value; dot.className = 'presence-dot presence-' + e.target.value; }
      catch (x) { toast(x.message, true); e.target.value = S.me.presence; }
    } }, h('option', { value: 'online' }, 'Online'), h('option', { value: 'away' }, 'Away'), h('option', { value: 'offline' }, 'Offline'));
    const dot = h('span', { class: 'presence-dot presence-' + (S.me.presence || 'offline'), 'aria-hidden': 'true' });
    const link = (href, text) => h('a', { href, 'data-nav': href }, text);
    $('#app').replaceChildren(
      h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Switchboard'),
        h('nav', { 'aria-label': 'Main' }, link('#/inbox', 'Inbox'), link('#/new', 'New conversation'),
          isSup() && link('#/supervisor', 'Supervisor'), isSup() && link('#/admin', 'Admin')),
        h('span', { class: 'spacer' }), h('span', { id: 'conn', class: 'conn', role: 'status' }),
        h('span', {}, dot, S.me.name || S.me.email), presence,
        h('button', { id: 'logout', onclick: async () => { try { await api('POST', '/auth/logout'); } catch { /* gone anyway */ } S.me = null; showLogin('You are logged out.'); } }, 'Log out')),
      h('main', { id: 'main' }));
  }

  function route() {
    if (!S.me) return;
    const parts = (location.hash || '#/inbox').slice(2).split('/');
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.getAttribute('data-nav') === '#/' + parts[0]);
    clearInterval(S.pageTimer);
    if (parts[0] === 'new') return newConversation();
    if (parts[0] === 'supervisor' && isSup()) return supervisor();
    if (parts[0] === 'admin' && isSup()) return admin(parts[1] || 'channels');
    inbox(parts[1] || null);
  }
  window.addEventListener('hashchange', route);

  // ---- Live --------------------------------------------------------------------------------------------------------
  function closeLive() { if (S.ws) { const ws = S.ws; S.ws = null; ws.close(); } }
  function setConn(live) {
    const el = $('#conn');
    if (el) el.textContent = live ? '' : 'Reconnecting… changes will appear when the connection is back';
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
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      setConn(false);
      setTimeout(() => { if (S.ws === ws && S.me) connectLive(); }, Math.min(4000, 250 * 2 ** S.retry++));
    };
  }
  // After a dropped connection: whatever changed meanwhile is read again.
  function resync() {
    if (S.page === 'inbox') { loadList(); if (S.current) openConversation(S.current.id, true); }
    else if (S.page === 'supervisor') supervisorRefresh();
  }
  const refreshListSoon = debounce(() => loadList(), 300);
  const supervisorSoon = debounce(() => supervisorRefresh(), 500);
  async function onChange(e) {
    if (S.page === 'supervisor') supervisorSoon();
    if (S.page !== 'inbox') return;
    const id = e.conversation_id;
    const isCurrent = S.current && S.current.id === id;
    if (isCurrent && e.kind === 'message') refreshMessages(id);
    if (isCurrent && e.kind === 'note') refreshNotes(id);
    if (S.filters.q) { refreshListSoon(); if (isCurrent && e.kind === 'conversation') refreshCurrent(); return; }
    let c = null;
    try { c = await api('GET', '/conversations/' + id); } catch (x) { if (x.status !== 404) return; }
    if (c && isCurrent && S.current && S.current.id === id) {
      if (e.kind === 'message' && c.unread && document.visibilityState === 'visible') { c.unread = false; markRead(id); }
      S.current = c; renderHead(); renderSide(); renderComposer(false);
      if (e.kind === 'conversation') refreshEvents(id);
    }
    upsertListItem(id, c && matchesView(c) ? c : null);
  }

  // ---- Inbox -------------------------------------------------------------------------------------------------------
  function matchesView(c) {
    const f = S.filters;
    if (S.view === 'mine' && c.assignee_id !== S.me.id) return false;
    if (S.view === 'mine' && c.routing_state !== 'assigned' && c.status !== 'resolved') return false;
    if (S.view === 'queues' && !['waiting', 'unowned'].includes(c.routing_state)) return false;
    if (f.status === 'unresolved' ? c.status === 'resolved' : f.status && c.status !== f.status) return false;
    if (f.number_id && c.number_id !== f.number_id) return false;
    if (f.tag_id && !c.tag_ids.includes(f.tag_id)) return false;
    return true;
  }
  function listQuery(cursor) {
    const f = S.filters;
    return qs({ status: f.status, number_id: f.number_id, tag_id: f.tag_id, q: f.q.trim(),
      assignee: S.view === 'mine' ? 'me' : '', claimable: S.view === 'queues' ? 'true' : '', cursor, limit: 50 });
  }
  function inbox(id) {
    if (S.page !== 'inbox') {
      S.page = 'inbox';
      const views = h('div', { class: 'views', role: 'group', 'aria-label': 'Views' },
        [['mine', 'Mine'], ['queues', 'Queues'], isSup() && ['all', 'All']].filter(Boolean).map(([v, label]) =>
          h('button', { 'data-view': v, 'aria-pressed': String(S.view === v), onclick: () => { S.view = v; for (const b of views.children) b.setAttribute('aria-pressed', String(b.dataset.view === v)); loadList(); } }, label)));
      const f = S.filters;
      const sel = (name, label, options) => h('select', { 'aria-label': label, 'data-filter': name, value: f[name], onchange: (e) => { f[name] = e.target.value; loadList(); } },
        options.map(([v, t]) => h('option', { value: v }, t)));
      const filters = h('div', { class: 'filters' },
        h('input', { type: 'search', id: 'search', placeholder: 'Search name, number or message text', 'aria-label': 'Search', value: f.q,
          oninput: debounce((e) => { f.q = e.target.value; loadList(); }, 250) }),
        sel('status', 'Status', [['unresolved', 'Open & pending'], ['open', 'Open'], ['pending', 'Pending'], ['resolved', 'Resolved'], ['', 'Any status']]),
        sel('number_id', 'Number', [['', 'All numbers'], ...S.dir.numbers.map((n) => [n.id, n.name + ' ' + n.e164])]),
        sel('tag_id', 'Tag', [['', 'All tags'], ...S.tags.map((t) => [t.id, t.name])]));
      $('#main').replaceChildren(
        h('section', { class: 'list', 'aria-label': 'Conversations' }, views, filters,
          h('ul', { class: 'items', id: 'items' }), h('div', { class: 'more', id: 'more' })),
        h('section', { class: 'conversation', id: 'conversation', 'aria-label': 'Conversation' }),
        h('aside', { class: 'side', id: 'side', 'aria-label': 'Details and actions' }));
      loadList();
    }
    if (id) { if (!S.current || S.current.id !== id) openConversation(id); }
    else { S.current = null; $('#conversation').replaceChildren(h('p', { class: 'empty' }, 'Choose a conversation.')); $('#side').replaceChildren(); renderList(); }
  }

  let listSeq = 0;
  async function loadList(more) {
    const seq = ++listSeq;
    try {
      const page = await api('GET', '/conversations?' + listQuery(more ? S.next : ''));
      if (seq !== listSeq) return;
      S.list = more ? S.list.concat(page.items) : page.items;
      S.next = page.next_cursor;
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
    const stateBadge = (c) => c.status === 'resolved' ? h('span', { class: 'badge resolved' }, 'Resolved')
      : c.routing_state === 'waiting' ? h('span', { class: 'badge waiting' }, 'Waiting · ' + (c.queue_id ? queueName(c.queue_id) : agentName(c.waiting_agent_id)))
      : c.routing_state === 'unowned' ? h('span', { class: 'badge waiting' }, 'Unowned')
      : c.routing_state === 'assigned' ? h('span', { class: 'badge' }, c.assignee_id === S.me.id ? 'Mine' : agentName(c.assignee_id))
      : h('span', { class: 'badge' }, c.routing_state === 'ai' ? 'AI agent' : 'Routing…');
    ul.replaceChildren(...S.list.map((c) => h('li', {}, h('a', {
      class: 'item' + (c.unread ? ' unread' : ''), href: '#/inbox/' + c.id, 'data-id': c.id,
      'aria-current': String(!!(S.current && S.current.id === c.id)), style: 'text-decoration:none;color:inherit',
      'aria-label': contactName(c) + (c.unread ? ', unread' : ''),
    }, h('div', { class: 'row' }, h('span', { class: 'name' }, contactName(c)), h('span', { class: 'time' }, fmtTime(c.last_message ? c.last_message.at : c.updated_at))),
    h('div', { class: 'row' }, h('span', { class: 'preview' }, c.last_message ? (c.last_message.direction === 'outbound' ? 'You: ' : '') + c.last_message.body : c.topic || ''), stateBadge(c))))));
    if (!S.list.length) ul.replaceChildren(h('li', { class: 'empty', style: 'padding:16px' }, S.view === 'queues' ? 'Nobody is waiting in your queues.' : 'No conversations here.'));
    $('#more').replaceChildren(S.next ? h('button', { onclick: () => loadList(true) }, 'Load more') : '');
  }

  // ---- Conversation --------------------------------------------------------------------------------------------
  async function openConversation(id, again) {
    if (!again) { S.thread = new Map(); S.mode = 'reply'; S.attachments = []; }
    let c;
    try { c = await api('GET', '/conversations/' + id); }
    catch (x) { $('#conversation').replaceChildren(h('p', { class: 'empty error' }, x.message)); return; }
    S.current = c;
    if (!again) {
      $('#conversation').replaceChildren(h('header', { class: 'head', id: 'head' }),
        h('div', { class: 'thread', id: 'thread', tabindex: '0', 'aria-label': 'Messages', role: 'log' }),
        h('div', { class: 'composer', id: 'composer' }));
    }
    renderHead(); renderSide(); renderComposer(!again); renderList();
    await Promise.all([refreshMessages(id, 100), refreshNotes(id), refreshEvents(id)]);
    if (c.unread) { c.unread = false; markRead(id); upsertListItem(id, matchesView(c) ? c : null); }
  }
  async function refreshCurrent() {
    if (!S.current) return;
    try { S.current = await api('GET', '/conversations/' + S.current.id); renderHead(); renderSide(); renderComposer(false); } catch { /* gone */ }
  }
  function markRead(id) { api('POST', `/conversations/${id}/read`).catch(() => {}); }
  async function refreshMessages(id, limit) {
    try {
      const page = await api('GET', `/conversations/${id}/messages?sort=-created_at&limit=${limit || 30}`);
      if (!S.current || S.current.id !== id) return;
      for (const m of page.items) putItem('m:' + m.id, { kind: 'message', at: m.created_at, m });
    } catch (x) { toast(x.message, true); }
  }
  async function refreshNotes(id) {
    try {
      const notes = await api('GET', `/conversations/${id}/notes`);
      if (!S.current || S.current.id !== id) return;
      for (const n of notes) putItem('n:' + n.id, { kind: 'note', at: n.created_at, n });
    } catch (x) { toast(x.message, true); }
  }
  async function refreshEvents(id) {
    try {
      const events = await api('GET', `/conversations/${id}/events?limit=200`);
      if (!S.current || S.current.id !== id) return;
      for (const e of (events.items || events)) putItem('e:' + e.id, { kind: 'event', at: e.created_at, e });
    } catch { /* the timeline is secondary */ }
  }

  // One entry of the thread: inserted in time order, or replaced in place; the view stays at the bottom if it was there.
  function putItem(key, item) {
    const box = $('#thread');
    if (!box) return;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const node = renderItem(item);
    // Times as numbers: RFC 3339 strings with different numbers of fractional digits do not sort as text.
    const at = Date.parse(item.at);
    node.dataset.key = key; node.dataset.at = String(at);
    const old = S.thread.get(key);
    S.thread.set(key, item);
    if (old) { const el = box.querySelector(`[data-key="${key}"]`); if (el) { el.replaceWith(node); return; } }
    let before = null;
    for (let el = box.lastElementChild; el; el = el.previousElementSibling) { if (Number(el.dataset.at) <= at) break; before = el; }
    box.insertBefore(node, before);
    if (atBottom || item.kind === 'message' && item.m.direction === 'outbound' && item.m.author_user_id === S.me.id) box.scrollTop = box.scrollHeight;
  }
  const STATUS = { queued: 'Queued', accepted: 'Queued', sending: 'Sending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed', undelivered: 'Not delivered', received: '' };
  function renderItem(item) {
    if (item.kind === 'note') {
      const n = item.n;
      return h('div', { class: 'msg note', 'data-note': n.id }, h('div', { class: 'by' }, 'Private note · ' + n.author_label), n.body, h('div', { class: 'foot' }, fmtTime(n.created_at)));
    }
    if (item.kind === 'event') return h('div', { class: 'event' }, describeEvent(item.e), ' · ', fmtTime(item.e.created_at));
    const m = item.m;
    const failed = m.status === 'failed' || m.status === 'undelivered';
    const media = (m.attachments || []).map((a) => {
      const url = '/api/v1/attachments/' + a.id;
      if (a.download_state !== 'downloaded') return h('div', { class: 'muted' }, a.download_state === 'pending' ? 'Fetching a file…' : 'A file could not be fetched from Twilio.');
      return (a.content_type || '').startsWith('image/')
        ? h('a', { href: url, target: '_blank', rel: 'noopener' }, h('img', { class: 'media', src: url, alt: a.filename || 'image', width: '240', height: '180', loading: 'lazy' }))
        : h('a', { href: url, download: a.filename || 'file' }, 'Download ' + (a.filename || a.content_type || 'file') + (a.size_bytes ? ` (${Math.ceil(a.size_bytes / 1024)} KB)` : ''));
    });
    return h('div', { class: 'msg ' + m.direction, 'data-message': m.id, 'data-status': m.status },
      m.direction === 'outbound' && h('div', { class: 'by' }, (m.template_id ? 'Template · ' : '') + (m.author_label || 'Switchboard')),
      media, m.body,
      h('div', { class: 'foot' }, fmtTime(m.created_at), m.direction === 'outbound' && [' · ', h('span', { class: failed ? 'failed status' : 'status' }, STATUS[m.status] || m.status)],
        failed && h('div', { class: 'failed' }, (m.error_message || 'WhatsApp did not deliver it') + (m.error_code ? ` (error ${m.error_code})` : ''))));
  }
  function describeEvent(e) {
    const d = e.data || {};
    const who = e.actor_type === 'system' ? '' : ' by ' + (e.actor_label || 'someone');
    const to = d.agent_id ? ' to ' + agentName(d.agent_id) : d.queue_id ? ' to ' + queueName(d.queue_id) : '';
    const words = { started: 'Started' + (d.topic ? ` (“${d.topic}”)` : ''), routed: 'Routed', queued: 'Waiting in ' + (d.queue_id ? queueName(d.queue_id) : 'a queue'),
      assigned: 'Assigned' + to, claimed: 'Claimed', transferred: 'Transferred' + to, unassigned: 'Returned to the queue',
      resolved: 'Resolved', reopened: 'Reopened', overflowed: 'Overflowed' + to, handed_over: 'Handed over' + to,
      priority_changed: `Priority ${d.from} → ${d.to}`, status_changed: `Status ${d.from} → ${d.to}` };
    return (words[e.kind] || e.kind.replace(/_/g, ' ')) + who;
  }

  function renderHead() {
    const c = S.current, head = $('#head');
    if (!c || !head) return;
    const n = numberOf(c.number_id);
    head.replaceChildren(
      h('div', {}, h('h2', { id: 'contact-name' }, contactName(c)),
        h('div', { class: 'meta' }, c.contact.phone && h('span', {}, h('span', { id: 'contact-phone' }, c.contact.phone), ' ',
          h('button', { class: 'copy', 'aria-label': 'Copy the number', onclick: () => copy(c.contact.phone) }, 'Copy')),
        h('span', {}, 'via ', n ? `${n.channel_name} · ${n.name} ${n.e164}` : c.number),
        h('span', {}, c.queue_id ? 'Queue: ' + queueName(c.queue_id) : 'No queue'),
        h('span', { id: 'assignee' }, c.assignee_id && c.routing_state === 'assigned' ? 'Assigned to ' + (c.assignee_id === S.me.id ? 'you' : agentName(c.assignee_id)) : stateWords(c)),
        c.topic && h('span', {}, 'Topic: ' + c.topic))),
      h('span', { class: 'spacer', style: 'flex:1' }),
      windowChip(c));
  }
  const stateWords = (c) => c.status === 'resolved' ? 'Resolved' : c.routing_state === 'waiting' ? 'Waiting' : c.routing_state === 'unowned' ? 'Unowned: claim it to answer' : c.routing_state === 'ai' ? 'With the AI agent' : 'Being routed';
  function windowChip(c) {
    if (!c.window_expires_at) return h('span', { class: 'window closed', id: 'window' }, 'No 24-hour window: templates only');
    const left = (new Date(c.window_expires_at) - Date.now()) / 1000;
    return left > 0 ? h('span', { class: 'window', id: 'window' }, 'Window: ' + fmtDuration(left) + ' left')
      : h('span', { class: 'window closed', id: 'window' }, 'Window closed: templates only');
  }
  setInterval(() => { if (S.current && $('#window')) { const w = $('#window'); const open = S.current.window_open; w.replaceWith(windowChip(S.current));
    if (open && S.current.window_expires_at && new Date(S.current.window_expires_at) <= Date.now()) { S.current.window_open = false; renderComposer(false); } } }, 30000);

  // ---- Composer ------------------------------------------------------------------------------------------------
  function renderComposer(focus) {
    const box = $('#composer'), c = S.current;
    if (!box || !c) return;
    // Redrawn only when what it offers changes, so that a message arriving never takes the agent's cursor.
    const shape = [c.id, c.window_open, c.status === 'resolved', S.mode, c.number_id].join('|');
    if (!focus && box.dataset.shape === shape) return;
    box.dataset.shape = shape;
    const prevText = $('#message') ? $('#message').value : '';
    const problem = h('p', { class: 'problem', id: 'composer-problem', role: 'alert' });
    const modeButton = (m, label) => h('button', { 'aria-pressed': String(S.mode === m), 'data-mode': m, onclick: () => { S.mode = m; renderComposer(true); } }, label);
    const modes = h('div', { class: 'modes' }, modeButton('reply', 'Reply'), modeButton('note', 'Private note'),
      h('span', { class: 'muted', style: 'margin-left:8px;font-size:12px' }, S.mode === 'note' ? 'Only your team sees notes.' : 'Enter sends · Shift+Enter: new line · / for saved replies'));
    box.className = 'composer' + (S.mode === 'note' ? ' note' : '');
    if (c.status === 'resolved' && S.mode === 'reply') {
      box.replaceChildren(modes, h('p', { class: 'why' }, 'This conversation is resolved. Reopen it to write again (or the customer\'s next message starts a new one).'),
        h('button', { onclick: () => act('reopen') }, 'Reopen'), problem);
      return;
    }
    if (S.mode === 'reply' && !c.window_open) {
      const why = c.last_inbound_at
        ? `The customer last wrote ${fmtTime(c.last_inbound_at)}: more than 24 hours ago, so WhatsApp allows only an approved template until they write again.`
        : 'The customer has not written yet, so WhatsApp allows only an approved template.';
      box.replaceChildren(modes, h('p', { class: 'why', id: 'window-why' }, why),
        templatePicker(async (t, vars) => {
          await api('POST', `/conversations/${c.id}/messages`, { template: { id: t.id, variables: vars } })
            .then((m) => putItem('m:' + m.id, { kind: 'message', at: m.created_at, m }));
        }, problem), problem);
      return;
    }
    const text = h('textarea', { id: 'message', 'aria-label': S.mode === 'note' ? 'Private note' : 'Reply', placeholder: S.mode === 'note' ? 'Write a note for your team…' : 'Write a reply…', value: prevText });
    const canned = h('ul', { class: 'canned hidden', role: 'listbox', id: 'canned' });
    let choices = [], chosen = 0;
    const showCanned = () => {
      const m = /^\/([\w-]*)$/.exec(text.value);
      if (!m) { canned.classList.add('hidden'); choices = []; return; }
      const term = m[1].toLowerCase();
      choices = S.canned.filter((r) => r.short_code.includes(term) || (r.title || '').toLowerCase().includes(term)).slice(0, 8);
      chosen = Math.min(chosen, Math.max(0, choices.length - 1));
      canned.replaceChildren(...choices.map((r, i) => h('li', { role: 'option', 'aria-selected': String(i === chosen), onmousedown: (e) => { e.preventDefault(); pick(i); } },
        h('strong', {}, '/' + r.short_code), ' ', r.title || '', h('div', { class: 'muted' }, r.text.slice(0, 90)))));
      canned.classList.toggle('hidden', !choices.length);
    };
    const pick = (i) => { text.value = choices[i].text; choices = []; canned.classList.add('hidden'); text.focus(); };
    const send = async () => {
      const body = text.value.trim();
      problem.textContent = '';
      if (!body && !S.attachments.length) { problem.textContent = S.mode === 'note' ? 'Write the note first.' : 'Write a message or attach a file first.'; return; }
      sendButton.disabled = true;
      try {
        if (S.mode === 'note') {
          const n = await api('POST', `/conversations/${c.id}/notes`, { body });
          putItem('n:' + n.id, { kind: 'note', at: n.created_at, n });
        } else {
          const m = await api('POST', `/conversations/${c.id}/messages`, { body: body || undefined, attachments: S.attachments.map((a) => a.id) });
          putItem('m:' + m.id, { kind: 'message', at: m.created_at, m });
          S.attachments = []; chips.replaceChildren();
        }
        text.value = '';
        $('#thread').scrollTop = $('#thread').scrollHeight;
      } catch (x) {
        problem.textContent = x.message;
        if (x.code === 'session_window_closed') { await refreshCurrent(); }
      } finally { sendButton.disabled = false; text.focus(); }
    };
    text.addEventListener('input', showCanned);
    text.addEventListener('keydown', (e) => {
      if (choices.length) {
        if (e.key === 'ArrowDown' || e.key === 'ArrowUp') { e.preventDefault(); chosen = (chosen + (e.key === 'ArrowDown' ? 1 : choices.length - 1)) % choices.length; showCanned(); return; }
        if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); pick(chosen); return; }
        if (e.key === 'Escape') { choices = []; canned.classList.add('hidden'); return; }
      }
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    });
    const sendButton = h('button', { class: 'primary', id: 'send', onclick: send }, S.mode === 'note' ? 'Add note' : 'Send');
    const chips = h('div', { class: 'chips', id: 'attachments' }, S.attachments.map((a) => h('span', { class: 'chip' }, a.filename)));
    const n = numberOf(c.number_id);
    const mayAttach = S.mode === 'reply' && (!n || n.agents_may_send_attachments);
    const file = h('input', { type: 'file', class: 'sr', id: 'file', multiple: true, onchange: async (e) => {
      problem.textContent = '';
      for (const f of e.target.files) {
        const form = new FormData(); form.append('file', f, f.name);
        try { const u = await api('POST', '/uploads', form); S.attachments.push({ id: u.id, filename: f.name }); chips.append(h('span', { class: 'chip' }, f.name)); }
        catch (x) { problem.textContent = `${f.name}: ${x.message}`; }
      }
      e.target.value = '';
    } });
    box.replaceChildren(modes, canned, text, h('div', { class: 'actions' },
      mayAttach && [file, h('label', { for: 'file', class: 'chip', style: 'cursor:pointer;padding:4px 10px', tabindex: '0', onkeydown: (e) => { if (e.key === 'Enter') file.click(); } }, 'Attach files')],
      chips, h('span', { class: 'spacer' }), sendButton), problem);
    if (focus) text.focus();
  }

  // A searchable list of approved templates, their variables and a live preview. `send(template, variables)`.
  function templatePicker(send, problem) {
    const usable = S.templates.filter((t) => t.approval_status === 'approved' && t.content_sid);
    let chosen = null;
    const search = h('input', { type: 'search', id: 'template-search', placeholder: 'Search templates by name, text or tag', 'aria-label': 'Search templates' });
    const list = h('ul', { class: 'choices', id: 'template-list', 'aria-label': 'Templates' });
    const fill = h('div', { class: 'fill', id: 'template-fill' }, h('p', { class: 'muted' }, usable.length ? 'Choose a template.' : 'No approved templates yet: an admin can sync them from Twilio (Admin → Templates).'));
    const draw = () => {
      const term = search.value.trim().toLowerCase();
      const shown = usable.filter((t) => !term || t.name.toLowerCase().includes(term) || t.body.toLowerCase().includes(term) || (t.tags || []).some((g) => g.toLowerCase().includes(term)));
      list.replaceChildren(...shown.map((t) => h('li', {}, h('button', { type: 'button', 'data-template': t.name, 'aria-pressed': String(chosen === t), onclick: () => { chosen = t; draw(); drawFill(); } },
        h('strong', {}, t.name), ' ', h('span', { class: 'muted' }, t.language)))));
      if (!shown.length) list.replaceChildren(h('li', { class: 'muted', style: 'padding:6px' }, 'No template matches.'));
    };
    const drawFill = () => {
      const t = chosen;
      const inputs = [];
      for (let i = 1; i <= t.variable_count; i++) inputs.push(h('input', { 'data-var': String(i), 'aria-label': `Variable ${i}`, placeholder: `{{${i}}}`, oninput: preview }));
      const box = h('div', { class: 'preview-box', id: 'template-preview' });
      function preview() { box.textContent = t.body.replace(/\{\{\s*(\d+)\s*\}\}/g, (_, k) => (inputs[k - 1] && inputs[k - 1].value) || `[${k}]`); }
      const go = h('button', { class: 'primary', id: 'send-template', onclick: async () => {
        problem.textContent = '';
        const vars = {}; inputs.forEach((inp, i) => { vars[String(i + 1)] = inp.value; });
        const empty = inputs.findIndex((inp) => !inp.value.trim());
        if (empty >= 0) { problem.textContent = `Fill in variable ${empty + 1} first.`; inputs[empty].focus(); return; }
        go.disabled = true;
        try { await send(t, vars); inputs.forEach((inp) => { inp.value = ''; }); preview(); }
        catch (x) { problem.textContent = x.message; if (x.details && x.details.conversation_id) problem.append(' ', h('a', { href: '#/inbox/' + x.details.conversation_id, id: 'open-existing' }, 'Open the open conversation')); }
        finally { go.disabled = false; }
      } }, 'Send template');
      fill.replaceChildren(h('div', { class: 'vars' }, inputs.map((inp, i) => [h('label', {}, `Variable {{${i + 1}}}`), inp])), box, h('div', { style: 'margin-top:6px' }, go));
      preview();
    };
    search.addEventListener('input', draw);
    draw();
    return h('div', {}, search, h('div', { class: 'templates', style: 'margin-top:6px' }, list, fill));
  }

  // ---- Actions -----------------------------------------------------------------------------------------------------
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
      !resolved && h('div', { class: 'line', style: 'margin-top:8px' }, assignTo, h('button', { id: 'assign', onclick: () => act('assign', { agent_id: assignTo.value }) }, 'Assign')),
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

  // ---- New conversation --------------------------------------------------------------------------------------------
  function newConversation() {
    S.page = 'new'; S.current = null;
    const mine = S.dir.numbers.filter((n) => n.served || isSup());
    let contact = null;
    const problem = h('p', { class: 'problem error', id: 'new-problem', role: 'alert' });
    const from = h('select', { id: 'from', 'aria-label': 'From number' }, mine.map((n) => h('option', { value: n.id }, `${n.name} ${n.e164} (${n.channel_name})`)));
    const to = h('input', { id: 'to', placeholder: '+31612345678, or a name to search', autocomplete: 'off', 'aria-describedby': 'to-check' });
    const check = h('div', { id: 'to-check', class: 'muted', role: 'status' }, 'A number in international format, or search your contacts.');
    const matches = h('ul', { id: 'contact-matches', class: 'choices', style: 'list-style:none;padding:0;margin:4px 0' });
    const validate = (v) => {
      if (!v.startsWith('+')) return 'Start with + and the country code, for example +14155550100.';
      const d = v.slice(1);
      if (!/^\d*$/.test(d)) return 'Only digits after the + (no spaces, dashes or letters).';
      if (d.startsWith('0')) return 'A country code never starts with 0.';
      if (d.length < 7) return 'Too short: international numbers have at least 7 digits.';
      if (d.length > 15) return 'Too long: international numbers have at most 15 digits.';
      return null;
    };
    const search = debounce(async (term) => {
      try {
        const r = await api('GET', '/contacts?' + qs({ q: term, limit: 8 }));
        matches.replaceChildren(...r.items.map((k) => h('li', {}, h('button', { type: 'button', onclick: () => {
          contact = k; to.value = k.phone || ''; check.className = 'ok'; check.textContent = `✓ ${k.name || 'Contact'} ${k.phone || ''}`; matches.replaceChildren();
        } }, `${k.name || 'Unnamed'} · ${k.phone || 'no number'}`))));
      } catch { /* searching is a convenience */ }
    }, 250);
    to.addEventListener('input', () => {
      contact = null;
      const v = to.value.trim().replace(/[\s()-]/g, '');
      if (!v) { check.className = 'muted'; check.textContent = 'A number in international format, or search your contacts.'; matches.replaceChildren(); return; }
      if (/^[+\d]/.test(v)) { const bad = validate(v); check.className = bad ? 'error' : 'ok'; check.textContent = bad || '✓ A valid number'; }
      else { check.className = 'muted'; check.textContent = 'Searching contacts…'; }
      search(to.value.trim());
    });
    const topic = h('input', { id: 'topic', maxlength: '200' });
    const priority = h('input', { id: 'new-priority', type: 'number', value: '0', min: '-1000', max: '1000' });
    const queue = h('select', { id: 'queue' }, h('option', { value: '' }, 'No queue'), S.dir.queues.map((q) => h('option', { value: q.id }, q.name)));
    const tags = h('div', {}, S.tags.map((t) => h('label', { style: 'display:inline-block;margin-right:10px;font-weight:normal' }, h('input', { type: 'checkbox', value: t.id, style: 'width:auto' }), ' ', t.name)));
    const picker = templatePicker(async (t, vars) => {
      const v = to.value.trim().replace(/[\s()-]/g, '');
      if (!contact && validate(v)) throw new ApiError(422, { message: 'To: ' + validate(v) });
      const body = { number_id: from.value, template: { id: t.id, variables: vars }, topic: topic.value.trim() || undefined,
        priority: Number(priority.value) || 0, queue_id: queue.value || undefined,
        tag_ids: [...tags.querySelectorAll('input:checked')].map((i) => i.value) };
      if (contact) body.contact_id = contact.id; else body.to = v;
      const c = await api('POST', '/conversations', body);
      toast('Conversation started');
      location.hash = '#/inbox/' + c.id;
    }, problem);
    $('#main').replaceChildren(h('div', { class: 'page' }, h('h1', {}, 'New conversation'),
      mine.length ? h('div', { class: 'form' },
        h('div', { class: 'grid2' }, h('div', {}, h('label', { for: 'from' }, 'From'), from), h('div', {}, h('label', { for: 'to' }, 'To'), to, check, matches)),
        h('label', {}, 'Opening template (WhatsApp lets a business write first only with an approved template)'), picker,
        h('div', { class: 'grid2' }, h('div', {}, h('label', { for: 'topic' }, 'Topic'), topic), h('div', {}, h('label', { for: 'queue' }, 'Queue'), queue),
          h('div', {}, h('label', { for: 'new-priority' }, 'Priority'), priority), h('div', {}, h('label', {}, 'Tags'), tags)),
        problem) : h('p', { class: 'notice' }, 'You serve no WhatsApp number yet: an admin adds you to one under Admin → Agents.')));
    to.focus();
  }

  // ---- Supervisor ----------------------------------------------------------------------------------------------
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

  // ---- Admin -------------------------------------------------------------------------------------------------------
  // Each tab: a table of the resource, an Add form, and Edit (the same form, filled in, sent as PATCH). A field is
  // [name, label, type, example-or-options, value-of-an-item-for-editing].
  const json = (v) => JSON.stringify(v);
  const splitList = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const targetValue = (t) => !t ? '' : t.type === 'queue' ? 'q:' + t.queue_id : t.type === 'agent' ? 'a:' + t.agent_id : 'ai';
  const targetBody = (v) => v === 'ai' ? { type: 'ai_agent' } : v.startsWith('q:') ? { type: 'queue', queue_id: v.slice(2) } : { type: 'agent', agent_id: v.slice(2) };
  const ADMIN = {
    channels: { title: 'Channels and numbers', path: '/channels', admin: true, noEdit: true,
      columns: [['Name', (c) => c.name], ['Numbers', (c) => (c.numbers || []).map((n) => h('div', {}, `${n.name} ${n.e164} `,
        isAdmin() && h('button', { class: 'copy', 'data-number-settings': n.e164, onclick: () => numberSettings(c, n.id) }, 'Settings'))),
        isAdmin() && h('button', { class: 'copy', onclick: () => numberSettings(c, null) }, 'Add a number')],
        ['Webhook URLs (paste into Twilio)', (c) => Object.entries(c.webhooks || {}).map(([k, url]) => h('div', {}, `${k}: `, h('code', { class: 'url' }, url), ' ', h('button', { class: 'copy', onclick: () => copy(url) }, 'Copy')))]],
      fields: [['name', 'Name'], ['account_sid', 'Twilio Account SID'], ['auth_token', 'Auth Token', 'password'], ['numbers', 'WhatsApp numbers (E.164, comma-separated)']],
      body: (v) => ({ name: v.name, account_sid: v.account_sid, auth_token: v.auth_token, numbers: splitList(v.numbers).map((e164) => ({ e164 })) }) },
    templates: { title: 'Templates', path: '/templates', admin: true,
      columns: [['Name', (t) => t.name], ['Language', (t) => t.language], ['Status', (t) => t.approval_status], ['Text', (t) => t.body], ['Tags', (t) => (t.tags || []).join(', ')]],
      fields: [['name', 'Name (lower case, digits, _)', 'text', '', (t) => t.name], ['language', 'Language (en, pt_BR…)', 'text', '', (t) => t.language],
        ['body', 'Text with {{1}} variables', 'textarea', '', (t) => t.body], ['content_sid', 'Twilio Content SID (HX…)', 'text', '', (t) => t.content_sid || ''],
        ['tags', 'Tags (comma-separated)', 'text', '', (t) => (t.tags || []).join(', ')]],
      body: (v) => ({ name: v.name, language: v.language, body: v.body, content_sid: v.content_sid || undefined, tags: splitList(v.tags) }),
      after: async () => { S.templates = (await api('GET', '/templates?limit=200')).items; },
      extra: () => h('button', { id: 'sync-templates', onclick: async (e) => {
        e.target.disabled = true;
        try {
          const r = await api('POST', '/templates/sync', {});
          toast(`Synced from Twilio: ${r.created} new, ${r.updated} updated, ${r.unchanged} unchanged` + (r.skipped && r.skipped.length ? `, ${r.skipped.length} skipped` : ''));
          S.templates = (await api('GET', '/templates?limit=200')).items; admin('templates');
        } catch (x) { toast(x.message, true); } finally { e.target.disabled = false; }
      } }, 'Sync from Twilio') },
    agents: { title: 'Agents', path: '/agents', remove: 'Deactivate',
      columns: [['Name', (a) => a.name], ['E-mail', (a) => a.email], ['Role', (a) => a.role], ['Presence', (a) => a.presence], ['Capacity', (a) => String(a.capacity)],
        ['Queues', (a) => (a.queue_ids || []).map(queueName).join(', ')], ['Numbers', (a) => (a.number_ids || []).map((id) => (numberOf(id) || {}).e164).join(', ')]],
      fields: [['name', 'Name', 'text', '', (a) => a.name], ['email', 'E-mail (cannot be changed)', 'email', '', (a) => a.email],
        ['password', 'One-time password (they change it at first login; when editing, leave empty to keep)', 'password', '', () => ''],
        ['role', 'Role', ['agent', 'supervisor', 'admin'], null, (a) => a.role], ['capacity', 'Capacity (conversations at once)', 'number', '', (a) => String(a.capacity)],
        ['queue_ids', 'Queues', 'queues', null, (a) => a.queue_ids], ['number_ids', 'Numbers', 'numbers', null, (a) => a.number_ids]],
      body: (v, editing) => {
        const b = { name: v.name, role: v.role, capacity: Number(v.capacity) || undefined, queue_ids: v.queue_ids, number_ids: v.number_ids };
        if (!editing) { b.email = v.email; b.password = v.password; } else if (v.password) b.password = v.password;
        return b;
      } },
    queues: { title: 'Queues', path: '/queues', admin: true,
      columns: [['Name', (q) => q.name], ['Strategy', (q) => q.strategy], ['Business hours', (q) => q.business_hours_id ? 'yes' : '—'], ['Members', (q) => (q.member_ids || []).map(agentName).join(', ')]],
      fields: [['name', 'Name', 'text', '', (q) => q.name], ['strategy', 'Strategy', ['least_loaded', 'round_robin'], null, (q) => q.strategy],
        ['business_hours_id', 'Business hours', 'hours', null, (q) => q.business_hours_id || ''], ['member_ids', 'Members', 'agents', null, (q) => q.member_ids || []]],
      body: (v, editing) => ({ name: v.name, strategy: v.strategy, business_hours_id: v.business_hours_id || (editing ? null : undefined), member_ids: v.member_ids }) },
    hours: { title: 'Business hours', path: '/business-hours', admin: true,
      columns: [['Name', (b) => b.name], ['Time zone', (b) => b.time_zone], ['Week', (b) => h('code', {}, json(b.weekly))], ['Holidays', (b) => h('code', {}, json(b.holidays))]],
      fields: [['name', 'Name', 'text', '', (b) => b.name], ['time_zone', 'Time zone (IANA, e.g. Europe/Amsterdam)', 'text', '', (b) => b.time_zone],
        ['weekly', 'Weekly hours (JSON)', 'textarea', '{"monday": [{"open": "09:00", "close": "17:30"}], "tuesday": [{"open": "09:00", "close": "17:30"}]}', (b) => json(b.weekly)],
        ['holidays', 'Holidays (JSON)', 'textarea', '[{"date": "2026-12-25", "name": "Christmas"}]', (b) => json(b.holidays)]],
      body: (v) => ({ name: v.name, time_zone: v.time_zone, weekly: JSON.parse(v.weekly || '{}'), holidays: JSON.parse(v.holidays || '[]') }) },
    rules: { title: 'Routing rules', path: '/routing/rules', admin: true,
      columns: [['#', (r) => String(r.position)], ['Name', (r) => r.name], ['On', (r) => r.enabled ? 'yes' : 'no'], ['Conditions (all must hold)', (r) => h('code', {}, json(r.conditions))],
        ['Sends to', (r) => r.target.type === 'queue' ? 'Queue ' + queueName(r.target.queue_id) : r.target.type === 'agent' ? 'Agent ' + agentName(r.target.agent_id) : 'The AI agent']],
      fields: [['name', 'Name', 'text', '', (r) => r.name], ['enabled', 'Enabled', ['yes', 'no'], null, (r) => r.enabled ? 'yes' : 'no'],
        ['conditions', 'Conditions (JSON; types: number, communication_type, language, text_contains, text_matches, button_payload, contact_attribute, contact_tag, business_hours, customer)', 'textarea',
          '[{"type": "text_contains", "value": "refund"}]', (r) => json(r.conditions)],
        ['target', 'Sends to', 'target', null, (r) => targetValue(r.target)]],
      body: (v) => ({ name: v.name, enabled: v.enabled !== 'no', conditions: JSON.parse(v.conditions || '[]'), target: targetBody(v.target) }) },
    canned: { title: 'Saved replies', path: '/canned-responses',
      columns: [['Short code', (r) => '/' + r.short_code], ['Title', (r) => r.title], ['Text', (r) => r.text]],
      fields: [['short_code', 'Short code', 'text', '', (r) => r.short_code], ['title', 'Title', 'text', '', (r) => r.title], ['text', 'Text', 'textarea', '', (r) => r.text]],
      body: (v) => ({ short_code: v.short_code, title: v.title, text: v.text }), after: async () => { S.canned = (await api('GET', '/canned-responses?limit=200')).items; } },
    tags: { title: 'Tags', path: '/tags',
      columns: [['Name', (t) => t.name], ['Colour', (t) => t.color || ''], ['Description', (t) => t.description]],
      fields: [['name', 'Name', 'text', '', (t) => t.name], ['color', 'Colour (#rrggbb)', 'text', '', (t) => t.color || ''], ['description', 'Description', 'text', '', (t) => t.description]],
      body: (v, editing) => ({ name: v.name, color: v.color || (editing ? null : undefined), description: v.description }), after: async () => { S.tags = (await api('GET', '/tags?limit=200')).items; } },
  };

  // The inputs of a form made of fields; `values()` reads them, `fill(item)` puts an item's values in.
  function fieldSet(fields, hours) {
    const inputs = {};
    const field = ([name, label, type, example]) => {
      const id = 'f-' + name;
      let input;
      if (Array.isArray(type)) input = h('select', { id }, type.map((o) => h('option', { value: o }, o)));
      else if (type === 'textarea') input = h('textarea', { id, placeholder: example || '' });
      else if (['queues', 'numbers', 'agents'].includes(type)) {
        const opts = type === 'queues' ? S.dir.queues.map((q) => [q.id, q.name]) : type === 'numbers' ? S.dir.numbers.map((n) => [n.id, `${n.name} ${n.e164}`]) : S.dir.agents.map((a) => [a.id, a.name || a.email]);
        input = h('select', { id, multiple: true, size: String(Math.min(5, Math.max(2, opts.length))) }, opts.map(([v, t]) => h('option', { value: v }, t)));
      } else if (type === 'hours') input = h('select', { id }, h('option', { value: '' }, 'Always open'), hours.map((b) => h('option', { value: b.id }, b.name)));
      else if (type === 'queue') input = h('select', { id }, h('option', { value: '' }, 'None'), S.dir.queues.map((q) => h('option', { value: q.id }, q.name)));
      else if (type === 'target') input = h('select', { id },
        h('optgroup', { label: 'Queues' }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
        h('optgroup', { label: 'Agents' }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))),
        h('option', { value: 'ai' }, 'The AI agent'));
      else input = h('input', { id, type: type || 'text' });
      inputs[name] = input;
      return h('div', {}, h('label', { for: id }, label), input);
    };
    const nodes = fields.map(field);
    const values = () => {
      const v = {};
      for (const [k, el] of Object.entries(inputs)) v[k] = el.multiple ? [...el.selectedOptions].map((o) => o.value) : el.value.trim();
      return v;
    };
    const fill = (item) => {
      for (const [name, , , , get] of fields) {
        const el = inputs[name], value = item && get ? get(item) : '';
        if (el.multiple) for (const o of el.options) o.selected = (value || []).includes(o.value);
        else if (el.tagName === 'SELECT' && !item) el.selectedIndex = 0;
        else el.value = value == null ? '' : value;
        // What cannot change after creation (an agent's e-mail, what has no value to show) is shown but locked.
        el.disabled = !!item && (!get || name === 'email');
      }
    };
    return { nodes, values, fill, inputs };
  }

  async function admin(tab) {
    S.page = 'admin'; S.current = null;
    const spec = ADMIN[tab] || ADMIN.channels;
    const tabs = h('nav', { class: 'tabs', 'aria-label': 'Admin' }, Object.entries(ADMIN).map(([k, s]) => h('a', { href: '#/admin/' + k, class: k === tab ? 'active' : '' }, s.title)));
    const table = h('div', {}, 'Loading…');
    const problem = h('p', { class: 'error', role: 'alert', id: 'admin-problem' });
    let hours = [];
    if (spec.fields.some((f) => f[2] === 'hours')) { try { hours = (await api('GET', '/business-hours?limit=200')).items; } catch { /* optional */ } }
    const set = fieldSet(spec.fields, hours);
    let editing = null;
    const heading = h('h2', { style: 'margin:0;font-size:16px' }, 'Add');
    const submit = h('button', { class: 'primary', type: 'submit', id: 'admin-save' }, 'Add');
    const cancel = h('button', { type: 'button', class: 'hidden', onclick: () => edit(null) }, 'Cancel');
    const edit = (item) => {
      editing = item; set.fill(item); problem.textContent = '';
      heading.textContent = item ? `Edit ${item.name || item.short_code || ''}` : 'Add';
      submit.textContent = item ? 'Save' : 'Add';
      cancel.classList.toggle('hidden', !item);
      if (item) heading.scrollIntoView({ block: 'nearest' });
    };
    const canWrite = !spec.admin || isAdmin();
    const form = canWrite && h('form', { class: 'form', id: 'admin-form', onsubmit: async (e) => {
      e.preventDefault(); problem.textContent = '';
      let body;
      try { body = spec.body(set.values(), !!editing); } catch (x) { problem.textContent = 'That is not valid JSON: ' + x.message; return; }
      try {
        if (editing) await api('PATCH', `${spec.path}/${editing.id}`, body); else await api('POST', spec.path, body);
        toast('Saved'); if (spec.after) await spec.after(); S.dir = await api('GET', '/directory'); admin(tab);
      } catch (x) { problem.textContent = x.message + (x.details.field ? ` (${x.details.field})` : ''); }
    } }, heading, h('div', { class: 'grid2' }, set.nodes), problem, h('div', { class: 'buttons' }, submit, cancel));
    $('#main').replaceChildren(h('div', { class: 'page' }, h('h1', {}, 'Admin'), tabs, spec.extra && isAdmin() && spec.extra(), table, h('div', { id: 'admin-extra' }), form));
    try {
      const answer = await api('GET', spec.path + '?limit=200');
      const items = Array.isArray(answer) ? answer : answer.items; // routing rules come as one ordered list
      table.replaceChildren(h('table', { id: 'admin-table' }, h('thead', {}, h('tr', {}, spec.columns.map(([l]) => h('th', {}, l)), canWrite && h('th', {}))),
        h('tbody', {}, items.map((item) => h('tr', {}, spec.columns.map(([, f]) => h('td', {}, f(item))),
          canWrite && h('td', { style: 'white-space:nowrap' }, !spec.noEdit && h('button', { onclick: () => edit(item) }, 'Edit'), ' ',
            h('button', { class: 'danger', onclick: async () => {
              if (!confirm(`${spec.remove || 'Delete'} ${item.name || item.short_code || ''}?`)) return;
              try { await api('DELETE', `${spec.path}/${item.id}`); if (spec.after) await spec.after(); admin(tab); } catch (x) { toast(x.message, true); }
            } }, spec.remove || 'Delete')))))));
      if (!items.length) table.replaceChildren(h('p', { class: 'muted' }, 'None yet.'));
    } catch (x) { table.replaceChildren(h('p', { class: 'error' }, x.message)); }
  }

  // A number's settings (or a new number on the channel): who serves it, where its conversations go, attachments.
  async function numberSettings(channel, numberId) {
    const box = $('#admin-extra');
    let n = null;
    if (numberId) {
      try { n = (await api('GET', `/channels/${channel.id}/numbers?limit=200`)).items.find((x) => x.id === numberId); }
      catch (x) { toast(x.message, true); return; }
    }
    const yes = (b) => (b ? 'yes' : 'no');
    const fields = [['e164', 'Number (E.164; to change it, remove the number and add the new one)', 'text', '', (x) => x.e164], ['name', 'Name', 'text', '', (x) => x.name],
      ['default_queue_id', 'Default queue (when no rule matches)', 'queue', null, (x) => x.default_queue_id || ''],
      ['member_ids', 'Agents who serve it', 'agents', null, (x) => x.member_ids || []],
      ['agents_may_send_attachments', 'Agents may send attachments', ['yes', 'no'], null, (x) => yes(x.agents_may_send_attachments)],
      ['customers_may_send_attachments', 'Customers may send attachments', ['yes', 'no'], null, (x) => yes(x.customers_may_send_attachments)]];
    const set = fieldSet(fields, []);
    if (n) { set.fill(n); set.inputs.e164.disabled = true; }
    const problem = h('p', { class: 'error', role: 'alert', id: 'number-problem' });
    box.replaceChildren(h('form', { class: 'form', id: 'number-form', onsubmit: async (e) => {
      e.preventDefault(); problem.textContent = '';
      const v = set.values();
      const body = { e164: n ? undefined : v.e164, name: v.name || undefined, default_queue_id: v.default_queue_id || null, member_ids: v.member_ids,
        agents_may_send_attachments: v.agents_may_send_attachments === 'yes', customers_may_send_attachments: v.customers_may_send_attachments === 'yes' };
      try {
        if (n) await api('PATCH', `/channels/${channel.id}/numbers/${n.id}`, body); else await api('POST', `/channels/${channel.id}/numbers`, body);
        toast('Saved'); S.dir = await api('GET', '/directory'); admin('channels');
      } catch (x) { problem.textContent = x.message + (x.details.field ? ` (${x.details.field})` : ''); }
    } }, h('h2', { style: 'margin:0;font-size:16px' }, n ? `${channel.name}: ${n.name} ${n.e164}` : `${channel.name}: add a number`),
    h('div', { class: 'grid2' }, set.nodes), problem,
    h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit' }, 'Save'), h('button', { type: 'button', onclick: () => box.replaceChildren() }, 'Cancel'),
      n && h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(`Remove ${n.e164}? Its conversations are kept.`)) return;
        try { await api('DELETE', `/channels/${channel.id}/numbers/${n.id}`); S.dir = await api('GET', '/directory'); admin('channels'); } catch (x) { problem.textContent = x.message; }
      } }, 'Remove number'))));
    box.scrollIntoView({ block: 'nearest' });
  }

  start();
})();
