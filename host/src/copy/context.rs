//! Everything about one run that its activities share: which tenant it runs for, its secrets
//! and redaction, the plugin host with that tenant's limits, whether to draw progress, and the
//! cancellation token. A run gets one [`RunContext`] and hands it down through the executor to
//! each copy, so nothing about a run lives in process-wide state and two tenants' runs can
//! share one process.
//!
//! It lives in the copy layer because a copy is the lowest layer that needs all of it (plugins,
//! redaction, cancellation); the pipeline executor and the front ends build and pass it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::transform::PluginHost;
use crate::secrets::{Redactor, SecretBook};

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
}

impl RunContext {
    /// A context for `tenant` with a fresh secret book and no plugins.
    pub fn new(tenant: impl Into<String>) -> Self {
        RunContext {
            tenant: tenant.into(),
            ..RunContext::default()
        }
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
}
