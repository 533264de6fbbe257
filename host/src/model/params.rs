//! Parameter references inside definitions: `@pipeline().parameters.x`, `@dataset().x`, their
//! `@{...}` interpolations, `@@` escapes and `{"value": ..., "type": "Expression"}` wrappers.
//!
//! This is the subset of ADF's expression language that plain copy pipelines need to pass
//! dataset parameters. Any other expression is reported as not supported yet rather than
//! copied through as text.

use serde_json::{Map, Value};

use super::error::ModelError;

/// The values an expression may refer to.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub pipeline: Map<String, Value>,
    pub dataset: Map<String, Value>,
    /// In `validate`, parameters without a value are left as written instead of failing.
    pub lenient: bool,
}

/// Resolves every expression inside `value`. `at` names the object for errors.
pub fn substitute(value: &Value, scope: &Scope, at: &str) -> Result<Value, ModelError> {
    Ok(match value {
        Value::String(s) => substitute_str(s, scope, at)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, scope, at))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("Expression") {
                if let Some(Value::String(expr)) = map.get("value") {
                    return substitute_str(expr, scope, at);
                }
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), substitute(v, scope, at)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn substitute_str(s: &str, scope: &Scope, at: &str) -> Result<Value, ModelError> {
    if let Some(rest) = s.strip_prefix("@@") {
        return Ok(Value::String(format!("@{rest}")));
    }
    if let Some(expr) = s.strip_prefix('@') {
        if !expr.starts_with('{') {
            return evaluate(expr.trim(), scope, at, s);
        }
    }
    if !s.contains("@{") {
        return Ok(Value::String(s.to_string()));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ModelError::invalid(at, "", format!("unterminated @{{ in {s:?}")))?;
        match evaluate(after[..end].trim(), scope, at, s)? {
            Value::String(v) => out.push_str(&v),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn evaluate(expr: &str, scope: &Scope, at: &str, original: &str) -> Result<Value, ModelError> {
    let lookup = |map: &Map<String, Value>, name: &str, what: &str| -> Result<Value, ModelError> {
        match map.get(name) {
            Some(v) => Ok(v.clone()),
            None if scope.lenient => Ok(Value::String(original.to_string())),
            None => Err(ModelError::invalid(
                at,
                "",
                format!("{what} '{name}' has no value (in {original:?})"),
            )),
        }
    };
    if let Some(name) = expr.strip_prefix("pipeline().parameters.") {
        return lookup(&scope.pipeline, name, "pipeline parameter");
    }
    if let Some(name) = expr.strip_prefix("dataset().") {
        return lookup(&scope.dataset, name, "dataset parameter");
    }
    if scope.lenient {
        return Ok(Value::String(original.to_string()));
    }
    Err(ModelError::invalid(
        at,
        "",
        format!("the expression {original:?} is not supported yet (supported: @pipeline().parameters.NAME, @dataset().NAME and their @{{...}} interpolations)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn substitutes_parameters_and_escapes() {
        let scope = Scope {
            pipeline: json!({"t": "orders", "n": 5}).as_object().cloned().unwrap(),
            dataset: json!({"schema": "sales"}).as_object().cloned().unwrap(),
            lenient: false,
        };
        let v = json!({"a": "@pipeline().parameters.n", "b": "x_@{dataset().schema}.@{pipeline().parameters.t}",
                       "c": "@@literal", "d": {"value": "@dataset().schema", "type": "Expression"}});
        let out = substitute(&v, &scope, "ds").unwrap();
        assert_eq!(
            out,
            json!({"a": 5, "b": "x_sales.orders", "c": "@literal", "d": "sales"})
        );
        assert!(substitute(&json!("@utcNow()"), &scope, "ds")
            .unwrap_err()
            .to_string()
            .contains("not supported yet"));
        assert!(substitute(&json!("@dataset().zz"), &scope, "ds")
            .unwrap_err()
            .to_string()
            .contains("'zz' has no value"));
    }
}
