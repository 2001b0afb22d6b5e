//! The protobuf wire messages of `proto/muster/v1`, and the bridge between
//! `google.protobuf.Struct` and JSON values (app logs carry free-form objects).

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/muster.v1.rs"));
}

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/x-protobuf";

pub fn struct_to_json(s: prost_types::Struct) -> Value {
    Value::Object(s.fields.into_iter().map(|(k, v)| (k, value_to_json(v))).collect())
}

fn value_to_json(v: prost_types::Value) -> Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => number(n),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.into_iter().map(value_to_json).collect()),
    }
}

/// Protobuf has only doubles; a whole number within f64's exact range becomes a JSON
/// integer, so `300` sent as protobuf is stored and read back as `300`, exactly as when it is
/// sent as JSON, rather than as `300.0`.
fn number(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() <= EXACT {
        // Exact: a whole |n| <= 2^53 converts to i64 without loss.
        return Value::Number(Number::from(n as i64));
    }
    // Non-finite numbers have no JSON form.
    Number::from_f64(n).map_or(Value::Null, Value::Number)
}

pub fn json_to_struct(map: Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, json_to_value(v))).collect(),
    }
}

fn json_to_value(v: Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(json_to_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(json_to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn structs_round_trip_through_json() {
        let value = json!({"a": 1.5, "b": [true, null, "x"], "c": {"d": "e"}, "n": 300, "m": -2});
        let back = super::struct_to_json(super::json_to_struct(value.as_object().unwrap().clone()));
        assert_eq!(back, value);
    }
}
