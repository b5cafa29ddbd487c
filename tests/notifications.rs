//! Agentless notifications: consent (opt-in, STOP / START, Twilio's 21610), never cutting into an agent's
//! conversation, a notification's conversation routed only once the customer replies, batches, and the
//! messaging limit exact across two `serve` processes.

mod common;

use common::nodes::{free_port, Node, Shared};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

struct Created;

impl wiremock::Respond for Created {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({"sid": new_sid("SM"), "status": "queued"}))
    }
}

/// An app whose worker and automations run quickly, sending to `twilio`.
async fn app_with(twilio: &MockServer) -> TestApp {
    let base = twilio.uri();
    spawn_app_with(move |env| {
        for (k, v) in [
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__JOBS__RETRY_BASE_MS", "20"),
            ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "100"),
            ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
            ("SWITCHBOARD__ROUTING__POLL_MS", "200"),
            ("SWITCHBOARD__TWILIO__API_BASE_URL", base.as_str()),
        ] {
            env.push((k.to_owned(), v.to_owned()));
        }
    })
    .await
}

async fn twilio_accepting() -> MockServer {
    let twilio = MockServer::start().await;
    Mock::given(method("POST")).and(path(MESSAGES_PATH)).respond_with(Created).mount(&twilio).await;
    twilio
}

async fn approved_template(app: &TestApp, token: &str) -> String {
    let sid = format!("HX{}", Uuid::new_v4().simple());
    let body = json!({"name": "order_shipped", "language": "en", "body": "Hi {{1}}, order {{2}} shipped",
                      "content_sid": sid, "approval_status": "approved"});
    let (s, t) = app.api(token, Method::POST, "/templates", Some(body)).await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_str().unwrap().to_owned()
}

fn notification(number: Uuid, to: &str, template: &str) -> Value {
    json!({"number_id": number, "to": to, "template": {"id": template, "variables": {"1": "Ana", "2": "42"}},
           "topic": "Order 42"})
}

/// Imports an opt-in for `phone` on `number` (the contact is created if new).
async fn opt_in(app: &TestApp, token: &str, number: Uuid, phone: &str) {
    let csv = format!("phone,number_id,state,evidence\n{phone},{number},opted_in,web form 17\n");
    let (s, r) = app.import_opt_ins(token, csv).await;
    assert_eq!(s, 201, "{r}");
}

async fn customer_writes(app: &TestApp, channel: Uuid, text: &str) {
    assert_eq!(app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), text)).await.status(), 200);
}

async fn contact_id(app: &TestApp, phone: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM contacts WHERE phone_e164 = $1").bind(phone).fetch_one(&app.pool).await.unwrap()
}

async fn routing_state(app: &TestApp, conversation: &str) -> String {
    sqlx::query_scalar("SELECT routing_state FROM conversations WHERE id = $1::uuid")
        .bind(conversation)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn current_consent(app: &TestApp, token: &str, contact: Uuid) -> Option<String> {
    let (s, o) = app.api(token, Method::GET, &format!("/contacts/{contact}/opt-ins"), None).await;
    assert_eq!(s, 200, "{o}");
    o["current"][0]["state"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_notification_needs_an_opt_in_and_its_conversation_is_routed_only_when_the_customer_replies() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (channel, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    let without_plus = &CUSTOMER[1..];

    // Nobody on record: refused, nothing queued.
    let (s, e) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, without_plus, &template))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("opt_in_required")), "{e}");
    assert_eq!(e["error"]["details"]["field"], "to");
    // A number that is not one: 422 naming the field.
    let (s, e) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, "call me", &template))).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("to")), "{e}");
    let mut bad_vars = notification(number, CUSTOMER, &template);
    bad_vars["template"]["variables"] = json!({"1": "Ana"});
    opt_in(&app, &admin, number, "+52 1 55-1234-5678").await;
    let (s, e) = app.api(&admin, Method::POST, "/notifications", Some(bad_vars)).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("template.variables")), "{e}");
    assert_eq!(app.count("messages").await, 0);

    // Opted in (by an import with spaces and dashes): the number without + is accepted.
    let (s, sent) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, without_plus, &template))).await;
    assert_eq!(s, 202, "{sent}");
    let conversation = sent["conversation_id"].as_str().unwrap().to_owned();
    let (_, c) = app.api(&admin, Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!((c["started_by"].as_str(), c["routing_state"].as_str()), (Some("notification"), Some("notified")));
    assert_eq!(c["status"], "pending");
    eventually(10, "the template handed to Twilio", || async {
        let sid: Option<String> = sqlx::query_scalar("SELECT twilio_sid FROM messages WHERE id = $1::uuid")
            .bind(sent["message_id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
        sid.map(|_| ())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(routing_state(&app, &conversation).await, "notified", "not routed before the customer replies");

    // The customer replies in the same conversation: now it is routed, the notification above the reply.
    customer_writes(&app, channel, "Where is it?").await;
    eventually(10, "routed after the reply", || async {
        (routing_state(&app, &conversation).await != "notified").then_some(())
    })
    .await;
    let (_, messages) = app.api(&admin, Method::GET, &format!("/conversations/{conversation}/messages"), None).await;
    let bodies: Vec<&str> = messages["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"Hi Ana, order 42 shipped") && bodies.contains(&"Where is it?"), "{bodies:?}");

    // Resolved: the next notification opens a new conversation.
    assert_eq!(app.api(&admin, Method::POST, &format!("/conversations/{conversation}/resolve"), None).await.0, 200);
    let (s, again) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!(s, 202, "{again}");
    assert_ne!(again["conversation_id"], sent["conversation_id"]);
}

#[tokio::test]
async fn stop_refuses_notifications_and_agents_starts_and_start_allows_them_again() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (channel, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    opt_in(&app, &admin, number, CUSTOMER).await;
    let contact = contact_id(&app, CUSTOMER).await;
    assert_eq!(current_consent(&app, &admin, contact).await.as_deref(), Some("opted_in"));

    customer_writes(&app, channel, "  Stop. ").await;
    eventually(10, "the opt-out recorded and confirmed", || async {
        let confirmed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE direction = 'outbound' AND automation->>'kind' = 'opt_in'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (confirmed == 1).then_some(())
    })
    .await;
    assert_eq!(current_consent(&app, &admin, contact).await.as_deref(), Some("opted_out"));
    let (_, o) = app.api(&admin, Method::GET, &format!("/contacts/{contact}/opt-ins"), None).await;
    assert_eq!(o["current"][0]["source"], "keyword");
    let (s, e) = app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("opted_out")), "{e}");

    // An agent's template start is refused too, with the reason.
    let open: String = sqlx::query_scalar("SELECT id::text FROM conversations WHERE status <> 'resolved'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.api(&admin, Method::POST, &format!("/conversations/{open}/resolve"), None).await.0, 200);
    let start = json!({"number_id": number, "to": CUSTOMER,
                       "template": {"id": template, "variables": {"1": "Ana", "2": "42"}}});
    let (s, e) = app.api(&admin, Method::POST, "/conversations", Some(start.clone())).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("opted_out")), "{e}");

    // START in Spanish: opted in again, and both may write first.
    customer_writes(&app, channel, "ALTA").await;
    eventually(10, "the opt-in recorded", || async {
        (current_consent(&app, &admin, contact).await.as_deref() == Some("opted_in")).then_some(())
    })
    .await;
    let (s, sent) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!(s, 202, "{sent}");
}

#[tokio::test]
async fn a_conversation_an_agent_holds_is_never_notified_into() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (channel, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    opt_in(&app, &admin, number, CUSTOMER).await;
    customer_writes(&app, channel, "Hello").await;
    let conversation: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&app.pool).await.unwrap();
    sqlx::query(
        "UPDATE conversations SET routing_state = 'assigned', assigned_at = now(),
                assignee_id = (SELECT id FROM users ORDER BY created_at LIMIT 1) WHERE id = $1",
    )
    .bind(conversation)
    .execute(&app.pool)
    .await
    .unwrap();
    let before = app.count("messages").await;
    let (s, e) = app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conversation_active")), "{e}");
    assert_eq!(e["error"]["details"]["conversation_id"], conversation.to_string());
    assert_eq!(app.count("messages").await, before, "nothing queued");
}

#[tokio::test]
async fn the_limit_refuses_the_next_new_customer_with_retry_after_and_allows_a_repeat() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (_, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    // 247 customers reached in the last day: three places left of the default 250.
    fill_reach(&app.pool, number, 247).await;
    let (_, listed) =
        app.api(&admin, Method::GET, &format!("/channels/{}/numbers", channel_of(&app, number).await), None).await;
    assert_eq!(
        (listed["items"][0]["messaging_tier"].as_str(), listed["items"][0]["messaging_used"].as_i64()),
        (Some("tier_250"), Some(247))
    );
    let phones: Vec<String> = (0..4).map(|i| format!("+3162000000{i}")).collect();
    for p in &phones {
        opt_in(&app, &admin, number, p).await;
    }
    for p in &phones[..3] {
        let (s, e) = app.api(&admin, Method::POST, "/notifications", Some(notification(number, p, &template))).await;
        assert_eq!(s, 202, "{e}");
    }
    let r = app
        .client
        .post(format!("{}/api/v1/notifications", app.address))
        .bearer_auth(&admin)
        .json(&notification(number, &phones[3], &template))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 24 * 3600, "{retry}");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "messaging_limit_reached");
    // The first customer again (their conversation resolved): reached already, so it does not count twice.
    sqlx::query("UPDATE conversations SET status = 'resolved', resolved_at = now()").execute(&app.pool).await.unwrap();
    let (s, e) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, &phones[0], &template))).await;
    assert_eq!(s, 202, "{e}");
    // An agent's new conversation counts too.
    let start = json!({"number_id": number, "to": phones[3],
                       "template": {"id": template, "variables": {"1": "Ana", "2": "42"}}});
    let (s, e) = app.api(&admin, Method::POST, "/conversations", Some(start)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("messaging_limit_reached")), "{e}");
    // A higher tier makes room.
    let channel = channel_of(&app, number).await;
    let (s, _) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"messaging_tier": "tier_1k"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) =
        app.api(&admin, Method::POST, "/notifications", Some(notification(number, &phones[3], &template))).await;
    assert_eq!(s, 202, "{e}");
}

#[tokio::test]
async fn an_unlimited_number_has_no_cap() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (channel, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    fill_reach(&app.pool, number, 250).await;
    opt_in(&app, &admin, number, CUSTOMER).await;
    let (s, _) = app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!(s, 429, "tier_250 is full");
    let (s, _) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"messaging_tier": "unlimited"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!(s, 202, "{e}");
}

async fn channel_of(app: &TestApp, number: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT channel_id FROM whatsapp_numbers WHERE id = $1")
        .bind(number)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// `n` customers reached on the number within the last day.
async fn fill_reach(pool: &sqlx::PgPool, number: Uuid, n: i64) {
    sqlx::query(
        "WITH c AS (INSERT INTO contacts (id, phone_e164, wa_id)
                    SELECT gen_random_uuid(), '+3170' || lpad(i::text, 7, '0'), '3170' || lpad(i::text, 7, '0')
                    FROM generate_series(1, $2) i RETURNING id)
         INSERT INTO messaging_reach (number_id, contact_id, reached_at)
         SELECT $1, c.id, now() - interval '1 hour' FROM c",
    )
    .bind(number)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_holds_exactly_across_two_serve_processes_sending_at_once() {
    let twilio = twilio_accepting().await;
    let setup = spawn_app().await;
    let (_, number) = setup.create_channel_and_number().await;
    let admin = setup.api_token("admin").await;
    let template = approved_template(&setup, &admin).await;
    fill_reach(&setup.pool, number, 240).await;
    const CUSTOMERS: usize = 40;
    let phones: Vec<String> = (0..CUSTOMERS).map(|i| format!("+3163{:07}", i)).collect();
    let csv: String = std::iter::once("phone,number_id\n".to_owned())
        .chain(phones.iter().map(|p| format!("{p},{number}\n")))
        .collect();
    assert_eq!(setup.import_opt_ins(&admin, csv).await.0, 201);
    let master_key =
        std::fs::read_to_string(setup.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap().trim().to_owned();
    let database_url = secrecy::ExposeSecret::expose_secret(setup.settings.database.url.as_ref().unwrap()).to_owned();
    let shared = Shared {
        database_url,
        master_key,
        env: vec![("SWITCHBOARD__TWILIO__API_BASE_URL".into(), twilio.uri())],
        log: std::env::temp_dir().join(format!("sb-notify-{number}.log")),
    };
    let nodes: Vec<Node> = (0..2).map(|_| Node::start(&shared, free_port(), None)).collect();
    let client = reqwest::Client::new();
    for n in &nodes {
        wait_ready(&client, &n.base).await;
    }
    let sends = phones.iter().enumerate().map(|(i, p)| {
        let (client, base, body, admin) =
            (client.clone(), nodes[i % 2].base.clone(), notification(number, p, &template), admin.clone());
        async move {
            client
                .post(format!("{base}/api/v1/notifications"))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((accepted, limited), (10, CUSTOMERS - 10), "{statuses:?}");
    let reached: i64 = sqlx::query_scalar("SELECT count(*) FROM messaging_reach WHERE number_id = $1")
        .bind(number)
        .fetch_one(&setup.pool)
        .await
        .unwrap();
    assert_eq!(reached, 250);
}

#[tokio::test]
async fn a_batch_sends_each_recipient_under_the_same_rules_and_reports_each_result() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (_, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    for p in ["+31640000001", "+31640000002", "+31640000003"] {
        opt_in(&app, &admin, number, p).await;
    }
    let body = json!({"number_id": number, "template": {"id": template, "variables": {"2": "7"}},
    "recipients": [
        {"to": "31640000001", "variables": {"1": "Ana"}},
        {"to": "+31 6 4000 0002", "variables": {"1": "Bo"}},
        {"to": "+31640000009", "variables": {"1": "Cy"}},
        {"to": "not a number", "variables": {"1": "Di"}},
        {"to": "+31640000003"}
    ]});
    let (s, batch) = app.api(&admin, Method::POST, "/notifications/batches", Some(body)).await;
    assert_eq!(s, 202, "{batch}");
    assert_eq!(batch["total"], 5);
    let id = batch["id"].as_str().unwrap().to_owned();
    let done = eventually(20, "the batch done", || async {
        let (_, b) = app.api(&admin, Method::GET, &format!("/notifications/batches/{id}"), None).await;
        (b["state"] == "done").then_some(b)
    })
    .await;
    assert_eq!(
        (done["accepted"].as_i64(), done["refused"].as_i64(), done["pending"].as_i64()),
        (Some(2), Some(3), Some(0))
    );
    let codes: Vec<Option<&str>> =
        done["results"].as_array().unwrap().iter().map(|r| r["error"]["code"].as_str()).collect();
    assert_eq!(
        codes,
        [None, None, Some("opt_in_required"), Some("invalid_field"), Some("invalid_field")],
        "the last has no variable 1: {done}"
    );
    let bodies: Vec<String> =
        // One transaction writes them, so they share `created_at`; their ids (UUIDv7) are in the recipients' order.
        sqlx::query_scalar("SELECT body FROM messages WHERE direction = 'outbound' ORDER BY created_at, id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(bodies, ["Hi Ana, order 7 shipped", "Hi Bo, order 7 shipped"]);

    // What all share is checked at once: an unknown template refuses the batch itself.
    let bad = json!({"number_id": number, "template": {"name": "nope", "language": "en"}, "recipients": [{"to": "+31640000001"}]});
    let (s, e) = app.api(&admin, Method::POST, "/notifications/batches", Some(bad)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("template_not_found")), "{e}");
    let none = json!({"number_id": number, "template": {"id": template}, "recipients": []});
    assert_eq!(app.api(&admin, Method::POST, "/notifications/batches", Some(none)).await.0, 422);
}

#[tokio::test]
async fn twilios_unsubscribed_error_records_an_opt_out() {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400,
            "more_info": "https://www.twilio.com/docs/errors/21610"})))
        .mount(&twilio)
        .await;
    let app = app_with(&twilio).await;
    let (_, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    opt_in(&app, &admin, number, CUSTOMER).await;
    let (s, _) = app.api(&admin, Method::POST, "/notifications", Some(notification(number, CUSTOMER, &template))).await;
    assert_eq!(s, 202);
    let contact = contact_id(&app, CUSTOMER).await;
    eventually(10, "the opt-out from 21610", || async {
        (current_consent(&app, &admin, contact).await.as_deref() == Some("opted_out")).then_some(())
    })
    .await;
    let (_, o) = app.api(&admin, Method::GET, &format!("/contacts/{contact}/opt-ins"), None).await;
    assert_eq!(o["current"][0]["source"], "twilio");
}

#[tokio::test]
async fn opt_ins_are_recorded_with_their_source_and_a_bad_import_records_nothing() {
    let app = spawn_app().await;
    let (channel, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    customer_writes(&app, channel, "Hi").await;
    let contact = contact_id(&app, CUSTOMER).await;
    let (s, r) = app
        .api(
            &admin,
            Method::POST,
            &format!("/contacts/{contact}/opt-ins"),
            Some(json!({"number_id": number, "state": "opted_in", "source": "inbound", "evidence": "asked in chat"})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["source"].as_str(), r["recorded_by"].as_str().is_some()), (Some("inbound"), true));
    for (body, field) in [
        (json!({"number_id": number, "state": "maybe"}), None),
        (json!({"number_id": number, "state": "opted_in", "source": "keyword"}), Some("source")),
        (json!({"number_id": Uuid::new_v4(), "state": "opted_in"}), Some("number_id")),
        (json!({"number_id": number, "state": "opted_in", "evidence": "x".repeat(2001)}), Some("evidence")),
    ] {
        let (s, e) = app.api(&admin, Method::POST, &format!("/contacts/{contact}/opt-ins"), Some(body.clone())).await;
        assert_eq!(s, 422, "{body}: {e}");
        if let Some(f) = field {
            assert_eq!(e["error"]["details"]["field"], f, "{e}");
        }
    }
    let before = app.count("opt_ins").await;
    let csv = format!("phone,number_id,state\n+31650000001,{number},opted_in\nnope,{number},opted_in\n+31650000002,{number},sometimes\n");
    let (s, e) = app.import_opt_ins(&admin, csv).await;
    assert_eq!(s, 422);
    assert_eq!(e["error"]["code"], "invalid_csv");
    let lines: Vec<(i64, &str)> = e["error"]["details"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_i64().unwrap(), l["column"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "phone"), (4, "state")]);
    assert_eq!(app.count("opt_ins").await, before, "nothing recorded");
    // An agent reads consent but does not record it.
    let agent = app.api_token("agent").await;
    let (s, e) = app
        .api(
            &agent,
            Method::POST,
            &format!("/contacts/{contact}/opt-ins"),
            Some(json!({"number_id": number, "state": "opted_in"})),
        )
        .await;
    assert_eq!((s, e["error"]["details"]["permission"].as_str()), (403, Some("contact:optin:write")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_sent_at_once_share_transactions_and_each_is_answered_as_if_alone() {
    let twilio = twilio_accepting().await;
    let base = twilio.uri();
    // One writer taking up to 100 waiting requests: those that arrive together are sent together.
    let app = spawn_app_with(move |env| {
        for (k, v) in [
            ("SWITCHBOARD__TWILIO__API_BASE_URL", base.as_str()),
            ("SWITCHBOARD__NOTIFICATIONS__WRITERS", "1"),
            ("SWITCHBOARD__NOTIFICATIONS__MAX_BATCH", "100"),
        ] {
            env.push((k.to_owned(), v.to_owned()));
        }
    })
    .await;
    let (_, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = approved_template(&app, &admin).await;
    let mut csv = String::from("phone,number_id\n");
    for i in 0..21 {
        csv.push_str(&format!("+316300000{i:02},{number}\n"));
    }
    assert_eq!(app.import_opt_ins(&admin, csv).await.0, 201);
    // 20 opted-in customers with their own order numbers, one of them twice; three without an opt-in; two with
    // an unknown template; one number that is no number.
    let mut requests: Vec<(Value, u16, Option<&str>)> = Vec::new();
    for i in 0..20 {
        let body = json!({"number_id": number, "to": format!("316300000{i:02}"),
                          "template": {"id": template, "variables": {"1": "Ana", "2": format!("order-{i}")}}});
        requests.push((body, 202, None));
    }
    requests.push((notification(number, "+31630000020", &template), 202, None));
    requests.push((notification(number, "+31630000020", &template), 202, None));
    for i in 0..3 {
        requests.push((notification(number, &format!("+3164000000{i}"), &template), 422, Some("opt_in_required")));
    }
    for _ in 0..2 {
        let unknown = Uuid::new_v4().to_string();
        requests.push((notification(number, "+31630000001", &unknown), 422, Some("template_not_found")));
    }
    requests.push((notification(number, "call me", &template), 422, Some("invalid_field")));
    let answers = futures_util::future::join_all(
        requests.iter().map(|(body, _, _)| app.api(&admin, Method::POST, "/notifications", Some(body.clone()))),
    )
    .await;
    for ((body, status, code), (s, v)) in requests.iter().zip(&answers) {
        assert_eq!((*s, v["error"]["code"].as_str()), (*status, *code), "{body} → {v}");
    }
    assert_eq!(answers.last().unwrap().1["error"]["details"]["field"], "to");
    // Each accepted request has its own message with its own variables; the customer notified twice has one
    // conversation with both.
    for (i, (_, v)) in answers.iter().enumerate().take(20) {
        let variables: Value = sqlx::query_scalar("SELECT content_variables FROM messages WHERE id = $1::uuid")
            .bind(v["message_id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(variables["2"], format!("order-{i}"));
    }
    assert_eq!(answers[20].1["conversation_id"], answers[21].1["conversation_id"]);
    assert_ne!(answers[20].1["message_id"], answers[21].1["message_id"]);
    let (messages, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM messages WHERE direction = 'outbound'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(messages, 22, "nothing queued for a refused request");
    assert!(transactions < messages, "{messages} messages in {transactions} transactions: no two were sent together");
}

/// The per-minute counts (kept by triggers) against counting every customer reached, in one statement so that
/// both read the same `now()`.
async fn used_both_ways(pool: &sqlx::PgPool, number: Uuid) -> (i64, i64) {
    sqlx::query_as(
        "SELECT messaging_used($1), (SELECT count(*) FROM messaging_reach
                                     WHERE number_id = $1 AND reached_at > now() - interval '24 hours')",
    )
    .bind(number)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_limits_per_minute_counts_agree_with_counting_every_customer_reached() {
    let twilio = twilio_accepting().await;
    let app = app_with(&twilio).await;
    let (_, number) = app.create_channel_and_number().await;
    // Customers reached just now, in the minute the window's start cuts, just outside it, and long ago.
    let ages = [0, 5, 59, 61, 3600, 86_330, 86_370, 86_390, 86_399, 86_401, 86_410, 86_460, 100_000, 172_000];
    for age in ages {
        sqlx::query(
            "INSERT INTO messaging_reach (number_id, contact_id, reached_at)
             VALUES ($1, gen_random_uuid(), now() - make_interval(secs => $2))",
        )
        .bind(number)
        .bind(age as f64)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let (used, counted) = used_both_ways(&app.pool, number).await;
    assert_eq!(used, counted);
    assert!((8..=10).contains(&used), "{used}");
    // Reached again (moved to now), put back by a release (moved to an earlier time), forgotten (deleted).
    sqlx::query(
        "UPDATE messaging_reach SET reached_at = now() WHERE reached_at < now() - interval '23 hours 59 minutes'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(used_both_ways(&app.pool, number).await, (14, 14));
    sqlx::query(
        "UPDATE messaging_reach SET reached_at = reached_at - interval '24 hours 30 seconds'
         WHERE contact_id IN (SELECT contact_id FROM messaging_reach ORDER BY contact_id LIMIT 5)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (used, counted) = used_both_ways(&app.pool, number).await;
    assert_eq!(used, counted);
    sqlx::query("DELETE FROM messaging_reach WHERE contact_id IN (SELECT contact_id FROM messaging_reach ORDER BY contact_id DESC LIMIT 4)")
        .execute(&app.pool)
        .await
        .unwrap();
    let (used, counted) = used_both_ways(&app.pool, number).await;
    assert_eq!(used, counted);
    // Another number's customers are its own.
    let other: i64 = sqlx::query_scalar("SELECT messaging_used(gen_random_uuid())").fetch_one(&app.pool).await.unwrap();
    assert_eq!(other, 0);
}
