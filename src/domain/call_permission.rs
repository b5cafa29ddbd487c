//! WhatsApp's business-initiated calling permission: when a business may ask a customer for permission to call,
//! and when it may call (seed 001, "許可リクエスト", and Meta's rules it restates).
//!
//! Everything is decided from the customer's history with the number, oldest first ([`Happening`]), and the time:
//!
//! - **Requests.** At most one per 24 hours and two per 7 days. Both limits count only the requests since the
//!   last connected call: any connected call (the business's or the customer's) resets them. After a "no" to the
//!   only request, another may follow 24 hours after it; after two, the 7 days from the first must pass.
//! - **Permission.** A "yes" lets the business call for 7 days from the answer; then a new request is needed. The
//!   customer may change the answer at any time: their latest answer counts. Unanswered calls revoke it: after 2
//!   in a row the customer is asked to confirm ([`Standing::confirm`]); after 4 in a row it is revoked. A
//!   connected call ends a run of unanswered ones.
//! - **Calls.** While permitted, at most `calls_per_day` connected calls (the seed's 5; a setting, since Meta has
//!   changed it) in any 24 hours.
//!
//! An instant exactly at a limit's end is past it (as the 24-hour window: at 24 hours it is over).

use time::{Duration, OffsetDateTime};

/// Between two requests since the last connected call.
pub const REQUEST_GAP: Duration = Duration::hours(24);
/// The window in which at most [`REQUESTS_PER_WINDOW`] requests may be sent.
pub const REQUEST_WINDOW: Duration = Duration::days(7);
pub const REQUESTS_PER_WINDOW: usize = 2;
/// How long a "yes" lets the business call.
pub const PERMISSION_LASTS: Duration = Duration::days(7);
/// Unanswered calls in a row after which the customer is asked to confirm, and after which the permission ends.
pub const UNANSWERED_TO_CONFIRM: u32 = 2;
pub const UNANSWERED_TO_REVOKE: u32 = 4;
/// Connected calls are counted over this.
pub const CALL_WINDOW: Duration = Duration::hours(24);
/// The seed's figure for connected calls per 24 hours.
pub const DEFAULT_CALLS_PER_DAY: u32 = 5;

/// One thing that happened between the business and the customer, as far as calling is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// The business sent a call-permission request.
    Requested(OffsetDateTime),
    /// The customer answered a request (or changed their answer).
    Answered { at: OffsetDateTime, yes: bool },
    /// A call (either way) was connected.
    Connected(OffsetDateTime),
    /// A call from the business was not answered (missed or declined).
    Unanswered(OffsetDateTime),
}

impl Happening {
    pub fn at(&self) -> OffsetDateTime {
        match *self {
            Self::Requested(at) | Self::Answered { at, .. } | Self::Connected(at) | Self::Unanswered(at) => at,
        }
    }
}

/// Why the business may not do what it asked, with when it can if that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another request would break the 24-hour or 7-day limit; possible again at `next`.
    RequestLimited { next: OffsetDateTime },
    /// No permission in force: never asked, refused, expired or revoked.
    PermissionMissing,
    /// The calls allowed in 24 hours were made; possible again at `next` (if the permission still holds then).
    CallLimitReached { next: OffsetDateTime },
}

impl Refusal {
    /// The API's stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RequestLimited { .. } => "call_permission_request_limited",
            Self::PermissionMissing => "call_permission_missing",
            Self::CallLimitReached { .. } => "call_limit_reached",
        }
    }
}

/// Where the permission stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Until when the business may call (`None`: it may not).
    pub permitted_until: Option<OffsetDateTime>,
    /// A request was sent and not answered yet.
    pub pending: bool,
    /// Unanswered calls in a row since the last connected call or answer.
    pub unanswered_in_a_row: u32,
    /// The customer is to be asked to confirm the permission (two unanswered calls in a row).
    pub confirm: bool,
}

/// The permission at `now`, from `history` (oldest first; happenings after `now` are ignored).
pub fn standing(history: &[Happening], now: OffsetDateTime) -> Standing {
    let mut permitted_until = None;
    let mut pending = false;
    let mut unanswered = 0;
    for h in history.iter().filter(|h| h.at() <= now) {
        match *h {
            Happening::Requested(_) => pending = true,
            Happening::Answered { at, yes } => {
                pending = false;
                unanswered = 0;
                permitted_until = yes.then_some(at + PERMISSION_LASTS);
            }
            Happening::Connected(_) => unanswered = 0,
            Happening::Unanswered(_) => {
                unanswered += 1;
                if unanswered >= UNANSWERED_TO_REVOKE {
                    permitted_until = None;
                }
            }
        }
    }
    let permitted_until = permitted_until.filter(|until| now < *until);
    Standing {
        permitted_until,
        pending,
        unanswered_in_a_row: unanswered,
        confirm: permitted_until.is_some() && unanswered >= UNANSWERED_TO_CONFIRM,
    }
}

/// Whether the business may send a call-permission request at `now`.
pub fn may_request(history: &[Happening], now: OffsetDateTime) -> Result<(), Refusal> {
    let past: Vec<&Happening> = history.iter().filter(|h| h.at() <= now).collect();
    let since_call = past.iter().rposition(|h| matches!(h, Happening::Connected(_))).map_or(0, |i| i + 1);
    let requests: Vec<OffsetDateTime> = past[since_call..]
        .iter()
        .filter_map(|h| match h {
            Happening::Requested(at) => Some(*at),
            _ => None,
        })
        .collect();
    let mut next = None::<OffsetDateTime>;
    if let Some(last) = requests.last().filter(|last| now < **last + REQUEST_GAP) {
        next = Some(*last + REQUEST_GAP);
    }
    let in_window: Vec<&OffsetDateTime> = requests.iter().filter(|at| now < **at + REQUEST_WINDOW).collect();
    if in_window.len() >= REQUESTS_PER_WINDOW {
        // Possible again when enough of them have left the window.
        let frees = *in_window[in_window.len() - REQUESTS_PER_WINDOW] + REQUEST_WINDOW;
        next = Some(next.map_or(frees, |n| n.max(frees)));
    }
    match next {
        Some(next) => Err(Refusal::RequestLimited { next }),
        None => Ok(()),
    }
}

/// Whether the business may call the customer at `now`, with at most `calls_per_day` connected calls in 24 hours.
pub fn may_call(history: &[Happening], now: OffsetDateTime, calls_per_day: u32) -> Result<(), Refusal> {
    let Some(until) = standing(history, now).permitted_until else {
        return Err(Refusal::PermissionMissing);
    };
    let recent: Vec<OffsetDateTime> = history
        .iter()
        .filter_map(|h| match h {
            Happening::Connected(at) if *at <= now && now < *at + CALL_WINDOW => Some(*at),
            _ => None,
        })
        .collect();
    if recent.len() >= calls_per_day as usize {
        let next = recent[recent.len() - calls_per_day as usize] + CALL_WINDOW;
        if next >= until {
            return Err(Refusal::PermissionMissing);
        }
        return Err(Refusal::CallLimitReached { next });
    }
    Ok(())
}

/// Words a customer answers a call-permission request with, as WhatsApp's buttons send them (`accept` /
/// `reject`, Meta's `call_permission_reply`) or as they type them (seed 001: "はい" or "いいえ"), in the
/// languages the inbox speaks. Compared lowercased, trimmed of spaces and punctuation.
const YES: &[&str] = &["yes", "accept", "allow", "allow calls", "sí", "si", "sim", "ja", "はい"];
const NO: &[&str] = &["no", "reject", "decline", "don't allow", "dont allow", "não", "nao", "nee", "nein", "いいえ"];

/// The customer's answer in a message (`Some(true)`: yes), read from the button they tapped or else the text
/// they wrote alone; `None` when the message is not an answer. Only a message in reply to a request counts:
/// the caller checks that one was sent.
pub fn reply(button_payload: Option<&str>, text: &str) -> Option<bool> {
    let word = |s: &str| {
        let s = s.trim().trim_matches(|c: char| c.is_ascii_punctuation() || "。！？、".contains(c)).trim();
        let lower = s.to_lowercase();
        if YES.contains(&lower.as_str()) {
            Some(true)
        } else if NO.contains(&lower.as_str()) {
            Some(false)
        } else {
            None
        }
    };
    match button_payload.map(str::trim).filter(|p| !p.is_empty()) {
        Some(payload) => word(payload).or_else(|| word(text)),
        None => word(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2027-02-01 09:00:00 UTC);

    fn h(hours: i64) -> OffsetDateTime {
        T0 + Duration::hours(hours)
    }

    #[test]
    fn a_reply_is_yes_or_no_from_the_button_or_the_word_alone() {
        assert_eq!(reply(Some("accept"), "Allow"), Some(true));
        assert_eq!(reply(Some("reject"), "Don't allow"), Some(false));
        assert_eq!(reply(None, " Sí! "), Some(true));
        assert_eq!(reply(None, "はい"), Some(true));
        assert_eq!(reply(None, "いいえ。"), Some(false));
        assert_eq!(reply(None, "NO"), Some(false));
        assert_eq!(reply(Some("order_42"), "yes"), Some(true), "an unknown payload falls back to the text");
        assert_eq!(reply(None, "yes, but call after 5"), None, "only a word alone is an answer");
        assert_eq!(reply(None, ""), None);
    }

    #[test]
    fn one_request_per_24_hours() {
        let history = [Happening::Requested(h(0))];
        assert_eq!(may_request(&history, h(23)), Err(Refusal::RequestLimited { next: h(24) }));
        assert_eq!(may_request(&history, h(24)), Ok(()));
    }

    #[test]
    fn after_a_no_to_the_only_request_another_may_follow_24_hours_later() {
        let history = [Happening::Requested(h(0)), Happening::Answered { at: h(1), yes: false }];
        assert_eq!(may_request(&history, h(2)), Err(Refusal::RequestLimited { next: h(24) }));
        assert_eq!(may_request(&history, h(24)), Ok(()));
    }

    #[test]
    fn two_requests_in_7_days_wait_for_the_7_days_from_the_first() {
        let history = [Happening::Requested(h(0)), Happening::Requested(h(30))];
        assert_eq!(may_request(&history, h(60)), Err(Refusal::RequestLimited { next: h(7 * 24) }));
        assert_eq!(may_request(&history, h(7 * 24)), Ok(()));
    }

    #[test]
    fn a_connected_call_resets_both_request_limits() {
        let history = [Happening::Requested(h(0)), Happening::Requested(h(30)), Happening::Connected(h(40))];
        assert_eq!(may_request(&history, h(41)), Ok(()));
    }

    #[test]
    fn a_yes_lets_the_business_call_for_7_days() {
        let history = [Happening::Requested(h(0)), Happening::Answered { at: h(2), yes: true }];
        assert_eq!(standing(&history, h(3)).permitted_until, Some(h(2) + PERMISSION_LASTS));
        assert_eq!(may_call(&history, h(3), DEFAULT_CALLS_PER_DAY), Ok(()));
        assert_eq!(may_call(&history, h(2) + PERMISSION_LASTS, DEFAULT_CALLS_PER_DAY), Err(Refusal::PermissionMissing));
    }

    #[test]
    fn without_a_yes_there_is_no_call() {
        assert_eq!(may_call(&[], T0, 5), Err(Refusal::PermissionMissing));
        let pending = [Happening::Requested(h(0))];
        assert_eq!(may_call(&pending, h(1), 5), Err(Refusal::PermissionMissing));
        assert!(standing(&pending, h(1)).pending);
    }

    #[test]
    fn the_customer_may_change_the_answer_at_any_time() {
        let history = [
            Happening::Requested(h(0)),
            Happening::Answered { at: h(1), yes: true },
            Happening::Answered { at: h(5), yes: false },
        ];
        assert_eq!(may_call(&history, h(4), 5), Ok(()));
        assert_eq!(may_call(&history, h(6), 5), Err(Refusal::PermissionMissing));
    }

    #[test]
    fn five_connected_calls_in_24_hours_then_wait() {
        let mut history = vec![Happening::Requested(h(0)), Happening::Answered { at: h(1), yes: true }];
        history.extend((2..7).map(|i| Happening::Connected(h(i))));
        assert_eq!(may_call(&history, h(8), 5), Err(Refusal::CallLimitReached { next: h(26) }));
        assert_eq!(may_call(&history, h(26), 5), Ok(()));
        // The limit is a setting.
        assert_eq!(may_call(&history, h(8), 6), Ok(()));
    }

    #[test]
    fn two_unanswered_calls_ask_the_customer_to_confirm_and_four_revoke() {
        let mut history = vec![Happening::Requested(h(0)), Happening::Answered { at: h(1), yes: true }];
        history.extend((2..4).map(|i| Happening::Unanswered(h(i))));
        let s = standing(&history, h(4));
        assert!(s.confirm && s.permitted_until.is_some());
        history.extend((4..6).map(|i| Happening::Unanswered(h(i))));
        assert_eq!(standing(&history, h(6)).permitted_until, None);
        assert_eq!(may_call(&history, h(6), 5), Err(Refusal::PermissionMissing));
    }

    #[test]
    fn a_connected_call_ends_a_run_of_unanswered_ones() {
        let history = [
            Happening::Answered { at: h(1), yes: true },
            Happening::Unanswered(h(2)),
            Happening::Unanswered(h(3)),
            Happening::Unanswered(h(4)),
            Happening::Connected(h(5)),
            Happening::Unanswered(h(6)),
        ];
        let s = standing(&history, h(7));
        assert_eq!((s.unanswered_in_a_row, s.confirm), (1, false));
        assert!(s.permitted_until.is_some());
    }

    #[test]
    fn refusals_have_the_apis_codes() {
        assert_eq!(Refusal::RequestLimited { next: T0 }.code(), "call_permission_request_limited");
        assert_eq!(Refusal::PermissionMissing.code(), "call_permission_missing");
        assert_eq!(Refusal::CallLimitReached { next: T0 }.code(), "call_limit_reached");
    }

    /// What a business tries at a moment, and how the customer or the call turns out.
    #[derive(Debug, Clone, Copy)]
    enum Try {
        Request,
        Answer(bool),
        Call { connected: bool },
        CustomerCalls,
    }

    fn tries() -> impl Strategy<Value = Vec<(u16, Try)>> {
        let step = prop_oneof![
            Just(Try::Request),
            any::<bool>().prop_map(Try::Answer),
            any::<bool>().prop_map(|connected| Try::Call { connected }),
            Just(Try::CustomerCalls),
        ];
        // Minutes to the next try: up to three days apart.
        prop::collection::vec((0u16..4320, step), 0..80)
    }

    proptest! {
        /// A business that only does what the rules allow never breaks a limit, checked from the history alone.
        #[test]
        fn a_business_following_the_rules_never_breaks_a_limit(steps in tries(), per_day in 1u32..8) {
            let mut now = T0;
            let mut history: Vec<Happening> = Vec::new();
            let mut business_calls: Vec<OffsetDateTime> = Vec::new();
            for (gap, t) in steps {
                now += Duration::minutes(i64::from(gap));
                match t {
                    Try::Request => if may_request(&history, now).is_ok() { history.push(Happening::Requested(now)) },
                    Try::Answer(yes) => history.push(Happening::Answered { at: now, yes }),
                    Try::Call { connected } => if may_call(&history, now, per_day).is_ok() {
                        business_calls.push(now);
                        history.push(if connected { Happening::Connected(now) } else { Happening::Unanswered(now) });
                    },
                    Try::CustomerCalls => history.push(Happening::Connected(now)),
                }
            }
            for (i, e) in history.iter().enumerate() {
                let before = &history[..i];
                let since_call = before.iter().rposition(|h| matches!(h, Happening::Connected(_))).map_or(0, |p| p + 1);
                let requests = || before[since_call..].iter().filter_map(|h| match h { Happening::Requested(at) => Some(*at), _ => None });
                match *e {
                    Happening::Requested(at) => {
                        prop_assert!(requests().all(|r| at - r >= REQUEST_GAP), "two requests within 24 h");
                        prop_assert!(requests().filter(|r| at - *r < REQUEST_WINDOW).count() < REQUESTS_PER_WINDOW, "a third request within 7 days");
                    }
                    Happening::Unanswered(at) => {
                        // The business called: a "yes" within 7 days, no later "no", fewer than 4 unanswered since.
                        let yes = before.iter().rposition(|h| matches!(h, Happening::Answered { .. }));
                        let Some(y) = yes else { return Err(TestCaseError::fail("a call without an answer")) };
                        let Happening::Answered { at: answered, yes: true } = before[y] else { return Err(TestCaseError::fail("a call after a no")) };
                        prop_assert!(at - answered < PERMISSION_LASTS, "a call after the permission lapsed");
                        let mut run = 0;
                        for h in &before[y..] { match h { Happening::Unanswered(_) => run += 1, Happening::Connected(_) => run = 0, _ => {} } }
                        prop_assert!(run < UNANSWERED_TO_REVOKE, "a call after four unanswered");
                    }
                    _ => {}
                }
            }
            // Every call the business placed came after fewer than `per_day` connected calls in the 24 hours before.
            for call in business_calls {
                let before = history
                    .iter()
                    .filter(|h| matches!(h, Happening::Connected(at) if *at < call && call - *at < CALL_WINDOW))
                    .count();
                prop_assert!(before < per_day as usize, "a call past the day's limit");
            }
        }

        /// A refusal's "possible again at" is right: at that instant the same request is allowed (nothing else
        /// having happened).
        #[test]
        fn a_limited_request_is_allowed_at_the_time_the_refusal_names(steps in tries()) {
            let mut now = T0;
            let mut history: Vec<Happening> = Vec::new();
            for (gap, t) in steps {
                now += Duration::minutes(i64::from(gap));
                match t {
                    Try::Request => match may_request(&history, now) {
                        Ok(()) => history.push(Happening::Requested(now)),
                        Err(Refusal::RequestLimited { next }) => {
                            prop_assert!(next > now);
                            prop_assert_eq!(may_request(&history, next), Ok(()));
                            prop_assert!(may_request(&history, next - Duration::SECOND).is_err());
                        }
                        Err(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
                    },
                    Try::Answer(yes) => history.push(Happening::Answered { at: now, yes }),
                    Try::Call { connected } => history.push(if connected { Happening::Connected(now) } else { Happening::Unanswered(now) }),
                    Try::CustomerCalls => history.push(Happening::Connected(now)),
                }
            }
        }
    }
}
