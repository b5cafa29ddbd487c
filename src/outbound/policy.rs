//! What may be sent, as pure rules: the 24-hour window, approved templates with exactly their variables, and
//! attachments within the number's settings and WhatsApp's limits; and every reason sending or starting a
//! conversation is refused ([`Refusal`]), answered by the API as a 4xx with a stable code ([`From<Refusal> for
//! AppError`](AppError), below). Nothing is queued when a rule refuses.

use crate::domain::outbound_media::{self, MediaRefusal};
use crate::domain::window::{self, Window};
use crate::error::AppError;
use serde_json::json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Why a message was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Free text or media outside the window (`closed_at`: when it closed; `None`: the customer never wrote).
    WindowClosed {
        closed_at: Option<OffsetDateTime>,
    },
    TemplateNotApproved {
        status: String,
    },
    /// Approved, but without a Twilio Content SID to send it by.
    TemplateNotAtTwilio,
    TemplateVariablesInvalid(String),
    AttachmentsDisabled,
    Media {
        index: usize,
        refusal: MediaRefusal,
    },
    /// A value of the draft that cannot be sent as it is.
    Invalid {
        field: String,
        message: String,
    },
    /// The draft names something that does not exist (or can no longer be used).
    UnknownReference {
        code: &'static str,
        field: String,
        message: String,
    },
    UploadExpired {
        index: usize,
    },
    /// No such conversation that the caller may see.
    ConversationNotFound,
    ConversationResolved,
    /// The conversation's channel or number was deleted.
    ChannelDeleted,
    /// The caller (an agent) does not serve the number to write from.
    NumberNotServed,
    /// The customer already has an open conversation on the number (`None`: it was resolved again meanwhile).
    ConversationExists {
        id: Option<Uuid>,
    },
    /// The customer opted out of messages from the number: nobody at the business may write first.
    OptedOut,
    /// A business-initiated notification to a customer with no opt-in on record for the number.
    OptInRequired,
    /// A human agent holds an unresolved conversation with the customer: a notification never cuts into it.
    ConversationActive {
        id: Uuid,
    },
    /// The number reached its tier's cap of unique customers in 24 hours.
    MessagingLimitReached {
        cap: i64,
        retry_after: std::time::Duration,
    },
    /// No such message in the conversation.
    MessageNotFound,
    /// Only an outbound message that failed (or was not delivered) can be sent again.
    NotRetryable {
        status: String,
    },
    /// The message was sent again already: by the message named.
    AlreadyRetried {
        retry: Uuid,
    },
    /// A call-permission request (or a call button) from a number that does not take calls.
    NumberDoesNotCall,
    /// WhatsApp's call-permission rules forbid it now.
    CallPermission(crate::domain::call_permission::Refusal),
    /// A conversation started to call the customer must open with a call-permission template.
    NotCallPermissionTemplate,
}

impl From<crate::calling::permission::Refused> for Refusal {
    fn from(r: crate::calling::permission::Refused) -> Self {
        match r {
            crate::calling::permission::Refused::NumberDoesNotCall => Self::NumberDoesNotCall,
            crate::calling::permission::Refused::Rule(rule) => Self::CallPermission(rule),
        }
    }
}

impl Refusal {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_owned(), message: message.into() }
    }

    pub fn unknown(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Self::UnknownReference { code, field: field.to_owned(), message: message.into() }
    }
}

/// Why sending or starting did not happen: refused, or the database failed (the transaction is then rolled back).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Refusal> for SendError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl From<crate::refs::RefError> for SendError {
    fn from(e: crate::refs::RefError) -> Self {
        use crate::refs::RefError;
        match e {
            RefError::Unknown { field, message } => {
                Self::Refused(Refusal::UnknownReference { code: "unknown_reference", field, message })
            }
            RefError::TooMany { field, message } => Self::Refused(Refusal::Invalid { field, message }),
            RefError::Database(e) => Self::Database(e),
        }
    }
}

impl From<SendError> for AppError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Refused(r) => r.into(),
            SendError::Database(e) => e.into(),
        }
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::WindowClosed { closed_at } => {
                let (message, at) = match closed_at {
                    Some(at) => {
                        let text = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                        (format!("the 24-hour window closed at {text}: the customer last wrote more than 24 hours ago, so only an approved template can be sent until they write again"), Some(text))
                    }
                    None => ("the customer has not written yet, so there is no 24-hour window: only an approved template can be sent".to_owned(), None),
                };
                AppError::unprocessable("session_window_closed", message).with_details(json!({ "window_closed_at": at }))
            }
            Refusal::TemplateNotApproved { status } => AppError::unprocessable(
                "template_not_approved",
                format!("this template is {status}: WhatsApp must approve it (for this language) before it can be sent"),
            )
            .with_field("template.id"),
            Refusal::TemplateNotAtTwilio => AppError::unprocessable(
                "template_not_approved",
                "this template has no Twilio Content SID, so it cannot be sent: sync templates from Twilio or set content_sid",
            )
            .with_field("template.id"),
            Refusal::TemplateVariablesInvalid(m) => {
                AppError::unprocessable("template_variables_invalid", m).with_field("template.variables")
            }
            Refusal::AttachmentsDisabled => AppError::unprocessable(
                "attachments_disabled",
                "this WhatsApp number does not let agents send attachments",
            )
            .with_field("attachments"),
            Refusal::Media { index, refusal } => {
                let (code, limit) = match &refusal {
                    MediaRefusal::UnsupportedType { .. } => ("media_type_unsupported", None),
                    MediaRefusal::TooLarge { limit, .. } => ("media_too_large", Some(*limit)),
                };
                AppError::unprocessable(code, format!("attachments[{index}]: {refusal}"))
                    .with_details(json!({ "field": format!("attachments[{index}]"), "limit_bytes": limit }))
            }
            Refusal::Invalid { field, message } => AppError::invalid_field(&field, message),
            Refusal::UnknownReference { code, field, message } => {
                AppError::unprocessable(code, message).with_field(&field)
            }
            Refusal::UploadExpired { index } => {
                let field = format!("attachments[{index}]");
                AppError::unprocessable("upload_expired", format!("{field}: this upload expired; upload the file again"))
                    .with_field(&field)
            }
            Refusal::ConversationNotFound => {
                AppError::not_found("conversation_not_found", "no conversation with this id that you can see")
            }
            Refusal::ConversationResolved => AppError::conflict(
                "conversation_resolved",
                "this conversation is resolved: reopen it, or the customer's next message starts a new one",
            ),
            Refusal::ChannelDeleted => AppError::conflict(
                "channel_deleted",
                "the channel or number of this conversation was deleted: nothing can be sent from it",
            ),
            Refusal::NumberNotServed => AppError::forbidden(
                "number_not_served",
                "you do not serve this number: ask an admin to add you to it, or write from one of yours",
            ),
            Refusal::ConversationExists { id } => AppError::conflict(
                "conversation_exists",
                "this customer already has an open conversation on this number: continue there",
            )
            .with_details(json!({ "conversation_id": id })),
            Refusal::OptedOut => AppError::unprocessable(
                "opted_out",
                "this customer opted out of messages from this number (they wrote STOP, or Twilio reported them unsubscribed): only they can opt in again, by writing START",
            )
            .with_field("to"),
            Refusal::OptInRequired => AppError::unprocessable(
                "opt_in_required",
                "no opt-in is on record for this customer on this number: record their consent (POST /contacts/{id}/opt-ins) before writing first",
            )
            .with_field("to"),
            Refusal::ConversationActive { id } => AppError::conflict(
                "conversation_active",
                "an agent holds an unresolved conversation with this customer on this number: a notification is not sent into it",
            )
            .with_details(json!({ "conversation_id": id })),
            Refusal::MessagingLimitReached { cap, retry_after } => AppError::client(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "messaging_limit_reached",
                format!("this number reached its messaging limit of {cap} unique customers in 24 hours: try again after the time in Retry-After, or raise its tier"),
            )
            .with_details(json!({ "cap": cap, "retry_after_secs": retry_after.as_secs() })),
            Refusal::MessageNotFound => {
                AppError::not_found("message_not_found", "no message with this id in this conversation")
            }
            Refusal::NotRetryable { status } => AppError::conflict(
                "message_not_failed",
                format!("only an outbound message that failed or was not delivered can be sent again; this one is {status}"),
            ),
            Refusal::AlreadyRetried { retry } => AppError::conflict(
                "already_retried",
                "this message was already sent again: retry the new attempt if it failed too",
            )
            .with_details(json!({ "message_id": retry })),
            Refusal::NumberDoesNotCall => AppError::unprocessable(
                "number_does_not_call",
                "this conversation's WhatsApp number does not take calls: an admin turns on supports_calling for a number whose sender has calling enabled at Twilio",
            ),
            Refusal::CallPermission(rule) => call_permission_error(rule),
            Refusal::NotCallPermissionTemplate => AppError::unprocessable(
                "template_not_call_permission",
                "this template has no call-permission request (a call-to-action button of type VOICE_CALL_REQUEST): only such a template can ask a customer for permission to call",
            )
            .with_field("template.id"),
        }
    }
}

/// A call-permission rule's refusal, with when it would be allowed where the rules say.
fn call_permission_error(rule: crate::domain::call_permission::Refusal) -> AppError {
    use crate::domain::call_permission::Refusal as Rule;
    let at = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    match rule {
        Rule::RequestLimited { next } => AppError::unprocessable(
            rule.code(),
            format!("WhatsApp allows one call-permission request per 24 hours and two per 7 days (until a call connects): the next is possible at {}", at(next)),
        )
        .with_details(json!({ "next_request_at": at(next) })),
        Rule::PermissionMissing => AppError::unprocessable(
            rule.code(),
            "the customer has not allowed calls (or the permission expired after 7 days, or was revoked after unanswered calls): send a call-permission request first",
        ),
        Rule::CallLimitReached { next } => AppError::unprocessable(
            rule.code(),
            format!("the calls allowed with this customer in 24 hours were made: the next is possible at {}", at(next)),
        )
        .with_details(json!({ "next_call_at": at(next) })),
    }
}

/// Free text and media need the window open.
pub fn session_message(last_inbound_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Result<Window, Refusal> {
    let w = window::at(last_inbound_at, now);
    if w.open {
        Ok(w)
    } else {
        Err(Refusal::WindowClosed { closed_at: w.expires_at })
    }
}

/// A template may be sent at any time once WhatsApp approved it; inside the 24-hour window, interactive content
/// (quick replies, list picker, call to action, card) needs no approval. Twilio needs its Content SID either way.
pub fn template(
    approval_status: &str,
    content_sid: Option<&str>,
    content_type: &str,
    window_open: bool,
) -> Result<(), Refusal> {
    if content_sid.is_none() {
        return Err(Refusal::TemplateNotAtTwilio);
    }
    let interactive_in_session = window_open && crate::domain::template::is_interactive(content_type);
    if approval_status != "approved" && !interactive_in_session {
        return Err(Refusal::TemplateNotApproved { status: approval_status.to_owned() });
    }
    Ok(())
}

/// Longest value of one variable (WhatsApp refuses longer parameters).
pub const MAX_VARIABLE_CHARS: usize = 1024;

/// The variables in order `1..=count`: every one given, none extra, none empty or too long.
pub fn template_variables(count: u32, given: &BTreeMap<String, String>) -> Result<Vec<String>, Refusal> {
    let invalid = |m: String| Err(Refusal::TemplateVariablesInvalid(m));
    let mut values = Vec::with_capacity(count as usize);
    for n in 1..=count {
        match given.get(&n.to_string()).map(|v| v.trim()) {
            None => return invalid(format!("variable {n} is missing: this template needs {}", expected(count))),
            Some("") => return invalid(format!("variable {n} is empty: WhatsApp refuses empty variables")),
            Some(v) if v.chars().count() > MAX_VARIABLE_CHARS => {
                return invalid(format!("variable {n} is longer than {MAX_VARIABLE_CHARS} characters"))
            }
            Some(v) if v.contains(['\n', '\r', '\t']) => {
                return invalid(format!("variable {n} has a new line or a tab: WhatsApp refuses them in variables"))
            }
            Some(v) if v.contains("     ") => {
                return invalid(format!(
                    "variable {n} has more than four spaces in a row: WhatsApp refuses them in variables"
                ))
            }
            Some(v) => values.push(v.to_owned()),
        }
    }
    if let Some(extra) = given.keys().find(|k| k.parse::<u32>().map_or(true, |n| n == 0 || n > count)) {
        return invalid(format!("there is no variable {extra:?}: this template needs {}", expected(count)));
    }
    Ok(values)
}

fn expected(count: u32) -> String {
    match count {
        0 => "no variables".to_owned(),
        1 => "variable \"1\"".to_owned(),
        n => format!("variables \"1\" to \"{n}\""),
    }
}

/// Attachments: allowed on the number, and each within WhatsApp's type and size limits.
pub fn attachments<'a>(allowed: bool, files: impl IntoIterator<Item = (&'a str, u64)>) -> Result<(), Refusal> {
    let mut files = files.into_iter().enumerate().peekable();
    if files.peek().is_some() && !allowed {
        return Err(Refusal::AttachmentsDisabled);
    }
    for (index, (content_type, size)) in files {
        outbound_media::check(content_type, size).map_err(|refusal| Refusal::Media { index, refusal })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn session_messages_follow_the_window() {
        let last = datetime!(2026-11-21 08:00:00 UTC);
        assert!(session_message(Some(last), last + Duration::hours(24) - Duration::seconds(1)).is_ok());
        assert_eq!(
            session_message(Some(last), last + Duration::hours(24)),
            Err(Refusal::WindowClosed { closed_at: Some(last + Duration::hours(24)) })
        );
        assert_eq!(session_message(None, last), Err(Refusal::WindowClosed { closed_at: None }));
    }

    #[test]
    fn only_approved_templates_with_a_content_sid() {
        for open in [false, true] {
            assert!(template("approved", Some("HX…"), "twilio/text", open).is_ok());
            assert_eq!(
                template("pending", Some("HX…"), "twilio/text", open),
                Err(Refusal::TemplateNotApproved { status: "pending".into() })
            );
            assert_eq!(template("approved", None, "twilio/text", open), Err(Refusal::TemplateNotAtTwilio));
        }
    }

    #[test]
    fn unapproved_interactive_content_inside_the_window_only() {
        for kind in ["twilio/quick-reply", "twilio/list-picker", "twilio/call-to-action", "twilio/card"] {
            assert!(template("unsubmitted", Some("HX…"), kind, true).is_ok(), "{kind}");
            assert_eq!(
                template("unsubmitted", Some("HX…"), kind, false),
                Err(Refusal::TemplateNotApproved { status: "unsubmitted".into() }),
                "{kind} outside the window"
            );
        }
        assert_eq!(template("rejected", None, "twilio/quick-reply", true), Err(Refusal::TemplateNotAtTwilio));
    }

    #[test]
    fn variables_must_be_exactly_the_templates() {
        assert_eq!(template_variables(2, &vars(&[("1", "Ana"), ("2", " 42 ")])).unwrap(), ["Ana", "42"]);
        assert_eq!(template_variables(0, &vars(&[])).unwrap(), Vec::<String>::new());
        for (count, given, says) in [
            (2, vars(&[("1", "Ana")]), "variable 2 is missing"),
            (1, vars(&[("1", "  ")]), "empty"),
            (1, vars(&[("1", "Ana"), ("2", "x")]), "no variable \"2\""),
            (1, vars(&[("1", "Ana"), ("name", "x")]), "no variable \"name\""),
            (0, vars(&[("1", "x")]), "no variables"),
            (1, vars(&[("1", "two\nlines")]), "new line"),
            (1, vars(&[("1", "a\tb")]), "tab"),
            (1, vars(&[("1", "a     b")]), "four spaces"),
        ] {
            match template_variables(count, &given) {
                Err(Refusal::TemplateVariablesInvalid(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{given:?}: {other:?}"),
            }
        }
        let long = "x".repeat(MAX_VARIABLE_CHARS + 1);
        assert!(template_variables(1, &vars(&[("1", &long)])).is_err());
    }

    #[test]
    fn attachments_need_the_number_to_allow_them_and_fit_whatsapps_limits() {
        assert!(attachments(false, []).is_ok());
        assert_eq!(attachments(false, [("image/png", 10)]), Err(Refusal::AttachmentsDisabled));
        assert!(attachments(true, [("image/png", 10), ("application/pdf", 1_000_000)]).is_ok());
        match attachments(true, [("image/png", 10), ("image/jpeg", 6 * 1024 * 1024)]) {
            Err(Refusal::Media { index: 1, refusal }) => assert!(refusal.to_string().contains("5 MB")),
            other => panic!("{other:?}"),
        }
    }
}
