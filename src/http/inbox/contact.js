// The contact panel beside a conversation: who the customer is (name, number, WhatsApp id), their language,
// attributes and tags (editable), their consent per number, their earlier conversations, and block / unblock.

import { S, isSup, numberOf } from './state.js';
import { $, copy, fmtTime, h, toast } from './dom.js';
import { api } from './api.js';
import { has, t } from './i18n.js';

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
  const language = h('input', { id: 'contact-language', value: contact.language || '', placeholder: t('contact.language_example'), size: '8' });
  const tags = h('input', { id: 'contact-tags', value: contact.tags.join(', '), placeholder: t('contact.tags_example') });
  const attributes = h('textarea', { id: 'contact-attributes', rows: '3',
    value: Object.entries(contact.attributes).map(([k, v]) => `${k}: ${v}`).join('\n') });
  const save = async () => {
    problem.textContent = '';
    const attrs = {};
    for (const line of attributes.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf(':');
      if (at < 1) { problem.textContent = t('contact.not_attribute', { line }); return; }
      const v = line.slice(at + 1).trim();
      // As the CSV import reads a cell (domain/contact.rs): plain numbers and true/false; "007" stays text.
      attrs[line.slice(0, at).trim()] = /^-?(0|[1-9]\d*)(\.\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
    }
    try {
      await api('PATCH', '/contacts/' + id, { language: language.value.trim() || null, attributes: attrs,
        tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) });
      toast(t('contact.saved')); renderContact(true);
    } catch (x) { problem.textContent = x.message; }
  };
  const block = async (action) => {
    if (action === 'block' && !confirm(t('contact.block_confirm'))) return;
    try { await api('POST', `/contacts/${id}/${action}`); toast(t(action === 'block' ? 'contact.blocked' : 'contact.unblocked')); renderContact(true); }
    catch (x) { problem.textContent = x.message; }
  };
  const consent = (optIns ? optIns.current : []).map((o) => {
    const n = numberOf(o.number_id);
    return h('li', {}, t(o.state === 'opted_in' ? 'contact.opted_in' : 'contact.opted_out', { number: n ? n.name : t('common.a_number') })
      + ` (${has('consent.' + o.source) ? t('consent.' + o.source) : o.source.replace(/_/g, ' ')}, ${fmtTime(o.recorded_at)})`);
  });
  const others = earlier.items.filter((x) => x.id !== S.current.id);
  box.replaceChildren(h('div', {},
    h('h3', {}, t('contact.title')),
    contact.blocked_at && h('p', { class: 'badge urgent', id: 'contact-blocked' }, t('contact.blocked_by', { name: contact.blocked_by || t('event.someone') }) + ' · ' + fmtTime(contact.blocked_at)),
    h('dl', { class: 'facts' },
      h('dt', {}, t('contact.name')), h('dd', {}, contact.name || '—'),
      contact.phone && [h('dt', {}, t('contact.number')), h('dd', {}, contact.phone, ' ', h('button', { class: 'copy', 'aria-label': t('head.copy_number'), onclick: () => copy(contact.phone) }, t('head.copy')))],
      h('dt', {}, t('contact.wa_id')), h('dd', {}, contact.wa_id || contact.bsuid || '—'),
      h('dt', {}, t('contact.consent')), h('dd', {}, consent.length ? h('ul', { class: 'plain' }, consent) : t('contact.no_consent'))),
    h('label', { class: 'field' }, t('contact.language'), language),
    h('label', { class: 'field' }, t('contact.tags'), tags),
    h('label', { class: 'field' }, t('contact.attributes'), attributes),
    h('div', { class: 'line' }, h('button', { id: 'contact-save', onclick: save }, t('contact.save')),
      isSup() && (contact.blocked_at ? h('button', { id: 'contact-unblock', onclick: () => block('unblock') }, t('contact.unblock'))
        : h('button', { class: 'danger', id: 'contact-block', onclick: () => block('block') }, t('contact.block')))),
    problem,
    h('h3', {}, t('contact.earlier')),
    others.length ? h('ul', { class: 'plain', id: 'earlier' }, others.map((x) => h('li', {}, h('a', { href: '#/inbox/' + x.id },
      fmtTime(x.created_at) + ' · ' + t('status.' + x.status) + (x.topic ? ' · ' + x.topic : '') + (x.last_message ? ' · ' + x.last_message.body.slice(0, 40) : '')))))
      : h('p', { class: 'muted' }, t('contact.none_earlier'))));
}

export { renderContact };
