//! Routing rules: `GET|POST /routing/rules`, `GET|PATCH|DELETE /routing/rules/{id}`,
//! `POST /routing/rules/reorder`, and `POST /routing/explain` (which rule a sample message would meet, and why
//! each rule did or did not match). Admins change rules; supervisors and admins read and explain them.

use super::{audit_change, check_name, ApiJson, ApiPath};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::refs;
use crate::routing::place::target_json;
use crate::routing::rules::{self, CommunicationType, Condition, Env, Facts, RuleResult, Target, Via};
use crate::state::AppState;
use crate::store::ordered::{self, RuleTable};
use crate::store::routing::{self as db, RuleRow, RuleSettings};
use crate::store::{self};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(reorder))
        .routes(routes!(explain))
}

const MAX_CONDITIONS: usize = 20;
const MAX_RULES_PER_SCOPE: i64 = 500;

/// Where a rule sends conversations.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum TargetBody {
    Queue { queue_id: Uuid },
    AiAgent { ai_agent_id: Uuid },
    Agent { agent_id: Uuid },
}

impl From<TargetBody> for Target {
    fn from(t: TargetBody) -> Self {
        match t {
            TargetBody::Queue { queue_id } => Target::Queue(queue_id),
            TargetBody::AiAgent { ai_agent_id } => Target::AiAgent(ai_agent_id),
            TargetBody::Agent { agent_id } => Target::Agent(agent_id),
        }
    }
}

/// A new rule. It is checked after the rules before it in its scope (the channel's rules, or the global ones).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRule {
    name: String,
    /// The channel whose conversations it applies to; left out: every channel (after the channel's own rules).
    channel_id: Option<Uuid>,
    /// 1-based place in its scope; left out: last.
    position: Option<i32>,
    #[serde(default = "yes")]
    enabled: bool,
    /// All must hold; none: the rule matches every conversation.
    #[serde(default)]
    conditions: Vec<Condition>,
    target: TargetBody,
}

fn yes() -> bool {
    true
}

/// What to change; a field left out stays as it is. Move a rule with `/routing/rules/reorder`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RuleChanges {
    name: Option<String>,
    enabled: Option<bool>,
    conditions: Option<Vec<Condition>>,
    target: Option<TargetBody>,
}

/// A rule as the API shows it.
#[derive(Serialize, ToSchema)]
struct RuleView {
    #[serde(flatten)]
    rule: RuleRow,
    #[schema(value_type = Object)]
    target: Value,
}

impl From<RuleRow> for RuleView {
    fn from(rule: RuleRow) -> Self {
        let target = rule.target().map(target_json).unwrap_or(Value::Null);
        Self { rule, target }
    }
}

async fn check(conn: &mut PgConnection, s: RuleSettings) -> AppResult<RuleSettings> {
    let name = check_name("name", &s.name, 200)?;
    check_conditions(conn, &s.conditions).await?;
    match s.target {
        Target::Queue(q) => refs::queue(conn, q, "target.queue_id").await?,
        Target::Agent(a) => refs::agents(conn, &[a], "target.agent_id").await?,
        Target::AiAgent(ai) => refs::ai_agent(conn, ai, "target.ai_agent_id").await?,
    }
    Ok(RuleSettings { name, ..s })
}

/// A rule's conditions (routing's, and auto-reply rules' alike): each valid, everything they name existing.
pub(super) async fn check_conditions(conn: &mut PgConnection, conditions: &[Condition]) -> AppResult<()> {
    if conditions.len() > MAX_CONDITIONS {
        return Err(AppError::invalid_field("conditions", format!("a rule has at most {MAX_CONDITIONS} conditions")));
    }
    for (i, c) in conditions.iter().enumerate() {
        let at = format!("conditions[{i}]");
        c.compile(&at).map_err(|e| AppError::unprocessable("invalid_condition", e.message).with_field(&e.field))?;
        match c {
            Condition::Number { number_ids } => {
                for id in number_ids {
                    if !store::numbers::is_live(conn, *id).await? {
                        return Err(AppError::unprocessable(
                            "unknown_reference",
                            format!("{at}.number_ids: there is no number {id}"),
                        )
                        .with_field(&format!("{at}.number_ids")));
                    }
                }
            }
            Condition::BusinessHours { business_hours_id: Some(id), .. } => {
                refs::business_hours(conn, *id, &format!("{at}.business_hours_id")).await?
            }
            _ => {}
        }
    }
    Ok(())
}

async fn find(conn: &mut PgConnection, id: Uuid) -> AppResult<RuleRow> {
    db::find_rule(conn, id).await?.ok_or_else(|| AppError::not_found("rule_not_found", "no routing rule with this id"))
}

pub(super) async fn channel_exists(conn: &mut PgConnection, id: Uuid, field: &str) -> AppResult<()> {
    if store::channels::exists(conn, id).await? {
        Ok(())
    } else {
        Err(AppError::unprocessable("unknown_reference", format!("{field}: there is no channel {id}"))
            .with_field(field))
    }
}

/// Every rule in the order they are checked: each channel's own rules, then the global ones. Supervisors and
/// admins.
#[utoipa::path(get, path = "/routing/rules", tag = "routing", responses((status = 200, body = Vec<RuleView>)))]
async fn list(State(state): State<AppState>, _who: Principal) -> AppResult<Json<Vec<RuleView>>> {
    let rows = db::all_rules(&mut *state.pool.acquire().await?).await?;
    Ok(Json(rows.into_iter().map(RuleView::from).collect()))
}

/// Creates a rule. Admins.
#[utoipa::path(post, path = "/routing/rules", tag = "routing", request_body = NewRule,
    responses((status = 201, body = RuleView)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewRule>,
) -> AppResult<(StatusCode, Json<RuleView>)> {
    let mut tx = state.pool.begin().await?;
    if let Some(c) = body.channel_id {
        channel_exists(&mut tx, c, "channel_id").await?;
    }
    let settings = RuleSettings {
        name: body.name,
        enabled: body.enabled,
        conditions: body.conditions,
        target: body.target.into(),
    };
    let settings = check(&mut tx, settings).await?;
    if db::rules_of_scope(&mut tx, body.channel_id).await?.len() as i64 >= MAX_RULES_PER_SCOPE {
        return Err(AppError::unprocessable(
            "too_many_rules",
            format!("a scope holds at most {MAX_RULES_PER_SCOPE} rules"),
        ));
    }
    let rule = db::insert_rule(&mut tx, body.channel_id, body.position, &settings).await?;
    audit_change(&mut tx, &who, "routing_rule.created", "routing_rule", rule.id, None, Some(&rule)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

/// One rule. Supervisors and admins.
#[utoipa::path(get, path = "/routing/rules/{id}", tag = "routing", params(("id" = Uuid, Path)),
    responses((status = 200, body = RuleView)))]
async fn read(State(state): State<AppState>, _who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<RuleView>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?.into()))
}

/// Changes a rule. Admins.
#[utoipa::path(patch, path = "/routing/rules/{id}", tag = "routing", params(("id" = Uuid, Path)),
    request_body = RuleChanges, responses((status = 200, body = RuleView)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RuleChanges>,
) -> AppResult<Json<RuleView>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let settings = RuleSettings {
        name: body.name.unwrap_or_else(|| before.name.clone()),
        enabled: body.enabled.unwrap_or(before.enabled),
        conditions: body.conditions.unwrap_or_else(|| before.conditions.0.clone()),
        target: match body.target {
            Some(t) => t.into(),
            None => before.target().ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored rule without target")))?,
        },
    };
    let settings = check(&mut tx, settings).await?;
    let after = db::update_rule(&mut tx, id, &settings).await?;
    audit_change(&mut tx, &who, "routing_rule.updated", "routing_rule", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after.into()))
}

/// Deletes a rule; the rules after it move up. Admins.
#[utoipa::path(delete, path = "/routing/rules/{id}", tag = "routing", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    db::delete_rule(&mut tx, &before).await?;
    audit_change(&mut tx, &who, "routing_rule.deleted", "routing_rule", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The new order of one scope's rules.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reorder {
    /// The channel whose rules these are; left out: the global rules.
    channel_id: Option<Uuid>,
    /// Every rule of the scope, exactly once, first checked first.
    rule_ids: Vec<Uuid>,
}

/// Puts one scope's rules in a new order. Admins.
#[utoipa::path(post, path = "/routing/rules/reorder", tag = "routing", request_body = Reorder,
    responses((status = 200, body = Vec<RuleView>)))]
async fn reorder(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<Reorder>,
) -> AppResult<Json<Vec<RuleView>>> {
    let mut tx = state.pool.begin().await?;
    ordered::lock_scope(&mut tx, RuleTable::Routing, body.channel_id).await?;
    let current = db::rules_of_scope(&mut tx, body.channel_id).await?;
    let mut have: Vec<Uuid> = current.iter().map(|r| r.id).collect();
    let mut given = body.rule_ids.clone();
    have.sort();
    given.sort();
    if have != given {
        return Err(AppError::unprocessable(
            "rule_ids_mismatch",
            format!("rule_ids must list each of the scope's {} rules exactly once", have.len()),
        )
        .with_field("rule_ids"));
    }
    ordered::reorder(&mut tx, RuleTable::Routing, &body.rule_ids).await?;
    let after = db::rules_of_scope(&mut tx, body.channel_id).await?;
    let scope = body.channel_id.map(|c| c.to_string()).unwrap_or_else(|| "global".into());
    let ids = |rows: &[RuleRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    audit_change(
        &mut tx,
        &who,
        "routing_rule.reordered",
        "routing_scope",
        scope,
        Some(&ids(&current)),
        Some(&ids(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after.into_iter().map(RuleView::from).collect()))
}

/// A sample conversation to explain. Facts left out come from `contact_id` when given (its attributes, tags,
/// language, whether it wrote before), else they are empty.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Sample {
    /// The WhatsApp number the message arrives on (its channel decides which rules apply).
    number_id: Uuid,
    #[serde(default)]
    text: String,
    button_payload: Option<String>,
    language: Option<String>,
    #[serde(default)]
    communication_type: CommunicationType,
    contact_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
    tags: Option<Vec<String>>,
    returning: Option<bool>,
    /// The moment to evaluate business hours at (RFC 3339); left out: now.
    at: Option<String>,
    /// Explain as after the AI agent handed over (rules targeting it, and the AI step, do not apply).
    #[serde(default)]
    after_handover: bool,
}

#[derive(Serialize, ToSchema)]
struct ExplainedDecision {
    /// `rule`, `ai_agent`, `default_queue` or `none`.
    via: &'static str,
    rule_id: Option<Uuid>,
    rule_name: Option<String>,
    /// Where the conversation would go; null: nowhere (no rule, no AI agent, no default queue).
    #[schema(value_type = Option<Object>)]
    target: Value,
    /// In words.
    summary: String,
}

#[derive(Serialize, ToSchema)]
struct Explanation {
    decision: ExplainedDecision,
    /// Every rule that applies to the number's channel, in order, with each condition's result.
    rules: Vec<RuleResult>,
}

/// Which rule a sample message would meet, and why each rule did or did not match. Supervisors and admins.
#[utoipa::path(post, path = "/routing/explain", tag = "routing", request_body = Sample,
    responses((status = 200, body = Explanation)))]
async fn explain(
    State(state): State<AppState>,
    _who: Principal,
    ApiJson(body): ApiJson<Sample>,
) -> AppResult<Json<Explanation>> {
    let mut conn = state.pool.acquire().await?;
    let cfg = state.routing.get(&mut conn).await?;
    let Some(number) = cfg.numbers.get(&body.number_id).cloned() else {
        return Err(AppError::unprocessable(
            "unknown_reference",
            format!("number_id: there is no number {}", body.number_id),
        )
        .with_field("number_id"));
    };
    if let Some(l) = &body.language {
        if !crate::domain::language::is_tag(l) {
            return Err(AppError::invalid_field("language", "language must be a language tag such as en or pt-BR"));
        }
    }
    let now = match &body.at {
        Some(at) => at
            .parse::<jiff::Timestamp>()
            .map_err(|_| AppError::invalid_field("at", "at must be an RFC 3339 time such as 2026-03-02T10:00:00Z"))?,
        None => jiff::Timestamp::now(),
    };
    let contact = match body.contact_id {
        Some(id) => Some(store::contacts::find(&mut conn, id).await?.ok_or_else(|| {
            AppError::unprocessable("unknown_reference", format!("contact_id: there is no contact {id}"))
                .with_field("contact_id")
        })?),
        None => None,
    };
    let facts = Facts {
        channel_id: number.channel_id,
        number_id: body.number_id,
        communication_type: body.communication_type,
        language: body.language.or_else(|| contact.as_ref().and_then(|c| c.language.clone())),
        text: body.text,
        button_payload: body.button_payload,
        attributes: body.attributes.or_else(|| contact.as_ref().map(|c| c.attributes.0.clone())).unwrap_or_default(),
        tags: body.tags.or_else(|| contact.as_ref().map(|c| c.tags.clone())).unwrap_or_default(),
        returning: body.returning.unwrap_or_else(|| contact.as_ref().is_some_and(|c| c.conversations > 0)),
        number_hours_id: number.business_hours_id,
    };
    let env = Env { now, hours: &cfg.hours };
    let rules_in_order = cfg.rules_for(number.channel_id);
    let (decision, report) =
        rules::decide(&rules_in_order, &facts, number.routing, body.after_handover, &|q| cfg.serves(q), &env, true);
    let rule = match decision.via {
        Via::Rule(id) => cfg.rules.iter().find(|r| r.id == id),
        _ => None,
    };
    let target_words = |t: Option<Target>| match t {
        Some(Target::Queue(q)) => {
            format!("the queue {}", cfg.queue(q).map(|q| format!("{:?}", q.name)).unwrap_or_else(|| q.to_string()))
        }
        Some(Target::AiAgent(ai)) => format!("the AI agent {ai}"),
        Some(Target::Agent(a)) => format!("the agent {a}"),
        None => "no owner (the number's agents may claim it)".to_owned(),
    };
    let (via, summary) = match decision.via {
        Via::Rule(_) => (
            "rule",
            format!(
                "rule {:?} matched: to {}",
                rule.map(|r| r.name.as_str()).unwrap_or(""),
                target_words(decision.target)
            ),
        ),
        Via::AiAgent => ("ai_agent", "no rule matched; the number has an AI agent".to_owned()),
        Via::DefaultQueue => (
            "default_queue",
            format!("no rule matched: to the number's default queue, {}", target_words(decision.target)),
        ),
        Via::Nothing => {
            ("none", "no rule matched, no AI agent and no default queue: the conversation has no owner".to_owned())
        }
    };
    Ok(Json(Explanation {
        decision: ExplainedDecision {
            via,
            rule_id: rule.map(|r| r.id),
            rule_name: rule.map(|r| r.name.clone()),
            target: decision.target.map(target_json).unwrap_or(Value::Null),
            summary,
        },
        rules: report,
    }))
}
