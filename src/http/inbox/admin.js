// Admin screens: each tab a table of a resource with Add and Edit (the same form, sent as POST or PATCH).

import { S, agentName, isAdmin, numberOf, queueName } from './state.js';
import { $, copy, h, toast } from './dom.js';
import { api } from './api.js';

// Each tab: a table of the resource, an Add form, and Edit (the same form, filled in, sent as PATCH). A field is
// [name, label, type, example-or-options, value-of-an-item-for-editing].
const json = (v) => JSON.stringify(v);
const splitList = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const targetValue = (t) => !t ? '' : t.type === 'queue' ? 'q:' + t.queue_id : t.type === 'agent' ? 'a:' + t.agent_id : 'ai';
const targetBody = (v) => v === 'ai' ? { type: 'ai_agent' } : v.startsWith('q:') ? { type: 'queue', queue_id: v.slice(2) } : { type: 'agent', agent_id: v.slice(2) };
const ADMIN = {
  channels: { title: 'Channels and numbers', path: '/channels', admin: true, noEdit: true,
    columns: [['Name', (c) => c.name], ['Numbers', (c) => [(c.numbers || []).map((n) => h('div', {}, `${n.name} ${n.e164} `,
      isAdmin() && h('button', { class: 'copy', 'data-number-settings': n.e164, onclick: () => numberSettings(c, n.id) }, 'Settings'))),
      isAdmin() && h('button', { class: 'copy', 'data-add-number': c.name, onclick: () => numberSettings(c, null) }, 'Add a number')]],
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
  const heading = h('h2', { class: 'form-title' }, 'Add');
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
        canWrite && h('td', { class: 'nowrap' }, !spec.noEdit && h('button', { onclick: () => edit(item) }, 'Edit'), ' ',
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
  } }, h('h2', { class: 'form-title' }, n ? `${channel.name}: ${n.name} ${n.e164}` : `${channel.name}: add a number`),
  h('div', { class: 'grid2' }, set.nodes), problem,
  h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit' }, 'Save'), h('button', { type: 'button', onclick: () => box.replaceChildren() }, 'Cancel'),
    n && h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!confirm(`Remove ${n.e164}? Its conversations are kept.`)) return;
      try { await api('DELETE', `/channels/${channel.id}/numbers/${n.id}`); S.dir = await api('GET', '/directory'); admin('channels'); } catch (x) { problem.textContent = x.message; }
    } }, 'Remove number'))));
  box.scrollIntoView({ block: 'nearest' });
}

export { ADMIN, admin, fieldSet, json, numberSettings, splitList, targetBody, targetValue };
