//! A channel's WhatsApp numbers: `GET|POST /channels/{id}/numbers`, `PATCH|DELETE /channels/{id}/numbers/{nid}`.
//! Each number has a name, an E.164 number, a language, its behaviours (attachments each way, greeting, CSAT,
//! AI agent) and its WhatsApp business profile. Admins change them; supervisors read them.

use super::{double_option, ApiJson, ApiPath, List, ListParams, NoFilters, Page};
use crate::auth::Principal;
use crate::domain::business_profile::BusinessProfile;
use crate::domain::language;
use crate::domain::E164;
use crate::error::{AppError, AppResult, UniqueConflict};
use crate::refs;
use crate::state::AppState;
use crate::store::{self, numbers::Number, numbers::NumberSettings};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add)).routes(routes!(update, remove))
}

/// A number's fields. On `POST`, `e164` is required and the rest optional (defaults: named after the number,
/// attachments allowed both ways, no greeting, CSAT and AI agent off). On `PATCH`, a field left out stays as
/// it is, `null` clears it, and `e164` cannot change (remove the number and add the new one).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NumberFields)]
struct Changes {
    /// E.164 with the leading `+`, e.g. `+31201234567`.
    e164: Option<String>,
    name: Option<String>,
    /// A language tag such as `nl`, `en-US` or `pt_BR`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    language: Option<Option<String>>,
    customers_may_send_attachments: Option<bool>,
    agents_may_send_attachments: Option<bool>,
    /// Sent when a customer starts a conversation; `null`: no greeting (the default).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    greeting_text: Option<Option<String>>,
    csat_enabled: Option<bool>,
    /// The AI agent (`/ai-agents`) that answers first when no routing rule decides; `null`: none (the default).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    ai_agent_id: Option<Option<Uuid>>,
    profile: Option<BusinessProfile>,
    /// The queue its conversations go to when no routing rule or AI agent takes them; `null`: none.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    default_queue_id: Option<Option<Uuid>>,
    /// Business hours (`/business-hours`) for its out-of-hours behaviour; `null`: always open.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    business_hours_id: Option<Option<Uuid>>,
    /// The agents who serve this number (replaces the list).
    member_ids: Option<Vec<Uuid>>,
    /// WhatsApp's messaging limit tier for business-initiated messages (`tier_250`, `tier_1k`, `tier_10k`,
    /// `tier_100k`, `unlimited`), as WhatsApp assigned it to the business.
    messaging_tier: Option<crate::domain::opt_in::Tier>,
    /// The number's WhatsApp sender takes calls: set at Twilio a TwiML voice application whose Voice URL is the
    /// channel's voice webhook (`webhooks.voice`). Off by default; a number without it refuses calls.
    supports_calling: Option<bool>,
}

/// Applies `changes` to `current`, checking every value it sets (references to queues, business hours and
/// agents are checked against the database inside the caller's transaction).
async fn apply(
    conn: &mut sqlx::PgConnection,
    mut current: NumberSettings,
    changes: &Changes,
) -> AppResult<NumberSettings> {
    if let Some(name) = &changes.name {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::invalid_field("name", "name must be 1 to 200 characters"));
        }
        current.name = name;
    }
    if let Some(language) = &changes.language {
        if let Some(tag) = language {
            if !language::is_tag(tag) {
                return Err(AppError::invalid_field(
                    "language",
                    "language must be a language tag such as nl, en-US or pt_BR",
                ));
            }
        }
        current.language = language.clone();
    }
    if let Some(greeting) = &changes.greeting_text {
        if let Some(text) = greeting {
            if text.trim().is_empty() || text.chars().count() > 4096 {
                return Err(AppError::invalid_field(
                    "greeting_text",
                    "greeting_text must be 1 to 4,096 characters, or null for no greeting",
                ));
            }
        }
        current.greeting_text = greeting.clone();
    }
    if let Some(profile) = &changes.profile {
        profile.check()?;
        current.profile = profile.clone();
    }
    if let Some(queue) = changes.default_queue_id {
        if let Some(id) = queue {
            refs::queue(conn, id, "default_queue_id").await?;
        }
        current.default_queue_id = queue;
    }
    if let Some(hours) = changes.business_hours_id {
        if let Some(id) = hours {
            refs::business_hours(conn, id, "business_hours_id").await?;
        }
        current.business_hours_id = hours;
    }
    if let Some(members) = &changes.member_ids {
        refs::agents(conn, members, "member_ids").await?;
    }
    current.customers_may_send_attachments =
        changes.customers_may_send_attachments.unwrap_or(current.customers_may_send_attachments);
    current.agents_may_send_attachments =
        changes.agents_may_send_attachments.unwrap_or(current.agents_may_send_attachments);
    current.csat_enabled = changes.csat_enabled.unwrap_or(current.csat_enabled);
    current.messaging_tier = changes.messaging_tier.unwrap_or(current.messaging_tier);
    current.supports_calling = changes.supports_calling.unwrap_or(current.supports_calling);
    if let Some(ai) = changes.ai_agent_id {
        if let Some(id) = ai {
            refs::ai_agent(conn, id, "ai_agent_id").await?;
        }
        current.ai_agent_id = ai;
    }
    Ok(current)
}

async fn live_channel(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<()> {
    match store::channels::view(conn, id).await? {
        Some(c) if c.deleted_at.is_none() => Ok(()),
        _ => Err(AppError::not_found("channel_not_found", "no channel with this id")),
    }
}

async fn find(conn: &mut sqlx::PgConnection, channel: Uuid, id: Uuid) -> AppResult<Number> {
    store::numbers::find(conn, channel, id)
        .await?
        .ok_or_else(|| AppError::not_found("number_not_found", "no such number on this channel"))
}

/// A channel's WhatsApp numbers. Supervisors and admins.
#[utoipa::path(get, path = "/channels/{id}/numbers", tag = "numbers", params(("id" = Uuid, Path), ListParams),
    responses((status = 200, body = Page<Number>)))]
async fn list(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(channel): ApiPath<Uuid>,
    list: List<NoFilters>,
) -> AppResult<Json<Page<Number>>> {
    live_channel(&mut *state.pool.acquire().await?, channel).await?;
    let rows = store::numbers::list(&state.pool, &list.listing, channel).await?;
    Ok(Json(Page::from_keyed(rows, &list.listing)))
}

/// Adds a WhatsApp number to a channel. Admins.
#[utoipa::path(post, path = "/channels/{id}/numbers", tag = "numbers", params(("id" = Uuid, Path)),
    request_body = Changes, responses((status = 201, body = Number)))]
async fn add(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(channel): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Changes>,
) -> AppResult<(StatusCode, Json<Number>)> {
    let e164 = body
        .e164
        .as_deref()
        .ok_or_else(|| AppError::invalid_field("e164", "e164 is required: the number with +, e.g. +31201234567"))?;
    let e164 = E164::parse(e164.trim()).map_err(|e| AppError::invalid_field("e164", format!("e164: {e}")))?;
    let defaults = NumberSettings {
        name: e164.to_string(),
        language: None,
        customers_may_send_attachments: true,
        agents_may_send_attachments: true,
        greeting_text: None,
        csat_enabled: false,
        ai_agent_id: None,
        profile: BusinessProfile::default(),
        default_queue_id: None,
        business_hours_id: None,
        messaging_tier: crate::domain::opt_in::Tier::Tier250,
        supports_calling: false,
    };
    let mut tx = state.pool.begin().await?;
    live_channel(&mut tx, channel).await?;
    let settings = apply(&mut tx, defaults, &body).await?;
    let number = store::numbers::insert(&mut tx, channel, e164.as_str(), &settings).await.map_err(|e| {
        AppError::on_conflict(
            e,
            &[UniqueConflict {
                constraint: "whatsapp_numbers_channel_e164_key",
                code: "number_exists",
                message: &format!("{e164} is already a number of this channel"),
                field: "e164",
            }],
        )
    })?;
    if let Some(members) = &body.member_ids {
        store::numbers::set_members(&mut tx, number.id, members).await?;
    }
    let number = find(&mut tx, channel, number.id).await?;
    audit(&mut tx, &who, "number.added", None, Some(&number)).await?;
    tx.commit().await?;
    state.channels.invalidate(channel);
    Ok((StatusCode::CREATED, Json(number)))
}

/// Changes a number's name, language, behaviours, business profile, default queue, business hours or agents.
/// Admins.
#[utoipa::path(patch, path = "/channels/{id}/numbers/{number}", tag = "numbers",
    params(("id" = Uuid, Path), ("number" = Uuid, Path)), request_body = Changes,
    responses((status = 200, body = Number)))]
async fn update(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((channel, id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<Changes>,
) -> AppResult<Json<Number>> {
    if changes.e164.is_some() {
        return Err(AppError::invalid_field(
            "e164",
            "a number's e164 cannot change: remove the number and add the new one",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, channel, id).await?;
    let settings = apply(&mut tx, before.settings.clone(), &changes).await?;
    store::numbers::update(&mut tx, id, &settings).await?;
    if let Some(members) = &changes.member_ids {
        store::numbers::set_members(&mut tx, id, members).await?;
    }
    let after = find(&mut tx, channel, id).await?;
    audit(&mut tx, &who, "number.updated", Some(&before), Some(&after)).await?;
    tx.commit().await?;
    state.channels.invalidate(channel);
    Ok(Json(after))
}

/// Removes a number from its channel; its conversations and messages stay. Admins.
#[utoipa::path(delete, path = "/channels/{id}/numbers/{number}", tag = "numbers",
    params(("id" = Uuid, Path), ("number" = Uuid, Path)), responses((status = 204)))]
async fn remove(
    State(state): State<AppState>,
    who: Principal,
    ApiPath((channel, id)): ApiPath<(Uuid, Uuid)>,
) -> AppResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, channel, id).await?;
    let after = store::numbers::remove(&mut tx, id).await?;
    audit(&mut tx, &who, "number.removed", Some(&before), Some(&after)).await?;
    tx.commit().await?;
    state.channels.invalidate(channel);
    Ok(StatusCode::NO_CONTENT)
}

async fn audit(
    conn: &mut sqlx::PgConnection,
    who: &Principal,
    action: &str,
    before: Option<&Number>,
    after: Option<&Number>,
) -> AppResult<()> {
    let to_json = |n: &Number| serde_json::to_value(n).map_err(anyhow::Error::from);
    let target = after.or(before).map(|n| n.id.to_string());
    store::audit::record(
        conn,
        &who.actor(),
        action,
        "whatsapp_number",
        target.as_deref(),
        before.map(to_json).transpose()?.as_ref(),
        after.map(to_json).transpose()?.as_ref(),
    )
    .await?;
    Ok(())
}
