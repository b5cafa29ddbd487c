//! What sending notifications reads about their recipients, and the batches a durable job sends.

use crate::domain::RoutingState;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// The contacts known by these phone numbers: `(phone, id)`.
pub async fn contacts_by_phone(conn: &mut PgConnection, phones: &[&str]) -> sqlx::Result<Vec<(String, Uuid)>> {
    sqlx::query_as("SELECT phone_e164, id FROM contacts WHERE phone_e164 = ANY($1)").bind(phones).fetch_all(conn).await
}

/// A recipient's situation on the sending number.
#[derive(Debug, Clone, FromRow)]
pub struct Situation {
    pub contact_id: Uuid,
    /// Their unresolved conversation on the number, share-locked until the transaction ends (nobody can take
    /// it in between).
    pub open_id: Option<Uuid>,
    pub open_routing_state: Option<RoutingState>,
    /// Whether the customer wrote on this number in the last 24 hours (their window is open).
    pub window_open: bool,
}

/// The situation of each contact on the number.
pub async fn situations(conn: &mut PgConnection, number_id: Uuid, contacts: &[Uuid]) -> sqlx::Result<Vec<Situation>> {
    let open: Vec<(Uuid, Uuid, RoutingState)> = sqlx::query_as(
        "SELECT contact_id, id, routing_state FROM conversations
         WHERE number_id = $1 AND contact_id = ANY($2) AND status <> 'resolved' FOR SHARE",
    )
    .bind(number_id)
    .bind(contacts)
    .fetch_all(&mut *conn)
    .await?;
    let windows: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT contact_id, COALESCE(max(last_inbound_at) > now() - interval '24 hours', false) FROM conversations
         WHERE number_id = $1 AND contact_id = ANY($2) GROUP BY contact_id",
    )
    .bind(number_id)
    .bind(contacts)
    .fetch_all(&mut *conn)
    .await?;
    Ok(contacts
        .iter()
        .map(|c| {
            let o = open.iter().find(|(k, _, _)| k == c);
            Situation {
                contact_id: *c,
                open_id: o.map(|(_, id, _)| *id),
                open_routing_state: o.map(|(_, _, s)| *s),
                window_open: windows.iter().any(|(k, w)| k == c && *w),
            }
        })
        .collect())
}

/// The job kind that sends a batch.
pub const BATCH_KIND: &str = "notify.batch";

/// A batch's recipient as given.
pub struct NewRecipient<'a> {
    pub to: &'a str,
    pub variables: &'a Value,
}

/// Stores a batch with its recipients and queues the job that sends it, in the caller's transaction.
pub async fn insert_batch(
    conn: &mut PgConnection,
    id: Uuid,
    request: &Value,
    requested_by: &str,
    recipients: &[NewRecipient<'_>],
    max_attempts: i32,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO notification_batches (id, request, requested_by, total) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(request)
        .bind(requested_by)
        .bind(recipients.len() as i32)
        .execute(&mut *conn)
        .await?;
    let to: Vec<&str> = recipients.iter().map(|r| r.to).collect();
    let variables: Vec<&Value> = recipients.iter().map(|r| r.variables).collect();
    sqlx::query(
        "INSERT INTO notification_batch_recipients (batch_id, position, \"to\", variables)
         SELECT $1, (r.ord - 1)::int, r.to_, r.variables
         FROM unnest($2::text[], $3::jsonb[]) WITH ORDINALITY AS r(to_, variables, ord)",
    )
    .bind(id)
    .bind(&to)
    .bind(&variables)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO jobs (kind, payload, max_attempts) VALUES ($1, jsonb_build_object('batch_id', $2::uuid), $3)",
    )
    .bind(BATCH_KIND)
    .bind(id)
    .bind(max_attempts)
    .execute(conn)
    .await?;
    Ok(())
}

/// A batch as the sending job reads it.
#[derive(Debug, Clone, FromRow)]
pub struct BatchHead {
    pub request: Value,
    pub requested_by: String,
}

/// Marks the batch running and answers its request (`None`: removed, or done already).
pub async fn start_batch(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<BatchHead>> {
    sqlx::query_as(
        "UPDATE notification_batches SET state = 'running' WHERE id = $1 AND state <> 'done'
         RETURNING request, requested_by",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Up to `limit` of the batch's recipients not handled yet, locked for this transaction: `(position, to,
/// variables)`.
pub async fn next_recipients(conn: &mut PgConnection, id: Uuid, limit: i64) -> sqlx::Result<Vec<(i32, String, Value)>> {
    sqlx::query_as(
        "SELECT position, \"to\", variables FROM notification_batch_recipients
         WHERE batch_id = $1 AND state = 'pending' ORDER BY position LIMIT $2 FOR UPDATE",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One recipient's result.
pub struct Outcome {
    pub position: i32,
    pub message_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    /// The refusal as the API answers it.
    pub error: Option<Value>,
}

pub async fn record_outcomes(conn: &mut PgConnection, id: Uuid, outcomes: &[Outcome]) -> sqlx::Result<()> {
    let positions: Vec<i32> = outcomes.iter().map(|o| o.position).collect();
    let messages: Vec<Option<Uuid>> = outcomes.iter().map(|o| o.message_id).collect();
    let conversations: Vec<Option<Uuid>> = outcomes.iter().map(|o| o.conversation_id).collect();
    let errors: Vec<Option<&Value>> = outcomes.iter().map(|o| o.error.as_ref()).collect();
    sqlx::query(
        "UPDATE notification_batch_recipients r
         SET state = CASE WHEN o.error IS NULL THEN 'accepted' ELSE 'refused' END,
             message_id = o.message_id, conversation_id = o.conversation_id, error = o.error
         FROM unnest($2::int[], $3::uuid[], $4::uuid[], $5::jsonb[]) AS o(position, message_id, conversation_id, error)
         WHERE r.batch_id = $1 AND r.position = o.position",
    )
    .bind(id)
    .bind(&positions)
    .bind(&messages)
    .bind(&conversations)
    .bind(&errors)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn finish_batch(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE notification_batches SET state = 'done', finished_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// A batch as the API shows it.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub id: Uuid,
    /// `queued`, `running` or `done`.
    pub state: String,
    pub total: i32,
    pub accepted: i64,
    pub refused: i64,
    pub pending: i64,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Each recipient's result, in the order given.
    #[sqlx(json)]
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

pub async fn view_batch(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<BatchView>> {
    sqlx::query_as(
        "SELECT b.id, b.state, b.total, b.requested_by, b.created_at, b.finished_at,
                count(*) FILTER (WHERE r.state = 'accepted') AS accepted,
                count(*) FILTER (WHERE r.state = 'refused') AS refused,
                count(*) FILTER (WHERE r.state = 'pending') AS pending,
                COALESCE(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                    'position', r.position, 'to', r.\"to\", 'state', r.state, 'message_id', r.message_id,
                    'conversation_id', r.conversation_id, 'error', r.error)) ORDER BY r.position)
                    FILTER (WHERE r.position IS NOT NULL), '[]') AS results
         FROM notification_batches b LEFT JOIN notification_batch_recipients r ON r.batch_id = b.id
         WHERE b.id = $1 GROUP BY b.id",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
