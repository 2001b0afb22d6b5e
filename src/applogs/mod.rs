//! App logs: what the mobile app reports about itself (API.md "App logs").
//!
//! An upload (`Upload`, from JSON or protobuf) is validated against the configured
//! [`Limits`] into a [`NewBatch`] that the server stamps with the user, organisation, receipt
//! time and client address. Reading goes through [`present`], the one place that hides the
//! personal data `applogs.pii.read` guards and tells the caller whose data it disclosed.
//!
//! Entry text is data, never log output: CR/LF and other control characters are stored and
//! returned verbatim, and no entry content is ever written to the server log.

pub mod limit;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{Action, Disclosures};
use crate::config::Settings;
use crate::field::FieldError;
use crate::http::error::ApiError;
use crate::proto::{self, v1};
use crate::storage::applogs::{AppLog, Device, Level, NewBatch, NewEntry, Origin};

/// Field errors reported at most per answer: a batch of 1,000 bad entries gets a useful
/// problem document, not a megabyte of them.
const MAX_REPORTED_ERRORS: usize = 100;

/// `POST /v1/app-logs`, as JSON or as the protobuf `AppLogBatch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    pub device: Device,
    /// The app's configuration, free-form.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub app_config: Map<String, Value>,
    /// At least one, at most `MUSTER_APPLOG_MAX_ENTRIES` (1,000 by default; 422 beyond).
    pub entries: Vec<UploadEntry>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadEntry {
    /// Device time, RFC 3339 with offset.
    pub ts: String,
    #[schema(value_type = Level)]
    pub level: String,
    pub event: String,
    #[serde(default)]
    pub message: String,
    /// Free-form attributes.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attrs: Map<String, Value>,
}

fn object(s: Option<prost_types::Struct>) -> Map<String, Value> {
    match s.map(proto::struct_to_json) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

impl TryFrom<v1::AppLogBatch> for Upload {
    type Error = FieldError;

    fn try_from(batch: v1::AppLogBatch) -> Result<Self, FieldError> {
        // In JSON a missing `device` is a 422 from serde; protobuf has no required fields, so
        // the same rule is applied here.
        let device = batch.device.ok_or_else(|| FieldError::new("device", "is required"))?;
        Ok(Upload {
            device: Device {
                id: device.id,
                name: device.name,
                model: device.model,
                os: device.os,
                os_version: device.os_version,
                app_version: device.app_version,
            },
            app_config: object(batch.app_config),
            entries: batch
                .entries
                .into_iter()
                .map(|e| UploadEntry {
                    ts: e.ts,
                    level: e.level,
                    event: e.event,
                    message: e.message,
                    attrs: object(e.attrs),
                })
                .collect(),
        })
    }
}

/// The limits an upload must respect (each a setting).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_depth: usize,
    pub max_message_chars: usize,
    pub max_text_chars: usize,
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Self {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            max_entries: size(s.applog_max_entries),
            max_depth: size(s.applog_max_depth),
            max_message_chars: size(s.applog_max_message_chars),
            max_text_chars: size(s.applog_max_text_chars),
        }
    }
}

/// Collects field errors up to `MAX_REPORTED_ERRORS`.
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        if self.0.len() < MAX_REPORTED_ERRORS {
            self.0.push(FieldError::new(field, message));
        }
    }

    /// A string field: required or not, at most `max` characters, no NUL. NUL is the one
    /// character refused: PostgreSQL cannot store it in text or jsonb, and both backends must
    /// behave alike. Every other control character (CR, LF, ESC, ...) is kept as data.
    fn text(&mut self, field: impl Fn() -> String, value: &str, max: usize, required: bool) {
        if required && value.is_empty() {
            self.push(field(), "must not be empty");
        } else if value.chars().count() > max {
            self.push(field(), format!("must be at most {max} characters"));
        } else if value.contains('\0') {
            self.push(field(), "must not contain NUL (U+0000) characters");
        }
    }

    /// A free-form object: nesting, key and string lengths, no NUL anywhere.
    fn object(&mut self, field: impl Fn() -> String, value: &Map<String, Value>, limits: &Limits) {
        if let Err(why) = check_object(value, 1, limits) {
            self.push(field(), why);
        }
    }
}

/// Walks a JSON object; the object itself is level 1, each nested object or array one more.
/// Recursion is bounded: by `max_depth` here, and by the parsers' own limits before that.
fn check_object(map: &Map<String, Value>, depth: usize, limits: &Limits) -> Result<(), String> {
    if depth > limits.max_depth {
        return Err(format!("nests deeper than {} levels", limits.max_depth));
    }
    for (key, value) in map {
        if key.chars().count() > limits.max_text_chars {
            return Err(format!("has a key longer than {} characters", limits.max_text_chars));
        }
        if key.contains('\0') {
            return Err("has a key with a NUL (U+0000) character".into());
        }
        check_value(value, depth, limits)?;
    }
    Ok(())
}

fn check_value(value: &Value, depth: usize, limits: &Limits) -> Result<(), String> {
    match value {
        Value::Object(map) => check_object(map, depth + 1, limits),
        Value::Array(items) => {
            if depth + 1 > limits.max_depth {
                return Err(format!("nests deeper than {} levels", limits.max_depth));
            }
            items.iter().try_for_each(|v| check_value(v, depth + 1, limits))
        }
        Value::String(s) if s.chars().count() > limits.max_message_chars => Err(format!(
            "holds a string longer than {} characters",
            limits.max_message_chars
        )),
        Value::String(s) if s.contains('\0') => Err("holds a string with a NUL (U+0000) character".into()),
        _ => Ok(()),
    }
}

/// Validates an upload into a batch. Every problem is a 422 naming its field
/// (`entries[3].message`), and nothing is stored unless the whole batch is valid.
pub fn new_batch(upload: Upload, origin: Origin, limits: &Limits) -> Result<NewBatch, ApiError> {
    if upload.entries.is_empty() {
        return Err(ApiError::field("entries", "must hold at least one entry"));
    }
    if upload.entries.len() > limits.max_entries {
        return Err(ApiError::field(
            "entries",
            format!("must hold at most {} entries", limits.max_entries),
        ));
    }
    let mut errors = Errors(Vec::new());
    let d = &upload.device;
    for (name, value) in [
        ("id", &d.id),
        ("name", &d.name),
        ("model", &d.model),
        ("os", &d.os),
        ("os_version", &d.os_version),
        ("app_version", &d.app_version),
    ] {
        if let Some(value) = value {
            errors.text(|| format!("device.{name}"), value, limits.max_text_chars, false);
        }
    }
    errors.object(|| "app_config".into(), &upload.app_config, limits);
    let mut entries = Vec::with_capacity(upload.entries.len());
    for (i, e) in upload.entries.into_iter().enumerate() {
        let field = |name: &str| format!("entries[{i}].{name}");
        let ts = DateTime::parse_from_rfc3339(&e.ts).ok().map(|t| t.with_timezone(&Utc));
        match ts {
            None => errors.push(field("ts"), "must be an RFC 3339 time with an offset"),
            // An offset can carry 9999-12-31 into year 10000 in UTC, which neither the
            // fixed-width SQLite form nor RFC 3339 can hold.
            Some(t) if !(1..=9999).contains(&t.year()) => {
                errors.push(field("ts"), "must be within the years 0001 to 9999 in UTC")
            }
            Some(_) => {}
        }
        let level = Level::parse(&e.level);
        if level.is_none() {
            errors.push(field("level"), "must be one of debug, info, warn, error");
        }
        errors.text(|| field("event"), &e.event, limits.max_text_chars, true);
        errors.text(|| field("message"), &e.message, limits.max_message_chars, false);
        errors.object(|| field("attrs"), &e.attrs, limits);
        if let (Some(ts), Some(level)) = (ts, level) {
            entries.push(NewEntry {
                id: Uuid::now_v7(),
                ts,
                level,
                event: e.event,
                message: e.message,
                attrs: Value::Object(e.attrs),
            });
        }
    }
    if !errors.0.is_empty() {
        return Err(ApiError::invalid(errors.0));
    }
    Ok(NewBatch {
        id: Uuid::now_v7(),
        origin,
        device: upload.device,
        app_config: Value::Object(upload.app_config),
        entries,
    })
}

/// The answer to an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Entries stored.
    pub accepted: u32,
}

impl From<Accepted> for v1::AppLogAccepted {
    fn from(a: Accepted) -> Self {
        v1::AppLogAccepted { accepted: a.accepted }
    }
}

impl AppLog {
    fn shows_pii(&self) -> bool {
        self.ip.is_some() || self.device.id.is_some() || self.device.name.is_some()
    }
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
        } else if item.shows_pii() {
            disclosures.record(Action::AppLogPiiDisclosed, item.user_id, Some(item.id.to_string()));
        }
    }
    items
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn to_struct(v: Value) -> Option<prost_types::Struct> {
    match v {
        Value::Object(map) => Some(proto::json_to_struct(map)),
        _ => None,
    }
}

impl From<AppLog> for v1::AppLogItem {
    fn from(a: AppLog) -> Self {
        v1::AppLogItem {
            id: a.id.to_string(),
            user_id: a.user_id.to_string(),
            received_at: time(a.received_at),
            ts: time(a.ts),
            level: a.level.as_str().to_owned(),
            event: a.event,
            message: a.message,
            attrs: to_struct(a.attrs),
            device: Some(v1::AppLogDevice {
                id: a.device.id,
                name: a.device.name,
                model: a.device.model,
                os: a.device.os,
                os_version: a.device.os_version,
                app_version: a.device.app_version,
            }),
            app_config: to_struct(a.app_config),
            ip: a.ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditContext;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        max_entries: 3,
        max_depth: 3,
        max_message_chars: 10,
        max_text_chars: 5,
    };

    fn origin() -> Origin {
        Origin {
            org_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            ip: None,
            received_at: Utc::now(),
        }
    }

    fn upload(body: Value) -> Upload {
        serde_json::from_value(body).unwrap()
    }

    fn fields(e: ApiError) -> Vec<String> {
        e.problem().errors.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn depth_counts_the_object_itself_and_every_nested_container() {
        let ok = json!({"a": {"b": [1]}});
        assert!(check_object(ok.as_object().unwrap(), 1, &LIMITS).is_ok());
        let deep = json!({"a": {"b": [[1]]}});
        assert!(check_object(deep.as_object().unwrap(), 1, &LIMITS).is_err());
    }

    fn nested(depth: usize) -> Map<String, Value> {
        let mut value = json!("leaf");
        for _ in 0..depth {
            value = json!({ "n": value });
        }
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn protobuf_decodes_nesting_past_the_depth_limit_so_it_is_a_named_422() {
        use prost::Message;
        let decodes = |depth: usize| {
            let batch = v1::AppLogBatch {
                entries: vec![v1::AppLogEntry {
                    attrs: Some(proto::json_to_struct(nested(depth))),
                    ..Default::default()
                }],
                ..Default::default()
            };
            v1::AppLogBatch::decode(batch.encode_to_vec().as_slice()).is_ok()
        };
        // The default limit is 16: a client just past it gets 422 naming the field, not 400.
        assert!(decodes(24));
        let parser_limit = (1..200).find(|d| !decodes(*d)).unwrap_or(200);
        assert!((24..=40).contains(&parser_limit), "{parser_limit}");
    }

    #[test]
    fn every_bad_field_is_named_and_control_characters_are_kept() {
        let bad = upload(json!({
            "device": {"id": "toolong"},
            "app_config": {"k": "\u{0}"},
            "entries": [
                {"ts": "yesterday", "level": "fatal", "event": "", "message": "12345678901"},
                {"ts": "2026-11-21T09:02:11+05:30", "level": "info", "event": "ok", "attrs": {"a": {"b": {"c": {}}}}},
            ]
        }));
        assert_eq!(
            fields(new_batch(bad, origin(), &LIMITS).unwrap_err()),
            [
                "device.id",
                "app_config",
                "entries[0].ts",
                "entries[0].level",
                "entries[0].event",
                "entries[0].message",
                "entries[1].attrs"
            ]
        );
        let good = upload(json!({
            "device": {}, "entries": [{"ts": "2026-11-21T09:02:11+05:30", "level": "warn", "event": "a\r\nb", "message": "x\r\n\u{1b}y"}]
        }));
        let batch = new_batch(good, origin(), &LIMITS).unwrap();
        assert_eq!(batch.entries[0].message, "x\r\n\u{1b}y");
        assert_eq!(batch.entries[0].ts.to_rfc3339(), "2026-11-21T03:32:11+00:00");
    }

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
