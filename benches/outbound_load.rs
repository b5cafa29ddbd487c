//! Outbound load: messages accepted by the API (`POST /conversations/{id}/messages`, 202) and handed by the
//! durable sender to a local fake Twilio (an HTTP server on 127.0.0.1 answering 201 like Twilio).
//!
//! Phase 1, rate limits lifted: 5,000 messages over 50 conversations accepted by the API (32 concurrent clients,
//! no worker running), then a server with a worker starts and drains them: prints the accept rate and the send
//! rate (queued to acknowledged by the fake Twilio). Phase 2, the default limit (80/s per sender) with **two** server processes'
//! worth of workers (two `Application`s on one database): 800 messages to one sender; prints the rate the fake
//! Twilio saw for that sender. Both phases check that every message was sent exactly once.
//!
//! Run: `cargo bench --bench outbound_load` (embedded PostgreSQL with its durable defaults) or with
//! `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres`. `BENCH_MESSAGES` (5000), `BENCH_RATED` (800), `BENCH_JOBS` (jobs at once per process; default: the
//! product's default).

mod common;

use axum::extract::State;
use axum::routing::post;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::config::Settings;
use switchboard::twilio::signature;
use uuid::Uuid;

use common::{ACCOUNT_SID, TOKEN};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the fake Twilio saw: when each message arrived and its body.
type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

async fn fake_twilio(
    State(seen): State<Seen>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    let text =
        form_urlencoded::parse(&body).find(|(k, _)| k == "Body").map(|(_, v)| v.into_owned()).unwrap_or_default();
    seen.lock().unwrap().push((Instant::now(), text));
    let sid = format!("SM{}", Uuid::new_v4().simple());
    (axum::http::StatusCode::CREATED, axum::Json(json!({"sid": sid, "status": "queued"})))
}

fn settings(
    database_url: &str,
    data_dir: &std::path::Path,
    twilio: &str,
    rate: f64,
    jobs: bool,
) -> anyhow::Result<Settings> {
    let env = vec![
        ("SWITCHBOARD__DATABASE__URL".to_owned(), database_url.to_owned()),
        ("SWITCHBOARD__HTTP__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD__DATA_DIR".to_owned(), data_dir.display().to_string()),
        ("SWITCHBOARD__LOG__LEVEL".to_owned(), "error".to_owned()),
        ("SWITCHBOARD__SANDBOX__ENABLED".to_owned(), "false".to_owned()),
        ("SWITCHBOARD__TWILIO__API_BASE_URL".to_owned(), twilio.to_owned()),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER".to_owned(), rate.to_string()),
        ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS".to_owned(), "200".to_owned()),
        ("SWITCHBOARD__JOBS__ENABLED".to_owned(), jobs.to_string()),
    ];
    let mut env = env;
    if let Ok(n) = std::env::var("BENCH_JOBS") {
        env.push(("SWITCHBOARD__JOBS__CONCURRENCY".to_owned(), n));
    }
    Ok(Settings::load_from(None, env)?)
}

/// Posts `count` messages (bodies `{prefix}{i}`) to the conversations, `concurrency` at a time.
async fn post_all(
    base: &str,
    token: &str,
    conversations: &[Uuid],
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<(Instant, Instant)> {
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, base, token, conversations, prefix) = (
            client.clone(),
            next.clone(),
            base.to_owned(),
            token.to_owned(),
            conversations.to_vec(),
            prefix.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let c = conversations[i % conversations.len()];
                let r = client
                    .post(format!("{base}/api/v1/conversations/{c}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("{prefix}{i}")}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 202, "answered {}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((start, Instant::now()))
}

async fn wait_for(seen: &Seen, prefix: &str, count: usize, limit: Duration) -> anyhow::Result<Vec<Instant>> {
    let deadline = Instant::now() + limit;
    loop {
        let arrivals: Vec<Instant> =
            seen.lock().unwrap().iter().filter(|(_, b)| b.starts_with(prefix)).map(|(t, _)| *t).collect();
        if arrivals.len() >= count {
            return Ok(arrivals);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {count} messages reached the fake Twilio",
            arrivals.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let messages: usize = env_or("BENCH_MESSAGES", 5000);
    let rated: usize = env_or("BENCH_RATED", 800);
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let (database_url, mut embedded, label) = common::database(dir.path()).await?;
        let seen: Seen = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let twilio = format!("http://{}", listener.local_addr()?);
        let fake = axum::Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(fake_twilio))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, fake).await });
        let data_dir = dir.path().join("data");

        // Phase 1: limits lifted.
        let app = switchboard::Application::build(settings(&database_url, &data_dir, &twilio, 0.0, false)?).await?;
        let pool = app.state().pool.clone();
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let channel = common::channel(&pool, &data_dir, "Bench", "+14155238886").await?;
        let token = common::admin_token(&pool).await?;
        let client = reqwest::Client::new();
        let url = format!("{base}/webhooks/twilio/{channel}/messages");
        for i in 0..50 {
            let sid = format!("SM{}", Uuid::new_v4().simple());
            let params: Vec<(String, String)> = vec![
                ("MessageSid".into(), sid.clone()),
                ("SmsMessageSid".into(), sid),
                ("AccountSid".into(), ACCOUNT_SID.into()),
                ("From".into(), format!("whatsapp:+52155{:08}", i)),
                ("To".into(), "whatsapp:+14155238886".into()),
                ("Body".into(), "Hola".into()),
                ("NumMedia".into(), "0".into()),
            ];
            let sig = signature::compute(TOKEN, &url, &params);
            let r = client
                .post(&url)
                .header("X-Twilio-Signature", sig)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(switchboard::twilio::webhook::encode(&params))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "webhook answered {}", r.status());
        }
        let conversations: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM conversations").fetch_all(&pool).await?;

        // Accepted first (this process runs no worker), then drained by a worker of its own: the sender's
        // throughput from accepted to acknowledged, without the API competing for the two cores.
        let (start, accepted) = post_all(&base, &token, &conversations, "free ", messages, 32).await?;
        let accept_s = (accepted - start).as_secs_f64();
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'message.send'").fetch_one(&pool).await?;
        shutdown.cancel();
        server.await??;
        let sender = switchboard::Application::build(settings(&database_url, &data_dir, &twilio, 0.0, true)?).await?;
        let concurrency = sender.state().settings.jobs.concurrency;
        let stop_sender = sender.shutdown_token();
        let drain_start = Instant::now();
        let sender = tokio::spawn(sender.run_until_stopped());
        let arrivals = wait_for(&seen, "free ", messages, Duration::from_secs(300)).await?;
        let last = *arrivals.iter().max().unwrap();
        let drain_s = (last - drain_start).as_secs_f64();
        println!("outbound load — {label}");
        println!("phase 1: rate limits lifted, {messages} messages over 50 conversations");
        println!("  accepted (202) by the API, 32 clients   {:.0} messages/s ({accept_s:.2} s); {queued} send jobs queued", messages as f64 / accept_s);
        println!("  sent: queued to acknowledged by Twilio  {:.0} messages/s ({drain_s:.2} s, one process, {concurrency} jobs at once)", messages as f64 / drain_s);
        stop_sender.cancel();
        sender.await??;

        // Phase 2: the default limit, two processes' workers, one sender.
        let a = switchboard::Application::build(settings(&database_url, &data_dir, &twilio, 80.0, true)?).await?;
        let b = switchboard::Application::build(settings(&database_url, &data_dir, &twilio, 80.0, true)?).await?;
        let base = format!("http://127.0.0.1:{}", a.port());
        let (stop_a, stop_b) = (a.shutdown_token(), b.shutdown_token());
        let (server_a, server_b) = (tokio::spawn(a.run_until_stopped()), tokio::spawn(b.run_until_stopped()));
        post_all(&base, &token, &conversations, "rated ", rated, 32).await?;
        let mut arrivals = wait_for(&seen, "rated ", rated, Duration::from_secs(rated as u64 / 40 + 60)).await?;
        arrivals.sort();
        // The first slot is taken at once; the rate is the spacing of the rest.
        let span = (arrivals[rated - 1] - arrivals[0]).as_secs_f64();
        let rate = (rated - 1) as f64 / span;
        println!("phase 2: outbound.rate_per_sender = 80, two Applications (two workers) on one database, {rated} messages to one sender");
        println!("  measured rate         {rate:.2} messages/s over {span:.2} s ({:+.2} % from 80)", (rate / 80.0 - 1.0) * 100.0);
        let mut worst = 0.0f64;
        for w in arrivals.windows(81) {
            worst = worst.max(80.0 / (w[80] - w[0]).as_secs_f64());
        }
        println!("  fastest 80 in a row   {worst:.2} messages/s");
        stop_a.cancel();
        stop_b.cancel();
        server_a.await??;
        server_b.await??;

        let sent: i64 =
            sqlx::query_scalar("SELECT count(DISTINCT twilio_sid) FROM messages WHERE direction = 'outbound'").fetch_one(&sqlx::PgPool::connect(&database_url).await?).await?;
        let bodies = seen.lock().unwrap().len();
        println!("  checks                {sent} messages with a SID, {bodies} requests at the fake Twilio");
        anyhow::ensure!(sent as usize == messages + rated && bodies == messages + rated, "lost or repeated messages");
        // Each conversation's messages reached the fake Twilio in the order they were written (created_at, id).
        let written: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT conversation_id, body FROM messages WHERE direction = 'outbound' ORDER BY created_at, id",
        )
        .fetch_all(&sqlx::PgPool::connect(&database_url).await?)
        .await?;
        let conversation_of: std::collections::HashMap<&str, Uuid> =
            written.iter().map(|(c, body)| (body.as_str(), *c)).collect();
        let mut expected: std::collections::HashMap<Uuid, Vec<&str>> = std::collections::HashMap::new();
        for (c, body) in &written {
            expected.entry(*c).or_default().push(body);
        }
        let mut arrived: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
        let mut in_order: Vec<(Instant, String)> = seen.lock().unwrap().clone();
        in_order.sort_by_key(|(at, _)| *at);
        for (_, body) in in_order {
            arrived.entry(conversation_of[body.as_str()]).or_default().push(body);
        }
        let out_of_order = expected.iter().filter(|(c, bodies)| arrived[*c] != **bodies).count();
        println!("  order                 {out_of_order} of {} conversations received out of order", expected.len());
        anyhow::ensure!(out_of_order == 0, "messages overtook earlier ones of their conversation");
        if let Some(pg) = embedded.as_mut() {
            pg.stop().await?;
        }
        anyhow::Ok(())
    })
}
