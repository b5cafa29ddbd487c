//! Queues: `GET|POST /queues`, `GET|PATCH|DELETE /queues/{id}`, and members: `GET|PUT|POST /queues/{id}/members`,
//! `DELETE /queues/{id}/members/{user}`. Admins configure queues, supervisors manage members, and agents see
//! the queues they are members of (and no others).

use super::business_hours::in_use;
use super::validate::check_words;
use super::{audit_change, check_name, double_option, ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::domain::call_waiting::WaitingStrategy;
use crate::domain::Role;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::refs;
use crate::state::AppState;
use crate::store;
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME};
use crate::store::queues::{Queue, QueueSettings};
use crate::store::users::Agent;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(members, set_members, add_member))
        .routes(routes!(remove_member))
}

pub const STRATEGIES: &[&str] = &["least_loaded", "round_robin"];
pub const COMMUNICATION_TYPES: &[&str] = &["messages", "calls", "both"];

/// A new queue. Every field but `name` has a default: `least_loaded`, priority 0, `messages`, always open,
/// no overflow, no required skills.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct NewQueue {
    name: String,
    description: Option<String>,
    /// `least_loaded` or `round_robin`.
    strategy: Option<String>,
    /// -1000 to 1000; higher first.
    priority: Option<i32>,
    /// `messages`, `calls` or `both`.
    communication_type: Option<String>,
    business_hours_id: Option<Uuid>,
    /// `wait` (default) or `route` (then exactly one of the two out-of-hours targets).
    outside_hours: Option<String>,
    outside_hours_queue_id: Option<Uuid>,
    outside_hours_agent_id: Option<Uuid>,
    /// 10 to 604,800 seconds; with exactly one of the two overflow targets.
    overflow_after_secs: Option<i32>,
    overflow_queue_id: Option<Uuid>,
    overflow_agent_id: Option<Uuid>,
    required_skills: Option<Vec<String>>,
    match_language: Option<bool>,
    /// Offer a returning customer's conversation to their last agent first, when eligible.
    prefer_last_agent: Option<bool>,
    /// 1 to 1,440: a conversation assigned from the queue that its agent has not answered in this many minutes
    /// goes back to the queue, offered to another agent first.
    acceptance_timeout_minutes: Option<i32>,
    /// 1 to 100, with an acceptance timeout: after this many misses in a row (reset when the agent sends a
    /// message or sets their presence), the agent is set away.
    acceptance_misses_to_away: Option<i32>,
    /// 1 to 10,080: a first response within this many minutes meets the queue's service level (counted in its
    /// business hours when it has them); reports give the share met and list the breaches.
    sla_first_response_minutes: Option<i32>,
    /// 1 to 8,760: a resolution within this many hours meets the queue's service level.
    sla_resolution_hours: Option<i32>,
    /// For calls: what the caller hears while waiting (greeting, hold music, waiting message, position
    /// announcements, maximum wait and its message, the message out of hours). Left out: the built-in
    /// strategy in the number's language, so a caller never hears silence.
    waiting_strategy: Option<WaitingStrategy>,
    /// The agents in the queue.
    member_ids: Option<Vec<Uuid>>,
}

/// What to change; a field left out stays as it is, `null` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct QueueChanges {
    name: Option<String>,
    description: Option<String>,
    strategy: Option<String>,
    priority: Option<i32>,
    communication_type: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    business_hours_id: Option<Option<Uuid>>,
    outside_hours: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    outside_hours_queue_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    outside_hours_agent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    overflow_after_secs: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    overflow_queue_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    overflow_agent_id: Option<Option<Uuid>>,
    required_skills: Option<Vec<String>>,
    match_language: Option<bool>,
    /// Offer a returning customer's conversation to their last agent first, when eligible.
    prefer_last_agent: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    acceptance_timeout_minutes: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    acceptance_misses_to_away: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    sla_first_response_minutes: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    sla_resolution_hours: Option<Option<i32>>,
    /// `null`: back to the built-in strategy.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<WaitingStrategy>)]
    waiting_strategy: Option<Option<WaitingStrategy>>,
    /// Replaces the members.
    member_ids: Option<Vec<Uuid>>,
}

/// Checks a queue's settings, including that what they refer to exists (`this`: the queue's own id, if it has
/// one, which it may not overflow to).
async fn check(conn: &mut sqlx::PgConnection, mut s: QueueSettings, this: Option<Uuid>) -> AppResult<QueueSettings> {
    s.name = check_name("name", &s.name, 200)?;
    s.description = s.description.trim().to_owned();
    if s.description.chars().count() > 1000 {
        return Err(AppError::invalid_field("description", "description is at most 1,000 characters"));
    }
    if !STRATEGIES.contains(&s.strategy.as_str()) {
        return Err(AppError::invalid_field("strategy", "strategy must be least_loaded or round_robin"));
    }
    if !(-1000..=1000).contains(&s.priority) {
        return Err(AppError::invalid_field("priority", "priority must be from -1000 to 1000"));
    }
    if !COMMUNICATION_TYPES.contains(&s.communication_type.as_str()) {
        return Err(AppError::invalid_field(
            "communication_type",
            "communication_type must be messages, calls or both",
        ));
    }
    if let Some(id) = s.business_hours_id {
        refs::business_hours(conn, id, "business_hours_id").await?;
    }
    s.waiting_strategy = s.waiting_strategy.map(|w| w.check("waiting_strategy")).transpose()?;
    let targets = |q: Option<Uuid>, a: Option<Uuid>| q.is_some() as u8 + a.is_some() as u8;
    match s.outside_hours.as_str() {
        "wait" if targets(s.outside_hours_queue_id, s.outside_hours_agent_id) != 0 => {
            return Err(AppError::invalid_field(
                "outside_hours",
                "outside_hours is wait, so there is no out-of-hours target; set outside_hours to route to use one",
            ))
        }
        "wait" => {}
        "route" if targets(s.outside_hours_queue_id, s.outside_hours_agent_id) != 1 => {
            return Err(AppError::invalid_field(
                "outside_hours_queue_id",
                "outside_hours route needs exactly one of outside_hours_queue_id and outside_hours_agent_id",
            ))
        }
        "route" => {}
        _ => return Err(AppError::invalid_field("outside_hours", "outside_hours must be wait or route")),
    }
    match (s.overflow_after_secs, targets(s.overflow_queue_id, s.overflow_agent_id)) {
        (None, 0) => {}
        (None, _) => {
            return Err(AppError::invalid_field(
                "overflow_after_secs",
                "an overflow target needs overflow_after_secs (10 to 604800)",
            ))
        }
        (Some(secs), _) if !(10..=604_800).contains(&secs) => {
            return Err(AppError::invalid_field(
                "overflow_after_secs",
                "overflow_after_secs must be from 10 to 604800 (a week)",
            ))
        }
        (Some(_), 1) => {}
        (Some(_), _) => {
            return Err(AppError::invalid_field(
                "overflow_queue_id",
                "overflow needs exactly one of overflow_queue_id and overflow_agent_id",
            ))
        }
    }
    for (field, id) in
        [("outside_hours_queue_id", s.outside_hours_queue_id), ("overflow_queue_id", s.overflow_queue_id)]
    {
        if let Some(id) = id {
            if Some(id) == this {
                return Err(AppError::invalid_field(field, format!("{field} cannot be the queue itself")));
            }
            refs::queue(conn, id, field).await?;
        }
    }
    for (field, id) in
        [("outside_hours_agent_id", s.outside_hours_agent_id), ("overflow_agent_id", s.overflow_agent_id)]
    {
        if let Some(id) = id {
            refs::agents(conn, &[id], field).await?;
        }
    }
    if s.acceptance_timeout_minutes.is_some_and(|m| !(1..=1440).contains(&m)) {
        return Err(AppError::invalid_field(
            "acceptance_timeout_minutes",
            "acceptance_timeout_minutes must be from 1 to 1440 (a day)",
        ));
    }
    match (s.acceptance_misses_to_away, s.acceptance_timeout_minutes) {
        (Some(m), _) if !(1..=100).contains(&m) => {
            return Err(AppError::invalid_field(
                "acceptance_misses_to_away",
                "acceptance_misses_to_away must be from 1 to 100",
            ))
        }
        (Some(_), None) => {
            return Err(AppError::invalid_field(
                "acceptance_misses_to_away",
                "acceptance_misses_to_away needs acceptance_timeout_minutes",
            ))
        }
        _ => {}
    }
    if s.sla_first_response_minutes.is_some_and(|m| !(1..=10_080).contains(&m)) {
        return Err(AppError::invalid_field(
            "sla_first_response_minutes",
            "sla_first_response_minutes must be from 1 to 10080 (a week)",
        ));
    }
    if s.sla_resolution_hours.is_some_and(|h| !(1..=8760).contains(&h)) {
        return Err(AppError::invalid_field(
            "sla_resolution_hours",
            "sla_resolution_hours must be from 1 to 8760 (a year)",
        ));
    }
    s.required_skills = check_words("required_skills", &s.required_skills)?;
    Ok(s)
}

fn taken(e: sqlx::Error) -> AppError {
    AppError::on_conflict(
        e,
        &[UniqueConflict {
            constraint: "queues_name_key",
            code: "queue_exists",
            message: "a queue with this name exists",
            field: "name",
        }],
    )
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<Queue> {
    store::queues::find(conn, id).await?.ok_or_else(|| AppError::not_found("queue_not_found", "no queue with this id"))
}

/// The queue, if the caller may see it: supervisors and admins see every queue, agents their own.
async fn visible(conn: &mut sqlx::PgConnection, who: &Principal, id: Uuid) -> AppResult<Queue> {
    let queue = find(conn, id).await?;
    if !who.role.includes(Role::Supervisor) {
        let member = match who.user_id {
            Some(user) => store::queues::is_member(conn, id, user).await?,
            None => false,
        };
        if !member {
            return Err(AppError::forbidden("not_a_queue_member", "agents see only the queues they are members of"));
        }
    }
    Ok(queue)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Name or description contains (case-insensitive).
    q: Option<String>,
    /// Only queues this agent is a member of.
    member: Option<Uuid>,
    communication_type: Option<String>,
    /// Include deleted queues (supervisors and admins).
    include_deleted: Option<bool>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] =
        &[BY_NAME, BY_CREATED, SortKey { name: "priority", sql: "priority", sql_type: "int4" }];
}

/// Lists queues: all of them for supervisors and admins, an agent's own for agents.
#[utoipa::path(get, path = "/queues", tag = "queues", params(ListParams, Filters),
    responses((status = 200, body = Page<Queue>)))]
async fn list(State(state): State<AppState>, who: Principal, list: List<Filters>) -> AppResult<Json<Page<Queue>>> {
    let f = &list.filters;
    let supervisor = who.role.includes(Role::Supervisor);
    let member = if supervisor { f.member } else { Some(who.user_id.unwrap_or_default()) };
    if !supervisor && f.member.is_some_and(|m| Some(m) != who.user_id) {
        return Err(AppError::forbidden("forbidden", "agents list only their own queues"));
    }
    let filter = store::queues::Filter {
        text: f.q.as_deref(),
        member,
        communication_type: f.communication_type.as_deref(),
        include_deleted: supervisor && f.include_deleted.unwrap_or(false),
    };
    let rows = store::queues::list(&state.pool, &list.listing, &filter).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates a queue. Admins.
#[utoipa::path(post, path = "/queues", tag = "queues", request_body = NewQueue, responses((status = 201, body = Queue)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewQueue>,
) -> AppResult<(StatusCode, Json<Queue>)> {
    let settings = QueueSettings {
        name: body.name,
        description: body.description.unwrap_or_default(),
        strategy: body.strategy.unwrap_or_else(|| "least_loaded".into()),
        priority: body.priority.unwrap_or(0),
        communication_type: body.communication_type.unwrap_or_else(|| "messages".into()),
        business_hours_id: body.business_hours_id,
        outside_hours: body.outside_hours.unwrap_or_else(|| "wait".into()),
        outside_hours_queue_id: body.outside_hours_queue_id,
        outside_hours_agent_id: body.outside_hours_agent_id,
        overflow_after_secs: body.overflow_after_secs,
        overflow_queue_id: body.overflow_queue_id,
        overflow_agent_id: body.overflow_agent_id,
        required_skills: body.required_skills.unwrap_or_default(),
        match_language: body.match_language.unwrap_or(false),
        prefer_last_agent: body.prefer_last_agent.unwrap_or(false),
        acceptance_timeout_minutes: body.acceptance_timeout_minutes,
        acceptance_misses_to_away: body.acceptance_misses_to_away,
        sla_first_response_minutes: body.sla_first_response_minutes,
        sla_resolution_hours: body.sla_resolution_hours,
        waiting_strategy: body.waiting_strategy,
    };
    let mut tx = state.pool.begin().await?;
    let settings = check(&mut tx, settings, None).await?;
    let id = store::queues::insert(&mut tx, &settings).await.map_err(taken)?;
    if let Some(members) = &body.member_ids {
        refs::agents(&mut tx, members, "member_ids").await?;
        store::queues::set_members(&mut tx, id, members).await?;
    }
    let queue = find(&mut tx, id).await?;
    audit_change(&mut tx, &who, "queue.created", "queue", id, None, Some(&queue)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(queue)))
}

/// One queue. Supervisors and admins, and the queue's members.
#[utoipa::path(get, path = "/queues/{id}", tag = "queues", params(("id" = Uuid, Path)),
    responses((status = 200, body = Queue)))]
async fn read(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Queue>> {
    Ok(Json(visible(&mut *state.pool.acquire().await?, &who, id).await?))
}

/// Changes a queue. Admins.
#[utoipa::path(patch, path = "/queues/{id}", tag = "queues", params(("id" = Uuid, Path)), request_body = QueueChanges,
    responses((status = 200, body = Queue)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(c): ApiJson<QueueChanges>,
) -> AppResult<Json<Queue>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let b = before.settings.clone();
    let settings = QueueSettings {
        name: c.name.unwrap_or(b.name),
        description: c.description.unwrap_or(b.description),
        strategy: c.strategy.unwrap_or(b.strategy),
        priority: c.priority.unwrap_or(b.priority),
        communication_type: c.communication_type.unwrap_or(b.communication_type),
        business_hours_id: c.business_hours_id.unwrap_or(b.business_hours_id),
        outside_hours: c.outside_hours.unwrap_or(b.outside_hours),
        outside_hours_queue_id: c.outside_hours_queue_id.unwrap_or(b.outside_hours_queue_id),
        outside_hours_agent_id: c.outside_hours_agent_id.unwrap_or(b.outside_hours_agent_id),
        overflow_after_secs: c.overflow_after_secs.unwrap_or(b.overflow_after_secs),
        overflow_queue_id: c.overflow_queue_id.unwrap_or(b.overflow_queue_id),
        overflow_agent_id: c.overflow_agent_id.unwrap_or(b.overflow_agent_id),
        required_skills: c.required_skills.unwrap_or(b.required_skills),
        match_language: c.match_language.unwrap_or(b.match_language),
        prefer_last_agent: c.prefer_last_agent.unwrap_or(b.prefer_last_agent),
        acceptance_timeout_minutes: c.acceptance_timeout_minutes.unwrap_or(b.acceptance_timeout_minutes),
        acceptance_misses_to_away: c.acceptance_misses_to_away.unwrap_or(b.acceptance_misses_to_away),
        sla_first_response_minutes: c.sla_first_response_minutes.unwrap_or(b.sla_first_response_minutes),
        sla_resolution_hours: c.sla_resolution_hours.unwrap_or(b.sla_resolution_hours),
        waiting_strategy: c.waiting_strategy.unwrap_or(b.waiting_strategy),
    };
    let settings = check(&mut tx, settings, Some(id)).await?;
    store::queues::update(&mut tx, id, &settings).await.map_err(taken)?;
    if let Some(members) = &c.member_ids {
        refs::agents(&mut tx, members, "member_ids").await?;
        store::queues::set_members(&mut tx, id, members).await?;
    }
    let after = find(&mut tx, id).await?;
    audit_change(&mut tx, &who, "queue.updated", "queue", id, Some(&before), Some(&after)).await?;
    store::routing::wake_routers(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes a queue that nothing routes to any more (409 `queue_in_use` names what does); its history stays.
/// Admins.
#[utoipa::path(delete, path = "/queues/{id}", tag = "queues", params(("id" = Uuid, Path)), responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let users = store::queues::users_of(&mut tx, id).await?;
    if !users.is_empty() {
        return Err(in_use("queue_in_use", "this queue is still a target", users));
    }
    store::queues::soft_delete(&mut tx, id).await?;
    audit_change(&mut tx, &who, "queue.deleted", "queue", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The queue's members as agents. Supervisors and admins, and the queue's members.
#[utoipa::path(get, path = "/queues/{id}/members", tag = "queues", params(("id" = Uuid, Path), ListParams),
    responses((status = 200, body = Page<Agent>)))]
async fn members(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    list: List<super::filters::AgentFilters>,
) -> AppResult<Json<Page<Agent>>> {
    visible(&mut *state.pool.acquire().await?, &who, id).await?;
    let mut filter = list.filters.to_store();
    filter.queue_id = Some(id);
    let rows = store::users::list_agents(&state.pool, &list.listing, &filter).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberIds {
    user_ids: Vec<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberId {
    user_id: Uuid,
}

async fn change_members(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    change: impl AsyncFnOnce(&mut sqlx::PgConnection) -> AppResult<()>,
) -> AppResult<Queue> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    change(&mut tx).await?;
    let after = find(&mut tx, id).await?;
    audit_change(&mut tx, who, "queue.members_changed", "queue", id, Some(&before), Some(&after)).await?;
    store::routing::wake_routers(&mut tx).await?;
    tx.commit().await?;
    Ok(after)
}

/// Replaces the queue's members. Supervisors and admins.
#[utoipa::path(put, path = "/queues/{id}/members", tag = "queues", params(("id" = Uuid, Path)), request_body = MemberIds,
    responses((status = 200, body = Queue)))]
async fn set_members(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MemberIds>,
) -> AppResult<Json<Queue>> {
    let queue = change_members(&state, &who, id, async |conn| {
        refs::agents(conn, &body.user_ids, "user_ids").await?;
        Ok(store::queues::set_members(conn, id, &body.user_ids).await?)
    })
    .await?;
    Ok(Json(queue))
}

/// Adds an agent to the queue. Supervisors and admins.
#[utoipa::path(post, path = "/queues/{id}/members", tag = "queues", params(("id" = Uuid, Path)), request_body = MemberId,
    responses((status = 200, body = Queue)))]
async fn add_member(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MemberId>,
) -> AppResult<Json<Queue>> {
    let queue = change_members(&state, &who, id, async |conn| {
        refs::agents(conn, &[body.user_id], "user_id").await?;
        Ok(store::queues::add_members(conn, id, &[body.user_id]).await?)
    })
    .await?;
    Ok(Json(queue))
}

/// Removes an agent from the queue. Supervisors and admins.
#[utoipa::path(delete, path = "/queues/{id}/members/{user}", tag = "queues",
    params(("id" = Uuid, Path), ("user" = Uuid, Path)), responses((status = 204)))]
async fn remove_member(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((id, user)): ApiPath<(Uuid, Uuid)>,
) -> AppResult<StatusCode> {
    change_members(&state, &who, id, async |conn| {
        if store::queues::remove_member(conn, id, user).await? {
            Ok(())
        } else {
            Err(AppError::not_found("member_not_found", "this agent is not a member of the queue"))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
