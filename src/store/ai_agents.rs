//! AI agents: their rows (secrets encrypted, never read into what the API shows), soft removal, and what is
//! still using one.

use super::listing::{Keyed, Listing, UUID_ID};
use crate::domain::ai::{Kind, Pair};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// An AI agent as the API shows it: everything but its secrets, which show only as set or not.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AiAgent {
    pub id: Uuid,
    pub name: String,
    pub kind: Kind,
    /// Language tags it speaks; the first is the one it uses when the customer's language is unknown.
    pub languages: Vec<String>,
    #[schema(value_type = Vec<Pair>)]
    pub knowledge: Json<Vec<Pair>>,
    /// Free-text knowledge for a model (policies, product facts), sent with the question/answer pairs.
    pub instructions: Option<String>,
    /// Sent before the first answer in a conversation.
    pub greeting: Option<String>,
    /// Said when it passes the customer to a person (a default in the customer's language otherwise).
    pub handover_message: Option<String>,
    /// Words that mean the customer wants a person, besides the built-in ones ("agent", "human", "persona", …).
    pub handover_keywords: Vec<String>,
    /// Replies it sends in one conversation before handing over.
    pub max_turns: i32,
    /// Seconds a customer may wait for a reply before it hands over instead.
    pub reply_timeout_secs: i32,
    /// The built-in bot answers at this confidence (0 to 1) or above, and hands over below it.
    pub threshold: f32,
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// Whether an API key is stored (it is never shown).
    pub api_key_set: bool,
    pub system_prompt: Option<String>,
    pub temperature: Option<f32>,
    /// The names of the extra headers sent to the model (their values are never shown).
    pub extra_header_names: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, kind, languages, knowledge, instructions, greeting, handover_message,
    handover_keywords, max_turns, reply_timeout_secs, threshold, base_url, model, api_key IS NOT NULL AS api_key_set,
    system_prompt, temperature, extra_header_names, created_at, updated_at";

/// What admins set about an AI agent; secrets already encrypted (`None` for a secret: none stored).
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub kind: Kind,
    pub languages: Vec<String>,
    pub knowledge: Vec<Pair>,
    pub instructions: Option<String>,
    pub greeting: Option<String>,
    pub handover_message: Option<String>,
    pub handover_keywords: Vec<String>,
    pub max_turns: i32,
    pub reply_timeout_secs: i32,
    pub threshold: f32,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<Vec<u8>>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f32>,
    pub extra_headers: Option<Vec<u8>>,
    pub extra_header_names: Vec<String>,
}

/// The stored secrets of an agent (encrypted), which an update keeps unless it replaces them.
#[derive(Debug, Clone, FromRow)]
pub struct Secrets {
    pub api_key: Option<Vec<u8>>,
    pub extra_headers: Option<Vec<u8>>,
}

type AgentQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, AiAgent, sqlx::postgres::PgArguments>;

fn bind_settings<'q>(q: AgentQuery<'q>, s: &'q Settings) -> AgentQuery<'q> {
    q.bind(&s.name)
        .bind(s.kind)
        .bind(&s.languages)
        .bind(Json(&s.knowledge))
        .bind(&s.instructions)
        .bind(&s.greeting)
        .bind(&s.handover_message)
        .bind(&s.handover_keywords)
        .bind(s.max_turns)
        .bind(s.reply_timeout_secs)
        .bind(s.threshold)
        .bind(&s.base_url)
        .bind(&s.model)
        .bind(&s.api_key)
        .bind(&s.system_prompt)
        .bind(s.temperature)
        .bind(&s.extra_headers)
        .bind(&s.extra_header_names)
}

pub async fn insert(conn: &mut PgConnection, s: &Settings) -> sqlx::Result<AiAgent> {
    let sql = format!(
        "INSERT INTO ai_agents (id, name, kind, languages, knowledge, instructions, greeting, handover_message,
                handover_keywords, max_turns, reply_timeout_secs, threshold, base_url, model, api_key, system_prompt,
                temperature, extra_headers, extra_header_names)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
         RETURNING {COLUMNS}"
    );
    bind_settings(sqlx::query_as(&sql).bind(Uuid::now_v7()), s).fetch_one(conn).await
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &Settings) -> sqlx::Result<AiAgent> {
    let sql = format!(
        "UPDATE ai_agents SET name = $2, kind = $3, languages = $4, knowledge = $5, instructions = $6, greeting = $7,
                handover_message = $8, handover_keywords = $9, max_turns = $10, reply_timeout_secs = $11,
                threshold = $12, base_url = $13, model = $14, api_key = $15, system_prompt = $16, temperature = $17,
                extra_headers = $18, extra_header_names = $19, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    bind_settings(sqlx::query_as(&sql).bind(id), s).fetch_one(conn).await
}

/// The agent, unless removed.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AiAgent>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM ai_agents WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The agent even if removed (its conversations still name it), with its secrets, in one query.
pub async fn find_with_secrets(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<(AiAgent, Secrets)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        agent: AiAgent,
        #[sqlx(flatten)]
        secrets: Secrets,
    }
    let sql = format!("SELECT {COLUMNS}, api_key, extra_headers FROM ai_agents WHERE id = $1");
    let row: Option<Row> = sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.map(|r| (r.agent, r.secrets)))
}

pub async fn is_live(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ai_agents WHERE id = $1 AND deleted_at IS NULL)")
        .bind(id)
        .fetch_one(conn)
        .await
}

pub async fn list(pool: &PgPool, listing: &Listing) -> sqlx::Result<Vec<Keyed<AiAgent>>> {
    let mut q = listing.select(COLUMNS, "ai_agents", UUID_ID);
    q.push(" AND deleted_at IS NULL");
    listing.fetch(pool, q, UUID_ID).await
}

/// What still sends conversations to the agent: numbers, routing rules and conversations it owns now.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Uses {
    pub number_ids: Vec<Uuid>,
    pub rule_ids: Vec<Uuid>,
    pub open_conversations: i64,
}

pub async fn uses(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Uses> {
    sqlx::query_as(
        "SELECT ARRAY(SELECT n.id FROM whatsapp_numbers n WHERE n.ai_agent_id = $1 AND n.deleted_at IS NULL) AS number_ids,
                ARRAY(SELECT r.id FROM routing_rules r WHERE r.target_ai_agent_id = $1) AS rule_ids,
                (SELECT count(*) FROM ai_sessions s JOIN conversations c ON c.id = s.conversation_id
                 WHERE s.ai_agent_id = $1 AND c.routing_state = 'ai' AND c.status <> 'resolved') AS open_conversations",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Removes the agent (its row stays for the conversations and reports that name it).
pub async fn remove(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE ai_agents SET deleted_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
