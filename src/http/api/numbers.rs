//! A channel's WhatsApp numbers: `GET|POST /channels/{id}/numbers`, `PATCH|DELETE /channels/{id}/numbers/{nid}`.
//! Each number has a name, an E.164 number, a language, its behaviours (attachments each way, greeting, CSAT,
//! AI agent) and its WhatsApp business profile. Admins change them; supervisors read them.

use super::ApiJson;
use crate::auth::Principal;
use crate::domain::business_profile::{is_language_tag, BusinessProfile};
use crate::domain::{Role, E164};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::{self, numbers::Number, numbers::NumberSettings};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/channels/{id}/numbers", get(list).post(add))
        .route("/channels/{id}/numbers/{number}", patch(update).delete(remove))
}

/// Absent: leave as it is; `null`: clear; a value: set.
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Changes {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    language: Option<Option<String>>,
    customers_may_send_attachments: Option<bool>,
    agents_may_send_attachments: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    greeting_text: Option<Option<String>>,
    csat_enabled: Option<bool>,
    ai_agent_enabled: Option<bool>,
    profile: Option<BusinessProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNumber {
    e164: String,
    #[serde(flatten)]
    settings: Changes,
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_field", message).with_field(field)
}

/// Applies `changes` to `current`, checking every value it sets.
fn apply(mut current: NumberSettings, changes: Changes) -> AppResult<NumberSettings> {
    if let Some(name) = changes.name {
        let name = name.trim().to_owned();
        if name.is_empty() || name.len() > 200 {
            return Err(invalid("name", "name must be 1 to 200 characters"));
        }
        current.name = name;
    }
    if let Some(language) = changes.language {
        if let Some(tag) = &language {
            if !is_language_tag(tag) {
                return Err(invalid("language", "language must be a language tag such as nl, en-US or pt_BR"));
            }
        }
        current.language = language;
    }
    if let Some(greeting) = changes.greeting_text {
        if let Some(text) = &greeting {
            if text.trim().is_empty() || text.chars().count() > 4096 {
                return Err(invalid(
                    "greeting_text",
                    "greeting_text must be 1 to 4,096 characters, or null for no greeting",
                ));
            }
        }
        current.greeting_text = greeting;
    }
    if let Some(profile) = changes.profile {
        profile.check().map_err(|e| invalid(&e.field, e.message))?;
        current.profile = profile;
    }
    current.customers_may_send_attachments =
        changes.customers_may_send_attachments.unwrap_or(current.customers_may_send_attachments);
    current.agents_may_send_attachments =
        changes.agents_may_send_attachments.unwrap_or(current.agents_may_send_attachments);
    current.csat_enabled = changes.csat_enabled.unwrap_or(current.csat_enabled);
    current.ai_agent_enabled = changes.ai_agent_enabled.unwrap_or(current.ai_agent_enabled);
    Ok(current)
}

fn settings_of(n: &Number) -> NumberSettings {
    NumberSettings {
        name: n.name.clone(),
        language: n.language.clone(),
        customers_may_send_attachments: n.customers_may_send_attachments,
        agents_may_send_attachments: n.agents_may_send_attachments,
        greeting_text: n.greeting_text.clone(),
        csat_enabled: n.csat_enabled,
        ai_agent_enabled: n.ai_agent_enabled,
        profile: n.profile.0.clone(),
    }
}

async fn live_channel(conn: &mut sqlx::PgConnection, id: Uuid) -> AppResult<()> {
    match store::channels::view(conn, id).await? {
        Some(c) if c.deleted_at.is_none() => Ok(()),
        _ => Err(AppError::not_found("channel_not_found", "no channel with this id")),
    }
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    Path(channel): Path<Uuid>,
) -> AppResult<Json<Vec<Number>>> {
    who.require(Role::Supervisor)?;
    let mut conn = state.pool.acquire().await?;
    live_channel(&mut conn, channel).await?;
    Ok(Json(store::numbers::list(&mut conn, channel).await?))
}

async fn add(
    State(state): State<AppState>,
    who: Principal,
    Path(channel): Path<Uuid>,
    ApiJson(body): ApiJson<NewNumber>,
) -> AppResult<(StatusCode, Json<Number>)> {
    who.require(Role::Admin)?;
    let e164 = E164::parse(body.e164.trim()).map_err(|e| invalid("e164", format!("e164: {e}")))?;
    let defaults = NumberSettings {
        name: e164.to_string(),
        language: None,
        customers_may_send_attachments: true,
        agents_may_send_attachments: true,
        greeting_text: None,
        csat_enabled: false,
        ai_agent_enabled: false,
        profile: BusinessProfile::default(),
    };
    let settings = apply(defaults, body.settings)?;
    let mut tx = state.pool.begin().await?;
    live_channel(&mut tx, channel).await?;
    let number = store::numbers::insert(&mut tx, channel, e164.as_str(), &settings).await.map_err(|e| {
        match store::violated_constraint(&e) {
            Some("whatsapp_numbers_channel_e164_key") => AppError::client(
                StatusCode::CONFLICT,
                "number_exists",
                format!("{e164} is already a number of this channel"),
            )
            .with_field("e164"),
            _ => e.into(),
        }
    })?;
    audit(&mut tx, &who, "number.added", None, Some(&number)).await?;
    tx.commit().await?;
    state.channels.invalidate(channel);
    Ok((StatusCode::CREATED, Json(number)))
}

async fn update(
    State(state): State<AppState>,
    who: Principal,
    Path((channel, id)): Path<(Uuid, Uuid)>,
    ApiJson(changes): ApiJson<Changes>,
) -> AppResult<Json<Number>> {
    who.require(Role::Admin)?;
    let mut tx = state.pool.begin().await?;
    let before = store::numbers::find(&mut tx, channel, id)
        .await?
        .ok_or_else(|| AppError::not_found("number_not_found", "no such number on this channel"))?;
    let settings = apply(settings_of(&before), changes)?;
    let after = store::numbers::update(&mut tx, id, &settings).await?;
    audit(&mut tx, &who, "number.updated", Some(&before), Some(&after)).await?;
    tx.commit().await?;
    state.channels.invalidate(channel);
    Ok(Json(after))
}

async fn remove(
    State(state): State<AppState>,
    who: Principal,
    Path((channel, id)): Path<(Uuid, Uuid)>,
) -> AppResult<StatusCode> {
    who.require(Role::Admin)?;
    let mut tx = state.pool.begin().await?;
    let before = store::numbers::find(&mut tx, channel, id)
        .await?
        .ok_or_else(|| AppError::not_found("number_not_found", "no such number on this channel"))?;
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
