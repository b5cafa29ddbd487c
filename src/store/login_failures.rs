//! Throttling of failed logins, per account and per client address, shared by every server process.

use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;

/// When the most limited of `keys` may try again, if any of them reached `limits` failures in the window.
pub async fn blocked_until(
    pool: &PgPool,
    keys: &[(String, i32)],
    window: Duration,
) -> sqlx::Result<Option<OffsetDateTime>> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let limits: Vec<i32> = keys.iter().map(|(_, l)| *l).collect();
    sqlx::query_scalar(
        "SELECT max(f.window_start + make_interval(secs => $3))
         FROM login_failures f JOIN unnest($1::text[], $2::int4[]) AS k(key, lim) ON k.key = f.key
         WHERE f.failures >= k.lim AND f.window_start + make_interval(secs => $3) > now()",
    )
    .bind(&names)
    .bind(&limits)
    .bind(window.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// Counts a failure for each key, starting a new window where the old one has passed.
pub async fn record_failure(pool: &PgPool, keys: &[String], window: Duration) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO login_failures (key, window_start, failures) SELECT k, now(), 1 FROM unnest($1::text[]) AS k
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_failures.window_start + make_interval(secs => $2) > now()
                           THEN login_failures.failures + 1 ELSE 1 END,
           window_start = CASE WHEN login_failures.window_start + make_interval(secs => $2) > now()
                               THEN login_failures.window_start ELSE now() END",
    )
    .bind(keys)
    .bind(window.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn clear(pool: &PgPool, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key).execute(pool).await?;
    Ok(())
}
