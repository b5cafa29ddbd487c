//! The supervisor's overview: queues with their waits, agents with their load.

use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct QueueLoad {
    pub id: Uuid,
    pub name: String,
    /// Conversations waiting in the queue.
    pub waiting: i64,
    /// How long the longest-waiting one has waited, in seconds (0 when none waits).
    pub longest_wait_secs: i64,
    /// Open conversations of this queue held by an agent.
    pub assigned: i64,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AgentLoad {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    /// `online`, `away` or `offline`.
    pub presence: String,
    #[serde(with = "time::serde::rfc3339")]
    pub presence_changed_at: time::OffsetDateTime,
    /// Open conversations held.
    pub load: i32,
    pub capacity: i32,
}

pub async fn overview(pool: &PgPool) -> sqlx::Result<(Vec<QueueLoad>, Vec<AgentLoad>, i64)> {
    let queues = sqlx::query_as(
        "SELECT q.id, q.name,
                count(c.id) FILTER (WHERE c.routing_state = 'waiting') AS waiting,
                COALESCE(EXTRACT(EPOCH FROM now() - min(c.queued_at) FILTER (WHERE c.routing_state = 'waiting')), 0)::bigint
                    AS longest_wait_secs,
                count(c.id) FILTER (WHERE c.routing_state = 'assigned') AS assigned
         FROM queues q LEFT JOIN conversations c ON c.queue_id = q.id AND c.status <> 'resolved'
         WHERE q.deleted_at IS NULL GROUP BY q.id ORDER BY lower(q.name), q.id",
    )
    .fetch_all(pool)
    .await?;
    let agents = sqlx::query_as(
        "SELECT id, name, email, role, presence, presence_changed_at, load, capacity FROM users WHERE active
         ORDER BY lower(name), id",
    )
    .fetch_all(pool)
    .await?;
    let unowned = sqlx::query_scalar(
        "SELECT count(*) FROM conversations WHERE routing_state = 'unowned' AND status <> 'resolved'",
    )
    .fetch_one(pool)
    .await?;
    Ok((queues, agents, unowned))
}
