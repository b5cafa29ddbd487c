//! Several nodes on one database (issue 19's figures), with the release binary as operators run it: each node a
//! `switchboard serve` process with its own data directory.
//!
//! - `ingest`: committed inbound messages/s with one node and with three, the same load generator as
//!   `inbound_load` (32 keep-alive connections, spread over the nodes), `BENCH_ROUNDS` (default 2) interleaved
//!   rounds of `BENCH_SECONDS` (default 10) each. On this machine the nodes, the generator and PostgreSQL share
//!   two cores, so the database is the shared limit: three nodes should keep ≥ 0.9 × one node's rate.
//! - `s3`: a 5 MB file served from an S3-compatible store (moto's, `SWITCHBOARD_TEST_MOTO` or the test
//!   virtualenv's) to 8 slow readers at once: how much the node's resident memory grows per request.
//! - `memory`: one node's resident memory with 10,000 open conversations and then 500 agents' live WebSockets.
//!
//! Run: `cargo bench --bench nodes_load` (all three), or `BENCH_PART=ingest|s3|memory`. Same database choice
//! as the other load benchmarks (`SWITCHBOARD_BENCH_DATABASE_URL`, else the embedded cluster).

mod common;

use common::{load, TOKEN};
use secrecy::ExposeSecret;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::config::Settings;

const NUMBER: &str = "+14155238886";
const PASSWORD: &str = "a benchmark admin password";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the nodes share, set up once with the library.
struct Setup {
    database_url: String,
    master_key: String,
    channel: uuid::Uuid,
    /// The admin's session cookie (`name=value`), for the live WebSockets.
    cookie: String,
    admin_id: uuid::Uuid,
}

struct Node {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(setup: &Setup, extra: &[(String, String)]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SWITCHBOARD__DATABASE__URL", &setup.database_url)
            .env("SWITCHBOARD__DATA_DIR", dir.path())
            .env("SWITCHBOARD__SECRETS__MASTER_KEY", &setup.master_key)
            .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD__SANDBOX__ENABLED", "false")
            .env("SWITCHBOARD__JOBS__ENABLED", "false")
            .env("SWITCHBOARD__LOG__LEVEL", "error")
            .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Self { child, port, _dir: dir })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client.get(format!("{}/readyz", self.base())).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("node on {} never became ready", self.port)
    }

    fn rss_kb(&self) -> u64 {
        rss_kb(self.child.id())
    }

    fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// A process's resident memory, from /proc (0 once it is gone).
fn rss_kb(pid: u32) -> u64 {
    common::external::rss_kb(pid).unwrap_or(0)
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let part = std::env::var("BENCH_PART").unwrap_or_else(|_| "all".into());
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (database_url, mut embedded, label) = rt.block_on(common::database(dir.path()))?;
    let setup = rt.block_on(set_up(database_url, &dir.path().join("setup")))?;
    println!("several nodes — {label}");
    if part == "all" || part == "ingest" {
        rt.block_on(ingest(&setup))?;
    }
    if part == "all" || part == "s3" {
        rt.block_on(s3(&setup))?;
    }
    if part == "all" || part == "memory" {
        rt.block_on(memory(&setup))?;
    }
    if let Some(pg) = embedded.as_mut() {
        rt.block_on(pg.stop())?;
    }
    Ok(())
}

/// A channel, the admin's password and session, with the library; the master key the nodes then share.
async fn set_up(database_url: String, data_dir: &std::path::Path) -> anyhow::Result<Setup> {
    let env = vec![
        ("SWITCHBOARD__DATABASE__URL".to_owned(), database_url.clone()),
        ("SWITCHBOARD__HTTP__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD__DATA_DIR".to_owned(), data_dir.display().to_string()),
        ("SWITCHBOARD__LOG__LEVEL".to_owned(), "error".to_owned()),
        ("SWITCHBOARD__JOBS__ENABLED".to_owned(), "false".to_owned()),
        ("SWITCHBOARD__SANDBOX__ENABLED".to_owned(), "false".to_owned()),
    ];
    let settings = Settings::load_from(None, env)?;
    switchboard::telemetry::init(&settings.log);
    let mut app = switchboard::Application::build(settings).await?;
    let admin = app.take_bootstrap_admin().expect("a new database has its first admin");
    let pool = app.state().pool.clone();
    let channel = common::channel(&pool, data_dir, "Bench", NUMBER).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": admin.email, "password": admin.password.expose_secret()}))
        .send()
        .await?;
    anyhow::ensure!(login.status() == 200, "login: {}", login.status());
    let cookie = login.headers()["set-cookie"].to_str()?.split(';').next().unwrap_or_default().to_owned();
    let body: serde_json::Value = login.json().await?;
    let changed = client
        .post(format!("{base}/api/v1/auth/password"))
        .header("cookie", &cookie)
        .header("X-CSRF-Token", body["csrf_token"].as_str().unwrap_or_default())
        .json(&serde_json::json!({"current_password": admin.password.expose_secret(), "new_password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(changed.status() == 204, "password change: {}", changed.status());
    // A fresh session with the new password (changing it may end the others).
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": admin.email, "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(login.status() == 200, "login: {}", login.status());
    let cookie = login.headers()["set-cookie"].to_str()?.split(';').next().unwrap_or_default().to_owned();
    let me: serde_json::Value =
        client.get(format!("{base}/api/v1/auth/me")).header("cookie", &cookie).send().await?.json().await?;
    let admin_id = me["user"]["id"].as_str().unwrap_or_default().parse()?;
    stop.cancel();
    server.await??;
    let master_key = std::fs::read_to_string(data_dir.join(switchboard::secrets::KEY_FILE))?.trim().to_owned();
    Ok(Setup { database_url, master_key, channel, cookie, admin_id })
}

async fn ingest(setup: &Setup) -> anyhow::Result<()> {
    let rounds: usize = env_or("BENCH_ROUNDS", 2);
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let mut figures: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    println!("ingest: 32 connections spread over the nodes, {seconds} s per round after a 2 s warm-up");
    for round in 0..rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let count = [1, 3][which];
            // BENCH_NODE_WRITERS: each of the three nodes' ingest writers (the group commit's parallel commits).
            let extra: Vec<(String, String)> = match (count, std::env::var("BENCH_NODE_WRITERS")) {
                (3, Ok(w)) => vec![("SWITCHBOARD__INGEST__WRITERS".into(), w)],
                _ => Vec::new(),
            };
            let nodes: Vec<Node> = (0..count).map(|_| Node::start(setup, &extra)).collect::<anyhow::Result<_>>()?;
            for n in &nodes {
                n.ready().await?;
            }
            let urls: Vec<String> =
                nodes.iter().map(|n| format!("{}/webhooks/twilio/{}/messages", n.base(), setup.channel)).collect();
            let prefix = format!("{round}{which}");
            let report = load(&urls, NUMBER, &prefix, 32, Duration::from_secs(2), Duration::from_secs(seconds)).await?;
            anyhow::ensure!(report.errors == 0, "{} requests not answered 200", report.errors);
            let rate = report.unique_measured as f64 / report.elapsed.as_secs_f64();
            let h = &report.latency;
            println!(
                "  round {} · {count} node{} {rate:>6.0} committed/s  p50 {:.1} ms  p99 {:.1} ms",
                round + 1,
                if count == 1 { " " } else { "s" },
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0
            );
            figures[which].push(rate);
            for n in nodes {
                n.stop();
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
    };
    let (one, three) = (median(&figures[0]), median(&figures[1]));
    let ratios: Vec<String> = figures[0].iter().zip(&figures[1]).map(|(a, b)| format!("{:.2}", b / a)).collect();
    println!("  median committed/s   one node {one:.0} · three nodes {three:.0} ({:.2} ×)", three / one);
    println!("  per round            three / one: {}", ratios.join(", "));
    Ok(())
}

async fn s3(setup: &Setup) -> anyhow::Result<()> {
    let moto = std::env::var("SWITCHBOARD_TEST_MOTO").unwrap_or_else(|_| "target/test-venv/bin/moto_server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = Command::new(&moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {moto} (run tests/run.sh once to install it): {e}"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.put(format!("{endpoint}/bench")).send().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "moto did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A 5 MB upload, put straight into the bucket and recorded as an upload.
    let file: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let key = format!("uploads/aa/{}", uuid::Uuid::now_v7().simple());
    client.put(format!("{endpoint}/bench/{key}")).body(file.clone()).send().await?.error_for_status()?;
    let token = "ab".repeat(24);
    let pool = sqlx::PgPool::connect(&setup.database_url).await?;
    sqlx::query(
        "INSERT INTO uploads (id, token, filename, content_type, size_bytes, sha256, storage_path, uploaded_by, expires_at)
         VALUES ($1, $2, 'video.mp4', 'video/mp4', $3, 'x', $4, $5, now() + interval '1 day')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(&token)
    .bind(file.len() as i64)
    .bind(&key)
    .bind(setup.admin_id)
    .execute(&pool)
    .await?;
    let env: Vec<(String, String)> = [
        ("SWITCHBOARD__STORAGE__BACKEND", "s3"),
        ("SWITCHBOARD__STORAGE__S3_BUCKET", "bench"),
        ("SWITCHBOARD__STORAGE__S3_ENDPOINT", endpoint.as_str()),
        ("SWITCHBOARD__STORAGE__S3_ACCESS_KEY_ID", "bench"),
        ("SWITCHBOARD__STORAGE__S3_SECRET_ACCESS_KEY", "bench"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let node = Node::start(setup, &env)?;
    node.ready().await?;
    let url = format!("{}/media/{token}/video.mp4", node.base());
    // Once to warm up, then 8 readers at once, each reading 64 KB every 10 ms (a phone on a slow network).
    let whole = client.get(&url).send().await?.bytes().await?;
    anyhow::ensure!(whole.as_ref() == &file[..], "served bytes differ");
    let before = node.rss_kb();
    let readers: u64 = env_or("BENCH_READERS", 8);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..readers {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            use futures_util::StreamExt;
            let mut body = client.get(&url).send().await?.bytes_stream();
            let mut got = 0usize;
            while let Some(chunk) = body.next().await {
                got += chunk?.len();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            anyhow::Ok(got)
        });
    }
    let sampler = {
        let (peak, pid) = (peak.clone(), node.child.id());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    while let Some(r) = tasks.join_next().await {
        anyhow::ensure!(r?? == file.len(), "a reader got a short file");
    }
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "s3: a 5 MB file to {readers} slow readers at once in {:.1} s: RSS {} → peak {} KB, {:.0} KB per request",
        started.elapsed().as_secs_f64(),
        before,
        peak,
        (peak.saturating_sub(before)) as f64 / readers as f64
    );
    node.stop();
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}

async fn memory(setup: &Setup) -> anyhow::Result<()> {
    let node = Node::start(setup, &[])?;
    node.ready().await?;
    let idle = node.rss_kb();
    // 10,000 customers write once each: 10,000 open conversations.
    let url = format!("{}/webhooks/twilio/{}/messages", node.base(), setup.channel);
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16u64 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            for i in (worker..10_000).step_by(16) {
                let sid = format!("SMeeee{i:028x}");
                let params = common::webhook(&sid, &format!("+1666{i:07}"), NUMBER, i);
                let sig = switchboard::twilio::signature::compute(TOKEN, &url, &params);
                let r = client
                    .post(&url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", sig)
                    .body(common::form(&params))
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 200, "webhook answered {}", r.status());
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let pool = sqlx::PgPool::connect(&setup.database_url).await?;
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations WHERE status <> 'resolved'").fetch_one(&pool).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_conversations = node.rss_kb();
    // 500 agents' inboxes: the live WebSocket each keeps open.
    let mut sockets = Vec::new();
    for _ in 0..500 {
        use futures_util::StreamExt;
        let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{}/api/v1/live",
            node.port
        ))?;
        request.headers_mut().insert("cookie", setup.cookie.parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        ws.next().await; // hello
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_sockets = node.rss_kb();
    println!(
        "memory: one node idle {} MB; {open} open conversations {} MB; and 500 live WebSockets {} MB",
        idle / 1024,
        with_conversations / 1024,
        with_sockets / 1024
    );
    drop(sockets);
    node.stop();
    Ok(())
}
