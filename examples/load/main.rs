//! Load generator: phones checking in against the real server, on SQLite and PostgreSQL,
//! each next to the machine's commit ceiling measured in the same run.
//!
//! ```text
//! cargo build --release --bin muster
//! cargo run --release --example load -- [--backend sqlite,postgres] [--clients 16] [--duration 20] ...
//! ```
//!
//! For each backend it measures the ceiling, starts `target/release/muster` in a temp dir on
//! a fresh database, sets up an organisation through the API, runs the phases, stops the
//! server (and drops its PostgreSQL database) and measures the ceiling again; then it prints
//! one markdown report on stdout.
//! Progress goes to stderr. See docs/PERFORMANCE.md, "Load test".

mod api;
mod ceiling;
mod own_sql;
mod phases;
mod probe;
mod report;
mod server;
mod shared;
mod stats;

use anyhow::bail;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ceiling::{Ceiling, Gauge};
use phases::{Load, Phase};
use report::{Backend, BackendRun, PhaseResult, Report};
use server::{PgDatabase, Server, ServerConfig};

/// Idle time between phases, so that one phase's tail (WAL checkpoints, closing
/// connections) does not land in the next one's numbers.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Parser, Debug)]
#[command(about = "Load test of the muster server: phones checking in, on SQLite and PostgreSQL")]
struct Args {
    /// Backends to measure, one after the other, each on a fresh database.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite,postgres")]
    backend: Vec<Backend>,
    /// A PostgreSQL database to connect to for creating (and dropping) the run's databases.
    #[arg(
        long,
        env = "MUSTER_LOAD_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Concurrent phones in the closed-loop phases, and pgbench clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds per phase, and for each of the two ceiling measurements.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Check-ins per second in the open-loop `checkin-rate` phase.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Most requests outstanding at once in the open loop.
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Phases to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "login,checkin,checkin-rate,checkin-photo,batch,report"
    )]
    phases: Vec<Phase>,
    /// Employees (phones), created and logged in before the phases; at least --clients.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Days of attendance (a check-in and a check-out each) every employee has before the
    /// phases start, sent as offline batches during the setup.
    #[arg(long, default_value_t = 30)]
    history_days: u32,
    /// Events per offline batch.
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    /// Concurrent managers pulling the team report.
    #[arg(long, default_value_t = 4)]
    report_clients: usize,
    /// The server binary (a release build: a debug one measures the wrong thing).
    #[arg(long, default_value = "target/release/muster")]
    server_bin: PathBuf,
    /// The server's RUST_LOG; `info` is what production runs with.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// More server settings, as KEY=VALUE environment variables (repeatable), e.g.
    /// MUSTER_DATABASE_MAX_CONNECTIONS=32.
    #[arg(long = "server-env")]
    server_env: Vec<String>,
    /// PostgreSQL settings for the server's database, as KEY=VALUE (repeatable), e.g.
    /// plan_cache_mode=force_custom_plan; applied with ALTER DATABASE, so only this run sees them.
    #[arg(long = "pg-set")]
    pg_set: Vec<String>,
    /// pgbench to measure the PostgreSQL ceiling with [default: on PATH, else PostgreSQL 15's].
    #[arg(long)]
    pgbench: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl Args {
    fn pgbench(&self) -> PathBuf {
        self.pgbench.clone().unwrap_or_else(ceiling::find_pgbench)
    }

    fn load(&self) -> Load {
        Load {
            clients: self.clients,
            duration_s: self.duration,
            rate: self.rate,
            max_in_flight: self.max_in_flight,
            batch_size: self.batch_size,
            report_clients: self.report_clients,
            history_days: self.history_days,
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.clients == 0 || self.report_clients == 0 || self.rate == 0 || self.max_in_flight == 0 {
            bail!("--clients, --report-clients, --rate and --max-in-flight must be at least 1");
        }
        if self.users < self.clients {
            bail!("--users must be at least --clients: each client sends as its own phones");
        }
        if self.phases.contains(&Phase::MonthReport) && self.history_days == 0 {
            bail!("the month-report phase reports on the seeded history: --history-days must be at least 1");
        }
        if self.batch_size == 0 || self.duration == 0 {
            bail!("--batch-size and --duration must be at least 1");
        }
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.check()?;
    let started_at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_average_before = probe::load_average();
    let photo = api::selfie_jpeg()?;
    let mut runs = Vec::new();
    for backend in &args.backend {
        runs.push(run_backend(*backend, &args, &photo).await?);
    }
    let report = Report {
        started_at,
        load_average_before,
        load_average_after: probe::load_average(),
        settings: args.load(),
        photo_bytes: photo.len(),
        runs,
    };
    print!("{}", report.markdown());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

/// The ceiling, the server on a fresh database of `backend` (dropped afterwards), and the
/// ceiling again.
async fn run_backend(backend: Backend, args: &Args, photo: &[u8]) -> anyhow::Result<BackendRun> {
    let dir = tempfile::tempdir()?;
    let pgbench = args.pgbench();
    let gauge = match backend {
        Backend::Sqlite => Gauge::Sqlite { dir: dir.path() },
        Backend::Postgres => Gauge::Postgres {
            admin_url: &args.postgres_url,
            pgbench: &pgbench,
            clients: args.clients,
            dir: dir.path(),
        },
    };
    let duration = Duration::from_secs(args.duration);
    eprintln!("{}: measuring the ceiling for {} s", backend.name(), args.duration);
    let before = gauge.sample(duration).await?;
    let measured = match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("muster.db").display());
            measure(backend, url, dir.path(), args, photo).await?
        }
        Backend::Postgres => {
            let db = PgDatabase::create(&args.postgres_url, "server").await?;
            let measured = match db.configure(&args.pg_set).await {
                Ok(()) => measure(backend, db.url.clone(), dir.path(), args, photo).await,
                Err(e) => Err(e),
            };
            db.remove().await?;
            measured?
        }
    };
    eprintln!("{}: measuring the ceiling again", backend.name());
    let after = gauge.sample(duration).await?;
    Ok(BackendRun {
        backend,
        ceiling: Ceiling {
            what: gauge.describe(),
            before,
            after,
        },
        own_sql: measured.driven.own_sql,
        setup: measured.driven.setup,
        users: args.users,
        phases: measured.driven.phases,
        peak_rss_bytes: measured.peak_rss_bytes,
    })
}

/// What one server run yields.
struct Measured {
    driven: Driven,
    peak_rss_bytes: Option<u64>,
}

/// Starts the server, sets up the organisation and runs the phases against it.
async fn measure(
    backend: Backend,
    database_url: String,
    dir: &Path,
    args: &Args,
    photo: &[u8],
) -> anyhow::Result<Measured> {
    // PostgreSQL's processes are told apart by their database's name, the URL's last part.
    let pg_url = (backend == Backend::Postgres).then(|| database_url.clone());
    let pg_database = pg_url
        .as_deref()
        .map(|url| url.rsplit('/').next().unwrap_or_default().to_owned());
    let server = Server::start(ServerConfig {
        binary: &args.server_bin,
        dir,
        database_url,
        log_filter: &args.server_log,
        extra_env: &args.server_env,
    })
    .await?;
    let pg = pg_url.as_deref().zip(pg_database.as_deref());
    let driven = drive(backend, &server, pg, dir, args, photo.to_vec()).await;
    let peak_rss_bytes = probe::status_bytes(server.pid(), "VmHWM");
    if driven.is_err() {
        eprintln!("the server's log ends with:\n{}", server.log_tail());
    }
    server.stop().await;
    Ok(Measured {
        driven: driven?,
        peak_rss_bytes,
    })
}

async fn drive(
    backend: Backend,
    server: &Server,
    // The run's PostgreSQL database: its URL and its name.
    pg: Option<(&str, &str)>,
    dir: &Path,
    args: &Args,
    photo: Vec<u8>,
) -> anyhow::Result<Driven> {
    eprintln!("{}: creating and logging in {} employees", backend.name(), args.users);
    let (world, setup) = api::build_world(
        api::http_client()?,
        server.base.clone(),
        args.users,
        args.history_days,
        photo,
    )
    .await?;
    let duration = Duration::from_secs(args.duration);
    let mut own_sql_before = None;
    if let Some((url, _)) = pg {
        server::refresh_statistics(url).await?;
        eprintln!("postgres: a check-in's own SQL under pgbench for {} s", args.duration);
        own_sql_before = Some(own_sql::sample(url, &args.pgbench(), args.clients, duration, dir).await?);
        // pgbench's check-ins are history now, as the phases' will be: statistics again.
        server::refresh_statistics(url).await?;
    }
    let pg_database = pg.map(|(_, name)| name);
    let world = Arc::new(world);
    let load = args.load();
    let pid = server.pid();
    let rss = probe::RssSampler::start(pid);
    let mut results = Vec::new();
    for &phase in &args.phases {
        tokio::time::sleep(SETTLE).await;
        rss.take();
        let statements = shared::Mark::now(&world.client, &server.base).await?;
        let before = probe::CpuMark::now(pid, pg_database);
        let (tally, elapsed) = phases::run(phase, &world, &load).await?;
        let cpu_cores = before.cores_until(&probe::CpuMark::now(pid, pg_database));
        let shared = statements.until(
            &shared::Mark::now(&world.client, &server.base).await?,
            elapsed.as_secs_f64(),
        );
        let result = PhaseResult {
            phase,
            load: load.describe(phase),
            summary: tally.summarise(elapsed),
            max_rss_bytes: rss.take(),
            cpu_cores,
            shared,
        };
        let s = &result.summary;
        eprintln!(
            "{}: {}: {:.0} req/s, {:.0} items/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            backend.name(),
            phase.name(),
            s.requests_per_s,
            s.items_per_s,
            s.p50_ms,
            s.p99_ms,
            s.error_count()
        );
        results.push(result);
    }
    let own_sql = match (pg, own_sql_before) {
        (Some((url, _)), Some(before)) => {
            eprintln!("postgres: a check-in's own SQL under pgbench again");
            let after = own_sql::sample(url, &args.pgbench(), args.clients, duration, dir).await?;
            Some(Ceiling {
                what: format!(
                    "pgbench, a check-in's own SQL (caller, policy and sites, retry and previous fix, insert) \
                     per transaction, {} clients, on the run's database",
                    args.clients
                ),
                before,
                after,
            })
        }
        _ => None,
    };
    Ok(Driven {
        setup,
        phases: results,
        own_sql,
    })
}

/// What driving one server yields.
struct Driven {
    setup: api::SetupTimes,
    phases: Vec<PhaseResult>,
    /// PostgreSQL only: [`own_sql`] before and after the phases.
    own_sql: Option<Ceiling>,
}
