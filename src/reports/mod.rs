//! Reports: response and resolution times, volumes, CSAT, SLAs and agent activity.
//!
//! Nothing here reads the message table for a report. What reports count is kept as it happens
//! (migrations/20261203000021_reports.sql): triggers list the conversations whose timeline changed and append
//! message counts; the reports job ([`job::Reporter`], in every process) rebuilds those conversations' facts from
//! their timelines ([`facts::derive`]) and folds the counts into 15-minute totals. The summary
//! ([`summary`]) aggregates facts and totals for a period in a time zone; [`series`] gives one figure over time.

pub mod facts;
pub mod job;
pub mod series;
pub mod summary;

use jiff::Timestamp;
use time::OffsetDateTime;

/// The rules speak jiff, the database columns `time`: the same instant either way.
pub(crate) fn instant(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_nanosecond(t.unix_timestamp_nanos()).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) fn offset(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
