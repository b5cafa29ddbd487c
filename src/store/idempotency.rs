//! `Idempotency-Key`s: the first request's hash and, once it finished, its answer, per caller and key.

use sqlx::PgPool;

/// How long a key is remembered.
pub const KEEP_SECS: f64 = 24.0 * 3600.0;

/// A first request that has not finished after this long is taken as abandoned (its process died), and the key
/// may be used again.
pub const ABANDONED_AFTER_SECS: f64 = 300.0;

/// What the first request with a key left.
pub struct Kept {
    pub request_hash: Vec<u8>,
    /// `None` while the first request runs.
    pub status: Option<i16>,
    /// `None` while it runs, or when its answer showed a secret that is shown only once.
    pub response: Option<Vec<u8>>,
}

/// Forgets this key if it is abandoned or past keeping (the sweeper deletes the others), then claims it for
/// this request. `Ok(None)`: claimed; `Ok(Some(kept))`: an earlier request holds it.
pub async fn claim(pool: &PgPool, caller: &str, key: &str, request_hash: &[u8]) -> sqlx::Result<Option<Kept>> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2
         AND (created_at < now() - make_interval(secs => $4)
              OR (status IS NULL AND created_at < now() - make_interval(secs => $3)))",
    )
    .bind(caller)
    .bind(key)
    .bind(ABANDONED_AFTER_SECS)
    .bind(KEEP_SECS)
    .execute(pool)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (caller, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(caller)
    .bind(key)
    .bind(request_hash)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        return Ok(None);
    }
    let (request_hash, status, response): (Vec<u8>, Option<i16>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT request_hash, status, response FROM idempotency_keys WHERE caller = $1 AND key = $2")
            .bind(caller)
            .bind(key)
            .fetch_one(pool)
            .await?;
    Ok(Some(Kept { request_hash, status, response }))
}

/// Releases the key (the request failed on the server's side: it may be tried again with the same key).
pub async fn release(pool: &PgPool, caller: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2")
        .bind(caller)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Keeps the first request's answer for repeats.
pub async fn finish(pool: &PgPool, caller: &str, key: &str, status: i16, response: Option<&[u8]>) -> sqlx::Result<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $3, response = $4 WHERE caller = $1 AND key = $2")
        .bind(caller)
        .bind(key)
        .bind(status)
        .bind(response)
        .execute(pool)
        .await?;
    Ok(())
}
