// The inbox's words, from one catalogue: English, Spanish, Portuguese, Dutch and Japanese (the seeds' languages),
// one module per language (lang-XX.js), chosen per person (their `ui_language`, else the browser's language, else
// English). Only English (the fallback) comes with the first load; another language is fetched when chosen.
// `t(key, values)` fills `{name}` placeholders; a key a language lacks falls back to English, and a key English
// lacks is shown as is (so a missing entry is visible, not blank). Dates and times use the same language and the
// person's time zone.

import en from './lang-en.js';

const LANGUAGES = { en: 'English', es: 'Español', pt: 'Português', nl: 'Nederlands', ja: '日本語' };
const loaded = { en };

let language = 'en';
let timeZone;

// The person's choice, else the browser's language when the inbox speaks it, else English; its words are
// fetched once. A language that cannot be fetched leaves the inbox in English rather than blank.
async function choose(preferred, zone) {
  const browser = (navigator.language || 'en').slice(0, 2).toLowerCase();
  let wanted = LANGUAGES[preferred] ? preferred : LANGUAGES[browser] ? browser : 'en';
  if (!loaded[wanted]) {
    try { loaded[wanted] = (await import(`./lang-${wanted}.js`)).default; } catch { wanted = 'en'; }
  }
  language = wanted;
  timeZone = zone || undefined;
  document.documentElement.lang = language;
}
const has = (key) => key in loaded[language] || key in en;
function t(key, values) {
  const text = loaded[language][key] || en[key] || key;
  return values ? text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m)) : text;
}
const current = () => language;
// Date and time formats in the person's language and time zone.
const timeFormat = (options) => new Intl.DateTimeFormat(language, { ...options, timeZone });
const zone = () => timeZone;

// A moment's calendar and clock in the person's time zone.
function zoned(at) {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(at);
  const p = Object.fromEntries(parts.filter((x) => x.type !== 'literal').map((x) => [x.type, Number(x.value)]));
  return { ...p, utc: Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) };
}
// The moment it is `hour:minute` in the person's time zone, `days` days after today there. The wanted wall-clock
// time is read as if it were UTC and moved back by the zone's offset; the offset is looked up a second time at the
// result, so a daylight-saving change in between is taken into account.
function wallClock(days, hour, minute) {
  const today = zoned(new Date());
  const wanted = Date.UTC(today.year, today.month - 1, today.day + days, hour, minute);
  const offset = (at) => zoned(new Date(at)).utc - Math.floor(at / 1000) * 1000;
  return new Date(wanted - offset(wanted - offset(wanted)));
}
// Today's day of the week in the person's time zone (0 is Sunday).
const zonedWeekday = () => { const p = zoned(new Date()); return new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay(); };

export { LANGUAGES, choose, current, has, t, timeFormat, wallClock, zone, zonedWeekday };
