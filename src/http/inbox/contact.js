// The contact panel beside a conversation: who the customer is (name, number, WhatsApp id), their language,
// attributes and tags (editable), their consent per number, their earlier conversations, and block / unblock.

import { S, isSup, numberOf } from './state.js';
import { $, copy, fmtTime, h, toast } from './dom.js';
import { api } from './api.js';

// Draws the panel into `#contact-panel` for the open conversation's contact (fetched once per contact).
async function renderContact(force) {
  const c = S.current, box = $('#contact-panel');
  if (!c || !box) return;
  const id = c.contact.id;
  if (!force && box.dataset.contact === id) return;
  box.dataset.contact = id;
  let contact, optIns, earlier;
  try {
    [contact, optIns, earlier] = await Promise.all([
      api('GET', '/contacts/' + id),
      api('GET', `/contacts/${id}/opt-ins`).catch(() => null),
      api('GET', `/conversations?contact_id=${id}&limit=10`),
    ]);
  } catch (x) { box.replaceChildren(h('p', { class: 'muted' }, x.message)); return; }
  if (!S.current || S.current.contact.id !== id) return;
  const problem = h('p', { class: 'error', role: 'alert', id: 'contact-problem' });
  const language = h('input', { id: 'contact-language', value: contact.language || '', placeholder: 'e.g. es or pt-BR', 'aria-label': 'Language', size: '8' });
  const tags = h('input', { id: 'contact-tags', value: contact.tags.join(', '), placeholder: 'vip, wholesale', 'aria-label': 'Contact tags' });
  const attributes = h('textarea', { id: 'contact-attributes', rows: '3', 'aria-label': 'Attributes, one name: value per line',
    value: Object.entries(contact.attributes).map(([k, v]) => `${k}: ${v}`).join('\n') });
  const save = async () => {
    problem.textContent = '';
    const attrs = {};
    for (const line of attributes.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf(':');
      if (at < 1) { problem.textContent = `“${line}” is not name: value`; return; }
      const v = line.slice(at + 1).trim();
      // As the CSV import reads a cell (domain/contact.rs): plain numbers and true/false; "007" stays text.
      attrs[line.slice(0, at).trim()] = /^-?(0|[1-9]\d*)(\.\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
    }
    try {
      await api('PATCH', '/contacts/' + id, { language: language.value.trim() || null, attributes: attrs,
        tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) });
      toast('Contact saved'); renderContact(true);
    } catch (x) { problem.textContent = x.message; }
  };
  const block = async (action) => {
    if (action === 'block' && !confirm('Block this contact? Their messages are still kept, but nobody is offered them and nothing answers them.')) return;
    try { await api('POST', `/contacts/${id}/${action}`); toast(action === 'block' ? 'Contact blocked' : 'Contact unblocked'); renderContact(true); }
    catch (x) { problem.textContent = x.message; }
  };
  const consent = (optIns ? optIns.current : []).map((o) => {
    const n = numberOf(o.number_id);
    return h('li', {}, `${o.state === 'opted_in' ? 'Opted in' : 'Opted out'} on ${n ? n.name : 'a number'} (${o.source.replace(/_/g, ' ')}, ${fmtTime(o.recorded_at)})`);
  });
  const others = earlier.items.filter((x) => x.id !== S.current.id);
  box.replaceChildren(h('div', {},
    h('h3', {}, 'Contact'),
    contact.blocked_at && h('p', { class: 'badge urgent', id: 'contact-blocked' }, 'Blocked by ' + (contact.blocked_by || 'someone') + ' · ' + fmtTime(contact.blocked_at)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', {}, contact.name || '—'),
      contact.phone && [h('dt', {}, 'Number'), h('dd', {}, contact.phone, ' ', h('button', { class: 'copy', 'aria-label': 'Copy the number', onclick: () => copy(contact.phone) }, 'Copy'))],
      h('dt', {}, 'WhatsApp id'), h('dd', {}, contact.wa_id || contact.bsuid || '—'),
      h('dt', {}, 'Consent'), h('dd', {}, consent.length ? h('ul', { class: 'plain' }, consent) : 'Nothing on record')),
    h('label', { class: 'field' }, 'Language', language),
    h('label', { class: 'field' }, 'Tags (comma separated)', tags),
    h('label', { class: 'field' }, 'Attributes (name: value per line)', attributes),
    h('div', { class: 'line' }, h('button', { id: 'contact-save', onclick: save }, 'Save contact'),
      isSup() && (contact.blocked_at ? h('button', { id: 'contact-unblock', onclick: () => block('unblock') }, 'Unblock')
        : h('button', { class: 'danger', id: 'contact-block', onclick: () => block('block') }, 'Block'))),
    problem,
    h('h3', {}, 'Earlier conversations'),
    others.length ? h('ul', { class: 'plain', id: 'earlier' }, others.map((x) => h('li', {}, h('a', { href: '#/inbox/' + x.id },
      fmtTime(x.created_at) + ' · ' + x.status + (x.topic ? ' · ' + x.topic : '') + (x.last_message ? ' · ' + x.last_message.body.slice(0, 40) : '')))))
      : h('p', { class: 'muted' }, 'None before this one.')));
}

export { renderContact };
