//! WhatsApp calls: their rows, their place in a queue, and the conversation a call belongs to.

use crate::domain::call::{CallState, Direction, Outcome};
use crate::domain::call_waiting::WaitingStrategy;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Call {
    pub id: Uuid,
    pub call_sid: String,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub state: CallState,
    pub outcome: Option<Outcome>,
    /// The queue it waits (or waited) in; null: no queue (for a named agent, or the number's agents).
    pub queue_id: Option<Uuid>,
    /// The agent it is meant for while waiting, then the agent who took it.
    pub agent_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub position_said_at: Option<i32>,
}

const COLUMNS: &str = "id, call_sid, channel_id, number_id, contact_id, conversation_id, direction, state, outcome,
    queue_id, agent_id, created_at, answered_at, ended_at, position_said_at";

/// What a number says about calls: whether it takes them, and the language its callers hear.
#[derive(Debug, Clone, FromRow)]
pub struct CallingNumber {
    pub supports_calling: bool,
    pub language: Option<String>,
}

pub async fn calling_number(conn: &mut PgConnection, number: Uuid) -> sqlx::Result<Option<CallingNumber>> {
    sqlx::query_as("SELECT supports_calling, language FROM whatsapp_numbers WHERE id = $1 AND deleted_at IS NULL")
        .bind(number)
        .fetch_optional(conn)
        .await
}

/// The customer's open conversation on the number, or a new one of communication type `call` (then `true`):
/// a call joins the conversation the customer already has, as a message would.
pub async fn conversation_for_call(
    conn: &mut PgConnection,
    channel: Uuid,
    number: Uuid,
    contact: Uuid,
) -> sqlx::Result<(Uuid, bool)> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO conversations (id, channel_id, number_id, contact_id, communication_type, routing_state,
                                    updated_at, started_by, status)
         VALUES ($1, $2, $3, $4, 'call', 'unrouted', now(), 'customer', 'open')
         ON CONFLICT (number_id, contact_id) WHERE status <> 'resolved' DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(channel)
    .bind(number)
    .bind(contact)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let open = super::conversations::open_for(conn, number, contact).await?;
    Ok((open.expect("the insert met the customer's open conversation"), false))
}

pub struct NewCall<'a> {
    pub call_sid: &'a str,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub state: CallState,
    pub outcome: Option<Outcome>,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

/// Records the call; `None` when a call with this SID is already recorded (Twilio asked again).
pub async fn insert(conn: &mut PgConnection, c: &NewCall<'_>) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!(
        "INSERT INTO calls (id, call_sid, channel_id, number_id, contact_id, conversation_id, direction, state,
                            outcome, queue_id, agent_id, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $8 = 'ended' THEN now() END)
         ON CONFLICT (call_sid) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(c.call_sid)
    .bind(c.channel_id)
    .bind(c.number_id)
    .bind(c.contact_id)
    .bind(c.conversation_id)
    .bind(c.direction)
    .bind(c.state)
    .bind(c.outcome)
    .bind(c.queue_id)
    .bind(c.agent_id)
    .fetch_optional(conn)
    .await
}

/// The call with this SID on the channel, locked for the caller's transaction.
pub async fn lock_by_sid(conn: &mut PgConnection, channel: Uuid, sid: &str) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM calls WHERE call_sid = $1 AND channel_id = $2 FOR UPDATE"))
        .bind(sid)
        .bind(channel)
        .fetch_optional(conn)
        .await
}

/// The call's place among the waiting calls for the same queue (or, without a queue, the same agent or
/// number): 1 is next.
pub async fn position(conn: &mut PgConnection, call: &Call) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM calls
         WHERE state = 'waiting' AND created_at <= $1
           AND CASE WHEN $2::uuid IS NOT NULL THEN queue_id = $2
                    WHEN $3::uuid IS NOT NULL THEN queue_id IS NULL AND agent_id = $3
                    ELSE queue_id IS NULL AND agent_id IS NULL AND number_id = $4 END",
    )
    .bind(call.created_at)
    .bind(call.queue_id)
    .bind(call.agent_id)
    .bind(call.number_id)
    .fetch_one(conn)
    .await
}

pub async fn position_said(conn: &mut PgConnection, id: Uuid, at_secs: u32) -> sqlx::Result<()> {
    sqlx::query("UPDATE calls SET position_said_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at_secs as i32)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a call that has not ended yet (`false` if it had).
pub async fn end(conn: &mut PgConnection, id: Uuid, outcome: Outcome) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE calls SET state = 'ended', outcome = $2, ended_at = now() WHERE id = $1 AND state <> 'ended'",
    )
    .bind(id)
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The waiting strategy of the call's queue (`None` without a queue or a strategy of its own).
pub async fn waiting_strategy(conn: &mut PgConnection, queue: Option<Uuid>) -> sqlx::Result<Option<WaitingStrategy>> {
    let Some(queue) = queue else { return Ok(None) };
    let row: Option<Option<Json<WaitingStrategy>>> =
        sqlx::query_scalar("SELECT waiting_strategy FROM queues WHERE id = $1")
            .bind(queue)
            .fetch_optional(conn)
            .await?;
    Ok(row.flatten().map(|j| j.0))
}

/// The conversation's calls, oldest first.
pub async fn of_conversation(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM calls WHERE conversation_id = $1 ORDER BY created_at"))
        .bind(conversation)
        .fetch_all(conn)
        .await
}
