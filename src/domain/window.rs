//! WhatsApp's 24-hour customer service window.
//!
//! A customer's message opens a window of 24 hours, counted from the customer's *last* inbound message; inside
//! it the business may send anything, outside it only approved templates. The window is open while
//! `now < last_inbound + 24 h`: at exactly 24 hours it is closed. `now` is one clock for every server process
//! (the database's), so two processes never disagree; a last inbound time ahead of that clock (a skewed clock
//! wrote it) keeps the window open until 24 hours after it, never longer.

use time::{Duration, OffsetDateTime};

pub const LENGTH: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub open: bool,
    /// When it closes (or closed); `None` when the customer never wrote.
    pub expires_at: Option<OffsetDateTime>,
}

pub fn at(last_inbound_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Window {
    match last_inbound_at {
        None => Window { open: false, expires_at: None },
        Some(last) => {
            let expires_at = last + LENGTH;
            Window { open: now < expires_at, expires_at: Some(expires_at) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const LAST: OffsetDateTime = datetime!(2026-11-20 09:30:00 UTC);

    #[test]
    fn open_until_one_second_before_24_hours() {
        let w = at(Some(LAST), LAST + Duration::hours(23) + Duration::minutes(59) + Duration::seconds(59));
        assert!(w.open);
        assert_eq!(w.expires_at, Some(datetime!(2026-11-21 09:30:00 UTC)));
        assert!(at(Some(LAST), LAST + LENGTH - Duration::milliseconds(1)).open);
    }

    #[test]
    fn closed_at_exactly_24_hours_and_after() {
        assert!(!at(Some(LAST), LAST + LENGTH).open);
        assert!(!at(Some(LAST), LAST + Duration::days(3)).open);
    }

    #[test]
    fn a_new_inbound_message_reopens_it() {
        let now = LAST + Duration::hours(30);
        assert!(!at(Some(LAST), now).open);
        let again = at(Some(now - Duration::minutes(1)), now);
        assert!(again.open);
        assert_eq!(again.expires_at, Some(now - Duration::minutes(1) + LENGTH));
    }

    #[test]
    fn never_written_means_closed() {
        assert_eq!(at(None, LAST), Window { open: false, expires_at: None });
    }

    #[test]
    fn a_last_inbound_time_ahead_of_the_clock_keeps_24_hours_from_it_not_more() {
        // Another machine's clock ran 90 s fast when it stored the message.
        let skewed = LAST + Duration::seconds(90);
        let w = at(Some(skewed), LAST);
        assert!(w.open);
        assert_eq!(w.expires_at, Some(skewed + LENGTH));
        assert!(!at(Some(skewed), skewed + LENGTH).open);
    }
}
