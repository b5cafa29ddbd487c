//! `GET /live`: the inbox's WebSocket. While one is open the agent counts as connected (see `presence`). The
//! server says `hello`, then passes on each change the agent may see as
//! `{"type": "change", "kind": "conversation" | "message" | "note", "conversation_id", "id"}`, and
//! `{"type": "resync"}` when changes may have been missed (the inbox then reloads what it shows). It pings every
//! 20 seconds.

use crate::auth::Principal;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::live::{Audience, Event};
use crate::state::AppState;
use crate::store::routing as db;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live))
}

/// How often an agent's queue and number memberships are re-read for filtering.
const MEMBERSHIP_REFRESH: Duration = Duration::from_secs(10);

/// The inbox's live connection (WebSocket): changes the agent may see, as they happen.
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
    let everything = who.role.includes(Role::Supervisor);
    Ok(upgrade.on_upgrade(move |socket| connection(state, user, everything, socket)))
}

async fn audience(state: &AppState, user: Uuid, everything: bool) -> sqlx::Result<Audience> {
    if everything {
        return Ok(Audience::All);
    }
    let (queues, numbers) = db::memberships(&state.pool, user).await?;
    Ok(Audience::Agent { user, queues: queues.into_iter().collect(), numbers: numbers.into_iter().collect() })
}

async fn connection(state: AppState, user: Uuid, everything: bool, mut socket: WebSocket) {
    // Subscribe before anything else, so that nothing between the hello and the first event is lost.
    let mut events = state.live.subscribe();
    let id = Uuid::now_v7();
    let mut audience = match audience(&state, user, everything).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read an agent's memberships; closing the live connection");
            return;
        }
    };
    if let Err(e) = db::open_connection(&state.pool, id, user, &state.instance).await {
        tracing::warn!(error = %e, "cannot record a live connection; closing it");
        return;
    }
    let hello = serde_json::json!({ "type": "hello", "connection_id": id }).to_string();
    let mut open = socket.send(Message::Text(hello.into())).await.is_ok();
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    ping.tick().await;
    let mut refresh = tokio::time::interval(MEMBERSHIP_REFRESH);
    refresh.tick().await;
    while open {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
            event = events.recv() => {
                let text = match event {
                    Ok(event) => match event.as_ref() {
                        Event::Change(c) if audience.sees(c) => serde_json::json!({
                            "type": "change", "kind": c.kind, "conversation_id": c.conversation_id, "id": c.id,
                        }).to_string(),
                        Event::Change(_) => continue,
                        Event::Resync => r#"{"type":"resync"}"#.to_owned(),
                    },
                    Err(RecvError::Lagged(_)) => r#"{"type":"resync"}"#.to_owned(),
                    Err(RecvError::Closed) => break,
                };
                open = socket.send(Message::Text(text.into())).await.is_ok();
            }
            _ = refresh.tick() => match self::audience(&state, user, everything).await {
                Ok(a) => audience = a,
                Err(e) => tracing::warn!(error = %e, "cannot re-read an agent's memberships"),
            },
            _ = ping.tick() => open = socket.send(Message::Ping(Vec::new().into())).await.is_ok(),
        }
    }
    if let Err(e) = db::close_connection(&state.pool, id).await {
        tracing::warn!(error = %e, "cannot record a closed live connection; the router closes it when this process stops");
    }
}
