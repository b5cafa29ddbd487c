//! Who acts in a use case, whatever brought them there: a person or API token through the API, and later an
//! automation, the AI agent or the notifications API. The flow modules (`outbound`, `routing`) take a
//! [`Caller`], never an HTTP request.

use crate::store::audit::Actor;
use crate::store::conversations::Visibility;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Caller {
    /// Who the timeline and the audit log name.
    pub actor: Actor,
    /// The user acting, if a person (an API token is nobody's agent).
    pub user_id: Option<Uuid>,
    /// Supervisors and admins may act on any conversation; agents on their own and their queues'.
    pub supervisor: bool,
}

impl Caller {
    /// The conversations the caller may see and act on: all for supervisors, admins and their tokens; for an
    /// agent those assigned to them, in their queues or on the numbers they serve. An API token with the agent
    /// role is nobody's agent, so it sees none.
    pub fn visibility(&self) -> Visibility {
        if self.supervisor {
            Visibility::All
        } else {
            Visibility::Agent(self.user_id.unwrap_or(Uuid::nil()))
        }
    }
}
