//! Group commit: many inbound messages in one statement must store exactly what one-at-a-time storing would.

mod common;

use common::*;
use serde_json::json;
use switchboard::domain::inbound::InboundMessage;
use switchboard::domain::{AccountSid, MessageSid, WhatsAppAddress, E164};
use switchboard::ingest::writer::InboundWriter;
use switchboard::store::messages::{insert_inbound, insert_inbound_batch, NewInbound, Stored};
use switchboard::store::routing::Opening;
use uuid::Uuid;

async fn channel_ids(app: &TestApp) -> (Uuid, Uuid, Uuid) {
    app.create_channel().await;
    sqlx::query_as("SELECT c.account_id, c.id, n.id FROM channels c JOIN whatsapp_numbers n ON n.channel_id = c.id")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn message(ids: (Uuid, Uuid, Uuid), sid: &str, phone: &str, body: &str) -> NewInbound {
    let (account_id, channel_id, number_id) = ids;
    NewInbound {
        account_id,
        channel_id,
        number_id,
        message: InboundMessage {
            message_sid: MessageSid::parse(sid).unwrap(),
            account_sid: AccountSid::parse(&new_sid("AC")).unwrap(),
            messaging_service_sid: None,
            from: WhatsAppAddress::parse(&format!("whatsapp:{phone}")).unwrap(),
            to: E164::parse("+14155238886").unwrap(),
            body: body.to_owned(),
            profile_name: Some(format!("Customer {phone}")),
            wa_id: Some(phone[1..].to_owned()),
            bsuid: None,
            media: vec![],
            message_type: Some("text".into()),
            button_text: None,
            button_payload: None,
            location: None,
            replied_to_sid: None,
            referral: None,
            forwarded: false,
            frequently_forwarded: false,
        },
        webhook_params: serde_json::json!({ "MessageSid": sid, "Body": body }),
        media_job_max_attempts: 3,
        look: switchboard::domain::automation::Look::Never,
        look_version: 0,
        accept_media: true,
        opening: None,
    }
}

#[tokio::test]
async fn a_batch_stores_what_one_at_a_time_would() {
    let app = spawn_app().await;
    let ids = channel_ids(&app).await;
    // An earlier, resolved conversation with the second customer, and a message already stored.
    let earlier = message(ids, &new_sid("SM"), "+31612345678", "last week");
    assert!(matches!(insert_inbound_batch(&app.pool, &[&earlier]).await.unwrap()[0], Stored::New { .. }));
    sqlx::query("UPDATE conversations SET status = 'resolved'").execute(&app.pool).await.unwrap();

    let a1 = message(ids, &new_sid("SM"), "+5215512345678", "first");
    let a2 = message(ids, &new_sid("SM"), "+5215512345678", "second, same customer");
    let a1_again = a1.clone();
    let b = message(ids, &new_sid("SM"), "+31612345678", "back again");
    let repeat_of_earlier = earlier.clone();
    let results = insert_inbound_batch(&app.pool, &[&a1, &a2, &a1_again, &b, &repeat_of_earlier]).await.unwrap();

    let conv = |r: &Stored| match r {
        Stored::New { conversation_id, .. } => *conversation_id,
        Stored::Duplicate => panic!("expected a new message"),
    };
    assert_eq!(results.len(), 5);
    assert_eq!(conv(&results[0]), conv(&results[1]), "one customer, one conversation");
    assert_eq!(results[2], Stored::Duplicate, "a SID twice in a batch is stored once");
    assert!(
        matches!(results[3], Stored::New { new_conversation: true, .. }),
        "a resolved conversation is not reopened"
    );
    assert_eq!(results[4], Stored::Duplicate, "a SID stored before is not stored again");
    assert_eq!(app.count("messages").await, 4);
    assert_eq!(app.count("contacts").await, 2);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE status = 'open'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(open, 2);
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM messages ORDER BY id").fetch_all(&app.pool).await.unwrap();
    assert_eq!(bodies, ["last week", "first", "second, same customer", "back again"], "stored in arrival order");
    app.stop().await;
}

#[tokio::test]
async fn the_writer_stores_every_message_once_under_concurrency_even_when_a_batch_fails() {
    let app = spawn_app().await;
    let ids = channel_ids(&app).await;
    // A contact known only by its business-scoped id: a message that names that id together with a new phone
    // number breaks the unique BSUID key, which fails any batch it is in.
    let mut known = message(ids, &new_sid("SM"), "+14155550100", "x");
    known.message.from = WhatsAppAddress::parse("whatsapp:US.777").unwrap();
    known.message.bsuid = Some("US.777".into());
    insert_inbound(&app.pool, &known).await.unwrap();

    let writer = InboundWriter::start(app.pool.clone(), 2, 16, Default::default());
    let mut messages = Vec::new();
    for i in 0..120 {
        let phone = format!("+1555000{:04}", i % 7);
        messages.push(message(ids, &new_sid("SM"), &phone, &format!("message {i}")));
    }
    let mut troublemaker = message(ids, &new_sid("SM"), "+14155550199", "bsuid clash");
    troublemaker.message.bsuid = Some("US.777".into());
    messages.insert(60, troublemaker);
    let repeats: Vec<NewInbound> = messages.iter().step_by(10).cloned().collect();
    messages.extend(repeats);

    let results = futures_util::future::join_all(messages.into_iter().map(|m| {
        let writer = writer.clone();
        async move { writer.store(m).await }
    }))
    .await;

    let new = results.iter().filter(|r| matches!(r, Ok(Stored::New { .. }))).count();
    let duplicate = results.iter().filter(|r| matches!(r, Ok(Stored::Duplicate))).count();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!((new, duplicate), (121, 13));
    assert_eq!(app.count("messages").await, 122, "121 new plus the earlier one");
    let conversations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(conversations, 9, "seven customers, the BSUID contact, and the clashing number");
    app.stop().await;
}

#[tokio::test]
async fn webhooks_arriving_together_are_all_committed_before_their_answers() {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    let url = app.messages_url(channel);
    let sends = (0..64).map(|i| {
        let mut p = inbound_text(&new_sid("SM"), &format!("burst {i}"));
        set(&mut p, "From", &format!("whatsapp:+1555111{:04}", i % 5));
        let url = url.clone();
        let app = &app;
        async move {
            let status = app.post_signed(&url, &p).await.status();
            // Answered 200 only once committed: it is visible to another connection right away.
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE body = $1")
                .bind(format!("burst {i}"))
                .fetch_one(&app.pool)
                .await
                .unwrap();
            (status, stored)
        }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(outcomes.iter().all(|(s, n)| *s == 200 && *n == 1), "{outcomes:?}");
    assert_eq!(app.count("conversations").await, 5);
    app.stop().await;
}

/// What the router would decide for a new customer on a number with nothing to route to.
fn unowned_opening() -> Opening {
    Opening {
        ai_agent: None,
        rule: None,
        events: vec![("routed", json!({"via": "none", "target": null})), ("unowned", json!({}))],
        actor: switchboard::routing::system_actor(),
    }
}

async fn config_version(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT version FROM routing_config").fetch_one(&app.pool).await.unwrap()
}

async fn placed(app: &TestApp, stored: &Stored) -> (String, String, Vec<String>) {
    let conversation_id = conversation(stored);
    let (state, status): (String, String) =
        sqlx::query_as("SELECT routing_state, status FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT kind || ' by ' || actor_label FROM conversation_events WHERE conversation_id = $1 ORDER BY id",
    )
    .bind(conversation_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    (state, status, events)
}

fn conversation(stored: &Stored) -> Uuid {
    let Stored::New { conversation_id, .. } = stored else { panic!("expected a new message, got {stored:?}") };
    *conversation_id
}

fn needs_routing(stored: &Stored) -> bool {
    matches!(stored, Stored::New { needs_routing: true, .. })
}

#[tokio::test]
async fn a_new_customers_conversation_is_stored_placed_by_the_write_when_the_opening_still_holds() {
    let app = spawn_app().await;
    let ids = channel_ids(&app).await;
    let ai: Uuid =
        sqlx::query_scalar("INSERT INTO ai_agents (id, name, kind) VALUES ($1, 'Bot', 'builtin') RETURNING id")
            .bind(Uuid::now_v7())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let version = config_version(&app).await;
    let with_opening = |phone: &str, opening: Opening, version: i64| {
        let mut m = message(ids, &new_sid("SM"), phone, "hello");
        m.opening = Some(opening);
        m.look_version = version;
        m
    };
    let routed_unowned = vec!["routed by router".to_owned(), "unowned by router".to_owned()];

    // One at a time: a new customer is stored unowned, with the router's timeline, and needs no routing.
    let first = insert_inbound(&app.pool, &with_opening("+5215500000001", unowned_opening(), version)).await.unwrap();
    assert!(!needs_routing(&first));
    assert_eq!(placed(&app, &first).await, ("unowned".into(), "open".into(), routed_unowned.clone()));

    // An AI agent's opening: pending with the AI agent, and its session.
    let to_ai = Opening {
        ai_agent: Some(ai),
        events: vec![("routed", json!({"via": "ai_agent"})), ("ai_agent", json!({"ai_agent_id": ai}))],
        ..unowned_opening()
    };
    // In a batch: two messages of one new customer, the first deciding; the AI agent's customer; a customer
    // Switchboard knows (their open conversation is joined); one whose decision was made before the
    // configuration moved; and a known customer whose last conversation is resolved.
    let known = message(ids, &new_sid("SM"), "+5215500000005", "last week");
    insert_inbound(&app.pool, &known).await.unwrap();
    sqlx::query(
        "UPDATE conversations SET status = 'resolved'
         WHERE contact_id = (SELECT id FROM contacts WHERE phone_e164 = $1)",
    )
    .bind("+5215500000005")
    .execute(&app.pool)
    .await
    .unwrap();
    let batch = [
        with_opening("+5215500000002", unowned_opening(), version),
        with_opening("+5215500000002", to_ai.clone(), version),
        with_opening("+5215500000003", to_ai.clone(), version),
        with_opening("+5215500000001", unowned_opening(), version),
        with_opening("+5215500000004", unowned_opening(), version - 1),
        with_opening("+5215500000005", unowned_opening(), version),
    ];
    let results = insert_inbound_batch(&app.pool, &batch.iter().collect::<Vec<_>>()).await.unwrap();
    assert_eq!(placed(&app, &results[0]).await, ("unowned".into(), "open".into(), routed_unowned.clone()));
    assert_eq!(conversation(&results[0]), conversation(&results[1]), "one conversation, decided by the first message");
    let ai_placed = placed(&app, &results[2]).await;
    assert_eq!(
        ai_placed,
        ("ai".into(), "pending".into(), vec!["routed by router".into(), "ai_agent by router".into()])
    );
    let session: Uuid = sqlx::query_scalar("SELECT ai_agent_id FROM ai_sessions WHERE conversation_id = $1")
        .bind(conversation(&results[2]))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(session, ai);
    assert_eq!(conversation(&results[3]), conversation(&first), "a known customer's open conversation is joined");
    assert_eq!(placed(&app, &results[3]).await.2, routed_unowned, "and not placed again");
    assert!(needs_routing(&results[4]), "the configuration moved since the decision: the router decides");
    assert!(needs_routing(&results[5]), "a known customer's new conversation: the router decides, with their facts");
    assert!(results[..4].iter().all(|r| !needs_routing(r)));
    app.stop().await;
}
