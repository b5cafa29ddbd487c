//! Outgoing webhooks: what happens in Switchboard is posted to the subscribers' URLs, signed, durably, in order
//! per conversation.
//!
//! Every process that runs the job worker runs a [`Deliverer`]. Each round it first fans events out: per
//! enabled webhook (locked, so one process at a time), the events after its cursor become deliveries and the
//! cursor moves, in one transaction (`store::webhooks::fan_out`). Then it leases due deliveries, only the
//! earliest pending one per webhook and conversation, sends them concurrently, and records the results in one
//! statement. A delivery is a row of its own rather than a job of `jobs`: it is retried on its own schedule
//! (exponential backoff for up to [`RETRY_FOR_SECS`], not the worker's), and its order and its webhook's failure
//! count are the webhook's business. A process killed mid-delivery leaves the lease to expire: the delivery is
//! sent again with the same id (at least once; receivers deduplicate on `id`).
//!
//! The body is `{"id", "event_id", "type", "created_at", "data"}`, signed as
//! `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>` ([`signature`]).

pub mod destination;

use crate::config::WebhookSettings;
use crate::secrets::SecretBox;
use crate::store::webhooks::{self as db, Attempted, Leased};
use futures_util::stream::{self, StreamExt};
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::ExposeSecret;
use sha2::Sha256;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Deliveries are tried for this long after they were made, then fail.
pub const RETRY_FOR_SECS: f64 = 24.0 * 3600.0;
/// Deliveries leased per round.
const BATCH: i64 = 500;
/// Events fanned out per webhook per round.
const FAN_OUT: i64 = 2000;

/// The event types a webhook may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "message.received",
    "message.sent",
    "message.status",
    "conversation.created",
    "conversation.assigned",
    "conversation.resolved",
    "notification.status",
    "contact.opt_in_changed",
    "csat.rated",
];

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`: what `X-Switchboard-Signature` carries.
pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// When to try a delivery again after `attempts` failures: `base_secs` (10 s by default) doubling to an hour,
/// with jitter; `None` once the delivery is older than [`RETRY_FOR_SECS`].
pub fn retry_in(base_secs: f64, attempts: i32, age_secs: f64) -> Option<f64> {
    let base = (base_secs * 2f64.powi(attempts.clamp(0, 20))).min(3600.0);
    let wait = base * rand::thread_rng().gen_range(0.8..1.2);
    (age_secs + wait <= RETRY_FOR_SECS).then_some(wait)
}

pub struct Deliverer {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub settings: WebhookSettings,
    pub http: reqwest::Client,
}

impl Deliverer {
    /// The client for webhooks that may go anywhere (`webhooks.allow_private_destinations`).
    pub fn http_client(settings: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
        Ok(Self::builder(settings).build()?)
    }

    fn builder(settings: &WebhookSettings) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("switchboard-webhooks/", env!("CARGO_PKG_VERSION")))
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        loop {
            let busy = match self.round().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook round failed; trying again");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(poll) => {}
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// One round: fan out, then send what is due. Answers how many deliveries it sent.
    pub async fn round(&self) -> anyhow::Result<usize> {
        db::fan_out(&self.pool, FAN_OUT).await?;
        let leased = db::lease(&self.pool, BATCH, self.settings.lease_secs.max(1)).await?;
        if leased.is_empty() {
            return Ok(0);
        }
        let clients = self.clients(&leased).await;
        let sends = leased.into_iter().map(|d| {
            let client = clients[&d.webhook_id].clone();
            deliver(self.secrets.clone(), d, client, self.settings.retry_base_ms as f64 / 1000.0)
        });
        let attempts: Vec<Attempted> =
            stream::iter(sends).buffer_unordered(self.settings.concurrency.max(1)).collect().await;
        let n = attempts.len();
        for (id, name) in db::record(&self.pool, &attempts, self.settings.disable_after).await? {
            tracing::warn!(webhook = %id, %name, "webhook turned off after failing deliveries in a row");
        }
        Ok(n)
    }

    /// One client per webhook of the round: pinned to the addresses its host resolves to when they are public
    /// (so a host cannot be switched to an inside address between the check and the request), or the reason
    /// it may not be reached.
    async fn clients(&self, leased: &[Leased]) -> HashMap<uuid::Uuid, Result<reqwest::Client, String>> {
        let mut clients = HashMap::new();
        for d in leased {
            if clients.contains_key(&d.webhook_id) {
                continue;
            }
            let client = if self.settings.allow_private_destinations {
                Ok(self.http.clone())
            } else {
                match destination::public_addresses(&d.url).await {
                    Ok((host, addrs)) => Self::builder(&self.settings)
                        .resolve_to_addrs(&host, &addrs)
                        .build()
                        .map_err(|e| format!("cannot make an HTTP client: {e}")),
                    Err(e) => Err(e),
                }
            };
            clients.insert(d.webhook_id, client);
        }
        clients
    }
}

/// Posts one delivery; answers how it went.
async fn deliver(
    secrets: SecretBox,
    d: Leased,
    client: Result<reqwest::Client, String>,
    retry_base_secs: f64,
) -> Attempted {
    let age = (time::OffsetDateTime::now_utc() - d.created_at).as_seconds_f64();
    let failed = |status: Option<i32>, error: String| Attempted {
        id: d.id,
        webhook_id: d.webhook_id,
        ok: false,
        status,
        error: Some(error),
        retry_in_secs: retry_in(retry_base_secs, d.attempts, age),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return failed(None, e),
    };
    let secret = match secrets.decrypt(&d.secret_encrypted) {
        Ok(s) => s,
        Err(e) => return failed(None, format!("the webhook's secret cannot be decrypted: {e}")),
    };
    let body = serde_json::json!({
        "id": d.id,
        "event_id": d.event_id,
        "type": d.event_type,
        "created_at": d.event_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": d.data,
    });
    let body = serde_json::to_vec(&body).expect("a JSON value serialises");
    let unix = time::OffsetDateTime::now_utc().unix_timestamp();
    let sent = client
        .post(&d.url)
        .header("Content-Type", "application/json")
        .header("X-Switchboard-Signature", signature(secret.expose_secret(), unix, &body))
        .header("X-Switchboard-Event", &d.event_type)
        .header("X-Switchboard-Delivery", d.id.to_string())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Attempted {
            id: d.id,
            webhook_id: d.webhook_id,
            ok: true,
            status: Some(i32::from(r.status().as_u16())),
            error: None,
            retry_in_secs: None,
        },
        Ok(r) => failed(Some(i32::from(r.status().as_u16())), format!("the receiver answered {}", r.status())),
        Err(e) => failed(None, format!("cannot reach the receiver: {}", reason(&e))),
    }
}

/// A request error in words, with its causes (a refused connection, a timeout).
fn reason(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_time_a_dot_and_the_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn retries_back_off_to_an_hour_and_stop_after_a_day() {
        let first = retry_in(10.0, 0, 0.0).unwrap();
        assert!((8.0..=12.0).contains(&first), "{first}");
        let late = retry_in(10.0, 30, 0.0).unwrap();
        assert!((2880.0..=4320.0).contains(&late), "{late}");
        assert_eq!(retry_in(10.0, 3, RETRY_FOR_SECS - 1.0), None, "a day old: no more attempts");
    }
}
