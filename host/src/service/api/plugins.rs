//! A tenant's plugins (a Sluice extension under the factory path):
//! `PUT .../plugins/{name}/versions/{version}` with the component's bytes, GET (metadata),
//! lists, DELETE. An upload is checked before it is stored: a WebAssembly component of the
//! `sluice:plugin` world whose `info()` names this name and version (compiled once, in a
//! throwaway runtime, at most two at a time).

use std::sync::OnceLock;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::factories::factory_id;
use super::{empty, ok_json, time, ApiError, Ctx, FactoryAt};
use crate::service::control::PluginRow;

/// Uploads inspected at once (each compiles a component).
const INSPECTIONS: usize = 2;

pub(crate) async fn one(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    name: &str,
    version: &str,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let control = &ctx.api.control;
    let tenant = ctx.tenant.id;
    match ctx.method {
        Method::PUT => {
            check_name(name)?;
            check_version(version)?;
            super::factories::require(ctx, f).await?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let description = inspect(bytes.clone()).await?;
            if !description.name.eq_ignore_ascii_case(name) || description.version != version {
                return Err(invalid(format!(
                    "the component says it is {}@{}, not {name}@{version}",
                    description.name, description.version
                )));
            }
            let row = control
                .put_plugin(tenant, &f.rg, &f.name, name, version, &bytes, &sha256)
                .await?;
            tracing::info!(plugin = name, version, sha256 = %sha256, size = bytes.len(), "plugin stored");
            let mut out = plugin_json(ctx, f, &row);
            out["properties"]["description"] = json!(description.description);
            out["properties"]["world"] = json!(description.world);
            out["properties"]["exports"] = json!(description.exports);
            out["properties"]["imports"] = json!(description.imports);
            ok_json(out)
        }
        Method::GET => match control
            .get_plugin(tenant, &f.rg, &f.name, name, version)
            .await?
        {
            Some(row) => ok_json(plugin_json(ctx, f, &row)),
            None => Err(ApiError::NotFound(format!(
                "the plugin '{name}' version '{version}' was not found in factory '{}'",
                f.name
            ))),
        },
        Method::DELETE => {
            super::factories::require(ctx, f).await?;
            if control
                .delete_plugin(tenant, &f.rg, &f.name, name, version)
                .await?
            {
                empty(StatusCode::OK)
            } else {
                empty(StatusCode::NO_CONTENT)
            }
        }
        _ => Err(ctx.not_allowed("plugin")),
    }
}

/// Every plugin version of the factory, or of one plugin name.
pub(crate) async fn list(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    if ctx.method != Method::GET {
        return Err(ctx.not_allowed("plugins"));
    }
    let control = &ctx.api.control;
    super::factories::require(ctx, f).await?;
    let page = control
        .list_plugins(
            ctx.tenant.id,
            &f.rg,
            &f.name,
            name,
            ctx.query("$skipToken"),
            ctx.api.config.page_size,
        )
        .await?;
    ctx.list_answer(
        &page,
        |r| plugin_json(ctx, f, r),
        || {
            let path = format!("{}/plugins", factory_id(ctx, &f.rg, &f.name));
            match name {
                Some(n) => format!("{path}/{}/versions", super::paths::encode(n)),
                None => path,
            }
        },
    )
}

fn plugin_json(ctx: &Ctx<'_>, f: &FactoryAt, row: &PluginRow) -> Value {
    json!({
        "id": format!("{}/plugins/{}/versions/{}", factory_id(ctx, &f.rg, &f.name), row.name, row.version),
        "name": format!("{}/{}", row.name, row.version),
        "type": "Microsoft.DataFactory/factories/plugins/versions",
        "properties": {
            "name": row.name,
            "version": row.version,
            "sha256": row.sha256,
            "size": row.size,
            "createdAt": time(&row.created_at),
        },
    })
}

/// Compiles the component in a throwaway runtime and calls its `info()`.
async fn inspect(bytes: Bytes) -> Result<crate::plugins::PluginDescription, ApiError> {
    static GATE: OnceLock<Semaphore> = OnceLock::new();
    let gate = GATE.get_or_init(|| Semaphore::new(INSPECTIONS));
    let _permit = gate
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("plugin inspection gate: {e}")))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(invalid("the body is not a WebAssembly binary".into()));
    }
    let described = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("upload.wasm");
        std::fs::write(&path, &bytes)?;
        crate::plugins::inspect(&path)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("plugin inspection task: {e}")))?;
    let d = described.map_err(|e| invalid(format!("{e:#}")))?;
    if d.package != "sluice:plugin" {
        return Err(invalid(format!(
            "it implements {}, not sluice:plugin",
            d.world
        )));
    }
    Ok(d)
}

fn invalid(reason: String) -> ApiError {
    ApiError::BadRequest {
        code: "InvalidPlugin",
        message: format!("not a usable sluice:plugin component: {reason}"),
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    super::factories::name_rule(
        ok,
        "InvalidResourceName",
        "plugin name",
        name,
        "1 to 64 letters, digits, '-' or '_'",
    )
}

fn check_version(version: &str) -> Result<(), ApiError> {
    semver::Version::parse(version)
        .map(|_| ())
        .map_err(|e| ApiError::BadRequest {
            code: "InvalidResourceName",
            message: format!(
                "plugin version '{}' is not a semantic version: {e}",
                super::auth::truncate(version, 100)
            ),
        })
}
