//! WhatsApp templates: `GET|POST /templates`, `GET|PATCH|DELETE /templates/{id}`. Everyone reads them (agents pick
//! one when the 24-hour window is closed); admins change them.

use super::{audit_change, ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::domain::language;
use crate::domain::template;
use crate::domain::template::Button;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::state::AppState;
use crate::store;
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME, BY_UPDATED};
use crate::store::templates::{Template, TemplateSettings};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(preview))
        .routes(routes!(sync))
}

pub const CATEGORIES: &[&str] = &["utility", "marketing", "authentication"];
pub const APPROVAL_STATUSES: &[&str] =
    &["unsubmitted", "received", "pending", "approved", "rejected", "paused", "disabled"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTemplate {
    /// Lowercase letters, digits and `_`, e.g. `order_update`.
    name: String,
    /// A language tag such as `en`, `nl` or `pt_BR`.
    language: String,
    /// Up to 1,024 characters; variables as `{{1}}`, `{{2}}`, … numbered without gaps.
    body: String,
    /// Twilio's Content SID (`HX` and 32 hex digits), when the template exists at Twilio.
    content_sid: Option<String>,
    /// `utility` (default), `marketing` or `authentication`.
    category: Option<String>,
    /// Default `unsubmitted`. Usually set by the sync from Twilio.
    approval_status: Option<String>,
    rejection_reason: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// Twilio's content type; default `twilio/text`. Interactive types (`twilio/quick-reply`,
    /// `twilio/list-picker`, `twilio/call-to-action`, `twilio/card`) may be sent unapproved inside the window.
    content_type: Option<String>,
    /// The content's quick replies, list items or call-to-action buttons, in order.
    #[serde(default)]
    buttons: Vec<Button>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TemplateChanges {
    name: Option<String>,
    language: Option<String>,
    body: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    content_sid: Option<Option<String>>,
    category: Option<String>,
    approval_status: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    rejection_reason: Option<Option<String>>,
    tags: Option<Vec<String>>,
    content_type: Option<String>,
    buttons: Option<Vec<Button>>,
}

fn check(mut s: TemplateSettings) -> AppResult<TemplateSettings> {
    s.name = s.name.trim().to_owned();
    if !(1..=512).contains(&s.name.len())
        || !s.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(AppError::invalid_field(
            "name",
            "name must be 1 to 512 lowercase letters, digits or _ (WhatsApp's rule)",
        ));
    }
    if !language::is_tag(&s.language) {
        return Err(AppError::invalid_field("language", "language must be a language tag such as en, nl or pt_BR"));
    }
    if s.body.trim().is_empty() || s.body.chars().count() > 1024 {
        return Err(AppError::invalid_field("body", "body must be 1 to 1,024 characters (WhatsApp's limit)"));
    }
    template::variable_count(&s.body).map_err(|m| AppError::invalid_field("body", m))?;
    if let Some(sid) = &s.content_sid {
        if !(sid.len() == 34 && sid.starts_with("HX") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(AppError::invalid_field("content_sid", "content_sid must be HX followed by 32 hex digits"));
        }
    }
    if !CATEGORIES.contains(&s.category.as_str()) {
        return Err(AppError::invalid_field("category", format!("category must be one of {}", CATEGORIES.join(", "))));
    }
    if !APPROVAL_STATUSES.contains(&s.approval_status.as_str()) {
        return Err(AppError::invalid_field(
            "approval_status",
            format!("approval_status must be one of {}", APPROVAL_STATUSES.join(", ")),
        ));
    }
    if s.rejection_reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(AppError::invalid_field("rejection_reason", "rejection_reason is at most 1,000 characters"));
    }
    let mut tags: Vec<String> = Vec::new();
    for t in &s.tags {
        let t = t.trim();
        if t.is_empty() || t.chars().count() > 50 {
            return Err(AppError::invalid_field("tags", "each tag is 1 to 50 characters"));
        }
        if !tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            tags.push(t.to_owned());
        }
    }
    if tags.len() > 20 {
        return Err(AppError::invalid_field("tags", "at most 20 tags"));
    }
    s.tags = tags;
    if !template::CONTENT_TYPES.contains(&s.content_type.as_str()) {
        return Err(AppError::invalid_field(
            "content_type",
            format!("content_type must be one of {}", template::CONTENT_TYPES.join(", ")),
        ));
    }
    check_buttons(&s.buttons)?;
    Ok(s)
}

/// WhatsApp's limits: at most 10 buttons (list items), titles of 1 to 24 characters (quick replies 20 are safest;
/// WhatsApp takes 24 for list items), ids up to 200.
fn check_buttons(buttons: &[Button]) -> AppResult<()> {
    if buttons.len() > 10 {
        return Err(AppError::invalid_field("buttons", "at most 10 buttons"));
    }
    for (i, b) in buttons.iter().enumerate() {
        if b.title.trim().is_empty() || b.title.chars().count() > 24 {
            return Err(AppError::invalid_field(&format!("buttons[{i}].title"), "a title is 1 to 24 characters"));
        }
        if b.id.as_ref().is_some_and(|id| id.trim().is_empty() || id.chars().count() > 200) {
            return Err(AppError::invalid_field(&format!("buttons[{i}].id"), "an id is 1 to 200 characters"));
        }
        if b.action.as_ref().is_some_and(|a| !template::ACTIONS.contains(&a.as_str())) {
            return Err(AppError::invalid_field(
                &format!("buttons[{i}].action"),
                format!("an action is one of {}", template::ACTIONS.join(", ")),
            ));
        }
    }
    Ok(())
}

fn taken(e: sqlx::Error) -> AppError {
    AppError::on_conflict(
        e,
        &[
            UniqueConflict {
                constraint: "templates_name_language_key",
                code: "template_exists",
                message: "a template with this name and language exists",
                field: "name",
            },
            UniqueConflict {
                constraint: "templates_content_sid_key",
                code: "content_sid_taken",
                message: "another template has this content_sid",
                field: "content_sid",
            },
        ],
    )
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<Template> {
    store::templates::find(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("template_not_found", "no template with this id"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Name, body or a tag contains (case-insensitive).
    q: Option<String>,
    language: Option<String>,
    approval_status: Option<String>,
    category: Option<String>,
    /// Has this tag.
    tag: Option<String>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_NAME, BY_CREATED, BY_UPDATED];
}

/// Lists and searches templates. Everyone.
#[utoipa::path(get, path = "/templates", tag = "templates", params(ListParams, Filters),
    responses((status = 200, body = Page<Template>)))]
async fn list(State(state): State<AppState>, _who: Principal, list: List<Filters>) -> AppResult<Json<Page<Template>>> {
    let f = &list.filters;
    let filter = store::templates::Filter {
        text: f.q.as_deref(),
        language: f.language.as_deref(),
        approval_status: f.approval_status.as_deref(),
        category: f.category.as_deref(),
        tag: f.tag.as_deref(),
    };
    let rows = store::templates::list(&state.pool, &list.listing, &filter).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates a template. Admins.
#[utoipa::path(post, path = "/templates", tag = "templates", request_body = NewTemplate,
    responses((status = 201, body = Template)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewTemplate>,
) -> AppResult<(StatusCode, Json<Template>)> {
    let settings = check(TemplateSettings {
        name: body.name,
        language: body.language,
        body: body.body,
        content_sid: body.content_sid,
        category: body.category.unwrap_or_else(|| "utility".into()),
        approval_status: body.approval_status.unwrap_or_else(|| "unsubmitted".into()),
        rejection_reason: body.rejection_reason,
        tags: body.tags,
        content_type: body.content_type.unwrap_or_else(|| "twilio/text".into()),
        buttons: sqlx::types::Json(body.buttons),
    })?;
    let mut tx = state.pool.begin().await?;
    let t = store::templates::insert(&mut tx, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "template.created", "template", t.id, None, Some(&t)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// One template. Everyone.
#[utoipa::path(get, path = "/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    responses((status = 200, body = Template)))]
async fn read(State(state): State<AppState>, _who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Template>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Changes a template. Admins.
#[utoipa::path(patch, path = "/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    request_body = TemplateChanges, responses((status = 200, body = Template)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TemplateChanges>,
) -> AppResult<Json<Template>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let settings = check(TemplateSettings {
        name: body.name.unwrap_or_else(|| before.settings.name.clone()),
        language: body.language.unwrap_or_else(|| before.settings.language.clone()),
        body: body.body.unwrap_or_else(|| before.settings.body.clone()),
        content_sid: body.content_sid.unwrap_or_else(|| before.settings.content_sid.clone()),
        category: body.category.unwrap_or_else(|| before.settings.category.clone()),
        approval_status: body.approval_status.unwrap_or_else(|| before.settings.approval_status.clone()),
        rejection_reason: body.rejection_reason.unwrap_or_else(|| before.settings.rejection_reason.clone()),
        tags: body.tags.unwrap_or_else(|| before.settings.tags.clone()),
        content_type: body.content_type.unwrap_or_else(|| before.settings.content_type.clone()),
        buttons: sqlx::types::Json(body.buttons.unwrap_or_else(|| before.settings.buttons.0.clone())),
    })?;
    let after = store::templates::update(&mut tx, id, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "template.updated", "template", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes a template. Admins.
#[utoipa::path(delete, path = "/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    store::templates::delete(&mut tx, id).await?;
    audit_change(&mut tx, &who, "template.deleted", "template", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    /// `{"1": "Ana"}`; variables not given yet are shown as `{{n}}`.
    #[serde(default)]
    variables: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Serialize, ToSchema)]
struct Preview {
    /// The body with the given variables filled in.
    body: String,
    variable_count: i32,
    /// The variables still missing, by number.
    missing: Vec<u32>,
}

/// Renders a template's body with the given variables, for the composer's live preview. Everyone.
#[utoipa::path(post, path = "/templates/{id}/preview", tag = "templates", params(("id" = Uuid, Path)),
    request_body = PreviewRequest, responses((status = 200, body = Preview)))]
async fn preview(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> AppResult<Json<Preview>> {
    let t = find(&mut *state.pool.acquire().await?, id).await?;
    let count = t.variable_count as u32;
    if let Some(extra) = req.variables.keys().find(|k| k.parse::<u32>().map_or(true, |n| n == 0 || n > count)) {
        return Err(AppError::unprocessable(
            "template_variables_invalid",
            format!("there is no variable {extra:?}: this template has {count}"),
        )
        .with_field("variables"));
    }
    let mut missing = Vec::new();
    let values: Vec<String> = (1..=count)
        .map(|n| match req.variables.get(&n.to_string()).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) => v.to_owned(),
            None => {
                missing.push(n);
                format!("{{{{{n}}}}}")
            }
        })
        .collect();
    let body = template::render(&t.settings.body, &values).unwrap_or_else(|| t.settings.body.clone());
    Ok(Json(Preview { body, variable_count: t.variable_count, missing }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SyncRequest {
    /// Sync the Twilio account of this channel; without it, the accounts of every channel.
    channel_id: Option<Uuid>,
}

#[derive(serde::Serialize, ToSchema)]
struct SkippedTemplate {
    content_sid: String,
    reason: String,
}

#[derive(serde::Serialize, ToSchema, Default)]
struct SyncReport {
    accounts: usize,
    created: usize,
    updated: usize,
    unchanged: usize,
    /// Content Twilio has that cannot be a WhatsApp template here, and why.
    skipped: Vec<SkippedTemplate>,
}

/// Reads every template from Twilio's Content API (all pages, then each one's WhatsApp approval) and stores
/// them: new ones created, changed ones updated, local tags kept. Admins.
#[utoipa::path(post, path = "/templates/sync", tag = "templates", request_body = SyncRequest,
    responses((status = 200, body = SyncReport)))]
async fn sync(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<SyncRequest>,
) -> AppResult<Json<SyncReport>> {
    let accounts = store::channels::sync_accounts(&state.pool, req.channel_id).await?;
    if accounts.is_empty() {
        return Err(match req.channel_id {
            Some(_) => AppError::not_found("channel_not_found", "no channel with this id"),
            None => AppError::unprocessable("no_channels", "there is no channel to sync templates from"),
        });
    }
    let mut report = SyncReport::default();
    for account in &accounts {
        let auth = crate::channels::account_credentials(&state.secrets, account)?;
        let twilio_failed = |e: crate::twilio::rest::RestError| {
            AppError::client(StatusCode::BAD_GATEWAY, "twilio_error", format!("Twilio's Content API: {e}"))
        };
        let contents = state.twilio.list_content(account.sandbox, &auth).await.map_err(twilio_failed)?;
        let mut fetched = Vec::with_capacity(contents.len());
        for content in contents {
            let approval = state.twilio.approval(account.sandbox, &auth, &content.sid).await.map_err(twilio_failed)?;
            fetched.push((content, approval));
        }
        let mut tx = state.pool.begin().await?;
        for (content, approval) in fetched {
            let settings = match from_twilio(&content, approval.as_ref()) {
                Ok(s) => s,
                Err(reason) => {
                    report.skipped.push(SkippedTemplate { content_sid: content.sid.clone(), reason });
                    continue;
                }
            };
            match store::templates::upsert_synced(&mut tx, &settings).await? {
                store::templates::Synced::Created => report.created += 1,
                store::templates::Synced::Updated => report.updated += 1,
                store::templates::Synced::Unchanged => report.unchanged += 1,
                store::templates::Synced::NameTaken => report.skipped.push(SkippedTemplate {
                    content_sid: content.sid.clone(),
                    reason: format!("another template is already called {} in {}", settings.name, settings.language),
                }),
            }
        }
        let summary = serde_json::json!({
            "account_sid": account.account_sid, "created": report.created, "updated": report.updated,
        });
        store::audit::record(
            &mut tx,
            &who.actor(),
            "template.synced",
            "account",
            Some(&account.account_sid),
            None,
            Some(&summary),
        )
        .await?;
        tx.commit().await?;
        report.accounts += 1;
    }
    Ok(Json(report))
}

/// A Content API resource as a template, or why it cannot be one.
fn from_twilio(
    content: &crate::twilio::rest::Content,
    approval: Option<&crate::twilio::rest::Approval>,
) -> Result<TemplateSettings, String> {
    let raw_name = approval.map(|a| a.name.as_str()).filter(|n| !n.is_empty()).unwrap_or(&content.friendly_name);
    let name: String = raw_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .take(512)
        .collect();
    if name.is_empty() {
        return Err("it has no name".into());
    }
    let language = content.language.trim().to_owned();
    let body = [
        "twilio/text",
        "twilio/quick-reply",
        "twilio/call-to-action",
        "twilio/media",
        "twilio/list-picker",
        "whatsapp/card",
        "twilio/card",
    ]
    .iter()
    .find_map(|t| {
        let v = &content.types[*t];
        v["body"].as_str().or_else(|| v["title"].as_str()).filter(|b| !b.trim().is_empty())
    })
    .or_else(|| content.types.as_object()?.values().find_map(|v| v["body"].as_str().filter(|b| !b.trim().is_empty())))
    .ok_or_else(|| "it has no text body (WhatsApp templates here need one)".to_owned())?;
    let status = approval.map(|a| a.status.to_ascii_lowercase()).unwrap_or_else(|| "unsubmitted".into());
    let approval_status = if APPROVAL_STATUSES.contains(&status.as_str()) { status } else { "pending".to_owned() };
    let category = approval.map(|a| a.category.to_ascii_lowercase()).unwrap_or_default();
    let category = if CATEGORIES.contains(&category.as_str()) { category } else { "utility".to_owned() };
    let (content_type, buttons) = content_kind(&content.types);
    let settings = TemplateSettings {
        name,
        language,
        body: body.to_owned(),
        content_sid: Some(content.sid.clone()),
        category,
        approval_status,
        rejection_reason: approval.map(|a| a.rejection_reason.trim().to_owned()).filter(|r| !r.is_empty()),
        tags: Vec::new(),
        content_type,
        buttons: sqlx::types::Json(buttons),
    };
    check(settings).map_err(|e| match e {
        AppError::Client { message, .. } => message,
        AppError::Internal(e) => e.to_string(),
    })
}

/// The WhatsApp-facing type of a content and its buttons, from the Content API's `types` (the first type it
/// has among those WhatsApp renders, interactive ones first).
fn content_kind(types: &serde_json::Value) -> (String, Vec<Button>) {
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_owned);
    for kind in template::CONTENT_TYPES.iter().filter(|t| **t != "twilio/text").chain(["twilio/text"].iter()) {
        let v = &types[*kind];
        if v.is_null() {
            continue;
        }
        let buttons = match *kind {
            "twilio/quick-reply" | "twilio/call-to-action" | "twilio/card" | "whatsapp/card" => v["actions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| {
                            Some(Button {
                                title: text(b, "title")?,
                                id: text(b, "id"),
                                description: None,
                                url: text(b, "url"),
                                phone: text(b, "phone"),
                                action: text(b, "type").filter(|t| template::ACTIONS.contains(&t.as_str())),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            "twilio/list-picker" => v["items"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| {
                            Some(Button {
                                title: text(b, "item")?,
                                id: text(b, "id"),
                                description: text(b, "description"),
                                url: None,
                                phone: None,
                                action: None,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        return ((*kind).to_owned(), buttons);
    }
    ("twilio/text".to_owned(), Vec::new())
}

#[cfg(test)]
mod tests {
    use crate::twilio::rest::{Approval, Content};

    fn content(types: serde_json::Value) -> Content {
        Content {
            sid: "HX0123456789abcdef0123456789abcdef".into(),
            friendly_name: "Order Update".into(),
            language: "en".into(),
            types,
        }
    }

    #[test]
    fn an_approved_template_from_twilio_shows_as_approved() {
        let approval = Approval {
            name: "order_update".into(),
            category: "UTILITY".into(),
            status: "approved".into(),
            rejection_reason: String::new(),
        };
        let s = super::from_twilio(
            &content(serde_json::json!({"twilio/text": {"body": "Order {{1}} shipped"}})),
            Some(&approval),
        )
        .unwrap();
        assert_eq!(s.approval_status, "approved");
        assert_eq!(s.name, "order_update");
        assert_eq!(s.category, "utility");
        assert_eq!(s.body, "Order {{1}} shipped");
    }

    #[test]
    fn without_an_approval_it_is_unsubmitted_and_named_from_its_friendly_name() {
        let s = super::from_twilio(
            &content(serde_json::json!({"twilio/quick-reply": {"body": "Hi", "actions": []}})),
            None,
        )
        .unwrap();
        assert_eq!(s.approval_status, "unsubmitted");
        assert_eq!(s.name, "order_update");
        assert!(super::from_twilio(&content(serde_json::json!({"twilio/location": {"latitude": 1}})), None).is_err());
    }

    #[test]
    fn a_call_permission_request_from_twilio_keeps_its_action_type() {
        let types = serde_json::json!({"twilio/call-to-action": {"body": "May we call you?", "actions": [
            {"type": "VOICE_CALL_REQUEST", "title": "Allow calls"},
            {"type": "SOMETHING_NEW", "title": "Other"}]}});
        let s = super::from_twilio(&content(types), None).unwrap();
        assert_eq!(s.content_type, "twilio/call-to-action");
        assert_eq!(s.buttons.0[0].action.as_deref(), Some("VOICE_CALL_REQUEST"));
        assert_eq!(s.buttons.0[1].action, None, "an action type this version does not know is not kept");
        assert!(crate::domain::template::is_call_permission_request(&s.content_type, &s.buttons.0));
    }
}
