//! What the load benchmarks share: the database they run against.

use switchboard::database::embedded::EmbeddedPostgres;

/// The database for a benchmark: a fresh database in `SWITCHBOARD_BENCH_DATABASE_URL`'s server when set, else
/// the embedded PostgreSQL in `dir` with its durable defaults (the product's out-of-the-box setup). Returns its
/// URL, the embedded cluster to stop afterwards (if one was started), and a label for the report.
pub async fn database(dir: &std::path::Path) -> anyhow::Result<(String, Option<EmbeddedPostgres>, String)> {
    match std::env::var("SWITCHBOARD_BENCH_DATABASE_URL") {
        Ok(admin) => {
            use sqlx::Connection;
            let name = format!("sb_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
            let base = admin.rsplit_once('/').expect("a URL with a database").0.to_owned();
            Ok((format!("{base}/{name}"), None, "external PostgreSQL".to_owned()))
        }
        Err(_) => {
            let pg = EmbeddedPostgres::start(dir, None).await?;
            let opts = pg.connect_options();
            let url = format!(
                "postgres://{}@localhost/{}?host={}",
                switchboard::database::embedded::SUPERUSER,
                switchboard::database::embedded::DATABASE,
                opts.get_host()
            );
            Ok((url, Some(pg), "embedded PostgreSQL (durable defaults: fsync on, synchronous_commit on)".to_owned()))
        }
    }
}
