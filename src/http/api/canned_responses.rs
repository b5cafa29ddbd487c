//! Canned responses: `GET|POST /canned-responses`, `GET|PATCH|DELETE /canned-responses/{id}`. Everyone reads
//! them (the composer offers them on `/`); supervisors and admins change them.

use super::{audit_change, ApiJson, ApiPath, List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::state::AppState;
use crate::store;
use crate::store::canned_responses::{CannedResponse, CannedSettings};
use crate::store::listing::{SortKey, BY_CREATED, BY_UPDATED};
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

const BY_SHORT_CODE: SortKey = SortKey { name: "short_code", sql: "short_code", sql_type: "text" };

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCanned {
    /// 1 to 40 lowercase letters, digits, `-` or `_`, starting with a letter or digit; unique.
    #[schema(example = "refund-policy")]
    short_code: String,
    #[serde(default)]
    title: String,
    /// 1 to 4,096 characters.
    text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CannedChanges {
    short_code: Option<String>,
    title: Option<String>,
    text: Option<String>,
}

fn check(s: CannedSettings) -> AppResult<CannedSettings> {
    let code = s.short_code.trim().trim_start_matches('/').to_lowercase();
    let ok = (1..=40).contains(&code.len())
        && code.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(AppError::invalid_field(
            "short_code",
            "short_code must be 1 to 40 letters, digits, - or _, starting with a letter or digit (e.g. refund-policy)",
        ));
    }
    if s.title.chars().count() > 200 {
        return Err(AppError::invalid_field("title", "title is at most 200 characters"));
    }
    if s.text.trim().is_empty() || s.text.chars().count() > 4096 {
        return Err(AppError::invalid_field("text", "text must be 1 to 4,096 characters"));
    }
    Ok(CannedSettings { short_code: code, title: s.title.trim().to_owned(), text: s.text })
}

fn taken(e: sqlx::Error) -> AppError {
    AppError::on_conflict(
        e,
        &[UniqueConflict {
            constraint: "canned_responses_short_code_key",
            code: "short_code_taken",
            message: "another canned response has this short code",
            field: "short_code",
        }],
    )
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<CannedResponse> {
    store::canned_responses::find(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("canned_response_not_found", "no canned response with this id"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// Short codes starting with this (what the agent typed after `/`).
    prefix: Option<String>,
    /// Short code, title or text contains (case-insensitive).
    q: Option<String>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_SHORT_CODE, BY_CREATED, BY_UPDATED];
}

/// Lists canned responses. Everyone.
#[utoipa::path(get, path = "/canned-responses", tag = "canned responses", params(ListParams, Filters),
    responses((status = 200, body = Page<CannedResponse>)))]
async fn list(
    State(state): State<AppState>,
    _who: Principal,
    list: List<Filters>,
) -> AppResult<Json<Page<CannedResponse>>> {
    let f = &list.filters;
    let rows = store::canned_responses::list(&state.pool, &list.listing, f.prefix.as_deref(), f.q.as_deref()).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates a canned response. Supervisors and admins.
#[utoipa::path(post, path = "/canned-responses", tag = "canned responses", request_body = NewCanned,
    responses((status = 201, body = CannedResponse)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewCanned>,
) -> AppResult<(StatusCode, Json<CannedResponse>)> {
    let settings = check(CannedSettings { short_code: body.short_code, title: body.title, text: body.text })?;
    let mut tx = state.pool.begin().await?;
    let canned = store::canned_responses::insert(&mut tx, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "canned_response.created", "canned_response", canned.id, None, Some(&canned)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(canned)))
}

/// One canned response. Everyone.
#[utoipa::path(get, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = Uuid, Path)),
    responses((status = 200, body = CannedResponse)))]
async fn read(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<CannedResponse>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Changes a canned response. Supervisors and admins.
#[utoipa::path(patch, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = Uuid, Path)),
    request_body = CannedChanges, responses((status = 200, body = CannedResponse)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CannedChanges>,
) -> AppResult<Json<CannedResponse>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let settings = check(CannedSettings {
        short_code: body.short_code.unwrap_or_else(|| before.short_code.clone()),
        title: body.title.unwrap_or_else(|| before.title.clone()),
        text: body.text.unwrap_or_else(|| before.text.clone()),
    })?;
    let after = store::canned_responses::update(&mut tx, id, &settings).await.map_err(taken)?;
    audit_change(&mut tx, &who, "canned_response.updated", "canned_response", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes a canned response. Supervisors and admins.
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    store::canned_responses::delete(&mut tx, id).await?;
    audit_change(&mut tx, &who, "canned_response.deleted", "canned_response", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
