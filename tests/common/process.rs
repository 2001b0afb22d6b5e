//! The real `muster` binary as a child process, for what only a process shows: signals,
//! exit codes, its own logs, and surviving a crash.
//!
//! An [`Installation`] is what a server keeps between runs; a [`Server`] is one process
//! running on it. Processes may follow one another on the same installation, so a killed
//! server can be started again on the data it left behind.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{ADMIN_PASSWORD, Backend, PgDatabase};

/// A database, a photo directory and the log every process on them appends to, in a temp
/// dir removed (and a PostgreSQL database dropped) with this value.
pub struct Installation {
    dir: tempfile::TempDir,
    database_url: String,
    _pg_database: Option<PgDatabase>,
}

impl Installation {
    /// A fresh installation on `backend`; `None` when that backend is not configured.
    pub async fn new(backend: Backend) -> Option<Installation> {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg_database) = super::database(backend, dir.path()).await?;
        Some(Installation {
            dir,
            database_url,
            _pg_database: pg_database,
        })
    }

    /// Where the local photo store keeps its files.
    pub fn photo_dir(&self) -> PathBuf {
        self.dir.path().join("photos")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// Everything the servers on this installation have written to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The binary on this installation's database and photo directory, with the test
    /// settings and nothing from the test's own environment.
    pub fn command(&self) -> Command {
        let dir = self.dir.path();
        let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
        command
            .current_dir(dir)
            .env_clear()
            .env("MUSTER_DATABASE_URL", &self.database_url)
            .env("MUSTER_PHOTO_STORE", format!("file://{}", self.photo_dir().display()))
            .env("MUSTER_DATA_DIR", dir)
            .env("MUSTER_JWT_SECRET", "test-secret-that-is-at-least-32-bytes-long")
            .env("MUSTER_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "info");
        command
    }
}

/// One `muster serve` process, killed if a test fails before it stops.
pub struct Server<'a> {
    installation: &'a Installation,
    child: Child,
    port: u16,
}

impl<'a> Server<'a> {
    /// Starts a server on `installation`, listening on a free port, with `envs` on top of
    /// the test settings, and returns once it answers `/healthz`.
    pub async fn start(installation: &'a Installation, envs: &[(&str, &str)]) -> Server<'a> {
        let port = free_port();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(installation.log_path())
            .unwrap();
        let child = installation
            .command()
            .arg("serve")
            .env("MUSTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("MUSTER_WORKERS", "2")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            installation,
            child,
            port,
        };
        server.wait_healthy().await;
        server
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address())
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(res) = client.get(self.url("/healthz")).send().await
                && res.status() == 200
            {
                return;
            }
            assert!(
                self.running(),
                "the server exited while starting; stderr:\n{}",
                self.installation.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the server did not become healthy; stderr:\n{}",
            self.installation.logs()
        );
    }

    /// Whether the process is still there (it has not exited, nor been reaped).
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn terminate(&self) {
        self.signal("TERM");
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGKILL: the process ends at once, whatever it was doing, with nothing flushed,
    /// closed or rolled back by itself. Returns once it is gone.
    pub fn kill(mut self) {
        assert!(
            self.running(),
            "the server had already exited; stderr:\n{}",
            self.installation.logs()
        );
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not exit within {within:?}; stderr:\n{}",
            self.installation.logs()
        );
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on: bound and released at once, for a server to bind a moment later.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
