//! The per-organisation geofence index cache that check-ins and `:test` judge against. The
//! records are `storage::sites`; the geometry itself (validation, the decision) is
//! `crate::geofence`'s.

mod cache;

pub use cache::FenceCache;
