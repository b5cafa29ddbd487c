//! AI agents: managed through the API (secrets write-only, audited), the built-in bot answering on the sandbox
//! phone and handing over, and a model agent against a scripted OpenAI-compatible server: a reply, a tool-call
//! hand-over and a resolve, errors and timeouts handed over, a burst answered once, and every request and
//! scripted answer checked against OpenAI's own OpenAPI description (tests/fixtures/openai-oai).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-0123456789SECRETKEY";
const PASSWORD: &str = "an agent's password 0123";

/// A chat completion answering `text`, shaped as OpenAI's `CreateChatCompletionResponse`.
fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                     "message": {"role": "assistant", "content": text, "refusal": null}}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
    })
}

/// A chat completion calling `tool` with `args`.
fn tool_call(tool: &str, args: Value) -> Value {
    json!({
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
                     "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                         {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": args.to_string()}}
                     ]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}
    })
}

/// OpenAI's error body.
fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

struct Center {
    app: TestApp,
    admin: String,
    channel: Uuid,
    number: Uuid,
    /// Plays both Twilio (accepting every message) and the model's endpoint.
    server: MockServer,
}

async fn center(extra: &[(&str, &str)]) -> Center {
    let server = MockServer::start().await;
    accept_messages(&server).await;
    let base = server.uri();
    let mut env: Vec<(String, String)> = [
        ("SWITCHBOARD__JOBS__ENABLED", "true"),
        ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
        ("SWITCHBOARD__JOBS__RETRY_BASE_MS", "20"),
        ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "100"),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
        ("SWITCHBOARD__ROUTING__POLL_MS", "100"),
        ("SWITCHBOARD__AI__DEBOUNCE_MS", "400"),
        ("SWITCHBOARD__AI__MODEL_ATTEMPTS", "2"),
        ("SWITCHBOARD__AI__MODEL_REQUEST_TIMEOUT_MS", "1500"),
        ("SWITCHBOARD__TWILIO__API_BASE_URL", base.as_str()),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let app = spawn_app_with(move |e| e.append(&mut env)).await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    Center { app, admin, channel, number, server }
}

impl Center {
    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(&self.admin, m, path, body).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.call(Method::POST, path, Some(body)).await;
        assert!(status == 201 || status == 200, "POST {path}: {status} {v}");
        v
    }

    async fn number_settings(&self, body: Value) {
        let path = format!("/channels/{}/numbers/{}", self.channel, self.number);
        let (status, v) = self.call(Method::PATCH, &path, Some(body)).await;
        assert_eq!(status, 200, "{v}");
    }

    /// A queue with an online agent, as the number's default queue: where hand-overs go.
    async fn humans(&self) -> Uuid {
        let agent = self.post("/agents", json!({"email": "human@example.com", "name": "Hugo", "role": "agent", "password": PASSWORD, "capacity": 5})).await;
        let agent = agent["id"].as_str().unwrap().to_owned();
        let q = self.post("/queues", json!({"name": "Humans", "member_ids": [agent]})).await;
        let q: Uuid = q["id"].as_str().unwrap().parse().unwrap();
        let (s, v) =
            self.call(Method::PUT, &format!("/agents/{agent}/presence"), Some(json!({"presence": "online"}))).await;
        assert_eq!(s, 200, "{v}");
        q
    }

    async fn writes(&self, phone: &str, text: &str) {
        let mut p = inbound_text(&new_sid("SM"), text);
        set(&mut p, "From", &format!("whatsapp:{phone}"));
        set(&mut p, "WaId", &phone[1..]);
        let r = self.app.post_signed(&self.app.messages_url(self.channel), &p).await;
        assert_eq!(r.status(), 200);
    }

    async fn conversation_of(&self, phone: &str) -> Uuid {
        eventually(10, "the conversation", || async {
            sqlx::query_scalar(
                "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone_e164 = $1
                 ORDER BY c.created_at DESC LIMIT 1",
            )
            .bind(phone)
            .fetch_optional(&self.app.pool)
            .await
            .unwrap()
        })
        .await
    }

    /// The AI agent's messages in the conversation: (body, author_label).
    async fn ai_said(&self, conversation: Uuid) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT body, author_label FROM messages WHERE conversation_id = $1 AND automation->>'kind' = 'ai_agent'
             ORDER BY created_at, id",
        )
        .bind(conversation)
        .fetch_all(&self.app.pool)
        .await
        .unwrap()
    }

    async fn conversation(&self, id: Uuid) -> Value {
        self.call(Method::GET, &format!("/conversations/{id}"), None).await.1
    }

    async fn notes(&self, id: Uuid) -> Vec<String> {
        sqlx::query_scalar("SELECT body FROM notes WHERE conversation_id = $1 ORDER BY created_at")
            .bind(id)
            .fetch_all(&self.app.pool)
            .await
            .unwrap()
    }

    async fn turns(&self, id: Uuid) -> Vec<(String, Option<String>, Option<i32>)> {
        sqlx::query_as(
            "SELECT outcome, reason, prompt_tokens FROM ai_turns WHERE conversation_id = $1 ORDER BY created_at",
        )
        .bind(id)
        .fetch_all(&self.app.pool)
        .await
        .unwrap()
    }

    /// A model agent on the scripted server.
    async fn model_agent(&self, extra: Value) -> Uuid {
        let mut body = json!({
            "name": "GPT", "kind": "openai_compatible", "base_url": format!("{}/v1", self.server.uri()),
            "model": "gpt-test", "api_key": KEY, "reply_timeout_secs": 5,
            "knowledge": [{"question": "Opening hours?", "answer": "9 to 5."}]
        });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.post("/ai-agents", body).await["id"].as_str().unwrap().parse().unwrap()
    }

    /// The model answers the next `times` requests with `response`.
    async fn model_answers(&self, response: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(response)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// The requests the model received, as JSON.
    async fn model_requests(&self) -> Vec<(Value, Option<String>)> {
        let requests = self.server.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.url.path() == "/v1/chat/completions")
            .map(|r| {
                let auth = r.headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                (serde_json::from_slice(&r.body).unwrap(), auth)
            })
            .collect()
    }
}

#[tokio::test]
async fn ai_agents_are_checked_audited_and_keep_their_secrets_write_only() {
    let c = center(&[]).await;
    for (body, field) in [
        (json!({"name": "", "kind": "builtin"}), "name"),
        (json!({"name": "M", "kind": "openai_compatible", "model": "m"}), "base_url"),
        (json!({"name": "M", "kind": "openai_compatible", "base_url": "https://x.example/v1"}), "model"),
        (json!({"name": "M", "kind": "openai_compatible", "base_url": "ftp://x", "model": "m"}), "base_url"),
        (
            json!({"name": "B", "kind": "builtin", "knowledge": [{"question": "q", "answer": ""}]}),
            "knowledge[0].answer",
        ),
        (json!({"name": "B", "kind": "builtin", "threshold": 1.5}), "threshold"),
        (json!({"name": "B", "kind": "builtin", "max_turns": 0}), "max_turns"),
        (json!({"name": "B", "kind": "builtin", "languages": ["not a tag"]}), "languages"),
        (
            json!({"name": "M", "kind": "openai_compatible", "base_url": "https://x.example/v1", "model": "m", "extra_headers": {"Content-Type": "x"}}),
            "extra_headers.Content-Type",
        ),
    ] {
        let (status, err) = c.call(Method::POST, "/ai-agents", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["details"]["field"], field, "{body}: {err}");
    }
    let (status, err) = c.call(Method::POST, "/ai-agents", Some(json!({"name": "B", "kind": "robot"}))).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(c.app.count("ai_agents").await, 0, "nothing refused is stored");

    let model = c.model_agent(json!({"extra_headers": {"api-key": "azure-SECRET"}})).await;
    let (_, v) = c.call(Method::GET, &format!("/ai-agents/{model}"), None).await;
    assert_eq!(v["api_key_set"], true);
    assert_eq!(v["extra_header_names"], json!(["api-key"]));
    let shown = v.to_string();
    assert!(!shown.contains(KEY) && !shown.contains("azure-SECRET"), "secrets are never shown: {shown}");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT api_key FROM ai_agents WHERE id = $1")
        .bind(model)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("SECRETKEY"), "stored encrypted");
    let (_, audit) = c.call(Method::GET, "/audit?action=ai_agent.created", None).await;
    assert!(!audit.to_string().contains(KEY), "nor audited");

    // A change keeps the key unless it names a new one; the name is unique.
    let (status, v) = c.call(Method::PATCH, &format!("/ai-agents/{model}"), Some(json!({"temperature": 0.3}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["api_key_set"], true);
    let bot = c.post("/ai-agents", json!({"name": "Bot", "kind": "builtin"})).await;
    let (status, err) = c
        .call(Method::PATCH, &format!("/ai-agents/{}", bot["id"].as_str().unwrap()), Some(json!({"name": "gpt"})))
        .await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("name_taken")), "{err}");

    // Only admins change them; supervisors read and try them; agents neither.
    let supervisor = c.app.api_token("supervisor").await;
    let agent = c.app.api_token("agent").await;
    assert_eq!(
        c.app.api(&supervisor, Method::POST, "/ai-agents", Some(json!({"name": "S", "kind": "builtin"}))).await.0,
        403
    );
    assert_eq!(c.app.api(&supervisor, Method::GET, "/ai-agents", None).await.0, 200);
    assert_eq!(c.app.api(&agent, Method::GET, "/ai-agents", None).await.0, 403);

    // In use by a number: not removable, and the refusal names the number.
    c.number_settings(json!({"ai_agent_id": model})).await;
    let (status, err) = c.call(Method::DELETE, &format!("/ai-agents/{model}"), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("ai_agent_in_use")), "{err}");
    assert_eq!(err["error"]["details"]["number_ids"], json!([c.number]));
    c.number_settings(json!({"ai_agent_id": null})).await;
    assert_eq!(c.call(Method::DELETE, &format!("/ai-agents/{model}"), None).await.0, 204);
    assert_eq!(c.call(Method::GET, &format!("/ai-agents/{model}"), None).await.0, 404);
    let (status, err) = c
        .call(
            Method::PATCH,
            &format!("/channels/{}/numbers/{}", c.channel, c.number),
            Some(json!({"ai_agent_id": model})),
        )
        .await;
    assert_eq!((status, err["error"]["details"]["field"].as_str()), (422, Some("ai_agent_id")), "{err}");
    let (_, audit) = c.call(Method::GET, "/audit", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("ai_agent."))
        .collect();
    assert!(
        actions.contains(&"ai_agent.created")
            && actions.contains(&"ai_agent.updated")
            && actions.contains(&"ai_agent.deleted"),
        "{actions:?}"
    );
    c.app.stop().await;
}

#[tokio::test]
async fn try_it_shows_the_answer_the_matched_knowledge_and_the_hand_over() {
    let c = center(&[]).await;
    let bot = c
        .post(
            "/ai-agents",
            json!({"name": "FAQ", "kind": "builtin", "languages": ["en", "es"], "greeting": "Hi, I'm a bot.",
                   "knowledge": [{"question": "What are your opening hours?", "answer": "9 to 5.", "keywords": ["open"]},
                                 {"question": "How much does shipping cost?", "answer": "Free over €50.", "keywords": ["delivery"]}]}),
        )
        .await;
    let id = bot["id"].as_str().unwrap();
    let (status, v) = c
        .call(
            Method::POST,
            &format!("/ai-agents/{id}/try"),
            Some(json!({"messages": ["hello", "how much is delivery?"]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], "reply");
    assert_eq!(
        v["messages"],
        json!(["Hi, I'm a bot.\n\nFree over €50."]),
        "the greeting and the answer in one message"
    );
    assert_eq!(v["matched"]["question"], "How much does shipping cost?");
    let (_, v) = c
        .call(
            Method::POST,
            &format!("/ai-agents/{id}/try"),
            Some(json!({"messages": ["What is the capital of France?"], "turns": 1})),
        )
        .await;
    assert_eq!(
        (v["decision"].as_str(), v["handover_reason"].as_str()),
        (Some("handover"), Some("low_confidence")),
        "{v}"
    );
    let (_, v) = c
        .call(
            Method::POST,
            &format!("/ai-agents/{id}/try"),
            Some(json!({"messages": ["quiero hablar con una persona"], "language": "es", "turns": 1})),
        )
        .await;
    assert_eq!(v["handover_reason"], "customer_asked", "{v}");
    assert!(v["messages"][0].as_str().unwrap().starts_with("Te paso"), "{v}");
    let (_, v) = c
        .call(Method::POST, &format!("/ai-agents/{id}/try"), Some(json!({"messages": ["opening hours?"], "turns": 10})))
        .await;
    assert_eq!(v["handover_reason"], "max_turns", "{v}");
    let (status, err) = c.call(Method::POST, &format!("/ai-agents/{id}/try"), Some(json!({"messages": []}))).await;
    assert_eq!((status, err["error"]["details"]["field"].as_str()), (422, Some("messages")));
    c.app.stop().await;
}

#[tokio::test]
async fn a_model_agent_replies_hands_over_resolves_and_fails_over_speaking_openais_own_contract() {
    let c = center(&[]).await;
    let humans = c.humans().await;
    let gpt = c.model_agent(json!({"system_prompt": "You are GPT of Acme.", "temperature": 0.2})).await;
    c.number_settings(json!({"ai_agent_id": gpt, "default_queue_id": humans})).await;

    // A burst of three messages gets one reply, with the whole conversation shown to the model.
    c.model_answers(ResponseTemplate::new(200).set_body_json(completion("We open at 9.")), 1).await;
    c.writes("+31670000001", "hi").await;
    c.writes("+31670000001", "one question").await;
    c.writes("+31670000001", "when do you open?").await;
    let one = c.conversation_of("+31670000001").await;
    let said = eventually(15, "the AI reply", || async {
        let s = c.ai_said(one).await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(said, vec![("We open at 9.".to_owned(), "GPT".to_owned())], "one reply, as the AI agent");
    let requests = c.model_requests().await;
    assert_eq!(requests.len(), 1, "one request for the burst");
    let (body, auth) = &requests[0];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["temperature"], 0.2);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[0]["content"].as_str().unwrap().contains("You are GPT of Acme.")
            && messages[0]["content"].as_str().unwrap().contains("Q: Opening hours?")
    );
    let users: Vec<&str> =
        messages.iter().filter(|m| m["role"] == "user").map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(users, ["hi", "one question", "when do you open?"]);
    let tools: Vec<&str> =
        body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["handover", "resolve"]);
    assert_eq!(c.turns(one).await, vec![("reply".to_owned(), None, Some(42))], "token usage recorded");
    assert_eq!(c.conversation(one).await["routing_state"], "ai");

    // The model calls handover: the customer is told, the note carries reason and summary, humans get it.
    c.model_answers(
        ResponseTemplate::new(200).set_body_json(tool_call(
            "handover",
            json!({"reason": "wants a refund", "summary": "Order 7 arrived broken"}),
        )),
        1,
    )
    .await;
    c.writes("+31670000001", "my order arrived broken, I want my money back").await;
    let placed = eventually(15, "the hand-over", || async {
        let v = c.conversation(one).await;
        (v["routing_state"] != "ai").then_some(v)
    })
    .await;
    assert_eq!(placed["routing_state"], "assigned", "{placed}");
    assert_eq!(placed["queue_id"], json!(humans));
    let notes = c.notes(one).await;
    assert!(notes[0].contains("wants a refund") && notes[0].contains("Order 7 arrived broken"), "{notes:?}");
    assert_eq!(c.ai_said(one).await.len(), 2, "the hand-over message was sent");
    let (_, events) = c.call(Method::GET, &format!("/conversations/{one}/events"), None).await;
    let handed = events.as_array().unwrap().iter().find(|e| e["kind"] == "handed_over").cloned().unwrap();
    assert_eq!(handed["data"]["reason"], "model_handover");
    assert_eq!(handed["actor_type"], "ai_agent");

    // The model calls resolve: the conversation is closed, with its summary in a note.
    c.model_answers(
        ResponseTemplate::new(200)
            .set_body_json(tool_call("resolve", json!({"summary": "Asked for the hours; answered"}))),
        1,
    )
    .await;
    c.writes("+31670000004", "thanks, that's all").await;
    let four = c.conversation_of("+31670000004").await;
    eventually(15, "the resolve", || async { (c.conversation(four).await["status"] == "resolved").then_some(()) })
        .await;
    assert!(c.notes(four).await[0].contains("Asked for the hours; answered"));
    assert_eq!(c.turns(four).await[0].0, "resolve");

    // The endpoint keeps failing (429, then 500): retried, then handed over as a failure.
    c.model_answers(ResponseTemplate::new(429).set_body_json(error_body("Rate limit reached", "requests")), 1).await;
    c.model_answers(ResponseTemplate::new(500).set_body_json(error_body("The server had an error", "server_error")), 1)
        .await;
    c.writes("+31670000002", "hello?").await;
    let two = c.conversation_of("+31670000002").await;
    eventually(15, "the hand-over after errors", || async {
        (c.conversation(two).await["routing_state"] == "assigned").then_some(())
    })
    .await;
    assert_eq!(c.turns(two).await, vec![("handover".to_owned(), Some("model_failed".to_owned()), None)]);

    // The endpoint never answers in time: handed over as a timeout.
    c.model_answers(
        ResponseTemplate::new(200).set_body_json(completion("too late")).set_delay(Duration::from_secs(4)),
        2,
    )
    .await;
    c.writes("+31670000003", "anyone there?").await;
    let three = c.conversation_of("+31670000003").await;
    eventually(20, "the hand-over after timeouts", || async {
        (c.conversation(three).await["routing_state"] == "assigned").then_some(())
    })
    .await;
    assert_eq!(c.turns(three).await[0].1.as_deref(), Some("timeout"));
    assert!(c.ai_said(three).await.iter().all(|(b, _)| b != "too late"));

    // Contract: every request sent, and every answer scripted above, has the shape OpenAI's own description gives.
    let mut documents: Vec<Value> = c
        .model_requests()
        .await
        .into_iter()
        .map(|(body, _)| json!({"schema": "CreateChatCompletionRequest", "instance": body}))
        .collect();
    assert!(documents.len() >= 7, "{}", documents.len());
    for answer in [
        completion("We open at 9."),
        tool_call("handover", json!({"reason": "r", "summary": "s"})),
        tool_call("resolve", json!({"summary": "s"})),
    ] {
        documents.push(json!({"schema": "CreateChatCompletionResponse", "instance": answer}));
    }
    for error in [error_body("Rate limit reached", "requests"), error_body("The server had an error", "server_error")] {
        documents.push(json!({"schema": "ErrorResponse", "instance": error}));
    }
    let (ok, report) = openai_shapes(&documents);
    assert!(ok, "{report}");
    // The check can fail: a message with a role OpenAI does not have is refused.
    let mut wrong = documents[0].clone();
    wrong["instance"]["messages"][1]["role"] = json!("robot");
    let (ok, report) = openai_shapes(&[wrong]);
    assert!(!ok && report.contains("/messages/1"), "{report}");
    c.app.stop().await;
}

/// Validates documents against OpenAI's description (tests/fixtures/openai-oai/validate.py): (all valid, report).
fn openai_shapes(documents: &[Value]) -> (bool, String) {
    use std::io::Write;
    let python = std::env::var("SWITCHBOARD_TEST_PYTHON")
        .expect("SWITCHBOARD_TEST_PYTHON is not set: run tests/run.sh, which installs jsonschema with schemathesis");
    let mut child = std::process::Command::new(python)
        .arg(manifest_dir().join("tests/fixtures/openai-oai/validate.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for d in documents {
        writeln!(stdin, "{d}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn a_reply_that_would_come_after_the_window_closed_is_not_sent_and_not_queued_again() {
    let c = center(&[]).await;
    let bot = c.post("/ai-agents", json!({"name": "Bot", "kind": "builtin", "knowledge": [{"question": "Opening hours?", "answer": "9 to 5."}]})).await;
    c.number_settings(json!({"ai_agent_id": bot["id"]})).await;
    c.writes("+31670000010", "opening hours?").await;
    let id = c.conversation_of("+31670000010").await;
    // As if the reply job ran a day later: the customer's message is 25 hours old.
    sqlx::query("UPDATE conversations SET last_inbound_at = last_inbound_at - interval '25 hours' WHERE id = $1")
        .bind(id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE messages SET created_at = created_at - interval '25 hours' WHERE conversation_id = $1")
        .bind(id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    eventually(10, "the messages to count as seen", || async {
        let seen: Option<(Option<time::OffsetDateTime>, Option<time::OffsetDateTime>)> =
            sqlx::query_as("SELECT answered_through, reply_queued_at FROM ai_sessions WHERE conversation_id = $1")
                .bind(id)
                .fetch_optional(&c.app.pool)
                .await
                .unwrap();
        matches!(seen, Some((Some(_), None))).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(c.ai_said(id).await.is_empty(), "nothing is said outside the window");
    assert!(c.turns(id).await.is_empty());
    let jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'ai.reply'").fetch_one(&c.app.pool).await.unwrap();
    assert_eq!(jobs, 0, "not queued again");
    c.app.stop().await;
}

#[tokio::test]
async fn an_automation_rule_routing_an_ai_conversation_to_people_is_a_hand_over_with_a_note() {
    // The AI agent waits longer than the test: only the rule acts.
    let c = center(&[("SWITCHBOARD__AI__DEBOUNCE_MS", "60000")]).await;
    let humans = c.humans().await;
    let bot = c.post("/ai-agents", json!({"name": "Bot", "kind": "builtin"})).await;
    c.number_settings(json!({"ai_agent_id": bot["id"]})).await;
    c.post(
        "/automation/rules",
        json!({"name": "Urgent to people", "conditions": [{"type": "text_contains", "value": "urgent"}],
               "actions": [{"type": "route", "queue_id": humans}]}),
    )
    .await;
    c.writes("+31670000009", "this is urgent").await;
    let id = c.conversation_of("+31670000009").await;
    let v = eventually(10, "the rule to route it", || async {
        let v = c.conversation(id).await;
        (v["routing_state"] == "assigned").then_some(v)
    })
    .await;
    assert_eq!(v["queue_id"], json!(humans));
    let (_, events) = c.call(Method::GET, &format!("/conversations/{id}/events"), None).await;
    let handed = events.as_array().unwrap().iter().find(|e| e["kind"] == "handed_over").cloned().unwrap();
    assert_eq!((handed["data"]["reason"].as_str(), handed["actor_type"].as_str()), (Some("rule"), Some("automation")));
    assert!(c.notes(id).await[0].contains("an automation rule routed it to people"));
    c.app.stop().await;
}

#[tokio::test]
async fn the_sandbox_bot_answers_a_known_question_and_hands_over_to_a_human_queue() {
    let c = center(&[
        ("SWITCHBOARD__SANDBOX__ENABLED", "true"),
        ("SWITCHBOARD__SANDBOX__BOT", "true"),
        ("SWITCHBOARD__SANDBOX__STATUS_DELAY_MS", "50"),
    ])
    .await;
    let (_, channels) = c.call(Method::GET, "/channels", None).await;
    let sandbox = channels["items"].as_array().unwrap().iter().find(|ch| ch["name"] == "Sandbox").cloned().unwrap();
    let sandbox_id = sandbox["id"].as_str().unwrap();
    let (_, numbers) = c.call(Method::GET, &format!("/channels/{sandbox_id}/numbers"), None).await;
    let number = &numbers["items"][0];
    assert!(number["ai_agent_id"].is_string(), "the sandbox number starts with the sample bot: {number}");
    let humans = c.humans().await;
    let (s, v) = c
        .call(
            Method::PATCH,
            &format!("/channels/{sandbox_id}/numbers/{}", number["id"].as_str().unwrap()),
            Some(json!({"default_queue_id": humans})),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let phone = "+5215512340000";
    let says = |body: &'static str| {
        let c = &c;
        async move {
            let r = c
                .app
                .client
                .post(format!("{}/sandbox/api/messages", c.app.address))
                .json(&json!({"customer": phone, "business": "+14155238886", "body": body, "profile_name": "Ana"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    let phone_shows = |want: &'static str| {
        let c = &c;
        async move {
            let url =
                format!("{}/sandbox/api/messages?customer=%2B5215512340000&business=%2B14155238886", c.app.address);
            eventually(15, want, || async {
                let t: Vec<Value> = c.app.client.get(&url).send().await.unwrap().json().await.unwrap();
                t.iter()
                    .any(|m| m["direction"] == "to_customer" && m["body"].as_str().unwrap_or("").contains(want))
                    .then_some(t)
            })
            .await
        }
    };
    says("¿Cuánto cuesta el envío?").await;
    let thread = phone_shows("4,95").await;
    let to_customer: Vec<&str> =
        thread.iter().filter(|m| m["direction"] == "to_customer").map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(to_customer.len(), 1, "{to_customer:?}");
    assert!(
        to_customer[0].starts_with("Hi! I'm the Sandbox assistant"),
        "greets first, in one message: {to_customer:?}"
    );

    says("quiero hablar con una persona").await;
    phone_shows("Te paso").await;
    let conversation = c.conversation_of(phone).await;
    let v = eventually(10, "a human to hold it", || async {
        let v = c.conversation(conversation).await;
        (v["routing_state"] == "assigned").then_some(v)
    })
    .await;
    assert_eq!(v["queue_id"], json!(humans));
    let notes = c.notes(conversation).await;
    assert!(notes.iter().any(|n| n.contains("the customer asked for a person")), "{notes:?}");
    let thread = phone_shows("Te paso").await;
    let greetings = thread.iter().filter(|m| m["body"].as_str().unwrap_or("").starts_with("Hi! I'm")).count();
    assert_eq!(greetings, 1, "greets once");
    c.app.stop().await;
}

#[tokio::test]
async fn a_customer_who_never_pauses_is_answered_once_their_first_message_is_max_wait_old() {
    let c = center(&[("SWITCHBOARD__AI__DEBOUNCE_MS", "1000"), ("SWITCHBOARD__AI__MAX_WAIT_MS", "2000")]).await;
    let bot = c.post("/ai-agents", json!({"name": "Bot", "kind": "builtin", "knowledge": [{"question": "Opening hours?", "answer": "9 to 5."}]})).await;
    c.number_settings(json!({"ai_agent_id": bot["id"]})).await;
    // A message every 300 ms for 5 s: never a 1 s pause.
    c.writes("+31670000011", "opening hours?").await;
    let id = c.conversation_of("+31670000011").await;
    let started = std::time::Instant::now();
    let mut answered_while_writing = false;
    while started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.writes("+31670000011", "hello?").await;
        answered_while_writing |= !c.ai_said(id).await.is_empty();
    }
    assert!(answered_while_writing, "the reply did not wait for a pause that never came");
    c.app.stop().await;
}

#[tokio::test]
async fn a_reply_job_that_fails_its_every_attempt_hands_the_conversation_to_people_with_a_note() {
    let c = center(&[]).await;
    let humans = c.humans().await;
    let gpt = c.model_agent(json!({})).await;
    c.number_settings(json!({"ai_agent_id": gpt, "default_queue_id": humans})).await;
    // The stored key can no longer be decrypted (as after a lost master key): every attempt fails.
    sqlx::query("UPDATE ai_agents SET api_key = '\\x00'::bytea WHERE id = $1")
        .bind(gpt)
        .execute(&c.app.pool)
        .await
        .unwrap();
    c.writes("+31670000012", "opening hours?").await;
    let id = c.conversation_of("+31670000012").await;
    let v = eventually(15, "the conversation to reach people", || async {
        let v = c.conversation(id).await;
        (v["routing_state"] == "assigned").then_some(v)
    })
    .await;
    assert_eq!(v["queue_id"], json!(humans));
    let (_, events) = c.call(Method::GET, &format!("/conversations/{id}/events"), None).await;
    let handed = events.as_array().unwrap().iter().find(|e| e["kind"] == "handed_over").cloned().unwrap();
    assert_eq!(handed["data"]["reason"], "reply_failed");
    let notes = c.notes(id).await;
    assert!(notes[0].contains("could not produce a reply") && notes[0].contains("secrets"), "{notes:?}");
    assert_eq!(c.turns(id).await, vec![("handover".to_owned(), Some("reply_failed".to_owned()), None)]);
    assert!(c.model_requests().await.is_empty(), "the model was never asked");
    c.app.stop().await;
}
