//! Routing rules: their rows, and changes that keep each scope's positions 1..n under an advisory lock.

use crate::domain::routing::{Condition, Target};
use crate::store::ordered::{self, RuleTable};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

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
    pub target_ai_agent_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RuleRow {
    pub fn target(&self) -> Option<Target> {
        match (self.target_type.as_str(), self.target_queue_id, self.target_agent_id) {
            ("queue", Some(q), _) => Some(Target::Queue(q)),
            ("ai_agent", _, _) => self.target_ai_agent_id.map(Target::AiAgent),
            ("agent", _, Some(a)) => Some(Target::Agent(a)),
            _ => None,
        }
    }
}

const RULE_COLUMNS: &str = "id, name, channel_id, position, enabled, conditions, target_type, target_queue_id,
    target_agent_id, target_ai_agent_id, created_at, updated_at";

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

/// Binds a rule's settings (name, enabled, conditions, target type, queue, agent, AI agent) after the parameters bound so far.
fn bind_settings<'q>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, RuleRow, sqlx::postgres::PgArguments>,
    s: &'q RuleSettings,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, RuleRow, sqlx::postgres::PgArguments> {
    let (kind, queue, agent, ai) = match s.target {
        Target::Queue(q) => ("queue", Some(q), None, None),
        Target::AiAgent(ai) => ("ai_agent", None, None, Some(ai)),
        Target::Agent(a) => ("agent", None, Some(a), None),
    };
    q.bind(&s.name).bind(s.enabled).bind(Json(&s.conditions)).bind(kind).bind(queue).bind(agent).bind(ai)
}

/// Inserts a rule at `position` of its scope (1-based; past the end: last), moving later rules down
/// ([`crate::store::ordered`]).
pub async fn insert_rule(
    conn: &mut PgConnection,
    channel_id: Option<Uuid>,
    position: Option<i32>,
    s: &RuleSettings,
) -> sqlx::Result<RuleRow> {
    let position = ordered::make_room(&mut *conn, RuleTable::Routing, channel_id, position).await?;
    let sql = format!(
        "INSERT INTO routing_rules (id, channel_id, position, name, enabled, conditions, target_type, target_queue_id,
                                    target_agent_id, target_ai_agent_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {RULE_COLUMNS}"
    );
    bind_settings(sqlx::query_as(&sql).bind(Uuid::now_v7()).bind(channel_id).bind(position), s).fetch_one(conn).await
}

pub async fn update_rule(conn: &mut PgConnection, id: Uuid, s: &RuleSettings) -> sqlx::Result<RuleRow> {
    let sql = format!(
        "UPDATE routing_rules SET name = $2, enabled = $3, conditions = $4, target_type = $5, target_queue_id = $6,
                target_agent_id = $7, target_ai_agent_id = $8, updated_at = now()
         WHERE id = $1 RETURNING {RULE_COLUMNS}"
    );
    bind_settings(sqlx::query_as(&sql).bind(id), s).fetch_one(conn).await
}

pub async fn delete_rule(conn: &mut PgConnection, rule: &RuleRow) -> sqlx::Result<()> {
    ordered::delete(conn, RuleTable::Routing, rule.id, rule.channel_id, rule.position).await
}
