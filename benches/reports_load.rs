//! Reports load: a year of a contact center in the database — `BENCH_CONVERSATIONS` (100,000) conversations, ten
//! messages each (1,000,000: five from the customer, five from an agent), each queued, assigned and resolved, a
//! fifth of them rated — spread over 5 numbers, 10 queues (half with business hours and SLA targets) and 50 agents.
//!
//! Prints: the time to write it (the report triggers included), the time for the reports job to build every
//! conversation's facts and fold the message counts, then 20 runs each (p50, p95, max) of a 30-day summary grouped
//! by agent and of a year's daily series (new conversations, and the median first response), as the API computes
//! them (the library's functions, without HTTP).
//!
//! Run: `cargo bench --bench reports_load` (embedded PostgreSQL with its durable defaults) or with
//! `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres`. `BENCH_REUSE_DATABASE=postgres://…/sb_bench_…` measures
//! the queries again on a database an earlier run filled (it is migrated first; nothing is written).

mod common;

use sqlx::PgPool;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard::config::Settings;
use switchboard::reports::job::Reporter;
use switchboard::reports::{series, summary};
use switchboard::store::reports::{Group, Interval, Scope};
use time::macros::datetime;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn year(pool: &PgPool, data_dir: &std::path::Path, conversations: i64) -> anyhow::Result<()> {
    common::channel(pool, data_dir, "Number 1", "+31200000001").await?;
    sqlx::query(
        "INSERT INTO whatsapp_numbers (id, channel_id, name, e164)
         SELECT gen_random_uuid(), c.id, 'Number ' || i, '+3120000000' || i FROM channels c, generate_series(2, 5) i",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO business_hours (id, name, time_zone, weekly) VALUES (gen_random_uuid(), 'Office', 'Europe/Amsterdam',
         '{\"monday\":[{\"open\":\"09:00\",\"close\":\"17:00\"}],\"tuesday\":[{\"open\":\"09:00\",\"close\":\"17:00\"}],
           \"wednesday\":[{\"open\":\"09:00\",\"close\":\"17:00\"}],\"thursday\":[{\"open\":\"09:00\",\"close\":\"17:00\"}],
           \"friday\":[{\"open\":\"09:00\",\"close\":\"17:00\"}]}')",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO queues (id, name, business_hours_id, sla_first_response_minutes, sla_resolution_hours)
         SELECT gen_random_uuid(), 'Queue ' || i, CASE WHEN i % 2 = 0 THEN (SELECT id FROM business_hours) END,
                CASE WHEN i % 2 = 0 THEN 30 END, CASE WHEN i % 2 = 0 THEN 8 END
         FROM generate_series(1, 10) i",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash)
         SELECT gen_random_uuid(), 'agent' || i || '@bench.example', 'Agent ' || i, 'agent', 'x' FROM generate_series(1, 50) i",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE UNLOGGED TABLE bench_plan AS
         SELECT i, gen_random_uuid() AS id, gen_random_uuid() AS contact,
                TIMESTAMPTZ '2026-01-01 00:00:00+00' + (i * interval '365 days') / $1 AS at,
                (SELECT array_agg(id ORDER BY id) FROM whatsapp_numbers) AS numbers,
                (SELECT array_agg(id ORDER BY id) FROM queues) AS queues,
                (SELECT array_agg(id ORDER BY id) FROM users) AS agents
         FROM generate_series(0, $1 - 1) i",
    )
    .bind(conversations)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO contacts (id, phone_e164) SELECT contact, '+316' || lpad(i::text, 8, '0') FROM bench_plan",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO conversations (id, channel_id, number_id, contact_id, status, created_at, resolved_at, queue_id)
         SELECT p.id, (SELECT id FROM channels), p.numbers[1 + i % 5], p.contact, 'resolved', p.at, p.at + interval '1 hour',
                p.queues[1 + i % 10]
         FROM bench_plan p",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO conversation_events (conversation_id, kind, actor_type, data, created_at)
         SELECT id, 'queued', 'system', jsonb_build_object('queue_id', queues[1 + i % 10]), at + interval '1 second' FROM bench_plan
         UNION ALL
         SELECT id, 'assigned', 'system', jsonb_build_object('agent_id', agents[1 + i % 50], 'queue_id', queues[1 + i % 10]),
                at + (i % 600) * interval '1 second' FROM bench_plan
         UNION ALL
         SELECT id, 'resolved', 'system', '{}', at + interval '1 hour' FROM bench_plan",
    )
    .execute(pool)
    .await?;
    // Messages in ten statements of a tenth each (as many a message per conversation).
    for k in 0..10 {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status, author_user_id, created_at)
             SELECT gen_random_uuid(), p.id, (SELECT id FROM twilio_accounts),
                    CASE WHEN $1 % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'SM' || md5(p.id::text || $1), 'text',
                    CASE WHEN $1 % 2 = 0 THEN 'received' ELSE 'delivered' END,
                    CASE WHEN $1 % 2 = 1 THEN p.agents[1 + i % 50] END,
                    p.at + (10 + $1 * 300 + i % 200) * interval '1 second'
             FROM bench_plan p",
        )
        .bind(k)
        .execute(pool)
        .await?;
    }
    sqlx::query(
        "INSERT INTO csat_surveys (id, conversation_id, number_id, contact_id, state, scale, rating, created_at, expires_at, rated_at)
         SELECT gen_random_uuid(), p.id, p.numbers[1 + i % 5], p.contact, 'done', 5, 1 + i % 5,
                p.at + interval '1 hour', p.at + interval '25 hours', p.at + interval '70 minutes'
         FROM bench_plan p WHERE i % 5 = 0",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Writes the year and lets the reports job build its facts, printing how long each took.
async fn fill(pool: &PgPool, data_dir: &std::path::Path, conversations: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    year(pool, data_dir, conversations).await?;
    println!("written (with the report triggers) in {:.1} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let rebuilt = Reporter { pool: pool.clone(), refresh: Duration::from_secs(5) }.catch_up().await?;
    let took = started.elapsed().as_secs_f64();
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM report_facts").fetch_one(pool).await?;
    println!(
        "reports job: {rebuilt} conversations' facts ({facts} facts) built and the counts folded in {took:.1} s ({:.0} conversations/s)",
        rebuilt as f64 / took
    );
    Ok(())
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    format!("p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms", at(0.5), at(0.95), at(1.0))
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let conversations: i64 = env_or("BENCH_CONVERSATIONS", 100_000);
    let runs: usize = env_or("BENCH_RUNS", 20);
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let reuse = std::env::var("BENCH_REUSE_DATABASE").ok();
        let (database_url, mut embedded, label) = match &reuse {
            Some(url) => (url.clone(), None, "a database filled by an earlier run".to_owned()),
            None => common::database(dir.path()).await?,
        };
        // A fixed master key, so that a later run with BENCH_REUSE_DATABASE reads the channel's credentials.
        std::fs::create_dir_all(dir.path().join("data"))?;
        std::fs::write(
            dir.path().join("data").join(switchboard::secrets::KEY_FILE),
            "cmVwb3J0cy1iZW5jaC1tYXN0ZXIta2V5LTMyLWJ5dGU=\n",
        )?;
        let env = vec![
            ("SWITCHBOARD__DATABASE__URL".to_owned(), database_url.clone()),
            ("SWITCHBOARD__DATA_DIR".to_owned(), dir.path().join("data").display().to_string()),
            ("SWITCHBOARD__LOG__LEVEL".to_owned(), "error".to_owned()),
            ("SWITCHBOARD__SANDBOX__ENABLED".to_owned(), "false".to_owned()),
        ];
        let settings = Settings::load_from(None, env)?;
        let app = switchboard::Application::build(settings).await?;
        let pool = app.state().pool.clone();
        println!("reports load on {label}: {conversations} conversations, {} messages, over 2026", conversations * 10);
        if reuse.is_none() {
            fill(&pool, &dir.path().join("data"), conversations).await?;
        }
        sqlx::query("ANALYZE").execute(&pool).await?;
        let names: HashMap<uuid::Uuid, String> = switchboard::store::reports::names(&pool).await?.into_iter().collect();
        let scope = |from, to, group| Scope {
            from,
            to,
            tz: "Europe/Amsterdam".into(),
            number_id: None,
            channel_id: None,
            queue_id: None,
            agent_id: None,
            tag_id: None,
            group,
            bucket: None,
        };
        let month = scope(datetime!(2026-06-01 0:00 UTC), datetime!(2026-07-01 0:00 UTC), Group::Agent);
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let s = summary::summary(&pool, &month, &names).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(s.rows.len(), 51, "50 agents and the facts without one");
        }
        println!("30-day summary grouped by agent (target p95 ≤ 300 ms): {}", percentiles(times));
        let whole = scope(datetime!(2026-01-01 0:00 UTC), datetime!(2027-01-01 0:00 UTC), Group::None);
        let tz = jiff::tz::TimeZone::get("Europe/Amsterdam")?;
        for metric in ["conversations_new", "first_response_median_secs"] {
            let mut times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let s = series::series(&pool, &whole, &tz, metric, Interval::Day).await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                assert!(s.points.len() >= 365);
            }
            println!("a year's daily series of {metric} (target p95 ≤ 300 ms): {}", percentiles(times));
        }
        pool.close().await;
        if let Some(mut pg) = embedded.take() {
            pg.stop().await?;
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
