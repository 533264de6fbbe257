//! Everything about one run that its activities share: which tenant it runs for, its secrets
//! and redaction, the plugin host with that tenant's limits, whether to draw progress, and the
//! cancellation token. A run gets one [`RunContext`] and hands it down through the executor to
//! each copy, so nothing about a run lives in process-wide state and two tenants' runs can
//! share one process.
//!
//! It lives in the copy layer because a copy is the lowest layer that needs all of it (plugins,
//! redaction, cancellation); the pipeline executor and the front ends build and pass it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::transform::PluginHost;
use crate::secrets::{Redactor, SecretBook};

/// Watches a run as it goes: the service records activity runs as they finish, an embedding
/// program shows progress. Calls come from the run's tasks and must return quickly.
pub trait RunObserver: Send + Sync {
    /// An activity started.
    fn activity_started(&self, _started: &ActivityStarted) {}
    /// An activity ended; `record` is its activity run as the run output shows it (masked).
    fn activity_finished(&self, _record: &serde_json::Value) {}
    /// A copy moved more rows: totals so far for `activity`.
    fn copy_progress(&self, _activity: &str, _rows: u64, _bytes: u64) {}
}

/// An activity run that has just started, as an observer is told of it.
#[derive(Debug, Clone)]
pub struct ActivityStarted {
    /// Its `activityRunId`; the finished record carries the same one.
    pub activity_run_id: String,
    /// The pipeline run it runs in (a child pipeline's for its activities).
    pub pipeline_run_id: String,
    pub pipeline_name: String,
    pub activity_name: String,
    /// The type as ADF spells it (`Copy`, `ForEach`...).
    pub activity_type: String,
    /// RFC 3339, UTC.
    pub start: String,
    /// The activity's `typeProperties` as defined (expressions unresolved), masked: ADF's
    /// `input` of the activity run.
    pub input: serde_json::Value,
}

/// Who a top-level run is, when the caller (the service, a trigger) names it rather than
/// letting the engine make a fresh id: `pipeline().RunId`, `GroupId`, the trigger values.
#[derive(Debug, Clone, Default)]
pub struct RunIdentity {
    pub run_id: String,
    /// `pipeline().GroupId`: the run group (a rerun shares its original's).
    pub group_id: String,
    /// `pipeline().DataFactory`.
    pub data_factory: String,
    /// `pipeline().TriggerType`, `TriggerName`, `TriggerId`.
    pub trigger_type: String,
    pub trigger_name: String,
    pub trigger_id: String,
}

/// Outputs of the activities a rerun does not run again (ADF's rerun from failure, or from an
/// activity): top-level activity name -> its output in the run being recovered. They count as
/// succeeded, their outputs are what `activity('X').output` reads, and they get no new
/// activity-run record.
pub type Replay = std::collections::HashMap<String, serde_json::Value>;

/// One run's context. Cheap to clone; clones share the secrets and the cancellation token.
#[derive(Clone)]
pub struct RunContext {
    /// The tenant the run belongs to (`"local"` for the CLI).
    pub tenant: String,
    /// The run's secrets (its redactor, Key Vault references and values).
    pub secrets: SecretBook,
    /// Serves Copy activities' `transforms` and `rowMapper`; `None` runs no plugins.
    pub plugins: Option<Arc<PluginHost>>,
    /// Where the run's copies draw their progress lines; `None` draws none.
    pub progress: Option<super::progress::ProgressBoard>,
    /// Cancelled from outside to stop the run: copies stop reading and abort their open
    /// write, control activities stop waiting.
    pub cancel: CancellationToken,
    /// Told about activities and copy progress as the run goes.
    pub observer: Option<Arc<dyn RunObserver>>,
    /// The tokens of the activities running now, by name, so one activity can be cancelled
    /// from outside ([`RunContext::cancel_activity`]).
    running: Arc<Mutex<Running>>,
    /// The most activity runs the run may start, its child pipelines' included.
    pub max_activity_runs: u64,
    /// The most activity runs the run may have going at once, its child pipelines' included.
    pub max_concurrent_activity_runs: u64,
    /// Activity runs started so far and running now (shared with child pipelines).
    activity_runs: Arc<ActivityRunCounts>,
    /// The top-level run's id and trigger values when the caller names them (child pipelines
    /// get fresh ids).
    pub identity: Option<Arc<RunIdentity>>,
    /// What a rerun takes over from the run it recovers (top-level activities only).
    pub replay: Option<Arc<Replay>>,
    /// `trigger()` for a run a trigger started (`{"name", "type", "startTime",
    /// "scheduledTime", "runId", "outputs"?}`); `None` for a manual run. Child pipelines see
    /// their parent's.
    pub trigger: Option<Arc<serde_json::Value>>,
}

#[derive(Default)]
struct ActivityRunCounts {
    started: AtomicU64,
    running: AtomicU64,
    /// The first limit a start passed: every later start is refused too, so a fan-out that
    /// hit a limit winds down instead of filling the freed places again.
    refused: std::sync::OnceLock<ActivityRunLimit>,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext {
            tenant: String::new(),
            secrets: SecretBook::default(),
            plugins: None,
            progress: None,
            cancel: CancellationToken::new(),
            observer: None,
            running: Arc::default(),
            max_activity_runs: DEFAULT_MAX_ACTIVITY_RUNS,
            max_concurrent_activity_runs: DEFAULT_MAX_CONCURRENT_ACTIVITY_RUNS,
            activity_runs: Arc::default(),
            identity: None,
            replay: None,
            trigger: None,
        }
    }
}

/// How many activity runs one pipeline run may start by default, nested ForEach iterations
/// and child pipelines included. Each finished run keeps a record (about a kilobyte) for the
/// run's output; a million is ten ADF-sized ForEach loops (100,000 items each).
pub const DEFAULT_MAX_ACTIVITY_RUNS: u64 = 1_000_000;

/// How many activity runs one pipeline run may have going at once by default. A ForEach of
/// ExecutePipeline of its own pipeline fans out exponentially (10 items, 16 levels: 10^16
/// runs), each waiting run holding its state (about 15 KB); this bounds that memory. An
/// ADF-shaped run stays far below it (a ForEach runs at most 50 iterations at once).
pub const DEFAULT_MAX_CONCURRENT_ACTIVITY_RUNS: u64 = 10_000;

/// The run would start more activity runs than its limits allow. The activity fails rather
/// than waits: a waiting ExecutePipeline would hold its place while its children wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActivityRunLimit {
    #[error("the pipeline run has started {0} activity runs, the most it may start (a ForEach or ExecutePipeline fans out further; the limit is set with --max-activity-runs)")]
    Total(u64),
    #[error("the pipeline run has {0} activity runs going at once, the most it may have (a ForEach or ExecutePipeline fans out further; the limit is set with --max-concurrent-activity-runs)")]
    AtOnce(u64),
}

/// One activity run counted as running until dropped.
pub struct ActivityRunSlot {
    counts: Arc<ActivityRunCounts>,
}

impl Drop for ActivityRunSlot {
    fn drop(&mut self) {
        self.counts.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Running activities' tokens by name, each with an id so the one that ends is removed.
#[derive(Default)]
struct Running {
    next: u64,
    /// By id within a name: a ForEach fan-out runs thousands of same-named activities at
    /// once, and each one's removal must not scan the others.
    by_name: HashMap<String, HashMap<u64, CancellationToken>>,
}

impl RunContext {
    /// A context for `tenant` with a fresh secret book and no plugins.
    pub fn new(tenant: impl Into<String>) -> Self {
        RunContext {
            tenant: tenant.into(),
            ..RunContext::default()
        }
    }

    /// The same context serving plugins from `host`.
    pub fn with_plugins(mut self, host: Arc<PluginHost>) -> Self {
        self.plugins = Some(host);
        self
    }

    /// The same context reporting to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same context drawing its copies' progress on `progress` (or not, for `None`).
    pub fn with_progress(mut self, progress: Option<super::progress::ProgressBoard>) -> Self {
        self.progress = progress;
        self
    }

    /// The run's redactor: everything the run shows goes through it.
    pub fn redactor(&self) -> &Redactor {
        self.secrets.redactor()
    }

    /// Cancels the run (and every activity in it).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Cancels every running activity named `name` (in any pipeline of the run); false when
    /// none is running.
    pub fn cancel_activity(&self, name: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.by_name.get(name) {
            Some(tokens) if !tokens.is_empty() => {
                tokens.values().for_each(CancellationToken::cancel);
                true
            }
            _ => false,
        }
    }

    /// Notes that activity `name` runs under `token` until the guard is dropped.
    pub fn activity_started(&self, name: &str, token: &CancellationToken) -> RunningActivity {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.next += 1;
        let id = running.next;
        running
            .by_name
            .entry(name.to_string())
            .or_default()
            .insert(id, token.clone());
        RunningActivity {
            running: self.running.clone(),
            name: name.to_string(),
            id,
        }
    }

    /// The same context with at most `total` activity runs, `at_once` of them at a time.
    pub fn with_activity_run_limits(mut self, total: u64, at_once: u64) -> Self {
        self.max_activity_runs = total;
        self.max_concurrent_activity_runs = at_once;
        self
    }

    /// Counts one more activity run, running until the slot is dropped; refuses it when the
    /// run has started, or has going, as many as it may (or a start was refused before).
    pub fn start_activity_run(&self) -> Result<ActivityRunSlot, ActivityRunLimit> {
        let counts = &self.activity_runs;
        if let Some(limit) = counts.refused.get() {
            return Err(*limit);
        }
        let slot = ActivityRunSlot {
            counts: counts.clone(),
        };
        let running = counts.running.fetch_add(1, Ordering::Relaxed);
        let refused = if running >= self.max_concurrent_activity_runs {
            ActivityRunLimit::AtOnce(self.max_concurrent_activity_runs)
        } else if counts.started.fetch_add(1, Ordering::Relaxed) >= self.max_activity_runs {
            ActivityRunLimit::Total(self.max_activity_runs)
        } else {
            return Ok(slot);
        };
        Err(*counts.refused.get_or_init(|| refused))
    }

    /// The same context under another cancellation token (an activity's, for what it runs).
    pub fn with_cancel(&self, cancel: CancellationToken) -> RunContext {
        RunContext {
            cancel,
            ..self.clone()
        }
    }
}

/// Removes an activity from [`RunContext`]'s running list when it ends.
pub struct RunningActivity {
    running: Arc<Mutex<Running>>,
    name: String,
    id: u64,
}

impl Drop for RunningActivity {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tokens) = running.by_name.get_mut(&self.name) {
            tokens.remove(&self.id);
            if tokens.is_empty() {
                running.by_name.remove(&self.name);
            }
        }
    }
}
