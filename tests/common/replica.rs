//! A real streaming replica of the test PostgreSQL: a base backup of the test cluster (`pg_basebackup -R`),
//! started on its own port, replaying the primary's changes as they happen. Stopped and removed when dropped.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use switchboard::database::embedded::EmbeddedPostgres;

pub struct Replica {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// Runs a PostgreSQL program as the `postgres` user when the tests run as root (PostgreSQL refuses root).
fn pg(bin: &std::path::Path, program: &str) -> Command {
    let mut cmd = Command::new(bin.join(program));
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    if nix::unistd::geteuid().is_root() {
        let pg = nix::unistd::User::from_name("postgres").unwrap().expect("a postgres user");
        cmd.uid(pg.uid.as_raw()).gid(pg.gid.as_raw());
    }
    cmd
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

impl Replica {
    /// Copies the test cluster and starts the copy as a hot standby of it on `port`.
    pub async fn start(port: u16) -> Self {
        use sqlx::Connection;
        // A standby needs at least the primary's connection slots (tests/run.sh raises them).
        let mut primary = sqlx::PgConnection::connect(&super::admin_database_url()).await.expect("the test PostgreSQL");
        let max_connections: String =
            sqlx::query_scalar("SHOW max_connections").fetch_one(&mut primary).await.expect("max_connections");
        let bin = EmbeddedPostgres::find_binaries(None).expect("PostgreSQL binaries (tests/run.sh installs them)");
        // Where pg_ctl really is (a machine may link a few programs into /usr/local/bin): pg_basebackup is there.
        let bin =
            std::fs::canonicalize(bin.join("pg_ctl")).ok().and_then(|p| Some(p.parent()?.to_owned())).unwrap_or(bin);
        let primary = url::Url::parse(&super::admin_database_url()).expect("the test database URL");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        if nix::unistd::geteuid().is_root() {
            let pg = nix::unistd::User::from_name("postgres").unwrap().expect("a postgres user");
            std::os::unix::fs::chown(dir.path(), Some(pg.uid.as_raw()), Some(pg.gid.as_raw())).unwrap();
        }
        let data = dir.path().join("data");
        let mut backup = pg(&bin, "pg_basebackup");
        backup
            .arg("-h")
            .arg(primary.host_str().unwrap())
            .arg("-p")
            .arg(primary.port().unwrap().to_string())
            .args(["-U", "postgres", "-X", "stream", "-R", "-c", "fast", "-D"])
            .arg(&data);
        run(backup, "pg_basebackup");
        let mut start = pg(&bin, "pg_ctl");
        start.arg("-D").arg(&data).arg("-l").arg(dir.path().join("log")).args(["-w", "-t", "60", "-o"]).arg(format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c hot_standby=on -c fsync=off -c max_connections={max_connections}",
            dir.path().display()
        ));
        start.arg("start");
        let out = start.output().expect("pg_ctl");
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        assert!(out.status.success(), "the replica did not start: {log}");
        Self { port, bin, dir }
    }

    /// The URL of the primary's database `url` on a replica listening on `port` (known before the replica
    /// starts, so that a server can be told where to read).
    pub fn url(port: u16, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("a database URL");
        u.set_port(Some(port)).unwrap();
        u.to_string()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let mut stop = pg(&self.bin, "pg_ctl");
        stop.arg("-D").arg(self.dir.path().join("data")).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}
