//! Permissions: every operation of the OpenAPI document declares the permission it needs as its security scope,
//! the server enforces exactly that (403 naming the permission) for every role that lacks it, and the catalogue
//! with each role's bundle is readable at `/api/v1/permissions`.

mod common;

use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn every_operation_refuses_the_roles_without_its_permission_and_names_it() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let supervisor = app.api_token("supervisor").await;
    let agent = app.api_token("agent").await;
    let (status, catalogue) = app.api(&agent, Method::GET, "/permissions", None).await;
    assert_eq!(status, 200);
    let roles_of = |name: &str| -> Vec<String> {
        catalogue["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the catalogue"))["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };

    let doc: Value =
        app.client.get(format!("{}/api/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            let Some(security) = op["security"].as_array() else {
                assert_eq!(path, "/api/v1/auth/login", "only logging in is open to anyone");
                continue;
            };
            let scopes: Vec<&str> =
                security[0]["token"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            let [permission] = scopes[..] else { continue };
            assert!(op["description"].as_str().unwrap().contains(permission), "{method} {path} says its permission");
            let holders = roles_of(permission);
            // Any id will do: the permission is checked before the request is looked at.
            let concrete = path
                .trim_start_matches("/api/v1")
                .replace("{id}", "0190a0e8-0000-7000-8000-000000000001")
                .replace("{number}", "0190a0e8-0000-7000-8000-000000000002")
                .replace("{user}", "0190a0e8-0000-7000-8000-000000000003");
            for (role, token) in [("agent", &agent), ("supervisor", &supervisor), ("admin", &admin)] {
                if holders.iter().any(|h| h == role) {
                    continue;
                }
                let (status, body) = app.api(token, method.clone(), &concrete, Some(json!({}))).await;
                assert_eq!(status, 403, "{role} {method} {path}: {body}");
                assert_eq!(body["error"]["details"]["permission"], permission, "{role} {method} {path}");
                assert!(body["error"]["message"].as_str().unwrap().contains(permission));
                checked += 1;
            }
        }
    }
    // The agent lacks the supervisors' and admins' permissions, the supervisor the admins'.
    assert!(checked > 80, "only {checked} refusals checked");
    assert_eq!(roles_of("conversation:message:create"), ["agent", "supervisor", "admin"]);
    assert_eq!(roles_of("channel:manage"), ["admin"]);
    app.stop().await;
}

#[tokio::test]
async fn the_catalogue_is_the_seeds_style_and_each_role_a_bundle_of_it() {
    let app = spawn_app().await;
    let agent = app.api_token("agent").await;
    let (_, catalogue) = app.api(&agent, Method::GET, "/permissions", None).await;
    let items = catalogue["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["conversation:read", "conversation:message:create", "contact:read", "channel:manage", "audit:read"] {
        assert!(names.contains(&name), "{name}");
    }
    for p in items {
        let roles: Vec<&str> = p["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(roles.ends_with(&["admin"]), "admins hold every permission: {p}");
        assert!(!p["description"].as_str().unwrap().is_empty());
    }
    // Nobody unauthenticated reads it.
    let r = app.client.get(format!("{}/api/v1/permissions", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}
