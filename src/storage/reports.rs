//! What attendance reports read, page by page: the users to report on and their events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::error::Result;
use super::events::{Kind, Source, Status};

/// Where an event was, as reports may show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub geofence: Option<String>,
}

/// One stored event, as much as a report needs.
#[derive(Clone, Debug)]
pub struct ReportEvent {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: Kind,
    pub captured_at: DateTime<Utc>,
    pub status: Status,
    pub source: Source,
    /// The reasons include `outside_geofence`.
    pub outside: bool,
    /// An approved correction names this event: the event it wrote counts instead.
    pub superseded: bool,
    /// `None` once erased or expired.
    pub place: Option<Place>,
}

/// A user a report covers.
#[derive(Clone, Debug)]
pub struct ReportSubject {
    pub id: Uuid,
    pub employee_code: String,
    pub name: String,
    /// The user's first site (by site id), their home site, if they have a site.
    pub site_id: Option<Uuid>,
    /// The time zone of that site.
    pub site_timezone: Option<String>,
}

impl ReportSubject {
    /// The zone the user's days are counted in (see [`user_timezone`]).
    pub fn timezone(&self, org: Tz) -> Tz {
        user_timezone(self.site_timezone.as_deref(), org)
    }
}

/// The zone a user's days are counted in (reports, attendance requests): their first site's
/// (`site_timezone`, by site id), else the organisation's. A stored name that no longer
/// parses falls back the same way rather than failing.
pub fn user_timezone(site_timezone: Option<&str>, org: Tz) -> Tz {
    site_timezone.and_then(|name| name.parse().ok()).unwrap_or(org)
}

/// Where a page of report events ends: the next page starts strictly after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventKey {
    pub user_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub id: Uuid,
}

/// What `GET /v1/reports/attendance` reads, page by page.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// The ids of `viewer` and everyone whose manager chain contains them, ascending.
    async fn team_ids(&self, org_id: Uuid, viewer: Uuid) -> Result<Vec<Uuid>>;
    /// Users to report on, ascending by id, at most `limit`: those named by `ids` or, without
    /// it, the organisation's users after `after`. Active users, and disabled ones only if
    /// they have an event in `[from, to)`.
    async fn report_subjects(
        &self,
        org_id: Uuid,
        ids: Option<&[Uuid]>,
        after: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReportSubject>>;
    /// Events of `users` captured in `[from, to)`, ordered by user, time and id, strictly
    /// after `after`, at most `limit`.
    async fn report_events(
        &self,
        org_id: Uuid,
        users: &[Uuid],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<EventKey>,
        limit: u32,
    ) -> Result<Vec<ReportEvent>>;
}
