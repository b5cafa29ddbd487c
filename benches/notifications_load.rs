//! Notifications and webhooks under load, on 127.0.0.1.
//!
//! Phase 1: `BENCH_NOTIFICATIONS` (5,000) notifications to as many opted-in customers, 32 concurrent clients,
//! the number on `tier_100k` so that every one passes the opt-in check and the messaging-limit reservation;
//! prints the accept rate (202s per second). No worker runs, so the API has the two cores.
//! Phase 2: `BENCH_BATCH` (10,000) recipients in batches of the default maximum, 1,000, posted at once; prints
//! the time from the first request to the last batch `done` (every recipient's message and send job written),
//! a worker running (it sends to a local fake Twilio meanwhile).
//! Phase 3: a webhook subscribed to `contact.opt_in_changed` on a local receiver that answers 200 at once; an
//! import of `BENCH_EVENTS` (10,000) opt-ins makes as many events; prints the delivery rate (first to last
//! arrival) and checks that each event arrived once.
//!
//! Run: `cargo bench --bench notifications_load` (embedded PostgreSQL with its durable defaults) or with
//! `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres`. Settings from the environment (`SWITCHBOARD__…`)
//! apply to the server.

mod common;

use axum::extract::State;
use axum::routing::post;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::config::Settings;
use uuid::Uuid;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the receiver saw: each delivery's event id, and when.
type Seen = Arc<Mutex<Vec<(Instant, i64)>>>;

async fn receiver(State(seen): State<Seen>, body: axum::body::Bytes) -> axum::http::StatusCode {
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        seen.lock().unwrap().push((Instant::now(), v["event_id"].as_i64().unwrap_or(-1)));
    }
    axum::http::StatusCode::OK
}

async fn fake_twilio() -> (axum::http::StatusCode, axum::Json<Value>) {
    let sid = format!("SM{}", Uuid::new_v4().simple());
    (axum::http::StatusCode::CREATED, axum::Json(json!({"sid": sid, "status": "queued"})))
}

fn settings(database_url: &str, data_dir: &std::path::Path, twilio: &str, jobs: bool) -> anyhow::Result<Settings> {
    let env = [
        ("SWITCHBOARD__DATABASE__URL", database_url.to_owned()),
        ("SWITCHBOARD__HTTP__BIND", "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD__DATA_DIR", data_dir.display().to_string()),
        ("SWITCHBOARD__LOG__LEVEL", "error".to_owned()),
        ("SWITCHBOARD__SANDBOX__ENABLED", "false".to_owned()),
        ("SWITCHBOARD__TWILIO__API_BASE_URL", twilio.to_owned()),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0".to_owned()),
        ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100".to_owned()),
        ("SWITCHBOARD__JOBS__ENABLED", jobs.to_string()),
        ("SWITCHBOARD__WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS", "true".to_owned()),
        ("SWITCHBOARD__WEBHOOKS__POLL_MS", "20".to_owned()),
    ];
    // Knobs from the bench's own environment (`SWITCHBOARD__NOTIFICATIONS__WRITERS=4`) go over these.
    let knobs = std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD__"));
    Ok(Settings::load_from(None, env.into_iter().map(|(k, v)| (k.to_owned(), v)).chain(knobs))?)
}

fn phone(i: usize) -> String {
    format!("+3165{:07}", i)
}

async fn import(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    number: Uuid,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let mut csv = String::from("phone,number_id\n");
    for i in range {
        csv.push_str(&format!("{},{number}\n", phone(i)));
    }
    let r = client
        .post(format!("{base}/api/v1/opt-ins/import"))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "import answered {}", r.status());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let notifications: usize = env_or("BENCH_NOTIFICATIONS", 5000);
    let batch: usize = env_or("BENCH_BATCH", 10_000);
    let events: usize = env_or("BENCH_EVENTS", 10_000);
    let tier: String = env_or("BENCH_TIER", "tier_100k".to_owned());
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let (database_url, mut embedded, label) = common::database(dir.path()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let twilio = format!("http://{}", listener.local_addr()?);
        let fake = axum::Router::new().route("/2010-04-01/Accounts/{account}/Messages.json", post(fake_twilio));
        tokio::spawn(async move { axum::serve(listener, fake).await });
        let seen: Seen = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let hook_url = format!("http://{}/hook", listener.local_addr()?);
        let hook = axum::Router::new().route("/hook", post(receiver)).with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, hook).await });
        let data_dir = dir.path().join("data");

        // Phase 1: the API alone.
        let app = switchboard::Application::build(settings(&database_url, &data_dir, &twilio, false)?).await?;
        // The bench's own pool: each Application closes its pool when it stops.
        let pool = sqlx::PgPool::connect(&database_url).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        common::channel(&pool, &data_dir, "Bench", "+14155238886").await?;
        let number: Uuid = sqlx::query_scalar("SELECT id FROM whatsapp_numbers").fetch_one(&pool).await?;
        sqlx::query("UPDATE whatsapp_numbers SET messaging_tier = $1").bind(&tier).execute(&pool).await?;
        let token = common::admin_token(&pool).await?;
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{base}/api/v1/templates"))
            .bearer_auth(&token)
            .json(&json!({"name": "order_shipped", "language": "en", "body": "Hi {{1}}, order {{2}} shipped",
                          "content_sid": format!("HX{}", Uuid::new_v4().simple()), "approval_status": "approved"}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "template answered {}", r.status());
        let template: Value = r.json().await?;
        let template = template["id"].as_str().unwrap_or_default().to_owned();
        let started = Instant::now();
        import(&client, &base, &token, number, 0..notifications + batch).await?;
        let import_s = started.elapsed().as_secs_f64();

        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (client, next, base, token, template) =
                (client.clone(), next.clone(), base.clone(), token.clone(), template.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= notifications {
                        return anyhow::Ok(());
                    }
                    let body = json!({"number_id": number, "to": phone(i)[1..].to_owned(),
                                      "template": {"id": template, "variables": {"1": "Ana", "2": i.to_string()}}});
                    let r = client.post(format!("{base}/api/v1/notifications")).bearer_auth(&token).json(&body).send().await?;
                    anyhow::ensure!(r.status() == 202, "answered {}", r.status());
                }
            }));
        }
        for t in tasks {
            t.await??;
        }
        let accept_s = start.elapsed().as_secs_f64();
        shutdown.cancel();
        server.await??;
        // What phase 1 queued is not phase 2's work.
        sqlx::query("DELETE FROM jobs WHERE kind = 'message.send'").execute(&pool).await?;

        // Phase 2: one batch, a worker running.
        let app = switchboard::Application::build(settings(&database_url, &data_dir, &twilio, true)?).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        // In batches of the default maximum (1,000 recipients each), all posted at once.
        let start = Instant::now();
        let mut ids = Vec::new();
        for first in (notifications..notifications + batch).step_by(1000) {
            let last = (first + 1000).min(notifications + batch);
            let recipients: Vec<Value> =
                (first..last).map(|i| json!({"to": phone(i), "variables": {"2": i.to_string()}})).collect();
            let body = json!({"number_id": number, "template": {"id": template, "variables": {"1": "Ana"}}, "recipients": recipients});
            let r = client.post(format!("{base}/api/v1/notifications/batches")).bearer_auth(&token).json(&body).send().await?;
            anyhow::ensure!(r.status() == 202, "batch answered {}", r.status());
            ids.push(r.json::<Value>().await?["id"].as_str().unwrap_or_default().to_owned());
        }
        let accepted_batch_s = start.elapsed().as_secs_f64();
        let mut accepted = 0;
        for id in &ids {
            let done = loop {
                let b: Value = client.get(format!("{base}/api/v1/notifications/batches/{id}")).bearer_auth(&token).send().await?.json().await?;
                if b["state"] == "done" {
                    break b;
                }
                anyhow::ensure!(start.elapsed() < Duration::from_secs(120), "a batch is not done after 2 minutes");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            accepted += done["accepted"].as_u64().unwrap_or(0);
        }
        let batch_s = start.elapsed().as_secs_f64();
        anyhow::ensure!(accepted == batch as u64, "batches accepted {accepted} of {batch}");

        // Phase 3: webhooks.
        sqlx::query("DELETE FROM jobs WHERE kind = 'message.send'").execute(&pool).await?;
        let r = client
            .post(format!("{base}/api/v1/webhooks"))
            .bearer_auth(&token)
            .json(&json!({"name": "bench", "url": hook_url, "events": ["contact.opt_in_changed"]}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "webhook answered {}", r.status());
        let first = 200_000;
        import(&client, &base, &token, number, first..first + events).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let arrivals = loop {
            let got = seen.lock().unwrap().clone();
            if got.len() >= events {
                break got;
            }
            anyhow::ensure!(Instant::now() < deadline, "only {} of {events} deliveries arrived", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all = seen.lock().unwrap().clone();
        let unique: HashSet<i64> = all.iter().map(|(_, e)| *e).collect();
        let (t0, t1) = (arrivals.iter().map(|a| a.0).min().unwrap(), arrivals.iter().map(|a| a.0).max().unwrap());
        let deliver_s = (t1 - t0).as_secs_f64();
        shutdown.cancel();
        server.await??;

        println!("notifications load — {label}");
        println!("  opt-ins imported (one CSV)          {} in {import_s:.2} s", notifications + batch);
        println!("  phase 1: notifications accepted     {:.0} /s ({notifications} in {accept_s:.2} s, 32 clients, {tier})", notifications as f64 / accept_s);
        println!("  phase 2: {batch} recipients queued     {batch_s:.2} s ({} batches of 1,000 posted in {accepted_batch_s:.2} s)", ids.len());
        println!("  phase 3: webhook deliveries         {:.0} /s ({events} in {deliver_s:.2} s); {} requests, {} distinct events", events as f64 / deliver_s, all.len(), unique.len());
        anyhow::ensure!(unique.len() == events, "lost webhook events");
        pool.close().await;
        if let Some(pg) = embedded.as_mut() {
            pg.stop().await?;
        }
        anyhow::Ok(())
    })
}
