//! The live feed's table (`live_events`, filled by triggers): read by snapshot difference. Each read passes on
//! the rows of the transactions that finished since the reader's previous snapshot (those the previous one saw
//! as running or not yet started, which the current one sees as finished), so a transaction that commits late
//! is never skipped, and one that runs long (a report's rebuild) holds back nobody's rows but its own. The
//! table was first read below the oldest running transaction instead, and every long transaction on the
//! server then delayed every inbox (BENCHMARKS.md, "Live delivery and long transactions").

use sqlx::PgPool;

/// The database's current snapshot (`pg_snapshot` as text): where a reader starts.
pub async fn snapshot(pool: &PgPool) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT pg_current_snapshot()::text").fetch_one(pool).await
}

/// The payloads written by transactions that `since` (a snapshot from [`snapshot`] or from the previous call)
/// did not see as finished and the current snapshot does, in transaction order, and the current snapshot: the
/// next call's `since`.
pub async fn read_since(pool: &PgPool, since: &str) -> sqlx::Result<(Vec<String>, String)> {
    // `$1` itself (not `s.before`) in the list of transactions that were running: an uncorrelated subquery is
    // computed once, so both conditions are index scans of `live_events_xid_idx`.
    sqlx::query_as(
        "WITH s AS (SELECT pg_current_snapshot() AS now, $1::pg_snapshot AS before)
         SELECT COALESCE((SELECT array_agg(e.payload ORDER BY e.xid, e.created_at) FROM live_events e, s
                          WHERE (e.xid >= pg_snapshot_xmax(s.before)
                                 OR e.xid = ANY(ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot))))
                            AND pg_visible_in_snapshot(e.xid, s.now)), '{}'),
                (SELECT now::text FROM s)",
    )
    .bind(since)
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
