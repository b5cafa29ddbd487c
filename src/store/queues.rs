//! Queues of human agents: members, assignment strategy, business hours, priority, overflow.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Queue {
    pub id: Uuid,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub settings: QueueSettings,
    pub member_ids: Vec<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

/// Everything about a queue that people set, except its members.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct QueueSettings {
    pub name: String,
    pub description: String,
    /// `least_loaded` or `round_robin`.
    pub strategy: String,
    /// Higher goes first when agents free up and several queues wait (-1000 to 1000).
    pub priority: i32,
    /// `messages`, `calls` or `both`.
    pub communication_type: String,
    /// None: always open.
    pub business_hours_id: Option<Uuid>,
    /// Out of hours: `wait` for the queue to open, or `route` to the out-of-hours queue or agent.
    pub outside_hours: String,
    pub outside_hours_queue_id: Option<Uuid>,
    pub outside_hours_agent_id: Option<Uuid>,
    /// A conversation waiting longer than this many seconds goes to the overflow queue or agent.
    pub overflow_after_secs: Option<i32>,
    pub overflow_queue_id: Option<Uuid>,
    pub overflow_agent_id: Option<Uuid>,
    /// Only agents with all these skills are eligible.
    pub required_skills: Vec<String>,
    /// Only agents who speak the conversation's language are eligible.
    pub match_language: bool,
    /// Offer a returning customer's conversation to their last agent first, when that agent is eligible.
    pub prefer_last_agent: bool,
    /// A conversation the queue's agent has not answered this many minutes after it was assigned to them goes
    /// back to the queue (offered to someone else first).
    pub acceptance_timeout_minutes: Option<i32>,
    /// After this many such misses in a row, the agent is set away.
    pub acceptance_misses_to_away: Option<i32>,
    /// The service-level target for a first response, in minutes (business hours where the queue has them).
    pub sla_first_response_minutes: Option<i32>,
    /// The service-level target for a resolution, in hours (business hours where the queue has them).
    pub sla_resolution_hours: Option<i32>,
    /// What a caller hears while waiting in the queue; null: the built-in default (never silence).
    #[sqlx(json(nullable))]
    pub waiting_strategy: Option<crate::domain::call_waiting::WaitingStrategy>,
}

const COLUMNS: &str = "id, name, description, strategy, priority, communication_type, business_hours_id, outside_hours,
    outside_hours_queue_id, outside_hours_agent_id, overflow_after_secs, overflow_queue_id, overflow_agent_id,
    required_skills, match_language, prefer_last_agent, acceptance_timeout_minutes, acceptance_misses_to_away,
    sla_first_response_minutes, sla_resolution_hours, waiting_strategy,
    ARRAY(SELECT m.user_id FROM queue_members m WHERE m.queue_id = queues.id ORDER BY m.added_at, m.user_id) AS member_ids,
    created_at, updated_at, deleted_at";

const SET: &str = "name = $2, description = $3, strategy = $4, priority = $5, communication_type = $6,
    business_hours_id = $7, outside_hours = $8, outside_hours_queue_id = $9, outside_hours_agent_id = $10,
    overflow_after_secs = $11, overflow_queue_id = $12, overflow_agent_id = $13, required_skills = $14,
    match_language = $15, prefer_last_agent = $16, acceptance_timeout_minutes = $17, acceptance_misses_to_away = $18,
    sla_first_response_minutes = $19, sla_resolution_hours = $20, waiting_strategy = $21";

fn bind_settings<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    s: &'q QueueSettings,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(&s.name)
        .bind(&s.description)
        .bind(&s.strategy)
        .bind(s.priority)
        .bind(&s.communication_type)
        .bind(s.business_hours_id)
        .bind(&s.outside_hours)
        .bind(s.outside_hours_queue_id)
        .bind(s.outside_hours_agent_id)
        .bind(s.overflow_after_secs)
        .bind(s.overflow_queue_id)
        .bind(s.overflow_agent_id)
        .bind(&s.required_skills)
        .bind(s.match_language)
        .bind(s.prefer_last_agent)
        .bind(s.acceptance_timeout_minutes)
        .bind(s.acceptance_misses_to_away)
        .bind(s.sla_first_response_minutes)
        .bind(s.sla_resolution_hours)
        .bind(s.waiting_strategy.as_ref().map(sqlx::types::Json))
}

/// Inserts a queue (members are set separately) and returns its id.
pub async fn insert(conn: &mut PgConnection, s: &QueueSettings) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let sql = "INSERT INTO queues (id, name, description, strategy, priority, communication_type, business_hours_id,
            outside_hours, outside_hours_queue_id, outside_hours_agent_id, overflow_after_secs, overflow_queue_id,
            overflow_agent_id, required_skills, match_language, prefer_last_agent, acceptance_timeout_minutes,
            acceptance_misses_to_away, sla_first_response_minutes, sla_resolution_hours, waiting_strategy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";
    bind_settings(sqlx::query(sql).bind(id), s).execute(conn).await?;
    Ok(id)
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &QueueSettings) -> sqlx::Result<()> {
    let sql = format!("UPDATE queues SET {SET}, updated_at = now() WHERE id = $1");
    bind_settings(sqlx::query(&sql).bind(id), s).execute(conn).await?;
    Ok(())
}

/// Every queue, deleted ones included (routing still names them in old conversations).
pub async fn all(conn: &mut PgConnection) -> sqlx::Result<Vec<Queue>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM queues")).fetch_all(conn).await
}

/// The queue, unless deleted.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Queue>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM queues WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn is_live(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM queues WHERE id = $1 AND deleted_at IS NULL)")
        .bind(id)
        .fetch_one(conn)
        .await
}

pub async fn is_member(conn: &mut PgConnection, queue_id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM queue_members WHERE queue_id = $1 AND user_id = $2)")
        .bind(queue_id)
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// Replaces a queue's members.
pub async fn set_members(conn: &mut PgConnection, id: Uuid, user_ids: &[Uuid]) -> sqlx::Result<()> {
    super::links::QUEUE_MEMBERS.replace_right(conn, id, user_ids).await
}

pub async fn add_members(conn: &mut PgConnection, id: Uuid, user_ids: &[Uuid]) -> sqlx::Result<()> {
    super::links::QUEUE_MEMBERS.add_right(conn, id, user_ids).await
}

pub async fn remove_member(conn: &mut PgConnection, id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM queue_members WHERE queue_id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// What still points at this queue: numbers' default queue and other queues' overflow or out-of-hours target.
pub async fn users_of(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT 'number ' || id FROM whatsapp_numbers WHERE default_queue_id = $1 AND deleted_at IS NULL
         UNION ALL
         SELECT 'queue ' || id FROM queues
          WHERE (overflow_queue_id = $1 OR outside_hours_queue_id = $1) AND id <> $1 AND deleted_at IS NULL
         UNION ALL
         SELECT 'routing rule ' || id FROM routing_rules WHERE target_queue_id = $1",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Deletes a queue: it takes no new conversations; conversations and history that name it stay.
pub async fn soft_delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE queues SET deleted_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub text: Option<&'a str>,
    /// Only queues this user is a member of.
    pub member: Option<Uuid>,
    pub communication_type: Option<&'a str>,
    pub include_deleted: bool,
}

pub async fn list(pool: &PgPool, listing: &Listing, f: &Filter<'_>) -> sqlx::Result<Vec<Keyed<Queue>>> {
    let mut q = listing.select(COLUMNS, "queues", UUID_ID);
    if !f.include_deleted {
        q.push(" AND deleted_at IS NULL");
    }
    if let Some(text) = f.text {
        q.push(" AND strpos(lower(name || ' ' || description), lower(").push_bind(text.to_owned()).push(")) > 0");
    }
    if let Some(user) = f.member {
        q.push(" AND EXISTS (SELECT 1 FROM queue_members m WHERE m.queue_id = queues.id AND m.user_id = ")
            .push_bind(user)
            .push(")");
    }
    if let Some(kind) = f.communication_type {
        q.push(" AND communication_type = ").push_bind(kind.to_owned());
    }
    listing.fetch(pool, q, UUID_ID).await
}
