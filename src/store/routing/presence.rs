//! Agents' presence and their live connections, and the sweep that sets agents offline when their last
//! connection is gone.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Sets an agent's presence (which starts their count of missed acceptances over); returns the previous one
/// (`None`: no such active user).
pub async fn set_presence(conn: &mut PgConnection, user: Uuid, presence: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE users u SET presence = $2, presence_changed_at = now(), acceptance_misses = 0
         FROM (SELECT id, presence FROM users WHERE id = $1 FOR UPDATE) old
         WHERE u.id = old.id RETURNING old.presence",
    )
    .bind(user)
    .bind(presence)
    .fetch_optional(conn)
    .await
}

/// The queues an agent is a member of and the numbers they serve.
pub async fn memberships(pool: &PgPool, user: Uuid) -> sqlx::Result<(Vec<Uuid>, Vec<Uuid>)> {
    sqlx::query_as(
        "SELECT ARRAY(SELECT queue_id FROM queue_members WHERE user_id = $1),
                ARRAY(SELECT number_id FROM number_members WHERE user_id = $1)",
    )
    .bind(user)
    .fetch_one(pool)
    .await
}

pub async fn open_connection(pool: &PgPool, id: Uuid, user: Uuid, worker: &str) -> sqlx::Result<()> {
    sqlx::query(
        "WITH c AS (INSERT INTO agent_connections (id, user_id, worker_id) VALUES ($1, $2, $3))
         UPDATE users SET disconnected_at = NULL WHERE id = $2",
    )
    .bind(id)
    .bind(user)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a closed connection; the agent's grace period starts if it was their last.
pub async fn close_connection(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM agent_connections WHERE id = $1 RETURNING user_id)
         UPDATE users SET disconnected_at = now()
         WHERE id IN (SELECT user_id FROM gone)
           AND NOT EXISTS (SELECT 1 FROM agent_connections a WHERE a.user_id = users.id AND a.id <> $1)",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Connections held by processes that stopped beating are closed; agents whose last connection closed more than
/// `grace` ago go offline. Returns the agents set offline.
pub async fn sweep_presence(pool: &PgPool, grace_secs: f64, worker_timeout_secs: f64) -> sqlx::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "WITH dead AS (
             DELETE FROM agent_connections
             WHERE worker_id NOT IN (SELECT id FROM job_workers WHERE heartbeat_at > now() - make_interval(secs => $1))
               AND opened_at < now() - make_interval(secs => $1)
             RETURNING user_id)
         UPDATE users SET disconnected_at = now()
         WHERE id IN (SELECT user_id FROM dead)
           AND NOT EXISTS (SELECT 1 FROM agent_connections a WHERE a.user_id = users.id)",
    )
    .bind(worker_timeout_secs)
    .execute(&mut *tx)
    .await?;
    let gone: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE users SET presence = 'offline', presence_changed_at = now()
         WHERE presence <> 'offline' AND disconnected_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM agent_connections a WHERE a.user_id = users.id)
         RETURNING id",
    )
    .bind(grace_secs)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(gone)
}
