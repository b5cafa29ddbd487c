//! Uploaded files waiting to be sent as outbound media, and the unguessable tokens Twilio fetches them by.

use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Upload {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this it can no longer be sent, and Twilio can no longer fetch it.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(skip)]
    pub storage_path: String,
    #[serde(skip)]
    pub expired: bool,
    /// The person who uploaded it (none: an API token).
    #[serde(skip)]
    pub uploaded_by: Option<Uuid>,
}

const COLUMNS: &str = "id, filename, content_type, size_bytes, sha256, created_at, expires_at, storage_path,
    expires_at <= now() AS expired, uploaded_by";

pub struct NewUpload<'a> {
    pub id: Uuid,
    pub token: &'a str,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
    pub storage_path: &'a str,
    pub uploaded_by: Option<Uuid>,
    pub ttl_hours: i64,
}

pub async fn insert(pool: &PgPool, u: &NewUpload<'_>) -> sqlx::Result<Upload> {
    sqlx::query_as(&format!(
        "INSERT INTO uploads (id, token, filename, content_type, size_bytes, sha256, storage_path, uploaded_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(hours => $9::int4))
         RETURNING {COLUMNS}"
    ))
    .bind(u.id)
    .bind(u.token)
    .bind(u.filename)
    .bind(u.content_type)
    .bind(u.size_bytes)
    .bind(u.sha256)
    .bind(u.storage_path)
    .bind(u.uploaded_by)
    .bind(u.ttl_hours as i32)
    .fetch_one(pool)
    .await
}

/// The uploads with these ids, in no particular order (missing ids are simply absent).
pub async fn find_many(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = ANY($1)")).bind(ids).fetch_all(conn).await
}

/// The upload a public media URL names, if the token is right and it has not expired.
pub async fn by_token(pool: &PgPool, token: &str) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE token = $1 AND expires_at > now()"))
        .bind(token)
        .fetch_optional(pool)
        .await
}

/// Bytes of unexpired uploads `user` holds (none: API tokens together).
pub async fn held_bytes(pool: &PgPool, user: Option<Uuid>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(size_bytes), 0)::int8 FROM uploads
         WHERE uploaded_by IS NOT DISTINCT FROM $1 AND expires_at > now()",
    )
    .bind(user)
    .fetch_one(pool)
    .await
}

/// Forgets uploads that expired more than a day ago and no message uses; returns their files' paths (relative
/// to the data directory) for the caller to delete.
pub async fn delete_expired(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "DELETE FROM uploads u WHERE expires_at < now() - interval '1 day'
           AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.upload_id = u.id)
         RETURNING storage_path",
    )
    .fetch_all(pool)
    .await
}
