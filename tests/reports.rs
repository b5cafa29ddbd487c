//! Reports: a fixture of five conversations with known timestamps (two queues, one with business hours in
//! Amsterdam and service-level targets; a clock change; a reopen; a transfer; an AI agent's hand-over and an AI
//! agent's resolve; CSAT answers; presence changes) and the exact figures the summary must give, grouped by queue,
//! by agent and by day in two time zones, the same figures as CSV, and what an agent may see.

mod common;

use common::nodes::{free_port, Node, Shared};
use common::replica::Replica;
use common::{eventually, inbound_text, post_signed_to, set, spawn_app, spawn_app_with, wait_ready, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard::reports::job::Reporter;
use uuid::Uuid;

struct Fixture {
    app: TestApp,
    admin: String,
    q1: String,
    q2: String,
    ana: String,
    bo: String,
}

/// One happening of a conversation written straight into the database at a fixed time.
enum H<'a> {
    /// A message: `in` from the customer, `agent:<id>` from a person, `ai` from an AI agent, `greeting`.
    Msg(&'a str, &'a str),
    /// A timeline event with its data.
    Event(&'a str, &'a str, Value),
    /// A CSAT survey sent at the first time and rated at the second.
    Survey(&'a str, &'a str, i16),
}

async fn conversation(f: &Fixture, number: Uuid, queue: Option<&str>, created: &str, happenings: &[H<'_>]) -> Uuid {
    let pool = &f.app.pool;
    let id = Uuid::now_v7();
    let contact = Uuid::now_v7();
    let phone = format!("+3161{:07}", contact.as_u128() % 10_000_000);
    sqlx::query("INSERT INTO contacts (id, phone_e164) VALUES ($1, $2)")
        .bind(contact)
        .bind(&phone)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO conversations (id, channel_id, number_id, contact_id, status, created_at, resolved_at, queue_id)
         SELECT $1, n.channel_id, n.id, $2, 'resolved', $3::timestamptz, $3::timestamptz, $4::uuid
         FROM whatsapp_numbers n WHERE n.id = $5",
    )
    .bind(id)
    .bind(contact)
    .bind(created)
    .bind(queue.map(|q| q.parse::<Uuid>().unwrap()))
    .bind(number)
    .execute(pool)
    .await
    .unwrap();
    for h in happenings {
        match h {
            H::Msg(at, who) => {
                let (direction, author, automation) = match *who {
                    "in" => ("inbound", None, None),
                    "ai" => ("outbound", None, Some(json!({"kind": "ai_agent"}))),
                    "greeting" => ("outbound", None, Some(json!({"kind": "greeting"}))),
                    agent => ("outbound", Some(agent.parse::<Uuid>().unwrap()), None),
                };
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, account_id, direction, twilio_sid, body, status,
                                           author_user_id, automation, created_at)
                     SELECT $1, $2, ch.account_id, $3, 'SM' || md5(random()::text), 'text',
                            CASE WHEN $3 = 'inbound' THEN 'received' ELSE 'delivered' END, $4, $5, $6::timestamptz
                     FROM conversations c JOIN channels ch ON ch.id = c.channel_id WHERE c.id = $2",
                )
                .bind(Uuid::now_v7())
                .bind(id)
                .bind(direction)
                .bind(author)
                .bind(automation)
                .bind(*at)
                .execute(pool)
                .await
                .unwrap();
            }
            H::Event(at, kind, data) => {
                sqlx::query(
                    "INSERT INTO conversation_events (conversation_id, kind, actor_type, data, created_at)
                     VALUES ($1, $2, 'system', $3, $4::timestamptz)",
                )
                .bind(id)
                .bind(*kind)
                .bind(data)
                .bind(*at)
                .execute(pool)
                .await
                .unwrap();
            }
            H::Survey(sent, rated, rating) => {
                sqlx::query(
                    "INSERT INTO csat_surveys (id, conversation_id, number_id, contact_id, state, scale, rating,
                                               created_at, expires_at, rated_at)
                     VALUES ($1, $2, $3, $4, 'done', 5, $5, $6::timestamptz, $6::timestamptz + interval '1 day', $7::timestamptz)",
                )
                .bind(Uuid::now_v7())
                .bind(id)
                .bind(number)
                .bind(contact)
                .bind(*rating)
                .bind(*sent)
                .bind(*rated)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }
    id
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, v) = app.api(token, Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "{path}: {v}");
    v
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(tweak: impl FnOnce(&mut Vec<(String, String)>)) -> Fixture {
    let app = spawn_app_with(tweak).await;
    let admin = app.api_token("admin").await;
    let (_, n1) = app.create_channel_and_number().await;
    let (_, n2) = app.create_channel_and_number().await;
    let hours = post(&app, &admin, "/business-hours", json!({"name": "Office", "time_zone": "Europe/Amsterdam",
        "weekly": {"monday": [{"open": "09:00", "close": "17:00"}], "tuesday": [{"open": "09:00", "close": "17:00"}],
                   "wednesday": [{"open": "09:00", "close": "17:00"}], "thursday": [{"open": "09:00", "close": "17:00"}],
                   "friday": [{"open": "09:00", "close": "17:00"}]}}))
    .await;
    let q1 = post(
        &app,
        &admin,
        "/queues",
        json!({"name": "Support", "business_hours_id": hours["id"],
        "sla_first_response_minutes": 30, "sla_resolution_hours": 8}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let q2 = post(&app, &admin, "/queues", json!({"name": "Sales"})).await["id"].as_str().unwrap().to_owned();
    let agent = |email: &str, name: &str| json!({"email": email, "name": name, "role": "agent", "password": "a first password 123", "capacity": 5});
    let ana = post(&app, &admin, "/agents", agent("ana@example.com", "Ana")).await["id"].as_str().unwrap().to_owned();
    let bo = post(&app, &admin, "/agents", agent("bo@example.com", "Bo")).await["id"].as_str().unwrap().to_owned();
    let f = Fixture { app, admin, q1, q2, ana, bo };
    let (a, b, q1, q2) = (f.ana.as_str(), f.bo.as_str(), f.q1.as_str(), f.q2.as_str());
    // 1. Monday 22 March 2027, 09:00 in Amsterdam: answered in 20 minutes, resolved in an hour, rated 5.
    conversation(
        &f,
        n1,
        Some(q1),
        "2027-03-22T08:00:00Z",
        &[
            H::Msg("2027-03-22T08:00:00Z", "in"),
            H::Msg("2027-03-22T08:00:01Z", "greeting"),
            H::Event("2027-03-22T08:00:02Z", "queued", json!({"queue_id": q1})),
            H::Event("2027-03-22T08:10:02Z", "assigned", json!({"agent_id": a, "queue_id": q1})),
            H::Msg("2027-03-22T08:20:00Z", a),
            H::Event("2027-03-22T09:00:00Z", "resolved", json!({})),
            H::Survey("2027-03-22T09:00:00Z", "2027-03-22T09:05:00Z", 5),
        ],
    )
    .await;
    // 2. Friday 26 March, 16:30 in Amsterdam, answered on Monday after the clock change (a breach of the 30
    //    minutes), resolved, reopened, answered in a minute and resolved again.
    conversation(
        &f,
        n1,
        Some(q1),
        "2027-03-26T15:30:00Z",
        &[
            H::Msg("2027-03-26T15:30:00Z", "in"),
            H::Event("2027-03-26T15:30:00Z", "queued", json!({"queue_id": q1})),
            H::Event("2027-03-26T15:40:00Z", "assigned", json!({"agent_id": b, "queue_id": q1})),
            H::Msg("2027-03-29T07:10:00Z", b),
            H::Event("2027-03-29T08:10:00Z", "resolved", json!({})),
            H::Event("2027-03-29T09:00:00Z", "reopened", json!({})),
            H::Event("2027-03-29T09:00:00Z", "assigned", json!({"agent_id": b, "queue_id": q1})),
            H::Msg("2027-03-29T09:05:00Z", "in"),
            H::Msg("2027-03-29T09:06:00Z", b),
            H::Event("2027-03-29T09:30:00Z", "resolved", json!({})),
        ],
    )
    .await;
    // 3. An AI agent hands over (the customer asked), Ana answers from the queue, transfers to Bo; rated 2.
    conversation(
        &f,
        n2,
        Some(q2),
        "2027-03-23T10:00:00Z",
        &[
            H::Msg("2027-03-23T10:00:00Z", "in"),
            H::Event("2027-03-23T10:00:00Z", "ai_agent", json!({})),
            H::Msg("2027-03-23T10:01:00Z", "ai"),
            H::Event("2027-03-23T10:02:00Z", "handed_over", json!({"reason": "customer_asked"})),
            H::Event("2027-03-23T10:02:00Z", "queued", json!({"queue_id": q2})),
            H::Event("2027-03-23T10:05:00Z", "claimed", json!({"agent_id": a, "queue_id": q2})),
            H::Msg("2027-03-23T10:06:00Z", a),
            H::Event("2027-03-23T10:10:00Z", "transferred", json!({"to": {"type": "agent", "agent_id": b}})),
            H::Event("2027-03-23T10:40:00Z", "resolved", json!({})),
            H::Survey("2027-03-23T10:40:00Z", "2027-03-23T10:50:00Z", 2),
        ],
    )
    .await;
    // 4. Late on Wednesday 24 March in UTC (Thursday in Amsterdam): the AI agent resolves it alone.
    conversation(
        &f,
        n2,
        None,
        "2027-03-24T23:30:00Z",
        &[
            H::Msg("2027-03-24T23:30:00Z", "in"),
            H::Event("2027-03-24T23:30:00Z", "ai_agent", json!({})),
            H::Msg("2027-03-24T23:31:00Z", "ai"),
            H::Event("2027-03-24T23:35:00Z", "resolved", json!({})),
        ],
    )
    .await;
    // 5. Thursday 25 March: waits in Support and is resolved unanswered (a breach).
    conversation(
        &f,
        n1,
        Some(q1),
        "2027-03-25T09:00:00Z",
        &[
            H::Msg("2027-03-25T09:00:00Z", "in"),
            H::Event("2027-03-25T09:00:00Z", "queued", json!({"queue_id": q1})),
            H::Event("2027-03-25T09:30:00Z", "resolved", json!({})),
        ],
    )
    .await;
    // Ana online two hours and away one on Monday morning.
    for (presence, at) in
        [("online", "2027-03-22T08:00:00Z"), ("away", "2027-03-22T10:00:00Z"), ("offline", "2027-03-22T11:00:00Z")]
    {
        sqlx::query("INSERT INTO presence_log (user_id, presence, at) VALUES ($1::uuid, $2, $3::timestamptz)")
            .bind(&f.ana)
            .bind(presence)
            .bind(at)
            .execute(&f.app.pool)
            .await
            .unwrap();
    }
    let reporter = Reporter { pool: f.app.pool.clone(), refresh: Duration::from_secs(1) };
    reporter.catch_up().await.unwrap();
    f
}

impl Fixture {
    async fn summary(&self, query: &str) -> Value {
        let (status, v) = self.app.api(&self.admin, Method::GET, &format!("/reports/summary?{query}"), None).await;
        assert_eq!(status, 200, "{v}");
        v
    }
}

const WEEK: &str = "from=2027-03-22&to=2027-03-29";

fn row<'a>(s: &'a Value, key: Option<&str>) -> &'a Value {
    s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"].as_str() == key)
        .unwrap_or_else(|| panic!("row {key:?}: {s}"))
}

#[tokio::test]
async fn the_summary_gives_the_fixtures_exact_figures_in_total_and_by_queue() {
    let f = fixture().await;
    let s = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=queue")).await;
    let t = &s["total"];
    assert_eq!(t["conversations"], json!({"new": 5, "resolved": 6, "reopened": 1, "unanswered": 2}));
    assert_eq!(
        t["messages"],
        json!({"received": 6, "sent_by_agents": 4, "sent_by_ai": 2, "sent_by_automations": 1,
               "sent_as_notifications": 0, "sent_by_api": 0})
    );
    // First responses: 1,200 s, 229,200 s (Friday 16:30 to Monday 09:10 after the clock change), 60 s, 360 s;
    // in business hours 1,200, 2,400 (30 minutes on Friday, 10 on Monday), 60, 360.
    assert_eq!(
        t["first_response"],
        json!({"count": 4, "average_secs": 57705.0, "median_secs": 780.0, "p90_secs": 160800.0,
               "business": {"average_secs": 1005.0, "median_secs": 780.0, "p90_secs": 2040.0}})
    );
    assert_eq!(
        t["resolution"],
        json!({"count": 6, "average_secs": 40450.0, "median_secs": 2100.0, "p90_secs": 118200.0,
               "business": {"average_secs": 2650.0, "median_secs": 2100.0, "p90_secs": 4800.0}})
    );
    assert_eq!(
        t["queue_wait"],
        json!({"count": 3, "average_secs": 460.0, "median_secs": 600.0, "p90_secs": 600.0,
               "business": {"average_secs": 460.0, "median_secs": 600.0, "p90_secs": 600.0}})
    );
    assert_eq!(t["handle"]["count"], 4);
    assert_eq!(t["handle"]["average_secs"], 59699.5);
    assert_eq!(t["handle"]["median_secs"], 2399.0);
    assert_eq!(t["handle"]["business"]["average_secs"], 2999.5);
    assert_eq!(
        t["ai"],
        json!({"resolved_without_person": 1, "handovers": 1, "handovers_by_reason": {"customer_asked": 1}})
    );
    assert_eq!(
        t["csat"],
        json!({"surveys_sent": 2, "responses": 2, "average": 3.5, "satisfied_share": 0.5, "response_rate": 1.0})
    );
    assert_eq!(
        t["sla"],
        json!({"first_response_measured": 4, "first_response_met": 2, "first_response_met_share": 0.5,
               "resolution_measured": 4, "resolution_met": 4, "resolution_met_share": 1.0})
    );
    let breaches: Vec<&str> = s["breaches"].as_array().unwrap().iter().map(|b| b["metric"].as_str().unwrap()).collect();
    assert_eq!(breaches, ["first_response", "unanswered"], "newest first: Monday's late answer, Thursday's silence");
    // By queue.
    let support = row(&s, Some(&f.q1));
    assert_eq!(support["label"], "Support");
    assert_eq!(support["conversations"], json!({"new": 3, "resolved": 4, "reopened": 1, "unanswered": 1}));
    assert_eq!(support["first_response"]["count"], 3);
    assert_eq!(support["first_response"]["average_secs"], 76820.0);
    assert_eq!(support["messages"]["received"], 4);
    let sales = row(&s, Some(&f.q2));
    assert_eq!(sales["conversations"], json!({"new": 1, "resolved": 1, "reopened": 0, "unanswered": 0}));
    assert_eq!(sales["csat"]["average"], 2.0);
    assert_eq!(sales["sla"]["first_response_measured"], 0, "Sales has no targets");
    let none = row(&s, None);
    assert_eq!(none["ai"]["resolved_without_person"], 1);
    assert_eq!(none["messages"]["sent_by_ai"], 1);
}

#[tokio::test]
async fn by_agent_each_person_has_their_responses_handling_and_time_online() {
    let f = fixture().await;
    let s = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=agent")).await;
    let ana = row(&s, Some(&f.ana));
    assert_eq!(ana["label"], "Ana");
    assert_eq!(
        (ana["first_response"]["count"].as_i64(), ana["first_response"]["median_secs"].as_f64()),
        (Some(2), Some(780.0))
    );
    assert_eq!(ana["handle"]["count"], 1);
    assert_eq!(ana["conversations"]["resolved"], 1);
    assert_eq!(ana["messages"]["sent_by_agents"], 2);
    assert_eq!(ana["presence"], json!({"online_secs": 7200.0, "away_secs": 3600.0}));
    let bo = row(&s, Some(&f.bo));
    assert_eq!((bo["first_response"]["count"].as_i64(), bo["handle"]["count"].as_i64()), (Some(2), Some(3)));
    assert_eq!(bo["conversations"]["resolved"], 3);
    assert_eq!(bo["csat"]["average"], 2.0);
}

#[tokio::test]
async fn by_day_the_days_are_the_requested_time_zones() {
    let f = fixture().await;
    let created = |s: &Value| -> Vec<(String, i64)> {
        s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["conversations"]["new"].as_i64() > Some(0))
            .map(|r| (r["key"].as_str().unwrap().to_owned(), r["conversations"]["new"].as_i64().unwrap()))
            .collect()
    };
    let amsterdam = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=day")).await;
    let day = |d: &str, n| (d.to_owned(), n);
    // 23:30 UTC on Wednesday is Thursday in Amsterdam and Wednesday in New York.
    assert_eq!(
        created(&amsterdam),
        [day("2027-03-22", 1), day("2027-03-23", 1), day("2027-03-25", 2), day("2027-03-26", 1)]
    );
    let new_york = f.summary(&format!("{WEEK}&tz=America/New_York&group_by=day")).await;
    assert_eq!(
        created(&new_york),
        [day("2027-03-22", 1), day("2027-03-23", 1), day("2027-03-24", 1), day("2027-03-25", 1), day("2027-03-26", 1)]
    );
    // Monday 29 March is in the week; its two resolves (after the clock change) count on it.
    assert_eq!(row(&amsterdam, Some("2027-03-29"))["conversations"]["resolved"], 2);
    // Totals do not depend on the grouping.
    assert_eq!(amsterdam["total"]["first_response"]["average_secs"], 57705.0);
}

#[tokio::test]
async fn a_series_has_one_point_per_day_of_the_period_with_the_days_figures() {
    let f = fixture().await;
    let series = |q: String| {
        let app = &f.app;
        let admin = f.admin.clone();
        async move {
            let (status, v) = app.api(&admin, Method::GET, &format!("/reports/timeseries?{q}"), None).await;
            assert_eq!(status, 200, "{v}");
            v["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["key"].as_str().unwrap().to_owned(), p["value"].clone()))
                .collect::<Vec<_>>()
        }
    };
    let new = series(format!("{WEEK}&tz=Europe/Amsterdam&metric=conversations_new")).await;
    let days: Vec<&str> = new.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        days,
        [
            "2027-03-22",
            "2027-03-23",
            "2027-03-24",
            "2027-03-25",
            "2027-03-26",
            "2027-03-27",
            "2027-03-28",
            "2027-03-29"
        ]
    );
    let values: Vec<f64> = new.iter().map(|(_, v)| v.as_f64().unwrap()).collect();
    assert_eq!(values, [1.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0], "days without a conversation are 0");
    // A time is absent where nothing was measured; Monday the 29th has both of conversation 2's first responses.
    let frt = series(format!("{WEEK}&tz=Europe/Amsterdam&metric=first_response_median_secs")).await;
    assert_eq!(frt[2].1, Value::Null);
    assert_eq!(frt[7].1, json!(114630.0));
    // Per week: the Monday that starts it.
    let weekly = series(format!("{WEEK}&tz=Europe/Amsterdam&metric=conversations_resolved&interval=week")).await;
    assert_eq!(weekly, [("2027-03-22".to_owned(), json!(4.0)), ("2027-03-29".to_owned(), json!(2.0))]);
    let (status, e) = f.app.api(&f.admin, Method::GET, "/reports/timeseries?metric=label", None).await;
    assert_eq!((status, e["error"]["details"]["field"].as_str()), (422, Some("metric")));
}

#[tokio::test]
async fn the_csv_has_the_same_figures_under_stable_column_names() {
    let f = fixture().await;
    let r = f
        .app
        .client
        .get(format!("{}/api/v1/reports/summary?{WEEK}&tz=Europe/Amsterdam&group_by=queue", f.app.address))
        .bearer_auth(&f.admin)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["group_by", "key", "label", "conversations_new"]);
    let total: Vec<&str> = lines.last().unwrap().split(',').collect();
    let cell = |name: &str| total[header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name}"))];
    assert_eq!(cell("key"), "all");
    assert_eq!(cell("conversations_new"), "5");
    assert_eq!(cell("first_response_avg_secs"), "57705");
    assert_eq!(cell("first_response_business_p90_secs"), "2040");
    assert_eq!(cell("resolution_median_secs"), "2100");
    assert_eq!(cell("csat_average"), "3.5");
    assert_eq!(cell("sla_first_response_met_share"), "0.5");
    assert_eq!(cell("messages_received"), "6");
}

#[tokio::test]
async fn an_agent_sees_only_their_own_figures_and_bad_input_is_named() {
    let f = fixture().await;
    let ana = f.app.session("ana@example.com", &["a first password 123"], "ana's own password 123", &f.ana).await;
    let (status, s) = ana.call(Method::GET, &format!("/reports/summary?{WEEK}&tz=Europe/Amsterdam"), None).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["total"]["conversations"]["resolved"], 1, "only the conversation Ana resolved");
    assert_eq!(s["total"]["first_response"]["count"], 2);
    let (status, e) = ana.call(Method::GET, &format!("/reports/summary?{WEEK}&agent_id={}", f.bo), None).await;
    assert_eq!((status, e["error"]["details"]["field"].as_str()), (403, Some("agent_id")), "{e}");
    for (query, field) in [
        ("tz=Mars/Olympus", "tz"),
        ("from=2027-03-29&to=2027-03-22", "from"),
        ("from=2020-01-01", "to"),
        ("group_by=planet", "group_by"),
        ("format=xml", "format"),
    ] {
        let (status, e) = f.app.api(&f.admin, Method::GET, &format!("/reports/summary?{query}"), None).await;
        assert_eq!((status, e["error"]["details"]["field"].as_str()), (422, Some(field)), "{query}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_keep_the_reports_counting_each_message_and_conversation_once() {
    let setup = spawn_app().await;
    let channel = setup.create_channel().await;
    let admin = setup.api_token("admin").await;
    let master_key =
        std::fs::read_to_string(setup.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap().trim().to_owned();
    let database_url = secrecy::ExposeSecret::expose_secret(setup.settings.database.url.as_ref().unwrap()).to_owned();
    setup.shutdown.cancel();
    let env = [("SWITCHBOARD__JOBS__ENABLED", "true"), ("SWITCHBOARD__REPORTS__REFRESH_SECS", "1")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
    let shared =
        Shared { database_url, master_key, env, log: std::env::temp_dir().join(format!("sb-reports-{channel}.log")) };
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&shared, free_port(), None)).collect();
    let client = reqwest::Client::new();
    for n in &nodes {
        wait_ready(&client, &n.base).await;
    }
    // 30 customers write 3 messages each, each message to another process.
    const CUSTOMERS: usize = 30;
    for i in 0..CUSTOMERS * 3 {
        let node = &nodes[i % 3];
        let customer = format!("+3165{:07}", i % CUSTOMERS);
        let sid = common::new_sid("SM");
        let mut p = inbound_text(&sid, &format!("message {i}"));
        set(&mut p, "From", &format!("whatsapp:{customer}"));
        set(&mut p, "WaId", &customer[1..]);
        let url = format!("{}/webhooks/twilio/{channel}/messages", node.public_url);
        assert_eq!(post_signed_to(&client, &url, &p).await.status(), 200);
    }
    let totals = eventually(30, "the reports caught up", || async {
        let r = client
            .get(format!("{}/api/v1/reports/summary?tz=UTC", nodes[1].base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let s: Value = r.json().await.unwrap();
        let t = &s["total"];
        (t["messages"]["received"] == (CUSTOMERS * 3) as i64 && t["conversations"]["new"] == CUSTOMERS as i64)
            .then(|| t.clone())
    })
    .await;
    // Folding and rebuilding again (three processes, every second) changes nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, again) = {
        let r = client
            .get(format!("{}/api/v1/reports/summary?tz=UTC", nodes[2].base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(again["total"]["messages"], totals["messages"]);
    assert_eq!(again["total"]["conversations"], totals["conversations"]);
    drop(nodes);
}

#[tokio::test]
async fn with_a_read_url_reports_read_from_the_replica_and_show_what_it_has_replayed() {
    let port = free_port();
    let f = fixture_with(|env| {
        let primary = env.iter().find(|(k, _)| k == "SWITCHBOARD__DATABASE__URL").unwrap().1.clone();
        env.push(("SWITCHBOARD__DATABASE__READ_URL".into(), Replica::url(port, &primary)));
    })
    .await;
    // A real streaming replica of the test cluster, copied after the fixture was written.
    let replica = Replica::start(port).await;
    let primary_url =
        f.app.settings.database.url.as_ref().map(secrecy::ExposeSecret::expose_secret).unwrap().to_owned();
    let standby =
        sqlx::PgPool::connect(&Replica::url(replica.port, &primary_url)).await.expect("connect to the replica");
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&standby).await.unwrap();
    assert!(in_recovery, "the replica is a standby");
    let new = |s: Value| s["total"]["conversations"]["new"].as_i64().unwrap();
    let query = format!("{WEEK}&tz=Europe/Amsterdam");
    assert_eq!(new(f.summary(&query).await), 5);
    // With the replica's replay paused, a sixth conversation on the primary is not in the reports yet.
    sqlx::query("SELECT pg_wal_replay_pause()").execute(&standby).await.unwrap();
    let number: Uuid =
        sqlx::query_scalar("SELECT id FROM whatsapp_numbers LIMIT 1").fetch_one(&f.app.pool).await.unwrap();
    conversation(
        &f,
        number,
        Some(f.q2.as_str()),
        "2027-03-24T10:00:00Z",
        &[H::Msg("2027-03-24T10:00:00Z", "in"), H::Event("2027-03-24T10:20:00Z", "resolved", json!({}))],
    )
    .await;
    Reporter { pool: f.app.pool.clone(), refresh: Duration::from_secs(1) }.catch_up().await.unwrap();
    let on_primary: i64 = sqlx::query_scalar("SELECT count(*) FROM report_facts WHERE metric = 'created'")
        .fetch_one(&f.app.pool)
        .await
        .unwrap();
    assert_eq!(on_primary, 6);
    assert_eq!(new(f.summary(&query).await), 5, "the report reads the replica, which has not replayed it");
    // Once replayed, it is.
    sqlx::query("SELECT pg_wal_replay_resume()").execute(&standby).await.unwrap();
    eventually(30, "the replica to replay the sixth conversation", || async {
        (new(f.summary(&query).await) == 6).then_some(())
    })
    .await;
    standby.close().await;
}

#[tokio::test]
async fn by_tag_number_hour_and_weekday_each_conversation_counts_in_its_groups_and_once_in_the_total() {
    let f = fixture().await;
    let vip = post(&f.app, &f.admin, "/tags", json!({"name": "VIP"})).await["id"].as_str().unwrap().to_owned();
    let billing = post(&f.app, &f.admin, "/tags", json!({"name": "Billing"})).await["id"].as_str().unwrap().to_owned();
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM conversations ORDER BY created_at").fetch_all(&f.app.pool).await.unwrap();
    // Monday's conversation is VIP; Tuesday's (the AI hand-over) is VIP and Billing.
    for (conversation, tag) in [(ids[0], &vip), (ids[1], &vip), (ids[1], &billing)] {
        sqlx::query("INSERT INTO conversation_tags (conversation_id, tag_id) VALUES ($1, $2::uuid)")
            .bind(conversation)
            .bind(tag)
            .execute(&f.app.pool)
            .await
            .unwrap();
    }
    let new = |s: &Value, key: Option<&str>| row(s, key)["conversations"]["new"].as_i64().unwrap();
    let by_tag = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=tag")).await;
    assert_eq!((new(&by_tag, Some(&vip)), new(&by_tag, Some(&billing)), new(&by_tag, None)), (2, 1, 3));
    assert_eq!(row(&by_tag, Some(&vip))["label"], "VIP");
    assert_eq!(by_tag["total"]["conversations"]["new"], 5, "a conversation with two tags counts once in the total");
    assert!(row(&by_tag, Some(&vip))["messages"].is_null(), "message counts are not kept per tag");
    assert_eq!(by_tag["total"]["messages"]["received"], 6, "but the total has them");
    // Created on Monday 09:00, Tuesday 11:00, Thursday 00:30 (Wednesday 23:30 in UTC), Thursday 10:00 and Friday
    // 16:30, Amsterdam time.
    let by_weekday = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=weekday")).await;
    let weekdays: Vec<(String, i64)> = by_weekday["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["label"].as_str().unwrap().to_owned(), r["conversations"]["new"].as_i64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(weekdays, [("Monday".into(), 1), ("Tuesday".into(), 1), ("Thursday".into(), 2), ("Friday".into(), 1)]);
    let by_hour = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=hour")).await;
    for hour in ["00", "09", "10", "11", "16"] {
        assert_eq!(new(&by_hour, Some(hour)), 1, "hour {hour}");
    }
    assert_eq!(by_hour["total"]["conversations"]["new"], 5);
    let by_number = f.summary(&format!("{WEEK}&tz=Europe/Amsterdam&group_by=number")).await;
    let mut per_number: Vec<i64> =
        by_number["rows"].as_array().unwrap().iter().map(|r| r["conversations"]["new"].as_i64().unwrap()).collect();
    per_number.sort();
    assert_eq!(per_number, [2, 3]);
    assert_eq!(by_number["total"]["messages"]["received"], 6);
}

#[tokio::test]
async fn a_new_customers_conversation_has_its_created_fact_from_its_insert_and_lists_no_rebuild_until_a_fact_depends_on_it(
) {
    let app = spawn_app().await;
    let channel = app.create_channel().await;
    assert_eq!(
        app.post_signed(&app.messages_url(channel), &inbound_text(&common::new_sid("SM"), "hi")).await.status(),
        200
    );
    let (conversation, created_at, number, channel_id): (Uuid, time::OffsetDateTime, Uuid, Uuid) =
        sqlx::query_as("SELECT id, created_at, number_id, channel_id FROM conversations")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    type FactRow = (Uuid, String, time::OffsetDateTime, Uuid, Uuid, Option<Uuid>, Option<Uuid>, Option<i64>);
    let facts = || async {
        sqlx::query_as::<_, FactRow>(
            "SELECT conversation_id, metric, at, number_id, channel_id, queue_id, agent_id, secs FROM report_facts
             ORDER BY metric",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let created = vec![(conversation, "created".to_owned(), created_at, number, channel_id, None, None, None)];
    // Written by the insert, before any run of the reports job; the opening's events listed no rebuild.
    assert_eq!(facts().await, created);
    assert_eq!(app.count("report_dirty").await, 0);
    // The job, rebuilding everything it can find, derives the same.
    sqlx::query("INSERT INTO report_dirty (conversation_id) VALUES ($1)")
        .bind(conversation)
        .execute(&app.pool)
        .await
        .unwrap();
    Reporter { pool: app.pool.clone(), refresh: Duration::from_secs(1) }.catch_up().await.unwrap();
    assert_eq!(facts().await, created);
    // An event a fact depends on lists it again, and its rebuild replaces the fact rather than adding one.
    sqlx::query(
        "INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_label, data)
         VALUES ($1, 'resolved', 'system', 'test', '{}')",
    )
    .bind(conversation)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(app.count("report_dirty").await, 1);
    Reporter { pool: app.pool.clone(), refresh: Duration::from_secs(1) }.catch_up().await.unwrap();
    let after: Vec<String> = facts().await.into_iter().map(|f| f.1).collect();
    assert_eq!(after.iter().filter(|m| *m == "created").count(), 1, "{after:?}");
    assert!(after.contains(&"resolved".to_owned()), "{after:?}");
}
