//! Shared test harness: a fresh database per test, the app spawned on port 0, signed Twilio requests.
#![allow(dead_code)]

use secrecy::SecretString;
use sqlx::{Connection, PgPool};
use std::path::PathBuf;
use switchboard::channels::{self, NewChannel, NewChannelTarget};
use switchboard::config::Settings;
use switchboard::domain::{AccountSid, MessagingServiceSid, E164};
use switchboard::twilio::signature;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub mod nodes;
pub mod replica;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";
pub const BUSINESS_NUMBER: &str = "+14155238886";
pub const CUSTOMER: &str = "+5215512345678";
pub const MESSAGING_SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";

/// The server the tests run against (see tests/run.sh, which starts it).
pub fn admin_database_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL").expect(
        "SWITCHBOARD_TEST_DATABASE_URL is not set: run the tests with tests/run.sh, which starts a PostgreSQL for them",
    )
}

/// Creates an empty database and returns its URL. It is dropped when the test process exits (see
/// [`drop_test_databases`]).
pub async fn fresh_database() -> String {
    let admin = admin_database_url();
    let name = format!("sb_test_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    CREATED.lock().unwrap_or_else(|e| e.into_inner()).push(name.clone());
    DROP_AT_EXIT.call_once(|| {
        // SAFETY: registers a plain function with the C library; it runs once, when the process exits.
        unsafe { libc::atexit(drop_test_databases) };
    });
    let base = admin.rsplit_once('/').expect("URL with a database").0;
    format!("{base}/{name}")
}

/// The databases this process created, dropped when it exits.
static CREATED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static DROP_AT_EXIT: std::sync::Once = std::sync::Once::new();

/// Drops this process's test databases (nextest runs each test in its own process; `cargo test`, each test file),
/// so that a whole run keeps one test's worth of databases on disk rather than four hundred. Runs on its own
/// thread and runtime, since the test's runtime is gone by now; a failure leaves the database behind, nothing more.
extern "C" fn drop_test_databases() {
    let names = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    let Ok(admin) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else { return };
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
            for name in names {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
            }
            Some(())
        })
    })
    .join();
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub pool: PgPool,
    pub settings: Settings,
    pub data_dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub state: switchboard::state::AppState,
    /// The first admin and its one-time password, as `serve` prints them.
    pub bootstrap_admin: Option<switchboard::BootstrapAdmin>,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Settings for a test: a fresh database, a temporary data dir, port 0, jobs off unless `tweak` turns them on.
pub async fn test_settings(tweak: impl FnOnce(&mut Vec<(String, String)>)) -> (Settings, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut env = vec![
        ("SWITCHBOARD__DATABASE__URL".to_owned(), fresh_database().await),
        ("SWITCHBOARD__DATABASE__MAX_CONNECTIONS".to_owned(), "4".to_owned()),
        ("SWITCHBOARD__HTTP__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("SWITCHBOARD__DATA_DIR".to_owned(), data_dir.path().display().to_string()),
        ("SWITCHBOARD__JOBS__ENABLED".to_owned(), "false".to_owned()),
        ("SWITCHBOARD__SANDBOX__ENABLED".to_owned(), "false".to_owned()),
        ("SWITCHBOARD__SANDBOX__BOT".to_owned(), "false".to_owned()),
        ("SWITCHBOARD__LOG__LEVEL".to_owned(), "warn".to_owned()),
    ];
    tweak(&mut env);
    (Settings::load_from(None, env).expect("test settings"), data_dir)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Vec<(String, String)>)) -> TestApp {
    let (settings, data_dir) = test_settings(tweak).await;
    switchboard::telemetry::init(&settings.log);
    let mut app = switchboard::Application::build(settings.clone()).await.expect("build app");
    let bootstrap_admin = app.take_bootstrap_admin();
    let port = app.port();
    let pool = app.state().pool.clone();
    let settings = (*app.state().settings).clone();
    let shutdown = app.shutdown_token();
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        settings,
        data_dir,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        state,
        bootstrap_admin,
        shutdown,
        server,
    }
}

impl TestApp {
    /// A classic-mode channel with the business number, created the way the CLI does.
    pub async fn create_channel(&self) -> Uuid {
        self.create_channel_with(NewChannelTarget::Numbers(vec![(
            "Support".into(),
            E164::parse(BUSINESS_NUMBER).unwrap(),
        )]))
        .await
    }

    /// A channel as [`TestApp::create_channel`] makes it, and the id of its one number.
    pub async fn create_channel_and_number(&self) -> (Uuid, Uuid) {
        let channel = self.create_channel().await;
        let number = sqlx::query_scalar("SELECT id FROM whatsapp_numbers WHERE channel_id = $1")
            .bind(channel)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        (channel, number)
    }

    pub async fn create_messaging_service_channel(&self) -> Uuid {
        self.create_channel_with(NewChannelTarget::MessagingService(
            MessagingServiceSid::parse(MESSAGING_SERVICE_SID).unwrap(),
        ))
        .await
    }

    pub async fn create_channel_with(&self, target: NewChannelTarget) -> Uuid {
        let secrets = switchboard::secrets::SecretBox::load_or_create(None, self.data_dir.path()).unwrap();
        let new = NewChannel {
            name: "Support".into(),
            account_sid: AccountSid::parse(ACCOUNT_SID).unwrap(),
            auth_token: SecretString::from(AUTH_TOKEN.to_owned()),
            api_key: None,
            target,
        };
        channels::create(&self.pool, &secrets, &new).await.expect("create channel")
    }

    pub fn messages_url(&self, channel: Uuid) -> String {
        format!("{}/webhooks/twilio/{channel}/messages", self.address)
    }

    pub fn status_url(&self, channel: Uuid) -> String {
        format!("{}/webhooks/twilio/{channel}/status", self.address)
    }

    /// POSTs `params` to `url`, signed with the test token the way Twilio signs.
    pub async fn post_signed(&self, url: &str, params: &[(String, String)]) -> reqwest::Response {
        let sig = signature::compute(AUTH_TOKEN, url, params);
        self.post_with_signature(url, params, Some(&sig)).await
    }

    pub async fn post_with_signature(
        &self,
        url: &str,
        params: &[(String, String)],
        sig: Option<&str>,
    ) -> reqwest::Response {
        let body = encode_form(params);
        let mut req = self.client.post(url).header("Content-Type", "application/x-www-form-urlencoded").body(body);
        if let Some(sig) = sig {
            req = req.header("X-Twilio-Signature", sig);
        }
        req.send().await.expect("request")
    }

    /// POSTs a CSV to `/api/v1/opt-ins/import`; returns the status and the JSON answer.
    pub async fn import_opt_ins(&self, token: &str, csv: String) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/opt-ins/import", self.address))
            .bearer_auth(token)
            .header("Content-Type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.json().await.expect("JSON body"))
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&self.pool).await.unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.expect("server task").expect("server stopped cleanly");
    }
}

pub fn encode_form(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A realistic WhatsApp text message from `CUSTOMER` to `BUSINESS_NUMBER`.
pub fn inbound_text(sid: &str, body: &str) -> Vec<(String, String)> {
    params(&[
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ProfileName", "María José"),
        ("MessageType", "text"),
        ("SmsSid", sid),
        ("WaId", &CUSTOMER[1..]),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", &format!("whatsapp:{BUSINESS_NUMBER}")),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{CUSTOMER}")),
        ("ApiVersion", "2010-04-01"),
    ])
}

/// POSTs `params` to `url` (any server's webhook), signed with the test token the way Twilio signs.
pub async fn post_signed_to(client: &reqwest::Client, url: &str, params: &[(String, String)]) -> reqwest::Response {
    client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature::compute(AUTH_TOKEN, url, params))
        .body(encode_form(params))
        .send()
        .await
        .expect("request")
}

/// A message SID unique to this call.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::new_v4().simple())
}

pub fn set(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    params.retain(|(k, _)| k != name);
    params.push((name.to_owned(), value.to_owned()));
}

pub fn remove(params: &mut Vec<(String, String)>, name: &str) {
    params.retain(|(k, _)| k != name);
}

/// Polls `check` until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The password [`TestApp::api_token`] gives the bootstrap admin in place of its one-time password.
pub const ADMIN_OWN_PASSWORD: &str = "the admin's own password";

impl TestApp {
    /// Logs `email` in with the first of `passwords` that works and, if the server asks for it, replaces a
    /// one-time password with `own`. Returns the browser (cookies kept) and the session's CSRF token.
    pub async fn log_in(&self, email: &str, passwords: &[&str], own: &str) -> (reqwest::Client, String) {
        let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let mut login = serde_json::Value::Null;
        let mut used = "";
        for password in passwords {
            let r = browser
                .post(format!("{}/api/v1/auth/login", self.address))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                login = r.json().await.unwrap();
                used = password;
                break;
            }
        }
        let csrf = login["csrf_token"].as_str().expect("logged in").to_owned();
        if login["must_change_password"] == true {
            let r = browser
                .post(format!("{}/api/v1/auth/password", self.address))
                .header("X-CSRF-Token", &csrf)
                .json(&serde_json::json!({"current_password": used, "new_password": own}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
        (browser, csrf)
    }

    /// Logs the bootstrap admin in, replaces its one-time password, and creates an API token with `role`.
    pub async fn api_token(&self, role: &str) -> String {
        use secrecy::ExposeSecret;
        let admin = self.bootstrap_admin.as_ref().expect("bootstrap admin");
        // The one-time password on the first call; the one this helper chose afterwards.
        let (browser, csrf) =
            self.log_in(&admin.email, &[admin.password.expose_secret(), ADMIN_OWN_PASSWORD], ADMIN_OWN_PASSWORD).await;
        let token: serde_json::Value = browser
            .post(format!("{}/api/v1/tokens", self.address))
            .header("X-CSRF-Token", &csrf)
            .json(&serde_json::json!({"name": format!("{role} for tests {}", Uuid::new_v4()), "role": role}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["token"].as_str().expect("token created").to_owned()
    }
}

impl TestApp {
    /// Calls `/api/v1{path}` with a bearer token; returns the status and the JSON body (null when empty).
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.request(method, format!("{}/api/v1{path}", self.address)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).expect("JSON body") },
        )
    }
}

/// A logged-in browser session: its cookies, its CSRF token, and the user it belongs to.
pub struct Session {
    pub client: reqwest::Client,
    pub csrf: String,
    pub base: String,
    pub user_id: String,
}

impl Session {
    /// Calls `/api/v1{path}` with the session's cookie and CSRF token; returns the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req =
            self.client.request(method, format!("{}/api/v1{path}", self.base)).header("X-CSRF-Token", &self.csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

impl TestApp {
    /// Logs `user_id` in as `email` (see [`TestApp::log_in`]) and keeps the session.
    pub async fn session(&self, email: &str, passwords: &[&str], own: &str, user_id: impl ToString) -> Session {
        let (client, csrf) = self.log_in(email, passwords, own).await;
        Session { client, csrf, base: self.address.clone(), user_id: user_id.to_string() }
    }
}

/// Waits until a `switchboard serve` process at `base` answers `/readyz` (at most a minute).
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

/// Server processes a test started: killed when dropped, so a failing test leaves none running.
pub struct Servers(pub Vec<std::process::Child>);

impl Servers {
    /// Stops them as an operator would (SIGTERM) and asserts each exits cleanly.
    pub fn terminate(mut self) {
        for s in &self.0 {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(s.id() as i32), nix::sys::signal::Signal::SIGTERM)
                .unwrap();
        }
        for s in &mut self.0 {
            assert!(s.wait().unwrap().success(), "graceful shutdown exits 0");
        }
        self.0.clear();
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for s in &mut self.0 {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// A real S3-compatible server for a test (moto's, from PyPI, installed by tests/run.sh), with one empty bucket.
/// Stopped when dropped.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    child: std::process::Child,
}

impl S3Server {
    pub async fn start() -> Self {
        let bin = std::env::var("SWITCHBOARD_TEST_MOTO")
            .expect("SWITCHBOARD_TEST_MOTO is not set: run tests/run.sh, which installs moto's S3 server from PyPI");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let bucket = format!("sb-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // moto takes requests without checking their signature: creating the bucket needs none.
        loop {
            match client.put(format!("{endpoint}/{bucket}")).send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => panic!("moto refused to create the bucket: {}", r.status()),
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(e) => panic!("moto_server did not start: {e}"),
            }
        }
        Self { endpoint, bucket, child }
    }

    /// The settings that point a node at this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("SWITCHBOARD__STORAGE__BACKEND", "s3"),
            ("SWITCHBOARD__STORAGE__S3_BUCKET", self.bucket.as_str()),
            ("SWITCHBOARD__STORAGE__S3_ENDPOINT", self.endpoint.as_str()),
            ("SWITCHBOARD__STORAGE__S3_ACCESS_KEY_ID", "test-access-key"),
            ("SWITCHBOARD__STORAGE__S3_SECRET_ACCESS_KEY", "test-secret-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Keys in the bucket, straight from the server (ListObjectsV2).
    pub async fn keys(&self) -> Vec<String> {
        let xml =
            reqwest::get(format!("{}/{}?list-type=2", self.endpoint, self.bucket)).await.unwrap().text().await.unwrap();
        xml.split("<Key>").skip(1).map(|s| s.split("</Key>").next().unwrap().to_owned()).collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes `server` play Twilio accepting every message request (201, a new SID each time), for tests whose
/// sends only need to go somewhere.
pub async fn accept_messages(server: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex("Messages.json$"))
        .respond_with(|_: &wiremock::Request| {
            wiremock::ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"sid": new_sid("SM"), "status": "queued", "error_code": null}))
        })
        .mount(server)
        .await;
}
