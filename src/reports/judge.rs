//! The days of a page of users, read from storage and judged: their calendar (assignments,
//! shift versions, holidays) and their events in keyset pages, each walked once. Reports and
//! auto check-out both judge days here, so they cannot disagree on what a day is.

use chrono_tz::Tz;
use std::collections::HashMap;
use uuid::Uuid;

use super::days::{DateRange, ReportRow, UserDays};
use crate::shifts::schedule::Calendar;
use crate::storage::reports::{EventKey, ReportSubject};
use crate::storage::{Repo, StorageError};

/// Events per storage round trip: about what a full page of users has (two to four events
/// a day), so that a page is usually one or two queries; at most a few MB.
pub const EVENT_PAGE: u32 = 40_000;

/// The rows of `subjects` over `range`, grouped by user in `subjects` order. Days of users
/// without a site are counted in `org_timezone`; `shows_location` says whose first check-in
/// location the rows may carry.
pub async fn judge_page(
    repo: &dyn Repo,
    org_id: Uuid,
    org_timezone: Tz,
    subjects: &[ReportSubject],
    range: DateRange,
    shows_location: impl Fn(Uuid) -> bool,
) -> Result<Vec<ReportRow>, StorageError> {
    let ids: Vec<Uuid> = subjects.iter().map(|s| s.id).collect();
    let homes: Vec<(Uuid, Option<Uuid>)> = subjects.iter().map(|s| (s.id, s.site_id)).collect();
    let (from, to) = range.utc_window();
    // The calendar and the first page of events do not depend on each other: ask for both at
    // once (two pooled connections). The calendar spans a day either side of the range, for
    // the boundaries of its first and last days.
    let (inputs, mut events) = futures_util::future::try_join(
        repo.schedule_inputs(
            org_id,
            &homes,
            range.from().pred_opt().unwrap_or(range.from()),
            range.to().succ_opt().unwrap_or(range.to()),
        ),
        repo.report_events(org_id, &ids, from, to, None, EVENT_PAGE),
    )
    .await?;
    let calendar = Calendar::new(inputs);
    let mut users: Vec<(UserDays<'_>, Vec<ReportRow>)> = subjects
        .iter()
        .map(|s| {
            let tz = s.timezone(org_timezone);
            let windows = calendar.days(s.id, s.site_id, tz, range.from(), range.to());
            (UserDays::new(s, tz, windows, shows_location(s.id)), Vec::new())
        })
        .collect();
    let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    loop {
        for event in &events {
            if let Some((days, out)) = index.get(&event.user_id).and_then(|i| users.get_mut(*i)) {
                days.push(event, out);
            }
        }
        let after = match events.last() {
            Some(last) if events.len() == EVENT_PAGE as usize => EventKey {
                user_id: last.user_id,
                captured_at: last.captured_at,
                id: last.id,
            },
            _ => break,
        };
        events = repo
            .report_events(org_id, &ids, from, to, Some(after), EVENT_PAGE)
            .await?;
    }
    let mut rows = Vec::new();
    for (days, mut out) in users {
        days.finish(&mut out);
        rows.append(&mut out);
    }
    Ok(rows)
}
