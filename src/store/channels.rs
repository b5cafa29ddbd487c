//! Twilio accounts, channels and their WhatsApp numbers.

use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A channel with its account's stored (encrypted) credentials, as the webhook path needs it.
#[derive(Debug, Clone, FromRow)]
pub struct ChannelRecord {
    pub id: Uuid,
    pub name: String,
    pub sending_mode: String,
    pub messaging_service_sid: Option<String>,
    pub deleted_at: Option<OffsetDateTime>,
    pub account_id: Uuid,
    pub account_sid: String,
    pub auth_token: Option<Vec<u8>>,
    pub secondary_auth_token: Option<Vec<u8>>,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<Vec<u8>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct NumberRecord {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub name: String,
    pub e164: String,
}

/// A channel as listed to people: no secrets.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct ChannelSummary {
    pub id: Uuid,
    pub name: String,
    pub account_sid: String,
    pub sending_mode: String,
    pub messaging_service_sid: Option<String>,
    pub numbers: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Creates the account, or replaces its Auth Token when the account exists (the token just given is the one
/// that works now). Returns the account's id.
pub async fn upsert_account(conn: &mut PgConnection, account_sid: &str, auth_token: &[u8]) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "INSERT INTO twilio_accounts (id, account_sid, auth_token) VALUES ($1, $2, $3)
         ON CONFLICT (account_sid) DO UPDATE SET auth_token = EXCLUDED.auth_token, updated_at = now()
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(account_sid)
    .bind(auth_token)
    .fetch_one(conn)
    .await
}

pub async fn insert_channel(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    account_id: Uuid,
    messaging_service_sid: Option<&str>,
) -> sqlx::Result<()> {
    let mode = if messaging_service_sid.is_some() { "messaging_service" } else { "sender" };
    sqlx::query(
        "INSERT INTO channels (id, name, account_id, sending_mode, messaging_service_sid) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(name)
    .bind(account_id)
    .bind(mode)
    .bind(messaging_service_sid)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_number(conn: &mut PgConnection, channel_id: Uuid, name: &str, e164: &str) -> sqlx::Result<Uuid> {
    sqlx::query_scalar("INSERT INTO whatsapp_numbers (id, channel_id, name, e164) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(Uuid::now_v7())
        .bind(channel_id)
        .bind(name)
        .bind(e164)
        .fetch_one(conn)
        .await
}

/// Adds `e164` to the channel unless it is there already; returns its id either way.
pub async fn register_number(pool: &PgPool, channel_id: Uuid, e164: &str) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "INSERT INTO whatsapp_numbers (id, channel_id, name, e164) VALUES ($1, $2, $3, $3)
         ON CONFLICT (channel_id, e164) WHERE deleted_at IS NULL DO UPDATE SET updated_at = whatsapp_numbers.updated_at
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(channel_id)
    .bind(e164)
    .fetch_one(pool)
    .await
}

pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<(ChannelRecord, Vec<NumberRecord>)>> {
    let channel: Option<ChannelRecord> = sqlx::query_as(
        "SELECT c.id, c.name, c.sending_mode, c.messaging_service_sid, c.deleted_at, a.id AS account_id,
                a.account_sid, a.auth_token, a.secondary_auth_token, a.api_key_sid, a.api_key_secret
         FROM channels c JOIN twilio_accounts a ON a.id = c.account_id WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(channel) = channel else {
        return Ok(None);
    };
    let numbers = sqlx::query_as(
        "SELECT id, channel_id, name, e164 FROM whatsapp_numbers WHERE channel_id = $1 AND deleted_at IS NULL ORDER BY created_at",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some((channel, numbers)))
}

/// Every channel that is not deleted, oldest first, without secrets.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<ChannelSummary>> {
    sqlx::query_as(
        "SELECT c.id, c.name, a.account_sid, c.sending_mode, c.messaging_service_sid, c.created_at,
                COALESCE(array_agg(n.e164 ORDER BY n.created_at) FILTER (WHERE n.id IS NOT NULL), '{}') AS numbers
         FROM channels c
         JOIN twilio_accounts a ON a.id = c.account_id
         LEFT JOIN whatsapp_numbers n ON n.channel_id = c.id AND n.deleted_at IS NULL
         WHERE c.deleted_at IS NULL
         GROUP BY c.id, a.account_sid
         ORDER BY c.created_at",
    )
    .fetch_all(pool)
    .await
}
