//! Which shift governs a user's date, and what the date is: pure, with no I/O, so that a
//! month report resolves a page of users from one load of [`ScheduleInputs`].
//!
//! # Rules
//! - **Which assignment.** The user's own assignment covering the date wins over their home
//!   site's (the first of their sites by id, the site whose zone their days are counted in).
//!   Assignments of one target never overlap (the store refuses it), so at most one of each
//!   applies.
//! - **Which version.** The one in force when the local day began (00:00 in the user's zone):
//!   a change made during a day applies from the next, and the days before it keep the
//!   version they were judged by. Days before the shift's first version use that version.
//! - **Kind.** A holiday of the organisation or of the home site makes the date a `holiday`,
//!   with or without a shift; otherwise a shift's weekday outside its `weekdays` is a
//!   `weekly_off`; every other date is `working`. With no shift every date but a holiday is
//!   working (and is judged with no schedule, as before shifts existed).
//! - **Local times to instants.** `start` and `end` are wall-clock times of the user's zone
//!   on the date (`end` on the next date for a night shift). A time that a daylight-saving
//!   change skips becomes the first valid instant after it (the change itself); a time it
//!   repeats is the earlier of the two instants.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono::{LocalResult, TimeDelta, Timelike};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::storage::shifts::{Assignment, ScheduleInputs, ShiftVersion, Target};

/// What a date is for one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    Working,
    WeeklyOff,
    Holiday,
}

/// One user's date, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledDay {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// The shift version governing the date, if any.
    pub shift: Option<Arc<ShiftVersion>>,
    /// The shift's start and end on this date, whatever the kind; `None` without a shift.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl ScheduledDay {
    /// The start and end the day is judged against: a working day's with a shift.
    pub fn scheduled(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.span.filter(|_| self.kind == DayKind::Working)
    }

    /// Where the day's events are expected: the shift's span, else the local calendar day.
    /// The boundary between two days lies between them (see [`boundary`]).
    fn anchors(&self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        self.span.unwrap_or_else(|| {
            let next = self.date.checked_add_days(Days::new(1)).unwrap_or(self.date);
            (
                local_instant(tz, self.date, NaiveTime::MIN),
                local_instant(tz, next, NaiveTime::MIN),
            )
        })
    }
}

/// The instant a wall-clock time of `tz` on `date` names: the earlier one where a
/// daylight-saving change repeats it, the first valid instant after it where one skips it.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let wall = date.and_time(time);
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // Inside a gap: the first wall-clock minute that exists is the instant of the
            // change (gaps begin and end on whole minutes in every zone of the tz database).
            let mut probe = wall.with_second(0).and_then(|w| w.with_nanosecond(0)).unwrap_or(wall);
            for _ in 0..=24 * 60 {
                let Some(next) = probe.checked_add_signed(TimeDelta::minutes(1)) else {
                    break;
                };
                probe = next;
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            // No zone has a gap of a day; fall back to reading the time as UTC.
            Utc.from_utc_datetime(&wall)
        }
    }
}

/// Where one day's events end and the next day's begin: halfway between the first day's
/// end and the second's start, so that a late check-out belongs to the day it closes and an
/// early check-in to the day it opens. Without shifts both are local midnight, and the
/// boundary is midnight. Where the first day ends after the second starts (a night shift
/// followed by a date without one), halfway between the two ends.
pub fn boundary(first: (DateTime<Utc>, DateTime<Utc>), second: (DateTime<Utc>, DateTime<Utc>)) -> DateTime<Utc> {
    let end = first.1;
    let (start, later_end) = second;
    let toward = if end <= start { start } else { later_end.max(end) };
    end + (toward - end) / 2
}

/// A page of users' assignments, shift versions and holidays, indexed for [`Calendar::day`].
#[derive(Debug, Default)]
pub struct Calendar {
    by_user: HashMap<Uuid, Vec<Assignment>>,
    by_site: HashMap<Uuid, Vec<Assignment>>,
    /// Each shift's versions, ascending.
    versions: HashMap<Uuid, Vec<Arc<ShiftVersion>>>,
    org_holidays: HashSet<NaiveDate>,
    site_holidays: HashSet<(Uuid, NaiveDate)>,
}

impl Calendar {
    pub fn new(inputs: ScheduleInputs) -> Self {
        let mut calendar = Calendar::default();
        for a in inputs.assignments {
            match a.target {
                Target::User(id) => calendar.by_user.entry(id).or_default().push(a),
                Target::Site(id) => calendar.by_site.entry(id).or_default().push(a),
            }
        }
        for v in inputs.versions {
            calendar.versions.entry(v.shift_id).or_default().push(Arc::new(v));
        }
        for versions in calendar.versions.values_mut() {
            versions.sort_by_key(|v| v.version);
        }
        for h in inputs.holidays {
            match h.site_id {
                None => calendar.org_holidays.insert(h.date),
                Some(site) => calendar.site_holidays.insert((site, h.date)),
            };
        }
        calendar
    }

    /// What `date` is for the user `user` (home site `site`), counted in `tz`.
    pub fn day(&self, user: Uuid, site: Option<Uuid>, tz: Tz, date: NaiveDate) -> ScheduledDay {
        let covering = |list: Option<&'_ Vec<Assignment>>| list?.iter().find(|a| a.covers(date)).map(|a| a.shift_id);
        let shift_id = covering(self.by_user.get(&user)).or_else(|| site.and_then(|s| covering(self.by_site.get(&s))));
        let day_start = local_instant(tz, date, NaiveTime::MIN);
        let shift = shift_id
            .and_then(|id| self.versions.get(&id))
            .and_then(|versions| {
                versions
                    .iter()
                    .rev()
                    .find(|v| v.effective_at <= day_start)
                    .or(versions.first())
            })
            .cloned();
        let holiday =
            self.org_holidays.contains(&date) || site.is_some_and(|s| self.site_holidays.contains(&(s, date)));
        let kind = match &shift {
            _ if holiday => DayKind::Holiday,
            Some(v) if !v.rules.weekdays.contains(date.weekday()) => DayKind::WeeklyOff,
            _ => DayKind::Working,
        };
        let span = shift.as_ref().map(|v| {
            let end_date = if v.rules.is_night() {
                date.checked_add_days(Days::new(1)).unwrap_or(date)
            } else {
                date
            };
            (
                local_instant(tz, date, v.rules.start),
                local_instant(tz, end_date, v.rules.end),
            )
        });
        ScheduledDay {
            date,
            kind,
            shift,
            span,
        }
    }

    /// The user's days `from..=to` with the instants their events are sorted by: `bounds[i]`
    /// is where `days[i]` ends and `days[i + 1]` begins. The dates either side of the range
    /// are resolved too, for the range's first and last boundaries.
    pub fn days(&self, user: Uuid, site: Option<Uuid>, tz: Tz, from: NaiveDate, to: NaiveDate) -> DayWindows {
        let before = from.pred_opt().unwrap_or(from);
        let after = to.succ_opt().unwrap_or(to);
        let days: Vec<ScheduledDay> = before
            .iter_days()
            .take_while(|d| *d <= after)
            .map(|d| self.day(user, site, tz, d))
            .collect();
        let mut bounds: Vec<DateTime<Utc>> = Vec::with_capacity(days.len());
        for pair in days.windows(2) {
            let b = boundary(pair[0].anchors(tz), pair[1].anchors(tz));
            // Never before the previous boundary, whatever odd shifts meet.
            bounds.push(bounds.last().map_or(b, |prev| b.max(*prev)));
        }
        DayWindows { days, bounds }
    }
}

/// A user's consecutive days and the boundaries between them (see [`Calendar::days`]): day
/// `days[i]` holds the events in `[bounds[i - 1], bounds[i])`. The first and last days are
/// outside the requested range and only place its ends.
#[derive(Clone, Debug)]
pub struct DayWindows {
    pub days: Vec<ScheduledDay>,
    pub bounds: Vec<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::shifts::{Holiday, ShiftRules, Weekdays};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn time(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn rules(start: &str, end: &str, days: &[&str]) -> ShiftRules {
        let mut weekdays = Weekdays::default();
        for d in days {
            weekdays.insert(Weekdays::parse_day(d).unwrap());
        }
        ShiftRules {
            start: time(start),
            end: time(end),
            weekdays,
            late_grace_min: 10,
            early_grace_min: 10,
            break_min: 60,
            half_day_below_min: 240,
            overtime_after_min: Some(480),
        }
    }

    const WEEK: &[&str] = &["mon", "tue", "wed", "thu", "fri"];

    fn version(shift: Uuid, n: u32, r: ShiftRules, effective: &str) -> ShiftVersion {
        ShiftVersion {
            shift_id: shift,
            version: n,
            name: format!("v{n}"),
            rules: r,
            effective_at: at(effective),
        }
    }

    fn assign(shift: Uuid, target: Target, from: &str, to: Option<&str>) -> Assignment {
        Assignment {
            id: Uuid::now_v7(),
            shift_id: shift,
            target,
            from: date(from),
            to: to.map(date),
            created_at: at("2026-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn a_users_own_assignment_wins_over_the_sites_and_dates_outside_either_have_none() {
        let (day_shift, night_shift) = (Uuid::now_v7(), Uuid::now_v7());
        let (user, site) = (Uuid::now_v7(), Uuid::now_v7());
        let calendar = Calendar::new(ScheduleInputs {
            assignments: vec![
                assign(day_shift, Target::Site(site), "2026-11-01", None),
                assign(night_shift, Target::User(user), "2026-11-10", Some("2026-11-11")),
            ],
            versions: vec![
                version(day_shift, 1, rules("09:00", "18:00", WEEK), "2026-01-01T00:00:00Z"),
                version(night_shift, 1, rules("22:00", "06:00", WEEK), "2026-01-01T00:00:00Z"),
            ],
            holidays: vec![],
        });
        let tz = Tz::UTC;
        let shift_of = |d: &str| calendar.day(user, Some(site), tz, date(d)).shift.map(|v| v.shift_id);
        assert_eq!(shift_of("2026-10-31"), None);
        assert_eq!(shift_of("2026-11-09"), Some(day_shift));
        assert_eq!(shift_of("2026-11-10"), Some(night_shift));
        assert_eq!(shift_of("2026-11-12"), Some(day_shift));
        // Another user of no site: nothing.
        assert_eq!(calendar.day(Uuid::now_v7(), None, tz, date("2026-11-10")).shift, None);
        // The night shift ends the next morning.
        let night = calendar.day(user, Some(site), tz, date("2026-11-10"));
        assert_eq!(
            night.span,
            Some((at("2026-11-10T22:00:00Z"), at("2026-11-11T06:00:00Z")))
        );
    }

    #[test]
    fn weekdays_and_holidays_make_the_kind_and_a_holiday_needs_no_shift() {
        let shift = Uuid::now_v7();
        let (user, site, other_site) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let holiday = |d: &str, site_id| Holiday {
            id: Uuid::now_v7(),
            date: date(d),
            name: "h".into(),
            site_id,
            created_at: at("2026-01-01T00:00:00Z"),
        };
        let calendar = Calendar::new(ScheduleInputs {
            assignments: vec![assign(shift, Target::User(user), "2026-11-01", None)],
            versions: vec![version(shift, 1, rules("09:00", "18:00", WEEK), "2026-01-01T00:00:00Z")],
            holidays: vec![
                holiday("2026-11-02", None),
                holiday("2026-11-03", Some(site)),
                holiday("2026-11-04", Some(other_site)),
            ],
        });
        let kind = |u, d: &str| calendar.day(u, Some(site), Tz::UTC, date(d)).kind;
        assert_eq!(kind(user, "2026-11-01"), DayKind::WeeklyOff, "a Sunday");
        assert_eq!(kind(user, "2026-11-02"), DayKind::Holiday);
        assert_eq!(kind(user, "2026-11-03"), DayKind::Holiday, "the home site's");
        assert_eq!(kind(user, "2026-11-04"), DayKind::Working, "another site's holiday");
        let nobody = Uuid::now_v7();
        assert_eq!(
            kind(nobody, "2026-11-01"),
            DayKind::Working,
            "no shift: every day works"
        );
        assert_eq!(kind(nobody, "2026-11-02"), DayKind::Holiday);
        assert_eq!(
            calendar.day(user, Some(site), Tz::UTC, date("2026-11-02")).scheduled(),
            None
        );
    }

    #[test]
    fn a_day_keeps_the_version_in_force_when_it_began() {
        let shift = Uuid::now_v7();
        let user = Uuid::now_v7();
        let calendar = Calendar::new(ScheduleInputs {
            assignments: vec![assign(shift, Target::User(user), "2026-01-01", None)],
            versions: vec![
                version(shift, 2, rules("10:00", "19:00", WEEK), "2026-11-10T10:00:00Z"),
                version(shift, 1, rules("09:00", "18:00", WEEK), "2026-11-05T12:00:00Z"),
            ],
            holidays: vec![],
        });
        let v = |d: &str| {
            calendar
                .day(user, None, Tz::Asia__Kolkata, date(d))
                .shift
                .unwrap()
                .version
        };
        assert_eq!(v("2026-11-01"), 1, "before the first version: the first");
        assert_eq!(v("2026-11-10"), 1, "changed during the day: the day keeps v1");
        assert_eq!(v("2026-11-11"), 2);
    }

    #[test]
    fn skipped_and_repeated_local_times() {
        let berlin = Tz::Europe__Berlin;
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST. 02:30 does not exist: the change itself.
        assert_eq!(
            local_instant(berlin, date("2026-03-29"), time("02:30")),
            at("2026-03-29T03:00:00+02:00")
        );
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET. 02:30 happens twice: the earlier.
        assert_eq!(
            local_instant(berlin, date("2026-10-25"), time("02:30")),
            at("2026-10-25T02:30:00+02:00")
        );
        assert_eq!(
            local_instant(berlin, date("2026-10-26"), time("09:00")),
            at("2026-10-26T09:00:00+01:00")
        );
        // Leap day.
        assert_eq!(
            local_instant(Tz::UTC, date("2028-02-29"), time("23:30")),
            at("2028-02-29T23:30:00Z")
        );
    }

    #[test]
    fn boundaries_lie_between_days_and_night_shifts_own_their_morning() {
        let shift = Uuid::now_v7();
        let user = Uuid::now_v7();
        let calendar = Calendar::new(ScheduleInputs {
            assignments: vec![assign(shift, Target::User(user), "2026-11-02", Some("2026-11-03"))],
            versions: vec![version(shift, 1, rules("22:00", "06:00", WEEK), "2026-01-01T00:00:00Z")],
            holidays: vec![],
        });
        let w = calendar.days(user, None, Tz::UTC, date("2026-11-02"), date("2026-11-04"));
        assert_eq!(w.days.len(), 5);
        assert_eq!(w.bounds.len(), 4);
        // 11-01 has no shift (anchors are its midnights); 11-02's shift starts 22:00: halfway
        // between 11-02 00:00 and 22:00.
        assert_eq!(w.bounds[0], at("2026-11-02T11:00:00Z"));
        // Between two night shifts: halfway from 06:00 to 22:00.
        assert_eq!(w.bounds[1], at("2026-11-03T14:00:00Z"));
        // The last night shift ends 11-04 06:00 and 11-04 has none: halfway from 06:00 to
        // 11-05 00:00, so a check-out at 07:00 still closes the night.
        assert_eq!(w.bounds[2], at("2026-11-04T15:00:00Z"));
        assert_eq!(w.bounds[3], at("2026-11-05T00:00:00Z"));
        // Without shifts every boundary is local midnight.
        let plain = Calendar::default().days(user, None, Tz::Asia__Kolkata, date("2026-11-02"), date("2026-11-02"));
        assert_eq!(
            plain.bounds,
            [at("2026-11-02T00:00:00+05:30"), at("2026-11-03T00:00:00+05:30")]
        );
    }
}
