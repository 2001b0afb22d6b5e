//! What auto check-out reads and writes: whose days may be left open, and the check-out that
//! closes one, written at most once per user and day however many replicas try.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::error::Result;
use super::events::NewEvent;

#[async_trait]
pub trait AutoCheckOutStore: Send + Sync {
    /// Users of the organisation, ascending after `after`, at most `limit`, with a counted
    /// (accepted or flagged) check-in captured since `since` and no counted check-out after it
    /// (a check-out an approved correction superseded does not count, as in reports).
    async fn open_day_users(
        &self,
        org_id: Uuid,
        since: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>>;
    /// Writes `event`, the check-out closing the user's day `date`, unless that day was
    /// closed so before: `false` then, and nothing is written.
    async fn insert_auto_check_out(&self, date: NaiveDate, event: &NewEvent) -> Result<bool>;
}
