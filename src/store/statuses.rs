//! An outbound message's delivery status, moved forward only as Twilio reports it; a report that arrives before
//! the message's SID is recorded is kept and applied when it is.

use crate::domain::MessageStatus;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// What a status callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusUpdate {
    Applied {
        previous: String,
    },
    /// The message is already at or past this status (callbacks arrive out of order).
    Stale {
        current: String,
    },
    UnknownMessage,
}

/// Moves the message to `status` if it may (see [`MessageStatus::may_become`]), in one conditional statement,
/// so concurrent callbacks for the same message cannot move it backwards.
pub async fn apply_status(
    pool: &PgPool,
    account_id: Uuid,
    twilio_sid: &str,
    status: MessageStatus,
    error_code: Option<i32>,
    error_message: Option<&str>,
) -> sqlx::Result<StatusUpdate> {
    let update = StatusUpdateRequest { account_id, twilio_sid, status, error_code, error_message };
    match apply_status_in(&mut *pool.acquire().await?, &update).await? {
        StatusUpdate::UnknownMessage => {}
        known => return Ok(known),
    }
    // Unknown: perhaps the sender has not recorded the SID yet. Under the SID's lock (which the sender also
    // takes to record it), look once more and, if still unknown, keep the callback for the sender to apply.
    let mut tx = pool.begin().await?;
    lock_sids(&mut tx, &[twilio_sid]).await?;
    let outcome = apply_status_in(&mut tx, &update).await?;
    if outcome == StatusUpdate::UnknownMessage {
        sqlx::query(
            "INSERT INTO early_status_callbacks (account_id, twilio_sid, status, error_code, error_message)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, twilio_sid, status) DO NOTHING",
        )
        .bind(account_id)
        .bind(twilio_sid)
        .bind(status.as_str())
        .bind(error_code)
        .bind(error_message)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Serialises recording a message's SID with storing an early status callback for it (transaction-scoped
/// advisory locks, taken in one order).
pub async fn lock_sids(conn: &mut PgConnection, sids: &[&str]) -> sqlx::Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('twilio_sid:' || s, 0))
         FROM (SELECT DISTINCT s FROM unnest($1::text[]) AS s ORDER BY s) ordered",
    )
    .bind(sids)
    .execute(conn)
    .await?;
    Ok(())
}

/// One status to apply to the message Twilio knows as `twilio_sid`.
#[derive(Debug, Clone, Copy)]
pub struct StatusUpdateRequest<'a> {
    pub account_id: Uuid,
    pub twilio_sid: &'a str,
    pub status: MessageStatus,
    pub error_code: Option<i32>,
    pub error_message: Option<&'a str>,
}

/// Applies early callbacks kept for these SIDs (the sender just recorded them, under their locks), oldest
/// first, forward only, and forgets them.
pub async fn apply_early_statuses(conn: &mut PgConnection, sids: &[&str]) -> sqlx::Result<usize> {
    #[derive(FromRow)]
    struct Early {
        account_id: Uuid,
        twilio_sid: String,
        status: String,
        error_code: Option<i32>,
        error_message: Option<String>,
    }
    let early: Vec<Early> = sqlx::query_as(
        "DELETE FROM early_status_callbacks WHERE twilio_sid = ANY($1)
         RETURNING account_id, twilio_sid, status, error_code, error_message",
    )
    .bind(sids)
    .fetch_all(&mut *conn)
    .await?;
    let mut ordered: Vec<(MessageStatus, Early)> =
        early.into_iter().filter_map(|e| Some((e.status.parse::<MessageStatus>().ok()?, e))).collect();
    // Forward only: applying in the statuses' own order lets each step through and the last one stand.
    ordered.sort_by_key(|(status, _)| status.rank().unwrap_or(u8::MAX));
    let mut applied = 0;
    for (status, e) in &ordered {
        let update = StatusUpdateRequest {
            account_id: e.account_id,
            twilio_sid: &e.twilio_sid,
            status: *status,
            error_code: e.error_code,
            error_message: e.error_message.as_deref(),
        };
        if matches!(apply_status_in(conn, &update).await?, StatusUpdate::Applied { .. }) {
            applied += 1;
        }
    }
    Ok(applied)
}

async fn apply_status_in(conn: &mut PgConnection, u: &StatusUpdateRequest<'_>) -> sqlx::Result<StatusUpdate> {
    let (account_id, twilio_sid, status, error_code, error_message) =
        (u.account_id, u.twilio_sid, u.status, u.error_code, u.error_message);
    let row: Option<(String, bool)> = sqlx::query_as(
        "WITH target AS (
             SELECT id, status FROM messages WHERE account_id = $1 AND twilio_sid = $2
         ), updated AS (
             UPDATE messages m SET status = $3, status_updated_at = now(),
                    error_code = COALESCE($4, m.error_code), error_message = COALESCE($5, m.error_message)
             FROM target WHERE m.id = target.id AND m.status = ANY($6)
             RETURNING m.id
         )
         SELECT target.status, EXISTS (SELECT 1 FROM updated) FROM target",
    )
    .bind(account_id)
    .bind(twilio_sid)
    .bind(status.as_str())
    .bind(error_code)
    .bind(error_message)
    .bind(MessageStatus::replaceable_by(status))
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => StatusUpdate::UnknownMessage,
        Some((previous, true)) => StatusUpdate::Applied { previous },
        Some((current, false)) => StatusUpdate::Stale { current },
    })
}
