//! WhatsApp numbers under a channel: add, update, remove (history kept), behaviours and business profile.

mod common;

use common::*;
use serde_json::{json, Value};

async fn call(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    app.api(token, method, path, body).await
}

async fn channel_with_token(app: &TestApp) -> (String, String) {
    let token = app.api_token("admin").await;
    let (status, channel) = call(app, &token, reqwest::Method::POST, "/channels", Some(json!({
        "name": "Support", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "numbers": [{"e164": BUSINESS_NUMBER}]
    }))).await;
    assert_eq!(status, 201);
    (token, channel["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_number_is_added_with_safe_defaults_then_configured() {
    let app = spawn_app().await;
    let (token, channel) = channel_with_token(&app).await;
    let (status, number) = call(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("/channels/{channel}/numbers"),
        Some(json!({"e164": "+31201234567", "name": "Support NL", "language": "nl"})),
    )
    .await;
    assert_eq!(status, 201, "{number}");
    assert_eq!(number["greeting_text"], Value::Null, "no greeting unless one is set");
    assert_eq!(number["csat_enabled"], false);
    assert_eq!(number["ai_agent_id"], Value::Null, "no AI agent unless one is chosen");
    assert_eq!(number["customers_may_send_attachments"], true);
    let id = number["id"].as_str().unwrap();

    let profile = json!({"display_name": "Acme Support", "description": "We answer within the hour.", "email": "help@acme.example", "industry": "RETAIL", "websites": ["https://acme.example"]});
    let (status, updated) = call(&app, &token, reqwest::Method::PATCH, &format!("/channels/{channel}/numbers/{id}"), Some(json!({
        "greeting_text": "Hallo! We helpen je zo.", "agents_may_send_attachments": false, "csat_enabled": true, "profile": profile
    }))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["greeting_text"], "Hallo! We helpen je zo.");
    assert_eq!(updated["agents_may_send_attachments"], false);
    assert_eq!(updated["language"], "nl", "untouched fields stay");
    assert_eq!(updated["profile"]["industry"], "RETAIL");

    let (_, cleared) = call(
        &app,
        &token,
        reqwest::Method::PATCH,
        &format!("/channels/{channel}/numbers/{id}"),
        Some(json!({"greeting_text": null})),
    )
    .await;
    assert_eq!(cleared["greeting_text"], Value::Null);
    assert_eq!(cleared["csat_enabled"], true);

    // The new number receives messages straight away.
    let mut p = inbound_text(&new_sid("SM"), "to the new number");
    set(&mut p, "To", "whatsapp:+31201234567");
    assert_eq!(app.post_signed(&app.messages_url(channel.parse().unwrap()), &p).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn bad_numbers_profiles_and_fields_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let (token, channel) = channel_with_token(&app).await;
    let path = format!("/channels/{channel}/numbers");
    for (body, field) in [
        (json!({"e164": "0612345678"}), "e164"),
        (json!({"e164": "+31 20 123 4567"}), "e164"),
        (json!({"e164": "+31201234567", "language": "Dutch"}), "language"),
        (json!({"e164": "+31201234567", "profile": {"description": "x".repeat(513)}}), "profile.description"),
        (
            json!({"e164": "+31201234567", "profile": {"websites": ["https://a.example", "https://b.example", "https://c.example"]}}),
            "profile.websites",
        ),
        (json!({"e164": "+31201234567", "profile": {"industry": "SPACE"}}), "profile.industry"),
    ] {
        let (status, err) = call(&app, &token, reqwest::Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"]["details"]["field"], field, "{body}: {err}");
    }
    let (status, _) =
        call(&app, &token, reqwest::Method::POST, &path, Some(json!({"e164": "+31201234567", "colour": "blue"}))).await;
    assert_eq!(status, 422, "unknown fields are refused");
    let (status, err) = call(&app, &token, reqwest::Method::POST, &path, Some(json!({"e164": BUSINESS_NUMBER}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("number_exists")));
    let numbers: i64 = sqlx::query_scalar("SELECT count(*) FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    assert_eq!(numbers, 1, "nothing stored from bad input");
    app.stop().await;
}

#[tokio::test]
async fn a_removed_number_keeps_its_conversations_and_stops_receiving() {
    let app = spawn_app().await;
    let (token, channel) = channel_with_token(&app).await;
    let url = app.messages_url(channel.parse().unwrap());
    app.post_signed(&url, &inbound_text(&new_sid("SM"), "before")).await;
    let (_, numbers) = call(&app, &token, reqwest::Method::GET, &format!("/channels/{channel}/numbers"), None).await;
    let id = numbers["items"][0]["id"].as_str().unwrap();

    let (status, _) =
        call(&app, &token, reqwest::Method::DELETE, &format!("/channels/{channel}/numbers/{id}"), None).await;
    assert_eq!(status, 204);

    let r = app.post_signed(&url, &inbound_text(&new_sid("SM"), "after")).await;
    assert_eq!(r.status(), 422, "the number is no longer the channel's");
    assert_eq!(app.count("conversations").await, 1);
    assert_eq!(app.count("messages").await, 1);
    let agent = app.api_token("agent").await;
    let (status, _) = call(&app, &agent, reqwest::Method::GET, &format!("/channels/{channel}/numbers"), None).await;
    assert_eq!(status, 403);
    app.stop().await;
}
