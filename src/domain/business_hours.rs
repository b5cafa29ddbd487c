//! Business hours: per weekday local time ranges in a time zone, with holidays.
//!
//! A range belongs to the day it opens. `close` after `open` closes the same day; `close` at or before `open`
//! runs past midnight into the next day (`22:00`–`06:00`), and `00:00`–`24:00` is the whole day. A holiday
//! closes the ranges that open on that date; a range that opened the evening before still runs to its close.
//! Times are local wall-clock times in the schedule's time zone, so daylight-saving changes move nothing: a
//! 09:00 opening is 09:00 local on both sides of the change (on the night of the change an overnight range is
//! an hour shorter or longer, as it is on the wall).

use super::Invalid;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A schedule as the API and the database hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// An IANA time zone name, e.g. `Europe/Amsterdam`.
    pub time_zone: String,
    /// `monday` … `sunday` to that day's ranges; a day not listed is closed.
    pub weekly: BTreeMap<Day, Vec<Range>>,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    fn of(weekday: Weekday) -> Self {
        match weekday {
            Weekday::Monday => Self::Monday,
            Weekday::Tuesday => Self::Tuesday,
            Weekday::Wednesday => Self::Wednesday,
            Weekday::Thursday => Self::Thursday,
            Weekday::Friday => Self::Friday,
            Weekday::Saturday => Self::Saturday,
            Weekday::Sunday => Self::Sunday,
        }
    }
}

/// Local `HH:MM` times; `close` may be `24:00`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[schema(example = "09:00")]
    pub open: String,
    #[schema(example = "17:30")]
    pub close: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    /// `YYYY-MM-DD`, local to the schedule's time zone.
    #[schema(example = "2026-12-25")]
    pub date: String,
    #[serde(default)]
    pub name: String,
}

/// Minutes since local midnight, 0..=1440.
fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// A schedule ready to answer "open at this instant?".
#[derive(Debug, Clone)]
pub struct Hours {
    tz: TimeZone,
    /// Per day (Monday first): (open, close) in minutes; close ≤ open runs into the next day.
    days: [Vec<(u32, u32)>; 7],
    holidays: Vec<Date>,
}

impl Schedule {
    /// Checks every field and prepares the schedule for use.
    pub fn check(&self) -> Result<Hours, Invalid> {
        let tz = TimeZone::get(&self.time_zone).map_err(|_| {
            Invalid::new(
                "time_zone",
                format!("{:?} is not a known IANA time zone such as Europe/Amsterdam", self.time_zone),
            )
        })?;
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, ranges) in &self.weekly {
            let field = format!("weekly.{}", serde_json::to_value(day).expect("day").as_str().unwrap_or_default());
            if ranges.len() > 10 {
                return Err(Invalid::new(field, "at most 10 ranges a day"));
            }
            let mut parsed = Vec::new();
            for (i, r) in ranges.iter().enumerate() {
                let at = |part: &str| format!("{field}[{i}].{part}");
                let open = minutes(&r.open).filter(|m| *m < 1440).ok_or_else(|| {
                    Invalid::new(at("open"), format!("{:?} is not a time from 00:00 to 23:59", r.open))
                })?;
                let close = minutes(&r.close).ok_or_else(|| {
                    Invalid::new(at("close"), format!("{:?} is not a time from 00:00 to 24:00", r.close))
                })?;
                if open == close {
                    return Err(Invalid::new(
                        at("close"),
                        "open and close are the same time; use 00:00 to 24:00 for a whole day",
                    ));
                }
                parsed.push((open, close));
            }
            // Ranges of one day must not overlap (an overnight range counts up to midnight here).
            let mut spans: Vec<(u32, u32)> =
                parsed.iter().map(|&(o, c)| if c > o { (o, c) } else { (o, 1440) }).collect();
            spans.sort();
            if spans.windows(2).any(|w| w[1].0 < w[0].1) {
                return Err(Invalid::new(field, "ranges of one day overlap"));
            }
            days[*day as usize] = parsed;
        }
        if self.holidays.len() > 366 {
            return Err(Invalid::new("holidays", "at most 366 holidays"));
        }
        let mut holidays = Vec::new();
        for (i, h) in self.holidays.iter().enumerate() {
            let date: Date = h.date.parse().map_err(|_| {
                Invalid::new(format!("holidays[{i}].date"), format!("{:?} is not a date as YYYY-MM-DD", h.date))
            })?;
            if h.name.chars().count() > 200 {
                return Err(Invalid::new(format!("holidays[{i}].name"), "name is at most 200 characters"));
            }
            holidays.push(date);
        }
        Ok(Hours { tz, days, holidays })
    }
}

impl Hours {
    /// Whether the schedule is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.tz.clone()).datetime();
        let (date, time) = (local.date(), local.time());
        let now = u32::from(time.hour() as u8) * 60 + u32::from(time.minute() as u8);
        let today = Day::of(date.weekday()) as usize;
        if !self.holidays.contains(&date) {
            for &(open, close) in &self.days[today] {
                let open_now = if close > open { open <= now && now < close } else { now >= open };
                if open_now {
                    return true;
                }
            }
        }
        // Overnight ranges that opened yesterday (unless yesterday was a holiday).
        let Ok(yesterday) = date.yesterday() else { return false };
        if self.holidays.contains(&yesterday) {
            return false;
        }
        let prev = Day::of(yesterday.weekday()) as usize;
        self.days[prev].iter().any(|&(open, close)| close <= open && now < close)
    }

    /// When the schedule next opens after `at` (which should be a closed moment): the identity of a closed
    /// period, so that something said once per closed period is keyed by it. Holidays are skipped; a local
    /// opening time that a DST change skips opens at the first instant after the gap. `None` when it never
    /// opens (no ranges at all within a year).
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        let start = at.to_zoned(self.tz.clone()).date();
        let mut date = start;
        for _ in 0..=400 {
            if !self.holidays.contains(&date) {
                let mut opens: Vec<u32> = self.days[Day::of(date.weekday()) as usize].iter().map(|r| r.0).collect();
                opens.sort_unstable();
                for open in opens {
                    let time = Time::new((open / 60) as i8, (open % 60) as i8, 0, 0).ok()?;
                    let instant = date.to_datetime(time).to_zoned(self.tz.clone()).ok()?.timestamp();
                    if instant > at {
                        return Some(instant);
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// How many seconds of `[from, to)` the schedule is open: what a report's business-hours variant of a
    /// duration counts. Each range is placed on its local date (overnight ranges run into the next day, `24:00`
    /// is the next midnight), so an hour that a daylight-saving change removes is not counted and one it adds is
    /// counted twice, as on the wall. 0 when `to` is not after `from`.
    pub fn open_seconds(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        let instant = |date: Date, minutes: u32| -> Option<Timestamp> {
            let (date, minutes) =
                if minutes >= 1440 { (date.tomorrow().ok()?, minutes - 1440) } else { (date, minutes) };
            let time = Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()?;
            Some(date.to_datetime(time).to_zoned(self.tz.clone()).ok()?.timestamp())
        };
        let last = to.to_zoned(self.tz.clone()).date();
        // From the day before: an overnight range that opened then may still run.
        let Ok(mut date) = from.to_zoned(self.tz.clone()).date().yesterday() else { return 0 };
        let mut total = 0;
        while date <= last {
            if !self.holidays.contains(&date) {
                for &(open, close) in &self.days[Day::of(date.weekday()) as usize] {
                    let close = if close > open { close } else { close + 1440 };
                    let (Some(a), Some(b)) = (instant(date, open), instant(date, close)) else { continue };
                    let (a, b) = (a.max(from), b.min(to));
                    if b > a {
                        total += b.as_second() - a.as_second();
                    }
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        total
    }

    /// For tests and callers that hold a wall-clock time: open at this local date and time?
    pub fn is_open_local(&self, date: Date, time: Time) -> Option<bool> {
        let zoned = date.to_datetime(time).to_zoned(self.tz.clone()).ok()?;
        Some(self.is_open(zoned.timestamp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn schedule(tz: &str, weekly: &[(Day, &str, &str)], holidays: &[&str]) -> Schedule {
        let mut map: BTreeMap<Day, Vec<Range>> = BTreeMap::new();
        for (d, o, c) in weekly {
            map.entry(*d).or_default().push(Range { open: (*o).into(), close: (*c).into() });
        }
        Schedule {
            time_zone: tz.into(),
            weekly: map,
            holidays: holidays.iter().map(|d| Holiday { date: (*d).into(), name: String::new() }).collect(),
        }
    }

    fn instant(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn open_seconds_count_only_the_open_hours_between_two_instants() {
        let weekdays = [(Day::Monday, "09:00", "17:00"), (Day::Tuesday, "09:00", "17:00")];
        let h = schedule("Europe/Amsterdam", &weekdays, &[]).check().unwrap();
        // Monday 2026-11-23, 16:00 to Tuesday 10:00 local (UTC+1): one hour on Monday, one on Tuesday.
        assert_eq!(h.open_seconds(instant("2026-11-23T15:00:00Z"), instant("2026-11-24T09:00:00Z")), 7200);
        // Wholly inside, wholly outside, and backwards.
        assert_eq!(h.open_seconds(instant("2026-11-23T09:00:00Z"), instant("2026-11-23T09:30:00Z")), 1800);
        assert_eq!(h.open_seconds(instant("2026-11-23T17:00:00Z"), instant("2026-11-24T07:00:00Z")), 0);
        assert_eq!(h.open_seconds(instant("2026-11-24T09:00:00Z"), instant("2026-11-23T09:00:00Z")), 0);
        // A whole week: two days of eight hours.
        assert_eq!(h.open_seconds(instant("2026-11-22T00:00:00Z"), instant("2026-11-29T00:00:00Z")), 16 * 3600);
    }

    #[test]
    fn open_seconds_follow_overnight_ranges_holidays_and_the_clock_change() {
        let nights = [(Day::Saturday, "22:00", "06:00")];
        let h = schedule("Europe/Amsterdam", &nights, &[]).check().unwrap();
        // The night of Saturday 2027-03-27 loses an hour to summer time: 22:00–06:00 is seven hours long.
        assert_eq!(h.open_seconds(instant("2027-03-27T00:00:00Z"), instant("2027-03-29T00:00:00Z")), 7 * 3600);
        // An ordinary Saturday night is eight, counted from the Sunday morning it runs into too.
        assert_eq!(h.open_seconds(instant("2026-11-29T00:00:00Z"), instant("2026-11-29T12:00:00Z")), 5 * 3600);
        let holiday =
            schedule("Europe/Amsterdam", &[(Day::Friday, "00:00", "24:00")], &["2026-12-25"]).check().unwrap();
        assert_eq!(holiday.open_seconds(instant("2026-12-20T00:00:00Z"), instant("2027-01-02T00:00:00Z")), 86400);
    }

    #[test]
    fn a_closed_period_is_named_by_the_next_opening_skipping_holidays() {
        let weekdays = [(Day::Monday, "09:00", "17:00"), (Day::Tuesday, "09:00", "17:00")];
        let h = schedule("Europe/Amsterdam", &weekdays, &["2026-11-24"]).check().unwrap();
        // Monday evening: the next opening is Wednesday? No: Tuesday is a holiday, Wednesday is not listed, so
        // the following Monday.
        assert_eq!(h.next_open(instant("2026-11-23T18:00:00Z")), Some(instant("2026-11-30T08:00:00Z")));
        // Two moments of one closed period have the same name; the next period another.
        assert_eq!(h.next_open(instant("2026-11-23T06:00:00Z")), Some(instant("2026-11-23T08:00:00Z")));
        assert_eq!(h.next_open(instant("2026-11-23T07:59:00Z")), Some(instant("2026-11-23T08:00:00Z")));
    }

    #[test]
    fn the_next_opening_follows_the_clock_change() {
        // Amsterdam moves to summer time on 2027-03-28: 09:00 local is 08:00 UTC before and 07:00 UTC after.
        let h = schedule("Europe/Amsterdam", &[(Day::Monday, "09:00", "17:00")], &[]).check().unwrap();
        assert_eq!(h.next_open(instant("2027-03-23T18:00:00Z")), Some(instant("2027-03-29T07:00:00Z")));
    }

    #[test]
    fn a_schedule_without_ranges_never_opens() {
        let h = schedule("UTC", &[], &[]).check().unwrap();
        assert_eq!(h.next_open(instant("2026-11-23T18:00:00Z")), None);
    }

    #[test]
    fn a_plain_day_opens_at_open_and_closes_at_close() {
        let h = schedule("Europe/Amsterdam", &[(Day::Monday, "09:00", "17:00")], &[]).check().unwrap();
        // 2026-11-23 is a Monday; Amsterdam is UTC+1 in November.
        assert!(!h.is_open(instant("2026-11-23T07:59:59Z")));
        assert!(h.is_open(instant("2026-11-23T08:00:00Z")));
        assert!(h.is_open(instant("2026-11-23T15:59:59Z")));
        assert!(!h.is_open(instant("2026-11-23T16:00:00Z")));
        assert!(!h.is_open(instant("2026-11-24T10:00:00Z")), "Tuesday is not listed, so closed");
    }

    #[test]
    fn an_overnight_range_runs_into_the_next_day() {
        let h = schedule("UTC", &[(Day::Friday, "22:00", "06:00")], &[]).check().unwrap();
        // 2026-11-27 is a Friday.
        assert!(!h.is_open(instant("2026-11-27T21:59:00Z")));
        assert!(h.is_open(instant("2026-11-27T22:00:00Z")));
        assert!(h.is_open(instant("2026-11-28T05:59:00Z")), "Saturday morning belongs to Friday's range");
        assert!(!h.is_open(instant("2026-11-28T06:00:00Z")));
        assert!(!h.is_open(instant("2026-11-28T23:00:00Z")), "Saturday has no range of its own");
    }

    #[test]
    fn a_whole_day_is_midnight_to_midnight() {
        let h = schedule("UTC", &[(Day::Sunday, "00:00", "24:00")], &[]).check().unwrap();
        assert!(h.is_open(instant("2026-11-29T00:00:00Z")));
        assert!(h.is_open(instant("2026-11-29T23:59:59Z")));
        assert!(!h.is_open(instant("2026-11-30T00:00:00Z")));
    }

    #[test]
    fn opening_hours_follow_the_wall_clock_across_daylight_saving_changes() {
        // Europe/Amsterdam leaves summer time on Sunday 2026-10-25 (03:00 CEST → 02:00 CET).
        let weekdays = [Day::Friday, Day::Monday].map(|d| (d, "09:00", "17:00"));
        let h = schedule("Europe/Amsterdam", &weekdays, &[]).check().unwrap();
        // Friday 23 October, summer time (UTC+2): 09:00 local is 07:00 UTC.
        assert!(h.is_open(instant("2026-10-23T07:00:00Z")));
        assert!(!h.is_open(instant("2026-10-23T06:59:00Z")));
        // Monday 26 October, winter time (UTC+1): 09:00 local is 08:00 UTC; 07:30 UTC is 08:30 local.
        assert!(!h.is_open(instant("2026-10-26T07:30:00Z")));
        assert!(h.is_open(instant("2026-10-26T08:00:00Z")));
        assert!(!h.is_open(instant("2026-10-26T16:00:00Z")));
        // Spring forward: Sunday 2026-03-29, 02:00 CET → 03:00 CEST.
        let night = schedule("Europe/Amsterdam", &[(Day::Saturday, "22:00", "04:00")], &[]).check().unwrap();
        assert!(night.is_open(instant("2026-03-29T00:30:00Z")), "01:30 CET, inside the range");
        assert!(night.is_open(instant("2026-03-29T01:30:00Z")), "03:30 CEST, still before 04:00 local");
        assert!(!night.is_open(instant("2026-03-29T02:00:00Z")), "04:00 CEST: closed");
        assert_eq!(night.is_open_local(date(2026, 3, 29), time(3, 59, 0, 0)), Some(true));
    }

    #[test]
    fn a_holiday_closes_the_ranges_that_open_on_it() {
        let h = schedule(
            "UTC",
            &[(Day::Thursday, "09:00", "17:00"), (Day::Wednesday, "20:00", "02:00"), (Day::Friday, "09:00", "17:00")],
            &["2026-12-24", "2026-12-25"],
        )
        .check()
        .unwrap();
        // 2026-12-24 is a Thursday, 2026-12-25 a Friday.
        assert!(!h.is_open(instant("2026-12-24T10:00:00Z")));
        assert!(h.is_open(instant("2026-12-24T01:00:00Z")), "Wednesday night's range runs into the holiday");
        assert!(!h.is_open(instant("2026-12-25T10:00:00Z")));
        assert!(h.is_open(instant("2026-12-31T10:00:00Z")), "the next Thursday is open");
    }

    #[test]
    fn bad_schedules_name_the_field_at_fault() {
        let field = |s: Schedule| s.check().unwrap_err().field;
        assert_eq!(field(schedule("Mars/Olympus", &[], &[])), "time_zone");
        assert_eq!(field(schedule("UTC", &[(Day::Monday, "9:00", "17:00")], &[])), "weekly.monday[0].open");
        assert_eq!(field(schedule("UTC", &[(Day::Monday, "09:00", "24:01")], &[])), "weekly.monday[0].close");
        assert_eq!(field(schedule("UTC", &[(Day::Monday, "24:00", "10:00")], &[])), "weekly.monday[0].open");
        assert_eq!(field(schedule("UTC", &[(Day::Monday, "10:00", "10:00")], &[])), "weekly.monday[0].close");
        assert_eq!(
            field(schedule("UTC", &[(Day::Monday, "09:00", "12:00"), (Day::Monday, "11:00", "13:00")], &[])),
            "weekly.monday"
        );
        assert_eq!(field(schedule("UTC", &[], &["2026-02-30"])), "holidays[0].date");
    }
}
