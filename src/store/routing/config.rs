//! What the routing configuration cache reads: its version, every schedule and every number's routing settings.

use crate::domain::business_hours::{Day, Holiday, Range};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use std::collections::BTreeMap;
use uuid::Uuid;

pub async fn config_version(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT version FROM routing_config").fetch_one(conn).await
}

#[derive(FromRow)]
pub struct HoursRow {
    pub id: Uuid,
    pub time_zone: String,
    pub weekly: Json<BTreeMap<Day, Vec<Range>>>,
    pub holidays: Json<Vec<Holiday>>,
}

pub async fn all_hours(conn: &mut PgConnection) -> sqlx::Result<Vec<HoursRow>> {
    sqlx::query_as("SELECT id, time_zone, weekly, holidays FROM business_hours").fetch_all(conn).await
}

#[derive(FromRow)]
pub struct NumberRow {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub ai_agent_id: Option<Uuid>,
    pub default_queue_id: Option<Uuid>,
    pub business_hours_id: Option<Uuid>,
    pub greeting_text: Option<String>,
    pub csat_enabled: bool,
    pub language: Option<String>,
    /// The business profile's display name, else the number's name.
    pub display_name: String,
}

pub async fn all_numbers(conn: &mut PgConnection) -> sqlx::Result<Vec<NumberRow>> {
    sqlx::query_as(
        "SELECT id, channel_id, ai_agent_id, default_queue_id, business_hours_id, greeting_text, csat_enabled,
                language, COALESCE(NULLIF(profile->>'display_name', ''), name) AS display_name
         FROM whatsapp_numbers",
    )
    .fetch_all(conn)
    .await
}
