//! Expressions inside definitions, resolved with the values in scope: `@...` keeps its type,
//! `@{...}` interpolates, `@@` escapes, `{"value": ..., "type": "Expression"}` wrappers; the
//! language itself is [`crate::expr`].

use serde_json::{Map, Value};

use super::error::ModelError;
use crate::expr::{self, Context, DateTime, Utc};

/// The values an expression may refer to.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    /// `pipeline().parameters`.
    pub pipeline: Map<String, Value>,
    /// `dataset()`: the parameters of the dataset being resolved.
    pub dataset: Map<String, Value>,
    /// `linkedService()`: the parameters of the linked service being resolved.
    pub linked_service: Map<String, Value>,
    /// `pipeline().RunId`, `pipeline().Pipeline`, `pipeline().TriggerTime`, ...
    pub system: Map<String, Value>,
    /// `activity('A')`: `{"output": ...}` of the activities that finished so far.
    pub activities: Map<String, Value>,
    /// `variables('v')`.
    pub variables: Map<String, Value>,
    /// `item()` inside a ForEach or Filter.
    pub item: Option<Value>,
    /// In `validate`, expressions are only parsed: values that only a run has are left as
    /// written, but a syntax error is still an error.
    pub lenient: bool,
    /// The run's secrets: linked services read `SecureString`s and Key Vault references
    /// through it.
    pub secrets: crate::secrets::SecretBook,
}

/// [`Scope`] seen through the expression language's [`Context`].
struct View<'a> {
    scope: &'a Scope,
    pipeline: Value,
    dataset: Value,
    linked_service: Value,
}

impl<'a> View<'a> {
    fn new(scope: &'a Scope) -> Self {
        let mut pipeline = scope.system.clone();
        pipeline.insert("parameters".into(), Value::Object(scope.pipeline.clone()));
        pipeline
            .entry("globalParameters")
            .or_insert_with(|| Value::Object(Map::new()));
        View {
            scope,
            pipeline: Value::Object(pipeline),
            dataset: Value::Object(scope.dataset.clone()),
            linked_service: Value::Object(scope.linked_service.clone()),
        }
    }
}

impl Context for View<'_> {
    fn pipeline(&self) -> Option<&Value> {
        Some(&self.pipeline)
    }
    fn activity(&self, name: &str) -> Option<&Value> {
        self.scope.activities.get(name)
    }
    fn item(&self) -> Option<&Value> {
        self.scope.item.as_ref()
    }
    fn variable(&self, name: &str) -> Option<&Value> {
        self.scope.variables.get(name)
    }
    fn dataset(&self) -> Option<&Value> {
        Some(&self.dataset)
    }
    fn linked_service(&self) -> Option<&Value> {
        Some(&self.linked_service)
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Resolves every expression inside `value`. `at` names the object for errors.
pub fn substitute(value: &Value, scope: &Scope, at: &str) -> Result<Value, ModelError> {
    let view = View::new(scope);
    if scope.lenient {
        return lenient(value, &view, at);
    }
    expr::evaluate_value(value, &view, at).map_err(expr_error)
}

fn expr_error(e: expr::ExprError) -> ModelError {
    ModelError::Other(e.to_string())
}

/// `validate`'s walk: each expression that can be evaluated from what is known is; one that
/// needs a run's values (activity outputs, `item()`, ...) stays as written, after its syntax
/// is checked.
fn lenient(value: &Value, view: &View<'_>, at: &str) -> Result<Value, ModelError> {
    Ok(match value {
        Value::String(s) => match expr::evaluate_str(s, view, at) {
            Ok(v) => v,
            Err(_) => {
                expr::validate(value, at).map_err(expr_error)?;
                value.clone()
            }
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| lenient(v, view, at))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            if let Some(s) = expr::expression_object(value) {
                return lenient(&Value::String(s.to_string()), view, at);
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), lenient(v, view, at)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
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
            ..Scope::default()
        };
        let v = json!({"a": "@pipeline().parameters.n", "b": "x_@{dataset().schema}.@{pipeline().parameters.t}",
                       "c": "@@literal", "d": {"value": "@dataset().schema", "type": "Expression"}});
        let out = substitute(&v, &scope, "ds").unwrap();
        assert_eq!(
            out,
            json!({"a": 5, "b": "x_sales.orders", "c": "@literal", "d": "sales"})
        );
        let err = substitute(&json!("@concat('a', "), &scope, "ds.x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ds.x") && err.contains("position"), "{err}");
        let lenient = Scope {
            lenient: true,
            ..Scope::default()
        };
        assert_eq!(
            substitute(&json!("@activity('A').output.x"), &lenient, "ds").unwrap(),
            json!("@activity('A').output.x")
        );
        assert!(substitute(&json!("@concat("), &lenient, "ds").is_err());
    }
}
