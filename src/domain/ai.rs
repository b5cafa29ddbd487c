//! The AI agent's vocabulary: its kinds, its knowledge, why it hands a conversation over, and the checks on
//! what an admin sets. Pure: the retrieval is in `ai::bot`, the model client in `ai::model`.

use super::conversation::text_enum;
use super::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// What answers for an AI agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AiAgentKind)]
pub enum Kind {
    /// The built-in FAQ bot: ranked retrieval over its question/answer pairs, no network.
    Builtin,
    /// Any endpoint speaking OpenAI's `POST /chat/completions` (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM).
    OpenaiCompatible,
}

text_enum!(Kind { Builtin => "builtin", OpenaiCompatible => "openai_compatible" });

/// Why the AI agent passed a conversation to people (counted for reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoverReason {
    /// The customer asked for a person.
    CustomerAsked,
    /// The model called its `handover` tool.
    ModelHandover,
    /// The built-in bot found no answer above its threshold.
    LowConfidence,
    /// The AI agent had replied its maximum number of turns.
    MaxTurns,
    /// No reply was produced within the reply timeout.
    Timeout,
    /// The model kept failing (errors, refusals, unreadable answers) after its retries.
    ModelFailed,
    /// The reply job itself failed every attempt (the AI agent's settings unreadable, the database down):
    /// people answer rather than nobody.
    ReplyFailed,
    /// A supervisor took the conversation over (or the API handed it over).
    TakenOver,
    /// An automation rule routed the conversation to people.
    Rule,
}

text_enum!(HandoverReason {
    CustomerAsked => "customer_asked",
    ModelHandover => "model_handover",
    LowConfidence => "low_confidence",
    MaxTurns => "max_turns",
    Timeout => "timeout",
    ModelFailed => "model_failed",
    ReplyFailed => "reply_failed",
    TakenOver => "taken_over",
    Rule => "rule",
});

impl HandoverReason {
    /// The reason in words, for the note the people taking over read.
    pub fn words(self) -> &'static str {
        match self {
            Self::CustomerAsked => "the customer asked for a person",
            Self::ModelHandover => "the AI model decided a person should take over",
            Self::LowConfidence => "the bot had no answer it was confident about",
            Self::MaxTurns => "the AI agent reached its maximum number of replies",
            Self::Timeout => "no reply was produced within the reply timeout",
            Self::ModelFailed => "the AI model kept failing",
            Self::ReplyFailed => "the AI agent could not produce a reply",
            Self::TakenOver => "a person took the conversation over",
            Self::Rule => "an automation rule routed it to people",
        }
    }
}

/// One question/answer pair of an AI agent's knowledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The question as customers ask it (1 to 500 characters).
    pub question: String,
    /// The answer sent to the customer (1 to 1,600 characters).
    pub answer: String,
    /// Other words customers use for it (synonyms, product names); they count as part of the question.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// The most question/answer pairs an AI agent holds.
pub const MAX_PAIRS: usize = 5000;
pub const MAX_QUESTION_CHARS: usize = 500;
/// Twilio's limit for one message body.
pub const MAX_ANSWER_CHARS: usize = 1600;
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Checks the knowledge pairs: each question and answer present and within WhatsApp's and our limits.
pub fn check_knowledge(pairs: &[Pair]) -> Result<(), Invalid> {
    if pairs.len() > MAX_PAIRS {
        return Err(Invalid::new("knowledge", format!("knowledge holds at most {MAX_PAIRS} pairs")));
    }
    for (i, p) in pairs.iter().enumerate() {
        let len = p.question.trim().chars().count();
        if len == 0 || len > MAX_QUESTION_CHARS {
            return Err(Invalid::new(
                format!("knowledge[{i}].question"),
                format!("a question is 1 to {MAX_QUESTION_CHARS} characters"),
            ));
        }
        let len = p.answer.trim().chars().count();
        if len == 0 || len > MAX_ANSWER_CHARS {
            return Err(Invalid::new(
                format!("knowledge[{i}].answer"),
                format!("an answer is 1 to {MAX_ANSWER_CHARS} characters (one WhatsApp message)"),
            ));
        }
        if p.keywords.len() > 50 || p.keywords.iter().any(|k| k.trim().is_empty() || k.chars().count() > 100) {
            return Err(Invalid::new(
                format!("knowledge[{i}].keywords"),
                "at most 50 keywords of 1 to 100 characters each",
            ));
        }
    }
    Ok(())
}

/// A base URL a model is reached at: http or https, no query or fragment; `/chat/completions` is added to it.
pub fn check_base_url(raw: &str) -> Result<url::Url, Invalid> {
    let url = url::Url::parse(raw.trim())
        .map_err(|_| Invalid::new("base_url", "base_url must be an absolute URL, e.g. https://api.openai.com/v1"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Invalid::new("base_url", "base_url must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new(
            "base_url",
            "base_url has no query, fragment or credentials (give the key as api_key, other values as extra_headers)",
        ));
    }
    Ok(url)
}

/// An HTTP header name a model request may carry besides `Authorization` and `Content-Type`.
pub fn check_header_name(name: &str) -> Result<(), Invalid> {
    let field = format!("extra_headers.{name}");
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(Invalid::new(field, "not a valid HTTP header name"));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(lower.as_str(), "content-type" | "content-length" | "host" | "transfer-encoding" | "connection") {
        return Err(Invalid::new(field, "this header is set by Switchboard"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_reads_back_from_its_own_text() {
        for r in HandoverReason::ALL {
            assert_eq!(r.as_str().parse::<HandoverReason>(), Ok(*r));
        }
    }

    #[test]
    fn an_empty_answer_or_an_answer_longer_than_one_whatsapp_message_is_refused() {
        let pair = |a: &str| Pair { question: "Opening hours?".into(), answer: a.into(), keywords: vec![] };
        assert_eq!(check_knowledge(&[pair("")]).unwrap_err().field, "knowledge[0].answer");
        assert!(check_knowledge(&[pair(&"x".repeat(MAX_ANSWER_CHARS + 1))]).is_err());
        assert!(check_knowledge(&[pair(&"x".repeat(MAX_ANSWER_CHARS))]).is_ok());
    }

    #[test]
    fn a_base_url_is_http_without_credentials_or_query() {
        assert!(check_base_url("https://api.openai.com/v1").is_ok());
        assert!(check_base_url("http://127.0.0.1:11434/v1").is_ok());
        assert!(check_base_url("ftp://example.com").is_err());
        assert!(check_base_url("https://user:pw@example.com/v1").is_err());
        assert!(check_base_url("https://example.com/v1?key=1").is_err());
        assert!(check_base_url("not a url").is_err());
    }

    #[test]
    fn headers_switchboard_sets_itself_cannot_be_overridden() {
        assert!(check_header_name("api-key").is_ok());
        assert!(check_header_name("Content-Type").is_err());
        assert!(check_header_name("bad header").is_err());
    }
}
