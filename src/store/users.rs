//! Users and their browser sessions.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub must_change_password: bool,
    /// False once deactivated: cannot log in or take conversations; their history stays.
    pub active: bool,
    /// Most conversations held at once (0 to 100).
    pub capacity: i32,
    pub skills: Vec<String>,
    /// Language tags this agent serves customers in.
    pub languages: Vec<String>,
    /// `online` (offered conversations), `away` or `offline`.
    pub presence: String,
    /// Conversations held now (not resolved).
    pub load: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deactivated_at: Option<OffsetDateTime>,
    /// The inbox's language for this person: `en`, `es`, `pt`, `nl` or `ja` (null: the browser's, else English).
    pub ui_language: Option<String>,
    /// The IANA time zone the inbox shows times in (null: the browser's).
    pub time_zone: Option<String>,
    /// A phone number (E.164) the agent takes WhatsApp calls on instead of the browser (null: the browser).
    pub call_phone: Option<String>,
}

const USER_COLUMNS: &str =
    "id, email, name, role, must_change_password, active, capacity, skills, languages, presence, load, created_at, last_login_at, deactivated_at, ui_language, time_zone, call_phone";

/// A user with the queues and numbers they serve: what `/agents` shows.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Agent {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub user: User,
    pub queue_ids: Vec<Uuid>,
    pub number_ids: Vec<Uuid>,
}

const AGENT_COLUMNS: &str =
    "id, email, name, role, must_change_password, active, capacity, skills, languages, presence, load, created_at,
    last_login_at, deactivated_at, ui_language, time_zone, call_phone,
    ARRAY(SELECT m.queue_id FROM queue_members m JOIN queues q ON q.id = m.queue_id
          WHERE m.user_id = users.id AND q.deleted_at IS NULL ORDER BY m.added_at, m.queue_id) AS queue_ids,
    ARRAY(SELECT m.number_id FROM number_members m JOIN whatsapp_numbers n ON n.id = m.number_id
          WHERE m.user_id = users.id AND n.deleted_at IS NULL ORDER BY m.added_at, m.number_id) AS number_ids";

/// What an admin or supervisor sets about an agent.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub name: String,
    pub role: String,
    pub capacity: i32,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub call_phone: Option<String>,
}

pub async fn insert_agent(
    conn: &mut PgConnection,
    email: &str,
    password_hash: &str,
    s: &AgentSettings,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash, must_change_password, capacity, skills, languages,
                            call_phone)
         VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(email)
    .bind(&s.name)
    .bind(&s.role)
    .bind(password_hash)
    .bind(s.capacity)
    .bind(&s.skills)
    .bind(&s.languages)
    .bind(&s.call_phone)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn update_agent(conn: &mut PgConnection, id: Uuid, s: &AgentSettings) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET name = $2, role = $3, capacity = $4, skills = $5, languages = $6, call_phone = $7,
                updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&s.name)
    .bind(&s.role)
    .bind(s.capacity)
    .bind(&s.skills)
    .bind(&s.languages)
    .bind(&s.call_phone)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deactivates (ending every session) or reactivates a user.
pub async fn set_active(conn: &mut PgConnection, id: Uuid, active: bool) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET active = $2, deactivated_at = CASE WHEN $2 THEN NULL ELSE now() END, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(active)
    .execute(&mut *conn)
    .await?;
    if !active {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(conn).await?;
    }
    Ok(())
}

/// Replaces the queues and the numbers a user serves (each when given).
pub async fn set_memberships(
    conn: &mut PgConnection,
    id: Uuid,
    queue_ids: Option<&[Uuid]>,
    number_ids: Option<&[Uuid]>,
) -> sqlx::Result<()> {
    if let Some(queues) = queue_ids {
        super::links::QUEUE_MEMBERS.replace_left(&mut *conn, id, queues).await?;
    }
    if let Some(numbers) = number_ids {
        super::links::NUMBER_MEMBERS.replace_left(conn, id, numbers).await?;
    }
    Ok(())
}

pub async fn find_agent(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Agent>> {
    sqlx::query_as(&format!("SELECT {AGENT_COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// The role of `id` if the user is active.
pub async fn role_if_active(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT role FROM users WHERE id = $1 AND active AND deactivated_at IS NULL")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The first of `ids` that is not an active user, if any.
pub async fn first_unusable(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT i FROM unnest($1::uuid[]) WITH ORDINALITY AS t(i, n)
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.i AND u.active) ORDER BY n LIMIT 1",
    )
    .bind(ids)
    .fetch_optional(conn)
    .await
}

/// Locks the active admins' rows (in one order) until the transaction ends.
pub async fn lock_admins(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE").execute(conn).await?;
    Ok(())
}

/// Active admins other than `except`.
pub async fn other_active_admins(conn: &mut PgConnection, except: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND active AND id <> $1")
        .bind(except)
        .fetch_one(conn)
        .await
}

#[derive(Debug, Default)]
pub struct AgentFilter<'a> {
    /// Name or e-mail contains it.
    pub text: Option<&'a str>,
    pub role: Option<&'a str>,
    pub active: Option<bool>,
    pub queue_id: Option<Uuid>,
    pub number_id: Option<Uuid>,
    pub skill: Option<&'a str>,
    pub language: Option<&'a str>,
}

pub async fn list_agents(pool: &PgPool, listing: &Listing, f: &AgentFilter<'_>) -> sqlx::Result<Vec<Keyed<Agent>>> {
    let mut q = listing.select(AGENT_COLUMNS, "users", UUID_ID);
    if let Some(text) = f.text {
        q.push(" AND strpos(lower(name || ' ' || email), lower(").push_bind(text.to_owned()).push(")) > 0");
    }
    if let Some(role) = f.role {
        q.push(" AND role = ").push_bind(role.to_owned());
    }
    if let Some(active) = f.active {
        q.push(" AND active = ").push_bind(active);
    }
    if let Some(queue) = f.queue_id {
        q.push(" AND EXISTS (SELECT 1 FROM queue_members m WHERE m.user_id = users.id AND m.queue_id = ")
            .push_bind(queue)
            .push(")");
    }
    if let Some(number) = f.number_id {
        q.push(" AND EXISTS (SELECT 1 FROM number_members m WHERE m.user_id = users.id AND m.number_id = ")
            .push_bind(number)
            .push(")");
    }
    if let Some(skill) = f.skill {
        q.push(" AND ").push_bind(skill.to_owned()).push(" = ANY(skills)");
    }
    if let Some(language) = f.language {
        q.push(" AND EXISTS (SELECT 1 FROM unnest(languages) l WHERE lower(l) = lower(")
            .push_bind(language.to_owned())
            .push("))");
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// Serialises the first start's check for users across processes starting at once (until the transaction ends).
pub async fn lock_table(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(conn).await?;
    Ok(())
}

pub async fn count(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(conn).await
}

pub async fn insert(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    role: &str,
    password_hash: &str,
    must_change_password: bool,
) -> sqlx::Result<User> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, email, name, role, password_hash, must_change_password) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING {USER_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(name)
    .bind(role)
    .bind(password_hash)
    .bind(must_change_password)
    .fetch_one(conn)
    .await
}

/// The user with this e-mail (case-insensitive) and their password hash.
pub async fn find_for_login(pool: &PgPool, email: &str) -> sqlx::Result<Option<(User, String)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)"))
            .bind(email)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

pub async fn password_hash(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1").bind(id).fetch_optional(pool).await
}

pub async fn set_password(conn: &mut PgConnection, id: Uuid, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, must_change_password = false, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// An admin's new password for a user: they must replace it at next login, and their sessions end.
pub async fn set_one_time_password(conn: &mut PgConnection, id: Uuid, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, must_change_password = true, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(conn).await?;
    Ok(())
}

pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(pool).await
}

pub async fn create_session(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user_id: Uuid,
    csrf_token: &str,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1").bind(user_id).execute(conn).await?;
    Ok(())
}

/// A live session and its user: not expired, user active.
#[derive(Debug, Clone, FromRow)]
pub struct SessionUser {
    pub csrf_token: String,
    #[sqlx(flatten)]
    pub user: User,
}

pub async fn find_session(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<SessionUser>> {
    sqlx::query_as(&format!(
        "SELECT s.csrf_token, {} FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > now() AND u.active",
        USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

pub async fn delete_session(conn: &mut PgConnection, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(conn).await?;
    Ok(())
}

/// Ends every session of a user except `keep` (after a password change).
pub async fn delete_other_sessions(conn: &mut PgConnection, user_id: Uuid, keep: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the person's inbox language and time zone (`None`: the browser's); answers the user.
pub async fn set_preferences(
    pool: &PgPool,
    id: Uuid,
    ui_language: Option<&str>,
    time_zone: Option<&str>,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("UPDATE users SET ui_language = $2, time_zone = $3 WHERE id = $1 RETURNING {USER_COLUMNS}"))
        .bind(id)
        .bind(ui_language)
        .bind(time_zone)
        .fetch_optional(pool)
        .await
}
