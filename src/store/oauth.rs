//! OAuth 2 clients and the access tokens issued to them: secrets and tokens stored only as hashes.

use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A client as the API shows it (never its secret).
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct OAuthClient {
    /// Also the `client_id` it authenticates with.
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret, to tell secrets apart.
    pub secret_prefix: String,
    pub permissions: Vec<String>,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub secret_rotated_at: Option<OffsetDateTime>,
    /// When it last got an access token.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

const COLUMNS: &str =
    "id, name, secret_prefix, permissions, created_by, created_at, secret_rotated_at, last_used_at, revoked_at";

pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    secret_hash: &[u8],
    secret_prefix: &str,
    permissions: &[&str],
    created_by: Option<Uuid>,
) -> sqlx::Result<OAuthClient> {
    sqlx::query_as(&format!(
        "INSERT INTO oauth_clients (id, name, secret_hash, secret_prefix, permissions, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(secret_hash)
    .bind(secret_prefix)
    .bind(permissions)
    .bind(created_by)
    .fetch_one(conn)
    .await
}

pub async fn list(pool: &PgPool, include_revoked: bool) -> sqlx::Result<Vec<OAuthClient>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM oauth_clients WHERE $1 OR revoked_at IS NULL ORDER BY created_at DESC, id DESC"
    ))
    .bind(include_revoked)
    .fetch_all(pool)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<OAuthClient>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM oauth_clients WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// A new secret for a live client; the old one stops working at once.
pub async fn rotate(
    conn: &mut PgConnection,
    id: Uuid,
    secret_hash: &[u8],
    secret_prefix: &str,
) -> sqlx::Result<Option<OAuthClient>> {
    sqlx::query_as(&format!(
        "UPDATE oauth_clients SET secret_hash = $2, secret_prefix = $3, secret_rotated_at = now()
         WHERE id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(secret_hash)
    .bind(secret_prefix)
    .fetch_optional(conn)
    .await
}

/// Revokes the client and ends its access tokens.
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<OAuthClient>> {
    let client: Option<OAuthClient> = sqlx::query_as(&format!(
        "UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM oauth_access_tokens WHERE client_id = $1").bind(id).execute(conn).await?;
    Ok(client)
}

/// The live client with this id and secret, marked as used now.
pub async fn authenticate_client(pool: &PgPool, id: Uuid, secret_hash: &[u8]) -> sqlx::Result<Option<OAuthClient>> {
    sqlx::query_as(&format!(
        "UPDATE oauth_clients SET last_used_at = now()
         WHERE id = $1 AND secret_hash = $2 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(secret_hash)
    .fetch_optional(pool)
    .await
}

/// Stores an access token (its hash) for `lifetime_secs` (expired ones are deleted by the sweeper).
pub async fn issue(
    pool: &PgPool,
    client: Uuid,
    token_hash: &[u8],
    permissions: &[&str],
    lifetime_secs: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oauth_access_tokens (token_hash, client_id, permissions, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(token_hash)
    .bind(client)
    .bind(permissions)
    .bind(lifetime_secs as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Who an access token acts for.
#[derive(Debug, Clone, FromRow)]
pub struct AccessToken {
    pub client_id: Uuid,
    pub client_name: String,
    pub permissions: Vec<String>,
}

/// The unexpired access token with this hash whose client is not revoked.
pub async fn authenticate_access(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<AccessToken>> {
    sqlx::query_as(
        "SELECT t.client_id, c.name AS client_name, t.permissions
         FROM oauth_access_tokens t JOIN oauth_clients c ON c.id = t.client_id
         WHERE t.token_hash = $1 AND t.expires_at > now() AND c.revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}
