//! Contacts: `GET /contacts` (search), `GET|PATCH /contacts/{id}`: who the customer is, and the attributes, tags and language routing rules
//! look at; `POST /contacts/{id}/block|unblock` (the rules are in `routing::actions`). Supervisors and admins see every contact; agents those of conversations they can see.

use super::{ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::domain::{contact, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::contacts::{self, Contact};
use crate::store::conversations;
use crate::store::listing::{SortKey, BY_CREATED};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, update))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(export))
        .routes(routes!(import))
}

pub(super) async fn visible(conn: &mut PgConnection, who: &Principal, id: Uuid) -> AppResult<Contact> {
    let missing = || AppError::not_found("contact_not_found", "no contact with this id that you can see");
    let contact = contacts::find(conn, id).await?.ok_or_else(missing)?;
    // Supervisors see every contact; agents those of a conversation they can see.
    if !who.role.includes(Role::Supervisor)
        && !conversations::any_of_contact(conn, id, who.caller().visibility()).await?
    {
        return Err(missing());
    }
    Ok(contact)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Name or number contains (case-insensitive).
    q: Option<String>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[contacts::BY_CONTACT_NAME, BY_CREATED];
}

/// Finds contacts by name or number. Agents: those of conversations they can see.
#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ListParams, Filters),
    responses((status = 200, body = Page<Contact>)))]
async fn list(State(state): State<AppState>, who: Principal, list: List<Filters>) -> AppResult<Json<Page<Contact>>> {
    let rows = contacts::list(&state.pool, &list.listing, who.caller().visibility(), list.filters.q.as_deref()).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// One contact.
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = Contact)))]
async fn read(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Contact>> {
    Ok(Json(visible(&mut *state.pool.acquire().await?, &who, id).await?))
}

/// What to change; a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ContactChanges {
    /// Replaces the attributes: at most 50 keys of 1 to 64 characters; values strings (≤ 1,000 characters),
    /// numbers, booleans or null.
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
    /// Replaces the tags: at most 50, 1 to 50 characters each.
    tags: Option<Vec<String>>,
    /// A language tag such as `nl` or `pt-BR`; `null` clears it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    language: Option<Option<String>>,
}

/// Changes a contact's attributes, tags or language.
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", params(("id" = Uuid, Path)),
    request_body = ContactChanges, responses((status = 200, body = Contact)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ContactChanges>,
) -> AppResult<Json<Contact>> {
    let mut tx = state.pool.begin().await?;
    let before = visible(&mut tx, &who, id).await?;
    let refused = |r: contact::Refused| AppError::invalid_field(&r.field, r.message);
    let attributes = body.attributes.unwrap_or_else(|| before.attributes.0.clone());
    contact::check_attributes(&attributes).map_err(refused)?;
    let tags = contact::tags(body.tags.unwrap_or_else(|| before.tags.clone())).map_err(refused)?;
    let language = body.language.unwrap_or_else(|| before.language.clone());
    if let Some(l) = &language {
        if !crate::domain::language::is_tag(l) {
            return Err(AppError::invalid_field("language", "language must be a language tag such as nl or pt-BR"));
        }
    }
    let after = contacts::update(&mut tx, id, &attributes, &tags, language.as_deref()).await?;
    super::audit_change(&mut tx, &who, "contact.updated", "contact", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Blocks the contact: their open conversation leaves its agent and is offered to nobody; what they send later is
/// stored but routed to nobody and answered by no automation or AI agent. Audited. Supervisors and admins.
#[utoipa::path(post, path = "/contacts/{id}/block", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = Contact)))]
async fn block(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Contact>> {
    let mut tx = state.pool.begin().await?;
    let before = visible(&mut tx, &who, id).await?;
    let changed = crate::routing::actions::block_contact(&mut tx, &who.caller(), id).await?;
    let after = visible(&mut tx, &who, id).await?;
    if changed {
        super::audit_change(&mut tx, &who, "contact.blocked", "contact", id, Some(&before), Some(&after)).await?;
    }
    tx.commit().await?;
    Ok(Json(after))
}

/// Unblocks the contact: their blocked conversation is routed again. Audited. Supervisors and admins.
#[utoipa::path(post, path = "/contacts/{id}/unblock", tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = Contact)))]
async fn unblock(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<Contact>> {
    let mut tx = state.pool.begin().await?;
    let before = visible(&mut tx, &who, id).await?;
    let changed = crate::routing::actions::unblock_contact(&mut tx, &who.caller(), id).await?;
    let after = visible(&mut tx, &who, id).await?;
    if changed {
        super::audit_change(&mut tx, &who, "contact.unblocked", "contact", id, Some(&before), Some(&after)).await?;
    }
    tx.commit().await?;
    if changed {
        state.router_wake.notify_one();
    }
    Ok(Json(after))
}

/// The columns an export writes before the attributes (`attributes.<name>`, one per name in use). An import
/// reads `phone` (required), `name`, `language`, `tags` and the attribute columns; the others are the export's
/// and are skipped, so an exported file can be edited and imported back.
const CSV_COLUMNS: [&str; 8] = ["phone", "wa_id", "bsuid", "name", "language", "tags", "blocked", "created_at"];
const ATTRIBUTE_PREFIX: &str = "attributes.";
/// The most lines one import takes.
const MAX_IMPORT_LINES: usize = 100_000;

fn supervisors_only(who: &Principal) -> AppResult<()> {
    if !who.role.includes(Role::Supervisor) {
        return Err(AppError::forbidden("forbidden", "exporting and importing contacts needs the supervisor role"));
    }
    Ok(())
}

/// Every contact as CSV, oldest first: the columns `phone, wa_id, bsuid, name, language, tags` (separated by
/// `;`), `blocked, created_at`, then `attributes.<name>` for every attribute name in use. Supervisors and admins.
#[utoipa::path(get, path = "/contacts/export", tag = "contacts",
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn export(State(state): State<AppState>, who: Principal) -> AppResult<axum::response::Response> {
    supervisors_only(&who)?;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = contacts::export_page(&state.pool, after, 5000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let full = page.len() == 5000;
        all.extend(page);
        if !full {
            break;
        }
    }
    let names: std::collections::BTreeSet<&str> =
        all.iter().flat_map(|c| c.attributes.0.keys().map(String::as_str)).collect();
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = CSV_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(names.iter().map(|n| format!("{ATTRIBUTE_PREFIX}{n}")))
        .collect();
    let write_error = |e: csv::Error| AppError::from(anyhow::Error::from(e));
    csv.write_record(&header).map_err(write_error)?;
    for c in &all {
        let fixed = [
            c.phone.clone().unwrap_or_default(),
            c.wa_id.clone().unwrap_or_default(),
            c.bsuid.clone().unwrap_or_default(),
            c.name.clone().unwrap_or_default(),
            c.language.clone().unwrap_or_default(),
            c.tags.join("; "),
            c.blocked.to_string(),
            c.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        ];
        let attrs = names.iter().map(|n| c.attributes.0.get(*n).map(contact::attribute_to_text).unwrap_or_default());
        csv.write_record(fixed.into_iter().chain(attrs)).map_err(write_error)?;
    }
    let body = csv.into_inner().map_err(|e| AppError::from(anyhow::anyhow!("{e}")))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"contacts.csv\""),
        ],
        body,
    )
        .into_response())
}

#[derive(serde::Serialize, ToSchema)]
struct ContactsImported {
    /// Numbers not known before.
    created: i64,
    /// Known numbers whose contact was changed.
    updated: i64,
}

/// Adds or updates contacts from CSV (`Content-Type: text/csv`), by number: a header line naming `phone`
/// (E.164, `+` optional) and any of `name`, `language`, `tags` (separated by `;`) and `attributes.<name>`; the
/// other columns of an export are skipped. A column that is there replaces the stored value (an empty `tags` or
/// `language` clears it, an empty attribute removes it); one that is not leaves it. Attribute cells read `true`
/// and `false` as booleans and plain numbers as numbers. All lines or none: the first bad lines are named in
/// `details.lines`. Audited. Supervisors and admins.
#[utoipa::path(post, path = "/contacts/import", tag = "contacts",
    request_body(content = String, content_type = "text/csv"), responses((status = 201, body = ContactsImported)))]
async fn import(
    State(state): State<AppState>,
    who: Principal,
    body: axum::body::Bytes,
) -> AppResult<(axum::http::StatusCode, Json<ContactsImported>)> {
    supervisors_only(&who)?;
    let rows = parse_contacts_csv(&body)?;
    if rows.is_empty() {
        return Err(AppError::invalid_field("body", "the CSV has no lines after its header"));
    }
    let mut tx = state.pool.begin().await?;
    let (created, updated) = contacts::import(&mut tx, &rows).await?;
    let result = ContactsImported { created, updated };
    super::audit_change(&mut tx, &who, "contacts.imported", "contacts", "csv", None, Some(&result)).await?;
    tx.commit().await?;
    tracing::info!(created, updated, "contacts imported");
    Ok((axum::http::StatusCode::CREATED, Json(result)))
}

/// The CSV's lines, or a 422 naming the first bad ones.
fn parse_contacts_csv(body: &[u8]) -> AppResult<Vec<contacts::ImportedContact>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| AppError::invalid_field("body", format!("the CSV's header cannot be read: {e}")))?
        .clone();
    let mut phone = None;
    let (mut name, mut language, mut tags) = (None, None, None);
    let mut attributes: Vec<(usize, String)> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match h.to_ascii_lowercase().as_str() {
            "phone" => phone = Some(i),
            "name" => name = Some(i),
            "language" => language = Some(i),
            "tags" => tags = Some(i),
            other if CSV_COLUMNS.contains(&other) => {}
            _ => match h.strip_prefix(ATTRIBUTE_PREFIX).filter(|n| !n.is_empty() && n.chars().count() <= 64) {
                Some(n) => attributes.push((i, n.to_owned())),
                None => {
                    return Err(AppError::invalid_field(
                        "body",
                        format!("the column {h:?} is not one a contact has: use phone, name, language, tags or attributes.<name>"),
                    ))
                }
            },
        }
    }
    let Some(phone) = phone else {
        return Err(AppError::invalid_field("body", "the CSV's header must name the column phone"));
    };
    let mut rows: Vec<contacts::ImportedContact> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut bad: Vec<Value> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() >= MAX_IMPORT_LINES {
            return Err(AppError::invalid_field("body", format!("at most {MAX_IMPORT_LINES} lines per import")));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad.push(serde_json::json!({ "line": line, "column": null, "reason": e.to_string() }));
                continue;
            }
        };
        let cell = |i: Option<usize>| i.map(|i| record.get(i).unwrap_or_default().to_owned());
        let mut fault = |column: &str, reason: String| {
            bad.push(serde_json::json!({ "line": line, "column": column, "reason": reason }));
        };
        let number = match crate::domain::E164::parse_lenient(record.get(phone).unwrap_or_default()) {
            Ok(n) => n.to_string(),
            Err(e) => {
                fault("phone", e.to_string());
                continue;
            }
        };
        if let Some(first) = seen.insert(number.clone(), line) {
            fault("phone", format!("{number} is also on line {first}: one line per number"));
            continue;
        }
        let lang = cell(language).map(|l| Some(l).filter(|l| !l.is_empty()));
        if let Some(Some(l)) = &lang {
            if !crate::domain::language::is_tag(l) {
                fault("language", "a language tag such as nl or pt-BR".into());
                continue;
            }
        }
        let tag_list =
            match cell(tags).map(|t| contact::tags(t.split(';').filter(|x| !x.trim().is_empty()).map(str::to_owned))) {
                Some(Err(r)) => {
                    fault("tags", r.message.into());
                    continue;
                }
                Some(Ok(t)) => Some(t),
                None => None,
            };
        let mut attrs = Map::new();
        for (i, n) in &attributes {
            attrs.insert(
                n.clone(),
                contact::attribute_from_text(record.get(*i).unwrap_or_default()).unwrap_or(Value::Null),
            );
        }
        if let Err(r) = contact::check_attributes(&attrs) {
            fault(&r.field, r.message.into());
            continue;
        }
        rows.push(contacts::ImportedContact {
            phone: number,
            name: cell(name).filter(|n| !n.is_empty()),
            language: lang,
            tags: tag_list,
            attributes: attrs,
        });
        if bad.len() >= 20 {
            break;
        }
    }
    if !bad.is_empty() {
        return Err(AppError::unprocessable(
            "invalid_csv",
            "some lines of the CSV cannot be imported; nothing was stored",
        )
        .with_details(serde_json::json!({ "field": "body", "lines": bad })));
    }
    Ok(rows)
}
