//! AI agents: `GET|POST /ai-agents`, `GET|PATCH|DELETE /ai-agents/{id}`, and `POST /ai-agents/{id}/try` (sample
//! messages in, what the agent would do out). Admins change them; supervisors read them and try them. API keys
//! and extra header values are write-only: stored encrypted, shown as set or by name.

use super::validate::{check_name, double_option};
use super::{audit_change, ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::ai::agent::{self, Decision, Situation};
use crate::ai::model::{Speaker, Turn};
use crate::auth::Principal;
use crate::domain::ai::{self as rules, HandoverReason, Kind, Pair};
use crate::domain::language;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::outbound::compose::MAX_BODY_CHARS;
use crate::state::AppState;
use crate::store;
use crate::store::ai_agents::{AiAgent, Settings};
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME, BY_UPDATED};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, update, remove)).routes(routes!(try_it))
}

/// A new AI agent. Only `name` and `kind` are required; a model (`openai_compatible`) also needs `base_url`
/// and `model`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewAiAgent)]
struct NewAgent {
    name: String,
    kind: Kind,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    knowledge: Vec<Pair>,
    instructions: Option<String>,
    greeting: Option<String>,
    handover_message: Option<String>,
    #[serde(default)]
    handover_keywords: Vec<String>,
    /// Default 10.
    max_turns: Option<i32>,
    /// Default 60.
    reply_timeout_secs: Option<i32>,
    /// Default 0.5.
    threshold: Option<f32>,
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama); `/chat/completions` is added.
    base_url: Option<String>,
    model: Option<String>,
    /// Sent as `Authorization: Bearer …`; stored encrypted, never shown.
    api_key: Option<String>,
    system_prompt: Option<String>,
    temperature: Option<f32>,
    /// Headers sent with every model request, e.g. `{"api-key": "…"}` for Azure OpenAI; values never shown.
    #[serde(default)]
    extra_headers: BTreeMap<String, String>,
}

/// What to change: a field left out stays, `null` clears an optional one.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(as = AiAgentChanges)]
struct AgentChanges {
    name: Option<String>,
    kind: Option<Kind>,
    languages: Option<Vec<String>>,
    knowledge: Option<Vec<Pair>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    instructions: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    greeting: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    handover_message: Option<Option<String>>,
    handover_keywords: Option<Vec<String>>,
    max_turns: Option<i32>,
    reply_timeout_secs: Option<i32>,
    threshold: Option<f32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    base_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    model: Option<Option<String>>,
    /// A new key; `null` removes the stored one.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f32>)]
    temperature: Option<Option<f32>>,
    /// Replaces every extra header; `null` or `{}` removes them.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    extra_headers: Option<Option<BTreeMap<String, String>>>,
}

fn optional_text(field: &str, value: Option<String>, max: usize) -> AppResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => {
            Err(AppError::invalid_field(field, format!("{field} is at most {max} characters")))
        }
        Some(v) => Ok(Some(v)),
    }
}

/// Checks everything but the secrets, which [`seal`] handles.
fn check(mut s: Settings) -> AppResult<Settings> {
    s.name = check_name("name", &s.name, 100)?;
    if s.languages.len() > 10 {
        return Err(AppError::invalid_field("languages", "at most 10 languages"));
    }
    for l in &s.languages {
        if !language::is_tag(l) {
            return Err(AppError::invalid_field(
                "languages",
                format!("{l:?} is not a language tag such as en or pt-BR"),
            ));
        }
    }
    s.languages.dedup();
    rules::check_knowledge(&s.knowledge)?;
    s.instructions = optional_text("instructions", s.instructions, rules::MAX_TEXT_CHARS)?;
    s.greeting = optional_text("greeting", s.greeting, MAX_BODY_CHARS)?;
    s.handover_message = optional_text("handover_message", s.handover_message, MAX_BODY_CHARS)?;
    s.system_prompt = optional_text("system_prompt", s.system_prompt, rules::MAX_TEXT_CHARS)?;
    s.model = optional_text("model", s.model, 200)?;
    if s.handover_keywords.len() > 50
        || s.handover_keywords.iter().any(|k| k.trim().is_empty() || k.chars().count() > 100)
    {
        return Err(AppError::invalid_field("handover_keywords", "at most 50 keywords of 1 to 100 characters each"));
    }
    if !(1..=100).contains(&s.max_turns) {
        return Err(AppError::invalid_field("max_turns", "max_turns must be 1 to 100"));
    }
    if !(5..=600).contains(&s.reply_timeout_secs) {
        return Err(AppError::invalid_field("reply_timeout_secs", "reply_timeout_secs must be 5 to 600"));
    }
    if !(0.0..=1.0).contains(&s.threshold) {
        return Err(AppError::invalid_field("threshold", "threshold must be from 0 to 1"));
    }
    if s.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err(AppError::invalid_field("temperature", "temperature must be from 0 to 2"));
    }
    s.base_url = match s.base_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => Some(rules::check_base_url(u)?.to_string().trim_end_matches('/').to_owned()),
        None => None,
    };
    if s.kind == Kind::OpenaiCompatible {
        if s.base_url.is_none() {
            return Err(AppError::invalid_field("base_url", "a model agent needs the base_url of its endpoint"));
        }
        if s.model.is_none() {
            return Err(AppError::invalid_field("model", "a model agent needs the model's name"));
        }
    }
    Ok(s)
}

/// Encrypts an API key (refusing what no HTTP header can carry).
fn seal_key(state: &AppState, key: &str) -> AppResult<Vec<u8>> {
    let key = key.trim();
    if key.is_empty() || key.len() > 4096 || key.chars().any(char::is_control) {
        return Err(AppError::invalid_field("api_key", "api_key must be 1 to 4,096 printable characters"));
    }
    Ok(state.secrets.encrypt(key))
}

/// Encrypts the extra headers as one JSON object; answers their names.
fn seal_headers(state: &AppState, headers: &BTreeMap<String, String>) -> AppResult<(Option<Vec<u8>>, Vec<String>)> {
    if headers.is_empty() {
        return Ok((None, Vec::new()));
    }
    if headers.len() > 20 {
        return Err(AppError::invalid_field("extra_headers", "at most 20 extra headers"));
    }
    for (name, value) in headers {
        rules::check_header_name(name)?;
        if value.len() > 4096 || value.chars().any(char::is_control) {
            return Err(AppError::invalid_field(
                &format!("extra_headers.{name}"),
                "a header value is at most 4,096 printable characters",
            ));
        }
    }
    let json = serde_json::to_string(headers).map_err(anyhow::Error::from)?;
    Ok((Some(state.secrets.encrypt(&json)), headers.keys().cloned().collect()))
}

fn taken(e: sqlx::Error) -> AppError {
    AppError::on_conflict(
        e,
        &[UniqueConflict {
            constraint: "ai_agents_name_key",
            code: "name_taken",
            message: "another AI agent has this name",
            field: "name",
        }],
    )
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<AiAgent> {
    store::ai_agents::find(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("ai_agent_not_found", "no AI agent with this id"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_NAME, BY_CREATED, BY_UPDATED];
}

/// Lists AI agents. Supervisors and admins.
#[utoipa::path(get, path = "/ai-agents", tag = "ai agents", params(ListParams, Filters),
    responses((status = 200, body = Page<AiAgent>)))]
async fn list(State(state): State<AppState>, _who: Principal, list: List<Filters>) -> AppResult<Json<Page<AiAgent>>> {
    let rows = store::ai_agents::list(&state.pool, &list.listing).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates an AI agent. Admins.
#[utoipa::path(post, path = "/ai-agents", tag = "ai agents", request_body = NewAgent,
    responses((status = 201, body = AiAgent)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewAgent>,
) -> AppResult<(StatusCode, Json<AiAgent>)> {
    let api_key = body.api_key.as_deref().map(|k| seal_key(&state, k)).transpose()?;
    let (extra_headers, extra_header_names) = seal_headers(&state, &body.extra_headers)?;
    let settings = check(Settings {
        name: body.name,
        kind: body.kind,
        languages: body.languages,
        knowledge: body.knowledge,
        instructions: body.instructions,
        greeting: body.greeting,
        handover_message: body.handover_message,
        handover_keywords: body.handover_keywords,
        max_turns: body.max_turns.unwrap_or(10),
        reply_timeout_secs: body.reply_timeout_secs.unwrap_or(60),
        threshold: body.threshold.unwrap_or(0.5),
        base_url: body.base_url,
        model: body.model,
        api_key,
        system_prompt: body.system_prompt,
        temperature: body.temperature,
        extra_headers,
        extra_header_names,
    })?;
    let mut tx = state.pool.begin().await?;
    let agent = store::ai_agents::insert(&mut tx, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "ai_agent.created", "ai_agent", agent.id, None, Some(&agent)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// One AI agent. Supervisors and admins.
#[utoipa::path(get, path = "/ai-agents/{id}", tag = "ai agents", params(("id" = Uuid, Path)),
    responses((status = 200, body = AiAgent)))]
async fn read(State(state): State<AppState>, _who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<AiAgent>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Changes an AI agent. Admins.
#[utoipa::path(patch, path = "/ai-agents/{id}", tag = "ai agents", params(("id" = Uuid, Path)),
    request_body = AgentChanges, responses((status = 200, body = AiAgent)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AgentChanges>,
) -> AppResult<Json<AiAgent>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let (_, stored) = store::ai_agents::find_with_secrets(&mut tx, id).await?.expect("found above");
    let api_key = match body.api_key {
        None => stored.api_key,
        Some(None) => None,
        Some(Some(k)) => Some(seal_key(&state, &k)?),
    };
    let (extra_headers, extra_header_names) = match body.extra_headers {
        None => (stored.extra_headers, before.extra_header_names.clone()),
        Some(None) => (None, Vec::new()),
        Some(Some(h)) => seal_headers(&state, &h)?,
    };
    let b = before.clone();
    let settings = check(Settings {
        name: body.name.unwrap_or(b.name),
        kind: body.kind.unwrap_or(b.kind),
        languages: body.languages.unwrap_or(b.languages),
        knowledge: body.knowledge.unwrap_or(b.knowledge.0),
        instructions: body.instructions.unwrap_or(b.instructions),
        greeting: body.greeting.unwrap_or(b.greeting),
        handover_message: body.handover_message.unwrap_or(b.handover_message),
        handover_keywords: body.handover_keywords.unwrap_or(b.handover_keywords),
        max_turns: body.max_turns.unwrap_or(b.max_turns),
        reply_timeout_secs: body.reply_timeout_secs.unwrap_or(b.reply_timeout_secs),
        threshold: body.threshold.unwrap_or(b.threshold),
        base_url: body.base_url.unwrap_or(b.base_url),
        model: body.model.unwrap_or(b.model),
        api_key,
        system_prompt: body.system_prompt.unwrap_or(b.system_prompt),
        temperature: body.temperature.unwrap_or(b.temperature),
        extra_headers,
        extra_header_names,
    })?;
    let after = store::ai_agents::update(&mut tx, id, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "ai_agent.updated", "ai_agent", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Removes an AI agent. Admins. Refused while a number or routing rule names it or it owns open conversations
/// (409 `ai_agent_in_use`, naming them): point those elsewhere first.
#[utoipa::path(delete, path = "/ai-agents/{id}", tag = "ai agents", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 409, description = "still in use")))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let uses = store::ai_agents::uses(&mut tx, id).await?;
    if !uses.number_ids.is_empty() || !uses.rule_ids.is_empty() || uses.open_conversations > 0 {
        return Err(AppError::conflict(
            "ai_agent_in_use",
            "numbers, routing rules or open conversations still use this AI agent; point them elsewhere first",
        )
        .with_details(json!(uses)));
    }
    store::ai_agents::remove(&mut tx, id).await?;
    audit_change(&mut tx, &who, "ai_agent.deleted", "ai_agent", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sample messages for the "Try it" panel.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TryBody {
    /// What the customer writes, in order (1 to 10 messages), answered together as one burst.
    messages: Vec<String>,
    /// The customer's language tag, if known.
    language: Option<String>,
    /// Replies already sent in the conversation (to try the maximum number of turns); default 0.
    #[serde(default)]
    turns: i32,
}

#[derive(Serialize, ToSchema)]
struct Tried {
    /// `reply`, `handover` or `resolve`.
    decision: &'static str,
    /// The messages the customer would receive, in order (the greeting first, long replies split).
    messages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    handover_reason: Option<HandoverReason>,
    /// The note the people taking over would read.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    /// The built-in bot's best pair, also below the threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    matched: Option<serde_json::Value>,
    /// The tool the model called, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens: Option<i32>,
    /// Why the model failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    took_ms: u64,
}

/// What the AI agent would do with these messages (nothing is sent). A model agent really asks its model.
/// Supervisors and admins.
#[utoipa::path(post, path = "/ai-agents/{id}/try", tag = "ai agents", params(("id" = Uuid, Path)),
    request_body = TryBody, responses((status = 200, body = Tried)))]
async fn try_it(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TryBody>,
) -> AppResult<Json<Tried>> {
    if body.messages.is_empty() || body.messages.len() > 10 {
        return Err(AppError::invalid_field("messages", "give 1 to 10 sample messages"));
    }
    if let Some(i) = body.messages.iter().position(|m| m.trim().is_empty() || m.chars().count() > 4096) {
        return Err(AppError::invalid_field(&format!("messages[{i}]"), "a message is 1 to 4,096 characters"));
    }
    if body.language.as_deref().is_some_and(|l| !language::is_tag(l)) {
        return Err(AppError::invalid_field("language", "language must be a language tag such as en or pt-BR"));
    }
    let mut conn = state.pool.acquire().await?;
    find(&mut conn, id).await?;
    let loaded = agent::load(&mut conn, &state.secrets, &state.ai_indexes, id).await.map_err(|e| match e {
        agent::LoadError::Database(e) => AppError::from(e),
        other => AppError::unprocessable("ai_agent_unusable", other.to_string()),
    })?;
    drop(conn);
    let history: Vec<Turn> =
        body.messages.iter().map(|m| Turn { speaker: Speaker::Customer, label: None, text: m.clone() }).collect();
    let situation = Situation {
        unanswered: &body.messages,
        history: &history,
        turns: body.turns.max(0),
        waited: Duration::ZERO,
        language: body.language.as_deref(),
        fallback_language: None,
    };
    let started = std::time::Instant::now();
    let thought = agent::think(&state.ai_http, &state.settings.ai, &loaded, &situation).await;
    let took_ms = started.elapsed().as_millis() as u64;
    let greeting = if body.turns == 0 { loaded.agent.greeting.clone() } else { None };
    let messages = crate::ai::reply::messages(greeting, &thought.decision);
    let (decision, handover_reason, summary, tool_call) = match &thought.decision {
        Decision::Reply(_) => ("reply", None, None, None),
        Decision::Handover { reason, summary, .. } => {
            let tool = (*reason == HandoverReason::ModelHandover).then_some("handover");
            ("handover", Some(*reason), Some(summary.clone()), tool)
        }
        Decision::Resolve { summary, .. } => ("resolve", None, Some(summary.clone()), Some("resolve")),
    };
    let matched = thought.matched.map(|m| {
        json!({"index": m.index, "question": loaded.agent.knowledge[m.index].question, "confidence": m.confidence,
               "threshold": loaded.agent.threshold})
    });
    Ok(Json(Tried {
        decision,
        messages,
        handover_reason,
        summary,
        matched,
        tool_call,
        prompt_tokens: thought.usage.prompt_tokens,
        completion_tokens: thought.usage.completion_tokens,
        error: thought.error,
        took_ms,
    }))
}
