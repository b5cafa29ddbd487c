//! AI agents across several `serve` processes: every customer message in 100 AI-owned conversations is answered
//! exactly once whichever node stored it and whichever worker ran the reply, and the model's API key appears in
//! no log line, at debug level.

mod common;

use common::nodes::{free_port, Node, Shared};
use common::*;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-live-DO-NOT-LOG-0123456789abcdef";
const CUSTOMERS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_answer_each_message_of_a_hundred_ai_conversations_exactly_once() {
    // Twilio and the model on one scripted server; the model answers after a little thought.
    let server = MockServer::start().await;
    accept_messages(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                                 "message": {"role": "assistant", "content": "Answered.", "refusal": null}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
                }))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&server)
        .await;

    // The channel, an admin token and the model agent, made with the library; then three nodes.
    let setup = spawn_app().await;
    let (channel, number) = setup.create_channel_and_number().await;
    let admin = setup.api_token("admin").await;
    let (status, agent) = setup
        .api(
            &admin,
            reqwest::Method::POST,
            "/ai-agents",
            Some(json!({"name": "GPT", "kind": "openai_compatible", "base_url": format!("{}/v1", server.uri()),
                        "model": "m", "api_key": KEY, "extra_headers": {"api-key": KEY}})),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let (status, v) = setup
        .api(
            &admin,
            reqwest::Method::PATCH,
            &format!("/channels/{channel}/numbers/{number}"),
            Some(json!({"ai_agent_id": agent["id"]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let master_key =
        std::fs::read_to_string(setup.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap().trim().to_owned();
    let database_url = secrecy::ExposeSecret::expose_secret(setup.settings.database.url.as_ref().unwrap()).to_owned();
    setup.shutdown.cancel();
    let log = std::env::temp_dir().join(format!("sb-ai-nodes-{channel}.log"));
    let _ = std::fs::remove_file(&log);
    let env: Vec<(String, String)> = [
        ("SWITCHBOARD__TWILIO__API_BASE_URL", server.uri().as_str()),
        ("SWITCHBOARD__JOBS__ENABLED", "true"),
        ("SWITCHBOARD__JOBS__CONCURRENCY", "8"),
        ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
        ("SWITCHBOARD__ROUTING__POLL_MS", "200"),
        ("SWITCHBOARD__AI__DEBOUNCE_MS", "300"),
        ("SWITCHBOARD__LOG__LEVEL", "debug"),
        ("SWITCHBOARD__LOG__FORMAT", "json"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let shared = Shared { database_url: database_url.clone(), master_key, env, log: log.clone() };
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&shared, free_port(), None)).collect();
    let client = reqwest::Client::new();
    for node in &nodes {
        wait_ready(&client, &node.base).await;
    }
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();

    // Two rounds: every customer writes (through a node of their own), and waits for the answer.
    let phone = |i: usize| format!("+3168{i:07}");
    for round in 1..=2i64 {
        for i in 0..CUSTOMERS {
            let node = &nodes[i % 3];
            let mut p = inbound_text(&new_sid("SM"), &format!("question {round} from {i}"));
            set(&mut p, "From", &format!("whatsapp:{}", phone(i)));
            set(&mut p, "WaId", &phone(i)[1..]);
            let route = format!("/webhooks/twilio/{channel}/messages");
            let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &format!("{}{route}", node.base), &p);
            let r = client
                .post(format!("{}{route}", node.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", sig)
                .body(encode_form(&p))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let answered = eventually(60, "every conversation answered", || async {
            let counts: Vec<(Uuid, i64)> = sqlx::query_as(
                "SELECT c.id, count(m.id) FROM conversations c
                 LEFT JOIN messages m ON m.conversation_id = c.id AND m.automation->>'kind' = 'ai_agent'
                 GROUP BY c.id",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            (counts.len() == CUSTOMERS && counts.iter().all(|(_, n)| *n >= round)).then_some(counts)
        })
        .await;
        // Nothing more arrives later: each message is answered once, not once per node.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let again: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE automation->>'kind' = 'ai_agent'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(again, CUSTOMERS as i64 * round, "round {round}: {answered:?}");
        let model_calls =
            server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/v1/chat/completions").count();
        assert_eq!(model_calls, CUSTOMERS * round as usize, "one model request per answered message");
    }
    let turns: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ai_turns WHERE outcome = 'reply'").fetch_one(&pool).await.unwrap();
    assert_eq!(turns, CUSTOMERS as i64 * 2);

    for mut node in nodes {
        node.terminate();
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("\"level\":\"DEBUG\""), "the nodes logged at debug level");
    assert!(logged.contains("AI agent answered"), "the replies were logged");
    let lines_with_key = logged.lines().filter(|l| l.contains(KEY) || l.contains("DO-NOT-LOG")).count();
    assert_eq!(lines_with_key, 0, "the API key is in no log line");
}
