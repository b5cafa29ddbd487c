//! Sending: the 24-hour window at its edges, templates, attachments, and the durable sender against a stub
//! that answers like Twilio (429, 21211, 500, timeouts), with the exact request shapes Twilio receives.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

/// An app whose worker sends to `twilio` quickly: short backoff, 3 attempts, 500 ms timeout, no rate limit.
async fn app_sending_to(twilio: &MockServer) -> TestApp {
    app_sending_with(twilio, &[]).await
}

/// [`app_sending_to`] with some of its settings replaced (or others added).
async fn app_sending_with(twilio: &MockServer, overrides: &[(&str, &str)]) -> TestApp {
    let base = twilio.uri();
    let mut settings: Vec<(String, String)> = [
        ("SWITCHBOARD__JOBS__ENABLED", "true"),
        ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
        ("SWITCHBOARD__JOBS__RETRY_BASE_MS", "20"),
        ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "100"),
        ("SWITCHBOARD__OUTBOUND__MAX_ATTEMPTS", "3"),
        ("SWITCHBOARD__OUTBOUND__REQUEST_TIMEOUT_MS", "500"),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
        ("SWITCHBOARD__TWILIO__API_BASE_URL", base.as_str()),
    ]
    .iter()
    .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
    .chain(overrides)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    spawn_app_with(move |env| env.append(&mut settings)).await
}

/// Twilio's 201, with a new SID each time.
struct Created;

impl wiremock::Respond for Created {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        created(&new_sid("SM"))
    }
}

fn created(sid: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"sid": sid, "status": "queued", "error_code": null}))
}

/// Twilio answers the next `times` message requests with `response`.
async fn answer(twilio: &MockServer, response: impl wiremock::Respond + 'static, times: u64) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(response)
        .up_to_n_times(times)
        .mount(twilio)
        .await;
}

/// An app sending to `twilio`, a classic channel, an admin token and a conversation the customer opened.
async fn conversation_sending_to(twilio: &MockServer) -> (TestApp, Uuid, String, Uuid) {
    conversation_sending_with(twilio, &[]).await
}

/// [`conversation_sending_to`] with some of the app's settings replaced.
async fn conversation_sending_with(twilio: &MockServer, overrides: &[(&str, &str)]) -> (TestApp, Uuid, String, Uuid) {
    let app = app_sending_with(twilio, overrides).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let c = conversation(&app, channel).await;
    (app, channel, admin, c)
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status
    }))
}

/// A conversation opened by the customer's message; returns its id.
async fn conversation(app: &TestApp, channel: Uuid) -> Uuid {
    let r = app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "Hola")).await;
    assert_eq!(r.status(), 200);
    sqlx::query_scalar("SELECT id FROM conversations ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn set_last_inbound(app: &TestApp, conversation: Uuid, interval: &str) {
    sqlx::query(&format!("UPDATE conversations SET last_inbound_at = now() {interval} WHERE id = $1"))
        .bind(conversation)
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn send(app: &TestApp, token: &str, conversation: Uuid, body: Value) -> (u16, Value) {
    app.api(token, Method::POST, &format!("/conversations/{conversation}/messages"), Some(body)).await
}

async fn message_row(app: &TestApp, id: &str) -> (String, Option<String>, Option<i32>, Option<String>) {
    sqlx::query_as("SELECT status, twilio_sid, error_code, error_message FROM messages WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn outbound_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'outbound'").fetch_one(&app.pool).await.unwrap()
}

/// Waits until the message leaves `queued` with a SID, or fails.
async fn settled(app: &TestApp, id: &str) -> (String, Option<String>, Option<i32>, Option<String>) {
    eventually(15, "the message to be sent or failed", || async {
        let row = message_row(app, id).await;
        (row.1.is_some() || row.0 == "failed").then_some(row)
    })
    .await
}

fn form_of(request: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&request.body).into_owned().collect()
}

fn values<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

async fn template(app: &TestApp, token: &str, name: &str, status: &str, body: &str) -> String {
    let sid = format!("HX{}", Uuid::new_v4().simple());
    let (s, t) = app
        .api(
            token,
            Method::POST,
            "/templates",
            Some(json!({
                "name": name, "language": "en", "body": body, "content_sid": sid, "approval_status": status
            })),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_window_is_open_until_24_hours_after_the_last_inbound_message() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let token = app.api_token("agent").await;
    let admin = app.api_token("admin").await;
    let c = conversation(&app, channel).await;

    // 23:59:59 after the customer's last message: still open.
    set_last_inbound(&app, c, "- interval '23 hours 59 minutes 59 seconds'").await;
    let (_, conv) = app.api(&admin, Method::GET, &format!("/conversations/{c}"), None).await;
    assert_eq!(conv["window_open"], true, "{conv}");
    let (s, m) = send(&app, &admin, c, json!({"body": "Just in time"})).await;
    assert_eq!(s, 202, "{m}");
    assert_eq!(m["status"], "queued");

    // Exactly 24 hours: closed, refused with the time it closed, nothing queued.
    set_last_inbound(&app, c, "- interval '24 hours'").await;
    let before = outbound_count(&app).await;
    let (s, e) = send(&app, &admin, c, json!({"body": "Too late"})).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["error"]["code"], "session_window_closed");
    assert!(e["error"]["details"]["window_closed_at"].is_string(), "{e}");
    assert_eq!(outbound_count(&app).await, before);
    let jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'message.send'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(jobs, 1, "only the first message has a send job");
    let (_, conv) = app.api(&admin, Method::GET, &format!("/conversations/{c}"), None).await;
    assert_eq!(conv["window_open"], false);
    assert_eq!(conv["window_expires_at"], e["error"]["details"]["window_closed_at"]);

    // The customer writes again: the window reopens.
    let r = app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "¿Hola?")).await;
    assert_eq!(r.status(), 200);
    let (s, _) = send(&app, &admin, c, json!({"body": "Here we are"})).await;
    assert_eq!(s, 202);

    // A last-inbound time ahead of the database clock (a skewed writer): open until 24 h after it, no longer.
    set_last_inbound(&app, c, "+ interval '90 seconds'").await;
    let (_, conv) = app.api(&admin, Method::GET, &format!("/conversations/{c}"), None).await;
    assert_eq!(conv["window_open"], true);
    let last = time::OffsetDateTime::parse(
        conv["last_inbound_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        conv["window_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires - last, time::Duration::hours(24));

    // An agent who does not serve the number does not see the conversation.
    let (s, _) = send(&app, &token, c, json!({"body": "Hi"})).await;
    assert_eq!(s, 404);
    let (s, list) = app.api(&token, Method::GET, "/conversations", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (_, list) = app.api(&admin, Method::GET, "/conversations", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (s, msgs) = app.api(&admin, Method::GET, &format!("/conversations/{c}/messages"), None).await;
    assert_eq!(s, 200);
    let directions: Vec<&str> =
        msgs["items"].as_array().unwrap().iter().map(|m| m["direction"].as_str().unwrap()).collect();
    assert_eq!(directions, ["inbound", "outbound", "inbound", "outbound"]);
}

#[tokio::test]
async fn templates_need_approval_and_exactly_their_variables_and_go_out_at_any_time() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let c = conversation(&app, channel).await;
    set_last_inbound(&app, c, "- interval '3 days'").await;
    let approved = template(&app, &admin, "order_update", "approved", "Hi {{1}}, order {{2}} shipped").await;
    let pending = template(&app, &admin, "summer_sale", "pending", "Sale starts {{1}}").await;

    for (body, code) in [
        (json!({"template": {"id": approved, "variables": {"1": "Ana"}}}), "template_variables_invalid"),
        (
            json!({"template": {"id": approved, "variables": {"1": "Ana", "2": "42", "3": "x"}}}),
            "template_variables_invalid",
        ),
        (json!({"template": {"id": approved, "variables": {"1": "Ana", "2": " "}}}), "template_variables_invalid"),
        (json!({"template": {"id": pending, "variables": {"1": "Monday"}}}), "template_not_approved"),
        (json!({"template": {"id": Uuid::new_v4()}}), "template_not_found"),
        (json!({"template": {"id": approved, "variables": {"1": "a", "2": "b"}}, "body": "extra"}), "invalid_field"),
        (json!({}), "invalid_field"),
        (json!({"body": "x".repeat(1601)}), "invalid_field"),
    ] {
        let (s, e) = send(&app, &admin, c, body.clone()).await;
        assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, code), "{body}: {e}");
    }
    assert_eq!(outbound_count(&app).await, 0);

    let (s, m) =
        send(&app, &admin, c, json!({"template": {"id": approved, "variables": {"1": "Ana", "2": "42"}}})).await;
    assert_eq!(s, 202, "{m}");
    assert_eq!(m["body"], "Hi Ana, order 42 shipped");
    assert_eq!(m["template_id"], approved.as_str());
    let vars: Value = sqlx::query_scalar("SELECT content_variables FROM messages WHERE id = $1::uuid")
        .bind(m["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(vars, json!({"1": "Ana", "2": "42"}));

    // The preview renders what is given and names what is missing.
    let (s, p) = app
        .api(&admin, Method::POST, &format!("/templates/{approved}/preview"), Some(json!({"variables": {"1": "Ana"}})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["body"], "Hi Ana, order {{2}} shipped");
    assert_eq!(p["missing"], json!([2]));
    let (s, _) = app
        .api(&admin, Method::POST, &format!("/templates/{approved}/preview"), Some(json!({"variables": {"9": "x"}})))
        .await;
    assert_eq!(s, 422);
}

async fn upload(app: &TestApp, token: &str, name: &str, content_type: &str, bytes: Vec<u8>) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str(content_type).unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = app
        .client
        .post(format!("{}/api/v1/uploads", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn attachments_follow_the_numbers_setting_and_whatsapps_limits() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let c = conversation(&app, channel).await;

    let (s, small) = upload(&app, &admin, "photo.png", "image/png", vec![7u8; 2048]).await;
    assert_eq!(s, 201, "{small}");
    assert_eq!(small["size_bytes"], 2048);
    let (_, big) = upload(&app, &admin, "huge.jpg", "image/jpeg", vec![1u8; 5 * 1024 * 1024 + 10]).await;
    let (_, exe) = upload(&app, &admin, "tool.exe", "application/x-msdownload", vec![1u8; 100]).await;

    let (s, e) = send(&app, &admin, c, json!({"attachments": [big["id"]]})).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, "media_too_large"), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("5 MB"), "{e}");
    assert_eq!(e["error"]["details"]["limit_bytes"], 5 * 1024 * 1024);
    let (s, e) = send(&app, &admin, c, json!({"attachments": [small["id"], exe["id"]]})).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, "media_type_unsupported"), "{e}");
    assert_eq!(e["error"]["details"]["field"], "attachments[1]");
    let (s, e) = send(&app, &admin, c, json!({"attachments": [Uuid::new_v4()]})).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, "upload_not_found"));

    // Too large for any WhatsApp media: refused at upload.
    let (s, e) = upload(&app, &admin, "movie.mp4", "video/mp4", vec![0u8; 16 * 1024 * 1024 + 1]).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (413, "upload_too_large"));

    // The number forbids agents' attachments.
    let number: Uuid = sqlx::query_scalar("SELECT id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let (s, _) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"agents_may_send_attachments": false})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = send(&app, &admin, c, json!({"body": "see attached", "attachments": [small["id"]]})).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, "attachments_disabled"));
    assert_eq!(outbound_count(&app).await, 0);

    // Expired uploads cannot be sent.
    let (s, _) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"agents_may_send_attachments": true})),
        )
        .await;
    assert_eq!(s, 200);
    sqlx::query("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(small["id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let (s, e) = send(&app, &admin, c, json!({"attachments": [small["id"]]})).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, "upload_expired"));
}

#[tokio::test]
async fn every_request_shape_reaches_twilio_as_twilio_expects_it() {
    let twilio = MockServer::start().await;
    answer(&twilio, Created, u64::MAX).await;
    let (app, channel, admin, c) = conversation_sending_to(&twilio).await;

    // Text.
    let (s, m) = send(&app, &admin, c, json!({"body": "Hola, ¿en qué te ayudo?"})).await;
    assert_eq!(s, 202);
    settled(&app, m["id"].as_str().unwrap()).await;
    // Media, two files.
    let (_, a) = upload(&app, &admin, "factura 1.pdf", "application/pdf", b"%PDF-1.4 one".to_vec()).await;
    let (_, b) = upload(&app, &admin, "foto.jpg", "image/jpeg", vec![0xff, 0xd8, 0xff, 1, 2, 3]).await;
    let (s, m) = send(&app, &admin, c, json!({"body": "Your documents", "attachments": [a["id"], b["id"]]})).await;
    assert_eq!(s, 202, "{m}");
    assert_eq!(m["attachments"].as_array().unwrap().len(), 2);
    settled(&app, m["id"].as_str().unwrap()).await;
    // Template, window closed.
    set_last_inbound(&app, c, "- interval '2 days'").await;
    let t = template(&app, &admin, "order_update", "approved", "Order {{1}} arrives {{2}}").await;
    let content_sid: String =
        sqlx::query_scalar("SELECT content_sid FROM templates").fetch_one(&app.pool).await.unwrap();
    let (s, m) = send(&app, &admin, c, json!({"template": {"id": t, "variables": {"1": "A-1", "2": "Friday"}}})).await;
    assert_eq!(s, 202);
    settled(&app, m["id"].as_str().unwrap()).await;

    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let auth = requests[0].headers.get("authorization").unwrap().to_str().unwrap().to_owned();
    use base64::Engine;
    assert_eq!(
        auth,
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")))
    );
    let text = form_of(&requests[0]);
    assert_eq!(values(&text, "To"), [format!("whatsapp:{CUSTOMER}")]);
    assert_eq!(values(&text, "From"), [format!("whatsapp:{BUSINESS_NUMBER}")]);
    assert_eq!(values(&text, "Body"), ["Hola, ¿en qué te ayudo?"]);
    assert_eq!(values(&text, "StatusCallback"), [app.status_url(channel)]);
    assert!(values(&text, "MessagingServiceSid").is_empty());

    let media = form_of(&requests[1]);
    let urls = values(&media, "MediaUrl");
    assert_eq!(urls.len(), 2, "repeated MediaUrl keys");
    assert!(
        urls[0].starts_with(&format!("{}/media/", app.address)) && urls[0].ends_with("/factura%201.pdf"),
        "{urls:?}"
    );
    // Twilio can fetch them, without logging in, while they have not expired.
    let fetched = app.client.get(urls[0]).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"%PDF-1.4 one");
    let guessed = urls[0].replace(&urls[0][urls[0].len() - 30..urls[0].len() - 20], "0000000000");
    assert_eq!(app.client.get(&guessed).send().await.unwrap().status(), 404);

    let tpl = form_of(&requests[2]);
    assert_eq!(values(&tpl, "ContentSid"), [content_sid.as_str()]);
    let vars: Value = serde_json::from_str(values(&tpl, "ContentVariables")[0]).unwrap();
    assert_eq!(vars, json!({"1": "A-1", "2": "Friday"}));
    assert!(values(&tpl, "Body").is_empty(), "a template goes by ContentSid only");
}

#[tokio::test]
async fn a_customer_known_only_by_a_business_scoped_user_id_is_answered_at_that_id() {
    let twilio = MockServer::start().await;
    answer(&twilio, created("SM00000000000000000000000000000003"), u64::MAX).await;
    let app = app_sending_to(&twilio).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let mut params = inbound_text(&new_sid("SM"), "Hola");
    set(&mut params, "From", "whatsapp:US.13491208655302741918");
    set(&mut params, "ExternalUserId", "whatsapp:US.13491208655302741918");
    params.retain(|(k, _)| k != "WaId");
    assert_eq!(app.post_signed(&app.messages_url(channel), &params).await.status(), 200);
    let c: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&app.pool).await.unwrap();
    let (s, m) = send(&app, &admin, c, json!({"body": "Hi"})).await;
    assert_eq!(s, 202, "{m}");
    let (status, sid, code, error) = settled(&app, m["id"].as_str().unwrap()).await;
    assert_eq!(
        (status.as_str(), sid.as_deref(), code, error),
        ("queued", Some("SM00000000000000000000000000000003"), None, None)
    );
    let form = form_of(&twilio.received_requests().await.unwrap()[0]);
    assert_eq!(values(&form, "To"), ["whatsapp:US.13491208655302741918"]);
}

#[tokio::test]
async fn a_messaging_service_channel_sends_with_its_service() {
    let twilio = MockServer::start().await;
    answer(&twilio, created("SM00000000000000000000000000000002"), u64::MAX).await;
    let app = app_sending_to(&twilio).await;
    let channel = app.create_messaging_service_channel().await;
    let admin = app.api_token("admin").await;
    let mut params = inbound_text(&new_sid("SM"), "Hola");
    set(&mut params, "MessagingServiceSid", MESSAGING_SERVICE_SID);
    assert_eq!(app.post_signed(&app.messages_url(channel), &params).await.status(), 200);
    let c: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&app.pool).await.unwrap();
    let (s, m) = send(&app, &admin, c, json!({"body": "Hi"})).await;
    assert_eq!(s, 202);
    let (status, sid, _, _) = settled(&app, m["id"].as_str().unwrap()).await;
    assert_eq!((status.as_str(), sid.as_deref()), ("queued", Some("SM00000000000000000000000000000002")));
    let form = form_of(&twilio.received_requests().await.unwrap()[0]);
    assert_eq!(values(&form, "MessagingServiceSid"), [MESSAGING_SERVICE_SID]);
    assert!(values(&form, "From").is_empty());
}

#[tokio::test]
async fn throttling_is_retried_and_the_message_sent_once() {
    let twilio = MockServer::start().await;
    answer(&twilio, twilio_error(429, 20429, "Too Many Requests"), 1).await;
    answer(&twilio, created("SM00000000000000000000000000000003"), u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let (_, m) = send(&app, &admin, c, json!({"body": "Hi"})).await;
    let (status, sid, code, _) = settled(&app, m["id"].as_str().unwrap()).await;
    assert_eq!((status.as_str(), sid.as_deref(), code), ("queued", Some("SM00000000000000000000000000000003"), None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.received_requests().await.unwrap().len(), 2, "one 429, one 201, nothing more");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&app.pool).await.unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn a_permanent_error_fails_the_message_at_once_with_twilios_code() {
    let twilio = MockServer::start().await;
    answer(&twilio, twilio_error(400, 21211, "The 'To' number +5215512345678 is not a valid phone number."), u64::MAX)
        .await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let (_, m) = send(&app, &admin, c, json!({"body": "Hi"})).await;
    let (status, sid, code, reason) = settled(&app, m["id"].as_str().unwrap()).await;
    assert_eq!((status.as_str(), sid, code), ("failed", None, Some(21211)));
    assert!(reason.unwrap().contains("not a valid phone number"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1, "not retried");
    let (_, msgs) =
        app.api(&admin, Method::GET, &format!("/conversations/{c}/messages?direction=outbound"), None).await;
    assert_eq!(msgs["items"][0]["status"], "failed");
    assert_eq!(msgs["items"][0]["error_code"], 21211);
}

#[tokio::test]
async fn server_errors_fail_the_message_after_the_last_attempt() {
    let twilio = MockServer::start().await;
    answer(&twilio, twilio_error(500, 20500, "Internal Server Error"), u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let (_, m) = send(&app, &admin, c, json!({"body": "Hi"})).await;
    let (status, _, code, reason) = settled(&app, m["id"].as_str().unwrap()).await;
    assert_eq!((status.as_str(), code), ("failed", Some(20500)));
    assert!(reason.unwrap().contains("after 3 attempts"));
    assert_eq!(twilio.received_requests().await.unwrap().len(), 3, "outbound.max_attempts");
}

/// The bodies Twilio was asked to send, in the order the requests came.
async fn bodies_received(twilio: &MockServer) -> Vec<String> {
    let requests = twilio.received_requests().await.unwrap();
    requests
        .iter()
        .flat_map(|r| values(&form_of(r), "Body").into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[tokio::test]
async fn a_conversations_messages_reach_twilio_in_the_order_they_were_written() {
    let twilio = MockServer::start().await;
    // The first message meets a server error once and is retried after 400 ms; the second, written meanwhile,
    // waits for it rather than overtake it.
    answer(&twilio, twilio_error(500, 20500, "Internal Server Error"), 1).await;
    answer(&twilio, Created, u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_with(
        &twilio,
        &[("SWITCHBOARD__JOBS__RETRY_BASE_MS", "400"), ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "400")],
    )
    .await;
    let (_, first) = send(&app, &admin, c, json!({"body": "first"})).await;
    let (_, second) = send(&app, &admin, c, json!({"body": "second"})).await;
    assert_eq!(settled(&app, first["id"].as_str().unwrap()).await.0, "queued");
    assert!(settled(&app, second["id"].as_str().unwrap()).await.1.is_some());
    assert_eq!(bodies_received(&twilio).await, ["first", "first", "second"]);
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&app.pool).await.unwrap();
    assert_eq!(attempts, 0, "both jobs are done");
}

#[tokio::test]
async fn a_message_is_held_back_by_an_earlier_one_for_two_minutes_at_most() {
    let twilio = MockServer::start().await;
    // The first message keeps meeting server errors (10 attempts, a second apart); the second waits for it only
    // until it has been queued for two minutes (here: made two minutes old).
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(wiremock::matchers::body_string_contains("Body=first"))
        .respond_with(twilio_error(500, 20500, "Internal Server Error"))
        .mount(&twilio)
        .await;
    answer(&twilio, Created, u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_with(
        &twilio,
        &[
            ("SWITCHBOARD__JOBS__RETRY_BASE_MS", "1000"),
            ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "1000"),
            ("SWITCHBOARD__OUTBOUND__MAX_ATTEMPTS", "10"),
        ],
    )
    .await;
    let (_, first) = send(&app, &admin, c, json!({"body": "first"})).await;
    let (_, second) = send(&app, &admin, c, json!({"body": "second"})).await;
    // Once the first has been retried, the second has still not gone.
    let seen = eventually(15, "the first message retried", || async {
        let bodies = bodies_received(&twilio).await;
        (bodies.iter().filter(|b| *b == "first").count() >= 2).then_some(bodies)
    })
    .await;
    assert!(!seen.iter().any(|b| b == "second"), "the second waits while the first is retried: {seen:?}");
    sqlx::query(
        "UPDATE messages SET created_at = created_at - interval '2 minutes 1 second' WHERE conversation_id = $1",
    )
    .bind(c)
    .execute(&app.pool)
    .await
    .unwrap();
    let (_, sid, _, _) = settled(&app, second["id"].as_str().unwrap()).await;
    assert!(sid.is_some());
    let (status, sid, _, _) = message_row(&app, first["id"].as_str().unwrap()).await;
    assert_eq!((status.as_str(), sid), ("queued", None), "the first is still being retried");
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let twilio = MockServer::start().await;
    answer(&twilio, created("SM00000000000000000000000000000009").set_delay(Duration::from_millis(1500)), 1).await;
    answer(&twilio, created("SM00000000000000000000000000000004"), u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let (_, m) = send(&app, &admin, c, json!({"body": "Hi"})).await;
    let (_, sid, _, _) = settled(&app, m["id"].as_str().unwrap()).await;
    assert_eq!(sid.as_deref(), Some("SM00000000000000000000000000000004"));
    assert_eq!(twilio.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_message_instead_of_sending_again() {
    let twilio = MockServer::start().await;
    answer(&twilio, created("SM00000000000000000000000000000005"), u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let url = format!("{}/api/v1/conversations/{c}/messages", app.address);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = app
            .client
            .post(&url)
            .bearer_auth(&admin)
            .header("Idempotency-Key", "reply-42")
            .json(&json!({"body": "Once"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let m: Value = r.json().await.unwrap();
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    settled(&app, &ids[0]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbound_count(&app).await, 1);
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_per_sender_rate_is_shared_and_a_burst_is_queued_not_refused() {
    let twilio = MockServer::start().await;
    answer(&twilio, Created, u64::MAX).await;
    let app = app_sending_with(&twilio, &[("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "20")]).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let c = conversation(&app, channel).await;
    for i in 0..20 {
        let (s, _) = send(&app, &admin, c, json!({"body": format!("burst {i}")})).await;
        assert_eq!(s, 202, "a burst beyond the rate is accepted");
    }
    eventually(20, "all 20 sent", || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'outbound' AND twilio_sid IS NOT NULL")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        (n == 20).then_some(())
    })
    .await;
    // Not asserting timings (see benches/outbound_load.rs for the measured rate); the slots handed out are
    // spaced by 1/20 s, which the shared row records.
    let next: time::OffsetDateTime =
        sqlx::query_scalar("SELECT next_slot FROM send_rate").fetch_one(&app.pool).await.unwrap();
    let first: time::OffsetDateTime =
        sqlx::query_scalar("SELECT min(created_at) FROM messages WHERE direction = 'outbound'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(next - first >= time::Duration::milliseconds(950), "20 slots at 20/s span a second: {}", next - first);
}

/// A send waiting for its sender's rate slot when the server stops gives the slot up and its job back at once
/// (another node sends it), instead of sending from a process that is going away.
#[tokio::test]
async fn a_send_waiting_for_its_rate_slot_is_handed_back_when_the_server_stops() {
    let twilio = MockServer::start().await;
    answer(&twilio, Created, 10).await;
    // One message every 50 s, and a grace longer than that: only the hand-back can stop the wait.
    let app = app_sending_with(
        &twilio,
        &[("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0.02"), ("SWITCHBOARD__JOBS__SHUTDOWN_GRACE_MS", "120000")],
    )
    .await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let c = conversation(&app, channel).await;
    for text in ["first", "second"] {
        let (status, v) =
            app.api(&admin, Method::POST, &format!("/conversations/{c}/messages"), Some(json!({"body": text}))).await;
        assert_eq!(status, 202, "{v}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sent = twilio.received_requests().await.unwrap().len();
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'running'").fetch_one(&app.pool).await.unwrap();
        if sent == 1 && waiting == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "expected one sent and one waiting ({sent} sent)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = secrecy::ExposeSecret::expose_secret(app.settings.database.url.as_ref().unwrap()).to_owned();
    app.stop().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    assert_eq!(twilio.received_requests().await.unwrap().len(), 1, "the waiting one was not sent on the way out");
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM jobs").fetch_one(&pool).await.unwrap();
    assert_eq!((state.as_str(), attempts), ("pending", 0));
    let status: String =
        sqlx::query_scalar("SELECT status FROM messages WHERE body = 'second'").fetch_one(&pool).await.unwrap();
    assert_eq!(status, "queued");
}

#[tokio::test]
async fn retrying_a_failed_message_sends_it_once_more_linked_to_the_original_however_many_ask() {
    let twilio = MockServer::start().await;
    // The first request fails for good (a number Twilio refuses today); every later one is accepted.
    answer(
        &twilio,
        twilio_error(400, 63016, "Failed to send freeform message because you are outside the allowed window."),
        1,
    )
    .await;
    answer(&twilio, Created, u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let (_, m) = send(&app, &admin, c, json!({"body": "Your order shipped"})).await;
    let original = m["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &original).await.0, "failed");
    let retry = format!("/conversations/{c}/messages/{original}/retry");

    // Five clicks at once: one new message, the others told which.
    let answers = futures_util::future::join_all((0..5).map(|_| app.api(&admin, Method::POST, &retry, None))).await;
    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 202).map(|(_, v)| v).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    let new = accepted[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted[0]["retry_of"], original.as_str());
    assert_eq!(accepted[0]["body"], "Your order shipped");
    for (status, e) in answers.iter().filter(|(s, _)| *s != 202) {
        assert_eq!((*status, e["error"]["code"].as_str()), (409, Some("already_retried")), "{e}");
        assert_eq!(e["error"]["details"]["message_id"], new.as_str());
    }
    let (status, sid, _, _) = settled(&app, &new).await;
    assert_eq!((status.as_str(), sid.is_some()), ("queued", true), "sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies: Vec<Vec<(String, String)>> = twilio.received_requests().await.unwrap().iter().map(form_of).collect();
    assert_eq!(bodies.len(), 2, "the failed attempt and exactly one retry");
    assert_eq!(values(&bodies[1], "Body"), ["Your order shipped"]);
    let (_, msgs) =
        app.api(&admin, Method::GET, &format!("/conversations/{c}/messages?direction=outbound"), None).await;
    let failed = msgs["items"].as_array().unwrap().iter().find(|x| x["id"] == original.as_str()).unwrap();
    assert_eq!(failed["retried_by"], new.as_str());

    // Only a failed outbound message can be retried; a message of another conversation is not found.
    let (status, e) = app.api(&admin, Method::POST, &format!("/conversations/{c}/messages/{new}/retry"), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("message_not_failed")), "{e}");
    let other = conversation(&app, app.create_channel().await).await;
    let (status, e) =
        app.api(&admin, Method::POST, &format!("/conversations/{other}/messages/{original}/retry"), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("message_not_found")), "{e}");
    // Outside the window free text cannot go again, and nothing is queued.
    let before = outbound_count(&app).await;
    set_last_inbound(&app, c, "- interval '25 hours'").await;
    sqlx::query("UPDATE messages SET status = 'failed' WHERE id = $1::uuid")
        .bind(&new)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, e) = app.api(&admin, Method::POST, &format!("/conversations/{c}/messages/{new}/retry"), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("session_window_closed")), "{e}");
    assert_eq!(outbound_count(&app).await, before);
}

#[tokio::test]
async fn an_agents_reply_can_quote_a_message_of_its_conversation_only() {
    let twilio = MockServer::start().await;
    answer(&twilio, Created, u64::MAX).await;
    let (app, _, admin, c) = conversation_sending_to(&twilio).await;
    let (_, page) = app.api(&admin, Method::GET, &format!("/conversations/{c}/messages"), None).await;
    let inbound = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, m) = send(&app, &admin, c, json!({"body": "Yes, that one", "reply_to_message_id": inbound})).await;
    assert_eq!(status, 202, "{m}");
    assert_eq!(m["reply_to"]["message_id"], inbound.as_str());
    assert_eq!(m["reply_to"]["body"], "Hola");
    assert_eq!(m["reply_to"]["direction"], "inbound");
    // What Twilio gets is the text alone: its Messages API takes no reply context for WhatsApp.
    settled(&app, m["id"].as_str().unwrap()).await;
    let form = form_of(&twilio.received_requests().await.unwrap()[0]);
    assert_eq!(values(&form, "Body"), ["Yes, that one"]);
    // A message of another conversation, or none, is refused naming the field; nothing is queued.
    let other = conversation(&app, app.create_channel().await).await;
    let (_, page) = app.api(&admin, Method::GET, &format!("/conversations/{other}/messages"), None).await;
    let foreign = page["items"][0]["id"].as_str().unwrap().to_owned();
    let before = outbound_count(&app).await;
    for id in [foreign, Uuid::now_v7().to_string()] {
        let (status, e) = send(&app, &admin, c, json!({"body": "x", "reply_to_message_id": id})).await;
        assert_eq!((status, e["error"]["details"]["field"].as_str()), (422, Some("reply_to_message_id")), "{e}");
    }
    assert_eq!(outbound_count(&app).await, before);
}
