//! A customer's call to the business: arrival, waiting, leaving the queue, and the final status.
//!
//! Guarantees: a caller never hears silence (a queue without a waiting strategy has the built-in one); a
//! webhook Twilio repeats records nothing twice (the call's SID is unique, and an ended call stays ended); a
//! call that nobody took leaves a `call_missed` entry on its conversation, which then waits in the call's queue
//! for someone to call back.

use crate::channels::ChannelConfig;
use crate::domain::call::{CallState, Direction, Outcome};
use crate::domain::call_waiting::{self, Arrival, Hold, PAUSE_SECS};
use crate::domain::routing::CommunicationType;
use crate::domain::{mask, WhatsAppAddress};
use crate::error::{AppError, AppResult};
use crate::routing::config::RoutingConfig;
use crate::routing::hours_open;
use crate::routing::place;
use crate::routing::rules::{self, Decision, Env, NumberRouting, Target};
use crate::state::AppState;
use crate::store::calls::{self, Call, NewCall};
use crate::store::routing::{self as db, Placement};
use crate::twilio::twiml::{self, say_language, Verb};
use crate::twilio::voice_call::{CallStatus, Party, QueueResult, VoiceCall};
use crate::twilio::webhook::Form;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// The pause a caller hears while the agent who accepted their call is joining it.
const JOINING_PAUSE_SECS: u32 = 2;

/// Where a call waits, once routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// In this queue, open now.
    Queue(Uuid),
    /// For this agent (a rule named them).
    Agent(Uuid),
    /// For the number's agents: no rule and no default queue took it.
    Number,
    /// The queue (or, without one, the number) is closed now and routes nowhere else.
    Closed(Option<Uuid>),
}

impl Destination {
    fn queue(self) -> Option<Uuid> {
        match self {
            Self::Queue(q) | Self::Closed(Some(q)) => Some(q),
            _ => None,
        }
    }
}

/// Follows a routing decision for a call to where it waits: a closed queue passes it to its out-of-hours
/// target (a few hops at most) or closes; without a queue, the number's business hours decide.
pub fn destination(cfg: &RoutingConfig, number: Uuid, mut target: Option<Target>, now: Timestamp) -> Destination {
    let number_hours = cfg.numbers.get(&number).and_then(|n| n.business_hours_id);
    let number_open = || hours_open(&cfg.hours, number_hours, now);
    for _ in 0..4 {
        match target {
            Some(Target::Queue(id)) => {
                let Some(q) = cfg.queue(id) else { break };
                if hours_open(&cfg.hours, q.business_hours_id, now) {
                    return Destination::Queue(id);
                }
                match q.outside_hours_target {
                    Some(next) => target = Some(next),
                    None => return Destination::Closed(Some(id)),
                }
            }
            Some(Target::Agent(a)) if number_open() => return Destination::Agent(a),
            _ => break,
        }
    }
    if number_open() {
        Destination::Number
    } else {
        Destination::Closed(None)
    }
}

/// Where a call from the customer of `r` (their conversation, locked) goes: the order of assignment as for a
/// call (rules, then the default queue, honouring what queues serve; never an AI agent), then business hours.
fn route(cfg: &RoutingConfig, r: &crate::store::routing::Routable, now: Timestamp) -> Destination {
    let mut facts = place::facts(r, cfg);
    facts.communication_type = CommunicationType::Call;
    let env = Env { now, hours: &cfg.hours };
    let routing: NumberRouting = cfg.numbers.get(&r.number_id).map(|n| n.routing).unwrap_or_default();
    let rules = cfg.rules_for(r.channel_id);
    let (Decision { target, .. }, _) =
        rules::decide(&rules, &facts, routing, r.ai_done, &|q| cfg.serves(q), &env, false);
    destination(cfg, r.number_id, target, now)
}

/// The voice webhook: a call arrives. Answers the TwiML the caller hears first.
#[tracing::instrument(skip_all, fields(channel = %channel.id, call_sid))]
pub async fn arrive(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<String> {
    let call = voice_call(channel, form)?;
    tracing::Span::current().record("call_sid", call.call_sid.as_str());
    if let Party::Client(identity) = &call.from {
        return agent_leg(state, channel, identity, form).await;
    }
    let (Party::WhatsApp(WhatsAppAddress::Phone(customer)), Some(WhatsAppAddress::Phone(business))) =
        (&call.from, &call.to)
    else {
        return Err(AppError::unprocessable(
            "invalid_address",
            "a WhatsApp call comes from the customer's number to the business's number",
        ));
    };
    let Some(number) = channel.number(business) else {
        return Err(AppError::unprocessable(
            "unknown_number",
            format!("the To number {business} is not a WhatsApp number of this channel: add it to the channel"),
        ));
    };
    if !number.supports_calling {
        tracing::info!(number = %number.id, "call to a number that does not take calls refused");
        return Ok(twiml::render(&[Verb::Reject]));
    }
    let language = number.language.as_deref();
    let mut tx = state.pool.begin().await?;
    let cfg = state.routing.get(&mut tx).await?;
    let contact = crate::store::contacts::find_or_create(&mut tx, customer.as_str()).await?;
    let (conversation, new) = calls::conversation_for_call(&mut tx, channel.id, number.id, contact).await?;
    let routable = db::lock_routable(&mut tx, conversation).await?.ok_or(sqlx::Error::RowNotFound)?;
    if routable.blocked {
        // A blocked contact's call is not taken (their messages are stored, but offered to nobody).
        tx.rollback().await?;
        tracing::info!(number = %number.id, "call from a blocked contact refused");
        return Ok(twiml::render(&[Verb::Reject]));
    }
    let to = route(&cfg, &routable, Timestamp::now());
    let strategy = cfg.waiting_strategy(to.queue());
    let open = !matches!(to, Destination::Closed(_));
    let (state_now, outcome) =
        if open { (CallState::Waiting, None) } else { (CallState::Ended, Some(Outcome::Closed)) };
    // A call from the call button an agent sent rings that agent first (then the queue's agents).
    let button = if open { calls::button_sender(&mut tx, conversation).await? } else { None };
    let agent = if let Destination::Agent(a) = to { Some(a) } else { button };
    let new_call = NewCall {
        call_sid: call.call_sid.as_str(),
        channel_id: channel.id,
        number_id: number.id,
        contact_id: contact,
        conversation_id: conversation,
        direction: Direction::Inbound,
        state: state_now,
        outcome,
        queue_id: to.queue(),
        agent_id: agent,
    };
    let Some(recorded) = calls::insert(&mut tx, &new_call).await? else {
        // Twilio asked again about a call already recorded: answer as the call stands.
        let existing = calls::lock_by_sid(&mut tx, channel.id, call.call_sid.as_str()).await?;
        tx.rollback().await?;
        return Ok(match existing {
            Some(c) if c.state == CallState::Waiting => twiml::render(&enqueue(state, channel.id, &c, None)),
            _ => twiml::render(&[Verb::Hangup]),
        });
    };
    let actor = crate::routing::system_actor();
    let event =
        json!({"call_id": recorded.id, "direction": Direction::Inbound, "queue_id": to.queue(), "agent_id": agent});
    let mut events: place::Events = vec![("call_incoming", event)];
    if !open {
        events.push(("call_missed", json!({"call_id": recorded.id, "reason": "closed", "queue_id": to.queue()})));
    }
    if new {
        // A conversation the call started waits where the call waits: the agent who takes the call holds it,
        // and a missed call leaves it there for someone to call back.
        let placement = match to {
            Destination::Queue(q) | Destination::Closed(Some(q)) => Placement::Waiting { queue: Some(q), agent: None },
            Destination::Agent(a) => Placement::Waiting { queue: None, agent: Some(a) },
            Destination::Number | Destination::Closed(None) => Placement::Unowned,
        };
        place::settle(&mut tx, conversation, placement, None, &actor, events).await?;
    } else {
        for (kind, data) in events {
            crate::store::routing::record_event(&mut tx, conversation, kind, &actor, data).await?;
        }
    }
    tx.commit().await?;
    state.call_wake.notify_one();
    tracing::info!(call = %recorded.id, %conversation, from = %mask::phone(customer.as_str()), ?to, "call arrived");
    let say = |text: String| Verb::Say { text, language: say_language(language) };
    Ok(match call_waiting::arrival(&strategy, language, open) {
        Arrival::Wait { greeting } => twiml::render(&enqueue(state, channel.id, &recorded, Some(say(greeting)))),
        Arrival::Closed { message } => twiml::render(&[say(message), Verb::Hangup]),
    })
}

/// An agent's browser joins the call they accepted (the Voice SDK's `connect` with the call's id as the `call`
/// parameter): connected to the caller waiting in the call's Twilio queue. Any other call, or another agent's,
/// hears that it cannot be joined.
async fn agent_leg(state: &AppState, channel: &ChannelConfig, identity: &str, form: &Form) -> AppResult<String> {
    let agent = identity.parse::<Uuid>().ok();
    let call_id = form.non_empty("call").and_then(|c| c.parse::<Uuid>().ok());
    let mut conn = state.pool.acquire().await?;
    let call = match call_id {
        Some(id) => calls::find_on(&mut conn, channel.id, id).await?,
        None => None,
    };
    Ok(match call {
        Some(c) if c.state == CallState::Connected && c.agent_id.is_some() && c.agent_id == agent => {
            calls::joined(&mut conn, c.id).await?;
            twiml::render(&[Verb::DialQueue { name: twilio_queue_name(c.id) }])
        }
        _ => {
            tracing::warn!(identity, "an agent's browser asked to join a call that is not theirs");
            let text = "This call cannot be joined: it is not connected to you.".to_owned();
            twiml::render(&[Verb::Say { text, language: None }, Verb::Hangup])
        }
    })
}

/// An agent's phone picked up (`/voice/phone/{call}`, see `calling::phone`): connected to the caller waiting in
/// the call's Twilio queue, if the call is connected to the agent whose phone this is.
#[tracing::instrument(skip_all, fields(channel = %channel.id, call = %call_id))]
pub async fn agent_phone(state: &AppState, channel: &ChannelConfig, call_id: Uuid, form: &Form) -> AppResult<String> {
    let leg = voice_call(channel, form)?;
    let phone = form.non_empty("To").map(|t| t.trim_start_matches("tel:").to_owned());
    let mut conn = state.pool.acquire().await?;
    let call = calls::find_on(&mut conn, channel.id, call_id).await?;
    let owner_phone = match call.as_ref().and_then(|c| c.agent_id) {
        Some(agent) => calls::agent_phone(&mut conn, agent).await?,
        None => None,
    };
    Ok(match call {
        Some(c) if c.state == CallState::Connected && owner_phone.is_some() && owner_phone == phone => {
            calls::joined(&mut conn, c.id).await?;
            tracing::info!(call_sid = leg.call_sid.as_str(), "the agent's phone joined the call");
            twiml::render(&[Verb::DialQueue { name: twilio_queue_name(c.id) }])
        }
        _ => {
            let text = "This call cannot be joined: it is not connected to you.".to_owned();
            twiml::render(&[Verb::Say { text, language: None }, Verb::Hangup])
        }
    })
}

/// The greeting (if any) and `<Enqueue>` into the call's own Twilio queue, from which the agent who takes it
/// dequeues exactly this caller.
pub(super) fn enqueue(state: &AppState, channel: Uuid, call: &Call, greeting: Option<Verb>) -> Vec<Verb> {
    let base = crate::channels::voice_webhook_url(&state.public_base_url, channel);
    let mut verbs: Vec<Verb> = greeting.into_iter().collect();
    verbs.push(Verb::Enqueue {
        name: twilio_queue_name(call.id),
        wait_url: format!("{base}/wait"),
        action: format!("{base}/left"),
    });
    verbs
}

/// The Twilio queue a call waits in: one per call (Twilio creates it on `<Enqueue>`).
pub fn twilio_queue_name(call: Uuid) -> String {
    format!("call-{call}")
}

/// The wait URL: what a waiting caller hears next, or that they leave the queue (the maximum wait passed).
#[tracing::instrument(skip_all, fields(channel = %channel.id, call_sid))]
pub async fn wait(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<String> {
    let call = voice_call(channel, form)?;
    tracing::Span::current().record("call_sid", call.call_sid.as_str());
    let mut tx = state.pool.begin().await?;
    let Some(c) = calls::lock_by_sid(&mut tx, channel.id, call.call_sid.as_str()).await? else {
        return Err(unknown_call());
    };
    match c.state {
        CallState::Waiting => {}
        // On hold: the queue's hold music (or its waiting message and a pause) until the agent takes them again.
        CallState::Connected if c.on_hold => {
            let strategy = state.routing.get(&mut tx).await?.waiting_strategy(c.queue_id);
            let language = caller_language(channel, &c);
            let hold = call_waiting::hold(&strategy, language, 0, None, None);
            tx.commit().await?;
            let verbs = match hold {
                Hold::On { music: Some(url), .. } => vec![Verb::Play { url: url.to_string() }],
                Hold::On { message, .. } => {
                    vec![
                        Verb::Say { text: message, language: say_language(language) },
                        Verb::Pause { secs: PAUSE_SECS },
                    ]
                }
                Hold::GiveUp { .. } => vec![Verb::Pause { secs: PAUSE_SECS }],
            };
            return Ok(twiml::render(&verbs));
        }
        // An agent accepted it and their browser is joining: the caller holds on in silence a moment longer.
        CallState::Connected => return Ok(twiml::render(&[Verb::Pause { secs: JOINING_PAUSE_SECS }])),
        // A call the business placed never waits in a queue.
        CallState::Ended | CallState::Dialing => return Ok(twiml::render(&[Verb::Leave])),
    }
    let language = caller_language(channel, &c);
    let strategy = state.routing.get(&mut tx).await?.waiting_strategy(c.queue_id);
    let waited = call.queue_time.unwrap_or_else(|| waited_secs(&c));
    let position = calls::position(&mut tx, &c).await?;
    let said_at = c.position_said_at.map(|s| s.max(0) as u32);
    let hold = call_waiting::hold(&strategy, language, waited, Some(position as u32), said_at);
    let say = |text: String| Verb::Say { text, language: say_language(language) };
    let verbs = match hold {
        Hold::GiveUp { .. } => vec![Verb::Leave],
        Hold::On { announcement, message, music } => {
            let mut verbs = Vec::new();
            if let Some(a) = announcement {
                calls::position_said(&mut tx, c.id, waited).await?;
                verbs.push(say(a));
            }
            verbs.push(say(message));
            verbs.push(match music {
                Some(url) => Verb::Play { url: url.to_string() },
                None => Verb::Pause { secs: PAUSE_SECS },
            });
            verbs
        }
    };
    tx.commit().await?;
    Ok(twiml::render(&verbs))
}

/// The `<Enqueue>`'s action: the caller left the queue. Taken by an agent (`bridged`): nothing more to say.
/// The maximum wait passed (`leave`): its message, and the call ends as missed. The caller hung up while
/// waiting (`hangup`): missed. Either way the conversation keeps a `call_missed` entry.
#[tracing::instrument(skip_all, fields(channel = %channel.id, call_sid))]
pub async fn left(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<String> {
    let call = voice_call(channel, form)?;
    tracing::Span::current().record("call_sid", call.call_sid.as_str());
    let mut tx = state.pool.begin().await?;
    let Some(c) = calls::lock_by_sid(&mut tx, channel.id, call.call_sid.as_str()).await? else {
        return Err(unknown_call());
    };
    let left = call.queue_result.unwrap_or(QueueResult::Gone);
    // Taken by an agent, or moved on purpose (on hold, transferred): nothing ends here.
    if matches!(left, QueueResult::Bridged | QueueResult::Redirected) {
        tx.commit().await?;
        return Ok(twiml::render(&[]));
    }
    let waited = call.queue_time.unwrap_or_else(|| waited_secs(&c));
    let reason = if left == QueueResult::Left { "max_wait" } else { "hung_up" };
    missed(&mut tx, &c, reason, waited).await?;
    if left != QueueResult::Left {
        tx.commit().await?;
        return Ok(twiml::render(&[Verb::Hangup]));
    }
    let strategy = state.routing.get(&mut tx).await?.waiting_strategy(c.queue_id);
    tx.commit().await?;
    let language = caller_language(channel, &c);
    let message = call_waiting::max_wait_message(&strategy, language);
    Ok(twiml::render(&[Verb::Say { text: message, language: say_language(language) }, Verb::Hangup]))
}

/// The status callback: how the call ended. A call still waiting when it ends was missed.
#[tracing::instrument(skip_all, fields(channel = %channel.id, call_sid))]
pub async fn status(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<()> {
    let call = voice_call(channel, form)?;
    tracing::Span::current().record("call_sid", call.call_sid.as_str());
    if call.status == CallStatus::Going {
        return Ok(());
    }
    let mut tx = state.pool.begin().await?;
    let Some(c) = calls::lock_by_sid(&mut tx, channel.id, call.call_sid.as_str()).await? else {
        // A call this server never answered (another application's): nothing to record.
        return Ok(());
    };
    match c.state {
        CallState::Ended => {}
        CallState::Waiting if call.status == CallStatus::Failed => {
            calls::end(&mut tx, c.id, Outcome::Failed).await?;
        }
        CallState::Waiting => missed(&mut tx, &c, "hung_up", waited_secs(&c)).await?,
        // The agent's leg of a call the business placed ended before the customer was reached (the `<Dial>`'s
        // action ends it first when they were): the agent did not answer, or Twilio could not place it.
        CallState::Dialing => {
            if calls::end(&mut tx, c.id, Outcome::Failed).await? {
                let data = json!({"call_id": c.id, "agent_id": c.agent_id, "reason": "agent_leg_ended"});
                super::record(&mut tx, &c, "call_failed", data).await?;
            }
        }
        CallState::Connected => {
            calls::end(&mut tx, c.id, Outcome::Answered).await?;
            let data = json!({"call_id": c.id, "agent_id": c.agent_id, "duration_secs": call.duration});
            super::record(&mut tx, &c, "call_ended", data).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Ends a waiting call as missed, with its timeline entry; the conversation stays (or is put back) in the
/// call's queue for someone to call back.
async fn missed(conn: &mut PgConnection, c: &Call, reason: &str, waited: u32) -> sqlx::Result<()> {
    if !calls::end(conn, c.id, Outcome::Missed).await? {
        return Ok(());
    }
    let data = json!({"call_id": c.id, "reason": reason, "waited_secs": waited, "queue_id": c.queue_id});
    super::record(conn, c, "call_missed", data).await
}

/// The language the call's caller hears: its number's.
fn caller_language<'c>(channel: &'c ChannelConfig, c: &Call) -> Option<&'c str> {
    channel.number_by_id(c.number_id).and_then(|n| n.language.as_deref())
}

fn waited_secs(c: &Call) -> u32 {
    (time::OffsetDateTime::now_utc() - c.created_at).whole_seconds().clamp(0, u32::MAX as i64) as u32
}

pub(super) fn unknown_call() -> AppError {
    AppError::client(StatusCode::NOT_FOUND, "call_not_found", "no call with this CallSid arrived on this channel")
}

/// The webhook's call, from the channel's own account.
pub(super) fn voice_call(channel: &ChannelConfig, form: &Form) -> AppResult<VoiceCall> {
    let call = VoiceCall::try_from(form).map_err(|e| AppError::bad_request(e.code(), e.to_string()))?;
    if call.account_sid != channel.account_sid {
        return Err(AppError::forbidden(
            "account_mismatch",
            "the AccountSid of this request is not the account of this channel",
        ));
    }
    Ok(call)
}
