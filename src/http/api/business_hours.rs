//! Business hours: `GET|POST /business-hours`, `GET|PATCH|DELETE /business-hours/{id}`. Queues and numbers refer
//! to them. Supervisors and admins read them; admins change them.

use super::{audit_change, check_name, ApiJson, ApiPath, List, ListParams, NoFilters, Page};
use crate::auth::Principal;
use crate::domain::business_hours::{Day, Holiday, Range, Schedule};
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::state::AppState;
use crate::store;
use crate::store::business_hours::BusinessHours;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, update, remove))
}

/// A weekly schedule. Ranges are local `HH:MM`; a range whose close is at or before its open runs past midnight
/// (`22:00`–`06:00`); `00:00`–`24:00` is the whole day. A holiday closes the ranges that open on that date.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewHours {
    name: String,
    /// IANA name, e.g. `Europe/Amsterdam`.
    time_zone: String,
    weekly: BTreeMap<Day, Vec<Range>>,
    #[serde(default)]
    holidays: Vec<Holiday>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HoursChanges {
    name: Option<String>,
    time_zone: Option<String>,
    /// Replaces the whole week.
    weekly: Option<BTreeMap<Day, Vec<Range>>>,
    /// Replaces all holidays.
    holidays: Option<Vec<Holiday>>,
}

fn check(schedule: &Schedule) -> AppResult<()> {
    schedule.check().map(|_| ()).map_err(AppError::from)
}

fn taken(e: sqlx::Error) -> AppError {
    AppError::on_conflict(
        e,
        &[UniqueConflict {
            constraint: "business_hours_name_key",
            code: "business_hours_exist",
            message: "business hours with this name exist",
            field: "name",
        }],
    )
}

async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<BusinessHours> {
    store::business_hours::find(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("business_hours_not_found", "no business hours with this id"))
}

/// Lists business hours. Supervisors and admins.
#[utoipa::path(get, path = "/business-hours", tag = "business hours", params(ListParams),
    responses((status = 200, body = Page<BusinessHours>)))]
async fn list(
    State(state): State<AppState>,
    _who: Principal,
    list: List<NoFilters>,
) -> AppResult<Json<Page<BusinessHours>>> {
    let rows = store::business_hours::list(&state.pool, &list.listing).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Creates business hours. Admins.
#[utoipa::path(post, path = "/business-hours", tag = "business hours", request_body = NewHours,
    responses((status = 201, body = BusinessHours)))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewHours>,
) -> AppResult<(StatusCode, Json<BusinessHours>)> {
    let name = check_name("name", &body.name, 200)?;
    let schedule =
        Schedule { time_zone: body.time_zone.trim().to_owned(), weekly: body.weekly, holidays: body.holidays };
    check(&schedule)?;
    let mut tx = state.pool.begin().await?;
    let hours = store::business_hours::insert(&mut tx, &name, &schedule).await.map_err(taken)?;
    audit_change(&mut tx, &who, "business_hours.created", "business_hours", hours.id, None, Some(&hours)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(hours)))
}

/// One set of business hours. Supervisors and admins.
#[utoipa::path(get, path = "/business-hours/{id}", tag = "business hours", params(("id" = Uuid, Path)),
    responses((status = 200, body = BusinessHours)))]
async fn read(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> AppResult<Json<BusinessHours>> {
    Ok(Json(find(&mut *state.pool.acquire().await?, id).await?))
}

/// Changes business hours. Admins.
#[utoipa::path(patch, path = "/business-hours/{id}", tag = "business hours", params(("id" = Uuid, Path)),
    request_body = HoursChanges, responses((status = 200, body = BusinessHours)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<HoursChanges>,
) -> AppResult<Json<BusinessHours>> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let name = check_name("name", body.name.as_deref().unwrap_or(&before.name), 200)?;
    let schedule = Schedule {
        time_zone: body.time_zone.map(|t| t.trim().to_owned()).unwrap_or_else(|| before.time_zone.clone()),
        weekly: body.weekly.unwrap_or_else(|| before.weekly.0.clone()),
        holidays: body.holidays.unwrap_or_else(|| before.holidays.0.clone()),
    };
    check(&schedule)?;
    let after = store::business_hours::update(&mut tx, id, &name, &schedule).await.map_err(taken)?;
    audit_change(&mut tx, &who, "business_hours.updated", "business_hours", id, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Deletes business hours that no queue or number uses (409 `business_hours_in_use` names those that do). Admins.
#[utoipa::path(delete, path = "/business-hours/{id}", tag = "business hours", params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove(State(state): State<AppState>, who: Principal, ApiPath(id): ApiPath<Uuid>) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, id).await?;
    let users = store::business_hours::users_of(&mut tx, id).await?;
    if !users.is_empty() {
        return Err(in_use("business_hours_in_use", "these business hours are still used", users));
    }
    store::business_hours::delete(&mut tx, id).await?;
    audit_change(&mut tx, &who, "business_hours.deleted", "business_hours", id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 409 listing what still uses the thing being deleted.
pub fn in_use(code: &'static str, message: &str, users: Vec<String>) -> AppError {
    AppError::client(StatusCode::CONFLICT, code, format!("{message} by {}", users.join(", ")))
        .with_details(serde_json::json!({ "used_by": users }))
}
