//! The call-button message (seed 001's "インタラクティブなWhatsApp通話ボタン"): an agent writes a text and the
//! label of a button that lets the customer call the business from the chat, with one tap.
//!
//! WhatsApp sends it as interactive content: a `twilio/call-to-action` with a `VOICE_CALL` action, which needs no
//! approval inside the 24-hour window (the only place it may go) and only from a number that takes calls. The
//! content is made at Twilio once per text and label (kept as a template tagged `call_button`, so the same words
//! reuse it) and the message is then queued by the one send path, which checks the same rules again. A call from
//! the button goes to the agent who sent it (`calling::inbound`).

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::outbound::compose::{self, Draft, TemplateUse};
use crate::state::AppState;
use crate::store::messages::MessageView;
use crate::store::{self, templates::TemplateSettings};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// WhatsApp's longest interactive message body.
pub const MAX_BODY_CHARS: usize = 1024;
/// WhatsApp's longest button title.
pub const MAX_LABEL_CHARS: usize = 20;

/// Sends a call-button message into the conversation: 422 `session_window_closed` outside the 24-hour window,
/// `number_does_not_call` from a number without calling.
#[tracing::instrument(skip_all, fields(conversation = %conversation))]
pub async fn send(
    state: &AppState,
    caller: &Caller,
    conversation: Uuid,
    body: &str,
    label: &str,
) -> AppResult<MessageView> {
    let (body, label) = (body.trim(), label.trim());
    if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(AppError::invalid_field("body", format!("the text is 1 to {MAX_BODY_CHARS} characters")));
    }
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(AppError::invalid_field(
            "call_button.label",
            format!("the button's label is 1 to {MAX_LABEL_CHARS} characters (WhatsApp's limit)"),
        ));
    }
    let number = {
        let mut conn = state.pool.acquire().await?;
        compose::check_call_button(&mut conn, caller, conversation).await?
    };
    let template = content(state, number, body, label).await?;
    let mut tx = state.pool.begin().await?;
    let draft =
        Draft { template: Some(TemplateUse { id: template, variables: Default::default() }), ..Draft::default() };
    let view = compose::send(
        &mut tx,
        compose::Outbox { max_attempts: state.settings.outbound.max_attempts },
        caller,
        conversation,
        draft,
    )
    .await?;
    tx.commit().await?;
    state.jobs_wake.kick();
    Ok(view)
}

/// The call-button content for these words on the number's account and language: found, or made at Twilio.
async fn content(state: &AppState, number: Uuid, body: &str, label: &str) -> AppResult<Uuid> {
    let digest = Sha256::digest(format!("{body}\n{label}"));
    let name = format!("call_button_{}", &hex::encode(digest)[..16]);
    let mut conn = state.pool.acquire().await?;
    let (channel_id, _) = store::numbers::sending(&mut conn, number)
        .await?
        .ok_or_else(|| AppError::conflict("channel_deleted", "the conversation's number was deleted"))?;
    drop(conn);
    let channel = state
        .channels
        .get(channel_id)
        .await?
        .ok_or_else(|| AppError::conflict("channel_deleted", "the conversation's channel was deleted"))?;
    let language = channel.number_by_id(number).and_then(|n| n.language.clone()).unwrap_or_else(|| "en".to_owned());
    // One request makes it: others with the same words wait here, then find it.
    let mut tx = state.pool.begin().await?;
    store::automation::lock_key(&mut tx, &name).await?;
    if let Some(existing) = store::templates::find_by_name(&mut tx, &name, &language).await? {
        return Ok(existing.id);
    }
    let (account, auth) = super::twilio_account(state, channel_id).await?;
    let created =
        state.twilio.create_call_button(account.sandbox, &auth, &name, &language, body, label).await.map_err(|e| {
            AppError::client(
                axum::http::StatusCode::BAD_GATEWAY,
                "twilio_error",
                format!("Twilio did not create the call button's content: {e}"),
            )
        })?;
    let settings = TemplateSettings {
        name,
        language,
        body: body.to_owned(),
        content_sid: Some(created.sid),
        category: "utility".into(),
        approval_status: "unsubmitted".into(),
        rejection_reason: None,
        tags: vec!["call_button".into()],
        content_type: "twilio/call-to-action".into(),
        buttons: sqlx::types::Json(vec![crate::domain::template::Button {
            title: label.to_owned(),
            id: None,
            description: None,
            url: None,
            phone: None,
            action: Some("VOICE_CALL".into()),
        }]),
    };
    let stored = store::templates::insert(&mut tx, &settings).await?;
    tx.commit().await?;
    Ok(stored.id)
}
