// The agent inbox in headless Chromium, driven by Playwright. Run by tests/inbox_browser.rs, which starts the
// server, prepares the data and passes it in the environment:
//   BASE_URL, SCENARIO, AGENTS (JSON [{email, password}]), BUSINESS (the sandbox number), CUSTOMER,
//   CONVERSATION_ID (some scenarios), CHROMIUM, ARTIFACTS (a directory for screenshots).
// Prints `METRIC name value` lines; exits non-zero with the reason when an expectation fails.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const env = (name) => { const v = process.env[name]; if (!v) throw new Error(`${name} is not set`); return v; };
const BASE = env('BASE_URL');
const ARTIFACTS = env('ARTIFACTS');
const AGENTS = JSON.parse(env('AGENTS'));
const BUSINESS = env('BUSINESS');
const CUSTOMER = env('CUSTOMER');
const NEW_PASSWORD = 'a password of my own 42';
fs.mkdirSync(ARTIFACTS, { recursive: true });

// Every console error of every page; the run fails on any a scenario did not expect (a refusal it provokes on
// purpose is logged by the browser as a failed request: those scenarios say which statuses they expect).
const CONSOLE_ERRORS = [];
const EXPECTED_CONSOLE = [];
function watchConsole(page) {
  page.on('console', (m) => { if (m.type() === 'error') CONSOLE_ERRORS.push(`${page.url()}: ${m.text()}`); });
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function customerSays(body, customer = CUSTOMER) {
  const r = await fetch(`${BASE}/sandbox/api/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ customer, business: BUSINESS, body, profile_name: 'Ana Customer' }),
  });
  if (r.status !== 201) throw new Error(`the sandbox customer could not write: ${r.status} ${await r.text()}`);
  return Date.now();
}

async function launch() {
  return chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}

// Logs in as agent `i` in a fresh context (replacing the one-time password on the first login).
async function logIn(browser, i) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => { console.error('page error:', e.message); process.exitCode = 1; });
  watchConsole(page);
  await page.goto(`${BASE}/inbox`);
  await page.fill('#email', AGENTS[i].email);
  await page.fill('#password', AGENTS[i].password);
  await screenshot(page, `login-${i}`);
  await page.click('button[type=submit]');
  const first = await Promise.race([
    page.waitForSelector('#new-password', { timeout: 15000 }).then(() => true),
    page.waitForSelector('#presence', { timeout: 15000 }).then(() => false),
  ]);
  if (first) {
    await page.fill('#new-password', NEW_PASSWORD);
    await page.fill('#new-password-again', NEW_PASSWORD);
    await screenshot(page, `first-login-${i}`);
    await page.click('button[type=submit]');
    AGENTS[i].password = NEW_PASSWORD;
  }
  await page.waitForSelector('#presence');
  return { context, page };
}

const item = (page, text) => page.locator('.item', { hasText: text });

async function replyAndRead(browser) {
  const { page } = await logIn(browser, 0);
  await page.selectOption('#presence', 'online');
  await screenshot(page, 'inbox-empty');
  // The customer writes; the router gives the conversation to this (online) agent; it appears in Mine, live.
  await customerSays('Hello, my order 1234 is late');
  await item(page, 'Ana Customer').waitFor({ timeout: 15000 });
  if (!(await item(page, 'Ana Customer').getAttribute('class')).includes('unread')) throw new Error('a new conversation is not marked unread');
  await screenshot(page, 'conversation-arrived');
  await item(page, 'Ana Customer').click();
  await page.locator('.msg.inbound', { hasText: 'my order 1234 is late' }).waitFor();
  await page.locator('#window', { hasText: 'left' }).waitFor();

  // Latency: each customer message, from the webhook's answer (the sandbox's reply) to the open thread.
  await page.evaluate(() => {
    window.__seen = {};
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) {
        if (n.nodeType === 1 && n.classList.contains('inbound')) {
          const m = /probe (\d+) end/.exec(n.textContent); if (m && !window.__seen[m[1]]) window.__seen[m[1]] = Date.now();
        }
      }
    }).observe(document.querySelector('#thread'), { childList: true });
  });
  // The agent is halfway through a reply while the messages come in: it stays where it is.
  await page.click('#message');
  await page.keyboard.type('half a repl');
  const answered = {};
  const N = 40;
  for (let i = 0; i < N; i++) {
    answered[i] = await customerSays(`probe ${i} end`);
    await page.locator('.msg.inbound', { hasText: `probe ${i} end` }).first().waitFor({ timeout: 10000 });
  }
  const focus = await page.evaluate(() => [document.activeElement && document.activeElement.id, document.querySelector('#message').value]);
  if (focus[0] !== 'message' || focus[1] !== 'half a repl') throw new Error(`arriving messages disturbed the composer: ${focus}`);
  await page.fill('#message', '');
  const seen = await page.evaluate(() => window.__seen);
  const lat = Object.keys(answered).map((k) => Math.max(0, seen[k] - answered[k])).sort((a, b) => a - b);
  if (lat.some((x) => Number.isNaN(x))) throw new Error('a probe message was never observed');
  const q = (p) => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)];
  console.log(`METRIC live_message_ms_p50 ${q(0.5)}`);
  console.log(`METRIC live_message_ms_p99 ${q(0.99)}`);
  console.log(`METRIC live_message_ms_max ${lat[lat.length - 1]}`);
  console.log(`METRIC live_message_samples ${lat.length}`);

  // The agent replies with Enter; Shift+Enter made a new line in it.
  await page.click('#message');
  await page.keyboard.type('Sorry about that!');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('It ships today.');
  await page.keyboard.press('Enter');
  const reply = page.locator('.msg.outbound', { hasText: 'It ships today.' });
  await reply.waitFor();
  if (!(await reply.textContent()).includes('Sorry about that!\nIt ships today.')) throw new Error('Shift+Enter did not make a new line');
  // The reply is signed with the agent's name, not their e-mail address.
  await reply.locator('.by', { hasText: /^Agent 0$/ }).waitFor();
  await page.locator('.msg.outbound[data-status="read"]', { hasText: 'It ships today.' }).waitFor({ timeout: 20000 });
  await screenshot(page, 'reply-read');

  // A private note and a saved reply through "/".
  await page.click('[data-mode="note"]');
  await page.fill('#message', 'Customer is a VIP: escalate if it slips again');
  await page.keyboard.press('Enter');
  await page.locator('.msg.note', { hasText: 'VIP' }).waitFor();
  await page.click('[data-mode="reply"]');
  await page.click('#message');
  await page.keyboard.type('/than');
  await page.locator('#canned li', { hasText: '/thanks' }).waitFor();
  await page.keyboard.press('Enter');
  if ((await page.inputValue('#message')) !== 'Thank you for your patience!') throw new Error('the saved reply was not inserted');
  await screenshot(page, 'note-and-saved-reply');

  // Search by message text finds the conversation.
  await page.fill('#search', 'order 1234');
  await page.waitForTimeout(600);
  await item(page, 'Ana Customer').waitFor();

  // First load of the inbox, as transferred (compressed), from an empty cache.
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const cookies = await page.context().cookies();
  await fresh.addCookies(cookies);
  const p2 = await fresh.newPage();
  const requests = [];
  p2.on('requestfinished', (r) => requests.push(r));
  await p2.goto(`${BASE}/inbox`);
  await p2.locator('.item', { hasText: 'Ana Customer' }).waitFor();
  await p2.waitForLoadState('networkidle');
  let bytes = 0;
  for (const r of requests) { const s = await r.sizes(); bytes += s.responseBodySize + s.responseHeadersSize; }
  console.log(`METRIC first_load_bytes ${bytes}`);
  console.log(`METRIC first_load_requests ${requests.length}`);
  await screenshot(p2, 'first-load');

  // The login page itself, in a browser that has never been here: nothing the console calls an error (no 401
  // before logging in, no missing favicon).
  const anonymous = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const p3 = await anonymous.newPage();
  const consoleErrors = [];
  p3.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  await p3.goto(`${BASE}/inbox`);
  await p3.locator('#email').waitFor();
  await p3.waitForLoadState('networkidle');
  if (consoleErrors.length) throw new Error(`the login page logged console errors: ${consoleErrors.join(' | ')}`);
  await anonymous.close();
}

async function windowClosed(browser) {
  const { page } = await logIn(browser, 0);
  await page.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  await page.locator('#window-why').waitFor();
  if (await page.locator('#message').count()) throw new Error('free text is offered although the window is closed');
  await page.locator('#window', { hasText: 'closed' }).waitFor();
  await page.fill('#template-search', 'shipped');
  await page.click('[data-template="order_update"]');
  await page.fill('[data-var="1"]', 'A-778');
  await page.fill('[data-var="2"]', 'Friday');
  const preview = await page.textContent('#template-preview');
  if (preview !== 'Your order A-778 has shipped and should arrive by Friday.') throw new Error(`preview: ${preview}`);
  await screenshot(page, 'template-picker');
  await page.click('#send-template');
  await page.locator('.msg.outbound', { hasText: 'Your order A-778 has shipped' }).waitFor();
  await page.locator('.msg.outbound[data-status="read"]', { hasText: 'A-778' }).waitFor({ timeout: 20000 });
  await screenshot(page, 'template-sent');
}

async function newConversation(browser) {
  const { page } = await logIn(browser, 0);
  EXPECTED_CONSOLE.push(/status of 409/); // the second conversation, refused on purpose
  await page.click('a[href="#/new"]');
  await page.fill('#to', '+0612');
  await page.locator('#to-check.error', { hasText: 'never starts with 0' }).waitFor();
  await page.fill('#to', CUSTOMER);
  await page.locator('#to-check.ok').waitFor();
  await page.fill('#topic', 'Delivery follow-up');
  await page.click('[data-template="order_update"]');
  await page.fill('[data-var="1"]', 'B-12');
  await page.fill('[data-var="2"]', 'Monday');
  await screenshot(page, 'new-conversation');
  await page.click('#send-template');
  await page.waitForURL(/#\/inbox\/[0-9a-f-]{36}$/);
  const first = page.url().split('/').pop();
  await page.locator('.msg.outbound', { hasText: 'B-12' }).waitFor();
  await screenshot(page, 'new-conversation-started');
  // A second one to the same customer points to the open one instead.
  await page.click('a[href="#/new"]');
  await page.fill('#to', CUSTOMER);
  await page.click('[data-template="order_update"]');
  await page.fill('[data-var="1"]', 'B-13');
  await page.fill('[data-var="2"]', 'Tuesday');
  await page.click('#send-template');
  await page.locator('#new-problem', { hasText: 'already has an open conversation' }).waitFor();
  await screenshot(page, 'duplicate-refused');
  await page.click('#open-existing');
  await page.waitForURL(new RegExp(`#/inbox/${first}$`));
  await page.locator('.msg.outbound', { hasText: 'B-12' }).waitFor();
}

async function twoAgents(browser) {
  const a = await logIn(browser, 0);
  const b = await logIn(browser, 1);
  for (const { page } of [a, b]) await page.click('[data-view="queues"]');
  await customerSays('Is anyone there?');
  for (const { page } of [a, b]) await item(page, 'Ana Customer').waitFor({ timeout: 15000 });
  await screenshot(b.page, 'both-see-it-waiting');
  await item(a.page, 'Ana Customer').click();
  await a.page.click('#claim');
  await a.page.locator('#assignee', { hasText: 'Assigned to you' }).waitFor();
  // It leaves the other agent's queue view without a reload.
  await item(b.page, 'Ana Customer').waitFor({ state: 'detached', timeout: 10000 });
  await screenshot(b.page, 'gone-from-other-queue');
  await a.page.click('[data-view="mine"]');
  await item(a.page, 'Ana Customer').waitFor();
  await screenshot(a.page, 'claimed-in-mine');
  // The supervisor view (agent 1 is a supervisor) counts the queue.
  await b.page.click('a[href="#/supervisor"]');
  await b.page.locator('#queues-table').waitFor();
  await screenshot(b.page, 'supervisor');
}

async function reconnect(browser) {
  const { context, page } = await logIn(browser, 0);
  // Every live connection goes through here, so the test can cut it and keep it cut.
  let allow = true; const open = [];
  await context.routeWebSocket(/\/api\/v1\/live$/, (ws) => {
    if (!allow) { ws.close({ code: 1011, reason: 'cut by the test' }); return; }
    ws.connectToServer(); open.push(ws);
  });
  // A new document, so that its live connection goes through the route.
  await page.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  await page.reload();
  await page.locator('.msg.inbound', { hasText: 'first words' }).waitFor();
  if (!open.length) throw new Error('the live connection did not go through the test route');
  await page.waitForFunction(() => document.querySelector('#conn') && document.querySelector('#conn').textContent === '');
  await page.waitForTimeout(300);
  allow = false;
  for (const ws of open) await ws.close({ code: 1006, reason: 'dropped by the test' }).catch(() => {});
  await page.locator('#conn', { hasText: 'Reconnecting' }).waitFor();
  await customerSays('missed one');
  await customerSays('missed two');
  await page.waitForTimeout(1500);
  if (await page.locator('.msg.inbound', { hasText: 'missed one' }).count()) throw new Error('a message arrived while the connection was cut');
  await screenshot(page, 'disconnected');
  allow = true;
  await page.locator('.msg.inbound', { hasText: 'missed two' }).waitFor({ timeout: 15000 });
  await page.locator('.msg.inbound', { hasText: 'missed one' }).waitFor();
  await screenshot(page, 'caught-up');
  // And it is live again.
  await customerSays('after the return');
  await page.locator('.msg.inbound', { hasText: 'after the return' }).waitFor({ timeout: 10000 });
}

// Opens an admin tab and waits for *its* page: the previous tab's table and form stay in the page until the new
// one replaces them, so waiting for '#admin-table' alone can let a test fill the old tab's form.
async function adminTab(page, tab) {
  await page.click(`a[href="#/admin/${tab}"]`);
  await page.locator(`nav.tabs a.active[href="#/admin/${tab}"]`).waitFor();
  await page.locator('#admin-table, .page p.muted').first().waitFor();
}

async function adminScreens(browser) {
  const { page } = await logIn(browser, 2);
  EXPECTED_CONSOLE.push(/status of 422/); // a bad value entered on purpose
  await page.click('a[href="#/admin"]');
  await page.locator('#admin-table').waitFor();
  await screenshot(page, 'admin-channels');
  // The sandbox number: its agents and default queue.
  await page.click(`[data-number-settings="${BUSINESS}"]`);
  await page.locator('#number-form').waitFor();
  await page.selectOption('#f-default_queue_id', { label: 'Support' });
  // Its automations, in the same form: a greeting and the survey.
  await page.fill('#f-greeting_text', 'Hi {{customer_name}}, welcome!');
  await page.selectOption('#f-csat_enabled', 'yes');
  await page.fill('#f-csat_question', 'How did we do?');
  await screenshot(page, 'admin-number-settings');
  await page.click('#number-form button[type=submit]');
  await page.locator('#number-form').waitFor({ state: 'detached' });
  await page.click(`[data-number-settings="${BUSINESS}"]`);
  await page.locator('#number-form').waitFor();
  if (await page.inputValue('#f-greeting_text') !== 'Hi {{customer_name}}, welcome!') throw new Error('the greeting was not saved');
  if (await page.inputValue('#f-csat_question') !== 'How did we do?') throw new Error('the survey question was not saved');
  await page.click('#number-form button[type=button]:not(.danger)');
  // A new agent, then edited.
  await adminTab(page, 'agents');
  await page.fill('#f-name', 'Bea Newcomer');
  await page.fill('#f-email', 'bea@example.com');
  await page.fill('#f-password', 'a first password 123');
  await page.fill('#f-capacity', '3');
  await page.selectOption('#f-queue_ids', { label: 'Support' });
  await page.click('#admin-save');
  const row = page.locator('#admin-table tr', { hasText: 'bea@example.com' });
  await row.waitFor();
  await row.getByRole('button', { name: 'Edit' }).click();
  if ((await page.inputValue('#f-capacity')) !== '3') throw new Error('the edit form is not filled with the agent');
  await page.fill('#f-capacity', '7');
  await page.click('#admin-save');
  await page.locator('#admin-table tr', { hasText: 'bea@example.com' }).locator('td', { hasText: /^7$/ }).waitFor();
  await screenshot(page, 'admin-agents');
  // A value the server refuses is explained in words next to the form (the browser checks the e-mail's shape).
  await page.fill('#f-name', 'Someone');
  await page.fill('#f-email', 'someone@example.com');
  await page.fill('#f-password', 'x');
  await page.click('#admin-save');
  await page.locator('#admin-problem').filter({ hasText: /password/i }).waitFor();
  await screenshot(page, 'admin-refused');
  // A routing rule sending to a queue, chosen by name.
  await adminTab(page, 'rules');
  await page.fill('#f-name', 'Refunds to Support');
  await page.click('#add-condition');
  await page.fill('#cond-value-0', 'refund');
  await page.selectOption('#f-target', { label: 'Support' });
  await page.click('#admin-save');
  await page.locator('#admin-table tr', { hasText: 'Refunds to Support' }).filter({ hasText: 'Message contains refund' }).waitFor();
  await screenshot(page, 'admin-rules');
  // An AI agent: a built-in bot with two questions, tried in its panel before it answers anyone.
  await adminTab(page, 'ai');
  await page.fill('#f-name', 'Helpdesk bot');
  await page.fill('#f-languages', 'en, es');
  await page.fill('#f-knowledge', 'Q: What are your opening hours?\nA: Monday to Friday, 9 to 5.\nK: open, hours\n\nQ: How much is shipping?\nA: Free over €50.\nK: delivery');
  await page.click('#admin-save');
  await page.locator('#admin-table tr', { hasText: 'Helpdesk bot' }).filter({ hasText: '2 questions' }).waitFor();
  await page.fill('#try-messages', 'when are you open?');
  await page.click('#try-run');
  await page.locator('#try-result').filter({ hasText: 'Monday to Friday, 9 to 5.' }).waitFor();
  await page.fill('#try-messages', 'quiero hablar con una persona');
  await page.click('#try-run');
  await page.locator('#try-result').filter({ hasText: 'Hands over (the customer asked for a person)' }).waitFor();
  await screenshot(page, 'admin-ai-agents');
  // Supervisors watch the AI agents' conversations in a view of their own (none is with an AI agent here).
  await page.click('a[href="#/inbox"]');
  await page.click('[data-view="ai"]');
  await page.locator('#items .empty').filter({ hasText: 'No conversation is with an AI agent.' }).waitFor();
  await page.click('a[href="#/admin"]');
  await page.locator('#admin-table').waitFor();
  // An auto reply, with conditions from the same form: a button payload, and a cooldown.
  await adminTab(page, 'autoreplies');
  await page.fill('#f-name', 'Opening hours');
  await page.click('#add-condition');
  await page.selectOption('#cond-type-0', 'text_matches');
  await page.fill('#cond-pattern-0', 'open|hours');
  await page.fill('#f-reply', 'We are open 9 to 5, {{customer_name}}.');
  await page.fill('#f-cooldown_hours', '24');
  await page.click('#admin-save');
  await page.locator('#admin-table tr', { hasText: 'Opening hours' }).filter({ hasText: 'once per 24 h per contact' }).waitFor();
  await screenshot(page, 'admin-autoreplies');
  // Business hours as a form, not JSON.
  await adminTab(page, 'hours');
  await page.fill('#f-name', 'Office');
  await page.fill('#f-time_zone', 'Europe/Amsterdam');
  await page.fill('#f-day_monday', '09:00-12:30, 13:30-17:30');
  await page.fill('#f-holidays', '2026-12-25 Christmas');
  await page.click('#admin-save');
  await page.locator('#admin-table tr', { hasText: 'Office' }).filter({ hasText: 'Mon 09:00-12:30, 13:30-17:30' }).waitFor();
  for (const tab of ['templates', 'queues', 'canned', 'tags']) {
    await adminTab(page, tab);
    await screenshot(page, 'admin-' + tab);
  }
}

async function attachments(browser) {
  const { context, page } = await logIn(browser, 0);
  await page.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  const image = page.locator('img.media[alt="photo.png"]');
  await image.waitFor();
  await page.waitForFunction(() => { const i = document.querySelector('img.media'); return i && i.complete && i.naturalWidth === 2; });
  const link = page.locator('a[download="invoice.pdf"]');
  await link.waitFor();
  await screenshot(page, 'attachments');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  if (download.suggestedFilename() !== 'invoice.pdf') throw new Error(`downloaded as ${download.suggestedFilename()}`);
  const text = fs.readFileSync(await download.path(), 'utf8');
  if (!text.startsWith('%PDF-1.4')) throw new Error('the downloaded file is not the invoice');
  // A voice note plays in the page: the player's source is served and its length read.
  const audio = page.locator('audio[aria-label="Voice message"]');
  await audio.waitFor();
  await page.waitForFunction(() => { const a = document.querySelector('audio'); return a && a.readyState >= 1 && a.duration > 0.4 && a.duration < 0.6; });
  // A shared location links out to a map (no tiles loaded in the page); an ad and a forward are marked; the
  // quote jumps to the message it quotes.
  const place = page.locator('a.location', { hasText: 'Location: Office — Dam 1, Amsterdam' });
  await place.waitFor();
  const href = await place.getAttribute('href');
  if (!href.startsWith('https://www.openstreetmap.org/?mlat=52.3731&mlon=4.8922')) throw new Error(`the location links to ${href}`);
  await page.locator('.msg .referral', { hasText: 'From an ad: Winter sale' }).waitFor();
  await page.locator('.msg .forwarded', { hasText: 'Forwarded' }).waitFor();
  const quote = page.locator('a.quote', { hasText: 'Here are the photo and the invoice' });
  await quote.scrollIntoViewIfNeeded();
  await screenshot(page, 'message-types');
  await quote.click();
  await page.locator('.msg.flash', { hasText: 'Here are the photo and the invoice' }).waitFor();
  await screenshot(page, 'quote-jumps');
  // Another person's browser without a session gets nothing.
  const anonymous = await browser.newContext();
  const src = await image.getAttribute('src');
  const r = await anonymous.request.get(BASE + src);
  if (r.status() !== 401) throw new Error(`an attachment answered ${r.status()} without a session`);
  await context.close();
}

// A failed message is sent again with one click; the conversation is snoozed until the customer writes, and
// their message wakes it while the agent watches.
async function lifecycle(browser) {
  const { page } = await logIn(browser, 1);
  await page.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  const failed = page.locator('.msg.outbound[data-status="failed"]', { hasText: 'Checking your refund' });
  await failed.locator('.retry').waitFor();
  await screenshot(page, 'failed-message');
  await failed.locator('.retry').click();
  await failed.locator('text=Sent again').waitFor();
  if (await failed.locator('.retry').count()) throw new Error('the Retry button stayed after the retry');
  const again = page.locator('.msg.outbound', { hasText: 'A new attempt at a failed message' });
  await again.waitFor();
  await page.locator('.msg.outbound[data-status="read"]', { hasText: 'A new attempt' }).waitFor({ timeout: 20000 });
  await screenshot(page, 'retried');
  await page.selectOption('#snooze', 'reply');
  await page.locator('#snoozed', { hasText: 'Snoozed until the customer’s next message' }).waitFor();
  await page.locator('.event', { hasText: 'Snoozed until the customer replies' }).waitFor();
  await screenshot(page, 'snoozed');
  await customerSays('Any news on the refund?');
  await page.locator('#status').waitFor({ timeout: 15000 });
  await page.locator('.event', { hasText: 'Woken by the customer’s message' }).waitFor();
  await screenshot(page, 'woken');
  // The agent answers that message, quoting it.
  await page.locator('.msg.inbound', { hasText: 'Any news on the refund?' }).locator('.reply-to').click();
  await page.locator('#quoting', { hasText: 'Any news on the refund?' }).waitFor();
  await page.fill('#message', 'Yes: it went out this morning.');
  await page.keyboard.press('Enter');
  const quoted = page.locator('.msg.outbound', { hasText: 'Yes: it went out this morning.' });
  await quoted.locator('.quote', { hasText: 'Any news on the refund?' }).waitFor();
  await screenshot(page, 'quoted-reply');
}

// The contact panel beside a conversation (tags and attributes saved, the contact blocked and unblocked), then the
// contacts screen: search, a CSV import with a bad line refused and listed, a good one applied.
async function contactsScreen(browser) {
  const { page } = await logIn(browser, 1);
  EXPECTED_CONSOLE.push(/status of 422/);
  await page.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  await page.locator('#contact-panel dd', { hasText: '+15550100010' }).waitFor();
  await page.fill('#contact-tags', 'vip, wholesale');
  await page.fill('#contact-attributes', 'tier: gold\norders: 12');
  await page.click('#contact-save');
  await page.locator('.toast', { hasText: 'Contact saved' }).waitFor();
  page.once('dialog', (d) => d.accept());
  await page.click('#contact-block');
  await page.locator('#contact-blocked').waitFor();
  await page.locator('#assignee', { hasText: 'blocked' }).waitFor();
  await screenshot(page, 'contact-blocked');
  await page.click('#contact-unblock');
  await page.locator('#contact-block').waitFor();
  await page.click('a[href="#/contacts"]');
  await page.locator('#contacts-rows tr', { hasText: '+15550100010' }).waitFor();
  await page.fill('#contacts-search', '0100010');
  await page.locator('#contacts-rows tr', { hasText: 'vip, wholesale' }).waitFor();
  await page.setInputFiles('#contacts-file', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('phone,name\n+15550100011,Dee\n0612,Nope\n') });
  await page.locator('#import-lines li', { hasText: 'Line 3 (phone)' }).waitFor();
  await screenshot(page, 'import-refused');
  await page.setInputFiles('#contacts-file', { name: 'good.csv', mimeType: 'text/csv', buffer: Buffer.from('phone,name,tags\n+15550100011,Dee Importer,b2b\n') });
  await page.locator('#import-result', { hasText: 'Imported: 1 new, 0 updated.' }).waitFor();
  await page.fill('#contacts-search', 'Importer');
  await page.locator('#contacts-rows tr', { hasText: 'Dee Importer' }).waitFor();
  await screenshot(page, 'contacts');
}

// A conversation of 1,000 messages: how long from the click in the list until its latest message is on screen,
// and until all of it is (the earlier messages fetched on request).
async function longConversation(browser) {
  const { page } = await logIn(browser, 1);
  await page.goto(`${BASE}/inbox#/inbox`);
  await page.click('[data-view="all"]');
  const row = item(page, 'Ana Customer');
  await row.waitFor();
  // Timed in the page, from the click to the frame in which the latest message and "Earlier messages" are there,
  // checked every animation frame (Playwright's own waiting polls at 0, 20, 50, 100, 100, 500 ms, which rounds
  // the time up to those steps).
  const times = [];
  for (let round = 0; round < 5; round += 1) {
    let took = null;
    // A round in which the conversation does not open is run again (at most three tries): a click right after
    // going back to the list is sometimes lost while the list reloads (about one run in eight here; not found
    // yet which step). The time measured is the one of the try that opened.
    for (let attempt = 1; !took; attempt += 1) {
      await page.goto(`${BASE}/inbox#/inbox`);
      // The list is shown again (the page has handled the address change) before the next click: otherwise the
      // late "back to the list" can land after the click and close the conversation being opened.
      await page.locator('#conversation .empty').waitFor();
      await row.waitFor();
      // (Again each round: a navigation may have loaded the page anew.)
      await page.evaluate(() => {
        window.openStarted = undefined;
        if (!window.timingClicks) { window.timingClicks = true; document.addEventListener('click', (e) => { window.openStarted = e.timeStamp; }, true); }
      });
      await row.click();
      took = await page.waitForFunction(() => {
        const latest = [...document.querySelectorAll('#thread .msg.outbound')].some((el) => el.textContent.includes('message number 1000'));
        return latest && document.querySelector('#earlier') && window.openStarted !== undefined ? Math.max(1, performance.now() - window.openStarted) : 0;
      }, null, { polling: 'raf', timeout: 10000 }).catch((e) => { if (attempt >= 3) throw e; return null; });
    }
    times.push(Math.round(await took.jsonValue()));
  }
  times.sort((a, b) => a - b);
  console.log(`METRIC open_1000_ms_median ${times[2]}`);
  console.log(`METRIC open_1000_ms_max ${times[4]}`);
  await screenshot(page, 'long-conversation');
  const started = Date.now();
  while (await page.locator('#earlier').count()) {
    await page.click('#earlier');
    // The page arrived when its button is gone (the last page) or a new one is ready.
    await page.waitForFunction(() => { const b = document.querySelector('#earlier'); return !b || !b.disabled; });
  }
  await page.waitForFunction(() => document.querySelectorAll('#thread .msg').length >= 1000);
  const shown = await page.locator('#thread .msg').count();
  console.log(`METRIC all_1000_ms ${Date.now() - started}`);
  console.log(`METRIC all_1000_messages ${shown}`);
  await screenshot(page, 'long-conversation-all');
}

// The inbox in the agent's language: chosen in the top bar, kept with their account, used after a reload.
async function languages(browser) {
  const { page } = await logIn(browser, 0);
  await page.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  await page.locator('#side-actions h3', { hasText: 'Ownership' }).waitFor();
  await page.click('#me');
  await page.selectOption('#ui-language', 'es');
  await page.locator('nav a', { hasText: 'Bandeja' }).waitFor();
  await page.locator('[data-view="mine"]', { hasText: 'Mías' }).waitFor();
  await page.locator('#side-actions h3', { hasText: 'Responsable' }).waitFor();
  await screenshot(page, 'spanish');
  await page.reload();
  await page.locator('nav a', { hasText: 'Nueva conversación' }).waitFor();
  if ((await page.getAttribute('html', 'lang')) !== 'es') throw new Error('the page does not say it is in Spanish');
  for (const [code, inbox] of [['pt', 'Caixa de entrada'], ['nl', 'Inbox'], ['ja', '受信箱']]) {
    await page.click('#me');
    await page.selectOption('#ui-language', code);
    await page.locator('nav a', { hasText: inbox }).first().waitFor();
    await screenshot(page, code);
  }
  await page.locator('#side-actions h3', { hasText: '担当' }).waitFor();
  await page.locator('#send', { hasText: '送信' }).waitFor();
  // Every language has every entry English has (the catalogue as the browser loads it).
  const gaps = await page.evaluate(async () => {
    const all = {};
    for (const code of ['en', 'es', 'pt', 'nl', 'ja']) all[code] = (await import(`/assets/lang-${code}.js`)).default;
    const english = Object.keys(all.en);
    return Object.entries(all).flatMap(([code, words]) => english.filter((k) => !(k in words)).map((k) => `${code}: ${k}`));
  });
  if (gaps.length) throw new Error(`${gaps.length} untranslated, such as: ` + gaps.slice(0, 20).join(', '));

  // An admin in Japanese sees no English on any screen: headings, labels, buttons, table heads, choices and
  // explanations (the data, such as names, stays as it is).
  const admin = (await logIn(browser, 2)).page;
  await admin.click('#me');
  await admin.selectOption('#ui-language', 'ja');
  await admin.locator('nav a', { hasText: '受信箱' }).first().waitFor();
  const screens = [['inbox', '#items'], [`inbox/${env('CONVERSATION_ID')}`, '#contact-panel h3'], ['new', '#to'], ['contacts', '#contacts-rows tr'],
    ['reports', '#rep-line-chart'],
    ['supervisor', '#queues-table'], ...['channels', 'templates', 'agents', 'queues', 'hours', 'rules', 'ai', 'autoreplies', 'canned', 'webhooks', 'tags']
      .map((tab) => [`admin/${tab}`, `nav.tabs a.active[href="#/admin/${tab}"]`])];
  for (const [screen, ready] of screens) {
    await admin.goto(`${BASE}/inbox#/${screen}`);
    await admin.locator(ready).first().waitFor();
    await admin.waitForTimeout(200);
    if (screen === 'admin/channels') { await admin.locator('[data-number-settings]').first().click(); await admin.locator('#number-form').waitFor(); }
    if (screen === 'admin/rules') { await admin.click('#add-condition'); await admin.selectOption('#cond-type-0', 'contact_attribute'); }
    await admin.click('#me');
    const english = await admin.evaluate(async () => {
      // Words the data may bring (names of people, customers, queues, numbers, tags, templates, AI agents) and proper names.
      const data = await Promise.all(['/directory', '/contacts?limit=200', '/tags?limit=200', '/templates?limit=200', '/ai-agents?limit=200', '/canned-responses?limit=200', '/business-hours?limit=200']
        .map((p) => fetch('/api/v1' + p).then((r) => r.text())));
      // CSV column names, the colour format, an HTTP header (api-key) and the keyboard's key names are literal
      // identifiers, not English.
      const allowed = new Set((data.join(' ') + ' Switchboard WhatsApp Twilio Account SID Auth Token URL URLs CSV IANA API OpenAI Content HX Europe Amsterdam'
        + ' phone name language tags attributes rrggbb key Enter Shift Esc SLA CSAT')
        .match(/[A-Za-z]{3,}/g).map((w) => w.toLowerCase()));
      const skip = (el) => el.closest('#items, td, code, #ui-time-zone, #ui-language, .brand, [hidden], .hidden');
      const texts = [];
      for (const el of document.querySelectorAll('h1, h2, h3, th, label, button, legend, nav a, option, optgroup, p, dt, span.muted, .event')) {
        if (skip(el) || !el.getClientRects().length && el.tagName !== 'OPTION' && el.tagName !== 'OPTGROUP') continue;
        const own = el.tagName === 'OPTGROUP' ? el.label : [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join(' ');
        for (const attr of ['aria-label', 'placeholder', 'title']) if (el.getAttribute(attr)) texts.push(el.getAttribute(attr));
        texts.push(own);
      }
      for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder], select[aria-label], input[aria-label], textarea[aria-label]')) {
        if (!skip(el)) texts.push(el.getAttribute('placeholder') || '', el.getAttribute('aria-label') || '');
      }
      // Addresses, e-mails, {{placeholders}} and the API's event names (message.received) are written as they are
      // in every language.
      const words = (x) => x.replace(/https?:\/\/\S+|\S+@\S+|\{\{\w+\}\}|\b[a-z_]+\.[a-z_]+\b/g, ' ').match(/[A-Za-z]{3,}/g) || [];
      return texts.filter((x) => words(x).some((w) => !allowed.has(w.toLowerCase())));
    });
    await admin.click('#me');
    if (english.length) throw new Error(`English left on ${screen} in Japanese: ` + [...new Set(english)].slice(0, 12).join(' | '));
  }
  await screenshot(admin, 'ja-admin');

  // Times follow the person's time zone: in Tokyo, "until tomorrow 9:00" is midnight UTC.
  await admin.goto(`${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`);
  await admin.locator('#snooze').waitFor();
  await admin.click('#me');
  await admin.selectOption('#ui-time-zone', 'Asia/Tokyo');
  // Saved and applied once the page is drawn again (the preferences panel closes): only then is "tomorrow" Tokyo's.
  await admin.locator('#prefs').waitFor({ state: 'hidden' });
  await admin.locator('#snooze').waitFor();
  await admin.selectOption('#snooze', 'tomorrow');
  await admin.locator('#snoozed', { hasText: '09:00' }).waitFor();
  const until = await admin.evaluate(async (id) => (await (await fetch('/api/v1/conversations/' + id)).json()).snoozed_until, env('CONVERSATION_ID'));
  if (!/T00:00:00(\.0+)?Z$/.test(until)) throw new Error(`snoozed until ${until}, not 09:00 in Tokyo`);
  await screenshot(admin, 'ja-tokyo-snoozed');
}

// Every screen at a desktop's 1280×720 and a phone's 390×844: a screenshot of each, and axe-core's check
// (WCAG 2 A and AA) with no serious or critical violation.
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
async function accessible(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    throw new Error(`${name}: ` + bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`).join('; '));
  }
  console.log(`METRIC axe_checks_${name.replace(/[^a-z0-9]+/g, '_')} ${result.passes.length}`);
}
async function everyScreen(page, name, ready) {
  for (const [w, hgt] of [[1280, 720], [390, 844]]) {
    await page.setViewportSize({ width: w, height: hgt });
    await ready();
    await screenshot(page, `${name}-${w}x${hgt}`);
    await accessible(page, `${name} at ${w}px`);
  }
  await page.setViewportSize({ width: 1280, height: 720 });
}
async function accessibility(browser) {
  const { page } = await logIn(browser, 2);
  // The login screen, before anyone logs in.
  const anonymous = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const login = await anonymous.newPage();
  watchConsole(login);
  await login.goto(`${BASE}/inbox`);
  await everyScreen(login, 'login', () => login.locator('#email').waitFor());
  await anonymous.close();
  const open = `${BASE}/inbox#/inbox/${env('CONVERSATION_ID')}`;
  await page.goto(`${BASE}/inbox#/inbox`);
  await page.click('[data-view="all"]');
  await everyScreen(page, 'inbox', () => page.locator('#items .item').first().waitFor());
  await page.goto(open);
  await everyScreen(page, 'conversation', () => page.locator('#contact-panel h3').first().waitFor());
  // The dark theme, as a system set to dark asks for it.
  await page.emulateMedia({ colorScheme: 'dark' });
  await everyScreen(page, 'conversation-dark', () => page.locator('#contact-panel h3').first().waitFor());
  await page.emulateMedia({ colorScheme: 'light' });
  // Shortcuts work where no text is being typed.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('?');
  await page.locator('#shortcuts').waitFor();
  await everyScreen(page, 'shortcuts', () => page.locator('#shortcuts').waitFor());
  await page.keyboard.press('Escape');
  await page.goto(`${BASE}/inbox#/new`);
  await everyScreen(page, 'new-conversation', () => page.locator('#to').waitFor());
  await page.goto(`${BASE}/inbox#/contacts`);
  await everyScreen(page, 'contacts', () => page.locator('#contacts-rows tr').first().waitFor());
  await page.goto(`${BASE}/inbox#/supervisor`);
  await everyScreen(page, 'supervisor', () => page.locator('#queues-table').waitFor());
  await page.goto(`${BASE}/inbox#/admin/queues`);
  await everyScreen(page, 'admin', () => page.locator('#admin-table').waitFor());
  // Keyboard: the shortcuts move through the list and open a conversation.
  await page.goto(`${BASE}/inbox#/inbox`);
  await page.locator('#items .item').first().waitFor();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('j');
  await page.waitForURL(/#\/inbox\/[0-9a-f-]{36}$/);
  const title = await page.title();
  if (!/Switchboard/.test(title)) throw new Error(`title: ${title}`);
}

// The Reports screen on a fixture week (22–28 March 2027): the totals, a line chart with a point per day, the table
// per queue, the CSV link; screenshots at both widths and axe's check.
async function reportsScreen(browser) {
  const { page } = await logIn(browser, 2);
  await page.goto(`${BASE}/inbox#/reports?from=2027-03-22&to=2027-03-28&group_by=queue`);
  await page.locator('#rep-new strong', { hasText: /^3$/ }).waitFor();
  await page.locator('#rep-resolved strong', { hasText: /^3$/ }).waitFor();
  await page.locator('#rep-resolution strong', { hasText: '30m' }).waitFor();
  const points = await page.locator('#rep-line-chart circle').count();
  if (points !== 7) throw new Error(`the chart has ${points} points, not one per day of the week`);
  const perDay = await page.locator('#rep-series tbody tr').allInnerTexts();
  if (perDay.length !== 7 || !/2027-03-25\s+1/.test(perDay[3])) throw new Error(`per day: ${JSON.stringify(perDay)}`);
  await page.locator('#rep-rows tbody tr', { hasText: 'Support' }).filter({ hasText: '3' }).waitFor();
  if ((await page.locator('#rep-bar-chart rect').count()) < 1) throw new Error('no bar per queue');
  // Another figure over time, chosen in its menu: drawn again with the same days.
  await page.selectOption('#rep-line', 'resolution_median_secs');
  await page.locator('#rep-series th', { hasText: 'Resolution (median)' }).waitFor();
  await page.click('#rep-csv');
  const csv = await page.getAttribute('#rep-csv', 'href');
  if (!/format=csv/.test(csv) || !/group_by=queue/.test(csv)) throw new Error(`CSV link: ${csv}`);
  await everyScreen(page, 'reports', () => page.locator('#rep-line-chart').waitFor());
}

// A WhatsApp call through the sandbox: the customer calls, the pop-up rings one agent with the call's fields, a
// decline passes it to the other, who accepts, talks and hangs up; the thread shows the call and its length.
async function callsScenario(browser) {
  const a = await logIn(browser, 0);
  const b = await logIn(browser, 1);
  for (const { page } of [a, b]) await page.selectOption('#presence', 'online');
  const r = await fetch(`${BASE}/sandbox/api/calls`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customer: CUSTOMER, business: BUSINESS }),
  });
  if (r.status !== 201) throw new Error(`the sandbox customer could not call: ${r.status} ${await r.text()}`);
  const rung = await Promise.race([a, b].map((x) => x.page.waitForSelector('#call-popup #call-accept', { timeout: 30000 }).then(() => x)));
  const other = rung === a ? b : a;
  const text = async (page, sel) => (await page.locator(sel).textContent()).trim();
  if (await text(rung.page, '#call-title') !== 'Incoming WhatsApp call') throw new Error('the pop-up does not say it is an incoming call');
  if (!(await text(rung.page, '#call-channel')).startsWith('WhatsApp')) throw new Error('the pop-up does not name the channel');
  if (await text(rung.page, '#call-phone') !== CUSTOMER) throw new Error('the pop-up does not show the customer\'s number');
  if (await text(rung.page, '#call-queue') !== 'Support') throw new Error('the pop-up does not name the queue');
  await rung.page.locator('#call-copy').waitFor();
  await screenshot(rung.page, 'call-rings');
  await accessible(rung.page, 'call pop-up');
  // Declined: it rings the other agent at once.
  await rung.page.click('#call-decline');
  await rung.page.waitForSelector('#call-popup', { state: 'detached' });
  await other.page.waitForSelector('#call-popup #call-accept', { timeout: 30000 });
  await other.page.click('#call-accept');
  await other.page.locator('#call-state', { hasText: 'On the call' }).waitFor({ timeout: 30000 });
  await screenshot(other.page, 'on-the-call');
  await other.page.click('#call-mute');
  await other.page.locator('#call-mute[aria-pressed="true"]').waitFor();
  await other.page.fill('#call-note', 'Customer asked about the refund by phone');
  await other.page.click('#call-note-save');
  // The call's conversation opens from the call bar, which stays while the thread shows.
  await other.page.click('#call-conversation');
  await other.page.locator('#contact-phone', { hasText: CUSTOMER }).waitFor({ timeout: 20000 });
  await other.page.waitForTimeout(1000);
  await other.page.click('#call-hangup');
  await other.page.waitForSelector('#call-popup', { state: 'detached' });
  // The thread shows the call: who declined, who answered, and how long it lasted.
  await other.page.locator('#thread', { hasText: 'Call ended after' }).waitFor({ timeout: 20000 });
  await other.page.locator('#thread', { hasText: 'Call declined by' }).waitFor();
  await other.page.locator('#thread', { hasText: 'Customer asked about the refund by phone' }).waitFor();
  await screenshot(other.page, 'call-in-thread');
}

// The business calls a customer: a conversation started as a call opens with a call-permission request; the
// customer allows calls; the Call button rings the agent's browser (the sandbox's stand-in answers), then the
// customer, who answers; the agent hangs up.
async function callOut(browser) {
  const { page } = await logIn(browser, 0);
  await page.click('a[href="#/new"]');
  await page.selectOption('#new-type', 'call');
  await page.locator('#new-type-hint', { hasText: 'call-permission request' }).waitFor();
  await page.fill('#to', CUSTOMER);
  await page.locator('#to-check.ok').waitFor();
  // Only call-permission templates are offered.
  await page.locator('[data-template="call_permission_request"]').waitFor();
  if (await page.locator('[data-template="order_update"]').count()) throw new Error('a template without the call-permission element is offered');
  await page.click('[data-template="call_permission_request"]');
  await page.fill('[data-var="1"]', 'Ana');
  await screenshot(page, 'call-request');
  await page.click('#send-template');
  await page.waitForURL(/#\/inbox\/[0-9a-f-]{36}$/);
  await page.locator('#request-call[disabled]').waitFor({ timeout: 15000 });
  await page.locator('#call-actions[data-state="pending"][title*="no answer yet"]').waitFor();
  await page.locator('#place-call[disabled]').waitFor();
  await screenshot(page, 'call-requested');
  // The customer taps "Allow calls" under the request.
  const r = await fetch(`${BASE}/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ customer: CUSTOMER, business: BUSINESS, body: 'Allow calls', button_payload: 'accept', profile_name: 'Ana Customer' }) });
  if (r.status !== 201) throw new Error(`the customer could not answer: ${r.status}`);
  await page.locator('#place-call:not([disabled])').waitFor({ timeout: 20000 });
  await page.click('#place-call');
  await page.locator('#call-state', { hasText: 'Calling the customer' }).waitFor({ timeout: 15000 });
  // The customer's phone rings; they answer.
  const calls = `${BASE}/sandbox/api/calls?customer=${encodeURIComponent(CUSTOMER)}&business=${encodeURIComponent(BUSINESS)}`;
  let ringing = null;
  for (let i = 0; i < 60 && !ringing; i++) {
    ringing = (await (await fetch(calls)).json()).find((c) => c.customer_ringing);
    if (!ringing) await page.waitForTimeout(250);
  }
  if (!ringing) throw new Error("the customer's phone never rang");
  await fetch(`${BASE}/sandbox/api/calls/${ringing.sid}/answer`, { method: 'POST' });
  await page.locator('#call-state', { hasText: 'On the call' }).waitFor({ timeout: 15000 });
  await screenshot(page, 'calling-out');
  await page.waitForTimeout(1000);
  await page.click('#call-hangup');
  await page.waitForSelector('#call-popup', { state: 'detached' });
  await page.locator('#thread', { hasText: 'Call ended after' }).waitFor({ timeout: 20000 });
  await page.locator('#thread', { hasText: 'The customer allowed calls' }).waitFor();
  await screenshot(page, 'call-out-in-thread');
}

const SCENARIOS = { reply_and_read: replyAndRead, window_closed: windowClosed, new_conversation: newConversation,
  two_agents: twoAgents, reconnect, admin_screens: adminScreens, attachments, lifecycle, contacts: contactsScreen,
  accessibility, long_conversation: longConversation, languages, reports: reportsScreen, calls: callsScenario,
  call_out: callOut };

(async () => {
  const browser = await launch();
  try {
    await SCENARIOS[env('SCENARIO')](browser);
    const unexpected = CONSOLE_ERRORS.filter((e) => !EXPECTED_CONSOLE.some((re) => re.test(e)));
    if (unexpected.length) throw new Error('console errors:\n' + unexpected.join('\n'));
    console.log('SCENARIO PASSED');
  } catch (e) {
    console.error('SCENARIO FAILED:', e && e.stack || e);
    process.exitCode = 1;
    // What each open page showed when it failed.
    let i = 0;
    for (const context of browser.contexts()) for (const page of context.pages()) {
      i += 1;
      await page.screenshot({ path: path.join(ARTIFACTS, `failure-${i}.png`) }).catch(() => {});
    }
  } finally {
    await browser.close();
  }
})();
