//! Conversations as the router sees them: claimed or locked with everything a decision needs, agents taken
//! under the capacity guard, and the placement written with its timeline events in one statement.

use super::super::audit::Actor;
use crate::domain::routing::Candidate;
use crate::domain::{ConversationStatus, RoutingState};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use std::sync::LazyLock;
use time::OffsetDateTime;
use uuid::Uuid;

/// Wakes every process's router (delivered at commit).
pub const CHANNEL: &str = "switchboard_routing";

/// Everything routing needs about a conversation.
#[derive(Debug, Clone, FromRow)]
pub struct Routable {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub contact_id: Uuid,
    pub communication_type: crate::domain::routing::CommunicationType,
    /// `open`, `pending` or `resolved`.
    pub status: ConversationStatus,
    pub routing_state: RoutingState,
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
    /// The contact is blocked: the conversation is offered to nobody.
    pub blocked: bool,
    /// `routing_config.version` as this statement saw it.
    pub config_version: i64,
}

const ROUTABLE: &str =
    "SELECT c.id, c.channel_id, c.number_id, c.contact_id, c.communication_type, c.status, c.routing_state,
        c.queue_id, c.assignee_id, c.ai_done, COALESCE(k.language, n.language) AS language, k.attributes, k.tags,
        m.body AS first_text, m.button_payload AS first_button_payload,
        p.id IS NOT NULL AS returning, p.assignee_id AS last_agent_id, k.blocked_at IS NOT NULL AS blocked,
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
///
/// A router (`any_presence` false) never waits for an agent's row: one that another transaction holds is busy
/// for that moment and is skipped (as conversations are), so routers never wait on each other and cannot be in
/// a lock cycle (two routers taking agents in opposite orders once deadlocked, and a resolve's load update with
/// them). A person's action (`any_presence` true) waits, and the API runs it again if PostgreSQL aborts it.
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
    let sql = if any_presence { &TAKE_WAITING } else { &TAKE_SKIPPING };
    sqlx::query_scalar(sql.as_str()).bind(agent).bind(any_presence).bind(turn_in).fetch_one(conn).await
}

/// The take, in one statement: the agent's row updated under its guard, and their turn in a round-robin queue.
/// `{LOCK}`: nothing (a person's action waits for the agent's row) or `FOR UPDATE SKIP LOCKED` (a router
/// skips it if another transaction holds it).
const TAKE: &str = "WITH free AS (SELECT id FROM users WHERE id = $1 {LOCK}), taken AS (
             UPDATE users SET last_assigned_at = now()
             WHERE id IN (SELECT id FROM free) AND active AND deactivated_at IS NULL AND load < capacity
               AND ($2 OR presence = 'online')
             RETURNING id
         ), turn AS (
             UPDATE queue_members SET last_assigned_at = now()
             WHERE queue_id = $3 AND user_id IN (SELECT id FROM taken)
         )
         SELECT EXISTS (SELECT 1 FROM taken)";

/// [`TAKE`] for a person's action (waits for the agent's row) and for a router (skips it if held).
static TAKE_WAITING: LazyLock<String> = LazyLock::new(|| TAKE.replace("{LOCK}", ""));
static TAKE_SKIPPING: LazyLock<String> = LazyLock::new(|| TAKE.replace("{LOCK}", "FOR UPDATE SKIP LOCKED"));

/// Where a conversation ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Assigned {
        agent: Uuid,
        queue: Option<Uuid>,
    },
    Waiting {
        queue: Option<Uuid>,
        agent: Option<Uuid>,
    },
    /// The AI agent with this id owns it.
    Ai(Uuid),
    Unowned,
    /// The contact is blocked: nobody owns it.
    Blocked,
}

/// A new customer's conversation placed by the inbound write itself (decided by `routing::place::opening`): no
/// owner, or an AI agent, which take nobody's capacity. The write stores it with the conversation, so the router
/// never claims it; see `store::messages` for when the write applies it and when it stores the conversation
/// `unrouted` instead.
#[derive(Debug, Clone)]
pub struct Opening {
    /// The AI agent that owns it (with a session, `pending`); `None`: nobody does (`unowned`, `open`).
    pub ai_agent: Option<Uuid>,
    /// The rule that decided, if one did.
    pub rule: Option<Uuid>,
    /// Its timeline events, in order, written as `actor`.
    pub events: Vec<(&'static str, Value)>,
    pub actor: Actor,
}

impl Opening {
    pub fn state(&self) -> RoutingState {
        if self.ai_agent.is_some() {
            RoutingState::Ai
        } else {
            RoutingState::Unowned
        }
    }
}

/// Writes a conversation's new owner and its timeline events, in one statement. Entering a queue (or starting
/// to wait for an agent) starts its wait clock. The AI agent's conversations are `pending`, with a session that
/// names the AI agent (`ai_sessions`); leaving the AI agent makes them `open` and marks the AI agent done with
/// them (its rules no longer apply).
///
/// The conversation is updated once per transaction on purpose: a second update of a row this transaction
/// already updated makes PostgreSQL check its foreign keys again, and the check of `contact_id` waits for the
/// contact's row, which an inbound batch holds (its upsert) while it waits for this conversation: a deadlock
/// (BENCHMARKS.md, "AI agents"). That is why leaving the AI agent is marked here, not by a separate update.
pub async fn write_placement(
    conn: &mut PgConnection,
    id: Uuid,
    p: Placement,
    rule: Option<Uuid>,
    actor: &Actor,
    events: &[(&str, Value)],
) -> sqlx::Result<()> {
    write_placements(conn, &[Settled { conversation: id, placement: p, rule, events }], actor).await
}

/// A conversation's placement, ready to be written: the rule that chose it and its timeline events in order.
#[derive(Debug)]
pub struct Settled<'a> {
    pub conversation: Uuid,
    pub placement: Placement,
    pub rule: Option<Uuid>,
    pub events: &'a [(&'a str, Value)],
}

/// [`write_placement`] for many conversations in one statement (the router writes a claimed batch this way,
/// so the batch's row locks are held for one round trip instead of one per conversation, and an inbound batch
/// that touches one of them waits that long only). Each conversation appears once; a placement that took an
/// agent must be written before the next take (see [`take_agent`]).
///
/// The statement is planned at each call rather than prepared once per connection: a plan kept from a young
/// database's first minutes (PostgreSQL's generic plan, made once and kept until the table's statistics change)
/// joins the batch to every conversation through a sequential scan however large the table grows. Planned with
/// the batch and the table's current size in hand, it turns to key lookups once the table is large enough for
/// them to cost less (with batches of about 80, past some 50,000 conversations: BENCHMARKS.md).
pub async fn write_placements(conn: &mut PgConnection, settled: &[Settled<'_>], actor: &Actor) -> sqlx::Result<()> {
    if settled.is_empty() {
        return Ok(());
    }
    let columns: Vec<Columns> = settled.iter().map(|s| Columns::of(s.placement)).collect();
    let column = |f: fn(&Columns) -> Option<Uuid>| columns.iter().map(f).collect::<Vec<_>>();
    let events = || settled.iter().flat_map(|s| s.events.iter().map(move |(kind, data)| (s.conversation, *kind, data)));
    sqlx::query(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[])
                 AS i(id, state, assignee, queue, waiting_agent, rule, ai_agent)
         ), placed AS (
             UPDATE conversations c SET routing_state = i.state, assignee_id = i.assignee, queue_id = i.queue,
                    waiting_agent_id = i.waiting_agent,
                    queued_at = CASE WHEN i.state = 'waiting' THEN now() END,
                    assigned_at = CASE WHEN i.state = 'assigned' THEN now() ELSE c.assigned_at END,
                    status = CASE WHEN i.state = 'ai' THEN 'pending' WHEN c.status = 'pending' THEN 'open' ELSE c.status END,
                    ai_done = c.ai_done OR (c.routing_state = 'ai' AND i.state <> 'ai'),
                    routing_rule_id = COALESCE(i.rule, c.routing_rule_id), updated_at = now()
             FROM input i WHERE c.id = i.id RETURNING c.id
         ), session AS (
             INSERT INTO ai_sessions (conversation_id, ai_agent_id)
             SELECT i.id, i.ai_agent FROM input i JOIN placed ON placed.id = i.id WHERE i.ai_agent IS NOT NULL
             ON CONFLICT (conversation_id) DO UPDATE SET ai_agent_id = EXCLUDED.ai_agent_id, reply_queued_at = NULL
         )
         INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_id, actor_label, data)
         SELECT e.conversation_id, e.kind, $11, $12, $13, e.data
         FROM unnest($8::uuid[], $9::text[], $10::jsonb[]) WITH ORDINALITY AS e(conversation_id, kind, data, ord)
         JOIN placed ON placed.id = e.conversation_id
         ORDER BY e.ord",
    )
    .bind(settled.iter().map(|s| s.conversation).collect::<Vec<_>>())
    .bind(columns.iter().map(|c| c.state.as_str()).collect::<Vec<_>>())
    .bind(column(|c| c.assignee))
    .bind(column(|c| c.queue))
    .bind(column(|c| c.waiting_agent))
    .bind(settled.iter().map(|s| s.rule).collect::<Vec<_>>())
    .bind(column(|c| c.ai_agent))
    .bind(events().map(|(id, _, _)| id).collect::<Vec<_>>())
    .bind(events().map(|(_, kind, _)| kind).collect::<Vec<_>>())
    .bind(events().map(|(_, _, data)| data).collect::<Vec<_>>())
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .persistent(false)
    .execute(conn)
    .await?;
    Ok(())
}

/// A placement as the conversation's columns hold it.
struct Columns {
    state: RoutingState,
    assignee: Option<Uuid>,
    queue: Option<Uuid>,
    waiting_agent: Option<Uuid>,
    ai_agent: Option<Uuid>,
}

impl Columns {
    fn of(p: Placement) -> Self {
        let (state, assignee, queue, waiting_agent, ai_agent) = match p {
            Placement::Assigned { agent, queue } => (RoutingState::Assigned, Some(agent), queue, None, None),
            Placement::Waiting { queue, agent } => (RoutingState::Waiting, None, queue, agent, None),
            Placement::Ai(ai) => (RoutingState::Ai, None, None, None, Some(ai)),
            Placement::Unowned => (RoutingState::Unowned, None, None, None, None),
            Placement::Blocked => (RoutingState::Blocked, None, None, None, None),
        };
        Self { state, assignee, queue, waiting_agent, ai_agent }
    }
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
