//! The sandbox's WhatsApp calls: Twilio's side of a call, played on the server so the whole calling flow (the
//! waiting strategy, the pop-up, accept and decline, the business calling a customer) runs with no Twilio
//! account. Audio is not simulated: what the caller would hear is shown on the customer phone page as text.
//!
//! A customer's call posts the signed voice webhook Twilio posts and interprets the TwiML it gets back to the
//! level of call states: `<Say>` and `<Play>` are heard (pauses and music last at most [`MAX_HOLD`]),
//! `<Enqueue>` puts the call in a queue whose wait URL is asked again and again, `<Leave>` asks the
//! `<Enqueue>`'s action, `<Hangup>` and `<Reject>` end it, and the status callback says how it ended. An agent's
//! browser in the sandbox joins a call as the Voice SDK would (the voice webhook from `client:<agent id>`), and
//! its `<Dial><Queue>` bridges it to the caller. A call the business places (`Calls.json`) rings the agent's
//! browser (or, answered at once, the agent's phone); once they answer, its TwiML's `<Dial><WhatsApp>` rings the
//! customer's phone page, which answers or declines; the `<WhatsApp>`'s status callback and the `<Dial>`'s action
//! follow as Twilio sends them. An agent who takes calls on a phone has it answered at once, and the URL Twilio
//! would ask is asked.
//!
//! Calls live in this process's memory (the sandbox is for trying Switchboard out, on one machine).

use quick_xml::events::Event;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

/// The longest a pause or hold music lasts in the sandbox.
pub const MAX_HOLD: Duration = Duration::from_secs(2);
/// How long the customer's phone rings for a call from the business before it is not answered.
pub const RING_FOR: Duration = Duration::from_secs(30);
/// The most words a call keeps of what its caller heard.
const HEARD: usize = 20;

/// One call as the phone page and the agent's browser see it.
#[derive(Debug, Clone, Serialize)]
pub struct CallInfo {
    pub sid: String,
    pub channel_id: Uuid,
    /// The customer (E.164) and the business's number (E.164).
    pub customer: String,
    pub business: String,
    /// `inbound`: the customer called; `outbound`: the business calls the customer.
    pub direction: &'static str,
    /// `ringing`, `queued` (waiting in a queue), `in-progress` (talking), or how it ended: `completed`, `busy`
    /// (declined or refused), `no-answer`, `failed`.
    pub status: &'static str,
    /// What the customer heard, oldest first (the last few).
    pub heard: Vec<String>,
    /// The agent on the other end (their id), once connected.
    pub agent: Option<String>,
    /// A call from the business rings the customer's phone.
    pub customer_ringing: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
}

/// A call and what its driver waits on.
struct Cell {
    info: Mutex<CallInfo>,
    /// The Twilio queue it waits in.
    queue: Mutex<Option<String>>,
    /// Someone hung up, the customer answered or declined, an agent bridged in: the driver looks again.
    change: Notify,
    flags: Mutex<Flags>,
    /// New TwiML the business gave the call (`Calls/{sid}.json`): played instead of what it was doing.
    redirect: Mutex<Option<Vec<Heard>>>,
}

#[derive(Default, Clone, Copy)]
struct Flags {
    hung_up: bool,
    bridged: bool,
    /// The customer's answer to a call from the business (`Some(true)`: answered).
    customer: Option<bool>,
    /// The agent answered a call from the business on their browser.
    agent_answered: bool,
}

/// The sandbox's calls in this process.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<HashMap<String, Arc<Cell>>>>);

impl Calls {
    fn add(&self, info: CallInfo) -> Arc<Cell> {
        let cell = Arc::new(Cell {
            info: Mutex::new(info.clone()),
            queue: Mutex::new(None),
            change: Notify::new(),
            flags: Mutex::new(Flags::default()),
            redirect: Mutex::new(None),
        });
        let mut all = self.0.lock().expect("calls");
        // Ended calls are kept a while for the page to show; the oldest go first.
        if all.len() > 500 {
            let mut ended: Vec<(OffsetDateTime, String)> = all
                .iter()
                .filter(|(_, c)| c.ended())
                .map(|(sid, c)| (c.info.lock().expect("info").created_at, sid.clone()))
                .collect();
            ended.sort();
            for (_, sid) in ended.into_iter().take(100) {
                all.remove(&sid);
            }
        }
        all.insert(info.sid.clone(), cell.clone());
        cell
    }

    fn get(&self, sid: &str) -> Option<Arc<Cell>> {
        self.0.lock().expect("calls").get(sid).cloned()
    }

    /// The calls between a customer and a business number, newest first.
    pub fn between(&self, customer: &str, business: &str) -> Vec<CallInfo> {
        let mut out: Vec<CallInfo> = self
            .0
            .lock()
            .expect("calls")
            .values()
            .map(|c| c.info.lock().expect("info").clone())
            .filter(|i| i.customer == customer && i.business == business)
            .collect();
        out.sort_by_key(|i| std::cmp::Reverse(i.created_at));
        out
    }

    /// An agent's calls in the sandbox that are not over (a call from the business ringing their browser).
    pub fn of_agent(&self, agent: &str) -> Vec<CallInfo> {
        self.0
            .lock()
            .expect("calls")
            .values()
            .filter(|c| !c.ended())
            .map(|c| c.info.lock().expect("info").clone())
            .filter(|i| i.agent.as_deref() == Some(agent))
            .collect()
    }

    fn queued(&self, name: &str) -> Option<Arc<Cell>> {
        self.0
            .lock()
            .expect("calls")
            .values()
            .find(|c| c.queue.lock().expect("queue").as_deref() == Some(name) && !c.ended())
            .cloned()
    }
}

impl Cell {
    fn ended(&self) -> bool {
        matches!(self.info.lock().expect("info").status, "completed" | "busy" | "no-answer" | "failed")
    }

    fn flags(&self) -> Flags {
        *self.flags.lock().expect("flags")
    }

    fn set(&self, f: impl FnOnce(&mut Flags)) {
        f(&mut self.flags.lock().expect("flags"));
        self.change.notify_waiters();
        self.change.notify_one();
    }

    fn status(&self, status: &'static str) {
        let mut i = self.info.lock().expect("info");
        i.status = status;
        if status == "in-progress" && i.answered_at.is_none() {
            i.answered_at = Some(OffsetDateTime::now_utc());
        }
    }

    fn heard(&self, text: String) {
        let mut i = self.info.lock().expect("info");
        i.heard.push(text);
        if i.heard.len() > HEARD {
            i.heard.remove(0);
        }
    }

    /// Waits `d`, or less if something changed.
    async fn wait(&self, d: Duration) {
        let _ = tokio::time::timeout(d, self.change.notified()).await;
    }

    fn seconds(&self) -> u64 {
        let i = self.info.lock().expect("info");
        (OffsetDateTime::now_utc() - i.answered_at.unwrap_or(i.created_at)).whole_seconds().max(0) as u64
    }
}

/// A TwiML verb as the sandbox plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Say(String),
    Play(String),
    Pause(u64),
    Enqueue { name: String, wait_url: String, action: String },
    DialQueue(String),
    DialWhatsApp { to: String, caller_id: String, action: Option<String>, status_callback: Option<String> },
    Leave,
    Hangup,
    Reject,
}

/// Reads a TwiML document into the verbs the sandbox plays; anything it does not know is skipped.
pub fn parse(xml: &str) -> Result<Vec<Heard>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    // The open elements below <Response>: (name, attributes, text).
    let mut stack: Vec<(String, HashMap<String, String>, String)> = Vec::new();
    let mut dial: Option<HashMap<String, String>> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("the TwiML is not XML: {e}"))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
            let attrs: HashMap<String, String> = e
                .attributes()
                .filter_map(|a| a.ok())
                .map(|a| {
                    let value = a.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                    (String::from_utf8_lossy(a.key.as_ref()).into_owned(), value)
                })
                .collect();
            if name == "Dial" {
                dial = Some(attrs.clone());
            }
            stack.push((name, attrs, String::new()));
            if !empty {
                continue;
            }
        }
        match event {
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&t.xml_content().map_err(|e| e.to_string())?);
                }
                continue;
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(match &*r {
                        b"amp" => "&",
                        b"lt" => "<",
                        b"gt" => ">",
                        b"quot" => "\"",
                        _ => "'",
                    });
                }
                continue;
            }
            Event::Eof => break,
            Event::End(_) | Event::Empty(_) => {}
            _ => continue,
        }
        let Some((name, attrs, text)) = stack.pop() else { continue };
        let text = text.trim().to_owned();
        match name.as_str() {
            "Say" => out.push(Heard::Say(text)),
            "Play" => out.push(Heard::Play(text)),
            "Pause" => out.push(Heard::Pause(attrs.get("length").and_then(|l| l.parse().ok()).unwrap_or(1))),
            "Enqueue" => out.push(Heard::Enqueue {
                name: text,
                wait_url: attrs.get("waitUrl").cloned().unwrap_or_default(),
                action: attrs.get("action").cloned().unwrap_or_default(),
            }),
            "Queue" => out.push(Heard::DialQueue(text)),
            "WhatsApp" => {
                let d = dial.clone().unwrap_or_default();
                out.push(Heard::DialWhatsApp {
                    to: text,
                    caller_id: d.get("callerId").cloned().unwrap_or_default(),
                    action: d.get("action").cloned(),
                    status_callback: attrs.get("statusCallback").cloned(),
                });
            }
            "Leave" => out.push(Heard::Leave),
            "Hangup" => out.push(Heard::Hangup),
            "Reject" => out.push(Heard::Reject),
            _ => {}
        }
    }
    Ok(out)
}

/// What a driver needs to post webhooks as Twilio.
#[derive(Clone)]
pub struct Twilio {
    pub http: reqwest::Client,
    pub public_base_url: Arc<str>,
    pub local_base_url: Arc<str>,
    pub account_sid: String,
    pub auth_token: String,
}

impl Twilio {
    /// Posts a signed voice webhook; answers the TwiML's verbs (none if the answer is not TwiML).
    async fn post(&self, url: &str, params: &[(String, String)]) -> Result<Vec<Heard>, String> {
        let answer =
            super::post_signed(&self.http, &self.public_base_url, &self.local_base_url, &self.auth_token, url, params)
                .await
                .map_err(|e| format!("the voice webhook could not be reached: {}", e.without_url()))?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("the voice webhook answered {status}: {}", text.chars().take(300).collect::<String>()));
        }
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        parse(&text)
    }
}

fn param(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

/// The parameters of every webhook about the customer's leg.
fn customer_leg(t: &Twilio, info: &CallInfo, status: &str) -> Vec<(String, String)> {
    let (from, to) = if info.direction == "inbound" {
        (format!("whatsapp:{}", info.customer), format!("whatsapp:{}", info.business))
    } else {
        (format!("whatsapp:{}", info.business), format!("whatsapp:{}", info.customer))
    };
    vec![
        param("AccountSid", &t.account_sid),
        param("ApiVersion", "2010-04-01"),
        param("CallSid", &info.sid),
        param("CallStatus", status),
        param("Direction", if info.direction == "inbound" { "inbound" } else { "outbound-dial" }),
        param("From", from),
        param("To", to),
    ]
}

/// A customer calls the business: starts the call's driver and answers its SID.
pub fn customer_calls(calls: &Calls, t: Twilio, channel_id: Uuid, customer: &str, business: &str) -> String {
    let info = CallInfo {
        sid: super::new_sid("CA"),
        channel_id,
        customer: customer.to_owned(),
        business: business.to_owned(),
        direction: "inbound",
        status: "ringing",
        heard: Vec::new(),
        agent: None,
        customer_ringing: false,
        created_at: OffsetDateTime::now_utc(),
        answered_at: None,
    };
    let sid = info.sid.clone();
    let cell = calls.add(info);
    tokio::spawn(async move {
        if let Err(e) = run_inbound(&t, &cell).await {
            tracing::warn!(error = %e, "sandbox call ended by an error");
            cell.heard(format!("(the call failed: {e})"));
            cell.status("failed");
        }
    });
    sid
}

async fn run_inbound(t: &Twilio, cell: &Cell) -> Result<(), String> {
    let info = cell.info.lock().expect("info").clone();
    let voice = crate::channels::voice_webhook_url(&t.public_base_url, info.channel_id);
    let verbs = t.post(&voice, &customer_leg(t, &info, "ringing")).await?;
    play(t, cell, verbs).await?;
    finish(t, cell, "completed").await
}

/// Plays verbs until the call ends; an `<Enqueue>` waits in its queue.
async fn play(t: &Twilio, cell: &Cell, mut verbs: Vec<Heard>) -> Result<(), String> {
    // Leaving a queue may bring more to play (the `<Enqueue>` action's answer).
    while let Some(next) = play_until_queue(t, cell, verbs).await? {
        verbs = next;
    }
    Ok(())
}

async fn play_until_queue(t: &Twilio, cell: &Cell, verbs: Vec<Heard>) -> Result<Option<Vec<Heard>>, String> {
    for verb in verbs {
        if cell.flags().hung_up {
            return Ok(None);
        }
        match verb {
            Heard::Say(text) => {
                cell.status_if_ringing();
                cell.heard(text);
            }
            Heard::Play(url) => {
                cell.status_if_ringing();
                cell.heard(format!("♪ {url}"));
                cell.wait(MAX_HOLD).await;
            }
            Heard::Pause(secs) => cell.wait(Duration::from_secs(secs).min(MAX_HOLD)).await,
            Heard::Reject => {
                cell.heard("(the business did not take the call)".into());
                cell.status("busy");
                return Ok(None);
            }
            Heard::Hangup => {
                cell.set(|f| f.hung_up = true);
                return Ok(None);
            }
            Heard::Enqueue { name, wait_url, action } => return queue(t, cell, name, wait_url, action).await,
            Heard::Leave | Heard::DialQueue(_) | Heard::DialWhatsApp { .. } => {}
        }
    }
    Ok(None)
}

impl Cell {
    fn status_if_ringing(&self) {
        let mut i = self.info.lock().expect("info");
        if i.status == "ringing" {
            i.status = "queued";
        }
    }
}

/// Waits in a queue, asking the wait URL what to play, until an agent bridges in, the wait URL says `<Leave>`
/// or the caller hangs up; then asks the `<Enqueue>`'s action, whose answer is played next after a `<Leave>`.
async fn queue(
    t: &Twilio,
    cell: &Cell,
    name: String,
    wait_url: String,
    action: String,
) -> Result<Option<Vec<Heard>>, String> {
    cell.status("queued");
    *cell.queue.lock().expect("queue") = Some(name);
    let started = std::time::Instant::now();
    let result = loop {
        let f = cell.flags();
        if cell.redirect.lock().expect("redirect").is_some() {
            break "redirected";
        }
        if f.bridged {
            break "bridged";
        }
        if f.hung_up {
            break "hangup";
        }
        let info = cell.info.lock().expect("info").clone();
        let mut p = customer_leg(t, &info, "in-progress");
        p.push(param("QueueTime", started.elapsed().as_secs().to_string()));
        let verbs = t.post(&wait_url, &p).await?;
        let mut leave = false;
        let mut waited = false;
        for v in verbs {
            let f = cell.flags();
            if f.bridged || f.hung_up {
                break;
            }
            match v {
                Heard::Say(text) => cell.heard(text),
                Heard::Play(url) => {
                    cell.heard(format!("♪ {url}"));
                    cell.wait(MAX_HOLD).await;
                    waited = true;
                }
                Heard::Pause(secs) => {
                    cell.wait(Duration::from_secs(secs).min(MAX_HOLD)).await;
                    waited = true;
                }
                Heard::Leave => {
                    leave = true;
                    break;
                }
                _ => {}
            }
        }
        if leave {
            break "leave";
        }
        if !waited {
            cell.wait(Duration::from_millis(500)).await;
        }
    };
    *cell.queue.lock().expect("queue") = None;
    let mut result = result;
    if result == "bridged" {
        cell.status("in-progress");
        while !cell.flags().hung_up {
            if cell.redirect.lock().expect("redirect").is_some() {
                result = "redirected";
                break;
            }
            cell.change.notified().await;
        }
    }
    let info = cell.info.lock().expect("info").clone();
    let mut p = customer_leg(t, &info, if result == "bridged" { "completed" } else { "in-progress" });
    p.push(param("QueueResult", result));
    p.push(param("QueueTime", started.elapsed().as_secs().to_string()));
    let after = t.post(&action, &p).await?;
    if result == "redirected" {
        // The agent's leg is gone (on hold, or transferred): the new TwiML plays.
        cell.flags.lock().expect("flags").bridged = false;
        cell.info.lock().expect("info").agent = None;
        return Ok(cell.redirect.lock().expect("redirect").take());
    }
    Ok((result == "leave").then_some(after))
}

/// `Calls/{sid}.json` with `Twiml`: the call plays that next. `false`: no such call, or it is over.
pub fn redirect(calls: &Calls, sid: &str, twiml: &str) -> Result<bool, String> {
    let verbs = parse(twiml)?;
    match calls.get(sid) {
        Some(cell) if !cell.ended() => {
            *cell.redirect.lock().expect("redirect") = Some(verbs);
            cell.set(|_| {});
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Ends the call with `status` and posts the status callback (the voice application's), with its length.
async fn finish(t: &Twilio, cell: &Cell, status: &'static str) -> Result<(), String> {
    if !cell.ended() {
        let secs = cell.seconds();
        cell.status(status);
        cell.set(|f| f.hung_up = true);
        let info = cell.info.lock().expect("info").clone();
        let mut p = customer_leg(t, &info, status);
        p.push(param("CallDuration", secs.to_string()));
        let url = crate::channels::voice_status_webhook_url(&t.public_base_url, info.channel_id);
        t.post(&url, &p).await?;
    }
    Ok(())
}

/// The customer (or the agent, on a bridged call) hangs up. `false`: no such call, or it is over.
pub fn hang_up(calls: &Calls, sid: &str) -> bool {
    match calls.get(sid) {
        Some(cell) if !cell.ended() => {
            cell.set(|f| f.hung_up = true);
            true
        }
        _ => false,
    }
}

/// An agent's browser joins the call it accepted, as the Voice SDK does: the voice webhook from
/// `client:<agent>` with the call's id as `call`; a `<Dial><Queue>` answer bridges it to the caller waiting in
/// that queue. Answers the caller's call SID, or why not.
pub async fn agent_joins(
    calls: &Calls,
    t: &Twilio,
    channel_id: Uuid,
    agent: Uuid,
    call: Uuid,
) -> Result<String, String> {
    let voice = crate::channels::voice_webhook_url(&t.public_base_url, channel_id);
    let p = vec![
        param("AccountSid", &t.account_sid),
        param("ApiVersion", "2010-04-01"),
        param("CallSid", super::new_sid("CA")),
        param("CallStatus", "ringing"),
        param("Direction", "inbound"),
        param("From", format!("client:{agent}")),
        param("call", call.to_string()),
    ];
    for verb in t.post(&voice, &p).await? {
        if let Heard::DialQueue(name) = verb {
            let Some(cell) = calls.queued(&name) else { return Err("nobody waits in that queue".into()) };
            cell.info.lock().expect("info").agent = Some(agent.to_string());
            cell.set(|f| f.bridged = true);
            let sid = cell.info.lock().expect("info").sid.clone();
            return Ok(sid);
        }
    }
    Err("the call is not connected to you".into())
}

/// `Calls.json` in the sandbox: a call the business places rings the agent's browser (`To=client:<agent>`);
/// once they answer ([`agent_answers`]), its TwiML runs. Answers the new call's SID.
pub fn business_calls(calls: &Calls, t: Twilio, placed: Placed) -> Result<String, String> {
    // An agent's browser (`client:<identity>`) rings until they answer; an agent's phone is answered at once.
    let (agent, phone) = match placed.to.strip_prefix("client:") {
        Some(identity) => (identity.to_owned(), false),
        None if placed.to.starts_with('+') => (placed.to.clone(), true),
        None => return Err("the sandbox places calls to an agent's browser (client:<identity>) or phone (+…)".into()),
    };
    let verbs = parse(&placed.twiml)?;
    let Some(Heard::DialWhatsApp { to, caller_id, action, status_callback }) =
        verbs.iter().find(|v| matches!(v, Heard::DialWhatsApp { .. })).cloned()
    else {
        return Err("the sandbox plays calls whose TwiML dials a customer on WhatsApp".into());
    };
    let business = caller_id.strip_prefix("whatsapp:").unwrap_or(&caller_id).to_owned();
    let info = CallInfo {
        sid: super::new_sid("CA"),
        channel_id: placed.channel_id,
        customer: to,
        business,
        direction: "outbound",
        status: "ringing",
        heard: Vec::new(),
        agent: Some(agent),
        customer_ringing: false,
        created_at: OffsetDateTime::now_utc(),
        answered_at: None,
    };
    let sid = info.sid.clone();
    let cell = calls.add(info);
    if phone {
        cell.set(|f| f.agent_answered = true);
    }
    tokio::spawn(async move {
        let dial = Dial { action, status_callback, parent_callback: placed.status_callback, from: placed.from };
        if let Err(e) = run_outbound(&t, &cell, dial).await {
            tracing::warn!(error = %e, "sandbox call ended by an error");
            cell.heard(format!("(the call failed: {e})"));
            cell.status("failed");
        }
    });
    Ok(sid)
}

/// `Calls.json` with a `Url` to an agent's phone (an agent who takes calls there accepted one): the sandbox
/// answers the phone at once, asks the URL, and its `<Dial><Queue>` takes the caller waiting in that queue.
pub fn agent_phone_answers(calls: &Calls, t: Twilio, url: String, phone: String, from: String) -> String {
    let sid = super::new_sid("CA");
    let leg = sid.clone();
    let calls = calls.clone();
    tokio::spawn(async move {
        let p = vec![
            param("AccountSid", &t.account_sid),
            param("ApiVersion", "2010-04-01"),
            param("CallSid", &leg),
            param("CallStatus", "in-progress"),
            param("Direction", "outbound-api"),
            param("From", &from),
            param("To", &phone),
        ];
        match t.post(&url, &p).await {
            Ok(verbs) => {
                for verb in verbs {
                    if let Heard::DialQueue(name) = verb {
                        if let Some(cell) = calls.queued(&name) {
                            cell.info.lock().expect("info").agent = Some(phone.clone());
                            cell.set(|f| f.bridged = true);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "the sandbox could not put an agent's phone on the call"),
        }
    });
    sid
}

/// What `Calls.json` was asked.
pub struct Placed {
    pub channel_id: Uuid,
    pub to: String,
    pub from: String,
    pub twiml: String,
    pub status_callback: Option<String>,
}

struct Dial {
    action: Option<String>,
    status_callback: Option<String>,
    parent_callback: Option<String>,
    /// The caller id of the agent's leg.
    from: String,
}

/// The agent answers a call from the business on their browser (`true`) or declines it.
pub fn agent_answers(calls: &Calls, sid: &str, answer: bool) -> bool {
    match calls.get(sid) {
        Some(cell) if !cell.ended() && cell.info.lock().expect("info").direction == "outbound" => {
            cell.set(|f| if answer { f.agent_answered = true } else { f.hung_up = true });
            true
        }
        _ => false,
    }
}

/// The customer answers (`true`) or declines a call from the business that rings their phone.
pub fn customer_answers(calls: &Calls, sid: &str, answer: bool) -> bool {
    match calls.get(sid) {
        Some(cell) if cell.info.lock().expect("info").customer_ringing => {
            cell.set(|f| f.customer = Some(answer));
            true
        }
        _ => false,
    }
}

async fn run_outbound(t: &Twilio, cell: &Cell, dial: Dial) -> Result<(), String> {
    // The agent's browser rings until they answer, decline, or let it ring out.
    let deadline = tokio::time::Instant::now() + RING_FOR;
    while !cell.flags().agent_answered {
        if cell.flags().hung_up || tokio::time::Instant::now() >= deadline {
            return parent_ends(t, cell, &dial, "no-answer").await;
        }
        cell.wait(Duration::from_millis(500)).await;
    }
    // Then the customer's phone.
    cell.info.lock().expect("info").customer_ringing = true;
    let deadline = tokio::time::Instant::now() + RING_FOR;
    let answered = loop {
        let f = cell.flags();
        if let Some(a) = f.customer {
            break Some(a);
        }
        if f.hung_up || tokio::time::Instant::now() >= deadline {
            break None;
        }
        cell.wait(Duration::from_millis(500)).await;
    };
    cell.info.lock().expect("info").customer_ringing = false;
    let info = cell.info.lock().expect("info").clone();
    let dial_status = match answered {
        Some(true) => {
            cell.status("in-progress");
            if let Some(url) = &dial.status_callback {
                let mut p = customer_leg(t, &info, "in-progress");
                p[2] = param("CallSid", super::new_sid("CA"));
                p.push(param("ParentCallSid", &info.sid));
                t.post(url, &p).await?;
            }
            while !cell.flags().hung_up {
                cell.change.notified().await;
            }
            "completed"
        }
        Some(false) => "busy",
        None => "no-answer",
    };
    let talked = if dial_status == "completed" { cell.seconds() } else { 0 };
    if let Some(url) = &dial.action {
        let mut p = agent_leg(t, &info, &dial, "in-progress");
        p.push(param("DialCallStatus", dial_status));
        p.push(param("DialCallDuration", talked.to_string()));
        t.post(url, &p).await?;
    }
    parent_ends(t, cell, &dial, if dial_status == "completed" { "completed" } else { dial_status }).await
}

fn agent_leg(t: &Twilio, info: &CallInfo, dial: &Dial, status: &str) -> Vec<(String, String)> {
    vec![
        param("AccountSid", &t.account_sid),
        param("ApiVersion", "2010-04-01"),
        param("CallSid", &info.sid),
        param("CallStatus", status),
        param("Direction", "outbound-api"),
        param("From", &dial.from),
        param("To", format!("client:{}", info.agent.clone().unwrap_or_default())),
    ]
}

/// The agent's leg ends: the call's status, and the status callback `Calls.json` named.
async fn parent_ends(t: &Twilio, cell: &Cell, dial: &Dial, status: &'static str) -> Result<(), String> {
    let secs = cell.seconds();
    cell.status(status);
    cell.set(|f| f.hung_up = true);
    if let Some(url) = &dial.parent_callback {
        let info = cell.info.lock().expect("info").clone();
        let mut p = agent_leg(t, &info, dial, "completed");
        p.push(param("CallDuration", secs.to_string()));
        t.post(url, &p).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_is_read_into_what_the_sandbox_plays() {
        let xml =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"pt-BR\">Olá &amp; bem-vindo</Say>\
                   <Enqueue waitUrl=\"https://x/wait\" action=\"https://x/left\">call-1</Enqueue><Pause length=\"20\"/>\
                   <Dial><Queue>call-2</Queue></Dial><Dial callerId=\"whatsapp:+1\" action=\"https://x/d\">\
                   <WhatsApp statusCallback=\"https://x/r\">+2</WhatsApp></Dial><Leave/><Hangup/></Response>";
        assert_eq!(
            parse(xml).unwrap(),
            vec![
                Heard::Say("Olá & bem-vindo".into()),
                Heard::Enqueue {
                    name: "call-1".into(),
                    wait_url: "https://x/wait".into(),
                    action: "https://x/left".into()
                },
                Heard::Pause(20),
                Heard::DialQueue("call-2".into()),
                Heard::DialWhatsApp {
                    to: "+2".into(),
                    caller_id: "whatsapp:+1".into(),
                    action: Some("https://x/d".into()),
                    status_callback: Some("https://x/r".into()),
                },
                Heard::Leave,
                Heard::Hangup,
            ]
        );
        assert!(parse("<Response><Say>").is_err() || parse("<Response><Say>").unwrap().is_empty());
    }
}
