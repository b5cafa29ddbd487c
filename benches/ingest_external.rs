//! Ingest as a customer's machine sees it: Switchboard's release binary serving on its own (`switchboard serve`,
//! defaults but for the database and address), a separate load-generator process (this benchmark run again
//! with `--loadgen`, one HTTP/1.1 keep-alive connection per task, as wrk does), and correctly signed WhatsApp
//! webhooks with unique MessageSids from `BENCH_CUSTOMERS` (10,000) customers, all new at first (a fresh
//! database per round). Nothing is warmed up: the first second counts.
//!
//! Prints, per round: committed messages/s (rows counted, divided by the span of their commit batches, not the
//! client's clock), the committed rate of each of the first seconds and of the slowest full second, latency
//! percentiles (all requests, and those of the first 5 s), and the machine's CPU split: what the server, the
//! PostgreSQL processes and the load generator used, per message, and how idle the machine was.
//!
//! `BENCH_BARE_BIN=path/to/bare-ingest` (the bare one-statement server of `../shared/bench/bare-ingest`, built
//! with `cargo build --release` outside the project) interleaves rounds of the same load against it, each with
//! its own fresh database, and prints both medians side by side.
//!
//! Run: `cargo bench --bench ingest_external` (embedded PostgreSQL with its durable defaults; or
//! `SWITCHBOARD_BENCH_DATABASE_URL=postgres://…/postgres`). `BENCH_SECONDS` (20), `BENCH_CONCURRENCY` (32),
//! `BENCH_ROUNDS` (3), `BENCH_ENV="NAME=value …"` (settings for the server).
//!
//! An A/B of two versions or two settings, interleaved in one run: `BENCH_B_BIN=path/to/other/switchboard`
//! and/or `BENCH_B_ENV="NAME=value …"` add a target "B" (the other binary, or this one with other settings).

mod common;

use common::env_or;
use common::external::{self as ext, Latency, LoadResult, NUMBER};
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    if let Some(done) = ext::as_helper() {
        return done;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run())
}

/// One round's load: which round (its customers are new), connections, seconds, customers.
#[derive(Clone, Copy)]
struct Shape {
    round: usize,
    concurrency: usize,
    seconds: u64,
    customers: u64,
}

#[derive(Clone, PartialEq)]
enum Target {
    /// A Switchboard binary (`None`: this build's) and settings added to `BENCH_ENV`'s.
    Switchboard(&'static str, Option<String>, String),
    Bare,
}

struct Round {
    committed: u64,
    rate: f64,
    first_seconds: Vec<u64>,
    slowest_second: u64,
    latency: Latency,
    cpu: Cpu,
    errors: u64,
}

async fn run() -> anyhow::Result<()> {
    let seconds: u64 = env_or("BENCH_SECONDS", 20);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let customers: u64 = env_or("BENCH_CUSTOMERS", 10_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let bare = std::env::var("BENCH_BARE_BIN").ok();
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let (admin_url, mut embedded, label) = common::server(dir.path()).await?;
    println!("external ingest load — {label}");
    println!("  load                 {concurrency} connections from a separate process, {customers} customers new at first, {seconds} s per round, no warm-up");
    let mut targets = vec![Target::Switchboard("Switchboard", None, String::new())];
    let (b_bin, b_env) = (std::env::var("BENCH_B_BIN").ok(), std::env::var("BENCH_B_ENV").unwrap_or_default());
    if b_bin.is_some() || !b_env.is_empty() {
        targets[0] = Target::Switchboard("A", None, String::new());
        targets.push(Target::Switchboard("B", b_bin, b_env));
    }
    if bare.is_some() {
        targets.push(Target::Bare);
    }
    let mut results: Vec<Vec<Round>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for t in order {
            let target = targets[t].clone();
            let url = common::create_database(&admin_url, &format!("ext_round{round}_{t}")).await?;
            let shape = Shape { round, concurrency, seconds, customers };
            let r = match &target {
                Target::Switchboard(_, bin, env) => {
                    let bin = bin.clone().unwrap_or_else(|| ext::server_bin(env!("CARGO_BIN_EXE_switchboard")));
                    let data = dir.path().join(format!("data-{round}-{t}"));
                    switchboard_round(&bin, env.as_str(), &data, &url, shape).await?
                }
                Target::Bare => bare_round(bare.as_deref().unwrap_or_default(), &url, shape).await?,
            };
            print_round(round, &target, &r);
            results[t].push(r);
        }
    }
    if rounds > 1 || targets.len() > 1 {
        println!("  medians over {rounds} rounds");
        for (t, target) in targets.iter().enumerate() {
            let rs = &results[t];
            let med = |f: &dyn Fn(&Round) -> f64| {
                let mut v: Vec<f64> = rs.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "    {:<12} committed/s {:>6.0} · p99 {:>6.2} ms · p99 first 5 s {:>6.2} ms · slowest second {:>5.0} · CPU µs/msg server {:.0}, PostgreSQL {:.0}, generator {:.0} · idle {:.0} %",
                name(target),
                med(&|r| r.rate),
                med(&|r| r.latency.p99),
                med(&|r| r.latency.p99_first),
                med(&|r| r.slowest_second as f64),
                med(&|r| r.cpu.server_us / r.committed as f64),
                med(&|r| r.cpu.postgres_us / r.committed as f64),
                med(&|r| r.cpu.generator_us / r.committed as f64),
                med(&|r| r.cpu.idle_share * 100.0),
            );
        }
    }
    if let Some(pg) = embedded.as_mut() {
        pg.stop().await?;
    }
    Ok(())
}

fn name(t: &Target) -> &'static str {
    match t {
        Target::Switchboard(name, ..) => name,
        Target::Bare => "bare server",
    }
}

fn print_round(round: usize, target: &Target, r: &Round) {
    println!("  round {} · {}", round + 1, name(target));
    println!("    committed messages   {} ({} non-200 answers)", r.committed, r.errors);
    println!("    committed/s          {:.0}", r.rate);
    println!(
        "    first seconds        {} · slowest full second {}",
        r.first_seconds.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
        r.slowest_second
    );
    println!(
        "    latency ms           p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} · first 5 s p99 {:.2}",
        r.latency.p50, r.latency.p90, r.latency.p99, r.latency.max, r.latency.p99_first
    );
    let per = |us: f64| us / r.committed.max(1) as f64;
    println!(
        "    CPU µs per message   server {:.0} · PostgreSQL {:.0} · load generator {:.0} · machine idle {:.0} %",
        per(r.cpu.server_us),
        per(r.cpu.postgres_us),
        per(r.cpu.generator_us),
        r.cpu.idle_share * 100.0
    );
}

async fn switchboard_round(
    bin: &str,
    env: &str,
    data: &std::path::Path,
    database_url: &str,
    shape: Shape,
) -> anyhow::Result<Round> {
    let port = ext::free_port()?;
    let mut child = ext::switchboard(bin, env, data, database_url, port)?;
    ext::wait_until_up(port, "/readyz", &mut child).await?;
    let pool = sqlx::PgPool::connect(database_url).await?;
    let channel = common::channel(&pool, data, "Bench", NUMBER).await?;
    let url = format!("http://127.0.0.1:{port}/webhooks/twilio/{channel}/messages");
    let run = drive(child.id(), &url, shape).await;
    ext::stop(child)?;
    let (load, cpu) = run?;
    let times: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM created_at)::float8 FROM messages WHERE direction = 'inbound' ORDER BY created_at",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    Ok(round_of(times, load, cpu))
}

async fn bare_round(bin: &str, database_url: &str, shape: Shape) -> anyhow::Result<Round> {
    let port = ext::free_port()?;
    let opts: sqlx::postgres::PgConnectOptions = database_url.parse()?;
    let mut child = Command::new(bin)
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("TWILIO_AUTH_TOKEN", common::TOKEN)
        .env("PG_HOST", opts.get_host())
        .env("PG_PORT", opts.get_port().to_string())
        .env("PG_USER", opts.get_username())
        .env("PG_DB", opts.get_database().unwrap_or("postgres"))
        .stdout(Stdio::null())
        .spawn()?;
    ext::wait_until_up(port, "/hello", &mut child).await?;
    let url = format!("http://127.0.0.1:{port}/webhook-cte");
    let run = drive(child.id(), &url, shape).await;
    ext::stop(child)?;
    let (load, cpu) = run?;
    let pool = sqlx::PgPool::connect(database_url).await?;
    let times: Vec<f64> =
        sqlx::query_scalar("SELECT extract(epoch FROM created_at)::float8 FROM messages ORDER BY created_at")
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    Ok(round_of(times, load, cpu))
}

fn round_of(times: Vec<f64>, load: LoadResult, cpu: Cpu) -> Round {
    let committed = times.len() as u64;
    let (first, last) = (times.first().copied().unwrap_or(0.0), times.last().copied().unwrap_or(0.0));
    let rate = committed as f64 / (last - first).max(1e-3);
    let mut per_second = vec![0u64; ((last - first) as usize) + 1];
    for t in &times {
        per_second[(t - first) as usize] += 1;
    }
    let full = &per_second[..per_second.len().saturating_sub(1)];
    Round {
        committed,
        rate,
        first_seconds: per_second.iter().take(5).copied().collect(),
        slowest_second: full.iter().copied().min().unwrap_or(0),
        latency: load.latency,
        cpu,
        errors: load.errors,
    }
}

/// Runs the load generator process against `url`, measuring the CPU the server, PostgreSQL and the generator use.
async fn drive(server: u32, url: &str, s: Shape) -> anyhow::Result<(LoadResult, Cpu)> {
    let before = CpuSample::take(server)?;
    let mut generator = ext::spawn_loadgen(url, s.round, s.concurrency, s.seconds, s.customers)?;
    let generator_pid = generator.id().unwrap_or(0);
    // The generator's own CPU: its last reading from /proc before it exits.
    let mut last_generator = 0.0;
    let output = loop {
        if let Some(_status) = generator.try_wait()? {
            break generator.wait_with_output().await?;
        }
        last_generator = ext::process_cpu_us(generator_pid).unwrap_or(last_generator);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let after = CpuSample::take(server)?;
    let text = String::from_utf8(output.stdout)?;
    let load: LoadResult = ext::parse_load(text.trim())?;
    let cpu = Cpu {
        server_us: after.server - before.server,
        postgres_us: after.postgres - before.postgres,
        generator_us: last_generator,
        idle_share: (after.idle - before.idle) / (after.total - before.total).max(1.0),
    };
    Ok((load, cpu))
}

struct Cpu {
    server_us: f64,
    postgres_us: f64,
    generator_us: f64,
    idle_share: f64,
}

struct CpuSample {
    server: f64,
    postgres: f64,
    idle: f64,
    total: f64,
}

impl CpuSample {
    fn take(server: u32) -> anyhow::Result<Self> {
        let server = ext::process_cpu_us(server).unwrap_or(0.0);
        let mut postgres = 0.0;
        for entry in std::fs::read_dir("/proc")? {
            let name = entry?.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            if stat.contains("(postgres)") {
                postgres += ext::process_cpu_us(pid).unwrap_or(0.0);
            }
        }
        let stat = std::fs::read_to_string("/proc/stat")?;
        let cpu: Vec<f64> =
            stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let tick = 1_000_000.0 / ext::ticks_per_second();
        let total = cpu.iter().sum::<f64>() * tick;
        let idle = (cpu.get(3).copied().unwrap_or(0.0) + cpu.get(4).copied().unwrap_or(0.0)) * tick;
        Ok(Self { server, postgres, idle, total })
    }
}
