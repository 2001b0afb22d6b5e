//! The bodies of the shift, assignment and holiday writes, parsed strictly and validated
//! field by field: every bad field is named in one answer. Pure, so tested without a server.

use chrono::{NaiveDate, NaiveTime, Timelike};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::field::{FieldError, InputError};
use crate::requests::input::parse_date;
use crate::storage::shifts::{ShiftRules, Target, Weekdays};

/// The longest shift or holiday name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The largest minute count of any rule: a day.
pub const MAX_MINUTES: u32 = 1440;

/// `POST /v1/shifts` and `PUT /v1/shifts/{id}` (which replaces every field). Every field is
/// required except `overtime_after_min`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftBody {
    /// 1 to 100 characters (surrounding white space is dropped).
    #[schema(example = "General")]
    pub name: String,
    /// Local start, `HH:MM` (24-hour).
    #[schema(example = "09:00")]
    pub start: String,
    /// Local end, `HH:MM`; before `start` for a night shift ending the next day; never equal
    /// to `start`.
    #[schema(example = "18:00")]
    pub end: String,
    /// The working days, `"mon"`..`"sun"`: at least one, each once.
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub weekdays: Vec<String>,
    /// Minutes after `start` a check-in is still on time: 0 to the shift's length.
    #[schema(example = 10)]
    pub late_grace_min: u32,
    /// Minutes before `end` a check-out is not an early leave: 0 to the shift's length.
    #[schema(example = 10)]
    pub early_grace_min: u32,
    /// Unpaid break minutes: less than the shift's length.
    #[schema(example = 60)]
    pub break_min: u32,
    /// A day with fewer worked minutes is a half day: 0 to 1440.
    #[schema(example = 240)]
    pub half_day_below_min: u32,
    /// Worked minutes beyond this are overtime, 0 to 1440; omitted or `null`: no overtime.
    #[serde(default)]
    pub overtime_after_min: Option<u32>,
}

/// A shift's name and rules, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftDraft {
    pub name: String,
    pub rules: ShiftRules,
}

/// `POST /v1/shift-assignments`: exactly one of `site_id` and `user_id`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    pub shift_id: Uuid,
    #[serde(default)]
    pub site_id: Option<Uuid>,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// The first date, `YYYY-MM-DD`.
    #[schema(format = Date, example = "2026-12-01")]
    pub from: String,
    /// The last date (inclusive), not before `from`; omitted or `null`: open-ended.
    #[serde(default)]
    #[schema(format = Date, example = "2026-12-31")]
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentDraft {
    pub shift_id: Uuid,
    pub target: Target,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

/// `POST /v1/holidays`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayBody {
    /// `YYYY-MM-DD`.
    #[schema(format = Date, example = "2026-12-25")]
    pub date: String,
    /// 1 to 100 characters.
    #[schema(example = "Christmas")]
    pub name: String,
    /// A site's own holiday; omitted or `null`: the whole organisation's.
    #[serde(default)]
    pub site_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolidayDraft {
    pub date: NaiveDate,
    pub name: String,
    pub site_id: Option<Uuid>,
}

fn parse_time(value: &str) -> Option<NaiveTime> {
    (value.len() == 5)
        .then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
        .flatten()
}

fn name_field(errors: &mut Vec<FieldError>, value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        errors.push(FieldError::new("name", "must not be empty"));
        None
    } else if value.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
        None
    } else {
        Some(value.to_owned())
    }
}

fn date_field(errors: &mut Vec<FieldError>, field: &str, value: &str) -> Option<NaiveDate> {
    let date = parse_date(value);
    if date.is_none() {
        errors.push(FieldError::new(field, "must be a date as YYYY-MM-DD"));
    }
    date
}

fn minutes_field(errors: &mut Vec<FieldError>, field: &str, value: u32) -> Option<u32> {
    if value > MAX_MINUTES {
        errors.push(FieldError::new(field, format!("must be 0 to {MAX_MINUTES} minutes")));
        None
    } else {
        Some(value)
    }
}

/// Minutes from `start` to `end`, over midnight when `end` is earlier (a night shift).
pub fn shift_length_min(start: NaiveTime, end: NaiveTime) -> u32 {
    let (s, e) = (
        start.num_seconds_from_midnight() / 60,
        end.num_seconds_from_midnight() / 60,
    );
    if e > s { e - s } else { MAX_MINUTES - s + e }
}

impl ShiftBody {
    /// Checks every field, reporting each invalid one.
    pub fn validate(self) -> Result<ShiftDraft, InputError> {
        let mut errors = Vec::new();
        let name = name_field(&mut errors, &self.name);
        let start = parse_time(&self.start);
        if start.is_none() {
            errors.push(FieldError::new("start", "must be a local time as HH:MM (24-hour)"));
        }
        let mut end = parse_time(&self.end);
        if end.is_none() {
            errors.push(FieldError::new("end", "must be a local time as HH:MM (24-hour)"));
        } else if end == start {
            errors.push(FieldError::new(
                "end",
                "must differ from start: a shift has a length (end before start is a night shift)",
            ));
            end = None;
        }
        let mut weekdays = Weekdays::default();
        if self.weekdays.is_empty() {
            errors.push(FieldError::new("weekdays", "must name at least one day"));
        }
        for (i, day) in self.weekdays.iter().enumerate() {
            match Weekdays::parse_day(day) {
                None => errors.push(FieldError::new(
                    format!("weekdays[{i}]"),
                    format!("unknown weekday {day:?}: use mon, tue, wed, thu, fri, sat or sun"),
                )),
                Some(d) if weekdays.contains(d) => {
                    errors.push(FieldError::new(
                        format!("weekdays[{i}]"),
                        format!("{day} is listed twice"),
                    ));
                }
                Some(d) => weekdays.insert(d),
            }
        }
        let length = start.zip(end).map(|(s, e)| shift_length_min(s, e));
        let late = minutes_field(&mut errors, "late_grace_min", self.late_grace_min);
        let early = minutes_field(&mut errors, "early_grace_min", self.early_grace_min);
        let break_min = minutes_field(&mut errors, "break_min", self.break_min);
        let half = minutes_field(&mut errors, "half_day_below_min", self.half_day_below_min);
        let overtime = self
            .overtime_after_min
            .map(|m| minutes_field(&mut errors, "overtime_after_min", m));
        if let Some(length) = length {
            for (field, value) in [("late_grace_min", late), ("early_grace_min", early)] {
                if value.is_some_and(|v| v > length) {
                    errors.push(FieldError::new(
                        field,
                        format!("must not exceed the shift's length ({length} minutes)"),
                    ));
                }
            }
            if break_min.is_some_and(|v| v >= length) {
                errors.push(FieldError::new(
                    "break_min",
                    format!("must be less than the shift's length ({length} minutes)"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(InputError::Invalid(errors));
        }
        match (name, start, end, late, early, break_min, half) {
            (Some(name), Some(start), Some(end), Some(late), Some(early), Some(break_min), Some(half)) => {
                Ok(ShiftDraft {
                    name,
                    rules: ShiftRules {
                        start,
                        end,
                        weekdays,
                        late_grace_min: late,
                        early_grace_min: early,
                        break_min,
                        half_day_below_min: half,
                        overtime_after_min: overtime.flatten(),
                    },
                })
            }
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

impl AssignmentBody {
    pub fn validate(self) -> Result<AssignmentDraft, InputError> {
        let mut errors = Vec::new();
        let target = match (self.site_id, self.user_id) {
            (Some(site), None) => Some(Target::Site(site)),
            (None, Some(user)) => Some(Target::User(user)),
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("site_id", "give either site_id or user_id, not both"));
                None
            }
            (None, None) => {
                errors.push(FieldError::new("site_id", "give either site_id or user_id"));
                None
            }
        };
        let from = date_field(&mut errors, "from", &self.from);
        let to = self.to.as_deref().map(|to| date_field(&mut errors, "to", to));
        if let (Some(from), Some(Some(to))) = (from, to)
            && to < from
        {
            errors.push(FieldError::new("to", "must not be before from"));
        }
        match (target, from, to) {
            (Some(target), Some(from), to) if errors.is_empty() => Ok(AssignmentDraft {
                shift_id: self.shift_id,
                target,
                from,
                to: to.flatten(),
            }),
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

impl HolidayBody {
    pub fn validate(self) -> Result<HolidayDraft, InputError> {
        let mut errors = Vec::new();
        let date = date_field(&mut errors, "date", &self.date);
        let name = name_field(&mut errors, &self.name);
        match (date, name) {
            (Some(date), Some(name)) if errors.is_empty() => Ok(HolidayDraft {
                date,
                name,
                site_id: self.site_id,
            }),
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift() -> ShiftBody {
        ShiftBody {
            name: " General ".into(),
            start: "09:00".into(),
            end: "18:00".into(),
            weekdays: vec!["mon".into(), "fri".into()],
            late_grace_min: 10,
            early_grace_min: 10,
            break_min: 60,
            half_day_below_min: 240,
            overtime_after_min: None,
        }
    }

    fn fields(e: InputError) -> Vec<String> {
        match e {
            InputError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            InputError::Malformed(m) => panic!("malformed: {m}"),
        }
    }

    #[test]
    fn a_valid_shift_is_trimmed_and_parsed() {
        let d = shift().validate().unwrap();
        assert_eq!(d.name, "General");
        assert!(!d.rules.is_night());
        assert!(d.rules.weekdays.contains(chrono::Weekday::Fri));
    }

    #[test]
    fn a_night_shift_counts_its_length_over_midnight() {
        let mut b = shift();
        b.start = "22:00".into();
        b.end = "06:00".into();
        b.break_min = 479;
        assert!(b.clone().validate().unwrap().rules.is_night());
        b.break_min = 480;
        assert_eq!(fields(b.validate().unwrap_err()), ["break_min"]);
    }

    #[test]
    fn every_bad_shift_field_is_named() {
        let mut b = shift();
        b.name = "  ".into();
        b.start = "9:00".into();
        b.end = "24:00".into();
        b.weekdays = vec!["mon".into(), "monday".into(), "mon".into()];
        b.late_grace_min = 1441;
        b.half_day_below_min = 2000;
        b.overtime_after_min = Some(1441);
        assert_eq!(
            fields(b.validate().unwrap_err()),
            [
                "name",
                "start",
                "end",
                "weekdays[1]",
                "weekdays[2]",
                "late_grace_min",
                "half_day_below_min",
                "overtime_after_min"
            ]
        );
        let mut b = shift();
        b.end = "09:00".into();
        b.weekdays = Vec::new();
        assert_eq!(fields(b.validate().unwrap_err()), ["end", "weekdays"]);
        let mut b = shift();
        b.end = "10:00".into();
        b.late_grace_min = 61;
        b.early_grace_min = 60;
        b.break_min = 60;
        assert_eq!(fields(b.validate().unwrap_err()), ["late_grace_min", "break_min"]);
        let mut b = shift();
        b.name = "é".repeat(MAX_NAME_CHARS);
        assert!(b.clone().validate().is_ok(), "the limit counts characters");
        b.name.push('x');
        assert_eq!(fields(b.validate().unwrap_err()), ["name"]);
    }

    fn assignment(site: Option<Uuid>, user: Option<Uuid>, from: &str, to: Option<&str>) -> AssignmentBody {
        AssignmentBody {
            shift_id: Uuid::nil(),
            site_id: site,
            user_id: user,
            from: from.into(),
            to: to.map(Into::into),
        }
    }

    #[test]
    fn an_assignment_names_exactly_one_target_and_ordered_dates() {
        let user = Uuid::now_v7();
        let id = Some(user);
        let d = assignment(None, id, "2026-12-01", None).validate().unwrap();
        assert_eq!(d.target, Target::User(user));
        assert_eq!(d.to, None);
        assert!(
            assignment(id, None, "2026-12-01", Some("2026-12-01"))
                .validate()
                .is_ok()
        );
        assert_eq!(
            fields(assignment(None, None, "2026-12-01", None).validate().unwrap_err()),
            ["site_id"]
        );
        assert_eq!(
            fields(assignment(id, id, "2026-12-1", Some("x")).validate().unwrap_err()),
            ["site_id", "from", "to"]
        );
        assert_eq!(
            fields(
                assignment(id, None, "2026-12-02", Some("2026-12-01"))
                    .validate()
                    .unwrap_err()
            ),
            ["to"]
        );
    }

    #[test]
    fn a_holiday_needs_a_date_and_a_name() {
        let ok = HolidayBody {
            date: "2026-12-25".into(),
            name: " Christmas ".into(),
            site_id: None,
        };
        assert_eq!(ok.clone().validate().unwrap().name, "Christmas");
        let bad = HolidayBody {
            date: "25/12/2026".into(),
            name: String::new(),
            ..ok
        };
        assert_eq!(fields(bad.validate().unwrap_err()), ["date", "name"]);
    }
}
