//! Filters that more than one list offers: agents, listed by themselves and as a queue's members.

use super::ListFilters;
use crate::domain::Role;
use crate::store;
use crate::store::listing::{SortKey, BY_CREATED, BY_NAME};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentFilters {
    /// Name or e-mail contains (case-insensitive).
    q: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
    queue_id: Option<Uuid>,
    number_id: Option<Uuid>,
    skill: Option<String>,
    language: Option<String>,
}

impl AgentFilters {
    pub fn to_store(&self) -> store::users::AgentFilter<'_> {
        store::users::AgentFilter {
            text: self.q.as_deref(),
            role: self.role.map(Role::as_str),
            active: self.active,
            queue_id: self.queue_id,
            number_id: self.number_id,
            skill: self.skill.as_deref(),
            language: self.language.as_deref(),
        }
    }
}

impl ListFilters for AgentFilters {
    const SORTS: &'static [SortKey] =
        &[BY_NAME, BY_CREATED, SortKey { name: "email", sql: "lower(email)", sql_type: "text" }];
}
