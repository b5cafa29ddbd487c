//! Outgoing webhooks and the event log: every delivery signed as documented, a failure retried with the same
//! delivery id, a conversation's events in order, a webhook turned off after failures in a row (audited) and
//! on again, redelivery, private destinations refused, the cursor API, and a `serve` process killed (SIGKILL)
//! mid-delivery losing nothing.

mod common;

use common::nodes::{free_port, Node, Shared};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fast(env: &mut Vec<(String, String)>) {
    for (k, v) in [
        ("SWITCHBOARD__JOBS__ENABLED", "true"),
        ("SWITCHBOARD__WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS", "true"),
        ("SWITCHBOARD__WEBHOOKS__POLL_MS", "50"),
        ("SWITCHBOARD__WEBHOOKS__RETRY_BASE_MS", "100"),
        ("SWITCHBOARD__WEBHOOKS__DISABLE_AFTER", "4"),
        ("SWITCHBOARD__WEBHOOKS__LEASE_SECS", "2"),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
}

/// Answers `fail_first` requests with 500, then 200; `delay` each.
struct Receiver {
    seen: AtomicUsize,
    fail_first: usize,
    delay: Duration,
}

impl wiremock::Respond for Receiver {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        let status = if n < self.fail_first { 500 } else { 200 };
        ResponseTemplate::new(status).set_delay(self.delay)
    }
}

async fn receiver(fail_first: usize, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(Receiver { seen: AtomicUsize::new(0), fail_first, delay })
        .mount(&server)
        .await;
    server
}

async fn subscribe(app_base: &str, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{app_base}/api/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({"name": "CRM", "url": url, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let w: Value = r.json().await.unwrap();
    (w["id"].as_str().unwrap().to_owned(), w["secret"].as_str().unwrap().to_owned())
}

/// What a receiver does with `X-Switchboard-Signature`, as the README shows it.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(v1).unwrap_or_default()).is_ok()
}

/// The deliveries the receiver got: (delivery id, event type, body).
async fn received(server: &MockServer) -> Vec<(String, Value, Request)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (body["id"].as_str().unwrap().to_owned(), body, r)
        })
        .collect()
}

fn text_from(sid: &str, body: &str, phone: &str) -> Vec<(String, String)> {
    let mut p = inbound_text(sid, body);
    set(&mut p, "From", &format!("whatsapp:{phone}"));
    set(&mut p, "WaId", &phone[1..]);
    p
}

#[tokio::test]
async fn every_delivery_is_signed_a_500_is_retried_with_the_same_id_and_a_conversation_stays_in_order() {
    let hook = receiver(1, Duration::from_millis(20)).await;
    let app = spawn_app_with(fast).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let url = format!("{}/hook", hook.uri());
    let (hook_id, secret) = subscribe(&app.address, &admin, &url, &["message.received", "conversation.created"]).await;
    // Two customers, five messages each, interleaved.
    for i in 0..5 {
        for phone in ["+31611111111", "+31622222222"] {
            let r = app
                .post_signed(&app.messages_url(channel), &text_from(&new_sid("SM"), &format!("{phone} {i}"), phone))
                .await;
            assert_eq!(r.status(), 200);
        }
    }
    let got = eventually(20, "12 events delivered", || async {
        let got = received(&hook).await;
        let ids: HashSet<&String> =
            got.iter().filter(|(_, _, r)| r.url.path() == "/hook").map(|(id, _, _)| id).collect();
        (ids.len() == 12).then_some(got)
    })
    .await;
    for (_, body, request) in &got {
        let header = request.headers.get("x-switchboard-signature").unwrap().to_str().unwrap();
        assert!(verify(&secret, header, &request.body), "{body}");
        assert!(!verify("whsec_wrong", header, &request.body));
        assert_eq!(
            request.headers.get("x-switchboard-event").unwrap().to_str().unwrap(),
            body["type"].as_str().unwrap()
        );
    }
    // The first answer was a 500: that delivery came again with the same id.
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for (id, _, _) in &got {
        *per_id.entry(id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.values().filter(|n| **n == 2).count(), 1, "the one that got a 500 came again, same id");
    // Per conversation, in order: created first, then messages 0..5.
    let mut per_conversation: HashMap<String, Vec<String>> = HashMap::new();
    let mut seen = HashSet::new();
    for (id, body, _) in &got {
        if !seen.insert(id.clone()) {
            continue;
        }
        let c = body["data"]["conversation_id"].as_str().unwrap().to_owned();
        let what = match body["type"].as_str().unwrap() {
            "conversation.created" => "created".to_owned(),
            _ => body["data"]["body"].as_str().unwrap().rsplit(' ').next().unwrap().to_owned(),
        };
        per_conversation.entry(c).or_default().push(what);
    }
    assert_eq!(per_conversation.len(), 2);
    for order in per_conversation.values() {
        assert_eq!(order, &["created", "0", "1", "2", "3", "4"]);
    }
    // Their results are recorded just after the receiver answered.
    let d = eventually(10, "every delivery recorded", || async {
        let (_, d) = app.api(&admin, Method::GET, &format!("/webhooks/{hook_id}/deliveries"), None).await;
        d["items"].as_array().unwrap().iter().all(|i| i["state"] == "delivered").then_some(d)
    })
    .await;
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    assert!(items.iter().all(|i| i["state"] == "delivered"), "{d}");
    assert_eq!(items.iter().filter(|i| i["attempts"] == 2).count(), 1, "{d}");
}

#[tokio::test]
async fn a_webhook_failing_in_a_row_is_turned_off_audited_and_on_again_and_a_delivery_can_be_redelivered() {
    let hook = receiver(usize::MAX, Duration::ZERO).await;
    let app = spawn_app_with(fast).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let (id, _) = subscribe(&app.address, &admin, &format!("{}/hook", hook.uri()), &["message.received"]).await;
    for i in 0..3 {
        let p = text_from(&new_sid("SM"), &format!("m{i}"), &format!("+3163333333{i}"));
        assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);
    }
    let off = eventually(20, "turned off", || async {
        let (_, w) = app.api(&admin, Method::GET, &format!("/webhooks/{id}"), None).await;
        (w["enabled"] == false).then_some(w)
    })
    .await;
    assert!(off["disabled_reason"].as_str().unwrap().contains("4 failed deliveries"), "{off}");
    let (_, audit) = app.api(&admin, Method::GET, "/audit?action=webhook.disabled", None).await;
    assert_eq!(audit["items"].as_array().map(|a| a.len()), Some(1), "{audit}");
    let (_, deliveries) = app.api(&admin, Method::GET, &format!("/webhooks/{id}/deliveries"), None).await;
    let first = deliveries["items"].as_array().unwrap().last().unwrap().clone();
    assert!(first["attempts"].as_i64().unwrap() >= 1 && first["last_status"] == 500, "{first}");

    // The receiver is fixed; the webhook on again delivers everything, and one delivery once more on request.
    hook.reset().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(204)).mount(&hook).await;
    let (s, w) = app.api(&admin, Method::PATCH, &format!("/webhooks/{id}"), Some(json!({"enabled": true}))).await;
    assert_eq!((s, w["consecutive_failures"].as_i64()), (200, Some(0)), "{w}");
    eventually(20, "all three delivered", || async {
        let got = received(&hook).await;
        (got.iter().map(|(id, _, _)| id.clone()).collect::<HashSet<_>>().len() == 3).then_some(())
    })
    .await;
    let delivery = first["id"].as_str().unwrap();
    let (s, again) =
        app.api(&admin, Method::POST, &format!("/webhooks/{id}/deliveries/{delivery}/redeliver"), None).await;
    assert_eq!(s, 202, "{again}");
    let new_id = again["id"].as_str().unwrap().to_owned();
    eventually(20, "the redelivery", || async {
        received(&hook).await.iter().any(|(id, _, _)| *id == new_id).then_some(())
    })
    .await;
    let (s, _) =
        app.api(&admin, Method::POST, &format!("/webhooks/{id}/deliveries/{}/redeliver", Uuid::new_v4()), None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn private_destinations_and_unknown_events_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    for (body, field) in [
        (json!({"name": "x", "url": "http://127.0.0.1:9/hook", "events": ["message.received"]}), "url"),
        (json!({"name": "x", "url": "http://169.254.169.254/latest", "events": ["message.received"]}), "url"),
        (json!({"name": "x", "url": "http://[::1]/hook", "events": ["message.received"]}), "url"),
        (json!({"name": "x", "url": "ftp://example.com/hook", "events": ["message.received"]}), "url"),
        (json!({"name": "x", "url": "https://93.184.215.14/hook", "events": ["message.exploded"]}), "events"),
        (json!({"name": "x", "url": "https://93.184.215.14/hook", "events": []}), "events"),
        (json!({"name": "", "url": "https://93.184.215.14/hook", "events": ["message.received"]}), "name"),
    ] {
        let (s, e) = app.api(&admin, Method::POST, "/webhooks", Some(body.clone())).await;
        assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some(field)), "{body}: {e}");
    }
    assert_eq!(app.count("webhooks").await, 0);
    let (s, w) = app
        .api(
            &admin,
            Method::POST,
            "/webhooks",
            Some(json!({"name": "CRM", "url": "https://93.184.215.14/hook", "events": ["conversation.resolved"]})),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    assert!(w["secret"].as_str().unwrap().starts_with("whsec_"));
    let (_, listed) = app.api(&admin, Method::GET, "/webhooks", None).await;
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once");
}

#[tokio::test]
async fn the_event_log_is_read_from_a_cursor_in_commit_order() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    for i in 0..3 {
        assert_eq!(
            app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), &format!("n{i}"))).await.status(),
            200
        );
    }
    let (s, page) = app.api(&admin, Method::GET, "/events?types=message.received&limit=2", None).await;
    assert_eq!(s, 200, "{page}");
    let bodies: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|e| e["data"]["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["n0", "n1"]);
    let next = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app.api(&admin, Method::GET, &format!("/events?types=message.received&after={next}"), None).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["data"]["body"], "n2");
    let last = rest["next_cursor"].as_str().unwrap();
    let (_, none) = app.api(&admin, Method::GET, &format!("/events?after={last}"), None).await;
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["next_cursor"], last, "nothing new: the same cursor");
    for bad in ["after=yesterday", "limit=0", "types=nope"] {
        let (s, e) = app.api(&admin, Method::GET, &format!("/events?{bad}"), None).await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    // A supervisor may not read the whole log.
    let supervisor = app.api_token("supervisor").await;
    let (s, e) = app.api(&supervisor, Method::GET, "/events", None).await;
    assert_eq!((s, e["error"]["details"]["permission"].as_str()), (403, Some("event:read")));
}

#[tokio::test]
async fn a_message_received_event_reads_as_its_message_as_stored_and_an_event_written_with_data_keeps_it() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let sid = new_sid("SM");
    assert_eq!(
        app.post_signed(&app.messages_url(channel), &inbound_text(&sid, "where is my order?")).await.status(),
        200
    );
    let (message_id, conversation_id, contact_id, number_id, message_type): (Uuid, Uuid, Uuid, Uuid, Option<String>) =
        sqlx::query_as(
            "SELECT m.id, m.conversation_id, c.contact_id, c.number_id, m.message_type
             FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.twilio_sid = $1",
        )
        .bind(&sid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // The event names its message; it stores no copy of it.
    let stored: (Option<Uuid>, Option<Value>) =
        sqlx::query_as("SELECT message_id, data FROM events WHERE type = 'message.received'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, (Some(message_id), None));
    // The log shows an event once every transaction older than its own has finished (other tests' included).
    let read = |n: usize| {
        let (app, admin) = (&app, &admin);
        eventually(20, "the event log to show the events", move || async move {
            let (s, page) = app.api(admin, Method::GET, "/events?types=message.received", None).await;
            assert_eq!(s, 200, "{page}");
            (page["items"].as_array().map(|items| items.len()) == Some(n)).then_some(page)
        })
    };
    let page = read(1).await;
    let mut expected = json!({
        "message_id": message_id, "conversation_id": conversation_id, "contact_id": contact_id,
        "number_id": number_id, "direction": "inbound", "status": "received", "body": "where is my order?",
        "num_media": 0, "twilio_sid": sid,
    });
    if let Some(t) = message_type {
        expected["message_type"] = json!(t);
    }
    assert_eq!(page["items"][0]["data"], expected, "{page}");
    // An event written with its data (every other type, and `message.received` before it named its message) reads
    // as written.
    sqlx::query(
        "INSERT INTO events (type, conversation_id, number_id, data)
         VALUES ('message.received', $1, $2, '{\"body\": \"kept as written\"}')",
    )
    .bind(conversation_id)
    .bind(number_id)
    .execute(&app.pool)
    .await
    .unwrap();
    let page = read(2).await;
    assert_eq!(page["items"][1]["data"], json!({"body": "kept as written"}), "{page}");
    // An event with neither its data nor a message is refused.
    let refused = sqlx::query("INSERT INTO events (type, data) VALUES ('conversation.created', NULL)")
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("events_data_or_message"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_delivery_loses_none_of_its_deliveries() {
    let hook = receiver(0, Duration::from_millis(150)).await;
    let setup =
        spawn_app_with(|env| env.push(("SWITCHBOARD__WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS".into(), "true".into())))
            .await;
    let channel = setup.create_channel().await;
    let admin = setup.api_token("admin").await;
    let (_, _) = subscribe(&setup.address, &admin, &format!("{}/hook", hook.uri()), &["message.received"]).await;
    let master_key =
        std::fs::read_to_string(setup.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap().trim().to_owned();
    let database_url = secrecy::ExposeSecret::expose_secret(setup.settings.database.url.as_ref().unwrap()).to_owned();
    setup.shutdown.cancel();
    let mut env = Vec::new();
    fast(&mut env);
    env.push(("SWITCHBOARD__WEBHOOKS__CONCURRENCY".into(), "4".into()));
    let shared =
        Shared { database_url, master_key, env, log: std::env::temp_dir().join(format!("sb-hooks-{channel}.log")) };
    let mut first = Node::start(&shared, free_port(), None);
    let client = reqwest::Client::new();
    wait_ready(&client, &first.base).await;
    const EVENTS: usize = 60;
    for i in 0..EVENTS {
        let url = format!("{}/webhooks/twilio/{channel}/messages", first.public_url);
        let p = text_from(&new_sid("SM"), &format!("k{i}"), &format!("+3164{:07}", i));
        assert_eq!(post_signed_to(&client, &url, &p).await.status(), 200);
    }
    eventually(20, "deliveries under way", || async { (received(&hook).await.len() >= 8).then_some(()) }).await;
    first.kill();
    let second = Node::start(&shared, free_port(), None);
    wait_ready(&client, &second.base).await;
    let bodies = eventually(60, "every event delivered", || async {
        let got = received(&hook).await;
        let bodies: HashSet<String> =
            got.iter().map(|(_, b, _)| b["data"]["body"].as_str().unwrap().to_owned()).collect();
        (bodies.len() == EVENTS).then_some(bodies)
    })
    .await;
    assert!((0..EVENTS).all(|i| bodies.contains(&format!("k{i}"))));
    drop(second);
}
