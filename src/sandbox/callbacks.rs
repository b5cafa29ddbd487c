//! The sandbox's status callbacks: a job per status (`sent`, `delivered`, `read`, or `failed`), run after the
//! configured delay, that posts the form Twilio posts, signed with the account's Auth Token, to the message's
//! `StatusCallback` URL.

use crate::jobs::{self, Attempt, Done, JobError, Task};
use crate::secrets::SecretBox;
use crate::store::sandbox as store;
use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;

pub const KIND: &str = "sandbox.status";

/// The `sandbox.status` task: the sandbox's own client posts to this server, as Twilio would.
pub struct StatusCallbacks {
    pub pool: PgPool,
    pub secrets: SecretBox,
    /// The sandbox's HTTP client (no redirects, its own timeout).
    pub http: reqwest::Client,
    /// What Twilio calls this server by (what the signature covers).
    pub public_base_url: Arc<str>,
    /// Where this server is reached from the same machine (where the callbacks are posted).
    pub local_base_url: Arc<str>,
}

impl Task for StatusCallbacks {
    fn run<'a>(&'a self, payload: &'a Value, _: Attempt<'a>) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            deliver(self, jobs::text_in(payload, "sid")?, jobs::text_in(payload, "status")?).await?;
            Ok(Done::Completed)
        })
    }
}

async fn deliver(ctx: &StatusCallbacks, sid: &str, status: &str) -> Result<(), JobError> {
    let Some(m) = store::find(&ctx.pool, sid).await? else {
        return Err(JobError::Permanent(format!("no sandbox message {sid}")));
    };
    let error_code = (status == "failed").then_some(63016);
    store::set_status(&ctx.pool, sid, status, error_code).await?;
    let Some(url) = m.status_callback.as_deref() else {
        return Ok(());
    };
    let account = store::account(&ctx.pool, &m.account_sid)
        .await?
        .ok_or_else(|| JobError::Permanent("the sandbox account is gone".into()))?;
    let token = account
        .auth_token
        .as_ref()
        .map(|sealed| ctx.secrets.decrypt(sealed))
        .transpose()
        .map_err(|e| JobError::Permanent(e.to_string()))?
        .ok_or_else(|| JobError::Permanent("the sandbox account has no Auth Token".into()))?;
    let mut params: Vec<(String, String)> = vec![
        ("AccountSid".into(), m.account_sid.clone()),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("ChannelPrefix".into(), "whatsapp".into()),
        ("ChannelToAddress".into(), m.customer.clone()),
        ("MessageSid".into(), m.sid.clone()),
        ("MessageStatus".into(), status.into()),
        ("SmsSid".into(), m.sid.clone()),
        ("SmsStatus".into(), status.into()),
        ("To".into(), format!("whatsapp:{}", m.customer)),
    ];
    if m.business.starts_with("MG") {
        params.push(("MessagingServiceSid".into(), m.business.clone()));
    } else {
        params.push(("From".into(), m.business.clone()));
    }
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.to_string()));
        params.push(("ErrorMessage".into(), "Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into()));
    }
    let response =
        super::post_signed(&ctx.http, &ctx.public_base_url, &ctx.local_base_url, token.expose_secret(), url, &params)
            .await
            .map_err(|e| JobError::Retry(format!("status callback not delivered: {}", e.without_url())))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(JobError::Retry(format!("status callback answered {}", response.status())))
    }
}
