//! A [`PhotoStore`] that measures another: every operation is counted and timed by
//! operation and outcome, so all photo I/O is observed in one place whatever calls it.
//!
//! `startup` wraps the configured store in it; nothing else needs to know. Metrics:
//! - `muster_photo_store_operations_total{store, op, outcome}`
//! - `muster_photo_store_operation_duration_seconds{store, op, outcome}`
//!
//! A listing's pages are measured as `op="list"`, one per page.
//!
//! `outcome` is `ok`, `not_found` (a `get`/`head` of a missing object), `unsupported`
//! (no signed URL from a local store) or the error kind (`unavailable`, `denied`, `failed`,
//! `invalid`, `not_configured`): a fixed, small set, as label values must be.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::store::{ListedPage, PhotoKey, PhotoListing, PhotoStore, PresignedPut, StoreError, StoredPhoto};

pub struct MeteredStore {
    inner: Arc<dyn PhotoStore>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn PhotoStore>) -> MeteredStore {
        MeteredStore { inner }
    }

    fn record<T>(
        &self,
        op: &'static str,
        started: Instant,
        result: &Result<T, StoreError>,
        found: impl Fn(&T) -> &'static str,
    ) {
        record(self.inner.kind(), op, started, result, found);
    }
}

fn record<T>(
    store: &'static str,
    op: &'static str,
    started: Instant,
    result: &Result<T, StoreError>,
    found: impl Fn(&T) -> &'static str,
) {
    let outcome = match result {
        Ok(value) => found(value),
        Err(e) => error_kind(e),
    };
    let labels = [("store", store), ("op", op), ("outcome", outcome)];
    metrics::counter!("muster_photo_store_operations_total", &labels).increment(1);
    metrics::histogram!("muster_photo_store_operation_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
}

/// A listing whose every page is measured like a store operation.
struct MeteredListing {
    inner: Box<dyn PhotoListing>,
    store: &'static str,
}

#[async_trait]
impl PhotoListing for MeteredListing {
    async fn next_page(&mut self) -> Result<Option<ListedPage>, StoreError> {
        let started = Instant::now();
        let result = self.inner.next_page().await;
        // The call that finds the listing over sends no request: not an operation.
        if !matches!(result, Ok(None)) {
            record(self.store, "list", started, &result, ok);
        }
        result
    }
}

fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotConfigured(_) => "not_configured",
        StoreError::InvalidKey | StoreError::InvalidContentType => "invalid",
        StoreError::Denied { .. } => "denied",
        StoreError::Unavailable { .. } => "unavailable",
        StoreError::Failed { .. } => "failed",
    }
}

fn ok<T>(_: &T) -> &'static str {
    "ok"
}

fn found<T>(value: &Option<T>) -> &'static str {
    if value.is_some() { "ok" } else { "not_found" }
}

fn supported<T>(value: &Option<T>) -> &'static str {
    if value.is_some() { "ok" } else { "unsupported" }
}

#[async_trait]
impl PhotoStore for MeteredStore {
    async fn put(&self, key: &PhotoKey, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.put(key, body, content_type).await;
        self.record("put", started, &result, ok);
        result
    }

    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get(key).await;
        self.record("get", started, &result, found);
        result
    }

    async fn head(&self, key: &PhotoKey) -> Result<Option<u64>, StoreError> {
        let started = Instant::now();
        let result = self.inner.head(key).await;
        self.record("head", started, &result, found);
        result
    }

    async fn delete(&self, key: &PhotoKey) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.delete(key).await;
        self.record("delete", started, &result, ok);
        result
    }

    async fn signed_get_url(&self, key: &PhotoKey, ttl: Duration) -> Result<Option<String>, StoreError> {
        let started = Instant::now();
        let result = self.inner.signed_get_url(key, ttl).await;
        self.record("signed_get_url", started, &result, supported);
        result
    }

    async fn presign_put(
        &self,
        key: &PhotoKey,
        content_type: &str,
        max_bytes: u64,
        ttl: Duration,
    ) -> Result<Option<PresignedPut>, StoreError> {
        let started = Instant::now();
        let result = self.inner.presign_put(key, content_type, max_bytes, ttl).await;
        self.record("presign_put", started, &result, supported);
        result
    }

    fn list(&self, older_than: DateTime<Utc>, page_size: u32) -> Box<dyn PhotoListing> {
        Box::new(MeteredListing {
            inner: self.inner.list(older_than, page_size),
            store: self.inner.kind(),
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.health().await;
        self.record("health", started, &result, ok);
        result
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::local::FileStore;

    #[test]
    fn every_operation_is_counted_and_timed_by_outcome() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let inner: Arc<dyn PhotoStore> = Arc::new(FileStore::open(dir.path()).await.unwrap());
                let store = MeteredStore::new(inner);
                let key = PhotoKey::new(uuid::Uuid::now_v7());
                store
                    .put(&key, Bytes::from_static(b"jpeg"), "image/jpeg")
                    .await
                    .unwrap();
                assert!(store.get(&key).await.unwrap().is_some());
                store.delete(&key).await.unwrap();
                assert!(store.head(&key).await.unwrap().is_none());
                assert!(store.put(&key, Bytes::new(), "not a type").await.is_err());
                let mut listing = store.list(chrono::Utc::now(), 10);
                while listing.next_page().await.unwrap().is_some() {}
            })
        });
        let text = handle.render();
        for (op, outcome) in [
            ("put", "ok"),
            ("get", "ok"),
            ("delete", "ok"),
            ("head", "not_found"),
            ("put", "invalid"),
            ("list", "ok"),
        ] {
            let counted =
                format!("muster_photo_store_operations_total{{store=\"file\",op=\"{op}\",outcome=\"{outcome}\"}} 1");
            assert!(text.contains(&counted), "{counted} missing from:\n{text}");
        }
        assert!(text.contains("muster_photo_store_operation_duration_seconds"), "{text}");
    }
}
