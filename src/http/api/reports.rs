//! `GET /reports/summary` and `GET /reports/timeseries`: response and resolution times, volumes, CSAT, SLAs and
//! agent activity for a period in a time zone, filtered; the summary grouped, the series per hour, day or week.
//! JSON, or CSV with `Accept: text/csv` (or `format=csv`). Supervisors and admins see every figure; an agent sees
//! their own (the agent filter is theirs, whatever else they ask). The figures are defined in `src/reports/`
//! and the README.

use super::extract::ApiQuery;
use crate::auth::Principal;
use crate::domain::{Invalid, Role};
use crate::error::{AppError, AppResult};
use crate::reports::offset;
use crate::reports::series::{self, Series};
use crate::reports::summary::{self, Summary};
use crate::state::AppState;
use crate::store::reports::{self as db, Group, Interval, Scope};
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
    OpenApiRouter::new().routes(routes!(summary_report)).routes(routes!(timeseries))
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SeriesQuery {
    /// A column of the summary's CSV: `conversations_new`, `messages_received`, `first_response_median_secs`,
    /// `csat_average`, `sla_first_response_met_share`, …
    metric: String,
    /// `hour` (a period of at most 31 days), `day` (default) or `week`.
    interval: Option<Interval>,
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    number_id: Option<Uuid>,
    channel_id: Option<Uuid>,
    queue_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    tag_id: Option<Uuid>,
    format: Option<String>,
}

/// What both reports take: the period, the zone, the filters (an agent's limited to themselves).
struct Asked<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
    tz: Option<&'a str>,
    number_id: Option<Uuid>,
    channel_id: Option<Uuid>,
    queue_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    tag_id: Option<Uuid>,
}

/// The period, zone and filters of either query (both have the same fields for them).
macro_rules! asked {
    ($q:expr) => {
        Asked {
            from: $q.from.as_deref(),
            to: $q.to.as_deref(),
            tz: $q.tz.as_deref(),
            number_id: $q.number_id,
            channel_id: $q.channel_id,
            queue_id: $q.queue_id,
            agent_id: $q.agent_id,
            tag_id: $q.tag_id,
        }
    };
}

fn scope(who: &Principal, a: Asked<'_>, group: Group) -> AppResult<(Scope, TimeZone)> {
    let tz_name = a.tz.unwrap_or("UTC").to_owned();
    let tz = TimeZone::get(&tz_name).map_err(|_| {
        Invalid::new("tz", format!("{tz_name:?} is not a known IANA time zone such as Europe/Amsterdam"))
    })?;
    let (from, to) = summary::period(a.from, a.to, &tz, jiff::Timestamp::now())?;
    // An agent's figures are their own.
    let agent_id = if who.role.includes(Role::Supervisor) {
        a.agent_id
    } else {
        let me = who.user_id.ok_or_else(|| AppError::forbidden("forbidden", "reports for agents are their own"))?;
        if a.agent_id.is_some_and(|id| id != me) {
            return Err(AppError::forbidden("forbidden", "an agent sees only their own figures")
                .with_details(serde_json::json!({ "field": "agent_id" })));
        }
        Some(me)
    };
    let scope = Scope {
        from: offset(from),
        to: offset(to),
        tz: tz_name,
        number_id: a.number_id,
        channel_id: a.channel_id,
        queue_id: a.queue_id,
        agent_id,
        tag_id: a.tag_id,
        group,
        bucket: None,
    };
    Ok((scope, tz))
}

fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> AppResult<bool> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(AppError::invalid_field("format", "format is csv or json")),
        None => Ok(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))),
    }
}

fn csv_response(name: &str, body: Result<Vec<u8>, csv::Error>) -> AppResult<Response> {
    let body = body.map_err(|e| AppError::from(anyhow::Error::from(e)))?;
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

/// The summary of a period. CSV has a header line of stable column names, one line per row and the total last.
#[utoipa::path(get, path = "/reports/summary", tag = "reports", params(SummaryQuery),
    responses((status = 200, description = "The summary (JSON), or with `Accept: text/csv` its CSV",
        content((Summary = "application/json"), (String = "text/csv")))))]
async fn summary_report(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> AppResult<Response> {
    let csv = wants_csv(q.format.as_deref(), &headers)?;
    let (scope, _) = scope(&who, asked!(q), q.group_by.unwrap_or(Group::None))?;
    let names = db::names(&state.report_pool).await?.into_iter().collect();
    let report = summary::summary(&state.report_pool, &scope, &names).await?;
    if csv {
        return csv_response("summary", summary::csv(&report));
    }
    Ok(Json(report).into_response())
}

/// One figure over the period, a point per hour, day or week (empty ones included). CSV: `key,<metric>`.
#[utoipa::path(get, path = "/reports/timeseries", tag = "reports", params(SeriesQuery),
    responses((status = 200, description = "The series (JSON), or with `Accept: text/csv` its CSV",
        content((Series = "application/json"), (String = "text/csv")))))]
async fn timeseries(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> AppResult<Response> {
    let csv = wants_csv(q.format.as_deref(), &headers)?;
    if !series::is_metric(&q.metric) {
        return Err(Invalid::new("metric", "metric is a column of the summary's CSV, such as conversations_new").into());
    }
    let interval = q.interval.unwrap_or(Interval::Day);
    let (scope, tz) = scope(&who, asked!(q), Group::None)?;
    if interval == Interval::Hour && (scope.to - scope.from).whole_days() > 31 {
        return Err(Invalid::new("interval", "an hourly series covers at most 31 days").into());
    }
    let series = series::series(&state.report_pool, &scope, &tz, &q.metric, interval).await?;
    if csv {
        return csv_response("timeseries", series::series_csv(&series));
    }
    Ok(Json(series).into_response())
}
