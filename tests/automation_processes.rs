//! Three `switchboard serve` processes on one database, Twilio a stub that counts what it is sent: 300 new
//! customers write twice each, spread across the processes; one process is killed (SIGKILL) while webhooks
//! still arrive, with messages it committed but had not yet acted on, and its webhooks go to the others (as
//! Twilio retries them); then 100 conversations are resolved. Every greeting,
//! out-of-hours message and CSAT survey reaches Twilio exactly once. And: 60 conversations fall silent past
//! their number's auto-resolve time while three processes scan for them every second; each is resolved once and
//! its closing message reaches Twilio once.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use uuid::Uuid;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CUSTOMERS: usize = 300;
const RESOLVES: usize = 100;
const GREETING: &str = "Welcome! An agent will be with you soon.";
const CLOSED: &str = "We are closed right now; we answer as soon as we open.";

struct Twilio;

impl wiremock::Respond for Twilio {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        if r.url.path().ends_with("/Messages.json") {
            ResponseTemplate::new(201).set_body_json(json!({"sid": new_sid("SM"), "status": "queued"}))
        } else {
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": new_sid("HX"), "friendly_name": "csat", "language": "en", "types": {}}))
        }
    }
}

/// `sends`: whether the process runs the job worker (which hands messages to Twilio).
fn serve(
    database_url: &str,
    data_dir: &std::path::Path,
    port: u16,
    twilio: &str,
    log: &std::path::Path,
    sends: bool,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SWITCHBOARD__DATABASE__URL", database_url)
        .env("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", "20")
        .env("SWITCHBOARD__DATA_DIR", data_dir)
        .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__TWILIO__API_BASE_URL", twilio)
        .env("SWITCHBOARD__TWILIO__CONTENT_BASE_URL", twilio)
        .env("SWITCHBOARD__SANDBOX__ENABLED", "false")
        .env("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0")
        .env("SWITCHBOARD__JOBS__ENABLED", sends.to_string())
        .env("SWITCHBOARD__ROUTING__POLL_MS", "200")
        .env("SWITCHBOARD__ROUTING__IDLE_SCAN_SECS", "1")
        .env("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100")
        .env("SWITCHBOARD__JOBS__HEARTBEAT_MS", "300")
        .env("SWITCHBOARD__JOBS__WORKER_TIMEOUT_MS", "1500")
        .env("SWITCHBOARD__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .unwrap()
}

/// Three `serve` processes on the database the in-process app set up (which is stopped first); `sends(i)`: whether
/// process `i` runs the job worker.
struct Fleet {
    pool: sqlx::PgPool,
    servers: Servers,
    bases: Vec<String>,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

async fn three_processes(app: TestApp, twilio: &MockServer, sends: impl Fn(usize) -> bool) -> Fleet {
    let database_url =
        app.settings.database.url.as_ref().map(|u| secrecy::ExposeSecret::expose_secret(u).to_owned()).unwrap();
    let TestApp { data_dir, shutdown, server, .. } = app;
    shutdown.cancel();
    server.await.unwrap().unwrap();
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let log = data_dir.path().join("serve.log");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let servers = Servers(
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| serve(&database_url, data_dir.path(), *p, &twilio.uri(), &log, sends(i)))
            .collect(),
    );
    let bases: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let client = reqwest::Client::new();
    for base in &bases {
        wait_ready(&client, base).await;
    }
    Fleet { pool, servers, bases, client, _data_dir: data_dir }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn phone(i: usize) -> String {
    format!("+3161{:07}", i)
}

/// Customer `i` writes through `bases[first]`, or the next live process when that one is gone (as Twilio retries
/// an unanswered webhook), with the same MessageSid each time.
async fn write(
    client: &reqwest::Client,
    bases: &[String],
    first: usize,
    channel: Uuid,
    i: usize,
    sid: &str,
    text: &str,
) {
    let from = phone(i);
    let mut p = inbound_text(sid, text);
    set(&mut p, "From", &format!("whatsapp:{from}"));
    set(&mut p, "WaId", &from[1..]);
    for attempt in 0..bases.len() * 3 {
        let url = format!("{}/webhooks/twilio/{channel}/messages", bases[(first + attempt) % bases.len()]);
        let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &url, &p);
        let sent = client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig)
            .body(encode_form(&p))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status() == 200) {
            return;
        }
    }
    panic!("no process took customer {i}'s message");
}

#[tokio::test]
async fn three_processes_and_a_sigkill_send_every_automated_message_exactly_once() {
    let twilio = MockServer::start().await;
    Mock::given(method("POST")).and(path_regex("^/(2010-04-01|v1)/")).respond_with(Twilio).mount(&twilio).await;

    // Set up with the library: a greeting, closed business hours with an out-of-hours text, CSAT on. Then stop.
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let number: Uuid = sqlx::query_scalar("SELECT id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let (_, hours) = app
        .api(&admin, Method::POST, "/business-hours", Some(json!({"name": "Closed", "time_zone": "UTC", "weekly": {}})))
        .await;
    let (s, v) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"greeting_text": GREETING, "csat_enabled": true, "business_hours_id": hours["id"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .api(&admin, Method::PUT, &format!("/automation/numbers/{number}"), Some(json!({"out_of_hours_text": CLOSED})))
        .await;
    assert_eq!(s, 200, "{v}");
    // The process that is killed stores messages and runs the automation engine, but sends nothing: a process
    // killed between Twilio's answer and the commit of its SID sends that message a second time, the one gap of
    // the sender (README, "Crash safety"; tests/crash_safety.rs), which is not what this test is about.
    let Fleet { pool, mut servers, bases, client, _data_dir } = three_processes(app, &twilio, |i| i > 0).await;

    // Each customer writes twice (the second message in the same closed period); process 0 is killed meanwhile.
    let write_all = |range: std::ops::Range<usize>, live: Vec<String>| {
        let client = client.clone();
        async move {
            futures_util::stream::iter(range)
                .map(|i| {
                    let (client, live) = (client.clone(), live.clone());
                    async move {
                        write(&client, &live, i, channel, i, &new_sid("SM"), "Hello?").await;
                        write(&client, &live, i + 1, channel, i, &new_sid("SM"), "Anyone there?").await;
                    }
                })
                .buffer_unordered(24)
                .collect::<Vec<()>>()
                .await;
        }
    };
    let mut first = servers.0.remove(0);
    let kill = async {
        // Once a third of the messages are stored, while webhooks are still arriving.
        eventually(60, "a third of the messages", || async {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'")
                .fetch_one(&pool)
                .await
                .unwrap();
            (stored >= (CUSTOMERS * 2 / 3) as i64).then_some(())
        })
        .await;
        first.kill().unwrap();
        first.wait().unwrap();
    };
    tokio::join!(write_all(0..CUSTOMERS, bases.clone()), kill);
    let live: Vec<String> = bases[1..].to_vec();

    let settled = || async {
        let (pending, jobs): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM automation_inbox),
                    (SELECT count(*) FROM jobs WHERE kind IN ('message.send', 'csat.survey'))",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (pending == 0 && jobs == 0).then_some(())
    };
    eventually(120, "every automation done and sent", settled).await;

    // 100 conversations resolved through the two live processes.
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM conversations ORDER BY created_at LIMIT $1")
        .bind(RESOLVES as i64)
        .fetch_all(&pool)
        .await
        .unwrap();
    futures_util::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let (client, base, admin) = (client.clone(), live[i % live.len()].clone(), admin.clone());
            async move {
                let r = client
                    .post(format!("{base}/api/v1/conversations/{id}/resolve"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
        })
        .buffer_unordered(10)
        .collect::<Vec<()>>()
        .await;
    eventually(120, "every survey sent", || async {
        let surveys: i64 = sqlx::query_scalar("SELECT count(*) FROM csat_surveys WHERE state = 'sent'")
            .fetch_one(&pool)
            .await
            .unwrap();
        (surveys == RESOLVES as i64).then_some(())
    })
    .await;
    eventually(120, "every survey handed to Twilio", settled).await;

    // Count at Twilio, per customer.
    let mut greetings: HashMap<String, usize> = HashMap::new();
    let mut closed: HashMap<String, usize> = HashMap::new();
    let mut surveys: HashMap<String, usize> = HashMap::new();
    let mut contents = 0;
    for r in twilio.received_requests().await.unwrap() {
        if r.url.path() == "/v1/Content" {
            contents += 1;
            continue;
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&r.body).into_owned().collect();
        let to = form.get("To").cloned().unwrap_or_default();
        match (form.get("Body").map(String::as_str), form.get("ContentSid")) {
            (Some(GREETING), _) => *greetings.entry(to).or_default() += 1,
            (Some(CLOSED), _) => *closed.entry(to).or_default() += 1,
            (_, Some(_)) => *surveys.entry(to).or_default() += 1,
            other => panic!("an unexpected message: {other:?}"),
        }
    }
    assert_eq!(greetings.len(), CUSTOMERS, "every customer greeted");
    assert!(
        greetings.values().all(|n| *n == 1),
        "greeted twice: {:?}",
        greetings.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(closed.len(), CUSTOMERS, "every customer told the hours");
    assert!(closed.values().all(|n| *n == 1), "out-of-hours message twice in one closed period");
    assert_eq!(surveys.len(), RESOLVES, "every resolve surveyed");
    assert!(surveys.values().all(|n| *n == 1), "a survey twice");
    assert_eq!(contents, 1, "the survey's content is created once");
    drop(servers);
}

#[tokio::test]
async fn three_processes_auto_resolve_each_silent_conversation_once_with_one_closing_message() {
    const SILENT: usize = 60;
    const CLOSING: &str = "We are closing this chat; write again any time.";
    let twilio = MockServer::start().await;
    Mock::given(method("POST")).and(path_regex("^/(2010-04-01|v1)/")).respond_with(Twilio).mount(&twilio).await;
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let number: Uuid = sqlx::query_scalar("SELECT id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let body = json!({"auto_resolve_after_minutes": 60, "auto_resolve_text": CLOSING});
    let (s, v) = app.api(&admin, Method::PUT, &format!("/automation/numbers/{number}"), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["auto_resolve_after_minutes"], 60);
    let Fleet { pool, servers: _servers, bases, client, _data_dir } = three_processes(app, &twilio, |_| true).await;
    for i in 0..SILENT {
        write(&client, &bases, i, channel, 1000 + i, &new_sid("SM"), "Thanks, that was all.").await;
    }
    eventually(30, "every conversation routed", || async {
        let unrouted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conversations WHERE routing_state = 'unrouted' OR status <> 'open'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (unrouted == 0).then_some(())
    })
    .await;
    // Two hours pass for them (moved in the database rather than waited for); the customers' windows stay open.
    sqlx::query(
        "WITH m AS (UPDATE messages SET created_at = created_at - interval '2 hours' RETURNING 1)
         UPDATE conversations SET updated_at = updated_at - interval '2 hours', created_at = created_at - interval '2 hours'",
    )
    .execute(&pool)
    .await
    .unwrap();
    eventually(60, "every silent conversation resolved and its closing message sent", || async {
        let (resolved, unsent): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM conversations WHERE status = 'resolved'),
                    (SELECT count(*) FROM jobs WHERE kind = 'message.send')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (resolved == SILENT as i64 && unsent == 0).then_some(())
    })
    .await;
    // A few more scans of all three processes find nothing left to do.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut closings: HashMap<String, usize> = HashMap::new();
    for r in twilio.received_requests().await.unwrap() {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&r.body).into_owned().collect();
        assert_eq!(form.get("Body").map(String::as_str), Some(CLOSING), "an unexpected message: {form:?}");
        *closings.entry(form["To"].clone()).or_default() += 1;
    }
    assert_eq!(closings.len(), SILENT, "every customer got the closing message");
    assert!(closings.values().all(|n| *n == 1), "a closing message twice: {closings:?}");
    let (resolves, runs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversation_events WHERE kind = 'resolved'),
                (SELECT count(*) FROM automation_runs WHERE kind = 'auto_resolve')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((resolves, runs), (SILENT as i64, SILENT as i64), "one resolve and one run per conversation");
}
