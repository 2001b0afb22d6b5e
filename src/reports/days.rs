//! One row per user per local day: the day's status and totals from its events, in the
//! user's time zone.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::storage::events::{Kind, Source, Status};
use crate::storage::reports::{Place, ReportEvent, ReportSubject};

/// The longest report, in days (`to - from + 1`).
pub const MAX_DAYS: u64 = 366;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    Present,
    Absent,
    Incomplete,
    OutOfFence,
}

impl DayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DayStatus::Present => "present",
            DayStatus::Absent => "absent",
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
    /// An approved attendance request added an event to the day (`source: "request"`): the
    /// day is judged with it, and the original events still count as they were.
    pub corrected: bool,
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

    /// A UTC window that holds every instant of these dates in any time zone (UTC offsets
    /// lie within -12 h and +14 h): events are fetched in it and then sorted into local
    /// days exactly.
    pub fn utc_window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.from.checked_sub_days(Days::new(1)).unwrap_or(self.from);
        let end = self.to.checked_add_days(Days::new(2)).unwrap_or(self.to);
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
                self.open_since.get_or_insert(e.captured_at);
            }
            Kind::CheckOut => {
                self.last_out = Some(e.captured_at);
                if let Some(start) = self.open_since.take() {
                    self.worked_s += e.captured_at.signed_duration_since(start).num_seconds();
                }
            }
        }
    }

    fn status(&self) -> DayStatus {
        if self.counted_check_ins == 0 {
            DayStatus::Absent
        } else if self.check_ins_outside == self.check_ins {
            DayStatus::OutOfFence
        } else if self.open_since.is_some() {
            DayStatus::Incomplete
        } else {
            DayStatus::Present
        }
    }
}

/// Turns one user's events, pushed in time order, into one row per local day of the range.
pub struct UserDays<'a> {
    subject: &'a ReportSubject,
    tz: Tz,
    shows_location: bool,
    /// The next date without a row yet; `None` once the range is done.
    next: Option<NaiveDate>,
    to: NaiveDate,
    day: Day,
}

impl<'a> UserDays<'a> {
    pub fn new(subject: &'a ReportSubject, tz: Tz, range: DateRange, shows_location: bool) -> Self {
        UserDays {
            subject,
            tz,
            shows_location,
            next: Some(range.from),
            to: range.to,
            day: Day::default(),
        }
    }

    /// Adds the next event (events must come in `captured_at` order), emitting the rows of
    /// the days it leaves behind. Events outside the range are ignored.
    pub fn push(&mut self, event: &ReportEvent, out: &mut Vec<ReportRow>) {
        let date = event.captured_at.with_timezone(&self.tz).date_naive();
        if date > self.to {
            return;
        }
        while let Some(current) = self.next
            && current < date
        {
            self.close(current, out);
        }
        if self.next == Some(date) {
            self.day.add(event);
        }
    }

    /// Emits the rows of the remaining days.
    pub fn finish(mut self, out: &mut Vec<ReportRow>) {
        while let Some(current) = self.next {
            self.close(current, out);
        }
    }

    fn close(&mut self, date: NaiveDate, out: &mut Vec<ReportRow>) {
        let day = std::mem::take(&mut self.day);
        let local = |t: DateTime<Utc>| t.with_timezone(&self.tz).fixed_offset();
        let status = day.status();
        let (first_in, place) = match day.first_in {
            Some((t, place)) => (Some(local(t)), place.filter(|_| self.shows_location)),
            None => (None, None),
        };
        out.push(ReportRow {
            user_id: self.subject.id,
            employee_code: self.subject.employee_code.clone(),
            name: self.subject.name.clone(),
            date,
            first_in,
            last_out: day.last_out.map(local),
            worked_minutes: day.worked_s.max(0) / 60,
            status,
            events: day.events,
            flagged: day.flagged,
            rejected: day.rejected,
            first_in_lat: place.as_ref().map(|p| p.lat),
            first_in_lon: place.as_ref().map(|p| p.lon),
            first_in_accuracy_m: place.as_ref().and_then(|p| p.accuracy_m),
            first_in_geofence: place.and_then(|p| p.geofence),
            corrected: day.corrected,
        });
        self.next = date.succ_opt().filter(|d| *d <= self.to);
    }
}

/// Does this row carry a location (something a disclosure audit must record)?
pub fn discloses_location(row: &ReportRow) -> bool {
    row.first_in_lat.is_some() || row.first_in_lon.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> ReportSubject {
        ReportSubject {
            id: Uuid::nil(),
            employee_code: "E-1".into(),
            name: "Ann".into(),
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
            place: Some(Place {
                lat: 12.97,
                lon: 77.59,
                accuracy_m: Some(8.0),
                geofence: Some("Campus".into()),
            }),
        }
    }

    fn rows(tz: &str, from: &str, to: &str, events: &[ReportEvent], shows_location: bool) -> Vec<ReportRow> {
        let s = subject();
        let range = DateRange::new(date(from), date(to)).unwrap();
        let mut days = UserDays::new(&s, tz.parse().unwrap(), range, shows_location);
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
        // Outside and never checked out: out_of_fence wins over incomplete.
        let open = [outside("2026-11-20T09:00:00Z", Flagged)];
        assert_eq!(
            rows("UTC", "2026-11-20", "2026-11-20", &open, true)[0].status,
            DayStatus::OutOfFence
        );
    }

    #[test]
    fn an_approved_request_completes_the_day_and_marks_it_corrected() {
        let approved = |kind, t: &str| ReportEvent {
            source: Source::Request,
            place: None,
            ..ev(kind, t, Ok_)
        };
        let outside = ReportEvent {
            outside: true,
            ..ev(In, "2026-11-20T09:00:00Z", Rejected)
        };
        let events = [
            outside,
            approved(In, "2026-11-20T09:00:00Z"),
            ev(Out, "2026-11-20T17:00:00Z", Ok_),
            approved(In, "2026-11-21T09:00:00Z"),
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
}
