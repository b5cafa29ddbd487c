//! Tags that agents put on conversations.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Tag {
    pub id: Uuid,
    pub name: String,
    /// `#rrggbb`, or none.
    pub color: Option<String>,
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct TagSettings {
    pub name: String,
    pub color: Option<String>,
    pub description: String,
}

const COLUMNS: &str = "id, name, color, description, created_at, updated_at";

pub async fn insert(conn: &mut PgConnection, s: &TagSettings) -> sqlx::Result<Tag> {
    sqlx::query_as(&format!(
        "INSERT INTO tags (id, name, color, description) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&s.name)
    .bind(&s.color)
    .bind(&s.description)
    .fetch_one(conn)
    .await
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &TagSettings) -> sqlx::Result<Tag> {
    sqlx::query_as(&format!(
        "UPDATE tags SET name = $2, color = $3, description = $4, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&s.name)
    .bind(&s.color)
    .bind(&s.description)
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Tag>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tags WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM tags WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// `text` matches names containing it, case-insensitively.
pub async fn list(pool: &PgPool, listing: &Listing, text: Option<&str>) -> sqlx::Result<Vec<Keyed<Tag>>> {
    let mut q = listing.select(COLUMNS, "tags", UUID_ID);
    if let Some(text) = text {
        q.push(" AND strpos(lower(name), lower(").push_bind(text.to_owned()).push(")) > 0");
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// The first of `ids` that is not a tag.
pub async fn first_missing(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT i FROM unnest($1::uuid[]) AS i WHERE NOT EXISTS (SELECT 1 FROM tags WHERE id = i)")
        .bind(ids)
        .fetch_optional(conn)
        .await
}
