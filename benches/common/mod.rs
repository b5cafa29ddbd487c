//! What the load benchmarks share: the database they run against, and the inbound load generator.
#![allow(dead_code)]

pub mod external;

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::database::embedded::EmbeddedPostgres;
use switchboard::twilio::signature;

/// An environment variable's value, or `default` when unset or unreadable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The PostgreSQL server for a benchmark: `SWITCHBOARD_BENCH_DATABASE_URL`'s when set, else the embedded
/// PostgreSQL in `dir` with its durable defaults (the product's out-of-the-box setup). Returns a URL that
/// [`create_database`] can create databases from (the given one, or the embedded cluster's database), the embedded
/// cluster to stop afterwards (if one was started), and a label for the report.
pub async fn server(dir: &std::path::Path) -> anyhow::Result<(String, Option<EmbeddedPostgres>, String)> {
    if let Ok(admin) = std::env::var("SWITCHBOARD_BENCH_DATABASE_URL") {
        return Ok((admin, None, "external PostgreSQL".to_owned()));
    }
    let pg = EmbeddedPostgres::start(dir, None).await?;
    let opts = pg.connect_options();
    let url = format!(
        "postgres://{}@localhost/{}?host={}",
        switchboard::database::embedded::SUPERUSER,
        switchboard::database::embedded::DATABASE,
        opts.get_host()
    );
    Ok((url, Some(pg), "embedded PostgreSQL (durable defaults: fsync on, synchronous_commit on)".to_owned()))
}

/// The database for a benchmark: a fresh one in `SWITCHBOARD_BENCH_DATABASE_URL`'s server when set, else the
/// embedded cluster's own (see [`server`]).
pub async fn database(dir: &std::path::Path) -> anyhow::Result<(String, Option<EmbeddedPostgres>, String)> {
    let (url, embedded, label) = server(dir).await?;
    let url = if embedded.is_none() { create_database(&url, "bench").await? } else { url };
    Ok((url, embedded, label))
}

/// A new, empty database `sb_<label>_<random>` in the server of `admin_url`; its URL (with `admin_url`'s query,
/// such as the embedded cluster's socket directory).
pub async fn create_database(admin_url: &str, label: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let db = format!("sb_{label}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut conn).await?;
    let (head, query) = match admin_url.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let base = head.rsplit_once('/').expect("a URL with a database").0;
    Ok(format!("{base}/{db}{query}"))
}

/// A channel with one number on the load generator's account (its Auth Token signs the webhooks), as the CLI
/// creates it, with the master key of `data_dir`.
pub async fn channel(
    pool: &sqlx::PgPool,
    data_dir: &std::path::Path,
    name: &str,
    number: &str,
) -> anyhow::Result<uuid::Uuid> {
    use switchboard::channels::{self, NewChannel, NewChannelTarget};
    use switchboard::domain::{AccountSid, E164};
    let secrets = switchboard::secrets::SecretBox::load_or_create(None, data_dir)?;
    let new = NewChannel {
        name: name.into(),
        account_sid: AccountSid::parse(ACCOUNT_SID)?,
        auth_token: secrecy::SecretString::from(TOKEN.to_owned()),
        api_key: None,
        target: NewChannelTarget::Numbers(vec![(name.into(), E164::parse(number)?)]),
    };
    Ok(channels::create(pool, &secrets, &new).await?)
}

/// An admin API token, written straight into the database (the bench's client of the API).
pub async fn admin_token(pool: &sqlx::PgPool) -> anyhow::Result<String> {
    let token = switchboard::auth::secret_token::generate("sb_");
    switchboard::store::api_tokens::insert(
        &mut *pool.acquire().await?,
        &switchboard::store::api_tokens::NewToken {
            name: "bench",
            token_hash: &switchboard::auth::secret_token::hash(&token),
            prefix: &token[..8],
            role: "admin",
            permissions: None,
            created_by: None,
            expires_at: None,
        },
    )
    .await?;
    Ok(token)
}

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "bench-auth-token-0123456789abcdef";
/// Customers the load writes as (each new at first, then writing again).
pub const CUSTOMERS: u64 = 2_000;
pub const MAX_REQUESTS: u64 = 400_000;

/// What one load run measured.
pub struct Report {
    pub requests: u64,
    pub repeats: u64,
    pub errors: u64,
    pub unique_measured: u64,
    pub unique_total: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

/// One HTTP/1.1 keep-alive connection per task, as wrk does: no pool, no shared state but a counter, so the
/// generator takes as little of the machine's two cores as it can. Connection `i` posts to `urls[i % n]` (each
/// URL signed as itself: every node's public URL is its own address here).
pub async fn load(
    urls: &[String],
    to: &str,
    prefix: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Report> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + measure;
    let mut tasks = Vec::new();
    for worker in 0..concurrency as u64 {
        let url = urls[worker as usize % urls.len()].clone();
        let uri: hyper::Uri = url.parse()?;
        let authority = uri.authority().expect("URL with a host").clone();
        let next = next.clone();
        let (to, prefix) = (to.to_owned(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(authority.as_str()).await.expect("connect");
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut requests, mut repeats, mut errors, mut unique_measured, mut unique_total) =
                (0u64, 0u64, 0u64, 0u64, 0u64);
            let mut last_sid: Option<String> = None;
            loop {
                let now = Instant::now();
                if now >= stop_at {
                    break;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= MAX_REQUESTS {
                    break;
                }
                // Every twentieth request repeats this connection's previous message, as a Twilio retry would.
                let (sid, repeat) = match (&last_sid, n % 20 == 19) {
                    (Some(s), true) => (s.clone(), true),
                    _ => (format!("SM{prefix}{:030x}", (worker << 40) | n), false),
                };
                let customer = format!("+1555{prefix}{:05}", n % CUSTOMERS);
                let params = webhook(&sid, &customer, &to, n);
                let sig = signature::compute(TOKEN, &url, &params);
                let body = form(&params);
                let sent = Instant::now();
                let request = hyper::Request::post(uri.clone())
                    .header(hyper::header::HOST, authority.as_str())
                    .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", sig)
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .unwrap();
                let ok = match sender.send_request(request).await {
                    Ok(r) => {
                        let status = r.status();
                        use http_body_util::BodyExt;
                        status == 200 && r.into_body().collect().await.is_ok()
                    }
                    Err(_) => false,
                };
                let took = sent.elapsed();
                if !ok {
                    errors += 1;
                }
                if !repeat {
                    unique_total += 1;
                }
                if sent >= measure_from {
                    requests += 1;
                    repeats += repeat as u64;
                    unique_measured += (!repeat) as u64;
                    hist.record(took.as_micros().max(1) as u64).unwrap();
                }
                last_sid = Some(sid);
            }
            (hist, requests, repeats, errors, unique_measured, unique_total)
        }));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut requests, mut repeats, mut errors, mut unique_measured, mut unique_total) = (0, 0, 0, 0, 0);
    for t in tasks {
        let (h, r, rp, e, um, ut) = t.await?;
        latency.add(h)?;
        requests += r;
        repeats += rp;
        errors += e;
        unique_measured += um;
        unique_total += ut;
    }
    let elapsed = Instant::now().min(stop_at).saturating_duration_since(measure_from);
    Ok(Report { requests, repeats, errors, unique_measured, unique_total, elapsed, latency })
}

pub fn webhook(sid: &str, customer: &str, to: &str, n: u64) -> Vec<(String, String)> {
    let wa_id = &customer[1..];
    let body = format!("Hola, ¿tienen el pedido #{n}? Gracias 🙏");
    [
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ProfileName", "Cliente de prueba"),
        ("MessageType", "text"),
        ("SmsSid", sid),
        ("WaId", wa_id),
        ("SmsStatus", "received"),
        ("Body", &body),
        ("To", &format!("whatsapp:{to}")),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{customer}")),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn form(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}
