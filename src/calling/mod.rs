//! WhatsApp Business Calling (issue 22): calls arrive at a number's voice webhook, are routed like
//! conversations (rules, then the default queue, honouring what each queue serves; never to an AI agent), and
//! wait in their queue hearing its waiting strategy until an agent takes them or the maximum wait passes.
//!
//! Twilio drives a waiting call: the voice webhook answers the arrival with TwiML at once (a greeting and
//! `<Enqueue>`, or the closed message), Twilio then asks the wait URL what to play, again and again, and the
//! `<Enqueue>`'s action once the caller leaves the queue; the status callback says how the call ended. Each
//! step is one short transaction on the call's row, so any process may answer any of them.

pub mod answer;
pub mod button;
pub mod during;
pub mod inbound;
pub mod offer;
pub mod outbound;
pub mod permission;
pub mod phone;
pub mod token;

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::calls::Call;
use crate::store::channels::AccountRecord;
use crate::twilio::BasicAuth;
use sqlx::PgConnection;

/// A system event on the call's conversation's timeline.
async fn record(conn: &mut PgConnection, c: &Call, kind: &str, data: serde_json::Value) -> sqlx::Result<()> {
    crate::store::routing::record_event(conn, c.conversation_id, kind, &crate::routing::system_actor(), data).await
}

/// The channel's Twilio account and the credentials to call Twilio with (409 without an account, 422 when its
/// stored secrets cannot be opened).
async fn twilio_account(state: &AppState, channel: uuid::Uuid) -> AppResult<(AccountRecord, BasicAuth)> {
    let account = crate::store::channels::sync_accounts(&state.pool, Some(channel))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::conflict("channel_deleted", "the channel has no Twilio account"))?;
    let auth = credentials(state, &account)?;
    Ok((account, auth))
}

/// The account's credentials, or 422 `twilio_credentials_unusable`.
fn credentials(state: &AppState, account: &AccountRecord) -> AppResult<BasicAuth> {
    crate::channels::account_credentials(&state.secrets, account).map_err(|e| {
        AppError::unprocessable("twilio_credentials_unusable", format!("the channel's credentials cannot be used: {e}"))
    })
}
