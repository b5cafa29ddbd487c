//! OAuth 2 client credentials (RFC 6749 §4.4): admins manage clients, `POST /oauth/token` issues short-lived
//! access tokens with §5.1's answer and §5.2's errors, and a token does exactly what its scope allows.

mod common;

use base64::Engine as _;
use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

async fn token_request(
    app: &common::TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app.client.post(format!("{}/oauth/token", app.address)).form(form);
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req = req.header("Authorization", format!("Basic {encoded}"));
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

/// A new client with these permissions: its id and secret (answered 201).
async fn new_client(app: &common::TestApp, admin: &str, name: &str, permissions: &[&str]) -> (String, String) {
    let (status, client) =
        app.api(admin, Method::POST, "/oauth-clients", Some(json!({"name": name, "permissions": permissions}))).await;
    assert_eq!(status, 201, "{client}");
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn client_credentials_give_a_short_lived_token_that_does_what_its_scope_allows() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (id, secret) = new_client(&app, &admin, "Order shop", &["conversation:read", "channel:read"]).await;
    let (id, secret) = (id.as_str(), secret.as_str());
    let (_, listed) = app.api(&admin, Method::GET, "/oauth-clients", None).await;
    assert!(listed["items"][0].get("client_secret").is_none(), "the secret is shown once");

    // HTTP Basic.
    let (status, body, headers) =
        token_request(&app, Some((id, secret)), &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "conversation:read channel:read");
    assert_eq!(headers["cache-control"], "no-store");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.api(&access, Method::GET, "/conversations", None).await.0, 200);
    assert_eq!(app.api(&access, Method::GET, "/channels", None).await.0, 200);
    let (status, refused) = app.api(&access, Method::POST, "/channels", Some(json!({}))).await;
    assert_eq!((status, refused["error"]["details"]["permission"].as_str()), (403, Some("channel:manage")));

    // In the body, with a narrower scope.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", "conversation:read"),
    ];
    let (status, body, _) = token_request(&app, None, &form).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("conversation:read")), "{body}");
    let narrow = body["access_token"].as_str().unwrap().to_owned();
    let (status, refused) = app.api(&narrow, Method::GET, "/channels", None).await;
    assert_eq!((status, refused["error"]["details"]["permission"].as_str()), (403, Some("channel:read")));

    // An expired token is refused.
    sqlx::query("UPDATE oauth_access_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = app.api(&access, Method::GET, "/conversations", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")));
    app.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_answers_rfc_6749_errors() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (id, secret) = new_client(&app, &admin, "CRM", &["contact:read"]).await;
    let (id, secret) = (id.as_str(), secret.as_str());
    let grant = ("grant_type", "client_credentials");

    let (status, body, headers) = token_request(&app, Some((id, "wrong")), &[grant]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert!(body["error_description"].is_string());
    let unknown = "0190a0e8-0000-7000-8000-000000000009";
    assert_eq!(token_request(&app, Some((unknown, secret)), &[grant]).await.1["error"], "invalid_client");
    assert_eq!(token_request(&app, None, &[grant]).await.1["error"], "invalid_client");

    let both = [grant, ("client_id", id), ("client_secret", secret)];
    let (status, body, _) = token_request(&app, Some((id, secret)), &both).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(token_request(&app, Some((id, secret)), &[]).await.1["error"], "invalid_request");
    let (status, body, _) = token_request(&app, Some((id, secret)), &[("grant_type", "password")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, body, _) = token_request(&app, Some((id, secret)), &[grant, ("scope", "channel:manage")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let twice = token_request(&app, Some((id, secret)), &[grant, grant]).await;
    assert_eq!(twice.1["error"], "invalid_request");
    let json_body = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_and_a_revoked_client_are_refused_and_every_change_is_audited() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (id, old) = new_client(&app, &admin, "Planner", &["tag:read", "tag:manage"]).await;
    let grant = ("grant_type", "client_credentials");
    let (status, rotated) = app.api(&admin, Method::POST, &format!("/oauth-clients/{id}/secret"), None).await;
    assert_eq!(status, 201, "{rotated}");
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(token_request(&app, Some((&id, &old)), &[grant]).await.0, 401);
    let (status, body, _) = token_request(&app, Some((&id, &new)), &[grant]).await;
    assert_eq!(status, 200);
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.api(&access, Method::GET, "/tags", None).await.0, 200);
    let (status, tag) = app.api(&access, Method::POST, "/tags", Some(json!({"name": "from-planner"}))).await;
    assert_eq!(status, 201, "{tag}");
    let (kind, label): (String, String) = sqlx::query_as(
        "SELECT actor_type, actor_label FROM audit_log WHERE action LIKE 'tag.%' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), label.as_str()), ("oauth_client", "OAuth client Planner"));
    let (_, read) = app.api(&admin, Method::GET, &format!("/oauth-clients/{id}"), None).await;
    assert!(read["last_used_at"].is_string() && read["secret_rotated_at"].is_string(), "{read}");

    assert_eq!(app.api(&admin, Method::DELETE, &format!("/oauth-clients/{id}"), None).await.0, 204);
    assert_eq!(app.api(&access, Method::GET, "/tags", None).await.0, 401, "its tokens end with it");
    assert_eq!(token_request(&app, Some((&id, &new)), &[grant]).await.1["error"], "invalid_client");
    let (status, _) = app.api(&admin, Method::POST, &format!("/oauth-clients/{id}/secret"), None).await;
    assert_eq!(status, 409);

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_type = 'oauth_client' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["oauth_client.created", "oauth_client.secret_rotated", "oauth_client.revoked"]);
    let (status, body) =
        app.api(&admin, Method::POST, "/oauth-clients", Some(json!({"name": "x", "permissions": ["nope:read"]}))).await;
    assert_eq!((status, body["error"]["details"]["field"].as_str()), (422, Some("permissions")));
    app.stop().await;
}
