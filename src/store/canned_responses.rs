//! Canned responses: saved replies an agent inserts by typing `/` and the short code.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct CannedResponse {
    pub id: Uuid,
    /// What the agent types after `/`: lowercase letters, digits, `-` and `_`.
    pub short_code: String,
    pub title: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct CannedSettings {
    pub short_code: String,
    pub title: String,
    pub text: String,
}

const COLUMNS: &str = "id, short_code, title, text, created_at, updated_at";

pub async fn insert(conn: &mut PgConnection, s: &CannedSettings) -> sqlx::Result<CannedResponse> {
    sqlx::query_as(&format!(
        "INSERT INTO canned_responses (id, short_code, title, text) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&s.short_code)
    .bind(&s.title)
    .bind(&s.text)
    .fetch_one(conn)
    .await
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &CannedSettings) -> sqlx::Result<CannedResponse> {
    sqlx::query_as(&format!(
        "UPDATE canned_responses SET short_code = $2, title = $3, text = $4, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&s.short_code)
    .bind(&s.title)
    .bind(&s.text)
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<CannedResponse>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM canned_responses WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM canned_responses WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// `prefix`: short codes starting with it (what the composer asks as the agent types); `text`: the short
/// code, title or text contains it, case-insensitively.
pub async fn list(
    pool: &PgPool,
    listing: &Listing,
    prefix: Option<&str>,
    text: Option<&str>,
) -> sqlx::Result<Vec<Keyed<CannedResponse>>> {
    let mut q = listing.select(COLUMNS, "canned_responses", UUID_ID);
    if let Some(prefix) = prefix {
        q.push(" AND starts_with(short_code, lower(").push_bind(prefix.to_owned()).push("))");
    }
    if let Some(text) = text {
        q.push(" AND strpos(lower(short_code || ' ' || title || ' ' || text), lower(")
            .push_bind(text.to_owned())
            .push(")) > 0");
    }
    listing.fetch(pool, q, UUID_ID).await
}
