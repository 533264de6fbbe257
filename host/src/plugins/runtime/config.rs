//! The runtime's settings: where compiled code is cached (if at all), the epoch tick that
//! sets the granularity of per-call time limits, the guest's native stack, and the limits over
//! every tenant of the process: its memory budget and how many compiles run at once.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of a [`PluginRuntime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Directory of compiled code; `None` means `$XDG_CACHE_HOME/sluice/plugins` (or
    /// `~/.cache/sluice/plugins`).
    pub cache_dir: Option<PathBuf>,
    /// Whether compiled code is kept on disk at all.
    pub disk_cache: bool,
    /// How often the engine's epoch advances: the granularity of per-call time limits and how
    /// often a running guest yields to other tokio tasks.
    pub epoch_tick: Duration,
    /// Native stack available to guest code; deeper recursion traps with "call stack
    /// exhausted".
    pub max_wasm_stack: usize,
    /// Linear memory of all live instances of every tenant on this runtime together (the
    /// process's plugin memory: a process runs one runtime). Growth past it fails with
    /// `PluginError::MemoryBudget`.
    pub memory_budget_bytes: u64,
    /// Compiles running at once (abandoned ones past their deadline included); a load that
    /// finds none free waits, within its compile timeout.
    pub max_concurrent_compiles: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            disk_cache: true,
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 512 * 1024,
            memory_budget_bytes: 4 * 1024 * 1024 * 1024,
            max_concurrent_compiles: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

impl RuntimeConfig {
    /// A configuration whose disk cache lives in `dir` (tests pass a temporary directory).
    pub fn with_cache_dir(dir: impl Into<PathBuf>) -> Self {
        RuntimeConfig {
            cache_dir: Some(dir.into()),
            ..RuntimeConfig::default()
        }
    }

    /// A configuration without a disk cache (compiled code lives only in memory).
    pub fn in_memory() -> Self {
        RuntimeConfig {
            disk_cache: false,
            ..RuntimeConfig::default()
        }
    }
}

/// `$XDG_CACHE_HOME/sluice/plugins` (or `~/.cache/sluice/plugins`); `None` without either.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("sluice").join("plugins"))
}
