//! Attachments of messages: where their bytes come from and whether they have been kept.

use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// An attachment to download, with the credentials of the account it arrived on (still encrypted).
#[derive(Debug, Clone, FromRow)]
pub struct DownloadTarget {
    pub id: Uuid,
    pub source_url: Option<String>,
    pub content_type: Option<String>,
    pub download_state: String,
    pub account_sid: String,
    pub auth_token: Option<Vec<u8>>,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<Vec<u8>>,
}

pub async fn download_target(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<DownloadTarget>> {
    sqlx::query_as(
        "SELECT at.id, at.source_url, at.content_type, at.download_state,
                a.account_sid, a.auth_token, a.api_key_sid, a.api_key_secret
         FROM attachments at
         JOIN messages m ON m.id = at.message_id
         JOIN twilio_accounts a ON a.id = m.account_id
         WHERE at.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub struct Kept<'a> {
    pub storage_path: &'a str,
    pub size: i64,
    pub content_type: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub sha256: &'a str,
}

/// Records the file; `false` when the attachment was erased meanwhile (the caller deletes what it stored).
pub async fn mark_downloaded(pool: &PgPool, id: Uuid, kept: &Kept<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE attachments SET download_state = 'downloaded', storage_path = $2, size_bytes = $3,
                content_type = COALESCE($4, content_type), filename = $5, sha256 = $6, download_error = NULL,
                updated_at = now()
         WHERE id = $1 AND download_state <> 'erased'",
    )
    .bind(id)
    .bind(kept.storage_path)
    .bind(kept.size)
    .bind(kept.content_type)
    .bind(kept.filename)
    .bind(kept.sha256)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks erased every attachment whose file is `id`'s (an upload sent twice shares one file), locking them;
/// returns the file's key, or `None` when there is no such attachment. `Some(None)`: nothing stored to delete.
pub async fn erase(conn: &mut sqlx::PgConnection, id: Uuid) -> sqlx::Result<Option<Option<String>>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT storage_path FROM attachments WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((key,)) = row else { return Ok(None) };
    sqlx::query(
        "UPDATE attachments SET download_state = 'erased', storage_path = NULL, sha256 = NULL, download_error = NULL,
                erased_at = now(), updated_at = now()
         WHERE id = $1 OR ($2::text IS NOT NULL AND storage_path = $2)",
    )
    .bind(id)
    .bind(&key)
    .execute(&mut *conn)
    .await?;
    Ok(Some(key))
}

/// Records the latest error; `final_failure` marks the attachment failed for good.
pub async fn record_error(pool: &PgPool, id: Uuid, error: &str, final_failure: bool) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE attachments SET download_error = $2,
                download_state = CASE WHEN $3 THEN 'failed' ELSE download_state END, updated_at = now()
         WHERE id = $1 AND download_state <> 'downloaded'",
    )
    .bind(id)
    .bind(error)
    .bind(final_failure)
    .execute(pool)
    .await?;
    Ok(())
}

/// An attachment as the inbox downloads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Download {
    pub conversation_id: uuid::Uuid,
    pub storage_path: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub download_state: String,
}

pub async fn for_download(conn: &mut sqlx::PgConnection, id: uuid::Uuid) -> sqlx::Result<Option<Download>> {
    sqlx::query_as(
        "SELECT m.conversation_id, a.storage_path, a.content_type, a.filename, a.download_state
         FROM attachments a JOIN messages m ON m.id = a.message_id WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}
