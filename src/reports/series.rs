//! A figure over time: the timeseries report. One point per hour, day or week of the period, in its time zone
//! (empty buckets included), for any column of the summary's CSV; the rows come from the summary's own query,
//! grouped by time bucket instead of by a dimension.

use super::summary::{cells, rows, CSV_COLUMNS};
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

/// The series of `metric` (checked with [`is_metric`]) over the scope's period, per `interval`.
pub async fn series(
    pool: &PgPool,
    scope: &Scope,
    tz: &TimeZone,
    metric: &str,
    interval: Interval,
) -> sqlx::Result<Series> {
    let scope = Scope { group: Group::None, bucket: Some(interval), ..scope.clone() };
    let rows = rows(pool, &scope).await?;
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
    let mut keys: Vec<String> = Vec::new();
    let mut push = |k: String| {
        if keys.last() != Some(&k) {
            keys.push(k);
        }
    };
    match interval {
        Interval::Hour => {
            let mut at = from;
            while at < to {
                push(at.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:00").to_string());
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
                push(date.to_string());
                let Ok(next) = date.checked_add(step) else { break };
                date = next;
            }
        }
    }
    keys
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
    fn a_series_shows_any_summary_column_and_counts_are_zero_where_nothing_happened() {
        assert!(is_metric("first_response_median_secs") && is_metric("conversations_new"));
        assert!(!is_metric("label") && !is_metric("planets"));
        assert!(is_count("conversations_new") && !is_count("csat_average") && !is_count("sla_resolution_met_share"));
    }
}
