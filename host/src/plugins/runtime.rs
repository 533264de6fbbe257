//! The engine, the compiled-code caches, and plugin instances.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use semver::Version;
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::{Config, Engine, Store, StoreContextMut, Trap, UpdateDeadline};

use super::bindings::{Plugin, PluginPre};
use super::convert;
use super::copy_tuples::{self, OutputError};
use super::registry::{PluginEntry, PluginRef, PluginRegistry};
use super::sandbox::HostState;
use super::{Call, PluginError, Tenant, TenantLimits, WIT_PACKAGE, WIT_VERSION};
use crate::types::batch::Batch;
use crate::types::schema::{Schema, SchemaRef};

/// The export every plugin must provide.
const TRANSFORM_EXPORT: &str = "sluice:plugin/transform@0.1.0";

/// How much captured stderr an error carries.
const STDERR_IN_ERROR: usize = 4096;

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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            disk_cache: true,
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 512 * 1024,
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

fn default_cache_dir() -> Option<PathBuf> {
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

/// What `sluice plugin inspect` shows about a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginDescription {
    pub path: PathBuf,
    pub sha256: String,
    /// From the guest's `info()`.
    pub name: String,
    pub version: String,
    pub description: String,
    /// `sluice:plugin`.
    pub package: String,
    /// The WIT package version the component was built against (`0.1.0`).
    pub package_version: String,
    /// `sluice:plugin/plugin@0.1.0`.
    pub world: String,
    /// Interfaces the component imports (`sluice:plugin/log@0.1.0`, `wasi:cli/stderr@0.2.x`).
    pub imports: Vec<String>,
    /// Interfaces it exports.
    pub exports: Vec<String>,
}

/// A row the plugin refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the row in the input batch.
    pub row: usize,
    pub message: String,
}

/// Advances the engine's epoch every tick on a dedicated thread; stops when dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
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
        let ticker = Ticker::start(engine.clone(), config.epoch_tick)?;
        Ok(PluginRuntime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache_dir,
                engine_key,
                compiled: Mutex::new(HashMap::new()),
                _ticker: ticker,
            }),
        })
    }

    /// The disk cache directory in use, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache_dir.as_deref()
    }

    /// Resolves `reference` in `registry` and loads it. Compiling is CPU-bound and can take
    /// hundreds of milliseconds on a cache miss: call this from a build step or
    /// `spawn_blocking`, not on a latency-sensitive task.
    pub fn load(
        &self,
        registry: &PluginRegistry,
        reference: &PluginRef,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let entry = registry.resolve(reference)?;
        self.load_entry(&entry, reference.sha256.as_deref())
    }

    /// Loads one registry entry, checking the manifest's pin and `pin` (from a reference).
    pub fn load_entry(
        &self,
        entry: &PluginEntry,
        pin: Option<&str>,
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
        self.load_path(&id, name, version, path, &[])
    }

    fn load_path(
        &self,
        id: &str,
        name: String,
        version: Version,
        path: &Path,
        pins: &[(String, String)],
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
        let (compiled, source, compile, cache_file) =
            self.compiled_for(id, path, &sha256, &bytes)?;
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

    /// Memory map, then disk cache, then compile. Keyed by content hash, so a file replaced
    /// on disk is recompiled on its next load while unchanged files are not.
    #[allow(clippy::type_complexity)]
    fn compiled_for(
        &self,
        id: &str,
        path: &Path,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<(Arc<Compiled>, LoadSource, Option<Duration>, Option<PathBuf>), PluginError> {
        let inner = &self.inner;
        let cached = inner
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
            .cloned();
        if let Some(c) = cached {
            return Ok((c, LoadSource::Memory, None, None));
        }
        let compile_err = |message: String| PluginError::Compile {
            plugin: id.to_string(),
            path: path.to_path_buf(),
            message,
        };
        let cache_file = inner
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-{}.cwasm", inner.engine_key)));

        let mut from_disk = None;
        if let Some(file) = cache_file.as_ref().filter(|f| f.is_file()) {
            // Read into memory rather than `deserialize_file`: that maps the file and runs the
            // mapping's pages as code for as long as the component lives, so anything that later
            // rewrote the file in place (another tool or process of the same user sharing the
            // cache directory, a truncation, an I/O error on page-in) would crash the host with
            // SIGBUS or change the code it runs. A copy cannot change under us.
            match std::fs::read(file) {
                // SAFETY: `deserialize` trusts the bytes to be wasmtime's own output, because
                // the machine code in them is made executable without verification. That holds
                // here: cache files are written only by `store_in_cache` below, from
                // `Component::serialize` of this engine; the name carries both the wasm's sha256
                // and the engine's compatibility hash, so a file is only ever read back by a
                // compatible engine for the very bytes it was compiled from (wasmtime
                // additionally checks its header and refuses incompatible files); the write is
                // atomic (temp file + rename), so a crash never leaves a truncated file under a
                // final name; and the directory is created private to the user (0700), so other
                // users cannot plant files in it.
                Ok(code) => match unsafe { Component::deserialize(&inner.engine, &code) } {
                    Ok(c) => from_disk = Some(c),
                    Err(e) => tracing::warn!(
                        "ignoring unusable plugin cache file {}: {e}; recompiling",
                        file.display()
                    ),
                },
                Err(e) => tracing::warn!(
                    "cannot read plugin cache file {}: {e}; recompiling",
                    file.display()
                ),
            }
        }
        let (component, source, compile) = match from_disk {
            Some(c) => (c, LoadSource::Disk, None),
            None => {
                let t = Instant::now();
                let c = Component::new(&inner.engine, bytes)
                    .map_err(|e| compile_err(format!("{e:#}")))?;
                let took = t.elapsed();
                if let Some(file) = &cache_file {
                    if let Err(e) = store_in_cache(&c, file) {
                        tracing::warn!(
                            "cannot write plugin cache file {}: {e:#}; continuing without it",
                            file.display()
                        );
                    }
                }
                (c, LoadSource::Compiled, Some(took))
            }
        };
        let exports = export_names(&inner.engine, &component);
        if !exports.iter().any(|e| e == TRANSFORM_EXPORT) {
            return Err(compile_err(format!(
                "it does not export {TRANSFORM_EXPORT} (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )));
        }
        let pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| compile_err(format!("cannot link: {e:#}")))?;
        let pre = PluginPre::new(pre).map_err(|e| compile_err(format!("{e:#}")))?;
        let compiled = Arc::new(Compiled { component, pre });
        inner
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sha256.to_string(), compiled.clone());
        Ok((
            compiled,
            source,
            compile,
            cache_file.filter(|f| f.is_file()),
        ))
    }

    /// Creates an instance of `plugin` for `tenant` and one stream of batches of `input`:
    /// instantiates it in a fresh `Store` under the tenant's limits and calls
    /// `transformer.create(config_json, input)` and `output-schema`, all within one call's
    /// time budget.
    pub async fn instantiate(
        &self,
        tenant: &Tenant,
        plugin: &Arc<LoadedPlugin>,
        config_json: &str,
        input: &Schema,
    ) -> Result<PluginInstance, PluginError> {
        let label = plugin.id();
        let wit_input = convert::schema_to_wit(input).map_err(|e| PluginError::InvalidInput {
            plugin: label.clone(),
            call: Call::Create,
            batch: None,
            message: e.to_string(),
        })?;
        let t0 = Instant::now();
        let mut store = self.new_store(tenant, &label);
        let limits = &tenant.limits;
        let site = Site {
            plugin: &label,
            call: Call::Create,
            batch: None,
            limits,
        };
        let mut instantiate_time = Duration::ZERO;
        let res = run_guarded(&mut store, limits, async |store| {
            let bindings = plugin.compiled.pre.instantiate_async(&mut *store).await?;
            instantiate_time = t0.elapsed();
            let created = bindings
                .sluice_plugin_transform()
                .transformer()
                .call_create(&mut *store, config_json, &wit_input)
                .await?;
            let out = match created {
                Ok(handle) => {
                    let schema = bindings
                        .sluice_plugin_transform()
                        .transformer()
                        .call_output_schema(&mut *store, handle)
                        .await?;
                    Ok((handle, schema))
                }
                Err(msg) => Err(msg),
            };
            Ok((bindings, out))
        })
        .await;
        let (bindings, created) = classify(&mut store, res, &site)?;
        let (handle, wit_schema) = created.map_err(|message| PluginError::Guest {
            plugin: label.clone(),
            call: Call::Create,
            batch: None,
            message,
        })?;
        let output_schema = Arc::new(convert::schema_from_wit(wit_schema));
        Ok(PluginInstance {
            _runtime: self.clone(),
            plugin: plugin.clone(),
            tenant: tenant.clone(),
            label,
            store: Some(store),
            bindings,
            handle,
            input_schema: Arc::new(input.clone()),
            output_schema,
            copy_output: None,
            poisoned: None,
            instantiate_time,
            create_time: t0.elapsed(),
        })
    }

    fn new_store(&self, tenant: &Tenant, label: &str) -> Store<HostState> {
        let state = HostState::new(&tenant.limits, label.into(), tenant.id.as_str().into());
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_callback(on_epoch);
        store
    }

    /// Calls the guest's `info()` in a throwaway instance with default limits.
    pub async fn describe(
        &self,
        plugin: &Arc<LoadedPlugin>,
    ) -> Result<PluginDescription, PluginError> {
        let tenant = Tenant::new("inspect");
        let label = plugin.id();
        let mut store = self.new_store(&tenant, &label);
        let site = Site {
            plugin: &label,
            call: Call::Info,
            batch: None,
            limits: &tenant.limits,
        };
        let res = run_guarded(&mut store, &tenant.limits, async |store| {
            let bindings = plugin.compiled.pre.instantiate_async(&mut *store).await?;
            bindings
                .sluice_plugin_transform()
                .call_info(&mut *store)
                .await
        })
        .await;
        let info = classify(&mut store, res, &site)?;
        let engine = &self.inner.engine;
        let exports = export_names(engine, &plugin.compiled.component);
        let imports = plugin
            .compiled
            .component
            .component_type()
            .imports(engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let package_version = exports
            .iter()
            .find_map(|e| e.strip_prefix("sluice:plugin/transform@"))
            .unwrap_or(WIT_VERSION)
            .to_string();
        Ok(PluginDescription {
            path: plugin.path.clone(),
            sha256: plugin.sha256.clone(),
            name: info.name,
            version: info.version,
            description: info.description,
            package: WIT_PACKAGE.to_string(),
            world: format!("{WIT_PACKAGE}/plugin@{package_version}"),
            package_version,
            imports,
            exports,
        })
    }

    /// Loads a file and describes it (see [`inspect`] for a synchronous wrapper).
    pub async fn inspect_file(&self, path: &Path) -> Result<PluginDescription, PluginError> {
        let plugin = self.load_file(path)?;
        self.describe(&plugin).await
    }
}

fn export_names(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Writes compiled code atomically: a temp file in the same directory, then rename.
fn store_in_cache(component: &Component, file: &Path) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .ok_or_else(|| anyhow::anyhow!("cache file has no parent directory"))?;
    create_private_dir(dir)?;
    let bytes = component.serialize().map_err(wt)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Synchronous `inspect` for the CLI and the build helper: compiles the file in a throwaway
/// in-memory runtime on its own thread (so it is safe to call from inside or outside a tokio
/// runtime) and calls the guest's `info()`.
pub fn inspect(path: &Path) -> anyhow::Result<PluginDescription> {
    let mut all = inspect_all(&[path.to_path_buf()])?;
    all.pop()
        .ok_or_else(|| anyhow::anyhow!("no description for {}", path.display()))
}

/// [`inspect`] for several files, sharing one engine.
pub(crate) fn inspect_all(paths: &[PathBuf]) -> anyhow::Result<Vec<PluginDescription>> {
    let paths = paths.to_vec();
    let handle = std::thread::Builder::new()
        .name("sluice-plugin-inspect".into())
        .spawn(move || -> anyhow::Result<Vec<PluginDescription>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let runtime = PluginRuntime::new(RuntimeConfig::in_memory())?;
            rt.block_on(async {
                let mut out = Vec::with_capacity(paths.len());
                for p in &paths {
                    out.push(runtime.inspect_file(p).await?);
                }
                Ok(out)
            })
        })?;
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("plugin inspection thread panicked"))?
}

/// At each epoch tick during a call: interrupt when the call's deadline has passed, otherwise
/// yield to the async executor (so a busy guest never holds a tokio worker for more than one
/// tick and the backstop timeout can fire) and check again next tick.
fn on_epoch(mut ctx: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    let data = ctx.data_mut();
    match data.deadline {
        Some(d) if Instant::now() >= d => {
            data.timed_out = true;
            Ok(UpdateDeadline::Interrupt)
        }
        _ => Ok(UpdateDeadline::Yield(1)),
    }
}

/// Where a call happens, for errors.
struct Site<'a> {
    plugin: &'a str,
    call: Call,
    batch: Option<u64>,
    limits: &'a TenantLimits,
}

type Guarded<R> = Result<wasmtime::Result<R>, tokio::time::error::Elapsed>;

/// Runs one guest call under the tenant's time limit: the epoch deadline (checked every tick,
/// traps the guest) inside a tokio timeout (catches a guest stuck in a host call, where epochs
/// are not checked).
async fn run_guarded<R>(
    store: &mut Store<HostState>,
    limits: &TenantLimits,
    f: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
) -> Guarded<R> {
    store
        .data_mut()
        .begin_call(Instant::now() + limits.call_timeout);
    store.set_epoch_deadline(1);
    let backstop = limits.call_timeout + Duration::from_millis(250);
    let res = tokio::time::timeout(backstop, f(store)).await;
    store.data_mut().deadline = None;
    res
}

/// Turns a guarded call's outcome into the caller's value or a [`PluginError`] of the right
/// kind: timeout, memory refusal, or trap (with the guest's stderr).
fn classify<R>(
    store: &mut Store<HostState>,
    res: Guarded<R>,
    site: &Site<'_>,
) -> Result<R, PluginError> {
    let stderr = store.data().stderr.tail(STDERR_IN_ERROR);
    let refused = store.data_mut().limiter.refused.take();
    let timed_out = store.data().timed_out;
    let timeout = || PluginError::Timeout {
        plugin: site.plugin.to_string(),
        call: site.call,
        batch: site.batch,
        limit: site.limits.call_timeout,
        stderr: stderr.clone(),
    };
    let e = match res {
        Err(_elapsed) => return Err(timeout()),
        Ok(Ok(v)) if refused.is_none() => return Ok(v),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e),
    };
    if timed_out || e.as_ref().and_then(|e| e.downcast_ref::<Trap>()) == Some(&Trap::Interrupt) {
        return Err(timeout());
    }
    let trap = e.as_ref().map(trap_message);
    if let Some(refused) = refused {
        let limit = store.data().limiter.memory_limit() as u64;
        let message = match trap {
            Some(t) => format!("{refused}; then {t}"),
            None => refused,
        };
        return Err(PluginError::MemoryLimit {
            plugin: site.plugin.to_string(),
            call: site.call,
            batch: site.batch,
            limit_bytes: limit,
            message,
            stderr,
        });
    }
    Err(PluginError::Trap {
        plugin: site.plugin.to_string(),
        call: site.call,
        batch: site.batch,
        message: trap.unwrap_or_else(|| "unknown failure".into()),
        stderr,
    })
}

/// The trap's description plus the top of the wasm backtrace (a stack overflow has thousands
/// of frames; the first few say where).
fn trap_message(e: &wasmtime::Error) -> String {
    let mut msg = match e.downcast_ref::<Trap>() {
        // `Trap`'s own text already reads "wasm trap: ...".
        Some(t) => t.to_string(),
        None => {
            // Not a trap: a host-side failure during the call (e.g. a canonical ABI check on
            // the guest's return value). The root cause is the useful part.
            error_chain(e)
        }
    };
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        let text = bt.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let shown = lines.len().min(8);
        if shown > 0 {
            msg.push('\n');
            msg.push_str(&lines[..shown].join("\n"));
            if lines.len() > shown {
                msg.push_str(&format!("\n    … {} more frames", lines.len() - shown));
            }
        }
    }
    msg
}

/// The error's context chain without the wasm backtrace (shown separately, trimmed).
fn error_chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .filter(|c| !c.starts_with("error while executing at wasm backtrace"))
        .collect::<Vec<_>>()
        .join(": ")
}

/// `wasmtime::Error` converts to `anyhow` only with wasmtime's `anyhow` feature; keep the text.
fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// One plugin instance for one tenant and one stream. Not shared: calls take `&mut self`, one
/// batch at a time. Dropping it frees the instance's memory.
pub struct PluginInstance {
    /// Keeps the epoch ticker alive as long as the instance can run guest code.
    _runtime: PluginRuntime,
    plugin: Arc<LoadedPlugin>,
    tenant: Tenant,
    label: String,
    /// `None` once discarded after a trap, timeout or limit.
    store: Option<Store<HostState>>,
    bindings: Plugin,
    handle: ResourceAny,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    /// Set by [`PluginInstance::emit_copy_tuples`].
    copy_output: Option<Arc<[Type]>>,
    poisoned: Option<String>,
    instantiate_time: Duration,
    create_time: Duration,
}

impl PluginInstance {
    /// The schema of the batches `process` and `flush` return.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// From now on return batches as binary COPY tuples encoded for columns of `targets` (the
    /// sink's types, each able to take its output column's values) instead of engine values.
    pub fn emit_copy_tuples(&mut self, targets: Arc<[Type]>) {
        self.copy_output = Some(targets);
    }

    pub fn input_schema(&self) -> SchemaRef {
        self.input_schema.clone()
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Store creation plus instantiation (before `create` ran).
    pub fn instantiate_time(&self) -> Duration {
        self.instantiate_time
    }

    /// Instantiation plus `create` and `output-schema`.
    pub fn create_time(&self) -> Duration {
        self.create_time
    }

    /// Why the instance was discarded, if it was.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// The last bytes the guest wrote to stderr (empty once discarded).
    pub fn stderr(&self) -> String {
        self.store
            .as_ref()
            .map(|s| s.data().stderr.tail(usize::MAX))
            .unwrap_or_default()
    }

    /// The last bytes the guest wrote to stdout (empty once discarded).
    pub fn stdout(&self) -> String {
        self.store
            .as_ref()
            .map(|s| s.data().stdout.tail(usize::MAX))
            .unwrap_or_default()
    }

    /// Log messages dropped because of the caps.
    pub fn dropped_log_messages(&self) -> u64 {
        self.store.as_ref().map_or(0, |s| s.data().log.dropped)
    }

    /// Transforms one batch. `batch_number` only labels errors. The output batch keeps the
    /// input's `bytes` (the payload read to produce it).
    pub async fn process(
        &mut self,
        batch: Batch,
        batch_number: u64,
    ) -> Result<(Batch, Vec<Rejection>), PluginError> {
        let call = Call::Process;
        let b = Some(batch_number);
        let live_schema = Arc::ptr_eq(batch.schema(), &self.input_schema)
            || **batch.schema() == *self.input_schema;
        if !live_schema {
            return Err(self.invalid_input(
                call,
                b,
                format!(
                    "the batch's columns ({}) differ from those the instance was created with ({})",
                    batch.schema().names().collect::<Vec<_>>().join(", "),
                    self.input_schema.names().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let bytes = batch.bytes;
        let rows = batch.num_rows();
        let wit_batch = match batch.raw_tuples() {
            Some(raw) => copy_tuples::tuples_to_wit(&self.input_schema, raw),
            None => convert::batch_to_wit(batch),
        }
        .map_err(|e| self.invalid_input(call, b, e.to_string()))?;
        let size = convert::batch_size(&wit_batch);
        let limit = self.tenant.limits.max_boundary_bytes;
        if size > limit {
            return Err(PluginError::InputTooLarge {
                plugin: self.label.clone(),
                batch: batch_number,
                bytes: size,
                limit,
            });
        }
        let handle = self.handle;
        let Some(store) = self.store.as_mut() else {
            return Err(self.poisoned_error());
        };
        let guest = self.bindings.sluice_plugin_transform();
        let res = run_guarded(store, &self.tenant.limits, async |store| {
            guest
                .transformer()
                .call_process(&mut *store, handle, &wit_batch)
                .await
        })
        .await;
        drop(wit_batch);
        let output = self.settle(call, b, res)?;
        let (mut out, rejected) = self.accept(call, b, output, Some(rows))?;
        out.bytes = bytes;
        Ok((out, rejected))
    }

    /// Asks for rows held back (after the last batch).
    pub async fn flush(&mut self) -> Result<(Batch, Vec<Rejection>), PluginError> {
        let call = Call::Flush;
        let handle = self.handle;
        let Some(store) = self.store.as_mut() else {
            return Err(self.poisoned_error());
        };
        let guest = self.bindings.sluice_plugin_transform();
        let res = run_guarded(store, &self.tenant.limits, async |store| {
            guest.transformer().call_flush(&mut *store, handle).await
        })
        .await;
        let output = self.settle(call, None, res)?;
        self.accept(call, None, output, None)
    }

    fn poisoned_error(&self) -> PluginError {
        PluginError::Poisoned {
            plugin: self.label.clone(),
            reason: self
                .poisoned
                .clone()
                .unwrap_or_else(|| "instance unavailable".into()),
        }
    }

    fn invalid_input(&self, call: Call, batch: Option<u64>, message: String) -> PluginError {
        PluginError::InvalidInput {
            plugin: self.label.clone(),
            call,
            batch,
            message,
        }
    }

    /// Classifies a call's outcome; a fatal one discards the instance.
    fn settle(
        &mut self,
        call: Call,
        batch: Option<u64>,
        res: Guarded<Result<super::bindings::sluice::plugin::types::Output, String>>,
    ) -> Result<super::bindings::sluice::plugin::types::Output, PluginError> {
        let Some(store) = self.store.as_mut() else {
            return Err(self.poisoned_error());
        };
        let site = Site {
            plugin: &self.label,
            call,
            batch,
            limits: &self.tenant.limits,
        };
        match classify(store, res, &site) {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(message)) => Err(PluginError::Guest {
                plugin: self.label.clone(),
                call,
                batch,
                message,
            }),
            Err(e) => {
                self.discard(&e);
                Err(e)
            }
        }
    }

    fn discard(&mut self, e: &PluginError) {
        let first_line = e.to_string().lines().next().unwrap_or_default().to_string();
        tracing::warn!(
            target: "sluice::plugin",
            plugin = %self.label,
            tenant = %self.tenant.id,
            "discarding plugin instance: {first_line}"
        );
        self.poisoned = Some(first_line);
        self.store = None;
    }

    /// Checks the output's size and shape and converts it.
    fn accept(
        &mut self,
        call: Call,
        batch: Option<u64>,
        output: super::bindings::sluice::plugin::types::Output,
        input_rows: Option<usize>,
    ) -> Result<(Batch, Vec<Rejection>), PluginError> {
        let size = convert::output_size(&output);
        let limit = self.tenant.limits.max_boundary_bytes;
        if size > limit {
            let e = PluginError::OutputTooLarge {
                plugin: self.label.clone(),
                call,
                batch,
                bytes: size,
                limit,
            };
            self.discard(&e);
            return Err(e);
        }
        let invalid = |message: String| PluginError::InvalidOutput {
            plugin: self.label.clone(),
            call,
            batch,
            message,
        };
        let mut rejected = Vec::with_capacity(output.rejected.len());
        for r in output.rejected {
            let row = r.row as usize;
            if let Some(n) = input_rows {
                if row >= n {
                    return Err(invalid(format!(
                        "rejected row {row}, but the input batch has {n} rows"
                    )));
                }
            }
            rejected.push(Rejection {
                row,
                message: r.message,
            });
        }
        let out = match &self.copy_output {
            None => convert::batch_from_wit(&self.output_schema, output.batch)
                .map_err(|e| invalid(e.to_string()))?,
            Some(targets) => {
                match copy_tuples::wit_to_tuples(&self.output_schema, output.batch, targets) {
                    Ok(tuples) => Batch::raw(self.output_schema.clone(), tuples),
                    Err(OutputError::Invalid(e)) => return Err(invalid(e.to_string())),
                    Err(OutputError::Unwritable(e)) => {
                        return Err(PluginError::Unwritable {
                            plugin: self.label.clone(),
                            call,
                            batch,
                            message: e.to_string(),
                        })
                    }
                }
            }
        };
        Ok((out, rejected))
    }
}

impl std::fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstance")
            .field("plugin", &self.label)
            .field("tenant", &self.tenant.id)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}
