//! A run's plugins: the tenant's uploaded components (for the run's factory), written once per
//! content hash into a folder of this worker's cache that only this tenant's runs read, and
//! served by the worker's one shared [`PluginRuntime`] under the tenant's limits. Two tenants
//! may upload different plugins under the same name: each sees only its own folder.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::execute::{plugin_tenant, ExecuteError};
use super::Shared;
use crate::engine::PluginHost;
use crate::service::control::{RunRow, TenantInfo};

/// The plugin host for `run`: the folder of its factory's plugins, refreshed from the control
/// database (a version re-uploaded with other bytes replaces the file).
pub async fn host_for(
    shared: &Shared,
    tenant: &TenantInfo,
    run: &RunRow,
) -> Result<Arc<PluginHost>, ExecuteError> {
    let dir = folder(shared, run);
    let listed = shared
        .control
        .factory_plugins(run.tenant_id, &run.resource_group, &run.factory)
        .await?;
    let setup =
        |e: std::io::Error| ExecuteError::Setup(format!("plugin cache {}: {e}", dir.display()));
    tokio::fs::create_dir_all(&dir).await.map_err(setup)?;
    for p in listed {
        let file = dir.join(format!("{}@{}.wasm", p.name, p.version));
        if file_hash(&file).await.as_deref() == Some(p.sha256.as_str()) {
            continue;
        }
        let Some(bytes) = shared
            .control
            .plugin_bytes(run.tenant_id, &p.sha256)
            .await?
        else {
            continue;
        };
        // Written aside, then renamed: a run reading the folder never sees half a file.
        let tmp = dir.join(format!(
            ".{}@{}.{}.tmp",
            p.name,
            p.version,
            uuid::Uuid::new_v4()
        ));
        tokio::fs::write(&tmp, &bytes).await.map_err(setup)?;
        tokio::fs::rename(&tmp, &file).await.map_err(setup)?;
    }
    Ok(Arc::new(PluginHost::with_runtime(
        vec![dir],
        plugin_tenant(tenant),
        shared.runtime.clone(),
    )))
}

/// `<cache>/tenants/<tenant id>/<hash of resource group and factory>`: names the tenant chose
/// never become path segments.
fn folder(shared: &Shared, run: &RunRow) -> PathBuf {
    let key = format!(
        "{}\n{}",
        run.resource_group.to_lowercase(),
        run.factory.to_lowercase()
    );
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    shared
        .config
        .cache_dir
        .join("tenants")
        .join(run.tenant_id.to_string())
        .join(&hash[..16])
}

async fn file_hash(path: &std::path::Path) -> Option<String> {
    let bytes = tokio::fs::read(path).await.ok()?;
    Some(hex::encode(Sha256::digest(&bytes)))
}
