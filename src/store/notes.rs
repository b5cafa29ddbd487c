//! Private notes: what agents write on a conversation for each other, never sent to the customer.

use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// The agent who wrote it (null for an API token).
    pub author_user_id: Option<Uuid>,
    /// The agent's name or e-mail, or the API token's name.
    pub author_label: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, conversation_id, author_user_id, author_label, body, created_at";

pub async fn insert(
    conn: &mut PgConnection,
    conversation_id: Uuid,
    author_user_id: Option<Uuid>,
    author_label: &str,
    body: &str,
) -> sqlx::Result<Note> {
    sqlx::query_as(&format!(
        "INSERT INTO notes (id, conversation_id, author_user_id, author_label, body) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(conversation_id)
    .bind(author_user_id)
    .bind(author_label)
    .bind(body)
    .fetch_one(conn)
    .await
}

/// The conversation's notes, oldest first: the last `limit` of them.
pub async fn list(pool: &PgPool, conversation_id: Uuid, limit: i64) -> sqlx::Result<Vec<Note>> {
    sqlx::query_as(&format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM notes WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC
         LIMIT $2) n ORDER BY created_at, id"
    ))
    .bind(conversation_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
