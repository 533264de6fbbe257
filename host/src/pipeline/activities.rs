//! What each activity type does when it runs: the data activities (Copy, Lookup, Script) and
//! the control activities (SetVariable, AppendVariable, Wait, Fail, IfCondition, ForEach, Until,
//! Filter, ExecutePipeline). Properties are evaluated when the activity starts, so they see the
//! outputs of the activities before it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::copy::progress::ProgressBoard;
use crate::copy::runner::run_copy;
use crate::model::params::{substitute, Named, Scope};
use crate::model::pipeline::{Activity, ActivityKind};
use crate::model::timespan::parse_timespan;
use crate::pipeline::executor::{lock, run_container, run_nested, Failure, Frame, RunState};
use crate::pipeline::run::Status;

type Outcome = Result<Value, Failure>;

/// ForEach's default and maximum `batchCount`, as in ADF.
const DEFAULT_BATCH_COUNT: usize = 20;
const MAX_BATCH_COUNT: usize = 50;

/// Runs one attempt of `a` under `cancel` (the attempt's token): a copy stops reading and aborts
/// its open write when it is cancelled, Wait, Until and ForEach stop promptly, nested lists and
/// child pipelines run under it.
pub async fn execute(
    state: &Arc<RunState>,
    a: &Activity,
    frame: &Frame,
    cancel: &CancellationToken,
) -> Outcome {
    let scope = state.scope(frame);
    let mut warnings = Vec::new();
    let factory = &state.factory;
    let fail_run = |code: &str| {
        let code = code.to_string();
        move |e: crate::stores::StoreError| {
            Failure::new(code, format!("activity '{}': {e}", a.name)).classified(e.kind())
        }
    };
    let out = match a.kind {
        ActivityKind::Copy => {
            let plan = crate::model::copy::resolve(factory, &a.raw, &a.at, &scope, &mut warnings)
                .map_err(Failure::definition)?;
            // The iteration is masked already (see `for_each`).
            let label = match &frame.iteration {
                Some(iteration) => format!("{iteration} {}", a.name),
                None => a.name.clone(),
            };
            let bar = match &state.ctx.progress {
                Some(board) => board.line(&label),
                None => ProgressBoard::hidden().line(&label),
            }
            .observed(state.ctx.observer.clone(), &a.name);
            // Boxed, as are the other large futures below: an activity's future is as large as
            // its largest arm, and a fan-out of control activities holds many at once.
            let out = Box::pin(run_copy(
                &plan,
                &state.ctx.with_cancel(cancel.clone()),
                &bar,
            ))
            .await
            .map_err(|f| Failure {
                output: serde_json::to_value(&f.partial).ok().map(Box::new),
                ..fail_run("CopyFailed")(f.error)
            })?;
            tracing::info!(activity = %a.name, rows = out.rows_copied, seconds = out.copy_duration, "copy finished");
            serde_json::to_value(out).map_err(|e| Failure::new("Internal", e.to_string()))
        }
        ActivityKind::Lookup => {
            let plan = crate::model::lookup::resolve(factory, &a.raw, &a.at, &scope, &mut warnings)
                .map_err(Failure::definition)?;
            until_cancelled(
                cancel,
                a,
                Box::pin(crate::pipeline::lookup::run_lookup(&plan)),
            )
            .await?
            .map_err(fail_run("LookupFailed"))
        }
        ActivityKind::Script => {
            let plan = crate::model::script::resolve(factory, &a.raw, &a.at, &scope, &mut warnings)
                .map_err(Failure::definition)?;
            until_cancelled(
                cancel,
                a,
                Box::pin(crate::pipeline::script::run_script(&plan)),
            )
            .await?
            .map_err(fail_run("ScriptFailed"))
        }
        ActivityKind::GetMetadata => {
            let plan =
                crate::model::get_metadata::resolve(factory, &a.raw, &a.at, &scope, &mut warnings)
                    .map_err(Failure::definition)?;
            until_cancelled(
                cancel,
                a,
                Box::pin(crate::pipeline::get_metadata::run_get_metadata(&plan)),
            )
            .await?
            .map_err(fail_run("GetMetadataFailed"))
        }
        ActivityKind::Delete => {
            let plan = crate::model::delete::resolve(factory, &a.raw, &a.at, &scope, &mut warnings)
                .map_err(Failure::definition)?;
            until_cancelled(
                cancel,
                a,
                Box::pin(crate::pipeline::delete::run_delete(&plan)),
            )
            .await?
            .map_err(fail_run("DeleteFailed"))
        }
        ActivityKind::WebActivity => {
            let plan = crate::model::web::resolve(&a.raw, &a.at, &scope, &mut warnings)
                .map_err(Failure::definition)?;
            until_cancelled(cancel, a, Box::pin(crate::pipeline::web::run_web(&plan)))
                .await?
                .map_err(|e| Failure::new("2108", format!("activity '{}': {e}", a.name)))
        }
        ActivityKind::SetVariable | ActivityKind::AppendVariable => set_variable(state, a, scope),
        ActivityKind::Wait => {
            let secs = prop(a, &scope, "waitTimeInSeconds")?;
            let wait = secs
                .as_f64()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| {
                    bad(
                        a,
                        "waitTimeInSeconds",
                        &format!(
                            "must be a number of seconds from 0 to {}, found {secs}",
                            u64::MAX
                        ),
                    )
                })?;
            until_cancelled(cancel, a, tokio::time::sleep(wait)).await?;
            Ok(json!({}))
        }
        ActivityKind::Fail => {
            let message = text(&prop(a, &scope, "message")?);
            let code = text(&prop(a, &scope, "errorCode")?);
            Err(Failure::new(code, message))
        }
        ActivityKind::IfCondition => {
            let branch = match boolean(a, "expression", prop(a, &scope, "expression")?)? {
                true => "ifTrueActivities",
                false => "ifFalseActivities",
            };
            run_nested_list(state, a, branch, nested_frame(frame, cancel)).await?;
            Ok(json!({}))
        }
        ActivityKind::Switch => {
            let branch = crate::pipeline::switch::branch(a, &prop(a, &scope, "on")?)?;
            run_nested_list(state, a, &branch, nested_frame(frame, cancel)).await?;
            Ok(json!({}))
        }
        ActivityKind::ForEach => Box::pin(for_each(state, a, frame, &scope, cancel)).await,
        ActivityKind::Until => Box::pin(until(state, a, &nested_frame(frame, cancel))).await,
        ActivityKind::Filter => filter(a, &scope),
        ActivityKind::ExecutePipeline => Box::pin(execute_pipeline(state, a, &scope, cancel)).await,
    };
    state.warn(warnings);
    out
}

/// `work`, or a cancellation failure as soon as `cancel` fires (the work is dropped: a query's
/// connection closes, a wait ends).
async fn until_cancelled<T>(
    cancel: &CancellationToken,
    a: &Activity,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    tokio::select! {
        r = work => Ok(r),
        _ = cancel.cancelled() => Err(Failure::cancelled(&a.name)),
    }
}

/// The frame a control activity's nested list runs in: the same iteration, under the
/// activity's token.
fn nested_frame(frame: &Frame, cancel: &CancellationToken) -> Frame {
    Frame {
        cancel: cancel.clone(),
        ..frame.clone()
    }
}

fn bad(a: &Activity, property: &str, reason: &str) -> Failure {
    Failure::definition(format!("{} typeProperties.{property}: {reason}", a.at))
}

/// A `typeProperties` property, evaluated now.
fn prop(a: &Activity, scope: &Scope, key: &str) -> Result<Value, Failure> {
    let raw = a
        .raw
        .get("typeProperties")
        .and_then(|tp| tp.get(key))
        .ok_or_else(|| bad(a, key, "is required"))?;
    substitute(raw, scope, &format!("{} typeProperties.{key}", a.at)).map_err(Failure::definition)
}

fn opt_prop(a: &Activity, scope: &Scope, key: &str) -> Result<Option<Value>, Failure> {
    match a.raw.get("typeProperties").and_then(|tp| tp.get(key)) {
        None => Ok(None),
        Some(_) => prop(a, scope, key).map(Some),
    }
}

/// A property that must evaluate to an array.
fn array_prop(a: &Activity, scope: &Scope, key: &str) -> Result<Vec<Value>, Failure> {
    match prop(a, scope, key)? {
        Value::Array(items) => Ok(items),
        other => Err(bad(
            a,
            key,
            &format!("must evaluate to an array, got {other}"),
        )),
    }
}

/// A condition's value, which must be a boolean.
fn boolean(a: &Activity, key: &str, v: Value) -> Result<bool, Failure> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(bad(
            a,
            key,
            &format!("must evaluate to a boolean, got {other}"),
        )),
    }
}

/// A boolean switch such as ForEach's `isSequential`: `true`/`false`, or the strings `"true"`
/// and `"false"` (any case), which ADF's own ForEach syntax example uses
/// (learn.microsoft.com/azure/data-factory/control-flow-for-each-activity: `"isSequential":
/// "true"`). Anything else is an error rather than silently meaning `false`: a sequential loop
/// run in parallel reorders its side effects.
fn flag(a: &Activity, key: &str, v: Value) -> Result<bool, Failure> {
    match &v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(bad(
            a,
            key,
            &format!(
                "must be true or false (a boolean or the string \"true\"/\"false\"), found {v}"
            ),
        )),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// SetVariable and AppendVariable. Takes the scope by value: it is dropped before the variable
/// changes, so an append in a loop updates the array in place instead of copying it each time.
fn set_variable(state: &Arc<RunState>, a: &Activity, scope: Scope) -> Outcome {
    let name = text(&prop(a, &scope, "variableName")?);
    let value = prop(a, &scope, "value")?;
    drop(scope);
    let system = a.raw["typeProperties"]["setSystemVariable"] == Value::Bool(true);
    if system && name == "pipelineReturnValue" {
        return Ok(json!({"name": name, "value": value}));
    }
    let mut vars = lock(&state.variables);
    let Some(current) = vars.get_mut(&name) else {
        let mut declared: Vec<&String> = vars.keys().collect();
        declared.sort();
        return Err(bad(
            a,
            "variableName",
            &format!("variable '{name}' is not declared in the pipeline's variables (declared: {declared:?})"),
        ));
    };
    let current = Arc::make_mut(current);
    if a.kind == ActivityKind::AppendVariable {
        match current {
            Value::Array(items) => items.push(value.clone()),
            Value::Null => *current = Value::Array(vec![value.clone()]),
            other => {
                return Err(bad(
                    a,
                    "variableName",
                    &format!("AppendVariable needs an Array variable; '{name}' holds {other}"),
                ))
            }
        }
    } else {
        *current = value.clone();
    }
    Ok(json!({"name": name, "value": value}))
}

/// Runs the nested list `key` of `a`; fails naming the first failed inner activity.
async fn run_nested_list(
    state: &Arc<RunState>,
    a: &Activity,
    key: &str,
    frame: Frame,
) -> Result<(), Failure> {
    let list = a.nested.get(key).cloned().unwrap_or_default();
    let names: Vec<String> = list.iter().map(|x| x.name.clone()).collect();
    match run_container(state.clone(), list, frame).await {
        Status::Failed => Err(inner_failure(state, a, &names)),
        Status::Cancelled => Err(Failure::cancelled(&a.name)),
        _ => Ok(()),
    }
}

fn inner_failure(state: &Arc<RunState>, a: &Activity, names: &[String]) -> Failure {
    let records = lock(state.records());
    let first = records
        .iter()
        .rev()
        .find(|r| names.contains(&r.activity_name) && r.status == Status::Failed);
    match first.and_then(|r| {
        r.error
            .as_ref()
            .map(|e| (r.activity_name.clone(), e.message.clone()))
    }) {
        Some((name, msg)) => Failure::new(
            "ActivityFailed",
            format!(
                "activity '{}': inner activity '{name}' failed: {msg}",
                a.name
            ),
        ),
        None => Failure::new(
            "ActivityFailed",
            format!("activity '{}': an inner activity failed", a.name),
        ),
    }
}

/// Each iteration gets its own frame: its `item()` and its activities' outputs.
async fn for_each(
    state: &Arc<RunState>,
    a: &Activity,
    frame: &Frame,
    scope: &Scope,
    cancel: &CancellationToken,
) -> Outcome {
    let items = array_prop(a, scope, "items")?;
    let sequential = match opt_prop(a, scope, "isSequential")? {
        None => false,
        Some(v) => flag(a, "isSequential", v)?,
    };
    let batch = match opt_prop(a, scope, "batchCount")? {
        None => DEFAULT_BATCH_COUNT,
        Some(v) => match v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()) {
            Some(n) if (1..=MAX_BATCH_COUNT as u64).contains(&n) => n as usize,
            _ => {
                return Err(bad(
                    a,
                    "batchCount",
                    &format!("must be an integer from 1 to 50, found {v}"),
                ))
            }
        },
    };
    let width = if sequential { 1 } else { batch };
    let list = a.nested.get("activities").cloned().unwrap_or_default();
    let names: Vec<String> = list.iter().map(|x| x.name.clone()).collect();
    // At most `width` iterations exist at a time (not one task per item, which made a
    // 1,000,000-item loop hold a million tasks); in array order, so a sequential loop runs its
    // items one after the other in order.
    let count = items.len();
    let mut pending = items.into_iter().enumerate();
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = 0usize;
    loop {
        while tasks.len() < width && !cancel.is_cancelled() {
            let Some((index, item)) = pending.next() else {
                break;
            };
            let iteration = Frame {
                // The item shown may hold a secret the run knows: masked here, for the
                // progress line and the summary alike.
                iteration: Some(
                    state
                        .ctx
                        .redactor()
                        .redact(&iteration_label(frame, &a.name, index, &item))
                        .into(),
                ),
                item: Some(Arc::new(item)),
                local: Some(Arc::new(Mutex::new(Named::new()))),
                cancel: cancel.clone(),
            };
            tasks.spawn(run_container(state.clone(), list.clone(), iteration));
        }
        match tasks.join_next().await {
            Some(Ok(Status::Succeeded)) => {}
            Some(_) => failed += 1,
            None => break,
        }
    }
    if cancel.is_cancelled() {
        return Err(Failure::cancelled(&a.name));
    }
    if failed > 0 {
        let mut f = inner_failure(state, a, &names);
        f.message = format!("{} ({failed} of {count} iterations failed)", f.message);
        return Err(f);
    }
    Ok(json!({ "ItemsCount": count }))
}

/// How a ForEach iteration is told apart on progress lines: the loop's name and the item's
/// index, with the item itself when it is a short string or number (`ForEach1[3:sales]`),
/// after the enclosing iterations' labels.
fn iteration_label(frame: &Frame, name: &str, index: usize, item: &Value) -> String {
    let shown = match item {
        Value::String(s) if s.chars().count() <= 24 && !s.chars().any(char::is_control) => {
            format!(":{s}")
        }
        Value::Number(n) => format!(":{n}"),
        _ => String::new(),
    };
    match &frame.iteration {
        Some(outer) => format!("{outer} {name}[{index}{shown}]"),
        None => format!("{name}[{index}{shown}]"),
    }
}

async fn until(state: &Arc<RunState>, a: &Activity, frame: &Frame) -> Outcome {
    let timeout = match a.raw["typeProperties"]["timeout"].as_str() {
        Some(t) => parse_timespan(t).map_err(|e| bad(a, "timeout", &e))?,
        None => Duration::from_secs(7 * 86_400),
    };
    let started = std::time::Instant::now();
    let mut iterations = 0u64;
    loop {
        iterations += 1;
        run_nested_list(state, a, "activities", frame.clone()).await?;
        let scope = state.scope(frame);
        if boolean(a, "expression", prop(a, &scope, "expression")?)? {
            return Ok(json!({ "iterations": iterations }));
        }
        if started.elapsed() >= timeout {
            return Err(Failure::new(
                "ActivityTimeout",
                format!(
                    "activity '{}': the condition was still false after {} ({iterations} iterations)",
                    a.name,
                    crate::model::timespan::format_timespan(timeout)
                ),
            ));
        }
    }
}

fn filter(a: &Activity, scope: &Scope) -> Outcome {
    let items = array_prop(a, scope, "items")?;
    let raw = a
        .raw
        .get("typeProperties")
        .and_then(|tp| tp.get("condition"))
        .ok_or_else(|| bad(a, "condition", "is required"))?;
    let mut kept = Vec::new();
    // One copy of the scope (cheap: its maps are shared), with `item()` set per item.
    let mut s = scope.clone();
    let at = format!("{} typeProperties.condition", a.at);
    for item in &items {
        s.item = Some(Arc::new(item.clone()));
        let keep = substitute(raw, &s, &at).map_err(Failure::definition)?;
        if boolean(a, "condition", keep)? {
            kept.push(item.clone());
        }
    }
    Ok(json!({"ItemsCount": items.len(), "FilteredItemsCount": kept.len(), "Value": kept}))
}

async fn execute_pipeline(
    state: &Arc<RunState>,
    a: &Activity,
    scope: &Scope,
    cancel: &CancellationToken,
) -> Outcome {
    let name = a.raw["typeProperties"]["pipeline"]["referenceName"]
        .as_str()
        .ok_or_else(|| bad(a, "pipeline.referenceName", "is required"))?
        .to_string();
    if state.depth + 1 >= crate::pipeline::executor::MAX_PIPELINE_DEPTH {
        return Err(Failure::definition(format!(
            "{}: ExecutePipeline nests deeper than {} levels (does '{name}' call itself?)",
            a.at,
            crate::pipeline::executor::MAX_PIPELINE_DEPTH
        )));
    }
    let mut warnings = Vec::new();
    let child = crate::model::pipeline::load(&state.factory, &name, &mut warnings)
        .map_err(Failure::definition)?;
    let given = opt_prop(a, scope, "parameters")?.unwrap_or(json!({}));
    let given = given
        .as_object()
        .cloned()
        .ok_or_else(|| bad(a, "parameters", "must be an object"))?;
    let mut params = child
        .parameter_values(&[], true)
        .map_err(Failure::definition)?;
    for (k, v) in given {
        if !child.parameters.iter().any(|p| p.name == k) {
            return Err(bad(
                a,
                "parameters",
                &format!("pipeline '{name}' declares no parameter '{k}'"),
            ));
        }
        params.insert(k, v);
    }
    if let Some(p) = child
        .parameters
        .iter()
        .find(|p| !params.contains_key(&p.name))
    {
        return Err(bad(
            a,
            "parameters",
            &format!("pipeline '{name}' parameter '{}' has no value", p.name),
        ));
    }
    let wait = a.raw["typeProperties"]["waitOnCompletion"] != Value::Bool(false);
    let (factory, ctx, depth) = (
        state.factory.clone(),
        state.ctx.with_cancel(cancel.clone()),
        state.depth + 1,
    );
    let handle =
        tokio::spawn(
            async move { run_nested(factory, &child, params, &ctx, warnings, depth).await },
        );
    if !wait {
        lock(&state.detached).push(handle);
        return Ok(json!({"pipelineName": name}));
    }
    let run = handle
        .await
        .map_err(|e| Failure::new("Internal", format!("pipeline '{name}' stopped: {e}")))?;
    if run.status != Status::Succeeded {
        let why = run
            .activities
            .iter()
            .find_map(|r| {
                r.error
                    .as_ref()
                    .map(|e| format!("activity '{}': {}", r.activity_name, e.message))
            })
            .unwrap_or_else(|| "it failed".into());
        return Err(Failure::new(
            "PipelineFailed",
            format!(
                "activity '{}': pipeline '{name}' (run {}) failed: {why}",
                a.name, run.run_id
            ),
        ));
    }
    Ok(json!({"pipelineName": name, "pipelineRunId": run.run_id}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_labels_name_the_index_and_short_items_inside_outer_loops() {
        let top = Frame::default();
        assert_eq!(
            iteration_label(&top, "ForEach1", 3, &json!("sales")),
            "ForEach1[3:sales]"
        );
        assert_eq!(iteration_label(&top, "L", 0, &json!(42)), "L[0:42]");
        let long = json!("a value much too long to show on a progress line");
        assert_eq!(iteration_label(&top, "L", 1, &long), "L[1]");
        assert_eq!(iteration_label(&top, "L", 2, &json!({"t": "x"})), "L[2]");
        let outer = Frame {
            iteration: Some("Outer[1]".into()),
            ..Frame::default()
        };
        assert_eq!(
            iteration_label(&outer, "Inner", 0, &json!("a")),
            "Outer[1] Inner[0:a]"
        );
    }
}
