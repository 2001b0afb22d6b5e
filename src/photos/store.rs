//! The photo store contract: server-made keys, the `PhotoStore` trait both backends
//! implement, and their error type. A leaf: the backends import it, and picking one
//! from a URL happens above them (`open.rs`), so nothing here names a backend.
//!
//! Keys are made here and only here, so a client-chosen name can never reach a file
//! path or an S3 key; keys read back from the database are re-validated for the same
//! reason (a tampered row must not become `../../etc/passwd`).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A boxed cause, kept for the logs.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where a photo lives: `"{org_id}/{uuid v7}"`.
///
/// The organisation comes first so that a store can be listed, exported or erased
/// per tenant, and UUIDv7 sorts by creation time, which keeps S3 listings and
/// directories in upload order.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhotoKey {
    text: String,
    org_id: Uuid,
    id: Uuid,
}

impl PhotoKey {
    /// A fresh key for a photo of `org_id`.
    pub fn new(org_id: Uuid) -> PhotoKey {
        let id = Uuid::now_v7();
        PhotoKey {
            text: format!("{org_id}/{id}"),
            org_id,
            id,
        }
    }

    /// A key read back from the database. Only the exact form `new` writes is
    /// accepted (two lower-case hyphenated UUIDs), so nothing else can reach a path.
    pub fn from_stored(stored: String) -> Result<PhotoKey, StoreError> {
        let (org, id) = stored.split_once('/').ok_or(StoreError::InvalidKey)?;
        let org_id = canonical_uuid(org).ok_or(StoreError::InvalidKey)?;
        let id = canonical_uuid(id).ok_or(StoreError::InvalidKey)?;
        Ok(PhotoKey {
            text: stored,
            org_id,
            id,
        })
    }

    /// The key as stored in the database.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The organisation the photo belongs to: lets a caller check a key against the
    /// caller's organisation before touching the store.
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// The photo's own id (a UUIDv7).
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// Parses a UUID only in its canonical spelling, so one photo has one key.
pub(super) fn canonical_uuid(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

impl fmt::Display for PhotoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for PhotoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhotoKey({})", self.text)
    }
}

/// A photo read back from a store.
#[derive(Clone)]
pub struct StoredPhoto {
    pub bytes: Bytes,
    pub content_type: String,
}

// By hand so that a stray `{:?}` never dumps image bytes into a log.
impl fmt::Debug for StoredPhoto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredPhoto")
            .field("len", &self.bytes.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// What a phone needs to upload straight to the bucket.
///
/// `headers` must be sent exactly as given (they are part of the signature:
/// `content-type`, `content-length`, and the encryption headers when configured).
#[derive(Clone)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

// A presigned URL is a bearer credential until it expires: never in a log.
impl fmt::Debug for PresignedPut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedPut")
            .field("url", &"[redacted]")
            .field("headers", &self.headers)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A photo object found by listing a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPhoto {
    pub key: PhotoKey,
    /// When the object was last written.
    pub modified: DateTime<Utc>,
}

/// One page of a [`PhotoListing`].
#[derive(Debug, Default)]
pub struct ListedPage {
    /// The photo objects among this page's entries that were last written before the
    /// listing's cutoff.
    pub photos: Vec<ListedPhoto>,
    /// Leftovers of writes a crash interrupted (a local store's temp files) written before
    /// the cutoff: removed as the listing met them, since no key names them.
    pub leftovers_removed: u64,
}

/// A listing of a store in progress (see [`PhotoStore::list`]).
#[async_trait]
pub trait PhotoListing: Send {
    /// The next page, or `None` once the whole store has been listed. A page may hold no
    /// photos (everything in it was newer than the cutoff) without the listing being over.
    async fn next_page(&mut self) -> Result<Option<ListedPage>, StoreError>;
}

/// Why a store operation failed.
///
/// `Display` names only the operation; the cause (kept as `source()` for the logs)
/// never holds secrets or presigned URLs. The HTTP layer answers `Unavailable` with
/// 503 and everything else with 500 (see [`StoreError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL or its options are wrong (startup error).
    #[error("photo store is not configured correctly: {0}")]
    NotConfigured(String),
    /// A key read back from the database is not one this module made.
    #[error("invalid photo key")]
    InvalidKey,
    /// The content type is not a plain `type/subtype` token.
    #[error("invalid content type for a photo")]
    InvalidContentType,
    /// The store refused our credentials or permissions (wrong secret, missing grant).
    #[error("photo store denied the {op}")]
    Denied {
        op: &'static str,
        #[source]
        source: BoxError,
    },
    /// The store could not be reached or failed on its side (network, 5xx, disk I/O).
    #[error("photo store unavailable during {op}")]
    Unavailable {
        op: &'static str,
        #[source]
        source: BoxError,
    },
    /// The store answered with an error we did not expect (a bug or a misconfigured
    /// bucket rather than an outage).
    #[error("photo store failed the {op}")]
    Failed {
        op: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// True when retrying later may succeed (answer 503 rather than 500).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// A plain-text cause, for errors whose original type cannot be kept (SDK errors are
/// generic over the operation) or must be filtered first.
#[derive(Debug)]
pub(crate) struct Cause(pub String);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cause {}

/// Where photos are kept. Both backends pass the same behaviour suite
/// (`tests/photo_store.rs`).
#[async_trait]
pub trait PhotoStore: Send + Sync + 'static {
    /// Stores `body` under `key`, replacing any previous object. Durable when it
    /// returns: local files are fsynced and renamed into place, so a reader sees the
    /// old object or the whole new one, never a partial file.
    async fn put(&self, key: &PhotoKey, body: Bytes, content_type: &str) -> Result<(), StoreError>;

    /// The photo and its content type, or `None` if there is no such object.
    async fn get(&self, key: &PhotoKey) -> Result<Option<StoredPhoto>, StoreError>;

    /// The stored size in bytes, or `None` if there is no such object.
    async fn head(&self, key: &PhotoKey) -> Result<Option<u64>, StoreError>;

    /// Removes the object (every version of it, on a versioned bucket: an erased
    /// photo must not linger as a noncurrent version). Deleting a missing key is Ok.
    async fn delete(&self, key: &PhotoKey) -> Result<(), StoreError>;

    /// A short-lived URL the client can fetch the photo from, or `None` when the store
    /// cannot make one (local files: the server streams the bytes itself). No existence
    /// check is made: the caller knows the key from the database.
    async fn signed_get_url(&self, key: &PhotoKey, ttl: Duration) -> Result<Option<String>, StoreError>;

    /// A URL the phone can PUT the photo to directly, or `None` when the store cannot
    /// make one (local files). The content type and `Content-Length: max_bytes` are
    /// signed: S3 presigned PUTs cannot sign a size range, so `max_bytes` is the exact
    /// size the phone declared (already checked against the upload limit), and an
    /// upload of any other size or type is refused by the store. The uploaded bytes
    /// are raw and untrusted: see `finalize_upload`.
    async fn presign_put(
        &self,
        key: &PhotoKey,
        content_type: &str,
        max_bytes: u64,
        ttl: Duration,
    ) -> Result<Option<PresignedPut>, StoreError>;

    /// Lists the photo objects last written before `older_than`, for the orphan sweep: each
    /// page comes from at most `page_size` stored entries, so one page is bounded work
    /// however large the store. Only keys of the form [`PhotoKey`] makes are reported:
    /// anything else under the store's root or prefix is not ours to judge.
    fn list(&self, older_than: DateTime<Utc>, page_size: u32) -> Box<dyn PhotoListing>;

    /// Whether the store is usable now (for `/readyz`): the directory is writable, or
    /// the bucket answers HeadBucket with our credentials.
    async fn health(&self) -> Result<(), StoreError>;

    /// `"file"` or `"s3"`, for logs and metrics.
    fn kind(&self) -> &'static str;
}

/// Accepts only a bare `type/subtype` of RFC 9110 token characters: the value ends up
/// in an S3 header or a sidecar file and must not smuggle in line breaks or params.
pub(crate) fn check_content_type(content_type: &str) -> Result<(), StoreError> {
    fn token(part: &str) -> bool {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    }
    match content_type.split_once('/') {
        Some((kind, sub)) if content_type.len() <= 127 && token(kind) && token(sub) => Ok(()),
        _ => Err(StoreError::InvalidContentType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_reject_anything_else() {
        let org = Uuid::new_v4();
        let key = PhotoKey::new(org);
        assert_eq!(key.org_id(), org);
        assert_eq!(key.id().get_version_num(), 7);
        let back = PhotoKey::from_stored(key.as_str().to_owned()).unwrap();
        assert_eq!(back, key);
        for bad in [
            "".to_owned(),
            "../../etc/passwd".to_owned(),
            format!("{org}"),
            format!("{org}/../x"),
            format!("{org}/{}/x", Uuid::new_v4()),
            format!("{}/{}", org.simple(), Uuid::new_v4()),
            format!("{}/{}", org.to_string().to_uppercase(), Uuid::new_v4()),
            format!("{org}/{{{}}}", Uuid::new_v4()),
        ] {
            assert!(PhotoKey::from_stored(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_types() {
        for ok in ["image/jpeg", "image/png", "image/webp", "application/octet-stream"] {
            assert!(check_content_type(ok).is_ok(), "{ok}");
        }
        for bad in ["", "image", "image/", "/png", "image/jpeg\r\nx: y", "image/jpeg; q=1"] {
            assert!(check_content_type(bad).is_err(), "{bad}");
        }
    }
}
