//! API tokens: stored as SHA-256, listed without secrets, revocable.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: String,
    /// The permissions it was given, a subset of its role's; absent: the role's whole bundle.
    pub permissions: Option<Vec<String>>,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

const COLUMNS: &str =
    "id, name, prefix, role, permissions, created_by, created_at, expires_at, last_used_at, revoked_at";

/// A token to store; the secret only as its hash.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub prefix: &'a str,
    pub role: &'a str,
    /// Absent: the role's whole bundle.
    pub permissions: Option<&'a [&'a str]>,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<OffsetDateTime>,
}

pub async fn insert(conn: &mut PgConnection, new: &NewToken<'_>) -> sqlx::Result<ApiToken> {
    sqlx::query_as(&format!(
        "INSERT INTO api_tokens (id, name, token_hash, prefix, role, created_by, expires_at, permissions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(new.name)
    .bind(new.token_hash)
    .bind(new.prefix)
    .bind(new.role)
    .bind(new.created_by)
    .bind(new.expires_at)
    .bind(new.permissions)
    .fetch_one(conn)
    .await
}

/// A usable token and, when a person created it, that person's role now (`None`: deactivated since).
#[derive(Debug, Clone, FromRow)]
pub struct Authenticated {
    #[sqlx(flatten)]
    pub token: ApiToken,
    pub owner_role: Option<String>,
}

/// The token with this hash if it may be used now (not revoked, not expired), with its owner's role in the same
/// statement; records its use, at most once a minute per token so that busy automation does not write on every
/// request.
pub async fn authenticate(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<Authenticated>> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("t.{c}")).collect();
    let found: Option<Authenticated> = sqlx::query_as(&format!(
        "SELECT {}, u.role AS owner_role FROM api_tokens t
         LEFT JOIN users u ON u.id = t.created_by AND u.active AND u.deactivated_at IS NULL
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        columns.join(", ")
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    if let Some(Authenticated { token: t, .. }) = &found {
        if t.last_used_at.is_none_or(|at| OffsetDateTime::now_utc() - at > time::Duration::minutes(1)) {
            sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1").bind(t.id).execute(pool).await?;
        }
    }
    Ok(found)
}

/// A page of tokens; revoked ones only when asked.
pub async fn list(pool: &PgPool, listing: &Listing, include_revoked: bool) -> sqlx::Result<Vec<Keyed<ApiToken>>> {
    let mut q = listing.select(COLUMNS, "api_tokens", UUID_ID);
    if !include_revoked {
        q.push(" AND revoked_at IS NULL");
    }
    listing.fetch(pool, q, UUID_ID).await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ApiToken>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ApiToken>> {
    sqlx::query_as(&format!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The live (not revoked, not expired) tokens `user` created: id and role.
pub async fn live_of(conn: &mut PgConnection, user: Uuid) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as(
        "SELECT id, role FROM api_tokens
         WHERE created_by = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
         ORDER BY created_at",
    )
    .bind(user)
    .fetch_all(conn)
    .await
}
