//! A figure over time: the timeseries report. One point per hour, day or week of the period, in its time zone
//! (empty buckets included), for any column of the summary's CSV; the rows come from the summary's own query,
//! grouped by time bucket instead of by a dimension.

use super::summary::{cells, rows, Figures, CSV_COLUMNS};
use crate::store::reports::{Group, Interval, Scope};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashMap;
use utoipa::ToSchema;

/// A figure over time: one point per bucket of the period (empty buckets included: a count is 0 there, any other
/// figure absent).
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    /// A column of the summary's CSV, such as `conversations_new` or `first_response_median_secs`.
    pub metric: String,
    pub interval: Interval,
    pub points: Vec<Point>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    /// The bucket's start in the time zone: `YYYY-MM-DD` (day, and the Monday of a week) or `YYYY-MM-DDTHH:00`.
    pub key: String,
    pub value: Option<f64>,
}

/// Whether `metric` names a figure a series can show (a summary column other than the group, key and label).
pub fn is_metric(metric: &str) -> bool {
    CSV_COLUMNS[3..].contains(&metric)
}

/// A count (0 where nothing happened) rather than a time, average or share (absent where nothing happened).
fn is_count(metric: &str) -> bool {
    !["_secs", "_average", "_share", "_rate"].iter().any(|end| metric.ends_with(end))
}

/// What a column is computed from: the message counts, or the facts of some metrics (see the README's
/// definitions). Reading only those keeps a year's series to the facts it shows.
fn figures(column: &str) -> Figures {
    const SLA_FIRST: &[&str] = &["first_response", "unanswered"];
    let facts: &'static [&'static str] = match column {
        c if c.starts_with("messages_") => return Figures::Messages,
        "conversations_new" => &["created"],
        "conversations_resolved" => &["resolved"],
        "conversations_reopened" => &["reopened"],
        "conversations_unanswered" => &["unanswered"],
        c if c.starts_with("first_response_") => &["first_response"],
        c if c.starts_with("resolution_") || c.starts_with("sla_resolution_") => &["resolution"],
        c if c.starts_with("queue_wait_") => &["queue_wait"],
        c if c.starts_with("handle_") => &["handle"],
        "ai_resolved_without_person" => &["ai_resolved"],
        "ai_handovers" => &["handover"],
        "csat_surveys_sent" => &["csat_sent"],
        "csat_response_rate" => &["csat_sent", "csat_rated"],
        c if c.starts_with("csat_") => &["csat_rated"],
        c if c.starts_with("sla_first_response_") => SLA_FIRST,
        _ => return Figures::All,
    };
    Figures::Facts(facts)
}

/// The series of `metric` (checked with [`is_metric`]) over the scope's period, per `interval`.
pub async fn series(
    pool: &PgPool,
    scope: &Scope,
    tz: &TimeZone,
    metric: &str,
    interval: Interval,
) -> sqlx::Result<Series> {
    let scope = Scope { group: Group::None, bucket: Some(interval), ..scope.clone() };
    let (rows, _) = rows(pool, &scope, figures(metric), false).await?;
    let column = CSV_COLUMNS.iter().position(|c| *c == metric).unwrap_or(3);
    let values: HashMap<String, Option<f64>> =
        rows.iter().filter_map(|r| Some((r.key.clone()?, cells("", r)[column].parse::<f64>().ok()))).collect();
    let empty = if is_count(metric) { Some(0.0) } else { None };
    let points = bucket_keys(super::instant(scope.from), super::instant(scope.to), tz, interval)
        .into_iter()
        .map(|key| Point { value: values.get(&key).copied().flatten().or(empty), key })
        .collect();
    Ok(Series { metric: metric.to_owned(), interval, points })
}

/// Every bucket's key from `from` to `to` in `tz`, in order, as the database writes them (an hour a clock change
/// repeats is one bucket; one it skips is none).
pub fn bucket_keys(from: Timestamp, to: Timestamp, tz: &TimeZone, interval: Interval) -> Vec<String> {
    buckets(from, to, tz, interval).into_iter().map(|(_, key)| key).collect()
}

/// Every bucket from `from` to `to` in `tz`, in order: the instant it starts (the first bucket's is at or before
/// `from`) and its key. A bucket lasts until the next one starts: an hour a clock change repeats is one bucket of
/// two hours, and a day is 23, 24 or 25 hours long.
pub fn buckets(from: Timestamp, to: Timestamp, tz: &TimeZone, interval: Interval) -> Vec<(Timestamp, String)> {
    let mut out: Vec<(Timestamp, String)> = Vec::new();
    let mut push = |at: Timestamp, key: String| {
        if out.last().is_none_or(|(_, last)| *last != key) {
            out.push((at, key));
        }
    };
    match interval {
        Interval::Hour => {
            let start = from.to_zoned(tz.clone());
            let mut at = start
                .with()
                .minute(0)
                .second(0)
                .subsec_nanosecond(0)
                .build()
                .map(|z| z.timestamp())
                .unwrap_or(from)
                .min(from);
            while at < to {
                push(at, at.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:00").to_string());
                at = at.checked_add(jiff::Span::new().hours(1)).unwrap_or(to);
            }
        }
        Interval::Day | Interval::Week => {
            let last = to.checked_sub(jiff::Span::new().nanoseconds(1)).unwrap_or(to).to_zoned(tz.clone()).date();
            let mut date = from.to_zoned(tz.clone()).date();
            if interval == Interval::Week {
                date = date
                    .checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
                    .unwrap_or(date);
            }
            let step = jiff::Span::new().days(if interval == Interval::Week { 7 } else { 1 });
            while date <= last {
                let Ok(start) = date.to_zoned(tz.clone()) else { break };
                push(start.timestamp(), date.to_string());
                let Ok(next) = date.checked_add(step) else { break };
                date = next;
            }
        }
    }
    out
}

/// The series as CSV: `key,value`.
pub fn series_csv(s: &Series) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["key", s.metric.as_str()])?;
    for p in &s.points {
        out.write_record([p.key.clone(), p.value.map(|v| v.to_string()).unwrap_or_default()])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::summary::period;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_series_has_a_bucket_for_every_day_hour_or_week_of_the_period_in_the_time_zone() {
        let ams = TimeZone::get("Europe/Amsterdam").unwrap();
        let (from, to) = period(Some("2027-03-27"), Some("2027-03-29"), &ams, at("2027-04-01T00:00:00Z")).unwrap();
        assert_eq!(bucket_keys(from, to, &ams, Interval::Day), ["2027-03-27", "2027-03-28", "2027-03-29"]);
        // The night summer time starts has no 02:00.
        let hours = bucket_keys(from, to, &ams, Interval::Hour);
        assert_eq!(hours.len(), 71);
        assert!(hours.contains(&"2027-03-28T01:00".to_owned()) && !hours.contains(&"2027-03-28T02:00".to_owned()));
        assert_eq!(bucket_keys(from, to, &ams, Interval::Week), ["2027-03-22", "2027-03-29"]);
    }

    #[test]
    fn a_bucket_starts_at_its_local_midnight_or_hour_and_lasts_until_the_next_one() {
        let ams = TimeZone::get("Europe/Amsterdam").unwrap();
        let (from, to) = period(Some("2027-10-30"), Some("2027-10-31"), &ams, at("2027-11-01T00:00:00Z")).unwrap();
        let days = buckets(from, to, &ams, Interval::Day);
        assert_eq!(
            days,
            [(at("2027-10-29T22:00:00Z"), "2027-10-30".into()), (at("2027-10-30T22:00:00Z"), "2027-10-31".into())]
        );
        // The night winter time starts, 02:00 comes twice: one bucket of two hours.
        let hours = buckets(from, to, &ams, Interval::Hour);
        let two = hours.iter().position(|(_, k)| k == "2027-10-31T02:00").unwrap();
        assert_eq!(hours[two].0, at("2027-10-31T00:00:00Z"));
        assert_eq!(hours[two + 1], (at("2027-10-31T02:00:00Z"), "2027-10-31T03:00".into()));
        assert_eq!(hours.len(), 48);
        // A period that starts within an hour: its bucket starts at the hour.
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        let hours = buckets(at("2027-01-01T10:40:00Z"), at("2027-01-01T12:00:00Z"), &kolkata, Interval::Hour);
        assert_eq!(hours[0], (at("2027-01-01T10:30:00Z"), "2027-01-01T16:00".into()));
        assert_eq!(hours.len(), 2);
    }

    #[test]
    fn a_series_reads_only_the_facts_its_column_is_computed_from() {
        let facts = |c| match figures(c) {
            Figures::Facts(f) => f.to_vec(),
            _ => vec![],
        };
        assert_eq!(facts("conversations_new"), ["created"]);
        assert_eq!(facts("first_response_business_p90_secs"), ["first_response"]);
        assert_eq!(facts("sla_first_response_met_share"), ["first_response", "unanswered"]);
        assert_eq!(facts("sla_resolution_met"), ["resolution"]);
        assert_eq!(facts("csat_response_rate"), ["csat_sent", "csat_rated"]);
        assert_eq!(facts("csat_satisfied_share"), ["csat_rated"]);
        assert!(matches!(figures("messages_sent_by_ai"), Figures::Messages));
        // Every column but presence (an agent's, not a bucket's) is computed from something.
        for column in &CSV_COLUMNS[3..] {
            let presence = ["online_secs", "away_secs"].contains(column);
            assert_eq!(matches!(figures(column), Figures::All), presence, "{column}");
        }
    }

    #[test]
    fn a_series_shows_any_summary_column_and_counts_are_zero_where_nothing_happened() {
        assert!(is_metric("first_response_median_secs") && is_metric("conversations_new"));
        assert!(!is_metric("label") && !is_metric("planets"));
        assert!(is_count("conversations_new") && !is_count("csat_average") && !is_count("sla_resolution_met_share"));
    }
}
