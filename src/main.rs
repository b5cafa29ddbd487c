//! The `switchboard` command: serve, migrate, and channel management from the command line.

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::auth::users::NewUser;
use switchboard::channels::{self, ChannelInput, NewChannel};
use switchboard::config::Settings;
use switchboard::database::Database;
use switchboard::secrets::SecretBox;
use switchboard::{telemetry, Application};

/// jemalloc instead of glibc's allocator, with background threads that hand freed memory back to the system
/// about a second after it is freed (`.cargo/config.toml`): with glibc's, the resident size stayed at its peak
/// after 500 inboxes disconnected; with jemalloc it returns to within a few MB of idle, and ingest uses less CPU
/// (BENCHMARKS.md, issue 21).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Switchboard: a self-hosted WhatsApp contact-center server for Twilio.
///
/// Configuration comes from built-in defaults, then the file given with --config, then environment variables
/// named SWITCHBOARD__SECTION__KEY (for example SWITCHBOARD__HTTP__BIND, SWITCHBOARD__DATABASE__URL,
/// SWITCHBOARD__HTTP__PUBLIC_URL, SWITCHBOARD__DATA_DIR, SWITCHBOARD__SECRETS__MASTER_KEY). With no database
/// URL, a private PostgreSQL cluster is started under the data directory from the installed PostgreSQL binaries.
#[derive(Parser)]
#[command(name = "switchboard", version, about, long_about)]
struct Cli {
    /// A TOML configuration file layered over the defaults (see config/example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: webhooks, API and background jobs, until SIGINT or SIGTERM.
    Serve,
    /// Apply the database migrations that are not applied yet, then exit.
    Migrate,
    /// Create and list channels (a Twilio account and its WhatsApp numbers).
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Manage users from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user. The password is read from standard input (its first line), so it stays out of the
    /// process list and the shell history: `printf '%s\n' "$PASSWORD" | switchboard admin create --email …`.
    Create {
        /// The user's e-mail address, used to log in.
        #[arg(long)]
        email: String,
        /// admin, supervisor or agent.
        #[arg(long, default_value = "agent")]
        role: String,
        /// The name shown to colleagues.
        #[arg(long, default_value = "")]
        name: String,
        /// Make the user choose a new password at first login.
        #[arg(long)]
        must_change_password: bool,
    },
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Create a channel and print its id and the webhook URLs to paste into Twilio.
    Create(CreateChannel),
    /// List channels (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["number", "messaging_service_sid"])))]
struct CreateChannel {
    /// A name people recognise, e.g. "Support NL".
    #[arg(long)]
    name: String,
    /// The Twilio Account SID (AC followed by 32 hexadecimal digits).
    #[arg(long, value_name = "AC…")]
    account_sid: String,
    /// The account's Auth Token. Stored encrypted with the master key and never shown again. Can also be given
    /// in the environment variable TWILIO_AUTH_TOKEN, which keeps it out of the process list.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    auth_token: String,
    /// A WhatsApp sender number in E.164 form (classic mode), optionally named: "Support=+14155238886".
    /// Repeat for several numbers.
    #[arg(long, value_name = "[NAME=]+E164", conflicts_with = "messaging_service_sid")]
    number: Vec<String>,
    /// A Messaging Service SID (MG…): Twilio picks the sender from the service's pool.
    #[arg(long, value_name = "MG…")]
    messaging_service_sid: Option<String>,
    /// Print exactly {"id": …, "webhooks": {"messages": …, "status": …}}.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let mut app = Application::build(settings).await?;
            if let Some(admin) = app.take_bootstrap_admin() {
                show_bootstrap_admin(&admin, &app.state().settings.data_dir_absolute()?);
            }
            app.run_until_stopped().await
        }
        Command::Admin(AdminCommand::Create { email, role, name, must_change_password }) => {
            create_user(settings, email, role, name, must_change_password).await
        }
        Command::Migrate => {
            let db = Database::open(&settings).await?;
            let result = db.migrate().await;
            db.close().await?;
            result?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Channel(ChannelCommand::Create(args)) => create_channel(args, settings).await,
        Command::Channel(ChannelCommand::List { json }) => list_channels(json, settings).await,
    }
}

/// The first admin's one-time password goes to a file only its user can read (`data_dir/first-admin.txt`,
/// `0600`), never to a log: standard error is often a journal or `docker logs`. On an interactive terminal it is
/// also shown, so that the first run stays a matter of reading the screen.
fn show_bootstrap_admin(admin: &switchboard::BootstrapAdmin, data_dir: &std::path::Path) {
    use secrecy::ExposeSecret;
    use std::io::{IsTerminal, Write};
    let path = data_dir.join("first-admin.txt");
    let written = (|| -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        writeln!(f, "e-mail: {}", admin.email)?;
        writeln!(f, "one-time password: {}", admin.password.expose_secret())?;
        writeln!(f, "Change it at first login, then delete this file.")
    })();
    let terminal = std::io::stderr().is_terminal();
    eprintln!();
    eprintln!("  ┌─ First start: an administrator was created ─────────────────────────────");
    eprintln!("  │  e-mail:             {}", admin.email);
    if terminal {
        eprintln!("  │  one-time password:  {}", admin.password.expose_secret());
    }
    match &written {
        Ok(()) => eprintln!("  │  password file:      {} (readable by this user only)", path.display()),
        Err(e) => {
            eprintln!("  │  the password file {} could not be written: {e}", path.display());
            // Otherwise nobody could ever log in: better here, once, than lost.
            if !terminal {
                eprintln!("  │  one-time password:  {}", admin.password.expose_secret());
            }
        }
    }
    eprintln!("  │  It must be changed at first login.");
    eprintln!("  └──────────────────────────────────────────────────────────────────────────");
    eprintln!();
}

async fn create_user(
    settings: Settings,
    email: String,
    role: String,
    name: String,
    must_change: bool,
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let role: switchboard::domain::Role = role.parse().map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    let email = email.trim().to_owned();
    anyhow::ensure!(email.contains('@') && email.len() <= 254, "--email must be an e-mail address");
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    switchboard::auth::password::check_policy(&password)
        .map_err(|e| anyhow::anyhow!("password from standard input: {e}"))?;
    let hash = switchboard::auth::password::hash(SecretString::from(password)).await?;
    let user = with_database(&settings, async |db| {
        let mut tx = db.pool.begin().await?;
        let actor =
            switchboard::store::audit::Actor { kind: "cli", id: None, label: "switchboard admin create".into() };
        let new = NewUser { email: &email, name: &name, role, password_hash: &hash, must_change_password: must_change };
        let user = switchboard::auth::users::create(&mut tx, &actor, new).await.map_err(|e| {
            let taken = e.downcast_ref::<sqlx::Error>().and_then(switchboard::store::violated_constraint)
                == Some("users_email_key");
            if taken {
                anyhow::anyhow!("a user with the e-mail {email} exists already")
            } else {
                e
            }
        })?;
        tx.commit().await?;
        Ok(user)
    })
    .await?;
    println!("{}", serde_json::json!({ "id": user.id, "email": user.email, "role": user.role }));
    Ok(())
}

/// Runs `f` against a migrated database, then closes it (stopping an embedded cluster this command started).
async fn with_database<T>(
    settings: &Settings,
    f: impl AsyncFnOnce(&Database) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = Database::open(settings).await?;
    let result = match db.migrate().await {
        Ok(()) => f(&db).await,
        Err(e) => Err(e),
    };
    db.close().await?;
    result
}

async fn create_channel(args: CreateChannel, settings: Settings) -> anyhow::Result<()> {
    let new = parse_new_channel(&args)?;
    let data_dir = settings.data_dir_absolute()?;
    let secrets = SecretBox::load_or_create(settings.secrets.master_key.as_ref(), &data_dir)?;
    let id = with_database(&settings, async |db| Ok(channels::create(&db.pool, &secrets, &new).await?)).await?;
    let urls = channels::webhook_urls(&settings.public_base_url(), id);
    if args.json {
        println!("{}", serde_json::json!({ "id": id, "webhooks": urls }));
    } else {
        println!("Channel created: {id}");
        println!("In Twilio, set the incoming-message webhook (POST) of each sender or Messaging Service to:");
        println!("  {}", urls.messages);
        println!("and the status callback URL to:");
        println!("  {}", urls.status);
    }
    Ok(())
}

fn parse_new_channel(args: &CreateChannel) -> anyhow::Result<NewChannel> {
    let input = ChannelInput {
        name: args.name.clone(),
        account_sid: args.account_sid.clone(),
        auth_token: args.auth_token.clone(),
        api_key: None,
        numbers: args
            .number
            .iter()
            .map(|spec| match spec.rsplit_once('=') {
                Some((label, number)) => (Some(label.to_owned()), number.to_owned()),
                None => (None, spec.clone()),
            })
            .collect(),
        messaging_service_sid: args.messaging_service_sid.clone(),
    };
    NewChannel::parse(input).map_err(|e| {
        let flag = match e.field.as_str() {
            "account_sid" => "--account-sid",
            "auth_token" => "--auth-token",
            "messaging_service_sid" => "--messaging-service-sid",
            "name" => "--name",
            _ => "--number",
        };
        anyhow::anyhow!("{flag} {}", e.reason)
    })
}

async fn list_channels(json: bool, settings: Settings) -> anyhow::Result<()> {
    let list = with_database(&settings, async |db| Ok(switchboard::store::channels::list(&db.pool).await?)).await?;
    let base = settings.public_base_url();
    if json {
        let items: Vec<_> = list
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).expect("serialisable");
                v["webhooks"] = serde_json::to_value(channels::webhook_urls(&base, c.id)).expect("serialisable");
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(());
    }
    if list.is_empty() {
        println!("No channels yet. Create one with `switchboard channel create`.");
    }
    for c in list {
        let target = c.messaging_service_sid.clone().unwrap_or_else(|| c.numbers.join(", "));
        println!("{}  {}  {}  {}  {}", c.id, c.name, c.account_sid, c.sending_mode, target);
    }
    Ok(())
}
