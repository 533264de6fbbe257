//! Compiled code for a plugin's wasm: from the in-memory map, else the on-disk cache, else a
//! fresh compile (then written to the disk cache, atomically, in a directory private to the
//! user). Keyed by the wasm's sha256 and, on disk, the engine's compatibility hash; a component
//! that does not export the transform interface is refused here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use super::{export_names, wt, Compiled, LoadSource, PluginRuntime};
use crate::plugins::bindings::PluginPre;
use crate::plugins::PluginError;

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
