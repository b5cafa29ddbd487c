//! A channel's WhatsApp numbers with their behaviours and business profile.

use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::business_profile::BusinessProfile;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Number {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub name: String,
    pub e164: String,
    pub language: Option<String>,
    pub customers_may_send_attachments: bool,
    pub agents_may_send_attachments: bool,
    pub greeting_text: Option<String>,
    pub csat_enabled: bool,
    pub ai_agent_enabled: bool,
    pub profile: Json<BusinessProfile>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

const COLUMNS: &str =
    "id, channel_id, name, e164, language, customers_may_send_attachments, agents_may_send_attachments,
    greeting_text, csat_enabled, ai_agent_enabled, profile, created_at, deleted_at";

/// Everything about a number that people set.
#[derive(Debug, Clone)]
pub struct NumberSettings {
    pub name: String,
    pub language: Option<String>,
    pub customers_may_send_attachments: bool,
    pub agents_may_send_attachments: bool,
    pub greeting_text: Option<String>,
    pub csat_enabled: bool,
    pub ai_agent_enabled: bool,
    pub profile: BusinessProfile,
}

pub async fn insert(conn: &mut PgConnection, channel_id: Uuid, e164: &str, s: &NumberSettings) -> sqlx::Result<Number> {
    sqlx::query_as(&format!(
        "INSERT INTO whatsapp_numbers (id, channel_id, e164, name, language, customers_may_send_attachments,
                agents_may_send_attachments, greeting_text, csat_enabled, ai_agent_enabled, profile)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(channel_id)
    .bind(e164)
    .bind(&s.name)
    .bind(&s.language)
    .bind(s.customers_may_send_attachments)
    .bind(s.agents_may_send_attachments)
    .bind(&s.greeting_text)
    .bind(s.csat_enabled)
    .bind(s.ai_agent_enabled)
    .bind(Json(&s.profile))
    .fetch_one(conn)
    .await
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &NumberSettings) -> sqlx::Result<Number> {
    sqlx::query_as(&format!(
        "UPDATE whatsapp_numbers SET name = $2, language = $3, customers_may_send_attachments = $4,
                agents_may_send_attachments = $5, greeting_text = $6, csat_enabled = $7, ai_agent_enabled = $8,
                profile = $9, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&s.name)
    .bind(&s.language)
    .bind(s.customers_may_send_attachments)
    .bind(s.agents_may_send_attachments)
    .bind(&s.greeting_text)
    .bind(s.csat_enabled)
    .bind(s.ai_agent_enabled)
    .bind(Json(&s.profile))
    .fetch_one(conn)
    .await
}

/// The number, if it belongs to the channel and is not removed.
pub async fn find(conn: &mut PgConnection, channel_id: Uuid, id: Uuid) -> sqlx::Result<Option<Number>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM whatsapp_numbers WHERE id = $1 AND channel_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(channel_id)
    .fetch_optional(conn)
    .await
}

pub async fn list(conn: &mut PgConnection, channel_id: Uuid) -> sqlx::Result<Vec<Number>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM whatsapp_numbers WHERE channel_id = $1 AND deleted_at IS NULL ORDER BY created_at"
    ))
    .bind(channel_id)
    .fetch_all(conn)
    .await
}

/// Removes the number from the channel; its conversations and messages stay.
pub async fn remove(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Number> {
    sqlx::query_as(&format!(
        "UPDATE whatsapp_numbers SET deleted_at = now(), updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}
