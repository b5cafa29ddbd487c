//! The admin API beyond channels and numbers: agents, queues, business hours, templates, canned responses,
//! tags; who may do what (the authorization matrix); the conventions every list and POST follows.

mod common;

use common::{spawn_app, Session, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const FIRST_PASSWORD: &str = "first password 0123";
const OWN_PASSWORD: &str = "my own password 0123";

/// Creates a user with `role` through the API and logs them in (replacing the first password).
async fn user(app: &TestApp, admin: &str, email: &str, role: &str, extra: Value) -> Session {
    let mut body = json!({"email": email, "name": email, "role": role, "password": FIRST_PASSWORD});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (status, agent) = app.api(admin, Method::POST, "/agents", Some(body)).await;
    assert_eq!(status, 201, "{agent}");
    assert_eq!(agent["must_change_password"], true);
    app.session(email, &[FIRST_PASSWORD], OWN_PASSWORD, agent["id"].as_str().unwrap()).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, v) = app.api(token, Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "POST {path}: {v}");
    v
}

#[tokio::test]
async fn every_role_gets_exactly_what_it_may_do() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let channel = create(
        &app,
        &admin,
        "/channels",
        json!({"name": "Main", "account_sid": common::ACCOUNT_SID, "auth_token": common::AUTH_TOKEN,
               "numbers": [{"e164": "+31201234567"}]}),
    )
    .await;
    let c = id(&channel);
    let n = channel["numbers"][0]["id"].as_str().unwrap().to_owned();
    let mine = create(&app, &admin, "/queues", json!({"name": "Mine"})).await;
    let other = create(&app, &admin, "/queues", json!({"name": "Other"})).await;
    let (q_mine, q_other) = (id(&mine), id(&other));
    let agent = user(&app, &admin, "agent@example.com", "agent", json!({"queue_ids": [q_mine]})).await;
    let supervisor = user(&app, &admin, "sup@example.com", "supervisor", json!({})).await;
    let victim = create(
        &app,
        &admin,
        "/agents",
        json!({"email": "victim@example.com", "name": "V", "password": FIRST_PASSWORD}),
    )
    .await;
    let v = id(&victim);
    let hours =
        create(&app, &admin, "/business-hours", json!({"name": "Office", "time_zone": "UTC", "weekly": {}})).await;
    let h = id(&hours);

    #[derive(Clone, Copy, PartialEq, PartialOrd)]
    enum R {
        Agent,
        Supervisor,
        Admin,
    }
    // (method, path, body, the least role that may do it). `{n}` in a body becomes a fresh number per call.
    let matrix: Vec<(Method, String, Option<Value>, R)> = vec![
        (Method::GET, "/auth/me".into(), None, R::Agent),
        (Method::GET, "/channels".into(), None, R::Supervisor),
        (Method::GET, format!("/channels/{c}"), None, R::Supervisor),
        (
            Method::POST,
            "/channels".into(),
            Some(
                json!({"name": "C{n}", "account_sid": common::ACCOUNT_SID, "auth_token": common::AUTH_TOKEN, "numbers": [{"e164": "+3120000{n}"}]}),
            ),
            R::Admin,
        ),
        (Method::PATCH, format!("/channels/{c}"), Some(json!({"name": "Main {n}"})), R::Admin),
        (Method::GET, format!("/channels/{c}/numbers"), None, R::Supervisor),
        (Method::POST, format!("/channels/{c}/numbers"), Some(json!({"e164": "+3130000{n}"})), R::Admin),
        (Method::PATCH, format!("/channels/{c}/numbers/{n}"), Some(json!({"csat_enabled": true})), R::Admin),
        (Method::GET, "/tokens".into(), None, R::Admin),
        (Method::POST, "/tokens".into(), Some(json!({"name": "t{n}", "role": "agent"})), R::Admin),
        (Method::GET, "/audit".into(), None, R::Admin),
        (Method::GET, "/agents".into(), None, R::Supervisor),
        (Method::GET, format!("/agents/{v}"), None, R::Supervisor),
        (
            Method::POST,
            "/agents".into(),
            Some(json!({"email": "a{n}@example.com", "name": "A", "password": FIRST_PASSWORD})),
            R::Supervisor,
        ),
        (
            Method::POST,
            "/agents".into(),
            Some(json!({"email": "s{n}@example.com", "name": "S", "role": "supervisor", "password": FIRST_PASSWORD})),
            R::Admin,
        ),
        (
            Method::POST,
            "/agents".into(),
            Some(json!({"email": "b{n}@example.com", "name": "B", "role": "admin", "password": FIRST_PASSWORD})),
            R::Admin,
        ),
        (Method::PATCH, format!("/agents/{v}"), Some(json!({"capacity": 3})), R::Supervisor),
        (Method::PATCH, format!("/agents/{v}"), Some(json!({"role": "supervisor"})), R::Admin),
        (Method::GET, "/queues".into(), None, R::Agent),
        (Method::GET, format!("/queues/{q_mine}"), None, R::Agent),
        (Method::GET, format!("/queues/{q_mine}/members"), None, R::Agent),
        (Method::GET, format!("/queues/{q_other}"), None, R::Supervisor),
        (Method::GET, format!("/queues/{q_other}/members"), None, R::Supervisor),
        (Method::POST, "/queues".into(), Some(json!({"name": "Q{n}"})), R::Admin),
        (Method::PATCH, format!("/queues/{q_other}"), Some(json!({"priority": 5})), R::Admin),
        (Method::PUT, format!("/queues/{q_other}/members"), Some(json!({"user_ids": [v]})), R::Supervisor),
        (Method::GET, "/business-hours".into(), None, R::Supervisor),
        (Method::GET, format!("/business-hours/{h}"), None, R::Supervisor),
        (
            Method::POST,
            "/business-hours".into(),
            Some(json!({"name": "H{n}", "time_zone": "UTC", "weekly": {}})),
            R::Admin,
        ),
        (Method::GET, "/templates".into(), None, R::Agent),
        (Method::POST, "/templates".into(), Some(json!({"name": "t{n}", "language": "en", "body": "Hi"})), R::Admin),
        (Method::GET, "/canned-responses".into(), None, R::Agent),
        (Method::POST, "/canned-responses".into(), Some(json!({"short_code": "c{n}", "text": "Hello"})), R::Supervisor),
        (Method::GET, "/tags".into(), None, R::Agent),
        (Method::POST, "/tags".into(), Some(json!({"name": "tag{n}"})), R::Supervisor),
    ];

    let mut counter = 0;
    let mut fresh = |body: &Option<Value>| {
        counter += 1;
        body.as_ref()
            .map(|b| serde_json::from_str::<Value>(&b.to_string().replace("{n}", &counter.to_string())).unwrap())
    };
    for (method, path, body, least) in &matrix {
        for (role, name) in [(R::Agent, "agent"), (R::Supervisor, "supervisor"), (R::Admin, "admin")] {
            let (status, answer) = match role {
                R::Agent => agent.call(method.clone(), path, fresh(body)).await,
                R::Supervisor => supervisor.call(method.clone(), path, fresh(body)).await,
                R::Admin => app.api(&admin, method.clone(), path, fresh(body)).await,
            };
            if role >= *least {
                assert!((200..300).contains(&status), "{name} {method} {path} should succeed: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{name} {method} {path} should be forbidden: {answer}");
                assert!(answer["error"]["code"].is_string());
            }
        }
        // Nobody unauthenticated gets anything.
        let mut req = app.client.request(method.clone(), format!("{}/api/v1{path}", app.address));
        if let Some(b) = fresh(body) {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "anonymous {method} {path}");
    }

    // An agent's list of queues holds only theirs.
    let (_, queues) = agent.call(Method::GET, "/queues", None).await;
    let names: Vec<_> = queues["items"].as_array().unwrap().iter().map(|q| q["name"].clone()).collect();
    assert_eq!(names, vec![json!("Mine")]);
    // An agent may read themselves, not others.
    assert_eq!(agent.call(Method::GET, &format!("/agents/{}", agent.user_id), None).await.0, 200);
    // Supervisors manage agents only: not other supervisors (themselves included), not admins.
    let (status, body) = supervisor.call(Method::DELETE, &format!("/agents/{}", supervisor.user_id), None).await;
    assert_eq!(status, 403, "{body}");
    let (_, me) = app.api(&admin, Method::GET, "/agents?role=admin", None).await;
    let admin_id = id(&me["items"][0]);
    assert_eq!(
        supervisor.call(Method::PATCH, &format!("/agents/{admin_id}"), Some(json!({"capacity": 1}))).await.0,
        403
    );
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused_everywhere() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (_, revoked) = app.api(&admin, Method::POST, "/tokens", Some(json!({"name": "r", "role": "admin"}))).await;
    assert_eq!(app.api(revoked["token"].as_str().unwrap(), Method::GET, "/queues", None).await.0, 200);
    assert_eq!(app.api(&admin, Method::DELETE, &format!("/tokens/{}", id(&revoked)), None).await.0, 204);
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, expiring) =
        app.api(&admin, Method::POST, "/tokens", Some(json!({"name": "e", "role": "admin", "expires_at": soon}))).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    for token in [&revoked, &expiring] {
        let secret = token["token"].as_str().unwrap();
        for path in ["/queues", "/agents", "/templates", "/channels", "/audit"] {
            let (status, body) = app.api(secret, Method::GET, path, None).await;
            assert_eq!(status, 401, "{path}: {body}");
            assert_eq!(body["error"]["code"], "unauthenticated");
        }
    }
}

#[tokio::test]
async fn queues_hold_their_settings_members_and_refuse_impossible_ones() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let hours = create(
        &app,
        &admin,
        "/business-hours",
        json!({"name": "Office", "time_zone": "Europe/Amsterdam",
               "weekly": {"monday": [{"open": "09:00", "close": "17:00"}], "friday": [{"open": "22:00", "close": "02:00"}]},
               "holidays": [{"date": "2026-12-25", "name": "Christmas"}]}),
    )
    .await;
    let backup = create(&app, &admin, "/queues", json!({"name": "Backup"})).await;
    let ana = create(
        &app,
        &admin,
        "/agents",
        json!({"email": "ana@example.com", "name": "Ana", "password": FIRST_PASSWORD, "capacity": 3,
               "skills": ["billing"], "languages": ["nl", "en"]}),
    )
    .await;
    assert_eq!(ana["capacity"], 3);
    assert_eq!(ana["languages"], json!(["nl", "en"]));
    let queue = create(
        &app,
        &admin,
        "/queues",
        json!({"name": "Billing", "strategy": "round_robin", "priority": 10, "communication_type": "both",
               "business_hours_id": id(&hours), "outside_hours": "route", "outside_hours_queue_id": id(&backup),
               "overflow_after_secs": 300, "overflow_agent_id": id(&ana), "required_skills": ["billing"],
               "match_language": true, "member_ids": [id(&ana)]}),
    )
    .await;
    assert_eq!(queue["strategy"], "round_robin");
    assert_eq!(queue["member_ids"], json!([id(&ana)]));
    assert_eq!(queue["overflow_after_secs"], 300);
    let (_, ana_now) = app.api(&admin, Method::GET, &format!("/agents/{}", id(&ana)), None).await;
    assert_eq!(ana_now["queue_ids"], json!([id(&queue)]));

    let q = id(&queue);
    for (body, field) in [
        (json!({"strategy": "fastest"}), "strategy"),
        (json!({"priority": 5000}), "priority"),
        (json!({"communication_type": "fax"}), "communication_type"),
        (json!({"overflow_agent_id": null, "overflow_queue_id": null}), "overflow_queue_id"),
        (json!({"overflow_after_secs": null}), "overflow_after_secs"),
        (json!({"overflow_queue_id": q}), "overflow_queue_id"),
        (json!({"outside_hours": "wait"}), "outside_hours"),
        (json!({"business_hours_id": uuid::Uuid::new_v4()}), "business_hours_id"),
        (json!({"member_ids": [uuid::Uuid::new_v4()]}), "member_ids"),
        (json!({"name": ""}), "name"),
    ] {
        let (status, err) = app.api(&admin, Method::PATCH, &format!("/queues/{q}"), Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["details"]["field"], field, "{body}: {err}");
    }
    let (_, unchanged) = app.api(&admin, Method::GET, &format!("/queues/{q}"), None).await;
    assert_eq!(unchanged["priority"], 10, "refused changes change nothing");

    // In use: the hours and the backup queue cannot go while Billing points at them.
    let (status, err) = app.api(&admin, Method::DELETE, &format!("/queues/{}", id(&backup)), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("queue_in_use")));
    let (status, err) = app.api(&admin, Method::DELETE, &format!("/business-hours/{}", id(&hours)), None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("business_hours_in_use")));

    // Members: add, remove, replace.
    let bo =
        create(&app, &admin, "/agents", json!({"email": "bo@example.com", "name": "Bo", "password": FIRST_PASSWORD}))
            .await;
    let (status, after) =
        app.api(&admin, Method::POST, &format!("/queues/{q}/members"), Some(json!({"user_id": id(&bo)}))).await;
    assert_eq!(status, 200);
    assert_eq!(after["member_ids"], json!([id(&ana), id(&bo)]));
    assert_eq!(app.api(&admin, Method::DELETE, &format!("/queues/{q}/members/{}", id(&ana)), None).await.0, 204);
    let (_, members) = app.api(&admin, Method::GET, &format!("/queues/{q}/members"), None).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert_eq!(members["items"][0]["email"], "bo@example.com");

    // Deactivation keeps the agent (and their memberships) readable.
    assert_eq!(app.api(&admin, Method::DELETE, &format!("/agents/{}", id(&bo)), None).await.0, 204);
    let (_, bo_now) = app.api(&admin, Method::GET, &format!("/agents/{}", id(&bo)), None).await;
    assert_eq!(bo_now["active"], false);
    assert!(bo_now["deactivated_at"].is_string());
    let login = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": "bo@example.com", "password": FIRST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401, "a deactivated agent cannot log in");
    let (status, _) =
        app.api(&admin, Method::POST, &format!("/queues/{q}/members"), Some(json!({"user_id": id(&bo)}))).await;
    assert_eq!(status, 422, "a deactivated agent cannot join a queue");

    // Business hours are checked field by field.
    for (body, field) in [
        (json!({"time_zone": "Mars/Base"}), "time_zone"),
        (json!({"weekly": {"monday": [{"open": "25:00", "close": "26:00"}]}}), "weekly.monday[0].open"),
        (json!({"holidays": [{"date": "2026-13-01"}]}), "holidays[0].date"),
    ] {
        let (status, err) =
            app.api(&admin, Method::PATCH, &format!("/business-hours/{}", id(&hours)), Some(body)).await;
        assert_eq!(status, 422);
        assert_eq!(err["error"]["details"]["field"], field);
    }
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed_or_demoted() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (_, admins) = app.api(&admin, Method::GET, "/agents?role=admin", None).await;
    let only = id(&admins["items"][0]);
    for (method, body) in [(Method::DELETE, None), (Method::PATCH, Some(json!({"role": "agent"})))] {
        let (status, err) = app.api(&admin, method, &format!("/agents/{only}"), body).await;
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("last_admin")));
    }
    create(
        &app,
        &admin,
        "/agents",
        json!({"email": "second@example.com", "name": "2", "role": "admin", "password": FIRST_PASSWORD}),
    )
    .await;
    assert_eq!(
        app.api(&admin, Method::PATCH, &format!("/agents/{only}"), Some(json!({"role": "supervisor"}))).await.0,
        200
    );
}

#[tokio::test]
async fn templates_canned_responses_and_tags_are_kept_searchable_and_checked() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let t = create(
        &app,
        &admin,
        "/templates",
        json!({"name": "order_update", "language": "en", "body": "Hi {{1}}, order {{2}} ships today",
               "content_sid": "HX0123456789abcdef0123456789abcdef", "category": "utility",
               "approval_status": "approved", "tags": ["orders", "shipping"]}),
    )
    .await;
    assert_eq!(t["variable_count"], 2);
    create(
        &app,
        &admin,
        "/templates",
        json!({"name": "welcome", "language": "nl", "body": "Welkom!", "tags": ["greeting"]}),
    )
    .await;
    for (query, expected) in [
        ("q=ships", "order_update"),
        ("tag=greeting", "welcome"),
        ("q=SHIPPING", "order_update"),
        ("approval_status=unsubmitted", "welcome"),
        ("language=NL", "welcome"),
    ] {
        let (status, page) = app.api(&admin, Method::GET, &format!("/templates?{query}"), None).await;
        assert_eq!(status, 200);
        let names: Vec<_> = page["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec![expected], "{query}");
    }
    for (body, field) in [
        (json!({"name": "Bad Name", "language": "en", "body": "x"}), "name"),
        (json!({"name": "x", "language": "english please", "body": "x"}), "language"),
        (json!({"name": "x", "language": "en", "body": "Hi {{2}}"}), "body"),
        (json!({"name": "x", "language": "en", "body": "x", "content_sid": "HX12"}), "content_sid"),
        (json!({"name": "x", "language": "en", "body": "x", "approval_status": "maybe"}), "approval_status"),
        (json!({"name": "x", "language": "en", "body": "x".repeat(1025)}), "body"),
    ] {
        let (status, err) = app.api(&admin, Method::POST, "/templates", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"]["details"]["field"], field, "{err}");
    }
    let (status, err) = app
        .api(
            &admin,
            Method::POST,
            "/templates",
            Some(json!({"name": "order_update", "language": "en", "body": "again"})),
        )
        .await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("template_exists")));
    let (status, changed) =
        app.api(&admin, Method::PATCH, &format!("/templates/{}", id(&t)), Some(json!({"tags": ["vip"]}))).await;
    assert_eq!(status, 200);
    assert_eq!(changed["tags"], json!(["vip"]));
    assert_eq!(changed["body"], t["body"], "what the PATCH left out stays");

    let c = create(
        &app,
        &admin,
        "/canned-responses",
        json!({"short_code": "/Refund", "title": "Refunds", "text": "Refunds take 5 days."}),
    )
    .await;
    assert_eq!(c["short_code"], "refund", "the slash and the case are not part of the code");
    create(&app, &admin, "/canned-responses", json!({"short_code": "returns", "text": "Send it back."})).await;
    let (_, page) = app.api(&admin, Method::GET, "/canned-responses?prefix=re", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, page) = app.api(&admin, Method::GET, "/canned-responses?prefix=ref", None).await;
    assert_eq!(page["items"][0]["short_code"], "refund");
    let (status, err) =
        app.api(&admin, Method::POST, "/canned-responses", Some(json!({"short_code": "refund", "text": "x"}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("short_code_taken")));

    let tag = create(&app, &admin, "/tags", json!({"name": "VIP", "color": "#FFAA00"})).await;
    assert_eq!(tag["color"], "#ffaa00");
    let (status, err) = app.api(&admin, Method::POST, "/tags", Some(json!({"name": "vip"}))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("tag_exists")));
    let (status, err) = app.api(&admin, Method::POST, "/tags", Some(json!({"name": "x", "colour": "#000000"}))).await;
    assert_eq!(status, 422, "unknown fields are refused: {err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("colour"));
    assert_eq!(app.api(&admin, Method::DELETE, &format!("/tags/{}", id(&tag)), None).await.0, 204);
    assert_eq!(app.api(&admin, Method::GET, &format!("/tags/{}", id(&tag)), None).await.0, 404);

    // Every change is in the audit log.
    let (_, audit) = app.api(&admin, Method::GET, "/audit?action=tag.", None).await;
    let actions: Vec<_> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["tag.deleted", "tag.created"]);
}

#[tokio::test]
async fn every_list_pages_sorts_and_filters_the_same_way() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    for name in ["delta", "Alpha", "charlie", "bravo", "echo"] {
        create(&app, &admin, "/tags", json!({"name": name})).await;
    }
    // Pages of two by name, case-insensitively, then the same backwards.
    for (sort, expected) in [
        ("name", ["Alpha", "bravo", "charlie", "delta", "echo"]),
        ("-name", ["echo", "delta", "charlie", "bravo", "Alpha"]),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/tags?limit=2&sort={sort}&cursor={c}"),
                None => format!("/tags?limit=2&sort={sort}"),
            };
            let (status, page) = app.api(&admin, Method::GET, &path, None).await;
            assert_eq!(status, 200, "{page}");
            seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }
    let (_, first) = app.api(&admin, Method::GET, "/tags?limit=2&sort=name", None).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    for (query, field) in [
        ("limit=0".to_owned(), "limit"),
        ("limit=abc".to_owned(), "limit"),
        ("sort=colour".to_owned(), "sort"),
        (format!("sort=-name&cursor={cursor}"), "cursor"),
        ("cursor=garbage".to_owned(), "cursor"),
    ] {
        let (status, err) = app.api(&admin, Method::GET, &format!("/tags?{query}"), None).await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(err["error"]["code"], "invalid_query");
        assert_eq!(err["error"]["details"]["field"], field, "{query}");
    }
    let (status, err) = app.api(&admin, Method::GET, "/tags?nmae=x", None).await;
    assert_eq!(status, 422, "an unknown filter is an error, not ignored: {err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("nmae"));
    let (_, found) = app.api(&admin, Method::GET, "/tags?q=HAR", None).await;
    assert_eq!(found["items"][0]["name"], "charlie");
    // The same parameters on another list.
    let (status, _) = app.api(&admin, Method::GET, "/agents?sort=-email&limit=1&active=true", None).await;
    assert_eq!(status, 200);
    let (status, _) = app.api(&admin, Method::GET, "/audit?limit=1&sort=-id", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_repeated_post_answer_the_first_result() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let post = |key: &str, body: Value| {
        app.client
            .post(format!("{}/api/v1/tags", app.address))
            .bearer_auth(&admin)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("k-1", json!({"name": "Once"})).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = post("k-1", json!({"name": "Once"})).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "the same answer, the same tag");
    let (_, tags) = app.api(&admin, Method::GET, "/tags", None).await;
    assert_eq!(tags["items"].as_array().unwrap().len(), 1, "created once");

    let other = post("k-1", json!({"name": "Different"})).await.unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(other.json::<Value>().await.unwrap()["error"]["code"], "idempotency_key_reused");

    // A token's secret is shown once: a repeat does not show it again.
    let token = |key: &str| {
        app.client
            .post(format!("{}/api/v1/tokens", app.address))
            .bearer_auth(&admin)
            .header("Idempotency-Key", key)
            .json(&json!({"name": "automation", "role": "agent"}))
            .send()
    };
    assert_eq!(token("t-1").await.unwrap().status(), 201);
    let repeat = token("t-1").await.unwrap();
    assert_eq!(repeat.status(), 409);
    let body: Value = repeat.json().await.unwrap();
    assert_eq!(body["error"]["code"], "idempotency_key_used");
    assert!(body.get("token").is_none());
    let stored: Vec<Option<Vec<u8>>> = sqlx::query_scalar("SELECT response FROM idempotency_keys WHERE key = 't-1'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, vec![None], "the secret is not kept for replays");

    let bad = app
        .client
        .post(format!("{}/api/v1/tags", app.address))
        .bearer_auth(&admin)
        .header("Idempotency-Key", "")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn secrets_never_come_back_in_any_answer() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let auth_token = "secret-auth-token-0123456789abcdef";
    let api_secret = "secret-api-key-secret-0123456789";
    let rotated = "secret-rotated-token-0123456789ab";
    let agent_password = "secret agent password 0123";
    let channel = create(
        &app,
        &admin,
        "/channels",
        json!({"name": "S", "account_sid": common::ACCOUNT_SID, "auth_token": auth_token,
               "api_key_sid": "SK0123456789abcdef0123456789abcdef", "api_key_secret": api_secret,
               "numbers": [{"e164": "+31201234567"}]}),
    )
    .await;
    let c = id(&channel);
    app.api(&admin, Method::POST, &format!("/channels/{c}/auth-token"), Some(json!({"auth_token": rotated}))).await;
    create(&app, &admin, "/agents", json!({"email": "s@example.com", "name": "S", "password": agent_password})).await;
    let (_, created) = app.api(&admin, Method::POST, "/tokens", Some(json!({"name": "x", "role": "agent"}))).await;
    let token_secret = created["token"].as_str().unwrap().to_owned();

    let mut answers = String::new();
    for path in [
        "/channels".to_owned(),
        format!("/channels/{c}"),
        format!("/channels/{c}/numbers"),
        "/agents".to_owned(),
        "/tokens".to_owned(),
        "/audit?limit=200".to_owned(),
        "/auth/me".to_owned(),
    ] {
        let (status, body) = app.api(&admin, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}");
        answers.push_str(&body.to_string());
    }
    let openapi =
        app.client.get(format!("{}/api/openapi.json", app.address)).send().await.unwrap().text().await.unwrap();
    answers.push_str(&openapi);
    for secret in [auth_token, api_secret, rotated, agent_password, &token_secret, &admin] {
        assert!(!answers.contains(secret), "a secret came back in an answer");
    }
    assert!(answers.contains("\"auth_token_set\":true"));
    assert!(answers.contains("\"secondary_auth_token_set\":true"));
    let hashes: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$%'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(hashes, 2, "passwords are stored as Argon2id hashes");
}

/// The real binary, logging at debug level, handles logins, passwords, channel credentials and API tokens:
/// none of them appears in its log.
#[tokio::test]
async fn secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env("SWITCHBOARD__DATABASE__URL", common::fresh_database().await)
        .env("SWITCHBOARD__DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__LOG__LEVEL", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Standard error is not a terminal here: the one-time password is only in its 0600 file.
    let first_admin = dir.path().join("data").join("first-admin.txt");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&first_admin).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the password file is the server user's alone");
    let one_time = std::fs::read_to_string(&first_admin)
        .unwrap()
        .lines()
        .find_map(|l| l.split("one-time password:").nth(1))
        .expect("the first start writes the admin's one-time password")
        .trim()
        .to_owned();
    assert!(!std::fs::read_to_string(&log_path).unwrap().contains(&one_time), "never in the log");

    let own = "the admin's own password 42";
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@localhost", "password": one_time}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        client.post(format!("{base}/api/v1{path}")).header("X-CSRF-Token", &csrf).json(&body).send()
    };
    assert_eq!(
        post("/auth/password", json!({"current_password": one_time, "new_password": own})).await.unwrap().status(),
        204
    );
    let auth_token = "log-secret-auth-token-0123456789ab";
    let api_secret = "log-secret-api-key-secret-0123456";
    let agent_password = "log secret agent password";
    let r = post(
        "/channels",
        json!({"name": "L", "account_sid": common::ACCOUNT_SID, "auth_token": auth_token,
               "api_key_sid": "SK0123456789abcdef0123456789abcdef", "api_key_secret": api_secret,
               "numbers": [{"e164": "+31201234567"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        post("/agents", json!({"email": "l@example.com", "name": "L", "password": agent_password}))
            .await
            .unwrap()
            .status(),
        201
    );
    let token: Value = post("/tokens", json!({"name": "t", "role": "admin"})).await.unwrap().json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    // A failed login with a wrong password, and a bearer call.
    let wrong = "wrong password that is secret";
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@localhost", "password": wrong}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = reqwest::Client::new().get(format!("{base}/api/v1/agents")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("/api/v1/agents"), "the log has the requests (debug level)");
    for secret in [own, auth_token, api_secret, agent_password, token.as_str(), wrong, csrf.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    assert!(!log.contains("one-time password:"), "the one-time password never reaches the log");
    assert!(!log.contains(&one_time));
    assert_eq!(log.matches("password file:").count(), 1, "where to find it is said once, at first start");
}

#[tokio::test]
async fn a_body_or_query_value_the_api_cannot_use_is_named_in_details_field() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    for (body, field) in [
        (json!({"name": 5}), "name"),
        (json!({"name": "Billing", "strategy": "least_loaded", "member_ids": ["not-a-uuid"]}), "member_ids[0]"),
        (json!({"name": "Billing", "colour": "red"}), "colour"),
        (json!({}), "name"),
    ] {
        let (status, err) = app.api(&admin, Method::POST, "/queues", Some(body.clone())).await;
        assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_body")), "{body}: {err}");
        assert_eq!(err["error"]["details"]["field"], field, "{body}: {err}");
    }
    let (status, err) = app.api(&admin, Method::GET, "/conversations?claimable=perhaps", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_query")), "{err}");
    assert_eq!(err["error"]["details"]["field"], "claimable");
    let (status, err) = app.api(&admin, Method::GET, "/conversations?assignee_id=me", None).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["details"]["field"], "assignee_id", "an unknown filter is named: {err}");
    assert_eq!(app.count("queues").await, 0, "nothing was stored");
}

#[tokio::test]
async fn unknown_api_routes_and_wrong_methods_answer_the_json_error_shape() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let (status, err) = app.api(&admin, Method::GET, "/no-such-thing", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("route_not_found")), "{err}");
    let (status, err) = app.api(&admin, Method::DELETE, "/auth/me", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("DELETE"));
    app.stop().await;
}
