//! A message's file as a whole, whichever way it came (downloaded from a customer, or uploaded and sent):
//! erasing it. The record of the attachment stays (`erased`, with when); its bytes leave the file store, and
//! every attachment sharing that file (an upload sent in several messages) is erased with it.

use crate::error::{AppError, AppResult};
use crate::storage::Storage;
use crate::store;
use sqlx::PgPool;
use uuid::Uuid;

/// Erases attachment `id`'s file. The rows change and the audit entry is written in one transaction, which
/// commits only once the file store confirms the delete: when the store fails nothing changes, and a retry
/// finishes the job (deleting what is gone already is not an error).
pub async fn erase(pool: &PgPool, storage: &Storage, actor: &store::audit::Actor, id: Uuid) -> AppResult<()> {
    let mut tx = pool.begin().await?;
    let Some(key) = store::attachments::erase(&mut tx, id).await? else {
        return Err(AppError::not_found("attachment_not_found", "no attachment with this id that you can see"));
    };
    let details = serde_json::json!({ "file": key.is_some() });
    store::audit::record(
        &mut tx,
        actor,
        "attachment.erased",
        "attachment",
        Some(&id.to_string()),
        None,
        Some(&details),
    )
    .await?;
    if let Some(key) = &key {
        storage.delete(key).await.map_err(anyhow::Error::from)?;
    }
    tx.commit().await?;
    tracing::info!(attachment_id = %id, "attachment erased");
    Ok(())
}
