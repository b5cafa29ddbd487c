//! Agentless notifications: `POST /notifications` (one recipient, answered at once), `POST
//! /notifications/batches` (up to `notifications.batch_max_recipients`, sent by a durable job) and `GET
//! /notifications/batches/{id}` (its progress and each recipient's result). The rules are in `notify`.

use super::{ApiJson, ApiPath};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::notify::writer::Request;
use crate::notify::{self, batch::StoredRequest, Common, Sent, TemplateChoice};
use crate::state::AppState;
use crate::store::notifications::{self as db, BatchView, NewRecipient};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send)).routes(routes!(send_batch)).routes(routes!(read_batch))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NotificationRequest {
    /// The business's WhatsApp number to write from.
    number_id: Uuid,
    /// The customer's number: E.164 with or without `+`; spaces, dashes, dots and parentheses are ignored.
    to: String,
    /// An approved template, by id or by name and language, with its variables.
    template: TemplateChoice,
    /// What it is about (at most 200 characters), shown to the agent once the customer replies.
    topic: Option<String>,
    #[serde(default)]
    tag_ids: Vec<Uuid>,
    /// The queue the conversation belongs to when the customer replies (routing rules still decide).
    queue_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
struct Accepted {
    message_id: Uuid,
    conversation_id: Uuid,
}

impl From<Sent> for Accepted {
    fn from(s: Sent) -> Self {
        Self { message_id: s.message_id, conversation_id: s.conversation_id }
    }
}

/// Sends a template message to one customer without an agent: 202 with the message and conversation. Refused
/// (nothing queued): 422 `opt_in_required` (no opt-in on record and no open window), 422 `opted_out`, 422
/// template errors, 409 `conversation_active` (a human agent holds an unresolved conversation with the
/// customer; `details.conversation_id`), 429 `messaging_limit_reached` with `Retry-After`. The conversation is
/// not routed to agents until the customer replies.
#[utoipa::path(post, path = "/notifications", tag = "notifications", request_body = NotificationRequest,
    responses((status = 202, body = Accepted)))]
async fn send(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<NotificationRequest>,
) -> AppResult<(StatusCode, Json<Accepted>)> {
    let common = Common {
        number_id: req.number_id,
        template: req.template,
        topic: req.topic,
        tag_ids: req.tag_ids,
        queue_id: req.queue_id,
    };
    let sent = state.notifications.send(Request::new(who.caller(), common, req.to)).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchRecipient {
    /// The customer's number, as for one notification.
    to: String,
    /// This recipient's own variables, over the template's common ones.
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    number_id: Uuid,
    template: TemplateChoice,
    /// 1 to `notifications.batch_max_recipients` (1,000 by default).
    recipients: Vec<BatchRecipient>,
    topic: Option<String>,
    #[serde(default)]
    tag_ids: Vec<Uuid>,
    queue_id: Option<Uuid>,
}

/// Sends one template to many customers: 202 with the batch, whose job sends each recipient under the same
/// rules as one notification. What they share (number, template, topic, tags, queue) is checked now; each
/// recipient's result (accepted with its message, or refused with the code one notification would get) is
/// read at `GET /notifications/batches/{id}`.
#[utoipa::path(post, path = "/notifications/batches", tag = "notifications", request_body = BatchRequest,
    responses((status = 202, body = BatchView)))]
async fn send_batch(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<BatchRequest>,
) -> AppResult<(StatusCode, Json<BatchView>)> {
    let max = state.settings.notifications.batch_max_recipients;
    if req.recipients.is_empty() || req.recipients.len() > max {
        return Err(AppError::invalid_field("recipients", format!("give 1 to {max} recipients")));
    }
    let common = Common {
        number_id: req.number_id,
        template: req.template,
        topic: req.topic,
        tag_ids: req.tag_ids,
        queue_id: req.queue_id,
    };
    let mut tx = state.pool.begin().await?;
    notify::check(&mut tx, common.clone()).await?;
    let id = Uuid::now_v7();
    let stored = serde_json::to_value(StoredRequest::new(&common, &who.actor())).map_err(anyhow::Error::from)?;
    let variables: Vec<serde_json::Value> = req
        .recipients
        .iter()
        .map(|r| serde_json::to_value(&r.variables).map_err(anyhow::Error::from))
        .collect::<Result<_, _>>()?;
    let recipients: Vec<NewRecipient<'_>> = req
        .recipients
        .iter()
        .zip(&variables)
        .map(|(r, variables)| NewRecipient { to: r.to.as_str(), variables })
        .collect();
    db::insert_batch(&mut tx, id, &stored, &who.label, &recipients, state.settings.jobs.max_attempts).await?;
    tx.commit().await?;
    state.jobs_wake.kick();
    let view = db::view_batch(&state.pool, id).await?.ok_or_else(|| anyhow::anyhow!("a stored batch is not found"))?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// A batch's progress, and each recipient's result in the order given.
#[utoipa::path(get, path = "/notifications/batches/{id}", tag = "notifications", params(("id" = Uuid, Path)),
    responses((status = 200, body = BatchView)))]
async fn read_batch(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<BatchView>> {
    let view = db::view_batch(&state.pool, id)
        .await?
        .ok_or_else(|| AppError::not_found("batch_not_found", "no notification batch with this id"))?;
    Ok(Json(view))
}
