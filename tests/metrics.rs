//! `/metrics`: parsed by the Prometheus project's own Python parser (so the text is what Prometheus reads), moving
//! when traffic flows, and served only where the settings say.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

const TOKEN: &str = "metrics-token-0123456789";

/// Every sample of `text` as `name{label="value",…}` → value, read by `prometheus_client.parser`.
fn parse(text: &str) -> HashMap<String, f64> {
    let python = std::env::var("SWITCHBOARD_TEST_PYTHON")
        .expect("SWITCHBOARD_TEST_PYTHON is not set: run tests/run.sh, which installs Prometheus's Python client");
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Prometheus parser refused the text: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let r = app.client.get(format!("{}/metrics", app.address)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    parse(&r.text().await.unwrap())
}

/// A queue "Billing" with the app's one conversation waiting in it; the conversation's id.
async fn waiting_in_billing(app: &TestApp, admin: &str) -> String {
    let (_, queue) = app.api(admin, Method::POST, "/queues", Some(json!({"name": "Billing"}))).await;
    let conversation: String =
        sqlx::query_scalar("SELECT id::text FROM conversations").fetch_one(&app.pool).await.unwrap();
    sqlx::query("UPDATE conversations SET queue_id = $1::uuid, routing_state = 'waiting', queued_at = now(), assignee_id = NULL")
        .bind(queue["id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    conversation
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_when_traffic_flows() {
    let app = spawn_app_with(|env| env.push(("SWITCHBOARD__METRICS__TOKEN".into(), TOKEN.into()))).await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    let before = scrape(&app).await;

    // Webhooks: two accepted, one refused for its signature.
    for text in ["hello", "are you there?"] {
        assert_eq!(
            app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), text)).await.status(),
            200
        );
    }
    let forged =
        app.post_with_signature(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "x"), Some("bad")).await;
    assert_eq!(forged.status(), 403);
    // A queue with the conversation waiting in it, and a reply queued as a send job (jobs are off here).
    let conversation = waiting_in_billing(&app, &admin).await;
    let (status, sent): (u16, Value) = app
        .api(&admin, Method::POST, &format!("/conversations/{conversation}/messages"), Some(json!({"body": "Hi!"})))
        .await;
    assert_eq!(status, 202, "{sent}");

    let after = scrape(&app).await;
    let delta = |key: &str| value(&after, key) - value(&before, key);
    assert_eq!(delta(r#"switchboard_webhooks_total{kind="message",result="accepted"}"#), 2.0);
    assert_eq!(delta(r#"switchboard_webhooks_total{kind="message",result="signature_invalid"}"#), 1.0);
    let route = "/webhooks/twilio/{channel}/messages";
    let requests =
        format!(r#"switchboard_http_request_duration_seconds_count{{method="POST",route="{route}",status="200"}}"#);
    assert_eq!(delta(&requests), 2.0, "requests are counted by their route's pattern, not their path");
    assert!(after.keys().all(|k| !k.contains(&channel.to_string())), "no ids in labels");
    assert_eq!(value(&after, r#"switchboard_conversations_waiting{queue="Billing"}"#), 1.0);
    assert_eq!(value(&after, r#"switchboard_jobs_waiting{kind="message.send"}"#), 1.0);
    assert!(after.contains_key(r#"switchboard_jobs_oldest_due_seconds{kind="message.send"}"#));
    assert!(after.contains_key("switchboard_database_oldest_transaction_seconds{}"));
    assert_eq!(value(&after, "switchboard_database_pool_max{}"), 4.0);
    assert!(value(&after, "switchboard_database_pool_connections{}") >= 1.0);
    assert!(after.contains_key("switchboard_agents_online{}"));
    app.stop().await;
}

/// Every metric the shipped dashboard and alert rules use is one the server exports (a renamed metric would
/// leave an empty panel or an alert that can never fire).
#[tokio::test]
async fn the_dashboard_and_the_alert_rules_use_only_exported_metrics() {
    // Traffic that makes every family appear (a family with no series yet is not printed): a webhook, a queue
    // with a conversation waiting, a message sent to a stub Twilio.
    let twilio = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(201).set_body_json(json!({"sid": new_sid("SM"), "status": "queued"})),
        )
        .mount(&twilio)
        .await;
    let base = twilio.uri();
    let app = spawn_app_with(move |env| {
        for (k, v) in [
            ("SWITCHBOARD__METRICS__TOKEN", TOKEN),
            ("SWITCHBOARD__JOBS__ENABLED", "true"),
            ("SWITCHBOARD__JOBS__POLL_INTERVAL_MS", "100"),
            ("SWITCHBOARD__TWILIO__API_BASE_URL", base.as_str()),
        ] {
            env.push((k.into(), v.into()));
        }
    })
    .await;
    let channel = app.create_channel().await;
    let admin = app.api_token("admin").await;
    assert_eq!(app.post_signed(&app.messages_url(channel), &inbound_text(&new_sid("SM"), "hi")).await.status(), 200);
    let conversation = waiting_in_billing(&app, &admin).await;
    let (status, _) = app
        .api(&admin, Method::POST, &format!("/conversations/{conversation}/messages"), Some(json!({"body": "Hi"})))
        .await;
    assert_eq!(status, 202);
    eventually(20, "the message sent", || async {
        let sent: Option<String> = sqlx::query_scalar("SELECT twilio_sid FROM messages WHERE direction = 'outbound'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        sent
    })
    .await;
    // A job waiting, so that the jobs families have a series.
    sqlx::query("INSERT INTO jobs (kind, payload, run_at) VALUES ('media.download', '{}', now() + interval '1 hour')")
        .execute(&app.pool)
        .await
        .unwrap();
    let text = app.client.get(format!("{}/metrics", app.address)).bearer_auth(TOKEN).send().await.unwrap();
    let text = text.text().await.unwrap();
    let names = regex::Regex::new(r"switchboard_[a-z_]+").unwrap();
    for file in ["ops/alerts.yml", "ops/grafana.json"] {
        let used = std::fs::read_to_string(manifest_dir().join(file)).unwrap();
        let mut seen = 0;
        for m in names.find_iter(&used) {
            let name = m.as_str();
            let family = ["_bucket", "_count", "_sum"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{file} uses {name}, which /metrics does not export:\n{text}"
            );
            seen += 1;
        }
        assert!(seen > 5, "{file} names the metrics it uses");
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_on_the_main_address_need_the_token_and_are_absent_without_one() {
    let app = spawn_app_with(|env| env.push(("SWITCHBOARD__METRICS__TOKEN".into(), TOKEN.into()))).await;
    let url = format!("{}/metrics", app.address);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = app.client.get(&url).bearer_auth("metrics-token-9999999999").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    app.stop().await;

    let app = spawn_app().await;
    let r = app.client.get(format!("{}/metrics", app.address)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 404, "no token configured: not served on the main address");
    app.stop().await;
}

#[tokio::test]
async fn metrics_bind_serves_metrics_alone_without_a_token() {
    let (settings, _dir) =
        test_settings(|env| env.push(("SWITCHBOARD__METRICS__BIND".into(), "127.0.0.1:0".into()))).await;
    let app = switchboard::Application::build(settings).await.unwrap();
    let port = app.metrics_port().expect("metrics.bind is listening");
    let stop = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let r = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let samples = parse(&r.text().await.unwrap());
    assert!(samples.contains_key("switchboard_agents_online{}"));
    let other = client.get(format!("http://127.0.0.1:{port}/api/v1/conversations")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the metrics address serves nothing else");
    stop.cancel();
    server.await.unwrap().unwrap();
}
