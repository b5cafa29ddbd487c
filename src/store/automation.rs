//! Automations: their settings per number and queue, the auto-reply rules, the inbound messages waiting to be
//! looked at, and the keys that make every automated message exactly once ([`claim_run`], [`claim_cooldown`]).

use crate::domain::automation::{Action, CsatSettings, Kind};
use crate::domain::routing::Condition;
use crate::domain::ConversationStatus;
use crate::store::ordered::{self, RuleTable};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a number's automations say (besides `greeting_text` and `csat_enabled`, kept on the number).
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct NumberAutomation {
    pub number_id: Uuid,
    /// The greeting as a template or interactive content instead of the number's `greeting_text`.
    pub greeting_template_id: Option<Uuid>,
    /// The greeting content's variables; values may use `{{customer_name}}` and `{{number_name}}`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub greeting_variables: Json<BTreeMap<String, String>>,
    /// Sent once per closed period when a customer writes while business hours are closed.
    pub out_of_hours_text: Option<String>,
    /// No out-of-hours message when a person replied in the conversation this many minutes ago or less.
    pub out_of_hours_quiet_minutes: i32,
    /// The reply to media when the number does not accept customers' attachments (null: a built-in sentence).
    pub attachments_refused_text: Option<String>,
    #[schema(value_type = CsatSettings)]
    pub csat: Json<CsatSettings>,
    /// A conversation nobody wrote in for this many minutes is resolved (null: never). A queue's own setting
    /// applies to conversations in or from the queue.
    pub auto_resolve_after_minutes: Option<i32>,
    /// Sent to the customer as the conversation is auto-resolved, while their 24-hour window is open (null: none).
    pub auto_resolve_text: Option<String>,
}

const NUMBER_COLUMNS: &str = "n.id AS number_id, a.greeting_template_id,
    COALESCE(a.greeting_variables, '{}') AS greeting_variables, a.out_of_hours_text,
    COALESCE(a.out_of_hours_quiet_minutes, 30) AS out_of_hours_quiet_minutes, a.attachments_refused_text,
    COALESCE(a.csat, '{}') AS csat, a.auto_resolve_after_minutes, a.auto_resolve_text";

/// A number's automation settings (the defaults when none were set); `None` for an unknown number.
pub async fn number_settings(conn: &mut PgConnection, number: Uuid) -> sqlx::Result<Option<NumberAutomation>> {
    sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM whatsapp_numbers n LEFT JOIN number_automation a ON a.number_id = n.id
         WHERE n.id = $1 AND n.deleted_at IS NULL"
    ))
    .bind(number)
    .fetch_optional(conn)
    .await
}

pub async fn all_number_settings(conn: &mut PgConnection) -> sqlx::Result<Vec<NumberAutomation>> {
    sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM whatsapp_numbers n JOIN number_automation a ON a.number_id = n.id"
    ))
    .fetch_all(conn)
    .await
}

pub async fn put_number_settings(conn: &mut PgConnection, s: &NumberAutomation) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO number_automation (number_id, greeting_template_id, greeting_variables, out_of_hours_text,
                                        out_of_hours_quiet_minutes, attachments_refused_text, csat,
                                        auto_resolve_after_minutes, auto_resolve_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (number_id) DO UPDATE SET greeting_template_id = $2, greeting_variables = $3,
             out_of_hours_text = $4, out_of_hours_quiet_minutes = $5, attachments_refused_text = $6, csat = $7,
             auto_resolve_after_minutes = $8, auto_resolve_text = $9, updated_at = now()",
    )
    .bind(s.number_id)
    .bind(s.greeting_template_id)
    .bind(&s.greeting_variables)
    .bind(&s.out_of_hours_text)
    .bind(s.out_of_hours_quiet_minutes)
    .bind(&s.attachments_refused_text)
    .bind(&s.csat)
    .bind(s.auto_resolve_after_minutes)
    .bind(&s.auto_resolve_text)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a queue's automations say.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct QueueAutomation {
    pub queue_id: Uuid,
    /// Sent instead of the number's out-of-hours text while the queue's business hours are closed.
    pub out_of_hours_text: Option<String>,
    /// Sent while a conversation waits in the queue; `{{position}}` and `{{estimated_wait}}` are filled in.
    pub waiting_notice_text: Option<String>,
    /// At most one notice per conversation in this many minutes.
    pub waiting_notice_every_minutes: i32,
    /// At most this many notices per wait.
    pub waiting_notice_max: i32,
    /// Overrides the number's auto-resolve for conversations in or from the queue (null: the number's).
    pub auto_resolve_after_minutes: Option<i32>,
    /// Overrides the number's closing message (null: the number's).
    pub auto_resolve_text: Option<String>,
}

const QUEUE_COLUMNS: &str = "q.id AS queue_id, a.out_of_hours_text, a.waiting_notice_text,
    COALESCE(a.waiting_notice_every_minutes, 5) AS waiting_notice_every_minutes,
    COALESCE(a.waiting_notice_max, 3) AS waiting_notice_max, a.auto_resolve_after_minutes, a.auto_resolve_text";

pub async fn queue_settings(conn: &mut PgConnection, queue: Uuid) -> sqlx::Result<Option<QueueAutomation>> {
    sqlx::query_as(&format!(
        "SELECT {QUEUE_COLUMNS} FROM queues q LEFT JOIN queue_automation a ON a.queue_id = q.id
         WHERE q.id = $1 AND q.deleted_at IS NULL"
    ))
    .bind(queue)
    .fetch_optional(conn)
    .await
}

pub async fn all_queue_settings(conn: &mut PgConnection) -> sqlx::Result<Vec<QueueAutomation>> {
    sqlx::query_as(&format!("SELECT {QUEUE_COLUMNS} FROM queues q JOIN queue_automation a ON a.queue_id = q.id"))
        .fetch_all(conn)
        .await
}

pub async fn put_queue_settings(conn: &mut PgConnection, s: &QueueAutomation) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO queue_automation (queue_id, out_of_hours_text, waiting_notice_text, waiting_notice_every_minutes,
                                       waiting_notice_max, auto_resolve_after_minutes, auto_resolve_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (queue_id) DO UPDATE SET out_of_hours_text = $2, waiting_notice_text = $3,
             waiting_notice_every_minutes = $4, waiting_notice_max = $5, auto_resolve_after_minutes = $6,
             auto_resolve_text = $7, updated_at = now()",
    )
    .bind(s.queue_id)
    .bind(&s.out_of_hours_text)
    .bind(&s.waiting_notice_text)
    .bind(s.waiting_notice_every_minutes)
    .bind(s.waiting_notice_max)
    .bind(s.auto_resolve_after_minutes)
    .bind(&s.auto_resolve_text)
    .execute(conn)
    .await?;
    Ok(())
}

/// An auto-reply rule as stored.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AutoRuleRow {
    pub id: Uuid,
    pub name: String,
    /// The channel whose messages it looks at; null: every channel (after the channel's own rules).
    pub channel_id: Option<Uuid>,
    /// 1-based place among the rules of the same channel (or among the global rules).
    pub position: i32,
    pub enabled: bool,
    /// Routing's conditions, on the inbound message; all must hold (none: every message).
    #[schema(value_type = Vec<Condition>)]
    pub conditions: Json<Vec<Condition>>,
    /// Done in order when the rule fires.
    #[schema(value_type = Vec<Action>)]
    pub actions: Json<Vec<Action>>,
    /// Fires at most once per contact in this many seconds; null: on every matching message.
    pub cooldown_secs: Option<i32>,
    /// No later rule is evaluated once this one fired.
    pub stop_after: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const RULE_COLUMNS: &str =
    "id, name, channel_id, position, enabled, conditions, actions, cooldown_secs, stop_after, created_at, updated_at";

/// What people set about an auto-reply rule.
#[derive(Debug, Clone)]
pub struct AutoRuleSettings {
    pub name: String,
    pub enabled: bool,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub cooldown_secs: Option<i32>,
    pub stop_after: bool,
}

/// Every rule in evaluation order: channel rules (grouped by channel) before global ones, each by position.
pub async fn all_rules(conn: &mut PgConnection) -> sqlx::Result<Vec<AutoRuleRow>> {
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM automation_rules ORDER BY channel_id IS NULL, channel_id, position, created_at"
    ))
    .fetch_all(conn)
    .await
}

pub async fn rules_of_scope(conn: &mut PgConnection, channel_id: Option<Uuid>) -> sqlx::Result<Vec<AutoRuleRow>> {
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM automation_rules WHERE channel_id IS NOT DISTINCT FROM $1 ORDER BY position, created_at"
    ))
    .bind(channel_id)
    .fetch_all(conn)
    .await
}

pub async fn find_rule(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AutoRuleRow>> {
    sqlx::query_as(&format!("SELECT {RULE_COLUMNS} FROM automation_rules WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Inserts a rule at `position` of its scope (1-based; past the end: last), moving later rules down.
pub async fn insert_rule(
    conn: &mut PgConnection,
    channel_id: Option<Uuid>,
    position: Option<i32>,
    s: &AutoRuleSettings,
) -> sqlx::Result<AutoRuleRow> {
    let position = ordered::make_room(&mut *conn, RuleTable::Automation, channel_id, position).await?;
    sqlx::query_as(&format!(
        "INSERT INTO automation_rules (id, channel_id, position, name, enabled, conditions, actions, cooldown_secs,
                                       stop_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {RULE_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(channel_id)
    .bind(position)
    .bind(&s.name)
    .bind(s.enabled)
    .bind(Json(&s.conditions))
    .bind(Json(&s.actions))
    .bind(s.cooldown_secs)
    .bind(s.stop_after)
    .fetch_one(conn)
    .await
}

pub async fn update_rule(conn: &mut PgConnection, id: Uuid, s: &AutoRuleSettings) -> sqlx::Result<AutoRuleRow> {
    sqlx::query_as(&format!(
        "UPDATE automation_rules SET name = $2, enabled = $3, conditions = $4, actions = $5, cooldown_secs = $6,
                stop_after = $7, updated_at = now()
         WHERE id = $1 RETURNING {RULE_COLUMNS}"
    ))
    .bind(id)
    .bind(&s.name)
    .bind(s.enabled)
    .bind(Json(&s.conditions))
    .bind(Json(&s.actions))
    .bind(s.cooldown_secs)
    .bind(s.stop_after)
    .fetch_one(conn)
    .await
}

pub async fn delete_rule(conn: &mut PgConnection, rule: &AutoRuleRow) -> sqlx::Result<()> {
    ordered::delete(conn, RuleTable::Automation, rule.id, rule.channel_id, rule.position).await
}

/// Serialises work on one named thing across processes for the rest of the transaction (an advisory lock).
pub async fn lock_key(conn: &mut PgConnection, key: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("automation:{key}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// An inbound message the automations have not looked at, with what they decide on.
#[derive(Debug, Clone, FromRow)]
pub struct Pending {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub body: String,
    pub button_payload: Option<String>,
    /// Media came with it that the number does not accept.
    pub refused_media: bool,
    pub profile_name: Option<String>,
    pub language: Option<String>,
    pub attributes: Json<Map<String, Value>>,
    pub tags: Vec<String>,
    /// The contact had a conversation before this one.
    pub returning: bool,
    pub queue_id: Option<Uuid>,
    pub status: ConversationStatus,
    /// A person (or API token) wrote to the customer in this conversation.
    pub person_replied: bool,
    /// Seconds since the last message a person wrote in the conversation.
    pub person_replied_secs_ago: Option<f64>,
    /// The contact is blocked: only their STOP / START is acted on.
    pub contact_blocked: bool,
}

/// Takes up to `limit` inbound messages from the automations' inbox (oldest first), row-locked so that no other
/// process takes them. A message waits until its conversation is routed (so that the queue it went to is
/// known), or a minute at most when no router runs. The oldest entries are picked by the inbox's key alone,
/// before anything is joined, so a backlog does not make each batch slower than the last.
pub async fn claim_pending(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Pending>> {
    sqlx::query_as(
        "WITH claimed AS (
             SELECT message_id FROM automation_inbox ORDER BY message_id LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         SELECT x.* FROM claimed i CROSS JOIN LATERAL (
             SELECT m.id AS message_id, m.conversation_id, c.channel_id, c.number_id, c.contact_id, m.body,
                    m.button_payload, m.num_media > 0 AND EXISTS (
                        SELECT 1 FROM attachments a WHERE a.message_id = m.id AND a.download_state = 'refused'
                    ) AS refused_media,
                    k.profile_name, k.language, k.attributes, k.tags,
                    EXISTS (SELECT 1 FROM conversations o WHERE o.contact_id = c.contact_id AND o.id <> c.id
                                                            AND o.created_at < c.created_at) AS returning,
                    c.queue_id, c.status, person.at IS NOT NULL AS person_replied,
                    EXTRACT(EPOCH FROM now() - person.at)::float8 AS person_replied_secs_ago,
                    k.blocked_at IS NOT NULL AS contact_blocked
             FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             JOIN contacts k ON k.id = c.contact_id
             -- The last message a person wrote in the conversation (messages_person_idx holds only those).
             LEFT JOIN LATERAL (
                 SELECT o.created_at AS at FROM messages o
                 WHERE o.conversation_id = c.id AND o.direction = 'outbound' AND o.automation IS NULL
                 ORDER BY o.created_at DESC LIMIT 1
             ) person ON true
             WHERE m.id = i.message_id
               AND (c.routing_state <> 'unrouted' OR c.status = 'resolved' OR m.created_at < now() - interval '1 minute')
         ) x
         ORDER BY x.message_id",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The messages are looked at: out of the inbox.
pub async fn clear_pending(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM automation_inbox WHERE message_id = ANY($1)").bind(ids).execute(conn).await?;
    Ok(())
}

/// Records that the automation `kind` ran for `key` in the conversation; false when it ran before (in this or
/// another process: the second insert waits for the first transaction and then finds its row).
pub async fn claim_run(conn: &mut PgConnection, conversation: Uuid, kind: Kind, key: &str) -> sqlx::Result<bool> {
    let claimed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO automation_runs (conversation_id, kind, key) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING true",
    )
    .bind(conversation)
    .bind(kind.as_str())
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(claimed.unwrap_or(false))
}

/// [`claim_run`] for many keys in one statement; answers, in order, which were claimed now (a key given twice is
/// claimed by its first occurrence only).
pub async fn claim_runs(conn: &mut PgConnection, keys: &[(Uuid, Kind, &str)]) -> sqlx::Result<Vec<bool>> {
    let claimed: Vec<(Uuid, String, String)> = sqlx::query_as(
        "INSERT INTO automation_runs (conversation_id, kind, key)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
         ON CONFLICT DO NOTHING RETURNING conversation_id, kind, key",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    let mut fresh: std::collections::HashSet<(Uuid, &str, &str)> =
        claimed.iter().map(|(c, kind, key)| (*c, kind.as_str(), key.as_str())).collect();
    Ok(keys.iter().map(|(c, kind, key)| fresh.remove(&(*c, kind.as_str(), *key))).collect())
}

/// A conversation nobody wrote in for its number's or queue's auto-resolve time, locked.
#[derive(Debug, Clone, FromRow)]
pub struct Idle {
    pub conversation_id: Uuid,
    pub number_id: Uuid,
    pub profile_name: Option<String>,
    /// The closing message (the queue's, else the number's), if any.
    pub text: Option<String>,
    pub minutes: i32,
    /// When the silence began: the last message or the last change to the conversation (a reopen, a transfer),
    /// whichever is later.
    pub silent_since: OffsetDateTime,
}

/// Up to `limit` open or pending conversations silent (no message, no change) for their auto-resolve time (the queue's setting for
/// conversations in or from a queue that has one, else the number's), longest silent first, locked; ones another
/// process holds are skipped. Conversations still being routed, snoozed or resolved are not looked at.
pub async fn lock_idle(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Idle>> {
    sqlx::query_as(
        "SELECT c.id AS conversation_id, c.number_id, k.profile_name, s.text, s.minutes, l.silent_since
         FROM conversations c
         JOIN contacts k ON k.id = c.contact_id
         LEFT JOIN queue_automation qa ON qa.queue_id = c.queue_id
         LEFT JOIN number_automation na ON na.number_id = c.number_id
         CROSS JOIN LATERAL (
             SELECT COALESCE(qa.auto_resolve_after_minutes, na.auto_resolve_after_minutes) AS minutes,
                    CASE WHEN qa.auto_resolve_after_minutes IS NOT NULL
                         THEN COALESCE(qa.auto_resolve_text, na.auto_resolve_text)
                         ELSE na.auto_resolve_text END AS text) s
         CROSS JOIN LATERAL (
             SELECT GREATEST((SELECT m.created_at FROM messages m WHERE m.conversation_id = c.id
                              ORDER BY m.created_at DESC LIMIT 1), c.updated_at) AS silent_since) l
         WHERE c.status IN ('open', 'pending') AND c.routing_state <> 'unrouted' AND s.minutes IS NOT NULL
           AND l.silent_since < now() - make_interval(mins => s.minutes)
         ORDER BY l.silent_since LIMIT $1
         FOR UPDATE OF c SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Takes the rule's cooldown for the contact: true (and the clock restarts) when the rule last fired for them
/// at least `secs` ago or never.
pub async fn claim_cooldown(conn: &mut PgConnection, rule: Uuid, contact: Uuid, secs: i32) -> sqlx::Result<bool> {
    let claimed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO automation_cooldowns AS c (rule_id, contact_id, fired_at) VALUES ($1, $2, now())
         ON CONFLICT (rule_id, contact_id) DO UPDATE SET fired_at = now()
             WHERE c.fired_at <= now() - make_interval(secs => $3)
         RETURNING true",
    )
    .bind(rule)
    .bind(contact)
    .bind(f64::from(secs))
    .fetch_optional(conn)
    .await?;
    Ok(claimed.unwrap_or(false))
}

/// How many seconds ago each rule last fired for each of these contacts: `(contact, rule, seconds)`.
pub async fn cooldowns_of_many(conn: &mut PgConnection, contacts: &[Uuid]) -> sqlx::Result<Vec<(Uuid, Uuid, f64)>> {
    sqlx::query_as(
        "SELECT contact_id, rule_id, EXTRACT(EPOCH FROM now() - fired_at)::float8 FROM automation_cooldowns
         WHERE contact_id = ANY($1)",
    )
    .bind(contacts)
    .fetch_all(conn)
    .await
}

/// How many seconds ago each rule last fired for the contact.
pub async fn cooldowns_of(conn: &mut PgConnection, contact: Uuid) -> sqlx::Result<Vec<(Uuid, f64)>> {
    sqlx::query_as(
        "SELECT rule_id, EXTRACT(EPOCH FROM now() - fired_at)::float8 FROM automation_cooldowns WHERE contact_id = $1",
    )
    .bind(contact)
    .fetch_all(conn)
    .await
}

/// A conversation waiting in a queue that has a waiting notice, with its place in the queue.
#[derive(Debug, Clone, FromRow)]
pub struct WaitingNotice {
    pub conversation_id: Uuid,
    pub queue_id: Uuid,
    pub number_id: Uuid,
    pub profile_name: Option<String>,
    /// 1 for the next conversation to be offered.
    pub position: i64,
    pub waited_secs: f64,
    pub notices_sent: i64,
}

/// Waiting conversations due a notice: in a queue with a waiting notice, fewer than its maximum sent in this
/// wait, the last one at least its interval ago.
pub async fn due_waiting_notices(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<WaitingNotice>> {
    sqlx::query_as(
        "WITH waiting AS (
             SELECT c.id, c.queue_id, c.number_id, c.contact_id, c.queued_at,
                    row_number() OVER (PARTITION BY c.queue_id ORDER BY c.priority DESC, c.queued_at) AS position
             FROM conversations c JOIN queue_automation a ON a.queue_id = c.queue_id
             WHERE c.routing_state = 'waiting' AND c.status <> 'resolved' AND a.waiting_notice_text IS NOT NULL
         )
         SELECT w.id AS conversation_id, w.queue_id, w.number_id, k.profile_name, w.position,
                EXTRACT(EPOCH FROM now() - w.queued_at)::float8 AS waited_secs, sent.n AS notices_sent
         FROM waiting w
         JOIN queue_automation a ON a.queue_id = w.queue_id
         JOIN contacts k ON k.id = w.contact_id
         CROSS JOIN LATERAL (
             SELECT count(*) AS n, max(r.created_at) AS last FROM automation_runs r
             WHERE r.conversation_id = w.id AND r.kind = 'waiting_notice'
               AND r.key LIKE to_char(w.queued_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || ':%'
         ) sent
         WHERE sent.n < a.waiting_notice_max
           AND (sent.last IS NULL OR sent.last <= now() - make_interval(mins => a.waiting_notice_every_minutes))
         ORDER BY w.queued_at
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Locks the conversation if it still waits in `queue`; the key of its current wait (when it entered the
/// queue) comes back, so that notices count per wait.
pub async fn lock_still_waiting(conn: &mut PgConnection, id: Uuid, queue: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT to_char(queued_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') FROM conversations
         WHERE id = $1 AND queue_id = $2 AND routing_state = 'waiting' AND status <> 'resolved'
         FOR UPDATE SKIP LOCKED",
    )
    .bind(id)
    .bind(queue)
    .fetch_optional(conn)
    .await
}

/// What a queue's recent assignments say about its waits: assignments in the last hour, and the median wait
/// (queue entry to assignment) of its last 50 assignments within a day.
pub async fn recent_waits(conn: &mut PgConnection, queue: Uuid) -> sqlx::Result<(i64, Option<f64>)> {
    sqlx::query_as(
        "WITH recent AS (
             SELECT a.id, a.conversation_id, a.created_at FROM conversation_events a
             WHERE a.kind = 'assigned' AND a.created_at > now() - interval '1 day' AND a.data->>'queue_id' = $1::text
             ORDER BY a.id DESC LIMIT 50
         )
         SELECT (SELECT count(*) FROM recent WHERE created_at > now() - interval '1 hour'),
                (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM r.created_at - q.created_at))
                 FROM recent r
                 CROSS JOIN LATERAL (
                     SELECT created_at FROM conversation_events q
                     WHERE q.conversation_id = r.conversation_id AND q.kind = 'queued' AND q.id < r.id
                     ORDER BY q.id DESC LIMIT 1
                 ) q)::float8",
    )
    .bind(queue)
    .fetch_one(conn)
    .await
}
