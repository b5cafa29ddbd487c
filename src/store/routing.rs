//! Routing's SQL: the configuration it caches, the conversations it places, the agents it takes under the
//! capacity guard, presence and live connections, the timeline, and the rules themselves.

use super::audit::Actor;
use crate::domain::business_hours::{Day, Holiday, Range};
use crate::routing::rules::{Condition, Rule, Target};
use crate::routing::select::Candidate;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Wakes every process's router (delivered at commit).
pub const CHANNEL: &str = "switchboard_routing";

pub async fn config_version(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT version FROM routing_config").fetch_one(conn).await
}

#[derive(FromRow)]
pub struct HoursRow {
    pub id: Uuid,
    pub time_zone: String,
    pub weekly: Json<BTreeMap<Day, Vec<Range>>>,
    pub holidays: Json<Vec<Holiday>>,
}

pub async fn all_hours(conn: &mut PgConnection) -> sqlx::Result<Vec<HoursRow>> {
    sqlx::query_as("SELECT id, time_zone, weekly, holidays FROM business_hours").fetch_all(conn).await
}

#[derive(FromRow)]
pub struct NumberRow {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub ai_agent_enabled: bool,
    pub default_queue_id: Option<Uuid>,
    pub business_hours_id: Option<Uuid>,
}

pub async fn all_numbers(conn: &mut PgConnection) -> sqlx::Result<Vec<NumberRow>> {
    sqlx::query_as("SELECT id, channel_id, ai_agent_enabled, default_queue_id, business_hours_id FROM whatsapp_numbers")
        .fetch_all(conn)
        .await
}

// ---- Rules ----------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct RuleRow {
    pub id: Uuid,
    pub name: String,
    /// The channel the rule belongs to; null: a global rule, checked after the channel's own.
    pub channel_id: Option<Uuid>,
    /// 1-based place among the rules of the same channel (or among the global rules).
    pub position: i32,
    pub enabled: bool,
    #[schema(value_type = Vec<Condition>)]
    pub conditions: Json<Vec<Condition>>,
    /// `queue`, `ai_agent` or `agent`.
    pub target_type: String,
    pub target_queue_id: Option<Uuid>,
    pub target_agent_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RuleRow {
    pub fn target(&self) -> Option<Target> {
        match (self.target_type.as_str(), self.target_queue_id, self.target_agent_id) {
            ("queue", Some(q), _) => Some(Target::Queue(q)),
            ("ai_agent", _, _) => Some(Target::AiAgent),
            ("agent", _, Some(a)) => Some(Target::Agent(a)),
            _ => None,
        }
    }

    pub fn compile(&self) -> Result<Rule, String> {
        let conditions = self
            .conditions
            .0
            .iter()
            .enumerate()
            .map(|(i, c)| c.compile(&format!("conditions[{i}]")).map_err(|e| format!("{}: {}", e.field, e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            id: self.id,
            name: self.name.clone(),
            channel_id: self.channel_id,
            enabled: self.enabled,
            conditions,
            target: self.target().ok_or("the rule has no target")?,
        })
    }
}

const RULE_COLUMNS: &str = "id, name, channel_id, position, enabled, conditions, target_type, target_queue_id,
    target_agent_id, created_at, updated_at";

/// Every rule in evaluation order: channel rules (grouped by channel) before global ones, each by position.
pub async fn all_rules(conn: &mut PgConnection) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM routing_rules ORDER BY channel_id IS NULL, channel_id, position, created_at"
    ))
    .fetch_all(conn)
    .await
}

pub async fn rules_of_scope(conn: &mut PgConnection, channel_id: Option<Uuid>) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM routing_rules WHERE channel_id IS NOT DISTINCT FROM $1 ORDER BY position, created_at"
    ))
    .bind(channel_id)
    .fetch_all(conn)
    .await
}

pub async fn find_rule(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RuleRow>> {
    sqlx::query_as(&format!("SELECT {RULE_COLUMNS} FROM routing_rules WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// What people set about a rule.
#[derive(Debug, Clone)]
pub struct RuleSettings {
    pub name: String,
    pub enabled: bool,
    pub conditions: Vec<Condition>,
    pub target: Target,
}

/// Binds a rule's settings (name, enabled, conditions, target type, queue, agent) after the parameters bound so far.
fn bind_settings<'q>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, RuleRow, sqlx::postgres::PgArguments>,
    s: &'q RuleSettings,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, RuleRow, sqlx::postgres::PgArguments> {
    let (kind, queue, agent) = match s.target {
        Target::Queue(q) => ("queue", Some(q), None),
        Target::AiAgent => ("ai_agent", None, None),
        Target::Agent(a) => ("agent", None, Some(a)),
    };
    q.bind(&s.name).bind(s.enabled).bind(Json(&s.conditions)).bind(kind).bind(queue).bind(agent)
}

/// Inserts a rule at `position` of its scope (1-based; past the end: last), moving later rules down. The
/// scope is locked first so concurrent inserts and reorders keep positions 1..n.
pub async fn insert_rule(
    conn: &mut PgConnection,
    channel_id: Option<Uuid>,
    position: Option<i32>,
    s: &RuleSettings,
) -> sqlx::Result<RuleRow> {
    lock_scope(&mut *conn, channel_id).await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM routing_rules WHERE channel_id IS NOT DISTINCT FROM $1")
        .bind(channel_id)
        .fetch_one(&mut *conn)
        .await?;
    let position = position.map(|p| i64::from(p.max(1)).min(count + 1)).unwrap_or(count + 1) as i32;
    sqlx::query(
        "UPDATE routing_rules SET position = position + 1 WHERE channel_id IS NOT DISTINCT FROM $1 AND position >= $2",
    )
    .bind(channel_id)
    .bind(position)
    .execute(&mut *conn)
    .await?;
    let sql = format!(
        "INSERT INTO routing_rules (id, channel_id, position, name, enabled, conditions, target_type, target_queue_id,
                                    target_agent_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {RULE_COLUMNS}"
    );
    bind_settings(sqlx::query_as(&sql).bind(Uuid::now_v7()).bind(channel_id).bind(position), s).fetch_one(conn).await
}

pub async fn update_rule(conn: &mut PgConnection, id: Uuid, s: &RuleSettings) -> sqlx::Result<RuleRow> {
    let sql = format!(
        "UPDATE routing_rules SET name = $2, enabled = $3, conditions = $4, target_type = $5, target_queue_id = $6,
                target_agent_id = $7, updated_at = now()
         WHERE id = $1 RETURNING {RULE_COLUMNS}"
    );
    bind_settings(sqlx::query_as(&sql).bind(id), s).fetch_one(conn).await
}

pub async fn delete_rule(conn: &mut PgConnection, rule: &RuleRow) -> sqlx::Result<()> {
    lock_scope(&mut *conn, rule.channel_id).await?;
    sqlx::query("DELETE FROM routing_rules WHERE id = $1").bind(rule.id).execute(&mut *conn).await?;
    sqlx::query(
        "UPDATE routing_rules SET position = position - 1 WHERE channel_id IS NOT DISTINCT FROM $1 AND position > $2",
    )
    .bind(rule.channel_id)
    .bind(rule.position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the order of a scope's rules: `ids` must be exactly its rules (checked by the caller under the lock).
pub async fn reorder_rules(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE routing_rules r SET position = o.position, updated_at = now()
         FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, position) WHERE r.id = o.id",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Serialises changes to the order of one scope's rules (a transaction-scoped advisory lock).
pub async fn lock_scope(conn: &mut PgConnection, channel_id: Option<Uuid>) -> sqlx::Result<()> {
    let key = format!("routing_rules:{}", channel_id.map(|c| c.to_string()).unwrap_or_default());
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(conn).await?;
    Ok(())
}

// ---- Conversations as the router sees them --------------------------------------------------------------------

/// Everything routing needs about a conversation.
#[derive(Debug, Clone, FromRow)]
pub struct Routable {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub communication_type: String,
    /// `open`, `pending` or `resolved`.
    pub status: String,
    pub routing_state: String,
    pub queue_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub ai_done: bool,
    pub language: Option<String>,
    pub attributes: Json<Map<String, Value>>,
    pub tags: Vec<String>,
    pub first_text: Option<String>,
    pub first_button_payload: Option<String>,
    pub returning: bool,
    /// The agent who held the customer's most recent earlier conversation.
    pub last_agent_id: Option<Uuid>,
    /// `routing_config.version` as this statement saw it.
    pub config_version: i64,
}

const ROUTABLE: &str =
    "SELECT c.id, c.channel_id, c.number_id, c.contact_id, c.communication_type, c.status, c.routing_state,
        c.queue_id, c.assignee_id, c.ai_done, COALESCE(k.language, n.language) AS language, k.attributes, k.tags,
        m.body AS first_text, m.button_payload AS first_button_payload,
        p.id IS NOT NULL AS returning, p.assignee_id AS last_agent_id,
        (SELECT version FROM routing_config) AS config_version
    FROM conversations c
    JOIN contacts k ON k.id = c.contact_id
    JOIN whatsapp_numbers n ON n.id = c.number_id
    LEFT JOIN LATERAL (
        SELECT body, button_payload FROM messages
        WHERE conversation_id = c.id AND direction = 'inbound' ORDER BY created_at LIMIT 1
    ) m ON true
    LEFT JOIN LATERAL (
        SELECT o.id, o.assignee_id FROM conversations o
        WHERE o.contact_id = c.contact_id AND o.id <> c.id AND o.created_at <= c.created_at
        ORDER BY o.created_at DESC LIMIT 1
    ) p ON true";

/// Takes up to `limit` conversations that need a routing decision (locked for this transaction; ones another
/// process holds are skipped) with everything routing needs about them, in one statement.
pub async fn claim_routable(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Routable>> {
    sqlx::query_as(&format!(
        "WITH claimed AS (
             SELECT id FROM conversations WHERE routing_state = 'unrouted' AND status <> 'resolved'
             ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         {ROUTABLE} WHERE c.id IN (SELECT id FROM claimed) ORDER BY c.created_at"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One conversation, locked for a change of owner, with everything routing needs; `None` if there is none.
pub async fn lock_routable(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Routable>> {
    sqlx::query_as(&format!("{ROUTABLE} WHERE c.id = $1 FOR UPDATE OF c")).bind(id).fetch_optional(conn).await
}

/// The members of a queue with what selection needs.
pub async fn candidates(conn: &mut PgConnection, queue_id: Uuid) -> sqlx::Result<Vec<Candidate>> {
    #[derive(FromRow)]
    struct Row {
        id: Uuid,
        available: bool,
        capacity: i32,
        load: i32,
        skills: Vec<String>,
        languages: Vec<String>,
        last_assigned_at: Option<OffsetDateTime>,
        turn_at: Option<OffsetDateTime>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.id, u.presence = 'online' AND u.active AND u.deactivated_at IS NULL AS available, u.capacity, u.load,
                u.skills, u.languages, u.last_assigned_at, m.last_assigned_at AS turn_at
         FROM queue_members m JOIN users u ON u.id = m.user_id WHERE m.queue_id = $1",
    )
    .bind(queue_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            id: r.id,
            available: r.available,
            capacity: r.capacity,
            load: r.load,
            skills: r.skills,
            languages: r.languages,
            last_assigned_at: r.last_assigned_at,
            turn_at: r.turn_at,
        })
        .collect())
}

/// Gives the agent one more conversation if they can take it: the row update re-checks presence (unless
/// `any_presence`), activity and `load < capacity` on the latest version of the row, under its lock, so
/// concurrent assignments by any process can never push an agent over capacity. The conversation's own
/// update (the trigger raises `load`) must follow in the same transaction.
pub async fn take_agent(conn: &mut PgConnection, agent: Uuid, any_presence: bool) -> sqlx::Result<bool> {
    take_agent_turn(conn, agent, any_presence, None).await
}

/// [`take_agent`], and when taken through a round-robin queue, records the member's turn in it (one statement).
pub async fn take_agent_turn(
    conn: &mut PgConnection,
    agent: Uuid,
    any_presence: bool,
    turn_in: Option<Uuid>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "WITH taken AS (
             UPDATE users SET last_assigned_at = now()
             WHERE id = $1 AND active AND deactivated_at IS NULL AND load < capacity AND ($2 OR presence = 'online')
             RETURNING id
         ), turn AS (
             UPDATE queue_members SET last_assigned_at = now()
             WHERE queue_id = $3 AND user_id IN (SELECT id FROM taken)
         )
         SELECT EXISTS (SELECT 1 FROM taken)",
    )
    .bind(agent)
    .bind(any_presence)
    .bind(turn_in)
    .fetch_one(conn)
    .await
}

/// Where a conversation ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Assigned { agent: Uuid, queue: Option<Uuid> },
    Waiting { queue: Option<Uuid>, agent: Option<Uuid> },
    Ai,
    Unowned,
}

/// Writes a conversation's new owner and its timeline events, in one statement. Entering a queue (or starting
/// to wait for an agent) starts its wait clock. The AI agent's conversations are `pending`; leaving the AI
/// agent makes them `open`.
pub async fn write_placement(
    conn: &mut PgConnection,
    id: Uuid,
    p: Placement,
    rule: Option<Uuid>,
    actor: &Actor,
    events: &[(&str, Value)],
) -> sqlx::Result<()> {
    let (state, assignee, queue, waiting_agent) = match p {
        Placement::Assigned { agent, queue } => ("assigned", Some(agent), queue, None),
        Placement::Waiting { queue, agent } => ("waiting", None, queue, agent),
        Placement::Ai => ("ai", None, None, None),
        Placement::Unowned => ("unowned", None, None, None),
    };
    let (kinds, data): (Vec<&str>, Vec<&Value>) = events.iter().map(|(k, d)| (*k, d)).unzip();
    sqlx::query(
        "WITH placed AS (
             UPDATE conversations SET routing_state = $2, assignee_id = $3, queue_id = $4, waiting_agent_id = $5,
                    queued_at = CASE WHEN $2 = 'waiting' THEN now() END,
                    assigned_at = CASE WHEN $2 = 'assigned' THEN now() ELSE assigned_at END,
                    status = CASE WHEN $2 = 'ai' THEN 'pending' WHEN status = 'pending' THEN 'open' ELSE status END,
                    routing_rule_id = COALESCE($6, routing_rule_id), updated_at = now()
             WHERE id = $1 RETURNING id
         )
         INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_id, actor_label, data)
         SELECT placed.id, e.kind, $9, $10, $11, e.data
         FROM placed, unnest($7::text[], $8::jsonb[]) WITH ORDINALITY AS e(kind, data, ord)
         ORDER BY e.ord",
    )
    .bind(id)
    .bind(state)
    .bind(assignee)
    .bind(queue)
    .bind(waiting_agent)
    .bind(rule)
    .bind(&kinds)
    .bind(&data)
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a conversation for (re)routing by the router.
pub async fn mark_unrouted(conn: &mut PgConnection, id: Uuid, ai_done: bool) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversations SET routing_state = 'unrouted', assignee_id = NULL, waiting_agent_id = NULL,
                queued_at = NULL, status = CASE WHEN status = 'pending' THEN 'open' ELSE status END,
                ai_done = ai_done OR $2, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(ai_done)
    .execute(conn)
    .await?;
    Ok(())
}

/// Wakes every router once this transaction commits.
pub async fn wake_routers(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(conn).await?;
    Ok(())
}

/// A waiting conversation, as the dispatcher offers it.
#[derive(Debug, Clone, FromRow)]
pub struct Waiting {
    pub id: Uuid,
    pub number_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub waiting_agent_id: Option<Uuid>,
    pub language: Option<String>,
    pub last_agent_id: Option<Uuid>,
    pub waited_secs: f64,
}

/// The queues (and agents) that have conversations waiting, in the order their waits are served.
pub async fn waiting_queues(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT DISTINCT queue_id FROM conversations
         WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await
}

const WAITING: &str =
    "SELECT c.id, c.number_id, c.queue_id, c.waiting_agent_id, COALESCE(k.language, n.language) AS language,
        (SELECT o.assignee_id FROM conversations o WHERE o.contact_id = c.contact_id AND o.id <> c.id
         ORDER BY o.created_at DESC LIMIT 1) AS last_agent_id,
        EXTRACT(EPOCH FROM now() - c.queued_at)::float8 AS waited_secs
    FROM conversations c
    JOIN contacts k ON k.id = c.contact_id
    JOIN whatsapp_numbers n ON n.id = c.number_id";

/// Up to `limit` conversations waiting in `queue`, highest priority then longest wait first, locked; ones
/// another process holds are skipped.
pub async fn lock_waiting_in(conn: &mut PgConnection, queue: Uuid, limit: i64) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(&format!(
        "{WAITING} WHERE c.id IN (
             SELECT id FROM conversations
             WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id = $1
             ORDER BY priority DESC, queued_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         ORDER BY c.priority DESC, c.queued_at"
    ))
    .bind(queue)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Up to `limit` conversations that have waited in `queue` longer than `secs`, oldest first, locked.
pub async fn lock_overdue_in(
    conn: &mut PgConnection,
    queue: Uuid,
    secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(&format!(
        "{WAITING} WHERE c.id IN (
             SELECT id FROM conversations
             WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id = $1
               AND queued_at < now() - make_interval(secs => $2)
             ORDER BY queued_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         ORDER BY c.queued_at"
    ))
    .bind(queue)
    .bind(secs)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Conversations waiting for a named agent, oldest first, locked.
pub async fn lock_waiting_for_agents(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(&format!(
        "{WAITING} WHERE c.id IN (
             SELECT id FROM conversations
             WHERE routing_state = 'waiting' AND status <> 'resolved' AND queue_id IS NULL AND waiting_agent_id IS NOT NULL
             ORDER BY priority DESC, queued_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         ORDER BY c.priority DESC, c.queued_at"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}

// ---- Presence and live connections ---------------------------------------------------------------------------

/// Sets an agent's presence; returns the previous one (`None`: no such active user).
pub async fn set_presence(conn: &mut PgConnection, user: Uuid, presence: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE users u SET presence = $2, presence_changed_at = now()
         FROM (SELECT id, presence FROM users WHERE id = $1 FOR UPDATE) old
         WHERE u.id = old.id RETURNING old.presence",
    )
    .bind(user)
    .bind(presence)
    .fetch_optional(conn)
    .await
}

/// The queues an agent is a member of and the numbers they serve.
pub async fn memberships(pool: &PgPool, user: Uuid) -> sqlx::Result<(Vec<Uuid>, Vec<Uuid>)> {
    sqlx::query_as(
        "SELECT ARRAY(SELECT queue_id FROM queue_members WHERE user_id = $1),
                ARRAY(SELECT number_id FROM number_members WHERE user_id = $1)",
    )
    .bind(user)
    .fetch_one(pool)
    .await
}

pub async fn open_connection(pool: &PgPool, id: Uuid, user: Uuid, worker: &str) -> sqlx::Result<()> {
    sqlx::query(
        "WITH c AS (INSERT INTO agent_connections (id, user_id, worker_id) VALUES ($1, $2, $3))
         UPDATE users SET disconnected_at = NULL WHERE id = $2",
    )
    .bind(id)
    .bind(user)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a closed connection; the agent's grace period starts if it was their last.
pub async fn close_connection(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM agent_connections WHERE id = $1 RETURNING user_id)
         UPDATE users SET disconnected_at = now()
         WHERE id IN (SELECT user_id FROM gone)
           AND NOT EXISTS (SELECT 1 FROM agent_connections a WHERE a.user_id = users.id AND a.id <> $1)",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Connections held by processes that stopped beating are closed; agents whose last connection closed more than
/// `grace` ago go offline. Returns the agents set offline.
pub async fn sweep_presence(pool: &PgPool, grace_secs: f64, worker_timeout_secs: f64) -> sqlx::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "WITH dead AS (
             DELETE FROM agent_connections
             WHERE worker_id NOT IN (SELECT id FROM job_workers WHERE heartbeat_at > now() - make_interval(secs => $1))
               AND opened_at < now() - make_interval(secs => $1)
             RETURNING user_id)
         UPDATE users SET disconnected_at = now()
         WHERE id IN (SELECT user_id FROM dead)
           AND NOT EXISTS (SELECT 1 FROM agent_connections a WHERE a.user_id = users.id)",
    )
    .bind(worker_timeout_secs)
    .execute(&mut *tx)
    .await?;
    let gone: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE users SET presence = 'offline', presence_changed_at = now()
         WHERE presence <> 'offline' AND disconnected_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM agent_connections a WHERE a.user_id = users.id)
         RETURNING id",
    )
    .bind(grace_secs)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(gone)
}

// ---- Timeline --------------------------------------------------------------------------------------------------

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

// ---- Overview ----------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct QueueLoad {
    pub id: Uuid,
    pub name: String,
    /// Conversations waiting in the queue.
    pub waiting: i64,
    /// How long the longest-waiting one has waited, in seconds (0 when none waits).
    pub longest_wait_secs: i64,
    /// Open conversations of this queue held by an agent.
    pub assigned: i64,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AgentLoad {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    /// `online`, `away` or `offline`.
    pub presence: String,
    #[serde(with = "time::serde::rfc3339")]
    pub presence_changed_at: time::OffsetDateTime,
    /// Open conversations held.
    pub load: i32,
    pub capacity: i32,
}

pub async fn overview(pool: &PgPool) -> sqlx::Result<(Vec<QueueLoad>, Vec<AgentLoad>, i64)> {
    let queues = sqlx::query_as(
        "SELECT q.id, q.name,
                count(c.id) FILTER (WHERE c.routing_state = 'waiting') AS waiting,
                COALESCE(EXTRACT(EPOCH FROM now() - min(c.queued_at) FILTER (WHERE c.routing_state = 'waiting')), 0)::bigint
                    AS longest_wait_secs,
                count(c.id) FILTER (WHERE c.routing_state = 'assigned') AS assigned
         FROM queues q LEFT JOIN conversations c ON c.queue_id = q.id AND c.status <> 'resolved'
         WHERE q.deleted_at IS NULL GROUP BY q.id ORDER BY lower(q.name), q.id",
    )
    .fetch_all(pool)
    .await?;
    let agents = sqlx::query_as(
        "SELECT id, name, email, role, presence, presence_changed_at, load, capacity FROM users WHERE active
         ORDER BY lower(name), id",
    )
    .fetch_all(pool)
    .await?;
    let unowned = sqlx::query_scalar(
        "SELECT count(*) FROM conversations WHERE routing_state = 'unowned' AND status <> 'resolved'",
    )
    .fetch_one(pool)
    .await?;
    Ok((queues, agents, unowned))
}
