//! The per-organisation geofence index cache.
//!
//! Building a `FenceIndex` costs far more than a decision, so each replica keeps one per
//! organisation and rebuilds it lazily after a change. Changes are seen three ways: this
//! replica invalidates on its own writes; on PostgreSQL, other replicas learn through
//! LISTEN/NOTIFY on `muster_geofences`; and every entry expires after `max_age` as a safety
//! net for a missed notification (e.g. while the listener reconnects).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::geofence::{Fence, FenceIndex, GeometryLimits, parse_geometry};
use crate::storage::{Repo, Result};

struct Entry {
    index: Arc<FenceIndex>,
    built: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, Entry>,
    /// Bumped on every invalidation, so a build that raced a change is not cached.
    generations: HashMap<Uuid, u64>,
    /// Bumped when every entry is dropped, for the same reason.
    epoch: u64,
}

pub struct FenceCache {
    repo: Arc<dyn Repo>,
    limits: GeometryLimits,
    max_age: Duration,
    inner: RwLock<Inner>,
}

impl FenceCache {
    pub fn new(repo: Arc<dyn Repo>, limits: GeometryLimits, max_age: Duration) -> Self {
        FenceCache {
            repo,
            limits,
            max_age,
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The index of the organisation's active fences.
    pub async fn index(&self, org_id: Uuid) -> Result<Arc<FenceIndex>> {
        let seen = {
            let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = inner.entries.get(&org_id).filter(|e| e.built.elapsed() < self.max_age) {
                return Ok(entry.index.clone());
            }
            (inner.epoch, inner.generations.get(&org_id).copied().unwrap_or(0))
        };
        let index = Arc::new(self.build(org_id).await?);
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if (inner.epoch, inner.generations.get(&org_id).copied().unwrap_or(0)) == seen {
            inner.entries.insert(
                org_id,
                Entry {
                    index: index.clone(),
                    built: Instant::now(),
                },
            );
        }
        Ok(index)
    }

    /// Forgets the organisation's index; the next decision rebuilds it.
    pub fn invalidate(&self, org_id: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.entries.remove(&org_id);
        *inner.generations.entry(org_id).or_default() += 1;
    }

    /// Forgets every organisation's index, for when changes may have gone unheard.
    fn forget_all(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.entries.clear();
        inner.epoch += 1;
    }

    async fn build(&self, org_id: Uuid) -> Result<FenceIndex> {
        let stored = self.repo.active_fences(org_id).await?;
        let mut fences = Vec::with_capacity(stored.len());
        for f in stored {
            match parse_geometry(&f.geometry, &self.limits) {
                Ok(shape) => fences.push(Fence {
                    id: f.id,
                    version: f.version,
                    name: f.name,
                    site_id: f.site_id,
                    shape,
                }),
                // Stored geometry was valid when written; only lowered limits can refuse it.
                Err(errors) => {
                    tracing::warn!(fence_id = %f.id, errors = errors.len(), "stored geofence no longer valid; skipped")
                }
            }
        }
        Ok(FenceIndex::new(fences))
    }

    /// Follows change notifications from other replicas (PostgreSQL), invalidating as they come.
    pub fn spawn_listener(self: &Arc<Self>) {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match cache.repo.fence_changes().await {
                    Ok(Some(mut changes)) => {
                        // Indexes built before LISTEN took effect (at start-up, or before a
                        // reconnection) may predate changes nobody heard of.
                        cache.forget_all();
                        while let Some(org_id) = changes.recv().await {
                            cache.invalidate(org_id);
                        }
                        tracing::warn!("geofence change listener ended; reconnecting");
                    }
                    Ok(None) => return,
                    Err(e) => tracing::warn!(error = %e, "geofence change listener failed; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}
