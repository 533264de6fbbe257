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
    /// `trigger()`: the trigger's record for a triggered run (see [`manual_trigger`] for a
    /// manual one); `None` outside a run (planning, `validate`), where `trigger()` is an error.
    pub trigger: Option<Arc<Value>>,
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
            trigger: None,
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

/// `trigger()` in a run no trigger started: what ADF's manual trigger has, `name`,
/// `startTime` and `scheduledTime` (both the run's `TriggerTime`) and an empty `outputs`, so
/// `@trigger().startTime` works and `@trigger().outputs.windowStartTime` fails naming the
/// missing property (as in ADF), while `@trigger()?.outputs?.windowStartTime` is null.
pub fn manual_trigger(system: &Map<String, Value>) -> Value {
    let get = |k: &str| system.get(k).cloned().unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert("name".into(), get("TriggerName"));
    m.insert("type".into(), get("TriggerType"));
    m.insert("startTime".into(), get("TriggerTime"));
    m.insert("scheduledTime".into(), get("TriggerTime"));
    m.insert("runId".into(), get("TriggerId"));
    m.insert("outputs".into(), Value::Object(Map::new()));
    Value::Object(m)
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
    fn trigger(&self) -> Option<&Value> {
        self.trigger.as_deref()
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

/// Pipeline parameter values a trigger passes, evaluated as ADF does when the trigger fires:
/// each value is an expression over `trigger()` (`"@trigger().outputs.windowStartTime"`, a
/// `{"type": "Expression", "value": ..}` object, `"x_@{trigger().scheduledTime}"`, `"@@"`
/// escapes) and the factory's global parameters. Values come and go as `NAME=VALUE` texts
/// (the engine types them by the pipeline's declarations): a JSON object or array text is
/// evaluated inside; a string result is kept as is, anything else becomes its JSON text.
pub fn trigger_parameter_texts(
    given: &[(String, String)],
    trigger: &Arc<Value>,
    globals: &Map<String, Value>,
) -> Result<Vec<(String, String)>, ModelError> {
    let scope = Scope {
        trigger: Some(trigger.clone()),
        ..Scope::with_globals(Map::new(), globals)
    };
    given
        .iter()
        .map(|(name, text)| {
            let trimmed = text.trim_start();
            let written = match serde_json::from_str::<Value>(text) {
                Ok(v @ (Value::Object(_) | Value::Array(_)))
                    if trimmed.starts_with('{') || trimmed.starts_with('[') =>
                {
                    v
                }
                _ => Value::String(text.clone()),
            };
            let at = format!("the trigger's parameter '{name}'");
            let value = expr::evaluate_value(&written, &scope, &at).map_err(expr_error)?;
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            Ok((name.clone(), text))
        })
        .collect()
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

    fn window_trigger() -> Arc<Value> {
        Arc::new(json!({"name": "Hourly", "type": "TumblingWindowTrigger",
            "startTime": "2027-05-03T09:00:07Z", "scheduledTime": "2027-05-03T08:00:00Z",
            "runId": "tr-1", "outputs": {"windowStartTime": "2027-05-03T08:00:00Z",
            "windowEndTime": "2027-05-03T09:00:00Z"}}))
    }

    #[test]
    fn trigger_parameters_are_evaluated_over_the_trigger() {
        let given: Vec<(String, String)> = [
            ("from", "@trigger().outputs.windowStartTime"),
            ("label", "w_@{formatDateTime(trigger().scheduledTime, 'yyyyMMddHH')}"),
            ("wrapped", r#"{"type": "Expression", "value": "@trigger().outputs.windowEndTime"}"#),
            ("hours", "@div(sub(ticks(trigger().outputs.windowEndTime), ticks(trigger().outputs.windowStartTime)), 36000000000)"),
            ("literal", "plain"),
            ("escaped", "@@trigger"),
            ("env", "@pipeline().globalParameters.env"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let globals = json!({"env": "prod"}).as_object().cloned().unwrap();
        let out = trigger_parameter_texts(&given, &window_trigger(), &globals).unwrap();
        let got: Vec<&str> = out.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            got,
            [
                "2027-05-03T08:00:00Z",
                "w_2027050308",
                "2027-05-03T09:00:00Z",
                "1",
                "plain",
                "@trigger",
                "prod"
            ]
        );
        let bad = [("x".to_string(), "@trigger().outputs.nope".to_string())];
        let e = trigger_parameter_texts(&bad, &window_trigger(), &Map::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the trigger's parameter 'x'")
                && e.contains("property 'nope' doesn't exist"),
            "{e}"
        );
    }

    #[test]
    fn trigger_is_what_the_scope_holds_and_a_manual_run_has_no_window() {
        let scope = Scope {
            trigger: Some(window_trigger()),
            ..Scope::default()
        };
        let v = json!({"a": "@trigger().scheduledTime", "b": "@trigger().startTime",
            "c": "@{trigger().outputs.windowStartTime}/@{trigger().outputs.windowEndTime}",
            "d": "@trigger().name"});
        assert_eq!(
            substitute(&v, &scope, "x").unwrap(),
            json!({"a": "2027-05-03T08:00:00Z", "b": "2027-05-03T09:00:07Z",
                "c": "2027-05-03T08:00:00Z/2027-05-03T09:00:00Z", "d": "Hourly"})
        );
        // Planning and validate have no trigger: an error, which validate leaves as written.
        let e = substitute(&json!("@trigger().startTime"), &Scope::default(), "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trigger() is not available"), "{e}");

        let system = json!({"TriggerName": "Sandbox", "TriggerType": "Manual",
            "TriggerTime": "2027-01-01T00:00:00.000000Z", "TriggerId": "run-9"});
        let manual = Scope {
            trigger: Some(Arc::new(manual_trigger(system.as_object().unwrap()))),
            ..Scope::default()
        };
        assert_eq!(
            substitute(&json!("@trigger().startTime"), &manual, "x").unwrap(),
            json!("2027-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            substitute(&json!("@trigger()?.outputs?.windowStartTime"), &manual, "x").unwrap(),
            Value::Null
        );
        let e = substitute(&json!("@trigger().outputs.windowStartTime"), &manual, "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("property 'windowStartTime' doesn't exist"),
            "{e}"
        );
    }
}
