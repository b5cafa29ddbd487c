//! What was found open when the server was attacked from outside, each fixed and held here: login limits under
//! concurrency and across addresses, trusted proxies, slow clients and the connection cap, the sandbox when the
//! server is reachable from elsewhere, tokens of deactivated or demoted users, a second channel on one Twilio
//! account, and status callbacks that arrive before their SID is recorded.

mod common;

use common::*;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client whose connections come from `from` (another loopback address is another client).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(from.parse::<IpAddr>().unwrap()).build().unwrap()
}

async fn login(client: &reqwest::Client, app: &TestApp, email: &str, password: &str, forwarded: Option<&str>) -> u16 {
    let mut r =
        client.post(format!("{}/api/v1/auth/login", app.address)).json(&json!({"email": email, "password": password}));
    if let Some(f) = forwarded {
        r = r.header("X-Forwarded-For", f);
    }
    r.send().await.unwrap().status().as_u16()
}

fn admin(app: &TestApp) -> (String, String) {
    let a = app.bootstrap_admin.as_ref().unwrap();
    (a.email.clone(), a.password.expose_secret().to_owned())
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_is_counted_before_any_password_is_checked() {
    let app = spawn_app().await;
    let (email, _) = admin(&app);
    let client = client_from("127.0.0.1");
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all((0..200).map(|i| {
        let (client, app, email) = (&client, &app, &email);
        async move { login(client, app, email, &format!("wrong {i}"), None).await }
    }))
    .await;
    let checked = answers.iter().filter(|s| **s == 401).count();
    let limited = answers.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + limited, 200, "{answers:?}");
    // After the limit each further attempt waits 1 s, 2 s, 4 s, … since the last: a burst that took longer than
    // a second on a busy machine may have earned one of those (at 1 s, 3 s, 7 s, … after it began at most).
    let elapsed = started.elapsed().as_secs_f64();
    let earned = (0..).take_while(|k| f64::from((2u32 << k) - 1) <= elapsed).count();
    assert!(
        checked <= 5 + earned,
        "at most the per-account-and-address limit is checked (and {earned} waited for), not {checked}"
    );
    app.stop().await;
}

#[tokio::test]
async fn failures_from_one_address_never_lock_the_account_out_for_another() {
    let app = spawn_app().await;
    let (email, password) = admin(&app);
    let attacker = client_from("127.0.0.2");
    let mut refused = 0;
    for i in 0..30 {
        if login(&attacker, &app, &email, &format!("guess {i}"), None).await == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 20, "the attacker's address is slowed down ({refused} of 30 refused)");
    // The right password from the admin's own address still works at once.
    assert_eq!(login(&client_from("127.0.0.1"), &app, &email, &password, None).await, 200);
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let app = spawn_app_with(|env| {
        env.push(("SWITCHBOARD__HTTP__TRUSTED_PROXIES".into(), "127.0.0.1, 10.0.0.0/8".into()));
        env.push(("SWITCHBOARD__AUTH__MAX_FAILURES_PER_ADDRESS".into(), "5".into()));
    })
    .await;
    let (email, password) = admin(&app);
    let proxy = client_from("127.0.0.1");
    // Five clients behind the proxy guess once each for different accounts: the address limit is theirs alone.
    for i in 0..5 {
        assert_eq!(login(&proxy, &app, &format!("u{i}@example.com"), "x", Some("198.51.100.1")).await, 401);
    }
    assert_eq!(login(&proxy, &app, "u9@example.com", "x", Some("198.51.100.1")).await, 429);
    // Another client behind the same proxy is not affected.
    assert_eq!(login(&proxy, &app, &email, &password, Some("198.51.100.2")).await, 200);
    // From a peer that is not a trusted proxy the header is ignored: its own address counts.
    let direct = client_from("127.0.0.3");
    for i in 0..5 {
        assert_eq!(login(&direct, &app, &format!("v{i}@example.com"), "x", Some(&format!("203.0.113.{i}"))).await, 401);
    }
    assert_eq!(login(&direct, &app, "v9@example.com", "x", Some("203.0.113.99")).await, 429);
    app.stop().await;
}

/// Opens `n` connections that each send half a request head and then nothing.
async fn half_open(address: &str, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(address).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        held.push(s);
    }
    held
}

#[tokio::test]
async fn slow_clients_cannot_hold_the_server_and_webhooks_still_get_through() {
    let app = spawn_app_with(|env| env.push(("SWITCHBOARD__HTTP__HEADER_READ_TIMEOUT_SECS".into(), "2".into()))).await;
    let channel = app.create_channel().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let held = half_open(&address, 2000).await;

    // Answered while the 2,000 are held (a bound far above a normal answer, far below a stuck server; the time
    // is printed, not asserted).
    let started = Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
        let webhook = app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "still here")).await;
        (health.status(), webhook.status())
    })
    .await;
    assert_eq!(answered.ok(), Some((reqwest::StatusCode::OK, reqwest::StatusCode::OK)), "answered while held");
    println!("/healthz and a signed webhook answered in {:?} with 2,000 half-open connections", started.elapsed());

    // The half-sent heads are given up on: the server closes those connections.
    let mut closed = 0;
    for mut s in held.into_iter().take(50) {
        let mut buf = [0u8; 256];
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 50, "connections with a half-sent head are closed after the header-read timeout");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_past_the_cap_new_ones_are_refused() {
    let app = spawn_app_with(|env| {
        env.push(("SWITCHBOARD__HTTP__HEADER_READ_TIMEOUT_SECS".into(), "2".into()));
        env.push(("SWITCHBOARD__HTTP__MAX_CONNECTIONS".into(), "32".into()));
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // A keep-alive connection that asks once, then says nothing.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if idle.read(&mut buf).await.unwrap_or(0) == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle keep-alive connection is closed after the timeout");

    app.stop().await;

    // The cap, on a server that would hold a half-sent head for a minute: the first 32 are held, the next one is
    // closed at once (long before that minute).
    let app = spawn_app_with(|env| {
        env.push(("SWITCHBOARD__HTTP__HEADER_READ_TIMEOUT_SECS".into(), "60".into()));
        env.push(("SWITCHBOARD__HTTP__MAX_CONNECTIONS".into(), "32".into()));
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let held = half_open(&address, 32).await;
    let mut extra = TcpStream::connect(&address).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(20), extra.read(&mut buf)).await;
    assert!(matches!(refused, Ok(Ok(0)) | Ok(Err(_))), "a connection past the cap is closed at once: {refused:?}");
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_is_off_by_default_when_the_server_is_reachable_from_elsewhere() {
    let app = spawn_app_with(|env| {
        env.retain(|(k, _)| k != "SWITCHBOARD__SANDBOX__ENABLED");
        env.push(("SWITCHBOARD__HTTP__PUBLIC_URL".into(), "https://cc.example.com".into()));
    })
    .await;
    for path in ["/sandbox", "/sandbox/api/state", "/sandbox/api/messages?customer=%2B1&business=%2B1"] {
        let r = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = app
        .client
        .post(format!("{}/sandbox/api/faults", app.address))
        .json(&json!({"status": 429, "count": 10000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.count("channels").await, 0, "no sandbox channel was created");
    app.stop().await;
}

#[tokio::test]
async fn an_enabled_sandbox_on_a_public_server_needs_an_admin() {
    let app = spawn_app_with(|env| {
        env.retain(|(k, _)| k != "SWITCHBOARD__SANDBOX__ENABLED");
        env.push(("SWITCHBOARD__SANDBOX__ENABLED".into(), "true".into()));
        env.push(("SWITCHBOARD__HTTP__PUBLIC_URL".into(), "https://cc.example.com".into()));
    })
    .await;
    for (method, path) in [("GET", "/sandbox"), ("GET", "/sandbox/api/state"), ("POST", "/sandbox/api/faults")] {
        let r = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .json(&json!({"status": 429, "count": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "anonymous {method} {path}");
    }
    let agent = app.api_token("agent").await;
    let r = app.client.get(format!("{}/sandbox/api/state", app.address)).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(r.status(), 403, "agents do not play customers");
    let admin = app.api_token("admin").await;
    let r = app.client.get(format!("{}/sandbox/api/state", app.address)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_never_writes_as_a_customer_of_a_real_channel() {
    let app = spawn_app_with(|env| {
        env.retain(|(k, _)| k != "SWITCHBOARD__SANDBOX__ENABLED");
        env.push(("SWITCHBOARD__SANDBOX__ENABLED".into(), "true".into()));
    })
    .await;
    // A real customer writes to a real channel.
    let real = app.create_channel().await;
    let mut p = inbound_text(&new_sid("SM"), "hello");
    set(&mut p, "From", "whatsapp:+31612345678");
    set(&mut p, "ProfileName", "Real Customer");
    assert_eq!(app.post_signed(&app.messages_url(real), &p).await.status(), 200);
    let state: Value =
        app.client.get(format!("{}/sandbox/api/state", app.address)).send().await.unwrap().json().await.unwrap();
    let business = state["numbers"][0]["e164"].as_str().expect("a sandbox number").to_owned();

    let r = app
        .client
        .post(format!("{}/sandbox/api/messages", app.address))
        .json(&json!({"customer": "+31612345678", "business": business, "body": "hi", "profile_name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "not_a_sandbox_customer");
    let name: String = sqlx::query_scalar("SELECT profile_name FROM contacts WHERE phone_e164 = '+31612345678'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "Real Customer", "the real customer's contact is untouched");
    app.stop().await;
}

#[tokio::test]
async fn tokens_of_a_deactivated_user_are_refused_and_a_demotion_caps_them() {
    let app = spawn_app().await;
    let root = app.api_token("admin").await;
    let (status, alice) = app
        .api(&root, Method::POST, "/agents", Some(json!({"email": "alice@example.com", "name": "Alice", "role": "admin", "password": "one-time password 123"})))
        .await;
    assert_eq!(status, 201, "{alice}");
    let alice_id = alice["id"].as_str().unwrap().to_owned();
    let session =
        app.session("alice@example.com", &["one-time password 123"], "alice's own password 1", &alice_id).await;
    let (status, token) =
        session.call(Method::POST, "/tokens", Some(json!({"name": "alice's", "role": "admin"}))).await;
    assert_eq!(status, 201, "{token}");
    let alices = token["token"].as_str().unwrap().to_owned();
    assert_eq!(app.api(&alices, Method::GET, "/audit", None).await.0, 200, "an admin token");

    // Demoted to agent: the token acts as an agent.
    let (status, _) =
        app.api(&root, Method::PATCH, &format!("/agents/{alice_id}"), Some(json!({"role": "agent"}))).await;
    assert_eq!(status, 200);
    assert_eq!(app.api(&alices, Method::GET, "/audit", None).await.0, 403, "capped at the owner's role");
    // Deactivated: the token is refused, so it cannot reactivate its owner.
    assert_eq!(app.api(&root, Method::DELETE, &format!("/agents/{alice_id}"), None).await.0, 204);
    let (status, _) =
        app.api(&alices, Method::PATCH, &format!("/agents/{alice_id}"), Some(json!({"active": true}))).await;
    assert_eq!(status, 401);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_type = 'api_token' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(actions.contains(&"api_token.role_capped".to_owned()), "{actions:?}");
    assert!(actions.contains(&"api_token.suspended".to_owned()), "{actions:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_second_channel_on_the_same_account_never_replaces_its_auth_token() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let account = format!("AC{}", "1".repeat(32));
    let channel = |name: &str, token: &str, number: &str| json!({"name": name, "account_sid": account, "auth_token": token, "numbers": [{"e164": number}]});
    let (status, first) = app
        .api(&admin, Method::POST, "/channels", Some(channel("A", "token-one-0123456789abcdef012345", "+14155550101")))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, err) = app
        .api(&admin, Method::POST, "/channels", Some(channel("B", "token-two-0123456789abcdef012345", "+14155550102")))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "auth_token_mismatch");
    assert_eq!(err["error"]["details"]["field"], "auth_token");
    assert!(err["error"]["message"].as_str().unwrap().contains("rotate"), "{err}");
    // The same token is the same account: a second channel uses it.
    let (status, second) = app
        .api(&admin, Method::POST, "/channels", Some(channel("B", "token-one-0123456789abcdef012345", "+14155550102")))
        .await;
    assert_eq!(status, 201, "{second}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM twilio_accounts").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, 1);
    app.stop().await;
}

async fn upload_as(
    client: &reqwest::Client,
    base: &str,
    csrf: Option<&str>,
    bearer: Option<&str>,
    bytes: usize,
) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(vec![7u8; bytes]).file_name("photo.png").mime_str("image/png").unwrap();
    let mut r =
        client.post(format!("{base}/api/v1/uploads")).multipart(reqwest::multipart::Form::new().part("file", part));
    if let Some(c) = csrf {
        r = r.header("X-CSRF-Token", c);
    }
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_upload_is_sent_only_by_its_uploader_kept_private_and_swept_when_long_expired() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app_with(|env| env.push(("SWITCHBOARD__OUTBOUND__UPLOAD_QUOTA_BYTES".into(), "6000".into()))).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let number: String =
        sqlx::query_scalar("SELECT id::text FROM whatsapp_numbers").fetch_one(&app.pool).await.unwrap();
    let mut sessions = Vec::new();
    for name in ["ana", "bo"] {
        let body = json!({"email": format!("{name}@example.com"), "name": name, "role": "agent",
                          "password": "one-time password 123", "number_ids": [number]});
        let (status, v) = app.api(&admin, Method::POST, "/agents", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        sessions.push(
            app.session(&format!("{name}@example.com"), &["one-time password 123"], "an own password 123", &id).await,
        );
    }
    app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "hello")).await;
    let conversation: String =
        sqlx::query_scalar("SELECT id::text FROM conversations").fetch_one(&app.pool).await.unwrap();

    let (ana, bo) = (&sessions[0], &sessions[1]);
    let (status, file) = upload_as(&ana.client, &ana.base, Some(&ana.csrf), None, 4000).await;
    assert_eq!(status, 201, "{file}");
    let path = format!("/conversations/{conversation}/messages");
    let (status, err) = bo.call(Method::POST, &path, Some(json!({"attachments": [file["id"]]}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("upload_not_found")), "another agent's file: {err}");
    let (status, sent) = ana.call(Method::POST, &path, Some(json!({"attachments": [file["id"]]}))).await;
    assert_eq!(status, 202, "{sent}");

    // Private on disk: the uploads directory is the server user's alone, so nothing under it is reachable.
    let storage: String = sqlx::query_scalar("SELECT storage_path FROM uploads").fetch_one(&app.pool).await.unwrap();
    let on_disk = app.data_dir.path().join(&storage);
    assert!(on_disk.starts_with(app.data_dir.path().join("uploads")), "{}", on_disk.display());
    let mode = std::fs::metadata(app.data_dir.path().join("uploads")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // The quota: 4,000 bytes held of 6,000.
    let (status, err) = upload_as(&ana.client, &ana.base, Some(&ana.csrf), None, 2500).await;
    assert_eq!(status, 201, "under the quota: {err}");
    let (status, err) = upload_as(&ana.client, &ana.base, Some(&ana.csrf), None, 100).await;
    assert_eq!((status, err["error"]["code"].as_str()), (413, Some("upload_quota_exceeded")), "{err}");

    // Long expired and unused: swept with its file. The sent one stays (a message points at it).
    sqlx::query("UPDATE uploads SET expires_at = now() - interval '2 days'").execute(&app.pool).await.unwrap();
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) SELECT '\\x00', id, 'x', now() - interval '1 hour' FROM users LIMIT 1")
        .execute(&app.pool).await.unwrap();
    sqlx::query("INSERT INTO idempotency_keys (caller, key, request_hash, created_at) VALUES ('token:x', 'k', '\\x00', now() - interval '2 days')")
        .execute(&app.pool).await.unwrap();
    let sweeper = switchboard::sweeper::Sweeper {
        pool: app.pool.clone(),
        storage: app.state.storage.clone(),
        login_window: Duration::from_secs(900),
    };
    let (swept, uploads) = sweeper.sweep_once().await.unwrap();
    assert_eq!(uploads, 1, "the unsent upload is swept, the sent one kept");
    assert_eq!((swept.sessions, swept.idempotency_keys), (1, 1));
    assert_eq!(app.count("uploads").await, 1);
    assert!(on_disk.exists(), "the sent file stays");
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads WHERE storage_path = $1")
        .bind(&storage)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(unsent, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_supervisor_cannot_set_an_admins_presence() {
    let app = spawn_app().await;
    let root = app.api_token("admin").await;
    let mut ids = Vec::new();
    for (email, role) in [("sup@example.com", "supervisor"), ("adm@example.com", "admin"), ("agt@example.com", "agent")]
    {
        let body = json!({"email": email, "name": role, "role": role, "password": "one-time password 123"});
        let (status, v) = app.api(&root, Method::POST, "/agents", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let sup = app.session("sup@example.com", &["one-time password 123"], "sup's own password 1", &ids[0]).await;
    let (status, err) =
        sup.call(Method::PUT, &format!("/agents/{}/presence", ids[1]), Some(json!({"presence": "offline"}))).await;
    assert_eq!(status, 403, "{err}");
    let (status, _) =
        sup.call(Method::PUT, &format!("/agents/{}/presence", ids[2]), Some(json!({"presence": "online"}))).await;
    assert_eq!(status, 200, "an agent's presence is a supervisor's to set");
    app.stop().await;
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    for _ in 0..4 {
        let app = spawn_app().await;
        let root = app.api_token("admin").await;
        let root_id: String = sqlx::query_scalar("SELECT id::text FROM users WHERE email = 'admin@localhost'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let body = json!({"email": "second@example.com", "name": "Second", "role": "admin", "password": "one-time password 123"});
        let (_, second) = app.api(&root, Method::POST, "/agents", Some(body)).await;
        let second_id = second["id"].as_str().unwrap().to_owned();
        let s =
            app.session("second@example.com", &["one-time password 123"], "second's own password", &second_id).await;
        let demote = json!({"role": "agent"});
        let (second_path, root_path) = (format!("/agents/{second_id}"), format!("/agents/{root_id}"));
        let (a, b) = tokio::join!(
            app.api(&root, Method::PATCH, &second_path, Some(demote.clone())),
            s.call(Method::PATCH, &root_path, Some(demote.clone())),
        );
        let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND active")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(admins, 1, "one admin is left ({} and {}: {} / {})", a.0, b.0, a.1, b.1);
        app.stop().await;
    }
}

#[tokio::test]
async fn readyz_answers_within_a_second_while_the_database_cannot_answer() {
    let app = spawn_app().await;
    // Another session holds the migrations table: the readiness query cannot finish.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
    // Without its own timeout the probe would wait for the lock as long as it is held; with it, it answers.
    let r = app.client.get(format!("{}/readyz", app.address)).timeout(Duration::from_secs(10)).send().await;
    assert_eq!(r.expect("/readyz answers while the database cannot").status(), 503);
    blocker.rollback().await.unwrap();
    assert_eq!(app.client.get(format!("{}/readyz", app.address)).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_uploaded_file_is_served_sandboxed_and_as_a_download_unless_whatsapp_media() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    for (name, content_type, disposition) in
        [("page.html", "text/html", "attachment"), ("photo.png", "image/png", "inline")]
    {
        let part = reqwest::multipart::Part::bytes(b"<script>alert(1)</script>".to_vec())
            .file_name(name)
            .mime_str(content_type)
            .unwrap();
        let r = app
            .client
            .post(format!("{}/api/v1/uploads", app.address))
            .bearer_auth(&admin)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let token: String = sqlx::query_scalar("SELECT token FROM uploads WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let served = app.client.get(format!("{}/media/{token}/{name}", app.address)).send().await.unwrap();
        assert_eq!(served.status(), 200);
        let h = served.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-security-policy"].to_str().unwrap().contains("sandbox"), "{name}");
        assert!(
            h["content-disposition"].to_str().unwrap().starts_with(disposition),
            "{name}: {:?}",
            h["content-disposition"]
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_serve_process_at_its_connection_cap_says_so_in_its_log_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env("SWITCHBOARD__DATABASE__URL", fresh_database().await)
        .env("SWITCHBOARD__DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__HTTP__MAX_CONNECTIONS", "32")
        .env("SWITCHBOARD__HTTP__HEADER_READ_TIMEOUT_SECS", "2")
        .env("SWITCHBOARD__SANDBOX__ENABLED", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let _server = Servers(vec![server]);
    wait_ready(&reqwest::Client::new(), &base).await;

    let held = half_open(&format!("127.0.0.1:{port}"), 40).await;
    eventually(5, "the cap in the log", || async {
        let log = std::fs::read_to_string(&log_path).unwrap();
        log.contains("connection limit reached").then_some(())
    })
    .await;
    // Once the half-sent heads time out, the server answers again.
    eventually(15, "the server to answer again", || async {
        match reqwest::Client::new().get(format!("{base}/healthz")).timeout(Duration::from_secs(1)).send().await {
            Ok(r) if r.status() == 200 => Some(()),
            _ => None,
        }
    })
    .await;
    drop(held);
}

#[tokio::test]
async fn a_request_whose_transaction_the_database_aborted_is_run_again_a_bounded_number_of_times() {
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use tower::ServiceExt;
    let app = spawn_app().await;
    // A handler that fails as a deadlock would (the marker AppError puts on such an answer) `fails` times.
    let router = |fails: u32, runs: Arc<AtomicU32>| {
        axum::Router::new()
            .route(
                "/x",
                axum::routing::post(move |body: String| {
                    let runs = runs.clone();
                    async move {
                        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                        if n <= fails {
                            let mut r = (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "aborted").into_response();
                            r.extensions_mut().insert(switchboard::error::Transient);
                            r
                        } else {
                            format!("run {n}: {body}").into_response()
                        }
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(app.state.clone(), switchboard::http::retry::layer))
            .with_state(app.state.clone())
    };
    let post = || {
        axum::http::Request::post("/x")
            .header("content-length", "13")
            .body(axum::body::Body::from("the same body"))
            .unwrap()
    };

    let runs = Arc::new(AtomicU32::new(0));
    let r = router(2, runs.clone()).oneshot(post()).await.unwrap();
    assert_eq!(r.status(), 200);
    let text = String::from_utf8(axum::body::to_bytes(r.into_body(), 1024).await.unwrap().to_vec()).unwrap();
    assert_eq!(text, "run 3: the same body", "run again, with its body");

    let runs = Arc::new(AtomicU32::new(0));
    let r = router(100, runs.clone()).oneshot(post()).await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(runs.load(Ordering::SeqCst), switchboard::http::retry::ATTEMPTS, "bounded");
    app.stop().await;
}
