//! Calling a customer (the inbox's "Call" button, seed 001's outbound call): only with their permission in
//! force and within the calls allowed in 24 hours (`domain::call_permission`), from a number that takes calls.
//!
//! Switchboard asks Twilio for a call to the agent's leg (their browser, by the identity of their voice token, or
//! their phone when they take calls on one)
//! whose TwiML dials the customer on WhatsApp from the business's sender (`<Dial callerId="whatsapp:+…">
//! <WhatsApp>`), so the agent is on the line before the customer's phone rings. The call is `dialing` until
//! the customer answers (the `<WhatsApp>`'s status callback: `connected`) and ends when the `<Dial>` does (its
//! action: answered, or not answered, which counts towards revoking the permission, or failed).

use super::inbound::{unknown_call, voice_call};
use super::permission;
use crate::auth::Caller;
use crate::channels::ChannelConfig;
use crate::domain::call::Outcome;
use crate::error::{AppError, AppResult};
use crate::outbound::policy::Refusal;
use crate::state::AppState;
use crate::store::calls::{self, Call, CallView};
use crate::twilio::rest::{whatsapp_address, Instructions, OutboundCall, RestError};
use crate::twilio::twiml::{self, Verb};
use crate::twilio::voice_call::{CallStatus, DialStatus};
use crate::twilio::webhook::Form;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// Places a call from `caller` (an agent) to the conversation's customer: answers the call, `dialing`.
#[tracing::instrument(skip_all, fields(conversation = %conversation))]
pub async fn place(state: &AppState, caller: &Caller, conversation: Uuid) -> AppResult<CallView> {
    let Some(agent) = caller.user_id else {
        return Err(AppError::unprocessable(
            "not_an_agent",
            "a call is placed by an agent, who talks on it: an API token is nobody's agent",
        ));
    };
    let mut tx = state.pool.begin().await?;
    let target = calls::dial_target(&mut tx, conversation, caller.visibility()).await?.ok_or_else(|| {
        AppError::not_found("conversation_not_found", "no conversation with this id that you can see")
    })?;
    if target.deleted {
        return Err(Refusal::ChannelDeleted.into());
    }
    let Some(customer) = target.customer.clone() else {
        return Err(AppError::unprocessable(
            "customer_has_no_number",
            "WhatsApp shows this customer only by their user id: a call needs their phone number",
        ));
    };
    let calls_per_day = state.settings.routing.calls_per_day;
    let ask = permission::Ask::Call { per_day: calls_per_day };
    permission::admit(&mut tx, target.number_id, target.contact_id, target.supports_calling, ask)
        .await?
        .map_err(Refusal::from)?;
    if calls::agent_busy(&mut tx, agent).await? {
        return Err(AppError::conflict("agent_on_call", "you are on a call (or one rings you): end it first"));
    }
    let id = Uuid::now_v7();
    let call = calls::insert_outbound(&mut tx, id, conversation, &target, agent).await?;
    super::record(&mut tx, &call, "call_outgoing", json!({"call_id": id, "agent_id": agent})).await?;
    tx.commit().await?;

    let base = crate::channels::voice_webhook_url(&state.public_base_url, target.channel_id);
    let dial = twiml::render(&[Verb::DialWhatsApp {
        caller_id: whatsapp_address(&target.business),
        to: customer,
        action: format!("{base}/dialed"),
        status_callback: format!("{base}/reached"),
    }]);
    // The agent's browser rings, or their phone when they take calls on one.
    let leg = match super::phone::of_agent(state, agent).await? {
        Some(phone) => phone,
        None => format!("client:{agent}"),
    };
    let request = OutboundCall {
        to: &leg,
        from: &target.business,
        instructions: Instructions::Twiml(&dial),
        status_callback: &format!("{base}/status"),
        timeout_secs: state.settings.routing.call_ring_timeout_secs.min(600) as u32,
    };
    let placed = match super::credentials(state, &target.account) {
        Ok(auth) => state
            .twilio
            .create_call(target.account.sandbox, &target.account.account_sid, &auth, &request)
            .await
            .map_err(|e| refused_by_twilio(&e)),
        Err(e) => Err(e),
    };
    match placed {
        Ok(accepted) => calls::set_sid(&mut *state.pool.acquire().await?, id, &accepted.sid).await?,
        Err(e) => {
            let mut tx = state.pool.begin().await?;
            if calls::end(&mut tx, id, Outcome::Failed).await? {
                let code = e.client_body().and_then(|b| b["error"]["details"]["twilio_code"].as_i64());
                super::record(&mut tx, &call, "call_failed", json!({"call_id": id, "twilio_code": code})).await?;
            }
            tx.commit().await?;
            return Err(e);
        }
    }
    calls::view(&mut *state.pool.acquire().await?, id)
        .await?
        .ok_or_else(|| AppError::not_found("call_not_found", "the call is gone"))
}

/// Twilio's refusal, in the API's words (37000: no permission at WhatsApp's end; 37004: its call limit).
fn refused_by_twilio(e: &RestError) -> AppError {
    match e {
        RestError::Twilio { code: Some(37000), .. } => AppError::unprocessable(
            "call_permission_missing",
            "WhatsApp says the customer has not allowed calls (Twilio error 37000): send a call-permission request",
        )
        .with_details(json!({ "twilio_code": 37000 })),
        RestError::Twilio { code: Some(37004), .. } => AppError::unprocessable(
            "call_limit_reached",
            "WhatsApp's limit of calls to this customer was reached (Twilio error 37004): try again later",
        )
        .with_details(json!({ "twilio_code": 37004 })),
        RestError::Twilio { status, code, message } => AppError::client(
            StatusCode::BAD_GATEWAY,
            "twilio_error",
            format!("Twilio answered {status} (error {code:?}) to the call: {message}"),
        )
        .with_details(json!({ "twilio_code": code })),
        RestError::Timeout | RestError::Unreachable(_) => AppError::client(
            StatusCode::BAD_GATEWAY,
            "twilio_unreachable",
            format!("Twilio could not be reached to place the call: {e}"),
        ),
        RestError::BadResponse(m) => AppError::client(
            StatusCode::BAD_GATEWAY,
            "twilio_error",
            format!("Twilio's answer to the call could not be read: {m}"),
        ),
    }
}

/// The `<WhatsApp>`'s status callback (`/voice/reached`): the customer answered. Its `ParentCallSid` is the
/// agent's leg, the call's own CallSid.
#[tracing::instrument(skip_all, fields(channel = %channel.id))]
pub async fn reached(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<()> {
    let leg = voice_call(channel, form)?;
    let Some(parent) = leg.parent_call_sid.as_ref() else {
        return Err(AppError::bad_request("missing_parameter", "ParentCallSid is required"));
    };
    if leg.status != CallStatus::Going {
        // Only the answer is asked for; the end comes with the `<Dial>`'s action.
        return Ok(());
    }
    let mut tx = state.pool.begin().await?;
    let c = calls::lock_by_sid(&mut tx, channel.id, parent.as_str()).await?.ok_or_else(unknown_call)?;
    if calls::reached(&mut tx, c.id).await? {
        super::record(&mut tx, &c, "call_answered", json!({"call_id": c.id, "agent_id": c.agent_id})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The `<Dial>`'s action (`/voice/dialed`): the call with the customer is over, answered or not; the agent's
/// leg hangs up.
#[tracing::instrument(skip_all, fields(channel = %channel.id))]
pub async fn dialed(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<String> {
    let leg = voice_call(channel, form)?;
    let Some(status) = leg.dial else {
        return Err(AppError::bad_request("missing_parameter", "DialCallStatus is required"));
    };
    let mut tx = state.pool.begin().await?;
    let c = calls::lock_by_sid(&mut tx, channel.id, leg.call_sid.as_str()).await?.ok_or_else(unknown_call)?;
    dial_over(&mut tx, &c, status, leg.dial_duration).await?;
    tx.commit().await?;
    Ok(twiml::render(&[Verb::Hangup]))
}

/// Ends the call as the dialled leg ended: answered, not answered by the customer, or failed.
async fn dial_over(
    conn: &mut sqlx::PgConnection,
    call: &Call,
    status: DialStatus,
    talked_secs: Option<u32>,
) -> sqlx::Result<()> {
    let (outcome, kind) = match (status, call.answered_at.is_some()) {
        (_, true) | (DialStatus::Answered, false) => (Outcome::Answered, "call_ended"),
        (DialStatus::Unanswered, false) => (Outcome::Missed, "call_not_answered_by_customer"),
        (DialStatus::Failed, false) => (Outcome::Failed, "call_failed"),
    };
    if outcome == Outcome::Answered && call.answered_at.is_none() {
        calls::reached(conn, call.id).await?;
    }
    if calls::end(conn, call.id, outcome).await? {
        let data = json!({"call_id": call.id, "agent_id": call.agent_id, "duration_secs": talked_secs});
        super::record(conn, call, kind, data).await?;
    }
    Ok(())
}
