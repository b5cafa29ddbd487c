//! Contacts (the customers): who they are, and the attributes, tags and language routing rules look at.

use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: Uuid,
    /// E.164, when WhatsApp shared it.
    pub phone: Option<String>,
    /// The customer's WhatsApp profile name.
    pub name: Option<String>,
    /// Free-form attributes (`{"tier": "gold"}`) that routing rules compare.
    #[schema(value_type = Object)]
    pub attributes: Json<Map<String, Value>>,
    pub tags: Vec<String>,
    /// The customer's language tag, when known; otherwise the number's language is assumed.
    pub language: Option<String>,
    /// How many conversations the customer has had (a returning customer has more than one).
    pub conversations: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, phone_e164 AS phone, profile_name AS name, attributes, tags, language,
    (SELECT count(*) FROM conversations c WHERE c.contact_id = contacts.id) AS conversations, created_at, updated_at";

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Contact>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM contacts WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    attributes: &Map<String, Value>,
    tags: &[String],
    language: Option<&str>,
) -> sqlx::Result<Contact> {
    sqlx::query_as(&format!(
        "UPDATE contacts SET attributes = $2, tags = $3, language = $4, updated_at = now() WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(Json(attributes))
    .bind(tags)
    .bind(language)
    .fetch_one(conn)
    .await
}
