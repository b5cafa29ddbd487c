//! Agents' presence: `PUT /agents/me/presence` and `PUT /agents/{id}/presence` (supervisors). Only `online`
//! agents are offered conversations. An agent whose last live connection (`GET /live`) has been gone longer than
//! `routing.presence_grace_secs` is set offline by the router, as is one who logs out. And a person's own inbox
//! preferences: `PUT /agents/me/preferences` (the inbox's language and time zone).

use super::{ApiJson, ApiPath};
use crate::auth::Principal;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store;
use crate::store::routing as db;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_mine)).routes(routes!(set_agents)).routes(routes!(set_preferences))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Presence {
    /// `online`, `away` or `offline`.
    presence: String,
}

async fn set(state: &AppState, user: Uuid, presence: &str) -> AppResult<Json<Presence>> {
    if !["online", "away", "offline"].contains(&presence) {
        return Err(AppError::invalid_field("presence", "presence must be online, away or offline"));
    }
    let mut tx = state.pool.begin().await?;
    let before = db::set_presence(&mut tx, user, presence)
        .await?
        .ok_or_else(|| AppError::not_found("agent_not_found", "no agent with this id"))?;
    if before != presence {
        tracing::info!(agent = %user, from = %before, to = %presence, "presence changed");
        if presence == "online" {
            db::wake_routers(&mut tx).await?;
        }
    }
    tx.commit().await?;
    Ok(Json(Presence { presence: presence.to_owned() }))
}

/// Sets your own presence.
#[utoipa::path(put, path = "/agents/me/presence", tag = "agents", request_body = Presence,
    responses((status = 200, body = Presence)))]
async fn set_mine(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<Presence>,
) -> AppResult<Json<Presence>> {
    let me = who.user_id.ok_or_else(|| {
        AppError::unprocessable(
            "not_an_agent",
            "an API token has no presence; set an agent's with /agents/{id}/presence",
        )
    })?;
    set(&state, me, &body.presence).await
}

/// Sets an agent's presence. Supervisors and admins.
#[utoipa::path(put, path = "/agents/{id}/presence", tag = "agents", params(("id" = Uuid, Path)), request_body = Presence,
    responses((status = 200, body = Presence)))]
async fn set_agents(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Presence>,
) -> AppResult<Json<Presence>> {
    // Like every other change to a person: a supervisor manages agents; supervisors and admins, only an admin.
    let role = store::users::role_if_active(&state.pool, id)
        .await?
        .and_then(|r| r.parse::<Role>().ok())
        .ok_or_else(|| AppError::not_found("agent_not_found", "no agent with this id"))?;
    if role > Role::Agent && who.role < Role::Admin {
        return Err(AppError::forbidden("forbidden", format!("only admins manage users with the {role} role")));
    }
    set(&state, id, &body.presence).await
}

/// The languages the inbox speaks.
pub const UI_LANGUAGES: &[&str] = &["en", "es", "pt", "nl", "ja"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Preferences {
    /// `en`, `es`, `pt`, `nl` or `ja`; null: the browser's language (English when it is none of these).
    ui_language: Option<String>,
    /// An IANA time zone such as `Europe/Amsterdam`; null: the browser's.
    time_zone: Option<String>,
}

/// Sets your inbox's language and time zone (both replaced; null: the browser's).
#[utoipa::path(put, path = "/agents/me/preferences", tag = "agents", request_body = Preferences,
    responses((status = 200, body = store::users::User)))]
async fn set_preferences(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<Preferences>,
) -> AppResult<Json<store::users::User>> {
    let me = who.user_id.ok_or_else(|| {
        AppError::unprocessable("not_an_agent", "an API token has no inbox: preferences are a person's")
    })?;
    if body.ui_language.as_deref().is_some_and(|l| !UI_LANGUAGES.contains(&l)) {
        return Err(AppError::invalid_field("ui_language", "ui_language must be en, es, pt, nl or ja"));
    }
    if body.time_zone.as_deref().is_some_and(|z| z.len() > 64 || jiff::tz::TimeZone::get(z).is_err()) {
        return Err(AppError::invalid_field(
            "time_zone",
            "time_zone must be an IANA time zone such as Europe/Amsterdam",
        ));
    }
    let user = store::users::set_preferences(&state.pool, me, body.ui_language.as_deref(), body.time_zone.as_deref())
        .await?
        .ok_or_else(|| AppError::not_found("agent_not_found", "no agent with this id"))?;
    Ok(Json(user))
}
