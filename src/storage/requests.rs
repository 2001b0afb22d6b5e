//! Attendance requests as the server keeps them: an employee's missed check-in or check-out,
//! or the correction of a flagged or rejected event, and the decision on it.
//!
//! A request is filed `pending` and decided once: `approved` (with the event the approval
//! wrote), `rejected` or `cancelled`. Both the filing and the decision are single units of
//! work with their audit entries; the database's keys decide the races (one pending
//! request per user, day and kind; one decision per request; one approved correction per
//! event).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

use super::audit::AuditEntry;
use super::error::Result;
use super::events::NewEvent;
use super::names::stored_enum;
use super::orgs::Policy;
use super::page::{Page, PageRequest};

stored_enum! {
    /// What a request asks for.
    pub enum RequestKind {
        /// A check-in that was never recorded.
        MissedCheckIn => "missed_check_in",
        /// A check-out that was never recorded.
        MissedCheckOut => "missed_check_out",
        /// A flagged or rejected event (`event_id`) that should count at the proposed time.
        Correction => "correction",
    }
}

stored_enum! {
    /// Where a request stands. Every status but `pending` is final.
    pub enum RequestStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        Cancelled => "cancelled",
    }
}

/// A request as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRequest {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The local day the request is about (the user's time zone when it was filed).
    pub date: NaiveDate,
    /// The proposed local time on that day, to the minute.
    pub time: NaiveTime,
    pub kind: RequestKind,
    /// The instant `date` and `time` named when the request was filed: the approved event's
    /// `captured_at`.
    pub proposed_at: DateTime<Utc>,
    /// The event a correction is about.
    pub event_id: Option<Uuid>,
    /// `None` once erased (the reason is the requester's personal free text).
    pub reason: Option<String>,
    pub photo_id: Option<Uuid>,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    /// The approver or rejecter; the requester for a cancellation.
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    /// The event an approval wrote.
    pub result_event_id: Option<Uuid>,
}

/// What filing a request came to. The database's keys decide the refusals, so concurrent
/// filings cannot both pass.
#[derive(Clone, Debug)]
pub enum FileOutcome {
    Filed(StoredRequest),
    /// The user already has a pending request of this kind for this day.
    PendingExists,
    /// The photo is attached to another request.
    PhotoTaken,
    /// An approved correction of the request's `event_id` exists already.
    Corrected,
}

/// A decision to record on a pending request.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// `Approved`, `Rejected` or `Cancelled`.
    pub status: RequestStatus,
    pub by: Uuid,
    pub at: DateTime<Utc>,
    pub comment: Option<String>,
    /// The event an approval writes, committed with the decision or not at all.
    pub event: Option<NewEvent>,
}

/// What deciding a request came to.
#[derive(Clone, Debug)]
pub enum ResolveOutcome {
    /// Decided by this call: the request as it now stands.
    Resolved(StoredRequest),
    /// Decided before (perhaps by a concurrent call): the request as that decision left it,
    /// and nothing was written.
    AlreadyDecided(StoredRequest),
    /// No such request in the organisation.
    Missing,
    /// Another correction of the request's `event_id` was approved first; nothing was
    /// written and the request is still pending.
    Corrected,
}

/// Whose requests a list may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestScope {
    Org,
    /// The viewer's own and those of everyone whose manager chain contains them.
    TeamOf(Uuid),
    /// The viewer's own and those of their direct reports.
    DirectOf(Uuid),
    User(Uuid),
}

/// Filters of `GET /v1/attendance/requests`.
#[derive(Clone, Copy, Debug)]
pub struct RequestFilter {
    pub scope: RequestScope,
    pub status: Option<RequestStatus>,
    /// `date >= from`.
    pub from: Option<NaiveDate>,
    /// `date <= to`.
    pub to: Option<NaiveDate>,
}

/// What filing a user's request is judged with, in one round trip.
#[derive(Clone, Debug)]
pub struct FilingContext {
    pub policy: Policy,
    pub org_timezone: String,
    /// The zone of the user's first site (by site id), if they have a site.
    pub site_timezone: Option<String>,
}

#[async_trait]
pub trait RequestStore: Send + Sync {
    /// The org's policy and time zone and the user's site zone; `None` when the user is not
    /// one of the organisation's.
    async fn filing_context(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<FilingContext>>;
    /// Stores a new pending request with its audit entry, unless the user has a pending
    /// request of its kind for its day, its photo is attached to another request or its
    /// `event_id` has an approved correction already.
    async fn insert_request(&self, org_id: Uuid, request: &StoredRequest, audit: &AuditEntry) -> Result<FileOutcome>;
    async fn get_request(&self, org_id: Uuid, request_id: Uuid) -> Result<Option<StoredRequest>>;
    /// Requests in creation order (by id), filtered and scoped.
    async fn list_requests(
        &self,
        org_id: Uuid,
        filter: &RequestFilter,
        page: PageRequest,
    ) -> Result<Page<StoredRequest>>;
    /// Records a decision on a request if it is still pending, with the approval's event and
    /// the audit entry, in one transaction: of concurrent decisions exactly one is
    /// `Resolved`, the others see `AlreadyDecided`; of approvals of corrections of one event
    /// one is `Resolved`, the others `Corrected`.
    async fn resolve_request(
        &self,
        org_id: Uuid,
        request_id: Uuid,
        resolution: &Resolution,
        audit: &AuditEntry,
    ) -> Result<ResolveOutcome>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in RequestKind::ALL {
            assert_eq!(RequestKind::parse(k.as_str()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(RequestKind::parse("lunch"), None);
    }
}
