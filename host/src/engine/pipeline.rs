//! The pipeline executor: runs activities as their `dependsOn` conditions allow, independent
//! ones concurrently, with each activity's `policy` (timeout, retry, secureOutput).
//!
//! Pipeline status follows ADF's rule: evaluate every leaf activity (one nothing depends on);
//! a skipped leaf is replaced by its parents; the pipeline succeeded if and only if every
//! evaluated activity succeeded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::task::JoinSet;

use super::copy::run_copy;
use super::progress::Progress;
use super::run::{ActivityError, ActivityRun, PipelineRun, Status};
use super::transform::PluginHost;
use crate::model::load::Factory;
use crate::model::params::Scope;
use crate::model::pipeline::{Activity, Condition, Pipeline};
use crate::secrets::MASK;

/// How a run presents itself.
#[derive(Clone, Default)]
pub struct RunSettings {
    /// Draw progress bars (only shown when stderr is a terminal).
    pub progress: bool,
    /// Serves Copy activities' `transforms` and `rowMapper`; `None` runs no plugins.
    pub plugins: Option<Arc<PluginHost>>,
}

/// Runs a pipeline to the end and returns its run record (never panics on activity failure).
pub async fn run_pipeline(
    factory: Arc<Factory>,
    pipeline: &Pipeline,
    parameters: Map<String, Value>,
    settings: &RunSettings,
    mut warnings: Vec<String>,
) -> PipelineRun {
    let run_id = uuid::Uuid::new_v4().to_string();
    let start = chrono::Utc::now();
    let t0 = Instant::now();
    tracing::info!(pipeline = %pipeline.name, run_id = %run_id, "pipeline run started");

    let mut status: BTreeMap<String, Status> = BTreeMap::new();
    let mut records: BTreeMap<String, ActivityRun> = BTreeMap::new();
    let mut running: JoinSet<(ActivityRun, Vec<String>)> = JoinSet::new();
    let mut started: std::collections::BTreeSet<String> = Default::default();
    let scope = Scope {
        pipeline: parameters.clone(),
        ..Scope::default()
    };

    loop {
        for a in &pipeline.activities {
            if started.contains(&a.name) {
                continue;
            }
            let deps: Option<Vec<(Status, &[Condition])>> = a
                .depends_on
                .iter()
                .map(|d| {
                    status
                        .get(&d.activity)
                        .map(|s| (*s, d.conditions.as_slice()))
                })
                .collect();
            let Some(deps) = deps else { continue };
            started.insert(a.name.clone());
            if deps
                .iter()
                .all(|(s, conds)| conds.iter().any(|c| satisfies(*s, *c)))
            {
                let (factory, activity, scope, settings) =
                    (factory.clone(), a.clone(), scope.clone(), settings.clone());
                running.spawn(
                    async move { run_activity(&factory, &activity, &scope, &settings).await },
                );
            } else {
                tracing::info!(activity = %a.name, "skipped: its dependency conditions were not met");
                status.insert(a.name.clone(), Status::Skipped);
                records.insert(a.name.clone(), skipped(a));
            }
        }
        if started.len() == pipeline.activities.len() && running.is_empty() {
            break;
        }
        match running.join_next().await {
            Some(Ok((run, w))) => {
                warnings.extend(w);
                status.insert(run.activity_name.clone(), run.status);
                records.insert(run.activity_name.clone(), run);
            }
            Some(Err(e)) => {
                tracing::error!("an activity task stopped unexpectedly: {e}");
                break;
            }
            None => {
                // Nothing running and nothing startable: skip whatever is left.
                for a in &pipeline.activities {
                    if !started.contains(&a.name) {
                        started.insert(a.name.clone());
                        status.insert(a.name.clone(), Status::Skipped);
                        records.insert(a.name.clone(), skipped(a));
                    }
                }
            }
        }
    }

    let overall = pipeline_status(pipeline, &status);
    let end = chrono::Utc::now();
    warnings.sort();
    warnings.dedup();
    let activities = pipeline
        .activities
        .iter()
        .filter_map(|a| records.remove(&a.name))
        .collect();
    let run = PipelineRun {
        pipeline_name: pipeline.name.clone(),
        run_id,
        status: overall,
        run_start: start.to_rfc3339(),
        run_end: end.to_rfc3339(),
        duration_in_ms: t0.elapsed().as_millis() as u64,
        parameters,
        activities,
        warnings,
    };
    tracing::info!(pipeline = %pipeline.name, status = ?run.status, "pipeline run finished");
    run
}

fn satisfies(status: Status, condition: Condition) -> bool {
    matches!(
        (status, condition),
        (Status::Succeeded, Condition::Succeeded)
            | (Status::Failed, Condition::Failed)
            | (Status::Skipped, Condition::Skipped)
            | (Status::Succeeded | Status::Failed, Condition::Completed)
    )
}

fn skipped(a: &Activity) -> ActivityRun {
    ActivityRun {
        activity_name: a.name.clone(),
        activity_type: a.activity_type.clone(),
        status: Status::Skipped,
        activity_run_start: None,
        duration_in_ms: 0,
        attempts: 0,
        error: None,
        output: Value::Object(Map::new()),
    }
}

fn pipeline_status(pipeline: &Pipeline, status: &BTreeMap<String, Status>) -> Status {
    let is_parent = |name: &str| {
        pipeline
            .activities
            .iter()
            .any(|a| a.depends_on.iter().any(|d| d.activity == name))
    };
    let mut evaluate: Vec<&Activity> = pipeline
        .activities
        .iter()
        .filter(|a| !is_parent(&a.name))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(a) = evaluate.pop() {
        if !seen.insert(a.name.clone()) {
            continue;
        }
        match status.get(&a.name) {
            Some(Status::Succeeded) => {}
            Some(Status::Skipped) if !a.depends_on.is_empty() => {
                for d in &a.depends_on {
                    if let Some(p) = pipeline.activities.iter().find(|x| x.name == d.activity) {
                        evaluate.push(p);
                    }
                }
            }
            Some(Status::Skipped) => {}
            _ => return Status::Failed,
        }
    }
    Status::Succeeded
}

/// Runs one activity with its policy: each attempt within `timeout`, up to `retry` retries.
async fn run_activity(
    factory: &Factory,
    a: &Activity,
    scope: &Scope,
    settings: &RunSettings,
) -> (ActivityRun, Vec<String>) {
    let start = chrono::Utc::now();
    let t0 = Instant::now();
    let mut warnings = Vec::new();
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        tracing::info!(activity = %a.name, attempt = attempts, "activity started");
        let attempt = tokio::time::timeout(
            a.policy.timeout,
            execute(factory, a, scope, settings, &mut warnings),
        )
        .await;
        let result = match attempt {
            Ok(r) => r,
            Err(_) => Err((
                "ActivityTimeout".to_string(),
                format!(
                    "activity '{}' timed out after {}",
                    a.name,
                    crate::model::timespan::format_timespan(a.policy.timeout)
                ),
            )),
        };
        match result {
            Err(e) if attempts <= a.policy.retry && e.0 != "BadDefinition" => {
                tracing::warn!(activity = %a.name, "attempt {attempts} failed: {}; retrying in {}s", e.1, a.policy.retry_interval.as_secs());
                tokio::time::sleep(a.policy.retry_interval).await;
            }
            other => break other,
        }
    };
    let (status, error, mut output) = match result {
        Ok(output) => (Status::Succeeded, None, output),
        Err((code, message)) => {
            let message = crate::secrets::redact(&message);
            tracing::error!(activity = %a.name, "failed: {message}");
            let error = ActivityError {
                error_code: code,
                message,
                failure_type: "UserError".into(),
            };
            (Status::Failed, Some(error), Value::Object(Map::new()))
        }
    };
    if a.policy.secure_output && status == Status::Succeeded {
        output = Value::String(MASK.to_string());
    }
    let run = ActivityRun {
        activity_name: a.name.clone(),
        activity_type: a.activity_type.clone(),
        status,
        activity_run_start: Some(start.to_rfc3339()),
        duration_in_ms: t0.elapsed().as_millis() as u64,
        attempts,
        error,
        output,
    };
    (run, warnings)
}

type ActivityResult = Result<Value, (String, String)>;

async fn execute(
    factory: &Factory,
    a: &Activity,
    scope: &Scope,
    settings: &RunSettings,
    warnings: &mut Vec<String>,
) -> ActivityResult {
    match a.activity_type.as_str() {
        "Copy" => {
            let plan = crate::model::copy::resolve(factory, &a.raw, &a.at, scope, warnings)
                .map_err(|e| ("BadDefinition".to_string(), e.to_string()))?;
            let bar = Progress::new(&a.name, settings.progress);
            let out = run_copy(&plan, settings.plugins.as_deref(), &bar)
                .await
                .map_err(|e| {
                    (
                        "CopyFailed".to_string(),
                        format!("activity '{}': {e}", a.name),
                    )
                })?;
            tracing::info!(activity = %a.name, rows = out.rows_copied, seconds = out.copy_duration, "copy finished");
            serde_json::to_value(out).map_err(|e| ("Internal".to_string(), e.to_string()))
        }
        other => Err((
            "BadDefinition".to_string(),
            format!("activity type {other:?} is not supported yet"),
        )),
    }
}
