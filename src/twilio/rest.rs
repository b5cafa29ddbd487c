//! Twilio's REST API as Switchboard uses it: checking credentials, sending messages (`Messages.json`), placing
//! calls (`Calls.json`), and reading templates from the Content API.
//!
//! Errors come back as `{"code": 20003, "message": "Authenticate", "more_info": …, "status": 401}` (newer APIs
//! answer RFC 9457 problem documents with `code` and `detail`); the code is the stable key. The same client talks
//! to real Twilio and to the built-in sandbox: a sandbox account's requests go to this server's own address,
//! everything else to the configured base URLs.

use super::BasicAuth;
use crate::domain::AccountSid;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    api_base: Url,
    content_base: Url,
    /// Where the built-in sandbox answers (this server).
    sandbox_base: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Twilio answered with an error: its HTTP status, code and message.
    #[error("Twilio answered {status} (error {code:?}): {message}")]
    Twilio { status: u16, code: Option<i64>, message: String },
    #[error("Twilio did not answer in time")]
    Timeout,
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
    #[error("Twilio's answer could not be read: {0}")]
    BadResponse(String),
}

impl RestError {
    /// Worth sending again: 429 (20429: too many concurrent requests, never processed), a server error, a
    /// timeout or a failed connection. Anything else Twilio refused on purpose and will refuse again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Twilio { status, code, .. } => *status == 429 || *code == Some(20429) || *status >= 500,
            Self::Timeout | Self::Unreachable(_) => true,
            Self::BadResponse(_) => false,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Twilio { code, .. } => *code,
            _ => None,
        }
    }
}

/// Who the message is from: a WhatsApp sender's number (E.164, sent as `whatsapp:+…`) or a Messaging Service that
/// picks one.
#[derive(Debug, Clone, Copy)]
pub enum From<'a> {
    Number(&'a str),
    MessagingService(&'a str),
}

/// A phone number as Twilio addresses it on WhatsApp: `whatsapp:+…`.
pub fn whatsapp_address(e164: &str) -> String {
    format!("{}{e164}", crate::domain::WhatsAppAddress::PREFIX)
}

/// One `POST /2010-04-01/Accounts/{sid}/Messages.json`.
#[derive(Debug, Clone)]
pub struct OutboundMessage<'a> {
    /// The customer: their number (E.164) or, for a customer WhatsApp shows without one, their business-scoped
    /// user id (`US.1349…`); sent as `whatsapp:+…` / `whatsapp:US.1349…`.
    pub to: &'a str,
    pub from: From<'a>,
    pub body: Option<&'a str>,
    /// Sent as repeated `MediaUrl` parameters, as Twilio's own libraries do.
    pub media_urls: &'a [String],
    pub content_sid: Option<&'a str>,
    /// The template's variables as the JSON *string* Twilio expects (`{"1":"Ana"}`).
    pub content_variables: Option<&'a str>,
    pub status_callback: &'a str,
}

impl OutboundMessage<'_> {
    /// The form body, parameters in a fixed order.
    pub fn form(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", &whatsapp_address(self.to));
        match self.from {
            From::Number(n) => form.append_pair("From", &whatsapp_address(n)),
            From::MessagingService(sid) => form.append_pair("MessagingServiceSid", sid),
        };
        if let Some(body) = self.body {
            form.append_pair("Body", body);
        }
        for url in self.media_urls {
            form.append_pair("MediaUrl", url);
        }
        if let Some(sid) = self.content_sid {
            form.append_pair("ContentSid", sid);
        }
        if let Some(vars) = self.content_variables {
            form.append_pair("ContentVariables", vars);
        }
        form.append_pair("StatusCallback", self.status_callback);
        form.finish()
    }
}

/// One `POST /2010-04-01/Accounts/{sid}/Calls.json`: a call to an agent's leg (their browser, or their phone),
/// whose TwiML then dials the customer (`<Dial><WhatsApp>`) or takes the caller waiting for them.
#[derive(Debug, Clone)]
pub struct OutboundCall<'a> {
    /// The agent's leg: `client:<identity>` (their browser) or a phone number.
    pub to: &'a str,
    /// The caller id the agent sees: the business's number.
    pub from: &'a str,
    /// What Twilio runs once the agent answers.
    pub instructions: Instructions<'a>,
    /// Where Twilio says the agent's leg ended.
    pub status_callback: &'a str,
    /// How long the agent's leg rings, in seconds.
    pub timeout_secs: u32,
}

/// A call's TwiML, given at once or fetched from a URL once the call is answered.
#[derive(Debug, Clone, Copy)]
pub enum Instructions<'a> {
    Twiml(&'a str),
    Url(&'a str),
}

impl OutboundCall<'_> {
    pub fn form(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", self.to).append_pair("From", self.from);
        match self.instructions {
            Instructions::Twiml(t) => form.append_pair("Twiml", t),
            Instructions::Url(u) => form.append_pair("Url", u).append_pair("Method", "POST"),
        };
        form.append_pair("StatusCallback", self.status_callback)
            .append_pair("StatusCallbackMethod", "POST")
            .append_pair("Timeout", &self.timeout_secs.to_string());
        form.finish()
    }
}

/// Twilio took the call: its SID (`CA…`).
#[derive(Debug, Clone, Deserialize)]
pub struct CallAccepted {
    pub sid: String,
}

/// Twilio took the message: its SID and the status it reported (`queued`, or `accepted` for a Messaging Service).
#[derive(Debug, Clone, Deserialize)]
pub struct Accepted {
    pub sid: String,
    pub status: String,
}

/// A Content API resource, as much of it as a template needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Content {
    pub sid: String,
    #[serde(default)]
    pub friendly_name: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub types: serde_json::Value,
}

/// A content's WhatsApp approval (`GET /v1/Content/{sid}/ApprovalRequests`, its `whatsapp` object).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Approval {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub rejection_reason: String,
}

#[derive(Deserialize)]
struct ContentPage {
    #[serde(default)]
    contents: Vec<Content>,
    meta: Option<PageMeta>,
}

#[derive(Deserialize)]
struct PageMeta {
    next_page_url: Option<String>,
}

#[derive(Deserialize)]
struct ApprovalRequests {
    whatsapp: Option<Approval>,
}

/// The Content API answers at most this many pages for one sync (at 100 per page: 50,000 templates).
const MAX_PAGES: usize = 500;

impl RestClient {
    pub fn new(api_base: Url, content_base: Url, sandbox_base: Url, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, api_base, content_base, sandbox_base })
    }

    fn api(&self, sandbox: bool) -> &Url {
        if sandbox {
            &self.sandbox_base
        } else {
            &self.api_base
        }
    }

    fn content(&self, sandbox: bool) -> &Url {
        if sandbox {
            &self.sandbox_base
        } else {
            &self.content_base
        }
    }

    /// Fetches the account with these credentials (`GET /2010-04-01/Accounts/{sid}.json`): Ok if they work.
    pub async fn check_credentials(&self, account: &AccountSid, auth: &BasicAuth) -> Result<(), RestError> {
        let url = join(&self.api_base, &format!("/2010-04-01/Accounts/{}.json", account.as_str()))?;
        let response = self.send(self.http.get(url), auth).await?;
        success(response).await.map(drop)
    }

    /// Sends one message.
    pub async fn send_message(
        &self,
        sandbox: bool,
        account: &str,
        auth: &BasicAuth,
        message: &OutboundMessage<'_>,
    ) -> Result<Accepted, RestError> {
        let url = join(self.api(sandbox), &format!("/2010-04-01/Accounts/{account}/Messages.json"))?;
        let response = self.post_form(url, message.form(), auth).await?;
        response.json::<Accepted>().await.map_err(|e| RestError::BadResponse(e.without_url().to_string()))
    }

    /// Places one call.
    pub async fn create_call(
        &self,
        sandbox: bool,
        account: &str,
        auth: &BasicAuth,
        call: &OutboundCall<'_>,
    ) -> Result<CallAccepted, RestError> {
        let url = join(self.api(sandbox), &format!("/2010-04-01/Accounts/{account}/Calls.json"))?;
        let response = self.post_form(url, call.form(), auth).await?;
        response.json::<CallAccepted>().await.map_err(|e| RestError::BadResponse(e.without_url().to_string()))
    }

    /// Gives a call in progress new TwiML (`POST /2010-04-01/Accounts/{sid}/Calls/{CallSid}.json` with `Twiml`):
    /// how a customer is put back into a queue to hold or to be transferred.
    pub async fn redirect_call(
        &self,
        sandbox: bool,
        account: &str,
        auth: &BasicAuth,
        call_sid: &str,
        twiml: &str,
    ) -> Result<(), RestError> {
        let url = join(self.api(sandbox), &format!("/2010-04-01/Accounts/{account}/Calls/{call_sid}.json"))?;
        let form = form_urlencoded::Serializer::new(String::new()).append_pair("Twiml", twiml).finish();
        self.post_form(url, form, auth).await.map(drop)
    }

    /// Every content resource of the account, following `meta.next_page_url` (on the configured host only: the
    /// path and query of the next page are joined onto the base, so credentials never go anywhere else).
    pub async fn list_content(&self, sandbox: bool, auth: &BasicAuth) -> Result<Vec<Content>, RestError> {
        let base = self.content(sandbox);
        let mut url = join(base, "/v1/Content?PageSize=100")?;
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = success(self.send(self.http.get(url.clone()), auth).await?).await?;
            let page: ContentPage =
                response.json().await.map_err(|e| RestError::BadResponse(e.without_url().to_string()))?;
            all.extend(page.contents);
            match page.meta.and_then(|m| m.next_page_url).filter(|u| !u.is_empty()) {
                Some(next) => {
                    let next = Url::parse(&next).map_err(|e| RestError::BadResponse(format!("next_page_url: {e}")))?;
                    let mut local = base.clone();
                    local.set_path(next.path());
                    local.set_query(next.query());
                    url = local;
                }
                None => return Ok(all),
            }
        }
        Err(RestError::BadResponse(format!("more than {MAX_PAGES} pages of content")))
    }

    /// Creates a quick-reply content (`POST /v1/Content`, `twilio/quick-reply`): the body and its buttons as
    /// `(title, id)`, the id coming back as `ButtonPayload` when a customer taps it. Inside the 24-hour window it
    /// can be sent without WhatsApp's approval.
    pub async fn create_quick_reply(
        &self,
        sandbox: bool,
        auth: &BasicAuth,
        friendly_name: &str,
        language: &str,
        body: &str,
        buttons: &[(String, String)],
    ) -> Result<Content, RestError> {
        let actions: Vec<serde_json::Value> = buttons
            .iter()
            .map(|(title, id)| serde_json::json!({ "type": "QUICK_REPLY", "title": title, "id": id }))
            .collect();
        let types = serde_json::json!({ "twilio/quick-reply": { "body": body, "actions": actions } });
        self.create_content(sandbox, auth, friendly_name, language, types).await
    }

    /// Creates a call-button content (`twilio/call-to-action` with a `VOICE_CALL` action titled `label`): the
    /// customer taps it to call the business on WhatsApp. Like a quick reply, it needs no approval inside the
    /// 24-hour window.
    pub async fn create_call_button(
        &self,
        sandbox: bool,
        auth: &BasicAuth,
        friendly_name: &str,
        language: &str,
        body: &str,
        label: &str,
    ) -> Result<Content, RestError> {
        let types = serde_json::json!({ "twilio/call-to-action": {
            "body": body, "actions": [{ "type": "VOICE_CALL", "title": label }] } });
        self.create_content(sandbox, auth, friendly_name, language, types).await
    }

    async fn create_content(
        &self,
        sandbox: bool,
        auth: &BasicAuth,
        friendly_name: &str,
        language: &str,
        types: serde_json::Value,
    ) -> Result<Content, RestError> {
        let url = join(self.content(sandbox), "/v1/Content")?;
        let request = serde_json::json!({
            "friendly_name": friendly_name,
            "language": language,
            "variables": {},
            "types": types,
        });
        let response = success(self.send(self.http.post(url).json(&request), auth).await?).await?;
        response.json::<Content>().await.map_err(|e| RestError::BadResponse(e.without_url().to_string()))
    }

    /// The WhatsApp approval of one content resource; `None` if it was never submitted.
    pub async fn approval(&self, sandbox: bool, auth: &BasicAuth, sid: &str) -> Result<Option<Approval>, RestError> {
        let url = join(self.content(sandbox), &format!("/v1/Content/{sid}/ApprovalRequests"))?;
        let response = self.send(self.http.get(url), auth).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = success(response).await?;
        let body: ApprovalRequests =
            response.json().await.map_err(|e| RestError::BadResponse(e.without_url().to_string()))?;
        Ok(body.whatsapp)
    }

    /// POSTs a form as Twilio's REST API takes it; answers the response if it is a success.
    async fn post_form(&self, url: Url, form: String, auth: &BasicAuth) -> Result<reqwest::Response, RestError> {
        let request =
            self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(form);
        success(self.send(request, auth).await?).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, auth: &BasicAuth) -> Result<reqwest::Response, RestError> {
        request.basic_auth(&auth.username, Some(auth.password.expose_secret())).send().await.map_err(|e| {
            if e.is_timeout() {
                RestError::Timeout
            } else {
                RestError::Unreachable(e.without_url().to_string())
            }
        })
    }
}

fn join(base: &Url, path: &str) -> Result<Url, RestError> {
    base.join(path).map_err(|e| RestError::Unreachable(format!("invalid Twilio URL: {e}")))
}

/// The response if it is a success; otherwise Twilio's error, read from either error format.
async fn success(response: reqwest::Response) -> Result<reqwest::Response, RestError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message =
        ["message", "detail", "title"].iter().find_map(|k| body[*k].as_str()).unwrap_or("no message").to_owned();
    Err(RestError::Twilio { status: status.as_u16(), code: body["code"].as_i64(), message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_urls_are_repeated_keys_and_variables_a_json_string() {
        let media =
            vec!["https://cc.example.com/media/a/x.jpg".to_owned(), "https://cc.example.com/media/b".to_owned()];
        let m = OutboundMessage {
            to: "+5215512345678",
            from: From::Number("+14155238886"),
            body: Some("Hola & adiós"),
            media_urls: &media,
            content_sid: None,
            content_variables: None,
            status_callback: "https://cc.example.com/webhooks/twilio/x/status",
        };
        let pairs: Vec<(String, String)> = form_urlencoded::parse(m.form().as_bytes()).into_owned().collect();
        assert_eq!(pairs.iter().filter(|(k, _)| k == "MediaUrl").count(), 2);
        assert!(pairs.contains(&("Body".into(), "Hola & adiós".into())));
        assert!(pairs.contains(&("To".into(), "whatsapp:+5215512345678".into())));
        assert!(pairs.contains(&("From".into(), "whatsapp:+14155238886".into())));
        let t = OutboundMessage {
            from: From::MessagingService("MG0123456789abcdef0123456789abcdef"),
            body: None,
            media_urls: &[],
            content_sid: Some("HX0123456789abcdef0123456789abcdef"),
            content_variables: Some(r#"{"1":"Ana"}"#),
            ..m
        };
        let pairs: Vec<(String, String)> = form_urlencoded::parse(t.form().as_bytes()).into_owned().collect();
        assert!(pairs.contains(&("MessagingServiceSid".into(), "MG0123456789abcdef0123456789abcdef".into())));
        assert!(pairs.contains(&("ContentVariables".into(), r#"{"1":"Ana"}"#.into())));
        assert!(!pairs.iter().any(|(k, _)| k == "From" || k == "Body"));
    }

    #[test]
    fn retryable_errors_are_throttling_server_errors_and_transport_failures() {
        let twilio = |status, code| RestError::Twilio { status, code, message: String::new() };
        assert!(twilio(429, Some(20429)).is_retryable());
        assert!(twilio(503, None).is_retryable());
        assert!(RestError::Timeout.is_retryable());
        assert!(RestError::Unreachable("refused".into()).is_retryable());
        assert!(!twilio(400, Some(21211)).is_retryable());
        assert!(!twilio(401, Some(20003)).is_retryable());
        assert!(!twilio(400, Some(21610)).is_retryable());
    }
}
