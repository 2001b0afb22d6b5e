//! A check-in request, from either wire form into one validated [`EventInput`].
//!
//! JSON is parsed strictly into [`EventBody`] (unknown fields, `user_id` or `status`
//! included, are refused: identity comes from the token only); protobuf converts into the
//! same [`EventBody`] with `TryFrom`, naming the field on failure. [`EventBody::validate`]
//! then checks everything once for both, and [`EventInput::request_sha256`] hashes a
//! canonical form, so the JSON and protobuf forms of one event are the same request.

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::field::{FieldError, InputError};
use crate::geofence::LatLon;
use crate::proto::v1;
use crate::storage::events::{Device, Kind, Location, Provider};

const MAX_NOTE_CHARS: usize = 1000;
const MAX_DEVICE_FIELD_CHARS: usize = 200;
/// Altitudes beyond this are no place a phone is (the deepest mine to far above airliners).
const MAX_ABS_ALTITUDE_M: f64 = 100_000.0;
/// How far ahead of the server clock a device clock may run before the timestamp is
/// nonsense rather than skew: `clock_skew` covers the plausible range below it.
const MAX_FUTURE: TimeDelta = TimeDelta::days(366);

/// The earliest `captured_at` taken as a time at all (a reset phone clock says 1970).
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `POST /v1/attendance/events` as JSON (and the `event` part of a multipart check-in).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// Idempotency key, unique per user.
    pub client_event_id: Uuid,
    pub kind: Kind,
    /// Device time, RFC 3339 with offset.
    #[schema(example = "2026-11-21T09:02:11+05:30")]
    pub captured_at: String,
    pub location: LocationBody,
    pub device: Option<Device>,
    /// A photo uploaded earlier with `POST /v1/photos`.
    pub photo_id: Option<Uuid>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// WGS 84 degrees, [-90, 90].
    pub lat: f64,
    /// WGS 84 degrees, [-180, 180].
    pub lon: f64,
    /// Radius of the accuracy circle in metres.
    pub accuracy_m: Option<f64>,
    pub altitude_m: Option<f64>,
    pub provider: Option<Provider>,
    #[serde(default)]
    pub is_mock: bool,
}

/// A check-in request that passed every input check.
#[derive(Clone, Debug, PartialEq)]
pub struct EventInput {
    pub client_event_id: Uuid,
    pub kind: Kind,
    /// In UTC, at the microseconds the database keeps.
    pub captured_at: DateTime<Utc>,
    pub point: LatLon,
    pub location: Location,
    pub device: Option<Device>,
    pub photo_id: Option<Uuid>,
    pub note: Option<String>,
}

/// Where an event's photo comes from, as far as the request's identity is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoSource {
    None,
    /// `photo_id` names an earlier upload.
    Uploaded(Uuid),
    /// A `photo` part of a multipart request.
    Part,
}

fn uuid_field(errors: &mut Vec<FieldError>, field: &str, value: &str) -> Option<Uuid> {
    match Uuid::parse_str(value) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(FieldError::new(field, "must be a UUID"));
            None
        }
    }
}

impl TryFrom<v1::AttendanceEvent> for EventBody {
    type Error = InputError;

    /// The protobuf form carries the same fields as JSON; strings that JSON types as UUIDs
    /// or enums are checked here, under the JSON field names.
    fn try_from(m: v1::AttendanceEvent) -> Result<Self, InputError> {
        let mut errors = Vec::new();
        let client_event_id = uuid_field(&mut errors, "client_event_id", &m.client_event_id);
        let kind = Kind::parse(&m.kind);
        if kind.is_none() {
            errors.push(FieldError::new("kind", "must be \"check_in\" or \"check_out\""));
        }
        let location = match m.location {
            None => {
                errors.push(FieldError::new("location", "is required"));
                None
            }
            Some(l) => {
                let provider = match l.provider.as_deref().map(|p| (p, Provider::parse(p))) {
                    None => None,
                    Some((_, Some(p))) => Some(p),
                    Some((_, None)) => {
                        errors.push(FieldError::new(
                            "location.provider",
                            "must be \"gps\", \"network\" or \"fused\"",
                        ));
                        None
                    }
                };
                Some(LocationBody {
                    lat: l.lat,
                    lon: l.lon,
                    accuracy_m: l.accuracy_m,
                    altitude_m: l.altitude_m,
                    provider,
                    is_mock: l.is_mock,
                })
            }
        };
        let photo_id = m
            .photo_id
            .as_deref()
            .and_then(|p| uuid_field(&mut errors, "photo_id", p));
        let device = m.device.map(|d| Device {
            id: d.id,
            model: d.model,
            os: d.os,
            os_version: d.os_version,
            app_version: d.app_version,
        });
        match (client_event_id, kind, location) {
            (Some(client_event_id), Some(kind), Some(location)) if errors.is_empty() => Ok(EventBody {
                client_event_id,
                kind,
                captured_at: m.captured_at,
                location,
                device,
                photo_id,
                note: m.note,
            }),
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    let Some(value) = value else { return };
    if value.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
    } else if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        errors.push(FieldError::new(field, "must not contain control characters"));
    }
}

/// Parses an RFC 3339 timestamp with offset and checks it is a plausible time: an absurd
/// one (year 1900, year 9999) is bad input, not clock skew.
pub fn parse_captured_at(field: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 timestamp with offset"))?
        .with_timezone(&Utc);
    if at < earliest() || at > now + MAX_FUTURE {
        return Err(FieldError::new(
            field,
            "must lie between 2000-01-01 and one year after the server's clock",
        ));
    }
    // The database keeps microseconds; so does the request's identity.
    Ok(DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at))
}

impl EventBody {
    /// Checks every field (all problems at once) against the server clock `now`.
    pub fn validate(self, now: DateTime<Utc>) -> Result<EventInput, InputError> {
        let mut errors = Vec::new();
        if self.client_event_id.is_nil() {
            errors.push(FieldError::new("client_event_id", "must not be the nil UUID"));
        }
        let captured_at = parse_captured_at("captured_at", &self.captured_at, now)
            .map_err(|e| errors.push(e))
            .ok();
        let l = &self.location;
        let point = LatLon::new(l.lat, l.lon)
            .map_err(|es| {
                errors.extend(
                    es.into_iter()
                        .map(|e| FieldError::new(format!("location.{}", e.field), e.message)),
                )
            })
            .ok();
        if l.accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
            errors.push(FieldError::new(
                "location.accuracy_m",
                "must be a finite, non-negative number of metres",
            ));
        }
        if l.altitude_m
            .is_some_and(|a| !a.is_finite() || a.abs() > MAX_ABS_ALTITUDE_M)
        {
            errors.push(FieldError::new(
                "location.altitude_m",
                format!("must be a finite number of metres within ±{MAX_ABS_ALTITUDE_M}"),
            ));
        }
        if let Some(d) = &self.device {
            for (name, value) in [
                ("id", &d.id),
                ("model", &d.model),
                ("os", &d.os),
                ("os_version", &d.os_version),
                ("app_version", &d.app_version),
            ] {
                check_text(
                    &mut errors,
                    &format!("device.{name}"),
                    value.as_deref(),
                    MAX_DEVICE_FIELD_CHARS,
                );
            }
        }
        check_text(&mut errors, "note", self.note.as_deref(), MAX_NOTE_CHARS);
        match (captured_at, point) {
            (Some(captured_at), Some(point)) if errors.is_empty() => Ok(EventInput {
                client_event_id: self.client_event_id,
                kind: self.kind,
                captured_at,
                point,
                location: Location {
                    lat: l.lat,
                    lon: l.lon,
                    accuracy_m: l.accuracy_m,
                    altitude_m: l.altitude_m,
                    provider: l.provider,
                    is_mock: l.is_mock,
                },
                device: self.device,
                photo_id: self.photo_id,
                note: self.note,
            }),
            _ => Err(InputError::Invalid(errors)),
        }
    }
}

/// A float in the request's identity: rounded, because JSON decimals and protobuf doubles
/// of the same value may differ in the last bit (serde_json's default float parsing is not
/// correctly rounded), and `-0` is `0`.
fn canonical_f64(x: f64, decimals: usize) -> String {
    format!("{:.*}", decimals, x + 0.0)
}

impl EventInput {
    pub fn photo_source(&self, multipart_photo: bool) -> PhotoSource {
        match (self.photo_id, multipart_photo) {
            (_, true) => PhotoSource::Part,
            (Some(id), false) => PhotoSource::Uploaded(id),
            (None, false) => PhotoSource::None,
        }
    }

    /// The SHA-256 of the request's canonical form: every field in a fixed order, the time
    /// as a UTC instant (`+05:30` and `Z` forms of one instant are one request), coordinates
    /// to 1e-9° and metres to 1e-6 m. A multipart photo counts by its presence, not its
    /// bytes, so a retry is recognised before the photo is read again.
    pub fn request_sha256(&self, photo: PhotoSource) -> String {
        let l = &self.location;
        let photo = match photo {
            PhotoSource::None => serde_json::Value::Null,
            PhotoSource::Uploaded(id) => serde_json::json!({ "id": id }),
            PhotoSource::Part => serde_json::json!("part"),
        };
        let canonical = serde_json::json!([
            "muster.attendance_event.v1",
            self.client_event_id,
            self.kind.as_str(),
            self.captured_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            canonical_f64(l.lat, 9),
            canonical_f64(l.lon, 9),
            l.accuracy_m.map(|a| canonical_f64(a, 6)),
            l.altitude_m.map(|a| canonical_f64(a, 6)),
            l.provider.map(Provider::as_str),
            l.is_mock,
            self.device
                .as_ref()
                .map(|d| [&d.id, &d.model, &d.os, &d.os_version, &d.app_version]),
            photo,
            self.note,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// One item of a batch: parsed alone, so that a bad item fails alone.
#[derive(Debug)]
pub struct BatchItem(pub Result<EventBody, InputError>);

impl<'de> Deserialize<'de> for BatchItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(BatchItem(crate::field::parse_value(value)))
    }
}

/// `POST /v1/attendance/events:batch`: a phone's offline queue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// At most `attendance_batch_max_events` (500 by default); more is a 422 on `events`.
    #[schema(value_type = Vec<EventBody>)]
    pub events: Vec<BatchItem>,
}

impl TryFrom<v1::AttendanceEventBatch> for BatchBody {
    type Error = InputError;

    fn try_from(m: v1::AttendanceEventBatch) -> Result<Self, InputError> {
        Ok(BatchBody {
            events: m
                .events
                .into_iter()
                .map(|e| BatchItem(EventBody::try_from(e)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::parse_json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
    }

    fn json_body() -> serde_json::Value {
        serde_json::json!({
            "client_event_id": "0193a5f0-0000-7000-8000-000000000001",
            "kind": "check_in",
            "captured_at": "2026-11-21T09:02:11.5+05:30",
            "location": {"lat": 12.9716, "lon": 77.5946, "accuracy_m": 12.5, "altitude_m": null, "provider": "gps", "is_mock": false},
            "device": {"id": "d-1", "model": "Pixel 8", "os": "android", "os_version": "15", "app_version": "3.2.1"},
            "note": "gate B"
        })
    }

    fn proto_body() -> v1::AttendanceEvent {
        v1::AttendanceEvent {
            client_event_id: "0193a5f0-0000-7000-8000-000000000001".into(),
            kind: "check_in".into(),
            captured_at: "2026-11-21T03:32:11.500Z".into(),
            location: Some(v1::Location {
                lat: 12.9716,
                lon: 77.5946,
                accuracy_m: Some(12.5),
                altitude_m: None,
                provider: Some("gps".into()),
                is_mock: false,
            }),
            device: Some(v1::Device {
                id: Some("d-1".into()),
                model: Some("Pixel 8".into()),
                os: Some("android".into()),
                os_version: Some("15".into()),
                app_version: Some("3.2.1".into()),
            }),
            photo_id: None,
            note: Some("gate B".into()),
        }
    }

    fn from_json(v: serde_json::Value) -> Result<EventInput, InputError> {
        parse_json::<EventBody>(v.to_string().as_bytes())?.validate(now())
    }

    fn fields(e: InputError) -> Vec<String> {
        match e {
            InputError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            InputError::Malformed(detail) => panic!("expected field errors, got {detail}"),
        }
    }

    #[test]
    fn json_and_protobuf_forms_of_one_event_hash_the_same() {
        let a = from_json(json_body()).unwrap();
        let b = EventBody::try_from(proto_body()).unwrap().validate(now()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.request_sha256(PhotoSource::None), b.request_sha256(PhotoSource::None));
        assert_eq!(
            a.captured_at,
            Utc.with_ymd_and_hms(2026, 11, 21, 3, 32, 11).unwrap() + TimeDelta::milliseconds(500)
        );
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = from_json(json_body()).unwrap().request_sha256(PhotoSource::None);
        let changes = [
            ("/kind", serde_json::json!("check_out")),
            ("/captured_at", serde_json::json!("2026-11-21T09:02:12.5+05:30")),
            ("/location/lat", serde_json::json!(12.97161)),
            ("/location/is_mock", serde_json::json!(true)),
            ("/note", serde_json::json!("gate C")),
            ("/device/app_version", serde_json::json!("3.2.2")),
        ];
        for (pointer, value) in changes {
            let mut body = json_body();
            *body.pointer_mut(pointer).unwrap() = value;
            assert_ne!(
                from_json(body).unwrap().request_sha256(PhotoSource::None),
                base,
                "{pointer}"
            );
        }
        let input = from_json(json_body()).unwrap();
        assert_ne!(input.request_sha256(PhotoSource::Part), base);
        assert_ne!(input.request_sha256(PhotoSource::Uploaded(Uuid::nil())), base);
    }

    #[test]
    fn identity_and_verdicts_are_not_accepted_from_the_body() {
        for field in ["user_id", "org_id", "status", "decision", "received_at", "id"] {
            let mut body = json_body();
            body[field] = serde_json::json!("x");
            assert_eq!(fields(from_json(body).unwrap_err()), [field]);
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("/location/lat", serde_json::json!(91), "location.lat"),
            ("/location/lon", serde_json::json!(-181), "location.lon"),
            ("/location/accuracy_m", serde_json::json!(-1), "location.accuracy_m"),
            ("/location/lat", serde_json::json!("NaN"), "location.lat"),
            ("/location/accuracy_m", serde_json::json!("inf"), "location.accuracy_m"),
            ("/location/altitude_m", serde_json::json!(1e9), "location.altitude_m"),
            (
                "/location/provider",
                serde_json::json!("satellite"),
                "location.provider",
            ),
            ("/kind", serde_json::json!("lunch"), "kind"),
            ("/client_event_id", serde_json::json!("nope"), "client_event_id"),
            ("/captured_at", serde_json::json!("yesterday"), "captured_at"),
            ("/captured_at", serde_json::json!("2026-11-21T09:02:11"), "captured_at"),
            ("/captured_at", serde_json::json!("1900-01-01T00:00:00Z"), "captured_at"),
            ("/captured_at", serde_json::json!("9999-12-31T23:59:59Z"), "captured_at"),
            ("/note", serde_json::json!("x".repeat(MAX_NOTE_CHARS + 1)), "note"),
            ("/device/id", serde_json::json!("a\u{0}b"), "device.id"),
        ];
        for (pointer, value, field) in cases {
            let mut body = json_body();
            *body.pointer_mut(pointer).unwrap() = value.clone();
            let err = from_json(body).unwrap_err();
            assert_eq!(fields(err), [field], "{pointer} = {value}");
        }
        let mut body = json_body();
        body.as_object_mut().unwrap().remove("location");
        assert_eq!(fields(from_json(body).unwrap_err()), ["location"]);
    }

    #[test]
    fn protobuf_nonsense_is_refused_by_field() {
        let mut m = proto_body();
        m.client_event_id = "x".into();
        m.kind = "lunch".into();
        m.photo_id = Some("y".into());
        if let Some(l) = m.location.as_mut() {
            l.provider = Some("satellite".into());
        }
        assert_eq!(
            fields(EventBody::try_from(m).unwrap_err()),
            ["client_event_id", "kind", "location.provider", "photo_id"]
        );
        let mut m = proto_body();
        m.location = None;
        assert_eq!(fields(EventBody::try_from(m).unwrap_err()), ["location"]);
        let mut m = proto_body();
        if let Some(l) = m.location.as_mut() {
            l.lat = f64::NAN;
            l.accuracy_m = Some(f64::INFINITY);
        }
        let err = EventBody::try_from(m).unwrap().validate(now()).unwrap_err();
        assert_eq!(fields(err), ["location.lat", "location.accuracy_m"]);
    }

    #[test]
    fn timestamps_at_the_plausibility_edges() {
        assert!(parse_captured_at("t", "2000-01-01T00:00:00Z", now()).is_ok());
        assert!(parse_captured_at("t", "1999-12-31T23:59:59Z", now()).is_err());
        assert!(parse_captured_at("t", "2027-11-21T04:00:00Z", now()).is_ok());
        assert!(parse_captured_at("t", "2027-11-23T04:00:00Z", now()).is_err());
        let nanos = parse_captured_at("t", "2026-11-21T03:00:00.123456789Z", now()).unwrap();
        assert_eq!(nanos.timestamp_subsec_nanos(), 123_456_000);
    }
}
