//! Inbound WhatsApp messages through `POST /webhooks/twilio/{channel}/messages`, against a fresh database.

mod common;

use common::*;
use serde_json::Value;
use sqlx::Row;
use switchboard::secrets::SecretBox;
use uuid::Uuid;

async fn message_count(app: &TestApp) -> i64 {
    app.count("messages").await
}

#[tokio::test]
async fn an_inbound_text_is_committed_before_the_empty_twiml_answer() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = new_sid("SM");

    let response = app.post_signed(&app.messages_url(channel), &inbound_text(&sid, "¿Dónde está mi pedido? 📦")).await;

    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), switchboard::twilio::EMPTY_TWIML);
    let row = sqlx::query(
        "SELECT m.body, m.direction, m.status, m.webhook_params, c.phone_e164, c.wa_id, c.profile_name,
                v.status AS conversation_status, v.last_inbound_at IS NOT NULL AS has_window, n.e164
         FROM messages m JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id
         JOIN whatsapp_numbers n ON n.id = v.number_id WHERE m.twilio_sid = $1",
    )
    .bind(&sid)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("body"), "¿Dónde está mi pedido? 📦");
    assert_eq!(row.get::<String, _>("direction"), "inbound");
    assert_eq!(row.get::<String, _>("status"), "received");
    assert_eq!(row.get::<String, _>("phone_e164"), CUSTOMER);
    assert_eq!(row.get::<String, _>("wa_id"), &CUSTOMER[1..]);
    assert_eq!(row.get::<String, _>("profile_name"), "María José");
    assert_eq!(row.get::<String, _>("conversation_status"), "open");
    assert!(row.get::<bool, _>("has_window"));
    assert_eq!(row.get::<String, _>("e164"), BUSINESS_NUMBER);
    let params: Value = row.get("webhook_params");
    for (k, v) in inbound_text(&sid, "¿Dónde está mi pedido? 📦") {
        assert_eq!(params[&k], Value::String(v), "webhook parameter {k} kept");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_next_message_joins_the_open_conversation_and_moves_its_window_forward() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "one")).await;
    let first: (Uuid, time::OffsetDateTime) =
        sqlx::query_as("SELECT id, last_inbound_at FROM conversations").fetch_one(&app.pool).await.unwrap();

    let response = app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "two")).await;

    assert_eq!(response.status(), 200);
    let after: Vec<(Uuid, time::OffsetDateTime)> =
        sqlx::query_as("SELECT id, last_inbound_at FROM conversations").fetch_all(&app.pool).await.unwrap();
    assert_eq!(after.len(), 1, "one conversation");
    assert_eq!(after[0].0, first.0);
    assert!(after[0].1 > first.1, "last inbound time moved forward");
    assert_eq!(message_count(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn last_inbound_time_never_moves_backwards() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "one")).await;
    // A clock ahead of ours wrote a later time (another server, say).
    sqlx::query("UPDATE conversations SET last_inbound_at = now() + interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    let ahead: time::OffsetDateTime =
        sqlx::query_scalar("SELECT last_inbound_at FROM conversations").fetch_one(&app.pool).await.unwrap();

    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "two")).await;

    let now: time::OffsetDateTime =
        sqlx::query_scalar("SELECT last_inbound_at FROM conversations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(now, ahead);
    app.stop().await;
}

#[tokio::test]
async fn a_message_after_the_conversation_was_resolved_opens_a_new_one() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "one")).await;
    sqlx::query("UPDATE conversations SET status = 'resolved', resolved_at = now()").execute(&app.pool).await.unwrap();

    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "two")).await;

    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM conversations ORDER BY created_at").fetch_all(&app.pool).await.unwrap();
    assert_eq!(statuses, ["resolved", "open"]);
    assert_eq!(app.count("contacts").await, 1, "the same contact");
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_delivery_stores_nothing_new_and_still_answers_200() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = new_sid("SM");
    let url = app.messages_url(channel);
    assert_eq!(app.post_signed(&url, &inbound_text(&sid, "hello")).await.status(), 200);
    sqlx::query("UPDATE conversations SET status = 'resolved'").execute(&app.pool).await.unwrap();
    let before: time::OffsetDateTime =
        sqlx::query_scalar("SELECT updated_at FROM contacts").fetch_one(&app.pool).await.unwrap();

    let again = app.post_signed(&url, &inbound_text(&sid, "hello")).await;

    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), switchboard::twilio::EMPTY_TWIML);
    assert_eq!(message_count(&app).await, 1);
    assert_eq!(app.count("conversations").await, 1, "no new conversation for a repeated message");
    let after: time::OffsetDateTime =
        sqlx::query_scalar("SELECT updated_at FROM contacts").fetch_one(&app.pool).await.unwrap();
    assert_eq!(before, after, "the contact was not touched");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_deliveries_of_one_message_store_it_once() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = new_sid("SM");
    let url = app.messages_url(channel);
    let params = inbound_text(&sid, "race");
    let sends = (0..8).map(|_| app.post_signed(&url, &params));
    let responses = futures_util::future::join_all(sends).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(message_count(&app).await, 1);
    assert_eq!(app.count("conversations").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn whatsapp_extras_are_parsed_into_columns() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = new_sid("SM");
    let mut p = inbound_text(&sid, "Yes please");
    for (k, v) in [
        ("MessageType", "interactive"),
        ("ButtonText", "Yes please"),
        ("ButtonPayload", "confirm_order_42"),
        ("OriginalRepliedMessageSid", "SM5c0123456789abcdef0123456789abcd"),
        ("Latitude", "52.3731"),
        ("Longitude", "4.8922"),
        ("Address", "Dam 1, Amsterdam"),
        ("Label", "Office"),
        ("ReferralCtwaClid", "ARAkL123"),
        ("ReferralSourceType", "ad"),
        ("Forwarded", "true"),
        ("FrequentlyForwarded", "true"),
    ] {
        set(&mut p, k, v);
    }
    assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);
    let row =
        sqlx::query("SELECT * FROM messages WHERE twilio_sid = $1").bind(&sid).fetch_one(&app.pool).await.unwrap();
    assert_eq!(row.get::<String, _>("message_type"), "interactive");
    assert_eq!(row.get::<String, _>("button_text"), "Yes please");
    assert_eq!(row.get::<String, _>("button_payload"), "confirm_order_42");
    assert_eq!(row.get::<String, _>("replied_to_sid"), "SM5c0123456789abcdef0123456789abcd");
    assert_eq!(row.get::<f64, _>("latitude"), 52.3731);
    assert_eq!(row.get::<f64, _>("longitude"), 4.8922);
    assert_eq!(row.get::<String, _>("location_address"), "Dam 1, Amsterdam");
    assert_eq!(row.get::<String, _>("location_label"), "Office");
    assert_eq!(row.get::<Value, _>("referral"), serde_json::json!({"CtwaClid": "ARAkL123", "SourceType": "ad"}));
    assert!(row.get::<bool, _>("forwarded"));
    assert!(row.get::<bool, _>("frequently_forwarded"));
    app.stop().await;
}

#[tokio::test]
async fn a_location_a_quoted_reply_an_ad_referral_and_a_forward_are_shown_in_the_api() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let first = new_sid("SM");
    assert_eq!(
        app.post_signed(&app.messages_url(channel), &inbound_text(&first, "Is my order late?")).await.status(),
        200
    );
    let mut p = inbound_text(&new_sid("SM"), "");
    for (k, v) in [
        ("OriginalRepliedMessageSid", first.as_str()),
        ("Latitude", "52.3731"),
        ("Longitude", "4.8922"),
        ("Address", "Dam 1, Amsterdam"),
        ("Label", "Office"),
        ("ReferralSourceUrl", "https://fb.me/ad/1"),
        ("ReferralHeadline", "Winter sale"),
        ("ReferralCtwaClid", "ARAkL123"),
        ("ReferralSourceType", "ad"),
        ("Forwarded", "true"),
    ] {
        set(&mut p, k, v);
    }
    assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);
    let conversation: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&app.pool).await.unwrap();
    let (s, page) =
        app.api(&admin, reqwest::Method::GET, &format!("/conversations/{conversation}/messages"), None).await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let quoted = items.iter().find(|m| m["twilio_sid"] == first.as_str()).unwrap();
    let m = items.iter().find(|m| m["twilio_sid"] != first.as_str()).unwrap();
    assert_eq!(
        m["location"],
        serde_json::json!({"latitude": 52.3731, "longitude": 4.8922, "address": "Dam 1, Amsterdam", "label": "Office"})
    );
    assert_eq!(
        m["reply_to"],
        serde_json::json!({"sid": first, "message_id": quoted["id"], "body": "Is my order late?", "direction": "inbound"})
    );
    assert_eq!(
        m["referral"],
        serde_json::json!({"source_url": "https://fb.me/ad/1", "source_id": null, "source_type": "ad",
                           "headline": "Winter sale", "body": null, "ctwa_clid": "ARAkL123"})
    );
    assert_eq!((m["forwarded"].as_bool(), m["frequently_forwarded"].as_bool()), (Some(true), Some(false)));
    assert_eq!(
        (quoted["location"].is_null(), quoted["reply_to"].is_null(), quoted["referral"].is_null()),
        (true, true, true)
    );
    // A quote of a message Switchboard never saw keeps its SID.
    let mut p = inbound_text(&new_sid("SM"), "this one");
    set(&mut p, "OriginalRepliedMessageSid", "SM00000000000000000000000000000000");
    assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);
    let (_, page) =
        app.api(&admin, reqwest::Method::GET, &format!("/conversations/{conversation}/messages"), None).await;
    let unknown = page["items"].as_array().unwrap().iter().find(|m| m["body"] == "this one").unwrap().clone();
    assert_eq!(
        unknown["reply_to"],
        serde_json::json!({"sid": "SM00000000000000000000000000000000", "message_id": null, "body": null, "direction": null})
    );
    app.stop().await;
}

#[tokio::test]
async fn a_customer_known_only_by_business_scoped_id_is_stored_and_recognised_later() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let mut p = inbound_text(&new_sid("SM"), "hidden number");
    set(&mut p, "From", "whatsapp:US.13491208655302741918");
    set(&mut p, "ExternalUserId", "whatsapp:US.13491208655302741918");
    remove(&mut p, "WaId");
    assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);
    set(&mut p, "MessageSid", &new_sid("SM"));
    assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);

    let contacts: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT phone_e164, bsuid FROM contacts").fetch_all(&app.pool).await.unwrap();
    assert_eq!(contacts, vec![(None, Some("US.13491208655302741918".to_owned()))]);
    assert_eq!(app.count("conversations").await, 1);
    assert_eq!(message_count(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn messaging_service_mode_finds_the_channel_by_service_and_falls_back_to_the_number() {
    let app = spawn_app().await;
    let channel = app.create_messaging_service_channel().await;
    let url = app.messages_url(channel);

    // Through the channel's service, to a sender the channel has not seen yet: accepted, number added.
    let mut p = inbound_text(&new_sid("SM"), "via service");
    set(&mut p, "MessagingServiceSid", MESSAGING_SERVICE_SID);
    assert_eq!(app.post_signed(&url, &p).await.status(), 200);
    let numbers: Vec<String> =
        sqlx::query_scalar("SELECT e164 FROM whatsapp_numbers").fetch_all(&app.pool).await.unwrap();
    assert_eq!(numbers, [BUSINESS_NUMBER]);

    // Without a service SID, a number the channel has is enough.
    let mut p = inbound_text(&new_sid("SM"), "direct to the number");
    remove(&mut p, "MessagingServiceSid");
    assert_eq!(app.post_signed(&url, &p).await.status(), 200);

    // Another service, to a number the channel does not have: refused, nothing stored.
    let mut p = inbound_text(&new_sid("SM"), "elsewhere");
    set(&mut p, "MessagingServiceSid", "MG9999999999abcdef0123456789abcdef");
    set(&mut p, "To", "whatsapp:+14155550199");
    let refused = app.post_signed(&url, &p).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(error_code(refused).await, "messaging_service_mismatch");

    // No service, unknown number: refused.
    remove(&mut p, "MessagingServiceSid");
    let refused = app.post_signed(&url, &p).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(error_code(refused).await, "unknown_number");

    assert_eq!(message_count(&app).await, 2);
    assert_eq!(app.count("conversations").await, 1, "both messages in one conversation on that number");
    app.stop().await;
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("JSON error body");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "a readable message: {body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_refused_with_403_and_nothing_is_stored() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let url = app.messages_url(channel);
    let params = inbound_text(&new_sid("SM"), "forged");

    let missing = app.post_with_signature(&url, &params, None).await;
    assert_eq!(missing.status(), 403);
    assert_eq!(error_code(missing).await, "signature_missing");

    let wrong = app.post_with_signature(&url, &params, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")).await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(error_code(wrong).await, "signature_invalid");

    // Signed for another URL (another channel's).
    let other = format!("{}/webhooks/twilio/{}/messages", app.address, Uuid::now_v7());
    let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &other, &params);
    assert_eq!(app.post_with_signature(&url, &params, Some(&sig)).await.status(), 403);

    // Signed with another token.
    let sig = switchboard::twilio::signature::compute("another-token", &url, &params);
    assert_eq!(app.post_with_signature(&url, &params, Some(&sig)).await.status(), 403);

    // A parameter added after signing.
    let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &url, &params);
    let mut tampered = params.clone();
    set(&mut tampered, "Body", "changed");
    assert_eq!(app.post_with_signature(&url, &tampered, Some(&sig)).await.status(), 403);

    assert_eq!(message_count(&app).await, 0);
    assert_eq!(app.count("contacts").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_signature_covers_the_public_url_with_its_query_and_the_secondary_token_works() {
    let app = spawn_app_with(|env| {
        env.push(("SWITCHBOARD__HTTP__PUBLIC_URL".into(), "https://cc.example.com:8443/sb".into()))
    })
    .await;
    let channel = app.create_channel().await;
    let secrets = SecretBox::load_or_create(None, app.data_dir.path()).unwrap();
    sqlx::query("UPDATE twilio_accounts SET secondary_auth_token = $1")
        .bind(secrets.encrypt("rotated-token"))
        .execute(&app.pool)
        .await
        .unwrap();
    let local = format!("{}/webhooks/twilio/{channel}/messages?tenant=acme&x=a%20b", app.address);
    let public = format!("https://cc.example.com:8443/sb/webhooks/twilio/{channel}/messages?tenant=acme&x=a%20b");
    let params = inbound_text(&new_sid("SM"), "via proxy");

    // Twilio signed the public URL without the port; the secondary token.
    let public_without_port = public.replace(":8443", "");
    let sig = switchboard::twilio::signature::compute("rotated-token", &public_without_port, &params);
    assert_eq!(app.post_with_signature(&local, &params, Some(&sig)).await.status(), 200);

    // Signed over the local URL (what a proxy-unaware check would compute): refused.
    let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &local, &params);
    let p2 = inbound_text(&new_sid("SM"), "x");
    assert_eq!(app.post_with_signature(&local, &p2, Some(&sig)).await.status(), 403);

    // The query is part of what is signed.
    let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &public.replace("acme", "other"), &p2);
    assert_eq!(app.post_with_signature(&local, &p2, Some(&sig)).await.status(), 403);
    assert_eq!(message_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn unknown_channels_are_404_and_a_foreign_account_is_403() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let params = inbound_text(&new_sid("SM"), "hi");

    let unknown = format!("{}/webhooks/twilio/{}/messages", app.address, Uuid::now_v7());
    let r = app.post_signed(&unknown, &params).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "channel_not_found");
    let not_an_id = format!("{}/webhooks/twilio/not-a-channel/messages", app.address);
    assert_eq!(app.post_signed(&not_an_id, &params).await.status(), 404);

    let mut foreign = params.clone();
    set(&mut foreign, "AccountSid", "AC9999999999abcdef0123456789abcdef");
    let r = app.post_signed(&app.messages_url(channel), &foreign).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "account_mismatch");
    assert_eq!(message_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let url = app.messages_url(channel);
    let sign = |p: &[(String, String)]| switchboard::twilio::signature::compute(AUTH_TOKEN, &url, p);

    // A malformed body.
    let r = app
        .client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", "x")
        .body("Body=%ZZ&From=whatsapp%3A%2B1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "malformed_body");

    // A From that is not a WhatsApp address (an SMS).
    let mut p = inbound_text(&new_sid("SM"), "sms");
    set(&mut p, "From", CUSTOMER);
    let r = app.post_with_signature(&url, &p, Some(&sign(&p))).await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_code(r).await, "not_whatsapp");

    // A group message.
    let mut p = inbound_text(&new_sid("SM"), "group");
    set(&mut p, "From", "whatsapp:120363042345678901@g.us");
    let r = app.post_with_signature(&url, &p, Some(&sign(&p))).await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_code(r).await, "group_messages_unsupported");

    // A missing MessageSid.
    let mut p = inbound_text("SM0", "no sid");
    remove(&mut p, "MessageSid");
    let r = app.post_with_signature(&url, &p, Some(&sign(&p))).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "missing_parameter");

    // A body over the configured limit (64 KiB by default).
    let p = inbound_text(&new_sid("SM"), &"x".repeat(70_000));
    let r = app.post_with_signature(&url, &p, Some(&sign(&p))).await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "payload_too_large");

    // Not a form at all.
    let r = app
        .client
        .post(&url)
        .header("Content-Type", "text/plain")
        .header("X-Twilio-Signature", "x")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(error_code(r).await, "unsupported_media_type");

    // Impossible media counts.
    let mut p = inbound_text(&new_sid("MM"), "media?");
    set(&mut p, "NumMedia", "1");
    let r = app.post_with_signature(&url, &p, Some(&sign(&p))).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "invalid_parameter");

    assert_eq!(message_count(&app).await, 0, "nothing stored from bad input");
    let good = inbound_text(&new_sid("SM"), "still here");
    assert_eq!(app.post_signed(&url, &good).await.status(), 200);
    assert_eq!(message_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_json_body_is_verified_by_its_body_hash() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let body = serde_json::json!({
        "MessageSid": new_sid("SM"), "AccountSid": ACCOUNT_SID, "From": format!("whatsapp:{CUSTOMER}"),
        "To": format!("whatsapp:{BUSINESS_NUMBER}"), "Body": "as JSON", "NumMedia": 0
    })
    .to_string();
    let hash = switchboard::twilio::signature::body_hash(body.as_bytes());
    let url = format!("{}?bodySHA256={hash}", app.messages_url(channel));
    let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &url, &[]);

    let ok = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let tampered = body.replace("as JSON", "as JSOM");
    let refused = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", &sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(message_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_channel_receives_nothing_new_and_keeps_its_history() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "before")).await;
    sqlx::query("UPDATE channels SET deleted_at = now()").execute(&app.pool).await.unwrap();
    app.state.channels.invalidate(channel); // as the admin API does when it deletes a channel

    let r = app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "after")).await;

    assert_eq!(r.status(), 410);
    assert_eq!(error_code(r).await, "channel_deleted");
    assert_eq!(message_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // Migrations missing: not ready, and it says why.
    sqlx::query("DELETE FROM _sqlx_migrations").execute(&app.pool).await.unwrap();
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("migrations"), "{body}");
    app.stop().await;
}
