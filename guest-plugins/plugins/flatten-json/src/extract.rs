//! Path lookup and typed conversion of JSON values, pure and host-testable.

use serde_json::Value as Json;
use sluice_plugin_sdk::config::json_kind;
use sluice_plugin_sdk::{ScalarType, Value};

/// One configured field: where to look, what type to produce, what to call the column.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub path: String,
    segments: Vec<String>,
    pub ty: ScalarType,
    pub name: String,
}

impl Field {
    /// `spec` is a type name or `{"type": .., "as": ..}`.
    pub fn parse(path: &str, spec: &Json) -> Result<Field, String> {
        let (ty, name) = match spec {
            Json::String(t) => (t.as_str(), None),
            Json::Object(o) => (
                o.get("type")
                    .and_then(Json::as_str)
                    .ok_or("\"type\" is required")?,
                o.get("as").and_then(Json::as_str),
            ),
            other => return Err(format!("expected a type name, got {}", json_kind(other))),
        };
        let ty = match ScalarType::parse(ty) {
            Some(
                t @ (ScalarType::Int64
                | ScalarType::Float64
                | ScalarType::Text
                | ScalarType::Boolean
                | ScalarType::Numeric),
            ) => t,
            _ => {
                return Err(format!(
                    "type \"{ty}\" is not one of int64, float64, text, boolean, numeric"
                ))
            }
        };
        if path.is_empty() {
            return Err("the path is empty".into());
        }
        Ok(Field {
            path: path.to_string(),
            segments: path.split('.').map(str::to_string).collect(),
            ty,
            name: name.map_or_else(|| path.replace('.', "_"), str::to_string),
        })
    }
}

/// The JSON value at the field's path; `None` when any step is missing.
pub fn lookup<'a>(doc: &'a Json, field: &Field) -> Option<&'a Json> {
    let mut cur = doc;
    for seg in &field.segments {
        cur = match cur {
            Json::Object(m) => m.get(seg)?,
            Json::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The field's value, typed; the error (which rejects the row) names the field.
pub fn extract(doc: &Json, field: &Field) -> Result<Value, String> {
    let Some(v) = lookup(doc, field).filter(|v| !v.is_null()) else {
        return Ok(Value::Null);
    };
    let wrong = || {
        format!(
            "field \"{}\": expected {}, got {} {}",
            field.path,
            field.ty,
            json_kind(v),
            v
        )
    };
    Ok(match field.ty {
        ScalarType::Int64 => match v {
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int64(i),
                None => {
                    // Integral decimals such as `3.0` are accepted; `3.5` is not an int64.
                    let d = sluice_plugin_sdk::decimal::Decimal::parse(&n.to_string())
                        .ok_or_else(wrong)?;
                    let integral =
                        d.round(0).and_then(|r| r.compare(d)) == Some(std::cmp::Ordering::Equal);
                    if !integral {
                        return Err(wrong());
                    }
                    Value::Int64(d.to_i64().ok_or_else(wrong)?)
                }
            },
            _ => return Err(wrong()),
        },
        ScalarType::Float64 => match v {
            Json::Number(n) => Value::Float64(n.to_string().parse().map_err(|_| wrong())?),
            _ => return Err(wrong()),
        },
        ScalarType::Numeric => match v {
            Json::Number(n) => Value::Numeric(n.to_string()),
            _ => return Err(wrong()),
        },
        ScalarType::Boolean => Value::Bool(v.as_bool().ok_or_else(wrong)?),
        _ => Value::Text(v.as_str().ok_or_else(wrong)?.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(path: &str, ty: &str) -> Field {
        Field::parse(path, &json!(ty)).unwrap()
    }

    #[test]
    fn paths_and_types() {
        // Parsed from text, as the plugin does: arbitrary_precision keeps the number's digits.
        let doc: Json = serde_json::from_str(
            r#"{"a": {"b": [10, {"c": "x"}]}, "big": 12345678901234567890.123456789, "f": 1.5, "i": 3.0, "t": true}"#,
        )
        .unwrap();
        assert_eq!(extract(&doc, &f("a.b.0", "int64")), Ok(Value::Int64(10)));
        assert_eq!(extract(&doc, &f("a.b.1.c", "text")), Ok(Value::from("x")));
        assert_eq!(extract(&doc, &f("a.b.2", "text")), Ok(Value::Null));
        assert_eq!(extract(&doc, &f("a.x.y", "text")), Ok(Value::Null));
        assert_eq!(
            extract(&doc, &f("big", "numeric")),
            Ok(Value::Numeric("12345678901234567890.123456789".into()))
        );
        assert_eq!(extract(&doc, &f("f", "float64")), Ok(Value::Float64(1.5)));
        assert_eq!(extract(&doc, &f("i", "int64")), Ok(Value::Int64(3)));
        assert_eq!(extract(&doc, &f("t", "boolean")), Ok(Value::Bool(true)));
        let e = extract(&doc, &f("f", "int64")).unwrap_err();
        assert!(e.contains("\"f\""), "{e}");
        assert!(extract(&doc, &f("a", "text")).is_err());
        assert!(extract(&doc, &f("t", "numeric")).is_err());
    }
}
