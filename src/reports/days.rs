//! One row per user per local day: the day's status and totals from its events, in the
//! user's time zone.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::shifts::schedule::{DayKind, DayWindows, ScheduledDay};
use crate::storage::events::{Kind, Source, Status};
use crate::storage::reports::{Place, ReportEvent, ReportSubject};

/// The longest report, in days (`to - from + 1`).
pub const MAX_DAYS: u64 = 366;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    Present,
    Late,
    EarlyLeave,
    HalfDay,
    Absent,
    Holiday,
    WeeklyOff,
    Incomplete,
    OutOfFence,
}

impl DayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DayStatus::Present => "present",
            DayStatus::Late => "late",
            DayStatus::EarlyLeave => "early_leave",
            DayStatus::HalfDay => "half_day",
            DayStatus::Absent => "absent",
            DayStatus::Holiday => "holiday",
            DayStatus::WeeklyOff => "weekly_off",
            DayStatus::Incomplete => "incomplete",
            DayStatus::OutOfFence => "out_of_fence",
        }
    }
}

/// One row of the attendance report: a user's local day. See the module documentation for
/// what each field means exactly.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ReportRow {
    pub user_id: Uuid,
    pub employee_code: String,
    pub name: String,
    /// The local date, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The earliest counted check-in, local time with offset.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_in: Option<DateTime<FixedOffset>>,
    /// The latest counted check-out, local time with offset.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_out: Option<DateTime<FixedOffset>>,
    /// Check-in → next check-out pairs within the day, in whole minutes of real time.
    pub worked_minutes: i64,
    pub status: DayStatus,
    /// Every event of the day, rejected ones included.
    pub events: u32,
    pub flagged: u32,
    pub rejected: u32,
    /// Only where the caller may see this user's location.
    pub first_in_lat: Option<f64>,
    pub first_in_lon: Option<f64>,
    pub first_in_accuracy_m: Option<f64>,
    /// The name of the geofence the first check-in was judged against.
    pub first_in_geofence: Option<String>,
    /// An approved attendance request changed the day: it added an event (`source:
    /// "request"`), which the day is judged with, and an event it corrected no longer counts
    /// (it stays in `events` and `flagged` or `rejected`).
    pub corrected: bool,
    /// The shift governing the day, and the version it was judged by.
    pub shift_id: Option<Uuid>,
    pub shift_version: Option<u32>,
    /// A working day's scheduled start and end, local time with offset.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_start: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_end: Option<DateTime<FixedOffset>>,
    pub late_minutes: i64,
    pub early_leave_minutes: i64,
    pub overtime_minutes: i64,
    /// Not part of the report: where the day's last pair opened, if it is still open (what
    /// auto check-out closes).
    #[serde(skip)]
    pub open_since: Option<DateTime<Utc>>,
}

/// Dates `from..=to`, validated: `to` not before `from`, at most [`MAX_DAYS`] days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("must not be before from")]
    Reversed,
    #[error("the range may span at most 366 days")]
    TooLong,
}

impl DateRange {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, RangeError> {
        if to < from {
            return Err(RangeError::Reversed);
        }
        if to.signed_duration_since(from).num_days() + 1 > MAX_DAYS as i64 {
            return Err(RangeError::TooLong);
        }
        Ok(DateRange { from, to })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    pub fn days(&self) -> u64 {
        self.to.signed_duration_since(self.from).num_days() as u64 + 1
    }

    /// A UTC window that holds every event these dates may own in any time zone (UTC
    /// offsets lie within -12 h and +14 h): a day's events lie between the boundaries with
    /// its neighbours (`shifts::schedule::boundary`), which a night shift on the day after
    /// the range can push to the end of the day after that. Events are fetched in it and
    /// then sorted into days exactly.
    pub fn utc_window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.from.checked_sub_days(Days::new(2)).unwrap_or(self.from);
        let end = self.to.checked_add_days(Days::new(4)).unwrap_or(self.to);
        (Utc.from_utc_datetime(&start.into()), Utc.from_utc_datetime(&end.into()))
    }
}

/// The tallies of one local day so far.
#[derive(Debug, Default)]
struct Day {
    events: u32,
    flagged: u32,
    rejected: u32,
    first_in: Option<(DateTime<Utc>, Option<Place>)>,
    last_out: Option<DateTime<Utc>>,
    open_since: Option<DateTime<Utc>>,
    /// When the last pair closed, and the time between pairs so far: the break taken.
    closed_at: Option<DateTime<Utc>>,
    gaps_s: i64,
    worked_s: i64,
    check_ins: u32,
    counted_check_ins: u32,
    check_ins_outside: u32,
    corrected: bool,
}

impl Day {
    fn add(&mut self, e: &ReportEvent) {
        self.events += 1;
        match e.status {
            Status::Flagged => self.flagged += 1,
            Status::Rejected => self.rejected += 1,
            Status::Accepted => {}
        }
        // A superseded event stays in the tallies (it is still one of the day's events, as the
        // event list shows) and counts for nothing else: its correction counts in its place.
        if e.superseded {
            self.corrected = true;
            return;
        }
        if e.kind == Kind::CheckIn {
            self.check_ins += 1;
            if e.status != Status::Accepted && e.outside {
                self.check_ins_outside += 1;
            }
        }
        // Rejected attempts are tallied above and count for nothing else.
        if e.status == Status::Rejected {
            return;
        }
        self.corrected |= e.source == Source::Request;
        match e.kind {
            Kind::CheckIn => {
                self.counted_check_ins += 1;
                if self.first_in.is_none() {
                    self.first_in = Some((e.captured_at, e.place.clone()));
                }
                if self.open_since.is_none() {
                    self.open_since = Some(e.captured_at);
                    if let Some(closed) = self.closed_at {
                        self.gaps_s += seconds(closed, e.captured_at);
                    }
                }
            }
            Kind::CheckOut => {
                self.last_out = Some(e.captured_at);
                if let Some(start) = self.open_since.take() {
                    self.worked_s += seconds(start, e.captured_at);
                    self.closed_at = Some(e.captured_at);
                }
            }
        }
    }

    /// The day's minutes and status against its schedule (see the module documentation).
    fn judge(&self, day: &ScheduledDay) -> Judgement {
        let pairs_s = self.worked_s.max(0);
        let (Some(shift), Some((start, end))) = (&day.shift, day.scheduled()) else {
            let worked_minutes = pairs_s / 60;
            // Work on a shift's weekly off or holiday is all overtime, where the shift counts any.
            let overtime_minutes = match &day.shift {
                Some(v) if v.rules.overtime_after_min.is_some() => worked_minutes,
                _ => 0,
            };
            return Judgement {
                status: self.status(day.kind, None),
                worked_minutes,
                overtime_minutes,
                ..Judgement::default()
            };
        };
        let rules = &shift.rules;
        // The unpaid break is what was not already taken between pairs.
        let unpaid_s = (i64::from(rules.break_min) * 60 - self.gaps_s).max(0);
        let worked_minutes = (pairs_s - unpaid_s).max(0) / 60;
        let beyond = |grace_min: u32, late_s: i64| {
            if late_s > i64::from(grace_min) * 60 {
                late_s / 60
            } else {
                0
            }
        };
        let late_minutes = self
            .first_in
            .as_ref()
            .map_or(0, |(t, _)| beyond(rules.late_grace_min, seconds(start, *t)));
        let early_leave_minutes = match self.last_out {
            Some(out) if self.open_since.is_none() => beyond(rules.early_grace_min, seconds(out, end)),
            _ => 0,
        };
        let overtime_minutes = rules
            .overtime_after_min
            .map_or(0, |n| (worked_minutes - i64::from(n)).max(0));
        let judged = Judgement {
            worked_minutes,
            late_minutes,
            early_leave_minutes,
            overtime_minutes,
            ..Judgement::default()
        };
        Judgement {
            status: self.status(day.kind, Some((&judged, rules.half_day_below_min))),
            ..judged
        }
    }

    /// The first status that applies; `scheduled` holds a working day's minutes with its
    /// shift's half-day threshold.
    fn status(&self, kind: DayKind, scheduled: Option<(&Judgement, u32)>) -> DayStatus {
        match kind {
            DayKind::Holiday => return DayStatus::Holiday,
            DayKind::WeeklyOff => return DayStatus::WeeklyOff,
            DayKind::Working => {}
        }
        if self.counted_check_ins == 0 {
            DayStatus::Absent
        } else if self.open_since.is_some() {
            DayStatus::Incomplete
        } else if self.check_ins_outside == self.check_ins {
            DayStatus::OutOfFence
        } else {
            match scheduled {
                Some((j, half_day_below)) if j.worked_minutes < i64::from(half_day_below) => DayStatus::HalfDay,
                Some((j, _)) if j.late_minutes > 0 => DayStatus::Late,
                Some((j, _)) if j.early_leave_minutes > 0 => DayStatus::EarlyLeave,
                _ => DayStatus::Present,
            }
        }
    }
}

/// Whole seconds from `a` to `b`.
fn seconds(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    b.signed_duration_since(a).num_seconds()
}

/// A day's status and minutes.
#[derive(Debug)]
struct Judgement {
    status: DayStatus,
    worked_minutes: i64,
    late_minutes: i64,
    early_leave_minutes: i64,
    overtime_minutes: i64,
}

impl Default for Judgement {
    fn default() -> Self {
        Judgement {
            status: DayStatus::Present,
            worked_minutes: 0,
            late_minutes: 0,
            early_leave_minutes: 0,
            overtime_minutes: 0,
        }
    }
}

/// Turns one user's events, pushed in time order, into one row per day of the range.
pub struct UserDays<'a> {
    subject: &'a ReportSubject,
    tz: Tz,
    shows_location: bool,
    /// The range's days with one more on either side (see `DayWindows`).
    windows: DayWindows,
    /// The index in `windows.days` of the day being filled; past the range once it is done.
    current: usize,
    day: Day,
}

impl<'a> UserDays<'a> {
    /// `windows` from `Calendar::days` for the subject and the range.
    pub fn new(subject: &'a ReportSubject, tz: Tz, windows: DayWindows, shows_location: bool) -> Self {
        UserDays {
            subject,
            tz,
            shows_location,
            windows,
            current: 1,
            day: Day::default(),
        }
    }

    /// The index of the range's last day.
    fn last(&self) -> usize {
        self.windows.days.len().saturating_sub(2)
    }

    /// Adds the next event (events must come in `captured_at` order), emitting the rows of
    /// the days it leaves behind. Events outside the range's days are ignored.
    pub fn push(&mut self, event: &ReportEvent, out: &mut Vec<ReportRow>) {
        let t = event.captured_at;
        if self.windows.bounds.first().is_none_or(|start| t < *start) {
            return;
        }
        while self.current <= self.last() && t >= self.windows.bounds[self.current] {
            self.close(out);
        }
        if self.current <= self.last() {
            self.day.add(event);
        }
    }

    /// Emits the rows of the remaining days.
    pub fn finish(mut self, out: &mut Vec<ReportRow>) {
        while self.current <= self.last() {
            self.close(out);
        }
    }

    fn close(&mut self, out: &mut Vec<ReportRow>) {
        let day = std::mem::take(&mut self.day);
        let scheduled = &self.windows.days[self.current];
        self.current += 1;
        let local = |t: DateTime<Utc>| t.with_timezone(&self.tz).fixed_offset();
        let judged = day.judge(scheduled);
        let (first_in, place) = match day.first_in {
            Some((t, place)) => (Some(local(t)), place.filter(|_| self.shows_location)),
            None => (None, None),
        };
        let span = scheduled.scheduled();
        out.push(ReportRow {
            user_id: self.subject.id,
            employee_code: self.subject.employee_code.clone(),
            name: self.subject.name.clone(),
            date: scheduled.date,
            first_in,
            last_out: day.last_out.map(local),
            worked_minutes: judged.worked_minutes,
            status: judged.status,
            events: day.events,
            flagged: day.flagged,
            rejected: day.rejected,
            first_in_lat: place.as_ref().map(|p| p.lat),
            first_in_lon: place.as_ref().map(|p| p.lon),
            first_in_accuracy_m: place.as_ref().and_then(|p| p.accuracy_m),
            first_in_geofence: place.and_then(|p| p.geofence),
            corrected: day.corrected,
            shift_id: scheduled.shift.as_ref().map(|v| v.shift_id),
            shift_version: scheduled.shift.as_ref().map(|v| v.version),
            scheduled_start: span.map(|(start, _)| local(start)),
            scheduled_end: span.map(|(_, end)| local(end)),
            late_minutes: judged.late_minutes,
            early_leave_minutes: judged.early_leave_minutes,
            overtime_minutes: judged.overtime_minutes,
            open_since: day.open_since,
        });
    }
}

/// Does this row carry a location (something a disclosure audit must record)?
pub fn discloses_location(row: &ReportRow) -> bool {
    row.first_in_lat.is_some() || row.first_in_lon.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shifts::schedule::Calendar;

    fn subject() -> ReportSubject {
        ReportSubject {
            id: Uuid::nil(),
            employee_code: "E-1".into(),
            name: "Ann".into(),
            site_id: None,
            site_timezone: None,
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn ev(kind: Kind, t: &str, status: Status) -> ReportEvent {
        ReportEvent {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            kind,
            captured_at: at(t),
            status,
            source: Source::Device,
            outside: false,
            superseded: false,
            place: Some(Place {
                lat: 12.97,
                lon: 77.59,
                accuracy_m: Some(8.0),
                geofence: Some("Campus".into()),
            }),
        }
    }

    fn rows(tz: &str, from: &str, to: &str, events: &[ReportEvent], shows_location: bool) -> Vec<ReportRow> {
        rows_in(&Calendar::default(), tz, from, to, events, shows_location)
    }

    fn rows_in(
        calendar: &Calendar,
        tz: &str,
        from: &str,
        to: &str,
        events: &[ReportEvent],
        shows_location: bool,
    ) -> Vec<ReportRow> {
        let s = subject();
        let tz: Tz = tz.parse().unwrap();
        let windows = calendar.days(s.id, s.site_id, tz, date(from), date(to));
        let mut days = UserDays::new(&s, tz, windows, shows_location);
        let mut out = Vec::new();
        for e in events {
            days.push(e, &mut out);
        }
        days.finish(&mut out);
        out
    }

    use Kind::{CheckIn as In, CheckOut as Out};
    use Status::{Accepted as Ok_, Flagged, Rejected};

    #[test]
    fn a_day_with_pairs_counts_minutes_and_first_and_last() {
        let events = [
            ev(In, "2026-11-20T09:00:00+05:30", Ok_),
            ev(In, "2026-11-20T09:05:00+05:30", Ok_), // a repeated tap: the pair stays open at 09:00
            ev(Out, "2026-11-20T13:00:00+05:30", Ok_),
            ev(Out, "2026-11-20T13:10:00+05:30", Ok_), // no open pair: ignored for minutes
            ev(In, "2026-11-20T14:00:00+05:30", Flagged),
            ev(Out, "2026-11-20T18:30:59+05:30", Ok_),
        ];
        let out = rows("Asia/Kolkata", "2026-11-20", "2026-11-20", &events, true);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.status, DayStatus::Present);
        assert_eq!(r.worked_minutes, 240 + 270);
        assert_eq!(r.first_in.unwrap().to_rfc3339(), "2026-11-20T09:00:00+05:30");
        assert_eq!(r.last_out.unwrap().to_rfc3339(), "2026-11-20T18:30:59+05:30");
        assert_eq!((r.events, r.flagged, r.rejected), (6, 1, 0));
        assert_eq!(r.first_in_lat, Some(12.97));
        assert_eq!(r.first_in_geofence.as_deref(), Some("Campus"));
    }

    #[test]
    fn days_without_events_are_absent_and_every_date_has_a_row() {
        let events = [
            ev(In, "2026-11-21T09:00:00Z", Ok_),
            ev(Out, "2026-11-21T17:00:00Z", Ok_),
        ];
        let out = rows("UTC", "2026-11-20", "2026-11-23", &events, true);
        let got: Vec<_> = out.iter().map(|r| (r.date.to_string(), r.status)).collect();
        assert_eq!(
            got,
            [
                ("2026-11-20".into(), DayStatus::Absent),
                ("2026-11-21".into(), DayStatus::Present),
                ("2026-11-22".into(), DayStatus::Absent),
                ("2026-11-23".into(), DayStatus::Absent),
            ]
        );
        assert_eq!(out[0].worked_minutes, 0);
        assert!(out[0].first_in.is_none() && out[0].first_in_lat.is_none());
    }

    #[test]
    fn rejected_check_ins_alone_leave_the_day_absent_but_tallied() {
        let events = [
            ev(In, "2026-11-20T09:00:00Z", Rejected),
            ev(Out, "2026-11-20T17:00:00Z", Ok_),
        ];
        let r = &rows("UTC", "2026-11-20", "2026-11-20", &events, true)[0];
        assert_eq!(r.status, DayStatus::Absent);
        assert_eq!((r.events, r.rejected), (2, 1));
        assert!(r.first_in.is_none());
        assert_eq!(r.worked_minutes, 0);
        assert!(r.last_out.is_some(), "a counted check-out is still the day's last");
    }

    #[test]
    fn an_open_pair_at_midnight_is_incomplete_and_does_not_carry_over() {
        let events = [
            ev(In, "2026-11-20T22:00:00Z", Ok_),
            ev(Out, "2026-11-21T06:00:00Z", Ok_), // the next day: no open pair there
        ];
        let out = rows("UTC", "2026-11-20", "2026-11-21", &events, true);
        assert_eq!(out[0].status, DayStatus::Incomplete);
        assert_eq!(out[0].worked_minutes, 0);
        assert_eq!(out[1].status, DayStatus::Absent);
        assert_eq!(out[1].worked_minutes, 0);
    }

    #[test]
    fn out_of_fence_needs_every_check_in_flagged_or_rejected_outside() {
        let outside = |t: &str, o| ReportEvent {
            outside: true,
            ..ev(In, t, o)
        };
        let all_out = [
            outside("2026-11-20T09:00:00Z", Flagged),
            outside("2026-11-20T09:10:00Z", Rejected),
            ev(Out, "2026-11-20T17:00:00Z", Ok_),
        ];
        assert_eq!(
            rows("UTC", "2026-11-20", "2026-11-20", &all_out, true)[0].status,
            DayStatus::OutOfFence
        );
        let one_inside = [
            outside("2026-11-20T09:00:00Z", Flagged),
            ev(In, "2026-11-20T09:10:00Z", Ok_),
            ev(Out, "2026-11-20T17:00:00Z", Ok_),
        ];
        assert_eq!(
            rows("UTC", "2026-11-20", "2026-11-20", &one_inside, true)[0].status,
            DayStatus::Present
        );
        // Only rejected outside: nothing counted, so absent comes first.
        let rejected = [outside("2026-11-20T09:00:00Z", Rejected)];
        assert_eq!(
            rows("UTC", "2026-11-20", "2026-11-20", &rejected, true)[0].status,
            DayStatus::Absent
        );
        // Outside and never checked out: incomplete comes first.
        let open = [outside("2026-11-20T09:00:00Z", Flagged)];
        assert_eq!(
            rows("UTC", "2026-11-20", "2026-11-20", &open, true)[0].status,
            DayStatus::Incomplete
        );
    }

    /// A flagged event that an approved correction names.
    fn superseded(kind: Kind, t: &str) -> ReportEvent {
        ReportEvent {
            superseded: true,
            ..ev(kind, t, Flagged)
        }
    }

    /// The event an approved request wrote: accepted, with no location.
    fn by_request(kind: Kind, t: &str) -> ReportEvent {
        ReportEvent {
            source: Source::Request,
            place: None,
            ..ev(kind, t, Ok_)
        }
    }

    #[test]
    fn an_approved_request_completes_the_day_and_marks_it_corrected() {
        let outside = ReportEvent {
            outside: true,
            ..ev(In, "2026-11-20T09:00:00Z", Rejected)
        };
        let events = [
            outside,
            by_request(In, "2026-11-20T09:00:00Z"),
            ev(Out, "2026-11-20T17:00:00Z", Ok_),
            by_request(In, "2026-11-21T09:00:00Z"),
        ];
        let out = rows("UTC", "2026-11-20", "2026-11-22", &events, true);
        let summary: Vec<_> = out
            .iter()
            .map(|r| (r.status, r.corrected, r.worked_minutes, r.rejected))
            .collect();
        assert_eq!(
            summary,
            [
                (DayStatus::Present, true, 480, 1),
                (DayStatus::Incomplete, true, 0, 0),
                (DayStatus::Absent, false, 0, 0),
            ]
        );
        // A rejected event never counts, whoever wrote it.
        let rejected = [ReportEvent {
            source: Source::Request,
            ..ev(In, "2026-11-20T09:00:00Z", Rejected)
        }];
        assert!(!rows("UTC", "2026-11-20", "2026-11-20", &rejected, true)[0].corrected);
    }

    #[test]
    fn a_corrected_check_out_counts_at_its_corrected_time_only() {
        let later = [
            ev(In, "2026-11-20T09:00:00Z", Ok_),
            superseded(Out, "2026-11-20T17:00:00Z"),
            by_request(Out, "2026-11-20T18:00:00Z"),
        ];
        let r = &rows("UTC", "2026-11-20", "2026-11-20", &later, true)[0];
        assert_eq!(r.last_out.unwrap().to_rfc3339(), "2026-11-20T18:00:00+00:00");
        assert_eq!(
            r.worked_minutes,
            9 * 60,
            "the pair closes at the correction, not at 17:00"
        );
        assert_eq!((r.status, r.corrected), (DayStatus::Present, true));
        assert_eq!((r.events, r.flagged), (3, 1), "the original stays in the tallies");
        // Corrected to an earlier time: the original no longer stands as the day's last.
        let earlier = [
            ev(In, "2026-11-20T09:00:00Z", Ok_),
            by_request(Out, "2026-11-20T16:00:00Z"),
            superseded(Out, "2026-11-20T17:00:00Z"),
        ];
        let r = &rows("UTC", "2026-11-20", "2026-11-20", &earlier, true)[0];
        assert_eq!(r.last_out.unwrap().to_rfc3339(), "2026-11-20T16:00:00+00:00");
        assert_eq!(r.worked_minutes, 7 * 60);
        // Corrected to before the check-in it seemed to close: the day is open again, for
        // auto check-out to close.
        let before = [
            by_request(Out, "2026-11-20T08:30:00Z"),
            ev(In, "2026-11-20T09:00:00Z", Ok_),
            superseded(Out, "2026-11-20T17:00:00Z"),
        ];
        let r = &rows("UTC", "2026-11-20", "2026-11-20", &before, true)[0];
        assert_eq!(r.status, DayStatus::Incomplete);
        assert_eq!(r.open_since, Some(at("2026-11-20T09:00:00Z")));
    }

    #[test]
    fn a_corrected_check_in_moves_first_in_lateness_and_the_fence() {
        let (calendar, _) = shift_calendar("09:00", "18:00", None);
        let day =
            |events: &[ReportEvent]| rows_in(&calendar, "UTC", "2026-11-20", "2026-11-20", events, true).remove(0);
        let outside = |t: &str| ReportEvent {
            outside: true,
            ..ev(In, t, Flagged)
        };
        // Uncorrected, the only check-in is outside the fence and 40 minutes late.
        let r = day(&[outside("2026-11-20T09:40:00Z"), ev(Out, "2026-11-20T18:00:00Z", Ok_)]);
        assert_eq!((r.status, r.late_minutes), (DayStatus::OutOfFence, 40));
        // Corrected to 09:05: on time, inside, paid from 09:05; the location shown is the
        // correction's (none), not the original's.
        let r = day(&[
            by_request(In, "2026-11-20T09:05:00Z"),
            ReportEvent {
                superseded: true,
                ..outside("2026-11-20T09:40:00Z")
            },
            ev(Out, "2026-11-20T18:00:00Z", Ok_),
        ]);
        assert_eq!(r.first_in.unwrap().to_rfc3339(), "2026-11-20T09:05:00+00:00");
        assert_eq!((r.status, r.late_minutes, r.corrected), (DayStatus::Present, 0, true));
        assert_eq!(r.worked_minutes, 9 * 60 - 5 - 60);
        assert!(!discloses_location(&r));
        // A check-in at 08:00 corrected to 09:30: the day starts at 09:30, late.
        let r = day(&[
            superseded(In, "2026-11-20T08:00:00Z"),
            by_request(In, "2026-11-20T09:30:00Z"),
            ev(Out, "2026-11-20T18:00:00Z", Ok_),
        ]);
        assert_eq!(r.first_in.unwrap().to_rfc3339(), "2026-11-20T09:30:00+00:00");
        assert_eq!((r.status, r.late_minutes), (DayStatus::Late, 30));
        assert_eq!(r.worked_minutes, 8 * 60 + 30 - 60);
    }

    #[test]
    fn local_days_follow_a_half_hour_zone_and_midnight_belongs_to_the_new_day() {
        // Asia/Kolkata is UTC+05:30: 18:29:59Z is 23:59:59 on the 20th, 18:30:00Z is 00:00 on the 21st.
        let events = [
            ev(In, "2026-11-20T18:29:59Z", Ok_),
            ev(In, "2026-11-20T18:30:00Z", Ok_),
            ev(Out, "2026-11-21T02:30:00Z", Ok_),
        ];
        let out = rows("Asia/Kolkata", "2026-11-20", "2026-11-21", &events, true);
        assert_eq!(out[0].date, date("2026-11-20"));
        assert_eq!(out[0].status, DayStatus::Incomplete);
        assert_eq!(out[0].first_in.unwrap().to_rfc3339(), "2026-11-20T23:59:59+05:30");
        assert_eq!(out[1].status, DayStatus::Present);
        assert_eq!(out[1].first_in.unwrap().to_rfc3339(), "2026-11-21T00:00:00+05:30");
        assert_eq!(out[1].worked_minutes, 8 * 60);
        // The same instants in UTC fall on one day.
        let utc = rows("UTC", "2026-11-20", "2026-11-21", &events, true);
        assert_eq!(utc[0].events, 2);
        assert_eq!(utc[1].events, 1);
    }

    #[test]
    fn dst_days_count_real_time_and_keep_their_local_offsets() {
        // Europe/Berlin falls back on 2026-10-25 at 03:00 CEST -> 02:00 CET: the day has 25 hours.
        let fall = [
            ev(In, "2026-10-25T00:30:00+02:00", Ok_),
            ev(Out, "2026-10-25T04:30:00+01:00", Ok_),
        ];
        let r = &rows("Europe/Berlin", "2026-10-25", "2026-10-25", &fall, true)[0];
        assert_eq!(r.worked_minutes, 5 * 60, "four wall-clock hours, five real ones");
        assert_eq!(r.first_in.unwrap().to_rfc3339(), "2026-10-25T00:30:00+02:00");
        assert_eq!(r.last_out.unwrap().to_rfc3339(), "2026-10-25T04:30:00+01:00");
        // It springs forward on 2026-03-29 at 02:00 CET -> 03:00 CEST: the day has 23 hours.
        let spring = [
            ev(In, "2026-03-29T01:30:00+01:00", Ok_),
            ev(Out, "2026-03-29T03:30:00+02:00", Ok_),
            ev(In, "2026-03-29T23:59:00+02:00", Ok_),
        ];
        let out = rows("Europe/Berlin", "2026-03-28", "2026-03-30", &spring, true);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].worked_minutes, 60);
        assert_eq!(out[1].status, DayStatus::Incomplete);
        // 2026-03-29T22:00:00Z is midnight CEST: the first instant of the 30th.
        let midnight = [ev(In, "2026-03-29T22:00:00Z", Ok_)];
        let out = rows("Europe/Berlin", "2026-03-29", "2026-03-30", &midnight, true);
        assert_eq!(out[0].events, 0);
        assert_eq!(out[1].events, 1);
        assert_eq!(out[1].first_in.unwrap().to_rfc3339(), "2026-03-30T00:00:00+02:00");
    }

    #[test]
    fn location_is_left_out_unless_the_caller_may_see_it() {
        let events = [ev(In, "2026-11-20T09:00:00Z", Ok_)];
        let r = &rows("UTC", "2026-11-20", "2026-11-20", &events, false)[0];
        assert!(r.first_in.is_some());
        assert!(!discloses_location(r));
        assert!(r.first_in_accuracy_m.is_none() && r.first_in_geofence.is_none());
        // An erased location is null even for those who may see it.
        let erased = [ReportEvent {
            place: None,
            ..ev(In, "2026-11-20T09:00:00Z", Ok_)
        }];
        assert!(!discloses_location(
            &rows("UTC", "2026-11-20", "2026-11-20", &erased, true)[0]
        ));
    }

    #[test]
    fn events_outside_the_range_are_ignored() {
        let events = [
            ev(In, "2026-11-19T23:59:59Z", Ok_),
            ev(In, "2026-11-20T10:00:00Z", Ok_),
            ev(In, "2026-11-21T00:00:00Z", Ok_),
        ];
        let out = rows("UTC", "2026-11-20", "2026-11-20", &events, true);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].events, 1);
    }

    #[test]
    fn ranges_are_checked_and_windows_cover_every_zone() {
        assert_eq!(
            DateRange::new(date("2026-11-20"), date("2026-11-19")),
            Err(RangeError::Reversed)
        );
        assert_eq!(
            DateRange::new(date("2025-01-01"), date("2026-01-01")).unwrap().days(),
            366
        );
        assert_eq!(
            DateRange::new(date("2025-01-01"), date("2026-01-02")),
            Err(RangeError::TooLong)
        );
        let range = DateRange::new(date("2026-11-20"), date("2026-11-20")).unwrap();
        let (start, end) = range.utc_window();
        for tz in ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kolkata", "America/St_Johns"] {
            let tz: Tz = tz.parse().unwrap();
            let first = tz.from_local_datetime(&date("2026-11-20").into()).earliest().unwrap();
            let last = tz.from_local_datetime(&date("2026-11-21").into()).earliest().unwrap();
            assert!(
                first.with_timezone(&Utc) >= start && last.with_timezone(&Utc) <= end,
                "{tz}"
            );
        }
    }

    #[test]
    fn the_subject_zone_falls_back_to_the_org() {
        let mut s = subject();
        assert_eq!(s.timezone(Tz::Europe__Berlin), Tz::Europe__Berlin);
        s.site_timezone = Some("Asia/Kolkata".into());
        assert_eq!(s.timezone(Tz::Europe__Berlin), Tz::Asia__Kolkata);
        s.site_timezone = Some("Not/AZone".into());
        assert_eq!(s.timezone(Tz::UTC), Tz::UTC);
    }

    /// A calendar giving the test subject one shift from 2026-01-01 (rules from
    /// `shifts::schedule`'s test shape), with an org-wide holiday on 2026-11-19.
    fn shift_calendar(start: &str, end: &str, overtime_after_min: Option<u32>) -> (Calendar, Uuid) {
        use crate::storage::shifts::{Assignment, Holiday, ScheduleInputs, ShiftRules, ShiftVersion, Target, Weekdays};
        let shift = Uuid::now_v7();
        let mut weekdays = Weekdays::default();
        for d in ["mon", "tue", "wed", "thu", "fri"] {
            weekdays.insert(Weekdays::parse_day(d).unwrap());
        }
        let time = |t: &str| chrono::NaiveTime::parse_from_str(t, "%H:%M").unwrap();
        let calendar = Calendar::new(ScheduleInputs {
            assignments: vec![Assignment {
                id: Uuid::now_v7(),
                shift_id: shift,
                target: Target::User(Uuid::nil()),
                from: date("2026-01-01"),
                to: None,
                created_at: at("2026-01-01T00:00:00Z"),
            }],
            versions: vec![ShiftVersion {
                shift_id: shift,
                version: 1,
                name: "Day".into(),
                rules: ShiftRules {
                    start: time(start),
                    end: time(end),
                    weekdays,
                    late_grace_min: 10,
                    early_grace_min: 15,
                    break_min: 60,
                    half_day_below_min: 240,
                    overtime_after_min,
                },
                effective_at: at("2026-01-01T00:00:00Z"),
            }],
            holidays: vec![Holiday {
                id: Uuid::now_v7(),
                date: date("2026-11-19"),
                name: "Founders' day".into(),
                site_id: None,
                created_at: at("2026-01-01T00:00:00Z"),
            }],
        });
        (calendar, shift)
    }

    #[test]
    fn a_shift_judges_late_early_leave_half_day_and_overtime() {
        let (calendar, shift) = shift_calendar("09:00", "18:00", Some(480));
        let day =
            |events: &[ReportEvent]| rows_in(&calendar, "UTC", "2026-11-20", "2026-11-20", events, true).remove(0);
        // On time within grace, no lunch check-out: the hour of break is deducted.
        let r = day(&[
            ev(In, "2026-11-20T09:10:00Z", Ok_),
            ev(Out, "2026-11-20T18:00:00Z", Ok_),
        ]);
        assert_eq!(
            (r.status, r.late_minutes, r.early_leave_minutes),
            (DayStatus::Present, 0, 0)
        );
        assert_eq!(r.worked_minutes, 9 * 60 - 10 - 60);
        assert_eq!(r.shift_id, Some(shift));
        assert_eq!(r.shift_version, Some(1));
        assert_eq!(r.scheduled_start.unwrap().to_rfc3339(), "2026-11-20T09:00:00+00:00");
        assert_eq!(r.scheduled_end.unwrap().to_rfc3339(), "2026-11-20T18:00:00+00:00");
        // Past the grace: late by the whole time since the start.
        let r = day(&[
            ev(In, "2026-11-20T09:11:00Z", Ok_),
            ev(Out, "2026-11-20T18:00:00Z", Ok_),
        ]);
        assert_eq!((r.status, r.late_minutes), (DayStatus::Late, 11));
        // A lunch taken as a check-out is not deducted again; leaving 16 minutes early.
        let r = day(&[
            ev(In, "2026-11-20T09:00:00Z", Ok_),
            ev(Out, "2026-11-20T13:00:00Z", Ok_),
            ev(In, "2026-11-20T14:00:00Z", Ok_),
            ev(Out, "2026-11-20T17:44:00Z", Ok_),
        ]);
        assert_eq!((r.status, r.early_leave_minutes), (DayStatus::EarlyLeave, 16));
        assert_eq!(r.worked_minutes, 240 + 224);
        // Late and leaving early: late comes first, both are counted.
        let r = day(&[
            ev(In, "2026-11-20T09:30:00Z", Ok_),
            ev(Out, "2026-11-20T17:00:00Z", Ok_),
        ]);
        assert_eq!(
            (r.status, r.late_minutes, r.early_leave_minutes),
            (DayStatus::Late, 30, 60)
        );
        // Under the half-day threshold (four hours less the hour of break).
        let r = day(&[
            ev(In, "2026-11-20T09:00:00Z", Ok_),
            ev(Out, "2026-11-20T13:00:00Z", Ok_),
        ]);
        assert_eq!((r.status, r.worked_minutes), (DayStatus::HalfDay, 180));
        // Overtime beyond 480 worked minutes.
        let r = day(&[
            ev(In, "2026-11-20T08:55:00Z", Ok_),
            ev(Out, "2026-11-20T20:00:00Z", Ok_),
        ]);
        assert_eq!(
            (r.status, r.worked_minutes, r.overtime_minutes),
            (DayStatus::Present, 605, 125)
        );
        // Still open: incomplete, kept open for auto check-out, no early leave.
        let r = day(&[ev(In, "2026-11-20T09:00:00Z", Ok_)]);
        assert_eq!((r.status, r.early_leave_minutes), (DayStatus::Incomplete, 0));
        assert_eq!(r.open_since, Some(at("2026-11-20T09:00:00Z")));
        assert_eq!(day(&[]).status, DayStatus::Absent);
    }

    #[test]
    fn holidays_and_weekly_offs_come_first_and_their_work_is_overtime() {
        let (calendar, _) = shift_calendar("09:00", "18:00", Some(480));
        let events = [
            ev(In, "2026-11-21T10:00:00Z", Ok_), // Saturday
            ev(Out, "2026-11-21T12:00:00Z", Ok_),
        ];
        let out = rows_in(&calendar, "UTC", "2026-11-19", "2026-11-22", &events, true);
        let got: Vec<_> = out.iter().map(|r| (r.status, r.overtime_minutes)).collect();
        assert_eq!(
            got,
            [
                (DayStatus::Holiday, 0),
                (DayStatus::Absent, 0),
                (DayStatus::WeeklyOff, 120),
                (DayStatus::WeeklyOff, 0),
            ]
        );
        assert!(out[2].scheduled_start.is_none() && out[2].shift_id.is_some());
        // Without an overtime threshold nothing is overtime.
        let (calendar, _) = shift_calendar("09:00", "18:00", None);
        let out = rows_in(&calendar, "UTC", "2026-11-21", "2026-11-21", &events, true);
        assert_eq!((out[0].status, out[0].overtime_minutes), (DayStatus::WeeklyOff, 0));
    }

    #[test]
    fn a_night_shift_belongs_to_the_day_it_starts_across_midnight_and_dst() {
        let (calendar, _) = shift_calendar("22:00", "06:00", None);
        // Thursday night into Friday morning, in Berlin when the clocks fall back (Sunday
        // 2026-10-25 is a weekly off; use the spring and autumn nights around them).
        let events = [
            ev(In, "2026-10-22T22:05:00+02:00", Ok_),
            ev(Out, "2026-10-23T06:30:00+02:00", Ok_),
        ];
        let out = rows_in(&calendar, "Europe/Berlin", "2026-10-22", "2026-10-23", &events, true);
        assert_eq!(out[0].status, DayStatus::Present);
        assert_eq!(out[0].worked_minutes, 8 * 60 + 25 - 60);
        assert_eq!(out[0].scheduled_end.unwrap().to_rfc3339(), "2026-10-23T06:00:00+02:00");
        assert_eq!(
            out[1].status,
            DayStatus::Absent,
            "the morning belongs to the night before"
        );
        // A Saturday-night shift is a weekly off; the Sunday 25th has 25 hours: a night shift
        // from Monday 26th 22:00 CET.
        let monday = [
            ev(In, "2026-10-26T21:55:00+01:00", Ok_),
            ev(Out, "2026-10-27T06:00:00+01:00", Ok_),
        ];
        let out = rows_in(&calendar, "Europe/Berlin", "2026-10-26", "2026-10-26", &monday, true);
        assert_eq!((out[0].status, out[0].late_minutes), (DayStatus::Present, 0));
        assert_eq!(
            out[0].scheduled_start.unwrap().to_rfc3339(),
            "2026-10-26T22:00:00+01:00"
        );
        // Spring forward, Berlin 2026-03-29 02:00 -> 03:00: a Friday-to-Saturday night is
        // unaffected, but a shift from 02:30 starts at the change, 03:00 CEST.
        let (calendar, _) = shift_calendar("02:30", "10:00", None);
        let sunday = calendar.day(Uuid::nil(), None, Tz::Europe__Berlin, date("2026-03-29"));
        assert_eq!(sunday.span.unwrap().0, at("2026-03-29T03:00:00+02:00"));
    }

    #[test]
    fn a_leap_day_is_a_day_like_any_other() {
        let (calendar, _) = shift_calendar("09:00", "18:00", None);
        let events = [
            ev(In, "2028-02-29T09:20:00Z", Ok_),
            ev(Out, "2028-02-29T18:00:00Z", Ok_),
        ];
        let out = rows_in(&calendar, "UTC", "2028-02-28", "2028-03-01", &events, true);
        let got: Vec<_> = out.iter().map(|r| (r.date.to_string(), r.status)).collect();
        assert_eq!(
            got,
            [
                ("2028-02-28".into(), DayStatus::Absent),
                ("2028-02-29".into(), DayStatus::Late),
                ("2028-03-01".into(), DayStatus::Absent),
            ]
        );
        assert_eq!(out[1].late_minutes, 20);
    }
}
