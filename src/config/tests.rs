//! The layered configuration: defaults, file and environment, and the errors that name the setting.

use super::*;

#[test]
fn the_sandbox_serves_by_itself_only_where_nobody_else_can_reach_the_server() {
    let with = |pairs: &[(&str, &str)]| {
        Settings::load_from(None, pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    };
    assert!(with(&[]).sandbox_on(), "the first run on defaults");
    assert!(!with(&[("SWITCHBOARD__HTTP__BIND", "0.0.0.0:8080")]).sandbox_on(), "listening on every address");
    assert!(!with(&[("SWITCHBOARD__HTTP__PUBLIC_URL", "https://cc.example.com")]).sandbox_on());
    assert!(with(&[
        ("SWITCHBOARD__HTTP__PUBLIC_URL", "https://cc.example.com"),
        ("SWITCHBOARD__SANDBOX__ENABLED", "true")
    ])
    .sandbox_on());
    assert!(!with(&[("SWITCHBOARD__SANDBOX__ENABLED", "false")]).sandbox_on());
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_load_and_env_overrides_them() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.http.bind.to_string(), "127.0.0.1:8080");
    assert!(s.database.url.is_none());
    assert_eq!(s.public_base_url(), "http://127.0.0.1:8080");
    let s = Settings::load_from(
        None,
        env(&[
            ("SWITCHBOARD__HTTP__BIND", "0.0.0.0:9000"),
            ("SWITCHBOARD__HTTP__PUBLIC_URL", "https://cc.example.com/sb/"),
            ("SWITCHBOARD__DATA_DIR", "/tmp/sbdata"),
            ("SWITCHBOARD__DATABASE__URL", "postgres://u:p@h/db"),
            ("SWITCHBOARD__SECRETS__MASTER_KEY", "abc"),
            ("SWITCHBOARD__JOBS__MAX_ATTEMPTS", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(s.http.bind.port(), 9000);
    assert_eq!(s.public_base_url(), "https://cc.example.com/sb");
    assert_eq!(s.data_dir, PathBuf::from("/tmp/sbdata"));
    assert_eq!(s.jobs.max_attempts, 3);
    assert!(!format!("{s:?}").contains("u:p@h"), "secrets are redacted in Debug");
}

#[test]
fn a_wrong_value_names_the_setting() {
    let cases = [
        ("SWITCHBOARD__HTTP__BIND", "not-an-address", "http.bind"),
        ("SWITCHBOARD__HTTP__PUBLIC_URL", "ftp://x", "http.public_url"),
        ("SWITCHBOARD__HTTP__PUBLIC_URL", "nonsense", "http.public_url"),
        ("SWITCHBOARD__DATABASE__URL", "mysql://x", "database.url"),
        ("SWITCHBOARD__JOBS__CONCURRENCY", "many", "jobs.concurrency"),
        ("SWITCHBOARD__LOG__FORMAT", "xml", "log.format"),
    ];
    for (key, value, setting) in cases {
        let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err().to_string();
        assert!(err.contains(setting), "{key}={value}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
