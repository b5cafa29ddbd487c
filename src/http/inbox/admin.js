// Admin screens: each tab a table of a resource with Add and Edit (the same form, sent as POST or PATCH).

import { S, agentName, aiName, isAdmin, numberOf, queueName } from './state.js';
import { $, copy, h, toast } from './dom.js';
import { api } from './api.js';

// Each tab: a table of the resource, an Add form, and Edit (the same form, filled in, sent as PATCH). A field is
// [name, label, type, example-or-options, value-of-an-item-for-editing].
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
  const agent = h('select', { id: 'try-agent', 'aria-label': 'AI agent to try' }, (S.aiAgents || []).map((a) => h('option', { value: a.id }, a.name)));
  const messages = h('textarea', { id: 'try-messages', 'aria-label': 'Sample customer messages, one a line', placeholder: 'What are your opening hours?' });
  const out = h('div', { id: 'try-result', role: 'status' });
  const run = async (e) => {
    e.preventDefault(); out.replaceChildren('Thinking…');
    try {
      const r = await api('POST', `/ai-agents/${agent.value}/try`, { messages: messages.value.split('\n').map((l) => l.trim()).filter(Boolean) });
      out.replaceChildren(h('div', {},
        h('p', {}, h('strong', {}, r.decision === 'reply' ? 'Replies' : r.decision === 'resolve' ? 'Resolves' : `Hands over (${(r.handover_reason || '').replace(/_/g, ' ')})`), ` · ${r.took_ms} ms`),
        ...r.messages.map((m) => h('div', { class: 'msg outbound' }, m)),
        r.matched && h('p', { class: 'muted' }, `Matched “${r.matched.question}” at ${Math.round(r.matched.confidence * 100)}% (answers from ${Math.round(r.matched.threshold * 100)}%)`),
        r.tool_call && h('p', { class: 'muted' }, `The model called ${r.tool_call}.`),
        r.summary && h('p', { class: 'muted' }, 'Note for the person: ' + r.summary),
        r.error && h('p', { class: 'error' }, r.error),
        r.prompt_tokens != null && h('p', { class: 'muted' }, `Tokens: ${r.prompt_tokens} in, ${r.completion_tokens} out`)));
    } catch (x) { out.replaceChildren(h('p', { class: 'error' }, x.message)); }
  };
  if (!(S.aiAgents || []).length) return h('p', { class: 'muted' }, 'Add an AI agent, then try it here.');
  return h('form', { class: 'form', id: 'try-form', onsubmit: run }, h('h2', { class: 'form-title' }, 'Try it'),
    h('div', { class: 'grid2' }, h('div', {}, h('label', { for: 'try-agent' }, 'AI agent'), agent), h('div', {}, h('label', { for: 'try-messages' }, 'What the customer writes (one message a line)'), messages)),
    h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit', id: 'try-run' }, 'Try')), out);
}
// A week of opening hours as text per day ("09:00-17:30, 19:00-22:00"), not JSON.
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const rangesText = (ranges) => (ranges || []).map((r) => `${r.open}-${r.close}`).join(', ');
const parseRanges = (text) => splitList(text || '').map((r) => { const [open, close] = r.split(/\s*[-–]\s*/); return { open: open || '', close: close || '' }; });
const weekWords = (weekly) => DAYS.filter((d) => (weekly || {})[d] && weekly[d].length).map((d) => `${d.slice(0, 3)} ${rangesText(weekly[d])}`).join('; ') || 'closed all week';

// Rule conditions as a form (routing rules and auto-reply rules share it): one row per condition, all must hold.
const CONDITIONS = {
  text_contains: ['Message contains', [['value', 'text']]],
  text_matches: ['Message matches (regular expression)', [['pattern', 'text']]],
  button_payload: ['Button payload is one of (comma-separated)', [['values', 'list']]],
  language: ['Customer language is one of (comma-separated)', [['languages', 'list']]],
  contact_tag: ['Contact has the tag', [['tag', 'text']]],
  contact_attribute: ['Contact attribute (key, value: empty for any)', [['key', 'text'], ['equals', 'optional']]],
  business_hours: ['Business hours are', [['open', ['open', 'closed']], ['business_hours_id', 'hours']]],
  customer: ['Customer is', [['value', ['new', 'returning']]]],
  communication_type: ['Conversation is a', [['value', ['message', 'call']]]],
  number: ['Number is', [['number_ids', 'number']]],
};
function conditionsEditor(hours) {
  const rows = h('div', { class: 'conditions', id: 'conditions' });
  let list = [];
  const draw = () => {
    rows.replaceChildren(...list.map((c, i) => {
      const [, parts] = CONDITIONS[c.type] || CONDITIONS.text_contains;
      const type = h('select', { id: `cond-type-${i}`, 'aria-label': `Condition ${i + 1}`, onchange: (e) => { list[i] = { type: e.target.value }; draw(); } },
        Object.entries(CONDITIONS).map(([k, [label]]) => h('option', { value: k, selected: k === c.type }, label)));
      const inputs = parts.map(([key, kind]) => {
        const id = `cond-${key}-${i}`, set = (v) => { list[i][key] = v; };
        const cur = c[key];
        if (Array.isArray(kind)) {
          const sel = h('select', { id, 'aria-label': key, onchange: (e) => set(key === 'open' ? e.target.value === 'open' : e.target.value) }, kind.map((o) => h('option', { value: o }, o)));
          sel.value = key === 'open' ? (cur === false ? 'closed' : 'open') : (cur || kind[0]); set(key === 'open' ? sel.value === 'open' : sel.value);
          return sel;
        }
        if (kind === 'hours') {
          const sel = h('select', { id, 'aria-label': 'Schedule', onchange: (e) => set(e.target.value || undefined) }, h('option', { value: '' }, "the number's own"), hours.map((b) => h('option', { value: b.id }, b.name)));
          sel.value = cur || ''; return sel;
        }
        if (kind === 'number') {
          const sel = h('select', { id, 'aria-label': 'Number', onchange: (e) => set([e.target.value]) }, S.dir.numbers.map((n) => h('option', { value: n.id }, `${n.name} ${n.e164}`)));
          if (cur && cur[0]) sel.value = cur[0]; set([sel.value]); return sel;
        }
        const input = h('input', { id, 'aria-label': key, value: kind === 'list' ? (cur || []).join(', ') : (cur == null ? '' : String(cur)),
          oninput: (e) => set(kind === 'list' ? splitList(e.target.value) : kind === 'optional' && !e.target.value.trim() ? undefined : e.target.value) });
        return input;
      });
      return h('div', { class: 'condition' }, type, inputs, h('button', { type: 'button', class: 'copy', 'aria-label': `Remove condition ${i + 1}`, onclick: () => { list.splice(i, 1); draw(); } }, 'Remove'));
    }), h('button', { type: 'button', id: 'add-condition', onclick: () => { list.push({ type: 'text_contains', value: '' }); draw(); } }, 'Add condition'),
    list.length ? '' : h('span', { class: 'muted' }, ' No condition: every message.'));
  };
  draw();
  return { node: rows, multiple: false, tagName: 'DIV', set disabled(_) {},
    get value() { return list.map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined))); },
    set value(v) { list = Array.isArray(v) ? v.map((c) => ({ ...c })) : []; draw(); } };
}
const conditionWords = (list) => !list.length ? 'every message' : list.map((c) => (CONDITIONS[c.type] || [c.type])[0] + ' ' +
  Object.entries(c).filter(([k]) => k !== 'type').map(([, v]) => Array.isArray(v) ? v.join(', ') : String(v)).join(' ')).join('; ');
// An auto-reply rule's actions as a form: a reply, a route, tags, a priority, a resolve.
const ruleActions = (v) => {
  const a = [];
  if (v.reply) a.push({ type: 'reply', text: v.reply });
  if (v.add_tags && v.add_tags.length) a.push({ type: 'add_tags', tag_ids: v.add_tags });
  if (v.priority) a.push({ type: 'set_priority', priority: Number(v.priority) });
  if (v.route) a.push(v.route.startsWith('q:') ? { type: 'route', queue_id: v.route.slice(2) } : { type: 'route', agent_id: v.route.slice(2) });
  if (v.resolve === 'yes') a.push({ type: 'resolve' });
  return a;
};
const actionOf = (r, type) => (r.actions || []).find((a) => a.type === type);
const actionWords = (r) => (r.actions || []).map((a) => a.type === 'reply' ? `Reply “${a.text}”` : a.type === 'route' ? 'Route to ' + (a.queue_id ? queueName(a.queue_id) : agentName(a.agent_id))
  : a.type === 'set_priority' ? `Priority ${a.priority}` : a.type === 'add_tags' ? 'Add tags' : a.type.replace(/_/g, ' ')).join(' · ');

const EVENT_TYPES = ['message.received', 'message.sent', 'message.status', 'conversation.created', 'conversation.assigned',
  'conversation.resolved', 'notification.status', 'contact.opt_in_changed', 'csat.rated'];
const TIER_CAP = { tier_250: '250', tier_1k: '1,000', tier_10k: '10,000', tier_100k: '100,000', unlimited: 'unlimited' };

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
      ['business_hours_id', 'Business hours', 'hours', null, (q) => q.business_hours_id || ''], ['member_ids', 'Members', 'agents', null, (q) => q.member_ids || []],
      ['out_of_hours_text', 'Out-of-hours message while this queue is closed (empty: the number\'s)', 'textarea', '', (q) => (q.automation || {}).out_of_hours_text || ''],
      ['waiting_notice_text', 'Waiting notice ({{position}}, {{estimated_wait}}; empty: none)', 'textarea', 'You are number {{position}} in line; the wait is about {{estimated_wait}}.', (q) => (q.automation || {}).waiting_notice_text || ''],
      ['waiting_notice_every_minutes', 'Waiting notice at most every … minutes', 'number', '', (q) => String((q.automation || {}).waiting_notice_every_minutes || 5)],
      ['waiting_notice_max', 'At most … notices per wait', 'number', '', (q) => String((q.automation || {}).waiting_notice_max || 3)],
      ['acceptance_timeout_minutes', 'Back to the queue when its agent has not answered in … minutes (empty: never)', 'number', '', (q) => q.acceptance_timeout_minutes == null ? '' : String(q.acceptance_timeout_minutes)],
      ['acceptance_misses_to_away', 'Set the agent away after … such misses in a row (empty: never)', 'number', '', (q) => q.acceptance_misses_to_away == null ? '' : String(q.acceptance_misses_to_away)],
      ['auto_resolve_after_minutes', 'Resolve after … minutes of silence (empty: the number\'s setting)', 'number', '', (q) => String((q.automation || {}).auto_resolve_after_minutes || '')],
      ['auto_resolve_text', 'Closing message when resolved for silence (empty: the number\'s)', 'textarea', '', (q) => (q.automation || {}).auto_resolve_text || '']],
    body: (v, editing) => ({ name: v.name, strategy: v.strategy, business_hours_id: v.business_hours_id || (editing ? null : undefined), member_ids: v.member_ids,
      acceptance_timeout_minutes: v.acceptance_timeout_minutes ? Number(v.acceptance_timeout_minutes) : (editing ? null : undefined),
      acceptance_misses_to_away: v.acceptance_misses_to_away ? Number(v.acceptance_misses_to_away) : (editing ? null : undefined) }),
    load: async (q) => ({ ...q, automation: await api('GET', `/automation/queues/${q.id}`) }),
    also: (v, id) => api('PUT', `/automation/queues/${id}`, { out_of_hours_text: v.out_of_hours_text || null, waiting_notice_text: v.waiting_notice_text || null,
      waiting_notice_every_minutes: Number(v.waiting_notice_every_minutes) || 5, waiting_notice_max: Number(v.waiting_notice_max) || 3,
      auto_resolve_after_minutes: Number(v.auto_resolve_after_minutes) || null, auto_resolve_text: v.auto_resolve_text || null }) },
  hours: { title: 'Business hours', path: '/business-hours', admin: true,
    columns: [['Name', (b) => b.name], ['Time zone', (b) => b.time_zone], ['Week', (b) => weekWords(b.weekly)],
      ['Holidays', (b) => (b.holidays || []).map((x) => x.date + (x.name ? ` ${x.name}` : '')).join(', ')]],
    fields: [['name', 'Name', 'text', '', (b) => b.name], ['time_zone', 'Time zone (IANA, e.g. Europe/Amsterdam)', 'text', '', (b) => b.time_zone],
      ...DAYS.map((d) => ['day_' + d, `${d[0].toUpperCase()}${d.slice(1)} (e.g. 09:00-17:30, 19:00-22:00; empty: closed)`, 'text', '', (b) => rangesText((b.weekly || {})[d])]),
      ['holidays', 'Holidays (one a line: 2026-12-25 Christmas)', 'textarea', '', (b) => (b.holidays || []).map((x) => `${x.date} ${x.name || ''}`.trim()).join('\n')]],
    body: (v) => ({ name: v.name, time_zone: v.time_zone,
      weekly: Object.fromEntries(DAYS.map((d) => [d, parseRanges(v['day_' + d])]).filter(([, r]) => r.length)),
      holidays: (v.holidays || '').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const [date, ...name] = l.split(/\s+/); return { date, name: name.join(' ') }; }) }) },
  rules: { title: 'Routing rules', path: '/routing/rules', admin: true,
    columns: [['#', (r) => String(r.position)], ['Name', (r) => r.name], ['On', (r) => r.enabled ? 'yes' : 'no'], ['Conditions (all must hold)', (r) => conditionWords(r.conditions)],
      ['Sends to', (r) => r.target.type === 'queue' ? 'Queue ' + queueName(r.target.queue_id) : r.target.type === 'agent' ? 'Agent ' + agentName(r.target.agent_id) : 'AI agent ' + aiName(r.target.ai_agent_id)]],
    fields: [['name', 'Name', 'text', '', (r) => r.name], ['enabled', 'Enabled', ['yes', 'no'], null, (r) => r.enabled ? 'yes' : 'no'],
      ['conditions', 'Conditions (all must hold)', 'conditions', null, (r) => r.conditions],
      ['target', 'Sends to', 'target', null, (r) => targetValue(r.target)]],
    body: (v) => ({ name: v.name, enabled: v.enabled !== 'no', conditions: v.conditions, target: targetBody(v.target) }) },
  ai: { title: 'AI agents', path: '/ai-agents', admin: true,
    columns: [['Name', (a) => a.name], ['Kind', (a) => a.kind === 'builtin' ? 'Built-in bot' : `Model ${a.model || ''}`], ['Languages', (a) => (a.languages || []).join(', ')],
      ['Knowledge', (a) => `${(a.knowledge || []).length} questions`], ['Hands over after', (a) => `${a.max_turns} replies or ${a.reply_timeout_secs} s`]],
    fields: [['name', 'Name (shown on its replies)', 'text', '', (a) => a.name], ['kind', 'Kind', ['builtin', 'openai_compatible'], null, (a) => a.kind],
      ['languages', 'Languages (comma-separated: en, es, pt-BR)', 'text', '', (a) => (a.languages || []).join(', ')],
      ['greeting', 'Greeting before its first answer (empty: none)', 'textarea', '', (a) => a.greeting || ''],
      ['knowledge', 'Questions and answers ("Q: …", "A: …", optional "K: keywords"; a blank line between)', 'textarea', 'Q: What are your opening hours?\nA: Monday to Friday, 9 to 5.\nK: open, hours', (a) => knowledgeText(a.knowledge)],
      ['threshold', 'Built-in bot answers from this confidence (0 to 1)', 'number', '', (a) => String(a.threshold)],
      ['handover_keywords', 'Words that mean "a person, please" (besides agent, human, persona, mens, atendente…)', 'text', '', (a) => (a.handover_keywords || []).join(', ')],
      ['handover_message', 'Said when handing over (empty: a default in the customer\'s language)', 'textarea', '', (a) => a.handover_message || ''],
      ['max_turns', 'Hands over after this many replies', 'number', '', (a) => String(a.max_turns)],
      ['reply_timeout_secs', 'Hands over when no reply within … seconds', 'number', '', (a) => String(a.reply_timeout_secs)],
      ['base_url', 'Model: base URL (e.g. https://api.openai.com/v1)', 'text', '', (a) => a.base_url || ''], ['model', 'Model: name', 'text', '', (a) => a.model || ''],
      ['api_key', 'Model: API key (stored encrypted; empty keeps the stored one)', 'password', '', () => ''],
      ['extra_headers', 'Model: extra headers, "Name: value" a line (empty keeps the stored ones)', 'textarea', 'api-key: …', () => ''],
      ['temperature', 'Model: temperature (0 to 2; empty: the model\'s default)', 'number', '', (a) => a.temperature == null ? '' : String(a.temperature)],
      ['system_prompt', 'Model: system prompt (empty: a built-in one that keeps it to the knowledge)', 'textarea', '', (a) => a.system_prompt || ''],
      ['instructions', 'Model: more knowledge as free text', 'textarea', '', (a) => a.instructions || '']],
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
  autoreplies: { title: 'Auto replies', path: '/automation/rules', admin: true,
    columns: [['#', (r) => String(r.position)], ['Name', (r) => r.name], ['On', (r) => r.enabled ? 'yes' : 'no'], ['When', (r) => conditionWords(r.conditions)],
      ['Does', actionWords], ['At most', (r) => r.cooldown_secs ? `once per ${Math.round(r.cooldown_secs / 3600)} h per contact` : 'every time'], ['Then', (r) => r.stop_after ? 'stop' : 'next rule']],
    fields: [['name', 'Name', 'text', '', (r) => r.name], ['enabled', 'Enabled', ['yes', 'no'], null, (r) => r.enabled ? 'yes' : 'no'],
      ['conditions', 'When (all must hold)', 'conditions', null, (r) => r.conditions],
      ['reply', 'Reply ({{customer_name}}, {{number_name}} are filled in)', 'textarea', '', (r) => (actionOf(r, 'reply') || {}).text || ''],
      ['add_tags', 'Add tags', 'tags', null, (r) => (actionOf(r, 'add_tags') || {}).tag_ids || []],
      ['priority', 'Set priority (empty: keep)', ['', 'low (-100)', 'high (100)', 'urgent (500)'].map(String), null, (r) => { const p = (actionOf(r, 'set_priority') || {}).priority; return p === -100 ? 'low (-100)' : p === 100 ? 'high (100)' : p === 500 ? 'urgent (500)' : ''; }],
      ['route', 'Route to', 'route', null, (r) => { const a = actionOf(r, 'route'); return a ? (a.queue_id ? 'q:' + a.queue_id : 'a:' + a.agent_id) : ''; }],
      ['resolve', 'Resolve the conversation', ['no', 'yes'], null, (r) => actionOf(r, 'resolve') ? 'yes' : 'no'],
      ['cooldown_hours', 'At most once per contact every … hours (empty: every time)', 'number', '', (r) => r.cooldown_secs ? String(r.cooldown_secs / 3600) : ''],
      ['stop_after', 'After it fires', ['next rule', 'stop'], null, (r) => r.stop_after ? 'stop' : 'next rule']],
    body: (v, editing) => ({ name: v.name, enabled: v.enabled !== 'no', conditions: v.conditions,
      actions: ruleActions({ ...v, priority: (/-?\d+/.exec(v.priority || '') || [''])[0] }),
      cooldown_secs: v.cooldown_hours ? Math.round(Number(v.cooldown_hours) * 3600) : (editing ? null : undefined), stop_after: v.stop_after === 'stop' }) },
  canned: { title: 'Saved replies', path: '/canned-responses',
    columns: [['Short code', (r) => '/' + r.short_code], ['Title', (r) => r.title], ['Text', (r) => r.text]],
    fields: [['short_code', 'Short code', 'text', '', (r) => r.short_code], ['title', 'Title', 'text', '', (r) => r.title], ['text', 'Text', 'textarea', '', (r) => r.text]],
    body: (v) => ({ short_code: v.short_code, title: v.title, text: v.text }), after: async () => { S.canned = (await api('GET', '/canned-responses?limit=200')).items; } },
  webhooks: { title: 'Webhooks', path: '/webhooks', admin: true, reveal: 'secret',
    columns: [['Name', (w) => w.name], ['URL', (w) => h('code', { class: 'url' }, w.url)], ['Events', (w) => w.events.join(', ')],
      ['Status', (w) => w.enabled ? (w.consecutive_failures ? `On (${w.consecutive_failures} failed in a row)` : 'On') : h('span', { class: 'error' }, 'Off' + (w.disabled_reason ? `: ${w.disabled_reason}` : ''))]],
    fields: [['name', 'Name', 'text', '', (w) => w.name], ['url', 'URL (https://…)', 'url', 'https://crm.example.com/hooks/switchboard', (w) => w.url],
      ['events', 'Events', 'events', null, (w) => w.events], ['number_ids', 'Only these numbers (none: all)', 'numbers', null, (w) => w.number_ids],
      ['enabled', 'On', ['yes', 'no'], null, (w) => (w.enabled ? 'yes' : 'no')]],
    body: (v) => ({ name: v.name, url: v.url, events: v.events, number_ids: v.number_ids, enabled: v.enabled !== 'no' }) },
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
    else if (type === 'ai') input = h('select', { id }, h('option', { value: '' }, 'None: routing rules and the default queue'), (S.aiAgents || []).map((a) => h('option', { value: a.id }, a.name)));
    else if (type === 'conditions') { const ed = conditionsEditor(hours); inputs[name] = ed; return h('div', { class: 'wide' }, h('label', { for: 'add-condition' }, label), ed.node); }
    else if (type === 'template' || type === 'approved') input = h('select', { id }, h('option', { value: '' }, 'None'),
      S.templates.filter((t) => t.content_sid && (type === 'template' || t.approval_status === 'approved')).map((t) => h('option', { value: t.id }, `${t.name} (${t.language})`)));
    else if (type === 'events') input = h('select', { id, multiple: true, size: '5' }, EVENT_TYPES.map((t) => h('option', { value: t }, t)));
    else if (type === 'tags') input = h('select', { id, multiple: true, size: String(Math.min(5, Math.max(2, S.tags.length))) }, S.tags.map((t) => h('option', { value: t.id }, t.name)));
    else if (type === 'route') input = h('select', { id }, h('option', { value: '' }, 'Keep where it is'),
      h('optgroup', { label: 'Queues' }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
      h('optgroup', { label: 'Agents' }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))));
    else if (type === 'target') input = h('select', { id },
      h('optgroup', { label: 'Queues' }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
      h('optgroup', { label: 'Agents' }, S.dir.agents.map((a) => h('option', { value: 'a:' + a.id }, a.name || a.email))),
      h('optgroup', { label: 'AI agents' }, (S.aiAgents || []).map((a) => h('option', { value: 'ai:' + a.id }, a.name))));
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
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Admin' }, Object.entries(ADMIN).map(([k, s]) => h('a', { href: '#/admin/' + k, class: k === tab ? 'active' : '' }, s.title)));
  const table = h('div', {}, 'Loading…');
  const problem = h('p', { class: 'error', role: 'alert', id: 'admin-problem' });
  let hours = [];
  if (!S.aiAgents) { try { S.aiAgents = (await api('GET', '/ai-agents?limit=200')).items; } catch { S.aiAgents = []; } }
  if (spec.fields.some((f) => f[2] === 'hours' || f[2] === 'conditions')) { try { hours = (await api('GET', '/business-hours?limit=200')).items; } catch { /* optional */ } }
  const set = fieldSet(spec.fields, hours);
  let editing = null;
  const heading = h('h2', { class: 'form-title' }, 'Add');
  const submit = h('button', { class: 'primary', type: 'submit', id: 'admin-save' }, 'Add');
  const cancel = h('button', { type: 'button', class: 'hidden', onclick: () => edit(null) }, 'Cancel');
  const edit = async (item) => {
    if (item && spec.load) { try { item = await spec.load(item); } catch (x) { toast(x.message, true); return; } }
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
      const saved = editing ? await api('PATCH', `${spec.path}/${editing.id}`, body) : await api('POST', spec.path, body);
      if (spec.also) await spec.also(set.values(), (saved && saved.id) || editing.id);
      // A secret made with it is shown this once, to copy.
      if (spec.reveal && saved && saved[spec.reveal]) window.prompt('Copy the signing secret now: it is not shown again.', saved[spec.reveal]);
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
    ['ai_agent_id', 'AI agent answering first (when no rule decides)', 'ai', null, (x) => x.ai_agent_id || ''],
    ['default_queue_id', 'Default queue (when no rule matches)', 'queue', null, (x) => x.default_queue_id || ''],
    ['member_ids', 'Agents who serve it', 'agents', null, (x) => x.member_ids || []],
    ['messaging_tier', 'WhatsApp messaging limit (unique customers written to first in 24 hours)', Object.keys(TIER_CAP), null, (x) => x.messaging_tier],
    ['agents_may_send_attachments', 'Agents may send attachments', ['yes', 'no'], null, (x) => yes(x.agents_may_send_attachments)],
    ['customers_may_send_attachments', 'Customers may send attachments', ['yes', 'no'], null, (x) => yes(x.customers_may_send_attachments)],
    ['attachments_refused_text', 'When they may not: the reply (empty: a built-in polite sentence)', 'textarea', '', (x) => x.auto.attachments_refused_text || ''],
    ['greeting_text', 'Greeting for a new conversation ({{customer_name}}, {{number_name}}; empty: none)', 'textarea', 'Hi {{customer_name}}, thanks for writing to {{number_name}}!', (x) => x.greeting_text || ''],
    ['greeting_template_id', 'Or greet with a content with buttons (instead of the text)', 'template', null, (x) => x.auto.greeting_template_id || ''],
    ['out_of_hours_text', 'Out-of-hours message (once per closed period; empty: none)', 'textarea', '', (x) => x.auto.out_of_hours_text || ''],
    ['out_of_hours_quiet_minutes', 'Not when a person replied in the last … minutes', 'number', '', (x) => String(x.auto.out_of_hours_quiet_minutes)],
    ['auto_resolve_after_minutes', 'Resolve conversations after … minutes of silence (empty: never)', 'number', '', (x) => String(x.auto.auto_resolve_after_minutes || '')],
    ['auto_resolve_text', 'Closing message when resolved for silence (empty: none)', 'textarea', '', (x) => x.auto.auto_resolve_text || ''],
    ['csat_enabled', 'Satisfaction survey when resolved', ['no', 'yes'], null, (x) => yes(x.csat_enabled)],
    ['csat_scale', 'Survey scale', ['five', 'faces'], null, (x) => x.auto.csat.scale || 'five'],
    ['csat_language', 'Survey language (e.g. en)', 'text', '', (x) => Object.keys(x.auto.csat.texts || {})[0] || (x.language || 'en')],
    ['csat_question', 'Survey question', 'text', 'How did we do?', (x) => (Object.values(x.auto.csat.texts || {})[0] || {}).question || ''],
    ['csat_thanks', 'Thanks after a rating (may invite a comment)', 'text', 'Thank you! Anything you would like to add?', (x) => (Object.values(x.auto.csat.texts || {})[0] || {}).thanks || ''],
    ['csat_template_id', 'Survey outside the 24-hour window: an approved template (none: no survey then)', 'approved', null, (x) => x.auto.csat.template_id || '']];
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
      toast('Saved'); S.dir = await api('GET', '/directory'); admin('channels');
    } catch (x) { problem.textContent = x.message + (x.details.field ? ` (${x.details.field})` : ''); }
  } }, h('h2', { class: 'form-title' }, n ? `${channel.name}: ${n.name} ${n.e164}` : `${channel.name}: add a number`),
  n && h('p', { class: 'muted', id: 'number-usage' }, `Messaging limit: ${n.messaging_used} of ${TIER_CAP[n.messaging_tier]} customers reached in the last 24 hours.`),
  h('div', { class: 'grid2' }, set.nodes), problem,
  h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit' }, 'Save'), h('button', { type: 'button', onclick: () => box.replaceChildren() }, 'Cancel'),
    n && h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!confirm(`Remove ${n.e164}? Its conversations are kept.`)) return;
      try { await api('DELETE', `/channels/${channel.id}/numbers/${n.id}`); S.dir = await api('GET', '/directory'); admin('channels'); } catch (x) { problem.textContent = x.message; }
    } }, 'Remove number'))));
  box.scrollIntoView({ block: 'nearest' });
}

export { ADMIN, admin, fieldSet, json, numberSettings, splitList, targetBody, targetValue };
