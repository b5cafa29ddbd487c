//! Creating a user outside the API (the first start's admin, `switchboard admin create`): the row and its
//! audit record in one transaction, so no user ever exists without the record of who created it.

use crate::store::audit::{self, Actor};
use crate::store::users::{self, User};
use sqlx::PgConnection;

/// What a new user is.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: crate::domain::Role,
    /// An Argon2id hash from [`super::password::hash`].
    pub password_hash: &'a str,
    pub must_change_password: bool,
}

/// Inserts the user and records `user.created` by `actor`. A taken e-mail fails on `users_email_key`.
pub async fn create(conn: &mut PgConnection, actor: &Actor, new: NewUser<'_>) -> anyhow::Result<User> {
    let user = users::insert(conn, new.email, new.name, new.role.as_str(), new.password_hash, new.must_change_password)
        .await?;
    let after = serde_json::to_value(&user)?;
    audit::record(conn, actor, "user.created", "user", Some(&user.id.to_string()), None, Some(&after)).await?;
    Ok(user)
}
