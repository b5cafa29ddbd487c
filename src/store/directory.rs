//! The inbox's reference data, readable by every person logged in: numbers, queues and agents by name.

use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct NumberEntry {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub channel_name: String,
    pub name: String,
    pub e164: String,
    pub agents_may_send_attachments: bool,
    /// The number takes WhatsApp calls (the inbox offers calls and call buttons on it).
    pub supports_calling: bool,
    /// Its channel is the built-in sandbox's (a browser joins its calls through the sandbox, not Twilio's SDK).
    pub sandbox: bool,
    /// Whether the caller serves this number (and so may start conversations from it).
    pub served: bool,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct QueueEntry {
    pub id: Uuid,
    pub name: String,
    /// Whether the caller is a member.
    pub member: bool,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AgentEntry {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub presence: String,
}

pub async fn numbers(pool: &PgPool, user: Option<Uuid>) -> sqlx::Result<Vec<NumberEntry>> {
    sqlx::query_as(
        "SELECT n.id, n.channel_id, ch.name AS channel_name, n.name, n.e164, n.agents_may_send_attachments, n.supports_calling,
                a.sandbox,
                EXISTS (SELECT 1 FROM number_members m WHERE m.number_id = n.id AND m.user_id = $1) AS served
         FROM whatsapp_numbers n JOIN channels ch ON ch.id = n.channel_id JOIN twilio_accounts a ON a.id = ch.account_id
         WHERE n.deleted_at IS NULL AND ch.deleted_at IS NULL ORDER BY lower(ch.name), n.e164",
    )
    .bind(user)
    .fetch_all(pool)
    .await
}

pub async fn queues(pool: &PgPool, user: Option<Uuid>) -> sqlx::Result<Vec<QueueEntry>> {
    sqlx::query_as(
        "SELECT q.id, q.name,
                EXISTS (SELECT 1 FROM queue_members m WHERE m.queue_id = q.id AND m.user_id = $1) AS member
         FROM queues q WHERE q.deleted_at IS NULL ORDER BY lower(q.name), q.id",
    )
    .bind(user)
    .fetch_all(pool)
    .await
}

pub async fn agents(pool: &PgPool) -> sqlx::Result<Vec<AgentEntry>> {
    sqlx::query_as("SELECT id, name, email, presence FROM users WHERE active ORDER BY lower(name), email")
        .fetch_all(pool)
        .await
}
