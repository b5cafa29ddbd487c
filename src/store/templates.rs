//! WhatsApp message templates (Twilio Content API resources) and their approval status.

use super::listing::{Keyed, Listing, UUID_ID};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: Uuid,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub settings: TemplateSettings,
    /// How many variables the body has.
    pub variable_count: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Everything about a template that people (or the sync from Twilio) set.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct TemplateSettings {
    /// WhatsApp's template name: lowercase letters, digits and `_`.
    pub name: String,
    pub language: String,
    /// The text with `{{1}}`, `{{2}}`, … where the variables go.
    pub body: String,
    /// Twilio's Content SID (`HX…`), once the template exists at Twilio.
    pub content_sid: Option<String>,
    /// `utility`, `marketing` or `authentication`.
    pub category: String,
    /// `unsubmitted`, `received`, `pending`, `approved`, `rejected`, `paused` or `disabled`. Outside the 24-hour
    /// window only `approved` templates may be sent.
    pub approval_status: String,
    pub rejection_reason: Option<String>,
    pub tags: Vec<String>,
    /// Twilio's content type: `twilio/text`, `twilio/quick-reply`, `twilio/list-picker`, … Inside the 24-hour
    /// window interactive types may be sent without approval.
    pub content_type: String,
    /// Quick replies, list items or call-to-action buttons, in order.
    #[schema(value_type = Vec<crate::domain::template::Button>)]
    pub buttons: sqlx::types::Json<Vec<crate::domain::template::Button>>,
}

const COLUMNS: &str = "id, name, language, body,
    (SELECT count(DISTINCT m[1])::int4 FROM regexp_matches(body, '[{][{][[:space:]]*([0-9]+)[[:space:]]*[}][}]', 'g') m) AS variable_count,
    content_sid, category, approval_status, rejection_reason, tags, content_type, buttons, created_at, updated_at";

type TemplateQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, Template, sqlx::postgres::PgArguments>;

/// Binds the settings as the next ten parameters, in the order of the columns in [`TemplateSettings`].
trait BindSettings<'q> {
    fn bind_settings(self, s: &'q TemplateSettings) -> Self;
}

impl<'q> BindSettings<'q> for TemplateQuery<'q> {
    fn bind_settings(self, s: &'q TemplateSettings) -> Self {
        self.bind(&s.name)
            .bind(&s.language)
            .bind(&s.body)
            .bind(&s.content_sid)
            .bind(&s.category)
            .bind(&s.approval_status)
            .bind(&s.rejection_reason)
            .bind(&s.tags)
            .bind(&s.content_type)
            .bind(&s.buttons)
    }
}

pub async fn insert(conn: &mut PgConnection, s: &TemplateSettings) -> sqlx::Result<Template> {
    sqlx::query_as(&format!(
        "INSERT INTO templates (id, name, language, body, content_sid, category, approval_status, rejection_reason, tags,
                                content_type, buttons)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind_settings(s)
    .fetch_one(conn)
    .await
}

pub async fn update(conn: &mut PgConnection, id: Uuid, s: &TemplateSettings) -> sqlx::Result<Template> {
    sqlx::query_as(&format!(
        "UPDATE templates SET name = $2, language = $3, body = $4, content_sid = $5, category = $6,
                approval_status = $7, rejection_reason = $8, tags = $9, content_type = $10, buttons = $11,
                updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind_settings(s)
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Template>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn find_by_name(conn: &mut PgConnection, name: &str, language: &str) -> sqlx::Result<Option<Template>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE name = $1 AND lower(language) = lower($2)"))
        .bind(name)
        .bind(language)
        .fetch_optional(conn)
        .await
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM templates WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// Name, body or a tag contains it, case-insensitively.
    pub text: Option<&'a str>,
    pub language: Option<&'a str>,
    pub approval_status: Option<&'a str>,
    pub category: Option<&'a str>,
    pub tag: Option<&'a str>,
}

pub async fn list(pool: &PgPool, listing: &Listing, f: &Filter<'_>) -> sqlx::Result<Vec<Keyed<Template>>> {
    let mut q = listing.select(COLUMNS, "templates", UUID_ID);
    if let Some(text) = f.text {
        q.push(" AND strpos(lower(name || ' ' || body || ' ' || array_to_string(tags, ' ')), lower(")
            .push_bind(text.to_owned())
            .push(")) > 0");
    }
    if let Some(language) = f.language {
        q.push(" AND lower(language) = lower(").push_bind(language.to_owned()).push(")");
    }
    if let Some(status) = f.approval_status {
        q.push(" AND approval_status = ").push_bind(status.to_owned());
    }
    if let Some(category) = f.category {
        q.push(" AND category = ").push_bind(category.to_owned());
    }
    if let Some(tag) = f.tag {
        q.push(" AND EXISTS (SELECT 1 FROM unnest(tags) t WHERE lower(t) = lower(")
            .push_bind(tag.to_owned())
            .push("))");
    }
    listing.fetch(pool, q, UUID_ID).await
}

/// What a sync did with one template from Twilio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Created,
    Updated,
    Unchanged,
    /// Another template (with another Content SID) has this name and language.
    NameTaken,
}

/// Stores a template as Twilio has it: found by its Content SID, or else a hand-entered template of the same
/// name and language without a Content SID is adopted, or else it is created. Tags are local and kept.
pub async fn upsert_synced(conn: &mut PgConnection, s: &TemplateSettings) -> sqlx::Result<Synced> {
    let existing: Option<Template> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE content_sid = $1 FOR UPDATE"))
            .bind(&s.content_sid)
            .fetch_optional(&mut *conn)
            .await?;
    let adopt = match existing {
        Some(t) => Some(t),
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM templates WHERE name = $1 AND lower(language) = lower($2) FOR UPDATE"
            ))
            .bind(&s.name)
            .bind(&s.language)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    match adopt {
        Some(t) if t.settings.content_sid.is_some() && t.settings.content_sid != s.content_sid => Ok(Synced::NameTaken),
        Some(t) => {
            let merged = TemplateSettings { tags: t.settings.tags.clone(), ..s.clone() };
            let same = t.settings.name == merged.name
                && t.settings.language == merged.language
                && t.settings.body == merged.body
                && t.settings.content_sid == merged.content_sid
                && t.settings.category == merged.category
                && t.settings.approval_status == merged.approval_status
                && t.settings.rejection_reason == merged.rejection_reason
                && t.settings.content_type == merged.content_type
                && t.settings.buttons.0 == merged.buttons.0;
            if same {
                return Ok(Synced::Unchanged);
            }
            // Another template may hold the new name and language.
            let clash: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM templates WHERE name = $1 AND lower(language) = lower($2) AND id <> $3)",
            )
            .bind(&merged.name)
            .bind(&merged.language)
            .bind(t.id)
            .fetch_one(&mut *conn)
            .await?;
            if clash {
                return Ok(Synced::NameTaken);
            }
            update(conn, t.id, &merged).await?;
            Ok(Synced::Updated)
        }
        None => {
            insert(conn, s).await?;
            Ok(Synced::Created)
        }
    }
}
