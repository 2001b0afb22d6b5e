//! The audit trail: who did what to whom, and every disclosure of someone else's location,
//! photo or app-log PII. Append-only (the database refuses updates and deletes).

use chrono::Utc;
use uuid::Uuid;

use crate::access::Caller;
use crate::storage::StorageError;
use crate::storage::audit::{AuditEntry, AuditStore};

/// What an audit entry records. The names are the stable strings of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    UserCreated,
    UserUpdated,
    UserDisabled,
    RoleChanged,
    PolicyChanged,
    OrgChanged,
    OrgCreated,
    SiteCreated,
    SiteUpdated,
    GeofenceCreated,
    GeofenceUpdated,
    GeofenceRetired,
    LocationDisclosed,
    PhotoDisclosed,
    AppLogPiiDisclosed,
    DataExported,
    DataErased,
    RequestCreated,
    RequestApproved,
    RequestRejected,
    RequestCancelled,
    ShiftCreated,
    ShiftUpdated,
    ShiftRetired,
    AssignmentCreated,
    AssignmentEnded,
    HolidayCreated,
    HolidayDeleted,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::UserCreated,
        Action::UserUpdated,
        Action::UserDisabled,
        Action::RoleChanged,
        Action::PolicyChanged,
        Action::OrgChanged,
        Action::OrgCreated,
        Action::SiteCreated,
        Action::SiteUpdated,
        Action::GeofenceCreated,
        Action::GeofenceUpdated,
        Action::GeofenceRetired,
        Action::LocationDisclosed,
        Action::PhotoDisclosed,
        Action::AppLogPiiDisclosed,
        Action::DataExported,
        Action::DataErased,
        Action::RequestCreated,
        Action::RequestApproved,
        Action::RequestRejected,
        Action::RequestCancelled,
        Action::ShiftCreated,
        Action::ShiftUpdated,
        Action::ShiftRetired,
        Action::AssignmentCreated,
        Action::AssignmentEnded,
        Action::HolidayCreated,
        Action::HolidayDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login_succeeded",
            Action::LoginFailed => "auth.login_failed",
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::UserDisabled => "user.disabled",
            Action::RoleChanged => "role.changed",
            Action::PolicyChanged => "policy.changed",
            Action::OrgChanged => "org.changed",
            Action::OrgCreated => "org.created",
            Action::SiteCreated => "site.created",
            Action::SiteUpdated => "site.updated",
            Action::GeofenceCreated => "geofence.created",
            Action::GeofenceUpdated => "geofence.updated",
            Action::GeofenceRetired => "geofence.retired",
            Action::LocationDisclosed => "location.disclosed",
            Action::PhotoDisclosed => "photo.disclosed",
            Action::AppLogPiiDisclosed => "applog_pii.disclosed",
            Action::DataExported => "privacy.exported",
            Action::DataErased => "privacy.erased",
            Action::RequestCreated => "attendance_request.created",
            Action::RequestApproved => "attendance_request.approved",
            Action::RequestRejected => "attendance_request.rejected",
            Action::RequestCancelled => "attendance_request.cancelled",
            Action::ShiftCreated => "shift.created",
            Action::ShiftUpdated => "shift.updated",
            Action::ShiftRetired => "shift.retired",
            Action::AssignmentCreated => "shift_assignment.created",
            Action::AssignmentEnded => "shift_assignment.ended",
            Action::HolidayCreated => "holiday.created",
            Action::HolidayDeleted => "holiday.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// Disclosures are what `GET /v1/me/disclosures` shows the subject.
    pub fn is_disclosure(self) -> bool {
        matches!(
            self,
            Action::LocationDisclosed | Action::PhotoDisclosed | Action::AppLogPiiDisclosed
        )
    }
}

/// Who is acting, and in which request: stamped on every entry written for it.
#[derive(Clone, Debug)]
pub struct AuditContext {
    pub org_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl AuditContext {
    pub fn entry(&self, action: Action, subject_id: Option<Uuid>, object_id: Option<String>) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            org_id: self.org_id,
            at: Utc::now(),
            actor_id: self.actor_id,
            subject_id,
            action: action.as_str().to_owned(),
            object_id,
            request_id: self.request_id.clone(),
            ip: None,
            detail: serde_json::Value::Null,
        }
    }
}

/// What one response discloses of other people's location or photos, collected while the
/// response is built and written as one audit entry per subject and kind, stamped with the
/// request id. Disclosing one's own data is not recorded. The entry names the first object
/// disclosed and, in `detail`, how many there were.
#[derive(Debug)]
pub struct Disclosures {
    context: AuditContext,
    /// One per (action, subject), in the order first seen.
    seen: Vec<Disclosed>,
    index: std::collections::HashMap<(Action, Uuid), usize>,
}

/// The first object that disclosed a subject's data of one kind, and how many did.
#[derive(Debug)]
struct Disclosed {
    action: Action,
    subject: Uuid,
    first_object: Option<String>,
    count: u32,
}

impl Disclosures {
    pub fn new(context: AuditContext) -> Self {
        Disclosures {
            context,
            seen: Vec::new(),
            index: std::collections::HashMap::new(),
        }
    }

    /// Records that `object_id` disclosed `subject`'s data of the kind `action`
    /// (`LocationDisclosed`, `PhotoDisclosed` or `AppLogPiiDisclosed`).
    pub fn record(&mut self, action: Action, subject: Uuid, object_id: Option<String>) {
        debug_assert!(action.is_disclosure());
        if self.context.actor_id == Some(subject) {
            return;
        }
        match self.index.get(&(action, subject)) {
            Some(&i) => {
                if let Some(d) = self.seen.get_mut(i) {
                    d.count += 1;
                }
            }
            None => {
                self.index.insert((action, subject), self.seen.len());
                self.seen.push(Disclosed {
                    action,
                    subject,
                    first_object: object_id,
                    count: 1,
                });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The audit entries, one per subject and kind; the collector is empty afterwards.
    pub fn take_entries(&mut self) -> Vec<AuditEntry> {
        self.index.clear();
        std::mem::take(&mut self.seen)
            .into_iter()
            .map(|d| {
                let mut entry = self.context.entry(d.action, Some(d.subject), d.first_object);
                entry.detail = serde_json::json!({ "objects": d.count });
                entry
            })
            .collect()
    }

    /// Writes the entries, if there are any. Callers write them before the answer leaves:
    /// no disclosure without its record.
    pub async fn write(mut self, store: &dyn AuditStore) -> Result<(), StorageError> {
        if self.is_empty() {
            return Ok(());
        }
        store.append_audit(&self.take_entries()).await
    }
}

impl Caller {
    /// The context stamped on audit entries written for this caller's request.
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            org_id: self.org_id,
            actor_id: Some(self.user_id),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_subject_and_kind_and_none_for_oneself() {
        let me = Uuid::now_v7();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut d = Disclosures::new(AuditContext {
            org_id: Uuid::nil(),
            actor_id: Some(me),
            request_id: Some("req-1".into()),
            ip: None,
        });
        d.record(Action::LocationDisclosed, a, Some("e1".into()));
        d.record(Action::LocationDisclosed, a, Some("e2".into()));
        d.record(Action::PhotoDisclosed, a, Some("e2".into()));
        d.record(Action::LocationDisclosed, b, Some("e3".into()));
        d.record(Action::LocationDisclosed, me, Some("e4".into()));
        let entries = d.take_entries();
        let got: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.subject_id,
                    e.object_id.as_deref(),
                    e.detail["objects"].as_u64(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("location.disclosed", Some(a), Some("e1"), Some(2)),
                ("photo.disclosed", Some(a), Some("e2"), Some(1)),
                ("location.disclosed", Some(b), Some("e3"), Some(1)),
            ]
        );
        assert!(entries.iter().all(|e| e.request_id.as_deref() == Some("req-1")));
        assert!(d.is_empty());
    }
}
