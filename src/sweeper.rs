//! The sweeper: every few minutes each process deletes what has expired (sessions, login counters, idempotency
//! keys, early status callbacks nobody claimed, uploads a day past their expiry that no message uses, with their
//! files). Deleting the expired is idempotent, so several processes sweeping at once is harmless, and a sweep
//! missed (a process stopped) only waits for the next one.

use crate::store;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(600);

pub struct Sweeper {
    pub pool: PgPool,
    pub storage: crate::storage::Storage,
    pub login_window: Duration,
}

impl Sweeper {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.sweep_once().await {
                tracing::warn!(error = %e, "the sweep of expired rows failed; trying again later");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    }

    /// One sweep; what it deleted is logged.
    pub async fn sweep_once(&self) -> anyhow::Result<(store::sweep::Swept, usize)> {
        let keep = Duration::from_secs_f64(store::idempotency::KEEP_SECS);
        let swept = store::sweep::expired(&self.pool, self.login_window, keep).await?;
        let files = store::uploads::delete_expired(&self.pool).await?;
        for relative in &files {
            if let Err(e) = self.storage.delete(relative).await {
                tracing::warn!(error = %e, file = %relative, "cannot delete an expired upload's file");
            }
        }
        if swept != store::sweep::Swept::default() || !files.is_empty() {
            tracing::info!(?swept, uploads = files.len(), "expired rows deleted");
        }
        Ok((swept, files.len()))
    }
}
