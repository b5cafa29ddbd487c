//! An OpenAI-compatible model: `POST {base_url}/chat/completions` (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM)
//! with the agent's system prompt and knowledge, the conversation so far, and two tools, `handover` and
//! `resolve`. Those are the only things a model can make happen: whatever a customer writes, its answer is text
//! for the customer or one of the two calls. 429, 5xx, timeouts and broken connections are tried again with
//! backoff (honouring `Retry-After`) within the agent's deadline; anything else is a failure the caller turns
//! into a hand-over.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// Who said a message of the conversation, as the model is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Customer,
    /// This AI agent (or another AI agent) earlier.
    Ai,
    /// A person of the business, or an automation: shown to the model as the business's side, marked.
    Business,
}

#[derive(Debug, Clone)]
pub struct Turn {
    pub speaker: Speaker,
    /// For the business's side: who (an agent's name, "Automation").
    pub label: Option<String>,
    pub text: String,
}

/// How to reach the model and what to tell it.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
    /// Sent with every request (Azure's `api-key`); values are secrets.
    pub extra_headers: Vec<(String, SecretString)>,
    pub temperature: Option<f32>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("base_url", &self.base_url).field("model", &self.model).finish_non_exhaustive()
    }
}

/// What the model decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Reply(String),
    /// `text`: what it said besides calling the tool, if anything.
    Handover {
        reason: String,
        summary: String,
        text: Option<String>,
    },
    Resolve {
        summary: String,
        text: Option<String>,
    },
}

/// Tokens the request used, as the endpoint reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The deadline passed (while waiting for an answer, or before a retry could be made).
    #[error("no answer within the reply timeout")]
    Timeout,
    /// The endpoint kept failing, or answered something that is not a chat completion.
    #[error("{0}")]
    Failed(String),
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub attempts: u32,
    pub request_timeout: Duration,
    /// Everything (all attempts, and waiting between them) ends by then.
    pub deadline: Instant,
}

/// The two tools, as OpenAI's `ChatCompletionTool`s.
pub fn tools() -> Value {
    json!([
        {
            "type": "function",
            "function": {
                "name": "handover",
                "description": "Pass the conversation to a human agent: when the customer asks for a person, when you cannot answer from what you know, or when the matter needs a person (complaints, payments, account changes).",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "reason": {"type": "string", "description": "Why a person should take over, in a few words."},
                        "summary": {"type": "string", "description": "What the customer wants and what was said so far, for the human agent."}
                    },
                    "required": ["reason", "summary"],
                    "additionalProperties": false
                }
            }
        },
        {
            "type": "function",
            "function": {
                "name": "resolve",
                "description": "Close the conversation: only when the customer's question is fully answered and they said they need nothing else.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "summary": {"type": "string", "description": "What the customer asked and how it was answered."}
                    },
                    "required": ["summary"],
                    "additionalProperties": false
                }
            }
        }
    ])
}

/// The request body: system prompt (with the knowledge), then the conversation.
pub fn request_body(endpoint: &Endpoint, system: &str, history: &[Turn]) -> Value {
    let mut messages = vec![json!({"role": "system", "content": system})];
    for t in history {
        messages.push(match t.speaker {
            Speaker::Customer => json!({"role": "user", "content": t.text}),
            Speaker::Ai => json!({"role": "assistant", "content": t.text}),
            Speaker::Business => {
                let who = t.label.as_deref().unwrap_or("the business");
                json!({"role": "assistant", "name": "human_agent",
                       "content": format!("[Written by {who}, a person on the business's side, not by you]\n{}", t.text)})
            }
        });
    }
    let mut body = json!({
        "model": endpoint.model,
        "messages": messages,
        "tools": tools(),
        "tool_choice": "auto",
    });
    if let Some(t) = endpoint.temperature {
        // Stored as a 32-bit float: sent as the decimal the admin wrote (0.2, not 0.20000000298).
        body["temperature"] = json!(t.to_string().parse::<f64>().unwrap_or(f64::from(t)));
    }
    body
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Deserialize)]
struct ToolCall {
    function: FunctionCall,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct CompletionUsage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
}

/// Reads a chat completion into an [`Answer`]. A tool other than the two, arguments that are not the tool's, or
/// no text and no call at all are failures.
pub fn read_completion(body: &[u8]) -> Result<(Answer, Usage), ModelError> {
    let c: Completion = serde_json::from_slice(body)
        .map_err(|e| ModelError::Failed(format!("the model's answer is not a chat completion: {e}")))?;
    let usage = c.usage.map_or(Usage::default(), |u| Usage {
        prompt_tokens: u.prompt_tokens.and_then(|n| i32::try_from(n).ok()),
        completion_tokens: u.completion_tokens.and_then(|n| i32::try_from(n).ok()),
    });
    let message =
        c.choices.into_iter().next().ok_or_else(|| ModelError::Failed("the answer has no choices".into()))?.message;
    let text = message.content.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if let Some(call) = message.tool_calls.into_iter().next() {
        let args: Value = serde_json::from_str(&call.function.arguments).map_err(|_| {
            ModelError::Failed(format!("the model called {} with arguments that are not JSON", call.function.name))
        })?;
        let arg = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or("").trim().to_owned();
        return match call.function.name.as_str() {
            "handover" => Ok((Answer::Handover { reason: arg("reason"), summary: arg("summary"), text }, usage)),
            "resolve" => Ok((Answer::Resolve { summary: arg("summary"), text }, usage)),
            other => Err(ModelError::Failed(format!("the model called a tool that does not exist: {other:?}"))),
        };
    }
    match text {
        Some(t) => Ok((Answer::Reply(t), usage)),
        None => Err(ModelError::Failed("the model answered neither text nor a tool call".into())),
    }
}

/// The chat-completions URL for a base URL (`https://api.openai.com/v1` → `…/v1/chat/completions`).
pub fn completions_url(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

/// Asks the model, trying again on 429, 5xx, timeouts and broken connections while the deadline allows.
pub async fn complete(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    body: &Value,
    patience: Patience,
) -> Result<(Answer, Usage), ModelError> {
    let url = completions_url(&endpoint.base_url);
    let mut last = String::new();
    // Whether every attempt ran out of time (then the caller hears `Timeout`, not a failure).
    let mut only_timeouts = true;
    for attempt in 1..=patience.attempts.max(1) {
        let left = patience.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ModelError::Timeout);
        }
        let mut req = http.post(&url).json(body).timeout(left.min(patience.request_timeout));
        if let Some(key) = &endpoint.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        for (name, value) in &endpoint.extra_headers {
            req = req.header(name.as_str(), value.expose_secret());
        }
        let wait = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let bytes = resp.bytes().await;
                match bytes {
                    Ok(b) if status.is_success() => return read_completion(&b),
                    Ok(b) if status.as_u16() == 429 || status.is_server_error() => {
                        only_timeouts = false;
                        last = format!("the model answered {status}: {}", error_message(&b));
                        retry_after
                    }
                    Ok(b) => {
                        return Err(ModelError::Failed(format!("the model answered {status}: {}", error_message(&b))))
                    }
                    Err(e) => {
                        only_timeouts &= e.is_timeout();
                        last = format!("reading the model's answer failed: {}", without_url(e));
                        None
                    }
                }
            }
            Err(e) if e.is_timeout() => {
                last = "the model did not answer in time".into();
                None
            }
            Err(e) if e.is_connect() || e.is_request() => {
                only_timeouts = false;
                last = format!("cannot reach the model: {}", without_url(e));
                None
            }
            Err(e) => return Err(ModelError::Failed(format!("model request failed: {}", without_url(e)))),
        };
        tracing::warn!(attempt, error = %last, "model request failed; trying again if the deadline allows");
        if attempt == patience.attempts.max(1) {
            break;
        }
        let backoff = Duration::from_millis(250 * (1 << (attempt - 1).min(6)));
        let pause = wait.unwrap_or(backoff).min(Duration::from_secs(30));
        if Instant::now() + pause >= patience.deadline {
            return Err(ModelError::Timeout);
        }
        tokio::time::sleep(pause).await;
    }
    if only_timeouts {
        return Err(ModelError::Timeout);
    }
    Err(ModelError::Failed(last))
}

/// OpenAI's error body's message (`{"error": {"message": …}}`), or the start of the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// A reqwest error without its URL (the log line says what failed; the URL is in the agent's settings).
fn without_url(e: reqwest::Error) -> String {
    let mut e = e.without_url().to_string();
    e.truncate(300);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_answer_is_a_reply_with_its_usage() {
        let body = br#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","logprobs":null,"message":{"role":"assistant","content":" Hi! ","refusal":null}}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let (a, u) = read_completion(body).unwrap();
        assert_eq!(a, Answer::Reply("Hi!".into()));
        assert_eq!(u, Usage { prompt_tokens: Some(12), completion_tokens: Some(3) });
    }

    #[test]
    fn a_handover_call_carries_its_reason_and_summary() {
        let body = br#"{"choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"handover","arguments":"{\"reason\":\"refund\",\"summary\":\"wants money back\"}"}}]}}]}"#;
        let (a, _) = read_completion(body).unwrap();
        assert_eq!(a, Answer::Handover { reason: "refund".into(), summary: "wants money back".into(), text: None });
    }

    #[test]
    fn only_the_two_tools_exist() {
        let body = br#"{"choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"delete_everything","arguments":"{}"}}]}}]}"#;
        assert!(matches!(read_completion(body), Err(ModelError::Failed(_))));
    }

    #[test]
    fn an_answer_with_neither_text_nor_call_is_a_failure() {
        let body = br#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"  "}}]}"#;
        assert!(read_completion(body).is_err());
        assert!(read_completion(b"<html>").is_err());
    }

    #[test]
    fn the_business_side_is_marked_for_the_model() {
        let e = Endpoint {
            base_url: "http://x/v1/".into(),
            model: "m".into(),
            api_key: None,
            extra_headers: vec![],
            temperature: Some(0.2),
        };
        let history = [
            Turn { speaker: Speaker::Customer, label: None, text: "hi".into() },
            Turn { speaker: Speaker::Business, label: Some("Ana".into()), text: "Hello".into() },
        ];
        let body = request_body(&e, "sys", &history);
        assert_eq!(body["messages"][1]["role"], "user");
        assert_eq!(body["messages"][2]["name"], "human_agent");
        assert!(body["messages"][2]["content"].as_str().unwrap().contains("Ana"));
        assert_eq!(completions_url(&e.base_url), "http://x/v1/chat/completions");
    }
}
