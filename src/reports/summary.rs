//! The summary report: for a period in a time zone, with filters, one row per group (agent, queue, number,
//! channel, tag, day, hour of the day, day of the week) and a total row, every figure defined in the README
//! ("Reports"). The same rows as CSV, with stable column names.

use crate::domain::Invalid;
use crate::store::reports::{self as db, Breach, FactRow, Group, MessageRow, Reads, Scope};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// At most this many breaches are listed (newest first).
const BREACHES: i64 = 200;
/// The longest period a summary covers.
pub const MAX_DAYS: i64 = 400;

/// The period a summary covers, from what the caller sent. `from` and `to` are days (`YYYY-MM-DD` in `tz`: from
/// the first day's midnight to the midnight after the last day, so a day with a clock change is 23 or 25 hours
/// long) or instants (RFC 3339; `to` excluded). Without them: the 7 days up to and including today in `tz`. At
/// most [`MAX_DAYS`] days, and `from` before `to`.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), Invalid> {
    let day_start = |field: &str, date: Date| {
        date.to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| Invalid::new(field, "that day is outside the calendar"))
    };
    let read = |field: &str, value: &str, end: bool| -> Result<Timestamp, Invalid> {
        if let Ok(date) = value.parse::<Date>() {
            let date = if end {
                date.tomorrow().map_err(|_| Invalid::new(field, "that day is outside the calendar"))?
            } else {
                date
            };
            return day_start(field, date);
        }
        value.parse::<Timestamp>().map_err(|_| {
            Invalid::new(
                field,
                format!("{field} must be a day (2026-03-02) or an RFC 3339 time (2026-03-02T10:00:00Z)"),
            )
        })
    };
    let today = now.to_zoned(tz.clone()).date();
    let to = match to {
        Some(v) => read("to", v, true)?,
        None => day_start("to", today.tomorrow().map_err(|_| Invalid::new("to", "outside the calendar"))?)?,
    };
    let from = match from {
        Some(v) => read("from", v, false)?,
        None => day_start(
            "from",
            to.to_zoned(tz.clone())
                .date()
                .checked_sub(jiff::Span::new().days(7))
                .map_err(|_| Invalid::new("from", "outside the calendar"))?,
        )?,
    };
    if from >= to {
        return Err(Invalid::new("from", "from must be before to"));
    }
    if to.as_second() - from.as_second() > MAX_DAYS * 86_400 + 3600 {
        return Err(Invalid::new("to", format!("a summary covers at most {MAX_DAYS} days")));
    }
    Ok((from, to))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub group_by: Group,
    pub rows: Vec<Row>,
    pub total: Row,
    /// SLA breaches in the period, newest first (at most 200).
    pub breaches: Vec<Breach>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Row {
    /// The group's value: an id, a day (`YYYY-MM-DD`), an hour (`00`–`23`), a weekday (`1` Monday … `7`); `all`
    /// for the total; absent for "none" (no agent, no queue, no tag).
    pub key: Option<String>,
    /// The group in words (a name, or the weekday in English).
    pub label: Option<String>,
    pub conversations: Conversations,
    /// Absent when grouped or filtered by tag (message counts are kept per number, queue and agent, not tag).
    pub messages: Option<Messages>,
    pub first_response: Durations,
    pub resolution: Durations,
    pub queue_wait: Durations,
    pub handle: Durations,
    pub ai: AiFigures,
    pub csat: Csat,
    pub sla: SlaFigures,
    /// Time online and away (grouped by agent only).
    pub presence: Option<PresenceTime>,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Conversations {
    pub new: i64,
    pub resolved: i64,
    pub reopened: i64,
    /// Resolved with a customer's message no person answered.
    pub unanswered: i64,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Messages {
    pub received: i64,
    pub sent_by_agents: i64,
    pub sent_by_ai: i64,
    pub sent_by_automations: i64,
    pub sent_as_notifications: i64,
    pub sent_by_api: i64,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Durations {
    pub count: i64,
    pub average_secs: Option<f64>,
    pub median_secs: Option<f64>,
    pub p90_secs: Option<f64>,
    /// The same, counting only the open hours of the queue's (else the number's) business hours.
    pub business: BusinessDurations,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct BusinessDurations {
    pub average_secs: Option<f64>,
    pub median_secs: Option<f64>,
    pub p90_secs: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct AiFigures {
    /// Resolved while with an AI agent, no person having written in that cycle.
    pub resolved_without_person: i64,
    pub handovers: i64,
    pub handovers_by_reason: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Csat {
    pub surveys_sent: i64,
    pub responses: i64,
    pub average: Option<f64>,
    /// Share of responses rating 4 or 5 (0–1).
    pub satisfied_share: Option<f64>,
    /// Responses per survey sent (0–1).
    pub response_rate: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct SlaFigures {
    /// First responses (and customers never answered) in queues with a first-response target.
    pub first_response_measured: i64,
    pub first_response_met: i64,
    pub first_response_met_share: Option<f64>,
    pub resolution_measured: i64,
    pub resolution_met: i64,
    pub resolution_met_share: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct PresenceTime {
    pub online_secs: f64,
    pub away_secs: f64,
}

/// Figures are rounded as they are read: durations to a tenth of a second, CSAT averages to two decimals,
/// shares to four (so that 0.9 × 4 rows is 2,040 s, not 2,040.0000000000002).
fn rounded(v: Option<f64>, decimals: i32) -> Option<f64> {
    let scale = 10f64.powi(decimals);
    v.map(|v| (v * scale).round() / scale)
}

fn share(part: i64, whole: i64) -> Option<f64> {
    rounded((whole > 0).then(|| part as f64 / whole as f64), 4)
}

fn row(key: Option<String>, f: &FactRow, m: Option<&MessageRow>, reasons: BTreeMap<String, i64>) -> Row {
    let secs = |v| rounded(v, 1);
    let durations = |(n, avg, p50, p90, b_avg, b_p50, b_p90): db::DurationFigures| Durations {
        count: n,
        average_secs: secs(avg),
        median_secs: secs(p50),
        p90_secs: secs(p90),
        business: BusinessDurations { average_secs: secs(b_avg), median_secs: secs(b_p50), p90_secs: secs(b_p90) },
    };
    Row {
        key,
        label: None,
        conversations: Conversations {
            new: f.created,
            resolved: f.resolved,
            reopened: f.reopened,
            unanswered: f.unanswered,
        },
        messages: m.map(|m| Messages {
            received: m.customer,
            sent_by_agents: m.agent,
            sent_by_ai: m.ai,
            sent_by_automations: m.automation,
            sent_as_notifications: m.notification,
            sent_by_api: m.api,
        }),
        first_response: durations(f.first_response),
        resolution: durations(f.resolution),
        queue_wait: durations(f.queue_wait),
        handle: durations(f.handle),
        ai: AiFigures { resolved_without_person: f.ai_resolved, handovers: f.handovers, handovers_by_reason: reasons },
        csat: Csat {
            surveys_sent: f.csat_sent,
            responses: f.csat_rated,
            average: rounded(f.csat_avg, 2),
            satisfied_share: share(f.csat_satisfied, f.csat_rated),
            response_rate: share(f.csat_rated, f.csat_sent),
        },
        sla: SlaFigures {
            first_response_measured: f.sla_frt_n,
            first_response_met: f.sla_frt_met,
            first_response_met_share: share(f.sla_frt_met, f.sla_frt_n),
            resolution_measured: f.sla_res_n,
            resolution_met: f.sla_res_met,
            resolution_met_share: share(f.sla_res_met, f.sla_res_n),
        },
        presence: None,
    }
}

/// Which figures a query computes: every one (a summary), or one column's (a series).
#[derive(Debug, Clone, Copy)]
pub(super) enum Figures {
    All,
    /// A column computed from these facts only.
    Facts(&'static [&'static str]),
    /// A column of the message counts.
    Messages,
}

/// The rows of one grouping (keys in order; a key present only in the message counts still gets a row) and, when
/// `with_total`, their total, computed in the same pass.
pub(super) async fn rows(
    pool: &PgPool,
    scope: &Scope,
    figures: Figures,
    with_total: bool,
) -> sqlx::Result<(Vec<Row>, Option<Row>)> {
    // Time buckets (a series, or days) by their starts in the time zone, computed here.
    let interval = scope.by_bucket();
    let buckets = match interval {
        Some(interval) => {
            let tz = TimeZone::get(&scope.tz).map_err(|e| sqlx::Error::Configuration(e.into()))?;
            super::series::buckets(super::instant(scope.from), super::instant(scope.to), &tz, interval)
        }
        None => Vec::new(),
    };
    let bounds: Vec<OffsetDateTime> = buckets.iter().map(|(at, _)| super::offset(*at)).collect();
    let all = Reads { metrics: None, bounds: &bounds, total: with_total };
    let (facts, messages, handovers) = match figures {
        Figures::All => (
            db::fact_rows(pool, scope, all).await?,
            db::message_rows(pool, scope, all).await?,
            db::handovers(pool, scope, all).await?,
        ),
        Figures::Facts(metrics) => {
            (db::fact_rows(pool, scope, Reads { metrics: Some(metrics), ..all }).await?, None, Vec::new())
        }
        Figures::Messages => (Vec::new(), db::message_rows(pool, scope, all).await?, Vec::new()),
    };
    // A bucket's number (1 for the first) becomes its key.
    let key_of = |key: Option<String>| match interval {
        Some(_) => key.map(|n| {
            n.parse::<usize>().ok().and_then(|n| buckets.get(n.checked_sub(1)?)).map_or(n, |(_, k)| k.clone())
        }),
        None => key,
    };
    let facts: Vec<FactRow> = facts.into_iter().map(|f| FactRow { key: key_of(f.key), ..f }).collect();
    let messages: Option<Vec<MessageRow>> =
        messages.map(|m| m.into_iter().map(|m| MessageRow { key: key_of(m.key), ..m }).collect());
    let handovers: Vec<_> = handovers.into_iter().map(|(k, t, r, n)| (key_of(k), t, r, n)).collect();
    let mut reasons: HashMap<(Option<String>, bool), BTreeMap<String, i64>> = HashMap::new();
    for (key, total, reason, n) in handovers {
        reasons.entry((key, total)).or_default().insert(reason.unwrap_or_else(|| "unknown".into()), n);
    }
    let mut keys: Vec<(bool, Option<String>)> = facts.iter().map(|f| (f.total, f.key.clone())).collect();
    if let Some(m) = &messages {
        keys.extend(m.iter().map(|m| (m.total, m.key.clone())));
    }
    if with_total {
        keys.push((true, None));
    }
    keys.sort();
    keys.dedup();
    let empty_facts = FactRow::default();
    let empty_messages = MessageRow::default();
    let facts: HashMap<(bool, &Option<String>), &FactRow> = facts.iter().map(|f| ((f.total, &f.key), f)).collect();
    let messages: Option<HashMap<(bool, &Option<String>), &MessageRow>> =
        messages.as_ref().map(|m| m.iter().map(|m| ((m.total, &m.key), m)).collect());
    let mut total = None;
    let mut grouped = Vec::new();
    for (is_total, key) in keys {
        let f = facts.get(&(is_total, &key)).copied().unwrap_or(&empty_facts);
        let m = messages.as_ref().map(|m| m.get(&(is_total, &key)).copied().unwrap_or(&empty_messages));
        let reasons = reasons.remove(&(key.clone(), is_total)).unwrap_or_default();
        if is_total {
            total = Some(row(Some("all".into()), f, m, reasons));
        } else {
            grouped.push(row(key, f, m, reasons));
        }
    }
    Ok((grouped, total))
}

/// The summary: grouped rows, the total, the breaches. `names` labels ids (agents, queues, numbers, channels,
/// tags).
pub async fn summary(pool: &PgPool, scope: &Scope, names: &HashMap<Uuid, String>) -> sqlx::Result<Summary> {
    // One pass gives the groups and their total, except by tag (a conversation in two tags counts once in the
    // total) and without groups (the one row is the total).
    let (mut grouped, total) = match scope.group {
        Group::None => {
            let (all, _) = rows(pool, scope, Figures::All, false).await?;
            let total = all.first().cloned();
            (all, total)
        }
        Group::Tag => {
            let (grouped, _) = rows(pool, scope, Figures::All, false).await?;
            let (mut all, _) = rows(pool, &Scope { group: Group::None, ..scope.clone() }, Figures::All, false).await?;
            (grouped, all.pop())
        }
        _ => rows(pool, scope, Figures::All, true).await?,
    };
    let total = total
        .unwrap_or_else(|| row(Some("all".into()), &FactRow::default(), Some(&MessageRow::default()), BTreeMap::new()));
    if scope.group == Group::Agent {
        let mut presence: HashMap<Uuid, PresenceTime> = HashMap::new();
        for (agent, state, secs) in db::presence(pool, scope).await? {
            let p = presence.entry(agent).or_default();
            match state.as_str() {
                "online" => p.online_secs += secs,
                _ => p.away_secs += secs,
            }
        }
        for r in &mut grouped {
            let id = r.key.as_deref().and_then(|k| k.parse::<Uuid>().ok());
            r.presence = Some(id.and_then(|id| presence.remove(&id)).unwrap_or_default());
        }
    }
    for r in &mut grouped {
        r.label = label(scope.group, r.key.as_deref(), names);
    }
    let breaches = db::breaches(pool, scope, BREACHES).await?;
    Ok(Summary { group_by: scope.group, rows: grouped, total, breaches })
}

fn label(group: Group, key: Option<&str>, names: &HashMap<Uuid, String>) -> Option<String> {
    let key = key?;
    match group {
        Group::Weekday => {
            let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
            key.parse::<usize>().ok().and_then(|d| days.get(d.checked_sub(1)?)).map(|d| (*d).to_owned())
        }
        Group::Day | Group::Hour | Group::None => Some(key.to_owned()),
        _ => key.parse::<Uuid>().ok().and_then(|id| names.get(&id).cloned()),
    }
}

/// The CSV's columns, in order; a row's cells are in the same order. Durations in seconds.
pub const CSV_COLUMNS: &[&str] = &[
    "group_by",
    "key",
    "label",
    "conversations_new",
    "conversations_resolved",
    "conversations_reopened",
    "conversations_unanswered",
    "messages_received",
    "messages_sent_by_agents",
    "messages_sent_by_ai",
    "messages_sent_by_automations",
    "messages_sent_as_notifications",
    "messages_sent_by_api",
    "first_response_count",
    "first_response_avg_secs",
    "first_response_median_secs",
    "first_response_p90_secs",
    "first_response_business_avg_secs",
    "first_response_business_median_secs",
    "first_response_business_p90_secs",
    "resolution_count",
    "resolution_avg_secs",
    "resolution_median_secs",
    "resolution_p90_secs",
    "resolution_business_avg_secs",
    "resolution_business_median_secs",
    "resolution_business_p90_secs",
    "queue_wait_count",
    "queue_wait_avg_secs",
    "queue_wait_median_secs",
    "queue_wait_p90_secs",
    "queue_wait_business_avg_secs",
    "queue_wait_business_median_secs",
    "queue_wait_business_p90_secs",
    "handle_count",
    "handle_avg_secs",
    "handle_median_secs",
    "handle_p90_secs",
    "handle_business_avg_secs",
    "handle_business_median_secs",
    "handle_business_p90_secs",
    "ai_resolved_without_person",
    "ai_handovers",
    "csat_surveys_sent",
    "csat_responses",
    "csat_average",
    "csat_satisfied_share",
    "csat_response_rate",
    "sla_first_response_measured",
    "sla_first_response_met",
    "sla_first_response_met_share",
    "sla_resolution_measured",
    "sla_resolution_met",
    "sla_resolution_met_share",
    "online_secs",
    "away_secs",
];

/// A row's cells, in the order of [`CSV_COLUMNS`].
pub(super) fn cells(group: &str, r: &Row) -> Vec<String> {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let count = |v: i64| v.to_string();
    let m = r.messages.as_ref();
    let mut cells = vec![
        group.to_owned(),
        r.key.clone().unwrap_or_default(),
        defused(r.label.as_deref().unwrap_or_default()),
        count(r.conversations.new),
        count(r.conversations.resolved),
        count(r.conversations.reopened),
        count(r.conversations.unanswered),
    ];
    let sent = [
        m.map(|m| m.received),
        m.map(|m| m.sent_by_agents),
        m.map(|m| m.sent_by_ai),
        m.map(|m| m.sent_by_automations),
        m.map(|m| m.sent_as_notifications),
        m.map(|m| m.sent_by_api),
    ];
    cells.extend(sent.map(|v| v.map(count).unwrap_or_default()));
    for d in [&r.first_response, &r.resolution, &r.queue_wait, &r.handle] {
        cells.extend([
            count(d.count),
            number(d.average_secs),
            number(d.median_secs),
            number(d.p90_secs),
            number(d.business.average_secs),
            number(d.business.median_secs),
            number(d.business.p90_secs),
        ]);
    }
    cells.extend([
        count(r.ai.resolved_without_person),
        count(r.ai.handovers),
        count(r.csat.surveys_sent),
        count(r.csat.responses),
        number(r.csat.average),
        number(r.csat.satisfied_share),
        number(r.csat.response_rate),
        count(r.sla.first_response_measured),
        count(r.sla.first_response_met),
        number(r.sla.first_response_met_share),
        count(r.sla.resolution_measured),
        count(r.sla.resolution_met),
        number(r.sla.resolution_met_share),
        number(r.presence.as_ref().map(|p| p.online_secs)),
        number(r.presence.as_ref().map(|p| p.away_secs)),
    ]);
    cells
}

/// The summary as CSV: a header line of [`CSV_COLUMNS`], one line per row, then the total (key `all`).
pub fn csv(s: &Summary) -> Result<Vec<u8>, csv::Error> {
    let group = serde_json::to_value(s.group_by).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    for r in s.rows.iter().chain(std::iter::once(&s.total)) {
        out.write_record(cells(&group, r))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// A name as a CSV cell: one a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a `'` before it.
fn defused(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_csv_line_has_a_cell_for_every_column() {
        let total = row(Some("all".into()), &FactRow::default(), None, BTreeMap::new());
        let s = Summary { group_by: Group::None, rows: vec![], total, breaches: vec![] };
        let text = String::from_utf8(csv(&s).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].split(',').count(), CSV_COLUMNS.len());
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_of_days_runs_from_the_first_midnight_to_the_one_after_the_last_day_in_the_time_zone() {
        let ams = TimeZone::get("Europe/Amsterdam").unwrap();
        let now = at("2026-12-03T12:00:00Z");
        assert_eq!(
            period(Some("2026-12-01"), Some("2026-12-01"), &ams, now),
            Ok((at("2026-11-30T23:00:00Z"), at("2026-12-01T23:00:00Z")))
        );
        // The day summer time starts has 23 hours.
        let (from, to) = period(Some("2027-03-28"), Some("2027-03-28"), &ams, now).unwrap();
        assert_eq!(to.as_second() - from.as_second(), 23 * 3600);
        // Instants are taken as they are; `to` is excluded.
        assert_eq!(
            period(Some("2026-12-01T10:00:00Z"), Some("2026-12-01T11:00:00Z"), &ams, now),
            Ok((at("2026-12-01T10:00:00Z"), at("2026-12-01T11:00:00Z")))
        );
        // Without them: the last 7 days, today included.
        assert_eq!(period(None, None, &ams, now), Ok((at("2026-11-26T23:00:00Z"), at("2026-12-03T23:00:00Z"))));
    }

    #[test]
    fn a_period_must_run_forwards_and_stay_within_its_limit() {
        let utc = TimeZone::UTC;
        let now = at("2026-12-03T12:00:00Z");
        assert_eq!(period(Some("2026-12-02"), Some("2026-12-01"), &utc, now).unwrap_err().field, "from");
        assert_eq!(period(Some("2025-01-01"), Some("2026-12-01"), &utc, now).unwrap_err().field, "to");
        assert_eq!(period(Some("yesterday"), None, &utc, now).unwrap_err().field, "from");
    }

    #[test]
    fn a_name_a_spreadsheet_would_run_is_defused() {
        assert_eq!(defused("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(defused("Ana"), "Ana");
    }
}
