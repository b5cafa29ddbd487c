//! Conversations and their messages: `GET /conversations`, `GET /conversations/{id}`,
//! `GET|POST /conversations/{id}/messages`. Agents see the conversations of the numbers they serve;
//! supervisors, admins and API tokens see all. Sending checks the rules of `outbound::policy` and answers 202
//! once the message and its send job are committed.

use super::{ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::domain::{window, ConversationStatus, RoutingState};
use crate::error::{AppError, AppResult};
use crate::outbound::compose::{self, Draft, Outbox, TemplateUse};
use crate::state::AppState;
use crate::store;
use crate::store::conversations::{self, ConversationRow, StatusFilter};
use crate::store::listing::{SortKey, BY_CREATED, BY_UPDATED};
use crate::store::messages::MessageView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(retry_message))
        .routes(routes!(counts))
        .routes(routes!(mark_read))
        .routes(routes!(set_tags))
}

#[derive(Serialize, ToSchema)]
#[schema(as = ConversationContact)]
pub struct Contact {
    id: Uuid,
    /// E.164, when WhatsApp shared it.
    phone: Option<String>,
    /// The customer's WhatsApp profile name.
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Conversation {
    id: Uuid,
    channel_id: Uuid,
    number_id: Uuid,
    /// The business's WhatsApp number (E.164).
    number: String,
    contact: Contact,
    status: ConversationStatus,
    /// The customer's last message: the 24-hour window counts from here.
    #[serde(with = "time::serde::rfc3339::option")]
    last_inbound_at: Option<OffsetDateTime>,
    /// Whether free text and media may be sent now; otherwise only an approved template.
    window_open: bool,
    /// When the window closes (or closed); null if the customer never wrote.
    #[serde(with = "time::serde::rfc3339::option")]
    window_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    resolved_at: Option<OffsetDateTime>,
    /// Snoozed: when it opens again by itself; null while snoozed means at the customer's next message.
    #[serde(with = "time::serde::rfc3339::option")]
    snoozed_until: Option<OffsetDateTime>,
    /// Who owns it: `unrouted` (a decision is being made), `waiting` (in `queue_id`, or for `waiting_agent_id`),
    /// `assigned` (to `assignee_id`), `ai` (the AI agent; the conversation is `pending`), `unowned` (no rule,
    /// AI agent or default queue applied: the number's agents may claim it), `notified` (a notification
    /// started it: routed when the customer replies) or `blocked` (the contact is blocked: offered to nobody).
    routing_state: RoutingState,
    /// `customer`, `business` (an agent or token, with a template) or `notification`.
    started_by: crate::domain::conversation::StartedBy,
    /// `message` or `call`.
    communication_type: crate::domain::routing::CommunicationType,
    /// -1000 to 1000; higher is offered first.
    priority: i32,
    /// The priority's band as people name it: `urgent` (300 and above), `high` (100–299), `normal`, `low`
    /// (-100 and below).
    priority_level: crate::domain::conversation::PriorityLevel,
    queue_id: Option<Uuid>,
    /// The agent holding it (after a resolve: the agent who held it last).
    assignee_id: Option<Uuid>,
    waiting_agent_id: Option<Uuid>,
    /// Since when it waits in its queue.
    #[serde(with = "time::serde::rfc3339::option")]
    queued_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    assigned_at: Option<OffsetDateTime>,
    /// What the conversation is about, when the agent who started it said so.
    topic: Option<String>,
    tag_ids: Vec<Uuid>,
    /// The customer's CSAT rating of this conversation (1–5; the faces scale is stored as 1, 3, 5), once given.
    csat_rating: Option<i16>,
    /// The last message, for the inbox's list.
    last_message: Option<LastMessage>,
    /// Whether the customer wrote since you last read it (`POST /conversations/{id}/read`). Always false for
    /// API tokens.
    unread: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LastMessage {
    /// `inbound` or `outbound`.
    direction: String,
    /// The text, cut to 200 characters.
    body: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        let w = window::at(r.last_inbound_at, r.db_now);
        Self {
            id: r.id,
            channel_id: r.channel_id,
            number_id: r.number_id,
            number: r.number_e164,
            contact: Contact { id: r.contact_id, phone: r.contact_phone, name: r.contact_name },
            status: r.status,
            last_inbound_at: r.last_inbound_at,
            window_open: w.open,
            window_expires_at: w.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            resolved_at: r.resolved_at,
            snoozed_until: r.snoozed_until,
            routing_state: r.routing_state,
            started_by: r.started_by,
            communication_type: r.communication_type,
            priority: r.priority,
            priority_level: crate::domain::conversation::PriorityLevel::of(r.priority),
            queue_id: r.queue_id,
            assignee_id: r.assignee_id,
            waiting_agent_id: r.waiting_agent_id,
            queued_at: r.queued_at,
            assigned_at: r.assigned_at,
            topic: r.topic,
            tag_ids: r.tag_ids,
            csat_rating: r.csat_rating,
            last_message: match (r.last_message_direction, r.last_message_at) {
                (Some(direction), Some(at)) => Some(LastMessage {
                    direction,
                    body: r.last_message_body.unwrap_or_default().chars().take(200).collect(),
                    at,
                }),
                _ => None,
            },
            unread: false,
        }
    }
}

/// Sets `unread` for the caller.
async fn with_unread(state: &AppState, who: &Principal, mut items: Vec<Conversation>) -> AppResult<Vec<Conversation>> {
    if let Some(user) = who.user_id {
        let ids: Vec<Uuid> = items.iter().map(|c| c.id).collect();
        let unread = conversations::unread(&state.pool, user, &ids).await?;
        for c in &mut items {
            c.unread = unread.contains(&c.id);
        }
    }
    Ok(items)
}

/// One conversation as the caller sees it (with `unread`).
async fn one(state: &AppState, who: &Principal, row: ConversationRow) -> AppResult<Conversation> {
    Ok(with_unread(state, who, vec![row.into()]).await?.remove(0))
}

fn not_visible() -> AppError {
    AppError::not_found("conversation_not_found", "no conversation with this id that you can see")
}

pub async fn find(conn: &mut sqlx::PgConnection, who: &Principal, id: Uuid) -> AppResult<ConversationRow> {
    conversations::find(conn, id, who.caller().visibility()).await?.ok_or_else(not_visible)
}

/// 404 unless `who` can see the conversation (for handlers that act on it without showing it).
pub async fn require_visible(conn: &mut sqlx::PgConnection, who: &Principal, id: Uuid) -> AppResult<()> {
    if conversations::visible(conn, id, who.caller().visibility()).await? {
        Ok(())
    } else {
        Err(not_visible())
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// `open`, `pending`, `snoozed`, `resolved`, or `unresolved` (open or pending: what needs someone now).
    status: Option<String>,
    number_id: Option<Uuid>,
    channel_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    /// Contact name or phone number, or the text of one of its messages, contains (case-insensitive).
    q: Option<String>,
    tag_id: Option<Uuid>,
    /// `unrouted`, `waiting`, `assigned`, `ai`, `unowned`, `notified` or `blocked`.
    routing_state: Option<String>,
    queue_id: Option<Uuid>,
    /// An agent's id, or `me`.
    assignee: Option<String>,
    /// `true`: only conversations waiting in a queue or unowned (the ones an agent may claim).
    claimable: Option<bool>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_UPDATED, BY_CREATED];
    const DESCENDING: bool = true;
}

/// Lists conversations, most recently active first. Agents: theirs, their queues' and their numbers'.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ListParams, Filters),
    responses((status = 200, body = Page<Conversation>)))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    list: List<Filters>,
) -> AppResult<Json<Page<Conversation>>> {
    let f = &list.filters;
    let status = match f.status.as_deref() {
        None => None,
        Some("unresolved") => Some(StatusFilter::Unresolved),
        Some(s) => Some(StatusFilter::Is(s.parse().map_err(|_| {
            AppError::bad_request(
                "invalid_query",
                "status must be open, pending, snoozed, resolved or unresolved (open or pending)",
            )
            .with_field("status")
        })?)),
    };
    let routing_state = f.routing_state.as_deref().map(str::parse::<RoutingState>).transpose().map_err(|_| {
        AppError::bad_request(
            "invalid_query",
            "routing_state must be unrouted, waiting, assigned, ai, unowned, notified or blocked",
        )
        .with_field("routing_state")
    })?;
    let assignee = match f.assignee.as_deref() {
        None => None,
        Some("me") => Some(who.user_id.ok_or_else(|| {
            AppError::bad_request("invalid_query", "assignee=me needs a user; an API token is nobody's agent")
        })?),
        Some(id) => Some(
            Uuid::parse_str(id)
                .map_err(|_| AppError::bad_request("invalid_query", "assignee must be an agent's id or me"))?,
        ),
    };
    let filter = conversations::Filter {
        status,
        number_id: f.number_id,
        channel_id: f.channel_id,
        contact_id: f.contact_id,
        text: f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()),
        tag_id: f.tag_id,
        claimable: f.claimable.unwrap_or(false),
        routing_state,
        queue_id: f.queue_id,
        assignee_id: assignee,
    };
    let rows = conversations::list(&state.pool, &list.listing, who.caller().visibility(), &filter).await?;
    let mut page = Page::from_keyed(rows, &list.listing).map(Conversation::from);
    page.items = with_unread(&state, &who, page.items).await?;
    Ok(Json(page))
}

/// One conversation, with its 24-hour window.
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = Conversation)))]
async fn read(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Conversation>> {
    let row = find(&mut *state.pool.acquire().await?, &who, id).await?;
    Ok(Json(one(&state, &who, row).await?))
}

/// How many conversations that need someone now each inbox view holds for you: yours (and how many of them
/// have a customer message you have not read), claimable, with an AI agent, and all you can see.
#[utoipa::path(get, path = "/conversations/counts", tag = "conversations",
    responses((status = 200, body = conversations::Counts)))]
async fn counts(State(state): State<AppState>, who: Principal) -> AppResult<Json<conversations::Counts>> {
    Ok(Json(conversations::counts(&state.pool, who.user_id, who.caller().visibility()).await?))
}

/// Marks the conversation read by you, up to now.
#[utoipa::path(post, path = "/conversations/{id}/read", tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn mark_read(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let user = who.user_id.ok_or_else(|| {
        AppError::unprocessable("not_an_agent", "an API token reads no conversations: unread marks are per person")
    })?;
    require_visible(&mut *state.pool.acquire().await?, &who, id).await?;
    conversations::mark_read(&state.pool, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TagIds {
    /// Every tag the conversation should have (at most 20).
    tag_ids: Vec<Uuid>,
}

/// Sets the conversation's tags.
#[utoipa::path(put, path = "/conversations/{id}/tags", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = TagIds, responses((status = 200, body = Conversation)))]
async fn set_tags(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TagIds>,
) -> AppResult<Json<Conversation>> {
    let ids = crate::domain::conversation::tag_ids(body.tag_ids).map_err(|m| AppError::invalid_field("tag_ids", m))?;
    let mut tx = state.pool.begin().await?;
    require_visible(&mut tx, &who, id).await?;
    crate::refs::tags(&mut tx, &ids, "tag_ids").await?;
    conversations::set_tags(&mut tx, id, &ids).await?;
    let row = find(&mut tx, &who, id).await?;
    tx.commit().await?;
    Ok(Json(one(&state, &who, row).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct MessageFilters {
    /// `inbound` or `outbound`.
    direction: Option<String>,
}

impl ListFilters for MessageFilters {
    const SORTS: &'static [SortKey] = &[BY_CREATED];
}

/// A conversation's messages, oldest first, each with its delivery status.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations",
    params(("id" = Uuid, Path), ListParams, MessageFilters), responses((status = 200, body = Page<MessageView>)))]
async fn list_messages(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    list: List<MessageFilters>,
) -> AppResult<Json<Page<MessageView>>> {
    if let Some(d) = &list.filters.direction {
        if d != "inbound" && d != "outbound" {
            return Err(AppError::bad_request("invalid_query", "direction must be inbound or outbound"));
        }
    }
    require_visible(&mut *state.pool.acquire().await?, &who, id).await?;
    let rows =
        store::messages::list_for_conversation(&state.pool, &list.listing, id, list.filters.direction.as_deref())
            .await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// A message to send: free text and/or uploaded files while the 24-hour window is open, or an approved template
/// at any time.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    /// Up to 1,600 characters.
    body: Option<String>,
    /// Ids of files from `POST /uploads`, sent in this order (at most 10).
    #[serde(default)]
    attachments: Vec<Uuid>,
    template: Option<TemplateUse>,
    /// A message of this conversation that this one answers: the thread shows it quoted. Twilio's Messages API
    /// takes no reply context for WhatsApp, so the customer sees the text alone.
    reply_to_message_id: Option<Uuid>,
    /// Sends `body` with a button that lets the customer call the business from the chat (WhatsApp's call button):
    /// only inside the 24-hour window, from a number that takes calls; not with attachments or a template.
    call_button: Option<CallButton>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CallButton {
    /// What the button says (at most 20 characters), such as "Call us".
    label: String,
}

/// Queues a message: 202 with the message (`queued`); its status then moves as Twilio reports. With an
/// `Idempotency-Key`, a repeated request answers the first message again instead of sending twice.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = Uuid, Path)),
    request_body = SendMessage, responses((status = 202, body = MessageView)))]
async fn send_message(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SendMessage>,
) -> AppResult<(StatusCode, Json<MessageView>)> {
    if let Some(button) = req.call_button {
        if !req.attachments.is_empty() || req.template.is_some() || req.reply_to_message_id.is_some() {
            return Err(AppError::invalid_field(
                "call_button",
                "a call-button message is its text and button alone: no attachments, template or quoted message",
            ));
        }
        let body = req.body.unwrap_or_default();
        let view = crate::calling::button::send(&state, &who.caller(), id, &body, &button.label).await?;
        return Ok((StatusCode::ACCEPTED, Json(view)));
    }
    let draft = Draft {
        body: req.body.unwrap_or_default(),
        attachments: req.attachments,
        template: req.template,
        automated: None,
        quote: req.reply_to_message_id,
    };
    let mut tx = state.pool.begin().await?;
    let view = compose::send(&mut tx, outbox(&state), &who.caller(), id, draft).await?;
    tx.commit().await?;
    state.jobs_wake.kick();
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Sends a failed (or undelivered) outbound message again: 202 with the new message, whose `retry_of` names the
/// original, under today's rules (the window, the template's approval). Once per message: 409 `already_retried`
/// (with the new message's id) after that, however many ask at once; 409 `message_not_failed` for any other.
#[utoipa::path(post, path = "/conversations/{id}/messages/{message_id}/retry", tag = "conversations",
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)), responses((status = 202, body = MessageView)))]
async fn retry_message(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((id, message_id)): ApiPath<(Uuid, Uuid)>,
) -> AppResult<(StatusCode, Json<MessageView>)> {
    let mut tx = state.pool.begin().await?;
    require_visible(&mut tx, &who, id).await?;
    let view = crate::outbound::retry::retry(&mut tx, outbox(&state), &who.caller(), id, message_id).await?;
    tx.commit().await?;
    state.jobs_wake.kick();
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// The outbox settings every sender uses.
pub(super) fn outbox(state: &AppState) -> Outbox {
    Outbox { max_attempts: state.settings.outbound.max_attempts }
}
