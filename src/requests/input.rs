//! The body of `POST /v1/attendance/requests`, parsed strictly and validated into a
//! [`Draft`], and the timing rules that need the requester's zone and the clock: pure, so
//! they are tested without a server.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::field::{FieldError, InputError};
use crate::storage::requests::RequestKind;

/// The longest `reason` and decision `comment`, in characters (API.md).
pub const MAX_TEXT_CHARS: usize = 1000;

/// `POST /v1/attendance/requests`. Identity comes from the token: `user_id`, `status` and
/// the like are unknown fields (422).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// The local day the request is about, `YYYY-MM-DD`: in the requester's first site's
    /// time zone, else the organisation's.
    #[schema(format = Date, example = "2026-11-21")]
    pub date: String,
    pub kind: RequestKind,
    /// The proposed local time on `date`, `HH:MM` (24-hour).
    #[schema(example = "09:05")]
    pub time: String,
    /// The event a `correction` is about: one of the caller's flagged or rejected events
    /// captured on `date`. Required for `correction`, not allowed for the missed kinds.
    pub event_id: Option<Uuid>,
    /// Why: 1 to 1000 characters (surrounding white space is dropped).
    pub reason: String,
    /// A photo the caller uploaded earlier with `POST /v1/photos`, not attached to anything.
    pub photo_id: Option<Uuid>,
}

/// A request that passed every check that needs neither the database nor the clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub kind: RequestKind,
    pub event_id: Option<Uuid>,
    pub reason: String,
    pub photo_id: Option<Uuid>,
}

/// A `YYYY-MM-DD` date, exactly (chrono alone also takes one-digit months and days).
pub fn parse_date(value: &str) -> Option<NaiveDate> {
    (value.len() == 10)
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
}

fn parse_time(value: &str) -> Option<NaiveTime> {
    (value.len() == 5)
        .then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
        .flatten()
}

/// A free text of 1 to [`MAX_TEXT_CHARS`] characters, trimmed; `None` with the error pushed.
pub fn text_field(errors: &mut Vec<FieldError>, field: &str, value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
        None
    } else if value.chars().count() > MAX_TEXT_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
        None
    } else {
        Some(value.to_owned())
    }
}

impl RequestBody {
    /// Checks each field on its own, reporting every invalid one.
    pub fn validate(self) -> Result<Draft, InputError> {
        let mut errors = Vec::new();
        let date = parse_date(&self.date);
        if date.is_none() {
            errors.push(FieldError::new("date", "must be a date as YYYY-MM-DD"));
        }
        let time = parse_time(&self.time);
        if time.is_none() {
            errors.push(FieldError::new("time", "must be a local time as HH:MM"));
        }
        match (self.kind, self.event_id) {
            (RequestKind::Correction, None) => {
                errors.push(FieldError::new("event_id", "is required for a correction"));
            }
            (RequestKind::MissedCheckIn | RequestKind::MissedCheckOut, Some(_)) => errors.push(FieldError::new(
                "event_id",
                "names the event a correction is about; a missed check-in or check-out has none",
            )),
            _ => {}
        }
        let reason = text_field(&mut errors, "reason", &self.reason);
        match (date, time, reason) {
            (Some(date), Some(time), Some(reason)) if errors.is_empty() => Ok(Draft {
                date,
                time,
                kind: self.kind,
                event_id: self.event_id,
                reason,
                photo_id: self.photo_id,
            }),
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

/// The instant `date` at `time` names in `zone`: the earlier one when a daylight-saving
/// change repeats that hour; a field error when the change skips it.
pub fn local_instant(date: NaiveDate, time: NaiveTime, zone: Tz) -> Result<DateTime<Utc>, FieldError> {
    zone.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            FieldError::new(
                "time",
                format!("does not exist on {date} in {zone} (a daylight-saving change skips it)"),
            )
        })
}

/// The day an instant falls on in `zone`.
pub fn local_date(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// Applies the timing limits to a draft: not after today or the server clock, not more than
/// `max_age_days` before today (all in the requester's `zone`). The proposed instant if it
/// passes.
pub fn proposed_instant(
    draft: &Draft,
    zone: Tz,
    now: DateTime<Utc>,
    max_age_days: u32,
) -> Result<DateTime<Utc>, FieldError> {
    let today = local_date(now, zone);
    if draft.date > today {
        return Err(FieldError::new(
            "date",
            format!("is in the future (today is {today} in {zone})"),
        ));
    }
    let oldest = today
        .checked_sub_days(Days::new(u64::from(max_age_days)))
        .unwrap_or(NaiveDate::MIN);
    if draft.date < oldest {
        return Err(FieldError::new(
            "date",
            format!("may be at most {max_age_days} days ago (request_max_age_days), so not before {oldest}"),
        ));
    }
    let at = local_instant(draft.date, draft.time, zone)?;
    if at > now {
        return Err(FieldError::new("time", "is in the future"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: RequestKind, event_id: Option<Uuid>) -> RequestBody {
        RequestBody {
            date: "2026-11-20".into(),
            kind,
            time: "09:05".into(),
            event_id,
            reason: "  phone died  ".into(),
            photo_id: None,
        }
    }

    fn fields(e: InputError) -> Vec<String> {
        match e {
            InputError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            InputError::Malformed(m) => panic!("malformed: {m}"),
        }
    }

    #[test]
    fn a_valid_body_is_trimmed_and_parsed() {
        let draft = body(RequestKind::MissedCheckIn, None).validate().unwrap();
        assert_eq!(draft.date, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        assert_eq!(draft.time, NaiveTime::from_hms_opt(9, 5, 0).unwrap());
        assert_eq!(draft.reason, "phone died");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut b = body(RequestKind::Correction, None);
        b.date = "2026-1-5".into();
        b.time = "9:05".into();
        b.reason = " ".into();
        assert_eq!(
            fields(b.validate().unwrap_err()),
            ["date", "time", "event_id", "reason"]
        );
        let mut b = body(RequestKind::MissedCheckOut, Some(Uuid::nil()));
        b.time = "24:00".into();
        b.reason = "x".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(fields(b.validate().unwrap_err()), ["time", "event_id", "reason"]);
        let mut b = body(RequestKind::MissedCheckIn, None);
        b.reason = "é".repeat(MAX_TEXT_CHARS);
        assert!(b.validate().is_ok(), "the limit counts characters, not bytes");
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn draft(date: &str, time: &str) -> Draft {
        Draft {
            date: parse_date(date).unwrap(),
            time: parse_time(time).unwrap(),
            ..body(RequestKind::MissedCheckIn, None).validate().unwrap()
        }
    }

    #[test]
    fn the_proposed_time_is_local_to_the_zone() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let now = at("2026-11-21T12:00:00Z");
        assert_eq!(
            proposed_instant(&draft("2026-11-21", "09:05"), kolkata, now, 30),
            Ok(at("2026-11-21T03:35:00Z"))
        );
        // 17:29 in Kolkata is 11:59 UTC, 17:31 is in the future.
        assert!(proposed_instant(&draft("2026-11-21", "17:29"), kolkata, now, 30).is_ok());
        assert_eq!(
            proposed_instant(&draft("2026-11-21", "17:31"), kolkata, now, 30)
                .unwrap_err()
                .field,
            "time"
        );
        // Already the 22nd in Auckland, still the 21st in UTC.
        let auckland: Tz = "Pacific/Auckland".parse().unwrap();
        assert!(proposed_instant(&draft("2026-11-22", "00:30"), auckland, now, 30).is_ok());
        assert_eq!(
            proposed_instant(&draft("2026-11-22", "00:30"), chrono_tz::UTC, now, 30)
                .unwrap_err()
                .field,
            "date"
        );
    }

    #[test]
    fn the_age_limit_counts_local_days() {
        let now = at("2026-11-21T12:00:00Z");
        assert!(proposed_instant(&draft("2026-10-22", "09:00"), chrono_tz::UTC, now, 30).is_ok());
        let e = proposed_instant(&draft("2026-10-21", "09:00"), chrono_tz::UTC, now, 30).unwrap_err();
        assert_eq!(e.field, "date");
        assert!(e.message.contains("2026-10-22"), "{}", e.message);
        assert!(proposed_instant(&draft("2026-11-21", "09:00"), chrono_tz::UTC, now, 0).is_ok());
        assert!(proposed_instant(&draft("2026-11-20", "09:00"), chrono_tz::UTC, now, 0).is_err());
    }

    #[test]
    fn daylight_saving_gaps_are_refused_and_repeats_take_the_earlier_instant() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let now = at("2026-12-01T00:00:00Z");
        // 2026-03-29 02:30 does not exist in Berlin; 2026-10-25 02:30 happens twice.
        let e = proposed_instant(&draft("2026-03-29", "02:30"), berlin, now, 366).unwrap_err();
        assert_eq!(e.field, "time");
        assert_eq!(
            proposed_instant(&draft("2026-10-25", "02:30"), berlin, now, 366),
            Ok(at("2026-10-25T00:30:00Z"))
        );
    }
}
