//! What `sluice plugin inspect` shows about a plugin file: the guest's own `info()` (called
//! in a throwaway instance) and the component's WIT package, world, imports and exports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::epoch::run_guarded;
use super::traps::{classify, Site};
use super::{export_names, LoadedPlugin, PluginRuntime, RuntimeConfig};
use crate::plugins::guest_text::{one_line, GUEST_TEXT_MAX};
use crate::plugins::{Call, PluginError, Tenant, WIT_PACKAGE, WIT_VERSION};

/// What `sluice plugin inspect` shows about a file. Serialized in camelCase
/// (`packageVersion`), like the run output and the REST API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
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

impl PluginRuntime {
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
            // The guest's own words, shown on a terminal: one line each, cut to size.
            name: one_line(&info.name, GUEST_TEXT_MAX),
            version: one_line(&info.version, GUEST_TEXT_MAX),
            description: one_line(&info.description, GUEST_TEXT_MAX),
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
