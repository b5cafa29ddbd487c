//! The `media.download` job: fetch one attachment's bytes from Twilio into the file store.

use crate::domain::AccountSid;
use crate::jobs::{self, Attempt, Done, JobError, Task};
use crate::secrets::SecretBox;
use crate::store::attachments;
use crate::twilio::media::{BasicAuth, DownloadError, MediaFetcher};
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

pub const KIND: &str = "media.download";

/// The `media.download` task, with what it needs.
pub struct MediaDownload {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub fetcher: MediaFetcher,
    pub storage: crate::storage::Storage,
}

impl Task for MediaDownload {
    fn run<'a>(&'a self, payload: &'a Value, _: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(
            async move { download(self, jobs::uuid_in(payload, "attachment_id")?).await.map(|()| Done::Completed) },
        )
    }

    /// Notes the error on the attachment, so that people see why its bytes are missing.
    fn record_failure<'a>(&'a self, payload: &'a Value, error: &'a str, last: bool) -> BoxFuture<'a, sqlx::Result<()>> {
        Box::pin(async move {
            match jobs::uuid_in(payload, "attachment_id") {
                Ok(id) => attachments::record_error(&self.pool, id, error, last).await,
                Err(_) => Ok(()),
            }
        })
    }
}

/// The attachment's key in the file store: `media/<last two hex digits>/<attachment id>`.
pub fn storage_path(id: Uuid) -> String {
    let s = id.simple().to_string();
    format!("media/{}/{}", &s[s.len() - 2..], s)
}

async fn download(ctx: &MediaDownload, attachment_id: Uuid) -> Result<(), JobError> {
    let target = attachments::download_target(&ctx.pool, attachment_id)
        .await
        .map_err(|e| JobError::Retry(format!("database: {e}")))?
        .ok_or_else(|| JobError::Permanent("the attachment no longer exists".into()))?;
    if matches!(target.download_state.as_str(), "downloaded" | "erased") {
        return Ok(());
    }
    let url =
        target.source_url.as_deref().ok_or_else(|| JobError::Permanent("the attachment has no source URL".into()))?;
    let account =
        AccountSid::parse(&target.account_sid).map_err(|e| JobError::Permanent(format!("stored account SID {e}")))?;
    let auth = credentials(ctx, &target)?;
    let relative = storage_path(attachment_id);
    let got = ctx.fetcher.download(url, &account, &auth, &ctx.storage, &relative).await.map_err(|e| match e {
        DownloadError::Retryable(m) => JobError::Retry(m),
        DownloadError::Permanent(m) => JobError::Permanent(m),
    })?;
    let kept = attachments::Kept {
        storage_path: &relative,
        size: i64::try_from(got.size).unwrap_or(i64::MAX),
        content_type: got.content_type.as_deref(),
        filename: got.filename.as_deref(),
        sha256: &got.sha256,
    };
    let kept = attachments::mark_downloaded(&ctx.pool, attachment_id, &kept)
        .await
        .map_err(|e| JobError::Retry(format!("database: {e}")))?;
    if !kept {
        // Erased while it downloaded: the file must not stay.
        ctx.storage.delete(&relative).await.map_err(|e| JobError::Retry(format!("file store: {e}")))?;
        return Ok(());
    }
    tracing::info!(%attachment_id, size = got.size, "media downloaded");
    Ok(())
}

fn credentials(ctx: &MediaDownload, t: &attachments::DownloadTarget) -> Result<BasicAuth, JobError> {
    let decrypt = |sealed: &Vec<u8>| -> Result<SecretString, JobError> {
        ctx.secrets.decrypt(sealed).map_err(|e| JobError::Permanent(e.to_string()))
    };
    let api_key = match (&t.api_key_sid, &t.api_key_secret) {
        (Some(sid), Some(secret)) => Some((sid.as_str(), decrypt(secret)?)),
        _ => None,
    };
    let token = t.auth_token.as_ref().map(decrypt).transpose()?;
    BasicAuth::choose(&t.account_sid, api_key, token)
        .ok_or_else(|| JobError::Permanent("the account has no credentials to download media with".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn storage_paths_spread_over_256_directories() {
        let id = uuid::Uuid::parse_str("0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f").unwrap();
        assert_eq!(super::storage_path(id), "media/5f/0193b2b45a6f7c3d8e9f0a1b2c3d4e5f");
    }
}
