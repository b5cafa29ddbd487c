//! The sandbox's Twilio REST endpoints: `GET /2010-04-01/Accounts/{sid}.json`,
//! `POST /2010-04-01/Accounts/{sid}/Messages.json`, `POST /2010-04-01/Accounts/{sid}/Calls.json` (played by
//! `sandbox::voice`), and the Content API's `GET|POST /v1/Content`,
//! `GET /v1/Content/{sid}` and `GET /v1/Content/{sid}/ApprovalRequests`. Basic auth with a sandbox account's
//! SID and Auth Token, and Twilio's error bodies (`{"code", "message", "more_info", "status"}`).

use super::{callbacks, content};
use crate::domain::{window, E164};
use crate::state::AppState;
use crate::store::sandbox::{self as store, NewSandboxMessage};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use time::format_description::well_known::Rfc2822;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/2010-04-01/Accounts/{file}", get(account))
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message))
        .route("/2010-04-01/Accounts/{account}/Calls.json", post(create_call))
        .route("/2010-04-01/Accounts/{account}/Calls/{file}", post(update_call))
        .route("/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}", get(customer_media))
        .route("/v1/Content", get(list_content).post(create_content))
        .route("/v1/Content/{sid}", get(fetch_content))
        .route("/v1/Content/{sid}/ApprovalRequests", get(fetch_approval))
}

/// Twilio's error answer.
fn twilio_error(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let body = json!({
        "code": code,
        "message": message.into(),
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

fn unauthenticated() -> Response {
    let mut r = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, "Basic realm=\"Twilio API\"".parse().expect("a header"));
    r
}

/// The sandbox account the Basic credentials belong to (the path's account, when one is given).
async fn authenticate(state: &AppState, headers: &HeaderMap, path_account: Option<&str>) -> Result<String, Response> {
    let (user, password) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        .ok_or_else(unauthenticated)?;
    if path_account.is_some_and(|a| a != user) {
        return Err(unauthenticated());
    }
    let account = store::account(&state.pool, &user).await.map_err(internal)?.ok_or_else(unauthenticated)?;
    let token = account
        .auth_token
        .as_ref()
        .and_then(|sealed| state.secrets.decrypt(sealed).ok())
        .ok_or_else(unauthenticated)?;
    if bool::from(token.expose_secret().as_bytes().ct_eq(password.as_bytes())) {
        Ok(account.account_sid)
    } else {
        Err(unauthenticated())
    }
}

/// Twilio's 500, for a failure of the sandbox itself; the cause goes to the log.
fn internal(cause: impl std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "the sandbox failed to answer a REST request");
    twilio_error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error")
}

async fn account(State(state): State<AppState>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let Some(sid) = file.strip_suffix(".json") else {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    };
    match authenticate(&state, &headers, Some(sid)).await {
        Ok(sid) => Json(json!({
            "sid": sid,
            "friendly_name": "Switchboard sandbox",
            "status": "active",
            "type": "Full",
        }))
        .into_response(),
        Err(r) => r,
    }
}

/// A sandbox customer's media, behind the account's credentials as at Twilio: every voice note is the same tone.
async fn customer_media(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((account, _message, media)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = authenticate(&state, &headers, Some(&account)).await {
        return r;
    }
    if !media.starts_with("ME") {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    }
    ([(axum::http::header::CONTENT_TYPE, super::media::VOICE_NOTE_TYPE)], super::media::voice_note()).into_response()
}

/// A call the business places: it rings the agent's browser (`To=client:<identity>`), and its TwiML dials the
/// customer on WhatsApp from a sandbox number (see `sandbox::voice`).
async fn create_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(account_path): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let account_sid = match authenticate(&state, &headers, Some(&account_path)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let one = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let bad = |code: i64, message: String| twilio_error(StatusCode::BAD_REQUEST, code, message);
    let (Some(to), Some(from)) = (one("To"), one("From")) else {
        return bad(21201, "'To' and 'From' are required.".into());
    };
    if let (None, Some(url)) = (one("Twiml"), one("Url")) {
        // An agent's phone, for a call they took: its number's account posts the URL once it answers.
        let numbers = match store::numbers(&state.pool).await {
            Ok(n) => n,
            Err(e) => return internal(e),
        };
        let Some(number) = numbers.iter().find(|n| n.account_sid == account_sid && n.e164 == from) else {
            return bad(21210, format!("The source phone number {from} is not a number of this account."));
        };
        let twilio = match super::voice_twilio(&state, number.channel_id).await {
            Ok(t) => t,
            Err(e) => return internal(e),
        };
        let sid = super::voice::agent_phone_answers(&state.sandbox_calls, twilio, url, to.clone(), from.clone());
        let body = json!({"sid": sid, "account_sid": account_sid, "to": to, "from": from, "status": "queued"});
        return (StatusCode::CREATED, Json(body)).into_response();
    }
    let Some(twiml) = one("Twiml") else {
        return bad(21205, "The sandbox places calls with a 'Twiml' or a 'Url' parameter.".into());
    };
    let caller_id = match super::voice::parse(&twiml) {
        Ok(verbs) => verbs.into_iter().find_map(|v| match v {
            super::voice::Heard::DialWhatsApp { caller_id, .. } => Some(caller_id),
            _ => None,
        }),
        Err(e) => return bad(12100, format!("Document parse failure: {e}")),
    };
    let numbers = match store::numbers(&state.pool).await {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    let Some(number) = caller_id
        .as_deref()
        .and_then(|c| numbers.iter().find(|n| n.account_sid == account_sid && format!("whatsapp:{}", n.e164) == c))
    else {
        return bad(37009, "The callerId is not a WhatsApp sender of this account with a voice application.".into());
    };
    let twilio = match super::voice_twilio(&state, number.channel_id).await {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let placed = super::voice::Placed {
        channel_id: number.channel_id,
        to: to.clone(),
        from: from.clone(),
        twiml,
        status_callback: one("StatusCallback"),
    };
    match super::voice::business_calls(&state.sandbox_calls, twilio, placed) {
        Ok(sid) => (
            StatusCode::CREATED,
            Json(json!({
                "sid": sid,
                "account_sid": account_sid,
                "to": to,
                "from": from,
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": rfc2822(time::OffsetDateTime::now_utc()),
            })),
        )
            .into_response(),
        Err(why) => bad(21205, why),
    }
}

/// New TwiML for a call in progress (how the business puts a caller on hold or transfers them).
async fn update_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((account_path, file)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authenticate(&state, &headers, Some(&account_path)).await {
        return r;
    }
    let Some(sid) = file.strip_suffix(".json") else {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let Some(twiml) = form.iter().find(|(k, _)| k == "Twiml").map(|(_, v)| v.clone()) else {
        return twilio_error(StatusCode::BAD_REQUEST, 21205, "The sandbox updates calls with a 'Twiml' parameter.");
    };
    match super::voice::redirect(&state.sandbox_calls, sid, &twiml) {
        Ok(true) => Json(json!({ "sid": sid, "account_sid": account_path, "status": "in-progress" })).into_response(),
        Ok(false) => twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
        Err(e) => twilio_error(StatusCode::BAD_REQUEST, 12100, format!("Document parse failure: {e}")),
    }
}

fn rfc2822(t: time::OffsetDateTime) -> String {
    t.format(&Rfc2822).unwrap_or_default()
}

async fn create_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(account_path): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let account_sid = match authenticate(&state, &headers, Some(&account_path)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match store::take_fault(&state.pool, &account_sid).await {
        Ok(Some(429)) => return twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
        Ok(Some(status)) => {
            return twilio_error(
                StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                20500,
                "Internal Server Error",
            )
        }
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let one = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let bad = |code: i64, message: String| twilio_error(StatusCode::BAD_REQUEST, code, message);
    let Some(to) = one("To") else {
        return bad(21604, "A 'To' phone number is required.".into());
    };
    let Some(customer) = to.strip_prefix("whatsapp:").and_then(|n| E164::parse(n).ok()) else {
        return bad(21211, format!("The 'To' number {to} is not a valid phone number."));
    };
    let business = match (one("From"), one("MessagingServiceSid")) {
        (Some(from), None) => {
            let numbers = match store::numbers(&state.pool).await {
                Ok(n) => n,
                Err(e) => return internal(e),
            };
            let ours = numbers.iter().any(|n| n.account_sid == account_sid && format!("whatsapp:{}", n.e164) == from);
            if !ours {
                return bad(63007, format!("Twilio could not find a Channel with the specified From address: {from}"));
            }
            from
        }
        (None, Some(mg)) => mg,
        _ => return bad(21603, "Exactly one of 'From' and 'MessagingServiceSid' is required.".into()),
    };
    let text = one("Body").unwrap_or_default();
    let media: Vec<String> = form.iter().filter(|(k, _)| k == "MediaUrl").map(|(_, v)| v.clone()).collect();
    let content_sid = one("ContentSid");
    if text.is_empty() && media.is_empty() && content_sid.is_none() {
        return bad(21619, "A text message body, media or a ContentSid must be specified.".into());
    }
    if text.chars().count() > 1600 {
        return bad(21617, "The concatenated message body exceeds the 1600 character limit.".into());
    }
    if media.len() > 10 {
        return bad(21623, "Too many MediaUrl parameters: at most 10.".into());
    }
    let entry = match &content_sid {
        Some(sid) => match content::find(&state.pool, &account_sid, sid).await {
            Ok(Some(e)) => Some(e),
            Ok(None) => return bad(21655, format!("The ContentSid {sid} is invalid.")),
            Err(e) => return internal(e),
        },
        None => None,
    };
    let variables = match one("ContentVariables") {
        Some(v) => match serde_json::from_str::<Value>(&v) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => return bad(21656, "The ContentVariables parameter is invalid: it must be a JSON object.".into()),
        },
        None => None,
    };
    let (last, now) = match (
        store::last_from_customer(&state.pool, &account_sid, customer.as_str()).await,
        store::now(&state.pool).await,
    ) {
        (Ok(l), Ok(n)) => (l, n),
        (Err(e), _) | (_, Err(e)) => return internal(e),
    };
    // Twilio accepts the request and fails the message later: free-form content outside the window, or a
    // template WhatsApp has not approved, ends with 63016.
    let in_window = window::at(last, now).open;
    let fails = match &entry {
        Some(e) => e.status != "approved" && !in_window,
        None => !in_window,
    };
    let sid = super::new_sid("SM");
    let callback = one("StatusCallback");
    let shown = match &entry {
        Some(e) => content::render(e, variables.as_ref()),
        None => text.clone(),
    };
    let record = NewSandboxMessage {
        sid: &sid,
        account_sid: &account_sid,
        direction: "to_customer",
        business: &business,
        customer: customer.as_str(),
        body: &shown,
        media_urls: &media,
        content_sid: content_sid.as_deref(),
        content_variables: variables.as_ref(),
        status: "queued",
        status_callback: callback.as_deref(),
    };
    let stored = match store::insert(&state.pool, &record).await {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let plan: &[&str] = if fails { &["failed"] } else { &["sent", "delivered", "read"] };
    let delay = state.settings.sandbox.status_delay_ms;
    for (i, status) in plan.iter().enumerate() {
        let payload = json!({ "sid": sid, "status": status });
        if let Err(e) = store::schedule(&state.pool, callbacks::KIND, payload, delay * (i as u64 + 1)).await {
            return internal(e);
        }
    }
    let uses_service = business.starts_with("MG");
    let base = "/2010-04-01/Accounts";
    let resource = json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": shown,
        "date_created": rfc2822(stored.created_at),
        "date_sent": null,
        "date_updated": rfc2822(stored.created_at),
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": if uses_service { Value::Null } else { json!(business) },
        "messaging_service_sid": if uses_service { json!(business) } else { Value::Null },
        "num_media": media.len().to_string(),
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": if uses_service { "accepted" } else { "queued" },
        "subresource_uris": { "media": format!("{base}/{account_sid}/Messages/{sid}/Media.json") },
        "to": to,
        "uri": format!("{base}/{account_sid}/Messages/{sid}.json"),
    });
    (StatusCode::CREATED, Json(resource)).into_response()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PageQuery {
    page_size: Option<usize>,
    page: Option<usize>,
    #[allow(dead_code)]
    page_token: Option<String>,
}

async fn list_content(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    let account_sid = match authenticate(&state, &headers, None).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let base = state.settings.local_base_url();
    let size = q.page_size.unwrap_or(50).clamp(1, 1000);
    let page = q.page.unwrap_or(0);
    let all = match content::all(&state.pool, &account_sid).await {
        Ok(all) => all,
        Err(e) => return internal(e),
    };
    let contents: Vec<Value> =
        all.iter().skip(page * size).take(size).map(|c| content::resource(&account_sid, c, &base)).collect();
    let more = (page + 1) * size < all.len();
    let url = |p: usize| format!("{base}/v1/Content?PageSize={size}&Page={p}&PageToken=PT{p}");
    Json(json!({
        "contents": contents,
        "meta": {
            "page": page,
            "page_size": size,
            "first_page_url": format!("{base}/v1/Content?PageSize={size}&Page=0"),
            "previous_page_url": if page > 0 { json!(url(page - 1)) } else { Value::Null },
            "url": url(page),
            "next_page_url": if more { json!(url(page + 1)) } else { Value::Null },
            "key": "contents",
        }
    }))
    .into_response()
}

async fn fetch_content(State(state): State<AppState>, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    let account_sid = match authenticate(&state, &headers, None).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match content::find(&state.pool, &account_sid, &sid).await {
        Ok(Some(c)) => Json(content::resource(&account_sid, &c, &state.settings.local_base_url())).into_response(),
        Ok(None) => twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
        Err(e) => internal(e),
    }
}

async fn fetch_approval(State(state): State<AppState>, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    let account_sid = match authenticate(&state, &headers, None).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match content::find(&state.pool, &account_sid, &sid).await {
        // A created content was never submitted for approval: Twilio answers 404 then.
        Ok(Some(c)) if !c.created => {
            Json(content::approval(&account_sid, &c, &state.settings.local_base_url())).into_response()
        }
        Ok(_) => twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
        Err(e) => internal(e),
    }
}

/// `POST /v1/Content`: creates a text, quick-reply or list-picker content (JSON body, as Twilio takes it).
async fn create_content(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let account_sid = match authenticate(&state, &headers, None).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let parsed =
        serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string()).and_then(|v| content::parse_create(&v));
    let record = match parsed {
        Ok(p) => p,
        Err(m) => return twilio_error(StatusCode::BAD_REQUEST, 20001, m),
    };
    if let Err(e) = store::insert_content(&state.pool, &account_sid, &record).await {
        return internal(e);
    }
    match content::find(&state.pool, &account_sid, &record.sid).await {
        Ok(Some(c)) => {
            (StatusCode::CREATED, Json(content::resource(&account_sid, &c, &state.settings.local_base_url())))
                .into_response()
        }
        Ok(None) => internal(anyhow::anyhow!("a created content is not found")),
        Err(e) => internal(e),
    }
}
