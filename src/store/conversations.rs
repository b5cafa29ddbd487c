//! Conversations as the API shows them: with their contact, number and the database's clock (the one clock
//! the 24-hour window is measured with).

use super::listing::{Keyed, Listing, UUID_ID};
use crate::domain::conversation::StartedBy;
use crate::domain::routing::CommunicationType;
use crate::domain::{ConversationStatus, RoutingState};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub number_e164: String,
    pub contact_id: Uuid,
    pub contact_phone: Option<String>,
    pub contact_name: Option<String>,
    pub status: ConversationStatus,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    pub snoozed_until: Option<OffsetDateTime>,
    pub routing_state: RoutingState,
    pub started_by: StartedBy,
    pub communication_type: crate::domain::routing::CommunicationType,
    pub priority: i32,
    pub queue_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub waiting_agent_id: Option<Uuid>,
    pub queued_at: Option<OffsetDateTime>,
    pub assigned_at: Option<OffsetDateTime>,
    pub topic: Option<String>,
    pub tag_ids: Vec<Uuid>,
    /// The latest CSAT rating the customer gave this conversation.
    pub csat_rating: Option<i16>,
    /// The last message's text, direction and time, for the inbox's list.
    pub last_message_body: Option<String>,
    pub last_message_direction: Option<String>,
    pub last_message_at: Option<OffsetDateTime>,
    /// `now()` of the statement that read the row.
    pub db_now: OffsetDateTime,
}

/// A subquery with every column of [`ConversationRow`], so that list sorts and filters name plain columns.
const VIEW: &str = "(SELECT c.id, c.channel_id, c.number_id, n.e164 AS number_e164, c.contact_id,
        k.phone_e164 AS contact_phone, k.profile_name AS contact_name, c.status, c.last_inbound_at,
        c.created_at, c.updated_at, c.resolved_at, c.snoozed_until, c.routing_state, c.started_by, c.communication_type, c.priority, c.queue_id,
        c.assignee_id, c.waiting_agent_id, c.queued_at, c.assigned_at, c.topic,
        ARRAY(SELECT t.tag_id FROM conversation_tags t WHERE t.conversation_id = c.id ORDER BY t.tag_id) AS tag_ids,
        (SELECT s.rating FROM csat_surveys s WHERE s.conversation_id = c.id AND s.rating IS NOT NULL
         ORDER BY s.created_at DESC LIMIT 1) AS csat_rating,
        lm.body AS last_message_body, lm.direction AS last_message_direction, lm.created_at AS last_message_at,
        now() AS db_now
    FROM conversations c
    JOIN whatsapp_numbers n ON n.id = c.number_id
    JOIN contacts k ON k.id = c.contact_id
    LEFT JOIN LATERAL (SELECT m.body, m.direction, m.created_at FROM messages m WHERE m.conversation_id = c.id
                       ORDER BY m.created_at DESC LIMIT 1) lm ON true) v";

const COLUMNS: &str = "v.*";

/// Who is asking: an agent sees the conversations assigned to them, those in the queues they are members of, and
/// those of the numbers they serve; everyone else sees all.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    All,
    Agent(Uuid),
}

impl Visibility {
    pub fn push(self, q: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>) {
        if let Self::Agent(user) = self {
            q.push(" AND (assignee_id = ")
                .push_bind(user)
                .push(" OR queue_id IN (SELECT queue_id FROM queue_members WHERE user_id = ")
                .push_bind(user)
                .push(") OR number_id IN (SELECT number_id FROM number_members WHERE user_id = ")
                .push_bind(user)
                .push("))");
        }
    }
}

pub async fn find(conn: &mut PgConnection, id: Uuid, who: Visibility) -> sqlx::Result<Option<ConversationRow>> {
    let mut q = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM {VIEW} WHERE id = "));
    q.push_bind(id);
    who.push(&mut q);
    q.build_query_as().fetch_optional(conn).await
}

/// Whether `who` can see the conversation: the same rule as [`find`], without reading the conversation's view.
pub async fn visible(conn: &mut PgConnection, id: Uuid, who: Visibility) -> sqlx::Result<bool> {
    let mut q = sqlx::QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM conversations WHERE id = ");
    q.push_bind(id);
    who.push(&mut q);
    q.push(")");
    q.build_query_scalar().fetch_one(conn).await
}

/// Conversations in one status, or needing someone now (open or pending: not snoozed, not resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Is(ConversationStatus),
    Unresolved,
}

#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub status: Option<StatusFilter>,
    pub number_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// Contact name or number, or the text of one of its messages, contains.
    pub text: Option<&'a str>,
    pub tag_id: Option<Uuid>,
    pub routing_state: Option<RoutingState>,
    pub queue_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// Waiting in a queue or unowned.
    pub claimable: bool,
}

pub async fn list(
    pool: &PgPool,
    listing: &Listing,
    who: Visibility,
    f: &Filter<'_>,
) -> sqlx::Result<Vec<Keyed<ConversationRow>>> {
    let mut q = listing.select(COLUMNS, VIEW, UUID_ID);
    who.push(&mut q);
    match f.status {
        Some(StatusFilter::Unresolved) => {
            q.push(" AND status IN ('open', 'pending')");
        }
        Some(StatusFilter::Is(status)) => {
            q.push(" AND status = ").push_bind(status);
        }
        None => {}
    }
    if f.claimable {
        q.push(" AND routing_state IN ('waiting', 'unowned')");
    }
    if let Some(id) = f.number_id {
        q.push(" AND number_id = ").push_bind(id);
    }
    if let Some(id) = f.channel_id {
        q.push(" AND channel_id = ").push_bind(id);
    }
    if let Some(id) = f.contact_id {
        q.push(" AND contact_id = ").push_bind(id);
    }
    if let Some(state) = f.routing_state {
        q.push(" AND routing_state = ").push_bind(state);
    }
    if let Some(id) = f.queue_id {
        q.push(" AND queue_id = ").push_bind(id);
    }
    if let Some(id) = f.assignee_id {
        q.push(" AND assignee_id = ").push_bind(id);
    }
    if let Some(id) = f.tag_id {
        q.push(" AND id IN (SELECT conversation_id FROM conversation_tags WHERE tag_id = ").push_bind(id).push(")");
    }
    if let Some(text) = f.text {
        let text = text.to_lowercase();
        q.push(" AND (strpos(lower(coalesce(contact_name, '') || ' ' || coalesce(contact_phone, '')), ")
            .push_bind(text.clone())
            .push(") > 0 OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = v.id AND strpos(lower(m.body), ")
            .push_bind(text)
            .push(") > 0))");
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// What sending into a conversation needs, read under a key-share lock of the conversation row: every change of
/// its status or owner first locks the row `FOR UPDATE` (`store::routing::lock`), which waits for this lock, so
/// the conversation cannot be resolved between the checks and the insert. The inbound write's touch of
/// `last_inbound_at` (a plain update of no key column) does not wait for it: a customer's message is never held
/// up by a send into their conversation, and the window it reads can only have grown since.
#[derive(Debug, Clone, FromRow)]
pub struct SendTarget {
    pub account_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    /// The number takes WhatsApp calls (a call-permission request may be sent from it).
    pub supports_calling: bool,
    pub status: ConversationStatus,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub db_now: OffsetDateTime,
    pub agents_may_send_attachments: bool,
    pub number_deleted: bool,
    pub channel_deleted: bool,
}

/// What [`SendTarget`] reads (and the conversation's id), for one conversation or many.
const SEND_TARGET: &str = "SELECT c.id, ch.account_id, c.number_id, c.contact_id, n.supports_calling, c.status, c.last_inbound_at, now() AS db_now,
        n.agents_may_send_attachments, n.deleted_at IS NOT NULL AS number_deleted,
        ch.deleted_at IS NOT NULL AS channel_deleted
    FROM conversations c
    JOIN whatsapp_numbers n ON n.id = c.number_id
    JOIN channels ch ON ch.id = c.channel_id";

/// The conversation `who` may send into, with what the checks need; `None` if there is none they can see.
pub async fn send_target(conn: &mut PgConnection, id: Uuid, who: Visibility) -> sqlx::Result<Option<SendTarget>> {
    let mut q = sqlx::QueryBuilder::new(SEND_TARGET);
    q.push(" WHERE c.id = ").push_bind(id);
    who.push(&mut q);
    q.push(" FOR KEY SHARE OF c");
    q.build_query_as().fetch_optional(conn).await
}

/// [`send_target`] for many conversations at once (an automation's sends, which see every conversation), in one
/// query; a conversation that does not exist is missing from the answer.
pub async fn send_targets(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, SendTarget)>> {
    let rows: Vec<TargetRow> =
        sqlx::query_as(&format!("{SEND_TARGET} WHERE c.id = ANY($1) ORDER BY c.id FOR KEY SHARE OF c"))
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.target)).collect())
}

#[derive(FromRow)]
struct TargetRow {
    id: Uuid,
    #[sqlx(flatten)]
    target: SendTarget,
}

/// Whether `who` can see any conversation of the contact.
pub async fn any_of_contact(conn: &mut PgConnection, contact: Uuid, who: Visibility) -> sqlx::Result<bool> {
    let mut q = sqlx::QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM conversations WHERE contact_id = ");
    q.push_bind(contact);
    who.push(&mut q);
    q.push(")");
    q.build_query_scalar().fetch_one(conn).await
}

/// Of `ids`, the conversations with a customer message `user` has not read (newer than when they last read it).
pub async fn unread(pool: &PgPool, user: Uuid, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT c.id FROM conversations c
         LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = $1
         WHERE c.id = ANY($2) AND c.last_inbound_at IS NOT NULL AND (r.read_at IS NULL OR r.read_at < c.last_inbound_at)",
    )
    .bind(user)
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// How many conversations that need someone now (open or pending) each inbox view holds for a person.
#[derive(Debug, Clone, Copy, Default, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Held by you.
    pub mine: i64,
    /// Held by you, with a customer message you have not read.
    pub mine_unread: i64,
    /// Waiting in your queues or unowned on your numbers (supervisors: all of them).
    pub claimable: i64,
    /// With an AI agent.
    pub ai: i64,
    /// Every one you can see.
    pub all: i64,
}

/// [`Counts`] for `user` (`None`: an API token, which holds nothing and reads nothing), in one statement.
pub async fn counts(pool: &PgPool, user: Option<Uuid>, who: Visibility) -> sqlx::Result<Counts> {
    let mut q = sqlx::QueryBuilder::new(
        "SELECT count(*) FILTER (WHERE mine) AS mine, count(*) FILTER (WHERE mine AND unread) AS mine_unread,
                count(*) FILTER (WHERE routing_state IN ('waiting', 'unowned')) AS claimable,
                count(*) FILTER (WHERE routing_state = 'ai') AS ai, count(*) AS \"all\"
         FROM (SELECT c.routing_state, c.routing_state = 'assigned' AND c.assignee_id = ",
    );
    q.push_bind(user)
        .push(
            " AS mine, c.last_inbound_at IS NOT NULL AND (r.read_at IS NULL OR r.read_at < c.last_inbound_at) AS unread
               FROM conversations c LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = ",
        )
        .push_bind(user)
        .push(" WHERE c.status IN ('open', 'pending')");
    who.push(&mut q);
    q.push(") x");
    q.build_query_as().fetch_one(pool).await
}

/// Records that `user` has read the conversation up to now.
pub async fn mark_read(pool: &PgPool, user: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO conversation_reads (user_id, conversation_id, read_at) VALUES ($1, $2, now())
         ON CONFLICT (user_id, conversation_id) DO UPDATE SET read_at = EXCLUDED.read_at",
    )
    .bind(user)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces the conversation's tags, and touches it so that open inboxes hear of the change.
pub async fn set_tags(conn: &mut PgConnection, id: Uuid, tag_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM conversation_tags WHERE conversation_id = $1 AND NOT tag_id = ANY($2)),
              added AS (INSERT INTO conversation_tags (conversation_id, tag_id) SELECT $1, unnest($2::uuid[])
                        ON CONFLICT DO NOTHING)
         UPDATE conversations SET updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(tag_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds tags to the conversation, keeping those it has; tags that no longer exist are skipped.
pub async fn add_tags(conn: &mut PgConnection, id: Uuid, tag_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "WITH added AS (INSERT INTO conversation_tags (conversation_id, tag_id)
                        SELECT $1, t.id FROM tags t WHERE t.id = ANY($2) ON CONFLICT DO NOTHING)
         UPDATE conversations SET updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(tag_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// A conversation an agent (or API token) starts with a template message.
pub struct NewConversation<'a> {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub topic: Option<&'a str>,
    pub priority: i32,
    pub queue_id: Option<Uuid>,
    /// The agent who starts it holds it; without one (an API token) the router decides.
    pub assignee_id: Option<Uuid>,
    /// A notification's conversation waits for the customer's reply (`notified`, pending) before it is routed.
    pub started_by: StartedBy,
    /// `call`: started to call the customer (routed by the routes and queues for calls).
    pub communication_type: CommunicationType,
}

/// The conversation the customer already has open on the number, if any.
pub async fn open_for(conn: &mut PgConnection, number_id: Uuid, contact_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM conversations WHERE number_id = $1 AND contact_id = $2 AND status <> 'resolved'")
        .bind(number_id)
        .bind(contact_id)
        .fetch_optional(conn)
        .await
}

/// Inserts the conversation unless the customer already has one open on the number (then `false`).
/// [`insert`] for several conversations in one statement (no two for one customer on one number); answers the
/// ids of those inserted (the others met an unresolved conversation of their customer).
pub async fn insert_many(conn: &mut PgConnection, rows: &[NewConversation<'_>]) -> sqlx::Result<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    fn column<'r, 'a: 'r, T>(rows: &'r [NewConversation<'a>], f: impl Fn(&'r NewConversation<'a>) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query_scalar(
        "INSERT INTO conversations (id, channel_id, number_id, contact_id, topic, priority, queue_id, assignee_id,
                                    routing_state, assigned_at, updated_at, started_by, status, communication_type)
         SELECT c.id, c.channel_id, c.number_id, c.contact_id, c.topic, c.priority, c.queue_id, c.assignee_id,
                CASE WHEN c.assignee_id IS NOT NULL THEN 'assigned' WHEN c.started_by = 'notification' THEN 'notified'
                     ELSE 'unrouted' END,
                CASE WHEN c.assignee_id IS NULL THEN NULL ELSE now() END, now(), c.started_by,
                CASE WHEN c.started_by = 'notification' THEN 'pending' ELSE 'open' END, c.communication_type
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int4[], $7::uuid[], $8::uuid[],
                     $9::text[], $10::text[])
              AS c(id, channel_id, number_id, contact_id, topic, priority, queue_id, assignee_id, started_by,
                   communication_type)
         ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO NOTHING
         RETURNING id",
    )
    .bind(column(rows, |c| c.id))
    .bind(column(rows, |c| c.channel_id))
    .bind(column(rows, |c| c.number_id))
    .bind(column(rows, |c| c.contact_id))
    .bind(column(rows, |c| c.topic))
    .bind(column(rows, |c| c.priority))
    .bind(column(rows, |c| c.queue_id))
    .bind(column(rows, |c| c.assignee_id))
    .bind(column(rows, |c| c.started_by.as_str()))
    .bind(column(rows, |c| c.communication_type.as_str()))
    .fetch_all(conn)
    .await
}

pub async fn insert(conn: &mut PgConnection, c: &NewConversation<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO conversations (id, channel_id, number_id, contact_id, topic, priority, queue_id, assignee_id,
                                    routing_state, assigned_at, updated_at, started_by, status, communication_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 CASE WHEN $8::uuid IS NOT NULL THEN 'assigned' WHEN $9 = 'notification' THEN 'notified'
                      ELSE 'unrouted' END,
                 CASE WHEN $8::uuid IS NULL THEN NULL ELSE now() END, now(), $9,
                 CASE WHEN $9 = 'notification' THEN 'pending' ELSE 'open' END, $10)
         ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO NOTHING",
    )
    .bind(c.id)
    .bind(c.channel_id)
    .bind(c.number_id)
    .bind(c.contact_id)
    .bind(c.topic)
    .bind(c.priority)
    .bind(c.queue_id)
    .bind(c.assignee_id)
    .bind(c.started_by)
    .bind(c.communication_type)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
