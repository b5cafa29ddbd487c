//! The changes people make to a conversation besides its placement: resolving, reopening, priority, open or
//! pending, the AI agent's hand-over mark; and who may take it from its queue or number.

use crate::domain::{ConversationStatus, RoutingState};
use sqlx::PgConnection;
use uuid::Uuid;

/// Whether `user` may claim the conversation: a member of its queue or its number, or the agent it waits for.
pub async fn may_take_from(
    conn: &mut PgConnection,
    user: Uuid,
    conversation: Uuid,
    queue: Option<Uuid>,
    number: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM queue_members WHERE queue_id = $2 AND user_id = $1)
             OR EXISTS (SELECT 1 FROM number_members WHERE number_id = $3 AND user_id = $1)
             OR EXISTS (SELECT 1 FROM conversations WHERE id = $4 AND waiting_agent_id = $1)",
    )
    .bind(user)
    .bind(queue)
    .bind(number)
    .bind(conversation)
    .fetch_one(conn)
    .await
}

pub async fn mark_resolved(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE conversations SET status = $2, resolved_at = now(), snoozed_until = NULL, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(ConversationStatus::Resolved)
        .execute(conn)
        .await?;
    Ok(())
}

/// The customer's other unresolved conversation on the same number, if there is one.
pub async fn other_open(conn: &mut PgConnection, id: Uuid, number: Uuid, contact: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM conversations WHERE number_id = $1 AND contact_id = $2 AND status <> 'resolved' AND id <> $3",
    )
    .bind(number)
    .bind(contact)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Opens a resolved conversation again: still held by its agent when `keeps` (the caller took them under the
/// capacity guard), otherwise left for the router. Fails on `conversations_active_key` when the customer opened
/// another one on the number meanwhile.
pub async fn mark_reopened(conn: &mut PgConnection, id: Uuid, keeps: bool) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversations SET status = $3, resolved_at = NULL, updated_at = now(),
                routing_state = CASE WHEN $2 THEN $4 ELSE $5 END,
                assignee_id = CASE WHEN $2 THEN assignee_id END, assigned_at = CASE WHEN $2 THEN now() END,
                queued_at = NULL, waiting_agent_id = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(keeps)
    .bind(ConversationStatus::Open)
    .bind(RoutingState::Assigned)
    .bind(RoutingState::Unrouted)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the priority; returns the one it had.
pub async fn set_priority(conn: &mut PgConnection, id: Uuid, priority: i32) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "UPDATE conversations c SET priority = $2, updated_at = now()
         FROM (SELECT priority FROM conversations WHERE id = $1) old
         WHERE c.id = $1 RETURNING old.priority",
    )
    .bind(id)
    .bind(priority)
    .fetch_one(conn)
    .await
}

pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: ConversationStatus) -> sqlx::Result<()> {
    sqlx::query("UPDATE conversations SET status = $2, snoozed_until = NULL, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}

/// Snoozes the conversation until `until`, or (`None`) until the customer's next message.
pub async fn snooze(conn: &mut PgConnection, id: Uuid, until: Option<time::OffsetDateTime>) -> sqlx::Result<()> {
    sqlx::query("UPDATE conversations SET status = $2, snoozed_until = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(ConversationStatus::Snoozed)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}
