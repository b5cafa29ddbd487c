//! What may be sent into a conversation, as pure rules: the 24-hour window, approved templates with exactly
//! their variables, and attachments within the number's settings and WhatsApp's limits. The API turns each
//! refusal into a 422 with a stable code; nothing is queued when a rule refuses.

use crate::domain::outbound_media::{self, MediaRefusal};
use crate::domain::window::{self, Window};
use std::collections::BTreeMap;
use time::OffsetDateTime;

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

/// A template may be sent at any time once WhatsApp approved it; Twilio needs its Content SID.
pub fn template(approval_status: &str, content_sid: Option<&str>) -> Result<(), Refusal> {
    if approval_status != "approved" {
        return Err(Refusal::TemplateNotApproved { status: approval_status.to_owned() });
    }
    if content_sid.is_none() {
        return Err(Refusal::TemplateNotAtTwilio);
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
        assert!(template("approved", Some("HX…")).is_ok());
        assert_eq!(template("pending", Some("HX…")), Err(Refusal::TemplateNotApproved { status: "pending".into() }));
        assert_eq!(template("approved", None), Err(Refusal::TemplateNotAtTwilio));
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
