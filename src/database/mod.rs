//! The database: connecting (to a configured URL or the embedded cluster), migrations, readiness.

pub mod embedded;

use crate::config::Settings;
use anyhow::Context as _;
use embedded::EmbeddedPostgres;
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// An open database, and the embedded cluster behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    /// A few connections for short transactions that run beside a request's own (the messaging-limit
    /// reservation): a request holding a connection of `pool` never waits for another of `pool`, which under
    /// load could leave every request holding one and waiting for a second.
    pub side_pool: PgPool,
    /// What reports read: `database.read_url` (a replica) when set, else `pool`.
    pub report_pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `database.url`, or starts the embedded cluster when it is empty.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let (options, embedded) = match &settings.database.url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .context("database.url (SWITCHBOARD__DATABASE__URL) is not a valid PostgreSQL URL")?;
                (options, None)
            }
            None => {
                let data_dir = settings.data_dir_absolute()?;
                let pg = EmbeddedPostgres::start(&data_dir, settings.database.postgres_bin_dir.as_deref()).await?;
                (pg.connect_options(), Some(pg))
            }
        };
        // No JIT compilation on the server's own connections: its statements are short and keyed, and JIT is
        // decided by the planner's cost estimate, which on a young database without statistics can be far off
        // (the reports' rebuild read, estimated at 146,000, spent 26 ms compiling to run for 2).
        let options = options.application_name("switchboard").options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.database.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("cannot connect to PostgreSQL")?;
        let side_pool = PgPoolOptions::new()
            .max_connections(SIDE_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(pool.connect_options().as_ref().clone());
        let report_pool = match &settings.database.read_url {
            Some(url) => PgPoolOptions::new()
                .max_connections(REPORT_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(
                    PgConnectOptions::from_str(url.expose_secret())
                        .context("database.read_url (SWITCHBOARD__DATABASE__READ_URL) is not a valid PostgreSQL URL")?,
                ),
            None => pool.clone(),
        };
        Ok(Self { pool, side_pool, report_pool, embedded })
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("applying database migrations")
    }

    /// Closes the pool, then stops the embedded cluster if this process started it.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.side_pool.close().await;
        self.report_pool.close().await;
        self.pool.close().await;
        if let Some(pg) = self.embedded.as_mut() {
            pg.stop().await?;
        }
        Ok(())
    }
}

/// Connections of [`Database::side_pool`].
const SIDE_CONNECTIONS: u32 = 4;
/// Connections to `database.read_url`: reports are few and a supervisor's at a time.
const REPORT_CONNECTIONS: u32 = 4;

/// Why the server is not ready, if it is not: the database unreachable, or migrations missing.
pub async fn readiness(pool: &PgPool) -> Result<(), String> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(|e| format!("database unreachable or not migrated: {}", first_line(&e.to_string())))?;
    match applied {
        Some(v) if v >= latest => Ok(()),
        other => Err(format!("database migrations behind: applied {}, expected {latest}", other.unwrap_or(0))),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
