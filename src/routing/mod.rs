//! Routing: who owns each conversation.
//!
//! Conversations are placed in the order of assignment ([`rules::decide`]): the first matching rule, else the
//! AI agent when the number has it, else the number's default queue. A new customer's conversation that takes
//! no agent (no owner, or the AI agent) is placed by the inbound write itself ([`place::opening`], decided from
//! the configuration in memory), so it is written once; any other is stored `unrouted`, and every process runs
//! a [`router::Router`] that takes unrouted conversations with `FOR UPDATE SKIP LOCKED` and places them. Inside
//! a queue [`select::rank`] orders the eligible members and [`place`] takes the first agent whose row passes the
//! capacity guard. Conversations nobody can take wait, and are offered again when capacity frees, an agent comes
//! online, a queue opens, or they overflow.

pub mod actions;
pub mod config;
pub mod lifecycle;
pub mod place;
pub mod router;
pub mod rules;
pub mod select;

use crate::domain::business_hours::Hours;
use jiff::Timestamp;
use std::collections::HashMap;
use uuid::Uuid;

/// Whether the schedule `id` is open at `now`; no schedule (or an unknown one) is always open.
pub fn hours_open(hours: &HashMap<Uuid, Hours>, id: Option<Uuid>, now: Timestamp) -> bool {
    id.and_then(|id| hours.get(&id)).is_none_or(|h| h.is_open(now))
}

/// The router's name in the timeline.
pub fn system_actor() -> crate::store::audit::Actor {
    crate::store::audit::Actor { kind: "system", id: None, label: "router".into() }
}
