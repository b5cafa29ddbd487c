//! A call the business places in the sandbox (`Calls.json`): the agent's browser rings (or their phone answers at
//! once), then its `<Dial><WhatsApp>` rings the customer's phone page; the `<WhatsApp>`'s status callback and the
//! `<Dial>`'s action follow as Twilio sends them.

use super::{customer_leg, param, parse, CallInfo, Calls, Cell, Heard, Twilio, RING_FOR};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

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
        sid: crate::sandbox::new_sid("CA"),
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
    let sid = crate::sandbox::new_sid("CA");
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
                p[2] = param("CallSid", crate::sandbox::new_sid("CA"));
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
