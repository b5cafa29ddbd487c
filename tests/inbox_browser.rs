//! The agent inbox in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright
//! (`playwright-core` from npm), running `tests/browser/inbox.cjs` against a server with the built-in sandbox.
//! This file prepares what each scenario starts from (agents, a queue, a routing rule, templates synced from
//! the sandbox, conversations), runs the scenario and checks that it passed. Screenshots of every screen a
//! scenario visits are kept in `target/browser-artifacts/<scenario>/` (not committed). Figures the scenarios
//! measure are printed as `METRIC` lines (see BENCHMARKS.md), never asserted as timings.
//!
//! Needs `node`, Chromium (`SWITCHBOARD_TEST_CHROMIUM`, default `/usr/bin/chromium`) and playwright-core
//! (`SWITCHBOARD_TEST_BROWSER_MODULES`, default `target/test-browser/node_modules`): `tests/run.sh` installs
//! them when they are missing.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const SANDBOX_NUMBER: &str = "+14155238886";

struct Floor {
    app: TestApp,
    token: String,
    /// `{email, password}` of each person: an agent, a supervisor, and the admin.
    agents: Value,
}

/// A server with the sandbox, two agents who serve the sandbox number and are members of the queue
/// "Support", a rule that sends every conversation there, the sandbox's templates, and a saved reply.
async fn floor() -> Floor {
    let app = spawn_app_with(|env| {
        for (k, v) in [
            ("SWITCHBOARD__SANDBOX__ENABLED", "true"),
            ("SWITCHBOARD__SANDBOX__STATUS_DELAY_MS", "50"),
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", "12"),
        ] {
            env.push((k.into(), v.into()));
        }
    })
    .await;
    let token = app.api_token("admin").await;
    let (_, channels) = app.api(&token, Method::GET, "/channels", None).await;
    let number_id = channels["items"][0]["numbers"][0]["id"].as_str().expect("the sandbox number").to_owned();
    let (s, queue) = app.api(&token, Method::POST, "/queues", Some(json!({"name": "Support"}))).await;
    assert_eq!(s, 201, "{queue}");
    let queue_id = queue["id"].as_str().unwrap().to_owned();
    let mut agents = Vec::new();
    for (i, role) in ["agent", "supervisor"].iter().enumerate() {
        let email = format!("agent{i}@example.com");
        let password = format!("one-time password {i}");
        let (s, a) = app
            .api(
                &token,
                Method::POST,
                "/agents",
                Some(json!({"email": email, "name": format!("Agent {i}"), "role": role, "password": password,
                    "queue_ids": [queue_id], "number_ids": [number_id]})),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        agents.push(json!({"email": email, "password": password}));
    }
    let (s, rule) = app
        .api(
            &token,
            Method::POST,
            "/routing/rules",
            Some(json!({"name": "Everything to Support", "conditions": [], "target": {"type": "queue", "queue_id": queue_id}})),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    let (s, sync) = app.api(&token, Method::POST, "/templates/sync", Some(json!({}))).await;
    assert_eq!(s, 200, "{sync}");
    let (s, canned) = app
        .api(
            &token,
            Method::POST,
            "/canned-responses",
            Some(
                json!({"short_code": "thanks", "title": "Thank the customer", "text": "Thank you for your patience!"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{canned}");
    let admin = app.bootstrap_admin.as_ref().expect("the bootstrap admin").email.clone();
    agents.push(json!({"email": admin, "password": ADMIN_OWN_PASSWORD}));
    Floor { app, token, agents: Value::Array(agents) }
}

impl Floor {
    async fn customer_says(&self, customer: &str, body: &str) {
        let r = self
            .app
            .client
            .post(format!("{}/sandbox/api/messages", self.app.address))
            .json(&json!({"customer": customer, "business": SANDBOX_NUMBER, "body": body, "profile_name": "Ana Customer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    async fn conversation_of(&self, customer: &str) -> String {
        eventually(10, "the conversation is stored", || async {
            sqlx::query_scalar::<_, uuid::Uuid>(
                "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone_e164 = $1",
            )
            .bind(customer)
            .fetch_optional(&self.app.pool)
            .await
            .unwrap()
        })
        .await
        .to_string()
    }

    /// The sandbox number takes WhatsApp calls.
    async fn number_takes_calls(&self) {
        let (_, channels) = self.app.api(&self.token, Method::GET, "/channels", None).await;
        let (channel, number) = (&channels["items"][0]["id"], &channels["items"][0]["numbers"][0]["id"]);
        let path = format!("/channels/{}/numbers/{}", channel.as_str().unwrap(), number.as_str().unwrap());
        let (s, v) = self.app.api(&self.token, Method::PATCH, &path, Some(json!({"supports_calling": true}))).await;
        assert_eq!(s, 200, "{v}");
    }

    /// Runs one scenario of `tests/browser/inbox.cjs`; returns its `METRIC` lines.
    async fn run(&self, scenario: &str, customer: &str, extra: &[(&str, String)]) -> Vec<(String, f64)> {
        let root = manifest_dir();
        let modules = std::env::var("SWITCHBOARD_TEST_BROWSER_MODULES")
            .unwrap_or_else(|_| root.join("target/test-browser/node_modules").display().to_string());
        let chromium = std::env::var("SWITCHBOARD_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&modules).join("playwright-core").exists() && std::path::Path::new(&chromium).exists(),
            "playwright-core ({modules}) and Chromium ({chromium}) are needed: run tests/run.sh, which installs them"
        );
        let artifacts = root.join("target/browser-artifacts").join(scenario);
        let _ = std::fs::remove_dir_all(&artifacts);
        let mut command = tokio::process::Command::new("node");
        command
            .arg(root.join("tests/browser/inbox.cjs"))
            .env("NODE_PATH", &modules)
            .env("BASE_URL", &self.app.address)
            .env("SCENARIO", scenario)
            .env("AGENTS", self.agents.to_string())
            .env("BUSINESS", SANDBOX_NUMBER)
            .env("CUSTOMER", customer)
            .env("CHROMIUM", &chromium)
            .env("ARTIFACTS", &artifacts)
            .kill_on_drop(true);
        for (k, v) in extra {
            command.env(k, v);
        }
        let output = tokio::time::timeout(Duration::from_secs(240), command.output())
            .await
            .expect("the browser scenario finishes within 4 minutes")
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{stdout}");
        eprintln!("{stderr}");
        assert!(
            output.status.success() && stdout.contains("SCENARIO PASSED"),
            "the browser scenario {scenario} failed (screenshots in {}):\n{stderr}",
            artifacts.display()
        );
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("METRIC "))
            .filter_map(|l| l.split_once(' ').and_then(|(k, v)| Some((k.to_owned(), v.parse().ok()?))))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_appears_live_the_reply_reaches_read_and_the_first_load_is_small() {
    let floor = floor().await;
    let metrics = floor.run("reply_and_read", "+15550100001", &[]).await;
    for (name, value) in &metrics {
        println!("inbox {name}: {value}");
    }
    let get = |n: &str| metrics.iter().find(|(k, _)| k == n).map(|(_, v)| *v).expect(n);
    assert_eq!(get("live_message_samples"), 40.0, "every probe message was seen in the browser");
    assert!(get("first_load_bytes") > 0.0);
    // The note and the reply are stored where the API shows them.
    let (_, notes) = floor
        .app
        .api(
            &floor.token,
            Method::GET,
            &format!("/conversations/{}/notes", floor.conversation_of("+15550100001").await),
            None,
        )
        .await;
    assert_eq!(notes[0]["body"], "Customer is a VIP: escalate if it slips again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_window_closes_the_composer_offers_templates_and_one_is_sent() {
    let floor = floor().await;
    let customer = "+15550100002";
    floor.customer_says(customer, "Where is my parcel?").await;
    let id = floor.conversation_of(customer).await;
    // 25 hours pass: for Switchboard and for the sandbox (which refuses free text outside the window, as
    // Twilio does).
    sqlx::query("UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&floor.app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE sandbox_messages SET created_at = now() - interval '25 hours'")
        .execute(&floor.app.pool)
        .await
        .unwrap();
    floor.run("window_closed", customer, &[("CONVERSATION_ID", id.clone())]).await;
    let template: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT template_id FROM messages WHERE conversation_id = $1::uuid AND direction = 'outbound'",
    )
    .bind(&id)
    .fetch_one(&floor.app.pool)
    .await
    .unwrap();
    assert!(template.is_some(), "what went out is the template");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_starts_a_conversation_and_a_second_one_points_to_the_open_one() {
    let floor = floor().await;
    let customer = "+15550100003";
    floor.run("new_conversation", customer, &[]).await;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversations c JOIN contacts k ON k.id = c.contact_id
         WHERE k.phone_e164 = $1 AND c.status <> 'resolved'",
    )
    .bind(customer)
    .fetch_one(&floor.app.pool)
    .await
    .unwrap();
    assert_eq!(open, 1, "no duplicate was started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_by_one_agent_leaves_the_other_agents_queue_view_live() {
    let floor = floor().await;
    floor.run("two_agents", "+15550100004", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_dropped_connection_the_inbox_reconnects_and_shows_what_it_missed() {
    let floor = floor().await;
    let customer = "+15550100005";
    floor.customer_says(customer, "first words").await;
    let id = floor.conversation_of(customer).await;
    floor.run("reconnect", customer, &[("CONVERSATION_ID", id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_numbers_agents_and_rules_on_the_admin_screens() {
    let floor = floor().await;
    floor.run("admin_screens", "+15550100006", &[]).await;
    let default_queue: Option<String> = sqlx::query_scalar(
        "SELECT q.name FROM whatsapp_numbers n JOIN queues q ON q.id = n.default_queue_id WHERE n.e164 = $1",
    )
    .bind(SANDBOX_NUMBER)
    .fetch_optional(&floor.app.pool)
    .await
    .unwrap();
    assert_eq!(default_queue.as_deref(), Some("Support"));
    let capacity: i32 = sqlx::query_scalar("SELECT capacity FROM users WHERE email = 'bea@example.com'")
        .fetch_one(&floor.app.pool)
        .await
        .unwrap();
    assert_eq!(capacity, 7);
    let (_, rules) = floor.app.api(&floor.token, Method::GET, "/routing/rules", None).await;
    let rule = rules.as_array().unwrap().iter().find(|r| r["name"] == "Refunds to Support").cloned().expect("the rule");
    assert_eq!(rule["conditions"], json!([{"type": "text_contains", "value": "refund"}]));
    assert_eq!(rule["target"]["type"], "queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_show_inline_and_other_files_download() {
    let floor = floor().await;
    let customer = "+15550100007";
    floor.customer_says(customer, "Here are the photo and the invoice").await;
    let id: uuid::Uuid = floor.conversation_of(customer).await.parse().unwrap();
    // The customer's files, as the media job leaves them once downloaded from Twilio.
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==",
    )
    .unwrap();
    let pdf = b"%PDF-1.4\n% an invoice\n".to_vec();
    std::fs::create_dir_all(floor.app.data_dir.path().join("media")).unwrap();
    std::fs::write(floor.app.data_dir.path().join("media/photo.png"), &png).unwrap();
    std::fs::write(floor.app.data_dir.path().join("media/invoice.pdf"), &pdf).unwrap();
    let message = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, account_id, direction, body, status, num_media)
         SELECT $1, c.id, ch.account_id, 'inbound', '', 'received', 2
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id WHERE c.id = $2",
    )
    .bind(message)
    .bind(id)
    .execute(&floor.app.pool)
    .await
    .unwrap();
    for (position, (path, content_type, name, size)) in [
        ("media/photo.png", "image/png", "photo.png", png.len()),
        ("media/invoice.pdf", "application/pdf", "invoice.pdf", pdf.len()),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO attachments (id, message_id, position, content_type, size_bytes, storage_path, filename,
                                      download_state)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, 'downloaded')",
        )
        .bind(message)
        .bind(position as i16)
        .bind(content_type)
        .bind(size as i64)
        .bind(path)
        .bind(name)
        .execute(&floor.app.pool)
        .await
        .unwrap();
    }
    // A voice note (half a second of a tone as WAV), and a message that quotes the first one with a location, an
    // ad referral and a forward mark, as ingest stores them from Twilio's parameters.
    let wav = switchboard::sandbox::media::tone(8000, 4000);
    std::fs::write(floor.app.data_dir.path().join("media/voice.wav"), &wav).unwrap();
    let voice = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, account_id, direction, body, status, num_media)
         SELECT $1, c.id, ch.account_id, 'inbound', '', 'received', 1
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id WHERE c.id = $2",
    )
    .bind(voice)
    .bind(id)
    .execute(&floor.app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO attachments (id, message_id, position, content_type, size_bytes, storage_path, filename,
                                  download_state)
         VALUES (gen_random_uuid(), $1, 0, 'audio/wav', $2, 'media/voice.wav', 'voice.wav', 'downloaded')",
    )
    .bind(voice)
    .bind(wav.len() as i64)
    .execute(&floor.app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, account_id, direction, body, status, latitude, longitude,
                               location_address, location_label, replied_to_sid, referral, forwarded)
         SELECT $1, c.id, ch.account_id, 'inbound', 'We are here', 'received', 52.3731, 4.8922, 'Dam 1, Amsterdam',
                'Office', (SELECT twilio_sid FROM messages WHERE conversation_id = c.id ORDER BY created_at LIMIT 1),
                '{\"Headline\": \"Winter sale\", \"SourceUrl\": \"https://fb.me/ad/1\"}', true
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id WHERE c.id = $2",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(id)
    .execute(&floor.app.pool)
    .await
    .unwrap();
    floor.run("attachments", customer, &[("CONVERSATION_ID", id.to_string())]).await;
}

/// A mono 16-bit PCM WAV file of `samples` samples of a 440 Hz tone at `rate` samples per second.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_is_retried_once_and_a_snoozed_conversation_wakes_when_the_customer_writes() {
    let floor = floor().await;
    let customer = "+15550100009";
    floor.customer_says(customer, "Did my refund go through?").await;
    let id = floor.conversation_of(customer).await;
    let (s, m) = floor
        .app
        .api(
            &floor.token,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({"body": "Checking your refund now"})),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let message = m["id"].as_str().unwrap().to_owned();
    // Twilio reports it failed (statuses never move back from a failure).
    eventually(15, "the message handed to the sandbox", || async {
        let sid: Option<String> = sqlx::query_scalar("SELECT twilio_sid FROM messages WHERE id = $1::uuid")
            .bind(&message)
            .fetch_one(&floor.app.pool)
            .await
            .unwrap();
        sid.map(|_| ())
    })
    .await;
    sqlx::query(
        "UPDATE messages SET status = 'failed', error_code = 63024, error_message = 'Invalid message recipient'
         WHERE id = $1::uuid",
    )
    .bind(&message)
    .execute(&floor.app.pool)
    .await
    .unwrap();
    floor.run("lifecycle", customer, &[("CONVERSATION_ID", id.clone())]).await;
    let retries: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE retry_of = $1::uuid")
        .bind(&message)
        .fetch_one(&floor.app.pool)
        .await
        .unwrap();
    assert_eq!(retries, 1);
    let (_, c) = floor.app.api(&floor.token, Method::GET, &format!("/conversations/{id}"), None).await;
    assert_eq!(c["status"], "open", "woken by the customer's message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_panel_edits_and_blocks_and_the_contacts_screen_searches_and_imports() {
    let floor = floor().await;
    let customer = "+15550100010";
    floor.customer_says(customer, "Hello, I order a lot").await;
    let id = floor.conversation_of(customer).await;
    floor.run("contacts", customer, &[("CONVERSATION_ID", id)]).await;
    let (tags, attributes, blocked): (Vec<String>, serde_json::Value, bool) =
        sqlx::query_as("SELECT tags, attributes, blocked_at IS NOT NULL FROM contacts WHERE phone_e164 = $1")
            .bind(customer)
            .fetch_one(&floor.app.pool)
            .await
            .unwrap();
    assert_eq!(tags, ["vip", "wholesale"]);
    assert_eq!(attributes, json!({"tier": "gold", "orders": 12}));
    assert!(!blocked, "unblocked again");
    let imported: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE profile_name = 'Dee Importer'")
        .fetch_one(&floor.app.pool)
        .await
        .unwrap();
    assert_eq!(imported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_passes_axe_at_desktop_and_phone_width_with_screenshots_of_each() {
    let floor = floor().await;
    let customer = "+15550100012";
    floor.customer_says(customer, "Hello, can you help me with an order?").await;
    let id = floor.conversation_of(customer).await;
    let metrics = floor.run("accessibility", customer, &[("CONVERSATION_ID", id)]).await;
    for (name, value) in &metrics {
        println!("inbox {name}: {value} rules passed");
    }
    assert!(metrics.len() >= 16, "every screen checked at both widths: {metrics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_of_a_thousand_messages_opens_with_its_latest_and_shows_the_rest_on_request() {
    let floor = floor().await;
    let customer = "+15550100013";
    floor.customer_says(customer, "message number 1").await;
    let id = floor.conversation_of(customer).await;
    // 999 more, alternating customer and agent, a second apart (written in the database rather than sent).
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status, created_at)
         SELECT gen_random_uuid(), c.id, m.account_id, CASE WHEN i % 2 = 0 THEN 'outbound' ELSE 'inbound' END,
                'SM' || md5(random()::text), 'message number ' || i,
                CASE WHEN i % 2 = 0 THEN 'read' ELSE 'received' END, now() + make_interval(secs => i)
         FROM conversations c JOIN messages m ON m.conversation_id = c.id, generate_series(2, 1000) i
         WHERE c.id = $1::uuid",
    )
    .bind(&id)
    .execute(&floor.app.pool)
    .await
    .unwrap();
    let metrics = floor.run("long_conversation", customer, &[("CONVERSATION_ID", id)]).await;
    for (name, value) in &metrics {
        println!("inbox {name}: {value}");
    }
    let get = |n: &str| metrics.iter().find(|(k, _)| k == n).map(|(_, v)| *v).expect(n);
    assert_eq!(get("all_1000_messages"), 1000.0, "every message is shown once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_chooses_the_inbox_language_and_it_stays_with_their_account() {
    let floor = floor().await;
    let customer = "+15550100014";
    floor.customer_says(customer, "Hola").await;
    let id = floor.conversation_of(customer).await;
    floor.run("languages", customer, &[("CONVERSATION_ID", id)]).await;
    let language: Option<String> =
        sqlx::query_scalar("SELECT ui_language FROM users WHERE email = 'agent0@example.com'")
            .fetch_one(&floor.app.pool)
            .await
            .unwrap();
    assert_eq!(language.as_deref(), Some("ja"));
    // Refused: a language the inbox does not speak, a time zone that does not exist.
    let (status, e) =
        floor.app.api(&floor.token, Method::PUT, "/agents/me/preferences", Some(json!({"ui_language": "fr"}))).await;
    assert_eq!(status, 422, "an API token has no inbox: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_screen_shows_the_weeks_figures_with_a_point_per_day() {
    let floor = floor().await;
    // Three conversations in Support on Monday, Tuesday and Thursday of a fixed week, each resolved after half an
    // hour, written into the database as they would have happened.
    let pool = &floor.app.pool;
    for (i, day) in ["2027-03-22", "2027-03-23", "2027-03-25"].iter().enumerate() {
        let (contact, conversation) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        sqlx::query("INSERT INTO contacts (id, phone_e164, profile_name) VALUES ($1, $2, 'Report customer')")
            .bind(contact)
            .bind(format!("+1555019{i:04}"))
            .execute(pool)
            .await
            .unwrap();
        let at = format!("{day}T09:00:00Z");
        sqlx::query(
            "INSERT INTO conversations (id, channel_id, number_id, contact_id, status, created_at, resolved_at, queue_id)
             SELECT $1, n.channel_id, n.id, $2, 'resolved', $3::timestamptz, $3::timestamptz + interval '30 minutes',
                    (SELECT id FROM queues WHERE name = 'Support')
             FROM whatsapp_numbers n LIMIT 1",
        )
        .bind(conversation)
        .bind(contact)
        .bind(&at)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO conversation_events (conversation_id, kind, actor_type, data, created_at)
             SELECT $1, 'queued', 'system', jsonb_build_object('queue_id', c.queue_id), $2::timestamptz
             FROM conversations c WHERE c.id = $1
             UNION ALL SELECT $1, 'resolved', 'system', '{}', $2::timestamptz + interval '30 minutes'",
        )
        .bind(conversation)
        .bind(&at)
        .execute(pool)
        .await
        .unwrap();
    }
    switchboard::reports::job::Reporter { pool: pool.clone(), refresh: std::time::Duration::from_secs(1) }
        .catch_up()
        .await
        .unwrap();
    floor.run("reports", "+15550100015", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rings_the_pop_up_is_declined_then_accepted_and_the_thread_shows_it() {
    let floor = floor().await;
    floor.number_takes_calls().await;
    // The Support queue takes calls as well as chats.
    let (_, queues) = floor.app.api(&floor.token, Method::GET, "/queues", None).await;
    let support = queues["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, v) = floor
        .app
        .api(&floor.token, Method::PATCH, &format!("/queues/{support}"), Some(json!({"communication_type": "both"})))
        .await;
    assert_eq!(s, 200, "{v}");
    let customer = "+15550100016";
    floor.run("calls", customer, &[]).await;
    let id = floor.conversation_of(customer).await;
    let (state, outcome): (String, Option<String>) =
        sqlx::query_as("SELECT state, outcome FROM calls WHERE conversation_id = $1::uuid")
            .bind(&id)
            .fetch_one(&floor.app.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), outcome.as_deref()), ("ended", Some("answered")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_conversation_asks_permission_and_after_a_yes_the_agent_calls_the_customer() {
    let floor = floor().await;
    floor.number_takes_calls().await;
    let customer = "+15550100017";
    floor.run("call_out", customer, &[]).await;
    let id = floor.conversation_of(customer).await;
    let (direction, outcome): (String, Option<String>) =
        sqlx::query_as("SELECT direction, outcome FROM calls WHERE conversation_id = $1::uuid")
            .bind(&id)
            .fetch_one(&floor.app.pool)
            .await
            .unwrap();
    assert_eq!((direction.as_str(), outcome.as_deref()), ("outbound", Some("answered")));
    let granted: bool =
        sqlx::query_scalar("SELECT granted FROM call_permission_answers").fetch_one(&floor.app.pool).await.unwrap();
    assert!(granted, "the customer's tap is recorded as a yes");
}
