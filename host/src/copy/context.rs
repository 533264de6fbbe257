//! Everything about one run that its activities share: which tenant it runs for, its secrets
//! and redaction, the plugin host with that tenant's limits, whether to draw progress, and the
//! cancellation token. A run gets one [`RunContext`] and hands it down through the executor to
//! each copy, so nothing about a run lives in process-wide state and two tenants' runs can
//! share one process.
//!
//! It lives in the copy layer because a copy is the lowest layer that needs all of it (plugins,
//! redaction, cancellation); the pipeline executor and the front ends build and pass it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::transform::PluginHost;
use crate::secrets::{Redactor, SecretBook};

/// Watches a run as it goes: the service records activity runs as they finish, an embedding
/// program shows progress. Calls come from the run's tasks and must return quickly.
pub trait RunObserver: Send + Sync {
    /// An activity started (`activity_type` as ADF spells it).
    fn activity_started(&self, _name: &str, _activity_type: &str) {}
    /// An activity ended; `record` is its activity run as the run output shows it (masked).
    fn activity_finished(&self, _record: &serde_json::Value) {}
    /// A copy moved more rows: totals so far for `activity`.
    fn copy_progress(&self, _activity: &str, _rows: u64, _bytes: u64) {}
}

/// One run's context. Cheap to clone; clones share the secrets and the cancellation token.
#[derive(Clone, Default)]
pub struct RunContext {
    /// The tenant the run belongs to (`"local"` for the CLI).
    pub tenant: String,
    /// The run's secrets (its redactor, Key Vault references and values).
    pub secrets: SecretBook,
    /// Serves Copy activities' `transforms` and `rowMapper`; `None` runs no plugins.
    pub plugins: Option<Arc<PluginHost>>,
    /// Draw progress bars (only shown when stderr is a terminal).
    pub progress: bool,
    /// Cancelled from outside to stop the run: copies stop reading and abort their open
    /// write, control activities stop waiting.
    pub cancel: CancellationToken,
    /// Told about activities and copy progress as the run goes.
    pub observer: Option<Arc<dyn RunObserver>>,
    /// The tokens of the activities running now, by name, so one activity can be cancelled
    /// from outside ([`RunContext::cancel_activity`]).
    running: Arc<Mutex<Running>>,
}

/// Running activities' tokens by name, each with an id so the one that ends is removed.
#[derive(Default)]
struct Running {
    next: u64,
    by_name: HashMap<String, Vec<(u64, CancellationToken)>>,
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

    /// The same context drawing progress bars or not.
    pub fn with_progress(mut self, progress: bool) -> Self {
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
                tokens.iter().for_each(|(_, t)| t.cancel());
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
            .push((id, token.clone()));
        RunningActivity {
            running: self.running.clone(),
            name: name.to_string(),
            id,
        }
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
            tokens.retain(|(id, _)| *id != self.id);
            if tokens.is_empty() {
                running.by_name.remove(&self.name);
            }
        }
    }
}
