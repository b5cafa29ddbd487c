//! The named permissions every API operation needs, in the style of the contact centers our customers come from
//! (`conversation:message:create`, `conversation:read`, …), and the roles as bundles of them.
//!
//! Roles are nested (an agent's permissions ⊂ a supervisor's ⊂ an admin's), so each permission names the least
//! role that holds it, and a role holds every permission whose least role it includes. Which operation needs
//! which permission is declared once per route, in `http::api::permissions`.

use super::Role;
use std::fmt;
use std::str::FromStr;

macro_rules! permissions {
    ($($variant:ident = $name:literal, $role:ident, $what:literal;)+) => {
        /// One thing a caller may do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($variant,)+
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &[Permission] = &[$(Self::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// The least role that holds it.
            pub fn least_role(self) -> Role {
                match self {
                    $(Self::$variant => Role::$role,)+
                }
            }

            /// What it allows, for people.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Self::$variant => $what,)+
                }
            }
        }
    };
}

permissions! {
    ConversationRead = "conversation:read", Agent,
        "Read conversations, their messages, notes, timeline and attachments, and follow them live (agents: the ones they may see)";
    ConversationCreate = "conversation:create", Agent, "Start a conversation with a customer (an approved template)";
    ConversationUpdate = "conversation:update", Agent,
        "Change a conversation: priority, topic, tags, read marker; resolve and reopen it";
    ConversationAssign = "conversation:assign", Agent,
        "Claim, assign, transfer and unassign conversations, and take one over from an AI agent";
    ConversationMessageCreate = "conversation:message:create", Agent, "Send messages and upload their attachments";
    ConversationNoteCreate = "conversation:note:create", Agent, "Write private notes on conversations";
    ContactRead = "contact:read", Agent, "Read contacts (agents: those of conversations they may see)";
    ContactWrite = "contact:write", Agent, "Change a contact's name, language and attributes";
    PresenceWrite = "presence:write", Agent, "Set one's own presence (online, away, offline)";
    DirectoryRead = "directory:read", Agent, "Read the names of agents, queues and numbers";
    QueueRead = "queue:read", Agent, "Read queues and their members (agents: their own queues)";
    CannedResponseRead = "canned_response:read", Agent, "Read canned responses";
    TagRead = "tag:read", Agent, "Read tags";
    TemplateRead = "template:read", Agent, "Read WhatsApp templates and preview them";
    CsatRead = "csat:read", Agent, "Read satisfaction surveys (agents: their own conversations')";
    ReportRead = "report:read", Agent, "Read reports (agents: their own figures)";
    ContactOptinRead = "contact:optin:read", Agent, "Read a contact's opt-ins and opt-outs";
    ContactOptinWrite = "contact:optin:write", Supervisor,
        "Record a contact's opt-in or opt-out, and import opt-ins from CSV";
    NotificationSend = "notification:send", Supervisor,
        "Send notifications (template messages without an agent), one or in batches, and read their batches";
    AgentRead = "agent:read", Supervisor, "Read agents";
    AgentManage = "agent:manage", Supervisor, "Create, change and deactivate users (only admins manage supervisors and admins)";
    PresenceManage = "presence:manage", Supervisor, "Set other agents' presence";
    QueueMemberManage = "queue:member:manage", Supervisor, "Add agents to queues and remove them";
    ChannelRead = "channel:read", Supervisor, "Read channels and their numbers";
    RoutingRead = "routing:read", Supervisor, "Read routing rules and explain routing decisions";
    AutomationRead = "automation:read", Supervisor, "Read automation rules and settings and explain them";
    BusinessHoursRead = "business_hours:read", Supervisor, "Read business hours";
    AiAgentRead = "ai_agent:read", Supervisor, "Read AI agents and try them";
    CannedResponseManage = "canned_response:manage", Supervisor, "Create, change and remove canned responses";
    TagManage = "tag:manage", Supervisor, "Create, change and remove tags";
    OverviewRead = "overview:read", Supervisor, "Read the live overview of queues and agents";
    AttachmentErase = "attachment:erase", Supervisor, "Erase an attachment's file (kept: that it existed)";
    ChannelManage = "channel:manage", Admin, "Connect, change and remove channels and numbers, rotate Auth Tokens";
    QueueManage = "queue:manage", Admin, "Create, change and remove queues";
    RoutingManage = "routing:manage", Admin, "Create, change, reorder and remove routing rules";
    AutomationManage = "automation:manage", Admin, "Change automation rules and settings";
    BusinessHoursManage = "business_hours:manage", Admin, "Create, change and remove business hours";
    AiAgentManage = "ai_agent:manage", Admin, "Create, change and remove AI agents";
    TemplateManage = "template:manage", Admin, "Create, change, remove and sync WhatsApp templates";
    TokenManage = "token:manage", Admin, "Create, list and revoke API tokens";
    OauthClientManage = "oauth_client:manage", Admin, "Create, list, rotate and revoke OAuth clients";
    AuditRead = "audit:read", Admin, "Read the audit log";
    WebhookManage = "webhook:manage", Admin,
        "Create, change and remove outgoing webhooks, read their deliveries and redeliver";
    EventRead = "event:read", Admin, "Read the event log from a cursor (GET /events), as webhooks receive it";
}

impl Permission {
    /// The permissions of these names that the catalogue knows; a name no longer in it grants nothing (a
    /// stored token or client fails closed).
    pub fn known<S: AsRef<str>>(names: &[S]) -> Vec<Permission> {
        names.iter().filter_map(|n| n.as_ref().parse().ok()).collect()
    }
}

impl Role {
    /// Whether this role's bundle holds `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.includes(permission.least_role())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s).ok_or_else(|| format!("unknown permission {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roles_are_nested_bundles() {
        let bundle =
            |r: Role| -> Vec<Permission> { Permission::ALL.iter().copied().filter(|p| r.grants(*p)).collect() };
        let (agent, supervisor, admin) = (bundle(Role::Agent), bundle(Role::Supervisor), bundle(Role::Admin));
        assert!(agent.iter().all(|p| supervisor.contains(p)));
        assert!(supervisor.iter().all(|p| admin.contains(p)));
        assert_eq!(admin, Permission::ALL);
        assert!(agent.contains(&Permission::ConversationMessageCreate));
        assert!(!agent.contains(&Permission::AgentRead));
        assert!(!supervisor.contains(&Permission::ChannelManage));
    }

    #[test]
    fn names_are_unique_resource_colon_action_and_read_back() {
        let mut names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        for name in &names {
            assert!(name.contains(':') && name.bytes().all(|b| b.is_ascii_lowercase() || b == b':' || b == b'_'));
            assert_eq!(name.parse::<Permission>().unwrap().as_str(), *name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
        assert!("conversation:delete".parse::<Permission>().is_err());
        assert_eq!(Permission::known(&["tag:read", "gone:read"]), [Permission::TagRead]);
    }
}
