//! Starting a conversation with a customer (`POST /conversations`): from a number the caller serves, to a phone
//! number or a contact, with an approved template, under the same rules and the same queueing as every sender
//! ([`super::compose`]). Started to call the customer, it opens with a call-permission request.

use super::compose::{queue, template_message, Outbox, Parts, TemplateMessage, TemplateUse, MAX_TOPIC_CHARS};
use super::limits::{self, Reservation};
use super::policy::{Refusal, SendError};
use crate::auth::Caller;
use crate::calling::permission;
use crate::domain::conversation::StartedBy;
use crate::domain::routing::CommunicationType;
use crate::domain::{conversation, opt_in, E164};
use crate::refs;
use crate::store::conversations::{self, ConversationRow, NewConversation, Visibility};
use crate::store::{self, routing as db};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Who a new conversation is with.
#[derive(Debug, Clone)]
pub enum Recipient {
    /// A phone number: its contact is found or created.
    Phone(E164),
    /// A contact that has a phone number.
    Contact(Uuid),
}

/// A conversation to open with a customer.
#[derive(Debug, Clone)]
pub struct NewConversationDraft {
    /// The business's number to write from.
    pub number_id: Uuid,
    pub to: Recipient,
    /// The opening message.
    pub template: TemplateUse,
    pub topic: Option<String>,
    pub tag_ids: Vec<Uuid>,
    pub priority: i32,
    pub queue_id: Option<Uuid>,
    /// `call`: the business means to call the customer, so the opening template must be a call-permission
    /// request (seed 001's "+ → communication type: call").
    pub communication_type: CommunicationType,
}

/// A conversation [`start`] opened.
#[derive(Debug)]
pub struct Started {
    pub conversation: ConversationRow,
    /// Nobody holds it (an API token started it): the routers must be woken once the transaction commits.
    pub needs_routing: bool,
    /// The customer's place under the number's messaging limit: give it back if the transaction does not commit.
    pub reservation: Reservation,
}

/// Opens a conversation with a template message: the person who starts it holds it; started by an API token, it
/// is left for the router. A customer has at most one open conversation per number: if there is one, the refusal
/// names it ([`Refusal::ConversationExists`]), so the caller continues there instead of starting a duplicate.
#[tracing::instrument(skip_all, fields(number = %draft.number_id))]
pub async fn start(
    pool: &PgPool,
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    draft: NewConversationDraft,
) -> Result<Started, SendError> {
    let topic = draft.topic.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if topic.is_some_and(|t| t.chars().count() > MAX_TOPIC_CHARS) {
        return Err(Refusal::invalid("topic", format!("topic is at most {MAX_TOPIC_CHARS} characters")).into());
    }
    conversation::check_priority(draft.priority).map_err(|m| Refusal::invalid("priority", m))?;
    let tag_ids = conversation::tag_ids(draft.tag_ids.clone()).map_err(|m| Refusal::invalid("tag_ids", m))?;
    let (channel_id, account_id) = store::numbers::sending(conn, draft.number_id)
        .await?
        .ok_or_else(|| Refusal::unknown("unknown_reference", "number_id", "no such WhatsApp number"))?;
    if !caller.supervisor {
        let serves = match caller.user_id {
            Some(user) => store::numbers::serves(conn, user, draft.number_id).await?,
            None => false,
        };
        if !serves {
            return Err(Refusal::NumberNotServed.into());
        }
    }
    if let Some(q) = draft.queue_id {
        refs::queue(conn, q, "queue_id").await?;
    }
    refs::tags(conn, &tag_ids, "tag_ids").await?;
    let contact_id = match &draft.to {
        Recipient::Phone(to) => store::contacts::find_or_create(conn, to.as_str()).await?,
        Recipient::Contact(id) => {
            let contact = store::contacts::find(conn, *id)
                .await?
                .ok_or_else(|| Refusal::unknown("unknown_reference", "contact_id", "no contact with this id"))?;
            if contact.phone.is_none() {
                return Err(Refusal::invalid("contact_id", "this contact has no phone number to write to").into());
            }
            *id
        }
    };
    if let Some(open) = conversations::open_for(conn, draft.number_id, contact_id).await? {
        return Err(Refusal::ConversationExists { id: Some(open) }.into());
    }
    if !opt_in::agent_may_start(store::opt_ins::current(conn, contact_id, draft.number_id).await?) {
        return Err(Refusal::OptedOut.into());
    }
    // A conversation started by the business has no window yet: only an approved template opens it.
    let message = template_message(conn, &draft.template, false).await?;
    if draft.communication_type == CommunicationType::Call && !message.asks_call_permission {
        return Err(Refusal::NotCallPermissionTemplate.into());
    }
    if message.asks_call_permission {
        let calls = store::numbers::supports_calling(conn, draft.number_id).await?;
        permission::admit(conn, draft.number_id, contact_id, calls, permission::Ask::Request)
            .await?
            .map_err(Refusal::from)?;
    }
    // Business-initiated whatever the customer's last window: it counts towards the number's limit.
    let reservation = limits::reserve_one(pool, conn, draft.number_id, contact_id).await?;
    match write_start(conn, outbox, caller, &draft, topic, &tag_ids, channel_id, account_id, contact_id, &message).await
    {
        Ok(conversation) => {
            let needs_routing = caller.user_id.is_none();
            Ok(Started { conversation, needs_routing, reservation })
        }
        Err(e) => {
            reservation.release(pool).await;
            Err(e)
        }
    }
}

/// The writes of [`start`], once every rule allowed it.
#[allow(clippy::too_many_arguments)]
async fn write_start(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    draft: &NewConversationDraft,
    topic: Option<&str>,
    tag_ids: &[Uuid],
    channel_id: Uuid,
    account_id: Uuid,
    contact_id: Uuid,
    message: &TemplateMessage,
) -> Result<ConversationRow, SendError> {
    let id = Uuid::now_v7();
    let assignee = caller.user_id;
    let new = NewConversation {
        id,
        channel_id,
        number_id: draft.number_id,
        contact_id,
        topic,
        priority: draft.priority,
        queue_id: draft.queue_id,
        assignee_id: assignee,
        started_by: StartedBy::Business,
        communication_type: draft.communication_type,
    };
    if !conversations::insert(conn, &new).await? {
        // Another request started one between the check and the insert.
        let open = conversations::open_for(conn, draft.number_id, contact_id).await?;
        return Err(Refusal::ConversationExists { id: open }.into());
    }
    db::record_event(conn, id, "started", &caller.actor, serde_json::json!({ "topic": topic })).await?;
    if let Some(user) = assignee {
        db::record_event(conn, id, "assigned", &caller.actor, serde_json::json!({ "agent_id": user })).await?;
    }
    if !tag_ids.is_empty() {
        conversations::set_tags(conn, id, tag_ids).await?;
    }
    let parts = Parts::template(message, None);
    let message_id = Uuid::now_v7();
    queue(conn, outbox, caller, message_id, id, account_id, parts).await?;
    if message.asks_call_permission {
        let request = store::call_permissions::NewRequest {
            number_id: draft.number_id,
            contact_id,
            conversation_id: id,
            message_id,
            requested_by: caller.user_id,
        };
        permission::requested(conn, &request).await?;
    }
    let conversation = conversations::find(conn, id, Visibility::All)
        .await?
        .ok_or_else(|| sqlx::Error::Protocol("a conversation inserted in this transaction is not found".into()))?;
    tracing::info!(conversation = %id, "conversation started");
    Ok(conversation)
}
