//! Asking a customer for permission to call and reading their answer (issue 22, seed 001's "許可リクエスト"):
//! the rules are `domain::call_permission`'s; this module reads the history they decide from and records what
//! happened.
//!
//! A request is a template message with the call-permission element, so it is sent by the one path every
//! message takes (`outbound::compose`), which asks [`admit`] first and calls [`requested`] in the same
//! transaction: two requests sent at once are serialised on the customer and number, and the second is refused
//! if the first used up the limit. The customer's yes or no arrives as a message; the automation engine hands it
//! to [`answered`], exactly once per message.

use crate::domain::call_permission::{self, Refusal, Standing};
use crate::store::call_permissions as db;
use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Why a call-permission request or a call cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The conversation's number does not take calls.
    NumberDoesNotCall,
    Rule(Refusal),
}

/// What the business means to do with the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Send a call-permission request (then record it with [`requested`] in the same transaction).
    Request,
    /// Call them, with at most `per_day` connected calls in 24 hours.
    Call { per_day: u32 },
}

/// Whether the business may do `ask` with the customer on the number now; the pair stays locked until the
/// transaction ends, so that two asks at once cannot both pass a limit only one may.
pub async fn admit(
    conn: &mut PgConnection,
    number: Uuid,
    contact: Uuid,
    supports_calling: bool,
    ask: Ask,
) -> sqlx::Result<Result<(), Refused>> {
    if !supports_calling {
        return Ok(Err(Refused::NumberDoesNotCall));
    }
    db::lock_pair(conn, number, contact).await?;
    let (history, now) = db::history(conn, number, contact).await?;
    let allowed = match ask {
        Ask::Request => call_permission::may_request(&history, now),
        Ask::Call { per_day } => call_permission::may_call(&history, now, per_day),
    };
    Ok(allowed.map_err(Refused::Rule))
}

/// Records a request sent in `message_id` (after [`admit`] allowed it).
pub async fn requested(conn: &mut PgConnection, r: &db::NewRequest) -> sqlx::Result<()> {
    db::insert_request(conn, r).await?;
    let data = serde_json::json!({ "message_id": r.message_id, "by": r.requested_by });
    crate::store::routing::record_event(
        conn,
        r.conversation_id,
        "call_permission_requested",
        &crate::routing::system_actor(),
        data,
    )
    .await
}

/// The customer wrote `granted` (yes or no) in `message_id`: recorded, with a timeline entry, when the business
/// asked them recently; otherwise the word is just a word. Answers whether it was recorded.
pub async fn answered(
    conn: &mut PgConnection,
    conversation: Uuid,
    message_id: Uuid,
    granted: bool,
) -> sqlx::Result<bool> {
    let Some((number, contact)) = db::pair_of(conn, conversation).await? else { return Ok(false) };
    if !db::asked_recently(conn, number, contact).await? {
        return Ok(false);
    }
    db::lock_pair(conn, number, contact).await?;
    if !db::insert_answer(conn, number, contact, conversation, message_id, granted).await? {
        return Ok(false);
    }
    let kind = if granted { "call_permission_granted" } else { "call_permission_refused" };
    let data = serde_json::json!({ "message_id": message_id });
    crate::store::routing::record_event(conn, conversation, kind, &crate::routing::system_actor(), data).await?;
    Ok(true)
}

/// Where calling stands with a conversation's customer on its number: what the inbox's "Request call" and
/// "Call" buttons show.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CallPermissionView)]
pub struct PermissionView {
    /// The conversation's number takes calls at all.
    pub number_supports_calling: bool,
    /// A request may be sent now.
    pub may_request: bool,
    /// When the next request becomes possible, if one may not be sent now.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_request_at: Option<OffsetDateTime>,
    /// A request was sent and the customer has not answered it.
    pub pending: bool,
    /// Until when the customer lets the business call (null: they do not).
    #[serde(with = "time::serde::rfc3339::option")]
    pub permitted_until: Option<OffsetDateTime>,
    /// The business may call now.
    pub may_call: bool,
    /// Why not, if it may not: `call_permission_missing` or `call_limit_reached`.
    pub call_refusal: Option<&'static str>,
    /// When the next call becomes possible after the daily limit.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_call_at: Option<OffsetDateTime>,
    /// Two calls in a row went unanswered: the customer is asked to confirm.
    pub confirm: bool,
}

/// [`PermissionView`] for the customer and number.
/// `contact`: `None` for a customer never seen (no history: a request may go).
pub async fn view(
    conn: &mut PgConnection,
    number: Uuid,
    contact: Option<Uuid>,
    supports_calling: bool,
    calls_per_day: u32,
) -> sqlx::Result<PermissionView> {
    let (history, now) = match contact {
        Some(contact) => db::history(conn, number, contact).await?,
        None => (Vec::new(), time::OffsetDateTime::now_utc()),
    };
    let Standing { permitted_until, pending, confirm, .. } = call_permission::standing(&history, now);
    let request = call_permission::may_request(&history, now);
    let call = call_permission::may_call(&history, now, calls_per_day);
    Ok(PermissionView {
        number_supports_calling: supports_calling,
        may_request: supports_calling && request.is_ok(),
        next_request_at: match request {
            Err(Refusal::RequestLimited { next }) => Some(next),
            _ => None,
        },
        pending,
        permitted_until,
        may_call: supports_calling && call.is_ok(),
        call_refusal: call.err().map(|r| r.code()),
        next_call_at: match call {
            Err(Refusal::CallLimitReached { next }) => Some(next),
            _ => None,
        },
        confirm,
    })
}
