//! The vocabulary of routing that is stored as well as decided on: a rule's conditions and target, and a queue
//! member as selection sees them. The decisions themselves are in `routing`; the SQL in `store::routing`.

use super::conversation::text_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Whether a conversation is a chat or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum CommunicationType {
    #[default]
    Message,
    Call,
}

text_enum!(CommunicationType { Message => "message", Call => "call" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Serves {
    #[default]
    Messages,
    Calls,
    Both,
}

text_enum!(Serves { Messages => "messages", Calls => "calls", Both => "both" });

impl Serves {
    /// Whether a conversation of this type may be placed in the queue.
    pub fn takes(self, kind: CommunicationType) -> bool {
        matches!(
            (self, kind),
            (Self::Both, _) | (Self::Messages, CommunicationType::Message) | (Self::Calls, CommunicationType::Call)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    /// The contact has no earlier conversation.
    New,
    /// The contact had a conversation before this one.
    Returning,
}

/// One condition of a rule. A rule matches when all of its conditions hold (a rule without conditions
/// matches everything: a catch-all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The conversation is on one of these WhatsApp numbers.
    Number { number_ids: Vec<Uuid> },
    /// A message conversation or a call.
    CommunicationType { value: CommunicationType },
    /// The customer's language is one of these tags; `pt` also matches `pt-BR`.
    Language { languages: Vec<String> },
    /// The first message's text contains this, ignoring case.
    TextContains { value: String },
    /// The first message's text matches this regular expression, ignoring case.
    TextMatches { pattern: String },
    /// The first message is a button reply with one of these payloads (exact).
    ButtonPayload { values: Vec<String> },
    /// The contact has this attribute; with `equals`, with exactly this value (strings compare ignoring case).
    ContactAttribute {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equals: Option<Value>,
    },
    /// The contact has this tag (ignoring case).
    ContactTag { tag: String },
    /// Business hours are open (`open: true`) or closed (`open: false`) now; the given schedule, or the
    /// number's own when none is given (a number without one is always open).
    BusinessHours {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        business_hours_id: Option<Uuid>,
        open: bool,
    },
    /// A new customer or a returning one.
    Customer { value: CustomerKind },
}

/// Where a rule (or the order of assignment) sends a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Queue(Uuid),
    /// The AI agent with this id answers first.
    AiAgent(Uuid),
    Agent(Uuid),
}

impl Target {
    pub fn kind(self) -> &'static str {
        match self {
            Self::Queue(_) => "queue",
            Self::AiAgent(_) => "ai_agent",
            Self::Agent(_) => "agent",
        }
    }
}

/// A queue member as the selector sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: Uuid,
    /// Presence `online`, account active.
    pub available: bool,
    pub capacity: i32,
    /// Conversations held now (not resolved).
    pub load: i32,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    /// The agent's last assignment from any queue (least-loaded ties).
    pub last_assigned_at: Option<OffsetDateTime>,
    /// The agent's last turn in this queue (round robin).
    pub turn_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calls_queue_takes_calls_only_and_a_messages_queue_chats_only() {
        assert!(Serves::Calls.takes(CommunicationType::Call));
        assert!(!Serves::Calls.takes(CommunicationType::Message));
        assert!(Serves::Messages.takes(CommunicationType::Message));
        assert!(!Serves::Messages.takes(CommunicationType::Call));
    }

    #[test]
    fn a_queue_serving_both_shares_its_agents_between_calls_and_chats() {
        assert!(Serves::Both.takes(CommunicationType::Call));
        assert!(Serves::Both.takes(CommunicationType::Message));
    }

    #[test]
    fn the_stored_words_read_back() {
        for s in [Serves::Messages, Serves::Calls, Serves::Both] {
            assert_eq!(s.as_str().parse::<Serves>(), Ok(s));
        }
        assert!("call".parse::<Serves>().is_err());
    }
}
