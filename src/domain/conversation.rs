//! A conversation's states, as types: its status (open, pending, resolved) and who owns it (its routing state),
//! and the range of its priority.
//!
//! Both are stored as text (with a `CHECK` listing the same words); [`sqlx::Type`] reads and writes them as
//! that text, so a word the database holds but this version does not know is an error, never a silent default.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// Where a conversation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Someone on the business's side should act.
    Open,
    /// Waiting on the customer or a third party, or with the AI agent.
    Pending,
    /// Set aside by its agent until a time or the customer's next message, whichever comes first; then open.
    Snoozed,
    /// Done: the customer's next message opens a new conversation.
    Resolved,
}

/// Who owns a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingState {
    /// A routing decision is being made.
    Unrouted,
    /// In a queue, or waiting for a named agent.
    Waiting,
    /// Held by an agent.
    Assigned,
    /// Held by the AI agent.
    Ai,
    /// No rule, AI agent or default queue applied: the number's agents may claim it.
    Unowned,
    /// Started by a notification: nobody is asked to act until the customer replies, which routes it.
    Notified,
    /// The contact is blocked: their messages are kept here, offered to nobody and answered by no automation.
    Blocked,
}

/// Who opened a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartedBy {
    /// The customer wrote first.
    Customer,
    /// An agent or API token, with a template.
    Business,
    /// A notification (`POST /notifications`): routed only once the customer replies.
    Notification,
}

/// A conversation's priority: higher is offered first while it waits.
pub const PRIORITY: RangeInclusive<i32> = -1000..=1000;

/// A conversation's priority as people name it. Each level is a band of the numeric priority (which rules and
/// the API may still set exactly): urgent from 300, high from 100, normal from -99 to 99, low below. Setting a
/// level sets the band's own number (300, 100, 0, -100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriorityLevel {
    Urgent,
    High,
    Normal,
    Low,
}

impl PriorityLevel {
    pub fn of(priority: i32) -> Self {
        match priority {
            300.. => Self::Urgent,
            100..=299 => Self::High,
            -99..=99 => Self::Normal,
            _ => Self::Low,
        }
    }

    /// The number a level sets.
    pub fn priority(self) -> i32 {
        match self {
            Self::Urgent => 300,
            Self::High => 100,
            Self::Normal => 0,
            Self::Low => -100,
        }
    }
}

/// The priority a request asks for: a number or a level, not both (`None`: it asks for none).
pub fn requested_priority(priority: Option<i32>, level: Option<PriorityLevel>) -> Result<Option<i32>, &'static str> {
    match (priority, level) {
        (Some(_), Some(_)) => Err("give priority or priority_level, not both"),
        (p, level) => Ok(p.or(level.map(PriorityLevel::priority))),
    }
}

/// A priority within [`PRIORITY`], or why not.
pub fn check_priority(priority: i32) -> Result<i32, &'static str> {
    if PRIORITY.contains(&priority) {
        Ok(priority)
    } else {
        Err("priority must be from -1000 to 1000")
    }
}

/// The longest a conversation may be snoozed.
pub const MAX_SNOOZE: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// When a snooze may end: in the future (a time already past would wake it at once, which is not what anyone
/// asking for a snooze means) and at most [`MAX_SNOOZE`] ahead. `None` (until the customer writes) always may.
pub fn check_snooze_until(until: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Result<(), &'static str> {
    match until {
        None => Ok(()),
        Some(t) if t <= now => Err("until must be in the future"),
        Some(t) if t.duration_since(now) > MAX_SNOOZE => Err("until is at most 90 days ahead"),
        Some(_) => Ok(()),
    }
}

/// The most tags a conversation carries.
pub const MAX_TAGS: usize = 20;

/// Tag ids as a conversation keeps them: sorted, each once, at most [`MAX_TAGS`] (the error says so).
pub fn tag_ids(mut ids: Vec<uuid::Uuid>) -> Result<Vec<uuid::Uuid>, String> {
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags per conversation"));
    }
    Ok(ids)
}

/// The text forms, both ways, and the sqlx mapping to a `text` column.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "{other:?} is not one of {}",
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl sqlx::Decode<'_, sqlx::Postgres> for $ty {
            fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?.parse()?)
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(StartedBy { Customer => "customer", Business => "business", Notification => "notification" });
text_enum!(ConversationStatus { Open => "open", Pending => "pending", Snoozed => "snoozed", Resolved => "resolved" });
text_enum!(RoutingState {
    Unrouted => "unrouted",
    Waiting => "waiting",
    Assigned => "assigned",
    Ai => "ai",
    Unowned => "unowned",
    Notified => "notified",
    Blocked => "blocked",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_reads_back_from_its_own_text() {
        for s in ConversationStatus::ALL {
            assert_eq!(s.as_str().parse::<ConversationStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in RoutingState::ALL {
            assert_eq!(s.as_str().parse::<RoutingState>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn a_priority_level_is_a_band_of_numbers_and_each_level_sets_a_number_inside_its_own_band() {
        assert_eq!(PriorityLevel::of(1000), PriorityLevel::Urgent);
        assert_eq!(PriorityLevel::of(300), PriorityLevel::Urgent);
        assert_eq!(PriorityLevel::of(299), PriorityLevel::High);
        assert_eq!(PriorityLevel::of(100), PriorityLevel::High);
        assert_eq!(PriorityLevel::of(99), PriorityLevel::Normal);
        assert_eq!(PriorityLevel::of(-99), PriorityLevel::Normal);
        assert_eq!(PriorityLevel::of(-100), PriorityLevel::Low);
        assert_eq!(PriorityLevel::of(-1000), PriorityLevel::Low);
        for level in [PriorityLevel::Urgent, PriorityLevel::High, PriorityLevel::Normal, PriorityLevel::Low] {
            assert_eq!(PriorityLevel::of(level.priority()), level);
            assert!(PRIORITY.contains(&level.priority()));
        }
    }

    #[test]
    fn a_request_asks_for_a_priority_by_number_or_by_level_but_not_both() {
        assert_eq!(requested_priority(Some(42), None), Ok(Some(42)));
        assert_eq!(requested_priority(None, Some(PriorityLevel::Urgent)), Ok(Some(300)));
        assert_eq!(requested_priority(None, None), Ok(None));
        assert!(requested_priority(Some(42), Some(PriorityLevel::Low)).is_err());
    }

    #[test]
    fn tags_are_kept_sorted_once_each_and_at_most_twenty() {
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        assert_eq!(tag_ids(vec![b, a, b]).unwrap(), vec![a, b]);
        assert!(tag_ids((0..MAX_TAGS).map(|_| uuid::Uuid::now_v7()).collect()).is_ok());
        assert!(tag_ids((0..=MAX_TAGS).map(|_| uuid::Uuid::now_v7()).collect()).is_err());
    }

    #[test]
    fn a_snooze_ends_in_the_future_within_ninety_days_or_at_the_customers_next_message() {
        let now: jiff::Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let at = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
        assert_eq!(check_snooze_until(None, now), Ok(()));
        assert_eq!(check_snooze_until(at("2026-12-03T10:00:01Z"), now), Ok(()));
        assert_eq!(check_snooze_until(at("2027-03-03T10:00:00Z"), now), Ok(()), "exactly 90 days");
        assert!(check_snooze_until(at("2026-12-03T10:00:00Z"), now).is_err(), "now is not the future");
        assert!(check_snooze_until(at("2026-12-01T00:00:00Z"), now).is_err());
        assert!(check_snooze_until(at("2027-03-03T10:00:01Z"), now).is_err(), "more than 90 days");
    }

    #[test]
    fn an_unknown_word_is_refused_with_the_known_ones() {
        let e = "closed".parse::<ConversationStatus>().unwrap_err();
        assert!(e.contains("open, pending, snoozed, resolved"), "{e}");
        assert!("AI".parse::<RoutingState>().is_err());
    }
}
