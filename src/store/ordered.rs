//! Rules kept in order per scope (one channel's rules, or the global ones): positions 1..n, changed only under
//! the scope's advisory lock so that concurrent inserts, deletes and reorders keep them so. Routing rules and
//! auto-reply rules share it.

use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub enum RuleTable {
    Routing,
    Automation,
}

impl RuleTable {
    fn name(self) -> &'static str {
        match self {
            Self::Routing => "routing_rules",
            Self::Automation => "automation_rules",
        }
    }
}

/// Serialises changes to the order of one scope's rules (a transaction-scoped advisory lock).
pub async fn lock_scope(conn: &mut PgConnection, table: RuleTable, channel_id: Option<Uuid>) -> sqlx::Result<()> {
    let key = format!("{}:{}", table.name(), channel_id.map(|c| c.to_string()).unwrap_or_default());
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(conn).await?;
    Ok(())
}

/// Locks the scope and makes room at `position` (1-based; left out or past the end: last) by moving later rules
/// down; returns the position the new rule takes.
pub async fn make_room(
    conn: &mut PgConnection,
    table: RuleTable,
    channel_id: Option<Uuid>,
    position: Option<i32>,
) -> sqlx::Result<i32> {
    lock_scope(&mut *conn, table, channel_id).await?;
    let count: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM {} WHERE channel_id IS NOT DISTINCT FROM $1", table.name()))
            .bind(channel_id)
            .fetch_one(&mut *conn)
            .await?;
    let position = position.map(|p| i64::from(p.max(1)).min(count + 1)).unwrap_or(count + 1) as i32;
    sqlx::query(&format!(
        "UPDATE {} SET position = position + 1 WHERE channel_id IS NOT DISTINCT FROM $1 AND position >= $2",
        table.name()
    ))
    .bind(channel_id)
    .bind(position)
    .execute(conn)
    .await?;
    Ok(position)
}

/// Deletes a rule under the scope's lock; the rules after it move up.
pub async fn delete(
    conn: &mut PgConnection,
    table: RuleTable,
    id: Uuid,
    channel_id: Option<Uuid>,
    position: i32,
) -> sqlx::Result<()> {
    lock_scope(&mut *conn, table, channel_id).await?;
    sqlx::query(&format!("DELETE FROM {} WHERE id = $1", table.name())).bind(id).execute(&mut *conn).await?;
    sqlx::query(&format!(
        "UPDATE {} SET position = position - 1 WHERE channel_id IS NOT DISTINCT FROM $1 AND position > $2",
        table.name()
    ))
    .bind(channel_id)
    .bind(position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the order of a scope's rules: `ids` must be exactly its rules (checked by the caller under the lock).
pub async fn reorder(conn: &mut PgConnection, table: RuleTable, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "UPDATE {} r SET position = o.position, updated_at = now()
         FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, position) WHERE r.id = o.id",
        table.name()
    ))
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}
