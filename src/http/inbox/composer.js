// Writing: a reply or a private note, attachments, saved replies (/), quick replies and list pickers while the
// window is open (interactive content needs no approval then), and the template picker when the 24-hour window
// is closed (also used to start a conversation).

import { S, numberOf } from './state.js';
import { $, fmtTime, h } from './dom.js';
// `tr`: the catalogue's `t`, named so that it is not taken for the many templates called `t` here.
import { t as tr } from './i18n.js';
import { api } from './api.js';
import { putItem, refreshCurrent } from './thread.js';
import { act } from './actions.js';

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
  const modes = h('div', { class: 'modes' }, modeButton('reply', tr('composer.reply')), modeButton('note', tr('composer.note')),
    h('span', { class: 'muted hint' }, tr(S.mode === 'note' ? 'composer.note_hint' : 'composer.hint')));
  box.className = 'composer' + (S.mode === 'note' ? ' note' : '');
  if (c.status === 'resolved' && S.mode === 'reply') {
    box.replaceChildren(modes, h('p', { class: 'why' }, tr('composer.resolved')),
      h('button', { onclick: () => act('reopen') }, tr('side.reopen')), problem);
    return;
  }
  if (S.mode === 'reply' && !c.window_open) {
    const why = c.last_inbound_at
      ? tr('composer.window_closed', { time: fmtTime(c.last_inbound_at) })
      : tr('composer.never_wrote');
    box.replaceChildren(modes, h('p', { class: 'why', id: 'window-why' }, why),
      templatePicker(async (t, vars) => {
        await api('POST', `/conversations/${c.id}/messages`, { template: { id: t.id, variables: vars } })
          .then((m) => putItem('m:' + m.id, { kind: 'message', at: m.created_at, m }));
      }, problem), problem);
    return;
  }
  const text = h('textarea', { id: 'message', 'aria-label': tr(S.mode === 'note' ? 'composer.note' : 'composer.reply'), placeholder: tr(S.mode === 'note' ? 'composer.note_placeholder' : 'composer.placeholder'), value: prevText });
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
    if (!body && !S.attachments.length) { problem.textContent = tr(S.mode === 'note' ? 'composer.empty_note' : 'composer.empty'); return; }
    sendButton.disabled = true;
    try {
      if (S.mode === 'note') {
        const n = await api('POST', `/conversations/${c.id}/notes`, { body });
        putItem('n:' + n.id, { kind: 'note', at: n.created_at, n });
      } else {
        const m = await api('POST', `/conversations/${c.id}/messages`, { body: body || undefined, attachments: S.attachments.map((a) => a.id),
          reply_to_message_id: S.quote && S.quote.conversation_id === c.id ? S.quote.id : undefined });
        putItem('m:' + m.id, { kind: 'message', at: m.created_at, m });
        S.attachments = []; chips.replaceChildren(); S.quote = null; quoting.replaceChildren();
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
  const sendButton = h('button', { class: 'primary', id: 'send', onclick: send }, tr(S.mode === 'note' ? 'composer.add_note' : 'composer.send'));
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
  const interactive = S.mode === 'reply' && S.templates.some(isInteractive);
  const panel = h('div', { class: 'interactive hidden', id: 'interactive-panel' });
  const toggle = h('button', { type: 'button', id: 'interactive', 'aria-expanded': 'false', onclick: () => {
    const open = panel.classList.toggle('hidden') === false;
    toggle.setAttribute('aria-expanded', String(open));
    if (open && !panel.childElementCount) {
      panel.append(templatePicker(async (t, vars) => {
        const m = await api('POST', `/conversations/${c.id}/messages`, { template: { id: t.id, variables: vars } });
        putItem('m:' + m.id, { kind: 'message', at: m.created_at, m });
        panel.classList.add('hidden'); toggle.setAttribute('aria-expanded', 'false');
      }, problem, isInteractive));
    }
  } }, tr('composer.interactive'));
  // WhatsApp's call button: a text and a button the customer taps to call (inside the window, on a calling number).
  const callable = S.mode === 'reply' && n && n.supports_calling;
  const callPanel = h('div', { class: 'interactive hidden', id: 'call-button-panel' });
  const callToggle = callable && h('button', { type: 'button', id: 'call-button', 'aria-expanded': 'false', onclick: () => {
    const open = callPanel.classList.toggle('hidden') === false;
    callToggle.setAttribute('aria-expanded', String(open));
    if (open && !callPanel.childElementCount) {
      const body = h('textarea', { id: 'call-button-text', 'aria-label': tr('call.button_text'), placeholder: tr('call.button_text_placeholder'), maxlength: '1024' });
      const label = h('input', { id: 'call-button-label', 'aria-label': tr('call.button_label'), placeholder: tr('call.button_label_placeholder'), maxlength: '20' });
      const go = h('button', { class: 'primary', id: 'call-button-send', onclick: async () => {
        problem.textContent = '';
        try {
          const m = await api('POST', `/conversations/${c.id}/messages`, { body: body.value, call_button: { label: label.value } });
          putItem('m:' + m.id, { kind: 'message', at: m.created_at, m });
          body.value = ''; label.value = ''; callPanel.classList.add('hidden'); callToggle.setAttribute('aria-expanded', 'false');
        } catch (x) { problem.textContent = x.message; }
      } }, tr('call.button_send'));
      callPanel.append(h('label', { for: 'call-button-text' }, tr('call.button_text')), body,
        h('label', { for: 'call-button-label' }, tr('call.button_label')), label, h('div', { class: 'gap-top-s' }, go));
    }
  } }, tr('call.button'));
  // The customer's message this reply answers, chosen with "Reply" on it in the thread.
  const quoting = h('div', { id: 'quoting', class: 'quoting' });
  if (S.mode === 'reply' && S.quote && S.quote.conversation_id === c.id) {
    quoting.append(h('span', { class: 'quote' }, tr('composer.replying_to', { text: (S.quote.body || '…').slice(0, 120) })),
      h('button', { type: 'button', 'aria-label': tr('composer.not_replying'), onclick: () => { S.quote = null; quoting.replaceChildren(); text.focus(); } }, '×'));
  }
  box.replaceChildren(modes, canned, quoting, text, h('div', { class: 'actions' },
    mayAttach && [file, h('label', { for: 'file', class: 'chip attach', tabindex: '0', onkeydown: (e) => { if (e.key === 'Enter') file.click(); } }, tr('composer.attach'))],
    interactive && toggle, callToggle, chips, h('span', { class: 'spacer' }), sendButton), panel, callPanel, problem);
  if (focus) text.focus();
}

const INTERACTIVE = ['twilio/quick-reply', 'twilio/list-picker', 'twilio/call-to-action', 'twilio/card'];
// Quick replies, list pickers, call-to-action and cards at Twilio: sendable unapproved while the window is open.
const isInteractive = (t) => INTERACTIVE.includes(t.content_type) && !!t.content_sid;
const isApproved = (t) => t.approval_status === 'approved' && !!t.content_sid;
// A template that asks the customer for permission to call (its VOICE_CALL_REQUEST button).
const isCallPermission = (t) => isApproved(t) && t.content_type === 'twilio/call-to-action' && (t.buttons || []).some((b) => b.action === 'VOICE_CALL_REQUEST');

// A searchable list of templates (approved ones by default), their variables and a live preview with the
// content's buttons. `send(template, variables)`.
function templatePicker(send, problem, usableIf = isApproved) {
  const usable = S.templates.filter(usableIf);
  let chosen = null;
  const search = h('input', { type: 'search', id: 'template-search', placeholder: tr('templates.search'), 'aria-label': tr('templates.search_label') });
  const list = h('ul', { class: 'choices', id: 'template-list', 'aria-label': tr('templates.list') });
  const fill = h('div', { class: 'fill', id: 'template-fill' }, h('p', { class: 'muted' }, tr(usable.length ? 'templates.choose' : 'templates.none')));
  const draw = () => {
    const term = search.value.trim().toLowerCase();
    const shown = usable.filter((t) => !term || t.name.toLowerCase().includes(term) || t.body.toLowerCase().includes(term) || (t.tags || []).some((g) => g.toLowerCase().includes(term)));
    list.replaceChildren(...shown.map((t) => h('li', {}, h('button', { type: 'button', 'data-template': t.name, 'aria-pressed': String(chosen === t), onclick: () => { chosen = t; draw(); drawFill(); } },
      h('strong', {}, t.name), ' ', h('span', { class: 'muted' }, t.language)))));
    if (!shown.length) list.replaceChildren(h('li', { class: 'muted pad-s' }, tr('templates.no_match')));
  };
  const drawFill = () => {
    const t = chosen;
    const inputs = [];
    for (let i = 1; i <= t.variable_count; i++) inputs.push(h('input', { 'data-var': String(i), 'aria-label': tr('templates.variable', { n: i }), placeholder: `{{${i}}}`, oninput: preview }));
    const box = h('div', { class: 'preview-box', id: 'template-preview' });
    const buttons = (t.buttons || []).map((b) => h('span', { class: 'chip' }, b.title));
    function preview() {
      box.textContent = t.body.replace(/\{\{\s*(\d+)\s*\}\}/g, (_, k) => (inputs[k - 1] && inputs[k - 1].value) || `[${k}]`);
      if (buttons.length) box.append(h('div', { class: 'chips gap-top-s' }, buttons));
    }
    const go = h('button', { class: 'primary', id: 'send-template', onclick: async () => {
      problem.textContent = '';
      const vars = {}; inputs.forEach((inp, i) => { vars[String(i + 1)] = inp.value; });
      const empty = inputs.findIndex((inp) => !inp.value.trim());
      if (empty >= 0) { problem.textContent = tr('templates.fill', { n: empty + 1 }); inputs[empty].focus(); return; }
      go.disabled = true;
      try { await send(t, vars); inputs.forEach((inp) => { inp.value = ''; }); preview(); }
      catch (x) { problem.textContent = x.message; if (x.details && x.details.conversation_id) problem.append(' ', h('a', { href: '#/inbox/' + x.details.conversation_id, id: 'open-existing' }, tr('templates.open_existing'))); }
      finally { go.disabled = false; }
    } }, tr('templates.send'));
    fill.replaceChildren(h('div', { class: 'vars' }, inputs.map((inp, i) => [h('label', {}, tr('templates.variable', { n: `{{${i + 1}}}` })), inp])), box, h('div', { class: 'gap-top-s' }, go));
    preview();
  };
  search.addEventListener('input', draw);
  draw();
  return h('div', {}, search, h('div', { class: 'templates gap-top-s' }, list, fill));
}

export { isCallPermission, renderComposer, templatePicker };
