//! Where a message is queued for sending: the one home of every sender (agents and API tokens, automations, the
//! AI agent, the notifications API, call-permission requests and call buttons).
//!
//! [`send`] puts a message into a conversation: free text and/or uploaded files while the 24-hour window is
//! open, or an approved template at any time; [`super::start`] opens a conversation with a customer by a
//! template, through the same queueing. Both run in the caller's transaction, check every rule of [`policy`] against what the database says now (the
//! conversation's row is share-locked), and write the message with its send job, so the message is sent exactly
//! when the transaction commits. A refusal queues nothing and says why ([`Refusal`]).

use super::policy::{self, Refusal, SendError};
use crate::auth::Caller;
use crate::calling::permission;
use crate::domain::{automation, template, window, ConversationStatus};
use crate::store::conversations;
use crate::store::messages::MessageView;
use crate::store::{self, outbound, routing as db};
use serde::Deserialize;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Twilio's limit for a message body.
pub const MAX_BODY_CHARS: usize = 1600;
/// Twilio's limit of `MediaUrl`s per message.
pub const MAX_ATTACHMENTS: usize = 10;
/// The longest topic a conversation may be started with.
pub const MAX_TOPIC_CHARS: usize = 200;

/// An approved template and the values of its variables.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateUse {
    pub id: Uuid,
    /// `{"1": "Ana", "2": "12 May"}`: exactly the template's variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// A message to put into a conversation.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub body: String,
    /// Ids of uploads, sent in this order.
    pub attachments: Vec<Uuid>,
    /// Sent alone: a template message has no body or attachments of its own.
    pub template: Option<TemplateUse>,
    /// Set when an automation sends it (never by a person): the message is authored by the automation, and a
    /// CSAT survey may go into the conversation its resolve just closed.
    pub automated: Option<automation::Author>,
    /// A message of the conversation this one answers: the thread shows it quoted. (Twilio's Messages API takes
    /// no reply context for WhatsApp, so the customer sees the text alone.)
    pub quote: Option<Uuid>,
}

/// How many times the sender may try each message (`outbound.max_attempts`).
#[derive(Debug, Clone, Copy)]
pub struct Outbox {
    pub max_attempts: i32,
}

/// Queues `draft` into the conversation `id`, which `caller` must be able to see; answers the message as
/// queued. Refused when the draft is malformed, the conversation is resolved or its channel deleted, the window
/// is closed for free text or media, the template cannot be sent, or an attachment is not allowed.
pub async fn send(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    id: Uuid,
    draft: Draft,
) -> Result<MessageView, SendError> {
    let message_id = send_quietly(conn, outbox, caller, id, draft).await?;
    let view = store::messages::view(conn, message_id)
        .await?
        .ok_or_else(|| sqlx::Error::Protocol("a message inserted in this transaction is not found".into()))?;
    Ok(view)
}

/// [`send`] for a caller that needs only the new message's id (an automation): one query fewer.
#[tracing::instrument(skip_all, fields(conversation = %id, template = draft.template.is_some(), attachments = draft.attachments.len()))]
pub async fn send_quietly(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    id: Uuid,
    draft: Draft,
) -> Result<Uuid, SendError> {
    check_draft(&draft)?;
    let target =
        conversations::send_target(conn, id, caller.visibility()).await?.ok_or(Refusal::ConversationNotFound)?;
    admit(&target, draft.automated)?;
    if let Some(q) = draft.quote {
        if !store::messages::in_conversation(conn, q, id).await? {
            return Err(Refusal::invalid("reply_to_message_id", "no message with this id in this conversation").into());
        }
    }
    let window_open = window::at(target.last_inbound_at, target.db_now).open;
    let template = match &draft.template {
        Some(t) => Some(template_message(conn, t, window_open).await?),
        None => {
            policy::session_message(target.last_inbound_at, target.db_now)?;
            check_uploads(conn, caller, target.agents_may_send_attachments, &draft.attachments).await?;
            None
        }
    };
    if template.as_ref().is_some_and(|t| t.call_button) {
        call_button_allowed(&target)?;
    }
    let asks = template.as_ref().is_some_and(|t| t.asks_call_permission);
    if asks {
        permission::admit(conn, target.number_id, target.contact_id, target.supports_calling, permission::Ask::Request)
            .await?
            .map_err(Refusal::from)?;
    }
    let text = template.as_ref().map_or(draft.body.as_str(), |m| m.text.as_str());
    let message_id = Uuid::now_v7();
    let parts = Parts {
        text,
        template: template.as_ref(),
        attachments: &draft.attachments,
        automated: draft.automated,
        quote: draft.quote,
    };
    queue(conn, outbox, caller, message_id, id, target.account_id, parts).await?;
    if asks {
        let request = store::call_permissions::NewRequest {
            number_id: target.number_id,
            contact_id: target.contact_id,
            conversation_id: id,
            message_id,
            requested_by: caller.user_id,
        };
        permission::requested(conn, &request).await?;
    }
    if let (Some(agent), None) = (caller.user_id, draft.automated) {
        // An agent who answers is there: their missed acceptances in a row start over.
        db::answered(conn, agent).await?;
    }
    tracing::info!(message = %message_id, conversation = %id, "outbound message queued");
    Ok(message_id)
}

/// An automation's text message for a conversation.
#[derive(Debug, Clone)]
pub struct AutomatedText {
    pub conversation_id: Uuid,
    pub body: String,
    pub author: automation::Author,
}

/// [`send_quietly`] for many automated text messages at once, under the same rules (the draft's shape, the
/// conversation open to messages, the 24-hour window): the conversations are read in one query and the messages
/// with their send jobs written in one statement. Answers each message's id or refusal, in order.
pub async fn send_texts(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    texts: &[AutomatedText],
) -> sqlx::Result<Vec<Result<Uuid, Refusal>>> {
    let mut ids: Vec<Uuid> = texts.iter().map(|t| t.conversation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let targets: std::collections::HashMap<Uuid, conversations::SendTarget> =
        conversations::send_targets(conn, &ids).await?.into_iter().collect();
    let mut answers = Vec::with_capacity(texts.len());
    let mut rows = Vec::with_capacity(texts.len());
    let authors: Vec<Option<serde_json::Value>> = texts.iter().map(|t| author_json(Some(t.author))).collect();
    for (t, author) in texts.iter().zip(&authors) {
        let draft = Draft { body: t.body.clone(), automated: Some(t.author), ..Draft::default() };
        let admitted = check_draft(&draft).and_then(|()| {
            let target = targets.get(&t.conversation_id).ok_or(Refusal::ConversationNotFound)?;
            admit(target, draft.automated)?;
            policy::session_message(target.last_inbound_at, target.db_now)?;
            Ok(target)
        });
        answers.push(admitted.map(|target| {
            let id = Uuid::now_v7();
            let parts =
                Parts { text: &t.body, template: None, attachments: &[], automated: Some(t.author), quote: None };
            rows.push(row(outbox, caller, id, t.conversation_id, target.account_id, parts, author.as_ref()));
            id
        }));
    }
    outbound::insert_many(conn, &rows).await?;
    tracing::info!(queued = rows.len(), refused = texts.len() - rows.len(), "automated messages queued");
    Ok(answers)
}

/// A message with a call button goes only into an open 24-hour window, from a number that takes calls (seed
/// 001's interactive call button).
fn call_button_allowed(target: &conversations::SendTarget) -> Result<(), Refusal> {
    policy::session_message(target.last_inbound_at, target.db_now)?;
    if !target.supports_calling {
        return Err(Refusal::NumberDoesNotCall);
    }
    Ok(())
}

/// Whether `caller` may send a call-button message into the conversation now (checked again when it is sent):
/// answers the conversation's number, so the button's content can be made before the message is queued.
pub async fn check_call_button(conn: &mut PgConnection, caller: &Caller, id: Uuid) -> Result<Uuid, SendError> {
    let target =
        conversations::send_target(conn, id, caller.visibility()).await?.ok_or(Refusal::ConversationNotFound)?;
    admit(&target, None)?;
    call_button_allowed(&target)?;
    Ok(target.number_id)
}

/// Whether the conversation takes messages at all: its channel and number still exist, and it is not resolved
/// (a CSAT survey goes into the conversation its resolve just closed).
fn admit(target: &conversations::SendTarget, automated: Option<automation::Author>) -> Result<(), Refusal> {
    if target.channel_deleted || target.number_deleted {
        return Err(Refusal::ChannelDeleted);
    }
    let survey = automated.is_some_and(|a| a.kind == automation::Kind::Csat);
    if target.status == ConversationStatus::Resolved && !survey {
        return Err(Refusal::ConversationResolved);
    }
    Ok(())
}

/// The draft's own shape, before anything is looked up.
fn check_draft(draft: &Draft) -> Result<(), Refusal> {
    if draft.body.chars().count() > MAX_BODY_CHARS {
        return Err(Refusal::invalid("body", format!("body is at most {MAX_BODY_CHARS} characters (Twilio's limit)")));
    }
    if draft.attachments.len() > MAX_ATTACHMENTS {
        return Err(Refusal::invalid("attachments", format!("at most {MAX_ATTACHMENTS} attachments per message")));
    }
    if draft.template.is_some() && (!draft.body.is_empty() || !draft.attachments.is_empty()) {
        return Err(Refusal::invalid(
            "template",
            "a template message has no body or attachments of its own: send the template alone",
        ));
    }
    if draft.template.is_none() && draft.body.trim().is_empty() && draft.attachments.is_empty() {
        return Err(Refusal::invalid("body", "give a body, attachments or a template"));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = draft.attachments.iter().position(|a| !seen.insert(*a)) {
        return Err(Refusal::invalid(&format!("attachments[{dup}]"), "the same upload is listed twice"));
    }
    Ok(())
}

/// Every upload exists, is the caller's own (a supervisor may send anyone's) and has not expired, and the number
/// lets them be sent.
async fn check_uploads(conn: &mut PgConnection, caller: &Caller, allowed: bool, ids: &[Uuid]) -> Result<(), SendError> {
    if ids.is_empty() {
        return Ok(policy::attachments(allowed, [])?);
    }
    let uploads = store::uploads::find_many(conn, ids).await?;
    let mut files = Vec::with_capacity(ids.len());
    for (index, upload_id) in ids.iter().enumerate() {
        let u = uploads.iter().find(|u| u.id == *upload_id).ok_or_else(|| {
            Refusal::unknown("upload_not_found", &format!("attachments[{index}]"), "no upload with this id")
        })?;
        if !caller.supervisor && u.uploaded_by != caller.user_id {
            // Someone else's file is not the caller's to send: answered as if it did not exist.
            return Err(Refusal::unknown(
                "upload_not_found",
                &format!("attachments[{index}]"),
                "no upload with this id",
            )
            .into());
        }
        if u.expired {
            return Err(Refusal::UploadExpired { index }.into());
        }
        files.push((u.content_type.as_str(), u.size_bytes as u64));
    }
    Ok(policy::attachments(allowed, files)?)
}

/// A template message, checked (approved, at Twilio, exactly its variables) and rendered.
#[derive(Debug, Clone)]
pub struct TemplateMessage {
    pub text: String,
    pub template_id: Uuid,
    pub content_sid: Option<String>,
    /// `{"1": "Ana", …}`, as Twilio's `ContentVariables`.
    pub variables: serde_json::Value,
    /// A call-permission request: WhatsApp's request limits apply, and it is recorded as a request.
    pub asks_call_permission: bool,
    /// It carries a call button (a `VOICE_CALL` action): only inside the window, from a number that takes calls.
    pub call_button: bool,
}

/// Whether the template asks the customer for permission to call (its VOICE_CALL_REQUEST element).
pub fn asks_call_permission(tpl: &store::templates::Template) -> bool {
    template::is_call_permission_request(&tpl.settings.content_type, &tpl.settings.buttons)
}

/// `window_open`: inside the 24-hour window, interactive content needs no approval.
pub async fn template_message(
    conn: &mut PgConnection,
    t: &TemplateUse,
    window_open: bool,
) -> Result<TemplateMessage, SendError> {
    let tpl = store::templates::find(conn, t.id)
        .await?
        .ok_or_else(|| Refusal::unknown("template_not_found", "template.id", "no template with this id"))?;
    sendable(&tpl, window_open)?;
    Ok(fill(&tpl, &t.variables)?)
}

/// Whether the template can be sent at all (approved, at Twilio).
pub fn sendable(tpl: &store::templates::Template, window_open: bool) -> Result<(), Refusal> {
    let s = &tpl.settings;
    policy::template(&s.approval_status, s.content_sid.as_deref(), &s.content_type, window_open)
}

/// The template with exactly its variables filled in.
pub fn fill(
    tpl: &store::templates::Template,
    variables: &BTreeMap<String, String>,
) -> Result<TemplateMessage, Refusal> {
    let values = policy::template_variables(tpl.variable_count as u32, variables)?;
    let text = template::render(&tpl.settings.body, &values).unwrap_or_else(|| tpl.settings.body.clone());
    let vars: serde_json::Map<String, serde_json::Value> =
        values.iter().enumerate().map(|(i, v)| ((i + 1).to_string(), v.clone().into())).collect();
    Ok(TemplateMessage {
        text,
        template_id: tpl.id,
        content_sid: tpl.settings.content_sid.clone(),
        variables: serde_json::Value::Object(vars),
        asks_call_permission: asks_call_permission(tpl),
        call_button: template::has_call_button(&tpl.settings.buttons),
    })
}

/// Queues a checked template message into a conversation (the notifications API's one write of a message),
/// marked as sent by `automated`.
pub async fn queue_template(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    conversation_id: Uuid,
    account_id: Uuid,
    message: &TemplateMessage,
    automated: automation::Author,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    queue(conn, outbox, caller, id, conversation_id, account_id, Parts::template(message, Some(automated))).await?;
    Ok(id)
}

/// [`queue_template`] for several messages by one author on one account, in one statement: `(message id,
/// conversation, message)`, queued in that order.
pub async fn queue_templates(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    account_id: Uuid,
    automated: automation::Author,
    messages: &[(Uuid, Uuid, &TemplateMessage)],
) -> sqlx::Result<()> {
    let automation = author_json(Some(automated));
    let rows: Vec<_> = messages
        .iter()
        .map(|&(id, conversation_id, message)| {
            let parts = Parts::template(message, Some(automated));
            row(outbox, caller, id, conversation_id, account_id, parts, automation.as_ref())
        })
        .collect();
    outbound::insert_many(conn, &rows).await
}

/// What a queued message is made of.
pub(super) struct Parts<'a> {
    text: &'a str,
    template: Option<&'a TemplateMessage>,
    attachments: &'a [Uuid],
    automated: Option<automation::Author>,
    /// The customer's message it answers.
    quote: Option<Uuid>,
}

impl<'a> Parts<'a> {
    /// A template message on its own (what automations, notifications and new conversations send).
    pub(super) fn template(message: &'a TemplateMessage, automated: Option<automation::Author>) -> Self {
        Self { text: &message.text, template: Some(message), attachments: &[], automated, quote: None }
    }
}

/// An automated message's author as stored (`messages.automation`).
fn author_json(author: Option<automation::Author>) -> Option<serde_json::Value> {
    author.map(|a| serde_json::to_value(a).expect("an author serialises"))
}

/// The row of a queued message made of `parts`; `automation` is [`author_json`] of its author.
fn row<'a>(
    outbox: Outbox,
    caller: &'a Caller,
    id: Uuid,
    conversation_id: Uuid,
    account_id: Uuid,
    Parts { text, template, attachments, automated: _, quote }: Parts<'a>,
    automation: Option<&'a serde_json::Value>,
) -> outbound::NewOutbound<'a> {
    outbound::NewOutbound {
        id,
        conversation_id,
        account_id,
        body: text,
        author_user_id: caller.user_id,
        author_label: &caller.actor.label,
        template_id: template.map(|t| t.template_id),
        content_sid: template.and_then(|t| t.content_sid.as_deref()),
        content_variables: template.map(|t| &t.variables),
        upload_ids: attachments,
        max_attempts: outbox.max_attempts,
        automation,
        quoted_message_id: quote,
    }
}

/// The message row (`queued`) and its send job.
pub(super) async fn queue(
    conn: &mut PgConnection,
    outbox: Outbox,
    caller: &Caller,
    message_id: Uuid,
    conversation_id: Uuid,
    account_id: Uuid,
    parts: Parts<'_>,
) -> sqlx::Result<()> {
    let automation = author_json(parts.automated);
    outbound::insert(conn, &row(outbox, caller, message_id, conversation_id, account_id, parts, automation.as_ref()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<(), Refusal>) -> String {
        match r {
            Err(Refusal::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_draft_needs_a_body_attachments_or_a_template() {
        assert_eq!(field_of(check_draft(&Draft { body: "  ".into(), ..Draft::default() })), "body");
        assert!(check_draft(&Draft { body: "hi".into(), ..Draft::default() }).is_ok());
        assert!(check_draft(&Draft { attachments: vec![Uuid::now_v7()], ..Draft::default() }).is_ok());
    }

    #[test]
    fn a_template_is_sent_alone() {
        let template = Some(TemplateUse { id: Uuid::now_v7(), variables: BTreeMap::new() });
        assert_eq!(field_of(check_draft(&Draft { body: "x".into(), template, ..Draft::default() })), "template");
    }

    #[test]
    fn the_body_and_the_attachments_stay_within_twilios_limits() {
        let long = "é".repeat(MAX_BODY_CHARS + 1);
        assert_eq!(field_of(check_draft(&Draft { body: long, ..Draft::default() })), "body");
        assert!(check_draft(&Draft { body: "é".repeat(MAX_BODY_CHARS), ..Draft::default() }).is_ok());
        let many = (0..=MAX_ATTACHMENTS).map(|_| Uuid::now_v7()).collect();
        assert_eq!(field_of(check_draft(&Draft { attachments: many, ..Draft::default() })), "attachments");
        let one = Uuid::now_v7();
        assert_eq!(field_of(check_draft(&Draft { attachments: vec![one, one], ..Draft::default() })), "attachments[1]");
    }
}
