//! `GET /live`: the inbox's WebSocket. While one is open the agent counts as connected (see `presence`). The
//! server says `hello`, then passes on each change the agent may see as
//! `{"type": "change", "kind": "conversation" | "message" | "note", "conversation_id", "id"}` (several that
//! happened together as one `{"type": "changes", "changes": [change, …]}`, in order), and
//! `{"type": "resync"}` when changes may have been missed (the inbox then reloads what it shows). It pings every
//! 20 seconds.
//!
//! A browser may open it only from this server's own pages (`Origin` must be the public URL's, or this machine's
//! own address): another site cannot ride an agent's cookie. The connection closes within seconds when its
//! session ends (logout, deactivation, password change) or the person's role changes; the page then reconnects
//! as what it is now.

use crate::auth::{Principal, Via};
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::live::{Audience, Batch, Frame};
use crate::state::AppState;
use crate::store::routing as db;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live))
}

/// A connection's WebSocket buffers. The inbox sends nothing but pongs and close frames, and is sent about 120
/// bytes per change (one frame per batch: at most 256 changes, ~31 KB): a few KiB each way, not tungstenite's
/// 128 KiB (a read buffer it allocates up front), which made each open socket cost about 155 KB.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;
/// What the socket may hold unsent before writes fail (a browser that stopped reading): the connection closes
/// rather than buffer for it; the inbox reconnects and reloads. Above the largest batch's frame.
const MAX_WRITE_BUFFER: usize = 64 * 1024;
/// The largest frame the inbox may send.
const MAX_INCOMING: usize = 16 * 1024;
/// A write that has not finished by then closes the connection, for the same reason.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Batches already waiting that are written before one flush.
const MAX_BATCHES_PER_FLUSH: usize = 8;

/// How often an agent's queue and number memberships are re-read for filtering.
const MEMBERSHIP_REFRESH: Duration = Duration::from_secs(10);
/// How often the connection's session and role are checked again.
const SESSION_CHECK: Duration = Duration::from_secs(3);

/// `scheme://host[:port]` of a base URL, as browsers write `Origin`.
fn origin_of(base: &str) -> Option<String> {
    let url = url::Url::parse(base).ok()?;
    Some(url.origin().ascii_serialization())
}

/// The inbox's live connection (WebSocket): changes the agent may see, as they happen.
#[utoipa::path(get, path = "/live", tag = "agents", responses((status = 101, description = "switching to WebSocket")))]
async fn live(
    State(state): State<AppState>,
    who: Principal,
    headers: axum::http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    // Programs send no Origin; a browser always does, and it must be one of ours.
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let ours = [origin_of(&state.public_base_url), origin_of(&state.settings.local_base_url())];
        let given = origin.to_str().unwrap_or("").trim_end_matches('/');
        if !ours.iter().flatten().any(|o| o == given) {
            return Err(AppError::forbidden(
                "origin_not_allowed",
                "the live connection opens only from this server's own pages",
            ));
        }
    }
    let upgrade = upgrade.map_err(|e| {
        AppError::bad_request("websocket_required", format!("open this as a WebSocket: {}", e.body_text()))
    })?;
    let user = who.user_id.ok_or_else(|| {
        AppError::unprocessable("not_an_agent", "the live connection is for people logged in to the inbox")
    })?;
    let everything = who.role.includes(Role::Supervisor);
    let session = match who.via {
        Via::Session { token_hash, .. } => Some(token_hash),
        Via::Token { .. } | Via::OAuth { .. } => None,
    };
    let role = who.role;
    let upgrade = upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING);
    Ok(upgrade.on_upgrade(move |socket| connection(state, user, everything, (session, role), socket)))
}

/// Whether the session still exists with the role the connection was opened with.
async fn still_valid(state: &AppState, session: &[u8], role: Role) -> sqlx::Result<bool> {
    Ok(crate::store::users::find_session(&state.pool, session)
        .await?
        .is_some_and(|s| s.user.role.parse::<Role>().is_ok_and(|r| r == role)))
}

async fn audience(state: &AppState, user: Uuid, everything: bool) -> sqlx::Result<Audience> {
    if everything {
        return Ok(Audience::All);
    }
    let (queues, numbers) = db::memberships(&state.pool, user).await?;
    Ok(Audience::Agent { user, queues: queues.into_iter().collect(), numbers: numbers.into_iter().collect() })
}

async fn connection(
    state: AppState,
    user: Uuid,
    everything: bool,
    (session, role): (Option<Vec<u8>>, Role),
    mut socket: WebSocket,
) {
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
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.tick().await;
    while open {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
            batch = events.recv() => open = pass_on(&mut socket, &audience, &mut events, batch).await,
            _ = refresh.tick() => match self::audience(&state, user, everything).await {
                Ok(a) => audience = a,
                Err(e) => tracing::warn!(error = %e, "cannot re-read an agent's memberships"),
            },
            _ = ping.tick() => open = within(WRITE_TIMEOUT, socket.send(Message::Ping(Vec::new().into()))).await.is_ok(),
            _ = state.live.stopping() => {
                let bye = axum::extract::ws::CloseFrame {
                    code: crate::live::RESTARTING,
                    reason: "this server is restarting: reconnect".into(),
                };
                let _ = socket.send(Message::Close(Some(bye))).await;
                open = false;
            }
            _ = check.tick(), if session.is_some() => {
                let hash = session.as_deref().unwrap_or_default();
                match still_valid(&state, hash, role).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let bye = axum::extract::ws::CloseFrame {
                            code: 4001,
                            reason: "the session ended or its role changed".into(),
                        };
                        let _ = socket.send(Message::Close(Some(bye))).await;
                        open = false;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot check a live connection's session"),
                }
            }
        }
    }
    if let Err(e) = db::close_connection(&state.pool, id).await {
        tracing::warn!(error = %e, "cannot record a closed live connection; the router closes it when this process stops");
    }
}

/// Writes what `first` and the batches already waiting behind it hold for this audience (one frame per batch),
/// then flushes once. Whether the connection stays open (false: the socket failed or stalled, or the feed ended).
async fn pass_on(
    socket: &mut WebSocket,
    audience: &Audience,
    events: &mut broadcast::Receiver<Arc<Batch>>,
    first: Result<Arc<Batch>, RecvError>,
) -> bool {
    let mut batch = first;
    for taken in 1.. {
        let frame = match batch {
            Ok(batch) => batch.frame_for(audience),
            // Fell behind: the changes it missed are gone; the inbox reloads.
            Err(RecvError::Lagged(_)) => Some(Frame::resync()),
            Err(RecvError::Closed) => return false,
        };
        if let Some(frame) = frame {
            if write(socket, frame).await.is_err() {
                return false;
            }
        }
        if taken == MAX_BATCHES_PER_FLUSH {
            break;
        }
        batch = match events.try_recv() {
            Ok(b) => Ok(b),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => break,
        };
    }
    within(WRITE_TIMEOUT, socket.flush()).await.is_ok()
}

/// Queues one frame on the socket (written once its buffer fills, or at the flush).
async fn write(socket: &mut WebSocket, frame: Frame) -> Result<(), ()> {
    within(WRITE_TIMEOUT, socket.feed(Message::Text(frame.text()))).await
}

/// `io` if it finishes in time and without error.
async fn within<E>(limit: Duration, io: impl std::future::Future<Output = Result<(), E>>) -> Result<(), ()> {
    match tokio::time::timeout(limit, io).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
