//! The built-in Twilio sandbox's records: its accounts, what crossed it, and the faults it was told to answer.

use sqlx::{FromRow, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A sandbox account with its (sealed) Auth Token.
#[derive(Debug, Clone, FromRow)]
pub struct SandboxAccount {
    pub account_sid: String,
    pub auth_token: Option<Vec<u8>>,
}

pub async fn account(pool: &PgPool, account_sid: &str) -> sqlx::Result<Option<SandboxAccount>> {
    sqlx::query_as("SELECT account_sid, auth_token FROM twilio_accounts WHERE account_sid = $1 AND sandbox")
        .bind(account_sid)
        .fetch_optional(pool)
        .await
}

/// A sandbox number and the channel it belongs to, with what signing a webhook for it needs.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct SandboxNumber {
    pub channel_id: Uuid,
    pub channel_name: String,
    pub number_id: Uuid,
    pub name: String,
    pub e164: String,
    pub account_sid: String,
    #[serde(skip)]
    pub auth_token: Option<Vec<u8>>,
}

pub async fn numbers(pool: &PgPool) -> sqlx::Result<Vec<SandboxNumber>> {
    sqlx::query_as(
        "SELECT ch.id AS channel_id, ch.name AS channel_name, n.id AS number_id, n.name, n.e164, a.account_sid,
                a.auth_token
         FROM whatsapp_numbers n
         JOIN channels ch ON ch.id = n.channel_id
         JOIN twilio_accounts a ON a.id = ch.account_id
         WHERE a.sandbox AND n.deleted_at IS NULL AND ch.deleted_at IS NULL
         ORDER BY ch.created_at, n.created_at",
    )
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct SandboxMessage {
    pub sid: String,
    pub account_sid: String,
    pub direction: String,
    pub business: String,
    pub customer: String,
    pub body: String,
    pub media_urls: Vec<String>,
    pub content_sid: Option<String>,
    pub content_variables: Option<serde_json::Value>,
    pub status: String,
    pub error_code: Option<i32>,
    #[serde(skip)]
    pub status_callback: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The content's quick-reply buttons or list items, for the phone to show (filled in by the page's API).
    #[sqlx(skip)]
    pub buttons: Vec<Button>,
    /// The content's type (`twilio/quick-reply`, `twilio/list-picker`, …), when it was sent as a content.
    #[sqlx(skip)]
    pub kind: Option<String>,
}

/// A button or list item on the phone.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Button {
    pub title: String,
    pub id: String,
}

pub struct NewSandboxMessage<'a> {
    pub sid: &'a str,
    pub account_sid: &'a str,
    pub direction: &'a str,
    pub business: &'a str,
    pub customer: &'a str,
    pub body: &'a str,
    pub media_urls: &'a [String],
    pub content_sid: Option<&'a str>,
    pub content_variables: Option<&'a serde_json::Value>,
    pub status: &'a str,
    pub status_callback: Option<&'a str>,
}

const COLUMNS: &str =
    "sid, account_sid, direction, business, customer, body, media_urls, content_sid, content_variables,
    status, error_code, status_callback, created_at";

pub async fn insert(pool: &PgPool, m: &NewSandboxMessage<'_>) -> sqlx::Result<SandboxMessage> {
    sqlx::query_as(&format!(
        "INSERT INTO sandbox_messages (sid, account_sid, direction, business, customer, body, media_urls, content_sid,
                                       content_variables, status, status_callback)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(m.sid)
    .bind(m.account_sid)
    .bind(m.direction)
    .bind(m.business)
    .bind(m.customer)
    .bind(m.body)
    .bind(m.media_urls)
    .bind(m.content_sid)
    .bind(m.content_variables)
    .bind(m.status)
    .bind(m.status_callback)
    .fetch_one(pool)
    .await
}

pub async fn find(pool: &PgPool, sid: &str) -> sqlx::Result<Option<SandboxMessage>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sandbox_messages WHERE sid = $1"))
        .bind(sid)
        .fetch_optional(pool)
        .await
}

pub async fn set_status(pool: &PgPool, sid: &str, status: &str, error_code: Option<i32>) -> sqlx::Result<()> {
    sqlx::query("UPDATE sandbox_messages SET status = $2, error_code = COALESCE($3, error_code) WHERE sid = $1")
        .bind(sid)
        .bind(status)
        .bind(error_code)
        .execute(pool)
        .await?;
    Ok(())
}

/// When the customer last wrote to the account (any of its numbers): the start of Twilio's 24-hour window.
pub async fn last_from_customer(
    pool: &PgPool,
    account_sid: &str,
    customer: &str,
) -> sqlx::Result<Option<OffsetDateTime>> {
    sqlx::query_scalar(
        "SELECT max(created_at) FROM sandbox_messages
         WHERE account_sid = $1 AND customer = $2 AND direction = 'from_customer'",
    )
    .bind(account_sid)
    .bind(customer)
    .fetch_one(pool)
    .await
}

/// The window is measured on the database's clock; this is it.
pub async fn now(pool: &PgPool) -> sqlx::Result<OffsetDateTime> {
    sqlx::query_scalar("SELECT now()").fetch_one(pool).await
}

/// The conversation between a customer and a business address, the latest `limit` messages, oldest first.
pub async fn thread(pool: &PgPool, customer: &str, business: &str, limit: i64) -> sqlx::Result<Vec<SandboxMessage>> {
    sqlx::query_as(&format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM sandbox_messages WHERE customer = $1 AND business = $2
                        ORDER BY created_at DESC, sid DESC LIMIT $3) t
         ORDER BY created_at, sid"
    ))
    .bind(customer)
    .bind(business)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Customers who used the sandbox, most recent first.
pub async fn customers(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT customer FROM sandbox_messages GROUP BY customer ORDER BY max(created_at) DESC LIMIT 50")
        .fetch_all(pool)
        .await
}

/// Takes one planned fault for the account, if any is left: the HTTP status to answer with.
pub async fn take_fault(pool: &PgPool, account_sid: &str) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(
        "UPDATE sandbox_faults SET remaining = remaining - 1 WHERE account_sid = $1 AND remaining > 0
         RETURNING http_status",
    )
    .bind(account_sid)
    .fetch_optional(pool)
    .await
}

/// The next `count` message requests to every sandbox account answer `http_status`.
pub async fn plan_faults(pool: &PgPool, http_status: i32, count: i32) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sandbox_faults (account_sid, http_status, remaining)
         SELECT account_sid, $1, $2 FROM twilio_accounts WHERE sandbox
         ON CONFLICT (account_sid) DO UPDATE SET http_status = $1, remaining = $2",
    )
    .bind(http_status)
    .bind(count)
    .execute(pool)
    .await?;
    Ok(())
}

/// Plans a job (the sandbox's delayed status callbacks).
pub async fn schedule(pool: &PgPool, kind: &str, payload: serde_json::Value, delay_ms: u64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO jobs (kind, payload, max_attempts, run_at)
         VALUES ($1, $2, 5, now() + make_interval(secs => $3))",
    )
    .bind(kind)
    .bind(payload)
    .bind(delay_ms as f64 / 1000.0)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether any channel was ever created (deleted ones count: the sandbox channel is made only on a first start).
/// Locks the channels table until the transaction ends first, so that processes starting together agree.
pub async fn any_channel_locked(conn: &mut sqlx::PgConnection) -> sqlx::Result<bool> {
    sqlx::query("LOCK TABLE channels IN SHARE ROW EXCLUSIVE MODE").execute(&mut *conn).await?;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM channels)").fetch_one(conn).await
}

pub async fn mark_sandbox(conn: &mut sqlx::PgConnection, channel_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE twilio_accounts SET sandbox = true WHERE id = (SELECT account_id FROM channels WHERE id = $1)")
        .bind(channel_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Points every number of the channel at the AI agent.
pub async fn point_numbers_at(conn: &mut sqlx::PgConnection, channel_id: Uuid, agent: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE whatsapp_numbers SET ai_agent_id = $2, updated_at = now() WHERE channel_id = $1")
        .bind(channel_id)
        .bind(agent)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `phone` is a contact with a conversation on a channel that is not the sandbox's (a real customer,
/// whom the sandbox must never write as).
pub async fn is_real_customer(pool: &PgPool, phone: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM contacts k
             JOIN conversations c ON c.contact_id = k.id
             JOIN channels ch ON ch.id = c.channel_id
             JOIN twilio_accounts a ON a.id = ch.account_id
             WHERE k.phone_e164 = $1 AND NOT a.sandbox)",
    )
    .bind(phone)
    .fetch_one(pool)
    .await
}

/// A content created through the sandbox's `POST /v1/Content`.
#[derive(Debug, Clone, FromRow)]
pub struct SandboxContent {
    pub sid: String,
    pub friendly_name: String,
    pub language: String,
    pub kind: String,
    pub body: String,
    pub buttons: sqlx::types::Json<Vec<(String, String)>>,
}

pub async fn contents(pool: &PgPool, account_sid: &str) -> sqlx::Result<Vec<SandboxContent>> {
    sqlx::query_as(
        "SELECT sid, friendly_name, language, kind, body, buttons FROM sandbox_contents WHERE account_sid = $1
         ORDER BY created_at, sid",
    )
    .bind(account_sid)
    .fetch_all(pool)
    .await
}

pub async fn content(pool: &PgPool, account_sid: &str, sid: &str) -> sqlx::Result<Option<SandboxContent>> {
    sqlx::query_as(
        "SELECT sid, friendly_name, language, kind, body, buttons FROM sandbox_contents WHERE account_sid = $1 AND sid = $2",
    )
    .bind(account_sid)
    .bind(sid)
    .fetch_optional(pool)
    .await
}

pub async fn insert_content(pool: &PgPool, account_sid: &str, c: &SandboxContent) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sandbox_contents (sid, account_sid, friendly_name, language, kind, body, buttons)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.sid)
    .bind(account_sid)
    .bind(&c.friendly_name)
    .bind(&c.language)
    .bind(&c.kind)
    .bind(&c.body)
    .bind(&c.buttons)
    .execute(pool)
    .await?;
    Ok(())
}
