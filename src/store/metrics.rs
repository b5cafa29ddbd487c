//! The database's figures for `/metrics` (see `metrics`), read at each scrape in one round trip. Each part reads
//! a small partial index or a system view, so a scrape every 15 s costs the database next to nothing.

use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobKind {
    pub kind: String,
    /// Pending (due or scheduled).
    pub waiting: i64,
    pub running: i64,
    /// How long the oldest pending job that is due has waited; 0 when none is due.
    pub oldest_due_secs: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub jobs: Vec<JobKind>,
    /// Queue name and the conversations waiting in it (every queue, 0 included).
    pub queues: Vec<(String, i64)>,
    pub agents_online: i64,
    pub oldest_transaction_secs: f64,
}

pub async fn snapshot(pool: &PgPool) -> sqlx::Result<Snapshot> {
    let mut tx = pool.begin().await?;
    let jobs = sqlx::query_as(
        "SELECT kind,
                count(*) FILTER (WHERE state = 'pending') AS waiting,
                count(*) FILTER (WHERE state = 'running') AS running,
                COALESCE(EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE state = 'pending' AND run_at <= now())),
                         0)::float8 AS oldest_due_secs
         FROM jobs WHERE state IN ('pending', 'running') GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&mut *tx)
    .await?;
    let queues = sqlx::query_as(
        "SELECT q.name, count(c.id)
         FROM queues q LEFT JOIN conversations c
              ON c.queue_id = q.id AND c.routing_state = 'waiting' AND c.status <> 'resolved'
         WHERE q.deleted_at IS NULL GROUP BY q.id, q.name ORDER BY q.name",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (agents_online, oldest_transaction_secs): (i64, f64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users WHERE active AND presence = 'online'),
                COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(xact_start)) FROM pg_stat_activity
                          WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()), 0)::float8",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Snapshot { jobs, queues, agents_online, oldest_transaction_secs })
}
