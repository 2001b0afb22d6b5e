//! How shifts, assignments and holidays leave the server.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::storage::shifts::{Assignment, Holiday, StoredShift, Target, Weekdays};

/// A shift with its current version.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ShiftView {
    pub id: Uuid,
    /// Starts at 1; every `PUT` adds one.
    pub version: u32,
    pub name: String,
    /// Local `HH:MM`.
    #[schema(example = "09:00")]
    pub start: String,
    /// Local `HH:MM`; before `start` for a night shift.
    #[schema(example = "18:00")]
    pub end: String,
    /// The working days, Monday first.
    #[schema(value_type = Vec<String>, example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub weekdays: Weekdays,
    pub late_grace_min: u32,
    pub early_grace_min: u32,
    pub break_min: u32,
    pub half_day_below_min: u32,
    pub overtime_after_min: Option<u32>,
    /// The shift ends on the day after it starts (`end` before `start`).
    pub night: bool,
    /// When the current version took effect: days that began before keep the version they
    /// were judged by.
    pub effective_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

pub fn shift_view(s: StoredShift) -> ShiftView {
    let r = &s.current.rules;
    ShiftView {
        id: s.id,
        version: s.current.version,
        start: r.start.format("%H:%M").to_string(),
        end: r.end.format("%H:%M").to_string(),
        weekdays: r.weekdays,
        late_grace_min: r.late_grace_min,
        early_grace_min: r.early_grace_min,
        break_min: r.break_min,
        half_day_below_min: r.half_day_below_min,
        overtime_after_min: r.overtime_after_min,
        night: r.is_night(),
        name: s.current.name,
        effective_at: s.current.effective_at,
        created_at: s.created_at,
        retired_at: s.retired_at,
    }
}

/// A shift given to a site or a user; exactly one of `site_id` and `user_id` is set.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AssignmentView {
    pub id: Uuid,
    pub shift_id: Uuid,
    pub site_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// The first date, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// The last date (inclusive); `null`: open-ended.
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

pub fn assignment_view(a: Assignment) -> AssignmentView {
    let (site_id, user_id) = match a.target {
        Target::Site(site) => (Some(site), None),
        Target::User(user) => (None, Some(user)),
    };
    AssignmentView {
        id: a.id,
        shift_id: a.shift_id,
        site_id,
        user_id,
        from: a.from,
        to: a.to,
        created_at: a.created_at,
    }
}

/// A day off for the organisation (`site_id: null`) or one site.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct HolidayView {
    pub id: Uuid,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub name: String,
    pub site_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub fn holiday_view(h: Holiday) -> HolidayView {
    HolidayView {
        id: h.id,
        date: h.date,
        name: h.name,
        site_id: h.site_id,
        created_at: h.created_at,
    }
}
