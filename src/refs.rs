//! Checks that ids given by a caller (a request body, an automation, the AI agent) name things that exist and
//! can be used, refused as a 422 naming the field (the foreign keys would refuse a missing row too, but not a
//! deleted queue or a deactivated agent, and not in words). Shared by the API's handlers and the use cases in
//! `routing` and `outbound`.

use crate::error::{AppError, AppResult};
use crate::store;
use sqlx::PgConnection;
use uuid::Uuid;

fn unknown(field: &str, message: String) -> AppError {
    AppError::unprocessable("unknown_reference", message).with_field(field)
}

/// A queue that exists and is not deleted.
pub async fn queue(conn: &mut PgConnection, id: Uuid, field: &str) -> AppResult<()> {
    if store::queues::is_live(conn, id).await? {
        Ok(())
    } else {
        Err(unknown(field, format!("{field}: there is no queue {id}")))
    }
}

pub async fn business_hours(conn: &mut PgConnection, id: Uuid, field: &str) -> AppResult<()> {
    if store::business_hours::exists(conn, id).await? {
        Ok(())
    } else {
        Err(unknown(field, format!("{field}: there are no business hours {id}")))
    }
}

/// Agents (users) that exist and are active.
pub async fn agents(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> AppResult<()> {
    if ids.len() > 1000 {
        return Err(AppError::invalid_field(field, format!("{field} holds at most 1,000 ids")));
    }
    match store::users::first_unusable(conn, ids).await? {
        None => Ok(()),
        Some(id) => Err(unknown(field, format!("{field}: {id} is not an active agent"))),
    }
}

/// Queues that exist and are not deleted.
pub async fn queues(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> AppResult<()> {
    if ids.len() > 1000 {
        return Err(AppError::invalid_field(field, format!("{field} holds at most 1,000 ids")));
    }
    for id in ids {
        queue(conn, *id, field).await?;
    }
    Ok(())
}

/// Tags that exist.
pub async fn tags(conn: &mut PgConnection, ids: &[Uuid], field: &str) -> AppResult<()> {
    match store::tags::first_missing(conn, ids).await? {
        None => Ok(()),
        Some(id) => Err(unknown(field, format!("{field}: {id} is not a tag"))),
    }
}
