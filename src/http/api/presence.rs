//! Agents' presence: `PUT /agents/me/presence`, `PUT /agents/{id}/presence` (supervisors), and the live connection
//! `GET /live` (a WebSocket the inbox keeps open). Only `online` agents are offered conversations. An agent whose
//! last live connection has been gone longer than `routing.presence_grace_secs` is set offline by the router, as
//! is one who logs out.

use super::{ApiJson, ApiPath};
use crate::auth::Principal;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::routing as db;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_mine)).routes(routes!(set_agents)).routes(routes!(live))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Presence {
    /// `online`, `away` or `offline`.
    presence: String,
}

async fn set(state: &AppState, user: Uuid, presence: &str) -> AppResult<Json<Presence>> {
    if !["online", "away", "offline"].contains(&presence) {
        return Err(
            AppError::unprocessable("invalid_field", "presence must be online, away or offline").with_field("presence")
        );
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
    who.require(Role::Supervisor)?;
    set(&state, id, &body.presence).await
}

/// The inbox's live connection (WebSocket). While one is open the agent counts as connected; when the last one
/// has been closed for the grace period, they go offline. The server pings every 20 seconds.
#[utoipa::path(get, path = "/live", tag = "agents", responses((status = 101, description = "switching to WebSocket")))]
async fn live(
    State(state): State<AppState>,
    who: Principal,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        AppError::bad_request("websocket_required", format!("open this as a WebSocket: {}", e.body_text()))
    })?;
    let user = who.user_id.ok_or_else(|| {
        AppError::unprocessable("not_an_agent", "the live connection is for people logged in to the inbox")
    })?;
    Ok(upgrade.on_upgrade(move |socket| connection(state, user, socket)))
}

async fn connection(state: AppState, user: Uuid, mut socket: WebSocket) {
    let id = Uuid::now_v7();
    if let Err(e) = db::open_connection(&state.pool, id, user, &state.instance).await {
        tracing::warn!(error = %e, "cannot record a live connection; closing it");
        return;
    }
    let hello = serde_json::json!({ "type": "hello", "connection_id": id }).to_string();
    let mut open = socket.send(Message::Text(hello.into())).await.is_ok();
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    ping.tick().await;
    while open {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => open = socket.send(Message::Ping(Vec::new().into())).await.is_ok(),
        }
    }
    if let Err(e) = db::close_connection(&state.pool, id).await {
        tracing::warn!(error = %e, "cannot record a closed live connection; the router closes it when this process stops");
    }
}
