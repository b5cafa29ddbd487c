//! Named business-hours schedules, used by queues and numbers.

use super::listing::{Keyed, Listing, UUID_ID};
use crate::domain::business_hours::{Day, Holiday, Range};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct BusinessHours {
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    #[schema(value_type = BTreeMap<Day, Vec<Range>>)]
    pub weekly: Json<BTreeMap<Day, Vec<Range>>>,
    #[schema(value_type = Vec<Holiday>)]
    pub holidays: Json<Vec<Holiday>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, time_zone, weekly, holidays, created_at, updated_at";

pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    s: &crate::domain::business_hours::Schedule,
) -> sqlx::Result<BusinessHours> {
    sqlx::query_as(&format!(
        "INSERT INTO business_hours (id, name, time_zone, weekly, holidays) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(&s.time_zone)
    .bind(Json(&s.weekly))
    .bind(Json(&s.holidays))
    .fetch_one(conn)
    .await
}

pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    s: &crate::domain::business_hours::Schedule,
) -> sqlx::Result<BusinessHours> {
    sqlx::query_as(&format!(
        "UPDATE business_hours SET name = $2, time_zone = $3, weekly = $4, holidays = $5, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(&s.time_zone)
    .bind(Json(&s.weekly))
    .bind(Json(&s.holidays))
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<BusinessHours>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM business_hours WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn exists(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM business_hours WHERE id = $1)").bind(id).fetch_one(conn).await
}

/// What still uses these hours: queues (not deleted) and numbers (not removed), as `queue <id>`/`number <id>`.
pub async fn users_of(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT 'queue ' || id FROM queues WHERE business_hours_id = $1 AND deleted_at IS NULL
         UNION ALL SELECT 'number ' || id FROM whatsapp_numbers WHERE business_hours_id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    // Deleted queues and removed numbers keep no hold on it.
    sqlx::query("UPDATE queues SET business_hours_id = NULL WHERE business_hours_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE whatsapp_numbers SET business_hours_id = NULL WHERE business_hours_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM business_hours WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

pub async fn list(pool: &PgPool, listing: &Listing) -> sqlx::Result<Vec<Keyed<BusinessHours>>> {
    let q = listing.select(COLUMNS, "business_hours", UUID_ID);
    listing.fetch(pool, q, UUID_ID).await
}
