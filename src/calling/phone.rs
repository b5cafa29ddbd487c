//! Agents reached on a phone number instead of the browser (their `call_phone`): where the browser would join a
//! call it accepted (or resumed from hold), Switchboard asks Twilio to call the agent's phone from the business's
//! number; when they pick up, Twilio asks `/voice/phone/{call}` what to do, and the answer takes the caller
//! waiting for them (`<Dial><Queue>`), exactly as the browser's leg would.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::calls::{self, Call};
use crate::twilio::rest::{Instructions, OutboundCall};
use axum::http::StatusCode;
use uuid::Uuid;

/// The agent's phone, if they take calls on one.
pub async fn of_agent(state: &AppState, agent: Uuid) -> AppResult<Option<String>> {
    Ok(calls::agent_phone(&mut *state.pool.acquire().await?, agent).await?)
}

/// Rings the agent's phone for the call they took; `false` if they take calls in the browser.
pub async fn reach(state: &AppState, call_id: Uuid, agent: Uuid) -> AppResult<bool> {
    let mut conn = state.pool.acquire().await?;
    let Some(phone) = calls::agent_phone(&mut conn, agent).await? else { return Ok(false) };
    let c: Call = calls::find(&mut conn, call_id)
        .await?
        .ok_or_else(|| AppError::not_found("call_not_found", "no call with this id"))?;
    let business = calls::business_number(&mut conn, c.number_id).await?;
    drop(conn);
    let (account, auth) = super::twilio_account(state, c.channel_id).await?;
    let base = crate::channels::voice_webhook_url(&state.public_base_url, c.channel_id);
    let url = format!("{base}/phone/{}", c.id);
    let request = OutboundCall {
        to: &phone,
        from: &business,
        instructions: Instructions::Url(&url),
        status_callback: &format!("{base}/status"),
        timeout_secs: state.settings.routing.call_ring_timeout_secs.min(600) as u32,
    };
    state.twilio.create_call(account.sandbox, &account.account_sid, &auth, &request).await.map_err(|e| {
        AppError::client(StatusCode::BAD_GATEWAY, "twilio_error", format!("Twilio did not call your phone: {e}"))
    })?;
    tracing::info!(call = %c.id, %agent, "the agent's phone rings for the call");
    Ok(true)
}
