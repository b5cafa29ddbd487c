//! A conversation's life by the clock: snoozed ones whose time came, and assigned ones their agent has not
//! answered within the queue's acceptance timeout.

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// Opens the snoozed conversations whose time has come (at most `limit`), each with its `unsnoozed` event;
/// answers their ids. Rows another process is changing are skipped (it will be seen on the next round).
pub async fn wake_snoozed(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "WITH due AS (
             SELECT id, snoozed_until FROM conversations
             WHERE status = 'snoozed' AND snoozed_until <= now()
             ORDER BY snoozed_until LIMIT $1 FOR UPDATE SKIP LOCKED
         ), woke AS (
             UPDATE conversations c SET status = 'open', snoozed_until = NULL, updated_at = now()
             FROM due WHERE c.id = due.id
             RETURNING c.id, due.snoozed_until
         )
         INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_label, data)
         SELECT id, 'unsnoozed', 'system', 'lifecycle', jsonb_build_object('reason', 'time', 'until', snoozed_until)
         FROM woke
         RETURNING conversation_id",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A conversation its agent has not answered in time.
#[derive(Debug, Clone, FromRow)]
pub struct Unanswered {
    pub id: Uuid,
    pub assignee_id: Uuid,
    pub language: Option<String>,
    pub assigned_secs: f64,
}

/// Up to `limit` conversations of `queue` assigned more than `secs` ago whose agent has sent no message since
/// (automations and notes do not count), oldest assignment first, locked; ones another process holds are skipped.
/// Snoozed conversations are left alone: their agent set them aside on purpose.
pub async fn lock_unanswered_in(
    conn: &mut PgConnection,
    queue: Uuid,
    secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<Unanswered>> {
    sqlx::query_as(
        "SELECT c.id, c.assignee_id, COALESCE(k.language, n.language) AS language,
                EXTRACT(EPOCH FROM now() - c.assigned_at)::float8 AS assigned_secs
         FROM conversations c
         JOIN contacts k ON k.id = c.contact_id
         JOIN whatsapp_numbers n ON n.id = c.number_id
         WHERE c.id IN (
             SELECT a.id FROM conversations a
             WHERE a.routing_state = 'assigned' AND a.status <> 'resolved' AND a.queue_id = $1
               AND a.status <> 'snoozed' AND a.assigned_at < now() - make_interval(secs => $2)
               AND NOT EXISTS (SELECT 1 FROM messages m
                               WHERE m.conversation_id = a.id AND m.direction = 'outbound'
                                 AND m.automation IS NULL AND m.created_at >= a.assigned_at)
             ORDER BY a.assigned_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         ORDER BY c.assigned_at",
    )
    .bind(queue)
    .bind(secs)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Counts one more missed acceptance for the agent; answers their misses in a row.
pub async fn count_miss(conn: &mut PgConnection, agent: Uuid) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "UPDATE users SET acceptance_misses = acceptance_misses + 1 WHERE id = $1 RETURNING acceptance_misses",
    )
    .bind(agent)
    .fetch_one(conn)
    .await
}

/// The agent answered a customer: their misses in a row start over (no write when there were none).
pub async fn answered(conn: &mut PgConnection, agent: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET acceptance_misses = 0 WHERE id = $1 AND acceptance_misses > 0")
        .bind(agent)
        .execute(conn)
        .await?;
    Ok(())
}
