//! What every request handler shares.

use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::jwt::Keys;
use crate::auth::password::Hasher;
use crate::auth::throttle::FailureThrottle;
use crate::config::Settings;
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::RateLimits;
use crate::photos::{IngestLimits, PhotoStore};
use crate::sites::FenceCache;
use crate::storage::Repo;
use crate::uploads::Uploads;

pub struct AppState {
    pub repo: Arc<dyn Repo>,
    pub photos: Arc<dyn PhotoStore>,
    /// What an uploaded photo may be (`MUSTER_PHOTO_MAX_*`).
    pub photo_limits: IngestLimits,
    pub fences: Arc<FenceCache>,
    pub keys: Keys,
    pub settings: Settings,
    pub trusted_proxies: TrustedProxies,
    pub login_failures_by_account: FailureThrottle,
    pub login_failures_by_ip: FailureThrottle,
    /// Every request's password hashing, bounded (`MUSTER_PASSWORD_HASH_*`).
    pub hasher: Hasher,
    /// App-log uploads per user (`MUSTER_APPLOG_BATCHES_PER_MINUTE`).
    pub applog_uploads: crate::limit::KeyedLimiter<uuid::Uuid>,
    pub metrics: PrometheusHandle,
    pub rate_limits: RateLimits,
}

impl AppState {
    pub fn new(
        settings: Settings,
        repo: Arc<dyn Repo>,
        photos: Arc<dyn PhotoStore>,
        metrics: PrometheusHandle,
    ) -> anyhow::Result<Self> {
        let window = Duration::from_secs(settings.login_failure_window_s);
        let fences = Arc::new(FenceCache::new(
            repo.clone(),
            settings.geometry_limits(),
            Duration::from_secs(settings.geofence_cache_max_age_s),
        ));
        fences.spawn_listener();
        Ok(AppState {
            fences,
            keys: Keys::from_settings(&settings)?,
            trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)?,
            login_failures_by_account: FailureThrottle::new(settings.login_max_failures_per_account, window),
            login_failures_by_ip: FailureThrottle::new(settings.login_max_failures_per_ip, window),
            hasher: Hasher::new(settings.hash_limits()),
            rate_limits: RateLimits::new(&settings),
            applog_uploads: crate::limit::KeyedLimiter::per_minute(settings.applog_batches_per_minute),
            photo_limits: IngestLimits {
                max_bytes: settings.photo_max_bytes,
                max_pixels: settings.photo_max_pixels,
                max_dimension: settings.photo_max_dimension,
            },
            repo,
            photos,
            settings,
            metrics,
        })
    }
}

impl AppState {
    /// The ports of photo uploads and claims.
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads {
            repo: &*self.repo,
            store: &self.photos,
            limits: &self.photo_limits,
        }
    }
}
