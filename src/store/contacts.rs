//! Contacts (the customers): who they are, and the attributes, tags and language routing rules look at.

use super::conversations::Visibility;
use super::listing::{Keyed, Listing, SortKey, UUID_ID};
use crate::domain::RoutingState;
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
    /// Their WhatsApp id (the number WhatsApp knows them by, without `+`).
    pub wa_id: Option<String>,
    /// Their business-scoped user id, when WhatsApp shares one (customers with a username and no number).
    pub bsuid: Option<String>,
    /// Free-form attributes (`{"tier": "gold"}`) that routing rules compare.
    #[schema(value_type = Object)]
    pub attributes: Json<Map<String, Value>>,
    pub tags: Vec<String>,
    /// The customer's language tag, when known; otherwise the number's language is assumed.
    pub language: Option<String>,
    /// How many conversations the customer has had (a returning customer has more than one).
    pub conversations: i64,
    /// Blocked: their messages are kept but offered to nobody and answered by no automation.
    #[serde(with = "time::serde::rfc3339::option")]
    pub blocked_at: Option<OffsetDateTime>,
    /// Who blocked them.
    pub blocked_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, phone_e164 AS phone, profile_name AS name, wa_id, bsuid, attributes, tags, language,
    (SELECT count(*) FROM conversations c WHERE c.contact_id = contacts.id) AS conversations, blocked_at, blocked_by,
    created_at, updated_at";

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

/// Blocks (`Some(by)`) or unblocks (`None`) the contact, locked for the rest of the transaction; answers whether
/// that changed anything.
pub async fn set_blocked(conn: &mut PgConnection, id: Uuid, by: Option<&str>) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE contacts SET blocked_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, blocked_by = $2,
                updated_at = now()
         WHERE id = $1 AND (blocked_at IS NULL) = ($2::text IS NOT NULL)",
    )
    .bind(id)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// The contact's unresolved conversations, locked: what a block or unblock moves.
pub async fn lock_unresolved_conversations(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Vec<(Uuid, RoutingState)>> {
    sqlx::query_as(
        "SELECT id, routing_state FROM conversations WHERE contact_id = $1 AND status <> 'resolved'
         ORDER BY id FOR UPDATE",
    )
    .bind(id)
    .fetch_all(conn)
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
/// The contact with this phone number, if there is one.
pub async fn id_by_phone(conn: &mut PgConnection, phone_e164: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM contacts WHERE phone_e164 = $1").bind(phone_e164).fetch_optional(conn).await
}

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

/// A contact as the CSV export writes it.
#[derive(Debug, Clone, FromRow)]
pub struct Exported {
    pub id: Uuid,
    pub phone: Option<String>,
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    pub name: Option<String>,
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub attributes: Json<Map<String, Value>>,
    pub blocked: bool,
    pub created_at: OffsetDateTime,
}

/// Every contact, oldest first, `limit` at a time after `after` (the last id of the previous page).
pub async fn export_page(pool: &PgPool, after: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<Exported>> {
    sqlx::query_as(
        "SELECT id, phone_e164 AS phone, wa_id, bsuid, profile_name AS name, language, tags, attributes,
                blocked_at IS NOT NULL AS blocked, created_at
         FROM contacts WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One line of a contacts import: the customer's number, and what the file says about them (`None`: the column
/// is not in the file, so the stored value stays).
#[derive(Debug, Clone, Default)]
pub struct ImportedContact {
    pub phone: String,
    pub name: Option<String>,
    pub language: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    /// Attributes to set; a `null` value removes the attribute.
    pub attributes: Map<String, Value>,
}

/// Adds or updates the contacts by number, in one statement; answers how many were new and how many updated.
/// Attributes are merged into the stored ones (the file's columns replace theirs, the others stay).
pub async fn import(conn: &mut PgConnection, rows: &[ImportedContact]) -> sqlx::Result<(i64, i64)> {
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let phones: Vec<&str> = rows.iter().map(|r| r.phone.as_str()).collect();
    let wa_ids: Vec<&str> = rows.iter().map(|r| r.phone.trim_start_matches('+')).collect();
    let names: Vec<Option<&str>> = rows.iter().map(|r| r.name.as_deref()).collect();
    let set_language: Vec<bool> = rows.iter().map(|r| r.language.is_some()).collect();
    let languages: Vec<Option<&str>> = rows.iter().map(|r| r.language.as_ref().and_then(|l| l.as_deref())).collect();
    let tags: Vec<Option<Json<&Vec<String>>>> = rows.iter().map(|r| r.tags.as_ref().map(Json)).collect();
    let attributes: Vec<Json<&Map<String, Value>>> = rows.iter().map(|r| Json(&r.attributes)).collect();
    // New numbers first: each gets the id generated for its line. Then the lines whose number was known, matched
    // by number (an id other than their line's), in one join rather than one lookup per line.
    let created = sqlx::query(
        "INSERT INTO contacts (id, phone_e164, wa_id, profile_name, language, tags, attributes)
         SELECT i.id, i.phone, i.wa_id, i.name, i.language,
                COALESCE(ARRAY(SELECT jsonb_array_elements_text(i.tags)), '{}'), jsonb_strip_nulls(i.attributes)
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
              AS i(id, phone, wa_id, name, language, tags, attributes)
         ON CONFLICT (phone_e164) DO NOTHING",
    )
    .bind(&ids)
    .bind(&phones)
    .bind(&wa_ids)
    .bind(&names)
    .bind(&languages)
    .bind(&tags)
    .bind(&attributes)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let updated = sqlx::query(
        "UPDATE contacts k SET
             profile_name = COALESCE(i.name, k.profile_name),
             language = CASE WHEN i.set_language THEN i.language ELSE k.language END,
             tags = CASE WHEN i.tags IS NULL THEN k.tags ELSE ARRAY(SELECT jsonb_array_elements_text(i.tags)) END,
             attributes = (k.attributes || i.attributes)
                          - ARRAY(SELECT e.key FROM jsonb_each(i.attributes) e WHERE e.value = 'null'::jsonb),
             updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::jsonb[], $7::jsonb[])
              AS i(id, phone, name, set_language, language, tags, attributes)
         WHERE k.phone_e164 = i.phone AND k.id <> i.id",
    )
    .bind(&ids)
    .bind(&phones)
    .bind(&names)
    .bind(&set_language)
    .bind(&languages)
    .bind(&tags)
    .bind(&attributes)
    .execute(conn)
    .await?
    .rows_affected();
    Ok((created as i64, updated as i64))
}
