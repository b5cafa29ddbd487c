//! Outgoing webhooks: `GET|POST /webhooks`, `GET|PATCH|DELETE /webhooks/{id}`, `GET /webhooks/{id}/deliveries`,
//! `POST /webhooks/{id}/deliveries/{delivery}/redeliver`; and the cursor API over the same events, `GET /events`.
//! Delivery itself is in `webhooks`.

use super::idempotency::ShownOnce;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::{secret_token, Principal};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::events::{self, Cursor};
use crate::store::webhooks::{self as db, DeliveryView, Settings, Webhook};
use crate::webhooks::{destination, EVENT_TYPES};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
        .routes(routes!(events_after))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookFields)]
struct Fields {
    name: Option<String>,
    /// Where events are posted: `https://…` (loopback, private and link-local addresses are refused unless
    /// `webhooks.allow_private_destinations` is on).
    url: Option<String>,
    /// Event types: `message.received`, `message.sent`, `message.status`, `conversation.created`,
    /// `conversation.assigned`, `conversation.resolved`, `notification.status`, `contact.opt_in_changed`,
    /// `csat.rated`.
    events: Option<Vec<String>>,
    /// Only events of these numbers; empty or left out: every number.
    number_ids: Option<Vec<Uuid>>,
    /// Off: nothing is delivered (events keep being recorded and are delivered once it is on again). Turning
    /// it on clears the failure count.
    enabled: Option<bool>,
}

/// Checks the fields over `current` and answers the settings to store.
async fn apply(state: &AppState, current: Option<&Webhook>, f: &Fields) -> AppResult<Settings> {
    let name = f.name.as_deref().or(current.map(|c| c.name.as_str())).map(str::trim).unwrap_or_default().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid_field("name", "name must be 1 to 200 characters"));
    }
    let url = f.url.as_deref().or(current.map(|c| c.url.as_str())).unwrap_or_default().trim().to_owned();
    if url.is_empty() {
        return Err(AppError::invalid_field("url", "url is required"));
    }
    destination::parse(&url).map_err(|m| AppError::invalid_field("url", m))?;
    if f.url.is_some() && !state.settings.webhooks.allow_private_destinations {
        destination::public_addresses(&url).await.map_err(|m| AppError::invalid_field("url", m))?;
    }
    let mut types = f.events.clone().or_else(|| current.map(|c| c.events.clone())).unwrap_or_default();
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(AppError::invalid_field("events", "name at least one event type"));
    }
    if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(AppError::invalid_field(
            "events",
            format!("{unknown:?} is not an event type: {}", EVENT_TYPES.join(", ")),
        ));
    }
    let number_ids = f.number_ids.clone().or_else(|| current.map(|c| c.number_ids.clone())).unwrap_or_default();
    crate::refs::numbers(&mut *state.pool.acquire().await?, &number_ids, "number_ids").await?;
    let enabled = f.enabled.or(current.map(|c| c.enabled)).unwrap_or(true);
    Ok(Settings { name, url, events: types, number_ids, enabled })
}

#[derive(Serialize, ToSchema)]
struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: Webhook,
    /// Signs every delivery (`X-Switchboard-Signature`): shown in this answer only.
    secret: String,
}

/// Subscribes a URL to events. The signing secret is in this answer only.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = Fields,
    responses((status = 201, body = WebhookWithSecret)))]
async fn create(State(state): State<AppState>, who: Principal, ApiJson(f): ApiJson<Fields>) -> AppResult<Response> {
    let settings = apply(&state, None, &f).await?;
    let secret = secret_token::generate("whsec_");
    let mut tx = state.pool.begin().await?;
    let hook = db::insert(&mut tx, Uuid::now_v7(), &settings, &state.secrets.encrypt(&secret)).await?;
    super::audit_change(&mut tx, &who, "webhook.created", "webhook", hook.id, None, Some(&hook)).await?;
    tx.commit().await?;
    let mut response = (StatusCode::CREATED, Json(WebhookWithSecret { webhook: hook, secret })).into_response();
    response.extensions_mut().insert(ShownOnce);
    Ok(response)
}

#[derive(Serialize, ToSchema)]
struct WebhookList {
    items: Vec<Webhook>,
}

/// Every webhook (never its secret), with whether it is on and why not.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", responses((status = 200, body = WebhookList)))]
async fn list(State(state): State<AppState>, _who: Principal) -> AppResult<Json<WebhookList>> {
    Ok(Json(WebhookList { items: db::list(&state.pool).await? }))
}

async fn find(state: &AppState, id: Uuid) -> AppResult<Webhook> {
    db::find(&mut *state.pool.acquire().await?, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook_not_found", "no webhook with this id"))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Webhook)))]
async fn read(State(state): State<AppState>, _who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Webhook>> {
    Ok(Json(find(&state, id).await?))
}

/// Changes a webhook; `{"enabled": true}` turns one that was turned off back on.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)), request_body = Fields,
    responses((status = 200, body = Webhook)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(f): ApiJson<Fields>,
) -> AppResult<Json<Webhook>> {
    let before = find(&state, id).await?;
    let settings = apply(&state, Some(&before), &f).await?;
    let mut tx = state.pool.begin().await?;
    let after = db::update(&mut tx, id, &settings).await?;
    super::audit_change(&mut tx, &who, "webhook.updated", "webhook", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Removes a webhook; what was not delivered yet is dropped.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let before = find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    db::remove(&mut tx, id).await?;
    super::audit_change(&mut tx, &who, "webhook.removed", "webhook", id, Some(&before), None::<&Webhook>).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct Deliveries {
    items: Vec<DeliveryView>,
}

/// The webhook's latest 100 deliveries, newest first: state, attempts, the receiver's last answer.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Deliveries)))]
async fn deliveries(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Deliveries>> {
    find(&state, id).await?;
    Ok(Json(Deliveries { items: db::deliveries(&state.pool, id, 100).await? }))
}

#[derive(Serialize, ToSchema)]
struct Redelivery {
    /// The new delivery's id (`redelivery_of` names the one it repeats).
    id: Uuid,
}

/// Sends a delivery's event again, as a new delivery: 202.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery" = Uuid, Path)), responses((status = 202, body = Redelivery)))]
async fn redeliver(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((id, delivery)): ApiPath<(Uuid, Uuid)>,
) -> AppResult<(StatusCode, Json<Redelivery>)> {
    find(&state, id).await?;
    let mut tx = state.pool.begin().await?;
    let new = db::redeliver(&mut tx, id, delivery)
        .await?
        .ok_or_else(|| AppError::not_found("delivery_not_found", "no delivery with this id for this webhook"))?;
    let data = serde_json::json!({ "delivery_id": delivery, "redelivery_id": new });
    crate::store::audit::record(
        &mut tx,
        &who.actor(),
        "webhook.redelivered",
        "webhook",
        Some(&id.to_string()),
        None,
        Some(&data),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(Redelivery { id: new })))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    /// Read after this cursor: `next_cursor` of the previous answer; `0` (the default) for the oldest event kept
    /// (events are kept 7 days).
    after: Option<String>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<i64>,
    /// Only these types, comma-separated.
    types: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct EventView {
    /// This event's cursor.
    cursor: String,
    id: i64,
    r#type: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
struct EventPage {
    items: Vec<EventView>,
    /// Give it as `after` to read on (the same cursor when nothing new has happened).
    next_cursor: String,
}

/// The events webhooks receive, pulled instead: in the order their changes committed, from a cursor.
#[utoipa::path(get, path = "/events", tag = "webhooks", params(EventQuery), responses((status = 200, body = EventPage)))]
async fn events_after(
    State(state): State<AppState>,
    _who: Principal,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> AppResult<Json<EventPage>> {
    let after: Cursor = q
        .after
        .as_deref()
        .unwrap_or("0")
        .parse()
        .map_err(|m: &str| AppError::bad_request("invalid_query", m).with_field("after"))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request("invalid_query", "limit must be 1 to 1000").with_field("limit"));
    }
    let types: Option<Vec<String>> =
        q.types.as_deref().map(|t| t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect());
    if let Some(unknown) = types.iter().flatten().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(
            AppError::bad_request("invalid_query", format!("{unknown:?} is not an event type")).with_field("types")
        );
    }
    let found = events::read_after(&mut *state.pool.acquire().await?, after, limit, types.as_deref()).await?;
    let next = found.last().map_or(after, |e| e.cursor());
    let items = found
        .into_iter()
        .map(|e| EventView {
            cursor: e.cursor().to_string(),
            id: e.id,
            r#type: e.r#type,
            created_at: e.created_at,
            data: e.data,
        })
        .collect();
    Ok(Json(EventPage { items, next_cursor: next.to_string() }))
}
