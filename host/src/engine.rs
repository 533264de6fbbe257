//! The embeddable engine: the small public API a program (the CLI, the service, your own)
//! uses to run ADF pipelines. Load a factory, plan and start a pipeline with [`RunOptions`],
//! watch it through a [`RunObserver`], cancel it or one of its activities, and wait for its
//! ADF-shaped [`PipelineRun`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice::engine::EngineError> {
//! use std::sync::Arc;
//! use sluice::engine::{self, RunOptions};
//!
//! let factory = Arc::new(engine::load("examples/demo")?);
//! let run = engine::start(factory, Some("DemoCopy"), RunOptions::new("my-tenant")).await?;
//! // run.cancel() from anywhere stops it; run.cancel_activity("CopyToCsv") stops one copy.
//! let result = run.finish().await?;
//! println!("{}", result.to_json());
//! # Ok(()) }
//! ```
//!
//! Each run gets its own [`RunContext`]: its tenant, its secrets and the redactor that masks
//! them in everything the run reports, its plugin host and its cancellation token. Runs of
//! different tenants can run side by side in one process.
//!
//! Layer: the top of the library, below the front ends (the CLI).

use std::path::Path;
use std::sync::Arc;

pub use crate::copy::context::{ActivityStarted, Replay, RunContext, RunIdentity, RunObserver};
pub use crate::copy::progress::ProgressBoard;
pub use crate::copy::transform::PluginHost;
pub use crate::model::error::ModelError;
pub use crate::model::load::Factory;
pub use crate::model::plan::Validation;
pub use crate::pipeline::run::{ActivityRun, PipelineRun, Status};
use crate::plugins::PluginRegistry;
use crate::secrets::SecretBook;

/// Why a run could not start or did not end normally. Messages are masked with the run's
/// redactor.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The factory could not be read.
    #[error(transparent)]
    Load(#[from] ModelError),
    /// The pipeline could not be planned: a definition, a reference or a parameter is wrong,
    /// or a Key Vault reference names a store that is not a Key Vault.
    #[error("{0}")]
    Plan(String),
    /// The run's task stopped without a result (a bug in Sluice).
    #[error("the run stopped unexpectedly: {0}")]
    Stopped(String),
}

/// Reads a factory folder (`linkedService/`, `dataset/`, `pipeline/`) or one JSON file.
pub fn load(path: impl AsRef<Path>) -> Result<Factory, EngineError> {
    Ok(Factory::load(path.as_ref())?)
}

/// Checks every definition and reference of a factory without connecting anywhere. Plugin
/// references are checked for syntax only (see [`validate_with_plugins`]).
pub fn validate(factory: &Factory) -> Validation {
    crate::model::plan::validate_factory(factory, &SecretBook::default())
}

/// Like [`validate`], and every plugin a Copy activity uses must be in `plugins`' folders
/// (the ones a run searches), so a missing plugin is reported before a run fails on it.
pub fn validate_with_plugins(factory: &Factory, plugins: &PluginRegistry) -> Validation {
    let mut found = validate(factory);
    let mut missing = Vec::new();
    for use_ in &found.plugins {
        // The syntax was checked when the activity was read: only a valid reference is kept.
        let Ok(reference) = crate::plugins::PluginRef::parse(&use_.reference) else {
            continue;
        };
        if let Err(e) = plugins.resolve(&reference) {
            missing.push(format!("{}: property 'plugin': {e}", use_.at));
        }
    }
    // The same plugin missing for several activities is reported for each of them, once.
    for m in missing {
        if !found.errors.contains(&m) {
            found.errors.push(m);
        }
    }
    found
}

/// How to run a pipeline.
#[derive(Clone)]
pub struct RunOptions {
    /// The tenant the run belongs to.
    pub tenant: String,
    /// Pipeline parameters as `NAME=VALUE`, typed by their declarations.
    pub parameters: Vec<(String, String)>,
    /// Serves Copy activities' plugins; `None` runs no plugins.
    pub plugins: Option<Arc<PluginHost>>,
    /// Where to draw the copies' progress lines: a board the caller made
    /// ([`ProgressBoard::stderr`] draws on stderr when it is a terminal; print logs through
    /// its `suspend` so they land above the lines). `None` draws nothing.
    pub progress: Option<ProgressBoard>,
    /// Told about activities and copy progress as the run goes.
    pub observer: Option<Arc<dyn RunObserver>>,
    /// More values to mask in everything the run reports (passwords given outside the
    /// factory, such as a `--connection` URL's).
    pub mask: Vec<crate::secrets::Secret>,
    /// The most activity runs the run may start (ForEach iterations and child pipelines
    /// included); a service sets it per tenant.
    pub max_activity_runs: u64,
    /// The most activity runs the run may have going at once; a service sets it per tenant.
    pub max_concurrent_activity_runs: u64,
    /// The run's id and trigger values, when the caller names them (the service's runs).
    pub identity: Option<RunIdentity>,
    /// What a rerun takes over from the run it recovers.
    pub replay: Option<Replay>,
    /// The record `@trigger()` returns, for a run a trigger started (`{"name", "type",
    /// "startTime", "scheduledTime", "runId"}`, and `"outputs": {"windowStartTime",
    /// "windowEndTime"}` for a tumbling window). With it, `parameters` are the trigger's as
    /// written and are evaluated over it before the run is planned, and `pipeline()`'s
    /// `TriggerType`, `TriggerName`, `TriggerId` and `TriggerTime` come from it.
    pub trigger: Option<serde_json::Value>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            tenant: String::new(),
            parameters: Vec::new(),
            plugins: None,
            progress: None,
            observer: None,
            mask: Vec::new(),
            max_activity_runs: crate::copy::context::DEFAULT_MAX_ACTIVITY_RUNS,
            max_concurrent_activity_runs:
                crate::copy::context::DEFAULT_MAX_CONCURRENT_ACTIVITY_RUNS,
            identity: None,
            replay: None,
            trigger: None,
        }
    }
}

impl RunOptions {
    /// Options for `tenant`: no parameters, no plugins, no progress bars.
    pub fn new(tenant: impl Into<String>) -> Self {
        RunOptions {
            tenant: tenant.into(),
            ..RunOptions::default()
        }
    }
}

/// A started run.
pub struct RunHandle {
    ctx: RunContext,
    task: tokio::task::JoinHandle<PipelineRun>,
}

impl RunHandle {
    /// Cancels the run: copies stop reading and abort their open write, waits end, nothing new
    /// starts. The run then ends with status `Cancelled`.
    pub fn cancel(&self) {
        self.ctx.cancel();
    }

    /// Cancels the running activities named `name`; false when none is running.
    pub fn cancel_activity(&self, name: &str) -> bool {
        self.ctx.cancel_activity(name)
    }

    /// The run's context (its redactor masks anything you print about the run).
    pub fn context(&self) -> &RunContext {
        &self.ctx
    }

    /// Waits for the run to end; its record is masked already.
    pub async fn finish(self) -> Result<PipelineRun, EngineError> {
        self.task
            .await
            .map_err(|e| EngineError::Stopped(e.to_string()))
    }
}

/// Plans pipeline `pipeline` (or the factory's only one), fetches the Key Vault secrets it
/// can reach, and starts it on the current tokio runtime.
pub async fn start(
    factory: Arc<Factory>,
    pipeline: Option<&str>,
    options: RunOptions,
) -> Result<RunHandle, EngineError> {
    let mut ctx = RunContext::new(options.tenant)
        .with_progress(options.progress)
        .with_activity_run_limits(
            options.max_activity_runs,
            options.max_concurrent_activity_runs,
        );
    ctx.plugins = options.plugins;
    ctx.observer = options.observer;
    ctx.identity = options.identity.map(Arc::new);
    ctx.replay = options.replay.map(Arc::new);
    ctx.trigger = options.trigger.map(Arc::new);
    for s in &options.mask {
        ctx.redactor().register(s.expose());
    }
    let masked = |e: ModelError| EngineError::Plan(ctx.redactor().redact(&e.to_string()));
    let name = crate::model::plan::choose_pipeline(&factory, pipeline).map_err(masked)?;
    let parameters = match &ctx.trigger {
        Some(trigger) => crate::model::params::trigger_parameter_texts(
            &options.parameters,
            trigger,
            &factory.global_parameters,
        )
        .map_err(masked)?,
        None => options.parameters,
    };
    let plan =
        crate::model::plan::plan_run(&factory, &name, &parameters, &ctx.secrets).map_err(masked)?;
    let vaults = crate::model::plan::vault_addresses_of(&factory, &ctx.secrets).map_err(masked)?;
    ctx.secrets.fetch(vaults).await;
    for w in &crate::model::warnings::summarize(&plan.warnings) {
        tracing::warn!("{}", ctx.redactor().redact(w));
    }
    let run_ctx = ctx.clone();
    // The run's logs carry the caller's span (the service's tenant, factory and runId).
    let span = tracing::Span::current();
    let task = tokio::spawn(tracing::Instrument::instrument(
        async move {
            crate::pipeline::executor::run_pipeline(
                factory,
                &plan.pipeline,
                plan.parameters,
                &run_ctx,
                plan.warnings,
            )
            .await
        },
        span,
    ));
    Ok(RunHandle { ctx, task })
}
