//! Three `switchboard serve` processes on one database: 500 customers write at once, spread across them, while
//! 20 agents with mixed capacities go online and offline and some conversations are resolved. Afterwards every
//! conversation is assigned once or waiting, no agent ever held more than their capacity (sampled throughout),
//! and nothing is lost.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const CONVERSATIONS: usize = 500;
const AGENTS: usize = 20;

fn serve(database_url: &str, data_dir: &std::path::Path, port: u16, log: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SWITCHBOARD__DATABASE__URL", database_url)
        .env("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", "20")
        .env("SWITCHBOARD__DATA_DIR", data_dir)
        .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__SANDBOX__ENABLED", "false")
        .env("SWITCHBOARD__ROUTING__POLL_MS", "200")
        .env("SWITCHBOARD__ROUTING__BATCH_SIZE", "50")
        .env("SWITCHBOARD__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The processes a test runs: the in-process app that set the database up is stopped, and `n` `serve`
/// processes start on the same database.
struct Fleet {
    pool: sqlx::PgPool,
    servers: Servers,
    bases: Vec<String>,
    client: reqwest::Client,
    messages_path: String,
    _data_dir: tempfile::TempDir,
}

async fn fleet(app: TestApp, channel: Uuid, n: usize) -> Fleet {
    let database_url =
        app.settings.database.url.as_ref().map(|u| secrecy::ExposeSecret::expose_secret(u).to_owned()).unwrap();
    let TestApp { data_dir, shutdown, server, .. } = app;
    shutdown.cancel();
    server.await.unwrap().unwrap();
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let log = data_dir.path().join("serve.log");
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let servers = Servers(ports.iter().map(|p| serve(&database_url, data_dir.path(), *p, &log)).collect());
    let bases: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let client = reqwest::Client::new();
    for base in &bases {
        wait_ready(&client, base).await;
    }
    let messages_path = format!("/webhooks/twilio/{channel}/messages");
    Fleet { pool, servers, bases, client, messages_path, _data_dir: data_dir }
}

/// Customer `i` writes `text` through the process at `base`, signed as Twilio signs; the answer's status.
async fn customer_writes(fleet: &Fleet, base: &str, i: usize, text: &str) -> u16 {
    let url = format!("{base}{}", fleet.messages_path);
    let phone = format!("+3170{:07}", i);
    let mut p = inbound_text(&new_sid("SM"), text);
    set(&mut p, "From", &format!("whatsapp:{phone}"));
    set(&mut p, "WaId", &phone[1..]);
    let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &url, &p);
    let r = fleet
        .client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(encode_form(&p))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// Agents holding more unresolved conversations than their capacity (should always be none).
async fn over_capacity(pool: &sqlx::PgPool) -> Vec<(Uuid, i64, i32)> {
    sqlx::query_as(
        "SELECT u.id, count(c.id), u.capacity FROM users u JOIN conversations c ON c.assignee_id = u.id AND c.status <> 'resolved'
         GROUP BY u.id, u.capacity HAVING count(c.id) > u.capacity",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn three_processes_assign_each_conversation_once_and_never_overfill_an_agent() {
    // Set up with the library: a channel, two queues, a rule, 20 agents. Then stop it.
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let number: Uuid = sqlx::query_scalar("SELECT id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let body = json!({"email": format!("agent{i}@example.com"), "name": format!("Agent {i}"), "role": "agent", "password": "a password 0123456",
                          "capacity": 1 + (i % 5)});
        let (status, v) = app.api(&admin, Method::POST, "/agents", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        agents.push(v["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let (_, support) =
        app.api(&admin, Method::POST, "/queues", Some(json!({"name": "Support", "member_ids": agents[..14]}))).await;
    let (_, sales) = app
        .api(
            &admin,
            Method::POST,
            "/queues",
            Some(json!({"name": "Sales", "strategy": "round_robin", "member_ids": agents[8..]})),
        )
        .await;
    let (status, v) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"default_queue_id": support["id"]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let rule = json!({"name": "Sales", "conditions": [{"type": "text_contains", "value": "buy"}],
                      "target": {"type": "queue", "queue_id": sales["id"]}});
    assert_eq!(app.api(&admin, Method::POST, "/routing/rules", Some(rule)).await.0, 201);
    let fleet = fleet(app, channel, 3).await;
    let (pool, bases, client) = (fleet.pool.clone(), fleet.bases.clone(), fleet.client.clone());

    // Presence churn and over-capacity sampling while the customers write.
    let storm_over = Arc::new(AtomicBool::new(false));
    let churn = {
        let (client, bases, admin, agents, over, pool) =
            (client.clone(), bases.clone(), admin.clone(), agents.clone(), storm_over.clone(), pool.clone());
        tokio::spawn(async move {
            let mut worst = Vec::new();
            let mut i = 0usize;
            while !over.load(Ordering::Relaxed) {
                let agent = agents[(i * 7) % agents.len()];
                let presence = if (i / agents.len()) % 2 == 0 {
                    "online"
                } else {
                    if i % 3 == 0 {
                        "away"
                    } else {
                        "offline"
                    }
                };
                let r = client
                    .put(format!("{}/api/v1/agents/{agent}/presence", bases[i % bases.len()]))
                    .bearer_auth(&admin)
                    .json(&json!({"presence": presence}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                if i % 5 == 0 {
                    worst.extend(over_capacity(&pool).await);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            (i, worst)
        })
    };

    // Agents resolve conversations while the customers write (frees capacity mid-storm), through every process.
    let resolver = {
        let (client, bases, admin, over, pool) =
            (client.clone(), bases.clone(), admin.clone(), storm_over.clone(), pool.clone());
        tokio::spawn(async move {
            let mut resolved = 0usize;
            while !over.load(Ordering::Relaxed) {
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM conversations WHERE routing_state = 'assigned' AND status = 'open' ORDER BY random() LIMIT 3",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                for id in ids {
                    let r = client
                        .post(format!("{}/api/v1/conversations/{id}/resolve", bases[resolved % 3]))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    resolved += 1;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            resolved
        })
    };

    // 500 customers write at once, spread across the three processes; every fifth asks to buy.
    let started = Instant::now();
    let results: Vec<u16> = futures_util::stream::iter(0..CONVERSATIONS)
        .map(|i| {
            let (fleet, base) = (&fleet, bases[i % 3].clone());
            async move {
                let status =
                    customer_writes(fleet, &base, i, if i % 5 == 0 { "I want to buy" } else { "help me" }).await;
                // Paced so the storm lasts a few seconds, long enough for presence churn and resolves to interleave.
                tokio::time::sleep(Duration::from_millis(60)).await;
                status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 200), "every webhook is accepted");
    let written = started.elapsed();

    tokio::time::sleep(Duration::from_millis(500)).await;
    storm_over.store(true, Ordering::Relaxed);
    let (presence_changes, worst) = churn.await.unwrap();
    let resolved = resolver.await.unwrap();
    assert!(worst.is_empty(), "an agent held more than their capacity during the storm: {worst:?}");

    // Everyone online: the routers settle (no unrouted conversation; waiting ones only while every agent is full).
    for (i, agent) in agents.iter().enumerate() {
        let r = client
            .put(format!("{}/api/v1/agents/{agent}/presence", bases[i % 3]))
            .bearer_auth(&admin)
            .json(&json!({"presence": "online"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    eventually(60, "the routers to settle", || async {
        let (unrouted, waiting, free): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM conversations WHERE routing_state = 'unrouted' AND status <> 'resolved'),
                    (SELECT count(*) FROM conversations WHERE routing_state = 'waiting' AND status <> 'resolved'),
                    (SELECT COALESCE(sum(capacity - load), 0) FROM users WHERE role = 'agent' AND presence = 'online')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (unrouted == 0 && (waiting == 0 || free == 0)).then_some(())
    })
    .await;

    // Nothing lost: 500 messages, 500 conversations, one per customer.
    let (messages, conversations, customers): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM conversations), (SELECT count(DISTINCT contact_id) FROM conversations)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (messages, conversations, customers),
        (CONVERSATIONS as i64, CONVERSATIONS as i64, CONVERSATIONS as i64)
    );
    // Every conversation still open is assigned or waiting; none was assigned twice.
    let states: Vec<(String, i64)> = sqlx::query_as(
        "SELECT routing_state, count(*) FROM conversations WHERE status <> 'resolved' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(states.iter().all(|(s, _)| s == "assigned" || s == "waiting"), "{states:?}");
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT conversation_id FROM conversation_events WHERE kind = 'assigned'
                               GROUP BY 1 HAVING count(*) > 1) t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(twice, 0, "a conversation was assigned twice");
    let routed_twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT conversation_id FROM conversation_events WHERE kind = 'routed'
                               GROUP BY 1 HAVING count(*) > 1) t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(routed_twice, 0, "a conversation was routed by two processes");
    // No agent over capacity, and each agent's load is exactly what they hold.
    assert!(over_capacity(&pool).await.is_empty());
    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users u WHERE u.load <> (SELECT count(*) FROM conversations c
                                                      WHERE c.assignee_id = u.id AND c.status <> 'resolved')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(drift, 0, "the load counter matches the conversations held");
    let sales_assigned: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE queue_id = $1::uuid")
        .bind(sales["id"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sales_assigned, (CONVERSATIONS / 5) as i64, "the rule sent every fifth to Sales");
    println!(
        "500 conversations written in {written:?} across 3 processes; {presence_changes} presence changes; \
         {resolved} resolved during the storm; final states {states:?}"
    );

    fleet.servers.terminate();
}

/// Two processes, each with its router, while API callers resolve and reopen conversations through both as fast
/// as they can: most customers wait, so each resolve frees a place that the routers fill at once, and the
/// resolves' load trigger, the reopens' capacity guard and the routers all take agent rows. PostgreSQL may abort one of them for a deadlock; the API runs the action again instead of answering 500.
#[tokio::test]
async fn a_thousand_resolves_through_two_processes_never_answer_500() {
    const CUSTOMERS: usize = 80;
    const RESOLVES: usize = 1000;
    const CALLERS: usize = 8;
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let number: Uuid = sqlx::query_scalar("SELECT id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let mut agents = Vec::new();
    for i in 0..8 {
        let body = json!({"email": format!("agent{i}@example.com"), "name": format!("Agent {i}"), "role": "agent",
                          "password": "a password 0123456", "capacity": 3});
        let (status, v) = app.api(&admin, Method::POST, "/agents", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        agents.push(v["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let (_, queue) =
        app.api(&admin, Method::POST, "/queues", Some(json!({"name": "Support", "member_ids": agents}))).await;
    let path = format!("/channels/{channel}/numbers/{number}");
    assert_eq!(app.api(&admin, Method::PATCH, &path, Some(json!({"default_queue_id": queue["id"]}))).await.0, 200);
    for agent in &agents {
        let r = app
            .api(&admin, Method::PUT, &format!("/agents/{agent}/presence"), Some(json!({"presence": "online"})))
            .await;
        assert_eq!(r.0, 200);
    }
    let fleet = fleet(app, channel, 2).await;
    let (pool, bases, client) = (fleet.pool.clone(), fleet.bases.clone(), fleet.client.clone());
    for i in 0..CUSTOMERS {
        assert_eq!(customer_writes(&fleet, &bases[i % 2], i, "help me").await, 200);
    }
    // 24 places for 80 customers: most wait, so every resolve frees a place the routers fill at once.
    eventually(60, "every conversation assigned or waiting", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conversations WHERE routing_state IN ('assigned', 'waiting') AND status <> 'resolved'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (n == CUSTOMERS as i64).then_some(())
    })
    .await;
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM conversations ORDER BY id").fetch_all(&pool).await.unwrap();

    // Each caller resolves and reopens its share of the conversations, alternating processes.
    let callers = (0..CALLERS).map(|c| {
        let (client, bases, admin) = (client.clone(), bases.clone(), admin.clone());
        let mine: Vec<Uuid> = ids.iter().copied().skip(c).step_by(CALLERS).collect();
        tokio::spawn(async move {
            let mut answers: Vec<u16> = Vec::new();
            for k in 0..RESOLVES / CALLERS {
                let id = mine[k % mine.len()];
                for action in ["resolve", "reopen"] {
                    let r = client
                        .post(format!("{}/api/v1/conversations/{id}/{action}", bases[(k + c) % 2]))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap();
                    answers.push(r.status().as_u16());
                }
            }
            answers
        })
    });
    let answers: Vec<u16> =
        futures_util::future::join_all(callers).await.into_iter().flat_map(|a| a.unwrap()).collect();
    let errors = answers.iter().filter(|s| **s >= 500).count();
    let resolves = answers.len() / 2;
    assert_eq!(resolves, RESOLVES);
    assert_eq!(errors, 0, "{errors} answers of 5xx over {resolves} resolves and as many reopens");
    assert!(answers.iter().all(|s| *s == 200 || *s == 409), "only 200 (or 409 when already open): {answers:?}");
    assert!(over_capacity(&pool).await.is_empty());
    println!("{resolves} resolves and as many reopens through 2 processes, none answered 5xx");
    fleet.servers.terminate();
}
