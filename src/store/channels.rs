//! Twilio accounts, channels and their WhatsApp numbers.

use super::listing::{Keyed, Listing, UUID_ID};
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
    pub customers_may_send_attachments: bool,
    pub csat_enabled: bool,
    pub supports_calling: bool,
    pub language: Option<String>,
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
/// A Twilio account already stored, with its (encrypted) Auth Tokens, locked for this transaction.
#[derive(Debug, Clone, FromRow)]
pub struct StoredAccount {
    pub id: Uuid,
    pub auth_token: Option<Vec<u8>>,
    pub secondary_auth_token: Option<Vec<u8>>,
}

/// Stores a new account with its token; an account already stored is left as it is and returned instead, so the
/// caller compares its tokens (a second channel never silently replaces the first one's token).
pub async fn insert_or_find_account(
    conn: &mut PgConnection,
    account_sid: &str,
    auth_token: &[u8],
) -> sqlx::Result<Result<Uuid, StoredAccount>> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO twilio_accounts (id, account_sid, auth_token) VALUES ($1, $2, $3)
         ON CONFLICT (account_sid) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(account_sid)
    .bind(auth_token)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = inserted {
        return Ok(Ok(id));
    }
    let existing = sqlx::query_as(
        "SELECT id, auth_token, secondary_auth_token FROM twilio_accounts WHERE account_sid = $1 FOR UPDATE",
    )
    .bind(account_sid)
    .fetch_one(conn)
    .await?;
    Ok(Err(existing))
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

/// One stored encrypted credential (the oldest account's Auth Token), to check the master key against; `None`
/// when nothing is stored yet.
pub async fn some_encrypted_secret(pool: &PgPool) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT COALESCE(auth_token, api_key_secret) FROM twilio_accounts
         WHERE auth_token IS NOT NULL OR api_key_secret IS NOT NULL ORDER BY created_at, id LIMIT 1",
    )
    .fetch_optional(pool)
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
        "SELECT id, channel_id, name, e164, customers_may_send_attachments, csat_enabled, supports_calling, language
         FROM whatsapp_numbers WHERE channel_id = $1 AND deleted_at IS NULL ORDER BY created_at",
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

/// A channel as the API shows it: which secrets are set, never the secrets.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Channel)]
pub struct ChannelView {
    pub id: Uuid,
    pub name: String,
    pub account_sid: String,
    pub sending_mode: String,
    pub messaging_service_sid: Option<String>,
    pub auth_token_set: bool,
    pub secondary_auth_token_set: bool,
    pub api_key_sid: Option<String>,
    pub api_key_secret_set: bool,
    /// The TwiML voice application (`AP…`) agents' browsers call through, for WhatsApp calling.
    pub voice_application_sid: Option<String>,
    /// The channel's WhatsApp numbers: `{id, name, e164}`.
    #[sqlx(json)]
    #[schema(value_type = Vec<Object>)]
    pub numbers: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

const VIEW: &str = "SELECT c.id, c.name, a.account_sid, c.sending_mode, c.messaging_service_sid,
        a.auth_token IS NOT NULL AS auth_token_set, a.secondary_auth_token IS NOT NULL AS secondary_auth_token_set,
        a.api_key_sid, a.api_key_secret IS NOT NULL AS api_key_secret_set, c.voice_application_sid, c.created_at,
        c.deleted_at,
        COALESCE((SELECT jsonb_agg(jsonb_build_object('id', n.id, 'name', n.name, 'e164', n.e164) ORDER BY n.created_at)
                  FROM whatsapp_numbers n WHERE n.channel_id = c.id AND n.deleted_at IS NULL), '[]') AS numbers
     FROM channels c JOIN twilio_accounts a ON a.id = c.account_id";

pub async fn view(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ChannelView>> {
    sqlx::query_as(&format!("{VIEW} WHERE c.id = $1")).bind(id).fetch_optional(conn).await
}

/// A page of channels; deleted ones only when asked; `name_contains` matches case-insensitively.
pub async fn list_views(
    pool: &PgPool,
    listing: &Listing,
    include_deleted: bool,
    name_contains: Option<&str>,
) -> sqlx::Result<Vec<Keyed<ChannelView>>> {
    let mut q = listing.select("*", &format!("({VIEW}) v"), UUID_ID);
    if !include_deleted {
        q.push(" AND deleted_at IS NULL");
    }
    if let Some(text) = name_contains {
        q.push(" AND strpos(lower(name), lower(").push_bind(text.to_owned()).push(")) > 0");
    }
    listing.fetch(pool, q, UUID_ID).await
}

pub async fn rename(conn: &mut PgConnection, id: Uuid, name: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE channels SET name = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_voice_application(conn: &mut PgConnection, id: Uuid, sid: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("UPDATE channels SET voice_application_sid = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(sid)
        .execute(conn)
        .await?;
    Ok(())
}

/// What minting a voice token for the channel takes: its account, API key (secret sealed) and voice application.
#[derive(Debug, Clone, FromRow)]
pub struct VoiceCredentials {
    pub channel_id: Uuid,
    pub account_sid: String,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<Vec<u8>>,
    pub voice_application_sid: Option<String>,
}

/// The voice credentials of the channel, or (without one) of every live channel with a number that takes calls.
pub async fn voice_credentials(conn: &mut PgConnection, channel: Option<Uuid>) -> sqlx::Result<Vec<VoiceCredentials>> {
    sqlx::query_as(
        "SELECT c.id AS channel_id, a.account_sid, a.api_key_sid, a.api_key_secret, c.voice_application_sid
         FROM channels c JOIN twilio_accounts a ON a.id = c.account_id
         WHERE c.deleted_at IS NULL
           AND CASE WHEN $1::uuid IS NULL
                    THEN EXISTS (SELECT 1 FROM whatsapp_numbers n
                                 WHERE n.channel_id = c.id AND n.supports_calling AND n.deleted_at IS NULL)
                    ELSE c.id = $1 END
         ORDER BY c.created_at, c.id",
    )
    .bind(channel)
    .fetch_all(conn)
    .await
}

/// Marks the channel deleted: it receives nothing new, its conversations and messages stay.
pub async fn soft_delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE channels SET deleted_at = COALESCE(deleted_at, now()), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the API key of the channel's account (both encrypted values given by the caller).
pub async fn set_api_key(conn: &mut PgConnection, account_id: Uuid, sid: &str, secret: &[u8]) -> sqlx::Result<()> {
    sqlx::query("UPDATE twilio_accounts SET api_key_sid = $2, api_key_secret = $3, updated_at = now() WHERE id = $1")
        .bind(account_id)
        .bind(sid)
        .bind(secret)
        .execute(conn)
        .await?;
    Ok(())
}

/// Token rotation, step one: the new token becomes the primary, the old one stays accepted as secondary.
pub async fn rotate_auth_token(conn: &mut PgConnection, channel_id: Uuid, new_token: &[u8]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE twilio_accounts a SET secondary_auth_token = a.auth_token, auth_token = $2, updated_at = now()
         FROM channels c WHERE c.id = $1 AND a.id = c.account_id",
    )
    .bind(channel_id)
    .bind(new_token)
    .execute(conn)
    .await?;
    Ok(())
}

/// Token rotation, step two: the old token is no longer accepted.
pub async fn retire_secondary_auth_token(conn: &mut PgConnection, channel_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE twilio_accounts a SET secondary_auth_token = NULL, updated_at = now()
         FROM channels c WHERE c.id = $1 AND a.id = c.account_id",
    )
    .bind(channel_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account id of a channel.
pub async fn account_of(conn: &mut PgConnection, channel_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT account_id FROM channels WHERE id = $1").bind(channel_id).fetch_optional(conn).await
}

/// A Twilio account with its sealed credentials.
#[derive(Debug, Clone, FromRow)]
pub struct AccountRecord {
    pub account_sid: String,
    pub auth_token: Option<Vec<u8>>,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<Vec<u8>>,
    pub sandbox: bool,
}

/// The accounts of live channels (or of one channel), each once.
pub async fn sync_accounts(pool: &PgPool, channel: Option<Uuid>) -> sqlx::Result<Vec<AccountRecord>> {
    sqlx::query_as(
        "SELECT DISTINCT a.account_sid, a.auth_token, a.api_key_sid, a.api_key_secret, a.sandbox
         FROM twilio_accounts a JOIN channels c ON c.account_id = a.id
         WHERE c.deleted_at IS NULL AND ($1::uuid IS NULL OR c.id = $1)",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
}

/// Whether the channel exists and is not deleted.
pub async fn exists(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM channels WHERE id = $1 AND deleted_at IS NULL)")
        .bind(id)
        .fetch_one(conn)
        .await
}
