//! The server under load: the release binary as a child process in a temp dir, on a fresh
//! SQLite file or a fresh PostgreSQL database, configured only through `MUSTER_*` variables
//! as an operator would. Being its parent is what lets the tool read its memory and CPU.

use anyhow::{Context, bail};
use sqlx::Connection;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "load-admin-password";

/// A database made for one run and dropped after it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str, purpose: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("muster_load_{purpose}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Sets `KEY=VALUE` PostgreSQL settings for every later connection to this database
    /// (`ALTER DATABASE ... SET`), to try server tuning without touching the shared server.
    pub async fn configure(&self, settings: &[String]) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        for setting in settings {
            let (key, value) = setting
                .split_once('=')
                .with_context(|| format!("--pg-set {setting:?} is not KEY=VALUE"))?;
            let sql = format!(
                "ALTER DATABASE {} SET {key} = '{}'",
                self.name,
                value.replace('\'', "''")
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
        }
        Ok(())
    }

    /// Drops the database, closing whatever connections are still open on it.
    pub async fn remove(self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
        Ok(())
    }
}

/// `ANALYZE` of the run's database after the setup wrote the organisation's past, which is
/// what autovacuum does on its own in a deployment. This machine's PostgreSQL runs with
/// `autovacuum = off`; without statistics, the plans PostgreSQL caches for the server's
/// statements while the table is still nearly empty can scan the whole organisation's events
/// for a look-up by user, and keep doing so as it grows.
pub async fn refresh_statistics(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(&mut conn)
        .await?;
    if autovacuum != "on" {
        eprintln!("postgres: autovacuum is {autovacuum} on this server: analysing the run's database after the setup");
    }
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(())
}

/// How to start the server.
pub struct ServerConfig<'a> {
    pub binary: &'a Path,
    pub dir: &'a Path,
    pub database_url: String,
    pub log_filter: &'a str,
    /// `KEY=VALUE` settings given on the command line, applied last.
    pub extra_env: &'a [String],
}

/// The running server; killed if the tool stops without `stop`.
pub struct Server {
    child: Child,
    pub base: String,
    stderr: PathBuf,
}

/// Settings that make a load test measure the server rather than its guards.
const LOAD_SETTINGS: [(&str, &str); 6] = [
    // Every phone of the test comes from 127.0.0.1 and sends far more than a phone
    // would: the limits would answer 429 instead of measuring the work.
    ("MUSTER_RATE_LIMIT_PER_IP_PER_S", "1000000"),
    ("MUSTER_RATE_LIMIT_PER_IP_BURST", "1000000"),
    ("MUSTER_RATE_LIMIT_PER_USER_PER_S", "1000000"),
    ("MUSTER_RATE_LIMIT_PER_USER_BURST", "1000000"),
    // Tokens from the setup must outlive every phase of a long run.
    ("MUSTER_ACCESS_TOKEN_TTL_S", "86400"),
    ("MUSTER_JWT_SECRET", "load-test-secret-that-is-at-least-32-bytes"),
];

impl Server {
    pub async fn start(config: ServerConfig<'_>) -> anyhow::Result<Server> {
        // Absolute, since the child starts in the temp dir.
        let binary = std::fs::canonicalize(config.binary).with_context(|| {
            format!(
                "no server binary at {} (build it with `cargo build --release --bin muster`, or pass --server-bin)",
                config.binary.display()
            )
        })?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let stderr = config.dir.join("server.log");
        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .current_dir(config.dir)
            .env_clear()
            .env("MUSTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("MUSTER_DATABASE_URL", &config.database_url)
            .env(
                "MUSTER_PHOTO_STORE",
                format!("file://{}", config.dir.join("photos").display()),
            )
            .env("MUSTER_DATA_DIR", config.dir)
            .env("MUSTER_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MUSTER_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", config.log_filter)
            .envs(LOAD_SETTINGS);
        for pair in config.extra_env {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--server-env {pair:?} is not KEY=VALUE"))?;
            command.env(key, value);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr,
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}) on start:\n{}", self.log_tail());
            }
            let health = client.get(format!("{}/healthz", self.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server was not healthy within 60 s:\n{}", self.log_tail())
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the server the way an orchestrator does (SIGTERM, then a grace period), so
    /// that it closes its database connections itself.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Drop kills it.
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
