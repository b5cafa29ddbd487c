//! WhatsApp call permission: the requests the business sent, the customer's answers, and (from `calls`) the
//! calls that count, read as one history for `domain::call_permission`.

use crate::domain::call_permission::Happening;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// How far back the history is read. Nothing older changes a decision: requests count for 7 days, a "yes" lasts
/// 7 days, connected calls count for 24 hours, and unanswered calls only while a permission holds.
pub const HORIZON_DAYS: i32 = 8;

/// Serialises decisions about one customer on one number until the transaction ends, so that two requests (or
/// two calls) sent at once cannot both pass a limit that only one may.
pub async fn lock_pair(conn: &mut PgConnection, number: Uuid, contact: Uuid) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('call_permission:' || $1::text || $2::text, 0))")
        .bind(number)
        .bind(contact)
        .execute(conn)
        .await?;
    Ok(())
}

/// Everything that happened between the number and the customer within [`HORIZON_DAYS`], oldest first, and the
/// database's clock.
pub async fn history(
    conn: &mut PgConnection,
    number: Uuid,
    contact: Uuid,
) -> sqlx::Result<(Vec<Happening>, OffsetDateTime)> {
    let rows: Vec<(String, OffsetDateTime, Option<bool>, OffsetDateTime)> = sqlx::query_as(
        "WITH h AS (
             SELECT 'requested' AS what, created_at AS at, NULL::boolean AS granted
               FROM call_permission_requests
              WHERE number_id = $1 AND contact_id = $2 AND created_at > now() - make_interval(days => $3)
             UNION ALL
             SELECT 'answered', created_at, granted
               FROM call_permission_answers
              WHERE number_id = $1 AND contact_id = $2 AND created_at > now() - make_interval(days => $3)
             UNION ALL
             SELECT CASE WHEN answered_at IS NOT NULL THEN 'connected' ELSE 'unanswered' END,
                    coalesce(answered_at, ended_at), NULL
               FROM calls
              WHERE number_id = $1 AND contact_id = $2 AND created_at > now() - make_interval(days => $3)
                AND (answered_at IS NOT NULL OR (direction = 'outbound' AND outcome = 'missed')))
         SELECT what, at, granted, now() FROM h
         UNION ALL SELECT 'now', now(), NULL, now()
         ORDER BY 2",
    )
    .bind(number)
    .bind(contact)
    .bind(HORIZON_DAYS)
    .fetch_all(&mut *conn)
    .await?;
    let mut now = OffsetDateTime::now_utc();
    let mut history = Vec::with_capacity(rows.len());
    for (what, at, granted, db_now) in rows {
        now = db_now;
        history.push(match what.as_str() {
            "requested" => Happening::Requested(at),
            "answered" => Happening::Answered { at, yes: granted.unwrap_or(false) },
            "connected" => Happening::Connected(at),
            "unanswered" => Happening::Unanswered(at),
            _ => continue,
        });
    }
    Ok((history, now))
}

/// A call-permission request as sent.
pub struct NewRequest {
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub requested_by: Option<Uuid>,
}

pub async fn insert_request(conn: &mut PgConnection, r: &NewRequest) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO call_permission_requests (id, number_id, contact_id, conversation_id, message_id, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(r.number_id)
    .bind(r.contact_id)
    .bind(r.conversation_id)
    .bind(r.message_id)
    .bind(r.requested_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// The number and customer of a conversation.
pub async fn pair_of(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<Option<(Uuid, Uuid)>> {
    sqlx::query_as("SELECT number_id, contact_id FROM conversations WHERE id = $1")
        .bind(conversation)
        .fetch_optional(conn)
        .await
}

/// Whether the business asked the customer on the number within [`HORIZON_DAYS`] (an answer means something only
/// then).
pub async fn asked_recently(conn: &mut PgConnection, number: Uuid, contact: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM call_permission_requests
                         WHERE number_id = $1 AND contact_id = $2 AND created_at > now() - make_interval(days => $3))",
    )
    .bind(number)
    .bind(contact)
    .bind(HORIZON_DAYS)
    .fetch_one(conn)
    .await
}

/// Records the customer's answer in `message_id`, and touches the conversation so that open inboxes hear of it
/// (its Call button); `false` if that message was recorded already.
pub async fn insert_answer(
    conn: &mut PgConnection,
    number: Uuid,
    contact: Uuid,
    conversation: Uuid,
    message_id: Uuid,
    granted: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "WITH answer AS (
             INSERT INTO call_permission_answers (id, number_id, contact_id, conversation_id, message_id, granted)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING RETURNING conversation_id)
         UPDATE conversations SET updated_at = now() WHERE id = (SELECT conversation_id FROM answer)",
    )
    .bind(Uuid::now_v7())
    .bind(number)
    .bind(contact)
    .bind(conversation)
    .bind(message_id)
    .bind(granted)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
