//! Deleting what has expired: sessions, login counters, idempotency keys, early status callbacks that never found
//! their message, OAuth access tokens, messaging-limit reaches long out of their window. Uploads are in `uploads` (their files go too).

use sqlx::PgPool;
use std::time::Duration;

/// How long the event log keeps events (`GET /events`, webhook deliveries): longer than a delivery is retried.
pub const EVENTS_KEEP_DAYS: i32 = 7;

/// How many rows of each kind one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub login_counters: u64,
    pub idempotency_keys: u64,
    pub early_status_callbacks: u64,
    pub oauth_access_tokens: u64,
    /// Reaches that left the messaging limit's 24-hour window a day ago.
    pub messaging_reach: u64,
    /// Events older than [`EVENTS_KEEP_DAYS`] (their webhook deliveries with them).
    pub events: u64,
}

pub async fn expired(pool: &PgPool, login_window: Duration, idempotency_keep: Duration) -> sqlx::Result<Swept> {
    let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < now()").execute(pool).await?.rows_affected();
    let login_counters = sqlx::query(
        "DELETE FROM login_failures
         WHERE window_start + make_interval(secs => $1) < now() AND last_at + make_interval(secs => $1) < now()",
    )
    .bind(login_window.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    let idempotency_keys =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)")
            .bind(idempotency_keep.as_secs_f64())
            .execute(pool)
            .await?
            .rows_affected();
    let early_status_callbacks =
        sqlx::query("DELETE FROM early_status_callbacks WHERE received_at < now() - interval '1 hour'")
            .execute(pool)
            .await?
            .rows_affected();
    let oauth_access_tokens =
        sqlx::query("DELETE FROM oauth_access_tokens WHERE expires_at < now()").execute(pool).await?.rows_affected();
    let messaging_reach = sqlx::query("DELETE FROM messaging_reach WHERE reached_at < now() - interval '48 hours'")
        .execute(pool)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM messaging_reach_minutes WHERE minute < now() - interval '48 hours' - interval '1 minute'")
        .execute(pool)
        .await?;
    let events = sqlx::query("DELETE FROM events WHERE created_at < now() - make_interval(days => $1)")
        .bind(EVENTS_KEEP_DAYS)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(Swept {
        sessions,
        login_counters,
        idempotency_keys,
        early_status_callbacks,
        oauth_access_tokens,
        messaging_reach,
        events,
    })
}
