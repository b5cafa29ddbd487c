//! An AI agent ready to answer ([`Loaded`]: its settings, its secrets decrypted, its knowledge indexed once per
//! change), and [`think`]: what it does with the customer's unanswered messages. Shared by the `ai.reply` job
//! and the admin's "Try it" panel, so the panel shows exactly what a customer would get.

use super::bot::{self, Index};
use super::model::{self, Answer, Endpoint, ModelError, Patience, Speaker, Turn, Usage};
use crate::config::AiSettings;
use crate::domain::ai::{HandoverReason, Kind};
use crate::secrets::SecretBox;
use crate::store::ai_agents::{self as db, AiAgent};
use secrecy::SecretString;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// An AI agent with what answering needs.
pub struct Loaded {
    pub agent: AiAgent,
    pub endpoint: Option<Endpoint>,
    pub index: Arc<Index>,
}

/// An agent's index and the version of the agent it was built from (its `updated_at`).
type Built = (OffsetDateTime, Arc<Index>);

/// Indexes of the agents' knowledge, rebuilt when an agent changes.
#[derive(Clone, Default)]
pub struct Indexes(Arc<Mutex<HashMap<Uuid, Built>>>);

impl Indexes {
    pub fn of(&self, agent: &AiAgent) -> Arc<Index> {
        if let Some((at, index)) = self.0.lock().expect("index cache").get(&agent.id) {
            if *at == agent.updated_at {
                return index.clone();
            }
        }
        let index = Arc::new(Index::build(&agent.knowledge, &agent.languages, &agent.handover_keywords));
        self.0.lock().expect("index cache").insert(agent.id, (agent.updated_at, index.clone()));
        index
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the AI agent no longer exists")]
    Missing,
    #[error("the AI agent's stored secrets cannot be read: {0}")]
    Secrets(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The agent (even if removed since: its conversations are still its own), secrets decrypted.
pub async fn load(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    indexes: &Indexes,
    id: Uuid,
) -> Result<Loaded, LoadError> {
    let (agent, stored) = db::find_with_secrets(conn, id).await?.ok_or(LoadError::Missing)?;
    let endpoint = match agent.kind {
        Kind::Builtin => None,
        Kind::OpenaiCompatible => {
            let api_key = match &stored.api_key {
                Some(b) => Some(secrets.decrypt(b).map_err(|e| LoadError::Secrets(e.to_string()))?),
                None => None,
            };
            let extra_headers = match &stored.extra_headers {
                Some(b) => {
                    let json = secrets.decrypt(b).map_err(|e| LoadError::Secrets(e.to_string()))?;
                    let map: HashMap<String, String> =
                        serde_json::from_str(secrecy::ExposeSecret::expose_secret(&json))
                            .map_err(|e| LoadError::Secrets(e.to_string()))?;
                    map.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect()
                }
                None => Vec::new(),
            };
            Some(Endpoint {
                base_url: agent.base_url.clone().unwrap_or_default(),
                model: agent.model.clone().unwrap_or_default(),
                api_key,
                extra_headers,
                temperature: agent.temperature,
            })
        }
    };
    let index = indexes.of(&agent);
    Ok(Loaded { agent, endpoint, index })
}

/// What the agent does.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answers with this text (split into several messages if longer than one).
    Reply(String),
    /// Passes the conversation to people, telling the customer `text` (the agent's hand-over message, or the
    /// model's words).
    Handover { reason: HandoverReason, summary: String, model_reason: Option<String>, text: String },
    /// Closes the conversation, after saying `text` if anything.
    Resolve { summary: String, text: Option<String> },
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Thought {
    pub decision: Decision,
    /// The built-in bot's best pair and its confidence.
    pub matched: Option<bot::Match>,
    pub usage: Usage,
    /// Why the model failed, when it did.
    pub error: Option<String>,
}

/// What the agent is shown.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    /// The customer's messages since the last answer, oldest first (text, with buttons and files described).
    pub unanswered: &'a [String],
    /// The conversation so far (for a model), oldest first, the unanswered messages included.
    pub history: &'a [Turn],
    /// Replies already sent in this conversation.
    pub turns: i32,
    /// How long the customer has been waiting (since the first unanswered message).
    pub waited: Duration,
    /// The customer's language, if known.
    pub language: Option<&'a str>,
    /// The number's language: used when the customer's is neither known nor told by their words.
    pub fallback_language: Option<&'a str>,
}

/// Decides what the agent does about the unanswered messages, in this order: a request for a person hands
/// over; so does reaching the maximum number of replies, or the reply timeout having passed; then the built-in
/// bot answers above its threshold (and hands over below it), or the model answers, calls a tool, or fails
/// (hand-over).
pub async fn think(http: &reqwest::Client, settings: &AiSettings, loaded: &Loaded, s: &Situation<'_>) -> Thought {
    let a = &loaded.agent;
    // The customer's language: known, or told by their words (among the agent's languages).
    let joined = s.unanswered.join("\n");
    let language = s.language.or_else(|| super::text::guess_language(&joined, &a.languages)).or(s.fallback_language);
    let handover = |reason: HandoverReason, summary: String| Decision::Handover {
        reason,
        summary,
        model_reason: None,
        text: handover_text(a, language),
    };
    let quoted = format!("The customer wrote: {}", ellipsis(&joined, 500));
    let plain = |decision| Thought { decision, matched: None, usage: Usage::default(), error: None };
    if s.unanswered.iter().any(|m| loaded.index.asks_for_person(m)) {
        return plain(handover(HandoverReason::CustomerAsked, quoted));
    }
    if s.turns >= a.max_turns {
        return plain(handover(HandoverReason::MaxTurns, quoted));
    }
    let timeout = Duration::from_secs(a.reply_timeout_secs.max(1) as u64);
    if s.waited >= timeout {
        return plain(handover(HandoverReason::Timeout, quoted));
    }
    match &loaded.endpoint {
        None => {
            // Each message on its own: a burst of "hi" / "one question" / "when are you open?" is answered
            // for the message that asks something.
            let best = s
                .unanswered
                .iter()
                .filter_map(|m| loaded.index.best(m))
                .max_by(|x, y| x.confidence.total_cmp(&y.confidence));
            match best {
                Some(m) if m.confidence >= a.threshold => Thought {
                    decision: Decision::Reply(a.knowledge[m.index].answer.clone()),
                    matched: Some(m),
                    usage: Usage::default(),
                    error: None,
                },
                best => Thought { matched: best, ..plain(handover(HandoverReason::LowConfidence, quoted)) },
            }
        }
        Some(endpoint) => {
            let body = model::request_body(endpoint, &system_prompt(a), s.history);
            let patience = Patience {
                attempts: settings.model_attempts,
                request_timeout: Duration::from_millis(settings.model_request_timeout_ms),
                deadline: tokio::time::Instant::now() + (timeout - s.waited),
            };
            match model::complete(http, endpoint, &body, patience).await {
                Ok((answer, usage)) => {
                    let decision = match answer {
                        Answer::Reply(text) => Decision::Reply(text),
                        Answer::Handover { reason, summary, text } => Decision::Handover {
                            reason: HandoverReason::ModelHandover,
                            summary: if summary.is_empty() { quoted } else { summary },
                            model_reason: Some(reason).filter(|r| !r.is_empty()),
                            text: text.unwrap_or_else(|| handover_text(a, language)),
                        },
                        Answer::Resolve { summary, text } => Decision::Resolve { summary, text },
                    };
                    Thought { decision, matched: None, usage, error: None }
                }
                Err(e) => {
                    let reason = match e {
                        ModelError::Timeout => HandoverReason::Timeout,
                        ModelError::Failed(_) => HandoverReason::ModelFailed,
                    };
                    Thought { error: Some(e.to_string()), ..plain(handover(reason, quoted)) }
                }
            }
        }
    }
}

fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// The system prompt: the admin's (or a default that keeps the model to the knowledge), then the knowledge.
pub fn system_prompt(a: &AiAgent) -> String {
    let mut p = a.system_prompt.clone().unwrap_or_else(|| {
        format!(
            "You are {}, a customer service assistant answering customers on WhatsApp for this business. Answer in \
             the customer's language, briefly and kindly, only from the knowledge below. If you cannot answer from \
             it, if the customer asks for a person, or if the matter needs a person, call the handover tool. Call \
             the resolve tool only when the customer says they need nothing else. Messages marked as written by a \
             person were sent by the business's staff.",
            a.name
        )
    });
    if a.instructions.is_some() || !a.knowledge.is_empty() {
        p.push_str("\n\n# Knowledge\n");
    }
    if let Some(i) = &a.instructions {
        p.push_str(i.trim());
        p.push_str("\n\n");
    }
    for pair in a.knowledge.iter() {
        p.push_str(&format!("Q: {}\nA: {}\n\n", pair.question.trim(), pair.answer.trim()));
    }
    p.trim_end().to_owned()
}

/// What the agent says when it passes the customer on: its own message, else a default in the customer's
/// language (or the agent's first, or English).
pub fn handover_text(a: &AiAgent, language: Option<&str>) -> String {
    if let Some(t) = a.handover_message.as_ref().filter(|t| !t.trim().is_empty()) {
        return t.clone();
    }
    let primary = |tag: &str| tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    let lang = language.map(primary).or_else(|| a.languages.first().map(|l| primary(l))).unwrap_or_default();
    match lang.as_str() {
        "es" => "Te paso con una persona de nuestro equipo, que te responderá aquí en breve.",
        "pt" => "Vou passar você para uma pessoa da nossa equipe, que responderá aqui em breve.",
        "nl" => "Ik geef je door aan een collega, die je hier zo snel mogelijk antwoordt.",
        "de" => "Ich verbinde Sie mit einer Person aus unserem Team, die Ihnen hier in Kürze antwortet.",
        "fr" => "Je vous passe à une personne de notre équipe, qui vous répondra ici très bientôt.",
        "it" => "Ti passo a una persona del nostro team, che ti risponderà qui a breve.",
        _ => "I'm passing you to a person from our team, who will answer here shortly.",
    }
    .to_owned()
}

/// How a customer's message reads to an AI agent: its text, the button tapped, the files sent.
pub fn describe(body: Option<&str>, button: Option<&str>, attachments: i32) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(b) = button.filter(|b| !b.is_empty()) {
        parts.push(b.to_owned());
    } else if let Some(t) = body.filter(|t| !t.trim().is_empty()) {
        parts.push(t.to_owned());
    }
    if attachments > 0 {
        parts.push(format!("[sent {attachments} file(s)]"));
    }
    parts.join(" ")
}

/// The conversation as a model is shown it.
pub fn turns(history: &[crate::store::ai::Said]) -> Vec<Turn> {
    history
        .iter()
        .filter_map(|m| {
            let text = describe(m.body.as_deref(), m.button_text.as_deref(), m.attachments);
            if text.is_empty() {
                return None;
            }
            let speaker = if m.inbound {
                Speaker::Customer
            } else if m.automation_kind.as_deref() == Some("ai_agent") {
                Speaker::Ai
            } else {
                Speaker::Business
            };
            let label = (speaker == Speaker::Business).then(|| m.author_label.clone().unwrap_or_default());
            Some(Turn { speaker, label, text })
        })
        .collect()
}
