//! `validate` for a factory's triggers (`trigger/*.json`): each parses as a trigger Sluice knows,
//! every pipeline it starts exists, the parameters it passes are declared by that pipeline,
//! every required parameter is given, and parameter expressions parse. Found here rather than
//! when a trigger first fires, which may be hours after the factory was deployed.
//!
//! Layer: model (reads definitions only; runs nothing).

use serde_json::json;

use super::load::{Definition, Factory};
use super::pipeline::{self as pipelines, Pipeline};
use super::trigger::{PipelineTarget, Trigger, TriggerKind};
use crate::expr;

/// Errors (each naming the trigger's file and property) and warnings for every trigger.
pub fn check_triggers(factory: &Factory, warnings: &mut Vec<String>) -> Vec<String> {
    let mut errors = Vec::new();
    for (name, def) in &factory.triggers {
        check_one(factory, name, def, warnings, &mut errors);
    }
    errors
}

fn check_one(
    factory: &Factory,
    name: &str,
    def: &Definition,
    warnings: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    let file = def.file.display();
    let object = format!("trigger '{name}' ({file})");
    let whole = json!({"name": name, "properties": def.properties});
    let trigger = match Trigger::from_json(&whole, name) {
        Ok(t) => t,
        Err(e) => {
            errors.extend(e.messages().into_iter().map(|m| format!("{file}: {m}")));
            return;
        }
    };
    let targets: Vec<(String, &PipelineTarget)> = match &trigger.kind {
        TriggerKind::Schedule(s) => s
            .pipelines
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("properties.pipelines[{i}]"), t))
            .collect(),
        TriggerKind::TumblingWindow(t) => vec![("properties.pipeline".to_string(), &t.pipeline)],
        TriggerKind::Other(ty) => {
            warnings.push(format!(
                "{object}: type '{ty}' is not fired by Sluice (only ScheduleTrigger and TumblingWindowTrigger are)"
            ));
            return;
        }
    };
    for (at, target) in targets {
        check_target(factory, &object, &at, target, errors);
    }
}

/// One pipeline a trigger starts: it exists, and the parameters fit its declarations.
fn check_target(
    factory: &Factory,
    object: &str,
    at: &str,
    target: &PipelineTarget,
    errors: &mut Vec<String>,
) {
    let reference_at = format!("{at}.pipelineReference.referenceName");
    if !factory.pipelines.contains_key(&target.pipeline) {
        let known: Vec<&str> = factory.pipelines.keys().map(String::as_str).collect();
        errors.push(
            super::error::ModelError::invalid(
                object,
                &reference_at,
                format!(
                    "pipeline '{}' is not defined (pipelines: {})",
                    target.pipeline,
                    known.join(", ")
                ),
            )
            .to_string(),
        );
        return;
    }
    for (param, value) in &target.parameters {
        if let Err(e) = expr::validate(
            value,
            &format!("{object}: property '{at}.parameters.{param}'"),
        ) {
            errors.push(e.to_string());
        }
    }
    // A pipeline that does not parse is reported by the pipeline checks.
    let Ok(pipeline) = pipelines::load(factory, &target.pipeline, &mut Vec::new()) else {
        return;
    };
    errors.extend(parameter_errors(object, at, target, &pipeline));
}

/// Undeclared parameters passed, and required ones (no `defaultValue`) not passed.
fn parameter_errors(
    object: &str,
    at: &str,
    target: &PipelineTarget,
    pipeline: &Pipeline,
) -> Vec<String> {
    let mut errors = Vec::new();
    let declared: Vec<&str> = pipeline
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    for given in target.parameters.keys() {
        if !declared.contains(&given.as_str()) {
            let hint = declared
                .iter()
                .find(|d| d.eq_ignore_ascii_case(given))
                .map(|d| format!(" (did you mean '{d}'?)"))
                .unwrap_or_default();
            errors.push(
                super::error::ModelError::invalid(
                    object,
                    &format!("{at}.parameters.{given}"),
                    format!(
                        "pipeline '{}' declares no parameter '{given}'{hint} (declared: {})",
                        pipeline.name,
                        declared.join(", ")
                    ),
                )
                .to_string(),
            );
        }
    }
    for p in &pipeline.parameters {
        if p.default.is_none() && !target.parameters.contains_key(&p.name) {
            errors.push(
                super::error::ModelError::invalid(
                    object,
                    &format!("{at}.parameters"),
                    format!(
                        "pipeline '{}' requires parameter '{}' (it has no defaultValue), which the trigger does not pass",
                        pipeline.name, p.name
                    ),
                )
                .to_string(),
            );
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::PathBuf;

    fn factory() -> Factory {
        let mut f = Factory::default();
        f.insert_definition(
            super::super::load::Kind::Pipeline,
            "Load",
            json!({
                "parameters": {
                    "windowStart": {"type": "String"},
                    "label": {"type": "String", "defaultValue": "x"}
                },
                "activities": [{"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]
            }),
            "pipeline/Load.json",
        );
        f
    }

    fn with_trigger(mut f: Factory, props: Value) -> Factory {
        f.triggers.insert(
            "T".into(),
            Definition {
                name: "T".into(),
                file: PathBuf::from("trigger/T.json"),
                properties: props,
                files_root: None,
            },
        );
        f
    }

    fn tumbling(pipeline: &str, parameters: Value) -> Value {
        json!({
            "type": "TumblingWindowTrigger",
            "typeProperties": {"frequency": "Hour", "interval": 1,
                "startTime": "2027-01-01T00:00:00Z", "maxConcurrency": 1},
            "pipeline": {"pipelineReference": {"referenceName": pipeline,
                "type": "PipelineReference"}, "parameters": parameters}
        })
    }

    #[test]
    fn a_trigger_that_fits_its_pipeline_passes() {
        let f = with_trigger(
            factory(),
            tumbling(
                "Load",
                json!({"windowStart": "@trigger().outputs.windowStartTime"}),
            ),
        );
        let errors = check_triggers(&f, &mut Vec::new());
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn missing_pipeline_undeclared_and_required_parameters_are_named() {
        let f = with_trigger(factory(), tumbling("Nope", json!({})));
        let errors = check_triggers(&f, &mut Vec::new());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("trigger 'T' (trigger/T.json)")
                && errors[0].contains("properties.pipeline.pipelineReference.referenceName")
                && errors[0].contains("pipeline 'Nope' is not defined (pipelines: Load)"),
            "{errors:?}"
        );

        let f = with_trigger(factory(), tumbling("Load", json!({"windowstart": "x"})));
        let errors = check_triggers(&f, &mut Vec::new());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("property 'properties.pipeline.parameters.windowstart'")
                && errors[0].contains("did you mean 'windowStart'?"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("requires parameter 'windowStart'"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_malformed_trigger_names_its_file_and_a_bad_expression_its_parameter() {
        let f = with_trigger(factory(), json!({"typeProperties": {}}));
        let errors = check_triggers(&f, &mut Vec::new());
        assert!(
            errors.len() == 1
                && errors[0].starts_with("trigger/T.json: trigger 'T'")
                && errors[0].contains("properties.type"),
            "{errors:?}"
        );
        let f = with_trigger(
            factory(),
            tumbling("Load", json!({"windowStart": "@concat('a', "})),
        );
        let errors = check_triggers(&f, &mut Vec::new());
        assert!(
            errors.len() == 1 && errors[0].contains("properties.pipeline.parameters.windowStart"),
            "{errors:?}"
        );
    }

    #[test]
    fn other_trigger_types_are_a_warning() {
        let f = with_trigger(factory(), json!({"type": "BlobEventsTrigger"}));
        let mut warnings = Vec::new();
        assert!(check_triggers(&f, &mut warnings).is_empty());
        assert!(
            warnings.len() == 1 && warnings[0].contains("'BlobEventsTrigger' is not fired"),
            "{warnings:?}"
        );
    }
}
