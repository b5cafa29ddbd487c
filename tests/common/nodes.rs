//! Several `switchboard serve` processes as an operator runs them: each with its own data directory, sharing
//! the database, the master key and (optionally) an S3 bucket, and a load balancer in front.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// What every node of a fleet shares.
#[derive(Clone)]
pub struct Shared {
    pub database_url: String,
    pub master_key: String,
    /// Further settings for every node (`SWITCHBOARD__…`).
    pub env: Vec<(String, String)>,
    /// Where the nodes' logs go (appended), for a failing test's reader.
    pub log: PathBuf,
}

/// One node: its own port and data directory. Killed when dropped.
pub struct Node {
    pub port: u16,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    /// The public URL it signs webhooks against: its own address, or the load balancer's.
    pub public_url: String,
    shared: Shared,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Node {
    /// Starts a node on `port` (not waiting for it: see [`super::wait_ready`]).
    pub fn start(shared: &Shared, port: u16, public_url: Option<&str>) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let mut node = Self {
            port,
            public_url: public_url.unwrap_or(&base).to_owned(),
            base,
            data_dir: tempfile::tempdir().unwrap(),
            shared: shared.clone(),
            child: None,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.shared.log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SWITCHBOARD__DATABASE__URL", &self.shared.database_url)
            .env("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", "10")
            .env("SWITCHBOARD__DATA_DIR", self.data_dir.path())
            .env("SWITCHBOARD__SECRETS__MASTER_KEY", &self.shared.master_key)
            .env("SWITCHBOARD__HTTP__BIND", format!("127.0.0.1:{}", self.port))
            .env("SWITCHBOARD__HTTP__PUBLIC_URL", &self.public_url)
            .env("SWITCHBOARD__SANDBOX__ENABLED", "false")
            .env("SWITCHBOARD__LOG__LEVEL", "warn")
            .envs(self.shared.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(command.spawn().unwrap());
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// SIGTERM, as an operator or an orchestrator stops it; waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
        self.child.take().unwrap().wait().unwrap()
    }

    /// SIGKILL: the machine gone.
    pub fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn();
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A TCP load balancer as nginx's `proxy_next_upstream error` or HAProxy's `redispatch` behave: each connection
/// goes to the next node in turn, and to the one after when a node refuses the connection (it is stopping or
/// down). Nothing is retried once a request was handed to a node.
pub struct Balancer {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    pub async fn start(ports: Vec<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let task = tokio::spawn(async move {
            let mut turn = 0usize;
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                turn += 1;
                let order: Vec<u16> = (0..ports.len()).map(|i| ports[(turn + i) % ports.len()]).collect();
                tokio::spawn(async move {
                    for port in order {
                        if let Ok(mut node) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { base, task }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
