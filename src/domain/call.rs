//! A WhatsApp call's vocabulary: which way it goes, where it is, and how it ended.

use super::conversation::text_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The customer called the business.
    Inbound,
    /// The business called the customer (with their permission).
    Outbound,
}

text_enum!(Direction { Inbound => "inbound", Outbound => "outbound" });

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// In a queue (or waiting for its agent), hearing the waiting strategy.
    Waiting,
    /// Placed by the business: the agent's leg, then the customer's phone, rings.
    Dialing,
    /// With an agent.
    Connected,
    /// Over; the outcome says how.
    Ended,
}

text_enum!(CallState { Waiting => "waiting", Dialing => "dialing", Connected => "connected", Ended => "ended" });

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An agent took it.
    Answered,
    /// Nobody took it: the maximum wait passed, or the caller hung up while waiting (someone calls back); or,
    /// placed by the business, the customer did not answer or declined.
    Missed,
    /// Out of the queue's business hours.
    Closed,
    /// Twilio reported the call failed.
    Failed,
}

text_enum!(Outcome { Answered => "answered", Missed => "missed", Closed => "closed", Failed => "failed" });
