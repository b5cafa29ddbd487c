// The Reports screen: a period (presets or two days), filters and a grouping; the totals, a line chart of one
// figure over time (one point per day, or per hour for a day or two), a bar chart of one figure per group with
// the table under it, the SLA breaches (each opens its conversation) and the CSV. Charts are SVG drawn here (no
// chart library). Loaded when the screen is first opened, not with the inbox. Agents see their own figures.

import { S, isSup } from './state.js';
import { $, fmtDuration, h, toast } from './dom.js';
import { api, qs } from './api.js';
import { current, t, zone } from './i18n.js';

const GROUPS = ['agent', 'queue', 'number', 'channel', 'tag', 'day', 'weekday', 'hour'];
const LINE = ['conversations_new', 'conversations_resolved', 'messages_received', 'first_response_median_secs',
  'resolution_median_secs', 'csat_average', 'sla_first_response_met_share'];
const BAR = ['conversations_resolved', 'conversations_new', 'first_response_median_secs', 'handle_average_secs',
  'csat_average', 'sla_first_response_met_share'];
// A figure of a summary row, by the names the charts use.
const FIGURES = {
  conversations_new: (r) => r.conversations.new,
  conversations_resolved: (r) => r.conversations.resolved,
  messages_received: (r) => (r.messages ? r.messages.received : null),
  first_response_median_secs: (r) => r.first_response.median_secs,
  resolution_median_secs: (r) => r.resolution.median_secs,
  handle_average_secs: (r) => r.handle.average_secs,
  csat_average: (r) => r.csat.average,
  sla_first_response_met_share: (r) => r.sla.first_response_met_share,
};
const isSecs = (figure) => figure.endsWith('_secs');
const isShare = (figure) => figure.endsWith('_share');
const show = (figure, v) => v == null ? '—' : isSecs(figure) ? fmtDuration(v) : isShare(figure) ? `${Math.round(v * 100)}%`
  : new Intl.NumberFormat(current(), { maximumFractionDigits: 2 }).format(v);

// Days as the person's time zone has them: YYYY-MM-DD.
const dayOf = (date) => new Intl.DateTimeFormat('en-CA', { timeZone: zone(), year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
const shift = (day, days) => { const d = new Date(day + 'T12:00:00Z'); d.setUTCDate(d.getUTCDate() + days); return d.toISOString().slice(0, 10); };
function preset(name) {
  const today = dayOf(new Date());
  if (name === 'today') return [today, today];
  if (name === 'yesterday') return [shift(today, -1), shift(today, -1)];
  if (name === '30d') return [shift(today, -29), today];
  if (name === 'month') return [today.slice(0, 8) + '01', today];
  return [shift(today, -6), today];
}

// The screen's state, kept in the address (#/reports?from=…&to=…&group_by=…) so a view can be shared.
let state = null;
function readState() {
  const params = new URLSearchParams((location.hash.split('?')[1]) || '');
  const [from, to] = preset('7d');
  return { from: params.get('from') || from, to: params.get('to') || to, group_by: params.get('group_by') || (isSup() ? 'agent' : 'day'),
    number_id: params.get('number_id') || '', queue_id: params.get('queue_id') || '', agent_id: params.get('agent_id') || '',
    tag_id: params.get('tag_id') || '', line: params.get('line') || 'conversations_new', bar: params.get('bar') || 'conversations_resolved' };
}
function query(extra) {
  const s = state;
  return qs({ from: s.from, to: s.to, tz: zone() || Intl.DateTimeFormat().resolvedOptions().timeZone, number_id: s.number_id, queue_id: s.queue_id,
    agent_id: s.agent_id, tag_id: s.tag_id, ...extra });
}
function go(changes) {
  state = { ...state, ...changes };
  const q = new URLSearchParams(Object.entries(state).filter(([, v]) => v)).toString();
  history.replaceState(null, '', '#/reports?' + q);
  draw();
}

function reports() {
  S.page = 'reports'; S.current = null;
  state = readState();
  const select = (id, label, value, options, onchange) => h('label', { class: 'field' }, label,
    h('select', { id, value, onchange: (e) => onchange(e.target.value) }, options.map(([v, text]) => h('option', { value: v }, text))));
  const date = (id, label, value, key) => h('label', { class: 'field' }, label, h('input', { id, type: 'date', value, onchange: (e) => e.target.value && go({ [key]: e.target.value }) }));
  const controls = h('div', { class: 'report-controls' },
    select('rep-preset', t('rep.period'), '', [['', t('rep.choose')], ['today', t('rep.today')], ['yesterday', t('rep.yesterday')], ['7d', t('rep.7d')],
      ['30d', t('rep.30d')], ['month', t('rep.month')]], (v) => { if (v) { const [from, to] = preset(v); go({ from, to }); } }),
    date('rep-from', t('rep.from'), state.from, 'from'), date('rep-to', t('rep.to'), state.to, 'to'),
    select('rep-group', t('rep.group_by'), state.group_by, GROUPS.map((g) => [g, t('rep.group.' + g)]), (v) => go({ group_by: v })),
    select('rep-number', t('filter.number'), state.number_id, [['', t('filter.all_numbers')], ...S.dir.numbers.map((n) => [n.id, `${n.name} ${n.e164}`])], (v) => go({ number_id: v })),
    select('rep-queue', t('sup.queue'), state.queue_id, [['', t('rep.all_queues')], ...S.dir.queues.map((q) => [q.id, q.name])], (v) => go({ queue_id: v })),
    isSup() && select('rep-agent', t('sup.agent'), state.agent_id, [['', t('rep.all_agents')], ...S.dir.agents.map((a) => [a.id, a.name || a.email])], (v) => go({ agent_id: v })),
    select('rep-tag', t('filter.tag'), state.tag_id, [['', t('filter.all_tags')], ...S.tags.map((g) => [g.id, g.name])], (v) => go({ tag_id: v })),
    h('a', { class: 'button', id: 'rep-csv', href: '#', onclick: (e) => { e.currentTarget.href = '/api/v1/reports/summary?' + query({ group_by: state.group_by, format: 'csv' }); } }, t('rep.csv')));
  $('#main').replaceChildren(h('section', { class: 'page reports-page', 'aria-label': t('nav.reports') },
    h('h1', {}, t('nav.reports')), controls, h('div', { id: 'rep-body' }, t('common.loading'))));
  draw();
}

async function draw() {
  const body = $('#rep-body');
  if (!body) return;
  const s = state;
  const interval = s.from === s.to || shift(s.from, 1) === s.to ? 'hour' : 'day';
  let summary, series;
  try {
    [summary, series] = await Promise.all([
      api('GET', '/reports/summary?' + query({ group_by: s.group_by })),
      api('GET', '/reports/timeseries?' + query({ metric: s.line, interval })),
    ]);
  } catch (x) { body.replaceChildren(h('p', { class: 'error', role: 'alert' }, x.message)); toast(x.message, true); return; }
  if (state !== s) return;
  const total = summary.total;
  const card = (id, label, value) => h('div', { class: 'card', id }, h('div', { class: 'muted' }, label), h('strong', {}, value));
  const pick = (id, value, options, key) => h('select', { id, 'aria-label': t('rep.figure'), value, onchange: (e) => go({ [key]: e.target.value }) },
    options.map((f) => h('option', { value: f }, t('rep.fig.' + f))));
  body.replaceChildren(
    h('div', { class: 'cards', id: 'rep-totals' },
      card('rep-new', t('rep.fig.conversations_new'), show('conversations_new', total.conversations.new)),
      card('rep-resolved', t('rep.fig.conversations_resolved'), show('conversations_resolved', total.conversations.resolved)),
      card('rep-frt', t('rep.fig.first_response_median_secs'), show('first_response_median_secs', total.first_response.median_secs)),
      card('rep-resolution', t('rep.fig.resolution_median_secs'), show('resolution_median_secs', total.resolution.median_secs)),
      card('rep-csat', t('rep.fig.csat_average'), show('csat_average', total.csat.average)),
      card('rep-sla', t('rep.fig.sla_first_response_met_share'), show('sla_first_response_met_share', total.sla.first_response_met_share))),
    h('section', { class: 'chart-box', 'aria-label': t('rep.over_time') }, h('div', { class: 'line' }, h('h2', {}, t('rep.over_time')), h('span', { class: 'spacer' }), pick('rep-line', s.line, LINE, 'line')),
      lineChart(series.points, s.line),
      table(['rep.when', 'rep.fig.' + s.line], series.points.map((p) => [p.key, show(s.line, p.value)]), 'rep-series')),
    h('section', { class: 'chart-box', 'aria-label': t('rep.by_group') }, h('div', { class: 'line' }, h('h2', {}, t('rep.group.' + s.group_by)), h('span', { class: 'spacer' }), pick('rep-bar', s.bar, BAR, 'bar')),
      barChart(summary.rows, s.bar),
      table(['rep.group.' + s.group_by, 'rep.fig.conversations_new', 'rep.fig.conversations_resolved', 'rep.fig.first_response_median_secs',
        'rep.fig.resolution_median_secs', 'rep.fig.handle_average_secs', 'rep.fig.csat_average', 'rep.fig.sla_first_response_met_share'],
      summary.rows.map((r) => [rowName(r), ...['conversations_new', 'conversations_resolved', 'first_response_median_secs', 'resolution_median_secs',
        'handle_average_secs', 'csat_average', 'sla_first_response_met_share'].map((f) => show(f, FIGURES[f](r)))]), 'rep-rows')),
    h('section', { class: 'chart-box', 'aria-label': t('rep.breaches') }, h('h2', {}, t('rep.breaches')),
      summary.breaches.length ? h('ul', { class: 'plain', id: 'rep-breaches' }, summary.breaches.map((b) => h('li', {},
        h('a', { href: '#/inbox/' + b.conversation_id }, t('rep.breach.' + b.metric), ' · ', show('first_response_median_secs', b.business_secs != null ? b.business_secs : b.secs),
          ' · ', new Intl.DateTimeFormat(current(), { timeZone: zone(), dateStyle: 'medium', timeStyle: 'short' }).format(new Date(b.at))))))
        : h('p', { class: 'muted' }, t('rep.no_breaches'))));
}
const rowName = (r) => r.label || (r.key == null ? t('rep.none') : state.group_by === 'weekday' ? weekday(r.key) : r.key);
const weekday = (n) => new Intl.DateTimeFormat(current(), { weekday: 'long', timeZone: 'UTC' }).format(Date.UTC(2024, 0, Number(n)));

function table(heads, rows, id) {
  return h('table', { class: 'table', id }, h('thead', {}, h('tr', {}, heads.map((k) => h('th', { scope: 'col' }, t(k))))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h(i ? 'td' : 'th', i ? { class: 'num' } : { scope: 'row' }, c))))));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid != null) el.append(kid.nodeType ? kid : document.createTextNode(String(kid)));
  return el;
}
// One point per bucket (day or hour), joined by a line; empty buckets of a count are 0, of a time or share gaps.
function lineChart(points, figure) {
  const W = 720, H = 200, pad = 36;
  const values = points.map((p) => p.value).filter((v) => v != null);
  const max = Math.max(1, ...values);
  const x = (i) => pad + (points.length > 1 ? (i * (W - 2 * pad)) / (points.length - 1) : (W - 2 * pad) / 2);
  const y = (v) => H - pad - (v / max) * (H - 2 * pad);
  let d = '', open = false;
  points.forEach((p, i) => { if (p.value == null) { open = false; return; } d += `${open ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`; open = true; });
  const label = (i) => (points.length <= 14 || i % Math.ceil(points.length / 10) === 0) && svg('text', { x: x(i), y: H - 10, 'text-anchor': 'middle', class: 'axis' }, points[i].key.slice(5));
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', id: 'rep-line-chart', role: 'img', 'aria-label': `${t('rep.fig.' + figure)}: ${points.map((p) => `${p.key} ${show(figure, p.value)}`).join(', ')}` },
    svg('line', { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, class: 'axis-line' }),
    svg('text', { x: 4, y: pad, class: 'axis' }, show(figure, max)),
    svg('path', { d, class: 'series' }),
    points.map((p, i) => p.value != null && svg('circle', { cx: x(i), cy: y(p.value), r: 3.5, class: 'point', 'data-key': p.key }, svg('title', {}, `${p.key}: ${show(figure, p.value)}`))),
    points.map((_, i) => label(i)));
}
function barChart(rows, figure) {
  const W = 720, bar = 22, gap = 8, left = 180;
  const shown = rows.filter((r) => FIGURES[figure](r) != null);
  const max = Math.max(1, ...shown.map((r) => FIGURES[figure](r)));
  const H = Math.max(bar, shown.length * (bar + gap));
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', id: 'rep-bar-chart', role: 'img', 'aria-label': shown.map((r) => `${rowName(r)} ${show(figure, FIGURES[figure](r))}`).join(', ') || t('rep.nothing') },
    shown.map((r, i) => {
      const v = FIGURES[figure](r), w = ((W - left - 80) * v) / max, top = i * (bar + gap);
      return svg('g', {}, svg('text', { x: left - 8, y: top + bar * 0.7, 'text-anchor': 'end', class: 'axis' }, rowName(r).slice(0, 24)),
        svg('rect', { x: left, y: top, width: Math.max(1, w).toFixed(1), height: bar, class: 'bar' }),
        svg('text', { x: left + w + 6, y: top + bar * 0.7, class: 'axis' }, show(figure, v)));
    }));
}

export { reports };
