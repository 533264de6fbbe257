//! Compiled code for a plugin's wasm: from the in-memory map, else the on-disk cache (a file
//! whose keyed seal holds, see `trust`), else a fresh compile under the tenant's caps (then
//! sealed and written to the disk cache, atomically, 0600). Keyed by the wasm's sha256 and, on
//! disk, the engine's compatibility hash; a component that does not export the transform
//! interface is refused here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Component;

use super::compile::compile_bounded;
use super::trust::DiskCache;
use super::{export_names, wt, Compiled, LoadSource, PluginRuntime};
use crate::plugins::bindings::PluginPre;
use crate::plugins::{CompileLimits, PluginError};

/// The export every plugin must provide.
const TRANSFORM_EXPORT: &str = "sluice:plugin/transform@0.1.0";

impl PluginRuntime {
    /// Memory map, then disk cache, then compile. Keyed by content hash, so a file replaced
    /// on disk is recompiled on its next load while unchanged files are not.
    #[allow(clippy::type_complexity)]
    pub(super) fn compiled_for(
        &self,
        id: &str,
        path: &Path,
        sha256: &str,
        bytes: &[u8],
        limits: &CompileLimits,
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
        let cache = inner.cache.as_ref();
        let cache_file = cache.map(|c| c.dir.join(format!("{sha256}-{}.cwasm", inner.engine_key)));

        let mut from_disk = None;
        if let (Some(cache), Some(file)) = (cache, cache_file.as_ref().filter(|f| f.is_file())) {
            from_disk = self.read_cached(cache, file, sha256);
        }
        let (component, source, compile) = match from_disk {
            Some(c) => (c, LoadSource::Disk, None),
            None => {
                let (c, took) =
                    compile_bounded(&inner.engine, &inner.compile_slots, id, path, bytes, limits)?;
                if let (Some(cache), Some(file)) = (cache, &cache_file) {
                    if let Err(e) = self.store_in_cache(cache, &c, file, sha256) {
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
}

impl PluginRuntime {
    /// The component in a cache file, when its seal holds for this engine and this wasm;
    /// otherwise `None` (with a warning) and the caller recompiles and replaces the file.
    fn read_cached(&self, cache: &DiskCache, file: &Path, sha256: &str) -> Option<Component> {
        // Read into memory rather than `deserialize_file`: that maps the file and runs the
        // mapping's pages as code for as long as the component lives, so anything that later
        // rewrote the file in place (a truncation, an I/O error on page-in) would crash the host
        // with SIGBUS or change the code it runs. A copy cannot change under us.
        let sealed = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(
                    "cannot read plugin cache file {}: {e}; recompiling",
                    file.display()
                );
                return None;
            }
        };
        let code = match cache.unseal(&self.inner.engine_key, sha256, &sealed) {
            Ok(code) => code,
            Err(why) => {
                tracing::warn!(
                    "ignoring plugin cache file {}: {why}; recompiling",
                    file.display()
                );
                return None;
            }
        };
        // SAFETY: `deserialize` trusts the bytes to be wasmtime's own output, because the
        // machine code in them is made executable without verification. That holds here: the
        // seal just checked is an HMAC under this installation's secret key (readable only by
        // this user, in a directory only this user can change) over the engine's compatibility
        // key, this wasm's sha256 and these very bytes, and only `store_in_cache` below makes
        // seals, over `Component::serialize` of this engine for that wasm. So the bytes are
        // this installation's compile of exactly this plugin by a compatible engine (wasmtime
        // additionally checks its header and refuses incompatible files).
        match unsafe { Component::deserialize(&self.inner.engine, code) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(
                    "ignoring unusable plugin cache file {}: {e}; recompiling",
                    file.display()
                );
                None
            }
        }
    }

    /// Seals compiled code and writes it atomically (a private temp file, then rename).
    fn store_in_cache(
        &self,
        cache: &DiskCache,
        component: &Component,
        file: &Path,
        sha256: &str,
    ) -> anyhow::Result<()> {
        let code = component.serialize().map_err(wt)?;
        let sealed = cache
            .seal(&self.inner.engine_key, sha256, &code)
            .map_err(anyhow::Error::msg)?;
        cache.write(file, &sealed)?;
        Ok(())
    }
}
