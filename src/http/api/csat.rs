//! `GET /csat`: CSAT surveys and their ratings, filtered by agent, queue, number, period, rating and state.
//! Supervisors and admins see all; an agent sees the surveys of conversations they resolved.

use super::{List, ListFilters, ListParams, Page};
use crate::auth::Principal;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::csat::{self, Survey};
use crate::store::listing::{SortKey, BY_CREATED};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filters {
    /// The agent who resolved the conversation.
    agent_id: Option<Uuid>,
    queue_id: Option<Uuid>,
    number_id: Option<Uuid>,
    /// Sent at or after (RFC 3339).
    from: Option<String>,
    /// Sent before (RFC 3339).
    to: Option<String>,
    /// 1 to 5.
    rating: Option<i16>,
    /// `sent`, `rated`, `done`, `expired` or `skipped`.
    state: Option<String>,
}

impl ListFilters for Filters {
    const SORTS: &'static [SortKey] = &[BY_CREATED];
}

fn moment(field: &str, value: &Option<String>) -> AppResult<Option<OffsetDateTime>> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(|_| {
                AppError::invalid_field(field, format!("{field} must be an RFC 3339 time such as 2026-03-02T10:00:00Z"))
            })
        })
        .transpose()
}

/// CSAT surveys, newest first by default.
#[utoipa::path(get, path = "/csat", tag = "csat", params(ListParams, Filters),
    responses((status = 200, body = Page<Survey>)))]
async fn list(State(state): State<AppState>, who: Principal, list: List<Filters>) -> AppResult<Json<Page<Survey>>> {
    let f = &list.filters;
    if f.rating.is_some_and(|r| !(1..=5).contains(&r)) {
        return Err(AppError::invalid_field("rating", "rating is 1 to 5"));
    }
    const STATES: &[&str] = &["sent", "rated", "done", "expired", "skipped"];
    if f.state.as_deref().is_some_and(|s| !STATES.contains(&s)) {
        return Err(AppError::invalid_field("state", format!("state is one of {}", STATES.join(", "))));
    }
    // An agent sees their own ratings only.
    let agent_id =
        if who.role.includes(Role::Supervisor) { f.agent_id } else { Some(who.user_id.unwrap_or(Uuid::nil())) };
    let filter = csat::Filter {
        agent_id,
        queue_id: f.queue_id,
        number_id: f.number_id,
        from: moment("from", &f.from)?,
        to: moment("to", &f.to)?,
        rating: f.rating,
        state: f.state.clone(),
    };
    let rows = csat::list(&state.pool, &list.listing, &filter).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}
