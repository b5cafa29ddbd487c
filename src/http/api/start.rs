//! `POST /conversations`: an agent (or an API token) starts a conversation with a customer, opening with an
//! approved template (the business may write first only with one). A customer has at most one open
//! conversation per number: if there is one, the answer is 409 `conversation_exists` naming it, so the agent
//! continues there instead of starting a duplicate. Started to call the customer (`communication_type: call`),
//! it opens with a call-permission request. The rules are in `outbound::start`.

use super::conversations::{outbox, Conversation};
use super::ApiJson;
use crate::auth::Principal;
use crate::domain::conversation::{requested_priority, PriorityLevel};
use crate::domain::routing::CommunicationType;
use crate::domain::E164;
use crate::error::{AppError, AppResult};
use crate::outbound::compose::TemplateUse;
use crate::outbound::start::{self as starting, NewConversationDraft, Recipient};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewConversationRequest {
    /// The business's WhatsApp number to write from. Agents may use the numbers they serve.
    number_id: Uuid,
    /// The customer's number (E.164, such as +31612345678); or give `contact_id`.
    to: Option<String>,
    /// An existing contact; or give `to`.
    contact_id: Option<Uuid>,
    /// The opening message: an approved template with its variables.
    template: TemplateUse,
    /// What it is about (at most 200 characters).
    topic: Option<String>,
    #[serde(default)]
    tag_ids: Vec<Uuid>,
    /// -1000 to 1000 (default 0).
    priority: Option<i32>,
    /// `urgent`, `high`, `normal` or `low`: sets the priority to 300, 100, 0 or -100 (not with `priority`).
    priority_level: Option<PriorityLevel>,
    /// The queue it belongs to. The agent who starts it holds it; started by an API token, it is routed.
    queue_id: Option<Uuid>,
    /// `call` to call the customer: the template must then be a call-permission request (422
    /// `template_not_call_permission` otherwise), sent under WhatsApp's request limits (422
    /// `call_permission_request_limited` with `details.next_request_at`). Default `message`.
    #[serde(default)]
    communication_type: CommunicationType,
}

/// Starts a conversation with a template message: 201 with the conversation (its message is queued). 409
/// `conversation_exists` with `details.conversation_id` if the customer already has one open on this number.
#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = NewConversationRequest,
    responses((status = 201, body = Conversation)))]
async fn start(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<NewConversationRequest>,
) -> AppResult<(StatusCode, Json<Conversation>)> {
    let to = match (&req.to, req.contact_id) {
        (Some(to), None) => {
            Recipient::Phone(E164::parse(to.trim()).map_err(|e| AppError::invalid_field("to", e.to_string()))?)
        }
        (None, Some(id)) => Recipient::Contact(id),
        _ => return Err(AppError::invalid_field("to", "give either to (a phone number) or contact_id")),
    };
    let draft = NewConversationDraft {
        number_id: req.number_id,
        to,
        template: req.template,
        topic: req.topic,
        tag_ids: req.tag_ids,
        priority: requested_priority(req.priority, req.priority_level)
            .map_err(|m| AppError::invalid_field("priority_level", m))?
            .unwrap_or(0),
        queue_id: req.queue_id,
        communication_type: req.communication_type,
    };
    let mut tx = state.pool.begin().await?;
    let started = starting::start(&state.side_pool, &mut tx, outbox(&state), &who.caller(), draft).await?;
    if let Err(e) = tx.commit().await {
        started.reservation.release(&state.side_pool).await;
        return Err(e.into());
    }
    state.jobs_wake.kick();
    if started.needs_routing {
        state.router_wake.notify_one();
    }
    Ok((StatusCode::CREATED, Json(started.conversation.into())))
}
