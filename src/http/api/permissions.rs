//! Which permission each API operation needs: declared here once per route, enforced by [`layer`] before the
//! handler runs (403 naming the permission), and written into the OpenAPI document as the operation's security
//! scope. [`check_covered`] refuses to build a router with an operation missing from this table, so a new route
//! cannot go out without a declared permission.
//!
//! Handlers keep the rules that depend on the data, not the route: what an agent may *see* (their own
//! conversations, queues, contacts), and that only admins manage supervisors and admins.

use crate::auth::{PendingPrincipal, Principal};
use crate::domain::Permission::{self, *};
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// What calling an operation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: logging in.
    Public,
    /// Any caller who authenticated (their own session, profile and password).
    Caller,
    Permission(Permission),
    /// The caller's own record, or anyone's with the permission (the handler checks which it is).
    OwnOr(Permission),
}

use Needs::Permission as P;

/// (method, path under `/api/v1`, what it needs).
pub const ROUTES: &[(&str, &str, Needs)] = &[
    ("POST", "/auth/login", Needs::Public),
    ("POST", "/auth/logout", Needs::Caller),
    ("GET", "/auth/me", Needs::Caller),
    ("GET", "/auth/session", Needs::Caller),
    ("POST", "/auth/password", Needs::Caller),
    ("GET", "/permissions", Needs::Caller),
    // Conversations.
    ("GET", "/conversations", P(ConversationRead)),
    ("GET", "/conversations/counts", P(ConversationRead)),
    ("POST", "/conversations", P(ConversationCreate)),
    ("GET", "/conversations/{id}", P(ConversationRead)),
    ("PATCH", "/conversations/{id}", P(ConversationUpdate)),
    ("GET", "/conversations/{id}/messages", P(ConversationRead)),
    ("POST", "/conversations/{id}/messages", P(ConversationMessageCreate)),
    ("POST", "/conversations/{id}/messages/{message_id}/retry", P(ConversationMessageCreate)),
    ("GET", "/conversations/{id}/events", P(ConversationRead)),
    ("GET", "/conversations/{id}/notes", P(ConversationRead)),
    ("POST", "/conversations/{id}/notes", P(ConversationNoteCreate)),
    ("POST", "/conversations/{id}/read", P(ConversationUpdate)),
    ("PUT", "/conversations/{id}/tags", P(ConversationUpdate)),
    ("POST", "/conversations/{id}/resolve", P(ConversationUpdate)),
    ("POST", "/conversations/{id}/reopen", P(ConversationUpdate)),
    ("POST", "/conversations/{id}/snooze", P(ConversationUpdate)),
    ("POST", "/conversations/{id}/claim", P(ConversationAssign)),
    ("POST", "/conversations/{id}/assign", P(ConversationAssign)),
    ("POST", "/conversations/{id}/transfer", P(ConversationAssign)),
    ("POST", "/conversations/{id}/unassign", P(ConversationAssign)),
    ("POST", "/conversations/{id}/handover", P(ConversationAssign)),
    // Calls.
    ("GET", "/calls/{id}", P(ConversationRead)),
    ("GET", "/conversations/{id}/calls", P(ConversationRead)),
    ("POST", "/conversations/{id}/calls", P(ConversationMessageCreate)),
    ("GET", "/conversations/{id}/call-permission", P(ConversationRead)),
    ("GET", "/call-permission", P(ConversationRead)),
    ("POST", "/calls/{id}/accept", P(ConversationAssign)),
    ("POST", "/calls/{id}/decline", P(ConversationAssign)),
    ("POST", "/calls/{id}/hold", P(ConversationAssign)),
    ("POST", "/calls/{id}/transfer", P(ConversationAssign)),
    ("GET", "/voice/token", P(ConversationAssign)),
    ("GET", "/attachments/{id}", P(ConversationRead)),
    ("DELETE", "/attachments/{id}", P(AttachmentErase)),
    ("POST", "/uploads", P(ConversationMessageCreate)),
    ("GET", "/live", P(ConversationRead)),
    // Contacts, the agent's own things.
    ("GET", "/contacts", P(ContactRead)),
    ("GET", "/contacts/{id}", P(ContactRead)),
    ("GET", "/contacts/export", P(ContactRead)),
    ("POST", "/contacts/import", P(ContactWrite)),
    ("PATCH", "/contacts/{id}", P(ContactWrite)),
    ("POST", "/contacts/{id}/block", P(ContactWrite)),
    ("POST", "/contacts/{id}/unblock", P(ContactWrite)),
    ("GET", "/contacts/{id}/opt-ins", P(ContactOptinRead)),
    ("POST", "/contacts/{id}/opt-ins", P(ContactOptinWrite)),
    ("POST", "/opt-ins/import", P(ContactOptinWrite)),
    // Agentless notifications.
    ("POST", "/notifications", P(NotificationSend)),
    ("POST", "/notifications/batches", P(NotificationSend)),
    ("GET", "/notifications/batches/{id}", P(NotificationSend)),
    // Outgoing webhooks and the event log.
    ("GET", "/webhooks", P(WebhookManage)),
    ("POST", "/webhooks", P(WebhookManage)),
    ("GET", "/webhooks/{id}", P(WebhookManage)),
    ("PATCH", "/webhooks/{id}", P(WebhookManage)),
    ("DELETE", "/webhooks/{id}", P(WebhookManage)),
    ("GET", "/webhooks/{id}/deliveries", P(WebhookManage)),
    ("POST", "/webhooks/{id}/deliveries/{delivery}/redeliver", P(WebhookManage)),
    ("GET", "/events", P(EventRead)),
    ("PUT", "/agents/me/presence", P(PresenceWrite)),
    ("PUT", "/agents/me/preferences", P(PresenceWrite)),
    ("GET", "/directory", P(DirectoryRead)),
    ("GET", "/csat", P(CsatRead)),
    ("GET", "/reports/summary", P(ReportRead)),
    ("GET", "/reports/timeseries", P(ReportRead)),
    // People and queues.
    ("GET", "/agents", P(AgentRead)),
    ("POST", "/agents", P(AgentManage)),
    ("GET", "/agents/{id}", Needs::OwnOr(AgentRead)),
    ("PATCH", "/agents/{id}", P(AgentManage)),
    ("DELETE", "/agents/{id}", P(AgentManage)),
    ("PUT", "/agents/{id}/presence", P(PresenceManage)),
    ("GET", "/queues", P(QueueRead)),
    ("POST", "/queues", P(QueueManage)),
    ("GET", "/queues/{id}", P(QueueRead)),
    ("PATCH", "/queues/{id}", P(QueueManage)),
    ("DELETE", "/queues/{id}", P(QueueManage)),
    ("GET", "/queues/{id}/members", P(QueueRead)),
    ("PUT", "/queues/{id}/members", P(QueueMemberManage)),
    ("POST", "/queues/{id}/members", P(QueueMemberManage)),
    ("DELETE", "/queues/{id}/members/{user}", P(QueueMemberManage)),
    ("GET", "/overview", P(OverviewRead)),
    // What agents answer with.
    ("GET", "/canned-responses", P(CannedResponseRead)),
    ("POST", "/canned-responses", P(CannedResponseManage)),
    ("GET", "/canned-responses/{id}", P(CannedResponseRead)),
    ("PATCH", "/canned-responses/{id}", P(CannedResponseManage)),
    ("DELETE", "/canned-responses/{id}", P(CannedResponseManage)),
    ("GET", "/tags", P(TagRead)),
    ("POST", "/tags", P(TagManage)),
    ("GET", "/tags/{id}", P(TagRead)),
    ("PATCH", "/tags/{id}", P(TagManage)),
    ("DELETE", "/tags/{id}", P(TagManage)),
    ("GET", "/templates", P(TemplateRead)),
    ("POST", "/templates", P(TemplateManage)),
    ("GET", "/templates/{id}", P(TemplateRead)),
    ("PATCH", "/templates/{id}", P(TemplateManage)),
    ("DELETE", "/templates/{id}", P(TemplateManage)),
    ("POST", "/templates/{id}/preview", P(TemplateRead)),
    ("POST", "/templates/sync", P(TemplateManage)),
    // Configuration.
    ("GET", "/channels", P(ChannelRead)),
    ("POST", "/channels", P(ChannelManage)),
    ("GET", "/channels/{id}", P(ChannelRead)),
    ("PATCH", "/channels/{id}", P(ChannelManage)),
    ("DELETE", "/channels/{id}", P(ChannelManage)),
    ("POST", "/channels/{id}/auth-token", P(ChannelManage)),
    ("DELETE", "/channels/{id}/auth-token/secondary", P(ChannelManage)),
    ("GET", "/channels/{id}/numbers", P(ChannelRead)),
    ("POST", "/channels/{id}/numbers", P(ChannelManage)),
    ("PATCH", "/channels/{id}/numbers/{number}", P(ChannelManage)),
    ("DELETE", "/channels/{id}/numbers/{number}", P(ChannelManage)),
    ("GET", "/routing/rules", P(RoutingRead)),
    ("POST", "/routing/rules", P(RoutingManage)),
    ("GET", "/routing/rules/{id}", P(RoutingRead)),
    ("PATCH", "/routing/rules/{id}", P(RoutingManage)),
    ("DELETE", "/routing/rules/{id}", P(RoutingManage)),
    ("POST", "/routing/rules/reorder", P(RoutingManage)),
    ("POST", "/routing/explain", P(RoutingRead)),
    ("GET", "/automation/numbers/{id}", P(AutomationRead)),
    ("PUT", "/automation/numbers/{id}", P(AutomationManage)),
    ("GET", "/automation/queues/{id}", P(AutomationRead)),
    ("PUT", "/automation/queues/{id}", P(AutomationManage)),
    ("GET", "/automation/rules", P(AutomationRead)),
    ("POST", "/automation/rules", P(AutomationManage)),
    ("GET", "/automation/rules/{id}", P(AutomationRead)),
    ("PATCH", "/automation/rules/{id}", P(AutomationManage)),
    ("DELETE", "/automation/rules/{id}", P(AutomationManage)),
    ("POST", "/automation/rules/reorder", P(AutomationManage)),
    ("POST", "/automation/explain", P(AutomationRead)),
    ("GET", "/business-hours", P(BusinessHoursRead)),
    ("POST", "/business-hours", P(BusinessHoursManage)),
    ("GET", "/business-hours/{id}", P(BusinessHoursRead)),
    ("PATCH", "/business-hours/{id}", P(BusinessHoursManage)),
    ("DELETE", "/business-hours/{id}", P(BusinessHoursManage)),
    ("GET", "/ai-agents", P(AiAgentRead)),
    ("POST", "/ai-agents", P(AiAgentManage)),
    ("GET", "/ai-agents/{id}", P(AiAgentRead)),
    ("PATCH", "/ai-agents/{id}", P(AiAgentManage)),
    ("DELETE", "/ai-agents/{id}", P(AiAgentManage)),
    ("POST", "/ai-agents/{id}/try", P(AiAgentRead)),
    ("GET", "/oauth-clients", P(OauthClientManage)),
    ("POST", "/oauth-clients", P(OauthClientManage)),
    ("GET", "/oauth-clients/{id}", P(OauthClientManage)),
    ("DELETE", "/oauth-clients/{id}", P(OauthClientManage)),
    ("POST", "/oauth-clients/{id}/secret", P(OauthClientManage)),
    ("GET", "/tokens", P(TokenManage)),
    ("POST", "/tokens", P(TokenManage)),
    ("DELETE", "/tokens/{id}", P(TokenManage)),
    ("GET", "/audit", P(AuditRead)),
];

/// Where the API is mounted; [`ROUTES`] are relative to it.
pub const PREFIX: &str = "/api/v1";

/// What `method` on the route pattern `path` (as axum and OpenAPI write it, with the prefix) needs.
pub fn needs(method: &str, path: &str) -> Option<Needs> {
    let path = path.strip_prefix(PREFIX)?;
    ROUTES.iter().find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path).map(|(_, _, n)| *n)
}

/// Panics (at start-up, and so in every test) when an operation (method, full path) has no declared
/// permission, or a declaration names no operation.
pub fn check_covered(operations: &[(String, String)]) {
    let missing: Vec<String> =
        operations.iter().filter(|(m, p)| needs(m, p).is_none()).map(|(m, p)| format!("{m} {p}")).collect();
    let stale: Vec<String> = ROUTES
        .iter()
        .filter(|(m, p, _)| {
            !operations.iter().any(|(om, op)| om.eq_ignore_ascii_case(m) && *op == format!("{PREFIX}{p}"))
        })
        .map(|(m, p, _)| format!("{m} {PREFIX}{p}"))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "http::api::permissions::ROUTES must declare every operation exactly: missing {missing:?}, no such operation {stale:?}"
    );
}

/// Authenticates the caller and checks the route's permission before the handler runs; the caller is left in
/// the request for the handler's own extractor.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, AppError> {
    let Some(route) = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        return Ok(next.run(request).await);
    };
    let needed = needs(request.method().as_str(), &route);
    let permission = match needed {
        Some(Needs::Permission(p)) => p,
        // Public operations, and the caller's own: their handlers' extractors authenticate as they need.
        Some(Needs::Public | Needs::Caller | Needs::OwnOr(_)) => return Ok(next.run(request).await),
        None => return Err(AppError::Internal(anyhow::anyhow!("no permission declared for {route}"))),
    };
    let (mut parts, body) = request.into_parts();
    let pending = PendingPrincipal::from_request_parts(&mut parts, &state).await?;
    parts.extensions.insert(pending.clone());
    let who = Principal::from_request_parts(&mut parts, &state).await?;
    who.require_permission(permission)?;
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// The named permissions, each known and held by `role`, in catalogue order.
pub fn subset(role: crate::domain::Role, names: &[String]) -> Result<Vec<Permission>, AppError> {
    if names.is_empty() {
        return Err(AppError::invalid_field(
            "permissions",
            "give at least one permission, or leave permissions out for the role's whole bundle",
        ));
    }
    let mut chosen = Vec::with_capacity(names.len());
    for name in names {
        let p: Permission = name.parse().map_err(|_| {
            AppError::invalid_field(
                "permissions",
                format!("{name:?} is not a permission; GET /api/v1/permissions lists them"),
            )
        })?;
        if !role.grants(p) {
            return Err(AppError::invalid_field("permissions", format!("the {role} role does not hold {p}")));
        }
        chosen.push(p);
    }
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

/// A permission as the API lists it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PermissionView {
    /// E.g. `conversation:message:create`.
    name: &'static str,
    description: &'static str,
    /// The roles whose bundle holds it.
    roles: Vec<crate::domain::Role>,
}

/// The permission catalogue.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Catalogue {
    items: Vec<PermissionView>,
}

/// Every permission, what it allows and which roles hold it.
#[utoipa::path(get, path = "/permissions", tag = "auth", responses((status = 200, body = Catalogue)))]
async fn list(_who: Principal) -> axum::Json<Catalogue> {
    let items = Permission::ALL
        .iter()
        .map(|p| PermissionView {
            name: p.as_str(),
            description: p.describe(),
            roles: crate::domain::Role::ALL.into_iter().filter(|r| r.grants(*p)).collect(),
        })
        .collect();
    axum::Json(Catalogue { items })
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(list))
}
