//! Conversations as the API shows them: with their contact, number and the database's clock (the one clock
//! the 24-hour window is measured with).

use super::listing::{Keyed, Listing, UUID_ID};
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
    pub status: String,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    pub routing_state: String,
    pub communication_type: String,
    pub priority: i32,
    pub queue_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub waiting_agent_id: Option<Uuid>,
    pub queued_at: Option<OffsetDateTime>,
    pub assigned_at: Option<OffsetDateTime>,
    /// `now()` of the statement that read the row.
    pub db_now: OffsetDateTime,
}

/// A subquery with every column of [`ConversationRow`], so that list sorts and filters name plain columns.
const VIEW: &str = "(SELECT c.id, c.channel_id, c.number_id, n.e164 AS number_e164, c.contact_id,
        k.phone_e164 AS contact_phone, k.profile_name AS contact_name, c.status, c.last_inbound_at,
        c.created_at, c.updated_at, c.resolved_at, c.routing_state, c.communication_type, c.priority, c.queue_id,
        c.assignee_id, c.waiting_agent_id, c.queued_at, c.assigned_at, now() AS db_now
    FROM conversations c
    JOIN whatsapp_numbers n ON n.id = c.number_id
    JOIN contacts k ON k.id = c.contact_id) v";

const COLUMNS: &str = "v.*";

/// Who is asking: an agent sees the conversations assigned to them, those in the queues they are members of, and
/// those of the numbers they serve; everyone else sees all.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    All,
    Agent(Uuid),
}

impl Visibility {
    fn push(self, q: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>) {
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

#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub status: Option<&'a str>,
    pub number_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// Contact name or number contains.
    pub text: Option<&'a str>,
    pub routing_state: Option<&'a str>,
    pub queue_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
}

pub async fn list(
    pool: &PgPool,
    listing: &Listing,
    who: Visibility,
    f: &Filter<'_>,
) -> sqlx::Result<Vec<Keyed<ConversationRow>>> {
    let mut q = listing.select(COLUMNS, VIEW, UUID_ID);
    who.push(&mut q);
    if let Some(status) = f.status {
        q.push(" AND status = ").push_bind(status.to_owned());
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
        q.push(" AND routing_state = ").push_bind(state.to_owned());
    }
    if let Some(id) = f.queue_id {
        q.push(" AND queue_id = ").push_bind(id);
    }
    if let Some(id) = f.assignee_id {
        q.push(" AND assignee_id = ").push_bind(id);
    }
    if let Some(text) = f.text {
        q.push(" AND strpos(lower(coalesce(contact_name, '') || ' ' || coalesce(contact_phone, '')), lower(")
            .push_bind(text.to_owned())
            .push(")) > 0");
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// What sending into a conversation needs, read under a share lock of the conversation row (so the
/// conversation cannot be resolved or deleted between the checks and the insert).
#[derive(Debug, Clone, FromRow)]
pub struct SendTarget {
    pub account_id: Uuid,
    pub status: String,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub db_now: OffsetDateTime,
    pub agents_may_send_attachments: bool,
    pub number_deleted: bool,
    pub channel_deleted: bool,
}

/// The conversation `who` may send into, with what the checks need; `None` if there is none they can see.
pub async fn send_target(conn: &mut PgConnection, id: Uuid, who: Visibility) -> sqlx::Result<Option<SendTarget>> {
    let mut q = sqlx::QueryBuilder::new(
        "SELECT ch.account_id, c.status, c.last_inbound_at, now() AS db_now, n.agents_may_send_attachments,
                n.deleted_at IS NOT NULL AS number_deleted, ch.deleted_at IS NOT NULL AS channel_deleted
         FROM conversations c
         JOIN whatsapp_numbers n ON n.id = c.number_id
         JOIN channels ch ON ch.id = c.channel_id
         WHERE c.id = ",
    );
    q.push_bind(id);
    who.push(&mut q);
    q.push(" FOR SHARE OF c");
    q.build_query_as().fetch_optional(conn).await
}

/// Whether `who` can see any conversation of the contact.
pub async fn any_of_contact(conn: &mut PgConnection, contact: Uuid, who: Visibility) -> sqlx::Result<bool> {
    let mut q = sqlx::QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM conversations WHERE contact_id = ");
    q.push_bind(contact);
    who.push(&mut q);
    q.push(")");
    q.build_query_scalar().fetch_one(conn).await
}
