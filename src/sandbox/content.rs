//! The sandbox's Content API: a catalogue of templates in the shapes Twilio returns, with the approval statuses a
//! real account has (approved ones, one pending, one rejected), and the contents created through
//! `POST /v1/Content` (such as the CSAT survey's quick replies), kept in `sandbox_contents`.

use crate::store::sandbox as store;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

pub struct Entry {
    pub name: &'static str,
    pub language: &'static str,
    pub category: &'static str,
    pub status: &'static str,
    pub rejection_reason: &'static str,
    pub body: &'static str,
    /// Quick-reply buttons `(title, id)`, the id coming back as `ButtonPayload`; or call-to-action buttons
    /// `(title, action type)` when the ids are Twilio's action types (`VOICE_CALL_REQUEST`, …).
    pub buttons: &'static [(&'static str, &'static str)],
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self.buttons.first() {
            None => "twilio/text",
            Some((_, id)) if crate::domain::template::ACTIONS.contains(id) => "twilio/call-to-action",
            Some(_) => "twilio/quick-reply",
        }
    }
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
        name: "call_permission_request",
        language: "en",
        category: "UTILITY",
        status: "approved",
        rejection_reason: "",
        body: "Hi {{1}}, may we call you on WhatsApp about your request? You can change your answer at any time.",
        buttons: &[("Allow calls", "VOICE_CALL_REQUEST")],
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

/// A content resource of an account: from the catalogue or created.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub sid: String,
    pub name: String,
    pub language: String,
    pub category: String,
    /// The WhatsApp approval status; a created content was never submitted (`unsubmitted`).
    pub status: String,
    pub rejection_reason: String,
    /// `twilio/text`, `twilio/quick-reply`, `twilio/list-picker` or `twilio/call-to-action`.
    pub kind: String,
    pub body: String,
    /// `(title, id)`: quick-reply buttons or list items, the id coming back as `ButtonPayload` or `ListId`; or
    /// call-to-action buttons as `(title, action type)`.
    pub buttons: Vec<(String, String)>,
    pub created: bool,
}

impl Content {
    fn of(account_sid: &str, e: &Entry) -> Self {
        let digest = Sha256::digest(format!("{account_sid}/{}", e.name).as_bytes());
        Self {
            sid: format!("HX{}", &hex::encode(digest)[..32]),
            name: e.name.into(),
            language: e.language.into(),
            category: e.category.into(),
            status: e.status.into(),
            rejection_reason: e.rejection_reason.into(),
            kind: e.kind().into(),
            body: e.body.into(),
            buttons: e.buttons.iter().map(|(t, i)| ((*t).to_owned(), (*i).to_owned())).collect(),
            created: false,
        }
    }
}

/// Every content of an account: the catalogue's, then the created ones (oldest first).
pub async fn all(pool: &PgPool, account_sid: &str) -> sqlx::Result<Vec<Content>> {
    let mut out: Vec<Content> = CATALOGUE.iter().map(|e| Content::of(account_sid, e)).collect();
    out.extend(store::contents(pool, account_sid).await?.into_iter().map(created));
    Ok(out)
}

pub async fn find(pool: &PgPool, account_sid: &str, content_sid: &str) -> sqlx::Result<Option<Content>> {
    if let Some(c) = CATALOGUE.iter().map(|e| Content::of(account_sid, e)).find(|c| c.sid == content_sid) {
        return Ok(Some(c));
    }
    Ok(store::content(pool, account_sid, content_sid).await?.map(created))
}

fn created(r: store::SandboxContent) -> Content {
    Content {
        sid: r.sid,
        name: r.friendly_name,
        language: r.language,
        category: "UTILITY".into(),
        status: "unsubmitted".into(),
        rejection_reason: String::new(),
        kind: r.kind,
        body: r.body,
        buttons: r.buttons.0,
        created: true,
    }
}

/// What `POST /v1/Content` may create here: a text, quick-reply, list-picker or call-to-action content, with a
/// new SID.
pub fn parse_create(body: &Value) -> Result<store::SandboxContent, String> {
    let language = body["language"].as_str().filter(|l| !l.is_empty()).ok_or("language is required")?;
    let name = body["friendly_name"].as_str().unwrap_or_default();
    let types = body["types"].as_object().ok_or("types is required")?;
    let (kind, t) = types.iter().next().ok_or("types must hold one content type")?;
    let text = t["body"].as_str().filter(|b| !b.is_empty()).ok_or("the content type needs a body")?;
    let pairs = |list: &Value, title: &str| -> Vec<(String, String)> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| {
                        let t = b[title].as_str()?.to_owned();
                        Some((t.clone(), b["id"].as_str().map(str::to_owned).unwrap_or(t)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let buttons = match kind.as_str() {
        "twilio/text" => Vec::new(),
        "twilio/quick-reply" => pairs(&t["actions"], "title"),
        "twilio/list-picker" => pairs(&t["items"], "item"),
        // `(title, action type)`: the sandbox's phone shows the button; a VOICE_CALL one calls the business.
        "twilio/call-to-action" => t["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| Some((b["title"].as_str()?.to_owned(), b["type"].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        other => {
            return Err(format!(
                "the sandbox creates twilio/text, twilio/quick-reply, twilio/list-picker and twilio/call-to-action, not {other}"
            ))
        }
    };
    if kind != "twilio/text" && !(1..=10).contains(&buttons.len()) {
        return Err("give 1 to 10 buttons or items".into());
    }
    Ok(store::SandboxContent {
        sid: super::new_sid("HX"),
        friendly_name: name.to_owned(),
        language: language.to_owned(),
        kind: kind.clone(),
        body: text.to_owned(),
        buttons: sqlx::types::Json(buttons),
    })
}

/// The body with `ContentVariables` filled in (a missing variable stays as `{{n}}`, as Twilio leaves it).
pub fn render(content: &Content, variables: Option<&Value>) -> String {
    let mut out = content.body.clone();
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

/// The Content API resource.
pub fn resource(account_sid: &str, c: &Content, base: &str) -> Value {
    let sid = &c.sid;
    let types = match c.kind.as_str() {
        "twilio/quick-reply" => {
            let actions: Vec<Value> = c
                .buttons
                .iter()
                .map(|(title, id)| json!({ "type": "QUICK_REPLY", "title": title, "id": id }))
                .collect();
            json!({ "twilio/quick-reply": { "body": c.body, "actions": actions } })
        }
        "twilio/list-picker" => {
            let items: Vec<Value> = c.buttons.iter().map(|(title, id)| json!({ "item": title, "id": id })).collect();
            json!({ "twilio/list-picker": { "body": c.body, "button": "Choose", "items": items } })
        }
        "twilio/call-to-action" => {
            let actions: Vec<Value> =
                c.buttons.iter().map(|(title, kind)| json!({ "type": kind, "title": title })).collect();
            json!({ "twilio/call-to-action": { "body": c.body, "actions": actions } })
        }
        _ => json!({ "twilio/text": { "body": c.body } }),
    };
    json!({
        "sid": sid,
        "account_sid": account_sid,
        "friendly_name": c.name,
        "language": c.language,
        "variables": placeholders(&c.body),
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
pub fn approval(account_sid: &str, c: &Content, base: &str) -> Value {
    let sid = &c.sid;
    json!({
        "sid": sid,
        "account_sid": account_sid,
        "whatsapp": {
            "type": "whatsapp",
            "name": c.name,
            "category": c.category,
            "content_type": c.kind,
            "status": c.status,
            "rejection_reason": c.rejection_reason,
            "allow_category_change": true,
        },
        "url": format!("{base}/v1/Content/{sid}/ApprovalRequests"),
    })
}
