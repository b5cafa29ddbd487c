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

pub async fn mark_downloaded(pool: &PgPool, id: Uuid, kept: &Kept<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE attachments SET download_state = 'downloaded', storage_path = $2, size_bytes = $3,
                content_type = COALESCE($4, content_type), filename = $5, sha256 = $6, download_error = NULL,
                updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(kept.storage_path)
    .bind(kept.size)
    .bind(kept.content_type)
    .bind(kept.filename)
    .bind(kept.sha256)
    .execute(pool)
    .await?;
    Ok(())
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
