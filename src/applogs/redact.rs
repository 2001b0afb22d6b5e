//! The one place where app-log PII (IP address, device id, device name) is hidden from a
//! viewer without `applogs.pii.read`, and where showing it to one is recorded.

use crate::audit::{Action, Disclosures};
use crate::storage::applogs::AppLog;

/// Whether an entry, as stored, shows personal data.
fn shows_pii(log: &AppLog) -> bool {
    log.ip.is_some() || log.device.id.is_some() || log.device.name.is_some()
}

/// Prepares stored entries for a viewer: the one place where app-log PII (IP address,
/// device id, device name) is hidden from a viewer without `applogs.pii.read`. For a viewer
/// who may see it, every entry showing another person's PII is recorded in `disclosures`
/// (which skips the viewer's own and writes one audit entry per subject).
pub fn present(mut items: Vec<AppLog>, may_see_pii: bool, disclosures: &mut Disclosures) -> Vec<AppLog> {
    for item in &mut items {
        if !may_see_pii {
            item.ip = None;
            item.device.id = None;
            item.device.name = None;
        } else if shows_pii(item) {
            disclosures.record(Action::AppLogPiiDisclosed, item.user_id, Some(item.id.to_string()));
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditContext;
    use crate::storage::applogs::{Device, Level};
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn only_viewers_with_pii_read_see_it_and_others_pii_is_reported() {
        let viewer = Uuid::now_v7();
        let other = Uuid::now_v7();
        let item = |user_id| AppLog {
            id: Uuid::now_v7(),
            user_id,
            received_at: Utc::now(),
            ts: Utc::now(),
            level: Level::Info,
            event: "e".into(),
            message: String::new(),
            attrs: json!({}),
            device: Device {
                id: Some("d".into()),
                name: Some("n".into()),
                model: Some("m".into()),
                ..Device::default()
            },
            app_config: json!({}),
            ip: Some("192.0.2.1".into()),
        };
        let mut disclosures = Disclosures::new(AuditContext {
            org_id: Uuid::nil(),
            actor_id: Some(viewer),
            request_id: None,
            ip: None,
        });
        let hidden = present(vec![item(viewer), item(other)], false, &mut disclosures);
        assert!(disclosures.is_empty());
        assert!(
            hidden
                .iter()
                .all(|i| i.ip.is_none() && i.device.id.is_none() && i.device.name.is_none())
        );
        assert_eq!(hidden[0].device.model.as_deref(), Some("m"));
        let shown = present(vec![item(viewer), item(other), item(other)], true, &mut disclosures);
        assert!(shown.iter().all(|i| i.ip.is_some()));
        let entries = disclosures.take_entries();
        assert_eq!(entries.len(), 1, "one entry for the other person, none for oneself");
        assert_eq!(entries[0].subject_id, Some(other));
        assert_eq!(entries[0].detail, json!({"objects": 2}));
    }
}
