//! Shifts, their assignments and holidays, as the server keeps them (API.md "Shifts and the
//! attendance day").
//!
//! A shift is versioned like a geofence: every change appends a version with the instant it
//! took effect, and a day is judged by the version in force when that day began, so a change
//! never rewrites days already judged. Assignments give a shift to a site or to a user from
//! one date to another; the database transaction that stores one also checks that it
//! overlaps no other assignment of the same target, so concurrent writes cannot both pass.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use super::audit::AuditEntry;
use super::error::Result;
use super::page::{Page, PageRequest};

/// A set of weekdays, as the bits `1 << weekday.num_days_from_monday()`; on the wire the
/// names `"mon"`..`"sun"`, Monday first (parsed by `shifts::input`, which names a bad one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

impl Weekdays {
    pub const NAMES: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    pub fn from_bits(bits: u8) -> Option<Weekdays> {
        (bits < 1 << 7).then_some(Weekdays(bits))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn insert(&mut self, day: Weekday) {
        self.0 |= 1 << day.num_days_from_monday();
    }

    /// The day a name (`"mon"`..`"sun"`) stands for.
    pub fn parse_day(name: &str) -> Option<Weekday> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| Weekday::try_from(i as u8).ok())
    }

    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

impl Serialize for Weekdays {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

/// How a shift judges a day. `end` before (or equal to) `start` is a night shift that ends
/// on the next day.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftRules {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub weekdays: Weekdays,
    pub late_grace_min: u32,
    pub early_grace_min: u32,
    /// Unpaid: deducted from worked time unless taken as a gap between check-out and check-in.
    pub break_min: u32,
    /// A working day with fewer worked minutes is a half day.
    pub half_day_below_min: u32,
    /// Worked minutes beyond this are overtime; `None`: no overtime is counted.
    pub overtime_after_min: Option<u32>,
}

impl ShiftRules {
    /// Does the shift end on the day after it starts?
    pub fn is_night(&self) -> bool {
        self.end <= self.start
    }
}

/// One version of a shift: its name and rules from `effective_at` until the next version.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftVersion {
    pub shift_id: Uuid,
    pub version: u32,
    pub name: String,
    pub rules: ShiftRules,
    pub effective_at: DateTime<Utc>,
}

/// A shift with its current (latest) version.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredShift {
    pub id: Uuid,
    pub current: ShiftVersion,
    pub created_at: DateTime<Utc>,
    /// Retired shifts take no new assignments; the days of existing ones keep their version.
    pub retired_at: Option<DateTime<Utc>>,
}

/// Whom an assignment gives its shift to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Site(Uuid),
    User(Uuid),
}

/// A shift given to a site or a user for the dates `from..=to` (`to: None`: open-ended).
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub id: Uuid,
    pub shift_id: Uuid,
    pub target: Target,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

impl Assignment {
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && self.to.is_none_or(|to| date <= to)
    }
}

/// A day off for the whole organisation (`site_id: None`) or for one site.
#[derive(Clone, Debug, PartialEq)]
pub struct Holiday {
    pub id: Uuid,
    pub date: NaiveDate,
    pub name: String,
    pub site_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// What changing or retiring a shift came to.
#[derive(Clone, Debug)]
pub enum ShiftWrite {
    Done(StoredShift),
    Missing,
    /// Retired shifts do not change.
    Retired,
}

/// What storing an assignment came to; every refusal is decided inside the transaction.
#[derive(Clone, Debug)]
pub enum AssignOutcome {
    Assigned(Assignment),
    /// No such shift in the organisation.
    ShiftMissing,
    ShiftRetired,
    /// No such site or user in the organisation.
    TargetMissing,
    /// The target already has an assignment overlapping these dates (its id).
    Overlaps(Uuid),
}

/// What ending an assignment did.
#[derive(Clone, Debug, PartialEq)]
pub enum EndOutcome {
    /// It had not begun before `today`: it is gone.
    Deleted,
    /// It began before `today`: it now ends the day before, so the days it already judged
    /// keep their shift.
    Ended(Assignment),
    Missing,
}

/// What storing a holiday came to.
#[derive(Clone, Debug)]
pub enum HolidayOutcome {
    Added(Holiday),
    /// The organisation (or that site) already has a holiday on that date.
    Duplicate,
    SiteMissing,
}

/// Filters of `GET /v1/shift-assignments`.
#[derive(Clone, Copy, Debug, Default)]
pub struct AssignmentFilter {
    pub site_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

/// Everything a set of users' schedules are resolved from, for dates `from..=to`: the
/// assignments of those users and of their home sites that touch the dates, every version of
/// the shifts those name, and the holidays of the organisation and of those sites on the dates.
#[derive(Clone, Debug, Default)]
pub struct ScheduleInputs {
    pub assignments: Vec<Assignment>,
    pub versions: Vec<ShiftVersion>,
    pub holidays: Vec<Holiday>,
}

#[async_trait]
pub trait ShiftStore: Send + Sync {
    /// Stores a new shift as its version 1 with its audit entry.
    async fn insert_shift(&self, org_id: Uuid, shift: &StoredShift, audit: &AuditEntry) -> Result<()>;
    async fn get_shift(&self, org_id: Uuid, shift_id: Uuid) -> Result<Option<StoredShift>>;
    /// The organisation's shifts that are not retired, by id.
    async fn list_shifts(&self, org_id: Uuid, page: PageRequest) -> Result<Page<StoredShift>>;
    /// Appends a version (the next number, effective `at`) with its audit entry.
    async fn update_shift(
        &self,
        org_id: Uuid,
        shift_id: Uuid,
        name: &str,
        rules: &ShiftRules,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<ShiftWrite>;
    async fn retire_shift(
        &self,
        org_id: Uuid,
        shift_id: Uuid,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<ShiftWrite>;

    /// Stores an assignment unless its shift is missing or retired, its target is missing,
    /// or it overlaps another assignment of the same target; atomic with its audit entry.
    async fn insert_assignment(
        &self,
        org_id: Uuid,
        assignment: &Assignment,
        audit: &AuditEntry,
    ) -> Result<AssignOutcome>;
    /// Assignments by id, filtered.
    async fn list_assignments(
        &self,
        org_id: Uuid,
        filter: AssignmentFilter,
        page: PageRequest,
    ) -> Result<Page<Assignment>>;
    /// Deletes an assignment that begins on or after `today`, or ends one that began
    /// before on the day before `today`.
    async fn end_assignment(
        &self,
        org_id: Uuid,
        assignment_id: Uuid,
        today: NaiveDate,
        audit: &AuditEntry,
    ) -> Result<EndOutcome>;

    async fn insert_holiday(&self, org_id: Uuid, holiday: &Holiday, audit: &AuditEntry) -> Result<HolidayOutcome>;
    /// Holidays on `from..=to` (either bound optional), by date then id.
    async fn list_holidays(
        &self,
        org_id: Uuid,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        page: PageRequest,
    ) -> Result<Page<Holiday>>;
    /// `false`: no such holiday.
    async fn delete_holiday(&self, org_id: Uuid, holiday_id: Uuid, audit: &AuditEntry) -> Result<bool>;

    /// What the schedules of `users` (with their home sites) on `from..=to` are resolved from,
    /// in one round trip per kind whatever the number of users.
    async fn schedule_inputs(
        &self,
        org_id: Uuid,
        users: &[(Uuid, Option<Uuid>)],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ScheduleInputs>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_round_trip_monday_first() {
        let mut set = Weekdays::default();
        for day in ["sun", "mon", "fri"] {
            set.insert(Weekdays::parse_day(day).unwrap());
        }
        assert!(set.contains(Weekday::Mon) && set.contains(Weekday::Sun) && !set.contains(Weekday::Tue));
        assert_eq!(
            serde_json::to_value(set).unwrap(),
            serde_json::json!(["mon", "fri", "sun"])
        );
        assert_eq!(Weekdays::from_bits(set.bits()), Some(set));
        assert_eq!(Weekdays::from_bits(1 << 7), None);
        assert_eq!(Weekdays::parse_day("monday"), None);
    }
}
