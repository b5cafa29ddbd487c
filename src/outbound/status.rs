//! Status callbacks: an outbound message's delivery status moves forward only, and a failure keeps Twilio's
//! error code with a readable explanation.

use crate::channels::ChannelConfig;
use crate::domain::opt_in;
use crate::error::{AppError, AppResult};
use crate::store::statuses::{self, StatusUpdate};
use crate::twilio::errors;
use crate::twilio::webhook::{Form, StatusCallback};
use sqlx::PgPool;

#[tracing::instrument(skip_all, fields(channel = %channel.id, message_sid))]
pub async fn receive(pool: &PgPool, channel: &ChannelConfig, form: &Form) -> AppResult<()> {
    let callback = StatusCallback::try_from(form).map_err(|e| {
        tracing::warn!(code = e.code(), reason = %e, "status callback refused");
        AppError::bad_request(e.code(), e.to_string())
    })?;
    tracing::Span::current().record("message_sid", callback.message_sid.as_str());
    if callback.account_sid != channel.account_sid {
        return Err(AppError::forbidden(
            "account_mismatch",
            "the AccountSid of this request is not the account of this channel",
        ));
    }
    let Some(status) = callback.status else {
        tracing::warn!(status = %callback.raw_status, "status callback with a status this version does not know; ignored");
        return Ok(());
    };
    let explanation = callback.error_code.map(|code| errors::describe(code, callback.error_message.as_deref()));
    let outcome = statuses::apply_status(
        pool,
        channel.account_id,
        callback.message_sid.as_str(),
        status,
        callback.error_code,
        explanation.as_deref(),
    )
    .await?;
    match outcome {
        StatusUpdate::Applied { previous } => {
            tracing::info!(%previous, %status, error_code = callback.error_code, "message status updated");
            if callback.error_code == Some(opt_in::TWILIO_UNSUBSCRIBED) {
                let evidence = format!("Twilio reported error 21610 for message {}", callback.message_sid.as_str());
                crate::store::opt_ins::opt_out_of_sid(
                    pool,
                    channel.account_id,
                    callback.message_sid.as_str(),
                    &evidence,
                )
                .await?;
            }
        }
        StatusUpdate::Stale { current } => {
            tracing::info!(%current, %status, "stale status callback ignored")
        }
        StatusUpdate::UnknownMessage => {
            tracing::info!(%status, "status callback for a message whose SID is not recorded (yet); kept for an hour to apply when it is")
        }
    }
    Ok(())
}
