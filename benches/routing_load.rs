//! Routing load: 1,000 online agents, 100 queues (about 50 members each, half least-loaded, half round robin,
//! some asking for skills and language), 100 rules (channel and global; text, regex, button, attribute, tag,
//! language and business-hours conditions; most do not match a given message, so a decision reads most of them).
//!
//! Phase 1, latency: conversations routed one per transaction (claim, decide, take an agent under the capacity
//! guard, write the placement and the timeline, commit), each timed: prints p50/p90/p99/max.
//! Phase 2, throughput: `BENCH_CONVERSATIONS` (20,000) unrouted conversations routed by the router in its
//! batches (the default 100), by one router and then by two routers side by side (two processes' worth).
//!
//! Run: `cargo bench --bench routing_load` (embedded PostgreSQL with its durable defaults) or with
//! `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres`.

mod common;

use hdrhistogram::Histogram;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;
use switchboard::config::Settings;
use switchboard::routing::config::ConfigCache;
use switchboard::routing::router::Router;
use uuid::Uuid;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const AGENTS: i64 = 1000;
const QUEUES: usize = 100;
const RULES: usize = 100;

async fn organisation(pool: &PgPool) -> anyhow::Result<Uuid> {
    let account: Uuid = sqlx::query_scalar(
        "INSERT INTO twilio_accounts (id, account_sid, auth_token) VALUES (gen_random_uuid(), 'AC0123456789abcdef0123456789abcdef', '\\x00')
         RETURNING id",
    )
    .fetch_one(pool)
    .await?;
    let channel: Uuid = sqlx::query_scalar(
        "INSERT INTO channels (id, name, account_id, sending_mode) VALUES (gen_random_uuid(), 'Bench', $1, 'sender') RETURNING id",
    )
    .bind(account)
    .fetch_one(pool)
    .await?;
    let hours: Uuid = sqlx::query_scalar(
        "INSERT INTO business_hours (id, name, time_zone, weekly) VALUES (gen_random_uuid(), 'Always', 'Europe/Amsterdam',
         '{\"monday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}],\"tuesday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}],
           \"wednesday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}],\"thursday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}],
           \"friday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}],\"saturday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}],
           \"sunday\":[{\"open\":\"00:00\",\"close\":\"24:00\"}]}') RETURNING id",
    )
    .fetch_one(pool)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash, capacity, skills, languages, presence)
         SELECT gen_random_uuid(), 'agent' || i || '@bench.example', 'Agent ' || i, 'agent', 'x', 100,
                CASE WHEN i % 3 = 0 THEN ARRAY['billing'] ELSE ARRAY[]::text[] END,
                CASE WHEN i % 2 = 0 THEN ARRAY['en', 'nl'] ELSE ARRAY['en'] END, 'online'
         FROM generate_series(1, $1) i",
    )
    .bind(AGENTS)
    .execute(pool)
    .await?;
    let agents: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM users ORDER BY email").fetch_all(pool).await?;
    let mut queues = Vec::new();
    for q in 0..QUEUES {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO queues (id, name, strategy, required_skills, match_language, business_hours_id)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(format!("Queue {q}"))
        .bind(if q % 2 == 0 { "least_loaded" } else { "round_robin" })
        .bind(if q % 10 == 0 { vec!["billing".to_owned()] } else { vec![] })
        .bind(q % 7 == 0)
        .bind((q % 4 == 0).then_some(hours))
        .fetch_one(pool)
        .await?;
        let members: Vec<Uuid> = (0..50).map(|k| agents[(q * 37 + k * 19) % agents.len()]).collect();
        sqlx::query(
            "INSERT INTO queue_members (queue_id, user_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&members)
        .execute(pool)
        .await?;
        queues.push(id);
    }
    let number: Uuid = sqlx::query_scalar(
        "INSERT INTO whatsapp_numbers (id, channel_id, name, e164, default_queue_id, business_hours_id, language)
         VALUES (gen_random_uuid(), $1, 'Bench', '+14155238886', $2, $3, 'en') RETURNING id",
    )
    .bind(channel)
    .bind(queues[1])
    .bind(hours)
    .fetch_one(pool)
    .await?;
    for r in 0..RULES {
        let conditions = match r % 8 {
            0 => json!([{"type": "text_contains", "value": format!("topic{r}")}]),
            1 => json!([{"type": "text_matches", "pattern": format!("^order\\s+{r}\\d*$")}]),
            2 => json!([{"type": "button_payload", "values": [format!("BTN{r}")]}]),
            3 => json!([{"type": "contact_attribute", "key": "tier", "equals": format!("tier{r}")}]),
            4 => json!([{"type": "contact_tag", "tag": format!("tag{r}")}, {"type": "customer", "value": "returning"}]),
            5 => json!([{"type": "language", "languages": ["de", "fr"]}, {"type": "text_contains", "value": "x"}]),
            6 => json!([{"type": "business_hours", "open": false}, {"type": "text_contains", "value": "later"}]),
            _ => {
                json!([{"type": "number", "number_ids": [number]}, {"type": "text_contains", "value": format!("kw{r}")}])
            }
        };
        sqlx::query(
            "INSERT INTO routing_rules (id, name, channel_id, position, conditions, target_type, target_queue_id)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, 'queue', $5)",
        )
        .bind(format!("Rule {r}"))
        .bind((r % 2 == 0).then_some(channel))
        .bind(r as i32 + 1)
        .bind(&conditions)
        .bind(queues[(r * 13) % QUEUES])
        .execute(pool)
        .await?;
    }
    Ok(number)
}

/// `n` new conversations with a first message each (a tenth of them meeting one of the rules).
async fn conversations(pool: &PgPool, number: Uuid, from: i64, n: i64) -> anyhow::Result<()> {
    sqlx::query(
        "WITH k AS (
             INSERT INTO contacts (id, phone_e164, attributes, tags)
             SELECT gen_random_uuid(), '+3160' || lpad(i::text, 8, '0'), jsonb_build_object('tier', 'tier' || (i % 200)),
                    ARRAY['tag' || (i % 300)]
             FROM generate_series($2, $2 + $3 - 1) i
             RETURNING id, phone_e164
         ), c AS (
             INSERT INTO conversations (id, channel_id, number_id, contact_id, last_inbound_at)
             SELECT gen_random_uuid(), n.channel_id, n.id, k.id, now() FROM k, whatsapp_numbers n WHERE n.id = $1
             RETURNING id, contact_id
         )
         INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status)
         SELECT gen_random_uuid(), c.id, ch.account_id, 'inbound', 'SM' || replace(gen_random_uuid()::text, '-', ''),
                CASE WHEN right(k.phone_e164, 1) = '7' THEN 'about topic' || (right(k.phone_e164, 2)::int % 100)
                     ELSE 'hello, a question about my order' END, 'received'
         FROM c JOIN k ON k.id = c.contact_id, channels ch WHERE ch.name = 'Bench'",
    )
    .bind(number)
    .bind(from)
    .bind(n)
    .execute(pool)
    .await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let total: i64 = env_or("BENCH_CONVERSATIONS", 20_000);
    let timed: i64 = env_or("BENCH_TIMED", 2_000);
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let (database_url, mut embedded, label) = common::database(dir.path()).await?;
        let env = vec![
            ("SWITCHBOARD__DATABASE__URL".to_owned(), database_url.clone()),
            ("SWITCHBOARD__DATA_DIR".to_owned(), dir.path().join("data").display().to_string()),
            ("SWITCHBOARD__LOG__LEVEL".to_owned(), "error".to_owned()),
        ];
        let settings = Settings::load_from(None, env)?;
        let app = switchboard::Application::build(settings.clone()).await?;
        let pool = app.state().pool.clone();
        let number = organisation(&pool).await?;
        let router = |batch: i64| {
            let mut routing = settings.routing.clone();
            routing.batch_size = batch;
            Router::new(pool.clone(), ConfigCache::default(), routing, "bench".into(), &settings.jobs, Arc::default())
        };
        println!("routing load on {label}: {AGENTS} agents, {QUEUES} queues, {RULES} rules");

        // Phase 1: one conversation per transaction, timed.
        conversations(&pool, number, 0, timed).await?;
        let single = router(1);
        single.route_batch().await?; // loads the configuration
        let mut latency = Histogram::<u64>::new(3)?;
        loop {
            let start = Instant::now();
            if single.route_batch().await? == 0 {
                break;
            }
            latency.record(start.elapsed().as_micros() as u64)?;
        }
        println!(
            "decision, one conversation per transaction ({} timed): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latency.len(),
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.9) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            latency.max() as f64 / 1000.0
        );

        // Phase 2: throughput in the router's batches, one router then two side by side.
        for routers in [1usize, 2] {
            let from = timed + 1 + (routers as i64 - 1) * total;
            conversations(&pool, number, from, total).await?;
            let workers: Vec<Router> = (0..routers).map(|_| router(settings.routing.batch_size)).collect();
            let start = Instant::now();
            let handles: Vec<_> = workers.into_iter().map(|r| tokio::spawn(async move { r.route_all().await })).collect();
            let mut routed = 0;
            for h in handles {
                routed += h.await?;
            }
            let secs = start.elapsed().as_secs_f64();
            let (assigned, waiting): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE routing_state = 'assigned'), count(*) FILTER (WHERE routing_state = 'waiting') FROM conversations",
            )
            .fetch_one(&pool)
            .await?;
            println!(
                "throughput, {routers} router(s), batches of {}: {routed} conversations in {secs:.2} s = {:.0} conversations/s (all so far: {assigned} assigned, {waiting} waiting)",
                settings.routing.batch_size,
                routed as f64 / secs
            );
            anyhow::ensure!(routed as i64 == total, "routed {routed} of {total}");
        }
        let over: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE load > capacity").fetch_one(&pool).await?;
        anyhow::ensure!(over == 0, "{over} agents over capacity");
        drop(app);
        pool.close().await;
        if let Some(mut pg) = embedded.take() {
            pg.stop().await?;
        }
        Ok(())
    })
}
