//! The vocabulary of automations that is stored as well as decided on: what an auto-reply rule does, the CSAT
//! survey's settings, placeholders in automated texts, and reading a customer's rating. The decisions are in
//! `automation`; the SQL in `store::automation`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Which automation acted: the `kind` of its run (the key of exactly-once) and of the messages it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AutomationKind)]
pub enum Kind {
    Greeting,
    OutOfHours,
    AttachmentsRefused,
    Rule,
    WaitingNotice,
    Csat,
    /// An AI agent's reply (`ai_agent_id` names which).
    AiAgent,
    /// The confirmation of a customer's STOP or START keyword.
    OptIn,
    /// A notification a company's system sent (`POST /notifications`), not an automation of ours but sent
    /// without a person all the same.
    Notification,
    /// The closing message of a conversation resolved after its number's or queue's time of silence.
    AutoResolve,
    /// The customer's yes or no to a call-permission request, recorded (nothing is sent).
    CallPermission,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Greeting => "greeting",
            Self::OutOfHours => "out_of_hours",
            Self::AttachmentsRefused => "attachments_refused",
            Self::Rule => "rule",
            Self::WaitingNotice => "waiting_notice",
            Self::Csat => "csat",
            Self::AiAgent => "ai_agent",
            Self::OptIn => "opt_in",
            Self::Notification => "notification",
            Self::AutoResolve => "auto_resolve",
            Self::CallPermission => "call_permission",
        }
    }
}

/// An automated message's author: which automation, and which rule for an auto reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Author {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
    /// The AI agent that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_agent_id: Option<Uuid>,
}

/// Whether the automation engine must look at an inbound message, as decided on the webhook's path from the
/// configuration in memory: never (nothing could act on it), only if it opened a new conversation (the greeting
/// is all that could), or always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Look {
    #[default]
    Never,
    IfNewConversation,
    Always,
}

/// What an auto-reply rule does when it fires, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Replies with text; `{{customer_name}}` and `{{number_name}}` are filled in.
    Reply { text: String },
    /// Replies with a template or interactive content (quick replies, list picker); variable values may use
    /// the same placeholders.
    ReplyTemplate {
        template_id: Uuid,
        #[serde(default)]
        variables: BTreeMap<String, String>,
    },
    /// Adds these tags to the conversation.
    AddTags { tag_ids: Vec<Uuid> },
    /// Sets the conversation's priority (-1000 to 1000).
    SetPriority { priority: i32 },
    /// Resolves the conversation (no CSAT survey is sent for an automated resolve).
    Resolve,
    /// Routes the conversation to a queue or an agent.
    Route {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue_id: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<Uuid>,
    },
}

/// What fills the placeholders of an automated text. A value that is not known becomes a neutral word.
#[derive(Debug, Clone, Default)]
pub struct Placeholders<'a> {
    pub customer_name: Option<&'a str>,
    pub number_name: Option<&'a str>,
    pub position: Option<u32>,
    pub estimated_wait: Option<String>,
}

/// Fills `{{customer_name}}`, `{{number_name}}`, `{{position}}` and `{{estimated_wait}}` (spaces inside the
/// braces allowed). Anything else between braces is left as written.
pub fn render(text: &str, p: &Placeholders<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = match after[..end].trim() {
            "customer_name" => {
                Some(p.customer_name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("there").to_owned())
            }
            "number_name" => Some(p.number_name.unwrap_or("us").to_owned()),
            "position" => Some(p.position.map_or_else(|| "?".to_owned(), |n| n.to_string())),
            "estimated_wait" => Some(p.estimated_wait.clone().unwrap_or_else(|| "a few minutes".to_owned())),
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A wait in words, rounded up to whole minutes: "1 minute", "7 minutes", "about 2 hours".
pub fn wait_in_words(secs: f64) -> String {
    let minutes = (secs / 60.0).ceil().max(1.0) as u64;
    match minutes {
        1 => "1 minute".to_owned(),
        m if m < 90 => format!("{m} minutes"),
        m => format!("about {} hours", (m + 30) / 60),
    }
}

/// How long a customer at `position` may still wait, from the queue's recent assignments: when it assigned
/// at least three conversations in the last hour, its pace (position ÷ assignments per second); otherwise the
/// median recent wait less what this customer has waited (at least a minute). `None` without any history.
pub fn estimate_wait(
    position: u32,
    assigned_last_hour: i64,
    median_wait_secs: Option<f64>,
    waited_secs: f64,
) -> Option<f64> {
    if assigned_last_hour >= 3 {
        return Some(f64::from(position.max(1)) * 3600.0 / assigned_last_hour as f64);
    }
    median_wait_secs.map(|m| (m - waited_secs).max(60.0))
}

/// The survey's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// 1 to 5.
    #[default]
    Five,
    /// Three faces, stored as 1, 3 and 5 so that averages compare with the five-point scale.
    Faces,
}

impl Scale {
    pub fn points(self) -> i16 {
        match self {
            Self::Five => 5,
            Self::Faces => 3,
        }
    }

    /// The stored ratings, in button order.
    pub fn ratings(self) -> &'static [u8] {
        match self {
            Self::Five => &[1, 2, 3, 4, 5],
            Self::Faces => &[1, 3, 5],
        }
    }

    pub fn default_labels(self) -> Vec<String> {
        match self {
            Self::Five => ["1", "2", "3", "4", "5"].map(String::from).to_vec(),
            Self::Faces => ["😞 Bad", "😐 OK", "😀 Great"].map(String::from).to_vec(),
        }
    }
}

/// The survey's words in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatTexts {
    /// The question above the buttons.
    pub question: String,
    /// One per point of the scale, in order (lowest first); at most 20 characters each (WhatsApp's limit).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Said after a rating; it may invite a comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanks: Option<String>,
}

/// A number's CSAT survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatSettings {
    #[serde(default)]
    pub scale: Scale,
    /// How long after it is sent a rating is accepted.
    #[serde(default = "default_validity_hours")]
    pub validity_hours: u32,
    /// By language tag (`en`, `pt-BR`); the customer's language is used, else the number's, else the first.
    #[serde(default)]
    pub texts: BTreeMap<String, CsatTexts>,
    /// The survey's quick-reply content at Twilio per language, created by Switchboard (`POST /v1/Content`).
    #[serde(default)]
    pub content: BTreeMap<String, Uuid>,
    /// An approved template sent instead when the window is closed (without one, no survey is sent then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
}

fn default_validity_hours() -> u32 {
    24
}

impl Default for CsatSettings {
    fn default() -> Self {
        Self {
            scale: Scale::default(),
            validity_hours: default_validity_hours(),
            texts: BTreeMap::new(),
            content: BTreeMap::new(),
            template_id: None,
        }
    }
}

impl CsatSettings {
    /// The texts for `language` (matching `pt` with `pt-BR`), else the fallback language's, else the first.
    pub fn texts_for(&self, language: Option<&str>, fallback: Option<&str>) -> Option<(&str, &CsatTexts)> {
        let pick = |lang: Option<&str>| {
            let lang = lang?;
            self.texts.iter().find(|(k, _)| k.eq_ignore_ascii_case(lang)).or_else(|| {
                self.texts.iter().find(|(k, _)| super::language::matches(k, lang) || super::language::matches(lang, k))
            })
        };
        pick(language).or_else(|| pick(fallback)).or_else(|| self.texts.iter().next()).map(|(k, v)| (k.as_str(), v))
    }

    /// The button labels of `texts`: its own, or the scale's defaults.
    pub fn labels(&self, texts: &CsatTexts) -> Vec<String> {
        if texts.labels.len() == self.ratings().len() {
            texts.labels.clone()
        } else {
            self.scale.default_labels()
        }
    }

    pub fn ratings(&self) -> &'static [u8] {
        self.scale.ratings()
    }
}

/// The button id of a rating in the survey's quick-reply content: what comes back as `ButtonPayload`.
pub fn rating_payload(rating: u8) -> String {
    format!("csat_{rating}")
}

/// A customer's answer to a survey, read from their message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rating: u8,
    /// Words after the rating in the same message ("4, quick and friendly").
    pub comment: Option<String>,
}

/// Reads a rating: a tapped button (`csat_N` payload, or a label's text), or a message that starts with a
/// digit of the scale ("5", "4 - thanks", "3/5"). For the faces scale a digit is mapped to the nearest face
/// (1–2 → 1, 3 → 3, 4–5 → 5). Anything else is not an answer.
pub fn read_answer(body: &str, payload: Option<&str>, scale: Scale, labels: &[String]) -> Option<Answer> {
    let to_scale = |n: u8| -> u8 {
        match scale {
            Scale::Five => n,
            Scale::Faces => match n {
                1 | 2 => 1,
                3 => 3,
                _ => 5,
            },
        }
    };
    if let Some(p) = payload.map(str::trim).filter(|p| !p.is_empty()) {
        let n: u8 = p.strip_prefix("csat_")?.parse().ok()?;
        return scale.ratings().contains(&n).then_some(Answer { rating: n, comment: None });
    }
    let text = body.trim();
    if let Some(i) = labels.iter().position(|l| l.trim().eq_ignore_ascii_case(text)) {
        return scale.ratings().get(i).map(|&rating| Answer { rating, comment: None });
    }
    let mut chars = text.chars();
    let first = chars.next()?.to_digit(10)? as u8;
    if !(1..=5).contains(&first) {
        return None;
    }
    let rest = chars.as_str();
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None; // "10", "123": not a rating
    }
    let rest = rest.strip_prefix("/5").unwrap_or(rest);
    let comment = rest.trim_start_matches(|c: char| c.is_whitespace() || ",.-:;!".contains(c)).trim();
    Some(Answer { rating: to_scale(first), comment: (!comment.is_empty()).then(|| comment.to_owned()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_left_as_written() {
        let p = Placeholders { customer_name: Some("Ana"), number_name: Some("Acme"), ..Default::default() };
        assert_eq!(render("Hi {{customer_name}}, welcome to {{ number_name }}!", &p), "Hi Ana, welcome to Acme!");
        assert_eq!(render("{{1}} and {{other}}", &p), "{{1}} and {{other}}");
        assert_eq!(render("unclosed {{customer_name", &p), "unclosed {{customer_name");
    }

    #[test]
    fn a_customer_without_a_profile_name_is_greeted_neutrally() {
        assert_eq!(render("Hi {{customer_name}}", &Placeholders::default()), "Hi there");
        let blank = Placeholders { customer_name: Some("  "), ..Default::default() };
        assert_eq!(render("Hi {{customer_name}}", &blank), "Hi there");
    }

    #[test]
    fn position_and_wait_fill_the_waiting_notice() {
        let p = Placeholders { position: Some(3), estimated_wait: Some(wait_in_words(250.0)), ..Default::default() };
        assert_eq!(
            render("You are number {{position}}; about {{estimated_wait}}.", &p),
            "You are number 3; about 5 minutes."
        );
        assert_eq!(wait_in_words(10.0), "1 minute");
        assert_eq!(wait_in_words(7200.0), "about 2 hours");
    }

    #[test]
    fn the_estimate_follows_the_queues_pace_then_its_median_wait() {
        // 12 assignments in the last hour: one every 5 minutes; third in line waits about 15.
        assert_eq!(estimate_wait(3, 12, Some(100.0), 0.0), Some(900.0));
        // A quiet queue: the median wait less what was waited, never under a minute.
        assert_eq!(estimate_wait(3, 1, Some(600.0), 120.0), Some(480.0));
        assert_eq!(estimate_wait(3, 1, Some(600.0), 900.0), Some(60.0));
        assert_eq!(estimate_wait(3, 0, None, 0.0), None);
    }

    #[test]
    fn a_tapped_button_is_a_rating() {
        let labels = Scale::Five.default_labels();
        assert_eq!(read_answer("4", Some("csat_4"), Scale::Five, &labels), Some(Answer { rating: 4, comment: None }));
        assert_eq!(read_answer("x", Some("csat_9"), Scale::Five, &labels), None);
        assert_eq!(read_answer("Yes", Some("help_yes"), Scale::Five, &labels), None, "another content's button");
    }

    #[test]
    fn a_digit_reply_is_a_rating_with_the_rest_as_comment() {
        let labels = Scale::Five.default_labels();
        assert_eq!(read_answer(" 5 ", None, Scale::Five, &labels), Some(Answer { rating: 5, comment: None }));
        assert_eq!(
            read_answer("4 - quick and friendly", None, Scale::Five, &labels),
            Some(Answer { rating: 4, comment: Some("quick and friendly".into()) })
        );
        assert_eq!(read_answer("3/5", None, Scale::Five, &labels), Some(Answer { rating: 3, comment: None }));
    }

    #[test]
    fn other_messages_are_not_ratings() {
        let labels = Scale::Five.default_labels();
        for text in ["", "hello", "0", "6", "10", "12345", "my order 5"] {
            assert_eq!(read_answer(text, None, Scale::Five, &labels), None, "{text:?}");
        }
    }

    #[test]
    fn faces_store_one_three_or_five() {
        let labels = Scale::Faces.default_labels();
        assert_eq!(read_answer("😀 Great", None, Scale::Faces, &labels).unwrap().rating, 5);
        assert_eq!(read_answer("2", None, Scale::Faces, &labels).unwrap().rating, 1);
        assert_eq!(read_answer("4", None, Scale::Faces, &labels).unwrap().rating, 5);
        assert_eq!(read_answer("", Some("csat_3"), Scale::Faces, &labels).unwrap().rating, 3);
        assert_eq!(read_answer("", Some("csat_2"), Scale::Faces, &labels), None);
    }

    #[test]
    fn texts_follow_the_customers_language_then_the_numbers() {
        let t = |q: &str| CsatTexts { question: q.into(), labels: vec![], thanks: None };
        let s = CsatSettings {
            texts: [("en".to_owned(), t("How did we do?")), ("pt-BR".to_owned(), t("Como foi?"))].into(),
            ..Default::default()
        };
        assert_eq!(s.texts_for(Some("pt"), Some("en")).unwrap().0, "pt-BR");
        assert_eq!(s.texts_for(Some("de"), Some("en")).unwrap().0, "en");
        assert_eq!(s.texts_for(None, None).unwrap().0, "en");
    }
}
