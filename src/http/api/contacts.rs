//! Contacts: `GET /contacts` (search), `GET|PATCH /contacts/{id}`: who the customer is, and the attributes, tags and language routing rules
//! look at. Supervisors and admins see every contact; agents those of conversations they can see.

use super::{ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::contacts::{self, Contact};
use crate::store::conversations;
use crate::store::listing::{SortKey, BY_CREATED};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read, update))
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
    let attributes = body.attributes.unwrap_or_else(|| before.attributes.0.clone());
    if attributes.len() > 50 {
        return Err(AppError::invalid_field("attributes", "at most 50 attributes"));
    }
    for (k, v) in &attributes {
        if k.is_empty() || k.chars().count() > 64 {
            return Err(AppError::invalid_field("attributes", "attribute names are 1 to 64 characters"));
        }
        match v {
            Value::String(s) if s.chars().count() > 1000 => {
                return Err(AppError::invalid_field(
                    &format!("attributes.{k}"),
                    "text values are at most 1,000 characters",
                ))
            }
            Value::Object(_) | Value::Array(_) => {
                return Err(AppError::invalid_field(
                    &format!("attributes.{k}"),
                    "values are text, numbers, booleans or null",
                ))
            }
            _ => {}
        }
    }
    let tags: Vec<String> =
        body.tags.unwrap_or_else(|| before.tags.clone()).into_iter().map(|t| t.trim().to_owned()).collect();
    if tags.len() > 50 || tags.iter().any(|t| t.is_empty() || t.chars().count() > 50) {
        return Err(AppError::invalid_field("tags", "at most 50 tags of 1 to 50 characters"));
    }
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
