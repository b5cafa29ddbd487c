//! Keyset pagination and sorting shared by every list.
//!
//! A list query is built with [`Listing::select`], narrowed by the caller's filters (`AND …` with bound values),
//! then finished with [`Listing::finish`], which adds the keyset condition, the order and the limit. Each row
//! comes back with its sort key and id as text, from which the next page's cursor is made: the cursor is exactly
//! what PostgreSQL compared, so no row is skipped or repeated whatever the collation.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

/// One way a list can be sorted: the name the API accepts, the SQL expression, and its SQL type.
#[derive(Debug, Clone, Copy)]
pub struct SortKey {
    pub name: &'static str,
    pub sql: &'static str,
    pub sql_type: &'static str,
}

/// Sorting by name, case-insensitively.
pub const BY_NAME: SortKey = SortKey { name: "name", sql: "lower(name)", sql_type: "text" };
/// Sorting by creation time.
pub const BY_CREATED: SortKey = SortKey { name: "created_at", sql: "created_at", sql_type: "timestamptz" };
/// Sorting by last change.
pub const BY_UPDATED: SortKey = SortKey { name: "updated_at", sql: "updated_at", sql_type: "timestamptz" };

/// A list's id column and its SQL type: the tiebreaker that makes every sort total.
#[derive(Debug, Clone, Copy)]
pub struct IdColumn {
    pub sql: &'static str,
    pub sql_type: &'static str,
}

pub const UUID_ID: IdColumn = IdColumn { sql: "id", sql_type: "uuid" };

/// A validated page request: sort, direction, where the previous page ended, how many rows.
#[derive(Debug, Clone)]
pub struct Listing {
    pub sort: SortKey,
    pub descending: bool,
    /// The sort key and id of the last row of the previous page.
    pub after: Option<(String, String)>,
    pub limit: i64,
}

/// A row with the key it was sorted by, for the next cursor.
#[derive(Debug)]
pub struct Keyed<T> {
    pub item: T,
    pub sort_key: String,
    pub id: String,
}

impl<'r, T: FromRow<'r, PgRow>> FromRow<'r, PgRow> for Keyed<T> {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        use sqlx::Row;
        Ok(Self { item: T::from_row(row)?, sort_key: row.try_get("_sort_key")?, id: row.try_get("_id")? })
    }
}

impl Listing {
    /// `SELECT <columns>, <sort key>, <id> FROM <from> WHERE true`. The sort keys name unqualified columns, so
    /// a join goes in a subquery: `from` = `(SELECT … JOIN …) v`.
    pub fn select<'a>(&self, columns: &str, from: &str, id: IdColumn) -> QueryBuilder<'a, Postgres> {
        QueryBuilder::new(format!(
            "SELECT {columns}, ({})::text AS _sort_key, ({})::text AS _id FROM {from} WHERE true",
            self.sort.sql, id.sql
        ))
    }

    /// Adds the keyset condition, the order and the limit (one more row than asked, so a next page is known).
    pub fn finish(&self, q: &mut QueryBuilder<'_, Postgres>, id: IdColumn) {
        let (cmp, dir) = if self.descending { ("<", "DESC") } else { (">", "ASC") };
        if let Some((key, after_id)) = &self.after {
            q.push(format_args!(" AND (({}), {}) {cmp} (", self.sort.sql, id.sql));
            q.push_bind(key.clone());
            q.push(format_args!("::{}, ", self.sort.sql_type));
            q.push_bind(after_id.clone());
            q.push(format_args!("::{})", id.sql_type));
        }
        q.push(format_args!(" ORDER BY ({}) {dir}, {} {dir} LIMIT ", self.sort.sql, id.sql));
        q.push_bind(self.limit + 1);
    }

    pub async fn fetch<T>(
        &self,
        pool: &PgPool,
        mut q: QueryBuilder<'_, Postgres>,
        id: IdColumn,
    ) -> sqlx::Result<Vec<Keyed<T>>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.finish(&mut q, id);
        q.build_query_as::<Keyed<T>>().fetch_all(pool).await
    }
}
