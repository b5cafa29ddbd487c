//! Routing through the running server: rules, the AI agent, queues with least-loaded and round-robin selection,
//! waiting and overflow, business hours, presence, manual actions and the timeline.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const PASSWORD: &str = "an agent's password 0123";

struct Center {
    app: TestApp,
    admin: String,
    channel: Uuid,
    number: Uuid,
}

async fn center() -> Center {
    let app = spawn_app_with(|env| {
        env.push(("SWITCHBOARD__ROUTING__POLL_MS".into(), "100".into()));
        env.push(("SWITCHBOARD__ROUTING__PRESENCE_GRACE_SECS".into(), "1".into()));
        // These tests hand over by hand: the AI agent waits for a quiet customer longer than any test takes.
        env.push(("SWITCHBOARD__AI__DEBOUNCE_MS".into(), "60000".into()));
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    Center { app, admin, channel, number }
}

impl Center {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(&self.admin, method, path, body).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.call(Method::POST, path, Some(body)).await;
        assert!(status == 201 || status == 200, "POST {path}: {status} {v}");
        v
    }

    async fn agent(&self, email: &str, capacity: i32, extra: Value) -> Uuid {
        let mut body =
            json!({"email": email, "name": email, "role": "agent", "password": PASSWORD, "capacity": capacity});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        id(&self.post("/agents", body).await)
    }

    async fn queue(&self, name: &str, members: &[Uuid], extra: Value) -> Uuid {
        let mut body = json!({"name": name, "member_ids": members});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        id(&self.post("/queues", body).await)
    }

    /// A built-in AI agent with no knowledge.
    async fn ai_agent(&self) -> Uuid {
        id(&self.post("/ai-agents", json!({"name": "Bot", "kind": "builtin"})).await)
    }

    async fn number_settings(&self, body: Value) {
        let path = format!("/channels/{}/numbers/{}", self.channel, self.number);
        let (status, v) = self.call(Method::PATCH, &path, Some(body)).await;
        assert_eq!(status, 200, "{v}");
    }

    async fn presence(&self, agent: Uuid, presence: &str) {
        let (status, v) =
            self.call(Method::PUT, &format!("/agents/{agent}/presence"), Some(json!({"presence": presence}))).await;
        assert_eq!(status, 200, "{v}");
    }

    /// A customer writes `text` from `phone`; returns the conversation once the router has placed it.
    async fn customer_writes(&self, phone: &str, text: &str) -> Value {
        let mut p = inbound_text(&new_sid("SM"), text);
        set(&mut p, "From", &format!("whatsapp:{phone}"));
        set(&mut p, "WaId", &phone[1..]);
        let r = self.app.post_signed(&self.app.messages_url(self.channel), &p).await;
        assert_eq!(r.status(), 200);
        let id: Uuid = sqlx::query_scalar(
            "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE k.phone_e164 = $1 AND c.status <> 'resolved'",
        )
        .bind(phone)
        .fetch_one(&self.app.pool)
        .await
        .unwrap();
        self.placed(id).await
    }

    /// The conversation once it is no longer waiting for a routing decision.
    async fn placed(&self, id: Uuid) -> Value {
        eventually(10, "the router to place the conversation", || async {
            let (_, c) = self.call(Method::GET, &format!("/conversations/{id}"), None).await;
            (c["routing_state"] != "unrouted").then_some(c)
        })
        .await
    }

    async fn conversation(&self, id: &str) -> Value {
        self.call(Method::GET, &format!("/conversations/{id}"), None).await.1
    }

    async fn until(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        eventually(10, what, || async {
            let c = self.conversation(id).await;
            check(&c).then_some(c)
        })
        .await
    }

    async fn load_of(&self, agent: Uuid) -> i64 {
        let (_, a) = self.call(Method::GET, &format!("/agents/{agent}"), None).await;
        a["load"].as_i64().unwrap()
    }

    async fn events(&self, conversation: &str) -> Vec<Value> {
        let (status, v) = self.call(Method::GET, &format!("/conversations/{conversation}/events"), None).await;
        assert_eq!(status, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    async fn log_in(&self, email: &str, agent: Uuid) -> Session {
        self.app.session(email, &[PASSWORD], "the agent's own password 0123", agent).await
    }
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).parse().unwrap()
}

fn s(v: Uuid) -> String {
    v.to_string()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn rules_decide_first_then_the_default_queue_and_an_online_agent_takes_the_conversation() {
    let c = center().await;
    let (billing_agent, general_agent) =
        (c.agent("bill@example.com", 5, json!({})).await, c.agent("gen@example.com", 5, json!({})).await);
    let billing = c.queue("Billing", &[billing_agent], json!({})).await;
    let general = c.queue("General", &[general_agent], json!({})).await;
    c.number_settings(json!({"default_queue_id": general})).await;
    c.post(
        "/routing/rules",
        json!({
            "name": "Refunds", "conditions": [{"type": "text_contains", "value": "REFUND"}],
            "target": {"type": "queue", "queue_id": billing}
        }),
    )
    .await;
    c.presence(billing_agent, "online").await;
    c.presence(general_agent, "online").await;

    let refund = c.customer_writes("+31611111111", "Hello, I want a refund please").await;
    assert_eq!(refund["routing_state"], "assigned", "{refund}");
    assert_eq!(refund["assignee_id"], s(billing_agent));
    assert_eq!(refund["queue_id"], s(billing));
    assert_eq!(refund["status"], "open");
    let other = c.customer_writes("+31622222222", "Where is my parcel?").await;
    assert_eq!(other["assignee_id"], s(general_agent), "no rule matched: the number's default queue");

    let events = c.events(refund["id"].as_str().unwrap()).await;
    assert_eq!(kinds(&events), ["routed", "assigned"]);
    assert_eq!(events[0]["data"]["via"], "rule");
    assert_eq!(events[0]["data"]["rule_name"], "Refunds");
    assert_eq!(events[0]["actor_type"], "system");
    assert_eq!(events[1]["data"]["agent_id"], s(billing_agent));
    // A second message joins the conversation and changes nothing about its owner.
    let again = c.customer_writes("+31611111111", "any news?").await;
    assert_eq!(again["id"], refund["id"]);
    assert_eq!(again["assignee_id"], s(billing_agent));
    assert_eq!(c.load_of(billing_agent).await, 1);
    c.app.stop().await;
}

#[tokio::test]
async fn least_loaded_respects_capacity_and_a_waiting_conversation_takes_the_capacity_a_resolve_frees() {
    let c = center().await;
    let a = c.agent("a@example.com", 2, json!({})).await;
    let b = c.agent("b@example.com", 1, json!({})).await;
    let q = c.queue("Support", &[a, b], json!({"strategy": "least_loaded"})).await;
    c.number_settings(json!({"default_queue_id": q})).await;
    c.presence(a, "online").await;
    c.presence(b, "online").await;

    let mut held = Vec::new();
    for i in 0..3 {
        held.push(c.customer_writes(&format!("+3161000000{i}"), "hi").await);
    }
    let owners: Vec<_> = held.iter().map(|v| v["assignee_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(owners.iter().filter(|o| **o == s(a)).count(), 2, "{owners:?}");
    assert_eq!(owners.iter().filter(|o| **o == s(b)).count(), 1, "{owners:?}");
    // Everyone is full: the fourth waits in the queue.
    let waiting = c.customer_writes("+31610000009", "hello?").await;
    assert_eq!(waiting["routing_state"], "waiting", "{waiting}");
    assert_eq!(waiting["queue_id"], s(q));
    assert!(waiting["queued_at"].is_string());
    assert_eq!((c.load_of(a).await, c.load_of(b).await), (2, 1));

    // Resolving one of b's conversations frees b: the waiting one goes to b at once.
    let of_b = held.iter().find(|v| v["assignee_id"] == s(b)).unwrap();
    let (status, resolved) =
        c.call(Method::POST, &format!("/conversations/{}/resolve", of_b["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    let served = c
        .until(waiting["id"].as_str().unwrap(), "the waiting conversation to be assigned", |v| {
            v["routing_state"] == "assigned"
        })
        .await;
    assert_eq!(served["assignee_id"], s(b));
    assert_eq!((c.load_of(a).await, c.load_of(b).await), (2, 1));
    c.app.stop().await;
}

#[tokio::test]
async fn round_robin_rotates_strictly_over_eligible_members() {
    let c = center().await;
    let agents = [
        c.agent("r1@example.com", 10, json!({})).await,
        c.agent("r2@example.com", 10, json!({})).await,
        c.agent("r3@example.com", 10, json!({})).await,
    ];
    let q = c.queue("Sales", &agents, json!({"strategy": "round_robin"})).await;
    c.number_settings(json!({"default_queue_id": q})).await;
    for a in agents {
        c.presence(a, "online").await;
    }
    let mut order = Vec::new();
    for i in 0..6 {
        let v = c.customer_writes(&format!("+3162000000{i}"), "hi").await;
        order.push(v["assignee_id"].as_str().unwrap().to_owned());
    }
    // Each cycle of three gives each agent one, in the same rotation.
    assert_eq!(order[0..3], order[3..6], "{order:?}");
    let mut first: Vec<_> = order[0..3].to_vec();
    first.sort();
    first.dedup();
    assert_eq!(first.len(), 3, "{order:?}");
    // An agent going away leaves the rotation; the others keep turns.
    c.presence(agents[0], "away").await;
    for i in 6..8 {
        let v = c.customer_writes(&format!("+3162000000{i}"), "hi").await;
        assert_ne!(v["assignee_id"], s(agents[0]));
    }
    c.app.stop().await;
}

#[tokio::test]
async fn waiting_conversations_are_served_by_priority_then_age_when_agents_come_online_or_capacity_rises() {
    let c = center().await;
    let a = c.agent("w@example.com", 1, json!({"skills": ["billing"], "languages": ["nl"]})).await;
    let unskilled = c.agent("u@example.com", 5, json!({})).await;
    let q = c.queue("Billing", &[a, unskilled], json!({"required_skills": ["billing"], "match_language": true})).await;
    c.number_settings(json!({"default_queue_id": q, "language": "nl"})).await;
    c.presence(unskilled, "online").await;
    let first = c.customer_writes("+31630000001", "one").await;
    let second = c.customer_writes("+31630000002", "two").await;
    let third = c.customer_writes("+31630000003", "three").await;
    for v in [&first, &second, &third] {
        assert_eq!(v["routing_state"], "waiting", "the online agent lacks the skill: {v}");
    }
    let (status, v) = c
        .call(
            Method::PATCH,
            &format!("/conversations/{}", third["id"].as_str().unwrap()),
            Some(json!({"priority": 10})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    c.presence(a, "online").await;
    let served = c
        .until(third["id"].as_str().unwrap(), "the urgent one to be served first", |v| v["routing_state"] == "assigned")
        .await;
    assert_eq!(served["assignee_id"], s(a));
    assert_eq!(c.conversation(first["id"].as_str().unwrap()).await["routing_state"], "waiting");
    // A raised capacity lets the oldest through next.
    let (status, v) = c.call(Method::PATCH, &format!("/agents/{a}"), Some(json!({"capacity": 2}))).await;
    assert_eq!(status, 200, "{v}");
    c.until(first["id"].as_str().unwrap(), "the oldest to be served", |v| v["assignee_id"] == s(a)).await;
    assert_eq!(c.conversation(second["id"].as_str().unwrap()).await["routing_state"], "waiting");
    // The customer speaks English (contact language): the Dutch-speaking agent is not eligible for them.
    let english = c.customer_writes("+31630000004", "hello").await;
    let contact = english["contact"]["id"].as_str().unwrap();
    let (status, v) = c.call(Method::PATCH, &format!("/contacts/{contact}"), Some(json!({"language": "en"}))).await;
    assert_eq!(status, 200, "{v}");
    c.call(Method::PATCH, &format!("/agents/{a}"), Some(json!({"capacity": 10}))).await;
    c.until(second["id"].as_str().unwrap(), "the Dutch one to be served", |v| v["assignee_id"] == s(a)).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(c.conversation(english["id"].as_str().unwrap()).await["routing_state"], "waiting");
    c.app.stop().await;
}

#[tokio::test]
async fn a_conversation_waiting_past_the_queues_timeout_overflows() {
    let c = center().await;
    let backup_agent = c.agent("backup@example.com", 5, json!({})).await;
    let backup = c.queue("Backup", &[backup_agent], json!({})).await;
    let first_line = c.queue("First line", &[], json!({"overflow_after_secs": 60, "overflow_queue_id": backup})).await;
    c.number_settings(json!({"default_queue_id": first_line})).await;
    c.presence(backup_agent, "online").await;
    let v = c.customer_writes("+31640000001", "anyone?").await;
    assert_eq!(v["routing_state"], "waiting");
    assert_eq!(v["queue_id"], s(first_line));
    // A minute passes (moved in the database rather than waited for).
    sqlx::query("UPDATE conversations SET queued_at = now() - interval '61 seconds' WHERE id = $1")
        .bind(id(&v))
        .execute(&c.app.pool)
        .await
        .unwrap();
    let moved = c.until(v["id"].as_str().unwrap(), "the overflow", |v| v["routing_state"] == "assigned").await;
    assert_eq!(moved["queue_id"], s(backup));
    assert_eq!(moved["assignee_id"], s(backup_agent));
    let events = c.events(v["id"].as_str().unwrap()).await;
    assert_eq!(kinds(&events), ["routed", "queued", "overflowed", "assigned"]);
    assert_eq!(events[2]["data"]["from_queue_id"], s(first_line));
    c.app.stop().await;
}

#[tokio::test]
async fn out_of_hours_a_queue_routes_on_or_keeps_conversations_waiting() {
    let c = center().await;
    let agent = c.agent("night@example.com", 5, json!({})).await;
    // A schedule with no open day at all: always closed.
    let closed =
        id(&c.post("/business-hours", json!({"name": "Never", "time_zone": "Europe/Amsterdam", "weekly": {}})).await);
    let night = c.queue("Night", &[agent], json!({})).await;
    let day = c
        .queue(
            "Day",
            &[agent],
            json!({"business_hours_id": closed, "outside_hours": "route", "outside_hours_queue_id": night}),
        )
        .await;
    let waits = c.queue("Waits", &[agent], json!({"business_hours_id": closed})).await;
    c.presence(agent, "online").await;
    c.number_settings(json!({"default_queue_id": day})).await;
    let routed = c.customer_writes("+31650000001", "late question").await;
    assert_eq!(routed["queue_id"], s(night), "{routed}");
    assert_eq!(routed["assignee_id"], s(agent));
    assert!(kinds(&c.events(routed["id"].as_str().unwrap()).await).contains(&"outside_hours"));

    c.number_settings(json!({"default_queue_id": waits})).await;
    let waiting = c.customer_writes("+31650000002", "late question").await;
    assert_eq!(waiting["routing_state"], "waiting", "closed with `wait`: the online member is not offered it");
    assert_eq!(waiting["queue_id"], s(waits));
    // A rule can look at business hours too.
    let (_, explained) =
        c.call(Method::POST, "/routing/explain", Some(json!({"number_id": c.number, "text": "x"}))).await;
    assert_eq!(explained["decision"]["via"], "default_queue");
    c.app.stop().await;
}

#[tokio::test]
async fn the_ai_agent_owns_a_conversation_until_it_hands_over_to_humans() {
    let c = center().await;
    let human = c.agent("human@example.com", 5, json!({})).await;
    let q = c.queue("Humans", &[human], json!({})).await;
    let ai = c.ai_agent().await;
    c.number_settings(json!({"default_queue_id": q, "ai_agent_id": ai})).await;
    c.presence(human, "online").await;
    c.post("/routing/rules", json!({"name": "Bot first", "conditions": [{"type": "customer", "value": "new"}], "target": {"type": "ai_agent", "ai_agent_id": ai}})).await;

    let v = c.customer_writes("+31660000001", "hi bot").await;
    assert_eq!(v["routing_state"], "ai", "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["assignee_id"], Value::Null);
    let conversation = v["id"].as_str().unwrap().to_owned();
    // Nobody takes it from the AI agent by claiming.
    let (status, err) = c.call(Method::POST, &format!("/conversations/{conversation}/claim"), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("not_an_agent")), "a token is nobody's agent");
    let sup = c.app.api_token("supervisor").await;
    let (status, err) = c
        .app
        .api(&sup, Method::POST, &format!("/conversations/{conversation}/assign"), Some(json!({"agent_id": human})))
        .await;
    assert_eq!(status, 200, "a supervisor may take it from the AI agent: {err}");
    c.call(Method::POST, &format!("/conversations/{conversation}/resolve"), None).await;

    // A second customer; the AI agent hands over (as itself: a supervisor token) without naming a target:
    // the rules again, minus the AI agent's, then the default queue.
    let v = c.customer_writes("+31660000002", "hi bot").await;
    assert_eq!(v["routing_state"], "ai");
    let conversation = v["id"].as_str().unwrap().to_owned();
    let agent_token = c.app.api_token("agent").await;
    let (status, _) =
        c.app.api(&agent_token, Method::POST, &format!("/conversations/{conversation}/handover"), None).await;
    assert_eq!(status, 404, "an agent-role token sees no conversation");
    let (status, after) = c
        .app
        .api(
            &sup,
            Method::POST,
            &format!("/conversations/{conversation}/handover"),
            Some(json!({"note": "asked for a person"})),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["routing_state"], "assigned");
    assert_eq!(after["assignee_id"], s(human));
    assert_eq!(after["status"], "open");
    let (status, err) = c.app.api(&sup, Method::POST, &format!("/conversations/{conversation}/handover"), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("not_with_ai_agent")));
    let events = c.events(&conversation).await;
    assert_eq!(kinds(&events), ["routed", "ai_agent", "handed_over", "routed", "assigned"]);
    assert_eq!(events[2]["data"]["note"], "asked for a person");
    assert_eq!(events[2]["data"]["reason"], "taken_over");
    assert_eq!(events[2]["actor_type"], "token");
    assert_eq!(events[3]["data"]["via"], "default_queue", "the AI rule no longer applies: {}", events[3]);
    c.app.stop().await;
}

#[tokio::test]
async fn agents_claim_transfer_and_unassign_and_supervisors_assign_within_capacity() {
    let c = center().await;
    let ana = c.agent("ana@example.com", 1, json!({})).await;
    let bo = c.agent("bo@example.com", 1, json!({})).await;
    let cy = c.agent("cy@example.com", 3, json!({})).await;
    let front = c.queue("Front", &[ana], json!({})).await;
    let back = c.queue("Back", &[cy], json!({})).await;
    c.number_settings(json!({"default_queue_id": front})).await;
    let one = c.customer_writes("+31670000001", "one").await;
    let two = c.customer_writes("+31670000002", "two").await;
    assert_eq!(one["routing_state"], "waiting", "nobody online");
    let (one, two) = (one["id"].as_str().unwrap().to_owned(), two["id"].as_str().unwrap().to_owned());

    let ana_s = c.log_in("ana@example.com", ana).await;
    let bo_s = c.log_in("bo@example.com", bo).await;
    let (status, mine) = ana_s.call(Method::POST, &format!("/conversations/{one}/claim"), None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["assignee_id"], s(ana));
    // Ana is full (capacity 1): claiming another is refused.
    let (status, err) = ana_s.call(Method::POST, &format!("/conversations/{two}/claim"), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("agent_at_capacity")), "{err}");
    // Bo is not in the queue and does not see its conversations.
    let (status, _) = bo_s.call(Method::POST, &format!("/conversations/{two}/claim"), None).await;
    assert_eq!(status, 404);
    let (_, list) = bo_s.call(Method::GET, "/conversations?routing_state=waiting", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (_, list) = ana_s.call(Method::GET, "/conversations?assignee=me", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // A supervisor assigns to Bo; assigning a second one to Bo is over his capacity.
    let (status, v) =
        c.call(Method::POST, &format!("/conversations/{two}/assign"), Some(json!({"agent_id": bo}))).await;
    assert_eq!(status, 200, "{v}");
    let (status, err) =
        c.call(Method::POST, &format!("/conversations/{one}/assign"), Some(json!({"agent_id": bo}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("agent_at_capacity")));
    // Ana passes hers on to the Back queue: Cy is offline, so it waits there; Bo may not transfer Ana's.
    let (status, _) =
        bo_s.call(Method::POST, &format!("/conversations/{one}/transfer"), Some(json!({"queue_id": back}))).await;
    assert_eq!(status, 404, "not his to see");
    let (status, v) =
        ana_s.call(Method::POST, &format!("/conversations/{one}/transfer"), Some(json!({"queue_id": back}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["routing_state"].as_str(), v["queue_id"].as_str()), (Some("waiting"), Some(s(back).as_str())));
    assert_eq!(c.load_of(ana).await, 0);
    c.presence(cy, "online").await;
    c.until(&one, "Cy to get it", |v| v["assignee_id"] == s(cy)).await;
    // Bo lets his go: back to the Front queue, where Ana (free again, but offline) can claim it.
    let bo_s2 = bo_s;
    let (status, v) = bo_s2.call(Method::POST, &format!("/conversations/{two}/unassign"), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["routing_state"], "waiting");
    assert_eq!(v["queue_id"], s(front));
    let (status, err) = bo_s2.call(Method::POST, &format!("/conversations/{two}/unassign"), None).await;
    assert_eq!(status, 404, "no longer his to see: {err}");
    // Transfer straight to an agent.
    let (status, v) =
        c.call(Method::POST, &format!("/conversations/{two}/transfer"), Some(json!({"agent_id": cy}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["assignee_id"], s(cy));
    let (status, err) = c
        .call(Method::POST, &format!("/conversations/{two}/transfer"), Some(json!({"agent_id": cy, "queue_id": back})))
        .await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_body")));

    let events = c.events(&one).await;
    assert_eq!(kinds(&events), ["routed", "queued", "claimed", "transferred", "queued", "assigned"]);
    assert_eq!(events[2]["actor_type"], "user");
    assert_eq!(events[2]["actor_label"], "ana@example.com");
    assert_eq!(events[3]["data"]["from_agent_id"], s(ana));
    let events = c.events(&two).await;
    assert_eq!(kinds(&events), ["routed", "queued", "assigned", "unassigned", "queued", "transferred", "assigned"]);
    assert_eq!(events[3]["actor_label"], "bo@example.com");

    // Resolve and reopen: back to its agent while they have room.
    c.call(Method::POST, &format!("/conversations/{two}/resolve"), None).await;
    assert_eq!(c.load_of(cy).await, 1);
    let (status, v) = c.call(Method::POST, &format!("/conversations/{two}/reopen"), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["status"].as_str(), v["assignee_id"].as_str()), (Some("open"), Some(s(cy).as_str())));
    assert_eq!(c.load_of(cy).await, 2);
    c.app.stop().await;
}

#[tokio::test]
async fn a_rule_to_a_named_agent_waits_for_them_and_a_returning_customer_gets_their_last_agent() {
    let c = center().await;
    let vip_agent = c.agent("vip@example.com", 5, json!({})).await;
    let (a, b) = (c.agent("pa@example.com", 5, json!({})).await, c.agent("pb@example.com", 5, json!({})).await);
    let q = c.queue("Support", &[a, b], json!({"prefer_last_agent": true})).await;
    c.number_settings(json!({"default_queue_id": q})).await;
    c.post("/routing/rules", json!({"name": "VIPs", "conditions": [{"type": "contact_tag", "tag": "vip"}], "target": {"type": "agent", "agent_id": vip_agent}})).await;

    // First conversation of this customer: untagged, to the queue.
    c.presence(a, "online").await;
    let first = c.customer_writes("+31680000001", "hello").await;
    assert_eq!(first["assignee_id"], s(a));
    let contact = first["contact"]["id"].as_str().unwrap().to_owned();
    c.call(Method::POST, &format!("/conversations/{}/resolve", first["id"].as_str().unwrap()), None).await;
    // a is busier than b now, but the returning customer goes back to a.
    c.presence(b, "online").await;
    c.customer_writes("+31680000099", "someone else").await;
    c.customer_writes("+31680000098", "someone else").await;
    let again = c.customer_writes("+31680000001", "me again").await;
    assert_eq!(again["assignee_id"], s(a), "the last agent first: {again}");
    c.call(Method::POST, &format!("/conversations/{}/resolve", again["id"].as_str().unwrap()), None).await;

    // Tagged VIP: the rule names an agent who is offline; the conversation waits for them.
    let (status, v) = c
        .call(
            Method::PATCH,
            &format!("/contacts/{contact}"),
            Some(json!({"tags": ["VIP"], "attributes": {"tier": "gold"}})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tags"], json!(["VIP"]));
    let vip = c.customer_writes("+31680000001", "VIP here").await;
    assert_eq!(vip["routing_state"], "waiting", "{vip}");
    assert_eq!(vip["waiting_agent_id"], s(vip_agent));
    c.presence(vip_agent, "online").await;
    c.until(vip["id"].as_str().unwrap(), "the VIP agent to take it", |v| v["assignee_id"] == s(vip_agent)).await;
    c.app.stop().await;
}

#[tokio::test]
async fn rules_are_kept_in_order_checked_and_explained() {
    let c = center().await;
    let ai = c.ai_agent().await;
    let agent = c.agent("x@example.com", 5, json!({})).await;
    let q1 = c.queue("Q1", &[agent], json!({})).await;
    let q2 = c.queue("Q2", &[agent], json!({})).await;
    let hours = id(&c.post("/business-hours", json!({"name": "Office", "time_zone": "Europe/Amsterdam", "weekly": {"monday": [{"open": "09:00", "close": "17:00"}]}})).await);
    let _catch_all =
        c.post("/routing/rules", json!({"name": "Catch-all", "target": {"type": "queue", "queue_id": q2}})).await;
    let orders = c.post("/routing/rules", json!({
        "name": "Orders", "channel_id": c.channel,
        "conditions": [{"type": "text_matches", "pattern": "^order\\s+#?\\d+"}, {"type": "business_hours", "business_hours_id": hours, "open": true}],
        "target": {"type": "queue", "queue_id": q1}
    }))
    .await;
    let buttons = c.post("/routing/rules", json!({
        "name": "Sales button", "channel_id": c.channel, "position": 1,
        "conditions": [{"type": "button_payload", "values": ["SALES"]}, {"type": "contact_attribute", "key": "tier", "equals": "gold"}],
        "target": {"type": "ai_agent", "ai_agent_id": ai}
    }))
    .await;
    assert_eq!(buttons["position"], 1);
    let (_, all) = c.call(Method::GET, "/routing/rules", None).await;
    let names: Vec<_> = all.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Sales button", "Orders", "Catch-all"], "the channel's rules first, then the global ones");

    // Monday 2026-03-02 10:00 in Amsterdam: open.
    let monday_open = "2026-03-02T09:00:00Z";
    let (status, e) = c
        .call(
            Method::POST,
            "/routing/explain",
            Some(json!({"number_id": c.number, "text": "Order #1234 is late", "at": monday_open})),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["decision"]["via"], "rule");
    assert_eq!(e["decision"]["rule_name"], "Orders");
    assert_eq!(e["decision"]["target"]["queue_id"], s(q1));
    assert_eq!(e["rules"][0]["matched"], false);
    assert_eq!(e["rules"][0]["conditions"][0]["reason"], "the first message is not a button reply");
    assert_eq!(e["rules"][1]["decided"], true);
    assert_eq!(e["rules"][2]["note"], "an earlier rule decided");
    // Closed at night: the orders rule fails on its business-hours condition, the catch-all decides.
    let (_, e) = c
        .call(
            Method::POST,
            "/routing/explain",
            Some(json!({"number_id": c.number, "text": "order 5", "at": "2026-03-02T20:00:00Z"})),
        )
        .await;
    assert_eq!(e["decision"]["rule_name"], "Catch-all");
    assert_eq!(e["rules"][1]["conditions"][1]["held"], false);
    assert_eq!(e["rules"][1]["conditions"][1]["reason"], "the schedule is closed now");
    // The button rule with the contact's attributes.
    let (_, e) = c
        .call(
            Method::POST,
            "/routing/explain",
            Some(json!({"number_id": c.number, "button_payload": "SALES", "attributes": {"tier": "Gold"}})),
        )
        .await;
    assert_eq!(e["decision"]["via"], "rule");
    assert_eq!(e["decision"]["target"]["type"], "ai_agent");
    let (_, e) = c.call(Method::POST, "/routing/explain", Some(json!({"number_id": c.number, "button_payload": "SALES", "attributes": {"tier": "Gold"}, "after_handover": true}))).await;
    assert_eq!(e["decision"]["rule_name"], "Catch-all", "after a hand-over the AI agent's rules do not apply");

    // Reorder the channel's rules; a wrong list is refused.
    let (status, err) = c
        .call(Method::POST, "/routing/rules/reorder", Some(json!({"channel_id": c.channel, "rule_ids": [id(&orders)]})))
        .await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("rule_ids_mismatch")));
    let (status, v) = c
        .call(
            Method::POST,
            "/routing/rules/reorder",
            Some(json!({"channel_id": c.channel, "rule_ids": [id(&orders), id(&buttons)]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[0]["name"], "Orders");
    assert_eq!(v[1]["position"], 2);

    // Bad rules name the field at fault; nothing is stored.
    for (body, field, code) in [
        (
            json!({"name": "r", "conditions": [{"type": "text_matches", "pattern": "(unclosed"}], "target": {"type": "ai_agent", "ai_agent_id": ai}}),
            "conditions[0].pattern",
            "invalid_condition",
        ),
        (
            json!({"name": "r", "conditions": [{"type": "number", "number_ids": [Uuid::new_v4()]}], "target": {"type": "ai_agent", "ai_agent_id": ai}}),
            "conditions[0].number_ids",
            "unknown_reference",
        ),
        (
            json!({"name": "r", "target": {"type": "queue", "queue_id": Uuid::new_v4()}}),
            "target.queue_id",
            "unknown_reference",
        ),
        (
            json!({"name": "r", "target": {"type": "agent", "agent_id": Uuid::new_v4()}}),
            "target.agent_id",
            "unknown_reference",
        ),
        (json!({"name": "", "target": {"type": "ai_agent", "ai_agent_id": ai}}), "name", "invalid_field"),
        (
            json!({"name": "r", "target": {"type": "ai_agent", "ai_agent_id": Uuid::new_v4()}}),
            "target.ai_agent_id",
            "unknown_reference",
        ),
    ] {
        let (status, err) = c.call(Method::POST, "/routing/rules", Some(body)).await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["error"]["code"], code, "{err}");
        assert_eq!(err["error"]["details"]["field"], field, "{err}");
    }
    let (status, err) = c
        .call(
            Method::POST,
            "/routing/rules",
            Some(json!({"name": "r", "conditions": [{"type": "nonsense"}], "target": {"type": "ai_agent", "ai_agent_id": ai}})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(c.app.count("routing_rules").await, 3);

    // A queue a rule sends conversations to cannot be deleted.
    let (status, err) = c.call(Method::DELETE, &format!("/queues/{q2}"), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("queue_in_use")), "{err}");
    // Delete closes the gap; agents may not change or read rules.
    let (status, _) = c.call(Method::DELETE, &format!("/routing/rules/{}", id(&orders)), None).await;
    assert_eq!(status, 204);
    let (_, v) = c.call(Method::GET, &format!("/routing/rules/{}", id(&buttons)), None).await;
    assert_eq!(v["position"], 1);
    let agent_token = c.app.api_token("agent").await;
    let (status, _) = c.app.api(&agent_token, Method::GET, "/routing/rules", None).await;
    assert_eq!(status, 403);
    let supervisor = c.app.api_token("supervisor").await;
    let (status, _) = c
        .app
        .api(
            &supervisor,
            Method::POST,
            "/routing/rules",
            Some(json!({"name": "s", "target": {"type": "ai_agent", "ai_agent_id": ai}})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) =
        c.app.api(&supervisor, Method::POST, "/routing/explain", Some(json!({"number_id": c.number}))).await;
    assert_eq!(status, 200);

    // The live router follows rule changes made through the API at once.
    let v = c.customer_writes("+31690000001", "Order 77").await;
    assert_eq!(v["queue_id"], s(q2), "closed hours or not, the orders rule is gone: {v}");
    c.app.stop().await;
}

#[tokio::test]
async fn presence_follows_the_api_logout_and_the_live_connection() {
    use futures_util::StreamExt;
    let c = center().await;
    let agent = c.agent("p@example.com", 5, json!({})).await;
    let session = c.log_in("p@example.com", agent).await;
    let (status, v) = session.call(Method::PUT, "/agents/me/presence", Some(json!({"presence": "online"}))).await;
    assert_eq!(status, 200, "{v}");
    let (status, err) = session.call(Method::PUT, "/agents/me/presence", Some(json!({"presence": "busy"}))).await;
    assert_eq!((status, err["error"]["details"]["field"].as_str()), (422, Some("presence")));
    let (_, me) = c.call(Method::GET, &format!("/agents/{agent}"), None).await;
    assert_eq!(me["presence"], "online");

    // The inbox's live connection: while open, the agent stays online past the grace period (1 s here).
    let url = format!("ws://127.0.0.1:{}/api/v1/live", c.app.port);
    let cookies = session_cookie(&c, "p@example.com").await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    request.headers_mut().insert("Cookie", cookies.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("WebSocket opens");
    let hello = socket.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("hello"));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (_, me) = c.call(Method::GET, &format!("/agents/{agent}"), None).await;
    assert_eq!(me["presence"], "online", "connected: still online");
    socket.close(None).await.unwrap();
    drop(socket);
    eventually(10, "offline after the grace period", || async {
        let (_, me) = c.call(Method::GET, &format!("/agents/{agent}"), None).await;
        (me["presence"] == "offline").then_some(())
    })
    .await;

    // Logging out sets offline too.
    session.call(Method::PUT, "/agents/me/presence", Some(json!({"presence": "online"}))).await;
    let (status, _) = session.call(Method::POST, "/auth/logout", None).await;
    assert_eq!(status, 204);
    let (_, me) = c.call(Method::GET, &format!("/agents/{agent}"), None).await;
    assert_eq!(me["presence"], "offline");
    // Not a WebSocket: a JSON error.
    let (status, err) = c.call(Method::GET, "/live", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("websocket_required")), "{err}");
    c.app.stop().await;
}

/// A fresh session's cookie header for `email` (logged in with the password `log_in` chose).
async fn session_cookie(c: &Center, email: &str) -> String {
    let r = c
        .app
        .client
        .post(format!("{}/api/v1/auth/login", c.app.address))
        .json(&json!({"email": email, "password": "the agent's own password 0123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn a_snoozed_conversation_wakes_on_the_customers_message_or_at_its_time_and_keeps_its_agent() {
    let c = center().await;
    let agent = c.agent("snooze@example.com", 5, json!({})).await;
    let queue = c.queue("Support", &[agent], json!({})).await;
    c.number_settings(json!({"default_queue_id": queue})).await;
    c.presence(agent, "online").await;
    let v = c.customer_writes("+31640000071", "my parcel is late").await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["assignee_id"], s(agent));
    let snooze = format!("/conversations/{id}/snooze");

    // Refused: a time already past, or too far ahead, names `until`; a status of snoozed goes through snooze.
    for until in ["2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"] {
        let (status, e) = c.call(Method::POST, &snooze, Some(json!({"until": until}))).await;
        assert_eq!((status, e["error"]["details"]["field"].as_str()), (422, Some("until")), "{e}");
    }
    let (status, e) = c.call(Method::PATCH, &format!("/conversations/{id}"), Some(json!({"status": "snoozed"}))).await;
    assert_eq!(status, 422, "{e}");

    // Until the customer writes: out of the open list, in the snoozed one, still the agent's.
    let (status, v) = c.call(Method::POST, &snooze, Some(json!({}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["status"].as_str(), v["snoozed_until"].as_str()), (Some("snoozed"), None));
    assert_eq!(v["assignee_id"], s(agent));
    let center = &c;
    let listed = |status: &'static str| async move {
        let (_, page) = center.call(Method::GET, &format!("/conversations?status={status}"), None).await;
        page["items"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert!(!listed("unresolved").await.contains(&id));
    assert_eq!(listed("snoozed").await, std::slice::from_ref(&id));
    c.customer_writes("+31640000071", "any news?").await;
    let woke = c.until(&id, "the customer's message to wake it", |v| v["status"] == "open").await;
    assert_eq!(woke["snoozed_until"], Value::Null);
    assert_eq!(woke["assignee_id"], s(agent));

    // Until a time: the router opens it when the time comes (moved in the database rather than waited for).
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, v) = c.call(Method::POST, &snooze, Some(json!({"until": later}))).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["snoozed_until"].is_string(), "{v}");
    sqlx::query("UPDATE conversations SET snoozed_until = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&c.app.pool)
        .await
        .unwrap();
    c.until(&id, "its time to wake it", |v| v["status"] == "open").await;
    let events = c.events(&id).await;
    let woken: Vec<&str> =
        events.iter().filter(|e| e["kind"] == "unsnoozed").map(|e| e["data"]["reason"].as_str().unwrap()).collect();
    assert_eq!(woken, ["customer_message", "time"]);
    assert_eq!(events.iter().filter(|e| e["kind"] == "snoozed").count(), 2);

    // A resolved conversation cannot be snoozed.
    c.post(&format!("/conversations/{id}/resolve"), json!({})).await;
    let (status, e) = c.call(Method::POST, &snooze, Some(json!({}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("conversation_resolved")), "{e}");
    c.app.stop().await;
}

#[tokio::test]
async fn an_unanswered_conversation_returns_to_its_queue_after_the_acceptance_timeout_and_misses_set_the_agent_away() {
    let c = center().await;
    let first = c.agent("first@example.com", 5, json!({})).await;
    let second = c.agent("second@example.com", 5, json!({})).await;
    let queue = c
        .queue("Support", &[first, second], json!({"acceptance_timeout_minutes": 2, "acceptance_misses_to_away": 2}))
        .await;
    let (status, e) =
        c.call(Method::PATCH, &format!("/queues/{queue}"), Some(json!({"acceptance_timeout_minutes": 0}))).await;
    assert_eq!((status, e["error"]["details"]["field"].as_str()), (422, Some("acceptance_timeout_minutes")), "{e}");
    c.number_settings(json!({"default_queue_id": queue})).await;
    c.presence(first, "online").await;
    let a = c.customer_writes("+31640000081", "hello?").await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["assignee_id"], s(first));
    c.presence(second, "online").await;
    // Two minutes pass without a word from `first`: back to the queue, and to `second`.
    let pool = &c.app.pool;
    let expire = |id: String| async move {
        sqlx::query("UPDATE conversations SET assigned_at = now() - interval '121 seconds' WHERE id = $1::uuid")
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    };
    expire(a_id.clone()).await;
    let moved = c.until(&a_id, "the acceptance timeout", |v| v["assignee_id"] == s(second)).await;
    assert_eq!(moved["routing_state"], "assigned");
    let events = c.events(&a_id).await;
    let timeout = events.iter().find(|e| e["kind"] == "acceptance_timeout").expect("the timeout in the timeline");
    assert_eq!(timeout["data"]["agent_id"], s(first));
    assert_eq!(timeout["data"]["misses_in_a_row"], 1);
    assert_eq!(c.load_of(first).await, 0);

    // `second` answers: an answered conversation stays however long ago it was assigned.
    let session = c.log_in("second@example.com", second).await;
    let (status, v) =
        session.call(Method::POST, &format!("/conversations/{a_id}/messages"), Some(json!({"body": "On it!"}))).await;
    assert_eq!(status, 202, "{v}");
    expire(a_id.clone()).await;

    // `first` misses a second one in a row: set away.
    let b = c.customer_writes("+31640000082", "hi").await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(b["assignee_id"], s(first), "the least loaded agent");
    expire(b_id.clone()).await;
    c.until(&b_id, "the second timeout", |v| v["assignee_id"] == s(second)).await;
    let (_, agent) = c.call(Method::GET, &format!("/agents/{first}"), None).await;
    assert_eq!(agent["presence"], "away");
    let events = c.events(&b_id).await;
    let timeout = events.iter().find(|e| e["kind"] == "acceptance_timeout").unwrap();
    assert_eq!(
        (timeout["data"]["misses_in_a_row"].as_i64(), timeout["data"]["agent_set_away"].as_bool()),
        (Some(2), Some(true))
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(c.conversation(&a_id).await["assignee_id"], s(second), "answered: not taken away");
    c.app.stop().await;
}

#[tokio::test]
async fn a_blocked_contacts_messages_are_kept_but_offered_to_nobody_and_answered_by_nothing_until_unblocked() {
    let c = center().await;
    let agent = c.agent("blocker@example.com", 5, json!({})).await;
    let queue = c.queue("Support", &[agent], json!({})).await;
    c.number_settings(json!({"default_queue_id": queue, "greeting_text": "Hello! An agent is on the way."})).await;
    c.presence(agent, "online").await;
    let v = c.customer_writes("+31640000091", "buy cheap followers").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let contact = v["contact"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["assignee_id"], s(agent));
    assert_eq!(c.load_of(agent).await, 1);

    // An agent may not block; a supervisor (here an admin) may, once, and it is audited.
    let session = c.log_in("blocker@example.com", agent).await;
    let (status, e) = session.call(Method::POST, &format!("/contacts/{contact}/block"), None).await;
    assert_eq!(status, 403, "{e}");
    let blocked = c.post(&format!("/contacts/{contact}/block"), json!({})).await;
    assert!(blocked["blocked_at"].is_string(), "{blocked}");
    let again = c.post(&format!("/contacts/{contact}/block"), json!({})).await;
    assert_eq!(again["blocked_at"], blocked["blocked_at"], "blocking twice changes nothing");
    let v = c.conversation(&id).await;
    assert_eq!((v["routing_state"].as_str(), v["assignee_id"].as_str()), (Some("blocked"), None));
    assert_eq!(c.load_of(agent).await, 0, "the agent's capacity is freed");
    let (_, audit) = c.call(Method::GET, "/audit?action=contact.blocked", None).await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");

    // Their messages are stored, in the blocked conversation, and nothing answers; a new conversation (after a
    // resolve) is blocked as soon as it is routed.
    c.customer_writes("+31640000091", "hello??").await;
    c.post(&format!("/conversations/{id}/resolve"), json!({})).await;
    let fresh = c.customer_writes("+31640000091", "HELLO").await;
    assert_eq!(fresh["routing_state"], "blocked");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN conversations v ON v.id = m.conversation_id
         WHERE v.contact_id = $1::uuid AND m.direction = 'inbound'",
    )
    .bind(&contact)
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 3, "nothing the customer sent is lost");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let answered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN conversations v ON v.id = m.conversation_id
         WHERE v.contact_id = $1::uuid AND m.direction = 'outbound' AND v.id = $2::uuid",
    )
    .bind(&contact)
    .bind(fresh["id"].as_str().unwrap())
    .fetch_one(&c.app.pool)
    .await
    .unwrap();
    assert_eq!(answered, 0, "no greeting for a blocked contact");

    // Unblocked: their conversation is routed again, to the agent.
    let unblocked = c.post(&format!("/contacts/{contact}/unblock"), json!({})).await;
    assert_eq!(unblocked["blocked_at"], Value::Null);
    let routed =
        c.until(fresh["id"].as_str().unwrap(), "routing after the unblock", |v| v["routing_state"] == "assigned").await;
    assert_eq!(routed["assignee_id"], s(agent));
    let kinds_of = c.events(fresh["id"].as_str().unwrap()).await;
    assert!(kinds(&kinds_of).contains(&"contact_unblocked"), "{:?}", kinds(&kinds_of));
    c.app.stop().await;
}
