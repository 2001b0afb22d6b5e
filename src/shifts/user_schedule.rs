//! `GET /v1/users/{id}/schedule`: one user's resolved days, for oneself or for a user the
//! caller may see (`users.read:*`).

use chrono::{DateTime, FixedOffset, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::schedule::{Calendar, DayKind};
use crate::access::{Caller, Family};
use crate::reports::DateRange;
use crate::storage::reports::user_timezone;
use crate::storage::{Repo, StorageError};

/// One date of a user's schedule.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ScheduleItem {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The shift governing the date, and the version the date is judged by; null without one.
    pub shift_id: Option<Uuid>,
    pub shift_version: Option<u32>,
    /// A working day's scheduled start and end, local time with offset (the end is on the
    /// next date for a night shift); null on other days.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end: Option<DateTime<FixedOffset>>,
    pub kind: DayKind,
}

/// The user's schedule over `range`, or `None` when there is no such user in the caller's
/// organisation or the caller may not see them.
pub async fn user_schedule(
    repo: &dyn Repo,
    caller: &Caller,
    user_id: Uuid,
    range: DateRange,
) -> Result<Option<Vec<ScheduleItem>>, StorageError> {
    let Some(user) = repo.get_user(caller.org_id, user_id).await? else {
        return Ok(None);
    };
    if user.id != caller.user_id && !crate::visibility::sees(repo, caller, Family::Users, &user).await? {
        return Ok(None);
    }
    // The home site, as reports take it: the first of the user's sites by id.
    let home = user.site_ids.iter().min().copied();
    let site_timezone = match home {
        Some(site) => repo.get_site(caller.org_id, site).await?.map(|s| s.timezone),
        None => None,
    };
    let org_timezone: Tz = match repo.get_org(caller.org_id).await? {
        Some(org) => org.timezone.parse().unwrap_or(Tz::UTC),
        None => return Ok(None),
    };
    let tz = user_timezone(site_timezone.as_deref(), org_timezone);
    let calendar = Calendar::new(
        repo.schedule_inputs(caller.org_id, &[(user.id, home)], range.from(), range.to())
            .await?,
    );
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).fixed_offset();
    let items = range
        .from()
        .iter_days()
        .take(range.days() as usize)
        .map(|date| {
            let day = calendar.day(user.id, home, tz, date);
            let scheduled = day.scheduled();
            ScheduleItem {
                date,
                shift_id: day.shift.as_ref().map(|v| v.shift_id),
                shift_version: day.shift.as_ref().map(|v| v.version),
                start: scheduled.map(|(start, _)| local(start)),
                end: scheduled.map(|(_, end)| local(end)),
                kind: day.kind,
            }
        })
        .collect();
    Ok(Some(items))
}
