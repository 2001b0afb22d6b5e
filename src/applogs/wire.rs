//! App-log uploads and answers on the wire: the JSON body, its protobuf form
//! (`proto/muster/v1/applogs.proto`), and the protobuf form of stored entries.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::field::FieldError;
use crate::proto::{self, v1};
use crate::storage::applogs::{AppLog, Device, Level};

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
