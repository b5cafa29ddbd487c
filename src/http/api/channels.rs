//! Channels: `POST /channels`, `GET /channels`, `GET|PATCH|DELETE /channels/{id}`, and Auth Token rotation
//! (`POST /channels/{id}/auth-token` makes a new token primary while the old one stays accepted;
//! `DELETE /channels/{id}/auth-token/secondary` retires the old one). Secrets are write-only: responses say
//! whether they are set, never what they are. Admins only, except reading, which supervisors may do too.

use super::{ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::channels::{self, ChannelInput, CreateError, NewChannel};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME};
use crate::store::{self, channels::ChannelView};
use crate::twilio::{rest::RestError, BasicAuth};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(rotate_token))
        .routes(routes!(retire_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NumberInput {
    name: Option<String>,
    e164: String,
}

/// A new channel: the Twilio account's credentials (write-only), and either its WhatsApp sender numbers or a
/// Messaging Service SID.
#[derive(Deserialize, ToSchema)]
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
    /// Ask Twilio first whether the credentials work (a refusal is 422 `twilio_credentials_invalid`).
    #[serde(default)]
    verify: bool,
}

/// Where to point Twilio: paste these into the WhatsApp sender's (or Messaging Service's) configuration.
#[derive(Serialize, ToSchema)]
struct Webhooks {
    messages: String,
    status: String,
    /// The Voice URL of the sender's TwiML voice application (WhatsApp calling).
    voice: String,
    /// Its Status Callback URL.
    voice_status: String,
}

/// A channel with its webhook URLs. Secrets show only as set or not set.
#[derive(Serialize, ToSchema)]
struct ChannelOut {
    #[serde(flatten)]
    channel: ChannelView,
    webhooks: Webhooks,
}

fn parse_new(body: CreateChannel) -> AppResult<NewChannel> {
    let api_key = match (body.api_key_sid, body.api_key_secret) {
        (None, None) => None,
        (Some(sid), Some(secret)) => Some((sid, secret)),
        _ => return Err(AppError::invalid_field("api_key_secret", "api_key_sid and api_key_secret go together")),
    };
    let input = ChannelInput {
        name: body.name,
        account_sid: body.account_sid,
        auth_token: body.auth_token,
        api_key,
        numbers: body.numbers.into_iter().map(|n| (n.name, n.e164)).collect(),
        messaging_service_sid: body.messaging_service_sid,
    };
    NewChannel::parse(input).map_err(|e| AppError::invalid_field(&e.field, format!("{} {}", e.field, e.reason)))
}

fn with_webhooks(state: &AppState, view: &ChannelView) -> ChannelOut {
    let urls = channels::webhook_urls(&state.public_base_url, view.id);
    ChannelOut {
        channel: view.clone(),
        webhooks: Webhooks {
            messages: urls.messages,
            status: urls.status,
            voice: channels::voice_webhook_url(&state.public_base_url, view.id),
            voice_status: channels::voice_status_webhook_url(&state.public_base_url, view.id),
        },
    }
}

/// Creates a channel. Admins.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, body = ChannelOut)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CreateChannel>,
) -> AppResult<(StatusCode, Json<ChannelOut>)> {
    let verify = body.verify;
    let new = parse_new(body)?;
    if verify {
        let api_key = new.api_key.as_ref().map(|(sid, secret)| (sid.as_str(), secret.clone()));
        let auth = BasicAuth::choose(new.account_sid.as_str(), api_key, Some(new.auth_token.clone()))
            .expect("a new channel always has an Auth Token");
        state.twilio.check_credentials(&new.account_sid, &auth).await.map_err(|e| match e {
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
            RestError::Timeout => AppError::client(StatusCode::GATEWAY_TIMEOUT, "twilio_unreachable", "Twilio did not answer in time while the credentials were checked"),
            RestError::BadResponse(m) => AppError::client(StatusCode::BAD_GATEWAY, "twilio_error", format!("Twilio's answer could not be read: {m}")),
        })?;
    }
    let id = channels::create(&state.pool, &state.secrets, &new).await.map_err(|e| match e {
        CreateError::MessagingServiceTaken(sid) => AppError::client(
            StatusCode::CONFLICT,
            "messaging_service_taken",
            format!("another channel already uses Messaging Service {sid}"),
        )
        .with_field("messaging_service_sid"),
        CreateError::DuplicateNumber(n) => {
            AppError::invalid_field("numbers", format!("the number {n} is listed twice"))
        }
        e @ CreateError::AuthTokenDiffers(_) => {
            AppError::conflict("auth_token_mismatch", e.to_string()).with_field("auth_token")
        }
        CreateError::Database(e) => e.into(),
    })?;
    let mut tx = state.pool.begin().await?;
    let view = view_in(&mut tx, id).await?;
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Include deleted channels.
    include_deleted: Option<bool>,
    /// Name contains (case-insensitive).
    q: Option<String>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_CREATED, BY_NAME];
    const DESCENDING: bool = true;
}

/// Lists channels. Supervisors and admins.
#[utoipa::path(get, path = "/channels", tag = "channels", params(ListParams, Filters),
    responses((status = 200, body = Page<ChannelOut>)))]
async fn list(
    State(state): State<AppState>,
    _who: Principal,
    list: List<Filters>,
) -> AppResult<Json<Page<ChannelOut>>> {
    let f = &list.filters;
    let views =
        store::channels::list_views(&state.pool, &list.listing, f.include_deleted.unwrap_or(false), f.q.as_deref())
            .await?;
    let page = Page::from_keyed(views, &list.listing);
    Ok(Json(page.map(|v| with_webhooks(&state, &v))))
}

async fn find(state: &AppState, id: Uuid) -> AppResult<ChannelView> {
    let mut conn = state.pool.acquire().await?;
    store::channels::view(&mut conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("channel_not_found", "no channel with this id"))
}

/// One channel. Supervisors and admins.
#[utoipa::path(get, path = "/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, body = ChannelOut)))]
async fn read(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<ChannelOut>> {
    Ok(Json(with_webhooks(&state, &find(&state, id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateChannel {
    name: Option<String>,
    /// The TwiML voice application (`AP…`) agents' browsers call through (WhatsApp calling; with the
    /// channel's API key it lets agents answer in the browser); `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    voice_application_sid: Option<Option<String>>,
}

/// Renames a channel. Admins.
#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    request_body = UpdateChannel, responses((status = 200, body = ChannelOut)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> AppResult<Json<ChannelOut>> {
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    if let Some(name) = body.name {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(AppError::invalid_field("name", "name must be 1 to 200 characters"));
        }
        store::channels::rename(&mut tx, id, name).await?;
    }
    if let Some(sid) = body.voice_application_sid {
        let sid =
            match sid {
                Some(s) => Some(crate::domain::sid::ApplicationSid::parse(s.trim()).map_err(|e| {
                    AppError::invalid_field("voice_application_sid", format!("voice_application_sid {e}"))
                })?),
                None => None,
            };
        store::channels::set_voice_application(&mut tx, id, sid.as_ref().map(|s| s.as_str())).await?;
    }
    let after = view_in(&mut tx, id).await?;
    audit(&mut tx, &who, "channel.updated", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(Json(with_webhooks(&state, &after)))
}

/// Deletes a channel: it receives nothing new; its conversations and messages stay readable. Admins.
#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    store::channels::soft_delete(&mut tx, id).await?;
    let after = view_in(&mut tx, id).await?;
    audit(&mut tx, &who, "channel.deleted", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAuthToken {
    auth_token: String,
}

/// Makes a new Auth Token primary; the old one stays accepted for webhook signatures until retired. Admins.
#[utoipa::path(post, path = "/channels/{id}/auth-token", tag = "channels", params(("id" = Uuid, Path)),
    request_body = NewAuthToken, responses((status = 200, body = ChannelOut)))]
async fn rotate_token(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewAuthToken>,
) -> AppResult<Json<ChannelOut>> {
    if body.auth_token.trim().is_empty() {
        return Err(AppError::invalid_field("auth_token", "auth_token must not be empty"));
    }
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    store::channels::rotate_auth_token(&mut tx, id, &state.secrets.encrypt(body.auth_token.trim())).await?;
    let after = view_in(&mut tx, id).await?;
    audit(&mut tx, &who, "channel.auth_token_rotated", &before, &after).await?;
    tx.commit().await?;
    state.channels.invalidate(id);
    Ok(Json(with_webhooks(&state, &after)))
}

/// Retires the previous Auth Token: from now on only the primary one is accepted. Admins.
#[utoipa::path(delete, path = "/channels/{id}/auth-token/secondary", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, body = ChannelOut)))]
async fn retire_token(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<ChannelOut>> {
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    store::channels::retire_secondary_auth_token(&mut tx, id).await?;
    let after = view_in(&mut tx, id).await?;
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

/// The channel as this transaction sees it after a change (the transaction holds it, so it cannot be gone).
async fn view_in(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<store::channels::ChannelView> {
    store::channels::view(conn, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("channel {id} changed in this transaction is not found")))
}
