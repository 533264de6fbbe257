//! Global parameters: the `properties.globalParameters` of the factory object ADF's git
//! integration writes to `factory/<factoryName>.json`
//! (`{"name": {"type": "String", "value": ...}}`), typed as declared, so that
//! `pipeline().globalParameters.name` reads them in every expression of every pipeline.
//!
//! Shape followed: "Global parameters in Azure Data Factory" (learn.microsoft.com,
//! data-factory/author-global-parameters): types String, Int, Float, Bool, Array, Object.

use serde_json::{Map, Value};

use super::error::ModelError;

/// Whether an object with ARM resource `type` is the factory itself.
pub fn is_factory_type(ty: &str) -> bool {
    ty.to_ascii_lowercase()
        .ends_with("microsoft.datafactory/factories")
}

/// The typed global parameters of a factory object's `properties`; `at` names the file for
/// errors. A factory without `globalParameters` has none.
pub fn parse(at: &str, properties: &Value) -> Result<Map<String, Value>, ModelError> {
    let mut out = Map::new();
    let Some(globals) = properties.get("globalParameters") else {
        return Ok(out);
    };
    let Value::Object(globals) = globals else {
        return Err(ModelError::invalid(
            at,
            "properties.globalParameters",
            "must be an object of {\"name\": {\"type\": ..., \"value\": ...}}",
        ));
    };
    for (name, decl) in globals {
        let property = format!("properties.globalParameters.{name}");
        let ty = decl.get("type").and_then(Value::as_str).unwrap_or("String");
        let value = decl.get("value").ok_or_else(|| {
            ModelError::invalid(
                at,
                &property,
                "has no `value` (a global parameter needs one)",
            )
        })?;
        let typed =
            typed(ty, value).map_err(|reason| ModelError::invalid(at, &property, reason))?;
        out.insert(name.clone(), typed);
    }
    Ok(out)
}

/// `value` as the declared type: JSON of that type as written, or text that reads as it
/// (ARM parameter files may quote numbers and booleans).
fn typed(ty: &str, value: &Value) -> Result<Value, String> {
    let text = value.as_str();
    match ty.to_ascii_lowercase().as_str() {
        "string" | "securestring" => match value {
            Value::String(_) => Ok(value.clone()),
            other => Ok(Value::String(other.to_string())),
        },
        "int" => match (value, text) {
            (Value::Number(n), _) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            (_, Some(t)) => t
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{t:?} is not an Int")),
            _ => Err(format!("{value} is not an Int")),
        },
        "float" | "number" => match (value, text) {
            (Value::Number(_), _) => Ok(value.clone()),
            (_, Some(t)) => t
                .trim()
                .parse::<f64>()
                .map(Value::from)
                .map_err(|_| format!("{t:?} is not a Float")),
            _ => Err(format!("{value} is not a Float")),
        },
        "bool" => match (value, text.map(|t| t.trim().to_ascii_lowercase())) {
            (Value::Bool(_), _) => Ok(value.clone()),
            (_, Some(t)) if t == "true" => Ok(Value::Bool(true)),
            (_, Some(t)) if t == "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{value} is not a Bool (true or false)")),
        },
        "array" => match (value, text) {
            (Value::Array(_), _) => Ok(value.clone()),
            (_, Some(t)) => match serde_json::from_str(t) {
                Ok(v @ Value::Array(_)) => Ok(v),
                _ => Err(format!("{t:?} is not a JSON array")),
            },
            _ => Err(format!("{value} is not an Array")),
        },
        "object" => match (value, text) {
            (Value::Object(_), _) => Ok(value.clone()),
            (_, Some(t)) => match serde_json::from_str(t) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err(format!("{t:?} is not a JSON object")),
            },
            _ => Err(format!("{value} is not an Object")),
        },
        other => Err(format!(
            "unknown type {other:?} (String, Int, Float, Bool, Array or Object)"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_typed_as_declared() {
        let props = json!({"globalParameters": {
            "env": {"type": "String", "value": "prod"},
            "n": {"type": "Int", "value": 7},
            "q": {"type": "int", "value": "8"},
            "f": {"type": "Float", "value": 1.5},
            "b": {"type": "Bool", "value": "true"},
            "a": {"type": "Array", "value": [1, 2]},
            "o": {"type": "Object", "value": {"k": "v"}}}});
        let g = parse("factory/F.json", &props).unwrap();
        assert_eq!(
            Value::Object(g),
            json!({"env": "prod", "n": 7, "q": 8, "f": 1.5, "b": true, "a": [1, 2], "o": {"k": "v"}})
        );
        let err = parse(
            "factory/F.json",
            &json!({"globalParameters": {"n": {"type": "Int", "value": "seven"}}}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("factory/F.json")
                && err.contains("globalParameters.n")
                && err.contains("not an Int"),
            "{err}"
        );
        let err = parse(
            "F",
            &json!({"globalParameters": {"x": {"type": "Decimal", "value": 1}}}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown type"), "{err}");
    }
}
