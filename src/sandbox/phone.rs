//! The customer phone page (`/sandbox`): a person plays a WhatsApp customer. The page's messages are sent as
//! Twilio sends a customer's message — a form signed with the channel's Auth Token, posted to the channel's
//! real webhook — and it shows the business's replies and templates as the sandbox recorded them.

use super::{content, voice};
use crate::domain::E164;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::sandbox::{self as store, NewSandboxMessage, SandboxMessage, SandboxNumber};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

const PAGE: &str = include_str!("phone.html");

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/sandbox", get(page))
        .route("/sandbox/api/state", get(overview))
        .route("/sandbox/api/messages", get(thread).post(send))
        .route("/sandbox/api/faults", post(faults))
        .route("/sandbox/api/calls", get(calls_between).post(call_business))
        .route("/sandbox/api/calls/{sid}/{action}", post(customer_acts))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admins_unless_local))
}

/// The sandbox's stand-in for Twilio's Voice SDK in an agent's browser (any signed-in agent): join the call
/// they accepted, see a call from the business ringing their browser, answer, decline or hang up.
pub fn device_router() -> Router<AppState> {
    Router::new()
        .route("/sandbox/voice/join", post(agent_joins))
        .route("/sandbox/voice/calls", get(agent_calls))
        .route("/sandbox/voice/calls/{sid}/{action}", post(agent_acts))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneCall {
    customer: String,
    business: String,
}

/// The calls between a customer and a sandbox number (`?customer=+…&business=+…`), newest first.
async fn calls_between(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> AppResult<Json<Vec<voice::CallInfo>>> {
    let given = |name: &str| q.get(name).map(String::as_str).unwrap_or("");
    let customer = parse_number("customer", given("customer"))?;
    let business = parse_number("business", given("business"))?;
    Ok(Json(state.sandbox_calls.between(customer.as_str(), business.as_str())))
}

/// The customer calls the business: Twilio's voice webhook is posted, signed, and its TwiML played.
async fn call_business(
    State(state): State<AppState>,
    c: Result<Json<PhoneCall>, JsonRejection>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let Json(c) = c.map_err(refused_body)?;
    let customer = parse_number("customer", &c.customer)?;
    let business = parse_number("business", &c.business)?;
    let number = number(&state, &business).await?;
    if store::is_real_customer(&state.pool, customer.as_str()).await? {
        return Err(AppError::conflict(
            "not_a_sandbox_customer",
            "this number belongs to a customer of a real channel: the sandbox calls only as customers of its own",
        )
        .with_field("customer"));
    }
    let twilio = super::voice_twilio(&state, number.channel_id).await?;
    let sid =
        voice::customer_calls(&state.sandbox_calls, twilio, number.channel_id, customer.as_str(), business.as_str());
    Ok((StatusCode::CREATED, Json(json!({ "sid": sid }))))
}

/// The customer hangs up, or answers or declines a call from the business.
async fn customer_acts(
    State(state): State<AppState>,
    axum::extract::Path((sid, action)): axum::extract::Path<(String, String)>,
) -> AppResult<StatusCode> {
    let done = match action.as_str() {
        "hangup" => voice::hang_up(&state.sandbox_calls, &sid),
        "answer" => voice::customer_answers(&state.sandbox_calls, &sid, true),
        "decline" => voice::customer_answers(&state.sandbox_calls, &sid, false),
        _ => return Err(AppError::not_found("not_found", "hangup, answer or decline")),
    };
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::conflict("call_not_active", "no such call, or it is not ringing or is over"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Join {
    channel_id: uuid::Uuid,
    call: uuid::Uuid,
}

fn agent_of(who: &crate::auth::Principal) -> AppResult<uuid::Uuid> {
    who.user_id.ok_or_else(|| AppError::unprocessable("not_an_agent", "an API token is nobody's agent"))
}

/// The agent's browser joins the call they accepted: answers the caller's call SID.
async fn agent_joins(
    State(state): State<AppState>,
    who: crate::auth::Principal,
    j: Result<Json<Join>, JsonRejection>,
) -> AppResult<Json<serde_json::Value>> {
    let agent = agent_of(&who)?;
    let Json(j) = j.map_err(refused_body)?;
    let twilio = super::voice_twilio(&state, j.channel_id).await?;
    match voice::agent_joins(&state.sandbox_calls, &twilio, j.channel_id, agent, j.call).await {
        Ok(sid) => Ok(Json(json!({ "sid": sid }))),
        Err(why) => Err(AppError::conflict("call_not_joined", why)),
    }
}

/// The sandbox calls that are the agent's and not over: a call from the business ringing their browser, the
/// call they talk on.
async fn agent_calls(
    State(state): State<AppState>,
    who: crate::auth::Principal,
) -> AppResult<Json<Vec<voice::CallInfo>>> {
    let agent = agent_of(&who)?;
    Ok(Json(state.sandbox_calls.of_agent(&agent.to_string())))
}

/// The agent answers or declines a call ringing their browser, or hangs up the call they talk on.
async fn agent_acts(
    State(state): State<AppState>,
    who: crate::auth::Principal,
    axum::extract::Path((sid, action)): axum::extract::Path<(String, String)>,
) -> AppResult<StatusCode> {
    let agent = agent_of(&who)?.to_string();
    let mine = state.sandbox_calls.of_agent(&agent).into_iter().any(|c| c.sid == sid);
    if !mine {
        return Err(AppError::not_found("call_not_found", "no call of yours with this SID"));
    }
    let done = match action.as_str() {
        "hangup" => voice::hang_up(&state.sandbox_calls, &sid),
        "answer" => voice::agent_answers(&state.sandbox_calls, &sid, true),
        "decline" => voice::agent_answers(&state.sandbox_calls, &sid, false),
        _ => return Err(AppError::not_found("not_found", "hangup, answer or decline")),
    };
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::conflict("call_not_active", "the call is over"))
    }
}

/// On this machine's own address (a loopback public URL) the page is open, as on a first run; when the server is
/// reachable from elsewhere, only a logged-in admin (session or token) may play customers or plan faults.
async fn admins_unless_local(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if state.settings.reachable_only_from_here() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match crate::auth::Principal::from_request_parts(&mut parts, &state).await {
        Ok(who) if who.role.includes(crate::domain::Role::Admin) => {
            next.run(axum::extract::Request::from_parts(parts, body)).await
        }
        Ok(_) => AppError::forbidden("forbidden", "the sandbox is for admins").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:")],
        Html(PAGE),
    )
}

/// The sandbox numbers customers can write to, and the customers seen so far.
async fn overview(State(state): State<AppState>) -> AppResult<Json<serde_json::Value>> {
    let numbers = store::numbers(&state.pool).await?;
    let customers = store::customers(&state.pool).await?;
    Ok(Json(json!({ "numbers": numbers, "customers": customers })))
}

fn parse_number(field: &str, raw: &str) -> AppResult<E164> {
    E164::parse(raw.trim()).map_err(|e| {
        AppError::invalid_field(field, format!("{field}: {e} (write it as +CountryNumber, e.g. +5215512345678)"))
    })
}

/// `?customer=+…&business=+…`: the thread between a customer and a sandbox number.
async fn thread(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> AppResult<Json<Vec<SandboxMessage>>> {
    let given = |name: &str| q.get(name).map(String::as_str).unwrap_or("");
    let customer = parse_number("customer", given("customer"))?;
    let business = parse_number("business", given("business"))?;
    let mut messages =
        store::thread(&state.pool, customer.as_str(), &format!("whatsapp:{}", business.as_str()), 200).await?;
    for m in &mut messages {
        let Some(sid) = m.content_sid.clone() else { continue };
        if let Some(c) = content::find(&state.pool, &m.account_sid, &sid).await? {
            m.body = content::render(&c, m.content_variables.as_ref());
            m.buttons =
                c.buttons.iter().map(|(title, id)| store::Button { title: title.clone(), id: id.clone() }).collect();
            m.kind = Some(c.kind);
        }
    }
    Ok(Json(messages))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerMessage {
    customer: String,
    business: String,
    body: String,
    profile_name: Option<String>,
    /// A quick-reply button's id, when the customer tapped one (`body` is its title).
    button_payload: Option<String>,
    /// A list item's id, when the customer picked one from a list (`body` is its title).
    list_id: Option<String>,
    /// A place the customer shares (the body may be empty).
    location: Option<SharedLocation>,
    /// A voice note: a short generated recording (the body may be empty).
    #[serde(default)]
    voice_note: bool,
    /// The SID of the business's message the customer replies to (WhatsApp's swipe-to-reply).
    reply_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedLocation {
    latitude: f64,
    longitude: f64,
    label: Option<String>,
    address: Option<String>,
}

/// Twilio's `MessageType`: `button` for a quick-reply tap, `interactive` for a list pick, `location`, `audio`,
/// `text` otherwise.
fn message_type(m: &CustomerMessage) -> &'static str {
    match (&m.button_payload, &m.list_id) {
        (Some(_), _) => "button",
        (None, Some(_)) => "interactive",
        _ if m.location.is_some() => "location",
        _ if m.voice_note => "audio",
        (None, None) => "text",
    }
}

async fn number(state: &AppState, business: &E164) -> AppResult<SandboxNumber> {
    store::numbers(&state.pool)
        .await?
        .into_iter()
        .find(|n| n.e164 == business.as_str())
        .ok_or_else(|| AppError::invalid_field("business", "this is not a sandbox number"))
}

/// Sends a customer's message through the channel's signed webhook, as Twilio would.
async fn send(
    State(state): State<AppState>,
    m: Result<Json<CustomerMessage>, JsonRejection>,
) -> AppResult<(StatusCode, Json<SandboxMessage>)> {
    let Json(m) = m.map_err(refused_body)?;
    let customer = parse_number("customer", &m.customer)?;
    let business = parse_number("business", &m.business)?;
    if m.body.trim().is_empty()
        && m.button_payload.is_none()
        && m.list_id.is_none()
        && m.location.is_none()
        && !m.voice_note
    {
        return Err(AppError::invalid_field("body", "write a message"));
    }
    if let Some(l) = &m.location {
        if !(-90.0..=90.0).contains(&l.latitude) || !(-180.0..=180.0).contains(&l.longitude) {
            return Err(AppError::invalid_field("location", "latitude is -90 to 90 and longitude -180 to 180"));
        }
    }
    if m.reply_to.as_deref().is_some_and(|s| crate::domain::sid::MessageSid::parse(s).is_err()) {
        return Err(AppError::invalid_field("reply_to", "the SID of a message the business sent (SM… or MM…)"));
    }
    if m.body.chars().count() > 4096 {
        return Err(AppError::invalid_field("body", "WhatsApp messages are at most 4,096 characters"));
    }
    let number = number(&state, &business).await?;
    if store::is_real_customer(&state.pool, customer.as_str()).await? {
        return Err(AppError::conflict(
            "not_a_sandbox_customer",
            "this number belongs to a customer of a real channel: the sandbox writes only as customers of its own",
        )
        .with_field("customer"));
    }
    let token = super::number_token(&state, &number)?;
    let sid = super::new_sid("SM");
    let from = format!("whatsapp:{}", customer.as_str());
    let to = format!("whatsapp:{}", business.as_str());
    let profile = m.profile_name.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or("Sandbox customer");
    let mut params: Vec<(String, String)> = vec![
        ("SmsMessageSid".into(), sid.clone()),
        ("NumMedia".into(), "0".into()),
        ("ProfileName".into(), profile.into()),
        ("MessageType".into(), message_type(&m).into()),
        ("SmsSid".into(), sid.clone()),
        ("WaId".into(), customer.as_str()[1..].into()),
        ("SmsStatus".into(), "received".into()),
        ("Body".into(), m.body.clone()),
        ("To".into(), to.clone()),
        ("NumSegments".into(), "1".into()),
        ("ReferralNumMedia".into(), "0".into()),
        ("MessageSid".into(), sid.clone()),
        ("AccountSid".into(), number.account_sid.clone()),
        ("From".into(), from),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    if let Some(payload) = &m.button_payload {
        params.push(("ButtonPayload".into(), payload.clone()));
        params.push(("ButtonText".into(), m.body.clone()));
    }
    if let Some(id) = &m.list_id {
        params.push(("ListId".into(), id.clone()));
        params.push(("ListTitle".into(), m.body.clone()));
    }
    if let Some(l) = &m.location {
        params.push(("Latitude".into(), l.latitude.to_string()));
        params.push(("Longitude".into(), l.longitude.to_string()));
        if let Some(label) = l.label.as_deref().filter(|x| !x.trim().is_empty()) {
            params.push(("Label".into(), label.into()));
        }
        if let Some(address) = l.address.as_deref().filter(|x| !x.trim().is_empty()) {
            params.push(("Address".into(), address.into()));
        }
    }
    let mut media_urls = Vec::new();
    if m.voice_note {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages/{sid}/Media/{}",
            state.settings.local_base_url().trim_end_matches('/'),
            number.account_sid,
            super::new_sid("ME")
        );
        set_param(&mut params, "NumMedia", "1");
        params.push(("MediaContentType0".into(), super::media::VOICE_NOTE_TYPE.into()));
        params.push(("MediaUrl0".into(), url.clone()));
        media_urls.push(url);
    }
    if let Some(sid) = &m.reply_to {
        params.push(("OriginalRepliedMessageSid".into(), sid.clone()));
        params.push(("OriginalRepliedMessageSender".into(), to.clone()));
    }
    let record = store::insert(
        &state.pool,
        &NewSandboxMessage {
            sid: &sid,
            account_sid: &number.account_sid,
            direction: "from_customer",
            business: &to,
            customer: customer.as_str(),
            body: &m.body,
            media_urls: &media_urls,
            content_sid: None,
            content_variables: None,
            status: "received",
            status_callback: None,
        },
    )
    .await?;
    let public = crate::channels::webhook_urls(&state.public_base_url, number.channel_id).messages;
    let local = state.settings.local_base_url();
    let answer = super::post_signed(
        &state.sandbox_http,
        &state.public_base_url,
        &local,
        token.expose_secret(),
        &public,
        &params,
    )
    .await
    .map_err(|e| {
        AppError::client(
            StatusCode::BAD_GATEWAY,
            "webhook_failed",
            format!("the webhook could not be reached: {}", e.without_url()),
        )
    })?;
    if !answer.status().is_success() {
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        return Err(AppError::client(
            StatusCode::BAD_GATEWAY,
            "webhook_failed",
            format!("the webhook answered {status}: {}", text.chars().take(300).collect::<String>()),
        ));
    }
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    /// 429 (Twilio's 20429, too many requests), 500 or 503.
    status: i32,
    /// How many of the next message requests answer it.
    count: i32,
}

/// Tells the sandbox to answer the next `count` message requests with `status`.
async fn faults(State(state): State<AppState>, f: Result<Json<Faults>, JsonRejection>) -> AppResult<StatusCode> {
    let Json(f) = f.map_err(refused_body)?;
    if ![429, 500, 503].contains(&f.status) {
        return Err(AppError::invalid_field("status", "status must be 429, 500 or 503"));
    }
    if !(0..=10_000).contains(&f.count) {
        return Err(AppError::invalid_field("count", "count must be 0 to 10000"));
    }
    store::plan_faults(&state.pool, f.status, f.count).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A body the sandbox's page (or a script) sent that is not the JSON it takes.
fn refused_body(e: JsonRejection) -> AppError {
    match e {
        JsonRejection::MissingJsonContentType(_) => AppError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::JsonDataError(e) => AppError::unprocessable("invalid_body", e.body_text()),
        e => AppError::bad_request("malformed_body", e.body_text()),
    }
}

fn set_param(params: &mut [(String, String)], name: &str, value: &str) {
    if let Some(p) = params.iter_mut().find(|(k, _)| k == name) {
        p.1 = value.to_owned();
    }
}
