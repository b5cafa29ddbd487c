//! A private PostgreSQL cluster, started from the PostgreSQL binaries installed on this machine, for when no
//! database URL is configured.
//!
//! The cluster lives in `DATA_DIR/postgres`, listens only on a Unix socket in a directory only its owner can
//! enter (so `trust` authentication reaches no one else), and is stopped again by whoever started it. If a
//! cluster is already running there (another `switchboard` command, or a crashed run), it is reused and left
//! running. PostgreSQL refuses to run as root, so when Switchboard runs as root the cluster runs as the
//! `postgres` system user.

use sqlx::postgres::PgConnectOptions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

pub const DATABASE: &str = "switchboard";
pub const SUPERUSER: &str = "switchboard";
const PORT: u16 = 5432;
const CLUSTER_DIR: &str = "postgres";
/// Unix socket paths are limited to 107 bytes; a longer data directory gets its socket under the temp dir.
const MAX_SOCKET_PATH: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no database configured and no PostgreSQL installation found (looked for initdb and pg_ctl in {looked}). \
         Either install PostgreSQL (for example `apt-get install postgresql`) or set SWITCHBOARD__DATABASE__URL \
         to an existing database"
    )]
    NoBinaries { looked: String },
    #[error(
        "running as root, the embedded PostgreSQL must run as the `postgres` system user, and there is none: \
         install PostgreSQL from your distribution's packages (which creates it) or set SWITCHBOARD__DATABASE__URL"
    )]
    NoPostgresUser,
    #[error("the `postgres` system user cannot enter {0}: make it and its parent directories searchable (chmod o+x) or choose another SWITCHBOARD__DATA_DIR")]
    NotReachable(String),
    #[error("{step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The identity the cluster's processes run under.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    started_here: bool,
    stopped: bool,
}

impl EmbeddedPostgres {
    /// Finds the binaries: the configured directory, then `PATH`, then `/usr/lib/postgresql/*/bin`, newest first.
    pub fn find_binaries(configured: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
        find_binaries_in(configured, std::env::var_os("PATH").as_deref(), Path::new("/usr/lib/postgresql"))
    }

    /// Initialises the cluster on first use, starts it unless it is already running, and creates the database.
    pub async fn start(data_dir: &Path, configured_bin: Option<&Path>) -> Result<Self, EmbeddedError> {
        let bin_dir = Self::find_binaries(configured_bin)?;
        let data_dir = std::path::absolute(data_dir)?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres").ok().flatten().ok_or(EmbeddedError::NoPostgresUser)?;
            Some(RunAs { uid: user.uid.as_raw(), gid: user.gid.as_raw() })
        } else {
            None
        };
        std::fs::create_dir_all(&data_dir)?;
        let cluster_dir = data_dir.join(CLUSTER_DIR);
        let socket_dir = socket_dir_for(&data_dir);
        for dir in [&cluster_dir, &socket_dir] {
            private_dir(dir, run_as)?;
        }
        if let Some(r) = run_as {
            for dir in [&cluster_dir, &socket_dir] {
                check_reachable(dir, r)?;
            }
        }
        let mut pg = Self { bin_dir, cluster_dir, socket_dir, run_as, started_here: false, stopped: false };
        if !pg.cluster_dir.join("PG_VERSION").exists() {
            pg.initdb().await?;
        }
        if pg.is_running().await? {
            tracing::info!(cluster = %pg.cluster_dir.display(), "reusing the embedded PostgreSQL that is already running");
        } else {
            pg.pg_ctl_start().await?;
            pg.started_here = true;
        }
        pg.ensure_database().await?;
        Ok(pg)
    }

    /// Where to connect: the Unix socket, as the cluster's superuser, to the Switchboard database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options_for(DATABASE)
    }

    fn options_for(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host(&self.socket_dir.to_string_lossy())
            .port(PORT)
            .username(SUPERUSER)
            .database(database)
    }

    /// Stops the cluster if this process started it.
    pub async fn stop(&mut self) -> Result<(), EmbeddedError> {
        if !self.started_here || self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let out = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w", "-t", "60"])
            .output()
            .await?;
        check("pg_ctl stop", &out)?;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(&self.cluster_dir).stdin(Stdio::null()).kill_on_drop(false);
        if let Some(r) = self.run_as {
            cmd.uid(r.uid).gid(r.gid);
        }
        cmd
    }

    async fn initdb(&self) -> Result<(), EmbeddedError> {
        tracing::info!(cluster = %self.cluster_dir.display(), "initialising the embedded PostgreSQL cluster");
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"])
            .output()
            .await?;
        check("initdb", &out)
    }

    async fn is_running(&self) -> Result<bool, EmbeddedError> {
        let out = self.command("pg_ctl").arg("status").arg("-D").arg(&self.cluster_dir).output().await?;
        Ok(out.status.code() == Some(0))
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories={} -c unix_socket_permissions=0700 -p {PORT}",
            shell_quote(&self.socket_dir.to_string_lossy())
        );
        let log = self.cluster_dir.join("server.log");
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &options])
            .output()
            .await?;
        check("pg_ctl start", &out).map_err(|e| match e {
            EmbeddedError::Command { step, detail } => {
                EmbeddedError::Command { step, detail: format!("{detail}; see {}", log.display()) }
            }
            other => other,
        })?;
        tracing::info!(cluster = %self.cluster_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        use sqlx::{Connection, Row};
        let fail = |e: sqlx::Error| EmbeddedError::Command {
            step: "creating the switchboard database",
            detail: e.to_string(),
        };
        let mut conn = sqlx::PgConnection::connect_with(&self.options_for("postgres")).await.map_err(fail)?;
        let exists: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?
            .get(0);
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}")).execute(&mut conn).await.map_err(fail)?;
        }
        conn.close().await.map_err(fail)?;
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    /// A panic or early return must not leave a cluster running that this process started.
    fn drop(&mut self) {
        if self.started_here && !self.stopped {
            let mut cmd = std::process::Command::new(self.bin_dir.join("pg_ctl"));
            cmd.arg("stop").arg("-D").arg(&self.cluster_dir).args(["-m", "fast", "-w"]);
            cmd.current_dir(&self.cluster_dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            if let Some(r) = self.run_as {
                use std::os::unix::process::CommandExt;
                cmd.uid(r.uid).gid(r.gid);
            }
            let _ = cmd.status();
        }
    }
}

fn check(step: &'static str, out: &std::process::Output) -> Result<(), EmbeddedError> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let detail = [stderr.trim(), stdout.trim()].into_iter().find(|s| !s.is_empty()).unwrap_or("no output").to_owned();
    Err(EmbeddedError::Command { step, detail: format!("{} ({})", detail.replace('\n', " "), out.status) })
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_binaries_in(
    configured: Option<&Path>,
    path_env: Option<&std::ffi::OsStr>,
    versioned_root: &Path,
) -> Result<PathBuf, EmbeddedError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = configured {
        candidates.push(dir.to_owned());
    }
    if let Some(path) = path_env {
        candidates.extend(std::env::split_paths(path));
    }
    candidates.extend(versioned_dirs(versioned_root));
    let found =
        candidates.iter().find(|dir| ["initdb", "pg_ctl", "postgres"].iter().all(|b| is_executable(&dir.join(b))));
    found.cloned().ok_or_else(|| EmbeddedError::NoBinaries {
        looked: match configured {
            Some(d) => format!("{}, PATH and {}/*/bin", d.display(), versioned_root.display()),
            None => format!("PATH and {}/*/bin", versioned_root.display()),
        },
    })
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn versioned_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key: Vec<u32> = name.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
            Some((key, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, p)| p).collect()
}

fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let preferred = data_dir.join("run");
    if preferred.as_os_str().len() + "/.s.PGSQL.5432".len() <= MAX_SOCKET_PATH {
        return preferred;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    std::env::temp_dir().join(format!("switchboard-pg-{:016x}", h.finish()))
}

/// Creates `dir` if needed, owned by the cluster's user, private to it.
fn private_dir(dir: &Path, run_as: Option<RunAs>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Some(r) = run_as {
        std::os::unix::fs::chown(dir, Some(r.uid), Some(r.gid))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Every ancestor of `dir` must let the cluster's user through.
fn check_reachable(dir: &Path, r: RunAs) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::MetadataExt;
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = ancestor.metadata() else {
            continue;
        };
        let mode = meta.mode();
        let ok = if meta.uid() == r.uid {
            mode & 0o100 != 0
        } else if meta.gid() == r.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return Err(EmbeddedError::NotReachable(ancestor.display().to_string()));
        }
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_dirs_are_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for v in ["9.6", "15", "13", "not-a-version"] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        let found: Vec<String> = versioned_dirs(root.path())
            .iter()
            .map(|p| p.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["15", "13", "9.6"]);
    }

    #[test]
    fn missing_binaries_name_both_remedies() {
        let empty = tempfile::tempdir().unwrap();
        let err = EmbeddedPostgres::find_binaries(Some(empty.path()));
        if let Err(e) = err {
            let text = e.to_string();
            assert!(text.contains("install PostgreSQL") && text.contains("SWITCHBOARD__DATABASE__URL"), "{text}");
        }
    }

    #[test]
    fn long_data_dirs_get_a_short_socket_dir() {
        assert_eq!(socket_dir_for(Path::new("/var/lib/sb")), PathBuf::from("/var/lib/sb/run"));
        let long = PathBuf::from(format!("/{}", "x".repeat(120)));
        assert!(socket_dir_for(&long).starts_with(std::env::temp_dir()));
    }
}
