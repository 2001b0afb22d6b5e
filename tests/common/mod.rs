//! Test harness: a real server on port 0 with its own database, per test.
//!
//! SQLite tests get a fresh file in a temp dir. PostgreSQL tests get a fresh database
//! created on the server named by `MUSTER_TEST_POSTGRES_URL` and dropped afterwards. When
//! `MUSTER_TEST_POSTGRES=required` (as in CI) a missing or unreachable PostgreSQL fails the
//! test instead of skipping it.

#![allow(dead_code)]

pub mod process;
pub mod s3;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use muster::config::{Secret, Settings};
use muster::startup::Application;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "bootstrap-admin-password";
pub const PASSWORD: &str = "a-long-enough-password";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates each test once per backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block)*) => {
        $( $(#[$meta])* async fn $name($app: $crate::common::TestApp) $body )*
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await { super::$name(app).await }
               } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await { super::$name(app).await }
               } )*
        }
    };
}

pub struct TestApp {
    pub backend: Backend,
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    _dir: tempfile::TempDir,
    _pg_database: Option<PgDatabase>,
}

/// An answer: status, headers and the JSON body (`Null` when empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self.body
    }

    /// Asserts a problem+json error with this status and code; returns the body.
    #[track_caller]
    pub fn problem(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        let ct = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(ct, "application/problem+json", "not a problem document: {}", self.text);
        assert_eq!(self.body["code"], code, "unexpected code; body: {}", self.text);
        assert_eq!(self.body["status"], status);
        self.body
    }
}

fn postgres_required() -> bool {
    std::env::var("MUSTER_TEST_POSTGRES").is_ok_and(|v| v == "required")
}

/// A database of its own on the PostgreSQL server named by `MUSTER_TEST_POSTGRES_URL`,
/// dropped with this value.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

/// The server `MUSTER_TEST_POSTGRES=required` means when `MUSTER_TEST_POSTGRES_URL` names none:
/// the one `.ci/run` and the README use, so `required` alone is enough on a developer's machine.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `None` (the test is skipped) when PostgreSQL is not configured or unreachable, unless
/// `MUSTER_TEST_POSTGRES=required`.
async fn create_pg_database() -> Option<PgDatabase> {
    let admin_url = match std::env::var("MUSTER_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) if postgres_required() => DEFAULT_POSTGRES_URL.to_owned(),
        Err(_) => {
            eprintln!("skipping: MUSTER_TEST_POSTGRES_URL is not set");
            return None;
        }
    };
    let name = format!("muster_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = match <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => {
            assert!(!postgres_required(), "PostgreSQL is required but unreachable: {e}");
            eprintln!("skipping: PostgreSQL unreachable: {e}");
            return None;
        }
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
    Some(PgDatabase {
        url: format!("{base}/{name}"),
        admin_url,
        name,
    })
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async context guarantees; use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A fresh database on `backend`: its URL, and the PostgreSQL database to drop when the
/// test is done. SQLite's is a file in `dir`. `None` when the backend is not configured.
pub async fn database(backend: Backend, dir: &std::path::Path) -> Option<(String, Option<PgDatabase>)> {
    match backend {
        Backend::Sqlite => Some((format!("sqlite://{}", dir.join("muster.db").display()), None)),
        Backend::Postgres => {
            let database = create_pg_database().await?;
            Some((database.url.clone(), Some(database)))
        }
    }
}

/// The body of `POST /v1/users` for a user with the test password.
pub fn new_user(email: &str, roles: &[&str], manager_id: Option<&str>) -> Value {
    json!({
        "email": email, "name": email.split('@').next().unwrap_or(email),
        "employee_code": format!("E-{}", uuid::Uuid::new_v4().simple()),
        "manager_id": manager_id, "roles": roles, "password": PASSWORD,
    })
}

pub fn test_settings(dir: &std::path::Path, database_url: String) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        database_url,
        database_max_connections: 8,
        photo_store: format!("file://{}", dir.join("photos").display()),
        data_dir: dir.to_path_buf(),
        jwt_secret: Some(Secret::new("test-secret-that-is-at-least-32-bytes-long")),
        bootstrap_admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        workers: Some(2),
        // Every test client is 127.0.0.1 and some tests send hundreds of requests: the
        // rate-limit tests switch on the limits they test.
        rate_limit_per_ip_per_s: 0,
        rate_limit_per_user_per_s: 0,
        // Tests run auto check-out themselves, at the instants they choose.
        auto_check_out_interval_s: 0,
        ..Settings::default()
    }
}

impl TestApp {
    /// A server on a fresh database; `None` when the backend is not configured (skipped).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
        // Server logs bypass the test harness's capture; opt in when debugging.
        if std::env::var_os("MUSTER_TEST_LOG").is_some() {
            muster::telemetry::init_logging(muster::config::LogFormat::Text);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_database) = database(backend, dir.path()).await?;
        let mut settings = test_settings(dir.path(), database_url);
        tweak(&mut settings);
        let app = Application::build(settings.clone()).await.expect("server builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Some(TestApp {
            backend,
            address,
            client,
            settings,
            _dir: dir,
            _pg_database: pg_database,
        })
    }

    /// Another server on the same database and settings: a second replica.
    pub async fn replica(&self) -> String {
        self.replica_with(|_| {}).await
    }

    /// Another server on this test's database, with its settings changed by `tweak`.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Settings)) -> String {
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        let app = Application::build(settings).await.expect("replica builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }

    /// Runs one SQL statement on this test's database: only for time travel (backdating
    /// rows) or to inject a fault, never to set up what the API can.
    pub async fn sql(&self, statement: &str) {
        let url = &self.settings.database_url;
        let statement = sqlx::AssertSqlSafe(statement.to_owned());
        if url.starts_with("postgres") {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .expect("connect");
            sqlx::query(statement).execute(&mut conn).await.expect("statement");
        } else {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
                .await
                .expect("connect");
            sqlx::query(statement).execute(&mut conn).await.expect("statement");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// This server's retention settings with `batch` rows per round.
    pub fn retention(&self, batch: u32) -> muster::privacy::RetentionOptions {
        muster::privacy::RetentionOptions {
            batch,
            ..muster::privacy::RetentionOptions::from(&self.settings)
        }
    }

    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Self::answer(req.send().await.expect("request sent")).await
    }

    pub async fn answer(res: reqwest::Response) -> Answer {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(token), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(token), Some(&body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login_answer(&self, email: &str, password: &str) -> Answer {
        self.send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({ "email": email, "password": password })),
        )
        .await
    }

    /// Logs in and returns the whole token answer.
    pub async fn login_tokens(&self, email: &str, password: &str) -> Value {
        self.login_answer(email, password).await.expect(200)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        self.login_tokens(email, password).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates a user (as `token`) with the test password; returns the user object.
    pub async fn create_user(&self, token: &str, email: &str, roles: &[&str], manager_id: Option<&str>) -> Value {
        self.post("/v1/users", token, new_user(email, roles, manager_id))
            .await
            .expect(201)
    }

    /// Creates a user and logs them in: (user, token).
    pub async fn user(&self, admin: &str, email: &str, roles: &[&str], manager_id: Option<&str>) -> (Value, String) {
        let user = self.create_user(admin, email, roles, manager_id).await;
        let token = self.login(email, PASSWORD).await;
        (user, token)
    }

    /// A second organisation (tenant) with its own admin, made the operator's way.
    pub async fn second_org(&self, admin_email: &str) -> String {
        let settings = self.settings.clone();
        let repo = muster::startup::open_repo(&settings).await.expect("repo");
        muster::bootstrap::create_org(
            repo.as_ref(),
            "Other Org",
            "Europe/Berlin",
            admin_email,
            Some(ADMIN_PASSWORD),
        )
        .await
        .expect("org created")
        .expect("no conflict");
        self.login(admin_email, ADMIN_PASSWORD).await
    }
}
