//! The durable sender: runs one `message.send` job.
//!
//! It reads the queued message, waits for the sender's next slot (the per-sender rate, shared by all server
//! processes through the database), and hands the message to Twilio (or the built-in sandbox, for a sandbox
//! account). Twilio's SID is recorded in the same statement that ends the job (several sends per commit, see
//! `recorder`), so once that commits the
//! message cannot be sent twice. Throttling (429/20429), server errors, timeouts and connection failures are
//! retried with backoff up to `outbound.max_attempts`; anything Twilio refuses on purpose (21211, 21610,
//! 63016, …) fails the message at once with Twilio's code and a readable reason.
//!
//! Sends are ordered per conversation: a message is not handed to Twilio while an earlier message of its
//! conversation still waits to be (for at most `store::outbound::ORDER_WAIT` after it was queued).
//!
//! The one gap: a process that dies after Twilio accepted the message and before that statement commits
//! leaves the job running; it is taken over and the message is sent a second time (see the README).

use crate::channels::{account_credentials, webhook_urls};
use crate::config::OutboundSettings;
use crate::domain::MessageStatus;
use crate::jobs::{self, Attempt, Done, JobError, Task};
use crate::metrics::SendResult;
use crate::secrets::SecretBox;
use crate::store::outbound;
use crate::twilio::errors;
use crate::twilio::rest::{From, OutboundMessage, RestClient};
use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const KIND: &str = outbound::SEND_KIND;

/// How long a send waits in place for an earlier message of its conversation (usually being sent right now)
/// before it gives its slot back and is tried again after [`ORDER_RETRY`].
const ORDER_HOLD: Duration = Duration::from_secs(1);
const ORDER_RETRY: Duration = Duration::from_millis(200);
/// How often a waiting send looks again without being told (the earlier message may be sent by another process,
/// or fail).
const ORDER_LOOK: Duration = Duration::from_millis(50);

/// The `message.send` task, with what it needs.
pub struct Sender {
    pub pool: PgPool,
    pub secrets: SecretBox,
    pub twilio: RestClient,
    /// What Twilio calls this server by (status callbacks, media URLs).
    pub public_base_url: Arc<str>,
    pub settings: OutboundSettings,
    /// Records Twilio's SIDs, several per commit.
    pub recorder: super::recorder::Recorder,
}

impl Task for Sender {
    fn run<'a>(&'a self, payload: &'a Value, attempt: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move { send(self, jobs::uuid_in(payload, "message_id")?, attempt).await })
    }

    /// After the last attempt the message is `failed`, with the reason.
    fn record_failure<'a>(&'a self, payload: &'a Value, error: &'a str, last: bool) -> BoxFuture<'a, sqlx::Result<()>> {
        Box::pin(async move {
            match jobs::uuid_in(payload, "message_id") {
                Ok(id) if last => outbound::mark_failed(&self.pool, id, None, error).await,
                _ => Ok(()),
            }
        })
    }
}

/// Waits until no earlier message of the conversation is waiting to be sent: woken when this process records
/// SIDs, else looking every [`ORDER_LOOK`]; after [`ORDER_HOLD`] the job is handed back for later instead.
async fn wait_for_earlier(ctx: &Sender, message_id: Uuid, attempt: &Attempt<'_>) -> Result<(), JobError> {
    let started = tokio::time::Instant::now();
    loop {
        let told = ctx.recorder.recorded().notified();
        tokio::pin!(told);
        told.as_mut().enable();
        if !outbound::behind_earlier(&ctx.pool, message_id).await? {
            return Ok(());
        }
        if started.elapsed() >= ORDER_HOLD {
            return Err(JobError::NotYet(ORDER_RETRY, "an earlier message of the conversation is being sent"));
        }
        tokio::select! {
            _ = told => {}
            _ = tokio::time::sleep(ORDER_LOOK) => {}
            _ = attempt.stopping.cancelled() => return Err(JobError::HandBack),
        }
    }
}

#[tracing::instrument(skip_all, fields(message = %message_id))]
async fn send(ctx: &Sender, message_id: Uuid, attempt: Attempt<'_>) -> Result<Done, JobError> {
    let Some(m) = outbound::send_context(&ctx.pool, message_id).await? else {
        return Err(JobError::Permanent("the message no longer exists".into()));
    };
    if m.twilio_sid.is_some() || !matches!(m.status.parse(), Ok(MessageStatus::Queued)) {
        // Sent already (or failed for good): nothing to do.
        return Ok(Done::Completed);
    }
    if m.behind_earlier {
        // Parts of one reply, or an agent's quick messages, reach Twilio in the order they were written.
        wait_for_earlier(ctx, message_id, &attempt).await?;
    }
    // A customer WhatsApp shows only by their business-scoped user id is written to at that id.
    let Some(to) = m.to_e164.as_deref().or(m.to_bsuid.as_deref()) else {
        return fail(ctx, message_id, None, "the customer has neither a phone number nor a WhatsApp user id").await;
    };
    let auth = match account_credentials(&ctx.secrets, &m.account) {
        Ok(a) => a,
        Err(e) => return fail(ctx, message_id, None, &format!("the account's credentials cannot be used: {e}")).await,
    };
    let from = match &m.messaging_service_sid {
        Some(mg) => From::MessagingService(mg),
        None => From::Number(&m.from_e164),
    };
    if ctx.settings.rate_per_sender > 0.0 {
        let sender = match from {
            From::Number(a) | From::MessagingService(a) => format!("{}/{a}", m.account.account_sid),
        };
        let interval = Duration::from_secs_f64(1.0 / ctx.settings.rate_per_sender);
        let wait = outbound::reserve_slot(&ctx.pool, &sender, interval).await?;
        crate::metrics::get().rate_wait(wait);
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // The slot is given up; another node sends the message at once.
                _ = attempt.stopping.cancelled() => return Err(JobError::HandBack),
            }
        }
    }
    // The last safe point: once the request to Twilio is on its way it is not cut (jobs.shutdown_grace_ms is
    // longer than outbound.request_timeout_ms), because a cut request may have been accepted.
    if attempt.stopping.is_cancelled() {
        return Err(JobError::HandBack);
    }
    let base = ctx.public_base_url.trim_end_matches('/');
    let media_urls: Vec<String> = m
        .media_tokens
        .iter()
        .zip(&m.media_filenames)
        .map(|(token, name)| format!("{base}/media/{token}/{}", url_segment(name)))
        .collect();
    let status_callback = webhook_urls(base, m.channel_id).status;
    let message = OutboundMessage {
        to,
        from,
        body: (m.content_sid.is_none() && !m.body.is_empty()).then_some(m.body.as_str()),
        media_urls: &media_urls,
        content_sid: m.content_sid.as_deref(),
        content_variables: m.content_sid.as_ref().and(m.content_variables.as_deref()),
        status_callback: &status_callback,
    };
    match ctx.twilio.send_message(m.account.sandbox, &m.account.account_sid, &auth, &message).await {
        Ok(accepted) => {
            let row = outbound::Accepted {
                message_id,
                sid: accepted.sid.clone(),
                job_id: attempt.job_id,
                worker: attempt.worker.to_owned(),
            };
            ctx.recorder.record(row).await.map_err(JobError::Retry)?;
            crate::metrics::get().send(SendResult::Accepted, None);
            tracing::info!(message_sid = %accepted.sid, status = %accepted.status, "message handed to Twilio");
            Ok(Done::Removed)
        }
        Err(e) if e.is_retryable() && !attempt.is_last() => {
            crate::metrics::get().send(SendResult::Retried, e.code());
            Err(JobError::Retry(e.to_string()))
        }
        Err(e) => {
            crate::metrics::get().send(SendResult::Failed, e.code());
            let code = e.code().and_then(|c| i32::try_from(c).ok());
            let reason = match (&e, code) {
                (crate::twilio::rest::RestError::Twilio { message, .. }, Some(code)) => {
                    errors::describe(code, Some(message))
                }
                _ => e.to_string(),
            };
            let reason =
                if e.is_retryable() { format!("{reason} (gave up after {} attempts)", attempt.number) } else { reason };
            fail(ctx, message_id, code, &reason).await
        }
    }
}

async fn fail(ctx: &Sender, message_id: Uuid, code: Option<i32>, reason: &str) -> Result<Done, JobError> {
    outbound::mark_failed(&ctx.pool, message_id, code, reason).await?;
    if code == Some(crate::domain::opt_in::TWILIO_UNSUBSCRIBED) {
        // The customer unsubscribed at WhatsApp: nobody writes first to them again until they opt back in.
        let evidence = "Twilio refused the message with error 21610 (the recipient unsubscribed)";
        crate::store::opt_ins::opt_out_of_message(&ctx.pool, message_id, evidence).await?;
    }
    Err(JobError::Permanent(reason.to_owned()))
}

/// A filename as one URL path segment.
fn url_segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>().replace('+', "%20")
}
