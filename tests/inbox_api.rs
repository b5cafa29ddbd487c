//! What the inbox reads and writes through the API: notes, tags on conversations, unread marks, message search,
//! starting a conversation (and the duplicate check), open/pending, the directory, the supervisor's overview,
//! and the live feed's filtering per agent.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

const PASSWORD: &str = "an agent's password 0123";

struct Desk {
    app: TestApp,
    admin: String,
    channel: Uuid,
    number: Uuid,
}

async fn desk() -> Desk {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    Desk { app, admin, channel, number }
}

impl Desk {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(&self.admin, method, path, body).await
    }

    /// An agent serving `numbers`, logged in.
    async fn agent(&self, email: &str, numbers: &[Uuid]) -> Session {
        let (s, a) = self
            .call(
                Method::POST,
                "/agents",
                Some(json!({"email": email, "name": email, "password": PASSWORD, "number_ids": numbers})),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        self.app.session(email, &[PASSWORD], "the agent's own password 99", a["id"].as_str().unwrap()).await
    }

    async fn customer_writes(&self, phone: &str, text: &str) -> Uuid {
        let mut p = inbound_text(&new_sid("SM"), text);
        set(&mut p, "From", &format!("whatsapp:{phone}"));
        set(&mut p, "WaId", &phone[1..]);
        let r = self.app.post_signed(&self.app.messages_url(self.channel), &p).await;
        assert_eq!(r.status(), 200);
        sqlx::query_scalar(
            "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE k.phone_e164 = $1 AND c.status <> 'resolved'",
        )
        .bind(phone)
        .fetch_one(&self.app.pool)
        .await
        .unwrap()
    }

    async fn template(&self) -> String {
        let (s, t) = self
            .call(
                Method::POST,
                "/templates",
                Some(json!({"name": "order_update", "language": "en",
                    "body": "Your order {{1}} has shipped and should arrive by {{2}}.",
                    "content_sid": format!("HX{}", "a".repeat(32)), "approval_status": "approved"})),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        t["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn notes_are_kept_in_order_and_an_empty_one_is_refused() {
    let d = desk().await;
    let c = d.customer_writes("+31600000001", "hi").await;
    let (s, e) = d.call(Method::POST, &format!("/conversations/{c}/notes"), Some(json!({"body": "  "}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_field")));
    for text in ["first", "second"] {
        let (s, n) = d.call(Method::POST, &format!("/conversations/{c}/notes"), Some(json!({"body": text}))).await;
        assert_eq!(s, 201, "{n}");
    }
    let (_, notes) = d.call(Method::GET, &format!("/conversations/{c}/notes"), None).await;
    let bodies: Vec<_> = notes.as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["first", "second"]);
    // Notes never go to the customer.
    assert_eq!(d.app.count("messages").await, 1);
}

#[tokio::test]
async fn tags_are_set_filtered_on_and_checked() {
    let d = desk().await;
    let a = d.customer_writes("+31600000002", "hello").await;
    let b = d.customer_writes("+31600000003", "hello").await;
    let (_, vip) = d.call(Method::POST, "/tags", Some(json!({"name": "VIP"}))).await;
    let vip = vip["id"].as_str().unwrap();
    let (s, conv) =
        d.call(Method::PUT, &format!("/conversations/{a}/tags"), Some(json!({"tag_ids": [vip, vip]}))).await;
    assert_eq!(s, 200, "{conv}");
    assert_eq!(conv["tag_ids"], json!([vip]));
    let (_, list) = d.call(Method::GET, &format!("/conversations?tag_id={vip}"), None).await;
    let ids: Vec<_> = list["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, [a.to_string()]);
    let (s, e) =
        d.call(Method::PUT, &format!("/conversations/{b}/tags"), Some(json!({"tag_ids": [Uuid::now_v7()]}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("unknown_reference")));
    let (_, b_now) = d.call(Method::GET, &format!("/conversations/{b}"), None).await;
    assert_eq!(b_now["tag_ids"], json!([]), "a refused change changes nothing");
}

#[tokio::test]
async fn search_finds_message_text_and_unread_follows_what_the_agent_read() {
    let d = desk().await;
    let agent = d.agent("reader@example.com", &[d.number]).await;
    let c = d.customer_writes("+31600000004", "My parcel 77-XY never came").await;
    d.customer_writes("+31600000005", "Something else").await;
    let (_, found) = agent.call(Method::GET, "/conversations?q=parcel%2077-xy", None).await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["id"], c.to_string());
    assert_eq!(items[0]["unread"], true);
    assert_eq!(items[0]["last_message"]["body"], "My parcel 77-XY never came");
    assert_eq!(agent.call(Method::POST, &format!("/conversations/{c}/read"), None).await.0, 204);
    let (_, now) = agent.call(Method::GET, &format!("/conversations/{c}"), None).await;
    assert_eq!(now["unread"], false);
    d.customer_writes("+31600000004", "Hello?").await;
    let (_, again) = agent.call(Method::GET, &format!("/conversations/{c}"), None).await;
    assert_eq!(again["unread"], true, "a new customer message is unread again");
    // Unread is per person: the admin's token reads nothing.
    let (s, _) = d.call(Method::POST, &format!("/conversations/{c}/read"), None).await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn an_agent_starts_a_conversation_once_and_is_pointed_to_the_open_one() {
    let d = desk().await;
    let template = d.template().await;
    let agent = d.agent("starter@example.com", &[d.number]).await;
    let outsider = d.agent("outsider@example.com", &[]).await;
    let body = |to: &str| {
        json!({"number_id": d.number, "to": to, "topic": "Delivery",
            "template": {"id": template, "variables": {"1": "A-1", "2": "Friday"}}})
    };
    let (s, e) = agent.call(Method::POST, "/conversations", Some(body("0612345678"))).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("to")), "{e}");
    let (s, e) = outsider.call(Method::POST, "/conversations", Some(body("+31612345678"))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("number_not_served")));
    let (s, c) = agent.call(Method::POST, "/conversations", Some(body("+31612345678"))).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["assignee_id"], agent.user_id.as_str());
    assert_eq!(c["routing_state"], "assigned");
    assert_eq!(c["topic"], "Delivery");
    let (_, messages) =
        agent.call(Method::GET, &format!("/conversations/{}/messages", c["id"].as_str().unwrap()), None).await;
    assert_eq!(messages["items"][0]["body"], "Your order A-1 has shipped and should arrive by Friday.");
    let (s, e) = agent.call(Method::POST, "/conversations", Some(body("+31612345678"))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conversation_exists")));
    assert_eq!(e["error"]["details"]["conversation_id"], c["id"]);
    assert_eq!(d.app.count("conversations").await, 1);
}

#[tokio::test]
async fn a_conversation_is_started_at_a_priority_level_or_number_but_not_both() {
    let d = desk().await;
    let template = d.template().await;
    let body = |to: &str, priority: Value| {
        let mut b = json!({"number_id": d.number, "to": to, "template": {"id": template, "variables": {"1": "A-1", "2": "Friday"}}});
        b.as_object_mut().unwrap().extend(priority.as_object().unwrap().clone());
        b
    };
    let (s, e) = d
        .call(
            Method::POST,
            "/conversations",
            Some(body("+31612345670", json!({"priority": 5, "priority_level": "low"}))),
        )
        .await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("priority_level")), "{e}");
    assert_eq!(d.app.count("conversations").await, 0, "a refused start stores nothing");
    let (s, c) =
        d.call(Method::POST, "/conversations", Some(body("+31612345671", json!({"priority_level": "urgent"})))).await;
    assert_eq!((s, c["priority"].as_i64(), c["priority_level"].as_str()), (201, Some(300), Some("urgent")), "{c}");
    let (s, c) = d.call(Method::POST, "/conversations", Some(body("+31612345672", json!({})))).await;
    assert_eq!((s, c["priority"].as_i64(), c["priority_level"].as_str()), (201, Some(0), Some("normal")), "{c}");
}

#[tokio::test]
async fn status_moves_between_open_and_pending_but_not_to_resolved() {
    let d = desk().await;
    let c = d.customer_writes("+31600000006", "hi").await;
    let (s, v) = d.call(Method::PATCH, &format!("/conversations/{c}"), Some(json!({"status": "pending"}))).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")));
    let (s, _) = d.call(Method::PATCH, &format!("/conversations/{c}"), Some(json!({"status": "resolved"}))).await;
    assert_eq!(s, 422);
    let (_, events) = d.call(Method::GET, &format!("/conversations/{c}/events"), None).await;
    assert!(events.to_string().contains("status_changed"), "{events}");
}

#[tokio::test]
async fn the_directory_is_for_everyone_and_the_overview_for_supervisors() {
    let d = desk().await;
    let agent = d.agent("dir@example.com", &[d.number]).await;
    let (s, dir) = agent.call(Method::GET, "/directory", None).await;
    assert_eq!(s, 200, "{dir}");
    assert_eq!(dir["numbers"][0]["served"], true);
    assert!(dir["agents"].as_array().unwrap().iter().any(|a| a["email"] == "dir@example.com"));
    assert_eq!(agent.call(Method::GET, "/overview", None).await.0, 403);
    let (_, q) = d.call(Method::POST, "/queues", Some(json!({"name": "Billing"}))).await;
    let c = d.customer_writes("+31600000007", "hi").await;
    let (s, _) =
        d.call(Method::POST, &format!("/conversations/{c}/transfer"), Some(json!({"queue_id": q["id"]}))).await;
    assert_eq!(s, 200);
    let (s, o) = d.call(Method::GET, "/overview", None).await;
    assert_eq!(s, 200, "{o}");
    let billing = o["queues"].as_array().unwrap().iter().find(|x| x["name"] == "Billing").unwrap().clone();
    assert_eq!(billing["waiting"], 1, "{o}");
}

/// An inbox's live connection as the tests read it: one change at a time, whether a frame carries one change or
/// several that happened together.
struct Live {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pending: std::collections::VecDeque<Value>,
}

/// Logs in and opens the live WebSocket with the session's cookie; returns once the server said hello.
async fn live(app: &TestApp, email: &str, password: &str) -> Live {
    let login = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://127.0.0.1:{}/api/v1/live",
        app.port
    ))
    .unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_string().contains("hello"), "{hello}");
    Live { ws, pending: Default::default() }
}

/// The next live event that names a change, or `None` after `wait`.
async fn next_change(live: &mut Live, wait: Duration) -> Option<Value> {
    if let Some(change) = live.pending.pop_front() {
        return Some(change);
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, live.ws.next()).await.ok()??.ok()?;
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            match v["type"].as_str() {
                Some("change") => return Some(v),
                Some("changes") => {
                    let changes = v["changes"].as_array().unwrap();
                    assert!(changes.len() > 1, "a frame of several changes has several: {v}");
                    assert!(changes.iter().all(|c| c["type"] == "change"), "{v}");
                    live.pending.extend(changes.iter().cloned());
                    return live.pending.pop_front();
                }
                _ => {}
            }
        }
    }
}

/// A customer's conversation on the desk's number and the live connection of an agent of that number, with what
/// the connection had to say so far (the conversation's own changes) read.
async fn watched_conversation(d: &Desk, phone: &str, agent: &str) -> (Uuid, Live) {
    let c = d.customer_writes(phone, "hi").await;
    d.agent(agent, &[d.number]).await;
    let mut ws = live(&d.app, agent, "the agent's own password 99").await;
    while next_change(&mut ws, Duration::from_millis(300)).await.is_some() {}
    (c, ws)
}

#[tokio::test]
async fn the_live_feed_tells_an_agent_about_their_numbers_conversations_and_nothing_else() {
    let d = desk().await;
    // A second number on the same channel, which the agent does not serve.
    let (s, other) =
        d.call(Method::POST, &format!("/channels/{}/numbers", d.channel), Some(json!({"e164": "+14155550199"}))).await;
    assert_eq!(s, 201, "{other}");
    let agent = d.agent("live@example.com", &[d.number]).await;
    let (_, me) = agent.call(Method::GET, "/auth/me", None).await;
    assert!(me["csrf_token"].is_string());
    let mut ws = live(&d.app, "live@example.com", "the agent's own password 99").await;

    // A customer on the other number: nothing for this agent.
    let mut p = inbound_text(&new_sid("SM"), "not yours");
    set(&mut p, "To", "whatsapp:+14155550199");
    assert_eq!(d.app.post_signed(&d.app.messages_url(d.channel), &p).await.status(), 200);
    assert_eq!(next_change(&mut ws, Duration::from_millis(800)).await, None);

    // A customer on the agent's number: the conversation and the message are announced.
    let c = d.customer_writes("+31600000008", "yours").await;
    let mut kinds = Vec::new();
    while let Some(e) = next_change(&mut ws, Duration::from_secs(3)).await {
        assert_eq!(e["conversation_id"], c.to_string());
        kinds.push(e["kind"].as_str().unwrap().to_owned());
        if kinds.contains(&"message".to_owned()) && kinds.contains(&"conversation".to_owned()) {
            break;
        }
    }
    assert!(kinds.contains(&"message".to_owned()) && kinds.contains(&"conversation".to_owned()), "{kinds:?}");
    // A note too.
    d.call(Method::POST, &format!("/conversations/{c}/notes"), Some(json!({"body": "psst"}))).await;
    // (The router may still be announcing its placement of the conversation before the note.)
    loop {
        let e = next_change(&mut ws, Duration::from_secs(3)).await.expect("the note is announced");
        if e["kind"] == "note" {
            break;
        }
        assert_eq!(e["kind"], "conversation", "{e}");
    }
}

#[tokio::test]
async fn a_connection_that_falls_behind_is_told_to_resync_instead_of_being_buffered_for() {
    let d = desk().await;
    let (c, mut ws) = watched_conversation(&d, "+31600000010", "behind@example.com").await;
    // More changes in one transaction than the feed holds for its connections (64 batches of 256): they reach
    // the process at once, and the connection cannot take them all before the oldest are dropped.
    let burst: i32 = 20_000;
    sqlx::query(
        "INSERT INTO live_events (payload)
         SELECT json_build_object('kind', 'note', 'c', $1::uuid, 'id', gen_random_uuid(), 'n', $2::uuid)::text
         FROM generate_series(1, $3)",
    )
    .bind(c)
    .bind(d.number)
    .bind(burst)
    .execute(&d.app.pool)
    .await
    .unwrap();
    // The connection is told to reload (not sent everything it fell behind on).
    let mut changes = 0;
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(10), ws.ws.next()).await.expect("a resync").unwrap().unwrap();
        let tokio_tungstenite::tungstenite::Message::Text(t) = frame else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("change") => changes += 1,
            Some("changes") => changes += v["changes"].as_array().unwrap().len() as i32,
            Some("resync") => break,
            other => panic!("unexpected frame {other:?}: {v}"),
        }
    }
    assert!(changes < burst, "what it missed is not queued for it ({changes} changes before the resync)");
    // After the resync the feed goes on: a new change arrives.
    let (s, note) = d.call(Method::POST, &format!("/conversations/{c}/notes"), Some(json!({"body": "after"}))).await;
    assert_eq!(s, 201, "{note}");
    loop {
        let e = next_change(&mut ws, Duration::from_secs(10)).await.expect("changes after the resync are passed on");
        if e["id"] == note["id"] {
            break;
        }
    }
}

#[tokio::test]
async fn a_change_committed_late_is_passed_on_when_it_commits_and_holds_back_nothing_committed_meanwhile() {
    let d = desk().await;
    let (c, mut ws) = watched_conversation(&d, "+31600000009", "watcher@example.com").await;
    // Transaction A writes a note and stays open; transaction B writes one and commits.
    let mut a = d.app.pool.begin().await.unwrap();
    let early =
        switchboard::store::notes::insert(&mut a, c, None, "test", "written first, committed last").await.unwrap();
    let mut b = d.app.pool.begin().await.unwrap();
    let late = switchboard::store::notes::insert(&mut b, c, None, "test", "written second").await.unwrap();
    b.commit().await.unwrap();
    // B is passed on at once: A, still running, holds back its own change only.
    let first = next_change(&mut ws, Duration::from_secs(10)).await.expect("B's note, while A still runs");
    assert_eq!(first["id"], late.id.to_string());
    assert_eq!(
        next_change(&mut ws, Duration::from_millis(500)).await,
        None,
        "A's note is not visible before A commits"
    );
    a.commit().await.unwrap();
    // A committed after the reader had moved past B: its note is passed on all the same.
    let second = next_change(&mut ws, Duration::from_secs(10)).await.expect("A's note, committed late, not skipped");
    assert_eq!(second["id"], early.id.to_string());
    assert_eq!(next_change(&mut ws, Duration::from_millis(300)).await, None, "each change once");
}

#[tokio::test]
async fn the_live_feed_refuses_other_sites_and_closes_when_the_session_ends() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (status, v) = app
        .api(&admin, Method::POST, "/agents", Some(json!({"email": "eve@example.com", "name": "Eve", "role": "agent", "password": "one-time password 123"})))
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    app.session("eve@example.com", &["one-time password 123"], "eve's own password 1", &id).await;

    // A page on another site, riding the agent's cookie, is refused.
    let login = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": "eve@example.com", "password": "eve's own password 1"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let url = format!("ws://127.0.0.1:{}/api/v1/live", app.port);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a foreign origin must be refused: {:?}", other.map(|(_, r)| r.status())),
    }
    // From our own origin it opens.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    request.headers_mut().insert("origin", app.address.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("our own origin");
    assert!(ws.next().await.unwrap().unwrap().to_string().contains("hello"));

    // Deactivated: the session ends, and the socket with it, within seconds.
    assert_eq!(app.api(&admin, Method::DELETE, &format!("/agents/{id}"), None).await.0, 204);
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the live connection outlived its session");
    app.stop().await;
}
