//! AI agents: they answer customers first and hand over to people.
//!
//! A conversation routed to an AI agent gets a session (`ai_sessions`, written with the placement). Every
//! `serve` process runs a [`reply::Scanner`] that queues one `ai.reply` job per conversation whose customer wrote
//! since its last answer and has been quiet for `ai.debounce_ms` (so a burst of three messages gets one reply),
//! never a second while one is queued or running. The job ([`reply::ReplyTask`]) reads what the customer said,
//! decides ([`agent::think`]: the built-in bot of [`bot`], or an OpenAI-compatible model through [`model`]), and
//! in one transaction sends the reply through the agents' own send path, or hands the conversation over with a
//! private note (routed on as any hand-over), or resolves it. That transaction first moves the session's
//! `answered_through` from what the job started from to what it answered, so a reply computed twice (a job taken
//! over from a dead process) is sent once. Nothing of this runs on the webhook's path.

pub mod agent;
pub mod bot;
pub mod model;
pub mod reply;
pub mod split;
pub mod text;

use crate::auth::Caller;
use crate::store::audit::Actor;
use uuid::Uuid;

/// Who acts when an AI agent does: it may act on the conversations it owns (a hand-over is a supervisor's
/// action for people), and is nobody's agent.
pub fn caller(agent: Uuid, name: &str) -> Caller {
    Caller {
        actor: Actor { kind: "ai_agent", id: Some(agent), label: name.to_owned() },
        user_id: None,
        supervisor: true,
    }
}
