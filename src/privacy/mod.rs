//! Privacy rights and retention: erasing what the server holds about a person, and
//! removing locations, photos and app logs older than the organisation's retention policy,
//! and photo objects no row names ([`orphans`]).
//!
//! Both work the same way: the database forgets first, in a transaction; then the photo
//! objects marked for deletion are removed from the store, and each is confirmed only once
//! it is gone. A failed store delete is retried by the next erasure or retention run, so
//! nothing is left behind and nothing is removed twice.

mod error;
pub mod export;
mod orphans;
mod purged;

pub use error::PrivacyError;
pub use purged::Purged;

use chrono::{Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

use crate::photos::{PhotoKey, PhotoStore};
use crate::storage::Repo;
use crate::storage::audit::AuditEntry;

/// How a retention run works through its backlog.
#[derive(Clone, Copy, Debug)]
pub struct RetentionOptions {
    /// Rows per transaction, and store entries per page of the orphan sweep.
    pub batch: u32,
    /// How old an unnamed photo object must be before the sweep deletes it.
    pub orphan_grace: std::time::Duration,
}

impl From<&crate::config::Settings> for RetentionOptions {
    fn from(settings: &crate::config::Settings) -> Self {
        RetentionOptions {
            batch: settings.retention_batch_size,
            orphan_grace: std::time::Duration::from_secs(settings.photo_orphan_grace_s),
        }
    }
}

/// Deletes the stored objects of photos marked deleted (of one user, or of the org).
async fn delete_marked_photos(
    repo: &dyn Repo,
    photos: &dyn PhotoStore,
    org_id: Uuid,
    user_id: Option<Uuid>,
    batch: u32,
) -> Result<u64, PrivacyError> {
    let mut deleted = 0;
    loop {
        let marked = repo.photos_to_delete(org_id, user_id, batch).await?;
        if marked.is_empty() {
            return Ok(deleted);
        }
        for (photo_id, key) in marked {
            photos.delete(&PhotoKey::from_stored(key)?).await?;
            repo.photo_deleted(org_id, photo_id).await?;
            deleted += 1;
        }
    }
}

/// Erases a user's personal data: locations, device data, notes, app logs, photos (from
/// the store too). The attendance skeleton stays. Idempotent; `false` if no such user.
pub async fn erase(
    repo: &dyn Repo,
    photos: &dyn PhotoStore,
    org_id: Uuid,
    user_id: Uuid,
    audit: &AuditEntry,
    batch: u32,
) -> Result<bool, PrivacyError> {
    if !repo.erase_user_data(org_id, user_id, audit).await? {
        return Ok(false);
    }
    delete_marked_photos(repo, photos, org_id, Some(user_id), batch).await?;
    Ok(true)
}

/// Runs `step` in batches until it has nothing left, or another replica holds the lock.
async fn drain<F, Fut>(purged: &mut u64, skipped: &mut u64, mut step: F) -> Result<(), PrivacyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::storage::Result<Option<u64>>>,
{
    loop {
        match step().await? {
            None => {
                *skipped += 1;
                return Ok(());
            }
            Some(0) => return Ok(()),
            Some(n) => *purged += n,
        }
    }
}

/// One retention run over every organisation, by each one's policy, then the orphan sweep
/// over the whole store. The run is recorded in the metrics whatever its outcome, with
/// what it removed before any failure ([`Purged::record`]).
pub async fn run_retention(
    repo: &dyn Repo,
    photos: &dyn PhotoStore,
    options: RetentionOptions,
) -> Result<Purged, PrivacyError> {
    let started = std::time::Instant::now();
    let mut purged = Purged::default();
    let outcome = purge(repo, photos, options, &mut purged).await;
    purged.record(started.elapsed(), outcome.is_ok());
    outcome.map(|()| purged)
}

async fn purge(
    repo: &dyn Repo,
    photos: &dyn PhotoStore,
    options: RetentionOptions,
    purged: &mut Purged,
) -> Result<(), PrivacyError> {
    let batch = options.batch;
    let now = Utc::now();
    for org_id in repo.org_ids().await? {
        let retention = repo.get_policy(org_id).await?.retention;
        let days = |d: u32| now - Duration::days(i64::from(d));
        let (locations_before, photos_before, logs_before) = (
            days(retention.location_days),
            days(retention.photo_days),
            days(retention.applog_days),
        );
        drain(&mut purged.locations, &mut purged.skipped, || {
            repo.expire_locations(org_id, locations_before, batch)
        })
        .await?;
        let mut marked = 0;
        drain(&mut marked, &mut purged.skipped, || {
            repo.expire_photos(org_id, photos_before, batch)
        })
        .await?;
        purged.photos += delete_marked_photos(repo, photos, org_id, None, batch).await?;
        drain(&mut purged.app_log_batches, &mut purged.skipped, || {
            repo.expire_app_logs(org_id, logs_before, batch)
        })
        .await?;
    }
    orphans::sweep(repo, photos, options.orphan_grace, batch, purged).await
}

/// The background retention job: every `interval`, one run; failures are logged and the
/// next run retries.
pub fn spawn_retention(
    repo: Arc<dyn Repo>,
    photos: Arc<dyn PhotoStore>,
    interval: std::time::Duration,
    options: RetentionOptions,
) {
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match run_retention(repo.as_ref(), photos.as_ref(), options).await {
                Ok(purged) => tracing::info!(?purged, "retention run finished"),
                Err(e) => tracing::warn!(error = %e, "retention run failed; the next run retries"),
            }
        }
    });
}
