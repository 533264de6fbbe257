//! Expressions inside definitions, resolved with the values in scope: `@...` keeps its type,
//! `@{...}` interpolates, `@@` escapes, `{"value": ..., "type": "Expression"}` wrappers; the
//! language itself is [`crate::expr`].

use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::ModelError;
use crate::expr::{self, Context, DateTime, Utc};

/// Named values shared between scopes: activity outputs and variables. A persistent map, so
/// each activity's snapshot costs O(1) and an update O(log n), however many activities ran.
pub type Named = imbl::HashMap<String, Arc<Value>>;

/// The values an expression may refer to. Cheap to clone: the large parts (the `pipeline()`
/// object with its parameters, the activity outputs, the variables) are shared, not copied, so
/// a run's cost grows linearly with its activities and ForEach items.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `pipeline()`: the run's system values (`RunId`, `Pipeline`, `TriggerTime`...) with
    /// `parameters` and `globalParameters`; built once per run and shared.
    pub pipeline: Arc<Value>,
    /// `dataset()`: the parameters of the dataset being resolved (an object).
    pub dataset: Value,
    /// `linkedService()`: the parameters of the linked service being resolved (an object).
    pub linked_service: Value,
    /// `activity('A')`: `{"output": ...}` of the activities that finished so far.
    pub activities: Named,
    /// `variables('v')`.
    pub variables: Named,
    /// `item()` inside a ForEach or Filter.
    pub item: Option<Arc<Value>>,
    /// In `validate`, expressions are only parsed: values that only a run has are left as
    /// written, but a syntax error is still an error.
    pub lenient: bool,
    /// The run's secrets: linked services read `SecureString`s and Key Vault references
    /// through it.
    pub secrets: crate::secrets::SecretBook,
}

impl Default for Scope {
    fn default() -> Self {
        Scope::with_parameters(Map::new())
    }
}

impl Scope {
    /// A scope whose `pipeline().parameters` are `parameters` (and no system values: planning,
    /// `validate`, tests).
    pub fn with_parameters(parameters: Map<String, Value>) -> Self {
        Scope::with_pipeline(Arc::new(pipeline_object(Map::new(), parameters)))
    }

    /// A scope whose `pipeline()` has `parameters` and the factory's global parameters
    /// `globals`, and no system values (planning, `validate`).
    pub fn with_globals(parameters: Map<String, Value>, globals: &Map<String, Value>) -> Self {
        let mut system = Map::new();
        system.insert("globalParameters".into(), Value::Object(globals.clone()));
        Scope::with_pipeline(Arc::new(pipeline_object(system, parameters)))
    }

    /// A scope whose `pipeline()` is `pipeline` (see [`pipeline_object`]), shared.
    pub fn with_pipeline(pipeline: Arc<Value>) -> Self {
        Scope {
            pipeline,
            dataset: Value::Object(Map::new()),
            linked_service: Value::Object(Map::new()),
            activities: Named::new(),
            variables: Named::new(),
            item: None,
            lenient: false,
            secrets: Default::default(),
        }
    }

    /// `pipeline().RunId`: `None` outside a run (planning, `validate`).
    pub fn run_id(&self) -> Option<&str> {
        self.pipeline.get("RunId").and_then(Value::as_str)
    }
}

/// The `pipeline()` object: `system` values with `parameters`, and `globalParameters` when
/// `system` has none (an empty object).
pub fn pipeline_object(mut system: Map<String, Value>, parameters: Map<String, Value>) -> Value {
    system.insert("parameters".into(), Value::Object(parameters));
    system
        .entry("globalParameters")
        .or_insert_with(|| Value::Object(Map::new()));
    Value::Object(system)
}

impl Context for Scope {
    fn pipeline(&self) -> Option<&Value> {
        Some(&self.pipeline)
    }
    fn activity(&self, name: &str) -> Option<&Value> {
        self.activities.get(name).map(|v| &**v)
    }
    fn item(&self) -> Option<&Value> {
        self.item.as_deref()
    }
    fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name).map(|v| &**v)
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
    if scope.lenient {
        return lenient(value, scope, at);
    }
    expr::evaluate_value(value, scope, at).map_err(expr_error)
}

fn expr_error(e: expr::ExprError) -> ModelError {
    ModelError::Other(e.to_string())
}

/// `validate`'s walk: each expression that can be evaluated from what is known is; one that
/// needs a run's values (activity outputs, `item()`, ...) stays as written, after its syntax
/// is checked.
fn lenient(value: &Value, scope: &Scope, at: &str) -> Result<Value, ModelError> {
    Ok(match value {
        Value::String(s) => match expr::evaluate_str(s, scope, at) {
            Ok(v) => v,
            Err(_) => {
                expr::validate(value, at).map_err(expr_error)?;
                value.clone()
            }
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| lenient(v, scope, at))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            if let Some(s) = expr::expression_object(value) {
                return lenient(&Value::String(s.to_string()), scope, at);
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), lenient(v, scope, at)?);
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
            dataset: json!({"schema": "sales"}),
            ..Scope::with_parameters(json!({"t": "orders", "n": 5}).as_object().cloned().unwrap())
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
