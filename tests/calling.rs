//! WhatsApp calls through the running server (issue 22): signed voice webhooks answered with TwiML (read back as
//! XML), the queue's waiting strategy, out of hours, a number without calling, missed calls, and a queue's
//! communication type honoured for calls and messages alike.

mod common;

use common::*;
use quick_xml::events::Event;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

struct Center {
    app: TestApp,
    admin: String,
    channel: Uuid,
    number: Uuid,
}

async fn center() -> Center {
    let app = spawn_app_with(|env| {
        env.push(("SWITCHBOARD__ROUTING__POLL_MS".into(), "100".into()));
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    let c = Center { app, admin, channel, number };
    c.number_settings(json!({"supports_calling": true, "language": "pt-BR"})).await;
    c
}

/// One TwiML verb (or noun) as read back: its name, attributes, text and the nouns inside it.
#[derive(Debug, Clone, PartialEq)]
struct Verb {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    inner: Vec<Verb>,
}

impl Verb {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} on {self:?}"))
    }
}

/// Reads a TwiML answer as XML: one `<Response>` whose children are the verbs.
fn verbs(xml: &str) -> Vec<Verb> {
    let mut reader = quick_xml::Reader::from_str(xml);
    // The open elements, the `<Response>` first.
    let mut open: Vec<Verb> = Vec::new();
    let mut response = None;
    let close = |open: &mut Vec<Verb>, response: &mut Option<Verb>| {
        let done = open.pop().unwrap();
        match open.last_mut() {
            Some(parent) => parent.inner.push(done),
            None => {
                assert!(response.is_none(), "one <Response>: {xml}");
                assert_eq!(done.name, "Response", "{xml}");
                *response = Some(done);
            }
        }
    };
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("not XML ({e}): {xml}")) {
            Event::Start(e) => open.push(verb(&e)),
            Event::Empty(e) => {
                open.push(verb(&e));
                close(&mut open, &mut response);
            }
            Event::End(_) => close(&mut open, &mut response),
            Event::Text(t) if !open.is_empty() => open.last_mut().unwrap().text.push_str(&t.xml_content().unwrap()),
            Event::GeneralRef(r) if !open.is_empty() => {
                let c = match &*r {
                    b"amp" => "&",
                    b"lt" => "<",
                    b"gt" => ">",
                    b"quot" => "\"",
                    b"apos" => "'",
                    other => panic!("entity {other:?}"),
                };
                open.last_mut().unwrap().text.push_str(c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements: {xml}");
    response.unwrap_or_else(|| panic!("no <Response>: {xml}")).inner
}

fn verb(e: &quick_xml::events::BytesStart<'_>) -> Verb {
    Verb {
        name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (String::from_utf8(a.key.as_ref().to_vec()).unwrap(), a.unescape_value().unwrap().into_owned())
            })
            .collect(),
        text: String::new(),
        inner: Vec::new(),
    }
}

fn names(v: &[Verb]) -> Vec<&str> {
    v.iter().map(|v| v.name.as_str()).collect()
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).parse().unwrap()
}

/// Twilio's parameters for a WhatsApp call from `from` to the business number.
fn call_params(call_sid: &str, from: &str, status: &str) -> Vec<(String, String)> {
    params(&[
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{from}")),
        ("To", &format!("whatsapp:{BUSINESS_NUMBER}")),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ])
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

    async fn number_settings(&self, body: Value) {
        let path = format!("/channels/{}/numbers/{}", self.channel, self.number);
        let (status, v) = self.call(Method::PATCH, &path, Some(body)).await;
        assert_eq!(status, 200, "{v}");
    }

    /// The customer writes `text` to the number.
    async fn customer_writes(&self, text: &str) {
        let r = self.app.post_signed(&self.app.messages_url(self.channel), &inbound_text(&new_sid("SM"), text)).await;
        assert_eq!(r.status(), 200);
    }

    fn voice_url(&self, tail: &str) -> String {
        format!("{}/webhooks/twilio/{}/voice{tail}", self.app.address, self.channel)
    }

    /// Posts a signed voice webhook to `/voice{tail}`; answers the TwiML's verbs.
    async fn voice(&self, tail: &str, p: &[(String, String)]) -> Vec<Verb> {
        let r = self.app.post_signed(&self.voice_url(tail), p).await;
        assert_eq!(r.status(), 200, "{tail}");
        assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
        verbs(&r.text().await.unwrap())
    }

    async fn call_row(&self, call_sid: &str) -> (String, Option<String>, Option<Uuid>, Uuid) {
        sqlx::query_as("SELECT state, outcome, queue_id, conversation_id FROM calls WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    async fn events(&self, conversation: Uuid) -> Vec<Value> {
        let (status, v) = self.call(Method::GET, &format!("/conversations/{conversation}/events"), None).await;
        assert_eq!(status, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn an_arriving_call_hears_its_queues_greeting_and_waits_in_the_calls_queue() {
    let c = center().await;
    let strategy = json!({"greeting": "Olá! Já vamos atender.", "announce_position": true, "max_wait_secs": 60,
        "hold_music_url": "https://music.example.com/hold.mp3"});
    let calls = id(&c
        .post("/queues", json!({"name": "Calls", "communication_type": "calls", "waiting_strategy": strategy}))
        .await);
    let chats = id(&c.post("/queues", json!({"name": "Chats"})).await);
    c.post(
        "/routing/rules",
        json!({"name": "Calls", "conditions": [{"type": "communication_type", "value": "call"}],
        "target": {"type": "queue", "queue_id": calls}}),
    )
    .await;
    c.number_settings(json!({"default_queue_id": chats})).await;

    let sid = new_sid("CA");
    let v = c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    assert_eq!(names(&v), ["Say", "Enqueue"]);
    assert_eq!(v[0].text, "Olá! Já vamos atender.");
    assert_eq!(v[0].attr("language"), "pt-BR", "spoken in the number's language");
    assert_eq!(v[1].attr("waitUrl"), c.voice_url("/wait"));
    assert_eq!(v[1].attr("action"), c.voice_url("/left"));
    let (state, outcome, queue, conversation) = c.call_row(&sid).await;
    assert_eq!((state.as_str(), outcome, queue), ("waiting", None, Some(calls)));
    assert_eq!(
        v[1].text,
        format!(
            "call-{}",
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM calls WHERE call_sid = $1")
                .bind(&sid)
                .fetch_one(&c.app.pool)
                .await
                .unwrap()
        )
    );

    // The conversation the call started waits in the calls queue; its timeline says a call came in.
    let (_, conv) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(conv["communication_type"], "call");
    assert_eq!(conv["queue_id"], calls.to_string());
    assert!(c.events(conversation).await.iter().any(|e| e["kind"] == "call_incoming"));

    // Waiting: the position first, then the music; the position is not said again within the minute.
    let mut wait = call_params(&sid, CUSTOMER, "in-progress");
    set(&mut wait, "QueueTime", "5");
    let v = c.voice("/wait", &wait).await;
    assert_eq!(names(&v), ["Say", "Say", "Play"]);
    assert_eq!(v[0].text, "Sua posição na fila é 1.");
    assert_eq!(v[2].text, "https://music.example.com/hold.mp3");
    set(&mut wait, "QueueTime", "30");
    assert_eq!(names(&c.voice("/wait", &wait).await), ["Say", "Play"]);

    // Twilio asking again about the same call records nothing twice.
    let again = c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    assert_eq!(names(&again), ["Enqueue"]);
    assert_eq!(c.app.count("calls").await, 1);
}

#[tokio::test]
async fn without_a_strategy_a_caller_is_never_left_in_silence() {
    let c = center().await;
    c.number_settings(json!({"language": null})).await;
    let sid = new_sid("CA");
    // No queue, no rule, no strategy anywhere: the built-in greeting and waiting message, in English.
    let v = c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    assert_eq!(names(&v), ["Say", "Enqueue"]);
    assert!(v[0].text.starts_with("Thank you for calling"), "{v:?}");
    let mut wait = call_params(&sid, CUSTOMER, "in-progress");
    set(&mut wait, "QueueTime", "1");
    let v = c.voice("/wait", &wait).await;
    assert_eq!(names(&v), ["Say", "Pause"]);
    assert!(!v[0].text.is_empty());
    assert_eq!(v[1].attr("length"), "20");
}

#[tokio::test]
async fn out_of_hours_the_caller_hears_the_closed_message_and_the_call_is_missed() {
    let c = center().await;
    let never =
        id(&c.post("/business-hours", json!({"name": "Never", "time_zone": "Europe/Amsterdam", "weekly": {}})).await);
    let q = id(&c
        .post(
            "/queues",
            json!({"name": "Calls", "communication_type": "both", "business_hours_id": never,
            "waiting_strategy": {"closed_message": "Estamos fechados."}}),
        )
        .await);
    c.number_settings(json!({"default_queue_id": q})).await;
    let sid = new_sid("CA");
    let v = c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    assert_eq!(names(&v), ["Say", "Hangup"]);
    assert_eq!(v[0].text, "Estamos fechados.");
    let (state, outcome, _, conversation) = c.call_row(&sid).await;
    assert_eq!((state.as_str(), outcome.as_deref()), ("ended", Some("closed")));
    let missed = c.events(conversation).await.into_iter().find(|e| e["kind"] == "call_missed").expect("a missed call");
    assert_eq!(missed["data"]["reason"], "closed");
    // The conversation waits in the queue for someone to call back.
    let (_, conv) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(
        (conv["routing_state"].as_str(), conv["queue_id"].as_str()),
        (Some("waiting"), Some(q.to_string().as_str()))
    );
}

#[tokio::test]
async fn at_the_maximum_wait_the_caller_leaves_with_its_message_and_the_call_is_missed() {
    let c = center().await;
    let q = id(&c
        .post(
            "/queues",
            json!({"name": "Calls", "communication_type": "calls",
            "waiting_strategy": {"max_wait_secs": 30, "max_wait_message": "Ligamos de volta."}}),
        )
        .await);
    c.number_settings(json!({"default_queue_id": q})).await;
    let sid = new_sid("CA");
    c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    let mut wait = call_params(&sid, CUSTOMER, "in-progress");
    set(&mut wait, "QueueTime", "31");
    assert_eq!(names(&c.voice("/wait", &wait).await), ["Leave"]);
    set(&mut wait, "QueueResult", "leave");
    let v = c.voice("/left", &wait).await;
    assert_eq!(names(&v), ["Say", "Hangup"]);
    assert_eq!(v[0].text, "Ligamos de volta.");
    let (state, outcome, _, conversation) = c.call_row(&sid).await;
    assert_eq!((state.as_str(), outcome.as_deref()), ("ended", Some("missed")));
    // The final status repeats nothing: one missed-call entry.
    let r = c.app.post_signed(&c.voice_url("/status"), &call_params(&sid, CUSTOMER, "completed")).await;
    assert_eq!(r.status(), 200);
    let missed: Vec<Value> = c.events(conversation).await.into_iter().filter(|e| e["kind"] == "call_missed").collect();
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(
        (missed[0]["data"]["reason"].as_str(), missed[0]["data"]["waited_secs"].as_u64()),
        (Some("max_wait"), Some(31))
    );
}

#[tokio::test]
async fn a_caller_who_hangs_up_while_waiting_is_a_missed_call() {
    let c = center().await;
    let sid = new_sid("CA");
    c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    let r = c.app.post_signed(&c.voice_url("/status"), &call_params(&sid, CUSTOMER, "completed")).await;
    assert_eq!(r.status(), 200);
    let (state, outcome, _, conversation) = c.call_row(&sid).await;
    assert_eq!((state.as_str(), outcome.as_deref()), ("ended", Some("missed")));
    let missed = c.events(conversation).await.into_iter().find(|e| e["kind"] == "call_missed").unwrap();
    assert_eq!(missed["data"]["reason"], "hung_up");
}

#[tokio::test]
async fn a_number_without_calling_rejects_calls_and_records_nothing() {
    let c = center().await;
    c.number_settings(json!({"supports_calling": false})).await;
    let v = c.voice("", &call_params(&new_sid("CA"), CUSTOMER, "ringing")).await;
    assert_eq!(names(&v), ["Reject"]);
    assert_eq!(c.app.count("calls").await, 0);
    assert_eq!(c.app.count("conversations").await, 0);
}

#[tokio::test]
async fn voice_webhooks_are_signature_checked_like_every_webhook() {
    let c = center().await;
    let p = call_params(&new_sid("CA"), CUSTOMER, "ringing");
    for tail in ["", "/wait", "/left", "/status"] {
        let r = c.app.post_with_signature(&c.voice_url(tail), &p, Some("d3JvbmcgZ3Vlc3M=")).await;
        assert_eq!(r.status(), 403, "{tail}");
        let r = c.app.post_with_signature(&c.voice_url(tail), &p, None).await;
        assert_eq!(r.status(), 403, "{tail}");
    }
    let mut bad = p.clone();
    set(&mut bad, "CallSid", "SM0123");
    let r = c.app.post_signed(&c.voice_url(""), &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(c.app.count("calls").await, 0);
}

#[tokio::test]
async fn a_queues_communication_type_is_honoured_for_messages_too() {
    let c = center().await;
    let calls = id(&c.post("/queues", json!({"name": "Calls", "communication_type": "calls"})).await);
    let chats = id(&c.post("/queues", json!({"name": "Chats", "communication_type": "messages"})).await);
    // A catch-all to the calls queue first: a message passes it over, to the next rule.
    c.post("/routing/rules", json!({"name": "Everything to calls", "target": {"type": "queue", "queue_id": calls}}))
        .await;
    c.post("/routing/rules", json!({"name": "Chats", "target": {"type": "queue", "queue_id": chats}})).await;
    c.customer_writes("hello").await;
    let conversation: Uuid = eventually(10, "the router to place the conversation", || async {
        sqlx::query_scalar("SELECT id FROM conversations WHERE routing_state <> 'unrouted'")
            .fetch_optional(&c.app.pool)
            .await
            .unwrap()
    })
    .await;
    let (_, conv) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(conv["queue_id"], chats.to_string());
    // Explain says why the first rule did not decide.
    let (_, e) = c.call(Method::POST, "/routing/explain", Some(json!({"number_id": c.number, "text": "x"}))).await;
    assert_eq!(e["rules"][0]["note"], "the queue serves calls only; this conversation is a message", "{e}");
    // A transfer to the calls queue is refused, and the conversation stays where it was.
    let (status, err) = c
        .call(Method::POST, &format!("/conversations/{conversation}/transfer"), Some(json!({"queue_id": calls})))
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "queue_serves_other_communication_type");
    assert_eq!(err["error"]["details"]["field"], "queue_id");
    let (_, conv) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(conv["queue_id"], chats.to_string());

    // A call from the same customer joins the conversation but is routed as a call: to the calls queue.
    let sid = new_sid("CA");
    c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    let (_, _, queue, joined) = c.call_row(&sid).await;
    assert_eq!((queue, joined), (Some(calls), conversation));
}

#[tokio::test]
async fn a_waiting_strategy_is_checked_field_by_field() {
    let c = center().await;
    for (strategy, field) in [
        (json!({"hold_music_url": "http://music.example.com/a.mp3"}), "waiting_strategy.hold_music_url"),
        (json!({"max_wait_secs": 5}), "waiting_strategy.max_wait_secs"),
        (json!({"greeting": "x".repeat(1001)}), "waiting_strategy.greeting"),
    ] {
        let (status, err) =
            c.call(Method::POST, "/queues", Some(json!({"name": "Q", "waiting_strategy": strategy}))).await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["error"]["details"]["field"], field, "{err}");
    }
    let (status, err) =
        c.call(Method::POST, "/queues", Some(json!({"name": "Q", "waiting_strategy": {"music": "x"}}))).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(c.app.count("queues").await, 0);
}

const PASSWORD: &str = "an agent's password 0123";

impl Center {
    async fn online_agent(&self, email: &str) -> (Uuid, Session) {
        let body = json!({"email": email, "name": email, "role": "agent", "password": PASSWORD, "capacity": 3});
        let agent = id(&self.post("/agents", body).await);
        let (status, v) =
            self.call(Method::PUT, &format!("/agents/{agent}/presence"), Some(json!({"presence": "online"}))).await;
        assert_eq!(status, 200, "{v}");
        let session = self.app.session(email, &[PASSWORD], "the agent's own password 0123", agent).await;
        (agent, session)
    }

    /// The customer's conversation, once the router put it in a queue.
    async fn queued_conversation(&self) -> Uuid {
        eventually(20, "the conversation to reach its queue", || async {
            sqlx::query_scalar("SELECT id FROM conversations WHERE queue_id IS NOT NULL")
                .fetch_optional(&self.app.pool)
                .await
                .unwrap()
        })
        .await
    }

    /// The customer calls (a signed voice webhook): the call's SID and id.
    async fn call_arrives(&self) -> (String, Uuid) {
        let sid = new_sid("CA");
        self.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
        let call = sqlx::query_scalar("SELECT id FROM calls WHERE call_sid = $1")
            .bind(&sid)
            .fetch_one(&self.app.pool)
            .await
            .unwrap();
        (sid, call)
    }

    async fn rings(&self, call: Uuid, other_than: Option<Uuid>) -> Uuid {
        eventually(20, "the call to ring an agent", || async {
            let rung: Option<Uuid> = sqlx::query_scalar("SELECT offered_to FROM calls WHERE id = $1")
                .bind(call)
                .fetch_one(&self.app.pool)
                .await
                .unwrap();
            rung.filter(|a| Some(*a) != other_than)
        })
        .await
    }
}

/// Ana and Bo, online, in a queue that takes calls and is the number's default, with `timeout_setting` (a
/// routing timeout) at its shortest, 5 s.
async fn two_agents(timeout_setting: &str) -> (Center, [(Uuid, Session); 2]) {
    let setting = timeout_setting.to_owned();
    let app = spawn_app_with(move |env| {
        env.push(("SWITCHBOARD__ROUTING__POLL_MS".into(), "100".into()));
        env.push((setting, "5".into()));
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    let c = Center { app, admin, channel, number };
    c.number_settings(json!({"supports_calling": true})).await;
    let ana = c.online_agent("ana@example.com").await;
    let bo = c.online_agent("bo@example.com").await;
    let q = id(&c
        .post("/queues", json!({"name": "Calls", "communication_type": "calls", "member_ids": [ana.0, bo.0]}))
        .await);
    c.number_settings(json!({"default_queue_id": q})).await;
    (c, [ana, bo])
}

#[tokio::test]
async fn a_waiting_call_rings_one_agent_at_a_time_and_is_passed_on_when_declined_or_left_ringing() {
    let (c, [(ana, ana_s), (bo, bo_s)]) = two_agents("SWITCHBOARD__ROUTING__CALL_RING_TIMEOUT_SECS").await;
    let sessions = |a: Uuid| if a == ana { &ana_s } else { &bo_s };

    let (sid, call) = c.call_arrives().await;
    let first = c.rings(call, None).await;
    let second = if first == ana { bo } else { ana };

    // What the pop-up shows, to the agent it rings.
    let (status, v) = sessions(first).call(Method::GET, &format!("/calls/{call}"), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["direction"].as_str(), v["channel_type"].as_str()), (Some("inbound"), Some("whatsapp")));
    assert_eq!((v["customer_phone"].as_str(), v["queue_name"].as_str()), (Some(CUSTOMER), Some("Calls")));
    // Only the agent it rings answers it.
    let (status, err) = sessions(second).call(Method::POST, &format!("/calls/{call}/accept"), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("call_not_ringing_you")));

    // Declined: it rings the other agent. Left ringing: back to the first, as everyone was tried.
    let (status, _) = sessions(first).call(Method::POST, &format!("/calls/{call}/decline"), None).await;
    assert_eq!(status, 204);
    assert_eq!(c.rings(call, Some(first)).await, second);
    assert_eq!(c.rings(call, Some(second)).await, first);

    let (status, v) = sessions(first).call(Method::POST, &format!("/calls/{call}/accept"), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["state"].as_str(), v["agent_id"].as_str()), (Some("connected"), Some(first.to_string().as_str())));
    let (_, _, _, conversation) = c.call_row(&sid).await;
    let (_, conv) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(conv["assignee_id"], first.to_string(), "the agent who took the call holds its conversation");

    // The agent's browser joins the caller in the call's Twilio queue; nobody else's can.
    let mut leg = params(&[
        ("CallSid", &new_sid("CA")),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("client:{first}")),
        ("CallStatus", "ringing"),
        ("call", &call.to_string()),
    ]);
    let v = c.voice("", &leg).await;
    assert_eq!(names(&v), ["Dial"]);
    assert_eq!((names(&v[0].inner), v[0].inner[0].text.clone()), (vec!["Queue"], format!("call-{call}")));
    set(&mut leg, "From", &format!("client:{second}"));
    assert_eq!(names(&c.voice("", &leg).await), ["Say", "Hangup"]);

    // Bridged, then hung up: the call ended answered, with its duration in the timeline.
    let mut left = call_params(&sid, CUSTOMER, "in-progress");
    set(&mut left, "QueueResult", "bridged");
    assert!(c.voice("/left", &left).await.is_empty());
    let mut done = call_params(&sid, CUSTOMER, "completed");
    set(&mut done, "CallDuration", "42");
    assert_eq!(c.app.post_signed(&c.voice_url("/status"), &done).await.status(), 200);
    let (state, outcome, _, _) = c.call_row(&sid).await;
    assert_eq!((state.as_str(), outcome.as_deref()), ("ended", Some("answered")));
    let kinds: Vec<String> =
        c.events(conversation).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    for kind in ["call_incoming", "call_declined", "call_not_answered", "call_answered", "call_ended"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let (status, list) = sessions(first).call(Method::GET, &format!("/conversations/{conversation}/calls"), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        (list[0]["outcome"].as_str(), list[0]["agent_id"].as_str()),
        (Some("answered"), Some(first.to_string().as_str()))
    );
    assert!(list[0]["answered_at"].is_string() && list[0]["ended_at"].is_string());
    let ended = c.events(conversation).await.into_iter().find(|e| e["kind"] == "call_ended").unwrap();
    assert_eq!(
        (ended["data"]["duration_secs"].as_u64(), ended["data"]["agent_id"].as_str()),
        (Some(42), Some(first.to_string().as_str()))
    );
}

#[tokio::test]
async fn an_agents_browser_gets_a_short_lived_voice_token_for_a_channel_set_up_for_calls() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let secret = "the API key's secret";
    let (status, ch) = app
        .api(
            &admin,
            Method::POST,
            "/channels",
            Some(json!({"name": "Calls", "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN, "api_key_sid": "SK0123456789abcdef0123456789abcdef", "api_key_secret": secret,
            "numbers": [{"name": "Line", "e164": BUSINESS_NUMBER}]})),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    let channel = id(&ch);
    let number = ch["numbers"][0]["id"].as_str().unwrap().to_owned();
    let c = Center { app, admin, channel, number: number.parse().unwrap() };
    c.number_settings(json!({"supports_calling": true})).await;
    let (agent, session) = c.online_agent("ana@example.com").await;

    // Without the TwiML voice application: refused, naming what is missing.
    let (status, err) = session.call(Method::GET, "/voice/token", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("voice_not_configured")), "{err}");
    assert_eq!(err["error"]["details"]["missing"], json!(["voice_application_sid"]));
    let path = format!("/channels/{channel}");
    let (status, err) = c.call(Method::PATCH, &path, Some(json!({"voice_application_sid": "SK0123"}))).await;
    assert_eq!((status, err["error"]["details"]["field"].as_str()), (422, Some("voice_application_sid")));
    let app_sid = "AP0123456789abcdef0123456789abcdef";
    let (status, v) = c.call(Method::PATCH, &path, Some(json!({"voice_application_sid": app_sid}))).await;
    assert_eq!((status, v["voice_application_sid"].as_str()), (200, Some(app_sid)), "{v}");

    let (status, t) = session.call(Method::GET, "/voice/token", None).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (t["identity"].as_str(), t["channel_id"].as_str()),
        (Some(agent.to_string().as_str()), Some(channel.to_string().as_str()))
    );
    let token = t["token"].as_str().unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).expect("signed with the channel's API key secret");
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signed.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["grants"]["identity"], agent.to_string());
    assert_eq!(payload["grants"]["voice"]["outgoing"]["application_sid"], app_sid);
    assert_eq!(payload["sub"], ACCOUNT_SID);
    let lifetime = payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 3600, "short-lived");

    // An API token is nobody's agent.
    let (status, err) = c.call(Method::GET, "/voice/token", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("not_an_agent")));
}

#[tokio::test]
async fn a_blocked_contacts_call_is_rejected_and_records_nothing() {
    let c = center().await;
    c.customer_writes("hi").await;
    let contact: Uuid = sqlx::query_scalar("SELECT id FROM contacts").fetch_one(&c.app.pool).await.unwrap();
    let (status, v) = c.call(Method::POST, &format!("/contacts/{contact}/block"), None).await;
    assert_eq!(status, 200, "{v}");
    let v = c.voice("", &call_params(&new_sid("CA"), CUSTOMER, "ringing")).await;
    assert_eq!(names(&v), ["Reject"]);
    assert_eq!(c.app.count("calls").await, 0);
}

#[tokio::test]
async fn a_customers_call_wakes_their_snoozed_conversation() {
    let c = center().await;
    c.customer_writes("hi").await;
    let conversation: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&c.app.pool).await.unwrap();
    let (status, v) = c.call(Method::POST, &format!("/conversations/{conversation}/snooze"), Some(json!({}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "snoozed");
    let sid = new_sid("CA");
    c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    let (_, _, _, joined) = c.call_row(&sid).await;
    assert_eq!(joined, conversation);
    let (_, v) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(v["status"], "open");
    let woken = c.events(conversation).await.into_iter().find(|e| e["kind"] == "unsnoozed").expect("woken");
    assert_eq!(woken["data"]["reason"], "customer_call");
}

#[tokio::test]
async fn a_call_permission_template_keeps_its_voice_call_request_element_and_actions_are_checked() {
    let c = center().await;
    let t = c
        .post("/templates", json!({"name": "call_permission", "language": "pt_BR", "body": "Podemos ligar para você?",
            "content_type": "twilio/call-to-action", "buttons": [{"title": "Permitir", "action": "VOICE_CALL_REQUEST"}]}))
        .await;
    assert_eq!(t["buttons"][0]["action"], "VOICE_CALL_REQUEST");
    let (status, err) = c
        .call(
            Method::POST,
            "/templates",
            Some(json!({"name": "x", "language": "en", "body": "x",
            "content_type": "twilio/call-to-action", "buttons": [{"title": "Call", "action": "CALL_ME"}]})),
        )
        .await;
    assert_eq!((status, err["error"]["details"]["field"].as_str()), (422, Some("buttons[0].action")), "{err}");
}

/// A template that asks for permission to call (`VOICE_CALL_REQUEST`), approved and at Twilio.
async fn call_permission_template(c: &Center) -> Uuid {
    id(&c
        .post(
            "/templates",
            json!({"name": "may_we_call", "language": "en", "body": "May we call you about your order?",
            "content_type": "twilio/call-to-action", "content_sid": "HX0123456789abcdef0123456789abcdef",
            "approval_status": "approved", "buttons": [{"title": "Allow calls", "action": "VOICE_CALL_REQUEST"}]}),
        )
        .await)
}

async fn plain_template(c: &Center) -> Uuid {
    id(&c
        .post(
            "/templates",
            json!({"name": "order_update", "language": "en", "body": "Your order shipped",
            "content_sid": "HXfedcba9876543210fedcba9876543210", "approval_status": "approved"}),
        )
        .await)
}

const PLACED_CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn calling_a_customer_needs_their_yes_to_a_request_sent_within_whatsapps_limits() {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/Messages\.json$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": new_sid("SM"), "status": "queued"})))
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/Calls\.json$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": PLACED_CALL_SID, "status": "queued"})))
        .mount(&twilio)
        .await;
    let uri = twilio.uri();
    let app = spawn_app_with(move |env| {
        for (k, v) in [
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__ROUTING__POLL_MS", "100"),
            ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
            ("SWITCHBOARD__TWILIO__API_BASE_URL", uri.as_str()),
        ] {
            env.push((k.into(), v.into()));
        }
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    let c = Center { app, admin, channel, number };
    c.number_settings(json!({"supports_calling": true})).await;
    let (ana, ana_s) = c.online_agent("ana@example.com").await;
    let q = id(&c.post("/queues", json!({"name": "Sales", "member_ids": [ana]})).await);
    c.number_settings(json!({"default_queue_id": q})).await;
    let request = call_permission_template(&c).await;
    c.customer_writes("Hello, about my order").await;
    let conversation = c.queued_conversation().await;
    let permission = || async {
        let (s, v) = ana_s.call(Method::GET, &format!("/conversations/{conversation}/call-permission"), None).await;
        assert_eq!(s, 200, "{v}");
        v
    };
    let calls_path = format!("/conversations/{conversation}/calls");
    let place = || ana_s.call(Method::POST, &calls_path, None);

    // Never asked: no call, but a request may go.
    let (s, err) = place().await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("call_permission_missing")), "{err}");
    let p = permission().await;
    assert_eq!((p["may_request"].as_bool(), p["may_call"].as_bool()), (Some(true), Some(false)), "{p}");
    assert_eq!(p["call_refusal"], "call_permission_missing");

    // The request goes as the template message; a second within 24 hours is refused with when it is possible.
    let send = json!({"template": {"id": request}});
    let messages = format!("/conversations/{conversation}/messages");
    let (s, v) = ana_s.call(Method::POST, &messages, Some(send.clone())).await;
    assert_eq!(s, 202, "{v}");
    let p = permission().await;
    assert_eq!((p["pending"].as_bool(), p["may_request"].as_bool()), (Some(true), Some(false)), "{p}");
    let next = p["next_request_at"].as_str().expect("when the next request is possible").to_owned();
    let (s, err) = ana_s.call(Method::POST, &messages, Some(send)).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("call_permission_request_limited")), "{err}");
    assert_eq!(err["error"]["details"]["next_request_at"], next.as_str());
    let requested_at: time::OffsetDateTime =
        sqlx::query_scalar("SELECT created_at FROM call_permission_requests").fetch_one(&c.app.pool).await.unwrap();
    let next_at = time::OffsetDateTime::parse(&next, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(next_at, requested_at + time::Duration::hours(24), "one request per 24 hours");
    assert_eq!(c.app.count("call_permission_requests").await, 1, "the refused one is not recorded");

    // The customer says yes: the Call button is enabled for 7 days.
    c.customer_writes("Yes").await;
    let p = eventually(20, "the customer's yes to be recorded", || async {
        let p = permission().await;
        p["may_call"].as_bool().unwrap().then_some(p)
    })
    .await;
    let until = time::OffsetDateTime::parse(
        p["permitted_until"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (until - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((167..=168).contains(&days), "a yes lasts 7 days: {p}");
    assert!(c.events(conversation).await.iter().any(|e| e["kind"] == "call_permission_granted"));

    // Calling: Twilio rings the agent's browser, whose TwiML dials the customer on WhatsApp from the sender.
    let (s, call) = place().await;
    assert_eq!(s, 201, "{call}");
    assert_eq!((call["state"].as_str(), call["direction"].as_str()), (Some("dialing"), Some("outbound")));
    assert_eq!(call["customer_phone"], CUSTOMER);
    let placed = twilio.received_requests().await.unwrap();
    let request = placed.iter().find(|r| r.url.path().ends_with("/Calls.json")).expect("a Calls request");
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&request.body).into_owned().collect();
    assert_eq!(form["To"], format!("client:{ana}"));
    assert_eq!(form["From"], BUSINESS_NUMBER);
    assert_eq!(form["StatusCallback"], c.voice_url("/status"));
    let dial = verbs(&form["Twiml"]);
    assert_eq!(names(&dial), ["Dial"]);
    assert_eq!(dial[0].attr("callerId"), format!("whatsapp:{BUSINESS_NUMBER}"));
    assert_eq!(dial[0].attr("action"), c.voice_url("/dialed"));
    assert_eq!(names(&dial[0].inner), ["WhatsApp"]);
    assert_eq!(dial[0].inner[0].text, CUSTOMER);
    assert_eq!(dial[0].inner[0].attr("statusCallback"), c.voice_url("/reached"));
    let (s, busy) = place().await;
    assert_eq!((s, busy["error"]["code"].as_str()), (409, Some("agent_on_call")), "{busy}");

    // The customer answers, they talk, the call ends: answered, and any connected call resets the request limits.
    let leg = params(&[
        ("CallSid", &new_sid("CA")),
        ("ParentCallSid", PLACED_CALL_SID),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{BUSINESS_NUMBER}")),
        ("To", &format!("whatsapp:{CUSTOMER}")),
        ("CallStatus", "in-progress"),
    ]);
    c.voice("/reached", &leg).await;
    let row = || async {
        sqlx::query_as::<_, (String, Option<String>)>("SELECT state, outcome FROM calls WHERE call_sid = $1")
            .bind(PLACED_CALL_SID)
            .fetch_one(&c.app.pool)
            .await
            .unwrap()
    };
    assert_eq!(row().await, ("connected".to_owned(), None));
    let dialed = params(&[
        ("CallSid", PLACED_CALL_SID),
        ("AccountSid", ACCOUNT_SID),
        ("From", BUSINESS_NUMBER),
        ("To", &format!("client:{ana}")),
        ("CallStatus", "in-progress"),
        ("DialCallStatus", "completed"),
        ("DialCallDuration", "42"),
    ]);
    assert_eq!(names(&c.voice("/dialed", &dialed).await), ["Hangup"]);
    assert_eq!(row().await, ("ended".to_owned(), Some("answered".to_owned())));
    let kinds: Vec<String> =
        c.events(conversation).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    let at = |k: &str| kinds.iter().position(|x| x == k).unwrap_or_else(|| panic!("no {k} in {kinds:?}"));
    assert!(at("call_permission_requested") < at("call_permission_granted"));
    assert!(at("call_outgoing") < at("call_answered") && at("call_answered") < at("call_ended"), "{kinds:?}");
    let ended = c.events(conversation).await.into_iter().find(|e| e["kind"] == "call_ended").unwrap();
    assert_eq!(ended["data"]["duration_secs"], 42);
    assert_eq!(permission().await["may_request"], true, "a connected call resets the request limits");
}

#[tokio::test]
async fn a_conversation_started_to_call_opens_with_a_call_permission_request_from_a_calling_number() {
    let c = center().await;
    let request = call_permission_template(&c).await;
    let plain = plain_template(&c).await;
    let start = |template: Uuid, to: &str| json!({"number_id": c.number, "to": to, "template": {"id": template}, "communication_type": "call"});
    let (s, err) = c.call(Method::POST, "/conversations", Some(start(plain, CUSTOMER))).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("template_not_call_permission")), "{err}");
    assert_eq!(err["error"]["details"]["field"], "template.id");

    c.number_settings(json!({"supports_calling": false})).await;
    let (s, err) = c.call(Method::POST, "/conversations", Some(start(request, CUSTOMER))).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("number_does_not_call")), "{err}");
    c.number_settings(json!({"supports_calling": true})).await;

    let conversation = c.post("/conversations", start(request, CUSTOMER)).await;
    assert_eq!(conversation["communication_type"], "call");
    let events = c.events(id(&conversation)).await;
    assert!(events.iter().any(|e| e["kind"] == "call_permission_requested"), "{events:?}");
    let (s, err) = c.call(Method::POST, "/conversations", Some(start(request, CUSTOMER))).await;
    assert_eq!((s, err["error"]["code"].as_str()), (409, Some("conversation_exists")), "{err}");

    // A notification cannot carry one (its limits are the conversation's), and an API token places no call.
    let body = json!({"number_id": c.number, "to": "+5215500000001", "template": {"id": request}});
    let (s, err) = c.call(Method::POST, "/notifications", Some(body)).await;
    assert_eq!((s, err["error"]["details"]["field"].as_str()), (422, Some("template")), "{err}");
    let (s, err) = c.call(Method::POST, &format!("/conversations/{}/calls", id(&conversation)), None).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("not_an_agent")), "{err}");
}

#[tokio::test]
async fn a_call_button_message_goes_only_inside_the_window_from_a_calling_number_and_its_call_rings_the_sender() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/Content"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "HX00112233445566778899aabbccddeeff"})))
        .mount(&twilio)
        .await;
    let uri = twilio.uri();
    let app = spawn_app_with(move |env| {
        for (k, v) in
            [("SWITCHBOARD__ROUTING__POLL_MS", "100"), ("SWITCHBOARD__TWILIO__CONTENT_BASE_URL", uri.as_str())]
        {
            env.push((k.into(), v.into()));
        }
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number) = app.create_channel_and_number().await;
    let c = Center { app, admin, channel, number };
    let (ana, ana_s) = c.online_agent("ana@example.com").await;
    let (bo, _) = c.online_agent("bo@example.com").await;
    let q =
        id(&c.post("/queues", json!({"name": "Support", "communication_type": "both", "member_ids": [ana, bo]})).await);
    c.number_settings(json!({"default_queue_id": q})).await;
    c.customer_writes("Can someone call me?").await;
    let conversation = c.queued_conversation().await;
    let messages = format!("/conversations/{conversation}/messages");
    let button = json!({"body": "Tap to talk to us", "call_button": {"label": "Call us"}});

    // Not from a number without calling; a label longer than WhatsApp's is refused by field.
    let (s, err) = ana_s.call(Method::POST, &messages, Some(button.clone())).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("number_does_not_call")), "{err}");
    c.number_settings(json!({"supports_calling": true})).await;
    let long = json!({"body": "Tap", "call_button": {"label": "Call our friendly team now"}});
    let (s, err) = ana_s.call(Method::POST, &messages, Some(long)).await;
    assert_eq!((s, err["error"]["details"]["field"].as_str()), (422, Some("call_button.label")), "{err}");

    // Inside the window: the content is made once at Twilio (a call-to-action with a VOICE_CALL action).
    for _ in 0..2 {
        let (s, m) = ana_s.call(Method::POST, &messages, Some(button.clone())).await;
        assert_eq!(s, 202, "{m}");
        assert_eq!(m["body"], "Tap to talk to us");
    }
    let made = twilio.received_requests().await.unwrap();
    assert_eq!(made.len(), 1, "the same words reuse the content");
    let content: Value = serde_json::from_slice(&made[0].body).unwrap();
    assert_eq!(
        content["types"]["twilio/call-to-action"],
        json!({"body": "Tap to talk to us", "actions": [{"type": "VOICE_CALL", "title": "Call us"}]})
    );

    // The customer's call from the button rings Ana, who sent it, before the queue's choice.
    let sid = new_sid("CA");
    c.voice("", &call_params(&sid, CUSTOMER, "ringing")).await;
    let call: Uuid =
        sqlx::query_scalar("SELECT id FROM calls WHERE call_sid = $1").bind(&sid).fetch_one(&c.app.pool).await.unwrap();
    let meant_for: Option<Uuid> =
        sqlx::query_scalar("SELECT agent_id FROM calls WHERE id = $1").bind(call).fetch_one(&c.app.pool).await.unwrap();
    assert_eq!(meant_for, Some(ana), "the call is meant for the button's sender");
    assert_eq!(c.rings(call, None).await, ana);
    let (s, v) = ana_s.call(Method::POST, &format!("/calls/{call}/decline"), None).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(c.rings(call, Some(ana)).await, bo, "declined, it falls back to the queue");

    // Outside the window it is refused.
    sqlx::query("UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = $1")
        .bind(conversation)
        .execute(&c.app.pool)
        .await
        .unwrap();
    let (s, err) = ana_s.call(Method::POST, &messages, Some(button)).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("session_window_closed")), "{err}");
}

/// The sandbox's stand-in for the Voice SDK in an agent's browser: `/sandbox/voice{path}` with their session.
async fn device(s: &Session, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = s.client.request(method, format!("{}/sandbox/voice{path}", s.base)).header("X-CSRF-Token", &s.csrf);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A server with the built-in sandbox, its number taking calls, and Ana in a queue that takes calls and chats.
async fn sandbox_center() -> (Center, Uuid, Session) {
    let app = spawn_app_with(|env| {
        for (k, v) in [
            ("SWITCHBOARD__SANDBOX__ENABLED", "true"),
            ("SWITCHBOARD__SANDBOX__STATUS_DELAY_MS", "50"),
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__ROUTING__POLL_MS", "100"),
        ] {
            env.push((k.into(), v.into()));
        }
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number): (Uuid, Uuid) =
        sqlx::query_as("SELECT channel_id, id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let c = Center { app, admin, channel, number };
    c.number_settings(json!({"supports_calling": true})).await;
    let (ana, ana_s) = c.online_agent("ana@example.com").await;
    let q = id(&c.post("/queues", json!({"name": "Calls", "communication_type": "both", "member_ids": [ana]})).await);
    c.number_settings(json!({"default_queue_id": q})).await;
    (c, ana, ana_s)
}

/// The sandbox's customer calls the business; answers the call's SID.
async fn sandbox_customer_calls(c: &Center) -> String {
    let r = c
        .app
        .client
        .post(format!("{}/sandbox/api/calls", c.app.address))
        .json(&json!({"customer": CUSTOMER, "business": BUSINESS_NUMBER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["sid"].as_str().unwrap().to_owned()
}

/// The sandbox's calls between the customer and the business, as the phone page reads them.
async fn sandbox_calls(c: &Center) -> Vec<Value> {
    let url = format!("{}/sandbox/api/calls?customer=%2B5215512345678&business=%2B14155238886", c.app.address);
    c.app.client.get(url).send().await.unwrap().json::<Vec<Value>>().await.unwrap()
}

async fn sandbox_call_is(c: &Center, sid: &str, status: &str) -> Value {
    eventually(20, &format!("the sandbox call to be {status}"), || async {
        sandbox_calls(c).await.into_iter().find(|x| x["sid"] == sid && x["status"] == status)
    })
    .await
}

#[tokio::test]
async fn the_sandbox_plays_twilio_for_calls_both_ways() {
    let (c, ana, ana_s) = sandbox_center().await;
    let channel = c.channel;
    let phone = |path: &str| format!("{}/sandbox/api/calls{path}", c.app.address);
    let calls_of = || sandbox_calls(&c);

    // The customer calls: the sandbox posts the signed voice webhook and plays the built-in waiting strategy.
    let sid = sandbox_customer_calls(&c).await;
    let waiting = sandbox_call_is(&c, &sid, "queued").await;
    assert!(waiting["heard"][0].as_str().unwrap().starts_with("Thank you for calling"), "{waiting}");
    let call: Uuid =
        sqlx::query_scalar("SELECT id FROM calls WHERE call_sid = $1").bind(&sid).fetch_one(&c.app.pool).await.unwrap();

    // It rings Ana; she accepts and her browser joins: the two are bridged.
    assert_eq!(c.rings(call, None).await, ana);
    let (s, v) = ana_s.call(Method::POST, &format!("/calls/{call}/accept"), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = device(&ana_s, Method::POST, "/join", Some(json!({"channel_id": channel, "call": call}))).await;
    assert_eq!((s, v["sid"].as_str()), (200, Some(sid.as_str())), "{v}");
    sandbox_call_is(&c, &sid, "in-progress").await;

    // Ana hangs up: Twilio's queue action and status callback end the call as answered.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, v) = device(&ana_s, Method::POST, &format!("/calls/{sid}/hangup"), None).await;
    assert_eq!(s, 204, "{v}");
    let (state, outcome, _, conversation) = eventually(20, "the call to end", || async {
        let row = c.call_row(&sid).await;
        (row.0 == "ended").then_some(row)
    })
    .await;
    assert_eq!((state.as_str(), outcome.as_deref()), ("ended", Some("answered")));
    let ended = c.events(conversation).await.into_iter().find(|e| e["kind"] == "call_ended").expect("call_ended");
    assert!(ended["data"]["duration_secs"].as_u64().unwrap() >= 1, "{ended}");

    // The business calls back, with the customer's permission: Ana's browser rings, she answers, then the
    // customer's phone; the customer answers and hangs up.
    for (table, extra) in [("call_permission_requests", ""), ("call_permission_answers", ", granted")] {
        let sql = format!(
            "INSERT INTO {table} (id, number_id, contact_id, conversation_id, message_id{extra})
             SELECT gen_random_uuid(), number_id, contact_id, id, gen_random_uuid(){} FROM conversations WHERE id = $1",
            if extra.is_empty() { "" } else { ", true" }
        );
        sqlx::query(&sql).bind(conversation).execute(&c.app.pool).await.unwrap();
    }
    let (s, placed) = ana_s.call(Method::POST, &format!("/conversations/{conversation}/calls"), None).await;
    assert_eq!(s, 201, "{placed}");
    let ringing = eventually(20, "Ana's browser to ring", || async {
        let (_, v) = device(&ana_s, Method::GET, "/calls", None).await;
        v.as_array().unwrap().first().cloned()
    })
    .await;
    let out_sid = ringing["sid"].as_str().unwrap().to_owned();
    assert_eq!(ringing["direction"], "outbound");
    assert_eq!(device(&ana_s, Method::POST, &format!("/calls/{out_sid}/answer"), None).await.0, 204);
    eventually(20, "the customer's phone to ring", || async {
        calls_of().await.into_iter().find(|x| x["sid"] == out_sid.as_str() && x["customer_ringing"] == true)
    })
    .await;
    let answer = c.app.client.post(phone(&format!("/{out_sid}/answer"))).send().await.unwrap();
    assert_eq!(answer.status(), 204);
    let placed_id = id(&placed);
    let state_of = || async {
        sqlx::query_as::<_, (String, Option<String>)>("SELECT state, outcome FROM calls WHERE id = $1")
            .bind(placed_id)
            .fetch_one(&c.app.pool)
            .await
            .unwrap()
    };
    eventually(20, "the customer to be reached", || async { (state_of().await.0 == "connected").then_some(()) }).await;
    let hangup = c.app.client.post(phone(&format!("/{out_sid}/hangup"))).send().await.unwrap();
    assert_eq!(hangup.status(), 204);
    let ended = eventually(20, "the call to end", || async {
        let s = state_of().await;
        (s.0 == "ended").then_some(s)
    })
    .await;
    assert_eq!(ended.1.as_deref(), Some("answered"));
}

#[tokio::test]
async fn a_held_caller_hears_hold_music_and_a_transfer_rings_the_other_agent() {
    let (c, ana, ana_s) = sandbox_center().await;
    let (bo, bo_s) = c.online_agent("bo@example.com").await;
    let strategy = json!({"hold_music_url": "https://music.example.com/hold.mp3"});
    let (_, queues) = c.call(Method::GET, "/queues", None).await;
    let q = queues["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, v) = c.call(Method::PATCH, &format!("/queues/{q}"), Some(json!({"waiting_strategy": strategy}))).await;
    assert_eq!(s, 200, "{v}");
    let sid = sandbox_customer_calls(&c).await;
    sandbox_call_is(&c, &sid, "queued").await;
    let call: Uuid =
        sqlx::query_scalar("SELECT id FROM calls WHERE call_sid = $1").bind(&sid).fetch_one(&c.app.pool).await.unwrap();
    assert_eq!(c.rings(call, None).await, ana);
    assert_eq!(ana_s.call(Method::POST, &format!("/calls/{call}/accept"), None).await.0, 200);
    let join = json!({"channel_id": c.channel, "call": call});
    assert_eq!(device(&ana_s, Method::POST, "/join", Some(join.clone())).await.0, 200);
    sandbox_call_is(&c, &sid, "in-progress").await;

    // On hold: the customer goes back to the call's queue and hears the hold music again (they heard it once
    // while first waiting); Ana resumes and rejoins.
    let music =
        |x: &Value| x["heard"].as_array().unwrap().iter().filter(|h| h.as_str().unwrap().contains("hold.mp3")).count();
    let before = sandbox_call_is(&c, &sid, "in-progress").await;
    let (s, v) = ana_s.call(Method::POST, &format!("/calls/{call}/hold"), Some(json!({"on": true}))).await;
    assert_eq!((s, v["on_hold"].as_bool()), (200, Some(true)), "{v}");
    let held = eventually(20, "the hold music", || async {
        sandbox_calls(&c).await.into_iter().find(|x| x["sid"] == sid.as_str() && music(x) > music(&before))
    })
    .await;
    assert_eq!(held["agent"], Value::Null, "Ana's leg is gone while the customer holds");
    let (state, outcome, _, conversation) = c.call_row(&sid).await;
    assert_eq!((state.as_str(), outcome), ("connected", None), "holding is not the end of the call");
    let (s, v) = ana_s.call(Method::POST, &format!("/calls/{call}/hold"), Some(json!({"on": false}))).await;
    assert_eq!((s, v["on_hold"].as_bool()), (200, Some(false)), "{v}");
    assert_eq!(device(&ana_s, Method::POST, "/join", Some(join)).await.0, 200);
    let back = sandbox_call_is(&c, &sid, "in-progress").await;
    assert_eq!(back["agent"], ana.to_string());

    // Transferred to Bo: the call rings him, and the conversation goes with it.
    let (s, v) = ana_s.call(Method::POST, &format!("/calls/{call}/transfer"), Some(json!({"agent_id": bo}))).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("waiting")), "{v}");
    assert_eq!(c.rings(call, Some(ana)).await, bo);
    assert_eq!(bo_s.call(Method::POST, &format!("/calls/{call}/accept"), None).await.0, 200);
    let join = json!({"channel_id": c.channel, "call": call});
    assert_eq!(device(&bo_s, Method::POST, "/join", Some(join)).await.0, 200);
    let with_bo = sandbox_call_is(&c, &sid, "in-progress").await;
    assert_eq!(with_bo["agent"], bo.to_string());
    let (_, conv) = c.call(Method::GET, &format!("/conversations/{conversation}"), None).await;
    assert_eq!(conv["assignee_id"], bo.to_string());
    let kinds: Vec<String> =
        c.events(conversation).await.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    for k in ["call_held", "call_resumed", "call_transferred"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in {kinds:?}");
    }
    // A transfer of a call that is not in progress is refused.
    let (s, err) = ana_s.call(Method::POST, &format!("/calls/{call}/hold"), Some(json!({"on": true}))).await;
    assert_eq!((s, err["error"]["code"].as_str()), (404, Some("call_not_found")), "no longer Ana's: {err}");
}

#[tokio::test]
async fn an_agent_who_accepts_but_never_joins_is_passed_over_after_the_join_timeout() {
    let (c, [(ana, ana_s), (bo, bo_s)]) = two_agents("SWITCHBOARD__ROUTING__CALL_JOIN_TIMEOUT_SECS").await;
    let sessions = |a: Uuid| if a == ana { &ana_s } else { &bo_s };
    let (sid, call) = c.call_arrives().await;
    let first = c.rings(call, None).await;
    let second = if first == ana { bo } else { ana };
    assert_eq!(sessions(first).call(Method::POST, &format!("/calls/{call}/accept"), None).await.0, 200);
    assert_eq!(c.call_row(&sid).await.0, "connected");

    // The first agent's browser never joins: after the join timeout the call rings the other.
    assert_eq!(c.rings(call, Some(first)).await, second);
    let (state, _, _, conversation) = c.call_row(&sid).await;
    assert_eq!(state, "waiting");
    let missed = c.events(conversation).await.into_iter().find(|e| e["kind"] == "call_not_joined").expect("logged");
    assert_eq!(missed["data"]["agent_id"], first.to_string());

    // The second accepts and joins (the Voice SDK's leg from client:<agent>): the call stays theirs.
    assert_eq!(sessions(second).call(Method::POST, &format!("/calls/{call}/accept"), None).await.0, 200);
    let leg = params(&[
        ("CallSid", &new_sid("CA")),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("client:{second}")),
        ("CallStatus", "ringing"),
        ("call", &call.to_string()),
    ]);
    assert_eq!(names(&c.voice("", &leg).await), ["Dial"]);
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let row: (String, Option<Uuid>) = sqlx::query_as("SELECT state, agent_id FROM calls WHERE id = $1")
        .bind(call)
        .fetch_one(&c.app.pool)
        .await
        .unwrap();
    assert_eq!(row, ("connected".to_owned(), Some(second)));
}

#[tokio::test]
async fn an_agent_who_takes_calls_on_a_phone_is_called_there_and_joins_the_caller() {
    let (c, ana, ana_s) = sandbox_center().await;
    let (s, v) = c.call(Method::PATCH, &format!("/agents/{ana}"), Some(json!({"call_phone": "0612"}))).await;
    assert_eq!((s, v["error"]["details"]["field"].as_str()), (422, Some("call_phone")), "{v}");
    let (s, v) = c.call(Method::PATCH, &format!("/agents/{ana}"), Some(json!({"call_phone": "+31612345678"}))).await;
    assert_eq!((s, v["call_phone"].as_str()), (200, Some("+31612345678")), "{v}");
    let sid = sandbox_customer_calls(&c).await;
    sandbox_call_is(&c, &sid, "queued").await;
    let call: Uuid =
        sqlx::query_scalar("SELECT id FROM calls WHERE call_sid = $1").bind(&sid).fetch_one(&c.app.pool).await.unwrap();
    assert_eq!(c.rings(call, None).await, ana);
    // Accepting in the inbox: Twilio (here the sandbox) calls Ana's phone, and its answer takes the caller.
    assert_eq!(ana_s.call(Method::POST, &format!("/calls/{call}/accept"), None).await.0, 200);
    let talking = sandbox_call_is(&c, &sid, "in-progress").await;
    assert_eq!(talking["agent"], "+31612345678");
    let join_by: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT join_by FROM calls WHERE id = $1").bind(call).fetch_one(&c.app.pool).await.unwrap();
    assert_eq!(join_by, None, "the phone joined in time");
}
