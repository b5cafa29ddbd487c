//! Inbound webhook load: correctly signed WhatsApp webhooks with unique MessageSids (and ~5 % repeats, as
//! Twilio's retries would send) posted over HTTP by 32 concurrent connections to a real Switchboard on
//! 127.0.0.1, against PostgreSQL. Prints requests/s, committed messages/s and latency percentiles, then checks
//! that every unique message was committed exactly once.
//!
//! Run: `cargo bench --bench inbound_load` (embedded PostgreSQL with its durable defaults, the product's
//! out-of-the-box setup), or with `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres` to use another
//! server (a fresh database is created in it). `BENCH_SECONDS` (default 10), `BENCH_CONCURRENCY` (HTTP connections, 32) and
//! `BENCH_DB_CONNECTIONS` (the server's pool; default: the product's default).
//!
//! `BENCH_AUTOMATION=1` compares, in one run, a number without automations and one with a greeting and 100
//! auto-reply rules (99 that do not match, one that replies once a day per customer to a tenth of the messages,
//! or to every one with `BENCH_RULE_PATTERN=pedido`): `BENCH_ROUNDS` (default 3) interleaved rounds of each,
//! 2,000 new customers per round, and how long the automation engine needs after the load to catch up.
//!
//! `BENCH_AI=1` compares the same way a number without an AI agent and one whose conversations go to the
//! built-in bot (the sandbox's sample agent: every new conversation gets an `ai.reply` job, which answers or
//! hands over and queues the send). The job worker runs, sending to a local stand-in for Twilio; the run says
//! how long the AI replies need after the load to catch up.
//!
//! `BENCH_REPORTS=1` compares, in `BENCH_ROUNDS` (3) interleaved rounds on one number, ingest with the reports'
//! triggers turned off (`ALTER TABLE … DISABLE TRIGGER`) and on with the reports job running, so that what keeping
//! the reports costs ingest is printed side by side.
//!
//! `BENCH_WAITS=1` samples `pg_stat_activity` every 20 ms during each measured round and prints what the busy
//! PostgreSQL connections were doing: their wait event (a lock, WAL, I/O, or none = on the CPU) and the
//! statement, as shares of the samples. It tells a round that waits on locks from one that lacks CPU.

mod common;

use common::load;
use std::time::{Duration, Instant};
use switchboard::config::Settings;

const PLAIN: &str = "+14155238886";
const AUTOMATED: &str = "+14155238887";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    // Test runners list a target's tests with `--list`; this is a load test, never a unit test: list none.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;

    // Named threads, so that a profile (perf report --sort comm) tells the server from the load generator.
    let server_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("sb-server").enable_all().build()?;
    let (database_url, mut embedded, label) = server_rt.block_on(common::database(dir.path()))?;

    let mut env = vec![
        ("SWITCHBOARD__DATABASE__URL".to_owned(), database_url),
        ("SWITCHBOARD__HTTP__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD__DATA_DIR".to_owned(), dir.path().join("data").display().to_string()),
        ("SWITCHBOARD__LOG__LEVEL".to_owned(), "error".to_owned()),
    ];
    let ai = std::env::var("BENCH_AI").is_ok_and(|v| v != "0");
    // A local stand-in for Twilio that accepts every message, for the AI agent's sends.
    let twilio = ai.then(|| {
        server_rt.block_on(async {
            let server = wiremock::MockServer::start().await;
            wiremock::Mock::given(wiremock::matchers::method("POST"))
                .respond_with(|_: &wiremock::Request| {
                    wiremock::ResponseTemplate::new(201).set_body_json(
                        serde_json::json!({"sid": format!("SM{}", uuid::Uuid::new_v4().simple()), "status": "queued"}),
                    )
                })
                .mount(&server)
                .await;
            server
        })
    });
    if let Some(t) = &twilio {
        env.push(("SWITCHBOARD__JOBS__ENABLED".to_owned(), "true".to_owned()));
        env.push(("SWITCHBOARD__TWILIO__API_BASE_URL".to_owned(), t.uri()));
        env.push(("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER".to_owned(), "0".to_owned()));
    } else {
        // Nothing here needs the job worker (no media); automated replies stay queued rather than go to Twilio.
        env.push(("SWITCHBOARD__JOBS__ENABLED".to_owned(), "false".to_owned()));
    }
    if let Ok(n) = std::env::var("BENCH_DB_CONNECTIONS") {
        env.push(("SWITCHBOARD__DATABASE__MAX_CONNECTIONS".to_owned(), n));
    }
    let settings = Settings::load_from(None, env)?;
    let pool_size = settings.database.max_connections;
    switchboard::telemetry::init(&settings.log);
    let automation = ai || std::env::var("BENCH_AUTOMATION").is_ok_and(|v| v != "0");
    let reports = std::env::var("BENCH_REPORTS").is_ok_and(|v| v != "0");
    let (port, channels, pool, shutdown, server) = server_rt.block_on(async {
        let app = switchboard::Application::build(settings).await?;
        let pool = app.state().pool.clone();
        let mut made = Vec::new();
        for (name, number) in
            [("Bench", PLAIN), ("Bench automated", AUTOMATED)].iter().take(if automation { 2 } else { 1 })
        {
            made.push(common::channel(&pool, &dir.path().join("data"), name, number).await?);
        }
        if ai {
            let bot = switchboard::store::ai_agents::Settings {
                name: "Bench assistant".into(),
                ..switchboard::sandbox::sample_bot()
            };
            let agent = switchboard::store::ai_agents::insert(&mut *pool.acquire().await?, &bot).await?;
            sqlx::query("UPDATE whatsapp_numbers SET ai_agent_id = $1 WHERE e164 = $2 AND channel_id = $3")
                .bind(agent.id)
                .bind(AUTOMATED)
                .bind(made[1])
                .execute(&pool)
                .await?;
        } else if automation {
            automate(&pool, made[1]).await?;
        }
        let port = app.port();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        anyhow::Ok((port, made, pool, shutdown, server))
    })?;

    let client_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("sb-loadgen").enable_all().build()?;
    let (first, second) = match (ai, reports) {
        (true, _) => ("no automations", "the built-in AI agent"),
        (false, true) => ("report triggers off", "report triggers on, reports job running"),
        (false, false) => ("no automations", "greeting + 100 auto-reply rules"),
    };
    let targets: Vec<(&str, String, &str)> = if reports {
        let url = format!("http://127.0.0.1:{port}/webhooks/twilio/{}/messages", channels[0]);
        vec![(first, url.clone(), PLAIN), (second, url, PLAIN)]
    } else {
        [(first, PLAIN), (second, AUTOMATED)]
            .iter()
            .zip(&channels)
            .map(|((label, number), channel)| {
                (*label, format!("http://127.0.0.1:{port}/webhooks/twilio/{channel}/messages"), *number)
            })
            .collect()
    };
    let compare = automation || reports;
    let rounds = if compare { env_or("BENCH_ROUNDS", 3) } else { 1 };
    let waits = std::env::var("BENCH_WAITS").is_ok_and(|v| v != "0");
    println!("inbound webhook load — {label}");
    println!("  connections          {concurrency} HTTP, {pool_size} PostgreSQL");
    let mut unique_total = 0;
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        // Interleaved, the first target first in even rounds: neither always meets a fuller database.
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for t in order {
            let (what, url, to) = &targets[t];
            let prefix = format!("{round}{t}");
            let reporter = reports.then(|| server_rt.block_on(report_triggers(&pool, t == 1))).transpose()?.flatten();
            let sampler = waits.then(|| server_rt.spawn(sample_waits(pool.clone(), Duration::from_secs(seconds + 2))));
            let report = client_rt.block_on(load(
                std::slice::from_ref(url),
                to,
                &prefix,
                concurrency,
                Duration::from_secs(2),
                Duration::from_secs(seconds),
            ))?;
            if let Some((stop, job)) = reporter {
                // Stopped and finished before the next round, which it would otherwise run into.
                stop.cancel();
                server_rt.block_on(job)?;
            }
            let rate = report.unique_measured as f64 / report.elapsed.as_secs_f64();
            figures[t].push(rate);
            unique_total += report.unique_total;
            let h = &report.latency;
            if compare {
                println!("  round {} · {what}", round + 1);
            }
            println!("  measured for         {:.1} s (after a 2 s warm-up)", report.elapsed.as_secs_f64());
            println!(
                "  requests             {} ({} repeats of an earlier MessageSid)",
                report.requests, report.repeats
            );
            println!("  non-200 answers      {}", report.errors);
            println!("  requests/s           {:.0}", report.requests as f64 / report.elapsed.as_secs_f64());
            println!("  committed messages/s {rate:.0}");
            println!(
                "  latency ms           p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                h.value_at_quantile(0.50) as f64 / 1000.0,
                h.value_at_quantile(0.90) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
                h.max() as f64 / 1000.0
            );
            if let Some(sampler) = sampler {
                print_waits(server_rt.block_on(sampler)??);
            }
            anyhow::ensure!(report.errors == 0, "{} requests were not answered 200", report.errors);
            if ai && t == 1 {
                let started = Instant::now();
                let (left, decisions) = server_rt.block_on(async {
                    loop {
                        let left: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM ai_sessions s JOIN conversations c ON c.id = s.conversation_id
                             WHERE c.routing_state = 'ai' AND c.status <> 'resolved'
                               AND c.last_inbound_at > COALESCE(s.answered_through, '-infinity')",
                        )
                        .fetch_one(&pool)
                        .await?;
                        if left == 0 || started.elapsed() > Duration::from_secs(300) {
                            let decisions: i64 =
                                sqlx::query_scalar("SELECT count(*) FROM ai_turns").fetch_one(&pool).await?;
                            return anyhow::Ok((left, decisions));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                })?;
                println!(
                    "  AI caught up         {:.1} s after the load ({left} conversations left; {decisions} AI decisions so far)",
                    started.elapsed().as_secs_f64()
                );
                // The decisions' own work (the sends of replies and hand-over messages) is drained too, so that
                // the next round measures itself rather than this round's backlog.
                let jobs = server_rt.block_on(async {
                    loop {
                        let jobs: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM jobs WHERE state <> 'failed' AND run_at < now() + interval '5 seconds'",
                        )
                        .fetch_one(&pool)
                        .await?;
                        if jobs == 0 || started.elapsed() > Duration::from_secs(300) {
                            return anyhow::Ok(jobs);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                })?;
                println!(
                    "  its sends done       {:.1} s after the load ({jobs} jobs left)",
                    started.elapsed().as_secs_f64()
                );
            } else if automation && t == 1 {
                let started = Instant::now();
                let (pending, replies) = server_rt.block_on(async {
                    loop {
                        let pending: i64 =
                            sqlx::query_scalar("SELECT count(*) FROM automation_inbox").fetch_one(&pool).await?;
                        if pending == 0 || started.elapsed() > Duration::from_secs(120) {
                            let replies: i64 =
                                sqlx::query_scalar("SELECT count(*) FROM messages WHERE automation IS NOT NULL")
                                    .fetch_one(&pool)
                                    .await?;
                            return anyhow::Ok((pending, replies));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                })?;
                println!(
                    "  automation caught up {:.1} s after the load ({pending} left; {replies} automated messages queued so far)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    if compare {
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (plain, automated) = (median(&figures[0]), median(&figures[1]));
        println!(
            "  median committed/s   {first} {plain:.0} · {second} {automated:.0} ({:+.1} %)",
            (automated / plain - 1.0) * 100.0
        );
    }
    let committed: i64 = server_rt
        .block_on(sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'").fetch_one(&pool))?;
    println!("  unique SIDs sent     {unique_total}; inbound messages in the database {committed}");
    anyhow::ensure!(
        committed as u64 == unique_total,
        "lost or duplicated messages: {committed} stored for {unique_total} unique"
    );

    shutdown.cancel();
    server_rt.block_on(server)??;
    if let Some(pg) = embedded.as_mut() {
        server_rt.block_on(pg.stop())?;
    }
    Ok(())
}

/// The automated number: a greeting, and 100 auto-reply rules of its channel: 99 keyword rules that never
/// match, and one that replies once a day per customer to the messages matching `BENCH_RULE_PATTERN` (default:
/// the order questions whose number ends in 0, a tenth of them; `pedido` makes it every message, the worst case).
async fn automate(pool: &sqlx::PgPool, channel: uuid::Uuid) -> anyhow::Result<()> {
    let pattern = std::env::var("BENCH_RULE_PATTERN").unwrap_or_else(|_| "pedido #[0-9]*0[?]".to_owned());
    // `BENCH_GREETING=0`: the rules alone, to tell the greeting's share from the rules'.
    if std::env::var("BENCH_GREETING").is_ok_and(|v| v == "0") {
        return rules(pool, channel, &pattern).await;
    }
    sqlx::query("UPDATE whatsapp_numbers SET greeting_text = 'Hola {{customer_name}}, gracias por escribir a {{number_name}}.' WHERE e164 = $1")
        .bind(AUTOMATED)
        .execute(pool)
        .await?;
    rules(pool, channel, &pattern).await
}

async fn rules(pool: &sqlx::PgPool, channel: uuid::Uuid, pattern: &str) -> anyhow::Result<()> {
    for i in 1..=100 {
        let (conditions, cooldown) = if i == 100 {
            (serde_json::json!([{"type": "text_matches", "pattern": pattern}]), Some(86_400))
        } else {
            (serde_json::json!([{"type": "text_contains", "value": format!("palabra clave {i}")}]), None)
        };
        sqlx::query(
            "INSERT INTO automation_rules (id, name, channel_id, position, conditions, actions, cooldown_secs)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)",
        )
        .bind(format!("Rule {i}"))
        .bind(channel)
        .bind(i)
        .bind(conditions)
        .bind(serde_json::json!([{"type": "reply", "text": "Revisamos su pedido y le escribimos en breve."}]))
        .bind(cooldown)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// What the busy PostgreSQL connections were doing, sampled every 20 ms for `span`: (wait event, statement) →
/// samples, and the number of samples taken.
async fn sample_waits(
    pool: sqlx::PgPool,
    span: Duration,
) -> anyhow::Result<(std::collections::HashMap<(String, String), u64>, u64)> {
    // Its own connection, so that sampling takes none of the server's pool.
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_with((*pool.connect_options()).clone()).await?;
    let mut seen = std::collections::HashMap::new();
    let mut samples = 0;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while started.elapsed() < span {
        tick.tick().await;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU'),
                    regexp_replace(left(query, 70), '\\s+', ' ', 'g')
             FROM pg_stat_activity
             WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .fetch_all(&pool)
        .await?;
        samples += 1;
        for row in rows {
            *seen.entry(row).or_insert(0) += 1;
        }
    }
    Ok((seen, samples))
}

fn print_waits((seen, samples): (std::collections::HashMap<(String, String), u64>, u64)) {
    let busy: u64 = seen.values().sum();
    println!("  busy connections     {:.1} on average over {samples} samples", busy as f64 / samples.max(1) as f64);
    let mut by_wait = std::collections::BTreeMap::<&str, u64>::new();
    for ((wait, _), n) in &seen {
        *by_wait.entry(wait).or_default() += n;
    }
    let mut by_wait: Vec<_> = by_wait.into_iter().collect();
    by_wait.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (wait, n) in by_wait.iter().take(6) {
        println!("    {:>5.1} %  {wait}", *n as f64 * 100.0 / busy.max(1) as f64);
    }
    let mut rows: Vec<_> = seen.iter().collect();
    rows.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    for ((wait, query), n) in rows.iter().take(10) {
        println!("    {:>5.1} %  {wait:<28} {query}", **n as f64 * 100.0 / busy.max(1) as f64);
    }
}

/// Turns the reports' triggers on (and starts the reports job, as a server runs it: the token stops it, the handle
/// says when it has) or off.
async fn report_triggers(
    pool: &sqlx::PgPool,
    on: bool,
) -> anyhow::Result<Option<(tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>)>> {
    let verb = if on { "ENABLE" } else { "DISABLE" };
    for (table, trigger) in [
        ("messages", "messages_report"),
        ("conversation_events", "conversation_events_report"),
        ("csat_surveys", "csat_surveys_report_insert"),
        ("csat_surveys", "csat_surveys_report_update"),
        ("users", "users_presence_log"),
    ] {
        sqlx::query(&format!("ALTER TABLE {table} {verb} TRIGGER {trigger}")).execute(pool).await?;
    }
    if !on {
        return Ok(None);
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let reporter = switchboard::reports::job::Reporter { pool: pool.clone(), refresh: Duration::from_secs(5) };
    let job = tokio::spawn(reporter.run(stop.clone()));
    Ok(Some((stop, job)))
}
