//! During a call (the call bar): hold and resume, and transfer to a queue or an agent.
//!
//! Both move the customer's leg at Twilio: it is redirected back into the call's own Twilio queue
//! (`<Enqueue>`), whose wait URL plays the queue's hold music while the call is on hold. Resuming, the agent's
//! browser dequeues the customer again, exactly as after accepting. A transfer puts the call back to waiting for
//! its new queue or agent (and moves the conversation there too), so it rings them as a new call would. A call
//! the business placed (`<Dial><WhatsApp>` from the agent's leg) cannot be held or transferred yet.

use crate::auth::Caller;
use crate::domain::call::{CallState, Direction};
use crate::domain::routing::Target;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::calls::{self, Call, CallView};
use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// The caller's connected call, locked: theirs (a supervisor may act on anyone's), customer-initiated.
async fn mine(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> AppResult<Call> {
    let c =
        calls::lock(conn, id).await?.ok_or_else(|| AppError::not_found("call_not_found", "no call with this id"))?;
    let theirs = caller.user_id.is_some() && c.agent_id == caller.user_id;
    if !theirs && !caller.supervisor {
        return Err(AppError::not_found("call_not_found", "no call of yours with this id"));
    }
    if c.state != CallState::Connected {
        return Err(AppError::conflict("call_not_connected", "only a call in progress can be held or transferred"));
    }
    if c.direction == Direction::Outbound {
        return Err(AppError::conflict(
            "call_cannot_be_moved",
            "a call the business placed cannot be held or transferred: end it and call again",
        ));
    }
    Ok(c)
}

/// Gives the customer's leg the call's `<Enqueue>` again (held, or waiting for the transfer's target).
async fn back_to_queue(state: &AppState, c: &Call) -> AppResult<()> {
    let Some(sid) = c.call_sid.as_deref() else { return Ok(()) };
    let twiml = crate::twilio::twiml::render(&super::inbound::enqueue(state, c.channel_id, c, None));
    let (account, auth) = super::twilio_account(state, c.channel_id).await?;
    state.twilio.redirect_call(account.sandbox, &account.account_sid, &auth, sid, &twiml).await.map_err(|e| {
        AppError::client(StatusCode::BAD_GATEWAY, "twilio_error", format!("Twilio did not move the call: {e}"))
    })
}

/// Puts the customer on hold (`on`), or takes them off it: the agent's browser then joins again.
pub async fn hold(state: &AppState, caller: &Caller, id: Uuid, on: bool) -> AppResult<CallView> {
    let mut tx = state.pool.begin().await?;
    let c = mine(&mut tx, caller, id).await?;
    if c.on_hold != on {
        calls::set_hold(&mut tx, id, on, state.settings.routing.call_join_timeout_secs).await?;
        let kind = if on { "call_held" } else { "call_resumed" };
        super::record(&mut tx, &c, kind, json!({"call_id": id, "agent_id": c.agent_id})).await?;
        if on {
            // Moved at Twilio before the commit: if Twilio refuses, nothing changed here either.
            back_to_queue(state, &c).await?;
        }
    }
    tx.commit().await?;
    if !on {
        if let Some(agent) = c.agent_id {
            // An agent on a phone is called again; a browser joins by itself.
            super::phone::reach(state, id, agent).await?;
        }
    }
    view(state, id).await
}

/// Transfers the call to a queue or an agent: it waits again and rings them; the conversation goes with it.
pub async fn transfer(state: &AppState, caller: &Caller, id: Uuid, to: Target) -> AppResult<CallView> {
    let mut tx = state.pool.begin().await?;
    let c = mine(&mut tx, caller, id).await?;
    let (queue, agent) = match to {
        Target::Queue(q) => (Some(q), None),
        Target::Agent(a) => (c.queue_id, Some(a)),
        Target::AiAgent(_) => {
            return Err(AppError::invalid_field("ai_agent_id", "a call goes to people: a queue or an agent"))
        }
    };
    if agent.is_some() && agent == c.agent_id {
        return Err(AppError::invalid_field("agent_id", "the call is already with this agent"));
    }
    let cfg = state.routing.get(&mut tx).await?;
    if let Some(q) = queue.filter(|_| matches!(to, Target::Queue(_))) {
        if !cfg.serves(q).takes(crate::domain::routing::CommunicationType::Call) {
            return Err(AppError::unprocessable(
                "queue_serves_other_communication_type",
                "this queue takes messages only: choose one that takes calls",
            )
            .with_field("queue_id"));
        }
    }
    crate::routing::actions::transfer(&mut tx, &cfg, caller, c.conversation_id, to).await?;
    calls::requeue(&mut tx, id, queue, agent, &[]).await?;
    let data = json!({"call_id": id, "from_agent_id": c.agent_id, "queue_id": queue, "agent_id": agent});
    super::record(&mut tx, &c, "call_transferred", data).await?;
    back_to_queue(state, &c).await?;
    tx.commit().await?;
    state.call_wake.notify_one();
    view(state, id).await
}

async fn view(state: &AppState, id: Uuid) -> AppResult<CallView> {
    calls::view(&mut *state.pool.acquire().await?, id)
        .await?
        .ok_or_else(|| AppError::not_found("call_not_found", "no call with this id"))
}
