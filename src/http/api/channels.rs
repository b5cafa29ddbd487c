//! Channels: `POST /channels`, `GET /channels`, `GET|PATCH|DELETE /channels/{id}`, and Auth Token rotation
//! (`POST /channels/{id}/auth-token` makes a new token primary while the old one stays accepted;
//! `DELETE /channels/{id}/auth-token/secondary` retires the old one). Secrets are write-only: responses say
//! whether they are set, never what they are. Admins only, except reading, which supervisors may do too.

use super::{ApiJson, Page, PageQuery};
use crate::auth::Principal;
use crate::channels::{self, ChannelInput, CreateError, NewChannel};
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::{self, channels::ChannelView};
use crate::twilio::rest::RestError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{id}", get(read).patch(update).delete(remove))
        .route("/channels/{id}/auth-token", post(rotate_token))
        .route("/channels/{id}/auth-token/secondary", delete(retire_token))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberInput {
    name: Option<String>,
    e164: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    name: String,
    account_sid: String,
    auth_token: String,
    api_key_sid: Option<String>,
    api_key_secret: Option<String>,
    #[serde(default)]
    numbers: Vec<NumberInput>,
    messaging_service_sid: Option<String>,
    #[serde(default)]
    verify: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_field", message).with_field(field)
}

fn parse_new(body: CreateChannel) -> AppResult<NewChannel> {
    let api_key = match (body.api_key_sid, body.api_key_secret) {
        (None, None) => None,
        (Some(sid), Some(secret)) => Some((sid, secret)),
        _ => return Err(invalid("api_key_secret", "api_key_sid and api_key_secret go together")),
    };
    let input = ChannelInput {
        name: body.name,
        account_sid: body.account_sid,
        auth_token: body.auth_token,
        api_key,
        numbers: body.numbers.into_iter().map(|n| (n.name, n.e164)).collect(),
        messaging_service_sid: body.messaging_service_sid,
    };
    NewChannel::parse(input).map_err(|e| invalid(&e.field, format!("{} {}", e.field, e.reason)))
}

fn with_webhooks(state: &AppState, view: &ChannelView) -> Value {
    let mut v = serde_json::to_value(view).expect("serialisable");
    let urls = channels::webhook_urls(&state.public_base_url, view.id);
    v["webhooks"] = json!({ "messages": urls.messages, "status": urls.status, "voice": channels::voice_webhook_url(&state.public_base_url, view.id) });
    v
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateChannel>,
) -> AppResult<(StatusCode, Json<Value>)> {
    who.require(Role::Admin)?;
    let verify = body.verify;
    let new = parse_new(body)?;
    if verify {
        let (user, password) = match &new.api_key {
            Some((sid, secret)) => (sid.clone(), secret.clone()),
            None => (new.account_sid.to_string(), new.auth_token.clone()),
        };
        state.twilio.check_credentials(&new.account_sid, &user, &password).await.map_err(|e| match e {
            RestError::Twilio { code: Some(20003), .. } | RestError::Twilio { status: 401, .. } => AppError::unprocessable(
                "twilio_credentials_invalid",
                "Twilio refused these credentials (error 20003): check the Account SID and the Auth Token or API key",
            ),
            RestError::Twilio { status, code, message } => AppError::client(
                StatusCode::BAD_GATEWAY,
                "twilio_error",
                format!("Twilio answered {status} (error {code:?}) while checking the credentials: {message}"),
            ),
            RestError::Unreachable(m) => AppError::client(StatusCode::BAD_GATEWAY, "twilio_unreachable", format!("Twilio could not be reached to check the credentials: {m}")),
        })?;
    }
    let id = channels::create(&state.pool, &state.secrets, &new).await.map_err(|e| match e {
        CreateError::MessagingServiceTaken(sid) => AppError::client(
            StatusCode::CONFLICT,
            "messaging_service_taken",
            format!("another channel already uses Messaging Service {sid}"),
        )
        .with_field("messaging_service_sid"),
        CreateError::DuplicateNumber(n) => invalid("numbers", format!("the number {n} is listed twice")),
        CreateError::Database(e) => e.into(),
    })?;
    let mut tx = state.pool.begin().await?;
    let view = store::channels::view(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("channel vanished")))?;
    let after = serde_json::to_value(&view).map_err(anyhow::Error::from)?;
    store::audit::record(
        &mut tx,
        &who.actor(),
        "channel.created",
        "channel",
        Some(&id.to_string()),
        None,
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(with_webhooks(&state, &view))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<i64>,
    #[serde(default)]
    include_deleted: bool,
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Page<Value>>> {
    who.require(Role::Supervisor)?;
    let page = PageQuery { cursor: q.cursor, limit: q.limit };
    let limit = page.limit()?;
    let before = page.cursor::<Uuid>()?;
    let views = store::channels::list_views(&state.pool, q.include_deleted, before, limit + 1).await?;
    let page = Page::from_overfetch(views, limit, |v| v.id.to_string());
    Ok(Json(Page {
        items: page.items.iter().map(|v| with_webhooks(&state, v)).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn find(state: &AppState, id: Uuid) -> AppResult<ChannelView> {
    let mut conn = state.pool.acquire().await?;
    store::channels::view(&mut conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("channel_not_found", "no channel with this id"))
}

async fn read(State(state): State<AppState>, who: Principal, Path(id): Path<Uuid>) -> AppResult<Json<Value>> {
    who.require(Role::Supervisor)?;
    Ok(Json(with_webhooks(&state, &find(&state, id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateChannel {
    name: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> AppResult<Json<Value>> {
    who.require(Role::Admin)?;
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    if let Some(name) = body.name {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(invalid("name", "name must be 1 to 200 characters"));
        }
        store::channels::rename(&mut tx, id, name).await?;
    }
    let after = store::channels::view(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("channel vanished")))?;
    audit(&mut tx, &who, "channel.updated", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(Json(with_webhooks(&state, &after)))
}

async fn remove(State(state): State<AppState>, who: Principal, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    who.require(Role::Admin)?;
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    store::channels::soft_delete(&mut tx, id).await?;
    let after = store::channels::view(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("channel vanished")))?;
    audit(&mut tx, &who, "channel.deleted", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAuthToken {
    auth_token: String,
}

async fn rotate_token(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<NewAuthToken>,
) -> AppResult<Json<Value>> {
    who.require(Role::Admin)?;
    if body.auth_token.trim().is_empty() {
        return Err(invalid("auth_token", "auth_token must not be empty"));
    }
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    store::channels::rotate_auth_token(&mut tx, id, &state.secrets.encrypt(body.auth_token.trim())).await?;
    let after = store::channels::view(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("channel vanished")))?;
    audit(&mut tx, &who, "channel.auth_token_rotated", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(Json(with_webhooks(&state, &after)))
}

async fn retire_token(State(state): State<AppState>, who: Principal, Path(id): Path<Uuid>) -> AppResult<Json<Value>> {
    who.require(Role::Admin)?;
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    store::channels::retire_secondary_auth_token(&mut tx, id).await?;
    let after = store::channels::view(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("channel vanished")))?;
    audit(&mut tx, &who, "channel.auth_token_retired", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(Json(with_webhooks(&state, &after)))
}

/// Channel views carry no secrets, so before and after go to the audit log as they are.
async fn audit(
    conn: &mut sqlx::PgConnection,
    who: &Principal,
    action: &str,
    before: &ChannelView,
    after: &ChannelView,
) -> AppResult<()> {
    let to_json = |v: &ChannelView| serde_json::to_value(v).map_err(anyhow::Error::from);
    store::audit::record(
        conn,
        &who.actor(),
        action,
        "channel",
        Some(&after.id.to_string()),
        Some(&to_json(before)?),
        Some(&to_json(after)?),
    )
    .await?;
    Ok(())
}
