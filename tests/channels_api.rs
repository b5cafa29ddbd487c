//! The channels API: create (with webhook URLs and an optional credential check), read, update, delete with
//! history kept, Auth Token rotation; secrets never come back.

mod common;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp, role: &str) -> Self {
        Self { app, token: app.api_token(role).await }
    }
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(&self.token, method, path, body).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
}

fn new_channel() -> Value {
    json!({
        "name": "Support NL",
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "numbers": [{"name": "Support", "e164": BUSINESS_NUMBER}, {"e164": "+31201234567"}]
    })
}

#[tokio::test]
async fn an_admin_creates_a_channel_and_gets_the_webhook_urls_but_never_the_secrets_back() {
    let app = spawn_app().await;
    let api = Api::new(&app, "admin").await;
    let mut body = new_channel();
    body["api_key_sid"] = json!("SK0123456789abcdef0123456789abcdef");
    body["api_key_secret"] = json!("api-key-secret-value");

    let (status, channel) = api.post("/channels", body).await;

    assert_eq!(status, 201, "{channel}");
    let id = channel["id"].as_str().unwrap();
    assert_eq!(channel["webhooks"]["messages"], format!("{}/webhooks/twilio/{id}/messages", app.address));
    assert_eq!(channel["webhooks"]["status"], format!("{}/webhooks/twilio/{id}/status", app.address));
    assert_eq!(channel["webhooks"]["voice"], format!("{}/webhooks/twilio/{id}/voice", app.address));
    assert_eq!(channel["auth_token_set"], true);
    assert_eq!(channel["api_key_secret_set"], true);
    assert_eq!(channel["numbers"][1]["name"], "+31201234567");
    for (_, listed) in [api.get(&format!("/channels/{id}")).await, api.get("/channels").await, api.get("/audit").await]
    {
        let text = listed.to_string();
        assert!(!text.contains(AUTH_TOKEN) && !text.contains("api-key-secret-value"), "no secret in {text}");
    }
    // The channel works for webhooks straight away.
    let r =
        app.post_signed(channel["webhooks"]["messages"].as_str().unwrap(), &inbound_text(&new_sid("SM"), "hi")).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn numbers_are_checked_and_the_refusal_says_what_is_wrong_and_where() {
    let app = spawn_app().await;
    let api = Api::new(&app, "admin").await;
    for (number, says) in [
        ("0612345678", "must start with +"),
        ("+31 6 1234 5678", "only digits"),
        ("+31CALLNOW", "only digits"),
        ("+1234567890123456", "too long"),
    ] {
        let mut body = new_channel();
        body["numbers"] = json!([{"e164": number}]);
        let (status, err) = api.post("/channels", body).await;
        assert_eq!(status, 422, "{number}");
        assert_eq!(err["error"]["details"]["field"], "numbers[0].e164");
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{number}: {err}");
    }
    let mut both = new_channel();
    both["messaging_service_sid"] = json!(MESSAGING_SERVICE_SID);
    assert_eq!(api.post("/channels", both).await.0, 422);
    let mut unknown = new_channel();
    unknown["colour"] = json!("blue");
    assert_eq!(api.post("/channels", unknown).await.0, 422);
    assert_eq!(app.count("channels").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn verify_asks_twilio_and_turns_20003_into_a_clear_422() {
    let twilio = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})))
        .up_to_n_times(1)
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": ACCOUNT_SID, "status": "active"})))
        .mount(&twilio)
        .await;
    let uri = twilio.uri();
    let app = spawn_app_with(move |env| env.push(("SWITCHBOARD__TWILIO__API_BASE_URL".into(), uri))).await;
    let api = Api::new(&app, "admin").await;
    let mut body = new_channel();
    body["verify"] = json!(true);

    let (status, err) = api.post("/channels", body.clone()).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("twilio_credentials_invalid")));
    assert_eq!(app.count("channels").await, 0, "nothing stored");

    let (status, _) = api.post("/channels", body).await;
    assert_eq!(status, 201);
    let requests = twilio.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.headers.contains_key("authorization")));
    app.stop().await;
}

#[tokio::test]
async fn roles_decide_who_may_create_and_who_may_read() {
    let app = spawn_app().await;
    let admin = Api::new(&app, "admin").await;
    let supervisor = Api::new(&app, "supervisor").await;
    let agent = Api::new(&app, "agent").await;
    assert_eq!(supervisor.post("/channels", new_channel()).await.0, 403);
    assert_eq!(agent.post("/channels", new_channel()).await.0, 403);
    let (_, created) = admin.post("/channels", new_channel()).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(supervisor.get(&format!("/channels/{id}")).await.0, 200);
    assert_eq!(agent.get(&format!("/channels/{id}")).await.0, 403);
    assert_eq!(supervisor.send(reqwest::Method::DELETE, &format!("/channels/{id}"), None).await.0, 403);
    let anonymous = reqwest::Client::new().get(format!("{}/api/v1/channels", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn auth_token_rotation_accepts_both_tokens_until_the_old_one_is_retired() {
    let app = spawn_app().await;
    let api = Api::new(&app, "admin").await;
    let (_, created) = api.post("/channels", new_channel()).await;
    let id = created["id"].as_str().unwrap();
    let url = created["webhooks"]["messages"].as_str().unwrap().to_owned();
    let signed_with = |token: &str| {
        let p = inbound_text(&new_sid("SM"), "rotation");
        let sig = switchboard::twilio::signature::compute(token, &url, &p);
        (p, sig)
    };

    let (status, rotated) =
        api.post(&format!("/channels/{id}/auth-token"), json!({"auth_token": "the-new-auth-token"})).await;
    assert_eq!(status, 200);
    assert_eq!(rotated["secondary_auth_token_set"], true);
    for token in [AUTH_TOKEN, "the-new-auth-token"] {
        let (p, sig) = signed_with(token);
        assert_eq!(
            app.post_with_signature(&url, &p, Some(&sig)).await.status(),
            200,
            "{token} accepted during rotation"
        );
    }

    let (status, retired) =
        api.send(reqwest::Method::DELETE, &format!("/channels/{id}/auth-token/secondary"), None).await;
    assert_eq!(status, 200);
    assert_eq!(retired["secondary_auth_token_set"], false);
    let (p, sig) = signed_with(AUTH_TOKEN);
    assert_eq!(
        app.post_with_signature(&url, &p, Some(&sig)).await.status(),
        403,
        "the old token is refused once retired"
    );
    let (p, sig) = signed_with("the-new-auth-token");
    assert_eq!(app.post_with_signature(&url, &p, Some(&sig)).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_channel_keeps_its_history_and_refuses_new_messages() {
    let app = spawn_app().await;
    let api = Api::new(&app, "admin").await;
    let (_, created) = api.post("/channels", new_channel()).await;
    let id = created["id"].as_str().unwrap();
    let url = created["webhooks"]["messages"].as_str().unwrap().to_owned();
    app.post_signed(&url, &inbound_text(&new_sid("SM"), "before deletion")).await;

    let (status, _) =
        api.send(reqwest::Method::PATCH, &format!("/channels/{id}"), Some(json!({"name": "Renamed"}))).await;
    assert_eq!(status, 200);
    assert_eq!(api.send(reqwest::Method::DELETE, &format!("/channels/{id}"), None).await.0, 204);

    assert_eq!(app.post_signed(&url, &inbound_text(&new_sid("SM"), "after")).await.status(), 410);
    let (_, read) = api.get(&format!("/channels/{id}")).await;
    assert!(read["deleted_at"].is_string());
    assert_eq!(read["name"], "Renamed");
    let (_, listed) = api.get("/channels").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let (_, with_deleted) = api.get("/channels?include_deleted=true").await;
    assert_eq!(with_deleted["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.count("messages").await, 1, "history stays");
    let (_, audit) = api.get("/audit?limit=3").await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["channel.deleted", "channel.updated", "channel.created"]);
    assert_eq!(audit["items"][1]["before"]["name"], "Support NL");
    assert_eq!(audit["items"][1]["after"]["name"], "Renamed");
    app.stop().await;
}
