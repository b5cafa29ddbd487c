//! Inbound media: downloaded by a durable job, with credentials only towards Twilio's API host under the
//! channel's own account path, never forwarded on a redirect; size-limited; retried, then marked failed.

mod common;

use common::*;
use sqlx::Row;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0fake-jpeg-bytes-for-the-test\xFF\xD9";

fn media_path(message: &str, media: &str) -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message}/Media/{media}")
}

fn basic_auth() -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")))
}

async fn app_with_fake_twilio(twilio: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let twilio_uri = twilio.uri();
    let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    spawn_app_with(move |env| {
        env.push(("SWITCHBOARD__TWILIO__API_BASE_URL".into(), twilio_uri));
        env.push(("SWITCHBOARD__JOBS__ENABLED".into(), "true".into()));
        env.push(("SWITCHBOARD__JOBS__POLL_INTERVAL_MS".into(), "200".into()));
        env.push(("SWITCHBOARD__JOBS__RETRY_BASE_MS".into(), "20".into()));
        env.push(("SWITCHBOARD__JOBS__RETRY_MAX_MS".into(), "100".into()));
        env.extend(extra);
    })
    .await
}

fn media_message(sid: &str, urls: &[(String, &str)]) -> Vec<(String, String)> {
    let mut p = inbound_text(sid, "see attached");
    set(&mut p, "NumMedia", &urls.len().to_string());
    for (i, (url, content_type)) in urls.iter().enumerate() {
        p.push((format!("MediaUrl{i}"), url.clone()));
        p.push((format!("MediaContentType{i}"), content_type.to_string()));
    }
    p
}

async fn attachment_state(app: &TestApp) -> Option<(String, sqlx::postgres::PgRow)> {
    let row = sqlx::query("SELECT * FROM attachments").fetch_optional(&app.pool).await.unwrap()?;
    let state: String = row.get("download_state");
    (state != "pending").then_some((state, row))
}

#[tokio::test]
async fn media_is_downloaded_with_credentials_that_never_follow_the_redirect() {
    let twilio = MockServer::start().await;
    let cdn = MockServer::start().await;
    let sid = new_sid("MM");
    let media = media_path(&sid, "ME0123456789abcdef0123456789abcdef");
    // Twilio's API host answers with a redirect to the CDN, on another host and port.
    let cdn_url = format!("http://localhost:{}/signed/photo.jpg?X-Amz-Signature=abc", cdn.address().port());
    Mock::given(method("GET"))
        .and(path(media.as_str()))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(307).insert_header("location", cdn_url.as_str()))
        .expect(1)
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .and(path("/signed/photo.jpg"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(JPEG)
                .insert_header("content-type", "image/jpeg")
                .insert_header("content-disposition", "inline; filename=\"photo.jpg\""),
        )
        .expect(1)
        .mount(&cdn)
        .await;
    // This test's CDN is on loopback; a real one is on the internet (only those are followed by default).
    let app = app_with_fake_twilio(&twilio, &[("SWITCHBOARD__MEDIA__ALLOW_PRIVATE_REDIRECTS", "true")]).await;
    let channel = app.create_channel().await;

    let response = app
        .post_signed(
            &app.messages_url(channel),
            &media_message(&sid, &[(format!("{}{media}", twilio.uri()), "image/jpeg")]),
        )
        .await;
    assert_eq!(response.status(), 200, "answered before the download");

    let (state, row) = eventually(20, "the download", || attachment_state(&app)).await;
    assert_eq!(state, "downloaded", "error: {:?}", row.get::<Option<String>, _>("download_error"));
    assert_eq!(row.get::<i64, _>("size_bytes"), JPEG.len() as i64);
    assert_eq!(row.get::<String, _>("content_type"), "image/jpeg");
    assert_eq!(row.get::<String, _>("filename"), "photo.jpg");
    let stored = app.data_dir.path().join(row.get::<String, _>("storage_path"));
    assert_eq!(std::fs::read(stored).unwrap(), JPEG);
    let cdn_requests: Vec<Request> = cdn.received_requests().await.unwrap();
    assert_eq!(cdn_requests.len(), 1);
    assert!(
        !cdn_requests[0].headers.contains_key("authorization"),
        "credentials must not follow a redirect to another host"
    );
    // The job is removed just after the download's own commit.
    eventually(10, "the done job removed", || async { (app.count("jobs").await == 0).then_some(()) }).await;
    app.stop().await;
}

#[tokio::test]
async fn media_outside_the_channels_account_is_fetched_without_credentials() {
    let twilio = MockServer::start().await;
    let other_account = "/2010-04-01/Accounts/AC9999999999abcdef0123456789abcdef/Messages/MM1/Media/ME1";
    Mock::given(method("GET"))
        .and(path(other_account))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(JPEG).insert_header("content-type", "image/jpeg"))
        .mount(&twilio)
        .await;
    let app = app_with_fake_twilio(&twilio, &[]).await;
    let channel = app.create_channel().await;
    let sid = new_sid("MM");
    app.post_signed(
        &app.messages_url(channel),
        &media_message(&sid, &[(format!("{}{other_account}", twilio.uri()), "image/jpeg")]),
    )
    .await;

    let (state, _) = eventually(20, "the download", || attachment_state(&app)).await;
    assert_eq!(state, "downloaded");
    let requests = twilio.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| !r.headers.contains_key("authorization")),
        "no credentials outside the channel's account path"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_failing_download_is_retried_with_backoff_then_marked_failed_and_the_message_stays() {
    let twilio = MockServer::start().await;
    let sid = new_sid("MM");
    let media = media_path(&sid, "ME1");
    Mock::given(method("GET"))
        .and(path(media.as_str()))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&twilio)
        .await;
    let app = app_with_fake_twilio(&twilio, &[("SWITCHBOARD__JOBS__MAX_ATTEMPTS", "3")]).await;
    let channel = app.create_channel().await;

    app.post_signed(
        &app.messages_url(channel),
        &media_message(&sid, &[(format!("{}{media}", twilio.uri()), "image/jpeg")]),
    )
    .await;

    let (state, row) = eventually(30, "the final failure", || attachment_state(&app)).await;
    assert_eq!(state, "failed");
    assert!(row.get::<String, _>("download_error").contains("503"));
    // The attachment is marked failed just before its job row (a crash between the two retries the job).
    let (job_state, attempts): (String, i32) = eventually(10, "the job's final state", || async {
        let row: (String, i32) = sqlx::query_as("SELECT state, attempts FROM jobs").fetch_one(&app.pool).await.unwrap();
        (row.0 == "failed").then_some(row)
    })
    .await;
    assert_eq!((job_state.as_str(), attempts), ("failed", 3));
    let body: String = sqlx::query_scalar("SELECT body FROM messages WHERE twilio_sid = $1")
        .bind(&sid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(body, "see attached", "the message is kept whatever happens to its media");
    app.stop().await;
}

#[tokio::test]
async fn media_over_the_size_limit_fails_at_once_without_retrying() {
    let twilio = MockServer::start().await;
    let sid = new_sid("MM");
    let media = media_path(&sid, "ME1");
    Mock::given(method("GET"))
        .and(path(media.as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(vec![7u8; 4096]).insert_header("content-type", "video/mp4"),
        )
        .expect(1)
        .mount(&twilio)
        .await;
    let app = app_with_fake_twilio(&twilio, &[("SWITCHBOARD__MEDIA__MAX_BYTES", "1000")]).await;
    let channel = app.create_channel().await;

    app.post_signed(
        &app.messages_url(channel),
        &media_message(&sid, &[(format!("{}{media}", twilio.uri()), "video/mp4")]),
    )
    .await;

    let (state, row) = eventually(20, "the refusal", || attachment_state(&app)).await;
    assert_eq!(state, "failed");
    assert!(row.get::<String, _>("download_error").contains("media.max_bytes"));
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM jobs").fetch_one(&app.pool).await.unwrap();
    assert_eq!(attempts, 1);
    let leftovers: Vec<_> = walk(app.data_dir.path().join("media"));
    assert!(leftovers.is_empty(), "no partial file is left behind: {leftovers:?}");
    app.stop().await;
}

#[tokio::test]
async fn several_media_items_become_ordered_attachments_each_with_its_job() {
    let twilio = MockServer::start().await;
    let sid = new_sid("MM");
    for (i, ct) in [(0, "image/png"), (1, "application/pdf")] {
        let p = media_path(&sid, &format!("ME{i}"));
        Mock::given(method("GET"))
            .and(path(p.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_bytes(format!("file {i}").into_bytes())
                    .insert_header("content-type", ct),
            )
            .mount(&twilio)
            .await;
    }
    let app = app_with_fake_twilio(&twilio, &[]).await;
    let channel = app.create_channel().await;
    let urls = [
        (format!("{}{}", twilio.uri(), media_path(&sid, "ME0")), "image/png"),
        (format!("{}{}", twilio.uri(), media_path(&sid, "ME1")), "application/pdf"),
    ];

    app.post_signed(&app.messages_url(channel), &media_message(&sid, &urls)).await;

    let rows: Vec<(i16, String, String)> = eventually(20, "both downloads", || async {
        let rows: Vec<(i16, String, String)> =
            sqlx::query_as("SELECT position, content_type, download_state FROM attachments ORDER BY position")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        rows.iter().all(|r| r.2 == "downloaded").then_some(rows)
    })
    .await;
    assert_eq!(
        rows,
        vec![(0, "image/png".into(), "downloaded".into()), (1, "application/pdf".into(), "downloaded".into())]
    );
    let num_media: i32 = sqlx::query_scalar("SELECT num_media FROM messages").fetch_one(&app.pool).await.unwrap();
    assert_eq!(num_media, 2);
    app.stop().await;
}

fn walk(dir: std::path::PathBuf) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|e| if e.path().is_dir() { walk(e.path()) } else { vec![e.path()] })
        .collect()
}

/// A host on this machine that would answer anything with a picture (standing for an internal service).
async fn inside_host() -> MockServer {
    let inside = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(JPEG).insert_header("content-type", "image/jpeg"))
        .mount(&inside)
        .await;
    inside
}

#[tokio::test]
async fn a_media_url_off_twilios_api_host_is_never_fetched() {
    let twilio = MockServer::start().await;
    let inside = inside_host().await;
    let app = app_with_fake_twilio(&twilio, &[]).await;
    let channel = app.create_channel().await;
    let sid = new_sid("MM");
    // Signed like any webhook, but the URL points at another host on this machine.
    let url = format!("http://127.0.0.1:{}/admin/secrets", inside.address().port());
    app.post_signed(&app.messages_url(channel), &media_message(&sid, &[(url, "image/jpeg")])).await;

    let (state, row) = eventually(20, "the refusal", || attachment_state(&app)).await;
    assert_eq!(state, "failed");
    assert!(
        row.get::<String, _>("download_error").contains("not on Twilio's API host"),
        "{:?}",
        row.get::<String, _>("download_error")
    );
    assert!(inside.received_requests().await.unwrap().is_empty(), "nothing was asked of the other host");
    app.stop().await;
}

#[tokio::test]
async fn a_redirect_to_an_inside_address_is_refused_after_resolving_the_name() {
    let twilio = MockServer::start().await;
    let inside = inside_host().await;
    let sid = new_sid("MM");
    let media = media_path(&sid, "ME1");
    // A name, not an address: it must be resolved and found to be loopback.
    let target = format!("http://localhost:{}/internal/page", inside.address().port());
    Mock::given(method("GET"))
        .and(path(media.as_str()))
        .respond_with(ResponseTemplate::new(302).insert_header("location", target.as_str()))
        .mount(&twilio)
        .await;
    let app = app_with_fake_twilio(&twilio, &[]).await;
    let channel = app.create_channel().await;
    app.post_signed(
        &app.messages_url(channel),
        &media_message(&sid, &[(format!("{}{media}", twilio.uri()), "image/jpeg")]),
    )
    .await;

    let (state, row) = eventually(20, "the refusal", || attachment_state(&app)).await;
    assert_eq!(state, "failed");
    let error: String = row.get("download_error");
    assert!(error.contains("not a public address"), "{error}");
    assert!(inside.received_requests().await.unwrap().is_empty(), "the inside host was never reached");
    app.stop().await;
}

/// Shutting down does not wait for a slow download to end nor leave it for the worker timeout: after
/// `jobs.shutdown_grace_ms` it is stopped and handed back at once, pending, the attempt not counted.
#[tokio::test]
async fn a_download_still_running_when_the_server_stops_is_handed_back_after_the_grace() {
    let twilio = MockServer::start().await;
    let sid = new_sid("MM");
    let media = media_path(&sid, "ME0123456789abcdef0123456789abcdef");
    Mock::given(method("GET"))
        .and(path(media.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(JPEG).set_delay(std::time::Duration::from_secs(120)))
        .mount(&twilio)
        .await;
    let app = app_with_fake_twilio(
        &twilio,
        &[("SWITCHBOARD__JOBS__SHUTDOWN_GRACE_MS", "1000"), ("SWITCHBOARD__OUTBOUND__REQUEST_TIMEOUT_MS", "500")],
    )
    .await;
    let channel = app.create_channel().await;
    let url = format!("{}{media}", twilio.uri());
    let r = app.post_signed(&app.messages_url(channel), &media_message(&sid, &[(url, "image/jpeg")])).await;
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let running: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'running'").fetch_one(&app.pool).await.unwrap();
        if running == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the download never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let url = secrecy::ExposeSecret::expose_secret(app.settings.database.url.as_ref().unwrap()).to_owned();
    app.stop().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (state, locked_by, attempts, error): (String, Option<String>, i32, Option<String>) =
        sqlx::query_as("SELECT state, locked_by, attempts, last_error FROM jobs").fetch_one(&pool).await.unwrap();
    assert_eq!((state.as_str(), locked_by, attempts), ("pending", None, 0), "handed back, the attempt not counted");
    assert!(error.unwrap_or_default().contains("handed back"));
}

/// Erasing a message's file: supervisors and admins only; its bytes leave the store, the attachment says it was
/// erased (410 when fetched), the audit log says who, and a download still queued does not bring it back.
#[tokio::test]
async fn a_supervisor_erases_a_messages_file_from_the_store() {
    let twilio = MockServer::start().await;
    let sid = new_sid("MM");
    let media = media_path(&sid, "ME0123456789abcdef0123456789abcdef");
    Mock::given(method("GET"))
        .and(path(media.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(JPEG).insert_header("content-type", "image/jpeg"))
        .mount(&twilio)
        .await;
    let app = app_with_fake_twilio(&twilio, &[]).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let agent = app.api_token("agent").await;
    let url = format!("{}{media}", twilio.uri());
    assert_eq!(
        app.post_signed(&app.messages_url(channel), &media_message(&sid, &[(url, "image/jpeg")])).await.status(),
        200
    );
    let (state, row) = eventually(20, "the download", || attachment_state(&app)).await;
    assert_eq!(state, "downloaded");
    let id: uuid::Uuid = row.get("id");
    let on_disk = app.data_dir.path().join(row.get::<String, _>("storage_path"));
    assert!(on_disk.exists());

    let (status, err) = app.api(&agent, reqwest::Method::DELETE, &format!("/attachments/{id}"), None).await;
    assert_eq!(status, 403, "{err}");
    assert!(on_disk.exists(), "an agent erases nothing");
    let (status, body) = app.api(&admin, reqwest::Method::DELETE, &format!("/attachments/{id}"), None).await;
    assert_eq!(status, 204, "{body}");
    assert!(!on_disk.exists(), "the bytes left the store");
    let r =
        app.client.get(format!("{}/api/v1/attachments/{id}", app.address)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "attachment_erased");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'attachment.erased' AND target_id = $1")
            .bind(id.to_string())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // Erasing again changes nothing and is not an error; an unknown id is 404.
    let (status, _) = app.api(&admin, reqwest::Method::DELETE, &format!("/attachments/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, err) =
        app.api(&admin, reqwest::Method::DELETE, &format!("/attachments/{}", uuid::Uuid::now_v7()), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("attachment_not_found")));

    // A download job run again for the erased attachment (a retry, a second worker) stores nothing.
    sqlx::query(
        "INSERT INTO jobs (kind, payload) VALUES ('media.download', jsonb_build_object('attachment_id', $1::text))",
    )
    .bind(id.to_string())
    .execute(&app.pool)
    .await
    .unwrap();
    app.state.jobs_wake.kick();
    eventually(20, "the job done", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&app.pool).await.unwrap();
        (left == 0).then_some(())
    })
    .await;
    assert!(!on_disk.exists(), "not downloaded again");
    let state: String =
        sqlx::query_scalar("SELECT download_state FROM attachments").fetch_one(&app.pool).await.unwrap();
    assert_eq!(state, "erased");
}
