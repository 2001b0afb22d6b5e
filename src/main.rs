//! The `muster` binary: `serve` (the default), `migrate`, `purge`, `org create`.

use clap::{Parser, Subcommand};

use muster::config::{Secret, Settings, SettingsArgs};
use muster::startup::{self, Application};
use muster::{bootstrap, storage, telemetry};

#[derive(Parser)]
#[command(name = "muster", version, about = "HRMS attendance backend", long_about = None)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default); migrates the database first.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Apply the retention policy and sweep orphaned photos once (the server also does it in the background).
    Purge {
        /// Also write the run's metrics (Prometheus text) to this file, replaced atomically,
        /// for node_exporter's textfile collector: a one-off run has no `/metrics` to scrape.
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<std::path::PathBuf>,
    },
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Add an organisation with its first org_admin.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        /// At least 12 characters; a random one is printed when omitted.
        #[arg(long, env = "MUSTER_ORG_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<Secret>,
        /// IANA time zone of the organisation.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

fn main() -> anyhow::Result<()> {
    return_large_buffers_to_the_os();
    let cli = Cli::parse();
    let settings = Settings::load(&cli.settings)?;
    telemetry::init_logging(settings.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    runtime
        .build()?
        .block_on(run(cli.command.unwrap_or(Command::Serve), settings))
}

/// Large short-lived buffers (argon2's 19 MiB per password hash, photo bodies, report pages)
/// are mapped for themselves and go back to the OS when freed. By default glibc raises this
/// threshold as it sees such buffers freed and then keeps them in per-thread arenas: after
/// a burst of logins on the blocking threads the server held 2–3 GiB it no longer used
/// (docs/PERFORMANCE.md, "Load test"). A fixed 128 KiB keeps it at tens of MiB.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "muster is serving");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            storage::open(&settings.database_url, &startup::db_options(&settings), true).await?;
            tracing::info!("migrations applied");
        }
        Command::Purge { metrics_file } => {
            let metrics = telemetry::metrics_handle();
            let repo = startup::open_repo(&settings).await?;
            let photos = muster::photos::open(&settings.photo_store, &settings.s3_options()).await?;
            let options = muster::privacy::RetentionOptions::from(&settings);
            let outcome = muster::privacy::run_retention(repo.as_ref(), photos.as_ref(), options).await;
            // Written whatever the outcome: a failed run is what an alert needs to see.
            if let Some(path) = metrics_file {
                telemetry::write_metrics_file(&metrics, &path)?;
            }
            let purged = outcome?;
            println!(
                "retention: {} locations, {} photos, {} app-log batches removed; {} orphaned photos and {} \
                 leftovers of interrupted writes swept ({} rounds skipped: another replica was purging)",
                purged.locations,
                purged.photos,
                purged.app_log_batches,
                purged.orphans,
                purged.leftovers,
                purged.skipped
            );
        }
        Command::Org(OrgCommand::Create {
            name,
            admin_email,
            admin_password,
            timezone,
        }) => {
            let repo = startup::open_repo(&settings).await?;
            let given = admin_password.as_ref().map(Secret::expose);
            match bootstrap::create_org(repo.as_ref(), &name, &timezone, &admin_email, given).await? {
                Ok(created) => {
                    println!(
                        "organisation {} ({}) created; org_admin {}",
                        created.org.name, created.org.id, created.admin.email
                    );
                    if let Some(pw) = created.generated_password {
                        println!("admin password (shown once): {pw}");
                    }
                }
                Err(refused) => anyhow::bail!("cannot create the organisation: {refused}"),
            }
        }
    }
    Ok(())
}
