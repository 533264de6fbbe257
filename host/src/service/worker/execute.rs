//! Running one claimed pipeline run: its factory rebuilt from the control database (sealed
//! SecureStrings opened in this run only), the tenant's plugins and limits, the engine started
//! under the run's own id, the lease kept and a cancel request obeyed while it runs, and the
//! end written back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Shared;
use crate::engine::{self, Factory, PipelineRun, RunIdentity, RunOptions, Status};
use crate::model::load::Kind as ModelKind;
use crate::plugins::Tenant;
use crate::service::control::crypto::linked_service_aad;
use crate::service::control::{ControlError, Kind, RunRow, RunStatus, TenantInfo};

/// Why a claimed run could not be run at all (it ends Failed with this message).
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("{0}")]
    Setup(String),
}

/// Runs `run` (claimed by this worker) to its end and records the end.
pub async fn execute(shared: Arc<Shared>, run: RunRow) {
    let run_id = run.run_id;
    let span = tracing::info_span!("run", tenant = %run.tenant_id, factory = %run.factory, run_id = %run_id);
    let ran = tracing::Instrument::instrument(run_to_end(&shared, &run), span.clone()).await;
    let (status, message) = match ran {
        Ok(result) => outcome(&result),
        Err(e) => (RunStatus::Failed, e.to_string()),
    };
    tracing::info!(parent: &span, status = status.as_str(), "run ended");
    if let Err(e) = shared
        .control
        .finish_run(run_id, &shared.config.id, status, &message)
        .await
    {
        // The lease runs out and the reaper marks the run Failed naming this worker.
        tracing::error!(parent: &span, "could not record the end of run {run_id}: {e}");
    }
}

/// ADF's run status and message from the engine's record: a failed run names the activities
/// that failed, as ADF's `Operation on target X failed: ...`.
fn outcome(run: &PipelineRun) -> (RunStatus, String) {
    match run.status {
        Status::Succeeded | Status::Skipped => (RunStatus::Succeeded, String::new()),
        Status::Cancelled => (
            RunStatus::Cancelled,
            "The pipeline run was cancelled.".to_string(),
        ),
        Status::Failed => {
            let failed: Vec<String> = run
                .activities
                .iter()
                .filter(|a| a.status == Status::Failed && a.pipeline_run_id == run.run_id)
                .map(|a| {
                    let why = a.error.as_ref().map(|e| e.message.as_str()).unwrap_or("");
                    format!("Operation on target {} failed: {why}", a.activity_name)
                })
                .collect();
            (RunStatus::Failed, failed.join("\n"))
        }
    }
}

async fn run_to_end(shared: &Arc<Shared>, run: &RunRow) -> Result<PipelineRun, ExecuteError> {
    let control = &shared.control;
    let tenant = control
        .tenant_by_id(run.tenant_id)
        .await?
        .ok_or_else(|| ExecuteError::Setup("the run's tenant was deleted".into()))?;
    let metrics = super::metrics::RunMetrics::new(&tenant.name);
    let factory = Arc::new(load_factory(shared, run).await?);
    let plugins = super::plugins::host_for(shared, &tenant, run).await?;
    let (observer, writer) =
        super::observer::ControlObserver::start(control.clone(), run.run_id, metrics.clone());
    let options = RunOptions {
        tenant: tenant.id.to_string(),
        parameters: crate::service::control::runs::parameter_texts(&run.parameters),
        plugins: Some(plugins),
        observer: Some(observer.clone()),
        identity: Some(identity_of(run)),
        replay: replay_of(shared, run, &factory).await?,
        trigger: trigger_of(shared, run).await?,
        ..RunOptions::default()
    };
    let started = engine::start(factory, Some(&run.pipeline_name), options).await;
    let handle = match started {
        Ok(h) => h,
        Err(e) => {
            observer.close();
            let _ = writer.await;
            return Err(ExecuteError::Setup(e.to_string()));
        }
    };
    let cancel = handle.context().cancel.clone();
    let lease = shared.clone();
    let run_id = run.run_id;
    // Keeps the lease and watches for a cancel request while the run goes on.
    let keeper = tokio::spawn(async move {
        let every = lease.config.renew_every();
        loop {
            tokio::time::sleep(every).await;
            match lease
                .control
                .renew_lease(run_id, &lease.config.id, lease.config.lease)
                .await
            {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(run_id = %run_id, "cancel requested");
                    cancel.cancel();
                }
                // The lease is gone (the reaper failed the run): stop working on it.
                Err(ControlError::LeaseLost { .. }) => {
                    tracing::warn!(run_id = %run_id, "lost the run's lease; stopping it");
                    cancel.cancel();
                }
                Err(e) => tracing::warn!(run_id = %run_id, "could not renew the lease: {e}"),
            }
        }
    });
    shared.track(run.run_id, handle.context().cancel.clone());
    let result = handle.finish().await;
    shared.untrack(run.run_id);
    keeper.abort();
    observer.close();
    let _ = writer.await;
    let result = result.map_err(|e| ExecuteError::Setup(e.to_string()))?;
    metrics.run_finished(outcome(&result).0.as_str());
    Ok(result)
}

/// The factory of `run` as stored, SecureStrings opened with the master key (bound to this
/// tenant, factory and linked service), FileServer hosts jailed under the tenant's files root.
async fn load_factory(shared: &Shared, run: &RunRow) -> Result<Factory, ExecuteError> {
    let defs = shared
        .control
        .factory_definitions(run.tenant_id, &run.resource_group, &run.factory)
        .await?;
    let files_root = shared.files_root(run.tenant_id);
    let mut factory = Factory {
        root: files_root.clone().unwrap_or_default(),
        files_root,
        ..Factory::default()
    };
    for d in defs {
        let mut body = d.body;
        let kind = match d.kind {
            Kind::LinkedServices => {
                let aad = linked_service_aad(run.tenant_id, &run.factory, &d.name);
                shared.key.open_secure_strings(&mut body, &aad)?;
                ModelKind::LinkedService
            }
            Kind::Datasets => ModelKind::Dataset,
            Kind::Pipelines => ModelKind::Pipeline,
            // Triggers start runs; a run's plan never reads them.
            Kind::Triggers => continue,
        };
        let properties = body.get("properties").cloned().unwrap_or(Value::Null);
        let origin = format!("{}/{}", d.kind.as_str(), d.name);
        factory.insert_definition(kind, &d.name, properties, origin);
    }
    Ok(factory)
}

/// `pipeline()`'s run and trigger values: a run a trigger started names the trigger (ADF's
/// `invokedBy`: `{"name", "id", "invokedByType"}`), any other is `Manual`.
fn identity_of(run: &RunRow) -> RunIdentity {
    let by = |k: &str| run.invoked_by.get(k).and_then(Value::as_str);
    let (trigger_type, trigger_name, trigger_id) = match by("invokedByType") {
        Some(ty) if ty.ends_with("Trigger") => (
            ty.to_string(),
            by("name").unwrap_or(ty).to_string(),
            by("id").map_or_else(|| run.run_id.to_string(), str::to_string),
        ),
        _ => (
            "Manual".to_string(),
            "Manual".to_string(),
            run.run_id.to_string(),
        ),
    };
    RunIdentity {
        run_id: run.run_id.to_string(),
        group_id: run.run_group_id.to_string(),
        data_factory: run.factory.clone(),
        trigger_type,
        trigger_name,
        trigger_id,
    }
}

/// What `@trigger()` reads: the run's trigger record, or for a recovery run of a triggered
/// run the original's (its parameters are the trigger's, written over `trigger()`).
async fn trigger_of(shared: &Shared, run: &RunRow) -> Result<Option<Value>, ExecuteError> {
    if run.trigger.is_some() || !run.is_recovery {
        return Ok(run.trigger.clone());
    }
    let Some(reference) = run.reference_run_id else {
        return Ok(None);
    };
    Ok(shared
        .control
        .run_by_id(reference)
        .await?
        .and_then(|r| r.trigger))
}

/// For a recovery run: the top-level activities of the referenced run that succeeded (their
/// last output), minus `startActivityName` and everything after it; `None` for a fresh run.
async fn replay_of(
    shared: &Shared,
    run: &RunRow,
    factory: &Factory,
) -> Result<Option<engine::Replay>, ExecuteError> {
    let Some(reference) = run.reference_run_id.filter(|_| run.is_recovery) else {
        return Ok(None);
    };
    // In the order they started: a later run of an activity (a retry series) wins.
    let mut succeeded: BTreeMap<String, Value> = BTreeMap::new();
    for a in shared.control.activity_runs(reference).await? {
        if a.status == "Succeeded" {
            succeeded.insert(a.activity_name.clone(), a.output.clone());
        } else {
            succeeded.remove(&a.activity_name);
        }
    }
    if let Some(start) = &run.start_activity {
        // Rerun from an activity: it and its dependents run again.
        for name in downstream_of(factory, &run.pipeline_name, start) {
            succeeded.remove(&name);
        }
    } else if !run.start_from_failure {
        // isRecovery without startFromFailure reruns the whole pipeline.
        return Ok(None);
    }
    Ok(Some(succeeded.into_iter().collect()))
}

/// `start` and every top-level activity that depends on it, directly or not.
fn downstream_of(factory: &Factory, pipeline: &str, start: &str) -> Vec<String> {
    let Some(def) = factory.pipelines.get(pipeline) else {
        return vec![start.to_string()];
    };
    let activities = def.properties["activities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = vec![start.to_string()];
    let mut i = 0;
    while i < out.len() {
        let current = out[i].clone();
        for a in &activities {
            let name = a["name"].as_str().unwrap_or_default();
            let depends = a["dependsOn"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|d| d["activity"].as_str() == Some(current.as_str()))
            });
            if depends && !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
        i += 1;
    }
    out
}

/// The tenant's plugin limits over the runtime's defaults.
pub fn plugin_tenant(tenant: &TenantInfo) -> Tenant {
    let mut t = Tenant::new(tenant.id.to_string());
    if let Some(mib) = tenant.plugin_memory_mib {
        t.limits.memory_bytes = u64::from(mib) * 1024 * 1024;
    }
    if let Some(timeout) = tenant.plugin_call_timeout {
        t.limits.call_timeout = timeout;
    }
    t
}

/// How often a run's lease is renewed: a third of the lease, at most every second so a cancel
/// request is seen within about a second.
pub fn renew_interval(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(1))
}
