//! Settings, layered: built-in defaults, then an optional TOML file (`--config` /
//! `MUSTER_CONFIG`), then `MUSTER_*` environment variables, then command-line flags.
//!
//! Every setting is declared once as a flag in [`SettingsArgs`] (which clap also reads from
//! its environment variable, so `muster --help` documents all of them) and once with its
//! default in [`Settings`]. The layers merge as JSON documents, so no per-field merging code
//! exists to fall out of date; unknown keys in the file are an error, not silently ignored.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret setting: usable, but never printed by `Debug` (and so never logged).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The effective settings of one server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub metrics_listen: Option<String>,
    pub database_url: String,
    pub database_max_connections: u32,
    pub database_acquire_timeout_s: u64,
    pub database_event_batch_max: u32,
    pub database_read_batch_max: u32,
    pub database_listen_url: Option<String>,
    pub photo_store: String,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    pub s3_force_path_style: Option<bool>,
    pub s3_server_side_encryption: Option<String>,
    pub s3_sse_kms_key_id: Option<String>,
    pub data_dir: PathBuf,
    pub jwt_secret: Option<Secret>,
    pub jwt_private_key_file: Option<PathBuf>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_s: u64,
    pub refresh_token_ttl_s: u64,
    pub bootstrap_org: String,
    pub bootstrap_timezone: String,
    pub bootstrap_admin_email: String,
    pub bootstrap_admin_password: Option<Secret>,
    pub log_format: LogFormat,
    pub trusted_proxies: Vec<String>,
    pub json_body_limit_bytes: u64,
    pub applog_body_limit_bytes: u64,
    pub applog_max_entries: u32,
    pub applog_max_depth: u32,
    pub applog_max_message_chars: u32,
    pub applog_max_text_chars: u32,
    pub applog_batches_per_minute: u32,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_ip: u32,
    pub login_failure_window_s: u64,
    pub password_hash_concurrency: Option<usize>,
    pub password_hash_max_wait_ms: u64,
    pub shutdown_timeout_s: u64,
    pub workers: Option<usize>,
    pub geofence_max_positions: usize,
    pub geofence_min_circle_radius_m: f64,
    pub geofence_max_circle_radius_m: f64,
    pub geofence_import_max_features: usize,
    pub geofence_cache_max_age_s: u64,
    pub simulate_max_events: u32,
    pub attendance_batch_max_events: usize,
    pub attendance_batch_body_limit_bytes: u64,
    pub photo_max_bytes: u64,
    pub photo_max_pixels: u64,
    pub photo_max_dimension: u32,
    pub photo_url_ttl_s: u64,
    pub photo_presign_ttl_s: u64,
    pub retention_interval_s: u64,
    pub retention_batch_size: u32,
    pub auto_check_out_interval_s: u64,
    pub auto_check_out_lookback_h: u32,
    pub photo_orphan_grace_s: u64,
    pub body_read_timeout_s: u64,
    pub client_request_timeout_s: u64,
    pub client_disconnect_timeout_s: u64,
    pub rate_limit_per_ip_per_s: u32,
    pub rate_limit_per_ip_burst: u32,
    pub rate_limit_per_user_per_s: u32,
    pub rate_limit_per_user_burst: u32,
    pub console_enabled: bool,
    pub console_tile_url: String,
    pub console_tile_attribution: String,
    pub console_tile_attribution_url: String,
    pub console_tile_max_zoom: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: None,
            database_url: "sqlite://muster-data/muster.db".into(),
            database_max_connections: 16,
            database_acquire_timeout_s: 5,
            database_event_batch_max: 128,
            database_read_batch_max: 128,
            database_listen_url: None,
            photo_store: "file://muster-data/photos".into(),
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_force_path_style: None,
            s3_server_side_encryption: None,
            s3_sse_kms_key_id: None,
            data_dir: "muster-data".into(),
            jwt_secret: None,
            jwt_private_key_file: None,
            jwt_issuer: "muster".into(),
            jwt_audience: "muster-api".into(),
            access_token_ttl_s: 15 * 60,
            refresh_token_ttl_s: 30 * 24 * 3600,
            bootstrap_org: "Default".into(),
            bootstrap_timezone: "UTC".into(),
            bootstrap_admin_email: "admin@example.com".into(),
            bootstrap_admin_password: None,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            json_body_limit_bytes: 1024 * 1024,
            applog_body_limit_bytes: 1024 * 1024,
            applog_max_entries: 1000,
            applog_max_depth: 16,
            applog_max_message_chars: 8192,
            applog_max_text_chars: 256,
            applog_batches_per_minute: 60,
            login_max_failures_per_account: 5,
            login_max_failures_per_ip: 50,
            login_failure_window_s: 15 * 60,
            password_hash_concurrency: None,
            // A login waits behind at most this many seconds of other logins' hashing;
            // at ~50 ms a hash per core, 64 logins at once clear in well under that.
            password_hash_max_wait_ms: 5_000,
            shutdown_timeout_s: 30,
            workers: None,
            geofence_max_positions: 10_000,
            geofence_min_circle_radius_m: 10.0,
            geofence_max_circle_radius_m: 50_000.0,
            geofence_import_max_features: 1_000,
            geofence_cache_max_age_s: 300,
            simulate_max_events: 100_000,
            attendance_batch_max_events: 500,
            attendance_batch_body_limit_bytes: 4 * 1024 * 1024,
            photo_max_bytes: 5 * 1024 * 1024,
            photo_max_pixels: 40_000_000,
            photo_max_dimension: 12_000,
            photo_url_ttl_s: 300,
            photo_presign_ttl_s: 300,
            retention_interval_s: 3600,
            retention_batch_size: 1000,
            // Often enough that a day is closed within minutes of its deadline; each run reads
            // only the users whose last check-in is still open.
            auto_check_out_interval_s: 300,
            // A replica down for up to three days still closes the days that came due meanwhile.
            auto_check_out_lookback_h: 72,
            // Far longer than any upload request takes between storing a photo and
            // committing the row that names it: only a crash leaves one unnamed this long.
            photo_orphan_grace_s: 24 * 3600,
            // A 5 MiB photo in 30 s needs ~1.4 Mbit/s; a slower link can be allowed more.
            body_read_timeout_s: 30,
            client_request_timeout_s: 10,
            client_disconnect_timeout_s: 2,
            // Far above what a phone sends (a check-in, a batch, some log uploads a
            // minute), high enough for an office behind one NAT address at shift start.
            rate_limit_per_ip_per_s: 50,
            rate_limit_per_ip_burst: 200,
            rate_limit_per_user_per_s: 20,
            rate_limit_per_user_burst: 100,
            console_enabled: true,
            console_tile_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            console_tile_attribution: "© OpenStreetMap contributors".into(),
            console_tile_attribution_url: "https://www.openstreetmap.org/copyright".into(),
            console_tile_max_zoom: 19,
        }
    }
}

/// The command-line and environment layer. Every field is optional: what is not given
/// falls through to the file, then the defaults.
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
pub struct SettingsArgs {
    /// TOML file with settings (same names as the flags, with `_` for `-`).
    #[arg(long, global = true, env = "MUSTER_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to serve the API on [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "MUSTER_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Separate address for /metrics; when unset /metrics is served on the API listener.
    #[arg(long, global = true, env = "MUSTER_METRICS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// sqlite://PATH or postgres://... [default: sqlite://muster-data/muster.db].
    #[arg(long, global = true, env = "MUSTER_DATABASE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Database connection pool size per server [default: 16].
    #[arg(long, global = true, env = "MUSTER_DATABASE_MAX_CONNECTIONS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_max_connections: Option<u32>,
    /// Seconds to wait for a pooled connection before answering 503 [default: 5].
    #[arg(long, global = true, env = "MUSTER_DATABASE_ACQUIRE_TIMEOUT_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_acquire_timeout_s: Option<u64>,
    /// Most attendance events one commit writes (group commit), 1 to 1000 [default: 128].
    #[arg(long, global = true, env = "MUSTER_DATABASE_EVENT_BATCH_MAX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_event_batch_max: Option<u32>,
    /// Most concurrent requests one shared read serves (caller, policy, previous event), 1 to 1000 [default: 128].
    #[arg(long, global = true, env = "MUSTER_DATABASE_READ_BATCH_MAX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_read_batch_max: Option<u32>,
    /// PostgreSQL URL for the geofence LISTEN connection, bypassing a transaction-mode pooler [default: the database URL].
    #[arg(long, global = true, env = "MUSTER_DATABASE_LISTEN_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_listen_url: Option<String>,
    /// file://DIR or s3://BUCKET/PREFIX [default: file://muster-data/photos].
    #[arg(long, global = true, env = "MUSTER_PHOTO_STORE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_store: Option<String>,
    /// S3 endpoint for S3-compatible stores (else AWS_ENDPOINT_URL_S3 / AWS).
    #[arg(long, global = true, env = "MUSTER_S3_ENDPOINT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    /// S3 region (else AWS_REGION).
    #[arg(long, global = true, env = "MUSTER_S3_REGION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_region: Option<String>,
    /// S3 access key id (else the AWS credential chain).
    #[arg(long, global = true, env = "MUSTER_S3_ACCESS_KEY_ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (else the AWS credential chain).
    #[arg(long, global = true, env = "MUSTER_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_secret_access_key: Option<Secret>,
    /// Path-style S3 addressing [default: true when an endpoint is set].
    #[arg(long, global = true, env = "MUSTER_S3_FORCE_PATH_STYLE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_force_path_style: Option<bool>,
    /// S3 server-side encryption: AES256 or aws:kms.
    #[arg(long, global = true, env = "MUSTER_S3_SERVER_SIDE_ENCRYPTION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_server_side_encryption: Option<String>,
    /// KMS key id for aws:kms server-side encryption.
    #[arg(long, global = true, env = "MUSTER_S3_SSE_KMS_KEY_ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_sse_kms_key_id: Option<String>,
    /// Directory for the generated signing key (and the embedded default's data) [default: muster-data].
    #[arg(long, global = true, env = "MUSTER_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// HS256 signing secret, at least 32 bytes.
    #[arg(long, global = true, env = "MUSTER_JWT_SECRET", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<Secret>,
    /// PEM private key (Ed25519 or RSA) to sign access tokens with.
    #[arg(long, global = true, env = "MUSTER_JWT_PRIVATE_KEY_FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_private_key_file: Option<PathBuf>,
    /// `iss` of access tokens [default: muster].
    #[arg(long, global = true, env = "MUSTER_JWT_ISSUER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_issuer: Option<String>,
    /// `aud` of access tokens [default: muster-api].
    #[arg(long, global = true, env = "MUSTER_JWT_AUDIENCE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_audience: Option<String>,
    /// Access token lifetime in seconds [default: 900].
    #[arg(long, global = true, env = "MUSTER_ACCESS_TOKEN_TTL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_s: Option<u64>,
    /// Refresh token lifetime in seconds [default: 2592000 (30 days)].
    #[arg(long, global = true, env = "MUSTER_REFRESH_TOKEN_TTL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl_s: Option<u64>,
    /// Name of the organisation created on first start [default: Default].
    #[arg(long, global = true, env = "MUSTER_BOOTSTRAP_ORG")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_org: Option<String>,
    /// Time zone of that organisation [default: UTC].
    #[arg(long, global = true, env = "MUSTER_BOOTSTRAP_TIMEZONE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_timezone: Option<String>,
    /// Email of its first org_admin [default: admin@example.com].
    #[arg(long, global = true, env = "MUSTER_BOOTSTRAP_ADMIN_EMAIL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_admin_email: Option<String>,
    /// Password of that admin; when unset a random one is printed once.
    #[arg(long, global = true, env = "MUSTER_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_admin_password: Option<Secret>,
    /// Log format [default: text].
    #[arg(long, global = true, env = "MUSTER_LOG_FORMAT", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Comma-separated proxy addresses or CIDRs whose Forwarded / X-Forwarded-For is trusted.
    #[arg(long, global = true, env = "MUSTER_TRUSTED_PROXIES", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<String>>,
    /// Largest JSON request body in bytes [default: 1048576].
    #[arg(long, global = true, env = "MUSTER_JSON_BODY_LIMIT_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_body_limit_bytes: Option<u64>,
    /// Largest app-log upload (JSON or protobuf) in bytes (413 beyond) [default: 1048576].
    #[arg(long, global = true, env = "MUSTER_APPLOG_BODY_LIMIT_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applog_body_limit_bytes: Option<u64>,
    /// Most entries in one app-log upload (422 beyond) [default: 1000].
    #[arg(long, global = true, env = "MUSTER_APPLOG_MAX_ENTRIES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applog_max_entries: Option<u32>,
    /// Deepest nesting of app-log `attrs` and `app_config` objects (422 beyond) [default: 16].
    #[arg(long, global = true, env = "MUSTER_APPLOG_MAX_DEPTH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applog_max_depth: Option<u32>,
    /// Longest app-log message, and string inside `attrs` / `app_config`, in characters [default: 8192].
    #[arg(long, global = true, env = "MUSTER_APPLOG_MAX_MESSAGE_CHARS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applog_max_message_chars: Option<u32>,
    /// Longest app-log `event`, object key and device field, in characters [default: 256].
    #[arg(long, global = true, env = "MUSTER_APPLOG_MAX_TEXT_CHARS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applog_max_text_chars: Option<u32>,
    /// App-log uploads per user per minute before 429 [default: 60].
    #[arg(long, global = true, env = "MUSTER_APPLOG_BATCHES_PER_MINUTE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applog_batches_per_minute: Option<u32>,
    /// Failed logins per account within the window before 429 [default: 5].
    #[arg(long, global = true, env = "MUSTER_LOGIN_MAX_FAILURES_PER_ACCOUNT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_max_failures_per_account: Option<u32>,
    /// Failed logins per client address within the window before 429 [default: 50].
    #[arg(long, global = true, env = "MUSTER_LOGIN_MAX_FAILURES_PER_IP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_max_failures_per_ip: Option<u32>,
    /// Window of the failed-login limits in seconds [default: 900].
    #[arg(long, global = true, env = "MUSTER_LOGIN_FAILURE_WINDOW_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_failure_window_s: Option<u64>,
    /// Password hashes (argon2, 19 MiB each) running at once; more wait [default: one per core].
    #[arg(long, global = true, env = "MUSTER_PASSWORD_HASH_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash_concurrency: Option<usize>,
    /// Milliseconds a login may wait for a hashing slot before 503 [default: 5000].
    #[arg(long, global = true, env = "MUSTER_PASSWORD_HASH_MAX_WAIT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash_max_wait_ms: Option<u64>,
    /// Seconds to drain in-flight requests on SIGTERM/SIGINT [default: 30].
    #[arg(long, global = true, env = "MUSTER_SHUTDOWN_TIMEOUT_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout_s: Option<u64>,
    /// HTTP worker threads [default: one per core].
    #[arg(long, global = true, env = "MUSTER_WORKERS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Most positions one geofence geometry may have [default: 10000].
    #[arg(long, global = true, env = "MUSTER_GEOFENCE_MAX_POSITIONS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geofence_max_positions: Option<usize>,
    /// Smallest circle geofence radius in metres [default: 10].
    #[arg(long, global = true, env = "MUSTER_GEOFENCE_MIN_CIRCLE_RADIUS_M")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geofence_min_circle_radius_m: Option<f64>,
    /// Largest circle geofence radius in metres [default: 50000].
    #[arg(long, global = true, env = "MUSTER_GEOFENCE_MAX_CIRCLE_RADIUS_M")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geofence_max_circle_radius_m: Option<f64>,
    /// Most features one geofence import may carry [default: 1000].
    #[arg(long, global = true, env = "MUSTER_GEOFENCE_IMPORT_MAX_FEATURES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geofence_import_max_features: Option<usize>,
    /// Seconds a cached geofence index lives without a change notification [default: 300].
    #[arg(long, global = true, env = "MUSTER_GEOFENCE_CACHE_MAX_AGE_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geofence_cache_max_age_s: Option<u64>,
    /// Most past events one geofence simulation may re-judge [default: 100000].
    #[arg(long, global = true, env = "MUSTER_SIMULATE_MAX_EVENTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulate_max_events: Option<u32>,
    /// Most events one check-in batch may carry; more is a 422 [default: 500].
    #[arg(long, global = true, env = "MUSTER_ATTENDANCE_BATCH_MAX_EVENTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance_batch_max_events: Option<usize>,
    /// Largest check-in batch body in bytes (413 beyond) [default: 4194304].
    #[arg(long, global = true, env = "MUSTER_ATTENDANCE_BATCH_BODY_LIMIT_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance_batch_body_limit_bytes: Option<u64>,
    /// Largest photo upload in bytes [default: 5242880].
    #[arg(long, global = true, env = "MUSTER_PHOTO_MAX_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_max_bytes: Option<u64>,
    /// Most pixels a photo may declare; larger ones are refused before decoding [default: 40000000].
    #[arg(long, global = true, env = "MUSTER_PHOTO_MAX_PIXELS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_max_pixels: Option<u64>,
    /// Longest side a photo may declare, in pixels [default: 12000].
    #[arg(long, global = true, env = "MUSTER_PHOTO_MAX_DIMENSION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_max_dimension: Option<u32>,
    /// Lifetime of signed photo download URLs in seconds, at most 300 [default: 300].
    #[arg(long, global = true, env = "MUSTER_PHOTO_URL_TTL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_url_ttl_s: Option<u64>,
    /// Lifetime of presigned photo upload URLs in seconds [default: 300].
    #[arg(long, global = true, env = "MUSTER_PHOTO_PRESIGN_TTL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_presign_ttl_s: Option<u64>,
    /// Seconds between retention runs; 0 turns the background job off [default: 3600].
    #[arg(long, global = true, env = "MUSTER_RETENTION_INTERVAL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_interval_s: Option<u64>,
    /// Rows per retention batch (one short transaction each), and photo-store entries per page of the orphan sweep; 1 to 10000 [default: 1000].
    #[arg(long, global = true, env = "MUSTER_RETENTION_BATCH_SIZE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_batch_size: Option<u32>,
    /// Seconds between auto check-out runs (the policy's `auto_check_out_after_h`); 0 turns the background job off [default: 300].
    #[arg(long, global = true, env = "MUSTER_AUTO_CHECK_OUT_INTERVAL_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_check_out_interval_s: Option<u64>,
    /// Hours past a day's auto check-out deadline that a run still closes it (after downtime); 1 to 720 [default: 72].
    #[arg(long, global = true, env = "MUSTER_AUTO_CHECK_OUT_LOOKBACK_H")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_check_out_lookback_h: Option<u32>,
    /// Age in seconds at which a photo object no database row names (left by a crash) is deleted by retention; 0 only for tests [default: 86400].
    #[arg(long, global = true, env = "MUSTER_PHOTO_ORPHAN_GRACE_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_orphan_grace_s: Option<u64>,
    /// Seconds a client has to send a whole request body before 408 [default: 30].
    #[arg(long, global = true, env = "MUSTER_BODY_READ_TIMEOUT_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_read_timeout_s: Option<u64>,
    /// Seconds a client has to send a request's head (line and headers) before 408 [default: 10].
    #[arg(long, global = true, env = "MUSTER_CLIENT_REQUEST_TIMEOUT_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_timeout_s: Option<u64>,
    /// Seconds to wait for a client to close its side once the server closes a connection [default: 2].
    #[arg(long, global = true, env = "MUSTER_CLIENT_DISCONNECT_TIMEOUT_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_disconnect_timeout_s: Option<u64>,
    /// Requests per second per client address, per replica; 0 disables [default: 50].
    #[arg(long, global = true, env = "MUSTER_RATE_LIMIT_PER_IP_PER_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_ip_per_s: Option<u32>,
    /// Requests a client address may send at once before its per-second rate applies [default: 200].
    #[arg(long, global = true, env = "MUSTER_RATE_LIMIT_PER_IP_BURST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_ip_burst: Option<u32>,
    /// Requests per second per authenticated user, per replica; 0 disables [default: 20].
    #[arg(long, global = true, env = "MUSTER_RATE_LIMIT_PER_USER_PER_S")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_user_per_s: Option<u32>,
    /// Requests a user may send at once before their per-second rate applies [default: 100].
    #[arg(long, global = true, env = "MUSTER_RATE_LIMIT_PER_USER_BURST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_user_burst: Option<u32>,
    /// Serve the web console at /console/ [default: true].
    #[arg(long, global = true, env = "MUSTER_CONSOLE_ENABLED")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_enabled: Option<bool>,
    /// Map tiles of the console, an http(s) URL with {z}, {x}, {y} (and optionally {s} as the first host label), or `off` for a blank map [default: https://tile.openstreetmap.org/{z}/{x}/{y}.png].
    #[arg(long, global = true, env = "MUSTER_CONSOLE_TILE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_tile_url: Option<String>,
    /// Attribution text the console shows for its tiles [default: © OpenStreetMap contributors].
    #[arg(long, global = true, env = "MUSTER_CONSOLE_TILE_ATTRIBUTION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_tile_attribution: Option<String>,
    /// Where the tile attribution links to; `off` for no link [default: https://www.openstreetmap.org/copyright].
    #[arg(long, global = true, env = "MUSTER_CONSOLE_TILE_ATTRIBUTION_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_tile_attribution_url: Option<String>,
    /// Highest zoom level the tile server offers, 1 to 24 [default: 19].
    #[arg(long, global = true, env = "MUSTER_CONSOLE_TILE_MAX_ZOOM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_tile_max_zoom: Option<u8>,
}

impl Settings {
    /// Merges the layers and checks the result.
    pub fn load(args: &SettingsArgs) -> anyhow::Result<Settings> {
        let mut merged = serde_json::to_value(Settings::default())?;
        if let Some(path) = &args.config {
            merge(&mut merged, read_file_layer(path)?);
        }
        merge(&mut merged, serde_json::to_value(args)?);
        let settings: Settings = serde_json::from_value(merged).context("invalid settings")?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn hash_limits(&self) -> crate::auth::password::HashLimits {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        crate::auth::password::HashLimits {
            concurrency: self.password_hash_concurrency.unwrap_or(cores),
            max_wait: std::time::Duration::from_millis(self.password_hash_max_wait_ms),
        }
    }

    pub fn geometry_limits(&self) -> crate::geofence::GeometryLimits {
        crate::geofence::GeometryLimits {
            max_positions: self.geofence_max_positions,
            min_circle_radius_m: self.geofence_min_circle_radius_m,
            max_circle_radius_m: self.geofence_max_circle_radius_m,
        }
    }

    /// The S3 part of the settings, as the photo store takes it.
    pub fn s3_options(&self) -> crate::photos::S3Options {
        crate::photos::S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.as_ref().map(|s| s.expose().to_owned()),
            force_path_style: self.s3_force_path_style,
            server_side_encryption: self.s3_server_side_encryption.clone(),
            sse_kms_key_id: self.s3_sse_kms_key_id.clone(),
        }
    }

    /// The console's tile source, `None` when tiles are off (the console then draws on a
    /// blank background).
    pub fn console_tiles(&self) -> anyhow::Result<Option<TileSource>> {
        TileSource::parse(&self.console_tile_url)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.console_tiles()?;
        if !(1..=24).contains(&self.console_tile_max_zoom) {
            bail!("console_tile_max_zoom must be 1 to 24");
        }
        let link = &self.console_tile_attribution_url;
        if link != OFF && !(link.starts_with("https://") || link.starts_with("http://")) {
            bail!("console_tile_attribution_url must be an http(s) URL or `off`");
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            bail!("MUSTER_JWT_SECRET must be at least 32 bytes");
        }
        if self.photo_url_ttl_s == 0 || self.photo_url_ttl_s > 300 {
            bail!("photo_url_ttl_s must be 1 to 300 seconds: signed photo links are short-lived");
        }
        if self.database_max_connections == 0 {
            bail!("database_max_connections must be at least 1");
        }
        if crate::storage::is_postgres_url(&self.database_url)
            && self.database_listen_url.is_none()
            && self.database_max_connections < 2
        {
            // Otherwise the server cannot start: the listener would wait for a second one.
            bail!(
                "database_max_connections must be at least 2 on PostgreSQL without database_listen_url: \
                 the geofence change listener keeps one of the pool's connections"
            );
        }
        if self.password_hash_concurrency == Some(0) {
            bail!("password_hash_concurrency must be at least 1");
        }
        if let Some(url) = &self.database_listen_url
            && !crate::storage::is_postgres_url(url)
        {
            bail!("database_listen_url must be a postgres:// URL (SQLite needs no listener)");
        }
        // 25 parameters per event: 1000 stays within SQLite's 32,766 per statement.
        if !(1..=1000).contains(&self.database_event_batch_max) {
            bail!("database_event_batch_max must be 1 to 1000");
        }
        // At most 3 parameters per request, beside at most 1,000 look-ups of 5 each: within
        // SQLite's 32,766 per statement.
        if !(1..=1000).contains(&self.database_read_batch_max) {
            bail!("database_read_batch_max must be 1 to 1000");
        }
        if self.access_token_ttl_s == 0 || self.refresh_token_ttl_s == 0 {
            bail!("token lifetimes must be positive");
        }
        if self.body_read_timeout_s == 0 || self.client_request_timeout_s == 0 {
            bail!("body_read_timeout_s and client_request_timeout_s must be positive");
        }
        if (self.rate_limit_per_ip_per_s > 0 && self.rate_limit_per_ip_burst == 0)
            || (self.rate_limit_per_user_per_s > 0 && self.rate_limit_per_user_burst == 0)
        {
            bail!("a rate limit's burst must be at least 1 (set the rate to 0 to disable the limit)");
        }
        // The orphan sweep binds one key per stored entry of a page: stay far within
        // SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
        if !(1..=10_000).contains(&self.retention_batch_size) {
            bail!("retention_batch_size must be 1 to 10000");
        }
        if !(1..=720).contains(&self.auto_check_out_lookback_h) {
            bail!("auto_check_out_lookback_h must be 1 to 720");
        }
        if self.applog_batches_per_minute == 0 || self.applog_max_entries == 0 || self.applog_max_depth == 0 {
            bail!("applog_batches_per_minute, applog_max_entries and applog_max_depth must be at least 1");
        }
        if !crate::org::is_valid_timezone(&self.bootstrap_timezone) {
            bail!(
                "bootstrap_timezone {:?} is not an IANA time zone",
                self.bootstrap_timezone
            );
        }
        Ok(())
    }
}

/// The value that turns an optional URL setting off.
pub const OFF: &str = "off";

/// A map tile URL template and the origin the console's Content-Security-Policy must allow
/// images from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileSource {
    /// The template as Leaflet takes it: `https://tile.example/{z}/{x}/{y}.png`.
    pub url: String,
    /// `https://tile.example`, or `https://*.tile.example` for a `{s}` subdomain template.
    pub origin: String,
}

impl TileSource {
    /// `None` for `off` (or an empty value, as a config file may write it).
    ///
    /// The origin goes into a response header verbatim, so the host is held to the letters
    /// a DNS name or IPv4 address uses and the path to characters that cannot end a CSP
    /// source or a quoted string: a setting must never be able to widen the policy.
    fn parse(template: &str) -> anyhow::Result<Option<TileSource>> {
        let template = template.trim();
        if template.is_empty() || template == OFF {
            return Ok(None);
        }
        let refuse = |why: &str| anyhow::anyhow!("console_tile_url {template:?}: {why}");
        let (scheme, rest) = template
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "https" | "http"))
            .ok_or_else(|| refuse("must start with https:// or http://, or be `off`"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(refuse("the port must be a number"));
        }
        let labels: Vec<&str> = host.split('.').collect();
        let host_ok = labels.iter().enumerate().all(|(i, label)| {
            (i == 0 && *label == "{s}" && labels.len() > 2)
                || (!label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        });
        if !host_ok {
            return Err(refuse(
                "the host must be a DNS name or IPv4 address, with {s} only as its first label",
            ));
        }
        if !["{z}", "{x}", "{y}"].iter().all(|p| path.contains(p)) {
            return Err(refuse("the path must contain {z}, {x} and {y}"));
        }
        if path
            .chars()
            .any(|c| !c.is_ascii_graphic() || matches!(c, ';' | ',' | '\'' | '"' | '<' | '>' | '\\' | '`'))
        {
            return Err(refuse("the path has a character a URL template does not need"));
        }
        let host = host
            .strip_prefix("{s}")
            .map_or(host.to_owned(), |rest| format!("*{rest}"));
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Some(TileSource {
            url: template.to_owned(),
            origin: format!("{scheme}://{host}{port}"),
        }))
    }
}

fn read_file_layer(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
    Ok(serde_json::to_value(value)?)
}

/// Overlays `top` on `base`, key by key.
fn merge(base: &mut serde_json::Value, top: serde_json::Value) {
    match (base, top) {
        (serde_json::Value::Object(base), serde_json::Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("muster.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\nworkers = 3\n").unwrap();
        let args = SettingsArgs {
            config: Some(file),
            workers: Some(5),
            ..Default::default()
        };
        let s = Settings::load(&args).unwrap();
        assert_eq!(s.listen, "0.0.0.0:9000");
        assert_eq!(s.workers, Some(5));
        assert_eq!(s.jwt_issuer, "muster");
    }

    #[test]
    fn unknown_file_keys_and_short_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("muster.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        assert!(
            Settings::load(&SettingsArgs {
                config: Some(file),
                ..Default::default()
            })
            .is_err()
        );
        let args = SettingsArgs {
            jwt_secret: Some(Secret::new("short")),
            ..Default::default()
        };
        assert!(Settings::load(&args).is_err());
    }

    #[test]
    fn tile_sources_are_held_to_what_a_csp_source_may_be() {
        let osm = TileSource::parse(&Settings::default().console_tile_url)
            .unwrap()
            .unwrap();
        assert_eq!(osm.origin, "https://tile.openstreetmap.org");
        let sub = TileSource::parse("https://{s}.tiles.example.org/{z}/{x}/{y}@2x.png?key=abc")
            .unwrap()
            .unwrap();
        assert_eq!(sub.origin, "https://*.tiles.example.org");
        let local = TileSource::parse("http://127.0.0.1:8099/{z}/{x}/{y}.png")
            .unwrap()
            .unwrap();
        assert_eq!(local.origin, "http://127.0.0.1:8099");
        assert_eq!(TileSource::parse("off").unwrap(), None);
        assert_eq!(TileSource::parse("").unwrap(), None);
        for bad in [
            "ftp://tiles.example/{z}/{x}/{y}.png",
            "https://tiles.example/{z}/{x}.png",
            "https://tiles.example; script-src *;/{z}/{x}/{y}",
            "https://tiles.example/{z}/{x}/{y}.png; script-src 'unsafe-inline'",
            "https://user@tiles.example/{z}/{x}/{y}.png",
            "https://tiles.{s}.example/{z}/{x}/{y}.png",
            "https://*.example/{z}/{x}/{y}.png",
            "https://tiles.example:80a/{z}/{x}/{y}.png",
            "https://tiles.example/{z}/{x}/{y}.png\r\nx: y",
        ] {
            assert!(TileSource::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_postgres_pool_leaves_room_beside_the_listener() {
        let settings = |url: &str, listen: Option<&str>| SettingsArgs {
            database_url: Some(url.to_owned()),
            database_listen_url: listen.map(str::to_owned),
            database_max_connections: Some(1),
            ..Default::default()
        };
        let err = Settings::load(&settings("postgres://db/muster", None)).unwrap_err();
        assert!(err.to_string().contains("database_max_connections"), "{err}");
        Settings::load(&settings("postgres://db/muster", Some("postgres://db/muster"))).unwrap();
        Settings::load(&settings("sqlite://muster.db", None)).unwrap();
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings {
            jwt_secret: Some(Secret::new("x".repeat(40))),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("xxxx"));
    }
}
