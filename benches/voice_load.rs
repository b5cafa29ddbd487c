//! WhatsApp calls under load, on 127.0.0.1: `BENCH_CALLS` (100) customers call at once and stay waiting in one
//! calls queue (no agent online, so nobody takes them); Twilio's side then asks each call's wait URL what to
//! play next, over and over, as it does while callers wait (paced, then all at once); then another 100 calls
//! arrive one by one over the waiting ones. Every request is signed and checked, and its TwiML read. Prints
//! p50/p90/p99/max of each: arrivals (`/voice`) and wait turns (`/voice/wait`, the caller's position counted
//! among the waiting calls each time).
//!
//! Target (issue 22): TwiML at p99 ≤ 50 ms with 100 concurrent calls waiting.
//!
//! Run: `cargo bench --bench voice_load` (embedded PostgreSQL with its durable defaults) or with
//! `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres`.

mod common;

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use switchboard::config::Settings;
use switchboard::twilio::signature;
use uuid::Uuid;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn settings(database_url: &str, data_dir: &std::path::Path) -> anyhow::Result<Settings> {
    let env = [
        ("SWITCHBOARD__DATABASE__URL", database_url.to_owned()),
        ("SWITCHBOARD__HTTP__BIND", "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD__DATA_DIR", data_dir.display().to_string()),
        ("SWITCHBOARD__LOG__LEVEL", "error".to_owned()),
        ("SWITCHBOARD__SANDBOX__ENABLED", "false".to_owned()),
        ("SWITCHBOARD__JOBS__ENABLED", "false".to_owned()),
    ];
    let knobs = std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD__"));
    Ok(Settings::load_from(None, env.into_iter().map(|(k, v)| (k.to_owned(), v)).chain(knobs))?)
}

fn params(call_sid: &str, customer: &str, queue_time: Option<u32>) -> Vec<(String, String)> {
    let mut p = vec![
        ("CallSid".to_owned(), call_sid.to_owned()),
        ("AccountSid".to_owned(), common::ACCOUNT_SID.to_owned()),
        ("From".to_owned(), format!("whatsapp:{customer}")),
        ("To".to_owned(), format!("whatsapp:{BUSINESS}")),
        ("CallStatus".to_owned(), if queue_time.is_some() { "in-progress" } else { "ringing" }.to_owned()),
        ("Direction".to_owned(), "inbound".to_owned()),
    ];
    if let Some(t) = queue_time {
        p.push(("QueueTime".to_owned(), t.to_string()));
    }
    p
}

const BUSINESS: &str = "+14155238886";

/// Posts one signed voice webhook; answers its latency in microseconds, after checking the TwiML came back.
async fn post(client: &reqwest::Client, url: &str, p: &[(String, String)], expect: &str) -> anyhow::Result<u64> {
    let body = common::form(p);
    let sig = signature::compute(common::TOKEN, url, p);
    let started = Instant::now();
    let r = client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    let took = started.elapsed().as_micros() as u64;
    anyhow::ensure!(status == 200 && text.contains(expect), "{url}: {status} {text}");
    Ok(took)
}

fn print(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<44} n={:>6}  p50 {:>6.1} ms  p90 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.9) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    );
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let calls: usize = env_or("BENCH_CALLS", 100);
    let turns: usize = env_or("BENCH_WAIT_TURNS", 10);
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let (database_url, mut embedded, label) = common::database(dir.path()).await?;
        let data_dir = dir.path().join("data");
        let app = switchboard::Application::build(settings(&database_url, &data_dir)?).await?;
        let pool = sqlx::PgPool::connect(&database_url).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        let channel = common::channel(&pool, &data_dir, "Bench", BUSINESS).await?;
        let queue: Uuid = sqlx::query_scalar(
            "INSERT INTO queues (id, name, communication_type, waiting_strategy)
             VALUES (gen_random_uuid(), 'Calls', 'calls', '{\"announce_position\": true}') RETURNING id",
        )
        .fetch_one(&pool)
        .await?;
        sqlx::query("UPDATE whatsapp_numbers SET supports_calling = true, language = 'pt-BR', default_queue_id = $1")
            .bind(queue)
            .execute(&pool)
            .await?;
        let voice = format!("{base}/webhooks/twilio/{channel}/voice");
        let wait = format!("{voice}/wait");
        let client = reqwest::Client::builder().pool_max_idle_per_host(calls * 2).build()?;
        // The routing configuration is cached after the first call; warm it (and the connections) up.
        post(&client, &voice, &params(&format!("CA{}", Uuid::new_v4().simple()), "+5511900000000", None), "Enqueue")
            .await?;

        // `calls` customers call at once.
        let sids: Vec<String> = (0..calls).map(|_| format!("CA{}", Uuid::new_v4().simple())).collect();
        let mut arrivals = Histogram::<u64>::new(3)?;
        let started = Instant::now();
        let answers = futures_util::future::join_all(sids.iter().enumerate().map(|(i, sid)| {
            let (client, voice) = (&client, &voice);
            async move { post(client, voice, &params(sid, &format!("+55119{i:08}"), None), "Enqueue").await }
        }))
        .await;
        for a in answers {
            arrivals.record(a?)?;
        }
        let burst = started.elapsed();
        print(&format!("{calls} calls arriving at once"), &arrivals);
        println!("  (all {calls} answered in {:.0} ms)", burst.as_secs_f64() * 1000.0);

        // Twilio asks each waiting call's wait URL what to play next. Paced: every call asks once per
        // `BENCH_WAIT_EVERY_MS` (2 s, ten times as often as a caller hearing a 20-second pause would), spread
        // evenly; then all at once, the worst case.
        let every = Duration::from_millis(env_or("BENCH_WAIT_EVERY_MS", 2000));
        let mut paced = Histogram::<u64>::new(3)?;
        let mut burst_waits = Histogram::<u64>::new(3)?;
        for turn in 0..turns {
            // Within the maximum wait (300 s), so that every turn holds on.
            let queue_time = 5 + (turn as u32 * 25) % 250;
            let answers = futures_util::future::join_all(sids.iter().enumerate().map(|(i, sid)| {
                let (client, wait) = (&client, &wait);
                let p = params(sid, &format!("+55119{i:08}"), Some(queue_time));
                let delay = every * i as u32 / calls as u32;
                async move {
                    tokio::time::sleep(delay).await;
                    post(client, wait, &p, "<Say").await
                }
            }))
            .await;
            for a in answers {
                paced.record(a?)?;
            }
        }
        print(&format!("wait turns, {calls} waiting, each every {} ms", every.as_millis()), &paced);
        for turn in 0..3u32 {
            let answers = futures_util::future::join_all(sids.iter().enumerate().map(|(i, sid)| {
                let (client, wait) = (&client, &wait);
                let p = params(sid, &format!("+55119{i:08}"), Some(20 + turn * 30));
                async move { post(client, wait, &p, "<Say").await }
            }))
            .await;
            for a in answers {
                burst_waits.record(a?)?;
            }
        }
        print(&format!("wait turns, all {calls} at once (3 rounds)"), &burst_waits);

        // More calls arrive while the first ones wait.
        let mut more = Histogram::<u64>::new(3)?;
        for i in 0..calls {
            let sid = format!("CA{}", Uuid::new_v4().simple());
            more.record(post(&client, &voice, &params(&sid, &format!("+55118{i:08}"), None), "Enqueue").await?)?;
        }
        print(&format!("arrivals one by one, {calls}+ calls waiting"), &more);
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM calls WHERE state = 'waiting'").fetch_one(&pool).await?;
        println!("database: {label}; calls waiting at the end: {waiting}");

        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
        pool.close().await;
        if let Some(pg) = embedded.as_mut() {
            pg.stop().await?;
        }
        anyhow::Ok(())
    })
}
