//! What people (and the AI agent) do to a conversation's ownership: claim, assign, transfer, unassign, hand over,
//! resolve, reopen, change priority. Each runs in the caller's transaction with the conversation's row locked,
//! takes agents under the same capacity guard as the router, writes its timeline event, and wakes the routers
//! when it frees capacity. The SQL is in `store::routing`. A refusal is a [`Refusal`]; the API answers it as a
//! 4xx with a stable code (`From<ActionError> for AppError`, below).

use super::config::RoutingConfig;
use super::place::{self, Members, Seeker};
use super::rules::Target;
pub use crate::auth::Caller;
use crate::domain::ai::HandoverReason;
use crate::domain::{conversation, ConversationStatus, RoutingState};
use crate::error::AppError;
use crate::refs::RefError;
use crate::store::routing::{self as db, Placement, Routable};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such conversation (that the caller may see).
    NotFound,
    Resolved,
    OwnedByAiAgent,
    NotWithAiAgent,
    AgentAtCapacity {
        agent: Uuid,
    },
    AlreadyAssigned {
        assignee: Uuid,
    },
    NotAssigned,
    /// An API token is nobody's agent.
    NotAnAgent,
    NotYourQueue,
    NotYourConversation,
    /// The action is a supervisor's (the reason says which and what to do instead).
    SupervisorOnly(&'static str),
    /// The queue receives the other communication type (a call sent to a `messages` queue, a chat to a `calls`
    /// queue).
    QueueServesOther {
        serves: crate::domain::routing::Serves,
    },
    /// The customer has another open conversation on the number.
    AlreadyOpen {
        other: Option<Uuid>,
    },
    Invalid {
        field: String,
        message: String,
    },
    /// An id the caller named cannot be used.
    UnknownReference {
        field: String,
        message: String,
    },
}

/// Why an action did not happen: refused, or the database failed (the transaction is then rolled back).
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type ActionResult<T> = Result<T, ActionError>;

impl From<Refusal> for ActionError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl From<RefError> for ActionError {
    fn from(e: RefError) -> Self {
        match e {
            RefError::Unknown { field, message } => Self::Refused(Refusal::UnknownReference { field, message }),
            RefError::TooMany { field, message } => Self::Refused(Refusal::Invalid { field, message }),
            RefError::Database(e) => Self::Database(e),
        }
    }
}

impl From<ActionError> for AppError {
    fn from(e: ActionError) -> Self {
        let r = match e {
            ActionError::Refused(r) => r,
            ActionError::Database(e) => return e.into(),
        };
        match r {
            Refusal::NotFound => {
                AppError::not_found("conversation_not_found", "no conversation with this id that you can see")
            }
            Refusal::Resolved => {
                AppError::conflict("conversation_resolved", "the conversation is resolved; reopen it first")
            }
            Refusal::OwnedByAiAgent => AppError::conflict(
                "owned_by_ai_agent",
                "the AI agent owns this conversation; hand it over first (POST /conversations/{id}/handover)",
            ),
            Refusal::NotWithAiAgent => {
                AppError::conflict("not_with_ai_agent", "the AI agent does not own this conversation")
            }
            Refusal::AgentAtCapacity { agent } => AppError::conflict(
                "agent_at_capacity",
                "the agent already holds as many conversations as their capacity allows",
            )
            .with_details(json!({ "agent_id": agent })),
            Refusal::AlreadyAssigned { assignee } => {
                AppError::conflict("already_assigned", "another agent holds this conversation")
                    .with_details(json!({ "assignee_id": assignee }))
            }
            Refusal::NotAssigned => AppError::conflict("not_assigned", "the conversation is not assigned to anyone"),
            Refusal::NotAnAgent => AppError::unprocessable(
                "not_an_agent",
                "an API token is nobody's agent; assign the conversation to an agent instead",
            ),
            Refusal::NotYourQueue => {
                AppError::forbidden("not_your_queue", "you are not a member of this conversation's queue or number")
            }
            Refusal::NotYourConversation => AppError::forbidden(
                "not_your_conversation",
                "only the agent holding this conversation or a supervisor may do this",
            ),
            Refusal::SupervisorOnly(why) => AppError::forbidden("forbidden", why),
            Refusal::AlreadyOpen { other } => AppError::conflict(
                "conversation_already_open",
                "the customer has another open conversation on this number",
            )
            .with_details(json!({ "conversation_id": other })),
            Refusal::QueueServesOther { serves } => AppError::unprocessable(
                "queue_serves_other_communication_type",
                format!("the queue receives {} only; this conversation cannot be placed in it", serves.as_str()),
            )
            .with_field("queue_id"),
            Refusal::Invalid { field, message } => AppError::invalid_field(&field, message),
            Refusal::UnknownReference { field, message } => {
                AppError::unprocessable("unknown_reference", message).with_field(&field)
            }
        }
    }
}

/// The conversation, locked. Visibility has been checked by the caller.
async fn lock(conn: &mut PgConnection, id: Uuid) -> ActionResult<Routable> {
    Ok(db::lock_routable(conn, id).await?.ok_or(Refusal::NotFound)?)
}

/// A queue only receives the communication types it serves.
fn fits(cfg: &RoutingConfig, r: &Routable, to: Option<Target>) -> Result<(), Refusal> {
    match to {
        Some(Target::Queue(q)) if !cfg.serves(q).takes(r.communication_type) => {
            Err(Refusal::QueueServesOther { serves: cfg.serves(q) })
        }
        _ => Ok(()),
    }
}

fn open_only(status: ConversationStatus) -> Result<(), Refusal> {
    if status == ConversationStatus::Resolved {
        return Err(Refusal::Resolved);
    }
    Ok(())
}

fn not_with_ai(r: &Routable) -> Result<(), Refusal> {
    if r.routing_state == RoutingState::Ai {
        return Err(Refusal::OwnedByAiAgent);
    }
    Ok(())
}

/// Gives `agent` one more conversation, whatever their presence (a person decided), never over capacity.
async fn take(conn: &mut PgConnection, agent: Uuid) -> ActionResult<()> {
    if db::take_agent(conn, agent, true).await? {
        Ok(())
    } else {
        Err(Refusal::AgentAtCapacity { agent }.into())
    }
}

/// The caller takes the conversation for themselves (from its queue, or unowned from their number).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn claim(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> ActionResult<()> {
    let me = caller.user_id.ok_or(Refusal::NotAnAgent)?;
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    not_with_ai(&r)?;
    match r.assignee_id {
        Some(a) if a == me => return Ok(()),
        Some(a) => return Err(Refusal::AlreadyAssigned { assignee: a }.into()),
        None => {}
    }
    if !caller.supervisor && !db::may_take_from(conn, me, r.id, r.queue_id, r.number_id).await? {
        return Err(Refusal::NotYourQueue.into());
    }
    take(conn, me).await?;
    let claimed = [("claimed", json!({ "agent_id": me, "queue_id": r.queue_id }))];
    db::write_placement(conn, id, Placement::Assigned { agent: me, queue: r.queue_id }, None, &caller.actor, &claimed)
        .await?;
    Ok(())
}

async fn must_be_agent(conn: &mut PgConnection, agent: Uuid, field: &str) -> ActionResult<()> {
    Ok(crate::refs::agents(conn, &[agent], field).await?)
}

/// Gives the conversation to `agent` (a supervisor's decision).
#[tracing::instrument(skip_all, fields(conversation = %id, agent = %agent))]
pub async fn assign(conn: &mut PgConnection, caller: &Caller, id: Uuid, agent: Uuid) -> ActionResult<()> {
    if !caller.supervisor {
        return Err(Refusal::SupervisorOnly(
            "assigning to someone needs the supervisor role; claim it for yourself instead",
        )
        .into());
    }
    must_be_agent(conn, agent, "agent_id").await?;
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    if r.assignee_id == Some(agent) {
        return Ok(());
    }
    take(conn, agent).await?;
    let mut events = Vec::with_capacity(2);
    if r.routing_state == RoutingState::Ai {
        // A supervisor taking it from the AI agent: a hand-over.
        events.push((
            "handed_over",
            json!({ "to": place::target_json(Target::Agent(agent)), "reason": HandoverReason::TakenOver }),
        ));
    }
    events.push(("assigned", json!({ "agent_id": agent, "from_agent_id": r.assignee_id, "from": r.routing_state })));
    db::write_placement(conn, id, Placement::Assigned { agent, queue: r.queue_id }, None, &caller.actor, &events)
        .await?;
    if r.assignee_id.is_some() {
        db::wake_routers(conn).await?;
    }
    Ok(())
}

/// Only the agent holding a conversation (or a supervisor) passes it on.
fn holder_or_supervisor(caller: &Caller, r: &Routable) -> Result<(), Refusal> {
    if caller.supervisor || (r.assignee_id.is_some() && r.assignee_id == caller.user_id) {
        Ok(())
    } else {
        Err(Refusal::NotYourConversation)
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
) -> ActionResult<()> {
    match to {
        Target::Queue(q) => crate::refs::queue(conn, q, "queue_id").await?,
        Target::Agent(a) => must_be_agent(conn, a, "agent_id").await?,
        Target::AiAgent(ai) => crate::refs::ai_agent(conn, ai, "ai_agent_id").await?,
    }
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    holder_or_supervisor(caller, &r)?;
    fits(cfg, &r, Some(to))?;
    let transferred =
        json!({"from_agent_id": r.assignee_id, "from_queue_id": r.queue_id, "to": place::target_json(to)});
    let mut events = vec![("transferred", transferred)];
    if r.routing_state == RoutingState::Ai && !matches!(to, Target::AiAgent(_)) {
        // Away from the AI agent: a hand-over (an automation rule's, or a person's), said so in the timeline
        // and in a note for the people taking over.
        let reason = if caller.actor.kind == "automation" { HandoverReason::Rule } else { HandoverReason::TakenOver };
        events.insert(0, ("handed_over", json!({ "to": place::target_json(to), "reason": reason })));
        let note = format!("Handed over by {}: {}.", caller.actor.label, reason.words());
        crate::store::notes::insert(conn, id, caller.user_id, &caller.actor.label, &note).await?;
    }
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
pub async fn unassign(conn: &mut PgConnection, cfg: &RoutingConfig, caller: &Caller, id: Uuid) -> ActionResult<()> {
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    let Some(agent) = r.assignee_id else {
        return Err(Refusal::NotAssigned.into());
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

/// The AI agent hands the conversation to humans (or a supervisor takes it from the AI agent): to the given
/// target, or through the order of assignment without the AI agent (rules targeting it no longer apply). The
/// timeline's `handed_over` event says why (`reason`, counted in reports).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn handover(
    conn: &mut PgConnection,
    cfg: &RoutingConfig,
    caller: &Caller,
    id: Uuid,
    to: Option<Target>,
    note: Option<&str>,
    reason: HandoverReason,
) -> ActionResult<()> {
    if !caller.supervisor {
        return Err(Refusal::SupervisorOnly("a hand-over is made by the AI agent or a supervisor").into());
    }
    match to {
        Some(Target::Queue(q)) => crate::refs::queue(conn, q, "queue_id").await?,
        Some(Target::Agent(a)) => must_be_agent(conn, a, "agent_id").await?,
        _ => {}
    }
    let r = lock(conn, id).await?;
    open_only(r.status)?;
    if r.routing_state != RoutingState::Ai {
        return Err(Refusal::NotWithAiAgent.into());
    }
    fits(cfg, &r, to)?;
    let handed_over = ("handed_over", json!({ "to": to.map(place::target_json), "note": note, "reason": reason }));
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

/// Resolves the conversation: its agent's capacity frees (the next customer's message opens a new one). A
/// person's or token's resolve on a number with CSAT on also queues the survey, in this transaction (an
/// automation's resolve does not: nobody served the customer to be rated).
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn resolve(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> ActionResult<()> {
    let r = lock(conn, id).await?;
    if r.status == ConversationStatus::Resolved {
        return Ok(());
    }
    db::mark_resolved(conn, id).await?;
    db::record_event(conn, id, "resolved", &caller.actor, json!({})).await?;
    if caller.actor.kind != "automation" {
        crate::store::csat::enqueue(conn, id, caller.user_id, CSAT_ATTEMPTS).await?;
    }
    db::wake_routers(conn).await?;
    Ok(())
}

/// Attempts at sending one survey (creating its content at Twilio may need a retry).
const CSAT_ATTEMPTS: i32 = 5;

/// Reopens a resolved conversation: back to its last agent if they have room, otherwise routed again. Refused
/// when the customer already has another open conversation on the number.
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn reopen(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> ActionResult<bool> {
    let r = lock(conn, id).await?;
    if r.status != ConversationStatus::Resolved {
        return Ok(false);
    }
    if let Some(other) = db::other_open(conn, id, r.number_id, r.contact_id).await? {
        return Err(Refusal::AlreadyOpen { other: Some(other) }.into());
    }
    let keeps = match r.assignee_id {
        Some(a) => db::take_agent(conn, a, true).await?,
        None => false,
    };
    db::mark_reopened(conn, id, keeps).await.map_err(|e| match crate::store::violated_constraint(&e) {
        Some("conversations_active_key") => Refusal::AlreadyOpen { other: None }.into(),
        _ => ActionError::from(e),
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

/// Changes the conversation's priority (higher is offered first while it waits).
#[tracing::instrument(skip_all, fields(conversation = %id, priority))]
pub async fn set_priority(conn: &mut PgConnection, caller: &Caller, id: Uuid, priority: i32) -> ActionResult<()> {
    conversation::check_priority(priority)
        .map_err(|m| Refusal::Invalid { field: "priority".into(), message: m.into() })?;
    lock(conn, id).await?;
    let before = db::set_priority(conn, id, priority).await?;
    if before != priority {
        db::record_event(conn, id, "priority_changed", &caller.actor, json!({ "from": before, "to": priority }))
            .await?;
    }
    Ok(())
}

/// Moves an unresolved conversation between `open` and `pending` (waiting on the customer or a third party); a
/// snoozed one is woken this way. Snoozing, resolving and reopening are their own actions.
#[tracing::instrument(skip_all, fields(conversation = %id, %status))]
pub async fn set_status(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    status: ConversationStatus,
) -> ActionResult<()> {
    if matches!(status, ConversationStatus::Resolved | ConversationStatus::Snoozed) {
        return Err(Refusal::Invalid {
            field: "status".into(),
            message: "status must be open or pending (snooze, resolve and reopen have their own actions)".into(),
        }
        .into());
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

/// Snoozes an unresolved conversation until `until` or, without one, until the customer's next message (which
/// wakes it early either way). Its agent keeps it; it comes back as `open` with an `unsnoozed` event. Snoozing a
/// snoozed conversation again moves its time.
#[tracing::instrument(skip_all, fields(conversation = %id))]
pub async fn snooze(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    until: Option<time::OffsetDateTime>,
) -> ActionResult<()> {
    let instant =
        until.map(|t| jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos()).unwrap_or(jiff::Timestamp::MAX));
    conversation::check_snooze_until(instant, jiff::Timestamp::now())
        .map_err(|m| Refusal::Invalid { field: "until".into(), message: m.into() })?;
    let current = lock(conn, id).await?;
    open_only(current.status)?;
    db::snooze(conn, id, until).await?;
    let until = instant.map(|t| t.to_string());
    db::record_event(conn, id, "snoozed", &caller.actor, json!({ "from": current.status, "until": until })).await?;
    Ok(())
}

/// Blocks a contact: their unresolved conversations leave whoever holds them (capacity frees) and are offered to
/// nobody; their later messages are still stored, in a conversation no automation or AI agent answers. Answers
/// whether the contact was not blocked before. Supervisors and admins.
#[tracing::instrument(skip_all, fields(contact = %contact))]
pub async fn block_contact(conn: &mut PgConnection, caller: &Caller, contact: Uuid) -> ActionResult<bool> {
    if !caller.supervisor {
        return Err(Refusal::SupervisorOnly("blocking a contact needs the supervisor role").into());
    }
    if !crate::store::contacts::set_blocked(conn, contact, Some(&caller.actor.label)).await? {
        return Ok(false);
    }
    let blocked = [("contact_blocked", json!({}))];
    for (id, _) in crate::store::contacts::lock_unresolved_conversations(conn, contact).await? {
        db::write_placement(conn, id, Placement::Blocked, None, &caller.actor, &blocked).await?;
    }
    db::wake_routers(conn).await?;
    Ok(true)
}

/// Unblocks a contact: their blocked conversation is routed again like a new one. Answers whether the contact
/// was blocked. Supervisors and admins.
#[tracing::instrument(skip_all, fields(contact = %contact))]
pub async fn unblock_contact(conn: &mut PgConnection, caller: &Caller, contact: Uuid) -> ActionResult<bool> {
    if !caller.supervisor {
        return Err(Refusal::SupervisorOnly("unblocking a contact needs the supervisor role").into());
    }
    if !crate::store::contacts::set_blocked(conn, contact, None).await? {
        return Ok(false);
    }
    for (id, state) in crate::store::contacts::lock_unresolved_conversations(conn, contact).await? {
        if state == RoutingState::Blocked {
            db::mark_unrouted(conn, id, false).await?;
            db::record_event(conn, id, "contact_unblocked", &caller.actor, json!({})).await?;
        }
    }
    Ok(true)
}
