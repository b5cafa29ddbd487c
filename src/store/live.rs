//! The live feed's table (`live_events`, filled by triggers): read in transaction-id order, one finished stretch
//! of transactions at a time.

use sqlx::PgPool;

/// The oldest transaction id still running (or the next to be assigned): every transaction below it has
/// finished, so its rows are all visible and no more will appear.
pub async fn horizon(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetch_one(pool).await
}

/// The payloads written by transactions from `from` (inclusive) up to the current horizon (exclusive), in
/// transaction order, and that horizon: the next call's `from`.
pub async fn read_since(pool: &PgPool, from: i64) -> sqlx::Result<(Vec<String>, i64)> {
    sqlx::query_as(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon)
         SELECT COALESCE((SELECT array_agg(e.payload ORDER BY e.xid, e.created_at) FROM live_events e, h
                          WHERE e.xid >= $1::text::xid8 AND e.xid < h.horizon), '{}'),
                (SELECT horizon::text::bigint FROM h)",
    )
    .bind(from.to_string())
    .fetch_one(pool)
    .await
}

/// Deletes what every reader has long read.
pub async fn sweep(pool: &PgPool, older_than_secs: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM live_events WHERE created_at < now() - make_interval(secs => $1)")
        .bind(older_than_secs as f64)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
