//! The model's JSON values as BSON and back.
//!
//! Written out rather than through extended JSON, so that a validator's query operators (`$exists`,
//! `$regex`, ...) are always sent as the documents they are, never read as extended-JSON type wrappers.

use mongodb::bson::{Bson, Document};
use serde_json::{Map, Value};

/// A JSON value as BSON: integers as Int32 when they fit, else Int64; other numbers as doubles.
pub fn to_bson(v: &Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => match i32::try_from(i) {
                Ok(small) => Bson::Int32(small),
                Err(_) => Bson::Int64(i),
            },
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(a) => Bson::Array(a.iter().map(to_bson).collect()),
        Value::Object(m) => Bson::Document(to_document(m)),
    }
}

/// A JSON object as a BSON document, keys in their order.
pub fn to_document(m: &Map<String, Value>) -> Document {
    m.iter().map(|(k, v)| (k.clone(), to_bson(v))).collect()
}

/// A BSON value as JSON. Numbers of every BSON type become JSON numbers (an integral double becomes an
/// integer, so that they compare by value); types JSON has no word for keep their relaxed extended-JSON form.
pub fn to_json(b: &Bson) -> Value {
    match b {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(x) => Value::Bool(*x),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(d) => {
            let mut v = serde_json::Number::from_f64(*d)
                .map(Value::Number)
                .unwrap_or(Value::Null);
            super::numbers_by_value(&mut v);
            v
        }
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Bson::Document(d) => document_to_json(d),
        other => other.clone().into_relaxed_extjson(),
    }
}

/// A BSON document as a JSON object.
pub fn document_to_json(d: &Document) -> Value {
    Value::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

/// A whole number as BSON stores it (an int, a long, or a double without a fraction).
pub fn int(v: Option<&Bson>) -> Option<i64> {
    match v? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 => Some(*d as i64),
        _ => None,
    }
}

/// A closed set's name as a manifest writes it (`minutes`, `strict`).
pub fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_operators_and_numbers_compare_by_value() {
        let v = json!({"$jsonSchema": {"bsonType": "object", "minimum": 1.5, "big": 5_000_000_000i64},
                       "name": {"$regex": "^a", "$options": "i"}, "n": {"$exists": true}});
        let b = to_bson(&v);
        let Bson::Document(d) = &b else {
            panic!("not a document")
        };
        assert!(matches!(
            d.get_document("name").unwrap().get("$regex"),
            Some(Bson::String(_))
        ));
        assert_eq!(to_json(&b), v);
        assert_eq!(to_json(&Bson::Double(1.0)), json!(1));
        assert_eq!(to_json(&Bson::Int64(1)), to_json(&Bson::Int32(1)));
    }
}
