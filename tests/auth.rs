//! Users, sessions, CSRF, login limits, API tokens and the audit log.

mod common;

use common::*;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// A browser: keeps the session cookie and the CSRF token it was given.
struct Browser {
    client: reqwest::Client,
    base: String,
    csrf: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
        Self { client, base: app.address.clone(), csrf: None }
    }

    /// Logs in; keeps the CSRF token on success. Returns the status, headers and body.
    async fn login(&mut self, email: &str, password: &str) -> Answer {
        let r = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let answer =
            Answer { status: r.status().as_u16(), headers: r.headers().clone(), body: r.json().await.unwrap() };
        if answer.status == 200 {
            self.csrf = answer.body["csrf_token"].as_str().map(str::to_owned);
        }
        answer
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(csrf) = &self.csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send().await.unwrap()
    }

    async fn post_without_csrf(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap()
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// Logs the bootstrap admin in and replaces its one-time password; returns the browser and the new password.
async fn admin_browser(app: &TestApp) -> (Browser, String) {
    let admin = app.bootstrap_admin.as_ref().expect("the first start creates an admin");
    let mut browser = Browser::new(app);
    assert_eq!(browser.login(&admin.email, admin.password.expose_secret()).await.status, 200);
    let new_password = "a much better password".to_owned();
    let r = browser
        .post(
            "/api/v1/auth/password",
            json!({"current_password": admin.password.expose_secret(), "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status(), 204);
    (browser, new_password)
}

async fn error_code(r: reqwest::Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_first_start_creates_one_admin_whose_one_time_password_must_be_changed() {
    let app = spawn_app().await;
    let admin = app.bootstrap_admin.as_ref().expect("bootstrap admin");
    assert_eq!(admin.email, "admin@localhost");
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(&app.pool).await.unwrap();
    assert!(
        stored.starts_with("$argon2id$") && !stored.contains(admin.password.expose_secret()),
        "stored hashed, never in clear"
    );

    let mut browser = Browser::new(&app);
    assert_eq!(browser.login(&admin.email, admin.password.expose_secret()).await.status, 200);
    let me: Value = browser.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["must_change_password"], true);
    let blocked = browser.get("/api/v1/tokens").await;
    assert_eq!(blocked.status(), 403);
    assert_eq!(error_code(blocked).await, "password_change_required");

    let weak = browser
        .post(
            "/api/v1/auth/password",
            json!({"current_password": admin.password.expose_secret(), "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.status(), 422);
    let body: Value = weak.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "new_password");

    let ok = browser
        .post(
            "/api/v1/auth/password",
            json!({"current_password": admin.password.expose_secret(), "new_password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(ok.status(), 204);
    assert_eq!(browser.get("/api/v1/tokens").await.status(), 200);

    // A second start on the same database creates nobody.
    let mut settings = app.settings.clone();
    settings.http.bind.set_port(0);
    let again = switchboard::Application::build(settings).await.unwrap().take_bootstrap_admin();
    assert!(again.is_none());
    assert_eq!(app.count("users").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn sessions_are_httponly_samesite_cookies_and_unsafe_requests_need_the_csrf_token() {
    let app = spawn_app().await;
    let (browser, password) = admin_browser(&app).await;
    let raw = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": "admin@localhost", "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = raw.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("sb_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");

    let refused = browser.post_without_csrf("/api/v1/tokens", json!({"name": "ci", "role": "agent"})).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(error_code(refused).await, "csrf_token_invalid");
    let accepted = browser.post("/api/v1/tokens", json!({"name": "ci", "role": "agent"})).await;
    assert_eq!(accepted.status(), 201);

    assert_eq!(browser.post("/api/v1/auth/logout", json!({})).await.status(), 204);
    assert_eq!(browser.get("/api/v1/auth/me").await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn https_public_urls_get_secure_cookies() {
    let app =
        spawn_app_with(|env| env.push(("SWITCHBOARD__HTTP__PUBLIC_URL".into(), "https://cc.example.com".into()))).await;
    let admin = app.bootstrap_admin.as_ref().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": admin.email, "password": admin.password.expose_secret()}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_with_a_clear_429() {
    let app = spawn_app().await;
    let (_, password) = admin_browser(&app).await;
    let mut browser = Browser::new(&app);
    for _ in 0..5 {
        let r = browser.login("admin@localhost", "not the password at all").await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
    let limited = browser.login("ADMIN@localhost", &password).await;
    assert_eq!(limited.status, 429, "even the right password waits once the limit is reached");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(limited.code(), "too_many_login_attempts");
    // Unknown accounts answer like wrong passwords.
    assert_eq!(browser.login("nobody@example.com", "whatever password").await.code(), "invalid_credentials");
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address_too() {
    let app = spawn_app_with(|env| env.push(("SWITCHBOARD__AUTH__MAX_FAILURES_PER_ADDRESS".into(), "3".into()))).await;
    let (_, password) = admin_browser(&app).await;
    let mut browser = Browser::new(&app);
    for i in 0..3 {
        assert_eq!(browser.login(&format!("user{i}@example.com"), "wrong password here").await.status, 401);
    }
    assert_eq!(browser.login("admin@localhost", &password).await.status, 429);
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_and_refused_once_revoked_or_expired() {
    let app = spawn_app().await;
    let (browser, _) = admin_browser(&app).await;
    let created: Value =
        browser.post("/api/v1/tokens", json!({"name": "crm sync", "role": "supervisor"})).await.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sb_"));
    let bearer =
        |t: &str| reqwest::Client::new().get(format!("{}/api/v1/auth/me", app.address)).bearer_auth(t.to_owned());

    let me: Value = bearer(&secret).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "supervisor");
    let listed = browser.get("/api/v1/tokens").await.text().await.unwrap();
    assert!(!listed.contains(&secret), "the secret is never shown again");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored.len(), 32);
    let used: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens").fetch_one(&app.pool).await.unwrap();
    assert!(used.is_some(), "last use recorded");

    // A supervisor token may not create tokens.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens", app.address))
        .bearer_auth(&secret)
        .json(&json!({"name": "x", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "forbidden");

    let id = created["id"].as_str().unwrap();
    let revoke = browser
        .client
        .delete(format!("{}/api/v1/tokens/{id}", app.address))
        .header("X-CSRF-Token", browser.csrf.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(bearer(&secret).send().await.unwrap().status(), 401);

    let expiring: Value = browser
        .post("/api/v1/tokens", json!({"name": "short-lived", "role": "agent", "expires_at": "2099-01-01T00:00:00Z"}))
        .await
        .json()
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'short-lived'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(bearer(expiring["token"].as_str().unwrap()).send().await.unwrap().status(), 401);
    assert_eq!(bearer("sb_not-a-token").send().await.unwrap().status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn request_bodies_with_unknown_fields_or_bad_values_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let (browser, _) = admin_browser(&app).await;
    let r = browser.post("/api/v1/tokens", json!({"name": "x", "role": "agent", "scope": "all"})).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("scope"), "{body}");
    let r = browser.post("/api/v1/tokens", json!({"name": "x", "role": "root"})).await;
    assert_eq!(r.status(), 422);
    let r = browser.post("/api/v1/tokens", json!({"name": "  ", "role": "agent"})).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "name");
    app.stop().await;
}

#[tokio::test]
async fn admin_changes_are_in_the_audit_log_without_secrets() {
    let app = spawn_app().await;
    let (browser, password) = admin_browser(&app).await;
    let created: Value =
        browser.post("/api/v1/tokens", json!({"name": "audited", "role": "agent"})).await.json().await.unwrap();
    let secret = created["token"].as_str().unwrap();
    let log = browser.get("/api/v1/audit?limit=2").await;
    assert_eq!(log.status(), 200);
    let text = log.text().await.unwrap();
    assert!(
        !text.contains(secret) && !text.contains(&password) && !text.contains("argon2"),
        "no secret in the audit log"
    );
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["items"][0]["action"], "token.created");
    assert_eq!(page["items"][0]["actor_label"], "admin@localhost");
    assert_eq!(page["items"][1]["action"], "user.password_changed");
    let next = page["next_cursor"].as_str().expect("more entries");
    let older: Value = browser.get(&format!("/api/v1/audit?limit=2&cursor={next}")).await.json().await.unwrap();
    assert_eq!(older["items"][0]["action"], "user.created");
    assert!(older["next_cursor"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn agents_cannot_read_the_audit_log_and_anonymous_callers_get_401() {
    let app = spawn_app().await;
    let (browser, _) = admin_browser(&app).await;
    let agent: Value =
        browser.post("/api/v1/tokens", json!({"name": "agent", "role": "agent"})).await.json().await.unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/audit", app.address))
        .bearer_auth(agent["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = reqwest::Client::new().get(format!("{}/api/v1/audit", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "unauthenticated");
    app.stop().await;
}
