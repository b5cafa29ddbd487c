//! Agents (every user is one; the role says what else they may do): `GET|POST /agents`,
//! `GET|PATCH|DELETE /agents/{id}`. Supervisors manage agents; only admins manage supervisors and admins. Delete
//! deactivates: the user can no longer log in or take conversations, and their history stays.

use super::filters::AgentFilters as Filters;
use super::validate::check_words;
use super::{audit_change, check_name, ApiJson, ApiPath, List, ListParams, Page};
use crate::auth::{password, Principal};
use crate::domain::language;
use crate::domain::Role;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::refs;
use crate::state::AppState;
use crate::store;
use crate::store::users::{Agent, AgentSettings};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, update, deactivate))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAgent {
    email: String,
    name: String,
    /// `agent` (default), `supervisor` or `admin`. Supervisors create agents only.
    role: Option<Role>,
    /// A first password of at least 12 characters; the agent must replace it at first login.
    password: String,
    /// Most conversations at once, 0 to 100 (default 5).
    capacity: Option<i32>,
    #[serde(default)]
    skills: Vec<String>,
    /// Language tags, e.g. `["nl", "en"]`.
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    queue_ids: Vec<Uuid>,
    #[serde(default)]
    number_ids: Vec<Uuid>,
    /// A phone number (E.164) the agent takes WhatsApp calls on instead of the browser.
    call_phone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AgentChanges {
    name: Option<String>,
    role: Option<Role>,
    capacity: Option<i32>,
    skills: Option<Vec<String>>,
    languages: Option<Vec<String>>,
    /// Replaces the queues the agent is a member of.
    queue_ids: Option<Vec<Uuid>>,
    /// Replaces the numbers the agent serves.
    number_ids: Option<Vec<Uuid>>,
    /// `false` deactivates (ending their sessions), `true` reactivates.
    active: Option<bool>,
    /// Sets a new one-time password the agent must replace at next login; ends their sessions.
    password: Option<String>,
    /// A phone number (E.164) the agent takes WhatsApp calls on instead of the browser; `null`: the browser.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    call_phone: Option<Option<String>>,
}

fn check(mut s: AgentSettings) -> AppResult<AgentSettings> {
    s.name = check_name("name", &s.name, 200)?;
    if !(0..=100).contains(&s.capacity) {
        return Err(AppError::invalid_field("capacity", "capacity must be from 0 to 100 conversations"));
    }
    s.skills = check_words("skills", &s.skills)?;
    s.languages = check_words("languages", &s.languages)?;
    if let Some(phone) = s.call_phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        let phone =
            crate::domain::E164::parse(phone).map_err(|e| AppError::invalid_field("call_phone", e.to_string()))?;
        s.call_phone = Some(phone.as_str().to_owned());
    } else {
        s.call_phone = None;
    }
    if let Some(bad) = s.languages.iter().find(|l| !language::is_tag(l)) {
        return Err(AppError::invalid_field(
            "languages",
            format!("{bad:?} is not a language tag such as nl, en-US or pt_BR"),
        ));
    }
    Ok(s)
}

async fn check_numbers(conn: &mut sqlx::PgConnection, ids: &[Uuid]) -> AppResult<()> {
    if ids.len() > 1000 {
        return Err(AppError::invalid_field("number_ids", "number_ids holds at most 1,000 ids"));
    }
    for id in ids {
        if !store::numbers::is_live(conn, *id).await? {
            return Err(AppError::unprocessable("unknown_reference", format!("number_ids: there is no number {id}"))
                .with_field("number_ids"));
        }
    }
    Ok(())
}

/// Supervisors manage agents only; admins manage everyone.
fn may_manage(who: &Principal, role: Role) -> AppResult<()> {
    if role > Role::Agent && who.role < Role::Admin {
        return Err(AppError::forbidden("forbidden", format!("only admins manage users with the {role} role")));
    }
    Ok(())
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<Agent> {
    store::users::find_agent(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("agent_not_found", "no agent with this id"))
}

fn role_of(agent: &Agent) -> AppResult<Role> {
    agent.user.role.parse().map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))
}

/// Lists agents. Supervisors and admins.
#[utoipa::path(get, path = "/agents", tag = "agents", params(ListParams, Filters),
    responses((status = 200, body = Page<Agent>)))]
async fn list(State(state): State<AppState>, _who: Principal, list: List<Filters>) -> AppResult<Json<Page<Agent>>> {
    let rows = store::users::list_agents(&state.pool, &list.listing, &list.filters.to_store()).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates an agent (a user) with a first password they must replace at first login. Supervisors create
/// agents; admins create any role.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = NewAgent, responses((status = 201, body = Agent)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewAgent>,
) -> AppResult<(StatusCode, Json<Agent>)> {
    let role = body.role.unwrap_or(Role::Agent);
    may_manage(&who, role)?;
    let email = body.email.trim().to_owned();
    let looks_like_email = (3..=254).contains(&email.len())
        && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !looks_like_email {
        return Err(AppError::invalid_field("email", "email must be an e-mail address such as ana@example.com"));
    }
    password::check_policy(&body.password).map_err(|m| AppError::invalid_field("password", m))?;
    let settings = check(AgentSettings {
        name: body.name,
        role: role.as_str().to_owned(),
        capacity: body.capacity.unwrap_or(5),
        skills: body.skills,
        languages: body.languages,
        call_phone: body.call_phone,
    })?;
    let hash = password::hash(SecretString::from(body.password)).await?;
    let mut tx = state.pool.begin().await?;
    refs::queues(&mut tx, &body.queue_ids, "queue_ids").await?;
    check_numbers(&mut tx, &body.number_ids).await?;
    let id = store::users::insert_agent(&mut tx, &email, &hash, &settings).await.map_err(|e| {
        AppError::on_conflict(
            e,
            &[UniqueConflict {
                constraint: "users_email_key",
                code: "email_taken",
                message: "a user with this e-mail exists",
                field: "email",
            }],
        )
    })?;
    store::users::set_memberships(&mut tx, id, Some(&body.queue_ids), Some(&body.number_ids)).await?;
    let agent = find(&mut tx, id).await?;
    audit_change(&mut tx, &who, "agent.created", "user", id, None, Some(&agent)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// One agent. Supervisors and admins, and the agent themselves.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, body = Agent)))]
async fn read(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Agent>> {
    if who.user_id != Some(id) {
        who.require_permission(crate::domain::Permission::AgentRead)?;
    }
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Refuses a change that would leave no active admin.
async fn keep_an_admin(conn: &mut sqlx::PgConnection, before: &Agent, role: Role, active: bool) -> AppResult<()> {
    let was_admin = before.user.role == "admin" && before.user.active;
    if was_admin
        && (role != Role::Admin || !active)
        // Under the admins' row locks, so two admins demoting each other at once cannot both see the other.
        && { store::users::lock_admins(conn).await?; store::users::other_active_admins(conn, before.user.id).await? == 0 }
    {
        return Err(AppError::client(
            StatusCode::CONFLICT,
            "last_admin",
            "this is the last active admin; make another admin first",
        ));
    }
    Ok(())
}

/// Changes an agent: name, role, capacity, skills, languages, queues, numbers, active, or a new one-time
/// password. Supervisors change agents; admins change anyone.
#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), request_body = AgentChanges,
    responses((status = 200, body = Agent)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(c): ApiJson<AgentChanges>,
) -> AppResult<Json<Agent>> {
    let hash = match &c.password {
        Some(p) => {
            password::check_policy(p).map_err(|m| AppError::invalid_field("password", m))?;
            Some(password::hash(SecretString::from(p.clone())).await?)
        }
        None => None,
    };
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let current_role = role_of(&before)?;
    may_manage(&who, current_role)?;
    let role = c.role.unwrap_or(current_role);
    may_manage(&who, role)?;
    let active = c.active.unwrap_or(before.user.active);
    keep_an_admin(&mut tx, &before, role, active).await?;
    let settings = check(AgentSettings {
        name: c.name.unwrap_or_else(|| before.user.name.clone()),
        role: role.as_str().to_owned(),
        capacity: c.capacity.unwrap_or(before.user.capacity),
        skills: c.skills.unwrap_or_else(|| before.user.skills.clone()),
        languages: c.languages.unwrap_or_else(|| before.user.languages.clone()),
        call_phone: c.call_phone.unwrap_or_else(|| before.user.call_phone.clone()),
    })?;
    if let Some(queues) = &c.queue_ids {
        refs::queues(&mut tx, queues, "queue_ids").await?;
    }
    if let Some(numbers) = &c.number_ids {
        check_numbers(&mut tx, numbers).await?;
    }
    store::users::update_agent(&mut tx, id, &settings).await?;
    store::users::set_memberships(&mut tx, id, c.queue_ids.as_deref(), c.number_ids.as_deref()).await?;
    if active != before.user.active {
        store::users::set_active(&mut tx, id, active).await?;
    }
    if let Some(hash) = &hash {
        store::users::set_one_time_password(&mut tx, id, hash).await?;
    }
    let after = find(&mut tx, id).await?;
    audit_change(&mut tx, &who, "agent.updated", "user", id, Some(&before), Some(&after)).await?;
    audit_tokens(&mut tx, &who, id, active, role).await?;
    if hash.is_some() {
        store::audit::record(&mut tx, &who.actor(), "agent.password_reset", "user", Some(&id.to_string()), None, None)
            .await?;
    }
    // A raised capacity or a new queue may let waiting conversations through.
    store::routing::wake_routers(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deactivates an agent: they can no longer log in (their sessions end) or take conversations; their history
/// stays, and `PATCH {"active": true}` brings them back. Supervisors deactivate agents; admins anyone.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), responses((status = 204)))]
async fn deactivate(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let role = role_of(&before)?;
    may_manage(&who, role)?;
    keep_an_admin(&mut tx, &before, role, false).await?;
    store::users::set_active(&mut tx, id, false).await?;
    let after = find(&mut tx, id).await?;
    audit_change(&mut tx, &who, "agent.deactivated", "user", id, Some(&before), Some(&after)).await?;
    audit_tokens(&mut tx, &who, id, false, role).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records what a user's change does to the API tokens they created: while they are deactivated their tokens are
/// refused (`api_token.suspended`); a token whose role is above theirs acts with their role
/// (`api_token.role_capped`).
async fn audit_tokens(
    conn: &mut sqlx::PgConnection,
    who: &Principal,
    user: Uuid,
    active: bool,
    role: Role,
) -> AppResult<()> {
    for (token, token_role) in store::api_tokens::live_of(conn, user).await? {
        let (action, details) = if !active {
            ("api_token.suspended", serde_json::json!({ "owner_id": user, "reason": "owner deactivated" }))
        } else if token_role.parse::<Role>().is_ok_and(|r| !role.includes(r)) {
            ("api_token.role_capped", serde_json::json!({ "owner_id": user, "from": token_role, "to": role.as_str() }))
        } else {
            continue;
        };
        store::audit::record(conn, &who.actor(), action, "api_token", Some(&token.to_string()), None, Some(&details))
            .await?;
    }
    Ok(())
}
