//! Report rows as bytes: a JSON document `{"items": [...]}` or CSV with a header row, written
//! incrementally so that the answer can be streamed while it is produced.

use bytes::Bytes;
use std::borrow::Cow;

use super::days::ReportRow;

/// The columns, in the order of the contract; the CSV header and the JSON field order.
pub const COLUMNS: [&str; 23] = [
    "user_id",
    "employee_code",
    "name",
    "date",
    "first_in",
    "last_out",
    "worked_minutes",
    "status",
    "events",
    "flagged",
    "rejected",
    "first_in_lat",
    "first_in_lon",
    "first_in_accuracy_m",
    "first_in_geofence",
    // Columns added after v1's first release go last, so that a CSV reader that counts
    // columns keeps working.
    "corrected",
    "shift_id",
    "shift_version",
    "scheduled_start",
    "scheduled_end",
    "late_minutes",
    "early_leave_minutes",
    "overtime_minutes",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Writes rows into a buffer that the caller drains with [`Encoder::take`].
pub struct Encoder {
    format: Format,
    buf: Vec<u8>,
    csv: Option<csv::Writer<Vec<u8>>>,
    rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("csv buffer: {0}")]
    Io(#[from] std::io::Error),
}

impl Encoder {
    /// Starts the document: `{"items":[` or the CSV header row.
    pub fn new(format: Format) -> Result<Self, EncodeError> {
        let mut encoder = Encoder {
            format,
            buf: Vec::new(),
            csv: None,
            rows: 0,
        };
        match format {
            Format::Json => encoder.buf.extend_from_slice(b"{\"items\":["),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(Vec::new());
                writer.write_record(COLUMNS)?;
                encoder.csv = Some(writer);
            }
        }
        Ok(encoder)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn row(&mut self, row: &ReportRow) -> Result<(), EncodeError> {
        match &mut self.csv {
            None => {
                if self.rows > 0 {
                    self.buf.push(b',');
                }
                serde_json::to_writer(&mut self.buf, row)?;
            }
            Some(writer) => writer.write_record(csv_record(row).iter().map(|cell| cell.as_bytes()))?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Ends the document.
    pub fn finish(&mut self) {
        if self.csv.is_none() {
            self.buf.extend_from_slice(b"]}");
        }
    }

    /// What has been written since the last call.
    pub fn take(&mut self) -> Result<Bytes, EncodeError> {
        if let Some(writer) = &mut self.csv {
            // The writer owns its output; swap in a fresh one (the header is not repeated).
            let done = std::mem::replace(writer, csv::Writer::from_writer(Vec::new()));
            let mut bytes = done.into_inner().map_err(|e| e.into_error())?;
            self.buf.append(&mut bytes);
        }
        Ok(Bytes::from(std::mem::take(&mut self.buf)))
    }
}

/// A CSV cell from free text. Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`,
/// tab or carriage return as a formula, so such text is prefixed with `'` (OWASP's advice
/// against CSV injection): names and geofence names are typed by people.
fn text(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_record(r: &ReportRow) -> [Cow<'_, str>; COLUMNS.len()] {
    let time =
        |t: Option<chrono::DateTime<chrono::FixedOffset>>| Cow::Owned(t.map(|t| t.to_rfc3339()).unwrap_or_default());
    [
        Cow::Owned(r.user_id.to_string()),
        text(&r.employee_code),
        text(&r.name),
        Cow::Owned(r.date.to_string()),
        time(r.first_in),
        time(r.last_out),
        Cow::Owned(r.worked_minutes.to_string()),
        Cow::Borrowed(r.status.as_str()),
        Cow::Owned(r.events.to_string()),
        Cow::Owned(r.flagged.to_string()),
        Cow::Owned(r.rejected.to_string()),
        Cow::Owned(number(r.first_in_lat)),
        Cow::Owned(number(r.first_in_lon)),
        Cow::Owned(number(r.first_in_accuracy_m)),
        r.first_in_geofence.as_deref().map(text).unwrap_or_default(),
        Cow::Borrowed(if r.corrected { "true" } else { "false" }),
        Cow::Owned(r.shift_id.map(|id| id.to_string()).unwrap_or_default()),
        Cow::Owned(r.shift_version.map(|v| v.to_string()).unwrap_or_default()),
        time(r.scheduled_start),
        time(r.scheduled_end),
        Cow::Owned(r.late_minutes.to_string()),
        Cow::Owned(r.early_leave_minutes.to_string()),
        Cow::Owned(r.overtime_minutes.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::days::DayStatus;

    fn row() -> ReportRow {
        ReportRow {
            user_id: uuid::Uuid::nil(),
            employee_code: "=HYPERLINK(\"x\")".into(),
            name: "Ann, \"the\" Boss".into(),
            date: "2026-11-20".parse().unwrap(),
            first_in: Some(chrono::DateTime::parse_from_rfc3339("2026-11-20T09:00:00+05:30").unwrap()),
            last_out: None,
            worked_minutes: 0,
            status: DayStatus::Incomplete,
            events: 1,
            flagged: 0,
            rejected: 0,
            first_in_lat: Some(12.9716),
            first_in_lon: Some(77.5946),
            first_in_accuracy_m: None,
            first_in_geofence: Some("Campus".into()),
            corrected: false,
            shift_id: None,
            shift_version: None,
            scheduled_start: None,
            scheduled_end: Some(chrono::DateTime::parse_from_rfc3339("2026-11-20T18:00:00+05:30").unwrap()),
            late_minutes: 12,
            early_leave_minutes: 0,
            overtime_minutes: 0,
            open_since: None,
        }
    }

    #[test]
    fn json_keys_follow_the_columns() {
        let value = serde_json::to_value(row()).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut columns = COLUMNS.to_vec();
        let mut sorted = keys.clone();
        columns.sort();
        sorted.sort();
        assert_eq!(sorted, columns);
        assert_eq!(value["first_in"], "2026-11-20T09:00:00+05:30");
        assert_eq!(value["date"], "2026-11-20");
        assert_eq!(value["status"], "incomplete");
        assert!(value["last_out"].is_null());
    }

    #[test]
    fn json_is_one_document_however_it_is_drained() {
        let mut e = Encoder::new(Format::Json).unwrap();
        let mut out = e.take().unwrap().to_vec();
        e.row(&row()).unwrap();
        out.extend_from_slice(&e.take().unwrap());
        e.row(&row()).unwrap();
        e.finish();
        out.extend_from_slice(&e.take().unwrap());
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["items"].as_array().unwrap().len(), 2);
        let mut empty = Encoder::new(Format::Json).unwrap();
        empty.finish();
        assert_eq!(&empty.take().unwrap()[..], b"{\"items\":[]}");
    }

    #[test]
    fn csv_has_a_header_quotes_and_defuses_formulas() {
        let mut e = Encoder::new(Format::Csv).unwrap();
        e.row(&row()).unwrap();
        e.finish();
        let text = String::from_utf8(e.take().unwrap().to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "00000000-0000-0000-0000-000000000000,\"'=HYPERLINK(\"\"x\"\")\",\"Ann, \"\"the\"\" Boss\",2026-11-20,\
             2026-11-20T09:00:00+05:30,,0,incomplete,1,0,0,12.9716,77.5946,,Campus,false,,,,\
             2026-11-20T18:00:00+05:30,12,0,0"
        );
        assert!(lines.next().is_none());
    }
}
