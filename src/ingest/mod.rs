//! The inbound pipeline: a verified webhook becomes a stored message in one transaction, before Twilio gets
//! its answer. Slow follow-up work (media downloads) is written as jobs in that same transaction.

pub mod media;
pub mod writer;

use crate::channels::{ChannelConfig, Number, SendingMode};
use crate::domain::automation::Look;
use crate::domain::mask;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::messages::{NewInbound, Stored};
use crate::twilio::webhook::{Form, InboundMessage, WebhookError};
use axum::http::StatusCode;

/// Stores an inbound message delivered to `channel`'s webhook. A MessageSid seen before stores nothing.
#[tracing::instrument(skip_all, fields(channel = %channel.id, message_sid))]
pub async fn receive(state: &AppState, channel: &ChannelConfig, form: &Form) -> AppResult<Stored> {
    let message = InboundMessage::try_from(form).map_err(|e| refuse(form, e))?;
    tracing::Span::current().record("message_sid", message.message_sid.as_str());
    if message.account_sid != channel.account_sid {
        return Err(AppError::forbidden(
            "account_mismatch",
            "the AccountSid of this request is not the account of this channel",
        ));
    }
    let number = resolve_number(state, channel, &message).await?;
    if number.csat {
        // An answer to a CSAT survey is stored with the resolved conversation it rates, which stays resolved.
        if let Some(stored) = crate::automation::csat::receive_answer(state, channel, &number, &message, form).await? {
            return Ok(stored);
        }
    }
    let (from, media) = (mask::phone(&message.from.to_string()), message.media.len());
    let Decided { look, version: look_version, opening } = decide(state, channel, &number, &message);
    let new = NewInbound {
        account_id: channel.account_id,
        channel_id: channel.id,
        number_id: number.id,
        message,
        webhook_params: form.to_json(),
        media_job_max_attempts: state.settings.jobs.max_attempts,
        look,
        look_version,
        accept_media: number.accepts_media,
        opening,
    };
    let stored = state.inbound.store(new).await?;
    if let Stored::New { needs_routing, .. } = stored {
        if needs_routing {
            state.router_wake.notify_one();
        }
        if look != Look::Never {
            state.automation_wake.notify_one();
        }
    }
    match &stored {
        Stored::New { message_id, conversation_id, new_conversation, .. } => tracing::info!(
            %message_id, %conversation_id, new_conversation, %from, media, "inbound message stored"
        ),
        Stored::Duplicate => {
            tracing::info!("inbound message already stored; duplicate delivery ignored")
        }
    }
    Ok(stored)
}

/// What is decided about a message before it is stored, from the configuration in memory (nothing to ask the
/// database), and the configuration version it was decided at, which the inbound write checks against the
/// version stored then.
struct Decided {
    /// Whether the automation engine must look at the message (a change of configuration since sends it to the
    /// engine anyway; before the engine's first load, always).
    look: Look,
    version: i64,
    /// Where the conversation goes if the message is a new customer's first and no agent needs taking
    /// ([`crate::routing::place::opening`]; a change since leaves the conversation to the router).
    opening: Option<crate::store::routing::Opening>,
}

fn decide(state: &AppState, channel: &ChannelConfig, number: &Number, message: &InboundMessage) -> Decided {
    let Some(cfg) = state.automation.snapshot() else {
        return Decided { look: Look::Always, version: 0, opening: None };
    };
    let now = jiff::Timestamp::now();
    let facts = crate::routing::rules::Facts {
        channel_id: channel.id,
        number_id: number.id,
        text: message.body.clone(),
        button_payload: message.button_payload.clone(),
        ..Default::default()
    };
    let first = crate::routing::place::FirstMessage {
        channel_id: channel.id,
        number_id: number.id,
        text: &message.body,
        button_payload: message.button_payload.as_deref(),
    };
    let opening = crate::routing::place::opening(&cfg.routing, first, now);
    let refused_media = !number.accepts_media && !message.media.is_empty();
    // Read only on numbers that take calls: most messages never get here.
    let look = if number.supports_calling
        && crate::domain::call_permission::reply(message.button_payload.as_deref(), &message.body).is_some()
    {
        // Perhaps a yes or no to a call-permission request: the engine records it if one was sent.
        Look::Always
    } else {
        crate::automation::decide::look(&cfg, number.id, &facts, refused_media, now)
    };
    Decided { look, version: cfg.version, opening }
}

/// Which of the channel's numbers received the message. A number the channel lists is found by `To`; in
/// Messaging Service mode a message carrying the channel's service SID may arrive on any sender of the
/// service's pool, and such a number is added to the channel on first sight.
async fn resolve_number(state: &AppState, channel: &ChannelConfig, message: &InboundMessage) -> AppResult<Number> {
    if let Some(number) = channel.number(&message.to) {
        return Ok(number.clone());
    }
    match (&channel.mode, &message.messaging_service_sid) {
        (SendingMode::MessagingService(ours), Some(theirs)) if ours == theirs => {
            let id = crate::store::channels::register_number(&state.pool, channel.id, message.to.as_str()).await?;
            state.channels.invalidate(channel.id);
            tracing::info!(number = %mask::phone(message.to.as_str()), "new sender of the Messaging Service added to the channel");
            // A new number has the defaults: media accepted, no CSAT, no calls.
            let name = message.to.as_str().to_owned();
            let e164 = message.to.clone();
            Ok(Number { id, name, e164, accepts_media: true, csat: false, supports_calling: false, language: None })
        }
        (SendingMode::MessagingService(_), Some(_)) => Err(AppError::unprocessable(
            "messaging_service_mismatch",
            "the message came through another Messaging Service than this channel's, to a number the channel does not have",
        )),
        _ => Err(AppError::unprocessable(
            "unknown_number",
            format!("the To number {} is not a WhatsApp number of this channel: add it to the channel", message.to),
        )),
    }
}

/// A webhook that cannot be acted on: a 4xx with the reason, logged without the body or full phone numbers.
fn refuse(form: &Form, e: WebhookError) -> AppError {
    let status = match e {
        WebhookError::Address {
            source: crate::domain::address::AddressError::NotWhatsApp | crate::domain::address::AddressError::Group,
            ..
        } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    };
    tracing::warn!(
        code = e.code(),
        reason = %e,
        message_sid = form.message_sid().unwrap_or(""),
        from = %mask::phone(form.from_address().unwrap_or("")),
        "inbound webhook refused"
    );
    AppError::client(status, e.code(), e.to_string())
}
