//! Agents' presence: `PUT /agents/me/presence` and `PUT /agents/{id}/presence` (supervisors). Only `online`
//! agents are offered conversations. An agent whose last live connection (`GET /live`) has been gone longer than
//! `routing.presence_grace_secs` is set offline by the router, as is one who logs out.

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
    OpenApiRouter::new().routes(routes!(set_mine)).routes(routes!(set_agents))
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
