//! The live feed under load: Switchboard's release binary serving on its own, a separate load-generator process
//! posting signed webhooks from new customers (as `ingest_external`), and `BENCH_SOCKETS` (500) inboxes' WebSockets
//! on `/api/v1/live` held by this process: a tenth supervisors (who see everything), the rest agents who see
//! their own conversations (members of no queue or number here, so their filter passes little).
//!
//! Rounds alternate without and with the sockets open (`BENCH_ROUNDS` pairs, default 2), each with new customers,
//! and print ingest's committed messages/s and p99 in each, the frames the sockets got, live delivery latency
//! (from the message's commit batch, `messages.created_at`, to a supervisor's socket receiving its change), and
//! the server's RSS: idle, with the sockets open at the end of the load, and 5 s after they closed.
//!
//! Run: `cargo bench --bench live_load`. `BENCH_SECONDS` (10), `BENCH_CONCURRENCY` (32), `BENCH_CUSTOMERS`
//! (10,000), `BENCH_SOCKETS` (500), `BENCH_ENV` (server settings for A/B runs).

mod common;

use common::env_or;
use common::external::{self as ext, NUMBER};
use futures_util::StreamExt;
use std::time::{Duration, Instant, SystemTime};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
use uuid::Uuid;

fn main() -> anyhow::Result<()> {
    if let Some(done) = ext::as_helper() {
        return done;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(run())
}

/// What one socket saw: (message id, when it arrived) for each message change, and how many frames in all.
#[derive(Default)]
struct Seen {
    messages: Vec<(Uuid, SystemTime)>,
    frames: u64,
    resyncs: u64,
}

async fn run() -> anyhow::Result<()> {
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let customers: u64 = env_or("BENCH_CUSTOMERS", 10_000);
    let sockets: usize = env_or("BENCH_SOCKETS", 500);
    let pairs: usize = env_or("BENCH_ROUNDS", 2);
    let supervisors = sockets / 10;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let (admin_url, mut embedded, label) = common::server(dir.path()).await?;
    let url = common::create_database(&admin_url, "ext_live").await?;
    let port = ext::free_port()?;
    let data = dir.path().join("data");
    let mut server = ext::switchboard(&ext::server_bin(env!("CARGO_BIN_EXE_switchboard")), "", &data, &url, port)?;
    ext::wait_until_up(port, "/readyz", &mut server).await?;
    let pid = server.id();
    let pool = sqlx::PgPool::connect(&url).await?;
    let channel = common::channel(&pool, &data, "Bench", NUMBER).await?;
    let webhook = format!("http://127.0.0.1:{port}/webhooks/twilio/{channel}/messages");
    let cookies = people(&pool, supervisors, sockets - supervisors).await?;
    println!("live feed load — {label}");
    println!(
        "  load                 {concurrency} connections from a separate process, {customers} new customers per round, {seconds} s per round"
    );
    println!(
        "  sockets              {sockets}: {supervisors} supervisors (see everything), {} agents (their own)",
        sockets - supervisors
    );
    let mut rates: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    let idle = ext::rss_mb(pid).unwrap_or(0.0);
    println!("  server RSS idle      {idle:.1} MB");
    for round in 0..pairs * 2 {
        let with_sockets = round % 2 == 1;
        let (stop, holders) = if with_sockets {
            let stop = tokio_util::sync::CancellationToken::new();
            let mut holders = Vec::new();
            for (i, cookie) in cookies.iter().enumerate() {
                holders.push(tokio::spawn(hold(port, cookie.clone(), i < supervisors, stop.clone())));
            }
            // Every socket has said hello before the load starts.
            tokio::time::sleep(Duration::from_secs(2)).await;
            (Some(stop), holders)
        } else {
            (None, Vec::new())
        };
        let cpu_before = (ext::process_cpu_us(pid), ext::process_cpu_us(std::process::id()));
        let before: i64 =
            sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'").fetch_one(&pool).await?;
        let started = Instant::now();
        let round_start: f64 = sqlx::query_scalar("SELECT extract(epoch FROM now())::float8").fetch_one(&pool).await?;
        let generator = ext::spawn_loadgen(&webhook, round, concurrency, seconds, customers)?;
        let output = generator.wait_with_output().await?;
        let load = ext::parse_load(String::from_utf8(output.stdout)?.trim())?;
        let (count, span): (i64, f64) = sqlx::query_as(
            "SELECT count(*), COALESCE(extract(epoch FROM max(created_at) - min(created_at))::float8, 0)
             FROM (SELECT created_at FROM messages WHERE direction = 'inbound' ORDER BY created_at OFFSET $1) m",
        )
        .bind(before)
        .fetch_one(&pool)
        .await?;
        let rate = count as f64 / span.max(1e-3);
        let cpu_after = (ext::process_cpu_us(pid), ext::process_cpu_us(std::process::id()));
        let per_message = |a: Option<f64>, b: Option<f64>| (b.unwrap_or(0.0) - a.unwrap_or(0.0)) / count.max(1) as f64;
        println!("  round {} · {}", round + 1, if with_sockets { "sockets open" } else { "no sockets" });
        println!(
            "    ingest               {rate:.0} committed/s · p50 {:.2} ms · p99 {:.2} ms · {} errors · {:.1} s",
            load.latency.p50,
            load.latency.p99,
            load.errors,
            started.elapsed().as_secs_f64()
        );
        println!(
            "    CPU µs per message   server {:.0} · this process (the sockets' clients) {:.0}",
            per_message(cpu_before.0, cpu_after.0),
            per_message(cpu_before.1, cpu_after.1)
        );
        rates[usize::from(with_sockets)].push((rate, load.latency.p99));
        if !with_sockets {
            println!("    server RSS           {:.1} MB", ext::rss_mb(pid).unwrap_or(0.0));
        }
        if let Some(stop) = stop {
            // What the sockets hold until the last change reached them.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let open = ext::rss_mb(pid).unwrap_or(0.0);
            stop.cancel();
            let mut seen = Vec::new();
            for h in holders {
                seen.push(h.await??);
            }
            let frames: u64 = seen.iter().map(|s| s.frames).sum();
            let resyncs: u64 = seen.iter().map(|s| s.resyncs).sum();
            let mut delivered: Vec<(Uuid, SystemTime)> =
                seen.iter().take(supervisors).flat_map(|s| s.messages.iter().copied()).collect();
            let ids: Vec<Uuid> = delivered.iter().map(|(id, _)| *id).collect();
            let created: std::collections::HashMap<Uuid, f64> = sqlx::query_as::<_, (Uuid, f64)>(
                // This round's customers' messages only: a change to a message of the business (its status moving
                // on) comes later than its creation by design.
                "SELECT id, extract(epoch FROM created_at)::float8 FROM messages
                 WHERE id = ANY($1) AND direction = 'inbound' AND created_at >= to_timestamp($2)",
            )
            .bind(&ids)
            .bind(round_start)
            .fetch_all(&pool)
            .await?
            .into_iter()
            .collect();
            let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
            delivered.retain(|(id, _)| created.contains_key(id));
            // A supervisor's socket got each customer's message once.
            let mut once = std::collections::HashSet::new();
            for (i, s) in seen.iter().take(supervisors).enumerate() {
                for (id, _) in &s.messages {
                    anyhow::ensure!(
                        once.insert((i, *id)) || !created.contains_key(id),
                        "a message's change came twice"
                    );
                }
            }
            for (id, at) in &delivered {
                let at = at.duration_since(SystemTime::UNIX_EPOCH)?.as_secs_f64();
                latency.record(((at - created[id]) * 1e6).max(1.0) as u64)?;
            }
            let expected = count as u64 * supervisors as u64;
            println!(
                "    frames received      {frames} ({resyncs} resyncs); supervisors got {} changes of the round's {expected} customers' messages",
                delivered.len()
            );
            println!(
                "    live delivery ms     p50 {:.1} · p99 {:.1} · max {:.1}",
                latency.value_at_quantile(0.5) as f64 / 1000.0,
                latency.value_at_quantile(0.99) as f64 / 1000.0,
                latency.max() as f64 / 1000.0
            );
            tokio::time::sleep(Duration::from_secs(5)).await;
            let closed = ext::rss_mb(pid).unwrap_or(0.0);
            let open_conversations: i64 =
                sqlx::query_scalar("SELECT count(*) FROM conversations WHERE status <> 'resolved'")
                    .fetch_one(&pool)
                    .await?;
            println!(
                "    server RSS           {open:.1} MB with the sockets open ({open_conversations} open conversations) · {closed:.1} MB 5 s after they closed (idle was {idle:.1})"
            );
        }
    }
    let median = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = v.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (plain, open) = (median(&rates[0], |r| r.0), median(&rates[1], |r| r.0));
    println!(
        "  medians              no sockets {plain:.0}/s p99 {:.2} ms · {sockets} sockets {open:.0}/s p99 {:.2} ms ({:.0} % of the rate without)",
        median(&rates[0], |r| r.1),
        median(&rates[1], |r| r.1),
        open / plain * 100.0
    );
    pool.close().await;
    ext::stop(server)?;
    if let Some(pg) = embedded.as_mut() {
        pg.stop().await?;
    }
    Ok(())
}

/// `supervisors` supervisors and `agents` agents, each with a session: their session cookies, supervisors first.
async fn people(pool: &sqlx::PgPool, supervisors: usize, agents: usize) -> anyhow::Result<Vec<String>> {
    use switchboard::auth::secret_token;
    let mut cookies = Vec::new();
    let mut conn = pool.acquire().await?;
    for i in 0..supervisors + agents {
        let role = if i < supervisors { "supervisor" } else { "agent" };
        // No password: these people never log in, their sessions are written here.
        let user = switchboard::store::users::insert(
            &mut conn,
            &format!("p{i}@bench.example"),
            &format!("Person {i}"),
            role,
            "!",
            false,
        )
        .await?;
        let token = secret_token::generate("");
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(8);
        switchboard::store::users::create_session(&mut conn, &secret_token::hash(&token), user.id, "csrf", expires)
            .await?;
        cookies.push(format!("{}={token}", switchboard::auth::SESSION_COOKIE));
    }
    Ok(cookies)
}

/// One inbox's socket, open until `stop`: what it saw.
async fn hold(
    port: u16,
    cookie: String,
    supervisor: bool,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Seen> {
    let mut request = format!("ws://127.0.0.1:{port}/api/v1/live").into_client_request()?;
    request.headers_mut().insert("Cookie", cookie.parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let mut seen = Seen::default();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let at = SystemTime::now();
                    seen.frames += 1;
                    // Read as little as possible: this process shares the machine with the server.
                    if text.contains(r#""type":"resync""#) {
                        seen.resyncs += 1;
                    } else if supervisor {
                        // One change, or several in one frame: each an object with its keys in order
                        // (`conversation_id`, `id`, `kind`, `type`).
                        for change in text.split(r#"{"conversation_id":"#).skip(1) {
                            if !change.contains(r#""kind":"message""#) {
                                continue;
                            }
                            let id = change.split(r#""id":""#).nth(1).and_then(|rest| rest.get(..36));
                            if let Some(id) = id.and_then(|s| s.parse().ok()) {
                                seen.messages.push((id, at));
                            }
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => anyhow::bail!("socket failed: {e}"),
                None => anyhow::bail!("the server closed a socket"),
            }
        }
    }
    let _ = socket.close(None).await;
    Ok(seen)
}
