//! What the reports job reads to rebuild conversations' facts and writes back, and the folding of the message
//! counts (src/reports/job.rs runs it).

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// The conversations whose facts must be rebuilt: up to `limit` entries taken off the list in this transaction
/// (entries another process holds are skipped; a change committed meanwhile lists the conversation again), each
/// conversation once, in order, and locked for this transaction against another process rebuilding it at the
/// same time (locks taken in id order, so two rebuilds never wait for each other in a circle). The entries are
/// deleted by their row address (`ctid = ANY(ARRAY(…))`, a TID scan): `ctid IN (…)` joined the claimed entries
/// to the whole list, which grows under load.
pub async fn claim_dirty(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "WITH taken AS (
             DELETE FROM report_dirty
             WHERE ctid = ANY(ARRAY(SELECT ctid FROM report_dirty FOR UPDATE SKIP LOCKED LIMIT $1))
             RETURNING conversation_id)
         SELECT DISTINCT conversation_id FROM taken ORDER BY 1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    // The same conversations' other entries too (one rebuild covers them), skipping any another process holds.
    sqlx::query(
        "DELETE FROM report_dirty WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM report_dirty WHERE conversation_id = ANY($1) FOR UPDATE SKIP LOCKED))",
    )
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock($2, hashtext(id::text)) FROM (SELECT unnest($1::uuid[]) AS id ORDER BY 1) ids",
    )
    .bind(&ids)
    .bind(REBUILD_LOCKS)
    .execute(&mut *conn)
    .await?;
    Ok(ids)
}

/// The advisory-lock class of a conversation's rebuild (the second key is the conversation's hash).
const REBUILD_LOCKS: i32 = 0x5245_5054; // "REPT"

#[derive(Debug, FromRow)]
pub struct Head {
    pub id: Uuid,
    pub created_at: OffsetDateTime,
    pub number_id: Uuid,
    pub channel_id: Uuid,
    pub number_hours_id: Option<Uuid>,
}

/// The conversations' heads, each looked up by its key (see [`happenings`]).
pub async fn heads(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Head>> {
    sqlx::query_as(
        "SELECT h.* FROM unnest($1::uuid[]) AS k(id) CROSS JOIN LATERAL (
             SELECT c.id, c.created_at, c.number_id, n.channel_id, n.business_hours_id AS number_hours_id
             FROM conversations c JOIN whatsapp_numbers n ON n.id = c.number_id WHERE c.id = k.id OFFSET 0
         ) h",
    )
    .bind(ids)
    .persistent(false)
    .fetch_all(conn)
    .await
}

/// What happened in the conversations, in the order it happened: timeline events, the customers' messages and
/// the messages people wrote, surveys sent and rated. `kind` is the event's kind, or `customer`, `person`,
/// `survey_sent`, `survey_rated`.
#[derive(Debug, FromRow)]
pub struct Happening {
    pub conversation_id: Uuid,
    pub at: OffsetDateTime,
    pub kind: String,
    pub actor_type: Option<String>,
    pub actor_id: Option<Uuid>,
    pub data: Option<Json<Value>>,
    pub rating: Option<i16>,
}

/// Read conversation by conversation (a lateral subquery the planner cannot flatten), and planned at each call:
/// with `= ANY($1)` a young database's planner, which has no statistics yet, takes a few hundred ids to match
/// the whole table and reads all of it; and a plan kept from the database's first minutes (PostgreSQL's generic
/// plan, kept until the tables' statistics change) reads whole tables once per conversation.
pub async fn happenings(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Happening>> {
    sqlx::query_as(
        "SELECT k.id AS conversation_id, h.at, h.kind, h.actor_type, h.actor_id, h.data, h.rating
         FROM unnest($1::uuid[]) AS k(id) CROSS JOIN LATERAL (
             SELECT created_at AS at, 1 AS source, id AS seq, kind, actor_type, actor_id, data, NULL::smallint AS rating
             FROM conversation_events WHERE conversation_id = k.id
             UNION ALL
             SELECT created_at, 0, 0, CASE WHEN direction = 'inbound' THEN 'customer' ELSE 'person' END,
                    NULL, author_user_id, NULL, NULL
             FROM messages WHERE conversation_id = k.id AND (direction = 'inbound' OR author_user_id IS NOT NULL)
             UNION ALL
             SELECT created_at, 2, 0, 'survey_sent', NULL, NULL, NULL, NULL
             FROM csat_surveys WHERE conversation_id = k.id AND state <> 'skipped'
             UNION ALL
             SELECT rated_at, 2, 1, 'survey_rated', NULL, NULL, NULL, rating
             FROM csat_surveys WHERE conversation_id = k.id AND rating IS NOT NULL AND rated_at IS NOT NULL
             OFFSET 0
         ) h ORDER BY k.id, h.at, h.source, h.seq",
    )
    .bind(ids)
    .persistent(false)
    .fetch_all(conn)
    .await
}

/// A schedule and a queue's SLA targets, as the facts are measured against them.
#[derive(Debug, FromRow)]
pub struct QueueRules {
    pub id: Uuid,
    pub sla_first_response_minutes: Option<i32>,
    pub sla_resolution_hours: Option<i32>,
    pub business_hours_id: Option<Uuid>,
}

pub async fn queue_rules(conn: &mut PgConnection) -> sqlx::Result<Vec<QueueRules>> {
    sqlx::query_as("SELECT id, sla_first_response_minutes, sla_resolution_hours, business_hours_id FROM queues")
        .fetch_all(conn)
        .await
}

/// One fact, as stored.
#[derive(Debug)]
pub struct NewFact {
    pub conversation_id: Uuid,
    pub metric: &'static str,
    pub at: OffsetDateTime,
    pub number_id: Uuid,
    pub channel_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub secs: Option<i64>,
    pub business_secs: Option<i64>,
    pub value: Option<i16>,
    pub reason: Option<String>,
    pub sla_met: Option<bool>,
}

/// Replaces the facts of these conversations with `facts`.
pub async fn replace_facts(conn: &mut PgConnection, ids: &[Uuid], facts: &[NewFact]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM report_facts WHERE conversation_id = ANY($1)").bind(ids).execute(&mut *conn).await?;
    for chunk in facts.chunks(1000) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO report_facts (conversation_id, metric, at, number_id, channel_id, queue_id, agent_id, secs,
                                       business_secs, value, reason, sla_met) ",
        );
        q.push_values(chunk, |mut row, f| {
            row.push_bind(f.conversation_id)
                .push_bind(f.metric)
                .push_bind(f.at)
                .push_bind(f.number_id)
                .push_bind(f.channel_id)
                .push_bind(f.queue_id)
                .push_bind(f.agent_id)
                .push_bind(f.secs)
                .push_bind(f.business_secs)
                .push_bind(f.value)
                .push_bind(&f.reason)
                .push_bind(f.sla_met);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Folds the message counts written since the last fold into the 15-minute totals; the rows folded are gone in
/// the same transaction, so two processes folding at once count each once.
pub async fn fold_message_counts(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "WITH d AS (DELETE FROM report_message_deltas RETURNING *)
         INSERT INTO report_message_counts (bucket, number_id, queue_id, agent_id, author, n)
         SELECT bucket, number_id, queue_id, agent_id, author, sum(n) FROM d GROUP BY 1, 2, 3, 4, 5
         ON CONFLICT (bucket, number_id, queue_id, agent_id, author)
         DO UPDATE SET n = report_message_counts.n + EXCLUDED.n",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Every business-hours schedule, to measure facts against.
pub async fn schedules(conn: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, crate::domain::business_hours::Schedule)>> {
    let rows: Vec<(Uuid, String, Json<Value>, Json<Value>)> =
        sqlx::query_as("SELECT id, time_zone, weekly, holidays FROM business_hours").fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, time_zone, weekly, holidays)| {
            let weekly = serde_json::from_value(weekly.0).ok()?;
            let holidays = serde_json::from_value(holidays.0).ok()?;
            Some((id, crate::domain::business_hours::Schedule { time_zone, weekly, holidays }))
        })
        .collect())
}
