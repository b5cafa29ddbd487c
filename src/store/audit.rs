//! The audit log of administrative changes.

use super::listing::{IdColumn, Keyed, Listing, SortKey};
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: &'static str,
    pub id: Option<Uuid>,
    pub label: String,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct Entry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Records a change inside the transaction that makes it, so there is no change without its entry.
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    target_type: &str,
    target_id: Option<&str>,
    before: Option<&Value>,
    after: Option<&Value>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_type, actor_id, actor_label, action, target_type, target_id, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.kind)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(before)
    .bind(after)
    .execute(conn)
    .await?;
    Ok(())
}

/// Entries are numbered in order: the id is their sort key.
pub const BY_ID: SortKey = SortKey { name: "id", sql: "id", sql_type: "int8" };
const ID: IdColumn = IdColumn { sql: "id", sql_type: "int8" };

#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// Exact action, or a prefix ending in `.` (`queue.`).
    pub action: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub actor_id: Option<Uuid>,
}

pub async fn list(pool: &PgPool, listing: &Listing, f: &Filter<'_>) -> sqlx::Result<Vec<Keyed<Entry>>> {
    let mut q = listing.select(
        "id, at, actor_type, actor_id, actor_label, action, target_type, target_id, before, after",
        "audit_log",
        ID,
    );
    match f.action {
        Some(prefix) if prefix.ends_with('.') => {
            q.push(" AND starts_with(action, ").push_bind(prefix.to_owned()).push(")");
        }
        Some(action) => {
            q.push(" AND action = ").push_bind(action.to_owned());
        }
        None => {}
    }
    if let Some(t) = f.target_type {
        q.push(" AND target_type = ").push_bind(t.to_owned());
    }
    if let Some(t) = f.target_id {
        q.push(" AND target_id = ").push_bind(t.to_owned());
    }
    if let Some(a) = f.actor_id {
        q.push(" AND actor_id = ").push_bind(a);
    }
    listing.fetch(pool, q, ID).await
}
