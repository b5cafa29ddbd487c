// Admin screens: each tab a table of a resource with Add and Edit (the same form, sent as POST or PATCH). The specs
// below name their words by catalogue key (tab titles, column and field labels, choices); they are looked up when a
// screen is drawn, so the screens follow the person's language.

import { S, agentName, aiName, isAdmin, numberOf, queueName } from './state.js';
import { $, copy, h, toast } from './dom.js';
import { api } from './api.js';
import { current, has, t } from './i18n.js';

// Each tab: a table of the resource, an Add form, and Edit (the same form, filled in, sent as PATCH). A field is
// [name, label key, type, example-or-options, value-of-an-item-for-editing]. A choice is shown by its `opt.` entry.
const json = (v) => JSON.stringify(v);
const splitList = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const targetValue = (t) => !t ? '' : t.type === 'queue' ? 'q:' + t.queue_id : t.type === 'agent' ? 'a:' + t.agent_id : 'ai:' + t.ai_agent_id;
const targetBody = (v) => v.startsWith('ai:') ? { type: 'ai_agent', ai_agent_id: v.slice(3) } : v.startsWith('q:') ? { type: 'queue', queue_id: v.slice(2) } : { type: 'agent', agent_id: v.slice(2) };
// An AI agent's knowledge as text: blocks of "Q: …", "A: …" and optional "K: keyword, keyword", a blank line between.
const knowledgeText = (pairs) => (pairs || []).map((p) => `Q: ${p.question}\nA: ${p.answer}` + ((p.keywords || []).length ? `\nK: ${p.keywords.join(', ')}` : '')).join('\n\n');
const parseKnowledge = (text) => (text || '').split(/\n\s*\n/).map((block) => {
  const p = { question: '', answer: '', keywords: [] };
  let last = null;
  for (const line of block.split('\n')) {
    const m = /^\s*([QAK]):\s?(.*)$/i.exec(line);
    if (m) { last = m[1].toUpperCase(); if (last === 'Q') p.question = m[2]; else if (last === 'A') p.answer = m[2]; else p.keywords = splitList(m[2]); }
    else if (last === 'A') p.answer += '\n' + line; else if (last === 'Q') p.question += ' ' + line.trim();
  }
  return p;
}).filter((p) => p.question || p.answer);
// Extra headers as "Name: value" lines (values are never shown back: empty keeps the stored ones).
const parseHeaders = (text) => Object.fromEntries((text || '').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const i = l.indexOf(':'); return i < 0 ? [l, ''] : [l.slice(0, i).trim(), l.slice(i + 1).trim()]; }));
// The "Try it" panel: sample messages in, what the AI agent would say and do out.
function tryPanel() {
  const agent = h('select', { id: 'try-agent' }, (S.aiAgents || []).map((a) => h('option', { value: a.id }, a.name)));
  const messages = h('textarea', { id: 'try-messages', placeholder: t('try.example') });
  const out = h('div', { id: 'try-result', role: 'status' });
  const run = async (e) => {
    e.preventDefault(); out.replaceChildren(t('try.thinking'));
    try {
      const r = await api('POST', `/ai-agents/${agent.value}/try`, { messages: messages.value.split('\n').map((l) => l.trim()).filter(Boolean) });
      out.replaceChildren(h('div', {},
        h('p', {}, h('strong', {}, r.decision === 'reply' ? t('try.replies') : r.decision === 'resolve' ? t('try.resolves')
          : t('try.hands_over', { reason: has('handover.' + r.handover_reason) ? t('handover.' + r.handover_reason) : (r.handover_reason || '').replace(/_/g, ' ') })), ` · ${r.took_ms} ms`),
        ...r.messages.map((m) => h('div', { class: 'msg outbound' }, m)),
        r.matched && h('p', { class: 'muted' }, t('try.matched', { question: r.matched.question, confidence: Math.round(r.matched.confidence * 100), threshold: Math.round(r.matched.threshold * 100) })),
        r.tool_call && h('p', { class: 'muted' }, t('try.tool', { tool: r.tool_call })),
        r.summary && h('p', { class: 'muted' }, t('try.summary', { summary: r.summary })),
        r.error && h('p', { class: 'error' }, r.error),
        r.prompt_tokens != null && h('p', { class: 'muted' }, t('try.tokens', { prompt: r.prompt_tokens, completion: r.completion_tokens }))));
    } catch (x) { out.replaceChildren(h('p', { class: 'error' }, x.message)); }
  };
  if (!(S.aiAgents || []).length) return h('p', { class: 'muted' }, t('try.none'));
  return h('form', { class: 'form', id: 'try-form', onsubmit: run }, h('h2', { class: 'form-title' }, t('try.title')),
    h('div', { class: 'grid2' }, h('div', {}, h('label', { for: 'try-agent' }, t('try.agent')), agent), h('div', {}, h('label', { for: 'try-messages' }, t('try.messages')), messages)),
    h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit', id: 'try-run' }, t('try.run'))), out);
}
// A week of opening hours as text per day ("09:00-17:30, 19:00-22:00"), not JSON.
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const rangesText = (ranges) => (ranges || []).map((r) => `${r.open}-${r.close}`).join(', ');
const parseRanges = (text) => splitList(text || '').map((r) => { const [open, close] = r.split(/\s*[-–]\s*/); return { open: open || '', close: close || '' }; });
// A day's name in the person's language (1 January 2024 was a Monday).
const dayName = (d, width) => new Intl.DateTimeFormat(current(), { weekday: width, timeZone: 'UTC' }).format(Date.UTC(2024, 0, 1 + DAYS.indexOf(d)));
const weekWords = (weekly) => DAYS.filter((d) => (weekly || {})[d] && weekly[d].length).map((d) => `${dayName(d, 'short')} ${rangesText(weekly[d])}`).join('; ') || t('hours.closed_week');

// Rule conditions as a form (routing rules and auto-reply rules share it): one row per condition, all must hold.
// Each condition: its inputs (a key and a kind: text, list, optional text, choices, a schedule, a number); its words
// are the catalogue's `cond.<type>`.
const CONDITIONS = {
  text_contains: [['value', 'text']],
  text_matches: [['pattern', 'text']],
  button_payload: [['values', 'list']],
  language: [['languages', 'list']],
  contact_tag: [['tag', 'text']],
  contact_attribute: [['key', 'text'], ['equals', 'optional']],
  business_hours: [['open', ['open', 'closed']], ['business_hours_id', 'hours']],
  customer: [['value', ['new', 'returning']]],
  communication_type: [['value', ['message', 'call']]],
  number: [['number_ids', 'number']],
};
// A choice in words: its `opt.` entry, else itself.
const optWords = (o) => (has('opt.' + o) ? t('opt.' + o) : o);
function conditionsEditor(hours) {
  const rows = h('div', { class: 'conditions', id: 'conditions' });
  let list = [];
  const draw = () => {
    rows.replaceChildren(...list.map((c, i) => {
      const parts = CONDITIONS[c.type] || CONDITIONS.text_contains;
      const type = h('select', { id: `cond-type-${i}`, 'aria-label': t('cond.nth', { n: i + 1 }), onchange: (e) => { list[i] = { type: e.target.value }; draw(); } },
        Object.keys(CONDITIONS).map((k) => h('option', { value: k, selected: k === c.type }, t('cond.' + k))));
      const inputs = parts.map(([key, kind]) => {
        const id = `cond-${key}-${i}`, set = (v) => { list[i][key] = v; };
        const cur = c[key];
        if (Array.isArray(kind)) {
          const sel = h('select', { id, 'aria-label': t('cond.' + c.type), onchange: (e) => set(key === 'open' ? e.target.value === 'open' : e.target.value) }, kind.map((o) => h('option', { value: o }, optWords(o))));
          sel.value = key === 'open' ? (cur === false ? 'closed' : 'open') : (cur || kind[0]); set(key === 'open' ? sel.value === 'open' : sel.value);
          return sel;
        }
        if (kind === 'hours') {
          const sel = h('select', { id, 'aria-label': t('cond.schedule'), onchange: (e) => set(e.target.value || undefined) }, h('option', { value: '' }, t('cond.numbers_own')), hours.map((b) => h('option', { value: b.id }, b.name)));
          sel.value = cur || ''; return sel;
        }
        if (kind === 'number') {
          const sel = h('select', { id, 'aria-label': t('contact.number'), onchange: (e) => set([e.target.value]) }, S.dir.numbers.map((n) => h('option', { value: n.id }, `${n.name} ${n.e164}`)));
          if (cur && cur[0]) sel.value = cur[0]; set([sel.value]); return sel;
        }
        const input = h('input', { id, 'aria-label': t('cond.' + c.type) + (parts.length > 1 ? ': ' + t('cond.part_' + key) : ''), value: kind === 'list' ? (cur || []).join(', ') : (cur == null ? '' : String(cur)),
          oninput: (e) => set(kind === 'list' ? splitList(e.target.value) : kind === 'optional' && !e.target.value.trim() ? undefined : e.target.value) });
        return input;
      });
      return h('div', { class: 'condition' }, type, inputs, h('button', { type: 'button', class: 'copy', 'aria-label': t('cond.remove_nth', { n: i + 1 }), onclick: () => { list.splice(i, 1); draw(); } }, t('cond.remove')));
    }), h('button', { type: 'button', id: 'add-condition', onclick: () => { list.push({ type: 'text_contains', value: '' }); draw(); } }, t('cond.add')),
    list.length ? '' : h('span', { class: 'muted' }, ' ' + t('cond.none')));
  };
  draw();
  return { node: rows, multiple: false, tagName: 'DIV', set disabled(_) {},
    get value() { return list.map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined))); },
    set value(v) { list = Array.isArray(v) ? v.map((c) => ({ ...c })) : []; draw(); } };
}
// A condition in words: its type, then each value as its input shows it (a choice in words, a number by its name).
const valueWords = (key, kind, v) => v == null ? '' : key === 'open' ? optWords(v === false ? 'closed' : 'open') : Array.isArray(kind) ? optWords(v)
  : kind === 'number' ? v.map((id) => (numberOf(id) || { name: id }).name).join(', ') : Array.isArray(v) ? v.join(', ') : kind === 'hours' ? '' : String(v);
const conditionWords = (list) => !list.length ? t('cond.every') : list.map((c) => [has('cond.' + c.type) ? t('cond.' + c.type) : c.type,
  ...(CONDITIONS[c.type] || []).map(([key, kind]) => valueWords(key, kind, c[key]))].filter(Boolean).join(' ')).join('; ');
// An auto-reply rule's actions as a form: a reply, a route, tags, a priority, a resolve.
const ruleActions = (v) => {
  const a = [];
  if (v.reply) a.push({ type: 'reply', text: v.reply });
  if (v.add_tags && v.add_tags.length) a.push({ type: 'add_tags', tag_ids: v.add_tags });
  if (v.priority) a.push({ type: 'set_priority', priority: LEVEL[v.priority] });
  if (v.route) a.push(v.route.startsWith('q:') ? { type: 'route', queue_id: v.route.slice(2) } : { type: 'route', agent_id: v.route.slice(2) });
  if (v.resolve === 'yes') a.push({ type: 'resolve' });
  return a;
};
// The priority a level sets (as the server's PriorityLevel), and the level a priority is in.
const LEVEL = { urgent: 300, high: 100, normal: 0, low: -100 };
const levelOf = (p) => (p >= 300 ? 'urgent' : p >= 100 ? 'high' : p > -100 ? 'normal' : 'low');
const actionOf = (r, type) => (r.actions || []).find((a) => a.type === type);
const actionWords = (r) => (r.actions || []).map((a) => a.type === 'reply' ? t('rule.reply', { text: a.text }) : a.type === 'route' ? t('rule.route', { name: a.queue_id ? queueName(a.queue_id) : agentName(a.agent_id) })
  : a.type === 'set_priority' ? t('rule.priority', { level: t('priority.' + levelOf(a.priority)) }) : has('rule.' + a.type) ? t('rule.' + a.type) : a.type.replace(/_/g, ' ')).join(' · ');

const EVENT_TYPES = ['message.received', 'message.sent', 'message.status', 'conversation.created', 'conversation.assigned',
  'conversation.resolved', 'notification.status', 'contact.opt_in_changed', 'csat.rated'];
const TIER_CAP = { tier_250: 250, tier_1k: 1000, tier_10k: 10000, tier_100k: 100000, unlimited: null };
const tierWords = (tier) => (TIER_CAP[tier] == null ? t('opt.unlimited') : new Intl.NumberFormat(current()).format(TIER_CAP[tier]));

const yesNo = (b) => t(b ? 'opt.yes' : 'opt.no');
const ADMIN = {
  channels: { title: 'tab.channels', path: '/channels', admin: true, noEdit: true,
    columns: [['col.name', (c) => c.name], ['col.numbers', (c) => [(c.numbers || []).map((n) => h('div', {}, `${n.name} ${n.e164} `,
      isAdmin() && h('button', { class: 'copy', 'data-number-settings': n.e164, onclick: () => numberSettings(c, n.id) }, t('channels.settings')))),
      isAdmin() && h('button', { class: 'copy', 'data-add-number': c.name, onclick: () => numberSettings(c, null) }, t('channels.add_number'))]],
      ['col.webhooks', (c) => Object.entries(c.webhooks || {}).map(([k, url]) => h('div', {}, `${k}: `, h('code', { class: 'url' }, url), ' ', h('button', { class: 'copy', onclick: () => copy(url) }, t('head.copy'))))]],
    fields: [['name', 'f.name'], ['account_sid', 'f.account_sid'], ['auth_token', 'f.auth_token', 'password'], ['numbers', 'f.channel_numbers']],
    body: (v) => ({ name: v.name, account_sid: v.account_sid, auth_token: v.auth_token, numbers: splitList(v.numbers).map((e164) => ({ e164 })) }) },
  templates: { title: 'tab.templates', path: '/templates', admin: true,
    columns: [['col.name', (x) => x.name], ['col.language', (x) => x.language], ['col.status', (x) => optWords(x.approval_status)], ['col.text', (x) => x.body], ['col.tags', (x) => (x.tags || []).join(', ')]],
    fields: [['name', 'f.template_name', 'text', '', (x) => x.name], ['language', 'f.template_language', 'text', '', (x) => x.language],
      ['body', 'f.template_body', 'textarea', '', (x) => x.body], ['content_sid', 'f.content_sid', 'text', '', (x) => x.content_sid || ''],
      ['tags', 'f.tags_list', 'text', '', (x) => (x.tags || []).join(', ')]],
    body: (v) => ({ name: v.name, language: v.language, body: v.body, content_sid: v.content_sid || undefined, tags: splitList(v.tags) }),
    after: async () => { S.templates = (await api('GET', '/templates?limit=200')).items; },
    extra: () => h('button', { id: 'sync-templates', onclick: async (e) => {
      e.target.disabled = true;
      try {
        const r = await api('POST', '/templates/sync', {});
        toast(t('templates.synced', { created: r.created, updated: r.updated, unchanged: r.unchanged }) + (r.skipped && r.skipped.length ? ', ' + t('templates.skipped', { n: r.skipped.length }) : ''));
        S.templates = (await api('GET', '/templates?limit=200')).items; admin('templates');
      } catch (x) { toast(x.message, true); } finally { e.target.disabled = false; }
    } }, t('templates.sync')) },
  agents: { title: 'tab.agents', path: '/agents', remove: 'admin.deactivate',
    columns: [['col.name', (a) => a.name], ['col.email', (a) => a.email], ['col.role', (a) => optWords(a.role)], ['col.presence', (a) => t('presence.' + a.presence)], ['col.capacity', (a) => String(a.capacity)],
      ['col.queues', (a) => (a.queue_ids || []).map(queueName).join(', ')], ['col.numbers', (a) => (a.number_ids || []).map((id) => (numberOf(id) || {}).e164).join(', ')]],
    fields: [['name', 'f.name', 'text', '', (a) => a.name], ['email', 'f.email', 'email', '', (a) => a.email],
      ['password', 'f.password', 'password', '', () => ''],
      ['role', 'f.role', ['agent', 'supervisor', 'admin'], null, (a) => a.role], ['capacity', 'f.capacity', 'number', '', (a) => String(a.capacity)],
      ['queue_ids', 'col.queues', 'queues', null, (a) => a.queue_ids], ['number_ids', 'col.numbers', 'numbers', null, (a) => a.number_ids],
      ['call_phone', 'admin.call_phone', 'tel', '+31612345678', (a) => a.call_phone || '']],
    body: (v, editing) => {
      const b = { name: v.name, role: v.role, capacity: Number(v.capacity) || undefined, queue_ids: v.queue_ids, number_ids: v.number_ids,
        call_phone: v.call_phone.trim() || (editing ? null : undefined) };
      if (!editing) { b.email = v.email; b.password = v.password; } else if (v.password) b.password = v.password;
      return b;
    } },
  queues: { title: 'tab.queues', path: '/queues', admin: true,
    columns: [['col.name', (q) => q.name], ['col.strategy', (q) => optWords(q.strategy)], ['col.business_hours', (q) => q.business_hours_id ? t('opt.yes') : '—'], ['col.members', (q) => (q.member_ids || []).map(agentName).join(', ')]],
    fields: [['name', 'f.name', 'text', '', (q) => q.name], ['strategy', 'col.strategy', ['least_loaded', 'round_robin'], null, (q) => q.strategy],
      ['business_hours_id', 'col.business_hours', 'hours', null, (q) => q.business_hours_id || ''], ['member_ids', 'col.members', 'agents', null, (q) => q.member_ids || []],
      ['out_of_hours_text', 'f.queue_out_of_hours', 'textarea', '', (q) => (q.automation || {}).out_of_hours_text || ''],
      ['waiting_notice_text', 'f.waiting_notice', 'textarea', 'f.waiting_notice_example', (q) => (q.automation || {}).waiting_notice_text || ''],
      ['waiting_notice_every_minutes', 'f.waiting_notice_every', 'number', '', (q) => String((q.automation || {}).waiting_notice_every_minutes || 5)],
      ['waiting_notice_max', 'f.waiting_notice_max', 'number', '', (q) => String((q.automation || {}).waiting_notice_max || 3)],
      ['acceptance_timeout_minutes', 'f.acceptance_timeout', 'number', '', (q) => q.acceptance_timeout_minutes == null ? '' : String(q.acceptance_timeout_minutes)],
      ['acceptance_misses_to_away', 'f.acceptance_misses', 'number', '', (q) => q.acceptance_misses_to_away == null ? '' : String(q.acceptance_misses_to_away)],
      ['auto_resolve_after_minutes', 'f.queue_auto_resolve', 'number', '', (q) => String((q.automation || {}).auto_resolve_after_minutes || '')],
      ['auto_resolve_text', 'f.queue_auto_resolve_text', 'textarea', '', (q) => (q.automation || {}).auto_resolve_text || '']],
    body: (v, editing) => ({ name: v.name, strategy: v.strategy, business_hours_id: v.business_hours_id || (editing ? null : undefined), member_ids: v.member_ids,
      acceptance_timeout_minutes: v.acceptance_timeout_minutes ? Number(v.acceptance_timeout_minutes) : (editing ? null : undefined),
      acceptance_misses_to_away: v.acceptance_misses_to_away ? Number(v.acceptance_misses_to_away) : (editing ? null : undefined) }),
    load: async (q) => ({ ...q, automation: await api('GET', `/automation/queues/${q.id}`) }),
    also: (v, id) => api('PUT', `/automation/queues/${id}`, { out_of_hours_text: v.out_of_hours_text || null, waiting_notice_text: v.waiting_notice_text || null,
      waiting_notice_every_minutes: Number(v.waiting_notice_every_minutes) || 5, waiting_notice_max: Number(v.waiting_notice_max) || 3,
      auto_resolve_after_minutes: Number(v.auto_resolve_after_minutes) || null, auto_resolve_text: v.auto_resolve_text || null }) },
  hours: { title: 'tab.hours', path: '/business-hours', admin: true,
    columns: [['col.name', (b) => b.name], ['col.time_zone', (b) => b.time_zone], ['col.week', (b) => weekWords(b.weekly)],
      ['col.holidays', (b) => (b.holidays || []).map((x) => x.date + (x.name ? ` ${x.name}` : '')).join(', ')]],
    fields: [['name', 'f.name', 'text', '', (b) => b.name], ['time_zone', 'f.time_zone', 'text', '', (b) => b.time_zone],
      ...DAYS.map((d) => ['day_' + d, () => t('f.day', { day: dayName(d, 'long') }), 'text', '', (b) => rangesText((b.weekly || {})[d])]),
      ['holidays', 'f.holidays', 'textarea', '', (b) => (b.holidays || []).map((x) => `${x.date} ${x.name || ''}`.trim()).join('\n')]],
    body: (v) => ({ name: v.name, time_zone: v.time_zone,
      weekly: Object.fromEntries(DAYS.map((d) => [d, parseRanges(v['day_' + d])]).filter(([, r]) => r.length)),
      holidays: (v.holidays || '').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const [date, ...name] = l.split(/\s+/); return { date, name: name.join(' ') }; }) }) },
  rules: { title: 'tab.rules', path: '/routing/rules', admin: true,
    columns: [['#', (r) => String(r.position)], ['col.name', (r) => r.name], ['col.on', (r) => yesNo(r.enabled)], ['col.conditions', (r) => conditionWords(r.conditions)],
      ['col.sends_to', (r) => r.target.type === 'queue' ? t('rule.to_queue', { name: queueName(r.target.queue_id) }) : r.target.type === 'agent' ? t('rule.to_agent', { name: agentName(r.target.agent_id) }) : t('rule.to_ai', { name: aiName(r.target.ai_agent_id) })]],
    fields: [['name', 'f.name', 'text', '', (r) => r.name], ['enabled', 'f.enabled', ['yes', 'no'], null, (r) => r.enabled ? 'yes' : 'no'],
      ['conditions', 'col.conditions', 'conditions', null, (r) => r.conditions],
      ['target', 'col.sends_to', 'target', null, (r) => targetValue(r.target)]],
    body: (v) => ({ name: v.name, enabled: v.enabled !== 'no', conditions: v.conditions, target: targetBody(v.target) }) },
  ai: { title: 'tab.ai', path: '/ai-agents', admin: true,
    columns: [['col.name', (a) => a.name], ['col.kind', (a) => a.kind === 'builtin' ? t('opt.builtin') : t('ai.model', { model: a.model || '' })], ['col.languages', (a) => (a.languages || []).join(', ')],
      ['col.knowledge', (a) => t('ai.questions', { n: (a.knowledge || []).length })], ['col.hands_over', (a) => t('ai.hands_over_after', { turns: a.max_turns, secs: a.reply_timeout_secs })]],
    fields: [['name', 'f.ai_name', 'text', '', (a) => a.name], ['kind', 'col.kind', ['builtin', 'openai_compatible'], null, (a) => a.kind],
      ['languages', 'f.ai_languages', 'text', '', (a) => (a.languages || []).join(', ')],
      ['greeting', 'f.ai_greeting', 'textarea', '', (a) => a.greeting || ''],
      ['knowledge', 'f.ai_knowledge', 'textarea', 'f.ai_knowledge_example', (a) => knowledgeText(a.knowledge)],
      ['threshold', 'f.ai_threshold', 'number', '', (a) => String(a.threshold)],
      ['handover_keywords', 'f.ai_keywords', 'text', '', (a) => (a.handover_keywords || []).join(', ')],
      ['handover_message', 'f.ai_handover_message', 'textarea', '', (a) => a.handover_message || ''],
      ['max_turns', 'f.ai_max_turns', 'number', '', (a) => String(a.max_turns)],
      ['reply_timeout_secs', 'f.ai_timeout', 'number', '', (a) => String(a.reply_timeout_secs)],
      ['base_url', 'f.ai_base_url', 'text', '', (a) => a.base_url || ''], ['model', 'f.ai_model', 'text', '', (a) => a.model || ''],
      ['api_key', 'f.ai_api_key', 'password', '', () => ''],
      ['extra_headers', 'f.ai_headers', 'textarea', 'api-key: …', () => ''],
      ['temperature', 'f.ai_temperature', 'number', '', (a) => a.temperature == null ? '' : String(a.temperature)],
      ['system_prompt', 'f.ai_system_prompt', 'textarea', '', (a) => a.system_prompt || ''],
      ['instructions', 'f.ai_instructions', 'textarea', '', (a) => a.instructions || '']],
    body: (v, editing) => {
      const b = { name: v.name, kind: v.kind, languages: splitList(v.languages), knowledge: parseKnowledge(v.knowledge), threshold: Number(v.threshold || 0.5),
        greeting: v.greeting || (editing ? null : undefined), handover_message: v.handover_message || (editing ? null : undefined), handover_keywords: splitList(v.handover_keywords),
        max_turns: Number(v.max_turns) || 10, reply_timeout_secs: Number(v.reply_timeout_secs) || 60,
        base_url: v.base_url || (editing ? null : undefined), model: v.model || (editing ? null : undefined),
        temperature: v.temperature === '' ? (editing ? null : undefined) : Number(v.temperature),
        system_prompt: v.system_prompt || (editing ? null : undefined), instructions: v.instructions || (editing ? null : undefined) };
      if (v.api_key) b.api_key = v.api_key;
      if (v.extra_headers) b.extra_headers = parseHeaders(v.extra_headers);
      return b;
    },
    after: async () => { S.aiAgents = (await api('GET', '/ai-agents?limit=200')).items; },
    extra: tryPanel },
  autoreplies: { title: 'tab.autoreplies', path: '/automation/rules', admin: true,
    columns: [['#', (r) => String(r.position)], ['col.name', (r) => r.name], ['col.on', (r) => yesNo(r.enabled)], ['col.when', (r) => conditionWords(r.conditions)],
      ['col.does', actionWords], ['col.at_most', (r) => r.cooldown_secs ? t('rule.cooldown', { hours: Math.round(r.cooldown_secs / 3600) }) : t('rule.every_time')], ['col.then', (r) => optWords(r.stop_after ? 'stop' : 'next rule')]],
    fields: [['name', 'f.name', 'text', '', (r) => r.name], ['enabled', 'f.enabled', ['yes', 'no'], null, (r) => r.enabled ? 'yes' : 'no'],
      ['conditions', 'f.when', 'conditions', null, (r) => r.conditions],
      ['reply', 'f.rule_reply', 'textarea', '', (r) => (actionOf(r, 'reply') || {}).text || ''],
      ['add_tags', 'rule.add_tags', 'tags', null, (r) => (actionOf(r, 'add_tags') || {}).tag_ids || []],
      ['priority', 'f.rule_priority', [['', 'opt.keep'], ['urgent', 'priority.urgent'], ['high', 'priority.high'], ['low', 'priority.low']], null, (r) => { const a = actionOf(r, 'set_priority'); return a ? levelOf(a.priority) : ''; }],
      ['route', 'f.rule_route', 'route', null, (r) => { const a = actionOf(r, 'route'); return a ? (a.queue_id ? 'q:' + a.queue_id : 'a:' + a.agent_id) : ''; }],
      ['resolve', 'f.rule_resolve', ['no', 'yes'], null, (r) => actionOf(r, 'resolve') ? 'yes' : 'no'],
      ['cooldown_hours', 'f.rule_cooldown', 'number', '', (r) => r.cooldown_secs ? String(r.cooldown_secs / 3600) : ''],
      ['stop_after', 'f.rule_then', ['next rule', 'stop'], null, (r) => r.stop_after ? 'stop' : 'next rule']],
    body: (v, editing) => ({ name: v.name, enabled: v.enabled !== 'no', conditions: v.conditions, actions: ruleActions(v),
      cooldown_secs: v.cooldown_hours ? Math.round(Number(v.cooldown_hours) * 3600) : (editing ? null : undefined), stop_after: v.stop_after === 'stop' }) },
  canned: { title: 'tab.canned', path: '/canned-responses',
    columns: [['col.short_code', (r) => '/' + r.short_code], ['col.title', (r) => r.title], ['col.text', (r) => r.text]],
    fields: [['short_code', 'col.short_code', 'text', '', (r) => r.short_code], ['title', 'col.title', 'text', '', (r) => r.title], ['text', 'col.text', 'textarea', '', (r) => r.text]],
    body: (v) => ({ short_code: v.short_code, title: v.title, text: v.text }), after: async () => { S.canned = (await api('GET', '/canned-responses?limit=200')).items; } },
  webhooks: { title: 'tab.webhooks', path: '/webhooks', admin: true, reveal: 'secret',
    columns: [['col.name', (w) => w.name], ['col.url', (w) => h('code', { class: 'url' }, w.url)], ['col.events', (w) => w.events.join(', ')],
      ['col.status', (w) => w.enabled ? (w.consecutive_failures ? t('webhooks.on_failing', { n: w.consecutive_failures }) : t('webhooks.on')) : h('span', { class: 'error' }, t('webhooks.off') + (w.disabled_reason ? `: ${w.disabled_reason}` : ''))]],
    fields: [['name', 'f.name', 'text', '', (w) => w.name], ['url', 'f.url', 'url', 'https://crm.example.com/hooks/switchboard', (w) => w.url],
      ['events', 'col.events', 'events', null, (w) => w.events], ['number_ids', 'f.webhook_numbers', 'numbers', null, (w) => w.number_ids],
      ['enabled', 'webhooks.on', ['yes', 'no'], null, (w) => (w.enabled ? 'yes' : 'no')]],
    body: (v) => ({ name: v.name, url: v.url, events: v.events, number_ids: v.number_ids, enabled: v.enabled !== 'no' }) },
  tags: { title: 'tab.tags', path: '/tags',
    columns: [['col.name', (x) => x.name], ['col.colour', (x) => x.color || ''], ['col.description', (x) => x.description]],
    fields: [['name', 'f.name', 'text', '', (x) => x.name], ['color', 'f.colour', 'text', '', (x) => x.color || ''], ['description', 'col.description', 'text', '', (x) => x.description]],
    body: (v, editing) => ({ name: v.name, color: v.color || (editing ? null : undefined), description: v.description }), after: async () => { S.tags = (await api('GET', '/tags?limit=200')).items; } },
};

// The inputs of a form made of fields; `values()` reads them, `fill(item)` puts an item's values in.
function fieldSet(fields, hours) {
  const inputs = {};
  const field = ([name, labelKey, type, example]) => {
    const id = 'f-' + name, label = typeof labelKey === 'function' ? labelKey() : t(labelKey);
    let input;
    // A choice is a value (shown by its `opt.` entry) or a [value, catalogue key] pair.
    if (Array.isArray(type)) input = h('select', { id }, type.map((o) => (Array.isArray(o) ? h('option', { value: o[0] }, t(o[1])) : h('option', { value: o }, optWords(o)))));
    else if (type === 'textarea') input = h('textarea', { id, placeholder: example && has(example) ? t(example) : example || '' });
    else if (['queues', 'numbers', 'agents'].includes(type)) {
      const opts = type === 'queues' ? S.dir.queues.map((q) => [q.id, q.name]) : type === 'numbers' ? S.dir.numbers.map((n) => [n.id, `${n.name} ${n.e164}`]) : S.dir.agents.map((a) => [a.id, a.name || a.email]);
      input = h('select', { id, multiple: true, size: String(Math.min(5, Math.max(2, opts.length))) }, opts.map(([v, t]) => h('option', { value: v }, t)));
    } else if (type === 'hours') input = h('select', { id }, h('option', { value: '' }, t('opt.always_open')), hours.map((b) => h('option', { value: b.id }, b.name)));
    else if (type === 'queue') input = h('select', { id }, h('option', { value: '' }, t('opt.none')), S.dir.queues.map((q) => h('option', { value: q.id }, q.name)));
    else if (type === 'ai') input = h('select', { id }, h('option', { value: '' }, t('opt.no_ai')), (S.aiAgents || []).map((a) => h('option', { value: a.id }, a.name)));
    else if (type === 'conditions') { const ed = conditionsEditor(hours); inputs[name] = ed; return h('div', { class: 'wide' }, h('label', { for: 'add-condition' }, label), ed.node); }
    else if (type === 'template' || type === 'approved') input = h('select', { id }, h('option', { value: '' }, t('opt.none')),
      S.templates.filter((t) => t.content_sid && (type === 'template' || t.approval_status === 'approved')).map((t) => h('option', { value: t.id }, `${t.name} (${t.language})`)));
    else if (type === 'events') input = h('select', { id, multiple: true, size: '5' }, EVENT_TYPES.map((e) => h('option', { value: e }, `${t('hook.' + e)} (${e})`)));
    else if (type === 'tags') input = h('select', { id, multiple: true, size: String(Math.min(5, Math.max(2, S.tags.length))) }, S.tags.map((t) => h('option', { value: t.id }, t.name)));
    else if (type === 'route') input = h('select', { id }, h('option', { value: '' }, t('opt.keep_place')),
      h('optgroup', { label: t('side.queues') }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
      h('optgroup', { label: t('side.agents') }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))));
    else if (type === 'target') input = h('select', { id },
      h('optgroup', { label: t('side.queues') }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
      h('optgroup', { label: t('side.agents') }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))),
      h('optgroup', { label: t('tab.ai') }, (S.aiAgents || []).map((a) => h('option', { value: 'ai:' + a.id }, a.name))));
    else input = h('input', { id, type: type || 'text' });
    inputs[name] = input;
    return h('div', {}, h('label', { for: id }, label), input);
  };
  const nodes = fields.map(field);
  const values = () => {
    const v = {};
    for (const [k, el] of Object.entries(inputs)) v[k] = el.multiple ? [...el.selectedOptions].map((o) => o.value) : typeof el.value === 'string' ? el.value.trim() : el.value;
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
  const tabs = h('nav', { class: 'tabs', 'aria-label': t('nav.admin') }, Object.entries(ADMIN).map(([k, s]) => h('a', { href: '#/admin/' + k, class: k === tab ? 'active' : '' }, t(s.title))));
  const table = h('div', {}, t('common.loading'));
  const problem = h('p', { class: 'error', role: 'alert', id: 'admin-problem' });
  let hours = [];
  if (!S.aiAgents) { try { S.aiAgents = (await api('GET', '/ai-agents?limit=200')).items; } catch { S.aiAgents = []; } }
  if (spec.fields.some((f) => f[2] === 'hours' || f[2] === 'conditions')) { try { hours = (await api('GET', '/business-hours?limit=200')).items; } catch { /* optional */ } }
  const set = fieldSet(spec.fields, hours);
  let editing = null;
  const heading = h('h2', { class: 'form-title' }, t('admin.add'));
  const submit = h('button', { class: 'primary', type: 'submit', id: 'admin-save' }, t('admin.add'));
  const cancel = h('button', { type: 'button', class: 'hidden', onclick: () => edit(null) }, t('admin.cancel'));
  const edit = async (item) => {
    if (item && spec.load) { try { item = await spec.load(item); } catch (x) { toast(x.message, true); return; } }
    editing = item; set.fill(item); problem.textContent = '';
    heading.textContent = item ? t('admin.edit_named', { name: item.name || item.short_code || '' }) : t('admin.add');
    submit.textContent = t(item ? 'admin.save' : 'admin.add');
    cancel.classList.toggle('hidden', !item);
    if (item) heading.scrollIntoView({ block: 'nearest' });
  };
  const canWrite = !spec.admin || isAdmin();
  const form = canWrite && h('form', { class: 'form', id: 'admin-form', onsubmit: async (e) => {
    e.preventDefault(); problem.textContent = '';
    let body;
    try { body = spec.body(set.values(), !!editing); } catch (x) { problem.textContent = x.message; return; }
    try {
      const saved = editing ? await api('PATCH', `${spec.path}/${editing.id}`, body) : await api('POST', spec.path, body);
      if (spec.also) await spec.also(set.values(), (saved && saved.id) || editing.id);
      // A secret made with it is shown this once, to copy.
      if (spec.reveal && saved && saved[spec.reveal]) window.prompt(t('admin.secret'), saved[spec.reveal]);
      toast(t('admin.saved')); if (spec.after) await spec.after(); S.dir = await api('GET', '/directory'); admin(tab);
    } catch (x) { problem.textContent = x.message + (x.details.field ? ` (${x.details.field})` : ''); }
  } }, heading, h('div', { class: 'grid2' }, set.nodes), problem, h('div', { class: 'buttons' }, submit, cancel));
  $('#main').replaceChildren(h('div', { class: 'page' }, h('h1', {}, t('nav.admin')), tabs, spec.extra && isAdmin() && spec.extra(), table, h('div', { id: 'admin-extra' }), form));
  try {
    const answer = await api('GET', spec.path + '?limit=200');
    const items = Array.isArray(answer) ? answer : answer.items; // routing rules come as one ordered list
    table.replaceChildren(h('table', { id: 'admin-table' }, h('thead', {}, h('tr', {}, spec.columns.map(([l]) => h('th', {}, t(l))), canWrite && h('th', {}))),
      h('tbody', {}, items.map((item) => h('tr', {}, spec.columns.map(([, f]) => h('td', {}, f(item))),
        canWrite && h('td', { class: 'nowrap' }, !spec.noEdit && h('button', { onclick: () => edit(item) }, t('admin.edit')), ' ',
          h('button', { class: 'danger', onclick: async () => {
            if (!confirm(t(spec.remove ? 'admin.deactivate_confirm' : 'admin.delete_confirm', { name: item.name || item.short_code || '' }))) return;
            try { await api('DELETE', `${spec.path}/${item.id}`); if (spec.after) await spec.after(); admin(tab); } catch (x) { toast(x.message, true); }
          } }, t(spec.remove || 'admin.delete'))))))));
    if (!items.length) table.replaceChildren(h('p', { class: 'muted' }, t('admin.none')));
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
  const fields = [['e164', 'n.e164', 'text', '', (x) => x.e164], ['name', 'f.name', 'text', '', (x) => x.name],
    ['ai_agent_id', 'n.ai_agent', 'ai', null, (x) => x.ai_agent_id || ''],
    ['default_queue_id', 'n.default_queue', 'queue', null, (x) => x.default_queue_id || ''],
    ['member_ids', 'n.members', 'agents', null, (x) => x.member_ids || []],
    ['messaging_tier', 'n.tier', Object.keys(TIER_CAP).map((k) => [k, 'opt.' + k]), null, (x) => x.messaging_tier],
    ['agents_may_send_attachments', 'n.agents_attach', ['yes', 'no'], null, (x) => yes(x.agents_may_send_attachments)],
    ['customers_may_send_attachments', 'n.customers_attach', ['yes', 'no'], null, (x) => yes(x.customers_may_send_attachments)],
    ['attachments_refused_text', 'n.attach_refused', 'textarea', '', (x) => x.auto.attachments_refused_text || ''],
    ['greeting_text', 'n.greeting', 'textarea', 'n.greeting_example', (x) => x.greeting_text || ''],
    ['greeting_template_id', 'n.greeting_template', 'template', null, (x) => x.auto.greeting_template_id || ''],
    ['out_of_hours_text', 'n.out_of_hours', 'textarea', '', (x) => x.auto.out_of_hours_text || ''],
    ['out_of_hours_quiet_minutes', 'n.quiet', 'number', '', (x) => String(x.auto.out_of_hours_quiet_minutes)],
    ['auto_resolve_after_minutes', 'n.auto_resolve', 'number', '', (x) => String(x.auto.auto_resolve_after_minutes || '')],
    ['auto_resolve_text', 'n.auto_resolve_text', 'textarea', '', (x) => x.auto.auto_resolve_text || ''],
    ['csat_enabled', 'n.csat', ['no', 'yes'], null, (x) => yes(x.csat_enabled)],
    ['csat_scale', 'n.csat_scale', ['five', 'faces'], null, (x) => x.auto.csat.scale || 'five'],
    ['csat_language', 'n.csat_language', 'text', '', (x) => Object.keys(x.auto.csat.texts || {})[0] || (x.language || 'en')],
    ['csat_question', 'n.csat_question', 'text', '', (x) => (Object.values(x.auto.csat.texts || {})[0] || {}).question || ''],
    ['csat_thanks', 'n.csat_thanks', 'text', '', (x) => (Object.values(x.auto.csat.texts || {})[0] || {}).thanks || ''],
    ['csat_template_id', 'n.csat_template', 'approved', null, (x) => x.auto.csat.template_id || '']];
  const set = fieldSet(fields, []);
  if (n) {
    try { n = { ...n, auto: await api('GET', `/automation/numbers/${n.id}`) }; } catch (x) { toast(x.message, true); return; }
    set.fill(n); set.inputs.e164.disabled = true;
  }
  const problem = h('p', { class: 'error', role: 'alert', id: 'number-problem' });
  box.replaceChildren(h('form', { class: 'form', id: 'number-form', onsubmit: async (e) => {
    e.preventDefault(); problem.textContent = '';
    const v = set.values();
    const body = { e164: n ? undefined : v.e164, name: v.name || undefined, ai_agent_id: v.ai_agent_id || null, default_queue_id: v.default_queue_id || null, member_ids: v.member_ids,
      agents_may_send_attachments: v.agents_may_send_attachments === 'yes', customers_may_send_attachments: v.customers_may_send_attachments === 'yes',
      greeting_text: v.greeting_text || null, csat_enabled: v.csat_enabled === 'yes', messaging_tier: v.messaging_tier };
    const texts = v.csat_question ? { [v.csat_language || 'en']: { question: v.csat_question, thanks: v.csat_thanks || undefined } } : {};
    const auto = { out_of_hours_text: v.out_of_hours_text || null, out_of_hours_quiet_minutes: Number(v.out_of_hours_quiet_minutes) || 30,
      attachments_refused_text: v.attachments_refused_text || null, csat: { scale: v.csat_scale, texts },
      greeting_template_id: v.greeting_template_id || null, greeting_variables: n ? n.auto.greeting_variables : {},
      auto_resolve_after_minutes: Number(v.auto_resolve_after_minutes) || null, auto_resolve_text: v.auto_resolve_text || null };
    if (v.csat_template_id) auto.csat.template_id = v.csat_template_id;
    try {
      const saved = n ? await api('PATCH', `/channels/${channel.id}/numbers/${n.id}`, body) : await api('POST', `/channels/${channel.id}/numbers`, body);
      await api('PUT', `/automation/numbers/${saved.id}`, auto);
      toast(t('admin.saved')); S.dir = await api('GET', '/directory'); admin('channels');
    } catch (x) { problem.textContent = x.message + (x.details.field ? ` (${x.details.field})` : ''); }
  } }, h('h2', { class: 'form-title' }, n ? `${channel.name}: ${n.name} ${n.e164}` : `${channel.name}: ${t('channels.add_number')}`),
  n && h('p', { class: 'muted', id: 'number-usage' }, t('n.usage', { used: n.messaging_used, cap: tierWords(n.messaging_tier) })),
  h('div', { class: 'grid2' }, set.nodes), problem,
  h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit' }, t('admin.save')), h('button', { type: 'button', onclick: () => box.replaceChildren() }, t('admin.cancel')),
    n && h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!confirm(t('n.remove_confirm', { number: n.e164 }))) return;
      try { await api('DELETE', `/channels/${channel.id}/numbers/${n.id}`); S.dir = await api('GET', '/directory'); admin('channels'); } catch (x) { problem.textContent = x.message; }
    } }, t('n.remove')))));
  box.scrollIntoView({ block: 'nearest' });
}

export { ADMIN, admin, fieldSet, json, numberSettings, splitList, targetBody, targetValue };
