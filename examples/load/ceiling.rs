//! The machine's ceiling, measured in the same run as the server, just before its phases
//! and again just after them: absolute rates vary a lot on a shared 2-core machine (fsync
//! times most of all, with other people's builds writing), ratios to a ceiling taken
//! minutes apart much less, and the spread of the two samples shows how much the machine
//! changed meanwhile.
//!
//! * PostgreSQL: `pgbench` committing one single-row INSERT per transaction at the same
//!   concurrency as the closed-loop phases, on a scratch database of the same server. A
//!   check-in cannot be cheaper than that (it commits one row too, plus reads and HTTP).
//! * SQLite: one connection committing single-row INSERTs in WAL mode with
//!   `synchronous=FULL` (the server's settings): every commit waits for its own fsync, so
//!   this is the per-commit fsync limit that only group commit can pass.

use anyhow::{Context, bail};
use serde::Serialize;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::PgDatabase;

/// One measurement of a ceiling.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub commits_per_s: f64,
    pub latency_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ceiling {
    pub what: String,
    pub before: Sample,
    pub after: Sample,
}

impl Ceiling {
    /// The rate phases are compared with: the mean of the two samples.
    pub fn commits_per_s(&self) -> f64 {
        (self.before.commits_per_s + self.after.commits_per_s) / 2.0
    }
}

/// What measures one backend's ceiling.
pub enum Gauge<'a> {
    /// A scratch SQLite file in `dir`, on the same file system as the server's.
    Sqlite { dir: &'a Path },
    /// pgbench against a scratch database of the PostgreSQL server behind `admin_url`.
    Postgres {
        admin_url: &'a str,
        pgbench: &'a Path,
        clients: usize,
        dir: &'a Path,
    },
}

impl Gauge<'_> {
    pub fn describe(&self) -> String {
        match self {
            Gauge::Sqlite { .. } => "SQLite, 1-row INSERT per commit, WAL, synchronous=FULL, 1 connection".into(),
            Gauge::Postgres { clients, .. } => format!("pgbench, 1-row INSERT per commit, {clients} clients"),
        }
    }

    pub async fn sample(&self, duration: Duration) -> anyhow::Result<Sample> {
        match *self {
            Gauge::Sqlite { dir } => sqlite_commits(dir, duration).await,
            Gauge::Postgres {
                admin_url,
                pgbench,
                clients,
                dir,
            } => pgbench_commits(admin_url, pgbench, clients, duration, dir).await,
        }
    }
}

const SCRATCH_TABLE: &str = "CREATE TABLE ceiling (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    note text NOT NULL)";
const PGBENCH_SCRIPT: &str = "INSERT INTO ceiling (client, note) VALUES (:client_id, 'check-in');\n";

/// `pgbench` from PATH, else where Debian puts PostgreSQL 15's.
pub fn find_pgbench() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbench"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin/pgbench"))
}

/// pgbench's single-row INSERT rate at `clients` connections for `duration`.
async fn pgbench_commits(
    admin_url: &str,
    pgbench: &Path,
    clients: usize,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<Sample> {
    let db = PgDatabase::create(admin_url, "ceiling").await?;
    let measured = run_pgbench(&db.url, pgbench, clients, duration, dir).await;
    db.remove().await?;
    let (tps, latency_ms) = measured?;
    Ok(Sample {
        commits_per_s: tps,
        latency_ms,
    })
}

async fn run_pgbench(
    url: &str,
    pgbench: &Path,
    clients: usize,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<(f64, f64)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(SCRATCH_TABLE).execute(&mut conn).await?;
    conn.close().await?;
    let script = dir.join("ceiling.sql");
    std::fs::write(&script, PGBENCH_SCRIPT)?;
    run_pgbench_scripts(url, pgbench, clients, duration, &[script], &[]).await
}

/// pgbench's transactions per second and mean latency running `scripts` (one picked at
/// random per transaction) at `clients` connections for `duration`.
pub async fn run_pgbench_scripts(
    url: &str,
    pgbench: &Path,
    clients: usize,
    duration: Duration,
    scripts: &[PathBuf],
    extra: &[&str],
) -> anyhow::Result<(f64, f64)> {
    let mut command = Command::new(pgbench);
    command
        .args([
            "-n",
            "-j",
            "2",
            "-c",
            &clients.to_string(),
            "-T",
            &duration.as_secs().to_string(),
        ])
        .args(extra);
    for script in scripts {
        command.arg("-f").arg(script);
    }
    command.arg(url);
    let shown = pgbench.display().to_string();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await?
        .with_context(|| format!("running {shown}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    }
    // pgbench prints one "tps = " line for the run (before per-script sections).
    let tps = pgbench_value(&text, "tps = ").context("no tps in pgbench's output")?;
    let latency = pgbench_value(&text, "latency average = ").unwrap_or(f64::NAN);
    Ok((tps, latency))
}

/// The number after `prefix` on the first line that starts with it.
fn pgbench_value(output: &str, prefix: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.starts_with(prefix))?;
    line[prefix.len()..].split_whitespace().next()?.parse().ok()
}

/// One SQLite connection's autocommit INSERT rate on `dir`'s file system for `duration`.
async fn sqlite_commits(dir: &Path, duration: Duration) -> anyhow::Result<Sample> {
    let options = SqliteConnectOptions::new()
        .filename(dir.join("ceiling.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS ceiling (id BLOB PRIMARY KEY, client INTEGER NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let started = Instant::now();
    let mut commits = 0u64;
    while started.elapsed() < duration {
        sqlx::query("INSERT INTO ceiling (id, client, at, note) VALUES ($1, 1, datetime('now'), 'check-in')")
            .bind(uuid::Uuid::now_v7())
            .execute(&mut conn)
            .await?;
        commits += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(Sample {
        commits_per_s: commits as f64 / seconds,
        latency_ms: seconds * 1000.0 / commits.max(1) as f64,
    })
}
