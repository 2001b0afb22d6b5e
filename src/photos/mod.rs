//! Check-in photos: where they are kept and how an upload becomes safe to keep.
//!
//! Photos are personal data and an attack surface, so this module owns both halves:
//! - [`PhotoStore`] keeps bytes under server-made [`PhotoKey`]s, on local disk
//!   (`file://`) or in S3 (`s3://`), chosen by [`open`](fn@open) from `MUSTER_PHOTO_STORE`.
//! - [`ingest`] turns untrusted upload bytes into a [`CleanPhoto`]: only JPEG, PNG and
//!   WebP, pixel floods refused from the header before any decoding, the image proven
//!   to decode under bounded memory, every metadata block (EXIF with GPS, XMP, IPTC,
//!   ICC, comments, text chunks) and anything after the image's end removed, and the
//!   picture kept upright.
//! - [`MeteredStore`] counts and times every operation of another store (`startup`
//!   installs it around the configured one).
//! - [`PendingPhoto`] deletes a stored photo again unless the database step that
//!   follows the store write commits it (pict-rs' ingest session), so failures leave
//!   no orphans.
//!
//! Typical server flow for a direct upload:
//! ```text
//! let raw = photos::read_limited(payload, limits.max_bytes).await?;
//! let clean = tokio::task::spawn_blocking(move || photos::ingest(&raw, &limits)).await??;
//! let pending = PendingPhoto::store(store.clone(), org_id, &clean).await?;
//! repo.insert_photo(org_id, pending.key().as_str(), &clean.sha256, ...).await?;
//! let key = pending.commit();
//! ```
//!
//! Nothing here depends on the rest of the crate: routes, rows and authorisation call
//! this public API.

mod ingest;
mod local;
mod metered;
mod open;
mod pending;
mod s3;
mod store;

pub use ingest::{CleanPhoto, IngestError, IngestLimits, ingest, read_limited};
pub use local::FileStore;
pub use metered::MeteredStore;
pub use open::open;
pub use pending::{FinalizeError, PendingPhoto, finalize_upload};
pub use s3::{S3Options, S3Store};
pub use store::{ListedPage, ListedPhoto, PhotoKey, PhotoListing, PhotoStore, PresignedPut, StoreError, StoredPhoto};
