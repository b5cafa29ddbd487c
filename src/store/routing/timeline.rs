//! A conversation's timeline: who changed its owner, status or priority, and when.

use super::super::audit::Actor;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

/// Appends an event to the conversation's timeline.
pub async fn record_event(
    conn: &mut PgConnection,
    conversation: Uuid,
    kind: &str,
    actor: &Actor,
    data: Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_id, actor_label, data)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(conversation)
    .bind(kind)
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends events by one actor to several conversations' timelines, in one statement: `(conversation, kind,
/// data)`.
pub async fn record_events(conn: &mut PgConnection, actor: &Actor, events: &[(Uuid, &str, Value)]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let conversations: Vec<Uuid> = events.iter().map(|e| e.0).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.1).collect();
    let data: Vec<&Value> = events.iter().map(|e| &e.2).collect();
    sqlx::query(
        "INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_id, actor_label, data)
         SELECT e.conversation_id, e.kind, $4, $5, $6, e.data
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS e(conversation_id, kind, data, n)
         ORDER BY e.n",
    )
    .bind(conversations)
    .bind(kinds)
    .bind(data)
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    /// routed, queued, assigned, ai_agent, unowned, claimed, transferred, unassigned, overflowed, outside_hours,
    /// handed_over, resolved, reopened, priority_changed.
    pub kind: String,
    /// `system` (the router), `user`, `token` or `ai_agent`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    #[schema(value_type = Object)]
    pub data: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

pub async fn events(conn: &mut PgConnection, conversation: Uuid, after: i64, limit: i64) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, kind, actor_type, actor_id, actor_label, data, created_at FROM conversation_events
         WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(conversation)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}
