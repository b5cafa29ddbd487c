//! Contacts (the customers): who they are, and the attributes, tags and language routing rules look at.

use super::conversations::Visibility;
use super::listing::{Keyed, Listing, SortKey, UUID_ID};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool};
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

pub const BY_CONTACT_NAME: SortKey =
    SortKey { name: "name", sql: "lower(coalesce(profile_name, phone_e164, bsuid, ''))", sql_type: "text" };

/// Contacts whose name or number contains `text`; for an agent, only those of a conversation they can see.
pub async fn list(
    pool: &PgPool,
    listing: &Listing,
    who: Visibility,
    text: Option<&str>,
) -> sqlx::Result<Vec<Keyed<Contact>>> {
    let mut q = listing.select(COLUMNS, "contacts", UUID_ID);
    if let Visibility::Agent(_) = who {
        q.push(" AND EXISTS (SELECT 1 FROM conversations WHERE contact_id = contacts.id");
        who.push(&mut q);
        q.push(")");
    }
    if let Some(text) = text {
        q.push(" AND strpos(lower(coalesce(profile_name, '') || ' ' || coalesce(phone_e164, '')), ")
            .push_bind(text.to_lowercase())
            .push(") > 0");
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// The contact with this number, created if there is none yet.
pub async fn find_or_create(conn: &mut PgConnection, phone_e164: &str) -> sqlx::Result<Uuid> {
    if let Some(id) = sqlx::query_scalar("SELECT id FROM contacts WHERE phone_e164 = $1")
        .bind(phone_e164)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(id);
    }
    sqlx::query_scalar(
        "INSERT INTO contacts (id, phone_e164, wa_id) VALUES ($1, $2, $3)
         ON CONFLICT (phone_e164) DO UPDATE SET phone_e164 = EXCLUDED.phone_e164 RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(phone_e164)
    .bind(phone_e164.trim_start_matches('+'))
    .fetch_one(conn)
    .await
}
