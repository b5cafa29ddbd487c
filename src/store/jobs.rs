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

/// Puts back running jobs whose worker has been silent longer than `worker_timeout` (killed, or its machine
/// gone), or that have run longer than `lease` (hung); forgets silent workers. Returns how many jobs.
pub async fn reclaim_expired(pool: &PgPool, lease: Duration, worker_timeout: Duration) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "WITH alive AS (
             SELECT id FROM job_workers WHERE heartbeat_at > now() - make_interval(secs => $2)
         ), forgotten AS (
             DELETE FROM job_workers WHERE heartbeat_at <= now() - make_interval(secs => $2)
         )
         UPDATE jobs SET state = 'pending', locked_at = NULL, locked_by = NULL, updated_at = now(),
                last_error = CASE WHEN locked_by IN (SELECT id FROM alive)
                                  THEN 'lease expired: the job ran too long'
                                  ELSE 'taken over: the worker running it stopped' END
         WHERE state = 'running'
           AND (locked_at < now() - make_interval(secs => $1) OR locked_by NOT IN (SELECT id FROM alive))",
    )
    .bind(lease.as_secs_f64())
    .bind(worker_timeout.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Gives `worker`'s running jobs back on shutdown (`only`: that one job): pending at once, and the interrupted
/// attempt not counted.
pub async fn hand_back(pool: &PgPool, worker: &str, only: Option<i64>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'pending', locked_at = NULL, locked_by = NULL, run_at = now(), updated_at = now(),
                attempts = greatest(attempts - 1, 0), last_error = 'handed back: the worker running it shut down'
         WHERE state = 'running' AND locked_by = $1 AND ($2::bigint IS NULL OR id = $2)",
    )
    .bind(worker)
    .bind(only)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Records that `worker` is alive.
pub async fn heartbeat(pool: &PgPool, worker: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO job_workers (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()")
        .bind(worker)
        .execute(pool)
        .await?;
    Ok(())
}

/// A worker that stopped cleanly (its jobs finished) leaves.
pub async fn retire(pool: &PgPool, worker: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM job_workers WHERE id = $1").bind(worker).execute(pool).await?;
    Ok(())
}

pub async fn complete(pool: &PgPool, id: i64, worker: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2").bind(id).bind(worker).execute(pool).await?;
    Ok(())
}

/// The job waits for something else: pending again after `delay`, the attempt given back.
pub async fn defer(pool: &PgPool, id: i64, worker: &str, delay: Duration, why: &str) -> sqlx::Result<()> {
    reschedule(pool, id, worker, delay, &format!("waiting: {why}"), true).await
}

/// The attempt failed: pending again after `delay`, the attempt counted.
pub async fn retry_later(pool: &PgPool, id: i64, worker: &str, delay: Duration, error: &str) -> sqlx::Result<()> {
    reschedule(pool, id, worker, delay, error, false).await
}

async fn reschedule(
    pool: &PgPool,
    id: i64,
    worker: &str,
    delay: Duration,
    note: &str,
    give_back_attempt: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'pending', run_at = now() + make_interval(secs => $3), last_error = $4,
                attempts = CASE WHEN $5 THEN greatest(attempts - 1, 0) ELSE attempts END,
                locked_at = NULL, locked_by = NULL, updated_at = now()
         WHERE id = $1 AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(delay.as_secs_f64())
    .bind(note)
    .bind(give_back_attempt)
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
