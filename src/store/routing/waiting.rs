//! Conversations waiting in queues or for a named agent, as the dispatcher offers them.

use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// A waiting conversation, as the dispatcher offers it.
#[derive(Debug, Clone, FromRow)]
pub struct Waiting {
    pub id: Uuid,
    pub number_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub waiting_agent_id: Option<Uuid>,
    pub language: Option<String>,
    pub last_agent_id: Option<Uuid>,
    pub waited_secs: f64,
}

/// The queues (and agents) that have conversations waiting, in the order their waits are served.
pub async fn waiting_queues(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT DISTINCT queue_id FROM conversations
         WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await
}

const WAITING: &str =
    "SELECT c.id, c.number_id, c.queue_id, c.waiting_agent_id, COALESCE(k.language, n.language) AS language,
        (SELECT o.assignee_id FROM conversations o WHERE o.contact_id = c.contact_id AND o.id <> c.id
         ORDER BY o.created_at DESC LIMIT 1) AS last_agent_id,
        EXTRACT(EPOCH FROM now() - c.queued_at)::float8 AS waited_secs
    FROM conversations c
    JOIN contacts k ON k.id = c.contact_id
    JOIN whatsapp_numbers n ON n.id = c.number_id";

/// Up to `limit` conversations waiting in `queue`, highest priority then longest wait first, locked; ones
/// another process holds are skipped.
pub async fn lock_waiting_in(conn: &mut PgConnection, queue: Uuid, limit: i64) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(&format!(
        "{WAITING} WHERE c.id IN (
             SELECT id FROM conversations
             WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id = $1
             ORDER BY priority DESC, queued_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         ORDER BY c.priority DESC, c.queued_at"
    ))
    .bind(queue)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Up to `limit` conversations that have waited in `queue` longer than `secs`, oldest first, locked.
pub async fn lock_overdue_in(
    conn: &mut PgConnection,
    queue: Uuid,
    secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(&format!(
        "{WAITING} WHERE c.id IN (
             SELECT id FROM conversations
             WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id = $1
               AND queued_at < now() - make_interval(secs => $2)
             ORDER BY queued_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         ORDER BY c.queued_at"
    ))
    .bind(queue)
    .bind(secs)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Conversations waiting for a named agent, oldest first, locked.
pub async fn lock_waiting_for_agents(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(&format!(
        "{WAITING} WHERE c.id IN (
             SELECT id FROM conversations
             WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id IS NULL AND waiting_agent_id IS NOT NULL
             ORDER BY priority DESC, queued_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         ORDER BY c.priority DESC, c.queued_at"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}
