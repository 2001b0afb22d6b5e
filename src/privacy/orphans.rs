//! The orphan sweep: photo objects that no database row names.
//!
//! A photo is written to the store before the row that names it is committed, and
//! `PendingPhoto` deletes the object again if that commit fails. A process killed in
//! between (SIGKILL, OOM, power) never runs that guard, so the object stays, and as
//! erasure and retention find photos only through their rows, it would stay for good: a
//! selfie kept after its owner was erased. The sweep lists the store and deletes every
//! object older than the grace period whose key no pending or ready photo names.
//!
//! Why this cannot delete a photo that is, or will be, in use: a row naming a key is
//! written either before the object exists (a presigned upload's `pending` row) or by
//! the request that stored the object, right after storing it. So an object older than
//! the grace (a day by default, far beyond any request) with no such row never gets one.
//! The same argument makes concurrent sweeps on several replicas safe: they can only
//! agree on what is an orphan, and deleting one twice is a no-op. They take turns anyway
//! (each page's check holds the retention lock; a replica that finds it taken skips the
//! rest of its sweep), so the store is not listed by every replica at once.
//!
//! Like the rest of retention, the sweep is not audited: no one asked for it and it
//! removes nothing any row or answer refers to. It logs each object; the run counts them in
//! `muster_retention_removed_total{what="orphans"|"leftovers"}` (see `purged`).

use std::collections::HashSet;

use chrono::Utc;

use super::error::PrivacyError;
use super::purged::Purged;
use crate::photos::{ListedPage, PhotoStore};
use crate::storage::Repo;

/// Deletes the orphaned objects and leftovers of interrupted writes older than
/// `grace`, a page of at most `batch` stored entries (one database query) at a time,
/// adding what it removed to `purged`.
pub(super) async fn sweep(
    repo: &dyn Repo,
    photos: &dyn PhotoStore,
    grace: std::time::Duration,
    batch: u32,
    purged: &mut Purged,
) -> Result<(), PrivacyError> {
    let older_than = Utc::now() - grace;
    let mut listing = photos.list(older_than, batch);
    while let Some(page) = listing.next_page().await? {
        count_leftovers(&page, purged);
        let keys: Vec<String> = page.photos.iter().map(|p| p.key.as_str().to_owned()).collect();
        let Some(unreferenced) = repo.unreferenced_photo_keys(&keys).await? else {
            purged.skipped += 1;
            return Ok(());
        };
        let unreferenced: HashSet<String> = unreferenced.into_iter().collect();
        for orphan in page.photos.iter().filter(|p| unreferenced.contains(p.key.as_str())) {
            photos.delete(&orphan.key).await?;
            tracing::info!(key = %orphan.key, written_at = %orphan.modified, "orphaned photo deleted");
            purged.orphans += 1;
        }
    }
    Ok(())
}

fn count_leftovers(page: &ListedPage, purged: &mut Purged) {
    if page.leftovers_removed > 0 {
        tracing::info!(
            count = page.leftovers_removed,
            "leftovers of interrupted photo writes removed"
        );
        purged.leftovers += page.leftovers_removed;
    }
}
