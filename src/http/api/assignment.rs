//! Who holds a conversation, changed by people: `POST /conversations/{id}/claim|assign|transfer|unassign|handover|
//! resolve|reopen|snooze`, `PATCH /conversations/{id}` (priority, status), and the timeline `GET /conversations/{id}/events`.
//! The rules are in `routing::actions`; these handlers check visibility, run them in one transaction, and answer
//! with the conversation as it is afterwards.

use super::conversations::{require_visible, Conversation};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Principal;
use crate::domain::ai::HandoverReason;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::routing::actions::{self, Caller};
use crate::routing::rules::Target;
use crate::state::AppState;
use crate::store::conversations::{self, Visibility};
use crate::store::routing::{self as db, Event};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim))
        .routes(routes!(assign))
        .routes(routes!(transfer))
        .routes(routes!(unassign))
        .routes(routes!(handover))
        .routes(routes!(resolve))
        .routes(routes!(reopen))
        .routes(routes!(snooze))
        .routes(routes!(update))
        .routes(routes!(events))
}

fn caller(who: &Principal) -> Caller {
    Caller { actor: who.actor(), user_id: who.user_id, supervisor: who.role.includes(Role::Supervisor) }
}

/// Runs `action` on the conversation (which `who` must be able to see) in one transaction, then answers with the
/// conversation as it is now. A transaction PostgreSQL aborts for a deadlock is run again by `http::retry`.
macro_rules! act {
    ($state:expr, $who:expr, $id:expr, |$tx:ident, $caller:ident| $body:expr) => {{
        let mut $tx = $state.pool.begin().await?;
        require_visible(&mut $tx, &$who, $id).await?;
        let $caller = caller(&$who);
        let result = $body;
        $tx.commit().await?;
        // The caller saw it before acting; after a transfer to a queue they are not in, they still get its
        // new state as the answer to what they did.
        let view: Conversation = conversations::find(&mut *$state.pool.acquire().await?, $id, Visibility::All)
            .await?
            .ok_or_else(|| AppError::not_found("conversation_not_found", "no conversation with this id"))?
            .into();
        (result, view)
    }};
}

/// Takes the conversation for yourself: from your queue, or unowned on a number you serve (supervisors: any).
/// Respects your capacity.
#[utoipa::path(post, path = "/conversations/{id}/claim", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Conversation)))]
async fn claim(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Conversation>> {
    let (_, view) = act!(state, who, id, |tx, c| actions::claim(&mut tx, &c, id).await?);
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignTo {
    agent_id: Uuid,
}

/// Gives the conversation to an agent, whatever their presence, never over their capacity. Supervisors and admins.
#[utoipa::path(post, path = "/conversations/{id}/assign", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = AssignTo, responses((status = 200, body = Conversation)))]
async fn assign(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignTo>,
) -> AppResult<Json<Conversation>> {
    let (_, view) = act!(state, who, id, |tx, c| actions::assign(&mut tx, &c, id, body.agent_id).await?);
    Ok(Json(view))
}

/// Exactly one of `queue_id` and `agent_id`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferTo {
    pub(super) queue_id: Option<Uuid>,
    pub(super) agent_id: Option<Uuid>,
}

pub(super) fn one_target(queue_id: Option<Uuid>, agent_id: Option<Uuid>) -> AppResult<Option<Target>> {
    match (queue_id, agent_id) {
        (Some(q), None) => Ok(Some(Target::Queue(q))),
        (None, Some(a)) => Ok(Some(Target::Agent(a))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(AppError::unprocessable("invalid_body", "give queue_id or agent_id, not both")),
    }
}

/// Passes the conversation to a queue (its selection picks someone else, or it waits) or to an agent. The agent
/// holding it, or a supervisor.
#[utoipa::path(post, path = "/conversations/{id}/transfer", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = TransferTo, responses((status = 200, body = Conversation)))]
async fn transfer(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TransferTo>,
) -> AppResult<Json<Conversation>> {
    let to = one_target(body.queue_id, body.agent_id)?
        .ok_or_else(|| AppError::unprocessable("invalid_body", "give queue_id or agent_id"))?;
    let (_, view) = act!(state, who, id, |tx, c| {
        let cfg = state.routing.get(&mut tx).await?;
        actions::transfer(&mut tx, &cfg, &c, id, to).await?
    });
    Ok(Json(view))
}

/// Lets go of the conversation: it waits in its queue again. The agent holding it, or a supervisor.
#[utoipa::path(post, path = "/conversations/{id}/unassign", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Conversation)))]
async fn unassign(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Conversation>> {
    let (_, view) = act!(state, who, id, |tx, c| {
        let cfg = state.routing.get(&mut tx).await?;
        actions::unassign(&mut tx, &cfg, &c, id).await?
    });
    Ok(Json(view))
}

/// Where the AI agent hands over to; nothing: the order of assignment without the AI agent.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct Handover {
    queue_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    /// Why, for the agent who takes over (kept in the timeline).
    note: Option<String>,
}

/// The AI agent hands the conversation over to humans. The AI agent (a supervisor token) or a supervisor.
#[utoipa::path(post, path = "/conversations/{id}/handover", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = Handover, responses((status = 200, body = Conversation)))]
async fn handover(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    body: axum::body::Bytes,
) -> AppResult<Json<Conversation>> {
    // The body is optional: none (or `{}`) hands over through the order of assignment.
    let body: Handover =
        if body.iter().all(u8::is_ascii_whitespace) { Handover::default() } else { super::extract::json_body(&body)? };
    let to = one_target(body.queue_id, body.agent_id)?;
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(AppError::invalid_field("note", "note is at most 1,000 characters"));
    }
    let (_, view) = act!(state, who, id, |tx, c| {
        let cfg = state.routing.get(&mut tx).await?;
        actions::handover(&mut tx, &cfg, &c, id, to, body.note.as_deref(), HandoverReason::TakenOver).await?
    });
    Ok(Json(view))
}

/// Resolves the conversation; the agent's capacity frees.
#[utoipa::path(post, path = "/conversations/{id}/resolve", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Conversation)))]
async fn resolve(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Conversation>> {
    let (_, view) = act!(state, who, id, |tx, c| actions::resolve(&mut tx, &c, id).await?);
    state.jobs_wake.kick(); // the CSAT survey, if the number asks for one
    Ok(Json(view))
}

/// Reopens a resolved conversation: back to its last agent if they have room, otherwise routed again. 409
/// `conversation_already_open` (with its id) if the customer has another open conversation on the number.
#[utoipa::path(post, path = "/conversations/{id}/reopen", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Conversation)))]
async fn reopen(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Conversation>> {
    let (needs_routing, view) = act!(state, who, id, |tx, c| actions::reopen(&mut tx, &c, id).await?);
    if needs_routing {
        state.router_wake.notify_one();
    }
    Ok(Json(view))
}

/// When a snooze ends.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    /// RFC 3339, in the future and at most 90 days ahead; left out or `null`: until the customer's next message.
    /// The customer's message wakes it early either way.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<time::OffsetDateTime>,
}

/// Snoozes the conversation: its status is `snoozed` until `until` or the customer's next message, then `open`
/// again (with an `unsnoozed` event). Its agent keeps it. `PATCH` with `status: open` wakes it by hand.
#[utoipa::path(post, path = "/conversations/{id}/snooze", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = SnoozeBody, responses((status = 200, body = Conversation)))]
async fn snooze(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SnoozeBody>,
) -> AppResult<Json<Conversation>> {
    let (_, view) = act!(state, who, id, |tx, c| actions::snooze(&mut tx, &c, id, body.until).await?);
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConversationChanges {
    /// -1000 to 1000; higher is offered first while waiting.
    priority: Option<i32>,
    /// `urgent`, `high`, `normal` or `low`: sets the priority to 300, 100, 0 or -100 (not with `priority`).
    priority_level: Option<crate::domain::conversation::PriorityLevel>,
    /// `open` or `pending` (snooze, resolve and reopen have their own actions); `open` wakes a snoozed one.
    status: Option<String>,
}

/// Changes a conversation's priority, or its status between open and pending (or wakes a snoozed one).
#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = ConversationChanges, responses((status = 200, body = Conversation)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ConversationChanges>,
) -> AppResult<Json<Conversation>> {
    let (_, view) = act!(state, who, id, |tx, c| {
        let priority = crate::domain::conversation::requested_priority(body.priority, body.priority_level)
            .map_err(|m| AppError::invalid_field("priority_level", m))?;
        if let Some(p) = priority {
            actions::set_priority(&mut tx, &c, id, p).await?;
        }
        if let Some(status) = &body.status {
            let status = status.parse().map_err(|_| {
                AppError::invalid_field(
                    "status",
                    "status must be open or pending (snooze, resolve and reopen have their own actions)",
                )
            })?;
            actions::set_status(&mut tx, &c, id, status).await?;
        }
    });
    Ok(Json(view))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only events after this id (the last one you have).
    after: Option<i64>,
    /// 1 to 500 (default 200).
    limit: Option<i64>,
}

/// The conversation's timeline: every routing and ownership change, who made it and when, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/events", tag = "conversations", params(("id" = Uuid, Path), EventsQuery),
    responses((status = 200, body = Vec<Event>)))]
async fn events(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> AppResult<Json<Vec<Event>>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(AppError::unprocessable("invalid_query", "limit must be from 1 to 500").with_field("limit"));
    }
    let mut conn = state.pool.acquire().await?;
    require_visible(&mut conn, &who, id).await?;
    Ok(Json(db::events(&mut conn, id, q.after.unwrap_or(0), limit).await?))
}
