//! `POST /conversations`: an agent (or an API token) starts a conversation with a customer, opening with an
//! approved template (the business may write first only with one). A customer has at most one open
//! conversation per number: if there is one, the answer is 409 `conversation_exists` naming it, so the agent
//! continues there instead of starting a duplicate.

use super::conversations::{tag_ids, template_message, Conversation, TemplateUse};
use super::ApiJson;
use crate::auth::Principal;
use crate::domain::{Role, E164};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::conversations::{self, NewConversation, Visibility};
use crate::store::{self, outbound, routing as db};
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
    #[serde(default)]
    priority: i32,
    /// The queue it belongs to. The agent who starts it holds it; started by an API token, it is routed.
    queue_id: Option<Uuid>,
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_field", message).with_field(field)
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
    let topic = req.topic.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if topic.is_some_and(|t| t.chars().count() > 200) {
        return Err(invalid("topic", "topic is at most 200 characters"));
    }
    crate::routing::actions::check_priority(req.priority)?;
    let tag_ids = tag_ids(req.tag_ids)?;
    let to = match (&req.to, req.contact_id) {
        (Some(to), None) => Some(E164::parse(to.trim()).map_err(|e| invalid("to", e.to_string()))?),
        (None, Some(_)) => None,
        _ => return Err(invalid("to", "give either to (a phone number) or contact_id")),
    };

    let mut tx = state.pool.begin().await?;
    let (channel_id, account_id) = store::numbers::sending(&mut tx, req.number_id).await?.ok_or_else(|| {
        AppError::unprocessable("unknown_reference", "no such WhatsApp number").with_field("number_id")
    })?;
    if !who.role.includes(Role::Supervisor) {
        let serves = match who.user_id {
            Some(user) => store::numbers::serves(&mut tx, user, req.number_id).await?,
            None => false,
        };
        if !serves {
            return Err(AppError::client(
                StatusCode::FORBIDDEN,
                "number_not_served",
                "you do not serve this number: ask an admin to add you to it, or write from one of yours",
            ));
        }
    }
    if let Some(q) = req.queue_id {
        super::refs::queue(&mut tx, q, "queue_id").await?;
    }
    super::refs::tags(&mut tx, &tag_ids, "tag_ids").await?;
    let contact_id = match (to, req.contact_id) {
        (Some(to), _) => store::contacts::find_or_create(&mut tx, to.as_str()).await?,
        (None, Some(id)) => {
            let contact = store::contacts::find(&mut tx, id).await?.ok_or_else(|| {
                AppError::unprocessable("unknown_reference", "no contact with this id").with_field("contact_id")
            })?;
            if contact.phone.is_none() {
                return Err(invalid("contact_id", "this contact has no phone number to write to"));
            }
            id
        }
        (None, None) => unreachable!("checked above"),
    };
    // `None` only if the conflicting conversation was resolved again in the meantime.
    let exists = |id: Option<Uuid>| {
        AppError::client(
            StatusCode::CONFLICT,
            "conversation_exists",
            "this customer already has an open conversation on this number: continue there",
        )
        .with_details(serde_json::json!({ "conversation_id": id }))
    };
    if let Some(open) = conversations::open_for(&mut tx, req.number_id, contact_id).await? {
        return Err(exists(Some(open)));
    }
    let message = template_message(&mut tx, &req.template).await?;
    let id = Uuid::now_v7();
    let assignee = who.user_id;
    let inserted = conversations::insert(
        &mut tx,
        &NewConversation {
            id,
            channel_id,
            number_id: req.number_id,
            contact_id,
            topic,
            priority: req.priority,
            queue_id: req.queue_id,
            assignee_id: assignee,
        },
    )
    .await?;
    if !inserted {
        // Another request started one between the check and the insert.
        return Err(exists(conversations::open_for(&mut tx, req.number_id, contact_id).await?));
    }
    let actor = who.actor();
    db::record_event(&mut tx, id, "started", &actor, serde_json::json!({ "topic": topic })).await?;
    if let Some(user) = assignee {
        db::record_event(&mut tx, id, "assigned", &actor, serde_json::json!({ "agent_id": user })).await?;
    }
    if !tag_ids.is_empty() {
        conversations::set_tags(&mut tx, id, &tag_ids).await?;
    }
    outbound::insert(
        &mut tx,
        &outbound::NewOutbound {
            id: Uuid::now_v7(),
            conversation_id: id,
            account_id,
            body: &message.text,
            author_user_id: who.user_id,
            author_label: &who.label,
            template_id: Some(message.template_id),
            content_sid: message.content_sid.as_deref(),
            content_variables: Some(&message.variables),
            upload_ids: &[],
            max_attempts: state.settings.outbound.max_attempts,
        },
    )
    .await?;
    let row = conversations::find(&mut tx, id, Visibility::All)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a conversation inserted in this transaction is not found"))?;
    tx.commit().await?;
    if assignee.is_none() {
        state.router_wake.notify_one();
    }
    tracing::info!(conversation = %id, number = %req.number_id, "conversation started");
    Ok((StatusCode::CREATED, Json(row.into())))
}
