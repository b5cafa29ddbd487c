// WhatsApp calls in the inbox: the pop-up that rings when a call is routed to you (inbound or outbound, the
// channel, the customer's name and number with a copy button, the queue; accept or decline), the call bar while
// you talk (the time, mute, hold, transfer to a queue or an agent, hang up, a note on the conversation), and the agent's side of calls the business
// places (the conversation's Call button). The browser joins a call through a "device": Twilio's Voice SDK for a
// real channel (vendored, loaded on first use, with a token from /voice/token), or the built-in sandbox's stand-in
// (/sandbox/voice), which plays Twilio's side without audio. An agent with a call phone is called there instead.

import { S, queueName } from './state.js';
import { $, copy, fmtDuration, h, toast } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';

let ringing = null; // the call that rings you: its view
let active = null; // the call you are on: { view, leg, muted, since, timer }

// --- Devices ---------------------------------------------------------------------------------------------------

// The sandbox's stand-in for the Voice SDK: the same steps, posted to the server, which plays Twilio.
async function sandbox(method, path, body) {
  const r = await fetch('/sandbox/voice' + path, { method, credentials: 'same-origin',
    headers: { 'x-csrf-token': S.csrf, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body && JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new Error((data && data.error && data.error.message) || r.statusText);
  return data;
}

// Twilio's Voice SDK (a classic script that sets window.Twilio), loaded once, and one Device per channel.
const devices = new Map();
function loadSdk() {
  if (window.Twilio && window.Twilio.Device) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = h('script', { src: '/assets/twilio-voice.min.js' });
    s.onload = () => resolve(); s.onerror = () => reject(new Error(t('call.sdk_failed')));
    document.head.append(s);
  });
}
async function twilioDevice(channelId) {
  if (devices.has(channelId)) return devices.get(channelId);
  const token = await api('GET', '/voice/token?channel_id=' + channelId);
  await loadSdk();
  const device = new window.Twilio.Device(token.token, { closeProtection: true });
  // A token lasts an hour: a new one before it ends.
  device.on('tokenWillExpire', async () => { try { device.updateToken((await api('GET', '/voice/token?channel_id=' + channelId)).token); } catch { /* the next call asks again */ } });
  // A call the business places rings this browser first: you asked for it, so it is answered at once.
  device.on('incoming', (call) => { if (active && !active.leg) { active.leg = { twilio: call }; call.accept(); watchLeg(call); } else call.reject(); });
  await device.register();
  devices.set(channelId, device);
  return device;
}
// The browser's leg ended: the call ended, unless the customer was only put on hold (the leg ends then too).
function watchLeg(call) {
  const gone = () => { if (active && (active.view.on_hold || active.moving)) { active.leg = null; return; } ended(); };
  call.on('disconnect', gone); call.on('cancel', gone);
}

// Joins a call you accepted.
async function join(view) {
  if (view.sandbox) return { sandbox: (await sandbox('POST', '/join', { channel_id: view.channel_id, call: view.id })).sid };
  const device = await twilioDevice(view.channel_id);
  const call = await device.connect({ params: { call: view.id } });
  watchLeg(call);
  return { twilio: call };
}
async function hangUp() {
  if (!active) return;
  const leg = active.leg;
  if (leg && leg.sandbox) await sandbox('POST', `/calls/${leg.sandbox}/hangup`).catch(() => {});
  else if (leg && leg.twilio) leg.twilio.disconnect();
  ended();
}
// Hold: the customer hears the queue's hold music until you resume, and your browser then joins again.
async function toggleHold() {
  if (!active) return;
  const on = !active.view.on_hold;
  active.moving = true;
  try {
    active.view = await api('POST', `/calls/${active.view.id}/hold`, { on });
    if (!on) active.leg = S.me.call_phone ? { phone: S.me.call_phone } : await join(active.view);
  } catch (x) { toast(x.message, true); }
  if (active) { active.moving = false; drawBar(); }
}
// Transfer: the call rings the queue's agents (or the agent) and its conversation goes with it.
async function transfer(to) {
  if (!active || !to) return;
  const [kind, id] = to.split(':');
  active.moving = true;
  try {
    await api('POST', `/calls/${active.view.id}/transfer`, kind === 'q' ? { queue_id: id } : { agent_id: id });
    active = null; close(); toast(t('call.transferred'));
  } catch (x) { toast(x.message, true); if (active) { active.moving = false; drawBar(); } }
}
function mute(on) {
  if (!active) return;
  active.muted = on;
  if (active.leg && active.leg.twilio) active.leg.twilio.mute(on);
  drawBar();
}

// --- The ring tone: two short tones, every two seconds, made in the page (no sound file) ------------------------

let tone = null;
function ring(on) {
  if (!on) { if (tone) { clearInterval(tone.timer); tone.ctx.close().catch(() => {}); tone = null; } return; }
  if (tone) return;
  try {
    const ctx = new AudioContext();
    const beep = (at) => {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 440; g.gain.value = 0.08;
      o.connect(g).connect(ctx.destination); o.start(ctx.currentTime + at); o.stop(ctx.currentTime + at + 0.35);
    };
    const both = () => { beep(0); beep(0.5); };
    both();
    tone = { ctx, timer: setInterval(both, 2000) };
  } catch { /* no audio here: the pop-up still shows */ }
}

// --- The pop-up and the call bar ----------------------------------------------------------------------------------

function box() {
  let el = $('#call-popup');
  if (!el) { el = h('section', { id: 'call-popup', class: 'call-popup', role: 'dialog', 'aria-labelledby': 'call-title', 'aria-live': 'assertive' }); document.body.append(el); }
  return el;
}
function close() { ring(false); const el = $('#call-popup'); if (el) el.remove(); }

function fields(v) {
  const who = v.customer_name || v.customer_phone || t('call.unknown');
  return h('dl', { class: 'call-fields' },
    h('dt', {}, t('call.channel')), h('dd', { id: 'call-channel' }, `WhatsApp · ${v.number_name}`),
    h('dt', {}, t('call.customer')), h('dd', { id: 'call-customer' }, who),
    h('dt', {}, t('call.number')), h('dd', {}, h('span', { id: 'call-phone' }, v.customer_phone || '—'), ' ',
      v.customer_phone && h('button', { id: 'call-copy', class: 'copy', 'aria-label': t('head.copy_number'), onclick: () => copy(v.customer_phone) }, t('head.copy'))),
    h('dt', {}, t('call.queue')), h('dd', { id: 'call-queue' }, v.queue_name || (v.queue_id ? queueName(v.queue_id) : t('head.no_queue'))));
}

function drawRinging(v) {
  const accept = h('button', { class: 'primary', id: 'call-accept', onclick: async () => {
    accept.disabled = true;
    try {
      const view = await api('POST', `/calls/${v.id}/accept`);
      ringing = null; ring(false);
      active = { view, leg: null, muted: false, since: Date.now() };
      drawBar();
      // An agent who takes calls on their phone is called there by the server; the browser joins otherwise.
      active.leg = S.me.call_phone ? { phone: S.me.call_phone } : await join(view);
      drawBar();
    } catch (x) { toast(x.message, true); if (!active || !active.leg) { active = null; close(); } }
  } }, t('call.accept'));
  const decline = h('button', { id: 'call-decline', onclick: async () => {
    try { await api('POST', `/calls/${v.id}/decline`); } catch (x) { toast(x.message, true); }
    ringing = null; close();
  } }, t('call.decline'));
  box().replaceChildren(h('h2', { id: 'call-title' }, t(v.direction === 'outbound' ? 'call.outgoing' : 'call.incoming')),
    h('p', { id: 'call-direction', class: 'muted' }, t(v.direction === 'outbound' ? 'call.direction_out' : 'call.direction_in')),
    fields(v), h('div', { class: 'actions' }, accept, decline));
  ring(true);
  accept.focus();
}

function drawBar() {
  if (!active) return;
  const v = active.view;
  const connected = v.state === 'connected';
  const onPhone = active.leg && active.leg.phone;
  const status = h('p', { id: 'call-state', role: 'status' }, v.on_hold ? t('call.on_hold')
    : onPhone && v.join_by ? t('call.phone_rings', { phone: active.leg.phone })
    : connected ? t('call.on_call', { time: fmtDuration((Date.now() - active.since) / 1000) })
    : v.direction === 'outbound' ? t('call.dialing') : t('call.joining'));
  const note = h('textarea', { id: 'call-note', 'aria-label': t('call.note'), placeholder: t('call.note_placeholder') });
  const saveNote = h('button', { id: 'call-note-save', onclick: async () => {
    const body = note.value.trim();
    if (!body) return;
    try { await api('POST', `/conversations/${v.conversation_id}/notes`, { body }); note.value = ''; toast(t('call.note_saved')); }
    catch (x) { toast(x.message, true); }
  } }, t('call.save_note'));
  const movable = connected && v.direction === 'inbound';
  const target = h('select', { id: 'call-transfer-to', 'aria-label': t('call.transfer_to') }, h('option', { value: '' }, t('call.transfer_to')),
    h('optgroup', { label: t('call.queues') }, S.dir.queues.map((q) => h('option', { value: 'q:' + q.id }, q.name))),
    h('optgroup', { label: t('call.agents') }, S.dir.agents.filter((a) => a.id !== S.me.id).map((a) => h('option', { value: 'a:' + a.id }, a.name))));
  box().replaceChildren(...[h('h2', { id: 'call-title' }, t(v.direction === 'outbound' ? 'call.outgoing' : 'call.incoming')), status, fields(v),
    h('div', { class: 'actions' },
      !onPhone && h('button', { id: 'call-mute', 'aria-pressed': String(active.muted), disabled: v.on_hold, onclick: () => mute(!active.muted) }, t(active.muted ? 'call.unmute' : 'call.mute')),
      movable && h('button', { id: 'call-hold', 'aria-pressed': String(!!v.on_hold), onclick: toggleHold }, t(v.on_hold ? 'call.resume' : 'call.hold')),
      !onPhone && h('button', { class: 'danger', id: 'call-hangup', disabled: v.on_hold, onclick: hangUp }, t('call.hang_up')),
      h('a', { href: '#/inbox/' + v.conversation_id, id: 'call-conversation' }, t('call.open_conversation'))),
    movable && !v.on_hold && h('div', { class: 'actions' }, target, h('button', { id: 'call-transfer', onclick: () => transfer(target.value) }, t('call.transfer'))),
    note, h('div', { class: 'actions' }, saveNote)].filter(Boolean));
  clearInterval(active.timer);
  active.timer = setInterval(() => { const el = $('#call-state'); if (active && el && active.view.state === 'connected') el.textContent = t('call.on_call', { time: fmtDuration((Date.now() - active.since) / 1000) }); }, 1000);
}

function ended() {
  if (!active) return;
  clearInterval(active.timer);
  active = null;
  close();
  toast(t('call.ended'));
}

// --- What the live feed says about calls ------------------------------------------------------------------------

// A call changed: it rings you now, it stopped ringing you, it connected, or it ended.
async function onCallChange(id) {
  if (!S.me || !id) return;
  let v;
  try { v = await api('GET', '/calls/' + id); } catch { return; }
  if (active && active.view.id === id) {
    const was = active.view.state;
    active.view = v;
    // Over, or no longer yours (you did not join in time, or it was passed on): the bar closes.
    if (v.state === 'ended' || (v.state === 'waiting' && v.agent_id !== S.me.id && v.offered_to !== S.me.id)) { ended(); return; }
    if (v.state === 'connected' && was !== 'connected') active.since = Date.now();
    drawBar();
    return;
  }
  const forMe = v.state === 'waiting' && v.offered_to === S.me.id;
  if (forMe && !active && (!ringing || ringing.id !== id)) { ringing = v; drawRinging(v); }
  else if (!forMe && ringing && ringing.id === id) { ringing = null; close(); }
}

// The conversation's Call button: the business calls its customer; your browser rings first and is answered at
// once (you asked), then the customer's phone.
async function placeCall(conversationId, channelId, sandboxChannel) {
  if (active) { toast(t('call.already'), true); return; }
  // A real channel's browser is registered with Twilio before the call rings it; on the sandbox its stand-in rings;
  // an agent who takes calls on their phone is called there.
  if (!sandboxChannel && !S.me.call_phone) await twilioDevice(channelId);
  const view = await api('POST', `/conversations/${conversationId}/calls`);
  active = { view, leg: S.me.call_phone ? { phone: S.me.call_phone } : null, muted: false, since: Date.now() };
  drawBar();
  if (view.sandbox && !S.me.call_phone) {
    // The sandbox rings this browser through its stand-in: answered as soon as it rings.
    for (let i = 0; i < 40 && active && !active.leg; i++) {
      const mine = await sandbox('GET', '/calls').catch(() => []);
      const leg = mine.find((c) => c.direction === 'outbound' && c.status === 'ringing');
      if (leg) { await sandbox('POST', `/calls/${leg.sid}/answer`); if (active) active.leg = { sandbox: leg.sid }; break; }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export { onCallChange, placeCall };
