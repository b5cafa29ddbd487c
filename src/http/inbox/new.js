// Starting a conversation: from a number you serve, to a checked number or a contact, with an approved template.

import { S, isSup } from './state.js';
import { $, debounce, h, toast } from './dom.js';
import { ApiError, api, qs } from './api.js';
import { templatePicker } from './composer.js';

function newConversation() {
  S.page = 'new'; S.current = null;
  const mine = S.dir.numbers.filter((n) => n.served || isSup());
  let contact = null;
  const problem = h('p', { class: 'problem error', id: 'new-problem', role: 'alert' });
  const from = h('select', { id: 'from', 'aria-label': 'From number' }, mine.map((n) => h('option', { value: n.id }, `${n.name} ${n.e164} (${n.channel_name})`)));
  const to = h('input', { id: 'to', placeholder: '+31612345678, or a name to search', autocomplete: 'off', 'aria-describedby': 'to-check' });
  const check = h('div', { id: 'to-check', class: 'muted', role: 'status' }, 'A number in international format, or search your contacts.');
  const matches = h('ul', { id: 'contact-matches', class: 'choices matches' });
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
  const tags = h('div', {}, S.tags.map((t) => h('label', { class: 'tag-choice' }, h('input', { type: 'checkbox', value: t.id }), ' ', t.name)));
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

export { newConversation };
