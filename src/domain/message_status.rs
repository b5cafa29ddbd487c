//! Delivery status of a message and the rule for how it may change.
//!
//! Twilio's status callbacks arrive out of order (a late `sent` after `read` is common), so the stored status
//! only ever moves forward: accepted/scheduled < queued < sending < sent < delivered < read. `failed`,
//! `undelivered` and `canceled` are final. A failure that arrives after the message was already delivered is
//! contradictory and is ignored; the delivered or read state stands.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    Undelivered,
    Canceled,
    Receiving,
    Received,
    PartiallyDelivered,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 13] = [
        Self::Accepted,
        Self::Scheduled,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Undelivered,
        Self::Canceled,
        Self::Receiving,
        Self::Received,
        Self::PartiallyDelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Undelivered => "undelivered",
            Self::Canceled => "canceled",
            Self::Receiving => "receiving",
            Self::Received => "received",
            Self::PartiallyDelivered => "partially_delivered",
        }
    }

    /// A status after which nothing changes any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Failed | Self::Undelivered | Self::Canceled | Self::Read)
    }

    fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Undelivered | Self::Canceled)
    }

    /// Position on the outbound path; `None` for statuses of inbound messages, which never change.
    pub fn rank(self) -> Option<u8> {
        Some(match self {
            Self::Accepted | Self::Scheduled => 0,
            Self::Queued => 1,
            Self::Sending => 2,
            Self::Sent => 3,
            Self::PartiallyDelivered => 4,
            Self::Delivered => 5,
            Self::Read => 6,
            Self::Failed | Self::Undelivered | Self::Canceled => return None,
            Self::Receiving | Self::Received => return None,
        })
    }

    /// Whether a message now in `self` may move to `next`.
    pub fn may_become(self, next: MessageStatus) -> bool {
        let Some(current) = self.rank() else {
            return false; // final failure, or an inbound message
        };
        if self.is_final() {
            return false;
        }
        if next.is_failure() {
            return current < 4; // a failure never undoes a delivery
        }
        next.rank().is_some_and(|n| n > current)
    }

    /// Every status that `next` may replace: what a single conditional `UPDATE … WHERE status = ANY(…)` needs.
    pub fn replaceable_by(next: MessageStatus) -> Vec<&'static str> {
        Self::ALL.into_iter().filter(|s| s.may_become(next)).map(Self::as_str).collect()
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown message status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for MessageStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_outbound_path_moves_forward_only() {
        assert!(Queued.may_become(Sent));
        assert!(Sent.may_become(Delivered));
        assert!(Delivered.may_become(Read));
        assert!(Queued.may_become(Read), "skipping steps is allowed");
        assert!(!Read.may_become(Delivered), "a late delivered never overwrites read");
        assert!(!Delivered.may_become(Sent));
        assert!(!Sent.may_become(Sent));
    }

    #[test]
    fn failures_are_final_and_never_undo_a_delivery() {
        assert!(Sent.may_become(Failed));
        assert!(Queued.may_become(Undelivered));
        assert!(!Failed.may_become(Delivered));
        assert!(!Undelivered.may_become(Read));
        assert!(!Delivered.may_become(Undelivered));
        assert!(!Read.may_become(Failed));
    }

    #[test]
    fn inbound_statuses_never_change() {
        assert!(!Received.may_become(Read));
        assert_eq!(
            replaceable_names(Read),
            vec!["accepted", "scheduled", "queued", "sending", "sent", "delivered", "partially_delivered"]
        );
    }

    fn replaceable_names(s: MessageStatus) -> Vec<&'static str> {
        let mut v = MessageStatus::replaceable_by(s);
        let order: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
        v.sort_by_key(|n| order.iter().position(|o| o == n));
        v
    }

    #[test]
    fn names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(s.as_str().parse::<MessageStatus>().unwrap(), s);
        }
        assert!("bogus".parse::<MessageStatus>().is_err());
    }

    fn any_status() -> impl Strategy<Value = MessageStatus> {
        proptest::sample::select(MessageStatus::ALL.to_vec())
    }

    proptest! {
        /// Whatever order callbacks arrive in, the stored status ends no earlier than the furthest one that
        /// arrived, and a final status, once reached, stays.
        #[test]
        fn applying_callbacks_in_any_order_never_regresses(start in any_status(), events in proptest::collection::vec(any_status(), 0..12)) {
            let mut current = start;
            let mut reached_final = current.is_final().then_some(current);
            for e in events {
                if current.may_become(e) {
                    prop_assert!(reached_final.is_none(), "{current} changed after being final");
                    current = e;
                    if current.is_final() { reached_final = Some(current); }
                }
            }
            if let Some(f) = reached_final { prop_assert_eq!(current, f); }
        }
    }
}
