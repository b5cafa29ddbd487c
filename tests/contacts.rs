//! Contacts in bulk: the CSV export and import (all lines or none, by number, attributes merged), and who may
//! use them.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn import(app: &TestApp, token: &str, csv: &str) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/api/v1/contacts/import", app.address))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn export(app: &TestApp, token: &str) -> (u16, String) {
    let r = app.client.get(format!("{}/api/v1/contacts/export", app.address)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    }
    (status, r.text().await.unwrap())
}

async fn contact_by_phone(app: &TestApp, token: &str, phone: &str) -> Value {
    let (_, page) = app.api(token, Method::GET, &format!("/contacts?q={}", &phone[1..]), None).await;
    page["items"].as_array().unwrap().iter().find(|c| c["phone"] == phone).cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn contacts_import_by_number_all_lines_or_none_and_the_export_reads_back_as_the_same_contacts() {
    let app = spawn_app().await;
    let admin = app.api_token("admin").await;
    let channel = app.create_channel().await;
    // A customer who wrote in already: the import adds to what is known about them.
    let mut p = inbound_text(&new_sid("SM"), "hi");
    set(&mut p, "From", "whatsapp:+31612340001");
    set(&mut p, "WaId", "31612340001");
    assert_eq!(app.post_signed(&app.messages_url(channel), &p).await.status(), 200);
    let known = contact_by_phone(&app, &admin, "+31612340001").await;
    let (s, v) = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/contacts/{}", known["id"].as_str().unwrap()),
            Some(json!({"attributes": {"since": 2019, "tier": "silver"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // One bad line refuses the whole file, naming each bad line; nothing is stored.
    let bad = "phone,name,language,tags,attributes.tier\n+31612340001,Ana,es,vip,gold\n0612,Bo,,,\n+31612340003,Cy,klingon!,,\n+31612340001,Ana again,,,\n";
    let (s, e) = import(&app, &admin, bad).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_csv")), "{e}");
    let lines: Vec<(i64, &str)> = e["error"]["details"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_i64().unwrap(), l["column"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "phone"), (4, "language"), (5, "phone")]);
    assert_eq!(app.count("contacts").await, 1);
    let (s, e) = import(&app, &admin, "phone,shoe_size\n+31612340009,42\n").await;
    assert_eq!((s, e["error"]["details"]["field"].as_str()), (422, Some("body")), "{e}");

    // Good: one known number updated (attributes merged, an empty cell removes one), two new.
    let good = "phone,name,language,tags,attributes.tier,attributes.since,attributes.vip\n\
                31612340001,Ana,es,vip; wholesale,gold,,true\n\
                +31 6 1234 0002,Bo,,,,,\n\
                +31612340003,Cy,pt-BR,b2b,bronze,2021,false\n";
    let (s, v) = import(&app, &admin, good).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((v["created"].as_i64(), v["updated"].as_i64()), (Some(2), Some(1)));
    let ana = contact_by_phone(&app, &admin, "+31612340001").await;
    assert_eq!(ana["language"], "es");
    assert_eq!(ana["tags"], json!(["vip", "wholesale"]));
    assert_eq!(ana["attributes"], json!({"tier": "gold", "vip": true}), "since removed by its empty cell");
    assert_eq!(ana["id"], known["id"], "the same contact, not a new one");
    let cy = contact_by_phone(&app, &admin, "+31612340003").await;
    assert_eq!((cy["name"].as_str(), cy["attributes"]["since"].as_i64()), (Some("Cy"), Some(2021)));

    // The export is the file an import reads back: importing it changes nothing.
    let (s, csv) = export(&app, &admin).await;
    assert_eq!(s, 200);
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "phone,wa_id,bsuid,name,language,tags,blocked,created_at,attributes.since,attributes.tier,attributes.vip"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let before: Vec<Value> = app.api(&admin, Method::GET, "/contacts?sort=created_at", None).await.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["phone"], c["name"], c["language"], c["tags"], c["attributes"]]))
        .collect();
    let (s, v) = import(&app, &admin, &csv).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((v["created"].as_i64(), v["updated"].as_i64()), (Some(0), Some(3)));
    let after: Vec<Value> = app.api(&admin, Method::GET, "/contacts?sort=created_at", None).await.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["phone"], c["name"], c["language"], c["tags"], c["attributes"]]))
        .collect();
    assert_eq!(before, after);
    let (_, audit) = app.api(&admin, Method::GET, "/audit?action=contacts.imported", None).await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2));

    // Agents may do neither.
    let agent = app.api_token("agent").await;
    assert_eq!(export(&app, &agent).await.0, 403);
    assert_eq!(import(&app, &agent, "phone\n+31612340099\n").await.0, 403);
    app.stop().await;
}
