//! Status callbacks for outbound messages: forward only, failures keep Twilio's code with an explanation.

mod common;

use common::*;
use uuid::Uuid;

/// An outbound message Twilio accepted, as the sender will store it.
async fn outbound_message(app: &TestApp, channel: Uuid) -> String {
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "hi")).await;
    let sid = new_sid("SM");
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status)
         SELECT $1, c.id, ch.account_id, 'outbound', $2, 'Hello from the agent', 'queued'
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id LIMIT 1",
    )
    .bind(Uuid::now_v7())
    .bind(&sid)
    .execute(&app.pool)
    .await
    .unwrap();
    sid
}

fn callback(sid: &str, status: &str) -> Vec<(String, String)> {
    params(&[
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{BUSINESS_NUMBER}")),
        ("To", &format!("whatsapp:{CUSTOMER}")),
        ("ChannelPrefix", "whatsapp"),
        ("ChannelInstallSid", "XE0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
    ])
}

async fn status_of(app: &TestApp, sid: &str) -> (String, Option<i32>, Option<String>) {
    sqlx::query_as("SELECT status, error_code, error_message FROM messages WHERE twilio_sid = $1")
        .bind(sid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn statuses_arriving_out_of_order_only_move_forward() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = outbound_message(&app, channel).await;
    let url = app.status_url(channel);

    for (arriving, expected) in
        [("sent", "sent"), ("read", "read"), ("delivered", "read"), ("sent", "read"), ("failed", "read")]
    {
        let r = app.post_signed(&url, &callback(&sid, arriving)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(status_of(&app, &sid).await.0, expected, "after a late {arriving}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_failure_keeps_twilios_code_and_a_readable_reason() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = outbound_message(&app, channel).await;
    let mut p = callback(&sid, "undelivered");
    p.push(("ErrorCode".into(), "63016".into()));

    assert_eq!(app.post_signed(&app.status_url(channel), &p).await.status(), 200);

    let (status, code, reason) = status_of(&app, &sid).await;
    assert_eq!((status.as_str(), code), ("undelivered", Some(63016)));
    assert!(reason.unwrap().contains("24-hour"), "explained in plain words");
    // Final: a late delivered does not resurrect it.
    app.post_signed(&app.status_url(channel), &callback(&sid, "delivered")).await;
    assert_eq!(status_of(&app, &sid).await.0, "undelivered");
    app.stop().await;
}

#[tokio::test]
async fn unknown_messages_and_unknown_statuses_are_acknowledged_not_errors() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = outbound_message(&app, channel).await;

    let unknown_sid = app.post_signed(&app.status_url(channel), &callback(&new_sid("SM"), "delivered")).await;
    assert_eq!(unknown_sid.status(), 200);
    let unknown_status = app.post_signed(&app.status_url(channel), &callback(&sid, "teleported")).await;
    assert_eq!(unknown_status.status(), 200);
    assert_eq!(status_of(&app, &sid).await.0, "queued");
    app.stop().await;
}

#[tokio::test]
async fn status_callbacks_are_signed_and_checked_like_messages() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let sid = outbound_message(&app, channel).await;
    let url = app.status_url(channel);

    let forged = app.post_with_signature(&url, &callback(&sid, "read"), Some("bm90IGEgc2lnbmF0dXJlIGF0IGFsbA==")).await;
    assert_eq!(forged.status(), 403);
    let mut no_sid = callback(&sid, "read");
    remove(&mut no_sid, "MessageSid");
    assert_eq!(app.post_signed(&url, &no_sid).await.status(), 400);
    assert_eq!(status_of(&app, &sid).await.0, "queued");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_callbacks_never_move_a_message_backwards() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let url = app.status_url(channel);
    for _ in 0..5 {
        let sid = outbound_message(&app, channel).await;
        let statuses = ["sent", "delivered", "read", "sent", "delivered", "sending"];
        let posts = statuses.iter().map(|s| {
            let p = callback(&sid, s);
            let url = url.clone();
            let app = &app;
            async move { app.post_signed(&url, &p).await.status() }
        });
        let codes = futures_util::future::join_all(posts).await;
        assert!(codes.iter().all(|c| *c == 200));
        assert_eq!(status_of(&app, &sid).await.0, "read");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_status_that_arrives_before_its_sid_is_recorded_is_applied_when_it_is() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "hi")).await;
    // A message the sender has handed to Twilio, whose SID is not committed yet.
    let message_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, account_id, direction, body, status)
         SELECT $1, c.id, ch.account_id, 'outbound', 'Hello from the agent', 'queued'
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id LIMIT 1",
    )
    .bind(message_id)
    .execute(&app.pool)
    .await
    .unwrap();
    let sid = new_sid("SM");
    // Twilio calls back first (sent, then delivered), before the sender has recorded the SID.
    for status in ["sent", "delivered"] {
        assert_eq!(app.post_signed(&app.status_url(channel), &callback(&sid, status)).await.status(), 200);
    }
    let accepted =
        switchboard::store::outbound::Accepted { message_id, sid: sid.clone(), job_id: 0, worker: "test".into() };
    switchboard::store::outbound::record_accepted(&app.pool, &[accepted]).await.unwrap();
    assert_eq!(status_of(&app, &sid).await.0, "delivered", "the early callbacks are applied, forward only");
    assert_eq!(app.count("early_status_callbacks").await, 0, "and then forgotten");
    // A late, older status still does not move it back.
    app.post_signed(&app.status_url(channel), &callback(&sid, "sent")).await;
    assert_eq!(status_of(&app, &sid).await.0, "delivered");
    app.stop().await;
}
