//! The `switchboard` command as operators and scripts use it: help, channel create/list, migrate, bad config.

mod common;

use serde_json::Value;
use std::process::{Command, Output};

fn switchboard(db_url: &str, data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD__DATABASE__URL", db_url)
        .env("SWITCHBOARD__DATA_DIR", data_dir)
        .env("SWITCHBOARD__HTTP__PUBLIC_URL", "https://cc.example.com")
        .env("SWITCHBOARD__LOG__LEVEL", "warn")
        .env_remove("TWILIO_AUTH_TOKEN")
        .output()
        .expect("run switchboard")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_documents_every_command_and_option() {
    let top = Command::new(env!("CARGO_BIN_EXE_switchboard")).arg("--help").output().unwrap();
    let top = text(&top.stdout);
    for word in ["serve", "migrate", "channel", "--config", "SWITCHBOARD__DATABASE__URL"] {
        assert!(top.contains(word), "--help mentions {word}:\n{top}");
    }
    let create =
        Command::new(env!("CARGO_BIN_EXE_switchboard")).args(["channel", "create", "--help"]).output().unwrap();
    let create = text(&create.stdout);
    for option in
        ["--name", "--account-sid", "--auth-token", "--number", "--messaging-service-sid", "--json", "--config"]
    {
        assert!(create.contains(option), "channel create --help documents {option}:\n{create}");
    }
    for sub in [&["serve", "--help"][..], &["migrate", "--help"], &["channel", "list", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard")).args(sub).output().unwrap();
        assert!(out.status.success() && text(&out.stdout).contains("--config"), "{sub:?}");
    }
}

#[tokio::test]
async fn channel_create_prints_exactly_the_id_and_webhooks_as_json_and_list_shows_no_secret() {
    let db = common::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(
        &db,
        dir.path(),
        &[
            "channel",
            "create",
            "--name",
            "Support NL",
            "--account-sid",
            common::ACCOUNT_SID,
            "--auth-token",
            "s3cret-token-value",
            "--number",
            "Support=+14155238886",
            "--number",
            "+31201234567",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created.as_object().unwrap().len(), 2);
    assert_eq!(
        created["webhooks"],
        serde_json::json!({
            "messages": format!("https://cc.example.com/webhooks/twilio/{id}/messages"),
            "status": format!("https://cc.example.com/webhooks/twilio/{id}/status"),
        })
    );

    let list = switchboard(&db, dir.path(), &["channel", "list", "--json"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["numbers"], serde_json::json!(["+14155238886", "+31201234567"]));
    let plain = switchboard(&db, dir.path(), &["channel", "list"]);
    for output in [&list.stdout, &list.stderr, &plain.stdout, &plain.stderr, &out.stderr] {
        assert!(!text(output).contains("s3cret-token-value"), "the token never appears");
    }
    assert!(text(&plain.stdout).contains("Support NL"));

    // The token is stored encrypted.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db).await.unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT auth_token FROM twilio_accounts").fetch_one(&mut conn).await.unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
}

#[tokio::test]
async fn channel_create_in_messaging_service_mode_and_its_refusals() {
    let db = common::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let base = ["channel", "create", "--name", "MS", "--account-sid", common::ACCOUNT_SID, "--auth-token", "t"];
    let ok = switchboard(
        &db,
        dir.path(),
        &[&base[..], &["--messaging-service-sid", common::MESSAGING_SERVICE_SID]].concat(),
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("/webhooks/twilio/"));

    let taken = switchboard(
        &db,
        dir.path(),
        &[&base[..], &["--messaging-service-sid", common::MESSAGING_SERVICE_SID]].concat(),
    );
    assert!(!taken.status.success());
    assert!(text(&taken.stderr).contains("already uses Messaging Service"), "{}", text(&taken.stderr));

    let bad_number = switchboard(&db, dir.path(), &[&base[..], &["--number", "0612345678"]].concat());
    assert!(!bad_number.status.success());
    assert!(text(&bad_number.stderr).contains("must start with +"), "{}", text(&bad_number.stderr));

    let neither = switchboard(&db, dir.path(), &base);
    assert!(!neither.status.success());
    let both = switchboard(
        &db,
        dir.path(),
        &[&base[..], &["--number", "+14155238886", "--messaging-service-sid", common::MESSAGING_SERVICE_SID]].concat(),
    );
    assert!(!both.status.success());

    let bad_sid = switchboard(
        &db,
        dir.path(),
        &[
            "channel",
            "create",
            "--name",
            "X",
            "--account-sid",
            "AC123",
            "--auth-token",
            "t",
            "--number",
            "+14155238886",
        ],
    );
    assert!(
        text(&bad_sid.stderr).contains("--account-sid must be AC followed by 32 hexadecimal digits"),
        "{}",
        text(&bad_sid.stderr)
    );
}

#[tokio::test]
async fn migrate_applies_the_migrations() {
    let db = common::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(&db, dir.path(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for t in [
        "attachments",
        "channels",
        "contacts",
        "conversations",
        "jobs",
        "messages",
        "twilio_accounts",
        "whatsapp_numbers",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
}

#[test]
fn a_wrong_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, named) in [
        ("SWITCHBOARD__HTTP__BIND", "localhost", "http.bind"),
        ("SWITCHBOARD__HTTP__PUBLIC_URL", "not a url", "http.public_url"),
        ("SWITCHBOARD__SECRETS__MASTER_KEY", "too-short", "secrets.master_key"),
        ("SWITCHBOARD__DATABASE__URL", "mysql://nope", "database.url"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD__DATA_DIR", dir.path())
            .env("SWITCHBOARD__DATABASE__URL", "postgres://127.0.0.1:1/none")
            .env(key, value)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{key}: one error line in {stderr}");
        assert!(lines[0].contains(named), "{key}: {stderr}");
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--config", "/nonexistent.toml", "serve"])
        .output()
        .unwrap();
    assert!(text(&missing.stderr).contains("--config"));
}

#[tokio::test]
async fn admin_create_reads_the_password_from_standard_input_and_refuses_weak_ones() {
    use std::io::Write;
    let db = common::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |email: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["admin", "create", "--email", email, "--role", "supervisor", "--name", "Sam"])
            .env("SWITCHBOARD__DATABASE__URL", &db)
            .env("SWITCHBOARD__DATA_DIR", dir.path())
            .env("SWITCHBOARD__LOG__LEVEL", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run("sam@example.com", "a long enough password");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let created: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(created["role"], "supervisor");
    assert!(
        !text(&ok.stdout).contains("a long enough password") && !text(&ok.stderr).contains("a long enough password")
    );

    let weak = run("kim@example.com", "short");
    assert!(!weak.status.success());
    assert!(text(&weak.stderr).contains("at least 12 characters"), "{}", text(&weak.stderr));
    let taken = run("SAM@example.com", "another long password");
    assert!(text(&taken.stderr).contains("exists already"), "{}", text(&taken.stderr));

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'sam@example.com'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
}
