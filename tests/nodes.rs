//! Several nodes on one database: what each node must share with the others.

mod common;

use common::*;

/// A node whose master key is not the one the stored credentials were encrypted with refuses to start and says
/// what to do; given the first node's key, it starts.
#[tokio::test]
async fn a_node_with_another_master_key_refuses_to_start_and_names_the_remedy() {
    let first = spawn_app().await;
    first.create_channel().await;

    // A second node on the same database with its own data directory: it generates its own key.
    let other_dir = tempfile::tempdir().unwrap();
    let mut settings = first.settings.clone();
    settings.data_dir = other_dir.path().to_path_buf();
    settings.http.bind.set_port(0);
    let refused = match switchboard::Application::build(settings.clone()).await {
        Ok(_) => panic!("a node with another master key started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("master key cannot decrypt"), "{refused}");
    assert!(refused.contains("SWITCHBOARD__SECRETS__MASTER_KEY"), "{refused}");

    // The same node given the first node's key starts.
    let key = std::fs::read_to_string(first.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap();
    settings.secrets.master_key = Some(key.trim().to_owned().into());
    let second = switchboard::Application::build(settings).await.expect("a node with the shared key starts");
    drop(second);
    first.stop().await;
}

/// Nodes starting together on an empty database migrate it once: the migrator holds an advisory lock, so the
/// others wait and find the migrations applied.
#[tokio::test]
async fn nodes_starting_together_apply_each_migration_once() {
    let (settings, _dir) = test_settings(|_| {}).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let builds = dirs.iter().map(|dir| {
        let mut s = settings.clone();
        s.data_dir = dir.path().to_path_buf();
        s.secrets.master_key = Some(key.clone().into());
        switchboard::Application::build(s)
    });
    let nodes = futures_util::future::join_all(builds).await;
    // Without the lock, the nodes racing through the same migrations fail (a relation that already exists, a
    // duplicate version): every node must start.
    for node in &nodes {
        if let Err(e) = node {
            panic!("a node starting beside others failed: {e:#}");
        }
    }
    let pool = nodes[0].as_ref().unwrap().state().pool.clone();
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await.unwrap();
    let expected = std::fs::read_dir(manifest_dir().join("migrations")).unwrap().count() as i64;
    assert_eq!(applied, expected, "every migration applied");
}

// ---------------------------------------------------------------------------------------------------------------
// Three nodes, each with its own data directory, sharing PostgreSQL and an S3 bucket.

use common::nodes::{free_port, Balancer, Node, Shared};
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

/// What Twilio's media host serves at `path`: different bytes for every path, ~48 KB.
fn media_bytes(path: &str) -> Vec<u8> {
    format!("the file at {path};").repeat(48_000 / (path.len() + 13)).into_bytes()
}

struct MediaHost;
impl wiremock::Respond for MediaHost {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(media_bytes(r.url.path()), "image/jpeg")
    }
}

/// Twilio accepting every message after `delay`, with a new SID each time.
struct Accepting(Duration);
impl wiremock::Respond for Accepting {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(201)
            .set_body_json(json!({"sid": new_sid("SM"), "status": "queued", "error_code": null}))
            .set_delay(self.0)
    }
}

struct Fleet {
    nodes: Vec<Node>,
    pool: sqlx::PgPool,
    admin: String,
    channel: Uuid,
    twilio: MockServer,
    s3: S3Server,
    balancer: Option<Balancer>,
    client: reqwest::Client,
    _setup: TestApp,
}

/// Sets up a channel and an admin token with the library, then starts `n` nodes (behind a balancer when asked).
async fn fleet(n: usize, balanced: bool, twilio_delay: Duration) -> Fleet {
    let s3 = S3Server::start().await;
    let twilio = MockServer::start().await;
    Mock::given(method("GET")).and(path_regex("/Media/")).respond_with(MediaHost).mount(&twilio).await;
    Mock::given(method("POST")).and(path(MESSAGES_PATH)).respond_with(Accepting(twilio_delay)).mount(&twilio).await;
    let s3_env = s3.env();
    let setup = spawn_app_with(move |env| env.extend(s3_env)).await;
    let channel = setup.create_channel().await;
    let admin = setup.api_token("admin").await;
    let master_key =
        std::fs::read_to_string(setup.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap().trim().to_owned();
    let database_url = secrecy::ExposeSecret::expose_secret(setup.settings.database.url.as_ref().unwrap()).to_owned();
    setup.shutdown.cancel();
    let mut env = s3.env();
    for (k, v) in [
        ("SWITCHBOARD__TWILIO__API_BASE_URL", twilio.uri().as_str()),
        ("SWITCHBOARD__JOBS__ENABLED", "true"),
        ("SWITCHBOARD__JOBS__CONCURRENCY", "4"),
        ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
        ("SWITCHBOARD__JOBS__HEARTBEAT_MS", "200"),
        ("SWITCHBOARD__JOBS__WORKER_TIMEOUT_MS", "1000"),
        ("SWITCHBOARD__JOBS__RETRY_BASE_MS", "50"),
        ("SWITCHBOARD__JOBS__RETRY_MAX_MS", "200"),
        ("SWITCHBOARD__JOBS__SHUTDOWN_GRACE_MS", "3000"),
        ("SWITCHBOARD__OUTBOUND__REQUEST_TIMEOUT_MS", "3000"),
        ("SWITCHBOARD__OUTBOUND__RATE_PER_SENDER", "0"),
        ("SWITCHBOARD__ROUTING__POLL_MS", "200"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let shared = Shared {
        database_url: database_url.clone(),
        master_key,
        env,
        log: std::env::temp_dir().join(format!("sb-nodes-{channel}.log")),
    };
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let balancer = if balanced { Some(Balancer::start(ports.clone()).await) } else { None };
    let public = balancer.as_ref().map(|b| b.base.clone());
    let nodes: Vec<Node> = ports.iter().map(|p| Node::start(&shared, *p, public.as_deref())).collect();
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    for node in &nodes {
        wait_ready(&client, &node.base).await;
    }
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    Fleet { nodes, pool, admin, channel, twilio, s3, balancer, client, _setup: setup }
}

impl Fleet {
    /// A customer's signed webhook posted to `base` (a node, or the balancer), signed for `public_url`.
    async fn webhook(&self, base: &str, public_url: &str, params: &[(String, String)]) -> Result<u16, reqwest::Error> {
        let route = format!("/webhooks/twilio/{}/messages", self.channel);
        let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &format!("{public_url}{route}"), params);
        let r = self
            .client
            .post(format!("{base}{route}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig)
            .body(encode_form(params))
            .send()
            .await?;
        Ok(r.status().as_u16())
    }

    /// To node `i` directly.
    async fn webhook_to(&self, i: usize, params: &[(String, String)]) -> u16 {
        let node = &self.nodes[i];
        self.webhook(&node.base, &node.public_url, params).await.unwrap()
    }

    async fn api(&self, i: usize, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(m, format!("{}/api/v1{path}", self.nodes[i].base)).bearer_auth(&self.admin);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The message requests Twilio received: (Body, the first MediaUrl).
    async fn sent(&self) -> Vec<(String, Option<String>)> {
        let requests = self.twilio.received_requests().await.unwrap();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == MESSAGES_PATH)
            .map(|r| {
                let form: HashMap<String, String> = form_urlencoded::parse(&r.body).into_owned().collect();
                (form.get("Body").cloned().unwrap_or_default(), form.get("MediaUrl").cloned())
            })
            .collect()
    }
}

fn media_webhook(sid: &str, media_url: &str) -> Vec<(String, String)> {
    let mut p = inbound_text(sid, "a photo");
    set(&mut p, "NumMedia", "1");
    p.push(("MediaUrl0".into(), media_url.into()));
    p.push(("MediaContentType0".into(), "image/jpeg".into()));
    p
}

#[tokio::test]
async fn three_nodes_with_their_own_data_directories_share_files_and_the_live_feed() {
    let f = fleet(3, false, Duration::ZERO).await;

    // Inbound media posted round-robin: each downloaded once, into the bucket, and served by every node.
    const MEDIA: usize = 30;
    for i in 0..MEDIA {
        let sid = new_sid("MM");
        let url = format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{:032x}", f.twilio.uri(), i);
        assert_eq!(f.webhook_to(i % 3, &media_webhook(&sid, &url)).await, 200);
    }
    eventually(60, "every medium downloaded", || async {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments WHERE download_state = 'downloaded'")
            .fetch_one(&f.pool)
            .await
            .unwrap();
        (done == MEDIA as i64).then_some(())
    })
    .await;
    let attachments: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, source_url FROM attachments").fetch_all(&f.pool).await.unwrap();
    assert_eq!(attachments.len(), MEDIA, "each message's medium stored once");
    for (i, (id, source)) in attachments.iter().enumerate() {
        let node = &f.nodes[(i + 1) % 3];
        let r =
            f.client.get(format!("{}/api/v1/attachments/{id}", node.base)).bearer_auth(&f.admin).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let expected = media_bytes(url::Url::parse(source).unwrap().path());
        assert_eq!(r.bytes().await.unwrap().as_ref(), &expected[..], "node {} serves {id}", (i + 1) % 3);
    }
    for node in &f.nodes {
        let local = node.data_dir().join("media");
        let files = std::fs::read_dir(&local).map(|d| d.count()).unwrap_or(0);
        assert_eq!(files, 0, "nothing in a node's own media directory: the bucket holds the files");
    }

    // An upload made on node 1, sent from node 2, its media URL fetched from node 3.
    let conversation: Uuid =
        sqlx::query_scalar("SELECT id FROM conversations LIMIT 1").fetch_one(&f.pool).await.unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let part =
        reqwest::multipart::Part::bytes(bytes.clone()).file_name("report.pdf").mime_str("application/pdf").unwrap();
    let r = f
        .client
        .post(format!("{}/api/v1/uploads", f.nodes[0].base))
        .bearer_auth(&f.admin)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let upload: Value = r.json().await.unwrap();
    let (status, v) = f
        .api(
            1,
            Method::POST,
            &format!("/conversations/{conversation}/messages"),
            Some(json!({"attachments": [upload["id"]]})),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let media_url =
        eventually(30, "the upload sent to Twilio", || async { f.sent().await.into_iter().find_map(|(_, m)| m) }).await;
    let media_url = url::Url::parse(&media_url).unwrap();
    // Whichever node's worker claimed the send names itself in the URL (a job queued on node 2 may be claimed
    // by another node's poll first); any node serves it, since the file is in the bucket.
    assert!(f.nodes.iter().any(|n| media_url.as_str().starts_with(&n.public_url)), "a node's own URL: {media_url}");
    let fetched = f.client.get(format!("{}{}", f.nodes[2].base, media_url.path())).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &bytes[..], "node 3 serves what node 1 stored");

    // Every file once in the bucket: the media and the upload.
    let keys = f.s3.keys().await;
    assert_eq!(keys.iter().filter(|k| k.starts_with("media/")).count(), MEDIA, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("uploads/")).count(), 1, "{keys:?}");

    // The live feed on node 3 shows a message that node 1 stored.
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://127.0.0.1:{}/api/v1/live",
        f.nodes[2].port
    ))
    .unwrap();
    let login = f
        .client
        .post(format!("{}/api/v1/auth/login", f.nodes[2].base))
        .json(&json!({"email": "admin@localhost", "password": ADMIN_OWN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_string().contains("hello"), "{hello}");
    let sid = new_sid("SM");
    assert_eq!(f.webhook_to(0, &inbound_text(&sid, "seen everywhere")).await, 200);
    let message: Uuid = sqlx::query_scalar("SELECT id FROM messages WHERE twilio_sid = $1")
        .bind(&sid)
        .fetch_one(&f.pool)
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                // One change, or several that happened together.
                let changes = if v["type"] == "changes" { v["changes"].as_array().unwrap().clone() } else { vec![v] };
                if changes.iter().any(|c| c["kind"] == "message" && c["id"] == message.to_string()) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "node 3's live feed announced node 1's message");
    let _ = ws.close(None).await;

    // Every inbound message once.
    let inbound: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'")
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(inbound, MEDIA as i64 + 1);
}

/// Counts how often each body reached Twilio.
fn tally(sent: &[(String, Option<String>)]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (body, _) in sent {
        *counts.entry(body.clone()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn a_node_killed_during_a_burst_loses_nothing_it_answered() {
    // Twilio takes 150 ms per message, so that sends are in flight when the node dies.
    let mut f = fleet(3, false, Duration::from_millis(150)).await;
    let conversation: Uuid = {
        assert_eq!(f.webhook_to(0, &inbound_text(&new_sid("SM"), "hello")).await, 200);
        sqlx::query_scalar("SELECT id FROM conversations").fetch_one(&f.pool).await.unwrap()
    };
    const ROUNDS: usize = 60;
    let mut answered_inbound = Vec::new();
    let mut accepted_sends = Vec::new();
    for round in 0..ROUNDS {
        if round == ROUNDS / 3 {
            f.nodes[1].kill();
        }
        let i = round % 3;
        let sid = new_sid("SM");
        let node = &f.nodes[i];
        // A killed node refuses the connection: not answered, so nothing is owed for it.
        if let Ok(200) = f.webhook(&node.base, &node.public_url, &inbound_text(&sid, &format!("inbound {round}"))).await
        {
            answered_inbound.push(sid);
        }
        let body = format!("reply {round}");
        let r = f
            .client
            .post(format!("{}/api/v1/conversations/{conversation}/messages", node.base))
            .bearer_auth(&f.admin)
            .json(&json!({"body": body}))
            .send()
            .await;
        if matches!(r.map(|r| r.status().as_u16()), Ok(202)) {
            accepted_sends.push(body);
        }
    }
    assert!(answered_inbound.len() >= ROUNDS * 2 / 3 - 1, "the live nodes answered");

    // Every answered webhook stored once.
    let stored: Vec<String> = sqlx::query_scalar("SELECT twilio_sid FROM messages WHERE direction = 'inbound'")
        .fetch_all(&f.pool)
        .await
        .unwrap();
    for sid in &answered_inbound {
        assert_eq!(stored.iter().filter(|s| *s == sid).count(), 1, "{sid} stored once");
    }
    // Every accepted send reaches Twilio and ends with one SID recorded, once the others took over the dead
    // node's jobs (its worker stops heartbeating; jobs.worker_timeout_ms is 1 s here).
    eventually(60, "every accepted send handed to Twilio", || async {
        let sent = tally(&f.sent().await);
        accepted_sends.iter().all(|b| sent.contains_key(b)).then_some(())
    })
    .await;
    eventually(30, "every accepted send recorded", || async {
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'outbound' AND twilio_sid IS NULL")
                .fetch_one(&f.pool)
                .await
                .unwrap();
        (unsent == 0).then_some(())
    })
    .await;
    // Exactly once, but for the one gap the sender documents: a node that dies after Twilio accepted a message
    // and before it recorded the SID. At most the sends the dead node had in flight (jobs.concurrency = 4).
    let sent = tally(&f.sent().await);
    let twice: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.len() <= 4 && twice.iter().all(|(_, n)| **n == 2), "sent more than once: {twice:?}");
    assert_eq!(sent.len(), accepted_sends.len(), "nothing sent that was not accepted");
}

// Several threads: the balancer and the load must keep running while the test waits for a node to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_three_nodes_behind_one_address_fails_no_webhook() {
    let mut f = fleet(3, true, Duration::ZERO).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let base = f.balancer.as_ref().unwrap().base.clone();
    // Four customers writing without pause through the balancer, each on a new connection as Twilio does.
    let mut load = tokio::task::JoinSet::new();
    for customer in 0..4 {
        let (stop, base, client, channel) = (stop.clone(), base.clone(), f.client.clone(), f.channel);
        load.spawn(async move {
            let (mut answered, mut failed) = (Vec::new(), Vec::new());
            let route = format!("/webhooks/twilio/{channel}/messages");
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let sid = new_sid("SM");
                let mut p = inbound_text(&sid, &format!("message {n}"));
                let phone = format!("+3161000000{customer}");
                set(&mut p, "From", &format!("whatsapp:{phone}"));
                set(&mut p, "WaId", &phone[1..]);
                let sig = switchboard::twilio::signature::compute(AUTH_TOKEN, &format!("{base}{route}"), &p);
                let started = std::time::Instant::now();
                let r = client
                    .post(format!("{base}{route}"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", sig)
                    .body(encode_form(&p))
                    .send()
                    .await;
                match r.map(|r| r.status().as_u16()) {
                    Ok(200) => answered.push(sid),
                    other => failed.push(format!("{sid} after {:?}: {other:?}", started.elapsed())),
                }
            }
            (answered, failed)
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..3 {
        let exit = tokio::task::block_in_place(|| f.nodes[i].terminate());
        assert!(exit.success(), "node {i} stopped cleanly: {exit}");
        f.nodes[i].restart();
        wait_ready(&reqwest::Client::new(), &f.nodes[i].base).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut answered, mut failed) = (Vec::new(), Vec::new());
    while let Some(r) = load.join_next().await {
        let (a, x) = r.unwrap();
        answered.extend(a);
        failed.extend(x);
    }
    assert!(failed.is_empty(), "webhooks failed during the rolling restart: {failed:?}");
    assert!(answered.len() > 50, "the load ran throughout ({} answered)", answered.len());
    let stored: i64 = sqlx::query_scalar("SELECT count(DISTINCT twilio_sid) FROM messages WHERE twilio_sid = ANY($1)")
        .bind(&answered)
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(stored as usize, answered.len(), "every answered webhook stored");
}
