//! What the benchmarks that run Switchboard as its own process share: the server's and the bare server's
//! processes, the load generator's process (the benchmark's own executable run with `--loadgen`), and CPU and
//! memory readings from `/proc`.

use super::{form, webhook, TOKEN};

/// The WhatsApp number the load writes to.
pub const NUMBER: &str = "+14155238886";
use hdrhistogram::Histogram;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::twilio::signature;

/// What a benchmark that uses the load generator does first: `--list` (a test runner listing tests: there are
/// none) and `--loadgen …` (this process is the generator) are handled here. `None`: run the benchmark.
pub fn as_helper() -> Option<anyhow::Result<()>> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Some(Ok(()));
    }
    let i = args.iter().position(|a| a == "--loadgen")?;
    Some(loadgen(&args[i + 1..]))
}

/// Switchboard's release binary serving on `port` with its defaults, but for the database, its data directory,
/// quiet logs, `BENCH_ENV="NAME=value …"` and `more` (the same form).
pub fn switchboard(
    bin: &str,
    more: &str,
    data: &std::path::Path,
    database_url: &str,
    port: u16,
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("SWITCHBOARD__DATABASE__URL", database_url)
        .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__DATA_DIR", data)
        .env("SWITCHBOARD__LOG__LEVEL", "error")
        // Its first-start banner (the first administrator) is not the benchmark's.
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let settings = format!("{} {more}", std::env::var("BENCH_ENV").unwrap_or_default());
    for pair in settings.split_whitespace() {
        if let Some((k, v)) = pair.split_once('=') {
            cmd.env(k, v);
        }
    }
    Ok(cmd.spawn()?)
}

/// The server binary: `BENCH_SERVER_BIN` (another build, for an A/B of two versions) or this build's.
pub fn server_bin(built: &str) -> String {
    std::env::var("BENCH_SERVER_BIN").unwrap_or_else(|_| built.to_owned())
}

/// A process's resident memory, in KB, from /proc (`None` once it is gone).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// A process's resident memory, in MB.
pub fn rss_mb(pid: u32) -> Option<f64> {
    rss_kb(pid).map(|kb| kb as f64 / 1024.0)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub async fn wait_until_up(port: u16, path: &str, child: &mut Child) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the server exited before serving: {status}");
        }
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "the server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, as an operator stops the server; waits for it to exit.
pub fn stop(mut child: Child) -> anyhow::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)?;
    child.wait()?;
    Ok(())
}

pub fn ticks_per_second() -> f64 {
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// A process's user + system CPU so far, in µs (its threads included).
pub fn process_cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000.0 / ticks_per_second())
}

pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// Of the requests sent in the first 5 s.
    pub p99_first: f64,
}

pub struct LoadResult {
    pub errors: u64,
    pub latency: Latency,
}

pub fn parse_load(line: &str) -> anyhow::Result<LoadResult> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(LoadResult {
        errors: v["errors"].as_u64().unwrap_or(0),
        latency: Latency { p50: f("p50"), p90: f("p90"), p99: f("p99"), max: f("max"), p99_first: f("p99_first") },
    })
}

/// Starts the load generator's process (this executable with `--loadgen`): `connections` connections post for
/// `seconds`, as `customers` customers (new ones in `round`), then it prints its figures (see [`parse_load`]).
pub fn spawn_loadgen(
    url: &str,
    round: usize,
    connections: usize,
    seconds: u64,
    customers: u64,
) -> anyhow::Result<tokio::process::Child> {
    Ok(tokio::process::Command::new(std::env::current_exe()?)
        .args(["--loadgen", url, &round.to_string(), &connections.to_string(), &seconds.to_string()])
        .arg(customers.to_string())
        .stdout(Stdio::piped())
        .spawn()?)
}

/// The load generator's process: `--loadgen URL ROUND CONNECTIONS SECONDS CUSTOMERS`. Prints one JSON line.
pub fn loadgen(args: &[String]) -> anyhow::Result<()> {
    let url = args[0].clone();
    let round: u64 = args[1].parse()?;
    let concurrency: usize = args[2].parse()?;
    let seconds: u64 = args[3].parse()?;
    let customers: u64 = args[4].parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(async move {
        let uri: hyper::Uri = url.parse()?;
        let authority = uri.authority().expect("URL with a host").clone();
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let stop_at = start + Duration::from_secs(seconds);
        let first_until = start + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (uri, authority, next, url) = (uri.clone(), authority.clone(), next.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
                stream.set_nodelay(true)?;
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
                tokio::spawn(connection);
                let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut first = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut errors = 0u64;
                while Instant::now() < stop_at {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    // Customers in turn: the first `customers` messages each start a conversation.
                    let sid = format!("SM{round:02}{n:030x}");
                    let customer = format!("+1555{round:02}{:05}", n % customers);
                    let params = webhook(&sid, &customer, NUMBER, n);
                    let sig = signature::compute(TOKEN, &url, &params);
                    let request = hyper::Request::post(uri.clone())
                        .header(hyper::header::HOST, authority.as_str())
                        .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .header("X-Twilio-Signature", sig)
                        .body(http_body_util::Full::new(bytes::Bytes::from(form(&params))))?;
                    let sent = Instant::now();
                    let ok = match sender.send_request(request).await {
                        Ok(r) => {
                            use http_body_util::BodyExt;
                            r.status() == 200 && r.into_body().collect().await.is_ok()
                        }
                        Err(_) => false,
                    };
                    let took = sent.elapsed().as_micros().max(1) as u64;
                    errors += u64::from(!ok);
                    all.record(took)?;
                    if sent < first_until {
                        first.record(took)?;
                    }
                }
                anyhow::Ok((all, first, errors))
            }));
        }
        let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut first = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut errors = 0;
        for t in tasks {
            let (a, f, e) = t.await??;
            all.add(a)?;
            first.add(f)?;
            errors += e;
        }
        let ms = |v: u64| v as f64 / 1000.0;
        println!(
            "{}",
            serde_json::json!({
                "errors": errors,
                "p50": ms(all.value_at_quantile(0.5)), "p90": ms(all.value_at_quantile(0.9)),
                "p99": ms(all.value_at_quantile(0.99)), "max": ms(all.max()),
                "p99_first": ms(first.value_at_quantile(0.99)),
            })
        );
        anyhow::Ok(())
    })
}
