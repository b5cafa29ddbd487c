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

#[tokio::test]
async fn a_token_given_some_of_its_roles_permissions_may_do_only_those() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let new = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move { app.api(admin, Method::POST, "/tokens", Some(body)).await }
    };
    let (status, reader) =
        new(json!({"name": "reader", "role": "supervisor", "permissions": ["conversation:read", "channel:read"]}))
            .await;
    assert_eq!(status, 201, "{reader}");
    assert_eq!(reader["permissions"], json!(["conversation:read", "channel:read"]));
    let secret = reader["token"].as_str().unwrap();
    assert_eq!(app.api(secret, Method::GET, "/conversations", None).await.0, 200);
    assert_eq!(app.api(secret, Method::GET, "/channels", None).await.0, 200);
    // Its role would allow these; the token was not given them.
    for (method, path, permission) in [
        (Method::GET, "/agents", "agent:read"),
        (Method::GET, "/tags", "tag:read"),
        (Method::POST, "/conversations/0190a0e8-0000-7000-8000-000000000001/messages", "conversation:message:create"),
    ] {
        let (status, body) = app.api(secret, method, path, Some(json!({}))).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["details"]["permission"], permission);
        assert!(body["error"]["message"].as_str().unwrap().contains("this API token was not given"), "{body}");
    }
    // Beyond its role: refused as for the role.
    let (status, body) = app.api(secret, Method::GET, "/audit", None).await;
    assert_eq!((status, body["error"]["details"]["permission"].as_str()), (403, Some("audit:read")));

    // What cannot be given: an unknown name, one the role does not hold, none at all.
    for permissions in [json!(["conversation:delete"]), json!(["audit:read"]), json!([])] {
        let (status, body) = new(json!({"name": "x", "role": "supervisor", "permissions": permissions})).await;
        assert_eq!(status, 422, "{permissions}: {body}");
        assert_eq!(body["error"]["details"]["field"], "permissions");
    }
    // Without a list: the role's whole bundle, shown as no list.
    let (_, whole) = new(json!({"name": "all", "role": "agent"})).await;
    assert!(whole["permissions"].is_null());
    let (_, listed) = app.api(&admin, Method::GET, "/tokens", None).await;
    let shown = listed["items"].as_array().unwrap().iter().find(|t| t["name"] == "reader").unwrap().clone();
    assert_eq!(shown["permissions"], json!(["conversation:read", "channel:read"]));
    assert!(shown.get("token").is_none());
    app.stop().await;
}
