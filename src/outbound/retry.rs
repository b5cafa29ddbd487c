//! Sending a failed message again: a new message with the same content (its text and files, or its template and
//! values), linked to the original (`retry_of`), queued through [`compose::send_quietly`] so that today's rules
//! apply (the window, the template's approval, the files' uploads not expired). Only an outbound message that
//! failed or was not delivered, and only once: the original's row is locked, so two people clicking Retry at once
//! make one new send, and the second is told which message already retried it (a unique index backs this).

use super::compose::{self, Draft, Outbox, TemplateUse};
use super::policy::{Refusal, SendError};
use crate::auth::Caller;
use crate::store::messages::MessageView;
use crate::store::{self, outbound};
use sqlx::PgConnection;
use std::collections::BTreeMap;
use uuid::Uuid;

#[tracing::instrument(skip_all, fields(conversation = %conversation, message = %message))]
pub async fn retry(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    conversation: Uuid,
    message: Uuid,
) -> Result<MessageView, SendError> {
    let m = outbound::lock_for_retry(conn, conversation, message).await?.ok_or(Refusal::MessageNotFound)?;
    if m.direction != "outbound" || !matches!(m.status.as_str(), "failed" | "undelivered") {
        return Err(Refusal::NotRetryable { status: m.status }.into());
    }
    if let Some(retry) = m.retried_by {
        return Err(Refusal::AlreadyRetried { retry }.into());
    }
    if m.lost_files > 0 {
        return Err(Refusal::invalid("message_id", "this message's files are no longer kept: send them again").into());
    }
    let draft = match m.template_id {
        Some(id) => {
            let variables: BTreeMap<String, String> = match m.content_variables {
                Some(v) => serde_json::from_value(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                None => BTreeMap::new(),
            };
            Draft { template: Some(TemplateUse { id, variables }), ..Draft::default() }
        }
        None => Draft { body: m.body, attachments: m.upload_ids, ..Draft::default() },
    };
    let new = compose::send_quietly(conn, outbox, caller, conversation, draft).await?;
    outbound::link_retry(conn, new, message).await?;
    let view = store::messages::view(conn, new)
        .await?
        .ok_or_else(|| sqlx::Error::Protocol("a message inserted in this transaction is not found".into()))?;
    Ok(view)
}
