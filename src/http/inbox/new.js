// Starting a conversation: from a number you serve, to a checked number or a contact, with an approved template.

import { S, isSup } from './state.js';
import { $, debounce, fmtTime, h, toast } from './dom.js';
import { ApiError, api, qs } from './api.js';
import { isCallPermission, templatePicker } from './composer.js';
import { t } from './i18n.js';

function newConversation() {
  S.page = 'new'; S.current = null;
  const mine = S.dir.numbers.filter((n) => n.served || isSup());
  let contact = null;
  const problem = h('p', { class: 'problem error', id: 'new-problem', role: 'alert' });
  const from = h('select', { id: 'from', 'aria-label': t('new.from_number') }, mine.map((n) => h('option', { value: n.id }, `${n.name} ${n.e164} (${n.channel_name})`)));
  const to = h('input', { id: 'to', placeholder: t('new.to_placeholder'), autocomplete: 'off', 'aria-describedby': 'to-check' });
  const check = h('div', { id: 'to-check', class: 'muted', role: 'status' }, t('new.to_help'));
  const matches = h('ul', { id: 'contact-matches', class: 'choices matches' });
  const validate = (v) => {
    if (!v.startsWith('+')) return t('new.plus');
    const d = v.slice(1);
    if (!/^\d*$/.test(d)) return t('new.digits');
    if (d.startsWith('0')) return t('new.zero');
    if (d.length < 7) return t('new.short');
    if (d.length > 15) return t('new.long');
    return null;
  };
  const search = debounce(async (term) => {
    try {
      const r = await api('GET', '/contacts?' + qs({ q: term, limit: 8 }));
      matches.replaceChildren(...r.items.map((k) => h('li', {}, h('button', { type: 'button', onclick: () => {
        contact = k; to.value = k.phone || ''; check.className = 'ok'; check.textContent = `✓ ${k.name || t('contact.title')} ${k.phone || ''}`; matches.replaceChildren(); checkCall();
      } }, `${k.name || t('new.unnamed')} · ${k.phone || k.bsuid || t('new.no_number')}`))));
    } catch { /* searching is a convenience */ }
  }, 250);
  to.addEventListener('input', () => {
    contact = null;
    const v = to.value.trim().replace(/[\s()-]/g, '');
    if (!v) { check.className = 'muted'; check.textContent = t('new.to_help'); matches.replaceChildren(); return; }
    if (/^[+\d]/.test(v)) { const bad = validate(v); check.className = bad ? 'error' : 'ok'; check.textContent = bad || t('new.valid'); }
    else { check.className = 'muted'; check.textContent = t('new.searching'); }
    search(to.value.trim());
    checkCall();
  });
  const topic = h('input', { id: 'topic', maxlength: '200' });
  const priority = h('select', { id: 'new-priority', value: 'normal' }, ['urgent', 'high', 'normal', 'low'].map((v) => h('option', { value: v }, t('priority.' + v))));
  const queue = h('select', { id: 'queue' }, h('option', { value: '' }, t('head.no_queue')), S.dir.queues.map((q) => h('option', { value: q.id }, q.name)));
  const tags = h('div', {}, S.tags.map((t) => h('label', { class: 'tag-choice' }, h('input', { type: 'checkbox', value: t.id }), ' ', t.name)));
  // The seed's "communication type": a call opens with a call-permission request, from a number that takes calls.
  const kind = h('select', { id: 'new-type', onchange: () => { drawFrom(); pickerBox.replaceChildren(picker()); typeHint.textContent = kind.value === 'call' ? t('new.call_hint') : ''; checkCall(); } },
    h('option', { value: 'message' }, t('new.type_message')), h('option', { value: 'call' }, t('new.type_call')));
  const typeHint = h('p', { class: 'muted', id: 'new-type-hint' });
  // For a call: whether a request is pending or limited, the customer already allows calls, or has an open
  // conversation on the number (where the request goes instead).
  const callCheck = h('div', { id: 'call-check', role: 'status' });
  const checkCall = debounce(async () => {
    callCheck.replaceChildren();
    const v = to.value.trim().replace(/[\s()-]/g, '');
    if (kind.value !== 'call' || !from.value || (!contact && validate(v))) return;
    try {
      const p = await api('GET', '/call-permission?' + qs(contact ? { number_id: from.value, contact_id: contact.id } : { number_id: from.value, phone: v }));
      const said = [];
      if (p.pending) said.push(t('call.request_pending'));
      else if (!p.may_request && p.next_request_at) said.push(t('call.request_after', { time: fmtTime(p.next_request_at) }));
      if (p.permitted_until) said.push(t('call.allowed_until', { time: fmtTime(p.permitted_until) }));
      if (said.length) callCheck.append(h('p', { class: 'notice', id: 'call-warning' }, said.join(' · ')));
      if (p.open_conversation_id) {
        callCheck.append(h('p', { class: 'notice' }, t('new.call_open'), ' ', h('a', { href: '#/inbox/' + p.open_conversation_id, id: 'open-existing-call' }, t('templates.open_existing'))));
      }
    } catch { /* the check is a convenience: sending says why it cannot */ }
  }, 300);
  from.addEventListener('change', () => checkCall());
  const drawFrom = () => {
    const usable = kind.value === 'call' ? mine.filter((n) => n.supports_calling) : mine;
    const was = from.value;
    from.replaceChildren(...usable.map((n) => h('option', { value: n.id }, `${n.name} ${n.e164} (${n.channel_name})`)));
    if (usable.some((n) => n.id === was)) from.value = was;
  };
  const picker = () => templatePicker(async (template, vars) => {
    const v = to.value.trim().replace(/[\s()-]/g, '');
    if (!contact && validate(v)) throw new ApiError(422, { message: t('new.to') + ': ' + validate(v) });
    const body = { number_id: from.value, template: { id: template.id, variables: vars }, topic: topic.value.trim() || undefined,
      priority_level: priority.value, queue_id: queue.value || undefined, communication_type: kind.value,
      tag_ids: [...tags.querySelectorAll('input:checked')].map((i) => i.value) };
    if (contact) body.contact_id = contact.id; else body.to = v;
    const c = await api('POST', '/conversations', body);
    toast(t('new.started'));
    location.hash = '#/inbox/' + c.id;
  }, problem, kind.value === 'call' ? isCallPermission : undefined);
  const pickerBox = h('div', { id: 'new-template-box' }, picker());
  $('#main').replaceChildren(h('div', { class: 'page' }, h('h1', {}, t('nav.new')),
    mine.length ? h('div', { class: 'form' },
      h('div', { class: 'grid2' }, h('div', {}, h('label', { for: 'from' }, t('new.from')), from), h('div', {}, h('label', { for: 'to' }, t('new.to')), to, check, matches)),
      h('div', {}, h('label', { for: 'new-type' }, t('new.type')), kind, typeHint, callCheck),
      h('label', {}, t('new.template')), pickerBox,
      h('div', { class: 'grid2' }, h('div', {}, h('label', { for: 'topic' }, t('new.topic')), topic), h('div', {}, h('label', { for: 'queue' }, t('sup.queue')), queue),
        h('div', {}, h('label', { for: 'new-priority' }, t('side.priority')), priority), h('div', {}, h('label', {}, t('side.tags')), tags)),
      problem) : h('p', { class: 'notice' }, t('new.no_numbers'))));
  to.focus();
}

export { newConversation };
