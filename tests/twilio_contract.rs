//! Contract: every request Switchboard sends to Twilio is accepted by Prism serving Twilio's own OpenAPI
//! descriptions (tests/fixtures/twilio-oai). Text; media with two URLs; a template with variables; Messaging
//! Service mode; the Content API calls of the template sync; and the quick-reply content the CSAT survey creates. Prism checks paths, methods, Basic auth,
//! content type, required and typed parameters; an invalid request is a 422 from Prism, which fails here.

mod common;

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::twilio::rest::{From, OutboundMessage, RestClient};
use switchboard::twilio::BasicAuth;
use url::Url;

struct Prism {
    child: Child,
    base: Url,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prism_binary() -> String {
    std::env::var("SWITCHBOARD_TEST_PRISM")
        .expect("SWITCHBOARD_TEST_PRISM is not set: run tests/run.sh, which installs Prism from npm")
}

/// Starts Prism's mock on `spec` and waits until it listens.
async fn prism(spec: &std::path::Path, log: &std::path::Path) -> Prism {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(prism_binary())
        .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
        .arg(spec)
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prism");
    let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let mut p = Prism { child, base };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::fs::read_to_string(log).unwrap_or_default().contains("Prism is listening") {
            return p;
        }
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "prism exited: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "prism did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::manifest_dir().join("tests/fixtures/twilio-oai").join(name)
}

/// The v2010 description with Twilio's repeated-key arrays declared (see the fixtures' README).
fn patched_v2010(dir: &std::path::Path) -> std::path::PathBuf {
    let mut spec: Value = serde_json::from_slice(&std::fs::read(fixture("twilio_api_v2010.json")).unwrap()).unwrap();
    let body = &mut spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"];
    assert!(body.is_object(), "CreateMessage's form body is where the spec had it");
    body["encoding"] = serde_json::json!({
        "MediaUrl": {"style": "form", "explode": true},
        "PersistentAction": {"style": "form", "explode": true},
    });
    let path = dir.join("twilio_api_v2010.json");
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    path
}

fn auth() -> BasicAuth {
    BasicAuth { username: common::ACCOUNT_SID.into(), password: "token".to_owned().into() }
}

#[tokio::test]
async fn every_outbound_request_shape_is_accepted_by_twilios_own_description() {
    let dir = tempfile::tempdir().unwrap();
    let api = prism(&patched_v2010(dir.path()), &dir.path().join("api.log")).await;
    let client =
        RestClient::new(api.base.clone(), api.base.clone(), api.base.clone(), Duration::from_secs(30)).unwrap();
    let media = vec![
        "https://cc.example.com/media/0123456789abcdef0123456789abcdef0123456789abcdef/factura.pdf".to_owned(),
        "https://cc.example.com/media/fedcba9876543210fedcba9876543210fedcba9876543210/foto.jpg".to_owned(),
    ];
    let callback = "https://cc.example.com/webhooks/twilio/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f/status";
    let text = OutboundMessage {
        to: "+5215512345678",
        from: From::Number("+14155238886"),
        body: Some("Hola, ¿en qué te ayudo?"),
        media_urls: &[],
        content_sid: None,
        content_variables: None,
        status_callback: callback,
    };
    let with_media = OutboundMessage { body: Some("Your documents"), media_urls: &media, ..text.clone() };
    let template = OutboundMessage {
        body: None,
        content_sid: Some("HX0123456789abcdef0123456789abcdef"),
        content_variables: Some(r#"{"1":"A-7","2":"Friday"}"#),
        ..text.clone()
    };
    let service = OutboundMessage { from: From::MessagingService(common::MESSAGING_SERVICE_SID), ..text.clone() };
    for (name, shape) in
        [("text", &text), ("media", &with_media), ("template", &template), ("messaging service", &service)]
    {
        let accepted = client
            .send_message(false, common::ACCOUNT_SID, &auth(), shape)
            .await
            .unwrap_or_else(|e| panic!("{name}: Prism refused the request: {e}"));
        assert!(accepted.sid.starts_with("SM"), "{name}: {accepted:?}");
    }
    // A call to an agent's browser whose TwiML dials the customer on WhatsApp (the inbox's Call button).
    let twiml = switchboard::twilio::twiml::render(&[switchboard::twilio::twiml::Verb::DialWhatsApp {
        caller_id: "whatsapp:+14155238886".into(),
        to: "+5215512345678".into(),
        action: "https://cc.example.com/webhooks/twilio/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f/voice/dialed".into(),
        status_callback: "https://cc.example.com/webhooks/twilio/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f/voice/reached"
            .into(),
    }]);
    let call = switchboard::twilio::rest::OutboundCall {
        to: "client:0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e60",
        from: "+14155238886",
        instructions: switchboard::twilio::rest::Instructions::Twiml(&twiml),
        status_callback: "https://cc.example.com/webhooks/twilio/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f/voice/status",
        timeout_secs: 20,
    };
    let placed = client
        .create_call(false, common::ACCOUNT_SID, &auth(), &call)
        .await
        .unwrap_or_else(|e| panic!("call: Prism refused the request: {e}"));
    assert!(placed.sid.starts_with("CA"), "{placed:?}");
    // An agent reached on their phone: Twilio asks the URL what to do once they answer.
    let url = "https://cc.example.com/webhooks/twilio/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e5f/voice/phone/0193b2b4-5a6f-7c3d-8e9f-0a1b2c3d4e61";
    let to_phone = switchboard::twilio::rest::OutboundCall {
        to: "+31612345678",
        instructions: switchboard::twilio::rest::Instructions::Url(url),
        ..call.clone()
    };
    let placed = client.create_call(false, common::ACCOUNT_SID, &auth(), &to_phone).await.expect("a call with a Url");
    assert!(placed.sid.starts_with("CA"), "{placed:?}");
    let no_to = switchboard::twilio::rest::OutboundCall { to: "", ..call.clone() };
    let refused = client.create_call(false, "not-an-account", &auth(), &no_to).await.unwrap_err();
    assert!(refused.to_string().contains("422"), "{refused}");
    // And Prism does refuse what the description forbids, so the acceptances above mean something.
    let broken = OutboundMessage { to: "", ..text.clone() };
    let refused = client.send_message(false, "not-an-account", &auth(), &broken).await.unwrap_err();
    assert!(refused.to_string().contains("422"), "{refused}");
    // Credentials are checked the way the API's `verify` does it.
    client
        .check_credentials(&switchboard::domain::AccountSid::parse(common::ACCOUNT_SID).unwrap(), &auth())
        .await
        .expect("GET Accounts/{sid}.json is in the description");
}

#[tokio::test]
async fn the_content_api_calls_of_the_template_sync_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let content = prism(&fixture("twilio_content_v1.json"), &dir.path().join("content.log")).await;
    let client =
        RestClient::new(content.base.clone(), content.base.clone(), content.base.clone(), Duration::from_secs(30))
            .unwrap();
    let listed = client.list_content(false, &auth()).await.expect("GET /v1/Content with paging parameters");
    assert!(listed.is_empty(), "Prism answers the spec's empty example");
    let approval = client
        .approval(false, &auth(), "HX0123456789abcdef0123456789abcdef")
        .await
        .expect("GET /v1/Content/{sid}/ApprovalRequests")
        .expect("an approval in the example");
    assert_eq!(approval.status, "approved", "{approval:?}");
    // The CSAT survey's quick-reply content that Switchboard creates itself.
    let buttons: Vec<(String, String)> =
        (1..=5).map(|n| (n.to_string(), switchboard::domain::automation::rating_payload(n))).collect();
    let created = client
        .create_quick_reply(false, &auth(), "csat_survey_en", "en", "How did we do?", &buttons)
        .await
        .expect("POST /v1/Content with a twilio/quick-reply type");
    assert!(created.sid.starts_with("HX"), "{created:?}");
}

#[tokio::test]
async fn a_notification_reaches_twilio_as_its_description_expects() {
    let dir = tempfile::tempdir().unwrap();
    let api = prism(&patched_v2010(dir.path()), &dir.path().join("api.log")).await;
    let base = api.base.as_str().trim_end_matches('/').to_owned();
    let app = common::spawn_app_with(move |env| {
        for (k, v) in [
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
            ("SWITCHBOARD__TWILIO__API_BASE_URL", base.as_str()),
        ] {
            env.push((k.to_owned(), v.to_owned()));
        }
    })
    .await;
    let (_, number) = app.create_channel_and_number().await;
    let admin = app.api_token("admin").await;
    let template = serde_json::json!({"name": "order_shipped", "language": "en", "body": "Order {{1}} shipped",
        "content_sid": "HX0123456789abcdef0123456789abcdef", "approval_status": "approved"});
    let (s, t) = app.api(&admin, reqwest::Method::POST, "/templates", Some(template)).await;
    assert_eq!(s, 201, "{t}");
    let customer = common::CUSTOMER;
    let csv = format!("phone,number_id\n{customer},{number}\n");
    assert_eq!(app.import_opt_ins(&admin, csv).await.0, 201);
    let body = serde_json::json!({"number_id": number, "to": customer,
        "template": {"id": t["id"], "variables": {"1": "A-7"}}});
    let (s, sent) = app.api(&admin, reqwest::Method::POST, "/notifications", Some(body)).await;
    assert_eq!(s, 202, "{sent}");
    let id: uuid::Uuid = sent["message_id"].as_str().unwrap().parse().unwrap();
    let (status, sid) = common::eventually(30, "Prism's answer recorded", || async {
        let row: (String, Option<String>) = sqlx::query_as("SELECT status, twilio_sid FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (row.1.is_some() || row.0 == "failed").then_some(row)
    })
    .await;
    assert!(sid.is_some_and(|s| s.starts_with("SM")), "Prism refused the notification's request: {status}");
}
