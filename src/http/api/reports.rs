//! `GET /reports/summary`: response and resolution times, volumes, CSAT, SLAs and agent activity for a period in
//! a time zone, grouped and filtered, as JSON or (with `Accept: text/csv` or `format=csv`) as CSV. Supervisors
//! and admins see every figure; an agent sees their own (the agent filter is theirs, whatever else they ask).
//! The figures are defined in `src/reports/` and the README.

use super::extract::ApiQuery;
use crate::auth::Principal;
use crate::domain::{Invalid, Role};
use crate::error::{AppError, AppResult};
use crate::reports::offset;
use crate::reports::summary::{self, Summary};
use crate::state::AppState;
use crate::store::reports::{self as db, Group, Scope};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::tz::TimeZone;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary_report))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SummaryQuery {
    /// The first day (`YYYY-MM-DD` in `tz`) or an instant (RFC 3339). Default: 7 days before `to`.
    from: Option<String>,
    /// The last day, included (`YYYY-MM-DD`), or an instant, excluded (RFC 3339). Default: today.
    to: Option<String>,
    /// The IANA time zone of days, hours and weekdays (default `UTC`).
    tz: Option<String>,
    /// One row per `agent`, `queue`, `number`, `channel`, `tag`, `day`, `hour` (of the day) or `weekday`;
    /// `none` (default): the total only.
    group_by: Option<Group>,
    number_id: Option<Uuid>,
    channel_id: Option<Uuid>,
    queue_id: Option<Uuid>,
    /// Agents may give only their own id.
    agent_id: Option<Uuid>,
    /// Conversations with this tag.
    tag_id: Option<Uuid>,
    /// `csv` for CSV (as `Accept: text/csv` asks), `json` (default).
    format: Option<String>,
}

/// The summary of a period. CSV has a header line of stable column names, one line per row and the total last.
#[utoipa::path(get, path = "/reports/summary", tag = "reports", params(SummaryQuery),
    responses((status = 200, body = Summary), (status = 200, content_type = "text/csv", body = String)))]
async fn summary_report(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> AppResult<Response> {
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(AppError::invalid_field("format", "format is csv or json")),
        None => headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv")),
    };
    let tz_name = q.tz.clone().unwrap_or_else(|| "UTC".into());
    let tz = TimeZone::get(&tz_name).map_err(|_| {
        Invalid::new("tz", format!("{tz_name:?} is not a known IANA time zone such as Europe/Amsterdam"))
    })?;
    let (from, to) = summary::period(q.from.as_deref(), q.to.as_deref(), &tz, jiff::Timestamp::now())?;
    // An agent's figures are their own.
    let agent_id = if who.role.includes(Role::Supervisor) {
        q.agent_id
    } else {
        let me = who.user_id.ok_or_else(|| AppError::forbidden("forbidden", "reports for agents are their own"))?;
        if q.agent_id.is_some_and(|a| a != me) {
            return Err(AppError::forbidden("forbidden", "an agent sees only their own figures")
                .with_details(serde_json::json!({ "field": "agent_id" })));
        }
        Some(me)
    };
    let scope = Scope {
        from: offset(from),
        to: offset(to),
        tz: tz_name,
        number_id: q.number_id,
        channel_id: q.channel_id,
        queue_id: q.queue_id,
        agent_id,
        tag_id: q.tag_id,
        group: q.group_by.unwrap_or(Group::None),
    };
    let names = db::names(&state.pool).await?.into_iter().collect();
    let report = summary::summary(&state.pool, &scope, &names).await?;
    if csv {
        let body = summary::csv(&report).map_err(|e| AppError::from(anyhow::Error::from(e)))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"summary.csv\""),
            ],
            body,
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
