//! The durable job queue: claim with `FOR UPDATE SKIP LOCKED`, finish by deleting, retry later, or fail visibly.

use serde_json::Value;
use sqlx::{FromRow, PgPool};
use std::time::Duration;

#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    /// Including the attempt now running.
    pub attempts: i32,
    pub max_attempts: Option<i32>,
}

/// Takes up to `limit` due jobs for `worker`. Jobs other workers hold are skipped, not waited for.
pub async fn claim(pool: &PgPool, worker: &str, limit: i64) -> sqlx::Result<Vec<Job>> {
    sqlx::query_as(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_at = now(), locked_by = $1, updated_at = now()
         WHERE id IN (
             SELECT id FROM jobs WHERE state = 'pending' AND run_at <= now()
             ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         RETURNING id, kind, payload, attempts, max_attempts",
    )
    .bind(worker)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Puts back jobs whose worker has held them longer than `lease` (it died or hung); returns how many.
pub async fn reclaim_expired(pool: &PgPool, lease: Duration) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'pending', locked_at = NULL, locked_by = NULL, updated_at = now(),
                last_error = 'lease expired: the worker holding it stopped'
         WHERE state = 'running' AND locked_at < now() - make_interval(secs => $1)",
    )
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn complete(pool: &PgPool, id: i64, worker: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2").bind(id).bind(worker).execute(pool).await?;
    Ok(())
}

pub async fn retry_later(pool: &PgPool, id: i64, worker: &str, delay: Duration, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'pending', run_at = now() + make_interval(secs => $3), last_error = $4,
                locked_at = NULL, locked_by = NULL, updated_at = now()
         WHERE id = $1 AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(delay.as_secs_f64())
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn fail(pool: &PgPool, id: i64, worker: &str, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'failed', last_error = $3, locked_at = NULL, locked_by = NULL, updated_at = now()
         WHERE id = $1 AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
