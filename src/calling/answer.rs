//! The agent's side of a ringing call: accept it (the call connects to them, and they hold its conversation
//! unless another agent already does), or decline it (it rings the next agent at once). Only the agent it rings
//! may do either; a call that stopped ringing for them (taken, missed, passed on) is refused with 409.

use crate::auth::Caller;
use crate::domain::call::CallState;
use crate::domain::RoutingState;
use crate::error::AppError;
use crate::store::calls::{self, Call};
use crate::store::routing::{self as db, Placement};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    NotAnAgent,
    /// The call rings someone else, or nobody: taken, passed on or ended.
    NotRingingYou,
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => AppError::not_found("call_not_found", "no call with this id"),
            Refusal::NotAnAgent => {
                AppError::unprocessable("not_an_agent", "an API token is nobody's agent and answers no call")
            }
            Refusal::NotRingingYou => AppError::conflict(
                "call_not_ringing_you",
                "this call does not ring you (any more): another agent took it, it was passed on, or it ended",
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<AnswerError> for AppError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Refused(r) => r.into(),
            AnswerError::Database(e) => e.into(),
        }
    }
}

impl From<Refusal> for AnswerError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

/// The call, locked, if it rings the caller now.
async fn ringing_me(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> Result<(Call, Uuid), AnswerError> {
    let me = caller.user_id.ok_or(Refusal::NotAnAgent)?;
    let call = calls::lock(conn, id).await?.ok_or(Refusal::NotFound)?;
    if call.state != CallState::Waiting || call.offered_to != Some(me) {
        return Err(Refusal::NotRingingYou.into());
    }
    Ok((call, me))
}

/// The agent takes the call: connected with them; their browser then joins the caller (the voice webhook
/// answers its leg with the call's Twilio queue) within `join_secs`, or the call rings the next agent.
pub async fn accept(conn: &mut PgConnection, caller: &Caller, id: Uuid, join_secs: u64) -> Result<(), AnswerError> {
    let (call, me) = ringing_me(conn, caller, id).await?;
    calls::connect(conn, call.id, me, join_secs).await?;
    let routable = db::lock_routable(conn, call.conversation_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let mut events = vec![("call_answered", json!({"call_id": call.id, "agent_id": me}))];
    // The agent holds the conversation from now on, when nobody (no agent, no AI agent) holds it and their
    // capacity allows (the call itself took no capacity while it rang).
    let free = routable.assignee_id.is_none() && routable.routing_state != RoutingState::Ai;
    if free && db::take_agent(conn, me, true).await? {
        events.push(("claimed", json!({"agent_id": me, "queue_id": call.queue_id})));
        let placement = Placement::Assigned { agent: me, queue: call.queue_id.or(routable.queue_id) };
        db::write_placement(conn, call.conversation_id, placement, None, &caller.actor, &events).await?;
    } else {
        for (kind, data) in events {
            db::record_event(conn, call.conversation_id, kind, &caller.actor, data).await?;
        }
    }
    Ok(())
}

/// The agent passes on the call: it rings the next agent.
pub async fn decline(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> Result<(), AnswerError> {
    let (call, me) = ringing_me(conn, caller, id).await?;
    let mut passed = call.passed_over.clone();
    passed.push(me);
    calls::offer(conn, call.id, None, &passed).await?;
    let data = json!({"call_id": call.id, "agent_id": me});
    db::record_event(conn, call.conversation_id, "call_declined", &caller.actor, data).await?;
    Ok(())
}
