//! Tags for conversations: `GET|POST /tags`, `GET|PATCH|DELETE /tags/{id}`. Everyone reads them; supervisors and
//! admins change them.

use super::{audit_change, check_name, ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::state::AppState;
use crate::store;
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME};
use crate::store::tags::{Tag, TagSettings};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, update, remove))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTag {
    /// 1 to 50 characters, unique regardless of case.
    name: String,
    /// `#rrggbb`.
    color: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TagChanges {
    name: Option<String>,
    /// `#rrggbb`, or `null` for none.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    color: Option<Option<String>>,
    description: Option<String>,
}

fn check(s: TagSettings) -> AppResult<TagSettings> {
    let name = check_name("name", &s.name, 50)?;
    let color = s.color.map(|c| c.trim().to_lowercase());
    if let Some(c) = &color {
        if !(c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(AppError::invalid_field("color", "color must be #rrggbb, e.g. #1f7a4d"));
        }
    }
    if s.description.chars().count() > 500 {
        return Err(AppError::invalid_field("description", "description is at most 500 characters"));
    }
    Ok(TagSettings { name, color, description: s.description.trim().to_owned() })
}

fn taken(e: sqlx::Error) -> AppError {
    AppError::on_conflict(
        e,
        &[UniqueConflict {
            constraint: "tags_name_key",
            code: "tag_exists",
            message: "a tag with this name exists",
            field: "name",
        }],
    )
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<Tag> {
    store::tags::find(conn, id).await?.ok_or_else(|| AppError::not_found("tag_not_found", "no tag with this id"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Name contains (case-insensitive).
    q: Option<String>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_NAME, BY_CREATED];
}

/// Lists tags. Everyone.
#[utoipa::path(get, path = "/tags", tag = "tags", params(ListParams, Filters),
    responses((status = 200, body = Page<Tag>)))]
async fn list(State(state): State<AppState>, _who: Principal, list: List<Filters>) -> AppResult<Json<Page<Tag>>> {
    let rows = store::tags::list(&state.pool, &list.listing, list.filters.q.as_deref()).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates a tag. Supervisors and admins.
#[utoipa::path(post, path = "/tags", tag = "tags", request_body = NewTag, responses((status = 201, body = Tag)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewTag>,
) -> AppResult<(StatusCode, Json<Tag>)> {
    let settings = check(TagSettings { name: body.name, color: body.color, description: body.description })?;
    let mut tx = state.pool.begin().await?;
    let tag = store::tags::insert(&mut tx, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "tag.created", "tag", tag.id, None::<&Tag>, Some(&tag)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(tag)))
}

/// One tag. Everyone.
#[utoipa::path(get, path = "/tags/{id}", tag = "tags", params(("id" = Uuid, Path)), responses((status = 200, body = Tag)))]
async fn read(State(state): State<AppState>, _who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<Json<Tag>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Changes a tag. Supervisors and admins.
#[utoipa::path(patch, path = "/tags/{id}", tag = "tags", params(("id" = Uuid, Path)), request_body = TagChanges,
    responses((status = 200, body = Tag)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TagChanges>,
) -> AppResult<Json<Tag>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let settings = check(TagSettings {
        name: body.name.unwrap_or_else(|| before.name.clone()),
        color: body.color.unwrap_or_else(|| before.color.clone()),
        description: body.description.unwrap_or_else(|| before.description.clone()),
    })?;
    let after = store::tags::update(&mut tx, id, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "tag.updated", "tag", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes a tag. Supervisors and admins.
#[utoipa::path(delete, path = "/tags/{id}", tag = "tags", params(("id" = Uuid, Path)), responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    store::tags::delete(&mut tx, id).await?;
    audit_change(&mut tx, &who, "tag.deleted", "tag", id, Some(&before), None::<&Tag>).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
