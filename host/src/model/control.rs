//! The `typeProperties` names of the control activities (SetVariable, Wait, ForEach, ...),
//! which are evaluated only when the activity starts: `validate` checks now that the required
//! ones are there and says which of the others are misspelt, as the Copy activity's reader does
//! for its own properties.

use serde_json::{Map, Value};

use super::error::ModelError;
use super::pipeline::{Activity, ActivityKind};
use super::props::Props;

/// The required and the optional `typeProperties` of a control activity kind.
fn names(kind: ActivityKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        ActivityKind::SetVariable => (&["variableName", "value"], &["setSystemVariable"]),
        ActivityKind::AppendVariable => (&["variableName", "value"], &[]),
        ActivityKind::Wait => (&["waitTimeInSeconds"], &[]),
        ActivityKind::Fail => (&["message", "errorCode"], &[]),
        ActivityKind::IfCondition => (&["expression"], &["ifTrueActivities", "ifFalseActivities"]),
        ActivityKind::ForEach => (&["items", "activities"], &["isSequential", "batchCount"]),
        ActivityKind::Until => (&["expression", "activities"], &["timeout"]),
        ActivityKind::ExecutePipeline => (&["pipeline"], &["parameters", "waitOnCompletion"]),
        ActivityKind::Filter => (&["items", "condition"], &[]),
        ActivityKind::Switch => (&["on"], &["cases", "defaultActivities"]),
        // The other kinds have readers of their own.
        _ => (&[], &[]),
    }
}

/// Checks a control activity's `typeProperties`: a missing required property is an error (with
/// the misspelt name that was probably meant for it); other unknown names are warnings.
pub fn check_properties(a: &Activity, warnings: &mut Vec<String>) -> Result<(), ModelError> {
    let (required, optional) = names(a.kind);
    if required.is_empty() && optional.is_empty() {
        return Ok(());
    }
    let empty = Map::new();
    let map = match a.raw.get("typeProperties") {
        Some(Value::Object(m)) => m,
        _ => &empty,
    };
    let p = Props::new(format!("{} typeProperties", a.at), map);
    let mut errors = Vec::new();
    for key in required {
        p.accept(key);
        // The activity reads its properties by their exact names when it runs.
        if map.get(*key).is_none() {
            let cased = map.keys().find(|k| k.eq_ignore_ascii_case(key));
            errors.push(match cased {
                Some(k) => p.err(
                    key,
                    format!("is required (found '{k}': these names are case-sensitive)"),
                ),
                None => p.err(key, "is required"),
            });
        }
    }
    for key in optional {
        p.accept(key);
    }
    if !errors.is_empty() {
        return Err(ModelError::several(errors));
    }
    warnings.extend(p.unused());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wait(tp: Value) -> Activity {
        let raw = json!({"name": "W", "type": "Wait", "typeProperties": tp});
        let def = json!({"activities": [raw]});
        let def = crate::model::load::Definition {
            name: "P".into(),
            file: "pipeline/P.json".into(),
            properties: def,
            files_root: None,
        };
        let p = crate::model::pipeline::Pipeline::parse(&def, &mut Vec::new()).unwrap();
        p.activities[0].clone()
    }

    #[test]
    fn a_misspelt_required_property_is_an_error_naming_the_typo() {
        let e = check_properties(&wait(json!({"waitTimeInSecond": 1})), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "pipeline 'P' activity 'W' typeProperties: property 'waitTimeInSeconds': is \
             required; unknown property 'waitTimeInSecond' (did you mean 'waitTimeInSeconds'?)"
        );
    }

    #[test]
    fn a_required_property_in_the_wrong_case_is_named() {
        let e = check_properties(&wait(json!({"WaitTimeInSeconds": 1})), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("is required (found 'WaitTimeInSeconds': these names are case-sensitive)"),
            "{e}"
        );
    }

    #[test]
    fn a_misspelt_optional_property_is_a_warning() {
        let mut warnings = Vec::new();
        let a = wait(json!({"waitTimeInSeconds": 1, "waitTimeInSecondz": 2}));
        check_properties(&a, &mut warnings).unwrap();
        assert_eq!(
            warnings,
            vec![
                "pipeline 'P' activity 'W' typeProperties: unknown property 'waitTimeInSecondz' \
                  (did you mean 'waitTimeInSeconds'?); ignored"
            ]
        );
    }
}
