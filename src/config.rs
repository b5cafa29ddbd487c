//! Typed configuration: `config/default.toml` (compiled in), an optional file, then `SWITCHBOARD__…`
//! environment variables. Deserialised once at start-up; a wrong value stops start-up with one line that names
//! the setting. Secrets are held in `SecretString`, whose `Debug` prints `[redacted]`.
//!
//! Every setting's type and its range check stand together here, so that adding a setting is one edit (plus
//! `config/default.toml` and the README's table) and `validate` sees every section at once; how an empty value
//! reads as "not set" is in [`empty`].

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

mod empty;

const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "SWITCHBOARD";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub secrets: SecretSettings,
    pub twilio: TwilioSettings,
    pub auth: AuthSettings,
    pub ingest: IngestSettings,
    pub media: MediaSettings,
    pub storage: StorageSettings,
    pub metrics: MetricsSettings,
    pub outbound: OutboundSettings,
    pub sandbox: SandboxSettings,
    pub jobs: JobSettings,
    pub routing: RoutingSettings,
    pub ai: AiSettings,
    pub notifications: NotificationSettings,
    pub webhooks: WebhookSettings,
    pub reports: ReportSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: SocketAddr,
    #[serde(deserialize_with = "empty::optional_url")]
    pub public_url: Option<Url>,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// A request's head must arrive within this; an idle keep-alive connection is closed after it.
    pub header_read_timeout_secs: u64,
    /// Connections open at once; past it new ones are closed (lowered to what the open-files limit allows).
    pub max_connections: usize,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client; from anyone else
    /// the header is ignored.
    pub trusted_proxies: Vec<crate::domain::cidr::Cidr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(deserialize_with = "empty::optional_secret")]
    pub url: Option<SecretString>,
    /// A read-only replica's URL for reports (empty: they read from `url`).
    #[serde(deserialize_with = "empty::optional_secret")]
    pub read_url: Option<SecretString>,
    pub max_connections: u32,
    #[serde(deserialize_with = "empty::optional_path")]
    pub postgres_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    #[serde(deserialize_with = "empty::optional_secret")]
    pub master_key: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub api_base_url: Url,
    pub content_base_url: Url,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub session_hours: i64,
    pub login_window_secs: u64,
    pub max_failures_per_account: i32,
    pub max_failures_per_address: i32,
    pub bootstrap_admin_email: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub writers: usize,
    pub max_batch: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    pub max_bytes: u64,
    pub download_timeout_secs: u64,
    /// Follow a media redirect to a private or loopback address (a media CDN on a private network). Off: only
    /// public addresses, so a webhook's MediaUrl cannot make the server fetch from the inside.
    pub allow_private_redirects: bool,
}

/// Where files live (see `storage`): the data directory, or an S3-compatible bucket every node shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub backend: StorageBackend,
    pub s3_bucket: String,
    /// The bucket's region (`us-east-1` for most S3-compatible servers).
    pub s3_region: String,
    /// An S3-compatible server's address (MinIO, Ceph, R2); empty: AWS S3 itself.
    #[serde(deserialize_with = "empty::optional_url")]
    pub s3_endpoint: Option<Url>,
    /// Keys under this prefix, so that one bucket can hold several installations.
    pub s3_prefix: String,
    /// Empty: the `AWS_ACCESS_KEY_ID` environment variable (or the machine's role).
    #[serde(deserialize_with = "empty::optional_secret")]
    pub s3_access_key_id: Option<SecretString>,
    #[serde(deserialize_with = "empty::optional_secret")]
    pub s3_secret_access_key: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// `data_dir/media` and `data_dir/uploads`: one node, or nodes sharing a network file system.
    Local,
    S3,
}

/// `GET /metrics` (Prometheus text format): on its own address, or on the main one behind a token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// A separate address that serves `/metrics` alone, without a token (keep it on a private network).
    #[serde(deserialize_with = "empty::optional_socket")]
    pub bind: Option<SocketAddr>,
    /// Serves `/metrics` on `http.bind` too, to requests with `Authorization: Bearer <token>`.
    #[serde(deserialize_with = "empty::optional_secret")]
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSettings {
    /// Attempts at handing one message to Twilio before it is `failed` (retryable errors only).
    pub max_attempts: i32,
    /// Messages per second per sender (a WhatsApp number or a Messaging Service), across all processes; 0: no
    /// limit.
    pub rate_per_sender: f64,
    /// How long one request to Twilio may take before it counts as a timeout (and is retried).
    pub request_timeout_ms: u64,
    /// How long an uploaded file can be sent (and fetched by Twilio) after it was uploaded.
    pub upload_ttl_hours: i64,
    /// Largest file `POST /api/v1/uploads` takes.
    pub max_upload_bytes: usize,
    /// Bytes of unexpired uploads one person (or all API tokens together) may hold.
    pub upload_quota_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Serve the built-in Twilio sandbox (its REST endpoints and the customer phone page), and create a sandbox
    /// channel on a start with no channel at all: `auto` (the default) when the public URL is this machine's
    /// own (loopback), `true` always, `false` never.
    pub enabled: SandboxMode,
    /// Between the sandbox's status callbacks for one message (sent, then delivered, then read).
    pub status_delay_ms: u64,
    /// On the first start, point the sandbox number at a built-in AI agent with a few sample questions, so the
    /// phone page shows the AI agent answering (and handing over on "agent") from the first minute.
    pub bot: bool,
}

/// Whether the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// When the public URL is loopback: a first run on one machine, where nobody else can reach it.
    Auto,
    On,
    Off,
}

impl<'de> Deserialize<'de> for SandboxMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(Self::On),
            Raw::Flag(false) => Ok(Self::Off),
            Raw::Word(w) => match w.trim().to_ascii_lowercase().as_str() {
                "auto" => Ok(Self::Auto),
                "true" | "on" => Ok(Self::On),
                "false" | "off" => Ok(Self::Off),
                _ => Err(serde::de::Error::custom("must be auto, true or false")),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub enabled: bool,
    pub concurrency: usize,
    pub max_attempts: i32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub poll_interval_ms: u64,
    /// A job running longer than this is taken over even though its worker is alive (it hung).
    pub lease_secs: u64,
    /// How often a worker says it is alive.
    pub heartbeat_ms: u64,
    /// A worker silent for this long is dead (killed, or its machine gone): its running jobs are taken over.
    pub worker_timeout_ms: u64,
    /// On shutdown, how long the jobs in hand may take to finish; those still running then are stopped and
    /// handed back at once (pending again, the attempt not counted), for another node to run. Longer than
    /// `outbound.request_timeout_ms`, so that a request to Twilio in flight is never cut.
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Run the router (routing decisions, waiting queues, overflow, presence) in this process.
    pub enabled: bool,
    /// How often the router looks for work even when nothing woke it (overflow, business hours opening).
    pub poll_ms: u64,
    /// Conversations routed per transaction.
    pub batch_size: i64,
    /// An agent whose last live connection has been gone this long goes offline.
    pub presence_grace_secs: u64,
    /// A conversation waiting for a named agent who does not take it within this time goes to the number's
    /// default queue.
    pub agent_wait_secs: u64,
    /// How often the automation engine looks for conversations silent long enough to be auto-resolved.
    pub idle_scan_secs: u64,
    /// A call rings an agent this long before it is passed on to the next.
    pub call_ring_timeout_secs: u64,
    /// An agent who accepted a call (or resumed it from hold) must join it from the browser within this time;
    /// otherwise it rings the next agent.
    pub call_join_timeout_secs: u64,
    /// Connected calls the business may make to one customer in 24 hours while they allow calls (seed 001 says
    /// 5; Meta has changed the figure since, so it is a setting).
    pub calls_per_day: u32,
}

/// How AI agents answer (src/ai): where they run, how long they wait for a customer's burst to end, and how hard
/// they try a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// A reply waits until the customer has been quiet this long, so that a burst of messages gets one answer.
    pub debounce_ms: u64,
    /// A customer who never pauses is answered anyway once their first unanswered message is this old (never
    /// sooner than the debounce).
    pub max_wait_ms: u64,
    /// Attempts at a model request (429, 5xx, timeouts and broken connections are tried again with backoff).
    pub model_attempts: u32,
    /// One model request may take at most this long (the agent's reply timeout bounds all attempts together).
    pub model_request_timeout_ms: u64,
    /// Earlier messages of the conversation a model is shown.
    pub history_messages: i64,
}

/// Outgoing webhooks (`webhooks`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub allow_private_destinations: bool,
    pub disable_after: i32,
    pub request_timeout_ms: u64,
    pub concurrency: usize,
    pub poll_ms: u64,
    pub retry_base_ms: u64,
    pub lease_secs: i64,
}

/// Reports (src/reports): how often each process brings them up to date.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    pub refresh_secs: u64,
}

/// Agentless notifications and consent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// An installation's own opt-out words, besides the built-in ones.
    pub stop_keywords: Vec<String>,
    /// An installation's own opt-in words.
    pub start_keywords: Vec<String>,
    pub batch_max_recipients: usize,
    /// Tasks per process that send `POST /notifications` requests, each several per transaction (group commit).
    pub writers: usize,
    /// The most requests one writer sends in one transaction.
    pub max_batch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Compact,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// A configuration problem, printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!("--config: file {} does not exist", path.display())));
            }
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let env: std::collections::HashMap<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__"))).collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("http.trusted_proxies")
                .with_list_parse_key("notifications.stop_keywords")
                .with_list_parse_key("notifications.start_keywords")
                .source(Some(env)),
        );
        let raw = builder.build().map_err(|e| ConfigError(describe(e)))?;
        let settings: Settings = serde_path_to_error::deserialize(raw).map_err(|e| {
            let key = e.path().to_string();
            ConfigError(format!("{key} ({}): {}", env_name(&key), e.inner()))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{key} ({}): {why}", env_name(key))));
        if let Some(url) = &self.http.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return bad("http.public_url", "must be an http:// or https:// URL with a host");
            }
            if url.query().is_some() || url.fragment().is_some() {
                return bad(
                    "http.public_url",
                    "must not carry a query or fragment: it is the base of the webhook URLs",
                );
            }
        }
        if !(1..=10).contains(&self.ai.model_attempts) {
            return bad("ai.model_attempts", "must be between 1 and 10");
        }
        if !(1000..=600_000).contains(&self.ai.model_request_timeout_ms) {
            return bad("ai.model_request_timeout_ms", "must be between 1000 and 600000");
        }
        if !(5..=300).contains(&self.routing.call_ring_timeout_secs) {
            return bad("routing.call_ring_timeout_secs", "must be between 5 and 300");
        }
        if !(5..=300).contains(&self.routing.call_join_timeout_secs) {
            return bad("routing.call_join_timeout_secs", "must be between 5 and 300");
        }
        if !(1..=1000).contains(&self.routing.calls_per_day) {
            return bad("routing.calls_per_day", "must be between 1 and 1000");
        }
        if self.ai.debounce_ms > 60_000 {
            return bad("ai.debounce_ms", "must be at most 60000");
        }
        if self.ai.max_wait_ms > 600_000 {
            return bad("ai.max_wait_ms", "must be at most 600000");
        }
        if !(0..=200).contains(&self.ai.history_messages) {
            return bad("ai.history_messages", "must be between 0 and 200");
        }
        if !(1..=600).contains(&self.http.header_read_timeout_secs) {
            return bad("http.header_read_timeout_secs", "must be between 1 and 600");
        }
        if self.http.max_connections < 16 {
            return bad("http.max_connections", "must be at least 16");
        }
        if self.http.max_body_bytes < 1024 {
            return bad("http.max_body_bytes", "must be at least 1024");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if let Some(url) = &self.database.url {
            let u = url.expose_secret();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                return bad("database.url", "must be a postgres:// URL");
            }
        }
        if !(1..=24 * 90).contains(&self.auth.session_hours) {
            return bad("auth.session_hours", "must be between 1 and 2160");
        }
        if self.auth.max_failures_per_account < 1 || self.auth.max_failures_per_address < 1 {
            return bad("auth.max_failures_per_account", "login limits must be at least 1");
        }
        if !self.auth.bootstrap_admin_email.contains('@') {
            return bad("auth.bootstrap_admin_email", "must be an e-mail address");
        }
        if !(1..=16).contains(&self.notifications.writers) {
            return bad("notifications.writers", "must be between 1 and 16");
        }
        if !(1..=1000).contains(&self.notifications.max_batch) {
            return bad("notifications.max_batch", "must be between 1 and 1000");
        }
        if self.ingest.writers == 0 {
            return bad("ingest.writers", "must be at least 1");
        }
        if !(1..=1000).contains(&self.ingest.max_batch) {
            return bad("ingest.max_batch", "must be between 1 and 1000");
        }
        if self.jobs.concurrency == 0 {
            return bad("jobs.concurrency", "must be at least 1");
        }
        if self.jobs.max_attempts < 1 {
            return bad("jobs.max_attempts", "must be at least 1");
        }
        if self.jobs.worker_timeout_ms < 2 * self.jobs.heartbeat_ms.max(1) {
            return bad("jobs.worker_timeout_ms", "must be at least twice jobs.heartbeat_ms");
        }
        if self.jobs.shutdown_grace_ms < self.outbound.request_timeout_ms {
            return bad(
                "jobs.shutdown_grace_ms",
                "must be at least outbound.request_timeout_ms, so that shutting down never cuts a request to Twilio",
            );
        }
        if self.outbound.max_attempts < 1 {
            return bad("outbound.max_attempts", "must be at least 1");
        }
        if !(self.outbound.rate_per_sender >= 0.0 && self.outbound.rate_per_sender <= 10_000.0) {
            return bad("outbound.rate_per_sender", "must be between 0 (no limit) and 10000");
        }
        if self.outbound.request_timeout_ms < 100 {
            return bad("outbound.request_timeout_ms", "must be at least 100");
        }
        if !(1..=24 * 30).contains(&self.outbound.upload_ttl_hours) {
            return bad("outbound.upload_ttl_hours", "must be between 1 and 720");
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3_bucket.trim().is_empty() {
            return bad("storage.s3_bucket", "must name the bucket when storage.backend is s3");
        }
        if let Some(url) = &self.storage.s3_endpoint {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return bad("storage.s3_endpoint", "must be an http:// or https:// URL with a host");
            }
        }
        if self.metrics.token.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
            return bad("metrics.token", "must be at least 16 characters");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad("log.level", &format!("not a valid filter: {e}"));
        }
        for (key, url) in [
            ("twilio.api_base_url", &self.twilio.api_base_url),
            ("twilio.content_base_url", &self.twilio.content_base_url),
        ] {
            if !matches!(url.scheme(), "http" | "https") {
                return bad(key, "must be an http:// or https:// URL");
            }
        }
        Ok(())
    }

    /// The base URL Twilio calls, without a trailing slash: the configured one, or `http://<bind>`.
    pub fn public_base_url(&self) -> String {
        match &self.http.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => {
                let bind = self.http.bind;
                let host = if bind.ip().is_unspecified() { "localhost".to_owned() } else { bind.ip().to_string() };
                let host = if bind.is_ipv6() && !bind.ip().is_unspecified() { format!("[{host}]") } else { host };
                format!("http://{host}:{}", bind.port())
            }
        }
    }

    /// Whether only this machine can reach the server: it listens on a loopback address and its public URL is
    /// this machine's own (none configured, or a loopback host). Then the sandbox may serve without a login.
    pub fn reachable_only_from_here(&self) -> bool {
        if !self.http.bind.ip().is_loopback() {
            return false;
        }
        let Ok(url) = Url::parse(&self.public_base_url()) else { return false };
        match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }

    /// Whether the sandbox serves (see [`SandboxMode`]).
    pub fn sandbox_on(&self) -> bool {
        match self.sandbox.enabled {
            SandboxMode::On => true,
            SandboxMode::Off => false,
            SandboxMode::Auto => self.reachable_only_from_here(),
        }
    }

    /// Where this process itself is reached from the same machine (the sandbox calls the server this way).
    pub fn local_base_url(&self) -> String {
        let bind = self.http.bind;
        let ip = if bind.ip().is_unspecified() {
            if bind.is_ipv6() {
                "[::1]".to_owned()
            } else {
                "127.0.0.1".to_owned()
            }
        } else if bind.is_ipv6() {
            format!("[{}]", bind.ip())
        } else {
            bind.ip().to_string()
        };
        format!("http://{ip}:{}", bind.port())
    }

    /// `data_dir` made absolute, so that child processes and later `cd`s agree on it.
    pub fn data_dir_absolute(&self) -> std::io::Result<PathBuf> {
        std::path::absolute(&self.data_dir)
    }
}

/// The environment variable that sets `key`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_ascii_uppercase())
}

fn describe(e: config::ConfigError) -> String {
    let text = e.to_string();
    // config writes `... for key `http.bind`` / `... in ...`; lead with the key so the line names the setting.
    if let Some(start) = text.find("for key `") {
        let rest = &text[start + 9..];
        if let Some(end) = rest.find('`') {
            let key = &rest[..end];
            let what = text[..start].trim_end();
            return format!("{key} ({}): {what}", env_name(key));
        }
    }
    text
}

#[cfg(test)]
mod tests;
