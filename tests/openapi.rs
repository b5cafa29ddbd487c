//! The OpenAPI document the server serves, and schemathesis (PyPI) fuzzing the API against it: no answer may be
//! a 5xx, and every answer must match the document.

mod common;

use common::{spawn_app, spawn_app_with};
use serde_json::Value;

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_describes_every_operation_auth_and_errors() {
    let app = spawn_app().await;
    let doc: Value =
        app.client.get(format!("{}/api/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/channels",
        "/api/v1/channels/{id}/numbers/{number}",
        "/api/v1/agents/{id}",
        "/api/v1/queues/{id}/members",
        "/api/v1/business-hours",
        "/api/v1/templates",
        "/api/v1/canned-responses",
        "/api/v1/tags/{id}",
        "/api/v1/tokens",
        "/api/v1/audit",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert!(doc["components"]["schemas"]["Error"].is_object());
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert_eq!(
                op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path} documents its errors"
            );
            let public = path == "/api/v1/auth/login";
            assert_eq!(op.get("security").is_some(), !public, "{method} {path} says how to authenticate");
            if method == "post" && !path.starts_with("/api/v1/auth/") {
                let params = op["parameters"].as_array().unwrap();
                assert!(params.iter().any(|p| p["name"] == "Idempotency-Key"), "{method} {path}: Idempotency-Key");
            }
        }
    }
    // Request bodies refuse unknown fields in the document as the server does.
    assert_eq!(doc["components"]["schemas"]["NewQueue"]["additionalProperties"], false);
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let schemathesis = std::env::var("SWITCHBOARD_TEST_SCHEMATHESIS")
        .expect("SWITCHBOARD_TEST_SCHEMATHESIS is not set: run tests/run.sh, which installs schemathesis from PyPI");
    // Twilio, as far as the API reaches it (credential checks, the Content API for template sync): a stub that
    // answers like an account with no templates, so that no request depends on the internet.
    let twilio = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/v1/Content"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"contents": [], "meta": {"page": 0, "page_size": 100, "next_page_url": null, "key": "contents"}}),
        ))
        .mount(&twilio)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "active"})))
        .mount(&twilio)
        .await;
    let base = twilio.uri();
    let app = spawn_app_with(move |env| {
        env.push(("SWITCHBOARD__TWILIO__API_BASE_URL".into(), base.clone()));
        env.push(("SWITCHBOARD__TWILIO__CONTENT_BASE_URL".into(), base));
    })
    .await;
    let admin = app.api_token("admin").await;
    // Something for the fuzzer to find beside what it creates itself.
    let (status, _) = app
        .api(
            &admin,
            reqwest::Method::POST,
            "/channels",
            Some(serde_json::json!({"name": "Seed", "account_sid": common::ACCOUNT_SID, "auth_token": "t",
                                    "numbers": [{"e164": "+31201234567"}]})),
        )
        .await;
    assert_eq!(status, 201);
    // Schemathesis keeps a cache in its working directory: give it one outside the checkout.
    let workdir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(schemathesis)
        .current_dir(workdir.path())
        .arg("run")
        .arg(format!("{}/api/openapi.json", app.address))
        .args(["--url", &app.address])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
        ])
        // The token must outlive the run, and logging out is not something a token does.
        .args(["--exclude-path", "/api/v1/tokens/{id}", "--exclude-path", "/api/v1/auth/logout"])
        .args(["--max-examples", "25", "--seed", "20261122", "--no-color", "--request-timeout", "10"])
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "schemathesis ran no test cases:\n{report}");
}
