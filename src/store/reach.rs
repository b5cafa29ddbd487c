//! Messaging limits (`messaging_reach`): which customers each number reached with business-initiated messages
//! in the last 24 hours, and the reservation that keeps the count under the number's cap exactly, across every
//! process.
//!
//! Why a reservation of its own: the cap is a count over all senders of a number, so two transactions that each
//! see 249 of 250 must not both add one. Serialising them on a lock held until the sending transaction commits
//! would put one WAL flush per notification in a line. Instead [`reserve`] takes the number's advisory lock in a
//! short transaction of its own that commits without waiting for the flush (`synchronous_commit = off`): the
//! lock is held for microseconds. The reservation is durable whenever the message is, because the sending
//! transaction commits later and its flush covers every earlier WAL record. If the sending transaction does not
//! commit, [`release`] puts the rows back; a crash between the two leaves a customer counted who was not reached,
//! which errs on the side WhatsApp's limit asks for.

use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// The rolling window of the limit.
pub const WINDOW: &str = "24 hours";

/// The number's messaging-limit tier.
pub async fn tier(conn: &mut sqlx::PgConnection, number_id: Uuid) -> sqlx::Result<crate::domain::opt_in::Tier> {
    sqlx::query_scalar("SELECT messaging_tier FROM whatsapp_numbers WHERE id = $1")
        .bind(number_id)
        .fetch_one(conn)
        .await
}

/// One customer reserved: what `messaging_reach` held for them before (for [`release`]).
#[derive(Debug, Clone, Copy)]
pub struct Reserved {
    pub contact_id: Uuid,
    pub before: Option<OffsetDateTime>,
}

/// Reserves `contacts` (each once) on the number under `cap`, in order: a customer already reached in the
/// window is reserved again without counting twice; a new one only while fewer than `cap` are. Answers the
/// reserved, and for the rest how long until the oldest reach in the window leaves it (`Retry-After`).
pub async fn reserve(
    pool: &PgPool,
    number_id: Uuid,
    cap: i64,
    contacts: &[Uuid],
) -> sqlx::Result<(Vec<Reserved>, Option<Duration>)> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    lock(&mut tx, number_id).await?;
    // Kept per minute by triggers (migration 19): a count of the whole window would read every customer reached.
    let used: i64 = sqlx::query_scalar("SELECT messaging_used($1)").bind(number_id).fetch_one(&mut *tx).await?;
    let known: Vec<(Uuid, OffsetDateTime, bool)> = sqlx::query_as(&format!(
        "SELECT contact_id, reached_at, reached_at > now() - interval '{WINDOW}' FROM messaging_reach
         WHERE number_id = $1 AND contact_id = ANY($2)"
    ))
    .bind(number_id)
    .bind(contacts)
    .fetch_all(&mut *tx)
    .await?;
    let mut room = cap - used;
    let mut reserved: Vec<Reserved> = Vec::with_capacity(contacts.len());
    let mut refused = false;
    for c in contacts {
        if reserved.iter().any(|r| r.contact_id == *c) {
            continue;
        }
        let prior = known.iter().find(|(k, _, _)| k == c);
        let in_window = prior.is_some_and(|(_, _, w)| *w);
        if !in_window {
            if room <= 0 {
                refused = true;
                continue;
            }
            room -= 1;
        }
        reserved.push(Reserved { contact_id: *c, before: prior.map(|(_, at, _)| *at) });
    }
    let ids: Vec<Uuid> = reserved.iter().map(|r| r.contact_id).collect();
    sqlx::query(
        "INSERT INTO messaging_reach (number_id, contact_id, reached_at) SELECT $1, c, now() FROM unnest($2::uuid[]) c
         ON CONFLICT (number_id, contact_id) DO UPDATE SET reached_at = now()",
    )
    .bind(number_id)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    let retry_after = if refused { Some(oldest_leaves_in(&mut tx, number_id).await?) } else { None };
    tx.commit().await?;
    Ok((reserved, retry_after))
}

/// The number's lock: reservations and releases of one number take turns.
async fn lock(conn: &mut sqlx::PgConnection, number_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('messaging_reach:' || $1::text, 0))")
        .bind(number_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How long until the oldest reach in the window leaves it (at least one second).
async fn oldest_leaves_in(conn: &mut sqlx::PgConnection, number_id: Uuid) -> sqlx::Result<Duration> {
    let secs: Option<f64> = sqlx::query_scalar(&format!(
        "SELECT EXTRACT(EPOCH FROM min(reached_at) + interval '{WINDOW}' - now())::float8 FROM messaging_reach
         WHERE number_id = $1 AND reached_at > now() - interval '{WINDOW}'"
    ))
    .bind(number_id)
    .fetch_one(conn)
    .await?;
    Ok(Duration::from_secs(secs.unwrap_or(1.0).ceil().max(1.0) as u64))
}

/// Puts reservations back when what they were for was not sent (its transaction failed or was refused later).
pub async fn release(pool: &PgPool, number_id: Uuid, reserved: &[Reserved]) -> sqlx::Result<()> {
    if reserved.is_empty() {
        return Ok(());
    }
    let contacts: Vec<Uuid> = reserved.iter().map(|r| r.contact_id).collect();
    let before: Vec<Option<OffsetDateTime>> = reserved.iter().map(|r| r.before).collect();
    // Under the number's lock, as a reservation: both change the per-minute counts, which must not deadlock.
    let mut tx = pool.begin().await?;
    lock(&mut tx, number_id).await?;
    sqlx::query(
        "WITH r AS (SELECT * FROM unnest($2::uuid[], $3::timestamptz[]) AS r(contact_id, before)),
         restored AS (
             UPDATE messaging_reach m SET reached_at = r.before FROM r
             WHERE m.number_id = $1 AND m.contact_id = r.contact_id AND r.before IS NOT NULL
         )
         DELETE FROM messaging_reach m USING r
         WHERE m.number_id = $1 AND m.contact_id = r.contact_id AND r.before IS NULL",
    )
    .bind(number_id)
    .bind(&contacts)
    .bind(&before)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
