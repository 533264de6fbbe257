//! The Switch activity: which of its nested lists runs. ADF evaluates `on` to a string and
//! runs the activities of the case whose `value` equals it, or `defaultActivities` when none
//! does (learn.microsoft.com/azure/data-factory/control-flow-switch-activity). The lists are
//! parsed into `Activity.nested` as `cases[i].activities` and `defaultActivities`
//! (see [`crate::model::pipeline`]).

use serde_json::Value;

use crate::model::pipeline::Activity;
use crate::pipeline::executor::Failure;

/// The key in `a.nested` of the list to run for the evaluated `on` value, which must be a
/// string (a number or boolean is compared in its JSON text, as `string()` would write it).
pub fn branch(a: &Activity, on: &Value) -> Result<String, Failure> {
    let on = match on {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => on.to_string(),
        other => {
            return Err(Failure::definition(format!(
                "{} typeProperties.on: must evaluate to a string, got {other}",
                a.at
            )))
        }
    };
    let cases = a.raw["typeProperties"]["cases"].as_array();
    let hit = cases
        .into_iter()
        .flatten()
        .position(|c| c["value"].as_str() == Some(on.as_str()));
    Ok(match hit {
        Some(i) => format!("cases[{i}].activities"),
        None => "defaultActivities".to_string(),
    })
}
