//! The built-in Twilio sandbox: created on a first start, plays Twilio (REST, Content API, signed status
//! callbacks, 63016, faults on demand), and its customer phone page drives the real webhook path.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

async fn sandbox_app() -> TestApp {
    spawn_app_with(|env| {
        for (k, v) in [
            ("SWITCHBOARD__SANDBOX__ENABLED", "true"),
            ("SWITCHBOARD__SANDBOX__STATUS_DELAY_MS", "50"),
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__JOBS__RETRY_BASE_MS", "20"),
            ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "100"),
        ] {
            env.push((k.into(), v.into()));
        }
    })
    .await
}

async fn customer_says(app: &TestApp, customer: &str, body: &str) -> Value {
    let r = app
        .client
        .post(format!("{}/sandbox/api/messages", app.address))
        .json(&json!({"customer": customer, "business": "+14155238886", "body": body, "profile_name": "Ana"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

async fn thread(app: &TestApp, customer: &str) -> Vec<Value> {
    let url = format!(
        "{}/sandbox/api/messages?customer={}&business=%2B14155238886",
        app.address,
        customer.replace('+', "%2B")
    );
    app.client.get(url).send().await.unwrap().json::<Vec<Value>>().await.unwrap()
}

async fn message_status(app: &TestApp, id: &str) -> (String, Option<i32>) {
    sqlx::query_as("SELECT status, error_code FROM messages WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sandbox_conversation_from_customer_to_read() {
    let app = sandbox_app().await;
    let admin = app.api_token("admin").await;
    let (_, channels) = app.api(&admin, Method::GET, "/channels", None).await;
    assert_eq!(channels["items"].as_array().unwrap().len(), 1, "a first start creates the sandbox channel");
    let page = app.client.get(format!("{}/sandbox", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Customer phone"));

    // The customer writes through the real, signed webhook path.
    customer_says(&app, "+5215512345678", "Hola, mi pedido no llegó").await;
    let (_, list) = app.api(&admin, Method::GET, "/conversations", None).await;
    let conversation = &list["items"][0];
    assert_eq!(conversation["contact"]["phone"], "+5215512345678");
    assert_eq!(conversation["contact"]["name"], "Ana");
    assert_eq!(conversation["window_open"], true);
    let id = conversation["id"].as_str().unwrap();

    // The agent replies; the sandbox takes it and reports sent, delivered, read with signed callbacks.
    let (s, m) = app
        .api(
            &admin,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({"body": "Lo reviso ahora mismo"})),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let mid = m["id"].as_str().unwrap().to_owned();
    eventually(20, "the reply to be read", || async { (message_status(&app, &mid).await.0 == "read").then_some(()) })
        .await;
    let t = thread(&app, "+5215512345678").await;
    assert_eq!(t.len(), 2);
    assert_eq!(t[1]["direction"], "to_customer");
    assert_eq!(t[1]["body"], "Lo reviso ahora mismo");
    assert_eq!(t[1]["status"], "read");
}

#[tokio::test]
async fn templates_sync_from_the_sandbox_content_api_and_go_out_when_the_window_is_closed() {
    let app = sandbox_app().await;
    let admin = app.api_token("admin").await;
    let (s, report) = app.api(&admin, Method::POST, "/templates/sync", Some(json!({}))).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(7), Some(0)), "{report}");
    let (_, approved) = app.api(&admin, Method::GET, "/templates?approval_status=approved&sort=name", None).await;
    let names: Vec<&str> = approved["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["appointment_reminder", "call_permission_request", "order_update", "seguimiento_caso", "welcome_back"]
    );
    let (_, rejected) = app.api(&admin, Method::GET, "/templates?approval_status=rejected", None).await;
    assert!(rejected["items"][0]["rejection_reason"].as_str().unwrap().contains("ambiguous"));

    // Local tags survive the next sync; nothing else changed.
    let order = approved["items"].as_array().unwrap().iter().find(|t| t["name"] == "order_update").unwrap().clone();
    let oid = order["id"].as_str().unwrap();
    let (s, _) =
        app.api(&admin, Method::PATCH, &format!("/templates/{oid}"), Some(json!({"tags": ["shipping"]}))).await;
    assert_eq!(s, 200);
    let (_, again) = app.api(&admin, Method::POST, "/templates/sync", Some(json!({}))).await;
    assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(7)), "{again}");
    let (_, found) = app.api(&admin, Method::GET, "/templates?q=shipping", None).await;
    assert_eq!(found["items"][0]["id"], oid);

    // The window is closed: free text is refused; the template goes out and is read.
    customer_says(&app, "+5215599990000", "Hola").await;
    let c: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&app.pool).await.unwrap();
    sqlx::query("UPDATE conversations SET last_inbound_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE sandbox_messages SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (s, e) =
        app.api(&admin, Method::POST, &format!("/conversations/{c}/messages"), Some(json!({"body": "Hi"}))).await;
    assert_eq!((s, e["error"]["code"].as_str().unwrap()), (422, "session_window_closed"));
    let (s, m) = app
        .api(
            &admin,
            Method::POST,
            &format!("/conversations/{c}/messages"),
            Some(json!({"template": {"id": oid, "variables": {"1": "A-7", "2": "Friday"}}})),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let mid = m["id"].as_str().unwrap().to_owned();
    eventually(20, "the template to be read", || async {
        (message_status(&app, &mid).await.0 == "read").then_some(())
    })
    .await;
    let t = thread(&app, "+5215599990000").await;
    assert_eq!(t.last().unwrap()["body"], "Your order A-7 has shipped and should arrive by Friday.");
}

#[tokio::test]
async fn the_sandbox_refuses_free_text_outside_the_window_with_63016_and_answers_faults_on_demand() {
    let app = sandbox_app().await;
    let admin = app.api_token("admin").await;
    customer_says(&app, "+5215511112222", "Hola").await;
    let c: Uuid = sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&app.pool).await.unwrap();

    // Twilio's own check: the sandbox saw the customer's last message 25 hours ago, while Switchboard's
    // conversation (wrongly) still thinks the window is open. Twilio accepts, then fails the message with 63016.
    sqlx::query("UPDATE sandbox_messages SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (s, m) =
        app.api(&admin, Method::POST, &format!("/conversations/{c}/messages"), Some(json!({"body": "Hi"}))).await;
    assert_eq!(s, 202);
    let mid = m["id"].as_str().unwrap().to_owned();
    let (status, code) = eventually(20, "the 63016 failure", || async {
        let s = message_status(&app, &mid).await;
        (s.0 == "failed").then_some(s)
    })
    .await;
    assert_eq!((status.as_str(), code), ("failed", Some(63016)));
    let (_, msgs) =
        app.api(&admin, Method::GET, &format!("/conversations/{c}/messages?direction=outbound"), None).await;
    assert!(msgs["items"][0]["error_message"].as_str().unwrap().contains("24-hour"));

    // Told to answer 429 twice: the sender retries and the message goes out once.
    customer_says(&app, "+5215511112222", "¿Siguen ahí?").await;
    let r = app
        .client
        .post(format!("{}/sandbox/api/faults", app.address))
        .json(&json!({"status": 429, "count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, m) =
        app.api(&admin, Method::POST, &format!("/conversations/{c}/messages"), Some(json!({"body": "Sí"}))).await;
    let mid = m["id"].as_str().unwrap().to_owned();
    eventually(20, "the reply to be delivered", || async {
        (message_status(&app, &mid).await.0 == "read").then_some(())
    })
    .await;
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM sandbox_messages WHERE body = 'Sí'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sent, 1);
    let faults_left: i32 =
        sqlx::query_scalar("SELECT remaining FROM sandbox_faults").fetch_one(&app.pool).await.unwrap();
    assert_eq!(faults_left, 0);
}

#[tokio::test]
async fn the_sandbox_rest_api_answers_like_twilio() {
    let app = sandbox_app().await;
    let (sid, token): (String, Vec<u8>) =
        sqlx::query_as("SELECT account_sid, auth_token FROM twilio_accounts").fetch_one(&app.pool).await.unwrap();
    let secrets = switchboard::secrets::SecretBox::load_or_create(None, app.data_dir.path()).unwrap();
    use secrecy::ExposeSecret;
    let token = secrets.decrypt(&token).unwrap().expose_secret().to_owned();
    let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", app.address);
    let post = |user: String, pass: String, form: Vec<(&'static str, &'static str)>| {
        let client = app.client.clone();
        let url = url.clone();
        async move {
            let r = client.post(url).basic_auth(user, Some(pass)).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, e) = post(sid.clone(), "wrong".into(), vec![("To", "whatsapp:+5215512345678")]).await;
    assert_eq!((s, e["code"].as_i64()), (401, Some(20003)));
    let (s, e) =
        post(sid.clone(), token.clone(), vec![("To", "whatsapp:12"), ("From", "whatsapp:+14155238886"), ("Body", "x")])
            .await;
    assert_eq!((s, e["code"].as_i64()), (400, Some(21211)));
    let (s, e) = post(
        sid.clone(),
        token.clone(),
        vec![("To", "whatsapp:+5215512345678"), ("From", "whatsapp:+19999999999"), ("Body", "x")],
    )
    .await;
    assert_eq!((s, e["code"].as_i64()), (400, Some(63007)));
    let (s, m) = post(
        sid.clone(),
        token.clone(),
        vec![("To", "whatsapp:+5215512345678"), ("From", "whatsapp:+14155238886"), ("Body", "x")],
    )
    .await;
    assert_eq!(s, 201);
    assert!(m["sid"].as_str().unwrap().starts_with("SM"));
    assert_eq!(m["status"], "queued");
    assert_eq!(m["direction"], "outbound-api");
}

async fn customer_sends(app: &TestApp, customer: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"customer": customer, "business": "+14155238886", "body": "", "profile_name": "Ana"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.client.post(format!("{}/sandbox/api/messages", app.address)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn the_sandbox_phone_shares_a_location_sends_a_voice_note_and_replies_to_a_message() {
    let app = sandbox_app().await;
    let admin = app.api_token("admin").await;
    let customer = "+5215512340077";
    customer_says(&app, customer, "Hola").await;
    let (_, list) = app.api(&admin, Method::GET, "/conversations", None).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, sent) = app
        .api(&admin, Method::POST, &format!("/conversations/{id}/messages"), Some(json!({"body": "¿Dónde estás?"})))
        .await;
    assert_eq!(s, 202, "{sent}");
    let sent_id = sent["id"].as_str().unwrap().to_owned();
    let sid: String = eventually(20, "the reply handed to the sandbox", || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT twilio_sid FROM messages WHERE id = $1::uuid")
            .bind(&sent_id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    })
    .await;

    // A place, replying to the agent's question; then a voice note.
    let location =
        json!({"latitude": 52.3791, "longitude": 4.9003, "label": "Amsterdam Centraal", "address": "Stationsplein"});
    let (s, v) = customer_sends(&app, customer, json!({"location": location, "reply_to": sid})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = customer_sends(&app, customer, json!({"voice_note": true})).await;
    assert_eq!(s, 201, "{v}");
    // Refused: a location off the globe, a reply to something that is not a message, nothing at all.
    let (s, e) = customer_sends(&app, customer, json!({"location": {"latitude": 91, "longitude": 0}})).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("location")), "{e}");
    let (s, e) = customer_sends(&app, customer, json!({"body": "hi", "reply_to": "nonsense"})).await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("reply_to")), "{e}");
    assert_eq!(customer_sends(&app, customer, json!({})).await.0, 422);

    let messages = eventually(20, "the voice note downloaded", || async {
        let (_, page) =
            app.api(&admin, Method::GET, &format!("/conversations/{id}/messages?direction=inbound"), None).await;
        let items = page["items"].as_array().unwrap().clone();
        let audio = items.iter().find(|m| m["attachments"].as_array().is_some_and(|a| !a.is_empty()))?;
        (audio["attachments"][0]["download_state"] == "downloaded").then_some(items)
    })
    .await;
    let place = messages.iter().find(|m| !m["location"].is_null()).expect("the location");
    assert_eq!(place["location"]["label"], "Amsterdam Centraal");
    assert_eq!(place["location"]["latitude"], 52.3791);
    assert_eq!(place["reply_to"]["message_id"], sent_id.as_str(), "the reply quotes the agent's message");
    assert_eq!(place["reply_to"]["body"], "¿Dónde estás?");
    let audio = messages.iter().find(|m| m["message_type"] == "audio").expect("the voice note");
    let attachment = &audio["attachments"][0];
    assert_eq!(attachment["content_type"], "audio/wav");
    let file = app
        .client
        .get(format!("{}/api/v1/attachments/{}", app.address, attachment["id"].as_str().unwrap()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&file[..4], b"RIFF", "the generated recording, as downloaded from the sandbox's media URL");
}
