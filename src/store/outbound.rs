//! Outbound messages: the queued row and its send job written together, what the sender reads, and recording
//! Twilio's answer together with the end of the job.

use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

pub const SEND_KIND: &str = "message.send";

pub struct NewOutbound<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub account_id: Uuid,
    /// The text, or a template's text with its variables filled in (what the agent sees in the thread).
    pub body: &'a str,
    pub author_user_id: Option<Uuid>,
    pub author_label: &'a str,
    pub template_id: Option<Uuid>,
    pub content_sid: Option<&'a str>,
    pub content_variables: Option<&'a Value>,
    /// In order; each becomes an attachment of the message.
    pub upload_ids: &'a [Uuid],
    pub max_attempts: i32,
    /// The automation that sent it (`{"kind": …, "rule_id": …}`), if one did.
    pub automation: Option<&'a Value>,
    /// The customer's message this one answers (shown quoted in the thread).
    pub quoted_message_id: Option<Uuid>,
}

/// The message (`queued`), its attachments and its send job, in one statement on the caller's transaction. A
/// message without attachments (most, and every automated one) is written by [`insert_many`], which skips the
/// attachments' sub-statement, whose executor start-up would be paid on every run.
pub async fn insert(conn: &mut PgConnection, m: &NewOutbound<'_>) -> sqlx::Result<()> {
    if m.upload_ids.is_empty() {
        return insert_many(conn, std::slice::from_ref(m)).await;
    }
    sqlx::query(
        "WITH message AS (
             INSERT INTO messages (id, conversation_id, account_id, direction, body, status, status_updated_at,
                                   num_media, author_user_id, author_label, template_id, content_sid,
                                   content_variables, automation, quoted_message_id)
             VALUES ($1, $2, $3, 'outbound', $4, 'queued', now(), cardinality($10::uuid[]), $5, $6, $7, $8, $9, $13,
                     $14)
             RETURNING id
         ), attachment AS (
             INSERT INTO attachments (id, message_id, position, content_type, size_bytes, storage_path, filename,
                                      sha256, download_state, upload_id)
             SELECT gen_random_uuid(), message.id, (u.ord - 1)::smallint, up.content_type, up.size_bytes,
                    up.storage_path, up.filename, up.sha256, 'downloaded', up.id
             FROM message, unnest($10::uuid[]) WITH ORDINALITY AS u(id, ord) JOIN uploads up ON up.id = u.id
         )
         INSERT INTO jobs (kind, payload, max_attempts)
         SELECT $11, jsonb_build_object('message_id', message.id), $12 FROM message",
    )
    .bind(m.id)
    .bind(m.conversation_id)
    .bind(m.account_id)
    .bind(m.body)
    .bind(m.author_user_id)
    .bind(m.author_label)
    .bind(m.template_id)
    .bind(m.content_sid)
    .bind(m.content_variables)
    .bind(m.upload_ids)
    .bind(SEND_KIND)
    .bind(m.max_attempts)
    .bind(m.automation)
    .bind(m.quoted_message_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Messages without attachments (a batch of an automation's texts, or one message), with their send jobs
/// (queued in the given order), in one statement.
pub async fn insert_many(conn: &mut PgConnection, messages: &[NewOutbound<'_>]) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    debug_assert!(messages.iter().all(|m| m.upload_ids.is_empty()));
    fn column<'m, 'a: 'm, T>(messages: &'m [NewOutbound<'a>], f: impl Fn(&'m NewOutbound<'a>) -> T) -> Vec<T> {
        messages.iter().map(f).collect()
    }
    sqlx::query(
        "WITH message AS (
             INSERT INTO messages (id, conversation_id, account_id, direction, body, status, status_updated_at,
                                   num_media, author_user_id, author_label, template_id, content_sid,
                                   content_variables, automation, quoted_message_id)
             SELECT m.id, m.conversation_id, m.account_id, 'outbound', m.body, 'queued', now(), 0, m.author_user_id,
                    m.author_label, m.template_id, m.content_sid, m.content_variables, m.automation,
                    m.quoted_message_id
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::uuid[],
                         $8::text[], $9::jsonb[], $10::jsonb[], $13::uuid[])
                  AS m(id, conversation_id, account_id, body, author_user_id, author_label, template_id, content_sid,
                       content_variables, automation, quoted_message_id)
             RETURNING id
         )
         INSERT INTO jobs (kind, payload, max_attempts)
         SELECT $11, jsonb_build_object('message_id', message.id), m.max_attempts
         FROM message JOIN unnest($1::uuid[], $12::int4[]) WITH ORDINALITY AS m(id, max_attempts, ord) ON m.id = message.id
         ORDER BY m.ord",
    )
    .bind(column(messages, |m| m.id))
    .bind(column(messages, |m| m.conversation_id))
    .bind(column(messages, |m| m.account_id))
    .bind(column(messages, |m| m.body))
    .bind(column(messages, |m| m.author_user_id))
    .bind(column(messages, |m| m.author_label))
    .bind(column(messages, |m| m.template_id))
    .bind(column(messages, |m| m.content_sid))
    .bind(column(messages, |m| m.content_variables))
    .bind(column(messages, |m| m.automation))
    .bind(SEND_KIND)
    .bind(column(messages, |m| m.max_attempts))
    .bind(column(messages, |m| m.quoted_message_id))
    .execute(conn)
    .await?;
    Ok(())
}

/// Everything one send needs.
#[derive(Debug, Clone, FromRow)]
pub struct SendContext {
    pub id: Uuid,
    pub status: String,
    pub twilio_sid: Option<String>,
    pub body: String,
    pub content_sid: Option<String>,
    pub content_variables: Option<String>,
    pub channel_id: Uuid,
    pub from_e164: String,
    pub to_e164: Option<String>,
    /// The customer's business-scoped user id, for a customer WhatsApp shows without a phone number.
    pub to_bsuid: Option<String>,
    pub messaging_service_sid: Option<String>,
    #[sqlx(flatten)]
    pub account: super::channels::AccountRecord,
    pub media_tokens: Vec<String>,
    pub media_filenames: Vec<String>,
    /// An earlier message of the conversation is still waiting to be handed to Twilio (see [`ORDER_WAIT`]).
    pub behind_earlier: bool,
}

/// How long a message waits for the earlier messages of its conversation to be handed to Twilio first (an AI
/// reply split in parts, an agent's quick messages): sends are ordered per conversation, but a message whose
/// predecessor keeps failing is not held back for longer than this after it was queued.
pub const ORDER_WAIT: &str = "2 minutes";

/// Whether message `m` must wait for an earlier one ([`SendContext::behind_earlier`]); `$2` is [`ORDER_WAIT`].
const BEHIND_EARLIER: &str = "m.created_at > now() - $2::interval AND EXISTS (
        SELECT 1 FROM messages e
        WHERE e.conversation_id = m.conversation_id AND e.created_at <= m.created_at
          AND (e.created_at, e.id) < (m.created_at, m.id)
          AND e.direction = 'outbound' AND e.status = 'queued' AND e.twilio_sid IS NULL
    )";

static SEND_CONTEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT m.id, m.status, m.twilio_sid, m.body, m.content_sid, m.content_variables::text AS content_variables,
                c.channel_id, n.e164 AS from_e164, k.phone_e164 AS to_e164, k.bsuid AS to_bsuid,
                ch.messaging_service_sid,
                a.account_sid, a.auth_token, a.api_key_sid, a.api_key_secret, a.sandbox,
                COALESCE(media.tokens, '{{}}') AS media_tokens, COALESCE(media.filenames, '{{}}') AS media_filenames,
                {BEHIND_EARLIER} AS behind_earlier
         FROM messages m
         JOIN conversations c ON c.id = m.conversation_id
         JOIN whatsapp_numbers n ON n.id = c.number_id
         JOIN contacts k ON k.id = c.contact_id
         JOIN channels ch ON ch.id = c.channel_id
         JOIN twilio_accounts a ON a.id = m.account_id
         LEFT JOIN LATERAL (
             SELECT array_agg(u.token ORDER BY at.position) AS tokens,
                    array_agg(u.filename ORDER BY at.position) AS filenames
             FROM attachments at JOIN uploads u ON u.id = at.upload_id
             WHERE at.message_id = m.id
         ) media ON true
         WHERE m.id = $1 AND m.direction = 'outbound'"
    )
});

pub async fn send_context(pool: &PgPool, message_id: Uuid) -> sqlx::Result<Option<SendContext>> {
    sqlx::query_as(SEND_CONTEXT.as_str()).bind(message_id).bind(ORDER_WAIT).fetch_optional(pool).await
}

static IS_BEHIND_EARLIER: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {BEHIND_EARLIER} FROM messages m WHERE m.id = $1"));

/// Whether the message still waits for an earlier message of its conversation (see [`ORDER_WAIT`]).
pub async fn behind_earlier(pool: &PgPool, message_id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar(IS_BEHIND_EARLIER.as_str())
        .bind(message_id)
        .bind(ORDER_WAIT)
        .fetch_optional(pool)
        .await?
        .unwrap_or(false))
}

/// Twilio's SID for a message, and the job that sent it.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub message_id: Uuid,
    pub sid: String,
    pub job_id: i64,
    pub worker: String,
}

/// Records the SIDs Twilio gave the messages and ends their jobs, in one statement: the moment this commits the
/// messages can no longer be sent twice.
pub async fn record_accepted(pool: &PgPool, rows: &[Accepted]) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.message_id).collect();
    let sids: Vec<&str> = rows.iter().map(|r| r.sid.as_str()).collect();
    let jobs: Vec<i64> = rows.iter().map(|r| r.job_id).collect();
    let workers: Vec<&str> = rows.iter().map(|r| r.worker.as_str()).collect();
    let mut tx = pool.begin().await?;
    // Under the SIDs' locks: a status callback that came first is kept until now, then applied below.
    super::statuses::lock_sids(&mut tx, &sids).await?;
    sqlx::query(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[]) AS t(message_id, sid, job_id, worker)
         ), done AS (
             DELETE FROM jobs j USING input i WHERE j.id = i.job_id AND j.locked_by = i.worker
         )
         UPDATE messages m SET twilio_sid = i.sid, status_updated_at = now() FROM input i WHERE m.id = i.message_id",
    )
    .bind(&ids)
    .bind(&sids)
    .bind(&jobs)
    .bind(&workers)
    .execute(&mut *tx)
    .await?;
    let early = super::statuses::apply_early_statuses(&mut tx, &sids).await?;
    tx.commit().await?;
    if early > 0 {
        tracing::info!(statuses = early, "status callbacks that arrived before their SID was recorded applied");
    }
    Ok(())
}

/// Marks a message that Twilio never took as failed, with Twilio's code (if there was one) and a reason.
pub async fn mark_failed(pool: &PgPool, message_id: Uuid, code: Option<i32>, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE messages SET status = 'failed', error_code = $2, error_message = $3, status_updated_at = now()
         WHERE id = $1 AND twilio_sid IS NULL AND status = 'queued'",
    )
    .bind(message_id)
    .bind(code)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes the sender's next send slot at `interval` spacing and says how long to wait for it. Slots are handed
/// out in one row per sender, so every server process shares one pace.
pub async fn reserve_slot(pool: &PgPool, sender: &str, interval: Duration) -> sqlx::Result<Duration> {
    let wait: f64 = sqlx::query_scalar(
        "INSERT INTO send_rate AS r (sender, next_slot) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
         ON CONFLICT (sender) DO UPDATE
             SET next_slot = GREATEST(r.next_slot, clock_timestamp()) + make_interval(secs => $2)
         RETURNING GREATEST(EXTRACT(EPOCH FROM (r.next_slot - clock_timestamp()))::float8 - $2, 0)",
    )
    .bind(sender)
    .bind(interval.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(Duration::from_secs_f64(wait))
}

/// A message someone asks to send again, locked (two retries of one message wait for each other).
#[derive(Debug, Clone, FromRow)]
pub struct RetrySource {
    pub id: Uuid,
    pub direction: String,
    pub status: String,
    pub body: String,
    pub template_id: Option<Uuid>,
    pub content_variables: Option<Value>,
    /// The uploads of its attachments, in order.
    pub upload_ids: Vec<Uuid>,
    /// Attachments without an upload to send again from (none for messages sent through the API).
    pub lost_files: i64,
    /// The message that already retried it, if any.
    pub retried_by: Option<Uuid>,
}

pub async fn lock_for_retry(
    conn: &mut PgConnection,
    conversation: Uuid,
    message: Uuid,
) -> sqlx::Result<Option<RetrySource>> {
    // The lock first, then the read in a statement of its own: its snapshot is taken after the lock was granted,
    // so it sees the retry a concurrent caller committed while this one waited.
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM messages WHERE id = $2 AND conversation_id = $1 FOR UPDATE")
            .bind(conversation)
            .bind(message)
            .fetch_optional(&mut *conn)
            .await?;
    if found.is_none() {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT m.id, m.direction, m.status, m.body, m.template_id, m.content_variables,
                ARRAY(SELECT a.upload_id FROM attachments a WHERE a.message_id = m.id AND a.upload_id IS NOT NULL
                      ORDER BY a.position) AS upload_ids,
                (SELECT count(*) FROM attachments a WHERE a.message_id = m.id AND a.upload_id IS NULL) AS lost_files,
                (SELECT r.id FROM messages r WHERE r.retry_of = m.id) AS retried_by
         FROM messages m WHERE m.id = $2 AND m.conversation_id = $1",
    )
    .bind(conversation)
    .bind(message)
    .fetch_optional(conn)
    .await
}

/// Marks `retry` as the new attempt at `original` (unique: a message is retried once).
pub async fn link_retry(conn: &mut PgConnection, retry: Uuid, original: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET retry_of = $2 WHERE id = $1").bind(retry).bind(original).execute(conn).await?;
    Ok(())
}
