//! The sandbox's Content API catalogue: a few templates in the shapes Twilio returns, with the approval
//! statuses a real account has (approved ones, one pending, one rejected).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub struct Entry {
    pub name: &'static str,
    pub language: &'static str,
    pub category: &'static str,
    pub status: &'static str,
    pub rejection_reason: &'static str,
    pub body: &'static str,
    /// Quick-reply buttons `(title, id)`; the id comes back as `ButtonPayload`.
    pub buttons: &'static [(&'static str, &'static str)],
}

pub const CATALOGUE: &[Entry] = &[
    Entry {
        name: "appointment_reminder",
        language: "en",
        category: "UTILITY",
        status: "approved",
        rejection_reason: "",
        body: "Hello {{1}}, this is a reminder of your appointment on {{2}} at {{3}}. Reply to confirm or reschedule.",
        buttons: &[],
    },
    Entry {
        name: "order_update",
        language: "en",
        category: "UTILITY",
        status: "approved",
        rejection_reason: "",
        body: "Your order {{1}} has shipped and should arrive by {{2}}.",
        buttons: &[],
    },
    Entry {
        name: "welcome_back",
        language: "en",
        category: "MARKETING",
        status: "approved",
        rejection_reason: "",
        body: "Hi {{1}}! We would love to hear from you again. Can we help with anything?",
        buttons: &[("Yes, please", "help_yes"), ("No, thanks", "help_no")],
    },
    Entry {
        name: "seguimiento_caso",
        language: "es",
        category: "UTILITY",
        status: "approved",
        rejection_reason: "",
        body: "Hola {{1}}, ¿podemos ayudarte con algo más sobre tu caso {{2}}?",
        buttons: &[],
    },
    Entry {
        name: "summer_sale",
        language: "en",
        category: "MARKETING",
        status: "pending",
        rejection_reason: "",
        body: "Our summer sale starts {{1}}: up to 30% off everything.",
        buttons: &[],
    },
    Entry {
        name: "account_alert",
        language: "en",
        category: "UTILITY",
        status: "rejected",
        rejection_reason: "The template's content is ambiguous about its purpose.",
        body: "Unusual activity on your account from {{1}}.",
        buttons: &[],
    },
];

/// The Content SID of an entry in an account: stable, so that syncing twice finds the same templates.
pub fn sid(account_sid: &str, entry: &Entry) -> String {
    let digest = Sha256::digest(format!("{account_sid}/{}", entry.name).as_bytes());
    format!("HX{}", &hex::encode(digest)[..32])
}

pub fn find<'a>(account_sid: &str, content_sid: &str) -> Option<&'a Entry> {
    CATALOGUE.iter().find(|e| sid(account_sid, e) == content_sid)
}

/// The body with `ContentVariables` filled in (a missing variable stays as `{{n}}`, as Twilio leaves it).
pub fn render(entry: &Entry, variables: Option<&Value>) -> String {
    let mut out = entry.body.to_owned();
    if let Some(Value::Object(vars)) = variables {
        for (k, v) in vars {
            if let Some(v) = v.as_str() {
                out = out.replace(&format!("{{{{{k}}}}}"), v);
            }
        }
    }
    out
}

fn placeholders(body: &str) -> Value {
    let count = crate::domain::template::variable_count(body).unwrap_or(0);
    Value::Object((1..=count).map(|n| (n.to_string(), json!(format!("example {n}")))).collect())
}

/// The Content API resource of an entry.
pub fn resource(account_sid: &str, entry: &Entry, base: &str) -> Value {
    let sid = sid(account_sid, entry);
    let types = if entry.buttons.is_empty() {
        json!({ "twilio/text": { "body": entry.body } })
    } else {
        let actions: Vec<Value> = entry
            .buttons
            .iter()
            .map(|(title, id)| json!({ "type": "QUICK_REPLY", "title": title, "id": id }))
            .collect();
        json!({ "twilio/quick-reply": { "body": entry.body, "actions": actions } })
    };
    json!({
        "sid": sid,
        "account_sid": account_sid,
        "friendly_name": entry.name,
        "language": entry.language,
        "variables": placeholders(entry.body),
        "types": types,
        "url": format!("{base}/v1/Content/{sid}"),
        "links": {
            "approval_create": format!("{base}/v1/Content/{sid}/ApprovalRequests/whatsapp"),
            "approval_fetch": format!("{base}/v1/Content/{sid}/ApprovalRequests"),
        },
        "date_created": "2026-11-01T09:00:00Z",
        "date_updated": "2026-11-01T09:00:00Z",
    })
}

/// `GET /v1/Content/{sid}/ApprovalRequests`.
pub fn approval(account_sid: &str, entry: &Entry, base: &str) -> Value {
    let sid = sid(account_sid, entry);
    json!({
        "sid": sid,
        "account_sid": account_sid,
        "whatsapp": {
            "type": "whatsapp",
            "name": entry.name,
            "category": entry.category,
            "content_type": if entry.buttons.is_empty() { "twilio/text" } else { "twilio/quick-reply" },
            "status": entry.status,
            "rejection_reason": entry.rejection_reason,
            "allow_category_change": true,
        },
        "url": format!("{base}/v1/Content/{sid}/ApprovalRequests"),
    })
}
