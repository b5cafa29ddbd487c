//! Throttling of logins, shared by every server process: per client address (a hard limit per window) and per
//! account *and* address (after a few failures each further try waits twice as long as the last, up to the
//! window). Nobody elsewhere can lock an account out: failures from one address never slow another address.
//!
//! An attempt is counted *before* the password is checked (the slow hash), in one transaction that takes the
//! counters' rows in one order, so a burst of concurrent attempts cannot all slip past a check that was made
//! before any of them failed. A successful login gives its attempt back.

use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;

/// How one counter limits.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// At most this many attempts per window.
    Hard(i32),
    /// This many freely; then each further attempt waits 1 s, 2 s, 4 s, … since the last one (at most a window).
    Growing(i32),
}

/// The attempt was refused: try again at this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub until: OffsetDateTime,
}

/// Counts an attempt for every key, in order, unless one of them is over its limit: then nothing is counted and
/// the answer says when to try again.
pub async fn reserve(pool: &PgPool, keys: &[(&str, Rule)], window: Duration) -> sqlx::Result<Result<(), Blocked>> {
    let mut tx = pool.begin().await?;
    for (key, rule) in keys {
        let (limit, growing) = match *rule {
            Rule::Hard(n) => (n, false),
            Rule::Growing(n) => (n, true),
        };
        let counted: Option<String> = sqlx::query_scalar(
            "INSERT INTO login_failures AS f (key, window_start, failures, last_at) VALUES ($1, now(), 1, now())
             ON CONFLICT (key) DO UPDATE SET
               failures = CASE WHEN f.window_start + make_interval(secs => $3) <= now() THEN 1 ELSE f.failures + 1 END,
               window_start = CASE WHEN f.window_start + make_interval(secs => $3) <= now() THEN now()
                                   ELSE f.window_start END,
               last_at = now()
             WHERE f.window_start + make_interval(secs => $3) <= now()
                OR f.failures < $2
                OR ($4 AND f.last_at + make_interval(secs => least($3, power(2, f.failures - $2)::float8)) <= now())
             RETURNING f.key",
        )
        .bind(key)
        .bind(limit)
        .bind(window.as_secs_f64())
        .bind(growing)
        .fetch_optional(&mut *tx)
        .await?;
        if counted.is_none() {
            let until: OffsetDateTime = sqlx::query_scalar(
                "SELECT CASE WHEN $2 AND failures >= $3
                             THEN least(window_start + make_interval(secs => $4),
                                        last_at + make_interval(secs => least($4, power(2, failures - $3)::float8)))
                             ELSE window_start + make_interval(secs => $4) END
                 FROM login_failures WHERE key = $1",
            )
            .bind(key)
            .bind(growing)
            .bind(limit)
            .bind(window.as_secs_f64())
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Ok(Err(Blocked { until }));
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// A successful login: its attempt is given back to `shared` (the address's counter), and `own` (the account
/// and address's) starts afresh.
pub async fn succeeded(pool: &PgPool, shared: &str, own: &str) -> sqlx::Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM login_failures WHERE key = $2)
         UPDATE login_failures SET failures = greatest(failures - 1, 0) WHERE key = $1",
    )
    .bind(shared)
    .bind(own)
    .execute(pool)
    .await?;
    Ok(())
}
