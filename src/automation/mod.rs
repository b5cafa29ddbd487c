//! Automation: what Switchboard says and does by itself.
//!
//! The inbound write puts a message into `automation_inbox` when its number has any automation (in the same
//! statement, nothing else on the webhook's path). Every `serve` process runs an [`engine::Engine`] that takes
//! inbox entries with `FOR UPDATE SKIP LOCKED` once their conversation is routed, decides what to say ([`decide`]: the refused-media reply, the greeting, the out-of-hours message, the auto-reply rules of
//! [`rules`]), and sends it through the agents' own send path (`outbound::compose`) in the transaction that
//! deletes the entries. Each automated message first claims its key in `automation_runs` (conversation, kind,
//! period), so however many processes decide, and whatever crashes after a commit, it is sent exactly once.
//! The engine also sends queues' waiting notices; the CSAT survey is in [`csat`].

pub mod config;
pub mod csat;
pub mod decide;
pub mod engine;
pub mod rules;

use crate::auth::Caller;
use crate::store::audit::Actor;
use uuid::Uuid;

/// Who acts when an automation does: it may act on any conversation, and is nobody's agent.
pub fn caller(rule: Option<Uuid>) -> Caller {
    Caller {
        actor: Actor { kind: "automation", id: rule, label: "Automation".into() },
        user_id: None,
        supervisor: true,
    }
}
