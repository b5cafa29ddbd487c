//! Membership links (`queue_members`, `number_members`): replacing one side's set of links in two statements.

use sqlx::PgConnection;
use uuid::Uuid;

/// A link table and its two columns.
#[derive(Debug, Clone, Copy)]
pub struct Links {
    pub table: &'static str,
    pub left: &'static str,
    pub right: &'static str,
}

pub const QUEUE_MEMBERS: Links = Links { table: "queue_members", left: "queue_id", right: "user_id" };
pub const NUMBER_MEMBERS: Links = Links { table: "number_members", left: "number_id", right: "user_id" };

impl Links {
    /// The links from `left` become exactly `rights` (links that stay keep their `added_at`).
    pub async fn replace_right(self, conn: &mut PgConnection, left: Uuid, rights: &[Uuid]) -> sqlx::Result<()> {
        self.replace(conn, self.left, self.right, left, rights).await
    }

    /// The links to `right` become exactly `lefts`.
    pub async fn replace_left(self, conn: &mut PgConnection, right: Uuid, lefts: &[Uuid]) -> sqlx::Result<()> {
        self.replace(conn, self.right, self.left, right, lefts).await
    }

    /// Adds links from `left` to each of `rights` that is not linked yet.
    pub async fn add_right(self, conn: &mut PgConnection, left: Uuid, rights: &[Uuid]) -> sqlx::Result<()> {
        let Links { table, left: l, right: r } = self;
        sqlx::query(&format!(
            "INSERT INTO {table} ({l}, {r}) SELECT $1, x FROM unnest($2::uuid[]) x ON CONFLICT DO NOTHING"
        ))
        .bind(left)
        .bind(rights)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn replace(
        self,
        conn: &mut PgConnection,
        fixed_col: &str,
        other_col: &str,
        fixed: Uuid,
        others: &[Uuid],
    ) -> sqlx::Result<()> {
        let table = self.table;
        sqlx::query(&format!("DELETE FROM {table} WHERE {fixed_col} = $1 AND NOT ({other_col} = ANY($2))"))
            .bind(fixed)
            .bind(others)
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} ({fixed_col}, {other_col}) SELECT $1, x FROM unnest($2::uuid[]) x ON CONFLICT DO NOTHING"
        ))
        .bind(fixed)
        .bind(others)
        .execute(conn)
        .await?;
        Ok(())
    }
}
