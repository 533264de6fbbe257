//! Plugin stages of a copy: `source.transforms` (in order, right after the source) and
//! `sink.rowMapper` (last, producing the sink's columns), each a sandboxed wasm instance.
//!
//! A [`PluginHost`] is what a run shares: the registry that finds plugin files, the runtime
//! that compiles and caches them, and the tenant whose limits every instance runs under. A
//! [`PluginChain`] is one copy's instances, created for the schema each stage receives.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::OnceCell;
use tokio_postgres::types::Type;

use crate::model::copy::PluginUse;
use crate::plugins::{
    LoadedPlugin, PluginInstance, PluginRef, PluginRegistry, PluginRuntime, Rejection,
    RuntimeConfig, Tenant,
};
use crate::stores::skip_log::SkipLog;
use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;

/// The stage name rejected rows are recorded under in the [`SkipLog`].
pub const OPERATION: &str = "transform";

/// The plugin side of a host: where plugins are found, how they are compiled and cached, and
/// whose limits apply. The runtime (a wasmtime engine and its epoch thread) is created on the
/// first copy that uses a plugin, so pipelines without plugins never pay for it.
pub struct PluginHost {
    registry: PluginRegistry,
    tenant: Tenant,
    config: RuntimeConfig,
    runtime: OnceCell<PluginRuntime>,
}

impl PluginHost {
    /// A host searching `dirs` in order (first match wins for equal versions).
    pub fn new(dirs: Vec<PathBuf>, tenant: Tenant, config: RuntimeConfig) -> Self {
        PluginHost {
            registry: PluginRegistry::new(dirs),
            tenant,
            config,
            runtime: OnceCell::new(),
        }
    }

    /// A host sharing an existing runtime (a long-lived service serving many tenants).
    pub fn with_runtime(dirs: Vec<PathBuf>, tenant: Tenant, runtime: PluginRuntime) -> Self {
        PluginHost {
            registry: PluginRegistry::new(dirs),
            tenant,
            config: RuntimeConfig::default(),
            runtime: OnceCell::new_with(Some(runtime)),
        }
    }

    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    async fn runtime(&self) -> Result<&PluginRuntime, StoreError> {
        self.runtime
            .get_or_try_init(|| async { PluginRuntime::new(self.config.clone()) })
            .await
            .map_err(|e| StoreError::new(format!("cannot start the plugin runtime: {e:#}")))
    }

    /// Resolves and loads (from the compiled-code cache when possible, else compiling under
    /// the tenant's compile caps) one plugin.
    async fn load(&self, plugin: &PluginUse) -> Result<Arc<LoadedPlugin>, StoreError> {
        let fail = |e: &dyn std::fmt::Display| StoreError::new(format!("{}: {e}", plugin.property));
        let runtime = self.runtime().await?;
        let reference = PluginRef::parse(&plugin.reference).map_err(|e| fail(&e))?;
        let (loader, registry) = (runtime.clone(), self.registry.clone());
        let limits = self.tenant.limits.compile.clone();
        // Compiling is CPU-bound (hundreds of ms on a cache miss): keep it off the async workers.
        let loaded =
            tokio::task::spawn_blocking(move || loader.load_with(&registry, &reference, &limits))
                .await;
        let loaded = match loaded {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return Err(fail(&e)),
            Err(e) => return Err(fail(&format!("plugin loading stopped unexpectedly: {e}"))),
        };
        tracing::debug!(plugin = %loaded.id(), source = ?loaded.load.source, ms = loaded.load.total.as_secs_f64() * 1e3, "plugin loaded");
        Ok(loaded)
    }

    /// Instantiates a loaded plugin for a stream of batches of `input`.
    async fn instance(
        &self,
        plugin: &PluginUse,
        loaded: &Arc<LoadedPlugin>,
        input: &SchemaRef,
    ) -> Result<PluginInstance, StoreError> {
        let runtime = self.runtime().await?;
        let config = plugin.config.to_string();
        runtime
            .instantiate(&self.tenant, loaded, &config, input)
            .await
            .map_err(|e| StoreError::new(format!("{}: {e}", plugin.property)))
    }
}

/// One stage: an instance and where it was declared.
struct Stage {
    instance: PluginInstance,
    at: String,
    batches: u64,
}

/// Plugins of one copy, in the order rows pass through them.
pub struct PluginChain {
    stages: Vec<Stage>,
    /// With `enableSkipIncompatibleRow`: where rejected rows are recorded (else a rejection
    /// fails the copy).
    skips: Option<SkipLog>,
}

impl PluginChain {
    /// Instantiates `uses` in order, each for the output schema of the one before; returns the
    /// chain and the schema it produces.
    pub async fn build(
        host: &PluginHost,
        uses: &[PluginUse],
        input: SchemaRef,
        skips: Option<SkipLog>,
    ) -> Result<(PluginChain, SchemaRef), StoreError> {
        // Load (compile) every distinct plugin of the chain at once, so one slow compile does
        // not hold up the others (a plugin used twice is compiled once); then instantiate in
        // order, each for the schema before it.
        let mut distinct: Vec<&PluginUse> = Vec::new();
        for u in uses {
            if !distinct.iter().any(|d| d.reference == u.reference) {
                distinct.push(u);
            }
        }
        let results = futures_util::future::join_all(distinct.iter().map(|u| host.load(u))).await;
        let mut plugins = Vec::with_capacity(distinct.len());
        for (u, loaded) in distinct.iter().zip(results) {
            plugins.push((u.reference.as_str(), loaded?));
        }
        let mut stages = Vec::with_capacity(uses.len());
        let mut schema = input;
        for u in uses {
            let Some((_, plugin)) = plugins.iter().find(|(r, _)| *r == u.reference) else {
                return Err(StoreError::new(format!("{}: not loaded", u.property)));
            };
            let instance = host.instance(u, plugin, &schema).await?;
            schema = instance.output_schema();
            stages.push(Stage {
                instance,
                at: u.property.clone(),
                batches: 0,
            });
        }
        let mut chain = PluginChain::empty(skips);
        chain.stages = stages;
        Ok((chain, schema))
    }

    /// A chain without stages: batches pass through unchanged.
    pub fn empty(skips: Option<SkipLog>) -> PluginChain {
        PluginChain {
            stages: Vec::new(),
            skips,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Has the last stage return binary COPY tuples for columns of `targets` instead of engine
    /// values (see `plugins::copy_tuples`); false when the chain has no stage.
    pub fn emit_copy_tuples(&mut self, targets: Arc<[Type]>) -> bool {
        match self.stages.last_mut() {
            Some(stage) => {
                stage.instance.emit_copy_tuples(targets);
                true
            }
            None => false,
        }
    }

    /// Passes a batch through every stage.
    pub async fn process(&mut self, batch: Batch) -> Result<Batch, StoreError> {
        self.run_from(0, batch).await
    }

    /// Flushes every stage in order; rows a stage releases go through the stages after it.
    pub async fn finish(&mut self) -> Result<Vec<Batch>, StoreError> {
        let mut out = Vec::new();
        for i in 0..self.stages.len() {
            let stage = &mut self.stages[i];
            let (flushed, rejected) = stage
                .instance
                .flush()
                .await
                .map_err(|e| StoreError::new(format!("{}: {e}", stage.at)))?;
            let label = format!("{} flush", stage.at);
            // Held rows are not in any input batch: the log names them by index only.
            self.rejected(&label, rejected, None)?;
            if flushed.num_rows() > 0 {
                out.push(self.run_from(i + 1, flushed).await?);
            }
        }
        Ok(out)
    }

    async fn run_from(&mut self, first: usize, mut batch: Batch) -> Result<Batch, StoreError> {
        for i in first..self.stages.len() {
            let stage = &mut self.stages[i];
            stage.batches += 1;
            let number = stage.batches;
            // Kept only when skipping, so the session log can show the rejected rows.
            let input = self.skips.as_ref().map(|_| batch.clone());
            let (out, rejected) = stage
                .instance
                .process(batch, number)
                .await
                .map_err(|e| StoreError::new(format!("{}: {e}", stage.at)))?;
            let label = format!("{} batch {number}", stage.at);
            self.rejected(&label, rejected, input.as_ref())?;
            batch = out;
        }
        Ok(batch)
    }

    /// Records rejections as skipped rows, or fails with the first one's message. `input` is
    /// the batch the rows were rejected from, when known.
    fn rejected(
        &mut self,
        label: &str,
        rejected: Vec<Rejection>,
        input: Option<&Batch>,
    ) -> Result<(), StoreError> {
        let Some(first) = rejected.first() else {
            return Ok(());
        };
        let Some(skips) = &self.skips else {
            return Err(StoreError::new(format!(
                "{label}: the plugin rejected row {} ({}){}; set enableSkipIncompatibleRow to skip rejected rows",
                first.row,
                first.message,
                if rejected.len() > 1 {
                    format!(" and {} more rows of that batch", rejected.len() - 1)
                } else {
                    String::new()
                }
            )));
        };
        for r in &rejected {
            let item = input
                .filter(|b| r.row < b.num_rows())
                .map(|b| crate::stores::postgres::bisect::render_values(b.row(r.row)))
                .unwrap_or_default();
            skips.record(
                OPERATION,
                &item,
                &format!("{label}, row {}: {}", r.row, r.message),
            );
        }
        Ok(())
    }
}
