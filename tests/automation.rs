//! Automations end to end through the sandbox: the greeting, the out-of-hours message once per closed period
//! (and not after a person's recent reply), auto replies with a cooldown and their explanation, refused media,
//! waiting notices with the right positions and none after assignment, and auto-resolve after silence.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const BUSINESS: &str = "+14155238886";

async fn sandbox_app() -> (TestApp, String, Uuid, Uuid) {
    let app = spawn_app_with(|env| {
        for (k, v) in [
            ("SWITCHBOARD__SANDBOX__ENABLED", "true"),
            ("SWITCHBOARD__SANDBOX__STATUS_DELAY_MS", "50"),
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__ROUTING__POLL_MS", "100"),
            ("SWITCHBOARD__ROUTING__IDLE_SCAN_SECS", "1"),
        ] {
            env.push((k.into(), v.into()));
        }
    })
    .await;
    let admin = app.api_token("admin").await;
    let (channel, number): (Uuid, Uuid) =
        sqlx::query_as("SELECT channel_id, id FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    (app, admin, channel, number)
}

async fn customer_says(app: &TestApp, customer: &str, body: &str) {
    let r = app
        .client
        .post(format!("{}/sandbox/api/messages", app.address))
        .json(&json!({"customer": customer, "business": BUSINESS, "body": body, "profile_name": "Ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// Waits until the automations have looked at every message stored so far.
async fn settled(app: &TestApp) {
    eventually(20, "the automations to look at every message", || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM automation_inbox").fetch_one(&app.pool).await.unwrap();
        (pending == 0).then_some(())
    })
    .await;
}

/// The automated messages to `customer`, oldest first: `(kind, body)`.
async fn automated(app: &TestApp, customer: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT m.automation->>'kind', m.body FROM messages m
         JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = c.contact_id
         WHERE k.phone_e164 = $1 AND m.automation IS NOT NULL ORDER BY m.created_at, m.id",
    )
    .bind(customer)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn ok(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let (status, v) = app.api(token, method, path, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

async fn conversation_of(app: &TestApp, customer: &str) -> Uuid {
    sqlx::query_scalar(
        "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone_e164 = $1
         ORDER BY c.created_at DESC LIMIT 1",
    )
    .bind(customer)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_greeting_then_the_out_of_hours_message_once_per_closed_period_and_not_after_a_recent_reply() {
    let (app, admin, channel, number) = sandbox_app().await;
    let path = format!("/channels/{channel}/numbers/{number}");
    ok(
        &app,
        &admin,
        Method::PATCH,
        &path,
        json!({"greeting_text": "Hi {{customer_name}}, welcome to {{number_name}}!"}),
    )
    .await;
    let closed = ok(
        &app,
        &admin,
        Method::POST,
        "/business-hours",
        json!({"name": "Never", "time_zone": "Europe/Amsterdam", "weekly": {}}),
    )
    .await;
    let automation = format!("/automation/numbers/{number}");
    ok(&app, &admin, Method::PUT, &automation, json!({"out_of_hours_text": "We are closed; we answer when we open."}))
        .await;

    // Open (no schedule yet): the first message is greeted, once, on the customer's phone.
    let b = "+5215500000002";
    customer_says(&app, b, "Hello").await;
    eventually(20, "the greeting on the phone", || async {
        let t = automated(&app, b).await;
        (t.len() == 1).then_some(())
    })
    .await;
    let greeting = automated(&app, b).await;
    assert_eq!(greeting[0].0, "greeting");
    assert!(greeting[0].1.starts_with("Hi Ana, welcome to "), "{greeting:?}");
    // A person replies; the schedule closes; the customer writes again within the quiet minutes: nothing more.
    let c = conversation_of(&app, b).await;
    ok(&app, &admin, Method::POST, &format!("/conversations/{c}/messages"), json!({"body": "Looking into it"})).await;
    ok(&app, &admin, Method::PATCH, &path, json!({"business_hours_id": closed["id"]})).await;
    customer_says(&app, b, "Any news?").await;
    settled(&app).await;
    assert_eq!(
        automated(&app, b).await.len(),
        1,
        "no second greeting and no out-of-hours message after a recent reply"
    );

    // Closed: a new customer is greeted and told once; the second message in the same closed period is not.
    let a = "+5215500000001";
    customer_says(&app, a, "Hello?").await;
    eventually(20, "greeting and out-of-hours message", || async {
        (automated(&app, a).await.len() == 2).then_some(())
    })
    .await;
    customer_says(&app, a, "Anyone there?").await;
    settled(&app).await;
    let kinds: Vec<String> = automated(&app, a).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["greeting", "out_of_hours"]);
    // On the phone, in the order they were written (sends are ordered per conversation).
    let on_phone: Vec<String> = eventually(20, "both automated messages on the phone", || async {
        let to_customer: Vec<String> = phone(&app, a)
            .await
            .iter()
            .filter(|m| m["direction"] == "to_customer")
            .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
            .collect();
        (to_customer.len() == 2).then_some(to_customer)
    })
    .await;
    assert!(on_phone[0].starts_with("Hi Ana, welcome to "), "{on_phone:?}");
    assert_eq!(on_phone[1], "We are closed; we answer when we open.");
    // The automated messages are the automation's, never an agent's first reply.
    let authors: Vec<(Option<Uuid>, String)> =
        sqlx::query_as("SELECT author_user_id, author_label FROM messages WHERE automation IS NOT NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(authors.iter().all(|(user, label)| user.is_none() && label == "Automation"), "{authors:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_auto_reply_with_a_cooldown_answers_once_and_explain_says_why_not_again() {
    let (app, admin, _, number) = sandbox_app().await;
    let tag = ok(&app, &admin, Method::POST, "/tags", json!({"name": "pricing"})).await;
    let rule = ok(
        &app,
        &admin,
        Method::POST,
        "/automation/rules",
        json!({
            "name": "Prices",
            "conditions": [{"type": "text_contains", "value": "price"}],
            "actions": [
                {"type": "reply", "text": "Our prices are on acme.example/prices, {{customer_name}}."},
                {"type": "add_tags", "tag_ids": [tag["id"]]},
                {"type": "set_priority", "priority": 10}
            ],
            "cooldown_secs": 86400
        }),
    )
    .await;
    let other = ok(
        &app,
        &admin,
        Method::POST,
        "/automation/rules",
        json!({"name": "Never", "conditions": [{"type": "text_contains", "value": "refund"}], "actions": [{"type": "resolve"}]}),
    )
    .await;
    // The number greets too: the first message gets the greeting and the auto reply.
    let (channel,): (Uuid,) = sqlx::query_as("SELECT channel_id FROM whatsapp_numbers WHERE id = $1")
        .bind(number)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/channels/{channel}/numbers/{number}"),
        json!({"greeting_text": "Hello!"}),
    )
    .await;
    let customer = "+5215500000010";
    customer_says(&app, customer, "What is the PRICE of a box?").await;
    eventually(20, "the greeting and the auto reply", || async {
        (automated(&app, customer).await.len() == 2).then_some(())
    })
    .await;
    customer_says(&app, customer, "and the price of two?").await;
    settled(&app).await;
    let replies = automated(&app, customer).await;
    assert_eq!(
        replies,
        [
            ("greeting".to_owned(), "Hello!".to_owned()),
            ("rule".to_owned(), "Our prices are on acme.example/prices, Ana.".to_owned())
        ]
    );
    let c = conversation_of(&app, customer).await;
    let (priority, tags): (i32, i64) = sqlx::query_as(
        "SELECT priority, (SELECT count(*) FROM conversation_tags WHERE conversation_id = $1) FROM conversations WHERE id = $1",
    )
    .bind(c)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((priority, tags), (10, 1));
    let (_, events) = app.api(&admin, Method::GET, &format!("/conversations/{c}/events"), None).await;
    let fired: Vec<&Value> =
        events.as_array().unwrap().iter().filter(|e| e["kind"] == "automation_rule_fired").collect();
    assert_eq!(fired.len(), 1, "the rule fired once, and the timeline says so: {events}");
    assert_eq!(
        (fired[0]["data"]["rule_name"].as_str(), fired[0]["actor_type"].as_str()),
        (Some("Prices"), Some("automation"))
    );

    let contact: Uuid = sqlx::query_scalar("SELECT id FROM contacts WHERE phone_e164 = $1")
        .bind(customer)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let why = ok(
        &app,
        &admin,
        Method::POST,
        "/automation/explain",
        json!({"number_id": number, "text": "price?", "contact_id": contact}),
    )
    .await;
    assert_eq!(why["fires"], json!([]), "{why}");
    assert!(why["rules"][0]["note"].as_str().unwrap().contains("cooldown"), "{why}");
    assert_eq!(why["rules"][1]["matched"], false);
    assert_eq!(why["rules"][1]["conditions"][0]["held"], false);
    let fresh =
        ok(&app, &admin, Method::POST, "/automation/explain", json!({"number_id": number, "text": "price?"})).await;
    assert_eq!(fresh["fires"], json!([rule["id"]]), "{fresh}");
    let _ = other;

    // Bad rules are refused with the field at fault.
    let (s, e) = app
        .api(
            &admin,
            Method::POST,
            "/automation/rules",
            Some(json!({"name": "x", "actions": [{"type": "set_priority", "priority": 5000}]})),
        )
        .await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("actions[0].priority")), "{e}");
    let (s, e) = app.api(&admin, Method::POST, "/automation/rules", Some(json!({"name": "x", "actions": []}))).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("actions")), "{e}");
    app.stop().await;
}

#[tokio::test]
async fn media_the_number_does_not_accept_gets_a_polite_reply_and_is_not_downloaded() {
    let (app, admin, _, _) = sandbox_app().await;
    let (channel, number) = app.create_channel_and_number().await;
    ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/channels/{channel}/numbers/{number}"),
        json!({"customers_may_send_attachments": false}),
    )
    .await;
    let mut p = inbound_text(&new_sid("MM"), "see photo");
    set(&mut p, "From", "whatsapp:+5215500000020");
    set(&mut p, "NumMedia", "1");
    p.push(("MediaUrl0".into(), "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1".into()));
    p.push(("MediaContentType0".into(), "image/jpeg".into()));
    let r = app.post_signed(&app.messages_url(channel), &p).await;
    assert_eq!(r.status(), 200);
    eventually(20, "the polite reply", || async {
        (!automated(&app, "+5215500000020").await.is_empty()).then_some(())
    })
    .await;
    let (kind, body) = automated(&app, "+5215500000020").await.remove(0);
    assert_eq!(kind, "attachments_refused");
    assert!(body.contains("cannot receive files"), "{body}");
    let (state, jobs): (String, i64) = sqlx::query_as(
        "SELECT download_state, (SELECT count(*) FROM jobs WHERE kind = 'media.download') FROM attachments",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), jobs), ("refused", 0));
    let text: String =
        sqlx::query_scalar("SELECT body FROM messages WHERE direction = 'inbound'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(text, "see photo", "the text is kept");
    app.stop().await;
}

#[tokio::test]
async fn waiting_customers_hear_their_place_in_line_and_nothing_after_assignment() {
    let (app, admin, channel, number) = sandbox_app().await;
    let queue = ok(&app, &admin, Method::POST, "/queues", json!({"name": "Support", "member_ids": []})).await;
    let q = queue["id"].as_str().unwrap();
    ok(&app, &admin, Method::PATCH, &format!("/channels/{channel}/numbers/{number}"), json!({"default_queue_id": q}))
        .await;
    ok(
        &app,
        &admin,
        Method::PUT,
        &format!("/automation/queues/{q}"),
        json!({"waiting_notice_text": "You are number {{position}} in line.", "waiting_notice_every_minutes": 1, "waiting_notice_max": 3}),
    )
    .await;
    let customers = ["+5215500000031", "+5215500000032", "+5215500000033"];
    for c in customers {
        customer_says(&app, c, "Hi").await;
        eventually(20, "the notice", || async { (automated(&app, c).await.len() == 1).then_some(()) }).await;
    }
    for (i, c) in customers.iter().enumerate() {
        assert_eq!(
            automated(&app, c).await[0],
            ("waiting_notice".to_owned(), format!("You are number {} in line.", i + 1))
        );
    }
    // The first is assigned; a minute later the others hear their new place, the first nothing.
    let agent = ok(&app, &admin, Method::POST, "/agents", json!({"email": "a@example.com", "name": "A", "role": "agent", "password": "correct horse battery", "capacity": 5})).await;
    let first = conversation_of(&app, customers[0]).await;
    ok(&app, &admin, Method::POST, &format!("/conversations/{first}/assign"), json!({"agent_id": agent["id"]})).await;
    sqlx::query("UPDATE automation_runs SET created_at = created_at - interval '2 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    for c in &customers[1..] {
        eventually(20, "the second notice", || async { (automated(&app, c).await.len() == 2).then_some(()) }).await;
    }
    assert_eq!(automated(&app, customers[1]).await[1].1, "You are number 1 in line.");
    assert_eq!(automated(&app, customers[2]).await[1].1, "You are number 2 in line.");
    assert_eq!(automated(&app, customers[0]).await.len(), 1, "nothing after assignment");
    app.stop().await;
}

async fn tap(app: &TestApp, customer: &str, title: &str, payload: &str) {
    let r = app
        .client
        .post(format!("{}/sandbox/api/messages", app.address))
        .json(&json!({"customer": customer, "business": BUSINESS, "body": title, "button_payload": payload}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

async fn phone(app: &TestApp, customer: &str) -> Vec<Value> {
    let url = format!(
        "{}/sandbox/api/messages?customer={}&business=%2B14155238886",
        app.address,
        customer.replace('+', "%2B")
    );
    app.client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn survey(
    app: &TestApp,
    conversation: Uuid,
) -> Option<(String, Option<i16>, Option<Uuid>, Option<String>, Option<String>)> {
    sqlx::query_as("SELECT state, rating, agent_id, comment, skip_reason FROM csat_surveys WHERE conversation_id = $1")
        .bind(conversation)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn csat_survey_with_buttons_a_tap_and_a_digit_are_stored_against_the_resolving_agent_without_reopening() {
    let (app, admin, channel, number) = sandbox_app().await;
    ok(&app, &admin, Method::PATCH, &format!("/channels/{channel}/numbers/{number}"), json!({"csat_enabled": true}))
        .await;
    ok(
        &app,
        &admin,
        Method::PUT,
        &format!("/automation/numbers/{number}"),
        json!({"csat": {"texts": {"en": {"question": "How did we do?", "thanks": "Thank you! Anything to add?"}}}}),
    )
    .await;
    let agent = ok(
        &app,
        &admin,
        Method::POST,
        "/agents",
        json!({"email": "ana@example.com", "name": "Ana", "role": "agent", "password": "first password 0123"}),
    )
    .await;
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let session = app.session("ana@example.com", &["first password 0123"], "my own password 0123", &agent_id).await;
    ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/channels/{channel}/numbers/{number}"),
        json!({"member_ids": [agent_id]}),
    )
    .await;

    // Resolve → the survey with five buttons on the phone → tap 4.
    let customer = "+5215500000040";
    customer_says(&app, customer, "Hi, my parcel?").await;
    let c = conversation_of(&app, customer).await;
    let (s, v) = session.call(Method::POST, &format!("/conversations/{c}/resolve"), None).await;
    assert_eq!(s, 200, "{v}");
    let survey_message = eventually(20, "the survey on the phone", || async {
        phone(&app, customer).await.into_iter().find(|m| m["body"] == "How did we do?")
    })
    .await;
    assert_eq!(survey_message["kind"], "twilio/quick-reply");
    let titles: Vec<&str> =
        survey_message["buttons"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["1", "2", "3", "4", "5"]);
    assert_eq!(survey_message["buttons"][3]["id"], "csat_4");
    tap(&app, customer, "4", "csat_4").await;
    let rated = eventually(20, "the rating", || async { survey(&app, c).await.filter(|s| s.1.is_some()) }).await;
    assert_eq!((rated.0.as_str(), rated.1, rated.2.map(|a| a.to_string())), ("rated", Some(4), Some(agent_id.clone())));
    // The thanks goes out; a free-text follow-up becomes the comment; the conversation stays resolved.
    eventually(20, "the thanks", || async {
        phone(&app, customer).await.into_iter().find(|m| m["body"] == "Thank you! Anything to add?")
    })
    .await;
    customer_says(&app, customer, "Fast and friendly").await;
    let done = eventually(20, "the comment", || async { survey(&app, c).await.filter(|s| s.0 == "done") }).await;
    assert_eq!(done.3.as_deref(), Some("Fast and friendly"));
    let (status, conversations): (String, i64) =
        sqlx::query_as("SELECT (SELECT status FROM conversations WHERE id = $1), (SELECT count(*) FROM conversations)")
            .bind(c)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), conversations), ("resolved", 1), "a rating reply does not reopen or open anything");
    let (_, shown) = app.api(&admin, Method::GET, &format!("/conversations/{c}"), None).await;
    assert_eq!(shown["csat_rating"], 4);
    let (_, list) = app.api(&admin, Method::GET, &format!("/csat?agent_id={agent_id}&rating=4"), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (s, e) = app.api(&admin, Method::GET, "/csat?rating=9", None).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("rating")));

    // Next time a typed "5" works the same; and the customer's next real message opens a new conversation.
    customer_says(&app, customer, "Another question").await;
    let c2 = eventually(20, "a new conversation", || async {
        Some(conversation_of(&app, customer).await).filter(|n| *n != c)
    })
    .await;
    let (s, _) = session.call(Method::POST, &format!("/conversations/{c2}/resolve"), None).await;
    assert_eq!(s, 200);
    eventually(20, "the second survey", || async { survey(&app, c2).await.filter(|s| s.0 == "sent") }).await;
    customer_says(&app, customer, "5").await;
    let second =
        eventually(20, "the typed rating", || async { survey(&app, c2).await.filter(|s| s.1.is_some()) }).await;
    assert_eq!(second.1, Some(5));
    let content_created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sandbox_contents").fetch_one(&app.pool).await.unwrap();
    assert_eq!(content_created, 1, "the survey's content is created once and reused");
    app.stop().await;
}

#[tokio::test]
async fn outside_the_window_without_a_template_the_survey_is_skipped_with_the_reason() {
    let (app, admin, channel, number) = sandbox_app().await;
    ok(&app, &admin, Method::PATCH, &format!("/channels/{channel}/numbers/{number}"), json!({"csat_enabled": true}))
        .await;
    let customer = "+5215500000050";
    customer_says(&app, customer, "Hi").await;
    let c = conversation_of(&app, customer).await;
    sqlx::query("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    ok(&app, &admin, Method::POST, &format!("/conversations/{c}/resolve"), json!({})).await;
    let skipped = eventually(20, "the skipped survey", || async { survey(&app, c).await }).await;
    assert_eq!((skipped.0.as_str(), skipped.4.as_deref()), ("skipped", Some("window_closed_no_template")));
    let (_, events) = app.api(&admin, Method::GET, &format!("/conversations/{c}/events"), None).await;
    assert!(events.as_array().unwrap().iter().any(|e| e["kind"] == "csat_skipped"), "{events}");
    app.stop().await;
}

/// Automated texts are sent a batch at a time (`compose::send_texts`) under the rules one send follows: each
/// text is refused or queued on its own, and each key is claimed once however often a batch names it.
#[tokio::test]
async fn texts_sent_together_follow_each_conversations_rules_and_claim_each_key_once() {
    use switchboard::domain::automation::{Author, Kind};
    use switchboard::outbound::compose::{self, AutomatedText, Outbox};
    use switchboard::outbound::policy::Refusal;
    let (app, _admin, _, _) = sandbox_app().await;
    for customer in ["+5215500000001", "+5215500000002", "+5215500000003"] {
        customer_says(&app, customer, "hello").await;
    }
    settled(&app).await;
    let conversation = |phone: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>(
                "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone_e164 = $1",
            )
            .bind(phone)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (open, resolved, closed) = (
        conversation("+5215500000001").await,
        conversation("+5215500000002").await,
        conversation("+5215500000003").await,
    );
    sqlx::query("UPDATE conversations SET status = 'resolved' WHERE id = $1")
        .bind(resolved)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = $1")
        .bind(closed)
        .execute(&app.pool)
        .await
        .unwrap();

    let mut tx = app.pool.begin().await.unwrap();
    let keys = [(open, Kind::Greeting, "g"), (open, Kind::Greeting, "g"), (resolved, Kind::Greeting, "g")];
    let claimed = switchboard::store::automation::claim_runs(&mut tx, &keys).await.unwrap();
    assert_eq!(claimed, [true, false, true], "a key named twice in one batch is claimed by the first");
    let again = switchboard::store::automation::claim_runs(&mut tx, &keys[..1]).await.unwrap();
    assert_eq!(again, [false], "a key claimed before is not claimed again");

    let greeting = Author { kind: Kind::Greeting, rule_id: None, ai_agent_id: None };
    let text = |conversation_id, body: &str| AutomatedText { conversation_id, body: body.into(), author: greeting };
    let texts = [
        text(open, "first"),
        text(resolved, "to a resolved conversation"),
        text(closed, "outside the window"),
        text(Uuid::now_v7(), "to nobody"),
        text(open, "second"),
        text(open, "  "),
    ];
    let caller = switchboard::automation::caller(None);
    let answers = compose::send_texts(&mut tx, Outbox { max_attempts: 3 }, &caller, &texts).await.unwrap();
    // Read before the commit, while no worker can have sent (and so deleted) the jobs.
    let queued: Vec<(Uuid, String, String, String, i64)> = sqlx::query_as(
        "SELECT m.id, m.body, m.author_label, m.automation->>'kind',
                (SELECT count(*) FROM jobs j WHERE j.payload->>'message_id' = m.id::text)
         FROM messages m WHERE m.direction = 'outbound' AND m.automation IS NOT NULL ORDER BY m.id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(answers[0].is_ok() && answers[4].is_ok(), "{answers:?}");
    assert_eq!(answers[1], Err(Refusal::ConversationResolved));
    assert!(matches!(answers[2], Err(Refusal::WindowClosed { .. })), "{:?}", answers[2]);
    assert_eq!(answers[3], Err(Refusal::ConversationNotFound));
    assert!(answers[5].is_err(), "an empty text is refused as it would be alone");

    let shown: Vec<(&str, &str, &str, i64)> =
        queued.iter().map(|(_, b, l, k, j)| (b.as_str(), l.as_str(), k.as_str(), *j)).collect();
    assert_eq!(shown, [("first", "Automation", "greeting", 1), ("second", "Automation", "greeting", 1)]);
    assert_eq!(Ok(queued[0].0), answers[0], "the answer is the queued message's id");
    app.stop().await;
}

/// Moves everything about the customer's conversation `hours` into the past (rather than waiting for it).
async fn age(app: &TestApp, conversation: Uuid, hours: i32) {
    sqlx::query(
        "WITH m AS (UPDATE messages SET created_at = created_at - make_interval(hours => $2) WHERE conversation_id = $1
                    RETURNING 1)
         UPDATE conversations SET updated_at = updated_at - make_interval(hours => $2),
                                  last_inbound_at = last_inbound_at - make_interval(hours => $2)
         WHERE id = $1",
    )
    .bind(conversation)
    .bind(hours)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn silent_conversations_are_auto_resolved_with_the_queues_or_numbers_closing_message_while_the_window_is_open() {
    let (app, admin, _channel, number) = sandbox_app().await;
    let number_text = "Closing this chat, {{customer_name}}. Write again any time.";
    let v = ok(
        &app,
        &admin,
        Method::PUT,
        &format!("/automation/numbers/{number}"),
        json!({"auto_resolve_after_minutes": 120, "auto_resolve_text": number_text}),
    )
    .await;
    assert_eq!(v["auto_resolve_text"], number_text);
    // Out of range is refused, naming the field; nothing stored changes.
    let (status, e) = app
        .api(
            &admin,
            Method::PUT,
            &format!("/automation/numbers/{number}"),
            Some(json!({"auto_resolve_after_minutes": 0})),
        )
        .await;
    assert_eq!((status, e["error"]["details"]["field"].as_str()), (422, Some("auto_resolve_after_minutes")), "{e}");
    let (_, v) = app.api(&admin, Method::GET, &format!("/automation/numbers/{number}"), None).await;
    assert_eq!(v["auto_resolve_after_minutes"], 120);
    // A queue of its own: resolves after 30 minutes, with its own text.
    let queue = ok(&app, &admin, Method::POST, "/queues", json!({"name": "Returns"})).await;
    let queue_id = queue["id"].as_str().unwrap();
    ok(
        &app,
        &admin,
        Method::PUT,
        &format!("/automation/queues/{queue_id}"),
        json!({"auto_resolve_after_minutes": 30, "auto_resolve_text": "Returns desk closing this chat."}),
    )
    .await;

    let (talking, quiet, in_queue, gone) = ("+5215500000101", "+5215500000102", "+5215500000103", "+5215500000104");
    for c in [talking, quiet, in_queue, gone] {
        customer_says(&app, c, "Hello").await;
    }
    settled(&app).await;
    let ids: Vec<Uuid> =
        futures_util::future::join_all([talking, quiet, in_queue, gone].map(|c| conversation_of(&app, c))).await;
    eventually(20, "every conversation routed", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE routing_state = 'unrouted'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (n == 0).then_some(())
    })
    .await;
    ok(&app, &admin, Method::POST, &format!("/conversations/{}/transfer", ids[2]), json!({"queue_id": queue_id})).await;
    // `talking` was quiet 1 hour (under the number's 2), `quiet` 3 hours, `in_queue` 1 hour (over the queue's 30
    // minutes), `gone` 30 hours: the customer's window closed, so no closing message can go.
    for (id, hours) in ids.iter().zip([1, 3, 1, 30]) {
        age(&app, *id, hours).await;
    }
    for id in &ids[1..] {
        eventually(20, "the silent conversation resolved", || async {
            let (_, c) = app.api(&admin, Method::GET, &format!("/conversations/{id}"), None).await;
            (c["status"] == "resolved").then_some(())
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (_, c) = app.api(&admin, Method::GET, &format!("/conversations/{}", ids[0]), None).await;
    assert_eq!(c["status"], "open", "quiet for less than the number's time");
    let shared = &app;
    let closing = |c| async move {
        automated(shared, c).await.into_iter().filter(|(k, _)| k == "auto_resolve").map(|(_, b)| b).collect::<Vec<_>>()
    };
    assert_eq!(closing(quiet).await, ["Closing this chat, Ana. Write again any time."]);
    assert_eq!(closing(in_queue).await, ["Returns desk closing this chat."]);
    assert!(closing(gone).await.is_empty());
    let (_, events) = app.api(&admin, Method::GET, &format!("/conversations/{}/events", ids[3]), None).await;
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.ends_with(&["auto_resolved", "automation_skipped", "resolved"]), "{kinds:?}");
    let skipped = &events.as_array().unwrap()[kinds.len() - 2];
    assert!(skipped["data"]["reason"].as_str().unwrap().contains("24-hour window"), "{skipped}");
    // An auto-resolve is an automation's: no CSAT survey asks the customer to rate it.
    let surveys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'csat.survey'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(surveys, 0);
    app.stop().await;
}
