//! Persistence behind one interface, with PostgreSQL and SQLite implementations.
//!
//! Each store trait lives in a module named after what it keeps, with the records it speaks:
//! storage's own row types, so that no domain module is imported here and the layers point
//! one way (`http` → domain → `storage`). No sqlx type or transaction crosses the traits. A
//! unit of work that must be atomic is one method, and an audited change takes its audit
//! entry so that the change and its record commit together. Expected refusals (a taken email, a
//! manager cycle) are values in a nested `Result`; the outer error is a database failure.
//!
//! Both backends run the same SQL: `sql/*.rs` is compiled once per backend by `include!`
//! from `postgres.rs` and `sqlite.rs`, each of which supplies its `Db` type and the few
//! statements that differ (how a write transaction begins, how an org is locked).

pub mod applogs;
pub mod audit;
pub mod auto_check_out;
mod batcher;
mod error;
pub mod events;
mod names;
pub mod orgs;
mod page;
pub mod photos;
mod postgres;
pub mod privacy;
mod repo;
pub mod reports;
pub mod requests;
pub mod shifts;
pub mod sites;
mod sqlite;
mod time;
pub mod tokens;
pub mod users;

use std::sync::Arc;

pub use error::{Result, StorageError};
pub use page::{Page, PageRequest};
pub use repo::{DbOptions, PoolStats, Repo};
pub use time::Timestamp;

/// Whether `url` names a PostgreSQL database (else SQLite, or nothing muster opens).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the database named by `url`, creating a SQLite file (and its directory) if
/// missing, and applies the backend's migrations when `migrate` is set.
pub async fn open(url: &str, options: &DbOptions, migrate: bool) -> Result<Arc<dyn Repo>> {
    if is_postgres_url(url) {
        Ok(Arc::new(postgres::SqlRepo::open(url, options, migrate).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqlRepo::open(url, options, migrate).await?))
    } else {
        Err(StorageError::UnsupportedUrl)
    }
}
