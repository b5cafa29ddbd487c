//! What AI agents keep per conversation ([`ai_sessions`]: how far they answered, the reply under way) and per
//! decision (`ai_turns`), and what a reply reads: the conversation's state, its unanswered customer messages, its
//! history.

use crate::domain::{ConversationStatus, RoutingState};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Queues one `ai.reply` job for each AI-owned conversation whose customer wrote since its last answer and has
/// been quiet for `quiet_ms`, unless a reply is already queued for it; marks the session so in the same
/// statement. Returns how many were queued.
pub async fn queue_replies(
    pool: &PgPool,
    quiet_ms: u64,
    max_wait_ms: u64,
    limit: i64,
    max_attempts: i32,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "WITH due AS (
             SELECT s.conversation_id FROM conversations c JOIN ai_sessions s ON s.conversation_id = c.id
             WHERE c.routing_state = 'ai' AND c.status <> 'resolved' AND s.reply_queued_at IS NULL
               AND c.last_inbound_at > COALESCE(s.answered_through, '-infinity')
               AND (c.last_inbound_at <= now() - make_interval(secs => $1)
                    OR EXISTS (SELECT 1 FROM messages m
                               WHERE m.conversation_id = c.id AND m.direction = 'inbound'
                                 AND m.created_at > COALESCE(s.answered_through, '-infinity')
                                 AND m.created_at <= now() - make_interval(secs => $4)))
             ORDER BY c.last_inbound_at LIMIT $2
             FOR UPDATE OF s SKIP LOCKED
         ), marked AS (
             UPDATE ai_sessions SET reply_queued_at = now()
             WHERE conversation_id IN (SELECT conversation_id FROM due) RETURNING conversation_id
         )
         INSERT INTO jobs (kind, payload, max_attempts)
         SELECT 'ai.reply', jsonb_build_object('conversation_id', conversation_id), $3 FROM marked",
    )
    .bind(quiet_ms as f64 / 1000.0)
    .bind(limit)
    .bind(max_attempts)
    .bind(max_wait_ms as f64 / 1000.0)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A conversation as an AI reply sees it.
#[derive(Debug, Clone, FromRow)]
pub struct Session {
    pub conversation_id: Uuid,
    pub ai_agent_id: Uuid,
    pub status: ConversationStatus,
    pub routing_state: RoutingState,
    pub turns: i32,
    pub greeted: bool,
    pub answered_through: Option<OffsetDateTime>,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub db_now: OffsetDateTime,
    /// The contact's language, if known.
    pub language: Option<String>,
    /// The number's language.
    pub number_language: Option<String>,
    pub customer_name: Option<String>,
}

pub async fn session(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<Option<Session>> {
    sqlx::query_as(
        "SELECT s.conversation_id, s.ai_agent_id, c.status, c.routing_state, s.turns, s.greeted, s.answered_through,
                c.last_inbound_at, now() AS db_now, k.language, n.language AS number_language,
                k.profile_name AS customer_name
         FROM ai_sessions s
         JOIN conversations c ON c.id = s.conversation_id
         JOIN contacts k ON k.id = c.contact_id
         JOIN whatsapp_numbers n ON n.id = c.number_id
         WHERE s.conversation_id = $1",
    )
    .bind(conversation)
    .fetch_optional(conn)
    .await
}

/// A message of the conversation as an AI agent reads it.
#[derive(Debug, Clone, FromRow)]
pub struct Said {
    pub inbound: bool,
    pub body: Option<String>,
    /// The button the customer tapped, when they did.
    pub button_text: Option<String>,
    pub attachments: i32,
    /// `automation->>'kind'` of an automated message (`ai_agent` for AI replies).
    pub automation_kind: Option<String>,
    pub author_label: Option<String>,
    pub created_at: OffsetDateTime,
}

/// The last `limit` messages of the conversation, oldest first.
pub async fn history(conn: &mut PgConnection, conversation: Uuid, limit: i64) -> sqlx::Result<Vec<Said>> {
    let mut rows: Vec<Said> = sqlx::query_as(
        "SELECT direction = 'inbound' AS inbound, body, button_text, num_media AS attachments,
                automation->>'kind' AS automation_kind, author_label, created_at
         FROM messages WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(conversation)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// The customer's messages after `after` (all of them when `None`), oldest first.
pub async fn unanswered(
    conn: &mut PgConnection,
    conversation: Uuid,
    after: Option<OffsetDateTime>,
) -> sqlx::Result<Vec<Said>> {
    sqlx::query_as(
        "SELECT true AS inbound, body, button_text, num_media AS attachments, NULL::text AS automation_kind,
                NULL::text AS author_label, created_at
         FROM messages
         WHERE conversation_id = $1 AND direction = 'inbound' AND ($2::timestamptz IS NULL OR created_at > $2)
         ORDER BY created_at, id LIMIT 50",
    )
    .bind(conversation)
    .bind(after)
    .fetch_all(conn)
    .await
}

/// Records that the reply (or decision) answered the customer up to `through`, if nobody answered since the
/// reply began (`before`: the `answered_through` it started from); frees the conversation for its next reply.
/// Returns false when another reply got there first (this one must not be sent).
pub async fn answered(
    conn: &mut PgConnection,
    conversation: Uuid,
    before: Option<OffsetDateTime>,
    through: Option<OffsetDateTime>,
    replied: bool,
    greeted: bool,
) -> sqlx::Result<bool> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "UPDATE ai_sessions SET answered_through = $3, reply_queued_at = NULL, turns = turns + $4::int,
                greeted = greeted OR $5
         WHERE conversation_id = $1 AND answered_through IS NOT DISTINCT FROM $2
         RETURNING conversation_id",
    )
    .bind(conversation)
    .bind(before)
    .bind(through)
    .bind(i32::from(replied))
    .bind(greeted)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Frees the conversation for its next reply without answering (the reply found nothing to do, or failed).
pub async fn release<'e>(db: impl sqlx::PgExecutor<'e>, conversation: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE ai_sessions SET reply_queued_at = NULL WHERE conversation_id = $1")
        .bind(conversation)
        .execute(db)
        .await?;
    Ok(())
}

/// One decision of an AI agent, for reports and token accounting.
#[derive(Debug, Clone, Default)]
pub struct TurnRecord<'a> {
    pub outcome: &'a str,
    pub reason: Option<&'a str>,
    pub knowledge_index: Option<i32>,
    pub confidence: Option<f32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub latency_ms: i32,
}

pub async fn record_turn(
    conn: &mut PgConnection,
    conversation: Uuid,
    agent: Uuid,
    t: &TurnRecord<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ai_turns (id, conversation_id, ai_agent_id, outcome, reason, knowledge_index, confidence,
                               prompt_tokens, completion_tokens, latency_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(Uuid::now_v7())
    .bind(conversation)
    .bind(agent)
    .bind(t.outcome)
    .bind(t.reason)
    .bind(t.knowledge_index)
    .bind(t.confidence)
    .bind(t.prompt_tokens)
    .bind(t.completion_tokens)
    .bind(t.latency_ms)
    .execute(conn)
    .await?;
    Ok(())
}
