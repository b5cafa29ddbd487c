//! A customer's call in the sandbox: the voice webhook, the TwiML played, the queue's wait URL asked again and
//! again until an agent's browser (or phone) takes the caller, the `<Enqueue>`'s action, the status callback.

use super::{customer_leg, param, CallInfo, Calls, Cell, Heard, Twilio, MAX_HOLD};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// A customer calls the business: starts the call's driver and answers its SID.
pub fn customer_calls(calls: &Calls, t: Twilio, channel_id: Uuid, customer: &str, business: &str) -> String {
    let info = CallInfo {
        sid: crate::sandbox::new_sid("CA"),
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
        param("CallSid", crate::sandbox::new_sid("CA")),
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
