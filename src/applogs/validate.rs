//! Validating an app-log upload into a batch to store: every problem names its field
//! (`entries[3].message`), and nothing is stored unless the whole batch is valid.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::wire::Upload;
use crate::config::Settings;
use crate::field::{FieldError, InputError};
use crate::storage::applogs::{Level, NewBatch, NewEntry, Origin};

/// Field errors reported at most per answer: a batch of 1,000 bad entries gets a useful
/// problem document, not a megabyte of them.
const MAX_REPORTED_ERRORS: usize = 100;

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
pub fn new_batch(upload: Upload, origin: Origin, limits: &Limits) -> Result<NewBatch, InputError> {
    if upload.entries.is_empty() {
        return Err(FieldError::new("entries", "must hold at least one entry").into());
    }
    if upload.entries.len() > limits.max_entries {
        return Err(FieldError::new("entries", format!("must hold at most {} entries", limits.max_entries)).into());
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
        return Err(InputError::Invalid(errors.0));
    }
    Ok(NewBatch {
        id: Uuid::now_v7(),
        origin,
        device: upload.device,
        app_config: Value::Object(upload.app_config),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{self, v1};
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

    fn fields(e: InputError) -> Vec<String> {
        match e {
            InputError::Invalid(errors) => errors.into_iter().map(|f| f.field).collect(),
            InputError::Malformed(detail) => panic!("expected field errors, got {detail}"),
        }
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
}
