//! Workers: claim queued pipeline runs from the control database's job queue
//! (`graphile_worker`), run them through the engine, keep their leases, and end them.
//!
//! - A run is enqueued by `createRun` as a `sluice_run` job. A worker that picks the job up
//!   claims one of the tenant's run slots (`max_concurrent_runs` of them, shared by every
//!   worker on every machine); when all are taken the job is put back for a moment and the
//!   run stays Queued.
//! - A claimed run holds a lease that its worker renews while it runs (and reads the run's
//!   cancel request with it). A worker that dies stops renewing: any worker's reaper marks its
//!   runs Failed, naming the lost worker, once the lease expires, and frees their slots.
//! - SIGTERM drains: no new claims; running runs get a grace period to finish, then are
//!   cancelled and recorded as Failed, naming the drain.

mod execute;
mod metrics;
mod observer;
mod plugins;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graphile_worker::{
    IntoTaskHandlerResult, JobSpec, TaskHandler, WorkerContext, WorkerContextExt,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::plugins::{PluginRuntime, RuntimeConfig};
use crate::service::control::{Control, ControlError, MasterKey, RunStatus, SlotClaim};

pub use execute::renew_interval;

/// How one worker process runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's id, named in the message of a run it lost (`host:pid:random`).
    pub id: String,
    /// The control database's URL (the job queue connects with it).
    pub control_url: String,
    /// Runs at once in this process.
    pub concurrency: usize,
    /// How long a run's lease lasts without renewal.
    pub lease: Duration,
    /// How long running runs may go on after SIGTERM.
    pub grace: Duration,
    /// The operator's folder with one sub-folder per tenant, where `FileServer` linked
    /// services resolve; `None` (embedding only) leaves FileServer hosts as given.
    pub files_root: Option<PathBuf>,
    /// Where tenants' plugins and their compiled code are cached.
    pub cache_dir: PathBuf,
    /// How long a tenant whose slots are all taken waits before its run is tried again.
    pub full_retry: Duration,
}

impl WorkerConfig {
    /// A config with the defaults: 60 s lease, 30 s grace.
    pub fn new(control_url: &str, concurrency: usize, cache_dir: PathBuf) -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        let nonce = Uuid::new_v4().simple().to_string();
        WorkerConfig {
            id: format!("{host}:{}:{}", std::process::id(), &nonce[..8]),
            control_url: control_url.to_string(),
            concurrency: concurrency.max(1),
            lease: Duration::from_secs(60),
            grace: Duration::from_secs(30),
            files_root: None,
            cache_dir,
            full_retry: Duration::from_millis(500),
        }
    }

    fn renew_every(&self) -> Duration {
        renew_interval(self.lease)
    }
}

/// Why the workers stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the job queue: {0}")]
    Queue(String),
    #[error("the plugin runtime: {0}")]
    Plugins(String),
    #[error(transparent)]
    Control(#[from] crate::service::control::ControlError),
}

/// What every run of this process shares.
pub struct Shared {
    pub control: Control,
    pub config: WorkerConfig,
    key: MasterKey,
    runtime: PluginRuntime,
    /// Runs going now, to cancel them at the end of a drain.
    active: Mutex<HashMap<Uuid, CancellationToken>>,
}

impl Shared {
    fn track(&self, run: Uuid, cancel: CancellationToken) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run, cancel);
    }

    fn untrack(&self, run: Uuid) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&run);
    }

    /// The tenant's folder under the files root.
    fn files_root(&self, tenant: Uuid) -> Option<PathBuf> {
        self.config
            .files_root
            .as_ref()
            .map(|r| r.join(tenant.to_string()))
    }
}

/// The queue's handle on [`Shared`] (graphile_worker extensions must be `Clone + Debug`).
#[derive(Clone)]
struct Ext(Arc<Shared>);

impl std::fmt::Debug for Ext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "worker {}", self.0.config.id)
    }
}

/// The job `createRun` enqueues.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunJob {
    #[serde(rename = "runId")]
    pub run_id: Uuid,
}

impl TaskHandler for RunJob {
    const IDENTIFIER: &'static str = crate::service::control::queue::RUN_TASK;

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        let Some(Ext(shared)) = ctx.get_ext::<Ext>().cloned() else {
            return Err("the worker's state is missing".to_string());
        };
        let claim = match shared
            .control
            .claim_slot(self.run_id, &shared.config.id, shared.config.lease)
            .await
        {
            Ok(claim) => claim,
            // The run, its factory or its tenant was deleted: nothing to run.
            Err(ControlError::NotFound(_)) => return Ok(()),
            // The queue retries the job later (a lost connection, a restarting server).
            Err(e) => return Err(e.to_string()),
        };
        match claim {
            SlotClaim::Acquired { .. } => {
                match shared.control.run_by_id(self.run_id).await {
                    // Its own task: if the queue drops this job (its connection failed, a
                    // drain's grace ran out), the run still ends and records its end.
                    Ok(Some(run)) => {
                        let _ = tokio::spawn(execute::execute(shared, run)).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        // The lease runs out and the reaper fails the run, naming this worker.
                        tracing::error!(run_id = %self.run_id, "cannot read the claimed run: {e}");
                    }
                }
                Ok(())
            }
            SlotClaim::Full => {
                // The tenant runs as many runs as it may: try again shortly, still Queued.
                let at = chrono::Utc::now()
                    + chrono::Duration::from_std(shared.config.full_retry).unwrap_or_default();
                let spec = JobSpec {
                    run_at: Some(at),
                    ..JobSpec::default()
                };
                ctx.add_raw_job(
                    RunJob::IDENTIFIER,
                    serde_json::json!({ "runId": self.run_id }),
                    spec,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            }
            // Cancelled while queued, or already taken: nothing to do.
            SlotClaim::NotRunnable(_) => Ok(()),
        }
    }
}

/// Runs workers until `shutdown` resolves, then drains: no new claims, running runs get the
/// grace period, and what still runs after it is cancelled and recorded as Failed.
pub async fn run_workers(
    control: Control,
    config: WorkerConfig,
    key: MasterKey,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(config.cache_dir.join("compiled")),
        ..Default::default()
    })
    .map_err(|e| WorkerError::Plugins(e.to_string()))?;
    let shared = Arc::new(Shared {
        control: control.clone(),
        config: config.clone(),
        key,
        runtime,
        active: Mutex::new(HashMap::new()),
    });
    let pid = std::process::id();
    control
        .register_worker(&config.id, config.id.split(':').next().unwrap_or(""), pid)
        .await?;
    // `stop` ends the queue (SIGTERM); the reaper keeps going through the grace period.
    let stop = CancellationToken::new();
    let reaper_stop = CancellationToken::new();
    let reaper = tokio::spawn(reap(shared.clone(), reaper_stop.clone()));
    let signalled = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        signalled.cancel();
    });
    let mut backoff = Duration::from_secs(1);
    let ran = loop {
        let result = run_queue(&config, &shared, stop.clone()).await;
        if stop.is_cancelled() {
            break result;
        }
        // The queue stopped on its own (a refused or lost connection to the control
        // database): the worker stays up and starts it again.
        match result {
            Err(e) => {
                tracing::error!(worker = %config.id, "the job queue stopped: {e}; restarting in {backoff:?}")
            }
            Ok(()) => {
                tracing::warn!(worker = %config.id, "the job queue stopped; restarting in {backoff:?}")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    };
    stop.cancel();
    // Past the grace period: what still runs is stopped and recorded.
    let left: Vec<(Uuid, CancellationToken)> = shared
        .active
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    for (run, cancel) in left {
        tracing::warn!(run_id = %run, "still running after the grace period; stopping it");
        let message = format!(
            "The worker '{}' shut down before the run finished (it was draining after SIGTERM)",
            config.id
        );
        // Recorded before the run is stopped: once stopped, its own task would record it
        // Cancelled, and whichever wrote first would win.
        if let Err(e) = control
            .finish_run(run, &config.id, RunStatus::Failed, &message)
            .await
        {
            tracing::error!(run_id = %run, "could not record the end of the run: {e}");
        }
        cancel.cancel();
    }
    reaper_stop.cancel();
    let _ = reaper.await;
    control.remove_worker(&config.id).await.ok();
    ran
}

/// One life of the job queue: graphile_worker claiming `sluice_run` jobs until `stop`, or until
/// it fails.
async fn run_queue(
    config: &WorkerConfig,
    shared: &Arc<Shared>,
    stop: CancellationToken,
) -> Result<(), WorkerError> {
    let worker = graphile_worker::WorkerOptions::default()
        .database_url(&config.control_url)
        .max_pg_conn(u32::try_from(config.concurrency + 2).unwrap_or(u32::MAX))
        .concurrency(config.concurrency)
        .define_job::<RunJob>()
        .add_extension(Ext(shared.clone()))
        .listen_os_shutdown_signals(false)
        .shutdown_signal(async move { stop.cancelled().await })
        .shutdown_grace_period(config.grace)
        .worker_recovery(job_recovery(config.lease))
        .init()
        .await
        .map_err(|e| WorkerError::Queue(e.to_string()))?;
    tracing::info!(worker = %config.id, concurrency = config.concurrency, "worker started");
    worker
        .run()
        .await
        .map_err(|e| WorkerError::Queue(e.to_string()))
}

/// The queue's own recovery of a dead worker's jobs, on the run lease's clock: a job the lost
/// worker had taken but not yet claimed a slot for (its run still Queued) is given back within
/// about one lease, instead of staying locked for graphile_worker's default hours.
fn job_recovery(lease: Duration) -> graphile_worker::WorkerRecoveryConfig {
    let beat = (lease / 4).max(Duration::from_millis(250));
    graphile_worker::WorkerRecoveryConfig::default()
        .heartbeat_interval(beat)
        .sweep_interval(beat)
        .sweep_threshold(lease)
        .recovery_delay(Duration::ZERO)
}

/// Every few seconds: this worker's heartbeat, and every lost worker's runs failed and their
/// slots freed once their leases expired.
async fn reap(shared: Arc<Shared>, stop: CancellationToken) {
    let every = (shared.config.lease / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = shared.control.heartbeat(&shared.config.id).await {
            tracing::warn!("worker heartbeat: {e}");
        }
        match shared.control.reap_expired_leases().await {
            Ok(lost) if !lost.is_empty() => {
                tracing::warn!(runs = lost.len(), "failed the runs of lost workers")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("reaping expired leases: {e}"),
        }
    }
}
