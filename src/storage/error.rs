//! How storage fails: the database down (a retry may succeed), or a database fault.

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// A group-committed write that was not confirmed: the writer stopped, or the commit it
    /// shared failed. As after a lost connection, a retry with the same `client_event_id`
    /// finds out.
    #[error("the write was not confirmed: {0}")]
    Unconfirmed(String),
    /// A read shared with concurrent requests (see `batcher`) failed: each of them gets the
    /// cause.
    #[error("{0}")]
    Shared(Arc<StorageError>),
    /// The task that runs one kind of shared statement is gone (a panic, or shutdown).
    #[error("the database {0} stopped")]
    Stopped(&'static str),
}

impl StorageError {
    /// Whether the database (or the way to it) is down, so that a retry may succeed: the
    /// request is answered 503, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Unavailable(_) | StorageError::Unconfirmed(_) | StorageError::Stopped(_) => true,
            StorageError::Shared(cause) => cause.is_unavailable(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StorageError::Unavailable(e),
            other => StorageError::Database(other),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
