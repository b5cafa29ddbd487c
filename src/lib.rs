//! Switchboard: a self-hosted WhatsApp contact-center server.
//!
//! [`Application::build`] wires configuration, the database (configured or embedded), the background worker
//! and the HTTP server; [`http::router`] is public so tests can drive it directly.
#![forbid(unsafe_code)]

pub mod ai;
pub mod auth;
pub mod automation;
pub mod calling;
pub mod channels;
pub mod config;
pub mod database;
pub mod domain;
pub mod error;
pub mod files;
pub mod group_commit;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod live;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod refs;
pub mod reports;
pub mod routing;
pub mod sandbox;
pub mod secrets;
pub mod state;
pub mod storage;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod twilio;
pub mod webhooks;

use anyhow::Context as _;
use config::Settings;
use database::Database;
use state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A built server: bound, migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    /// `metrics.bind`, when set: `/metrics` alone.
    metrics_listener: Option<TcpListener>,
    port: u16,
    state: AppState,
    database: Database,
    worker: Option<jobs::Worker>,
    router: Option<routing::router::Router>,
    offerer: Option<calling::offer::Offerer>,
    automation: Option<automation::engine::Engine>,
    ai_scanner: Option<ai::reply::Scanner>,
    /// Runs where the job worker runs.
    webhooks: Option<webhooks::Deliverer>,
    /// Runs where the job worker runs.
    reporter: Option<reports::job::Reporter>,
    shutdown: CancellationToken,
    bootstrap_admin: Option<BootstrapAdmin>,
}

/// The admin created on the first start, with its one-time password: shown once, never stored in clear.
pub struct BootstrapAdmin {
    pub email: String,
    pub password: secrecy::SecretString,
}

impl Application {
    /// Opens the database (starting the embedded cluster if none is configured), applies migrations, binds
    /// `http.bind` (port 0 picks a free port) and prepares the worker.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let data_dir = settings.data_dir_absolute().context("data_dir")?;
        let embedded_as_postgres = settings.database.url.is_none() && nix::unistd::geteuid().is_root();
        files::data_dir(&data_dir, embedded_as_postgres)
            .with_context(|| format!("cannot create data_dir {}", data_dir.display()))?;
        let secrets = secrets::SecretBox::load_or_create(settings.secrets.master_key.as_ref(), &data_dir)?;
        let storage = storage::Storage::open(&settings.storage, &data_dir).await?;
        let database = Database::open(&settings).await?;
        database.migrate().await?;
        check_master_key(&database.pool, &secrets).await?;
        let bootstrap_admin = bootstrap_admin(&database.pool, &settings.auth.bootstrap_admin_email).await?;
        let listener = TcpListener::bind(settings.http.bind)
            .await
            .with_context(|| format!("cannot listen on {} (http.bind)", settings.http.bind))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = match settings.metrics.bind {
            Some(bind) => {
                Some(TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind} (metrics.bind)"))?)
            }
            None => None,
        };
        let mut settings = settings;
        if settings.http.bind.port() == 0 {
            settings.http.bind.set_port(port);
        }
        let pool = database.pool.clone();
        if settings.sandbox_on() {
            tracing::warn!(
                page = %format!("{}/sandbox", settings.public_base_url()),
                exposed = !settings.reachable_only_from_here(),
                "the built-in Twilio sandbox is on: anyone who may use it can write as any sandbox customer \
                 (turn it off in production: SWITCHBOARD__SANDBOX__ENABLED=false)"
            );
            if let Some(channel) = sandbox::bootstrap(&pool, &secrets, settings.sandbox.bot).await? {
                tracing::info!(%channel, page = %format!("{}/sandbox", settings.public_base_url()),
                    "no channel yet: created the sandbox channel; play a customer on the sandbox page");
            }
        }
        let public_base_url: Arc<str> = settings.public_base_url().into();
        let local_base_url: Arc<str> = settings.local_base_url().into();
        let twilio = twilio::rest::RestClient::new(
            settings.twilio.api_base_url.clone(),
            settings.twilio.content_base_url.clone(),
            url::Url::parse(&local_base_url).context("local base URL")?,
            Duration::from_millis(settings.outbound.request_timeout_ms),
        )?;
        let sandbox_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        // This process's name among the processes sharing the database (heartbeats, jobs, live connections).
        let instance: Arc<str> =
            format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]).into();
        let jobs_wake = jobs::Wake::default();
        let routing_config = routing::config::ConfigCache::default();
        let ai_indexes = ai::agent::Indexes::default();
        // Model requests: no redirects (a base URL is what the admin set), a connect timeout; each request gets
        // its own overall timeout from the agent's deadline.
        let ai_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let worker = settings.jobs.enabled.then(|| -> anyhow::Result<jobs::Worker> {
            let fetcher = twilio::media::MediaFetcher::new(
                settings.twilio.api_base_url.clone(),
                settings.media.max_bytes,
                Duration::from_secs(settings.media.download_timeout_secs),
                settings.media.allow_private_redirects,
            )?;
            let fetcher = match settings.sandbox_on() {
                true => fetcher.with_sandbox(url::Url::parse(&local_base_url).context("local base URL")?),
                false => fetcher,
            };
            let tasks = jobs::Tasks::default()
                .with(
                    ingest::media::KIND,
                    ingest::media::MediaDownload {
                        pool: pool.clone(),
                        secrets: secrets.clone(),
                        fetcher,
                        storage: storage.clone(),
                    },
                )
                .with(
                    outbound::sender::KIND,
                    outbound::sender::Sender {
                        pool: pool.clone(),
                        secrets: secrets.clone(),
                        twilio: twilio.clone(),
                        public_base_url: public_base_url.clone(),
                        settings: settings.outbound.clone(),
                        recorder: outbound::recorder::Recorder::start(pool.clone()),
                    },
                )
                .with(
                    automation::csat::KIND,
                    automation::csat::SurveyTask {
                        pool: pool.clone(),
                        secrets: secrets.clone(),
                        twilio: twilio.clone(),
                        outbox: outbound::compose::Outbox { max_attempts: settings.outbound.max_attempts },
                        jobs_wake: jobs_wake.clone(),
                    },
                )
                .with(
                    ai::reply::KIND,
                    ai::reply::ReplyTask {
                        pool: pool.clone(),
                        secrets: secrets.clone(),
                        http: ai_http.clone(),
                        settings: settings.ai.clone(),
                        routing: routing_config.clone(),
                        indexes: ai_indexes.clone(),
                        outbox: outbound::compose::Outbox { max_attempts: settings.outbound.max_attempts },
                        jobs_wake: jobs_wake.clone(),
                    },
                )
                .with(
                    notify::batch::KIND,
                    notify::batch::BatchTask {
                        pool: pool.clone(),
                        side_pool: database.side_pool.clone(),
                        outbox: outbound::compose::Outbox { max_attempts: settings.outbound.max_attempts },
                        jobs_wake: jobs_wake.clone(),
                    },
                )
                .with(
                    sandbox::callbacks::KIND,
                    sandbox::callbacks::StatusCallbacks {
                        pool: pool.clone(),
                        secrets: secrets.clone(),
                        http: sandbox_http.clone(),
                        public_base_url: public_base_url.clone(),
                        local_base_url: local_base_url.clone(),
                    },
                );
            Ok(jobs::Worker::new(pool.clone(), tasks, settings.jobs.clone(), instance.clone(), jobs_wake.clone()))
        });
        let worker = worker.transpose()?;
        let router_wake = Arc::new(tokio::sync::Notify::new());
        let router = settings.routing.enabled.then(|| {
            routing::router::Router::new(
                pool.clone(),
                routing_config.clone(),
                settings.routing.clone(),
                instance.clone(),
                &settings.jobs,
                router_wake.clone(),
            )
        });
        let call_wake = Arc::new(tokio::sync::Notify::new());
        // Calls ring agents where conversations are routed.
        let offerer = settings.routing.enabled.then(|| calling::offer::Offerer {
            pool: pool.clone(),
            cache: routing_config.clone(),
            ring_timeout_secs: settings.routing.call_ring_timeout_secs,
            poll: Duration::from_millis(settings.routing.poll_ms.max(10)).min(Duration::from_secs(1)),
            wake: call_wake.clone(),
        });
        let automation_cache = automation::config::AutomationCache::new(
            routing_config.clone(),
            domain::opt_in::OwnWords {
                stop: settings.notifications.stop_keywords.clone(),
                start: settings.notifications.start_keywords.clone(),
            },
        );
        let automation_wake = Arc::new(tokio::sync::Notify::new());
        // The automation engine runs where the router runs: it looks at messages once their conversation is routed.
        let automation = settings.routing.enabled.then(|| automation::engine::Engine {
            pool: pool.clone(),
            cache: automation_cache.clone(),
            outbox: outbound::compose::Outbox { max_attempts: settings.outbound.max_attempts },
            wake: automation_wake.clone(),
            jobs_wake: jobs_wake.clone(),
            poll: Duration::from_millis(settings.routing.poll_ms.max(10)),
            idle_scan: Duration::from_secs(settings.routing.idle_scan_secs.max(1)),
        });
        let ai_scanner = settings.routing.enabled.then(|| ai::reply::Scanner {
            pool: pool.clone(),
            settings: settings.ai.clone(),
            jobs_wake: jobs_wake.clone(),
        });
        let webhooks = match settings.jobs.enabled {
            true => Some(webhooks::Deliverer {
                pool: pool.clone(),
                secrets: secrets.clone(),
                http: webhooks::Deliverer::http_client(&settings.webhooks)?,
                settings: settings.webhooks.clone(),
            }),
            false => None,
        };
        let reporter = settings.jobs.enabled.then(|| reports::job::Reporter {
            pool: pool.clone(),
            refresh: Duration::from_secs(settings.reports.refresh_secs.max(1)),
        });
        let shutdown = CancellationToken::new();
        let state = AppState {
            live: live::Hub::start(pool.clone(), shutdown.clone()),
            pool: pool.clone(),
            side_pool: database.side_pool.clone(),
            report_pool: database.report_pool.clone(),
            public_base_url,
            inbound: ingest::writer::InboundWriter::start(
                pool.clone(),
                settings.ingest.writers,
                settings.ingest.max_batch,
                jobs_wake.clone(),
            ),
            notifications: notify::writer::NotificationWriter::start(
                pool.clone(),
                database.side_pool.clone(),
                outbound::compose::Outbox { max_attempts: settings.outbound.max_attempts },
                jobs_wake.clone(),
                settings.notifications.writers,
                settings.notifications.max_batch,
            ),
            twilio,
            channels: channels::ChannelDirectory::new(pool, secrets.clone(), channels::ChannelDirectory::DEFAULT_TTL),
            secrets,
            sandbox_http,
            sandbox_calls: Default::default(),
            instance,
            routing: routing_config,
            router_wake,
            call_wake,
            automation: automation_cache,
            automation_wake,
            jobs_wake,
            storage,
            ai_indexes,
            ai_http,
            settings: Arc::new(settings),
        };
        Ok(Self {
            listener,
            metrics_listener,
            port,
            state,
            database,
            worker,
            router,
            offerer,
            automation,
            ai_scanner,
            webhooks,
            reporter,
            shutdown,
            bootstrap_admin,
        })
    }

    /// The admin created by this start, if the database had no users: the caller shows it once.
    pub fn take_bootstrap_admin(&mut self) -> Option<BootstrapAdmin> {
        self.bootstrap_admin.take()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `metrics.bind`, when set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancelling this token stops the server as SIGINT/SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until SIGINT, SIGTERM or the shutdown token: then stops accepting, finishes in-flight requests,
    /// lets the worker finish its jobs in hand, closes the database and stops the embedded cluster.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_listener,
            state,
            database,
            worker,
            router,
            offerer,
            automation,
            ai_scanner,
            webhooks,
            reporter,
            shutdown,
            ..
        } = self;
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let worker = worker.map(|w| tokio::spawn(w.run(shutdown.clone())));
        let router = router.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let offerer = offerer.map(|o| tokio::spawn(o.run(shutdown.clone())));
        let automation = automation.map(|a| tokio::spawn(a.run(shutdown.clone())));
        let ai_scanner = ai_scanner.map(|s| tokio::spawn(s.run(shutdown.clone())));
        let webhooks = webhooks.map(|w| tokio::spawn(w.run(shutdown.clone())));
        let reporter = reporter.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let sweeper = sweeper::Sweeper {
            pool: state.pool.clone(),
            storage: state.storage.clone(),
            login_window: Duration::from_secs(state.settings.auth.login_window_secs),
        };
        let sweeper = tokio::spawn(sweeper.run(shutdown.clone()));
        tracing::info!(address = %listener.local_addr()?, public_url = %state.public_base_url, "switchboard is serving");
        let file_limit = http::server::raise_file_limit();
        let limits = http::server::Limits {
            header_read_timeout: Duration::from_secs(state.settings.http.header_read_timeout_secs),
            max_connections: http::server::connection_cap(state.settings.http.max_connections, file_limit),
        };
        // The metrics address gets the same server loop (header timeout, connection cap, orderly stop).
        let metrics = metrics_listener.map(|listener| {
            tracing::info!(address = ?listener.local_addr().ok(), "metrics are served at /metrics");
            let served =
                http::server::serve(listener, http::metrics::standalone(state.clone()), limits, shutdown.clone());
            tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            })
        });
        tracing::info!(max_connections = limits.max_connections, open_files = file_limit, "connection limits");
        let served = http::server::serve(listener, http::router(state), limits, shutdown.clone()).await;
        shutdown.cancel();
        if let Some(w) = worker {
            let _ = w.await;
        }
        if let Some(r) = router {
            let _ = r.await;
        }
        if let Some(a) = automation {
            let _ = a.await;
        }
        if let Some(o) = offerer {
            let _ = o.await;
        }
        if let Some(s) = ai_scanner {
            let _ = s.await;
        }
        if let Some(w) = webhooks {
            let _ = w.await;
        }
        if let Some(r) = reporter {
            let _ = r.await;
        }
        let _ = sweeper.await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
        database.close().await?;
        tracing::info!("switchboard stopped");
        served.context("HTTP server")
    }
}

/// Refuses to start with a master key that cannot decrypt what is stored: a node given another key than the
/// others (or a new data directory that generated its own) would otherwise start and fail every webhook and send.
async fn check_master_key(pool: &sqlx::PgPool, secrets: &secrets::SecretBox) -> anyhow::Result<()> {
    let Some(stored) = store::channels::some_encrypted_secret(pool).await? else { return Ok(()) };
    if secrets.decrypt(&stored).is_err() {
        anyhow::bail!(
            "this node's master key cannot decrypt the Twilio credentials stored in the database: every node must \
             use the key the credentials were stored with. Set secrets.master_key (SWITCHBOARD__SECRETS__MASTER_KEY) \
             to it on every node, or copy {} from the data directory of the node that stored them",
            secrets::KEY_FILE
        );
    }
    Ok(())
}

/// Creates the first admin when there are no users, under a table lock so that several processes starting at
/// once create one. Its password is random and must be changed at first login.
async fn bootstrap_admin(pool: &sqlx::PgPool, email: &str) -> anyhow::Result<Option<BootstrapAdmin>> {
    let mut tx = pool.begin().await?;
    store::users::lock_table(&mut tx).await?;
    if store::users::count(&mut tx).await? > 0 {
        return Ok(None);
    }
    let password = auth::password::generate_one_time();
    let hash = auth::password::hash(password.clone()).await?;
    let actor = store::audit::Actor { kind: "system", id: None, label: "first start".into() };
    let admin = auth::users::NewUser {
        email,
        name: "Administrator",
        role: domain::Role::Admin,
        password_hash: &hash,
        must_change_password: true,
    };
    auth::users::create(&mut tx, &actor, admin).await?;
    tx.commit().await?;
    Ok(Some(BootstrapAdmin { email: email.to_owned(), password }))
}

async fn stop_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = token.cancelled() => return,
    }
    token.cancel();
}
