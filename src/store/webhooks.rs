//! Outgoing webhooks: subscriptions, the fan-out of events into deliveries (cursor moved in the same
//! transaction), and leasing deliveries for sending, in order per conversation.

use super::events::{self, Cursor};
use sqlx::{FromRow, PgConnection, PgPool};
use std::sync::LazyLock;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// Only events of these numbers; empty: every number.
    pub number_ids: Vec<Uuid>,
    pub enabled: bool,
    /// Why it was turned off by itself (too many failures in a row), if it was.
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str =
    "id, name, url, events, number_ids, enabled, disabled_reason, consecutive_failures, created_at, updated_at";

/// What an admin sets.
pub struct Settings {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub number_ids: Vec<Uuid>,
    pub enabled: bool,
}

pub async fn insert(conn: &mut PgConnection, id: Uuid, s: &Settings, secret: &[u8]) -> sqlx::Result<Webhook> {
    sqlx::query_as(&format!(
        "INSERT INTO webhooks (id, name, url, events, number_ids, enabled, secret_encrypted)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&s.name)
    .bind(&s.url)
    .bind(&s.events)
    .bind(&s.number_ids)
    .bind(s.enabled)
    .bind(secret)
    .fetch_one(conn)
    .await
}

/// Changes the settings; turning it on again clears the failures and the reason it was off.
pub async fn update(conn: &mut PgConnection, id: Uuid, s: &Settings) -> sqlx::Result<Webhook> {
    sqlx::query_as(&format!(
        "UPDATE webhooks SET name = $2, url = $3, events = $4, number_ids = $5, enabled = $6, updated_at = now(),
                consecutive_failures = CASE WHEN $6 AND NOT enabled THEN 0 ELSE consecutive_failures END,
                disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&s.name)
    .bind(&s.url)
    .bind(&s.events)
    .bind(&s.number_ids)
    .bind(s.enabled)
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Webhook>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id"))
        .fetch_all(pool)
        .await
}

/// Removes it; its pending deliveries are dropped.
pub async fn remove(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE webhooks SET deleted_at = now(), enabled = false, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE webhook_deliveries SET state = 'failed', last_error = 'the webhook was removed' WHERE webhook_id = $1 AND state = 'pending'")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// What the fan-out reads of a webhook.
#[derive(FromRow)]
struct Subscription {
    id: Uuid,
    events: Vec<String>,
    number_ids: Vec<Uuid>,
    cursor_xid: i64,
    cursor_id: i64,
}

/// Moves enabled webhooks' events into deliveries: each webhook is locked (skipped if another process holds it),
/// its events after its cursor read, the matching ones inserted as deliveries and the cursor moved, in one
/// transaction. Answers how many deliveries were made.
pub async fn fan_out(pool: &PgPool, per_webhook: i64) -> sqlx::Result<usize> {
    let mut tx = pool.begin().await?;
    let hooks: Vec<Subscription> = sqlx::query_as(
        "SELECT id, events, number_ids, cursor_xid::text::bigint AS cursor_xid, cursor_id FROM webhooks
         WHERE enabled AND deleted_at IS NULL FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut made = 0;
    for Subscription { id, events: types, number_ids: numbers, cursor_xid, cursor_id } in hooks {
        let cursor = Cursor { xid: cursor_xid, id: cursor_id };
        let found = events::read_after(&mut tx, cursor, per_webhook, None).await?;
        let Some(last) = found.last().map(|e| e.cursor()) else { continue };
        let chosen: Vec<&events::Event> = found
            .iter()
            .filter(|e| types.contains(&e.r#type))
            .filter(|e| numbers.is_empty() || e.number_id.is_some_and(|n| numbers.contains(&n)))
            .collect();
        let ids: Vec<Uuid> = chosen.iter().map(|_| Uuid::now_v7()).collect();
        let event_ids: Vec<i64> = chosen.iter().map(|e| e.id).collect();
        let keys: Vec<String> = chosen
            .iter()
            .map(|e| e.conversation_id.map_or_else(|| format!("event:{}", e.id), |c| c.to_string()))
            .collect();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, ordering_key)
             SELECT d.id, $1, d.event_id, d.key FROM unnest($2::uuid[], $3::bigint[], $4::text[]) AS d(id, event_id, key)",
        )
        .bind(id)
        .bind(&ids)
        .bind(&event_ids)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE webhooks SET cursor_xid = $2::text::xid8, cursor_id = $3 WHERE id = $1")
            .bind(id)
            .bind(last.xid.to_string())
            .bind(last.id)
            .execute(&mut *tx)
            .await?;
        made += ids.len();
    }
    tx.commit().await?;
    Ok(made)
}

/// A delivery leased for sending, with what it carries.
#[derive(Debug, Clone, FromRow)]
pub struct Leased {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret_encrypted: Vec<u8>,
    pub attempts: i32,
    pub event_id: i64,
    pub event_type: String,
    pub data: serde_json::Value,
    pub event_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

/// Leases up to `limit` due deliveries for `lease_secs`: only the earliest pending delivery of each
/// (webhook, conversation), so a conversation's events arrive in order; none of a disabled webhook.
pub async fn lease(pool: &PgPool, limit: i64, lease_secs: i64) -> sqlx::Result<Vec<Leased>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH due AS (
             SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.state = 'pending' AND d.next_at <= now() AND (d.leased_until IS NULL OR d.leased_until < now())
               AND w.enabled AND w.deleted_at IS NULL
               -- A scalar subquery, evaluated for each candidate in `next_at` order through the ordering index
               -- (as NOT EXISTS, the planner may hash every pending delivery for each lease instead).
               AND d.event_id = (SELECT min(e.event_id) FROM webhook_deliveries e
                                 WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key
                                   AND e.state = 'pending')
             ORDER BY d.next_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED
         ), leased AS (
             UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => $2::float8)
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.webhook_id, d.attempts, d.event_id, d.created_at
         )
         SELECT l.id, l.webhook_id, w.url, w.secret_encrypted, l.attempts, l.event_id, e.type AS event_type,
                {data} AS data, e.created_at AS event_at, l.created_at
         FROM leased l JOIN webhooks w ON w.id = l.webhook_id JOIN events e ON e.id = l.event_id",
            data = events::DATA
        )
    });
    sqlx::query_as(SQL.as_str()).bind(limit).bind(lease_secs as f64).fetch_all(pool).await
}

/// How one attempt ended.
pub struct Attempted {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub ok: bool,
    pub status: Option<i32>,
    pub error: Option<String>,
    /// When to try again; `None`: no more attempts (too old).
    pub retry_in_secs: Option<f64>,
}

/// Records attempts: a success delivers and clears its webhook's failure count; a failure is tried again
/// later or, past its last attempt, fails. A webhook reaching `disable_after` failures in a row is turned off
/// with the reason; answers those turned off now.
pub async fn record(pool: &PgPool, attempts: &[Attempted], disable_after: i32) -> sqlx::Result<Vec<(Uuid, String)>> {
    let mut tx = pool.begin().await?;
    let ids: Vec<Uuid> = attempts.iter().map(|a| a.id).collect();
    let ok: Vec<bool> = attempts.iter().map(|a| a.ok).collect();
    let statuses: Vec<Option<i32>> = attempts.iter().map(|a| a.status).collect();
    let errors: Vec<Option<&str>> = attempts.iter().map(|a| a.error.as_deref()).collect();
    let retry: Vec<Option<f64>> = attempts.iter().map(|a| a.retry_in_secs).collect();
    sqlx::query(
        "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, leased_until = NULL, last_status = a.status,
                last_error = a.error,
                state = CASE WHEN a.ok THEN 'delivered' WHEN a.retry IS NULL THEN 'failed' ELSE 'pending' END,
                delivered_at = CASE WHEN a.ok THEN now() END,
                next_at = CASE WHEN a.retry IS NULL THEN d.next_at ELSE now() + make_interval(secs => a.retry) END
         FROM unnest($1::uuid[], $2::bool[], $3::int[], $4::text[], $5::float8[]) AS a(id, ok, status, error, retry)
         WHERE d.id = a.id",
    )
    .bind(&ids)
    .bind(&ok)
    .bind(&statuses)
    .bind(&errors)
    .bind(&retry)
    .execute(&mut *tx)
    .await?;
    // Per webhook, in the order attempted: a success resets the count, a failure adds one.
    let mut per_hook: Vec<(Uuid, i32, bool)> = Vec::new();
    for a in attempts {
        match per_hook.iter_mut().find(|(w, _, _)| *w == a.webhook_id) {
            Some((_, failures, reset)) => {
                if a.ok {
                    *failures = 0;
                    *reset = true;
                } else {
                    *failures += 1;
                }
            }
            None => per_hook.push((a.webhook_id, i32::from(!a.ok), a.ok)),
        }
    }
    let mut disabled = Vec::new();
    for (hook, failures, reset) in per_hook {
        let reason = format!("turned off after {disable_after} failed deliveries in a row");
        let off: Option<String> = sqlx::query_scalar(
            "WITH new AS (SELECT id, enabled, CASE WHEN $3 THEN 0 ELSE consecutive_failures END + $2 AS failures
                          FROM webhooks WHERE id = $1 FOR UPDATE)
             UPDATE webhooks w SET consecutive_failures = new.failures, enabled = new.enabled AND new.failures < $4,
                    disabled_reason = CASE WHEN new.enabled AND new.failures >= $4 THEN $5 ELSE w.disabled_reason END
             FROM new WHERE w.id = new.id
             RETURNING CASE WHEN new.enabled AND new.failures >= $4 THEN w.name END",
        )
        .bind(hook)
        .bind(failures)
        .bind(reset)
        .bind(disable_after)
        .bind(&reason)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        if let Some(name) = off {
            super::audit::record(
                &mut tx,
                &super::audit::Actor { kind: "system", id: None, label: "system".into() },
                "webhook.disabled",
                "webhook",
                Some(&hook.to_string()),
                None,
                Some(&serde_json::json!({ "name": name, "reason": reason })),
            )
            .await?;
            disabled.push((hook, name));
        }
    }
    tx.commit().await?;
    Ok(disabled)
}

/// A delivery as the admin screen shows it.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub event_id: i64,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    /// The receiver's last HTTP status.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub redelivery_of: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// The webhook's latest deliveries, newest first.
pub async fn deliveries(pool: &PgPool, webhook_id: Uuid, limit: i64) -> sqlx::Result<Vec<DeliveryView>> {
    sqlx::query_as(
        "SELECT d.id, d.event_id, e.type AS event_type, d.state, d.attempts, d.last_status, d.last_error,
                d.redelivery_of, d.created_at, d.delivered_at
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.webhook_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
    )
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Queues the delivery's event again as a new delivery (its id names the one it repeats); `None` if there is
/// no such delivery of the webhook.
pub async fn redeliver(conn: &mut PgConnection, webhook_id: Uuid, delivery_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, ordering_key, redelivery_of)
         SELECT $3, webhook_id, event_id, 'redelivery:' || $3::text, id FROM webhook_deliveries
         WHERE id = $2 AND webhook_id = $1 RETURNING id",
    )
    .bind(webhook_id)
    .bind(delivery_id)
    .bind(Uuid::now_v7())
    .fetch_optional(conn)
    .await
}
