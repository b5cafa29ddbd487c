//! A channel's WhatsApp numbers with their behaviours and business profile.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::business_profile::BusinessProfile;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = WhatsAppNumber)]
pub struct Number {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub e164: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub settings: NumberSettings,
    /// The agents who serve this number.
    pub member_ids: Vec<Uuid>,
    /// Unique customers reached by business-initiated messages in the last 24 hours (counted against
    /// `messaging_tier`'s cap).
    pub messaging_used: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

const COLUMNS: &str =
    "id, channel_id, name, e164, language, customers_may_send_attachments, agents_may_send_attachments,
    greeting_text, csat_enabled, ai_agent_id, profile, default_queue_id, business_hours_id,
    ARRAY(SELECT m.user_id FROM number_members m WHERE m.number_id = whatsapp_numbers.id ORDER BY m.added_at, m.user_id)
        AS member_ids,
    messaging_tier, supports_calling,
    messaging_used(whatsapp_numbers.id) AS messaging_used,
    created_at, deleted_at";

/// Everything about a number that people set.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct NumberSettings {
    pub name: String,
    pub language: Option<String>,
    pub customers_may_send_attachments: bool,
    pub agents_may_send_attachments: bool,
    pub greeting_text: Option<String>,
    pub csat_enabled: bool,
    /// The AI agent that answers first when no routing rule decides; null: none.
    pub ai_agent_id: Option<Uuid>,
    #[sqlx(json)]
    pub profile: BusinessProfile,
    pub default_queue_id: Option<Uuid>,
    pub business_hours_id: Option<Uuid>,
    /// WhatsApp's messaging limit tier: `tier_250` (the default, an unverified business), `tier_1k`,
    /// `tier_10k`, `tier_100k` or `unlimited`: unique customers reached by business-initiated messages in a
    /// rolling 24 hours.
    pub messaging_tier: crate::domain::opt_in::Tier,
    /// The number's WhatsApp sender takes calls (a TwiML voice application at Twilio pointing at the
    /// channel's voice URL); only such a number offers calls.
    pub supports_calling: bool,
}

type NumberQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, Number, sqlx::postgres::PgArguments>;

/// Binds the settings as the next twelve parameters, in the order of the fields of [`NumberSettings`].
trait BindSettings<'q> {
    fn bind_settings(self, s: &'q NumberSettings) -> Self;
}

impl<'q> BindSettings<'q> for NumberQuery<'q> {
    fn bind_settings(self, s: &'q NumberSettings) -> Self {
        self.bind(&s.name)
            .bind(&s.language)
            .bind(s.customers_may_send_attachments)
            .bind(s.agents_may_send_attachments)
            .bind(&s.greeting_text)
            .bind(s.csat_enabled)
            .bind(s.ai_agent_id)
            .bind(Json(&s.profile))
            .bind(s.default_queue_id)
            .bind(s.business_hours_id)
            .bind(s.messaging_tier)
            .bind(s.supports_calling)
    }
}

pub async fn insert(conn: &mut PgConnection, channel_id: Uuid, e164: &str, s: &NumberSettings) -> sqlx::Result<Number> {
    sqlx::query_as(&format!(
        "INSERT INTO whatsapp_numbers (id, channel_id, e164, name, language, customers_may_send_attachments,
                agents_may_send_attachments, greeting_text, csat_enabled, ai_agent_id, profile,
                default_queue_id, business_hours_id, messaging_tier, supports_calling)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(channel_id)
    .bind(e164)
    .bind_settings(s)
    .fetch_one(conn)
    .await
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &NumberSettings) -> sqlx::Result<Number> {
    sqlx::query_as(&format!(
        "UPDATE whatsapp_numbers SET name = $2, language = $3, customers_may_send_attachments = $4,
                agents_may_send_attachments = $5, greeting_text = $6, csat_enabled = $7, ai_agent_id = $8,
                profile = $9, default_queue_id = $10, business_hours_id = $11, messaging_tier = $12,
                supports_calling = $13, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind_settings(s)
    .fetch_one(conn)
    .await
}

/// Replaces the agents who serve a number.
pub async fn set_members(conn: &mut PgConnection, id: Uuid, user_ids: &[Uuid]) -> sqlx::Result<()> {
    super::links::NUMBER_MEMBERS.replace_right(conn, id, user_ids).await
}

/// The number, if it belongs to the channel and is not removed.
pub async fn find(conn: &mut PgConnection, channel_id: Uuid, id: Uuid) -> sqlx::Result<Option<Number>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM whatsapp_numbers WHERE id = $1 AND channel_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(channel_id)
    .fetch_optional(conn)
    .await
}

pub async fn list(pool: &PgPool, listing: &Listing, channel_id: Uuid) -> sqlx::Result<Vec<Keyed<Number>>> {
    let mut q = listing.select(COLUMNS, "whatsapp_numbers", UUID_ID);
    q.push(" AND deleted_at IS NULL AND channel_id = ").push_bind(channel_id);
    listing.fetch(pool, q, UUID_ID).await
}

/// A number that exists and is not removed.
pub async fn is_live(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM whatsapp_numbers WHERE id = $1 AND deleted_at IS NULL)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Removes the number from the channel; its conversations and messages stay.
pub async fn remove(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Number> {
    sqlx::query_as(&format!(
        "UPDATE whatsapp_numbers SET deleted_at = now(), updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}

/// What starting a conversation from a number needs: its channel and Twilio account. `None` if the number or
/// its channel is deleted (or never existed).
pub async fn sending(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<(Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT n.channel_id, ch.account_id FROM whatsapp_numbers n JOIN channels ch ON ch.id = n.channel_id
         WHERE n.id = $1 AND n.deleted_at IS NULL AND ch.deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Whether the number takes WhatsApp calls.
pub async fn supports_calling(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT coalesce((SELECT supports_calling FROM whatsapp_numbers WHERE id = $1), false)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Whether the agent serves the number (is one of its members).
pub async fn serves(conn: &mut PgConnection, user: Uuid, number: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM number_members WHERE user_id = $1 AND number_id = $2)")
        .bind(user)
        .bind(number)
        .fetch_one(conn)
        .await
}
