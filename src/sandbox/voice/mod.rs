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

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

mod inbound;
mod outbound;
mod twiml;

pub use inbound::{agent_joins, customer_calls};
pub use outbound::{agent_answers, agent_phone_answers, business_calls, customer_answers, Placed};
pub use twiml::{parse, Heard};

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

impl Cell {
    fn status_if_ringing(&self) {
        let mut i = self.info.lock().expect("info");
        if i.status == "ringing" {
            i.status = "queued";
        }
    }
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
