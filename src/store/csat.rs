//! CSAT surveys: the job a resolve inserts, the survey rows, the customer's answer stored with the resolved
//! conversation it rates (which stays resolved), and the list supervisors read.

use super::listing::{Keyed, Listing, UUID_ID};
use crate::domain::inbound::InboundMessage;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

pub const SURVEY_KIND: &str = "csat.survey";

/// In the resolve's transaction: the survey job, when the conversation's number has CSAT on. The key names
/// this resolve (its moment), so a conversation resolved, reopened and resolved again is asked twice.
pub async fn enqueue(
    conn: &mut PgConnection,
    conversation: Uuid,
    resolver: Option<Uuid>,
    attempts: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO jobs (kind, payload, max_attempts)
         SELECT $1, jsonb_build_object('conversation_id', c.id, 'agent_id', COALESCE($3, c.assignee_id),
                                       'key', to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS')), $4
         FROM conversations c JOIN whatsapp_numbers n ON n.id = c.number_id
         WHERE c.id = $2 AND n.csat_enabled",
    )
    .bind(SURVEY_KIND)
    .bind(conversation)
    .bind(resolver)
    .bind(attempts)
    .execute(conn)
    .await?;
    Ok(())
}

/// What sending a survey needs to know about the conversation.
#[derive(Debug, Clone, FromRow)]
pub struct SurveyTarget {
    pub conversation_id: Uuid,
    pub number_id: Uuid,
    pub channel_id: Uuid,
    pub contact_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub customer_language: Option<String>,
    pub number_language: Option<String>,
    pub csat_enabled: bool,
    pub window_open: bool,
}

pub async fn target(conn: &mut PgConnection, conversation: Uuid) -> sqlx::Result<Option<SurveyTarget>> {
    sqlx::query_as(
        "SELECT c.id AS conversation_id, c.number_id, c.channel_id, c.contact_id, c.queue_id,
                k.language AS customer_language, n.language AS number_language, n.csat_enabled,
                COALESCE(c.last_inbound_at > now() - interval '24 hours', false) AS window_open
         FROM conversations c JOIN contacts k ON k.id = c.contact_id JOIN whatsapp_numbers n ON n.id = c.number_id
         WHERE c.id = $1",
    )
    .bind(conversation)
    .fetch_optional(conn)
    .await
}

/// A survey to record: sent (with its message) or skipped (with the reason).
pub struct NewSurvey<'a> {
    pub target: &'a SurveyTarget,
    pub agent_id: Option<Uuid>,
    pub sent: Result<Uuid, &'a str>,
    pub scale: i16,
    pub validity_hours: u32,
}

/// Records a survey; a sent one replaces the customer's earlier open survey on the number (expired).
pub async fn insert(conn: &mut PgConnection, s: &NewSurvey<'_>) -> sqlx::Result<Uuid> {
    let t = s.target;
    if s.sent.is_ok() {
        sqlx::query(
            "UPDATE csat_surveys SET state = 'expired' WHERE number_id = $1 AND contact_id = $2 AND state IN ('sent', 'rated')",
        )
        .bind(t.number_id)
        .bind(t.contact_id)
        .execute(&mut *conn)
        .await?;
    }
    let id = Uuid::now_v7();
    let (state, message, reason) = match s.sent {
        Ok(m) => ("sent", Some(m), None),
        Err(r) => ("skipped", None, Some(r)),
    };
    sqlx::query(
        "INSERT INTO csat_surveys (id, conversation_id, number_id, contact_id, agent_id, queue_id, state, skip_reason,
                                   scale, message_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(hours => $11))",
    )
    .bind(id)
    .bind(t.conversation_id)
    .bind(t.number_id)
    .bind(t.contact_id)
    .bind(s.agent_id)
    .bind(t.queue_id)
    .bind(state)
    .bind(reason)
    .bind(s.scale)
    .bind(message)
    .bind(s.validity_hours as i32)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The customer's open survey on a number, found by the address they write from.
#[derive(Debug, Clone, FromRow)]
pub struct OpenSurvey {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    /// `sent` (waiting for a rating) or `rated` (waiting for an optional comment).
    pub state: String,
    pub scale: i16,
    pub expired: bool,
    /// Seconds since the rating, when rated.
    pub rated_secs_ago: Option<f64>,
    /// The customer has another conversation open on the number (a bare digit then belongs to it).
    pub other_open: bool,
    pub customer_language: Option<String>,
    pub number_language: Option<String>,
}

pub async fn open_for(
    conn: &mut PgConnection,
    number: Uuid,
    phone: Option<&str>,
    bsuid: Option<&str>,
    lock: bool,
) -> sqlx::Result<Option<OpenSurvey>> {
    sqlx::query_as(&format!(
        "SELECT s.id, s.conversation_id, s.contact_id, s.state, s.scale, s.expires_at <= now() AS expired,
                EXTRACT(EPOCH FROM now() - s.rated_at)::float8 AS rated_secs_ago,
                EXISTS (SELECT 1 FROM conversations o WHERE o.number_id = s.number_id AND o.contact_id = s.contact_id
                                                        AND o.status <> 'resolved') AS other_open,
                k.language AS customer_language, n.language AS number_language
         FROM csat_surveys s JOIN contacts k ON k.id = s.contact_id JOIN whatsapp_numbers n ON n.id = s.number_id
         WHERE s.number_id = $1 AND s.state IN ('sent', 'rated')
           AND (k.phone_e164 = $2 OR (k.bsuid = $3 AND $2 IS NULL))
         {}",
        if lock { "FOR UPDATE OF s" } else { "" }
    ))
    .bind(number)
    .bind(phone)
    .bind(bsuid)
    .fetch_optional(conn)
    .await
}

/// Ends a survey without an answer (or after its rating, without a comment).
pub async fn close(conn: &mut PgConnection, id: Uuid, state: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE csat_surveys SET state = $2 WHERE id = $1").bind(id).bind(state).execute(conn).await?;
    Ok(())
}

pub async fn rate(conn: &mut PgConnection, id: Uuid, rating: u8, comment: Option<&str>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE csat_surveys SET rating = $2, comment = $3, rated_at = now(),
                state = CASE WHEN $3 IS NULL THEN 'rated' ELSE 'done' END
         WHERE id = $1",
    )
    .bind(id)
    .bind(i16::from(rating))
    .bind(comment)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn comment(conn: &mut PgConnection, id: Uuid, text: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE csat_surveys SET comment = left($2, 4096), state = 'done' WHERE id = $1")
        .bind(id)
        .bind(text)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores the customer's answer in the conversation it rates, which stays resolved (its window moves on, as any
/// message from the customer moves it). `None`: this MessageSid was stored before.
pub async fn store_answer(
    conn: &mut PgConnection,
    conversation: Uuid,
    account: Uuid,
    m: &InboundMessage,
    webhook_params: &Value,
) -> sqlx::Result<Option<Uuid>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status, status_updated_at,
                               message_type, num_media, button_text, button_payload, webhook_params)
         VALUES ($1, $2, $3, 'inbound', $4, $5, 'received', now(), $6, 0, $7, $8, $9)
         ON CONFLICT (account_id, twilio_sid) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(conversation)
    .bind(account)
    .bind(m.message_sid.as_str())
    .bind(&m.body)
    .bind(&m.message_type)
    .bind(&m.button_text)
    .bind(&m.button_payload)
    .bind(webhook_params)
    .fetch_optional(&mut *conn)
    .await?;
    if id.is_some() {
        sqlx::query("UPDATE conversations SET last_inbound_at = GREATEST(last_inbound_at, now()) WHERE id = $1")
            .bind(conversation)
            .execute(conn)
            .await?;
    }
    Ok(id)
}

/// Records that a number's survey content for a language exists at Twilio (the template holding its SID).
pub async fn set_content(conn: &mut PgConnection, number: Uuid, language: &str, template: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO number_automation (number_id, csat) VALUES ($1, jsonb_build_object('content', jsonb_build_object($2::text, $3::uuid)))
         ON CONFLICT (number_id) DO UPDATE SET
             csat = jsonb_set(number_automation.csat, '{content}',
                              COALESCE(number_automation.csat->'content', '{}') || jsonb_build_object($2::text, $3::uuid)),
             updated_at = now()",
    )
    .bind(number)
    .bind(language)
    .bind(template)
    .execute(conn)
    .await?;
    Ok(())
}

/// A survey as supervisors read it.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Survey {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    /// The agent who resolved the conversation (its agent when an automation or a token resolved it).
    pub agent_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    /// `sent`, `rated` (a comment may follow), `done`, `expired` (no answer in time) or `skipped` (not sent).
    pub state: String,
    /// Why it was not sent: `window_closed_no_template`, or the reason sending was refused.
    pub skip_reason: Option<String>,
    /// 5 (1–5) or 3 (faces, stored as 1, 3, 5).
    pub scale: i16,
    pub rating: Option<i16>,
    pub comment: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub rated_at: Option<OffsetDateTime>,
}

const COLUMNS: &str =
    "id, conversation_id, number_id, contact_id, agent_id, queue_id, state, skip_reason, scale, rating,
    comment, created_at, rated_at";

#[derive(Debug, Default)]
pub struct Filter {
    pub agent_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub number_id: Option<Uuid>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub rating: Option<i16>,
    pub state: Option<String>,
}

pub async fn list(pool: &PgPool, listing: &Listing, f: &Filter) -> sqlx::Result<Vec<Keyed<Survey>>> {
    let mut q = listing.select(COLUMNS, "csat_surveys", UUID_ID);
    if let Some(a) = f.agent_id {
        q.push(" AND agent_id = ").push_bind(a);
    }
    if let Some(v) = f.queue_id {
        q.push(" AND queue_id = ").push_bind(v);
    }
    if let Some(v) = f.number_id {
        q.push(" AND number_id = ").push_bind(v);
    }
    if let Some(v) = f.from {
        q.push(" AND created_at >= ").push_bind(v);
    }
    if let Some(v) = f.to {
        q.push(" AND created_at < ").push_bind(v);
    }
    if let Some(v) = f.rating {
        q.push(" AND rating = ").push_bind(v);
    }
    if let Some(v) = &f.state {
        q.push(" AND state = ").push_bind(v.clone());
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// Surveys past their validity with no rating are expired; rated ones past an hour without a comment are done.
pub async fn sweep(pool: &PgPool) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "UPDATE csat_surveys SET state = CASE WHEN state = 'sent' THEN 'expired' ELSE 'done' END
         WHERE (state = 'sent' AND expires_at <= now()) OR (state = 'rated' AND rated_at <= now() - interval '1 hour')",
    )
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}
