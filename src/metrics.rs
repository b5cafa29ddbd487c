//! What a running node tells Prometheus (`GET /metrics`, text format 0.0.4, encoded by the Prometheus project's
//! own client crate).
//!
//! Two kinds of figures:
//! - **this process's**, counted as things happen: HTTP requests by route and status with their latency,
//!   webhooks accepted or refused (by reason), sends by result and Twilio error code, waits for a sender's rate
//!   slot. One registry per process ([`get`]), like a logger: the places that count are deep in the flows, and
//!   threading a handle through every constructor would say nothing more.
//! - **the database's**, read when scraped ([`Snapshot`], SQL in `store::metrics`): jobs waiting by kind and the
//!   oldest one's age, conversations waiting per queue, agents online, the live feed's hold-up and the oldest
//!   running transaction behind it, and this process's pool use. Every node reports the same database figures:
//!   aggregate them with `max`, not `sum`.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;
use std::time::Duration;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type FloatGauge = Gauge<f64, AtomicU64>;
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route's pattern (`/api/v1/conversations/{id}`), never the raw path: bounded, and free of ids.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum WebhookKind {
    Message,
    Status,
    /// The voice webhooks of WhatsApp calls (arrival, wait, leaving the queue, status).
    Voice,
}

impl EncodeLabelValue for WebhookKind {
    fn encode(&self, out: &mut LabelValueEncoder) -> std::fmt::Result {
        out.write_str(match self {
            Self::Message => "message",
            Self::Status => "status",
            Self::Voice => "voice",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub kind: WebhookKind,
    /// `accepted`, or the error code of the refusal (`signature_invalid`, `channel_not_found`, …).
    pub result: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum SendResult {
    /// Twilio accepted the message.
    Accepted,
    /// Refused for now; the job tries again.
    Retried,
    /// Given up: the message is `failed`.
    Failed,
}

impl EncodeLabelValue for SendResult {
    fn encode(&self, out: &mut LabelValueEncoder) -> std::fmt::Result {
        out.write_str(match self {
            Self::Accepted => "accepted",
            Self::Retried => "retried",
            Self::Failed => "failed",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendLabels {
    pub result: SendResult,
    /// Twilio's error code (`63016`, `20429`, …); empty when there was none.
    pub error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AiLabels {
    /// `reply`, `handover` or `resolve`.
    pub outcome: String,
    /// For a hand-over, why (`customer_asked`, `low_confidence`, `model_failed`, …); empty otherwise.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// `prompt` or `completion`.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

/// Every figure, registered once.
pub struct Metrics {
    registry: Registry,
    http: Histograms<HttpLabels>,
    webhooks: Family<WebhookLabels, Counter>,
    sends: Family<SendLabels, Counter>,
    rate_waits: Histogram,
    ai_decisions: Family<AiLabels, Counter>,
    ai_tokens: Family<TokenLabels, Counter>,
    ai_think: Histogram,
    jobs_waiting: Family<KindLabels, Gauge>,
    jobs_oldest: Family<KindLabels, FloatGauge>,
    jobs_running: Family<KindLabels, Gauge>,
    queue_waiting: Family<QueueLabels, Gauge>,
    agents_online: Gauge,
    oldest_transaction: FloatGauge,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
}

fn latency() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// This process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let http: Histograms<HttpLabels> = Family::new_with_constructor(latency);
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by method, route and status, and how long they took",
            http.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register("webhooks", "Twilio webhooks, accepted or refused by reason", webhooks.clone());
        let sends = Family::<SendLabels, Counter>::default();
        registry.register("sends", "Attempts at handing a message to Twilio, by result and error code", sends.clone());
        let rate_waits = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "send_rate_wait_seconds",
            "How long sends waited for their sender's rate slot (messages per second per number)",
            rate_waits.clone(),
        );
        let ai_decisions = Family::<AiLabels, Counter>::default();
        registry.register(
            "ai_decisions",
            "AI agents' decisions: replies, resolves and hand-overs by reason",
            ai_decisions.clone(),
        );
        let ai_tokens = Family::<TokenLabels, Counter>::default();
        registry.register("ai_tokens", "Tokens AI models reported using, prompt and completion", ai_tokens.clone());
        let ai_think = latency();
        registry.register(
            "ai_decision_duration_seconds",
            "How long an AI agent took to decide (the built-in bot's retrieval, or the model's answer)",
            ai_think.clone(),
        );
        let jobs_waiting = Family::<KindLabels, Gauge>::default();
        registry.register("jobs_waiting", "Jobs due or scheduled, not running, by kind", jobs_waiting.clone());
        let jobs_oldest = Family::<KindLabels, FloatGauge>::default();
        registry.register(
            "jobs_oldest_due_seconds",
            "How long the oldest job that is due has waited, by kind",
            jobs_oldest.clone(),
        );
        let jobs_running = Family::<KindLabels, Gauge>::default();
        registry.register("jobs_running", "Jobs a worker holds, by kind", jobs_running.clone());
        let queue_waiting = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "conversations_waiting",
            "Unresolved conversations waiting in a queue for an agent",
            queue_waiting.clone(),
        );
        let agents_online = Gauge::default();
        registry.register("agents_online", "Agents whose presence is online", agents_online.clone());
        let oldest_transaction = FloatGauge::default();
        registry.register(
            "database_oldest_transaction_seconds",
            "Age of the oldest transaction holding a transaction id (it holds back the event log's readers and vacuum)",
            oldest_transaction.clone(),
        );
        let pool_size = Gauge::default();
        registry.register("database_pool_connections", "This process's open database connections", pool_size.clone());
        let pool_idle = Gauge::default();
        registry.register("database_pool_idle", "This process's idle database connections", pool_idle.clone());
        let pool_max = Gauge::default();
        registry.register("database_pool_max", "This process's database connection limit", pool_max.clone());
        Self {
            registry,
            http,
            webhooks,
            sends,
            rate_waits,
            ai_decisions,
            ai_tokens,
            ai_think,
            jobs_waiting,
            jobs_oldest,
            jobs_running,
            queue_waiting,
            agents_online,
            oldest_transaction,
            pool_size,
            pool_idle,
            pool_max,
        }
    }

    pub fn http_request(&self, labels: HttpLabels, took: Duration) {
        self.http.get_or_create(&labels).observe(took.as_secs_f64());
    }

    pub fn webhook(&self, kind: WebhookKind, result: &str) {
        self.webhooks.get_or_create(&WebhookLabels { kind, result: result.to_owned() }).inc();
    }

    pub fn send(&self, result: SendResult, error_code: Option<i64>) {
        let error_code = error_code.map(|c| c.to_string()).unwrap_or_default();
        self.sends.get_or_create(&SendLabels { result, error_code }).inc();
    }

    pub fn rate_wait(&self, waited: Duration) {
        self.rate_waits.observe(waited.as_secs_f64());
    }

    /// An AI agent decided (`reason` for a hand-over), using the tokens its model reported, in `took`.
    pub fn ai_decision(&self, outcome: &str, reason: Option<&str>, tokens: (Option<i32>, Option<i32>), took: Duration) {
        let labels = AiLabels { outcome: outcome.to_owned(), reason: reason.unwrap_or_default().to_owned() };
        self.ai_decisions.get_or_create(&labels).inc();
        for (kind, n) in [("prompt", tokens.0), ("completion", tokens.1)] {
            if let Some(n) = n.filter(|n| *n > 0) {
                self.ai_tokens.get_or_create(&TokenLabels { kind: kind.to_owned() }).inc_by(n as u64);
            }
        }
        self.ai_think.observe(took.as_secs_f64());
    }

    /// The text Prometheus scrapes: the database's figures read now, then everything encoded.
    pub async fn render(&self, pool: &sqlx::PgPool, max_connections: u32) -> anyhow::Result<String> {
        let snapshot = crate::store::metrics::snapshot(pool).await?;
        self.apply(&snapshot);
        self.pool_size.set(i64::from(pool.size()));
        self.pool_idle.set(pool.num_idle() as i64);
        self.pool_max.set(i64::from(max_connections));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn apply(&self, s: &crate::store::metrics::Snapshot) {
        // Kinds and queues that have gone quiet read 0, not their last value.
        self.jobs_waiting.clear();
        self.jobs_oldest.clear();
        self.jobs_running.clear();
        for j in &s.jobs {
            let kind = KindLabels { kind: j.kind.clone() };
            self.jobs_waiting.get_or_create(&kind).set(j.waiting);
            self.jobs_oldest.get_or_create(&kind).set(j.oldest_due_secs);
            self.jobs_running.get_or_create(&kind).set(j.running);
        }
        self.queue_waiting.clear();
        for (queue, waiting) in &s.queues {
            self.queue_waiting.get_or_create(&QueueLabels { queue: queue.clone() }).set(*waiting);
        }
        self.agents_online.set(s.agents_online);
        self.oldest_transaction.set(s.oldest_transaction_secs);
    }
}
