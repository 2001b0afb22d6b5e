//! The use cases of shifts, assignments and holidays: each checks its permission through the
//! caller (`shifts.read` to read, `shifts.manage` to write) and stores its change with the
//! audit entry in one transaction. Whatever must not race (an assignment's overlap, a shift
//! being retired) is decided inside that transaction by the store.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::error::ShiftError;
use super::input::{AssignmentDraft, HolidayDraft, ShiftDraft};
use crate::access::{Caller, Permission};
use crate::audit::Action;
use crate::field::{FieldError, InputError};
use crate::requests::input::local_date;
use crate::storage::shifts::{
    AssignOutcome, Assignment, AssignmentFilter, EndOutcome, Holiday, HolidayOutcome, ShiftVersion, ShiftWrite,
    StoredShift, Target,
};
use crate::storage::{Page, PageRequest, Repo};

type Result<T, E = ShiftError> = std::result::Result<T, E>;

fn invalid(field: &str, message: impl Into<String>) -> ShiftError {
    InputError::from(FieldError::new(field, message)).into()
}

pub async fn create_shift(
    repo: &dyn Repo,
    caller: &Caller,
    draft: ShiftDraft,
    now: DateTime<Utc>,
) -> Result<StoredShift> {
    caller.require(Permission::ShiftsManage)?;
    let id = Uuid::now_v7();
    let shift = StoredShift {
        id,
        current: ShiftVersion {
            shift_id: id,
            version: 1,
            name: draft.name,
            rules: draft.rules,
            effective_at: now,
        },
        created_at: now,
        retired_at: None,
    };
    let mut audit = caller.audit().entry(Action::ShiftCreated, None, Some(id.to_string()));
    audit.detail = serde_json::json!({ "name": shift.current.name });
    repo.insert_shift(caller.org_id, &shift, &audit).await?;
    Ok(shift)
}

pub async fn get_shift(repo: &dyn Repo, caller: &Caller, shift_id: Uuid) -> Result<StoredShift> {
    caller.require(Permission::ShiftsRead)?;
    repo.get_shift(caller.org_id, shift_id)
        .await?
        .ok_or(ShiftError::NotFound)
}

pub async fn list_shifts(repo: &dyn Repo, caller: &Caller, page: PageRequest) -> Result<Page<StoredShift>> {
    caller.require(Permission::ShiftsRead)?;
    Ok(repo.list_shifts(caller.org_id, page).await?)
}

fn written(outcome: ShiftWrite) -> Result<StoredShift> {
    match outcome {
        ShiftWrite::Done(shift) => Ok(shift),
        ShiftWrite::Missing => Err(ShiftError::NotFound),
        ShiftWrite::Retired => Err(ShiftError::Retired),
    }
}

/// Replaces the shift's name and rules as a new version effective `now`.
pub async fn update_shift(
    repo: &dyn Repo,
    caller: &Caller,
    shift_id: Uuid,
    draft: ShiftDraft,
    now: DateTime<Utc>,
) -> Result<StoredShift> {
    caller.require(Permission::ShiftsManage)?;
    let mut audit = caller
        .audit()
        .entry(Action::ShiftUpdated, None, Some(shift_id.to_string()));
    audit.detail = serde_json::json!({ "name": draft.name });
    written(
        repo.update_shift(caller.org_id, shift_id, &draft.name, &draft.rules, now, &audit)
            .await?,
    )
}

pub async fn retire_shift(repo: &dyn Repo, caller: &Caller, shift_id: Uuid, now: DateTime<Utc>) -> Result<StoredShift> {
    caller.require(Permission::ShiftsManage)?;
    let audit = caller
        .audit()
        .entry(Action::ShiftRetired, None, Some(shift_id.to_string()));
    written(repo.retire_shift(caller.org_id, shift_id, now, &audit).await?)
}

pub async fn create_assignment(
    repo: &dyn Repo,
    caller: &Caller,
    draft: AssignmentDraft,
    now: DateTime<Utc>,
) -> Result<Assignment> {
    caller.require(Permission::ShiftsManage)?;
    let assignment = Assignment {
        id: Uuid::now_v7(),
        shift_id: draft.shift_id,
        target: draft.target,
        from: draft.from,
        to: draft.to,
        created_at: now,
    };
    let subject = match draft.target {
        Target::User(user) => Some(user),
        Target::Site(_) => None,
    };
    let mut audit = caller
        .audit()
        .entry(Action::AssignmentCreated, subject, Some(assignment.id.to_string()));
    audit.detail = serde_json::json!({
        "shift_id": assignment.shift_id,
        "site_id": match draft.target { Target::Site(site) => Some(site), Target::User(_) => None },
        "from": assignment.from,
        "to": assignment.to,
    });
    match repo.insert_assignment(caller.org_id, &assignment, &audit).await? {
        AssignOutcome::Assigned(a) => Ok(a),
        AssignOutcome::ShiftMissing => Err(invalid("shift_id", "names no shift of the organisation")),
        AssignOutcome::ShiftRetired => Err(invalid("shift_id", "names a retired shift")),
        AssignOutcome::TargetMissing => Err(match draft.target {
            Target::Site(_) => invalid("site_id", "names no site of the organisation"),
            Target::User(_) => invalid("user_id", "names no user of the organisation"),
        }),
        AssignOutcome::Overlaps(other) => Err(invalid(
            "from",
            format!("the dates overlap assignment {other} of the same target"),
        )),
    }
}

pub async fn list_assignments(
    repo: &dyn Repo,
    caller: &Caller,
    filter: AssignmentFilter,
    page: PageRequest,
) -> Result<Page<Assignment>> {
    caller.require(Permission::ShiftsRead)?;
    Ok(repo.list_assignments(caller.org_id, filter, page).await?)
}

/// Ends an assignment as of the organisation's today at `now`: one not yet begun is deleted,
/// one already begun ends yesterday, so the days it governed keep their shift.
pub async fn end_assignment(repo: &dyn Repo, caller: &Caller, assignment_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    caller.require(Permission::ShiftsManage)?;
    let org = repo.get_org(caller.org_id).await?.ok_or(ShiftError::NotFound)?;
    let zone = org.timezone.parse().unwrap_or(chrono_tz::UTC);
    let today: NaiveDate = local_date(now, zone);
    let mut audit = caller
        .audit()
        .entry(Action::AssignmentEnded, None, Some(assignment_id.to_string()));
    audit.detail = serde_json::json!({ "today": today });
    match repo.end_assignment(caller.org_id, assignment_id, today, &audit).await? {
        EndOutcome::Deleted | EndOutcome::Ended(_) => Ok(()),
        EndOutcome::Missing => Err(ShiftError::NotFound),
    }
}

pub async fn create_holiday(
    repo: &dyn Repo,
    caller: &Caller,
    draft: HolidayDraft,
    now: DateTime<Utc>,
) -> Result<Holiday> {
    caller.require(Permission::ShiftsManage)?;
    let holiday = Holiday {
        id: Uuid::now_v7(),
        date: draft.date,
        name: draft.name,
        site_id: draft.site_id,
        created_at: now,
    };
    let mut audit = caller
        .audit()
        .entry(Action::HolidayCreated, None, Some(holiday.id.to_string()));
    audit.detail = serde_json::json!({ "date": holiday.date, "site_id": holiday.site_id });
    match repo.insert_holiday(caller.org_id, &holiday, &audit).await? {
        HolidayOutcome::Added(h) => Ok(h),
        HolidayOutcome::Duplicate => Err(ShiftError::DuplicateHoliday),
        HolidayOutcome::SiteMissing => Err(invalid("site_id", "names no site of the organisation")),
    }
}

pub async fn list_holidays(
    repo: &dyn Repo,
    caller: &Caller,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    page: PageRequest,
) -> Result<Page<Holiday>> {
    caller.require(Permission::ShiftsRead)?;
    Ok(repo.list_holidays(caller.org_id, from, to, page).await?)
}

pub async fn delete_holiday(repo: &dyn Repo, caller: &Caller, holiday_id: Uuid) -> Result<()> {
    caller.require(Permission::ShiftsManage)?;
    let audit = caller
        .audit()
        .entry(Action::HolidayDeleted, None, Some(holiday_id.to_string()));
    if repo.delete_holiday(caller.org_id, holiday_id, &audit).await? {
        Ok(())
    } else {
        Err(ShiftError::NotFound)
    }
}
