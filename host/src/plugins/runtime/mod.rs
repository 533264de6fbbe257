//! The engine, the compiled-code caches, and plugin instances.
//!
//! [`PluginRuntime`] owns one wasmtime engine and its linker and loads plugin files into
//! [`LoadedPlugin`]s (reading, hashing and checking pins here). The rest is split by role:
//! - `config`: [`RuntimeConfig`], the runtime's settings;
//! - `cache`: compiled code, from the in-memory map, the on-disk cache or a fresh compile;
//! - `trust`: whether the disk cache may be used, and the keyed seal on each of its files;
//! - `compile`: compiling under the tenant's caps (sizes, deadline, concurrent compiles);
//! - `epoch`: the epoch ticker and the per-call time limit built on it;
//! - `traps`: a call's failure classified as timeout, memory refusal or trap;
//! - `instance`: [`PluginInstance`], one instance's lifecycle from `create` to discard;
//! - `inspect`: [`PluginDescription`], what `sluice plugin inspect` shows.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use semver::Version;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};

use super::bindings::{Plugin, PluginPre};
use super::budget::{BudgetScope, Charge, MemoryBudget};
use super::registry::{PluginEntry, PluginRef, PluginRegistry};
use super::sandbox::HostState;
use super::{CompileLimits, PluginError, Tenant};

mod cache;
mod compile;
mod config;
mod epoch;
mod inspect;
mod instance;
mod traps;
mod trust;

pub use config::{default_cache_dir, RuntimeConfig};
pub(crate) use inspect::inspect_all;
pub use inspect::{inspect, PluginDescription};
pub use instance::{PluginInstance, Rejection};
pub use trust::UntrustedCache;

use compile::CompileSlots;
use epoch::{on_epoch, Ticker};
use trust::DiskCache;

/// Where a plugin's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Already compiled by this runtime (same file contents).
    Memory,
    /// Deserialized from the disk cache.
    Disk,
    /// Compiled now (and written to the disk cache when enabled).
    Compiled,
}

/// How a load went, for logs and benchmarks.
#[derive(Debug, Clone)]
pub struct LoadInfo {
    pub source: LoadSource,
    /// Read + hash + cache lookup + compile/deserialize + pre-instantiation.
    pub total: Duration,
    /// Time spent compiling, when compiled.
    pub compile: Option<Duration>,
    /// The disk cache file used or written.
    pub cache_file: Option<PathBuf>,
}

struct Compiled {
    component: Component,
    pre: PluginPre<HostState>,
}

/// A plugin compiled and linked, ready to instantiate any number of times.
pub struct LoadedPlugin {
    pub name: String,
    pub version: Version,
    /// Lower-case hex sha256 of the wasm file.
    pub sha256: String,
    pub path: PathBuf,
    pub load: LoadInfo,
    compiled: Arc<Compiled>,
}

impl LoadedPlugin {
    /// `name@version`, as errors and logs name the plugin.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("sha256", &self.sha256)
            .field("path", &self.path)
            .field("load", &self.load)
            .finish()
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    /// The disk cache, when configured and trusted.
    cache: Option<DiskCache>,
    /// Why a configured disk cache is not used.
    cache_refused: Option<UntrustedCache>,
    compile_slots: Arc<CompileSlots>,
    /// Every tenant's instances together.
    process_budget: Arc<MemoryBudget>,
    /// Each tenant's instances, by tenant id; an entry lives as long as one of its instances.
    tenant_budgets: Mutex<HashMap<String, Weak<MemoryBudget>>>,
    /// Hex digest of `engine.precompile_compatibility_hash()`: part of every cache file name,
    /// so code compiled by a different wasmtime or with different settings is never loaded.
    engine_key: String,
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    // Declared last: dropped after everything that might still run guest code.
    _ticker: Ticker,
}

/// The plugin runtime: one wasmtime engine, its epoch ticker, and the compiled-code caches.
/// Cheap to clone and share across tasks.
#[derive(Clone)]
pub struct PluginRuntime {
    inner: Arc<Inner>,
}

/// Feeds `Hash` output into sha256, giving a digest that is stable across processes (unlike
/// `DefaultHasher`, whose algorithm is unspecified).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PluginRuntime {
    /// Builds the engine (epoch interruption on, async calls) and the linker (WASI p2, granting
    /// nothing per store, plus the `log` import), and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        wasm.max_wasm_stack(config.max_wasm_stack);
        wasm.async_stack_size(config.max_wasm_stack + 1024 * 1024);
        let engine = Engine::new(&wasm).map_err(wt)?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wt)?;
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(wt)?;

        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(&h.0.finalize()[..8]);

        let cache_dir = if config.disk_cache {
            config.cache_dir.clone().or_else(default_cache_dir)
        } else {
            None
        };
        // A directory that fails the checks is not used at all (compiled code then lives in
        // memory only): the cache only saves time, and refusing it keeps planted code out
        // without failing runs. The warning names the directory and what to fix.
        let (cache, cache_refused) = match cache_dir.as_deref().map(DiskCache::open) {
            None => (None, None),
            Some(Ok(c)) => (Some(c), None),
            Some(Err(e)) => {
                tracing::warn!("{e}; not using it: plugins are compiled on every run");
                (None, Some(e))
            }
        };
        let ticker = Ticker::start(engine.clone(), config.epoch_tick)?;
        Ok(PluginRuntime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                cache_refused,
                compile_slots: CompileSlots::new(config.max_concurrent_compiles),
                process_budget: MemoryBudget::new(BudgetScope::Process, config.memory_budget_bytes),
                tenant_budgets: Mutex::new(HashMap::new()),
                engine_key,
                compiled: Mutex::new(HashMap::new()),
                _ticker: ticker,
            }),
        })
    }

    /// The disk cache directory in use, if any (none when disabled or refused).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.as_ref().map(|c| c.dir.as_path())
    }

    /// Why the configured disk cache directory is not used, if it was refused.
    pub fn cache_refused(&self) -> Option<&UntrustedCache> {
        self.inner.cache_refused.as_ref()
    }

    /// Linear memory of all live instances on this runtime.
    pub fn memory_in_use(&self) -> u64 {
        self.inner.process_budget.in_use()
    }

    /// Linear memory of the live instances of tenant `id`.
    pub fn tenant_memory_in_use(&self, id: &str) -> u64 {
        self.inner
            .tenant_budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .and_then(Weak::upgrade)
            .map_or(0, |b| b.in_use())
    }

    /// Resolves `reference` in `registry` and loads it under the default compile caps.
    /// Compiling is CPU-bound and can take hundreds of milliseconds on a cache miss: call this
    /// from a build step or `spawn_blocking`, not on a latency-sensitive task.
    pub fn load(
        &self,
        registry: &PluginRegistry,
        reference: &PluginRef,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_with(registry, reference, &CompileLimits::default())
    }

    /// [`PluginRuntime::load`] under a tenant's compile caps.
    pub fn load_with(
        &self,
        registry: &PluginRegistry,
        reference: &PluginRef,
        limits: &CompileLimits,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let entry = registry.resolve(reference)?;
        self.load_entry_with(&entry, reference.sha256.as_deref(), limits)
    }

    /// Loads one registry entry, checking the manifest's pin and `pin` (from a reference).
    pub fn load_entry(
        &self,
        entry: &PluginEntry,
        pin: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_entry_with(entry, pin, &CompileLimits::default())
    }

    /// [`PluginRuntime::load_entry`] under a tenant's compile caps.
    pub fn load_entry_with(
        &self,
        entry: &PluginEntry,
        pin: Option<&str>,
        limits: &CompileLimits,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let id = entry.id();
        let mut pins: Vec<(String, String)> = Vec::new();
        if let Some(p) = pin {
            pins.push((p.to_ascii_lowercase(), "the reference".into()));
        }
        if let (Some(p), Some(m)) = (&entry.sha256, &entry.manifest) {
            pins.push((p.clone(), format!("manifest {}", m.display())));
        }
        self.load_path(
            &id,
            entry.name.clone(),
            entry.version.clone(),
            &entry.path,
            &pins,
            limits,
        )
    }

    /// Loads a file directly. The name and version come from a `name@version.wasm` file name,
    /// otherwise the file stem and `0.0.0` (use [`PluginRuntime::describe`] for the guest's
    /// own).
    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .to_string();
        let (name, version) = match stem.split_once('@') {
            Some((n, v)) => match Version::parse(v) {
                Ok(v) => (n.to_string(), v),
                Err(_) => (stem.clone(), Version::new(0, 0, 0)),
            },
            None => (stem.clone(), Version::new(0, 0, 0)),
        };
        let id = format!("{name}@{version}");
        self.load_path(&id, name, version, path, &[], &CompileLimits::default())
    }

    fn load_path(
        &self,
        id: &str,
        name: String,
        version: Version,
        path: &Path,
        pins: &[(String, String)],
        limits: &CompileLimits,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let start = Instant::now();
        let bytes = std::fs::read(path).map_err(|e| PluginError::Io {
            plugin: id.to_string(),
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        let sha256 = sha256_hex(&bytes);
        for (expected, source_of_pin) in pins {
            if *expected != sha256 {
                return Err(PluginError::HashMismatch {
                    plugin: id.to_string(),
                    path: path.to_path_buf(),
                    expected: expected.clone(),
                    actual: sha256,
                    source_of_pin: source_of_pin.clone(),
                });
            }
        }
        compile::check_size(id, path, &bytes, limits)?;
        let (compiled, source, compile, cache_file) =
            self.compiled_for(id, path, &sha256, &bytes, limits)?;
        Ok(Arc::new(LoadedPlugin {
            name,
            version,
            sha256,
            path: path.to_path_buf(),
            load: LoadInfo {
                source,
                total: start.elapsed(),
                compile,
                cache_file,
            },
            compiled,
        }))
    }

    /// The budget of tenant `tenant`'s instances, with its current limit.
    fn tenant_budget(&self, tenant: &Tenant) -> Arc<MemoryBudget> {
        let mut budgets = self
            .inner
            .tenant_budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let limit = tenant.limits.memory_budget_bytes;
        if let Some(b) = budgets.get(&tenant.id).and_then(Weak::upgrade) {
            b.set_limit(limit);
            return b;
        }
        budgets.retain(|_, b| b.strong_count() > 0);
        let b = MemoryBudget::new(BudgetScope::Tenant(tenant.id.clone()), limit);
        budgets.insert(tenant.id.clone(), Arc::downgrade(&b));
        b
    }

    fn new_store(&self, tenant: &Tenant, label: &str) -> Store<HostState> {
        let charge = Charge::new(vec![
            self.tenant_budget(tenant),
            self.inner.process_budget.clone(),
        ]);
        let state = HostState::new(
            &tenant.limits,
            label.into(),
            tenant.id.as_str().into(),
            charge,
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_callback(on_epoch);
        store
    }
}

fn export_names(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// `wasmtime::Error` converts to `anyhow` only with wasmtime's `anyhow` feature; keep the text.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}
