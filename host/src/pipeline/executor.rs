//! The pipeline executor: runs each list of activities (a pipeline's, a ForEach iteration's, an
//! IfCondition branch...) as their `dependsOn` conditions allow, independent ones concurrently,
//! each with its `policy` (timeout, retry, secureOutput).
//!
//! A list's status follows ADF's rule: evaluate every leaf activity (one nothing depends on); a
//! skipped leaf is replaced by its parents; the list succeeded if and only if every evaluated
//! activity succeeded. The activities themselves live in [`crate::pipeline::activities`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::copy::context::RunContext;
use crate::model::load::Factory;
use crate::model::params::{manual_trigger, pipeline_object, Named, Scope};
use crate::model::pipeline::{Activity, Condition, Pipeline};
use crate::pipeline::activities::execute;
use crate::pipeline::run::{ActivityError, ActivityRun, FailureType, PipelineRun, Status};
use crate::secrets::MASK;
use crate::stores::StoreErrorKind;

/// ExecutePipeline may nest this deep (a pipeline calling itself stops here).
pub const MAX_PIPELINE_DEPTH: u32 = 16;

/// State shared by every activity of one pipeline run.
pub struct RunState {
    pub factory: Arc<Factory>,
    /// The run's context: tenant, secrets and redaction, plugins, cancellation.
    pub ctx: RunContext,
    /// `pipeline()`: `RunId`, `Pipeline`, `TriggerTime`, ..., `parameters`; built once and
    /// shared by every activity's scope.
    pub pipeline: Arc<Value>,
    /// `trigger()`: the trigger's record, or a manual run's (see
    /// [`crate::model::params::manual_trigger`]).
    pub trigger: Arc<Value>,
    /// `variables('v')`: a persistent map, so each activity's snapshot is O(1).
    pub variables: Mutex<Named>,
    /// Every activity's latest `{"output", "status", "error", ...}`, as `activity('A')`
    /// reads it.
    pub outputs: Mutex<Named>,
    /// Activity runs in the order they finished (nested ones included).
    records: Mutex<Vec<ActivityRun>>,
    warnings: Mutex<Vec<String>>,
    /// ExecutePipeline runs started without `waitOnCompletion`: awaited before the run ends.
    pub detached: Mutex<Vec<tokio::task::JoinHandle<PipelineRun>>>,
    /// How many ExecutePipeline levels above this run.
    pub depth: u32,
    /// This pipeline run's id (`pipeline().RunId`).
    pub run_id: String,
    pub pipeline_name: String,
    /// The pipeline's own list, to tell it from nested ones: only its activities are replayed
    /// by a rerun.
    top: Arc<Vec<Activity>>,
    /// Outputs a rerun takes over (top-level run only).
    replay: Option<Arc<crate::copy::context::Replay>>,
}

/// Where a list of activities runs: ForEach iterations see their own `item()` and the outputs
/// of their own activities.
#[derive(Clone, Default)]
pub struct Frame {
    pub item: Option<Arc<Value>>,
    /// Which iteration this is, for progress lines: `ForEach1[3]`, nested loops joined by
    /// spaces (`Outer[0] Inner[2]`); `None` outside any ForEach.
    pub iteration: Option<Arc<str>>,
    /// `{"output": ...}` of activities in this iteration, over the run's.
    pub local: Option<Arc<Mutex<Named>>>,
    /// Cancelled when the list must stop: the run's token for a pipeline's own list, the
    /// containing activity's token for a nested one. Each activity runs under a child of it.
    pub cancel: CancellationToken,
}

/// How long a cancelled or timed-out activity gets to stop cleanly (abort its open COPY,
/// report what it did) before it is dropped where it stands.
const WIND_DOWN: Duration = Duration::from_secs(30);

impl RunState {
    /// The expression scope an activity sees now.
    /// The expression scope an activity sees now: O(1) snapshots of the run's outputs and
    /// variables (plus the few outputs of its own ForEach iteration).
    pub fn scope(&self, frame: &Frame) -> Scope {
        let mut activities = lock(&self.outputs).clone();
        if let Some(local) = &frame.local {
            for (k, v) in lock(local).iter() {
                activities.insert(k.clone(), v.clone());
            }
        }
        Scope {
            activities,
            variables: lock(&self.variables).clone(),
            item: frame.item.clone(),
            secrets: self.ctx.secrets.clone(),
            trigger: Some(self.trigger.clone()),
            ..Scope::with_pipeline(self.pipeline.clone())
        }
    }

    /// What `activity('A')` reads once `A` ended: `output`, `status`, `error` (`errorCode`,
    /// `message`, `failureType`, `target`; empty strings when it succeeded, as ADF's activity
    /// run shows them) and `ActivityRunId`, so a Try-Catch branch on `Failed` or `Completed`
    /// can log `@activity('A').error.message` (names are matched in any case).
    fn record_output(
        &self,
        frame: &Frame,
        name: &str,
        output: &Value,
        ended: (Status, Option<&ActivityError>, &str),
    ) {
        let (status, error, run_id) = ended;
        let error = match error {
            Some(e) => serde_json::json!({"errorCode": e.error_code, "message": e.message,
                "failureType": e.failure_type, "target": name}),
            None => serde_json::json!({"errorCode": "", "message": "", "failureType": "",
                "target": name}),
        };
        let record = Arc::new(serde_json::json!({
            "output": output,
            "status": status,
            "error": error,
            "ActivityRunId": run_id,
        }));
        if let Some(local) = &frame.local {
            lock(local).insert(name.to_string(), record.clone());
        }
        lock(&self.outputs).insert(name.to_string(), record);
    }

    /// Records an activity run: masked with the run's redactor, told to the observer, kept
    /// for the run's output. Every record (run, skipped, stopped by a bug) goes through here.
    fn record(&self, mut record: ActivityRun) {
        record.redact(self.ctx.redactor());
        if let Some(o) = &self.ctx.observer {
            o.activity_finished(&serde_json::to_value(&record).unwrap_or_default());
        }
        lock(&self.records).push(record);
    }

    /// Activity runs recorded so far.
    pub fn records(&self) -> &Mutex<Vec<ActivityRun>> {
        &self.records
    }

    pub fn warn(&self, w: Vec<String>) {
        lock(&self.warnings).extend(w);
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the maps stay
/// consistent: every update is a single insert).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a pipeline to the end and returns its run record (never panics on activity failure).
pub async fn run_pipeline(
    factory: Arc<Factory>,
    pipeline: &Pipeline,
    parameters: Map<String, Value>,
    ctx: &RunContext,
    warnings: Vec<String>,
) -> PipelineRun {
    run_nested(factory, pipeline, parameters, ctx, warnings, 0).await
}

/// [`run_pipeline`] at an ExecutePipeline depth.
pub async fn run_nested(
    factory: Arc<Factory>,
    pipeline: &Pipeline,
    parameters: Map<String, Value>,
    ctx: &RunContext,
    warnings: Vec<String>,
    depth: u32,
) -> PipelineRun {
    // The caller names the top-level run (the service, a trigger); child pipelines get fresh ids.
    let identity = ctx.identity.as_deref().filter(|_| depth == 0);
    let run_id = identity.map_or_else(|| uuid::Uuid::new_v4().to_string(), |i| i.run_id.clone());
    let start = chrono::Utc::now();
    let t0 = Instant::now();
    tracing::info!(pipeline = %pipeline.name, run_id = %run_id, "pipeline run started");
    // ADF masks SecureString parameters in monitoring: their values join the run's secrets, so
    // activity inputs, errors and logs that echo them show `***`.
    for p in &pipeline.parameters {
        if p.ty.eq_ignore_ascii_case("securestring") {
            if let Some(Value::String(v)) = parameters.get(&p.name) {
                ctx.redactor().register(v);
            }
        }
    }
    let text = |pick: fn(&crate::copy::context::RunIdentity) -> &String, default: &str| {
        Value::String(identity.map_or_else(|| default.to_string(), |i| pick(i).clone()))
    };
    let mut system = Map::new();
    system.insert("RunId".into(), Value::String(run_id.clone()));
    system.insert("Pipeline".into(), Value::String(pipeline.name.clone()));
    system.insert("DataFactory".into(), text(|i| &i.data_factory, "sluice"));
    system.insert(
        "TriggerTime".into(),
        Value::String(start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    system.insert("TriggerType".into(), text(|i| &i.trigger_type, "Manual"));
    system.insert("TriggerName".into(), text(|i| &i.trigger_name, "Sandbox"));
    system.insert("TriggerId".into(), text(|i| &i.trigger_id, &run_id));
    system.insert("GroupId".into(), text(|i| &i.group_id, &run_id));
    if let Some(trigger) = ctx.trigger.as_deref().filter(|_| depth == 0) {
        triggered_system_values(&mut system, trigger);
    }
    let trigger = ctx
        .trigger
        .clone()
        .unwrap_or_else(|| Arc::new(manual_trigger(&system)));
    system.insert(
        "globalParameters".into(),
        Value::Object(factory.global_parameters.clone()),
    );
    let state = Arc::new(RunState {
        trigger,
        factory,
        ctx: ctx.clone(),
        pipeline: Arc::new(pipeline_object(system, parameters.clone())),
        variables: Mutex::new(
            pipeline
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
                .collect(),
        ),
        outputs: Mutex::new(Named::new()),
        records: Mutex::new(Vec::new()),
        warnings: Mutex::new(warnings),
        detached: Mutex::new(Vec::new()),
        depth,
        run_id: run_id.clone(),
        pipeline_name: pipeline.name.clone(),
        top: pipeline.activities.clone(),
        replay: ctx.replay.clone().filter(|_| depth == 0),
    });
    let mut overall = run_container(
        state.clone(),
        pipeline.activities.clone(),
        Frame {
            cancel: ctx.cancel.clone(),
            ..Frame::default()
        },
    )
    .await;
    let detached: Vec<_> = std::mem::take(&mut *lock(&state.detached));
    for handle in detached {
        let _ = handle.await;
    }
    if ctx.cancel.is_cancelled() {
        overall = Status::Cancelled;
    }
    let end = chrono::Utc::now();
    // Each warning once, however many iterations or datasets produced it.
    let warnings = crate::model::warnings::summarize(&lock(&state.warnings));
    let mut run = PipelineRun {
        pipeline_name: pipeline.name.clone(),
        run_id,
        status: overall,
        run_start: start.to_rfc3339(),
        run_end: end.to_rfc3339(),
        duration_in_ms: t0.elapsed().as_millis() as u64,
        parameters,
        activities: std::mem::take(&mut *lock(&state.records)),
        warnings,
    };
    run.redact(state.ctx.redactor());
    tracing::info!(pipeline = %pipeline.name, status = ?run.status, "pipeline run finished");
    run
}

/// `pipeline().TriggerType`, `TriggerName`, `TriggerId` and `TriggerTime` of a run a trigger
/// started, from its record: the trigger's type and name, the trigger run's id and the time
/// the trigger actually fired (`startTime`, which may differ from `scheduledTime`).
fn triggered_system_values(system: &mut Map<String, Value>, trigger: &Value) {
    for (system_key, trigger_key) in [
        ("TriggerType", "type"),
        ("TriggerName", "name"),
        ("TriggerId", "runId"),
        ("TriggerTime", "startTime"),
    ] {
        if let Some(v) = trigger.get(trigger_key).filter(|v| v.is_string()) {
            system.insert(system_key.into(), v.clone());
        }
    }
}

/// Runs one list of activities to the end; returns its status by ADF's rule.
///
/// Each activity waits for the count of its `dependsOn` entries to reach zero; when one ends,
/// only its dependents are looked at, so a list of n activities costs O(n + edges), not a scan
/// of the whole list per finished activity.
pub fn run_container(
    state: Arc<RunState>,
    activities: Arc<Vec<Activity>>,
    frame: Frame,
) -> BoxFuture<'static, Status> {
    Box::pin(async move {
        let graph = Graph::new(&activities);
        let mut status: Vec<Option<Status>> = vec![None; activities.len()];
        let mut waiting: Vec<usize> = activities.iter().map(|a| a.depends_on.len()).collect();
        let mut ready: VecDeque<usize> =
            (0..activities.len()).filter(|&i| waiting[i] == 0).collect();
        let mut running: JoinSet<(usize, Status)> = JoinSet::new();
        // Which activity each task runs, to record one that panicked.
        let mut tasks: HashMap<tokio::task::Id, usize> = HashMap::new();
        loop {
            while let Some(i) = ready.pop_front() {
                if frame.cancel.is_cancelled() {
                    break;
                }
                let a = &activities[i];
                let met = a.depends_on.iter().all(|d| {
                    match graph.index(&d.activity).and_then(|j| status[j]) {
                        Some(s) => d.conditions.iter().any(|c| satisfies(s, *c)),
                        None => false,
                    }
                });
                let replayed = state
                    .replay
                    .as_ref()
                    .filter(|_| Arc::ptr_eq(&activities, &state.top))
                    .and_then(|r| r.get(&a.name));
                if let (true, Some(output)) = (met, replayed) {
                    // A rerun takes this activity's result over from the run it recovers.
                    tracing::info!(activity = %a.name, "not run again: it succeeded in the run being recovered");
                    state.record_output(&frame, &a.name, output, (Status::Succeeded, None, ""));
                    graph.settle(i, Status::Succeeded, &mut status, &mut waiting, &mut ready);
                } else if met {
                    let (state, list, frame) = (state.clone(), activities.clone(), frame.clone());
                    let task = running.spawn(async move {
                        let s = run_activity(&state, &list[i], &frame).await;
                        (i, s)
                    });
                    tasks.insert(task.id(), i);
                } else {
                    tracing::info!(activity = %a.name, "skipped: its dependency conditions were not met");
                    state.record(skipped(&state, a));
                    graph.settle(i, Status::Skipped, &mut status, &mut waiting, &mut ready);
                }
            }
            let (i, s) = match running.join_next_with_id().await {
                None => break,
                Some(Ok((id, (i, s)))) => {
                    tasks.remove(&id);
                    (i, s)
                }
                Some(Err(e)) => {
                    // A bug (a panic) in one activity: it fails with a record of its own, and
                    // its siblings run on (returning here would abort them mid-flight).
                    let Some(i) = tasks.remove(&e.id()) else {
                        tracing::error!("an activity task stopped unexpectedly: {e}");
                        continue;
                    };
                    let a = &activities[i];
                    tracing::error!(activity = %a.name, "stopped unexpectedly: {e}");
                    state.record(failed_record(
                        &state,
                        a,
                        None,
                        ActivityError {
                            error_code: "InternalError".into(),
                            message: format!(
                                "activity '{}' stopped unexpectedly (a bug in Sluice): {}",
                                a.name,
                                panic_message(e)
                            ),
                            failure_type: FailureType::SystemError,
                        },
                    ));
                    (i, Status::Failed)
                }
            };
            graph.settle(i, s, &mut status, &mut waiting, &mut ready);
        }
        if frame.cancel.is_cancelled() {
            // What had not started never runs; the list itself ends as cancelled.
            return Status::Cancelled;
        }
        // Nothing running and nothing startable (a dependency on an unknown activity): skip
        // whatever is left.
        for (i, a) in activities.iter().enumerate() {
            if status[i].is_none() {
                status[i] = Some(Status::Skipped);
                state.record(skipped(&state, a));
            }
        }
        container_status(&activities, &graph, &status)
    })
}

/// A list's dependency graph by position: names to positions and each activity's dependents.
struct Graph {
    by_name: HashMap<String, usize>,
    /// For each activity, the activities with a `dependsOn` entry naming it (once per entry).
    dependents: Vec<Vec<usize>>,
}

impl Graph {
    fn new(activities: &[Activity]) -> Self {
        let by_name: HashMap<String, usize> = activities
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i))
            .collect();
        let mut dependents = vec![Vec::new(); activities.len()];
        for (i, a) in activities.iter().enumerate() {
            for d in &a.depends_on {
                if let Some(&j) = by_name.get(&d.activity) {
                    dependents[j].push(i);
                }
            }
        }
        Graph {
            by_name,
            dependents,
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Records that activity `i` ended with `s`; dependents with nothing left to wait for
    /// become ready.
    fn settle(
        &self,
        i: usize,
        s: Status,
        status: &mut [Option<Status>],
        waiting: &mut [usize],
        ready: &mut VecDeque<usize>,
    ) {
        status[i] = Some(s);
        for &j in &self.dependents[i] {
            waiting[j] = waiting[j].saturating_sub(1);
            if waiting[j] == 0 {
                ready.push_back(j);
            }
        }
    }
}

/// Runs one activity with its policy: each attempt within `timeout`, up to `retry` retries.
/// Records the run and the output; returns the status.
async fn run_activity(state: &Arc<RunState>, a: &Activity, frame: &Frame) -> Status {
    let start = chrono::Utc::now();
    let t0 = Instant::now();
    let _slot = match state.ctx.start_activity_run() {
        Ok(slot) => slot,
        Err(limit) => {
            // Fails at once, without starting anything: a fan-out past the limit ends in records
            // of the activities it could not start instead of growing until memory runs out.
            tracing::error!(activity = %a.name, "{limit}");
            state.record(failed_record(
                state,
                a,
                Some(start),
                ActivityError {
                    error_code: "ActivityRunLimitExceeded".into(),
                    message: format!("activity '{}' was not started: {limit}", a.name),
                    failure_type: FailureType::UserError,
                },
            ));
            return Status::Failed;
        }
    };
    // The activity's own token: a child of its list's, cancelled from outside through the run
    // context, or when an attempt times out.
    let cancel = frame.cancel.child_token();
    let _running = state.ctx.activity_started(&a.name, &cancel);
    let activity_run_id = uuid::Uuid::new_v4().to_string();
    if let Some(o) = &state.ctx.observer {
        let mut input = activity_input(state, frame, a);
        state.ctx.redactor().redact_json(&mut input);
        o.activity_started(&crate::copy::context::ActivityStarted {
            activity_run_id: activity_run_id.clone(),
            pipeline_run_id: state.run_id.clone(),
            pipeline_name: state.pipeline_name.clone(),
            activity_name: a.name.clone(),
            activity_type: a.activity_type.clone(),
            start: start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            input,
        });
    }
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        tracing::info!(activity = %a.name, attempt = attempts, "activity started");
        let result = attempt(state, a, frame, &cancel).await;
        if cancel.is_cancelled() {
            break result;
        }
        match result {
            Err(e) if attempts <= a.policy.retry && e.retryable() => {
                let what = if e.transient {
                    "transient"
                } else {
                    "permanent"
                };
                tracing::warn!(activity = %a.name, "attempt {attempts} failed ({what}): {}; retrying in {}s", state.ctx.redactor().redact(&e.message), a.policy.retry_interval.as_secs());
                tokio::time::sleep(a.policy.retry_interval).await;
            }
            other => break other,
        }
    };
    let (status, error, output) = match result {
        Ok(output) => (Status::Succeeded, None, output),
        Err(mut f) => {
            let output = f
                .output
                .take()
                .map_or_else(|| Value::Object(Map::new()), |v| *v);
            let status = if f.code == CANCELLED {
                Status::Cancelled
            } else {
                Status::Failed
            };
            let message = state.ctx.redactor().redact(&f.message);
            match status {
                Status::Cancelled => tracing::warn!(activity = %a.name, "{message}"),
                _ => tracing::error!(activity = %a.name, "failed: {message}"),
            }
            let error = ActivityError {
                error_code: f.code,
                message,
                failure_type: f.failure_type,
            };
            (status, Some(error), output)
        }
    };
    state.record_output(
        frame,
        &a.name,
        &output,
        (status, error.as_ref(), &activity_run_id),
    );
    let shown = if a.policy.secure_output && status == Status::Succeeded {
        Value::String(MASK.to_string())
    } else {
        output
    };
    state.record(ActivityRun {
        activity_run_id,
        pipeline_run_id: state.run_id.clone(),
        activity_name: a.name.clone(),
        iteration: frame.iteration.clone(),
        activity_type: a.activity_type.clone(),
        status,
        activity_run_start: Some(start.to_rfc3339()),
        activity_run_end: Some(chrono::Utc::now().to_rfc3339()),
        duration_in_ms: t0.elapsed().as_millis() as u64,
        attempts,
        error,
        output: shown,
    });
    status
}

/// The error code of an activity that was cancelled from outside.
pub const CANCELLED: &str = "OperationCanceled";

/// One attempt of `a` under the activity's token, bounded by its policy's timeout. A timed-out
/// or cancelled attempt has its token cancelled and gets [`WIND_DOWN`] to stop cleanly (a copy
/// aborts its open COPY and keeps what it committed) before it is dropped.
async fn attempt(
    state: &Arc<RunState>,
    a: &Activity,
    frame: &Frame,
    cancel: &CancellationToken,
) -> Result<Value, Failure> {
    // A timeout cancels this attempt only: a retry gets a fresh token.
    let token = cancel.child_token();
    let work = execute(state, a, frame, &token);
    tokio::pin!(work);
    let deadline = tokio::time::sleep(a.policy.timeout);
    tokio::pin!(deadline);
    let stopped = tokio::select! {
        r = &mut work => return r,
        _ = &mut deadline => Failure {
            // Another attempt may finish in time.
            transient: true,
            ..Failure::new(
                "ActivityTimeout",
                format!(
                    "activity '{}' timed out after {}",
                    a.name,
                    crate::model::timespan::format_timespan(a.policy.timeout)
                ),
            )
        },
        _ = token.cancelled() => Failure::cancelled(&a.name),
    };
    token.cancel();
    // Whatever the activity reports while winding down, the attempt ends as it was stopped.
    let _ = tokio::time::timeout(WIND_DOWN, &mut work).await;
    Err(stopped)
}

/// Why an activity failed: ADF's error code, a message naming what went wrong, and ADF's
/// failure type.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: String,
    pub message: String,
    /// ADF's `failureType`: the user's side unless a store failed on its own.
    pub failure_type: FailureType,
    /// Another attempt may succeed (a lost connection, a serialization failure, a timeout).
    pub transient: bool,
    /// The definition is wrong: every attempt would fail the same way, so `policy.retry`
    /// does not apply.
    pub definition: bool,
    /// What the activity did before it failed, shown as its output (a copy's counts).
    pub output: Option<Box<Value>>,
}

impl Failure {
    /// A failure on the user's side (ADF's `UserError`), not known to be transient.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            failure_type: FailureType::UserError,
            transient: false,
            definition: false,
            output: None,
        }
    }

    /// The activity was cancelled from outside ([`CANCELLED`]).
    pub fn cancelled(activity: &str) -> Self {
        Failure::new(CANCELLED, format!("activity '{activity}' was cancelled"))
    }

    /// A definition problem (`BadDefinition`): never retried.
    pub fn definition(e: impl std::fmt::Display) -> Self {
        Failure {
            definition: true,
            ..Failure::new("BadDefinition", e.to_string())
        }
    }

    /// This failure with the failure type and transience of a store failure of `kind`.
    pub fn classified(self, kind: StoreErrorKind) -> Self {
        Failure {
            failure_type: FailureType::of(kind),
            transient: kind.is_transient(),
            ..self
        }
    }

    /// Whether `policy.retry` applies: as in ADF, to every failure but a bad definition
    /// (transient or not: a retry may also outlast a competing write or a lock).
    pub fn retryable(&self) -> bool {
        !self.definition
    }
}

/// The activity run's `input` as ADF shows it: `typeProperties` with expressions evaluated in
/// the scope the activity starts with. A control activity's (its inner activities run later,
/// in scopes of their own) and one whose expressions fail now stay as written; the activity
/// itself reports the failure.
fn activity_input(state: &RunState, frame: &Frame, a: &Activity) -> Value {
    const NESTED: &[&str] = &[
        "activities",
        "ifTrueActivities",
        "ifFalseActivities",
        "cases",
        "defaultActivities",
    ];
    let raw = a.raw.get("typeProperties").cloned().unwrap_or(Value::Null);
    let nested = raw
        .as_object()
        .is_some_and(|m| NESTED.iter().any(|k| m.contains_key(*k)));
    if nested {
        return raw;
    }
    crate::expr::evaluate_value(&raw, &state.scope(frame), "typeProperties").unwrap_or(raw)
}

/// A panicked task's message (the redactor masks it before it is recorded).
fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into()),
        Err(e) => e.to_string(),
    }
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

fn skipped(state: &RunState, a: &Activity) -> ActivityRun {
    ActivityRun {
        activity_run_id: uuid::Uuid::new_v4().to_string(),
        pipeline_run_id: state.run_id.clone(),
        activity_run_end: None,
        activity_name: a.name.clone(),
        iteration: None,
        activity_type: a.activity_type.clone(),
        status: Status::Skipped,
        activity_run_start: None,
        duration_in_ms: 0,
        attempts: 0,
        error: None,
        output: Value::Object(Map::new()),
    }
}

/// The record of an activity that failed without running its attempts (refused by a run
/// limit, or stopped by a panic).
fn failed_record(
    state: &RunState,
    a: &Activity,
    start: Option<chrono::DateTime<chrono::Utc>>,
    error: ActivityError,
) -> ActivityRun {
    ActivityRun {
        status: Status::Failed,
        activity_run_start: start.map(|s| s.to_rfc3339()),
        error: Some(error),
        ..skipped(state, a)
    }
}

fn container_status(activities: &[Activity], graph: &Graph, status: &[Option<Status>]) -> Status {
    // The leaves: activities no other activity depends on.
    let mut evaluate: Vec<usize> = (0..activities.len())
        .filter(|&i| graph.dependents[i].is_empty())
        .collect();
    let mut seen = vec![false; activities.len()];
    while let Some(i) = evaluate.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let a = &activities[i];
        match status[i] {
            Some(Status::Succeeded) => {}
            Some(Status::Skipped) if !a.depends_on.is_empty() => {
                evaluate.extend(a.depends_on.iter().filter_map(|d| graph.index(&d.activity)));
            }
            Some(Status::Skipped) => {}
            _ => return Status::Failed,
        }
    }
    Status::Succeeded
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn store_failures_are_classified_by_kind() {
        let f = Failure::new("ScriptFailed", "m").classified(StoreErrorKind::Serialization);
        assert_eq!(f.failure_type, FailureType::SystemError);
        assert!(f.transient && f.retryable());
        let f = Failure::new("CopyFailed", "m").classified(StoreErrorKind::Data);
        assert_eq!(f.failure_type, FailureType::UserError);
        assert!(!f.transient);
        // As in ADF, policy.retry applies to every failure but a bad definition.
        assert!(f.retryable());
        let f = Failure::definition("bad");
        assert_eq!(
            (f.code.as_str(), f.failure_type),
            ("BadDefinition", FailureType::UserError)
        );
        assert!(!f.retryable());
    }

    /// A Script against a port nothing listens on: each attempt's connection is refused, the
    /// activity is retried and fails as a SystemError; a definition error is not retried.
    #[tokio::test]
    async fn a_refused_connection_is_a_retried_system_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let put = |kind: &str, name: &str, props: Value| {
            crate::model::load::write_definition(dir.path(), kind, name, &props).unwrap()
        };
        put(
            "linkedService",
            "Pg",
            json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString":
                format!("Server=127.0.0.1;Database=d;Port={port};UID=u;EncryptionMethod=0")}}),
        );
        put(
            "pipeline",
            "P",
            json!({"activities": [
                {"name": "S", "type": "Script", "policy": {"retry": 1, "retryIntervalInSeconds": 0},
                 "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                 "typeProperties": {"scripts": [{"type": "NonQuery", "text": "SELECT 1"}]}},
                {"name": "V", "type": "SetVariable", "policy": {"retry": 2, "retryIntervalInSeconds": 0},
                 "typeProperties": {"variableName": "undeclared", "value": "x"}}
            ]}),
        );
        let factory = Factory::load(dir.path()).unwrap();
        let ctx = RunContext::new("test");
        let plan = crate::model::plan::plan_run(&factory, "P", &[], &ctx.secrets).unwrap();
        let run = run_pipeline(
            Arc::new(factory),
            &plan.pipeline,
            plan.parameters,
            &ctx,
            plan.warnings,
        )
        .await;
        let record = |name: &str| {
            run.activities
                .iter()
                .find(|r| r.activity_name == name)
                .unwrap()
        };
        let s = record("S");
        assert_eq!((s.status, s.attempts), (Status::Failed, 2));
        let error = serde_json::to_value(s.error.as_ref().unwrap()).unwrap();
        assert_eq!(error["errorCode"], "ScriptFailed", "{error}");
        assert_eq!(error["failureType"], "SystemError", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("cannot connect to PostgreSQL"),
            "{error}"
        );
        let v = record("V");
        assert_eq!((v.status, v.attempts), (Status::Failed, 1));
        let error = v.error.as_ref().unwrap();
        assert_eq!(error.error_code, "BadDefinition");
        assert_eq!(error.failure_type, FailureType::UserError);
    }
}
