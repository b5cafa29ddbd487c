//! Automations: `GET|PUT /automation/numbers/{id}` and `/automation/queues/{id}` (what a number's and a
//! queue's automations say), `GET|POST /automation/rules`, `GET|PATCH|DELETE /automation/rules/{id}`,
//! `POST /automation/rules/reorder`, and `POST /automation/explain` (which auto-reply rules a sample message
//! would fire, and why not the others). Admins change them; supervisors and admins read and explain them.

use super::routing::{channel_exists, check_conditions};
use super::{audit_change, check_name, ApiJson, ApiPath};
use crate::auth::Principal;
use crate::automation::rules::{self, AutoRuleResult};
use crate::domain::automation::{Action, CsatSettings};
use crate::domain::conversation;
use crate::domain::routing::Condition;
use crate::error::{AppError, AppResult};
use crate::refs;
use crate::routing::rules::{Env, Facts};
use crate::state::AppState;
use crate::store;
use crate::store::automation::{self as db, AutoRuleRow, AutoRuleSettings, NumberAutomation, QueueAutomation};
use crate::store::ordered::{self, RuleTable};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json as Stored;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_number, put_number))
        .routes(routes!(read_queue, put_queue))
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(reorder))
        .routes(routes!(explain))
}

const MAX_TEXT: usize = 1600;
const MAX_ACTIONS: usize = 10;
const MAX_RULES_PER_SCOPE: i64 = 500;

fn text(field: &str, value: Option<String>) -> AppResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() || v.chars().count() > MAX_TEXT => {
            Err(AppError::invalid_field(field, format!("{field} is 1 to {MAX_TEXT} characters, or null for none")))
        }
        other => Ok(other),
    }
}

/// What a number's automations say. Every field is replaced; `greeting_text` and `csat_enabled` are the
/// number's own settings (`PATCH /channels/{channel_id}/numbers/{id}`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NumberAutomationBody {
    /// The greeting as a template or interactive content (with buttons) instead of the number's text.
    greeting_template_id: Option<Uuid>,
    #[serde(default)]
    greeting_variables: BTreeMap<String, String>,
    out_of_hours_text: Option<String>,
    /// Default 30.
    out_of_hours_quiet_minutes: Option<i32>,
    attachments_refused_text: Option<String>,
    #[serde(default)]
    csat: CsatSettings,
    /// 1 to 43,200 (30 days): a conversation nobody wrote in for this many minutes is resolved. Left out: never.
    auto_resolve_after_minutes: Option<i32>,
    /// Sent as it is auto-resolved, while the customer's 24-hour window is open; `{{customer_name}}` and
    /// `{{number_name}}` are filled in.
    auto_resolve_text: Option<String>,
}

/// An auto-resolve delay, if valid.
fn auto_resolve_after(minutes: Option<i32>) -> AppResult<Option<i32>> {
    if minutes.is_some_and(|m| !(1..=43_200).contains(&m)) {
        return Err(AppError::invalid_field(
            "auto_resolve_after_minutes",
            "auto_resolve_after_minutes is 1 to 43200 (30 days), or null for never",
        ));
    }
    Ok(minutes)
}

async fn number_settings(conn: &mut PgConnection, id: Uuid) -> AppResult<NumberAutomation> {
    db::number_settings(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("number_not_found", "no number with this id"))
}

/// A number's automation settings. Supervisors and admins.
#[utoipa::path(get, path = "/automation/numbers/{id}", tag = "automation", params(("id" = Uuid, Path)),
    responses((status = 200, body = NumberAutomation)))]
async fn read_number(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<NumberAutomation>> {
    Ok(Json(number_settings(&mut *state.pool.acquire().await?, id).await?))
}

/// Sets a number's automation settings. Admins.
#[utoipa::path(put, path = "/automation/numbers/{id}", tag = "automation", params(("id" = Uuid, Path)),
    request_body = NumberAutomationBody, responses((status = 200, body = NumberAutomation)))]
async fn put_number(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NumberAutomationBody>,
) -> AppResult<Json<NumberAutomation>> {
    let mut tx = state.pool.begin().await?;
    let before = number_settings(&mut tx, id).await?;
    if let Some(t) = body.greeting_template_id {
        template_exists(&mut tx, t, "greeting_template_id").await?;
    }
    check_variables("greeting_variables", &body.greeting_variables)?;
    let quiet = body.out_of_hours_quiet_minutes.unwrap_or(30);
    if !(0..=1440).contains(&quiet) {
        return Err(AppError::invalid_field("out_of_hours_quiet_minutes", "out_of_hours_quiet_minutes is 0 to 1440"));
    }
    check_csat(&mut tx, &body.csat).await?;
    let after = NumberAutomation {
        number_id: id,
        greeting_template_id: body.greeting_template_id,
        greeting_variables: Stored(body.greeting_variables),
        out_of_hours_text: text("out_of_hours_text", body.out_of_hours_text)?,
        out_of_hours_quiet_minutes: quiet,
        attachments_refused_text: text("attachments_refused_text", body.attachments_refused_text)?,
        csat: Stored(CsatSettings { content: before.csat.0.content.clone(), ..body.csat }),
        auto_resolve_after_minutes: auto_resolve_after(body.auto_resolve_after_minutes)?,
        auto_resolve_text: text("auto_resolve_text", body.auto_resolve_text)?,
    };
    db::put_number_settings(&mut tx, &after).await?;
    audit_change(&mut tx, &who, "number_automation.updated", "number", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

async fn template_exists(conn: &mut PgConnection, id: Uuid, field: &str) -> AppResult<()> {
    match store::templates::find(conn, id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::unprocessable("unknown_reference", format!("{field}: there is no template {id}"))
            .with_field(field)),
    }
}

fn check_variables(field: &str, vars: &BTreeMap<String, String>) -> AppResult<()> {
    if vars.len() > 20 || vars.values().any(|v| v.trim().is_empty() || v.chars().count() > 1024) {
        return Err(AppError::invalid_field(field, format!("{field}: at most 20 variables of 1 to 1,024 characters")));
    }
    Ok(())
}

async fn check_csat(conn: &mut PgConnection, c: &CsatSettings) -> AppResult<()> {
    if !(1..=168).contains(&c.validity_hours) {
        return Err(AppError::invalid_field("csat.validity_hours", "csat.validity_hours is 1 to 168"));
    }
    for (lang, t) in &c.texts {
        let at = format!("csat.texts.{lang}");
        if !crate::domain::language::is_tag(lang) {
            return Err(AppError::invalid_field(&at, format!("{lang:?} is not a language tag such as en or pt-BR")));
        }
        if t.question.trim().is_empty() || t.question.chars().count() > 1024 {
            return Err(AppError::invalid_field(&format!("{at}.question"), "a question is 1 to 1,024 characters"));
        }
        if !t.labels.is_empty() && t.labels.len() != c.ratings().len() {
            return Err(AppError::invalid_field(
                &format!("{at}.labels"),
                format!("give one label per point of the scale ({}), lowest first", c.ratings().len()),
            ));
        }
        if t.labels.iter().any(|l| l.trim().is_empty() || l.chars().count() > 20) {
            return Err(AppError::invalid_field(
                &format!("{at}.labels"),
                "a label is 1 to 20 characters (WhatsApp's limit)",
            ));
        }
        if t.thanks.as_ref().is_some_and(|x| x.trim().is_empty() || x.chars().count() > MAX_TEXT) {
            return Err(AppError::invalid_field(&format!("{at}.thanks"), "thanks is 1 to 1,600 characters"));
        }
    }
    if let Some(t) = c.template_id {
        template_exists(conn, t, "csat.template_id").await?;
    }
    Ok(())
}

/// What a queue's automations say. Every field is replaced.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct QueueAutomationBody {
    out_of_hours_text: Option<String>,
    /// `{{position}}` and `{{estimated_wait}}` are filled in, e.g. "You are number {{position}} in line; the
    /// wait is about {{estimated_wait}}."
    waiting_notice_text: Option<String>,
    /// Default 5.
    waiting_notice_every_minutes: Option<i32>,
    /// Default 3.
    waiting_notice_max: Option<i32>,
    /// 1 to 43,200: overrides the number's auto-resolve for conversations in or from the queue.
    auto_resolve_after_minutes: Option<i32>,
    /// Overrides the number's closing message.
    auto_resolve_text: Option<String>,
}

async fn queue_settings(conn: &mut PgConnection, id: Uuid) -> AppResult<QueueAutomation> {
    db::queue_settings(conn, id).await?.ok_or_else(|| AppError::not_found("queue_not_found", "no queue with this id"))
}

/// A queue's automation settings. Supervisors and admins.
#[utoipa::path(get, path = "/automation/queues/{id}", tag = "automation", params(("id" = Uuid, Path)),
    responses((status = 200, body = QueueAutomation)))]
async fn read_queue(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<QueueAutomation>> {
    Ok(Json(queue_settings(&mut *state.pool.acquire().await?, id).await?))
}

/// Sets a queue's automation settings. Admins.
#[utoipa::path(put, path = "/automation/queues/{id}", tag = "automation", params(("id" = Uuid, Path)),
    request_body = QueueAutomationBody, responses((status = 200, body = QueueAutomation)))]
async fn put_queue(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<QueueAutomationBody>,
) -> AppResult<Json<QueueAutomation>> {
    let mut tx = state.pool.begin().await?;
    let before = queue_settings(&mut tx, id).await?;
    let every = body.waiting_notice_every_minutes.unwrap_or(5);
    if !(1..=1440).contains(&every) {
        return Err(AppError::invalid_field(
            "waiting_notice_every_minutes",
            "waiting_notice_every_minutes is 1 to 1440",
        ));
    }
    let max = body.waiting_notice_max.unwrap_or(3);
    if !(1..=100).contains(&max) {
        return Err(AppError::invalid_field("waiting_notice_max", "waiting_notice_max is 1 to 100"));
    }
    let after = QueueAutomation {
        queue_id: id,
        out_of_hours_text: text("out_of_hours_text", body.out_of_hours_text)?,
        waiting_notice_text: text("waiting_notice_text", body.waiting_notice_text)?,
        waiting_notice_every_minutes: every,
        waiting_notice_max: max,
        auto_resolve_after_minutes: auto_resolve_after(body.auto_resolve_after_minutes)?,
        auto_resolve_text: text("auto_resolve_text", body.auto_resolve_text)?,
    };
    db::put_queue_settings(&mut tx, &after).await?;
    audit_change(&mut tx, &who, "queue_automation.updated", "queue", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// A new auto-reply rule, checked after the rules before it in its scope (the channel's, or the global ones).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAutoRule {
    name: String,
    /// The channel whose messages it looks at; left out: every channel (after the channel's own rules).
    channel_id: Option<Uuid>,
    /// 1-based place in its scope; left out: last.
    position: Option<i32>,
    #[serde(default = "yes")]
    enabled: bool,
    /// All must hold; none: every message.
    #[serde(default)]
    conditions: Vec<Condition>,
    /// Done in order: `reply`, `reply_template`, `add_tags`, `set_priority`, `resolve`, `route`.
    actions: Vec<Action>,
    /// Fires at most once per contact in this many seconds (86400: once a day).
    cooldown_secs: Option<i32>,
    #[serde(default)]
    stop_after: bool,
}

fn yes() -> bool {
    true
}

/// What to change; a field left out stays as it is. Move a rule with `/automation/rules/reorder`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AutoRuleChanges {
    name: Option<String>,
    enabled: Option<bool>,
    conditions: Option<Vec<Condition>>,
    actions: Option<Vec<Action>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i32>)]
    cooldown_secs: Option<Option<i32>>,
    stop_after: Option<bool>,
}

async fn check(conn: &mut PgConnection, s: AutoRuleSettings) -> AppResult<AutoRuleSettings> {
    let name = check_name("name", &s.name, 200)?;
    check_conditions(conn, &s.conditions).await?;
    if s.actions.is_empty() || s.actions.len() > MAX_ACTIONS {
        return Err(AppError::invalid_field("actions", format!("give 1 to {MAX_ACTIONS} actions")));
    }
    for (i, a) in s.actions.iter().enumerate() {
        let at = |f: &str| format!("actions[{i}].{f}");
        match a {
            Action::Reply { text: t } => {
                text(&at("text"), Some(t.clone()))?;
            }
            Action::ReplyTemplate { template_id, variables } => {
                template_exists(conn, *template_id, &at("template_id")).await?;
                check_variables(&at("variables"), variables)?;
            }
            Action::AddTags { tag_ids } => refs::tags(conn, tag_ids, &at("tag_ids")).await?,
            Action::SetPriority { priority } => {
                conversation::check_priority(*priority).map_err(|m| AppError::invalid_field(&at("priority"), m))?;
            }
            Action::Resolve => {}
            Action::Route { queue_id, agent_id } => match (queue_id, agent_id) {
                (Some(q), None) => refs::queue(conn, *q, &at("queue_id")).await?,
                (None, Some(a)) => refs::agents(conn, &[*a], &at("agent_id")).await?,
                _ => {
                    return Err(AppError::invalid_field(&format!("actions[{i}]"), "route to a queue_id or an agent_id"))
                }
            },
        }
    }
    if s.cooldown_secs.is_some_and(|c| !(1..=31_536_000).contains(&c)) {
        return Err(AppError::invalid_field("cooldown_secs", "cooldown_secs is 1 to 31536000 (a year), or null"));
    }
    Ok(AutoRuleSettings { name, ..s })
}

async fn find(conn: &mut PgConnection, id: Uuid) -> AppResult<AutoRuleRow> {
    db::find_rule(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("rule_not_found", "no auto-reply rule with this id"))
}

/// Every auto-reply rule in the order they are checked: each channel's own, then the global ones. Supervisors
/// and admins.
#[utoipa::path(get, path = "/automation/rules", tag = "automation", responses((status = 200, body = Vec<AutoRuleRow>)))]
async fn list(State(state): State<AppState>, _who: Principal) -> AppResult<Json<Vec<AutoRuleRow>>> {
    Ok(Json(db::all_rules(&mut *state.pool.acquire().await?).await?))
}

/// Creates an auto-reply rule. Admins.
#[utoipa::path(post, path = "/automation/rules", tag = "automation", request_body = NewAutoRule,
    responses((status = 201, body = AutoRuleRow)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewAutoRule>,
) -> AppResult<(StatusCode, Json<AutoRuleRow>)> {
    let mut tx = state.pool.begin().await?;
    if let Some(c) = body.channel_id {
        channel_exists(&mut tx, c, "channel_id").await?;
    }
    let settings = AutoRuleSettings {
        name: body.name,
        enabled: body.enabled,
        conditions: body.conditions,
        actions: body.actions,
        cooldown_secs: body.cooldown_secs,
        stop_after: body.stop_after,
    };
    let settings = check(&mut tx, settings).await?;
    if db::rules_of_scope(&mut tx, body.channel_id).await?.len() as i64 >= MAX_RULES_PER_SCOPE {
        return Err(AppError::unprocessable(
            "too_many_rules",
            format!("a scope holds at most {MAX_RULES_PER_SCOPE} rules"),
        ));
    }
    let rule = db::insert_rule(&mut tx, body.channel_id, body.position, &settings).await?;
    audit_change(&mut tx, &who, "automation_rule.created", "automation_rule", rule.id, None, Some(&rule)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// One auto-reply rule. Supervisors and admins.
#[utoipa::path(get, path = "/automation/rules/{id}", tag = "automation", params(("id" = Uuid, Path)),
    responses((status = 200, body = AutoRuleRow)))]
async fn read(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<AutoRuleRow>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Changes an auto-reply rule. Admins.
#[utoipa::path(patch, path = "/automation/rules/{id}", tag = "automation", params(("id" = Uuid, Path)),
    request_body = AutoRuleChanges, responses((status = 200, body = AutoRuleRow)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AutoRuleChanges>,
) -> AppResult<Json<AutoRuleRow>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let settings = AutoRuleSettings {
        name: body.name.unwrap_or_else(|| before.name.clone()),
        enabled: body.enabled.unwrap_or(before.enabled),
        conditions: body.conditions.unwrap_or_else(|| before.conditions.0.clone()),
        actions: body.actions.unwrap_or_else(|| before.actions.0.clone()),
        cooldown_secs: body.cooldown_secs.unwrap_or(before.cooldown_secs),
        stop_after: body.stop_after.unwrap_or(before.stop_after),
    };
    let settings = check(&mut tx, settings).await?;
    let after = db::update_rule(&mut tx, id, &settings).await?;
    audit_change(&mut tx, &who, "automation_rule.updated", "automation_rule", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes an auto-reply rule; the rules after it move up. Admins.
#[utoipa::path(delete, path = "/automation/rules/{id}", tag = "automation", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    db::delete_rule(&mut tx, &before).await?;
    audit_change(&mut tx, &who, "automation_rule.deleted", "automation_rule", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The new order of one scope's auto-reply rules.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AutomationReorder)]
struct Reorder {
    /// The channel whose rules these are; left out: the global rules.
    channel_id: Option<Uuid>,
    /// Every rule of the scope, exactly once, first checked first.
    rule_ids: Vec<Uuid>,
}

/// Puts one scope's auto-reply rules in a new order. Admins.
#[utoipa::path(post, path = "/automation/rules/reorder", tag = "automation", request_body = Reorder,
    responses((status = 200, body = Vec<AutoRuleRow>)))]
async fn reorder(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<Reorder>,
) -> AppResult<Json<Vec<AutoRuleRow>>> {
    let mut tx = state.pool.begin().await?;
    ordered::lock_scope(&mut tx, RuleTable::Automation, body.channel_id).await?;
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
    ordered::reorder(&mut tx, RuleTable::Automation, &body.rule_ids).await?;
    let after = db::rules_of_scope(&mut tx, body.channel_id).await?;
    let scope = body.channel_id.map(|c| c.to_string()).unwrap_or_else(|| "global".into());
    let ids = |rows: &[AutoRuleRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    audit_change(
        &mut tx,
        &who,
        "automation_rule.reordered",
        "automation_scope",
        scope,
        Some(&ids(&current)),
        Some(&ids(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// A sample message to explain. Facts left out come from `contact_id` when given (its attributes, tags,
/// language, whether it wrote before, and when each rule last fired for it), else they are empty.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AutomationSample)]
struct Sample {
    /// The WhatsApp number the message arrives on (its channel decides which rules apply).
    number_id: Uuid,
    #[serde(default)]
    text: String,
    button_payload: Option<String>,
    language: Option<String>,
    contact_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
    tags: Option<Vec<String>>,
    returning: Option<bool>,
    /// The moment to evaluate business hours and cooldowns at (RFC 3339); left out: now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AutomationExplanation)]
struct Explanation {
    /// The rules that would fire, in order, with the actions they would take.
    fires: Vec<Uuid>,
    /// In words.
    summary: String,
    /// Every rule that applies to the number's channel, in order, with each condition's result.
    rules: Vec<AutoRuleResult>,
}

/// Which auto-reply rules a sample message would fire, and why each other rule would not. Supervisors and
/// admins.
#[utoipa::path(post, path = "/automation/explain", tag = "automation", request_body = Sample,
    responses((status = 200, body = Explanation)))]
async fn explain(
    State(state): State<AppState>,
    _who: Principal,
    ApiJson(body): ApiJson<Sample>,
) -> AppResult<Json<Explanation>> {
    let mut conn = state.pool.acquire().await?;
    let cfg = state.automation.get(&mut conn).await?;
    let Some(number) = cfg.routing.numbers.get(&body.number_id).cloned() else {
        return Err(AppError::unprocessable(
            "unknown_reference",
            format!("number_id: there is no number {}", body.number_id),
        )
        .with_field("number_id"));
    };
    if body.language.as_deref().is_some_and(|l| !crate::domain::language::is_tag(l)) {
        return Err(AppError::invalid_field("language", "language must be a language tag such as en or pt-BR"));
    }
    let at =
        match &body.at {
            Some(at) => Some(at.parse::<jiff::Timestamp>().map_err(|_| {
                AppError::invalid_field("at", "at must be an RFC 3339 time such as 2026-03-02T10:00:00Z")
            })?),
            None => None,
        };
    let now = at.unwrap_or_else(jiff::Timestamp::now);
    let contact = match body.contact_id {
        Some(id) => Some(store::contacts::find(&mut conn, id).await?.ok_or_else(|| {
            AppError::unprocessable("unknown_reference", format!("contact_id: there is no contact {id}"))
                .with_field("contact_id")
        })?),
        None => None,
    };
    // Cooldowns are counted to the moment asked about.
    let shift = at.map_or(0.0, |at| (jiff::Timestamp::now().as_millisecond() - at.as_millisecond()) as f64 / 1000.0);
    let last_fired: HashMap<Uuid, f64> = match body.contact_id {
        Some(id) => db::cooldowns_of(&mut conn, id).await?.into_iter().map(|(r, ago)| (r, ago - shift)).collect(),
        None => HashMap::new(),
    };
    let facts = Facts {
        channel_id: number.channel_id,
        number_id: body.number_id,
        communication_type: Default::default(),
        language: body.language.or_else(|| contact.as_ref().and_then(|c| c.language.clone())),
        text: body.text,
        button_payload: body.button_payload,
        attributes: body.attributes.or_else(|| contact.as_ref().map(|c| c.attributes.0.clone())).unwrap_or_default(),
        tags: body.tags.or_else(|| contact.as_ref().map(|c| c.tags.clone())).unwrap_or_default(),
        returning: body.returning.unwrap_or_else(|| contact.as_ref().is_some_and(|c| c.conversations > 0)),
        number_hours_id: number.business_hours_id,
    };
    let env = Env { now, hours: &cfg.routing.hours };
    let (fired, report) = rules::evaluate(&cfg.rules_for(number.channel_id), &facts, &env, &last_fired, true);
    let summary = match fired.as_slice() {
        [] => "no auto-reply rule would fire".to_owned(),
        rules => format!(
            "{} would fire: {}",
            if rules.len() == 1 { "1 rule" } else { "these rules" },
            rules.iter().map(|r| format!("{:?}", r.name)).collect::<Vec<_>>().join(", ")
        ),
    };
    Ok(Json(Explanation { fires: fired.iter().map(|r| r.id).collect(), summary, rules: report }))
}
