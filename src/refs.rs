//! Checks that ids given by a caller (a request body, an automation, the AI agent) name things that exist and
//! can be used, refused as a 422 naming the field (the foreign keys would refuse a missing row too, but not a
//! deleted queue or a deactivated agent, and not in words). Shared by the API's handlers and the use cases in
//! `routing` and `outbound`, which turn a [`RefError`] into their own refusal.

use crate::error::AppError;
use crate::store;
use sqlx::PgConnection;
use uuid::Uuid;

/// The most ids one list may name.
pub const MAX_IDS: usize = 1000;

/// Why an id cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    /// Nothing usable has this id (`field` names where the caller gave it).
    #[error("{message}")]
    Unknown { field: String, message: String },
    #[error("{message}")]
    TooMany { field: String, message: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<RefError> for AppError {
    fn from(e: RefError) -> Self {
        match e {
            RefError::Unknown { field, message } => {
                AppError::unprocessable("unknown_reference", message).with_field(&field)
            }
            RefError::TooMany { field, message } => AppError::invalid_field(&field, message),
            RefError::Database(e) => e.into(),
        }
    }
}

pub type RefResult = Result<(), RefError>;

fn unknown(field: &str, message: String) -> RefError {
    RefError::Unknown { field: field.to_owned(), message }
}

fn at_most(ids: &[Uuid], field: &str) -> RefResult {
    if ids.len() > MAX_IDS {
        return Err(RefError::TooMany { field: field.to_owned(), message: format!("{field} holds at most 1,000 ids") });
    }
    Ok(())
}

/// A queue that exists and is not deleted.
pub async fn queue(conn: &mut PgConnection, id: Uuid, field: &str) -> RefResult {
    if store::queues::is_live(conn, id).await? {
        Ok(())
    } else {
        Err(unknown(field, format!("{field}: there is no queue {id}")))
    }
}

/// An AI agent that exists and is not removed.
pub async fn ai_agent(conn: &mut PgConnection, id: Uuid, field: &str) -> RefResult {
    if store::ai_agents::is_live(conn, id).await? {
        Ok(())
    } else {
        Err(unknown(field, format!("{field}: there is no AI agent {id}")))
    }
}

pub async fn business_hours(conn: &mut PgConnection, id: Uuid, field: &str) -> RefResult {
    if store::business_hours::exists(conn, id).await? {
        Ok(())
    } else {
        Err(unknown(field, format!("{field}: there are no business hours {id}")))
    }
}

/// Agents (users) that exist and are active.
pub async fn agents(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> RefResult {
    at_most(ids, field)?;
    match store::users::first_unusable(conn, ids).await? {
        None => Ok(()),
        Some(id) => Err(unknown(field, format!("{field}: {id} is not an active agent"))),
    }
}

/// Queues that exist and are not deleted.
pub async fn queues(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> RefResult {
    at_most(ids, field)?;
    for id in ids {
        queue(conn, *id, field).await?;
    }
    Ok(())
}

/// A WhatsApp number that exists and is not removed.
pub async fn number(conn: &mut PgConnection, id: Uuid, field: &str) -> RefResult {
    if store::numbers::is_live(conn, id).await? {
        Ok(())
    } else {
        Err(unknown(field, format!("{field}: there is no WhatsApp number {id}")))
    }
}

/// WhatsApp numbers that exist and are not removed.
pub async fn numbers(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> RefResult {
    at_most(ids, field)?;
    for id in ids {
        number(conn, *id, field).await?;
    }
    Ok(())
}

/// Tags that exist.
pub async fn tags(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> RefResult {
    match store::tags::first_missing(conn, ids).await? {
        None => Ok(()),
        Some(id) => Err(unknown(field, format!("{field}: {id} is not a tag"))),
    }
}
