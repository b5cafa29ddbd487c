//! WhatsApp Business Calling (issue 22): calls arrive at a number's voice webhook, are routed like
//! conversations (rules, then the default queue, honouring what each queue serves; never to an AI agent), and
//! wait in their queue hearing its waiting strategy until an agent takes them or the maximum wait passes.
//!
//! Twilio drives a waiting call: the voice webhook answers the arrival with TwiML at once (a greeting and
//! `<Enqueue>`, or the closed message), Twilio then asks the wait URL what to play, again and again, and the
//! `<Enqueue>`'s action once the caller leaves the queue; the status callback says how the call ended. Each
//! step is one short transaction on the call's row, so any process may answer any of them.

pub mod answer;
pub mod button;
pub mod during;
pub mod inbound;
pub mod offer;
pub mod outbound;
pub mod permission;
pub mod phone;
pub mod token;

use crate::store::calls::Call;
use sqlx::PgConnection;

/// A system event on the call's conversation's timeline.
async fn record(conn: &mut PgConnection, c: &Call, kind: &str, data: serde_json::Value) -> sqlx::Result<()> {
    crate::store::routing::record_event(conn, c.conversation_id, kind, &crate::routing::system_actor(), data).await
}
