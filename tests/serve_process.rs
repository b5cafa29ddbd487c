//! The real binary on its embedded defaults: no database URL, only the installed PostgreSQL binaries. It
//! initialises and starts its own cluster, serves, shares the cluster with a CLI command run meanwhile, stops
//! it on SIGTERM, and a later start finds the same data. Its logs never carry message bodies or full numbers.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::database::embedded::EmbeddedPostgres;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn command(data_dir: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SWITCHBOARD__DATA_DIR", data_dir)
        .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__LOG__LEVEL", "info");
    cmd
}

fn cluster_running(data_dir: &std::path::Path) -> bool {
    let bin = EmbeddedPostgres::find_binaries(None).expect("PostgreSQL binaries (tests/run.sh installs them)");
    let mut cmd = Command::new(bin.join("pg_ctl"));
    cmd.arg("status").arg("-D").arg(data_dir.join("postgres")).stdout(Stdio::null()).stderr(Stdio::null());
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::process::CommandExt;
        let pg = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        cmd.uid(pg.uid.as_raw()).gid(pg.gid.as_raw());
    }
    cmd.status().unwrap().code() == Some(0)
}

async fn wait_ready(client: &reqwest::Client, base: &str, server: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(server.try_wait().unwrap().is_none(), "the server exited during start-up");
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn serve_runs_its_own_postgres_stops_it_on_sigterm_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    // The cluster runs as `postgres` when the tests run as root: it must be able to enter the data dir.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let mut server = command(&data_dir, port)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    wait_ready(&client, &base, &mut server).await;
    assert!(cluster_running(&data_dir));

    // A CLI command meanwhile uses the running cluster and leaves it running.
    let created = command(&data_dir, port)
        .args([
            "channel",
            "create",
            "--name",
            "Embedded",
            "--account-sid",
            common::ACCOUNT_SID,
            "--auth-token",
            common::AUTH_TOKEN,
            "--number",
            common::BUSINESS_NUMBER,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let url = created["webhooks"]["messages"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&base), "webhook URLs default to http://<bind>: {url}");
    assert!(cluster_running(&data_dir), "the CLI did not stop a cluster it did not start");

    // A message, and a bad one, both carrying a secret body and the customer's number.
    let secret_body = "my card number is 4111 1111 1111 1111";
    let good = common::inbound_text(&common::new_sid("SM"), secret_body);
    let mut bad = common::inbound_text(&common::new_sid("SM"), secret_body);
    common::set(&mut bad, "From", common::CUSTOMER);
    for (params, expected) in [(&good, 200), (&bad, 422)] {
        let sig = switchboard::twilio::signature::compute(common::AUTH_TOKEN, &url, params);
        let r = client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig)
            .body(common::encode_form(params))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }

    let status = terminate(&mut server);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    assert!(!cluster_running(&data_dir), "the cluster serve started is stopped with it");

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("inbound message stored") && log.contains("inbound webhook refused"), "{log}");
    assert!(!log.contains("4111 1111"), "message bodies never reach the logs: {log}");
    assert!(
        !log.contains(common::CUSTOMER) && !log.contains(&common::CUSTOMER[1..]),
        "full phone numbers never reach the logs"
    );
    assert!(log.contains("+5215*******78"), "masked numbers do");
    assert_eq!(
        log.matches("First start: an administrator was created").count(),
        1,
        "the one-time password is shown once"
    );

    // A second start finds the same data (and, run from the CLI, stops the cluster it started).
    let listed = command(&data_dir, port).args(["channel", "list", "--json"]).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert!(listed.iter().any(|c| c["id"] == created["id"]), "{listed:?}");
    assert!(listed.iter().any(|c| c["name"] == "Sandbox"), "a first start on the defaults creates the sandbox channel");
    assert!(!cluster_running(&data_dir));
}
