//! The plugin runtime: user row logic as sandboxed WebAssembly components
//! (world `sluice:plugin/plugin@0.1.0`, see `wit/sluice-plugin-0.1.0/plugin.wit`).
//!
//! - [`PluginRegistry`] finds plugin files (`name@version.wasm` or `name.plugin.json`) in an
//!   ordered list of directories; a [`PluginRef`] (`mask-pii`, `mask-pii@1.0.0`,
//!   `mask-pii@^1.2`, `mask-pii@1.0.0#sha256=<hex>`) picks one.
//! - [`PluginRuntime`] owns the wasmtime engine, the epoch ticker and the compiled-code caches
//!   (in memory, and on disk keyed by the wasm's sha256 and the engine's compatibility hash), and
//!   turns a loaded plugin into a [`PluginInstance`] for one [`Tenant`] and one stream.
//! - [`PluginInstance`] carries batches across the boundary (converted to the WIT's columnar
//!   form by [`convert`]) one call at a time, under the tenant's [`TenantLimits`]: memory, time
//!   per call and bytes per call. A trap, a timeout or a memory refusal discards the instance and
//!   yields a [`PluginError`] naming plugin, call, batch and the guest's own words.
//!
//! Guests are never trusted: no filesystem, environment, arguments or network; stdio goes to
//! small in-memory pipes. Guest-visible failures (`result::err` from the WIT) stay distinct from
//! traps ([`PluginError::Guest`] vs [`PluginError::Trap`]).
//!
//! Layer: above the stores (it reads and writes their COPY tuples) and the model; below the
//! copy runner, which puts plugin stages into a copy.

pub mod bindings;
pub mod budget;
pub mod build;
pub mod convert;
pub mod copy_tuples;
pub(crate) mod guest_text;
mod registry;
mod runtime;
mod sandbox;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use budget::{BudgetScope, MemoryBudget};
pub use build::{build_guest_plugins, build_plugins, Members};
pub use registry::{PluginEntry, PluginRef, PluginRegistry, VersionSpec};
pub use runtime::{
    default_cache_dir, inspect, LoadInfo, LoadSource, LoadedPlugin, PluginDescription,
    PluginInstance, PluginRuntime, Rejection, RuntimeConfig, UntrustedCache,
};

/// The WIT package version this host implements.
pub const WIT_PACKAGE: &str = "sluice:plugin";
pub const WIT_VERSION: &str = "0.1.0";

/// Resource limits applied to every instance a tenant creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLimits {
    /// Maximum linear memory of one instance (all its memories together are bounded by
    /// `max_memories` × this; Rust guests have one).
    pub memory_bytes: u64,
    /// Linear memory of all the tenant's live instances together (on one runtime): growth
    /// past it fails with [`PluginError::MemoryBudget`].
    pub memory_budget_bytes: u64,
    /// Caps on compiling the tenant's plugins.
    pub compile: CompileLimits,
    /// Wall-clock budget of one call (`create`, `process`, `flush`).
    pub call_timeout: Duration,
    /// Estimated bytes crossing the boundary in one call, each way.
    pub max_boundary_bytes: u64,
    /// Messages accepted from the `log` import per instance; the rest are dropped.
    pub max_log_messages: u32,
    /// Messages accepted from the `log` import per call.
    pub max_log_messages_per_call: u32,
    /// Longer log messages are truncated.
    pub max_log_message_bytes: usize,
    /// Bytes of stdout and of stderr kept per instance (the last ones win).
    pub max_stdio_bytes: usize,
    pub max_instances: usize,
    pub max_tables: usize,
    pub max_memories: usize,
    pub max_table_elements: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            memory_bytes: 256 * 1024 * 1024,
            // Eight instances at their cap; Rust plugins use a few MiB each in practice.
            memory_budget_bytes: 2 * 1024 * 1024 * 1024,
            compile: CompileLimits::default(),
            call_timeout: Duration::from_secs(5),
            max_boundary_bytes: 64 * 1024 * 1024,
            max_log_messages: 1000,
            max_log_messages_per_call: 100,
            max_log_message_bytes: 4096,
            max_stdio_bytes: 64 * 1024,
            // A component instantiates a handful of core modules (the guest, the WASI adapter
            // shims); 100 leaves room without letting a component nest without bound.
            max_instances: 100,
            max_tables: 100,
            max_memories: 10,
            max_table_elements: 1_000_000,
        }
    }
}

/// Caps on compiling one plugin (per tenant, since a tenant brings its own plugins). The
/// compiler's time and memory grow with a function's size, and a compile can be neither
/// bounded in memory nor cancelled once started: the sizes are checked before compiling, and a
/// load waits for a compile only until `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileLimits {
    /// Largest component file accepted.
    pub max_wasm_bytes: u64,
    /// Largest function body (of any core module in the component) accepted.
    pub max_function_bytes: u64,
    /// How long a load waits for a compile (and for a compile slot) before failing with
    /// [`PluginError::CompileTimeout`].
    pub timeout: Duration,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            // The example plugins are 100-300 KiB; a large plugin with its dependencies a few MiB.
            max_wasm_bytes: 32 * 1024 * 1024,
            // Their largest functions are tens of KiB; 1 MiB compiles in about two seconds and
            // a few hundred MB (measured: 6 MB took 13.9 s and 1.3 GB).
            max_function_bytes: 1024 * 1024,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Who a plugin instance runs for. Instances never share a `Store`, so tenants are isolated
/// from each other by construction; the limits are per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub limits: TenantLimits,
}

impl Tenant {
    pub fn new(id: impl Into<String>) -> Self {
        Tenant {
            id: id.into(),
            limits: TenantLimits::default(),
        }
    }

    pub fn with_limits(id: impl Into<String>, limits: TenantLimits) -> Self {
        Tenant {
            id: id.into(),
            limits,
        }
    }
}

/// The guest function a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Instantiation plus `transformer.create` and `output-schema`.
    Create,
    Process,
    Flush,
    Info,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::Create => "create",
            Call::Process => "process",
            Call::Flush => "flush",
            Call::Info => "info",
        })
    }
}

fn at(call: &Call, batch: &Option<u64>) -> String {
    match batch {
        Some(b) => format!("{call} of batch {b}"),
        None => call.to_string(),
    }
}

/// The guest's stderr under the error, each line indented behind `| ` so that no line of it
/// can pass for a line of the host's own output.
fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = s.lines().map(|l| format!("  | {l}")).collect();
        format!("\nguest stderr:\n{}", quoted.join("\n"))
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn paths(items: &[PathBuf]) -> String {
    if items.is_empty() {
        "no directories".into()
    } else {
        items
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Everything that can go wrong finding, compiling and running a plugin. `plugin` fields read
/// `name@version`.
impl From<crate::model::plugin_ref::PluginRefError> for PluginError {
    fn from(e: crate::model::plugin_ref::PluginRefError) -> Self {
        PluginError::InvalidRef {
            reference: e.reference,
            message: e.message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("invalid plugin reference \"{reference}\": {message}")]
    InvalidRef { reference: String, message: String },

    #[error(
        "plugin {reference} not found (searched {}); available: {}",
        paths(.searched),
        list(.available)
    )]
    NotFound {
        reference: String,
        searched: Vec<PathBuf>,
        /// Every `name@version` the registry can see.
        available: Vec<String>,
    },

    #[error("plugin {plugin}: sha256 of {} is {actual}, but {source_of_pin} pins {expected}", .path.display())]
    HashMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
        /// `the reference` or the manifest's path.
        source_of_pin: String,
    },

    #[error("plugin {plugin}: {}: {message}", .path.display())]
    Io {
        plugin: String,
        path: PathBuf,
        message: String,
    },

    #[error("plugin {plugin}: {} is not a usable {WIT_PACKAGE}@{WIT_VERSION} component: {message}", .path.display())]
    Compile {
        plugin: String,
        path: PathBuf,
        message: String,
    },

    /// The component is over the tenant's compile caps; it was not compiled.
    #[error("plugin {plugin}: {} was not compiled: {reason}", .path.display())]
    CompileRefused {
        plugin: String,
        path: PathBuf,
        reason: String,
    },

    /// Compiling took longer than the tenant's compile timeout. Nothing was cached.
    #[error(
        "plugin {plugin}: compiling {} did not finish within {limit:?}{}; nothing was cached (a larger plugin needs a longer compile timeout)",
        .path.display(),
        .waiting_for_slot.map(|n| format!(" (all {n} compile slots stayed busy)")).unwrap_or_default()
    )]
    CompileTimeout {
        plugin: String,
        path: PathBuf,
        limit: Duration,
        /// When the time ran out waiting for a free compile slot: how many slots there are.
        waiting_for_slot: Option<usize>,
    },

    #[error("plugin {plugin}: cannot instantiate for tenant {tenant}: {message}")]
    Instantiate {
        plugin: String,
        tenant: String,
        message: String,
    },

    /// The guest returned `err(message)`: its own, deliberate refusal. The instance stays usable.
    #[error("plugin {plugin} failed in {}: {message}", at(.call, .batch))]
    Guest {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        message: String,
    },

    /// The guest trapped (panic, stack overflow, out-of-bounds access, ...). Instance discarded.
    #[error("plugin {plugin} trapped in {}: {message}{}", at(.call, .batch), stderr_suffix(.stderr))]
    Trap {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        message: String,
        stderr: String,
    },

    /// The call ran past the tenant's `call_timeout`. Instance discarded.
    #[error("plugin {plugin} timed out in {} after {limit:?}{}", at(.call, .batch), stderr_suffix(.stderr))]
    Timeout {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        limit: Duration,
        stderr: String,
    },

    /// The guest asked for more memory than the tenant allows. Instance discarded.
    #[error("plugin {plugin} exceeded its memory limit in {}: {message}{}", at(.call, .batch), stderr_suffix(.stderr))]
    MemoryLimit {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        limit_bytes: u64,
        message: String,
        stderr: String,
    },

    /// Growing the instance's memory would pass a budget over many instances: the tenant's
    /// or the process's. Instance discarded.
    #[error(
        "plugin {plugin} was refused memory in {}: the memory budget of {budget} ({} for all its live plugin instances, {} in use) cannot grant {} more{}",
        at(.call, .batch),
        sandbox::human_bytes(*.limit_bytes),
        sandbox::human_bytes(*.in_use_bytes),
        sandbox::human_bytes(*.requested_bytes),
        stderr_suffix(.stderr)
    )]
    MemoryBudget {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        /// `tenant <id>` or `the process`.
        budget: String,
        limit_bytes: u64,
        in_use_bytes: u64,
        requested_bytes: u64,
        stderr: String,
    },

    /// The input batch is larger than the tenant's boundary cap (lower the batch size).
    #[error("plugin {plugin}: batch {batch} is about {bytes} bytes, over the {limit}-byte limit per call; use smaller batches")]
    InputTooLarge {
        plugin: String,
        batch: u64,
        bytes: u64,
        limit: u64,
    },

    /// The guest returned more than the tenant's boundary cap. Instance discarded.
    #[error("plugin {plugin} returned about {bytes} bytes from {}, over the {limit}-byte limit per call", at(.call, .batch))]
    OutputTooLarge {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        bytes: u64,
        limit: u64,
    },

    /// The input batch does not fit the schema the instance was created with.
    #[error("plugin {plugin}: cannot pass {} to the plugin: {message}", at(.call, .batch))]
    InvalidInput {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        message: String,
    },

    /// The guest's output breaks the contract (wrong column types, lengths, rejected rows).
    #[error("plugin {plugin} returned invalid output from {}: {message}", at(.call, .batch))]
    InvalidOutput {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        message: String,
    },

    /// A value of the guest's output does not fit the sink's column (found while encoding the
    /// output for the sink directly, see [`copy_tuples`]).
    #[error("the output of plugin {plugin} from {} cannot be written to the sink: {message}; set enableSkipIncompatibleRow to skip incompatible rows", at(.call, .batch))]
    Unwritable {
        plugin: String,
        call: Call,
        batch: Option<u64>,
        message: String,
    },

    /// An earlier trap, timeout or limit discarded this instance.
    #[error("plugin {plugin} instance was discarded after an earlier failure: {reason}")]
    Poisoned { plugin: String, reason: String },
}

impl PluginError {
    /// Whether this failure discarded the instance (it cannot be called again).
    pub fn discards_instance(&self) -> bool {
        matches!(
            self,
            PluginError::Trap { .. }
                | PluginError::Timeout { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::MemoryBudget { .. }
                | PluginError::OutputTooLarge { .. }
                | PluginError::Poisoned { .. }
        )
    }
}
