//! What people (and the AI agent) do to a conversation's ownership: claim, assign, transfer, unassign, hand over,
//! resolve, reopen, change priority. Each runs in the caller's transaction with the conversation's row locked,
//! takes agents under the same capacity guard as the router, writes its timeline event, and wakes the routers
//! when it frees capacity. The SQL is in `store::routing`; refusals are the crate's `AppError` with stable codes.

use super::config::RoutingConfig;
use super::place::{self, Members, Seeker};
use super::rules::Target;
pub use crate::auth::Caller;
use crate::domain::{conversation, ConversationStatus, RoutingState};
use crate::error::{AppError, AppResult};
use crate::store::routing::{self as db, Placement, Routable};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::conflict(code, message)
}

/// The conversation, locked. Visibility has been checked by the caller.
async fn lock(conn: &mut PgConnection, id: Uuid) -> AppResult<Routable> {
    db::lock_routable(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation_not_found", "no conversation with this id that you can see"))
}

fn open_only(status: ConversationStatus) -> AppResult<()> {
    if status == ConversationStatus::Resolved {
        return Err(conflict("conversation_resolved", "the conversation is resolved; reopen it first"));
    }
    Ok(())
}

fn not_with_ai(r: &Routable) -> AppResult<()> {
    if r.routing_state == RoutingState::Ai {
        return Err(conflict(
            "owned_by_ai_agent",
            "the AI agent owns this conversation; hand it over first (POST /conversations/{id}/handover)",
        ));
    }
    Ok(())
}

/// Gives `agent` one more conversation, whatever their presence (a person decided), never over capacity.
async fn take(conn: &mut PgConnection, agent: Uuid) -> AppResult<()> {
    if db::take_agent(conn, agent, true).await? {
        Ok(())
    } else {
        Err(conflict("agent_at_capacity", "the agent already holds as many conversations as their capacity allows")
            .with_details(json!({ "agent_id": agent })))
    }
}

/// The caller takes the conversation for themselves (from its queue, or unowned from their number).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn claim(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> AppResult<()> {
    let me = caller.user_id.ok_or_else(|| {
        AppError::unprocessable(
            "not_an_agent",
            "an API token is nobody's agent; assign the conversation to an agent instead",
        )
    })?;
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    not_with_ai(&r)?;
    match r.assignee_id {
        Some(a) if a == me => return Ok(()),
        Some(a) => {
            return Err(conflict("already_assigned", "another agent holds this conversation")
                .with_details(json!({ "assignee_id": a })))
        }
        None => {}
    }
    if !caller.supervisor && !db::may_take_from(conn, me, r.id, r.queue_id, r.number_id).await? {
        return Err(AppError::forbidden(
            "not_your_queue",
            "you are not a member of this conversation's queue or number",
        ));
    }
    take(conn, me).await?;
    let claimed = [("claimed", json!({ "agent_id": me, "queue_id": r.queue_id }))];
    db::write_placement(conn, id, Placement::Assigned { agent: me, queue: r.queue_id }, None, &caller.actor, &claimed)
        .await?;
    Ok(())
}

async fn must_be_agent(conn: &mut PgConnection, agent: Uuid, field: &str) -> AppResult<()> {
    crate::refs::agents(conn, &[agent], field).await
}

/// Gives the conversation to `agent` (a supervisor's decision).
#[tracing::instrument(skip_all, fields(conversation = %id, agent = %agent))]
pub async fn assign(conn: &mut PgConnection, caller: &Caller, id: Uuid, agent: Uuid) -> AppResult<()> {
    if !caller.supervisor {
        return Err(AppError::forbidden(
            "forbidden",
            "assigning to someone needs the supervisor role; claim it for yourself instead",
        ));
    }
    must_be_agent(conn, agent, "agent_id").await?;
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    if r.assignee_id == Some(agent) {
        return Ok(());
    }
    take(conn, agent).await?;
    let assigned =
        [("assigned", json!({ "agent_id": agent, "from_agent_id": r.assignee_id, "from": r.routing_state }))];
    db::write_placement(conn, id, Placement::Assigned { agent, queue: r.queue_id }, None, &caller.actor, &assigned)
        .await?;
    if r.assignee_id.is_some() {
        db::wake_routers(conn).await?;
    }
    Ok(())
}

/// Only the agent holding a conversation (or a supervisor) passes it on.
fn holder_or_supervisor(caller: &Caller, r: &Routable) -> AppResult<()> {
    if caller.supervisor || (r.assignee_id.is_some() && r.assignee_id == caller.user_id) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "not_your_conversation",
            "only the agent holding this conversation or a supervisor may do this",
        ))
    }
}

/// Passes the conversation to a queue (where the queue's selection takes over, never back to the agent
/// passing it on) or to an agent.
#[tracing::instrument(skip_all, fields(conversation = %id, to = to.kind()))]
pub async fn transfer(
    conn: &mut PgConnection,
    cfg: &RoutingConfig,
    caller: &Caller,
    id: Uuid,
    to: Target,
) -> AppResult<()> {
    match to {
        Target::Queue(q) => crate::refs::queue(conn, q, "queue_id").await?,
        Target::Agent(a) => must_be_agent(conn, a, "agent_id").await?,
        Target::AiAgent => {}
    }
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    holder_or_supervisor(caller, &r)?;
    let transferred =
        json!({"from_agent_id": r.assignee_id, "from_queue_id": r.queue_id, "to": place::target_json(to)});
    let mut events = vec![("transferred", transferred)];
    let placement = match to {
        Target::Agent(a) if r.assignee_id == Some(a) => return Ok(()),
        Target::Agent(a) => {
            take(conn, a).await?;
            Placement::Assigned { agent: a, queue: r.queue_id }
        }
        target => {
            let seeker = Seeker { language: r.language.as_deref(), last_agent: None, exclude: r.assignee_id };
            place::follow(conn, cfg, &mut Members::default(), Some(target), seeker, &mut events).await?
        }
    };
    place::settle(conn, id, placement, None, &caller.actor, events).await?;
    db::wake_routers(conn).await?;
    Ok(())
}

/// The agent lets go: the conversation waits in its queue again (or has no owner if it had no queue).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn unassign(conn: &mut PgConnection, cfg: &RoutingConfig, caller: &Caller, id: Uuid) -> AppResult<()> {
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    let Some(agent) = r.assignee_id else {
        return Err(conflict("not_assigned", "the conversation is not assigned to anyone"));
    };
    holder_or_supervisor(caller, &r)?;
    let placement = match r.queue_id.filter(|q| cfg.queue(*q).is_some()) {
        Some(q) => Placement::Waiting { queue: Some(q), agent: None },
        None => Placement::Unowned,
    };
    let unassigned = vec![("unassigned", json!({ "agent_id": agent }))];
    place::settle(conn, id, placement, None, &caller.actor, unassigned).await?;
    db::wake_routers(conn).await?;
    Ok(())
}

/// The AI agent hands the conversation to humans: to the given target, or through the order of assignment
/// without the AI agent (rules targeting it no longer apply).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn handover(
    conn: &mut PgConnection,
    cfg: &RoutingConfig,
    caller: &Caller,
    id: Uuid,
    to: Option<Target>,
    note: Option<&str>,
) -> AppResult<()> {
    if !caller.supervisor {
        return Err(AppError::forbidden("forbidden", "a hand-over is made by the AI agent or a supervisor"));
    }
    match to {
        Some(Target::Queue(q)) => crate::refs::queue(conn, q, "queue_id").await?,
        Some(Target::Agent(a)) => must_be_agent(conn, a, "agent_id").await?,
        _ => {}
    }
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    if r.routing_state != RoutingState::Ai {
        return Err(conflict("not_with_ai_agent", "the AI agent does not own this conversation"));
    }
    db::mark_ai_done(conn, id).await?;
    let handed_over = ("handed_over", json!({ "to": to.map(place::target_json), "note": note }));
    let mut members = Members::default();
    match to {
        Some(target) => {
            let seeker = Seeker { language: r.language.as_deref(), last_agent: r.last_agent_id, exclude: None };
            let mut events = vec![handed_over];
            let placement = place::follow(conn, cfg, &mut members, Some(target), seeker, &mut events).await?;
            place::settle(conn, id, placement, None, &caller.actor, events).await?;
        }
        None => {
            let r = Routable { ai_done: true, ..r };
            place::route(conn, cfg, &mut members, &r, &caller.actor, vec![handed_over]).await?;
        }
    }
    Ok(())
}

/// Resolves the conversation: its agent's capacity frees (the next customer's message opens a new one).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn resolve(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> AppResult<()> {
    let r = lock(conn, id).await?;
    if r.status == ConversationStatus::Resolved {
        return Ok(());
    }
    db::mark_resolved(conn, id).await?;
    db::record_event(conn, id, "resolved", &caller.actor, json!({})).await?;
    db::wake_routers(conn).await?;
    Ok(())
}

/// Reopens a resolved conversation: back to its last agent if they have room, otherwise routed again. Refused
/// when the customer already has another open conversation on the number.
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn reopen(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> AppResult<bool> {
    let r = lock(conn, id).await?;
    if r.status != ConversationStatus::Resolved {
        return Ok(false);
    }
    if let Some(other) = db::other_open(conn, id, r.number_id, r.contact_id).await? {
        return Err(conflict("conversation_already_open", "the customer has another open conversation on this number")
            .with_details(json!({ "conversation_id": other })));
    }
    let keeps = match r.assignee_id {
        Some(a) => db::take_agent(conn, a, true).await?,
        None => false,
    };
    db::mark_reopened(conn, id, keeps).await.map_err(|e| match crate::store::violated_constraint(&e) {
        Some("conversations_active_key") => {
            conflict("conversation_already_open", "the customer has another open conversation on this number")
        }
        _ => e.into(),
    })?;
    db::record_event(
        conn,
        id,
        "reopened",
        &caller.actor,
        json!({ "agent_id": if keeps { r.assignee_id } else { None } }),
    )
    .await?;
    Ok(!keeps)
}

/// A conversation's priority is from -1000 to 1000.
pub fn check_priority(priority: i32) -> AppResult<()> {
    if conversation::PRIORITY.contains(&priority) {
        Ok(())
    } else {
        Err(AppError::invalid_field("priority", "priority must be from -1000 to 1000"))
    }
}

/// Changes the conversation's priority (higher is offered first while it waits).
#[tracing::instrument(skip_all, fields(conversation = %id, priority))]
pub async fn set_priority(conn: &mut PgConnection, caller: &Caller, id: Uuid, priority: i32) -> AppResult<()> {
    check_priority(priority)?;
    lock(conn, id).await?;
    let before = db::set_priority(conn, id, priority).await?;
    if before != priority {
        db::record_event(conn, id, "priority_changed", &caller.actor, json!({ "from": before, "to": priority }))
            .await?;
    }
    Ok(())
}

/// Moves an unresolved conversation between `open` and `pending` (waiting on the customer or a third party).
/// Resolving and reopening are their own actions.
#[tracing::instrument(skip_all, fields(conversation = %id, %status))]
pub async fn set_status(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    status: ConversationStatus,
) -> AppResult<()> {
    if status == ConversationStatus::Resolved {
        return Err(AppError::invalid_field(
            "status",
            "status must be open or pending (resolve and reopen have their own actions)",
        ));
    }
    let current = lock(conn, id).await?;
    open_only(current.status)?;
    if current.status != status {
        db::set_status(conn, id, status).await?;
        db::record_event(conn, id, "status_changed", &caller.actor, json!({ "from": current.status, "to": status }))
            .await?;
    }
    Ok(())
}
