//! Definitions checked on PUT with the same code as `sluice validate`: the factory is built in
//! memory from its stored definitions (linked services' secrets opened in memory only) plus
//! the one being PUT, and the errors that appear because of it (present with it, absent
//! without it) are a 400 naming the object and property. Dangling references count, as in ADF;
//! so does a DELETE that would leave others referring to the deleted object. Secret values are
//! masked in every message.

use serde_json::Value;

use super::{ApiError, Ctx, FactoryAt};
use crate::model::load::{Factory, Kind as ModelKind};
use crate::service::control::crypto::{linked_service_aad, MASK};
use crate::service::control::Kind;

/// A factory held in memory, and the secret values in it (to mask in messages).
pub(crate) struct Loaded {
    pub factory: Factory,
    pub secrets: Vec<String>,
}

impl Loaded {
    /// `text` with every secret value replaced by the mask.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if !s.is_empty() {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Adds (or replaces, whatever the case of its name) a definition.
    /// Triggers are not part of the planned factory (they are checked by
    /// `api::triggers`), so they are left out.
    pub fn put(&mut self, kind: Kind, name: &str, properties: Value) {
        let Some(mk) = model_kind(kind) else {
            return;
        };
        collect_secrets(&properties, &mut self.secrets);
        self.remove(kind, name);
        self.factory
            .insert_definition(mk, name, properties, format!("{}/{name}", kind_path(kind)));
    }

    pub fn remove(&mut self, kind: Kind, name: &str) {
        let map = match model_kind(kind) {
            Some(ModelKind::LinkedService) => &mut self.factory.linked_services,
            Some(ModelKind::Dataset) => &mut self.factory.datasets,
            Some(ModelKind::Pipeline) => &mut self.factory.pipelines,
            None => return,
        };
        map.retain(|k, _| !k.eq_ignore_ascii_case(name));
    }
}

/// The path segment of a kind.
pub(crate) fn kind_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Pipelines => "pipelines",
        Kind::Datasets => "datasets",
        Kind::LinkedServices => "linkedservices",
        Kind::Triggers => "triggers",
    }
}

/// The singular label of a kind in messages.
pub(crate) fn kind_label(kind: Kind) -> &'static str {
    model_kind(kind).map_or("trigger", ModelKind::label)
}

/// The model's kind of a definition; `None` for triggers, which the planner does not load.
fn model_kind(kind: Kind) -> Option<ModelKind> {
    match kind {
        Kind::Pipelines => Some(ModelKind::Pipeline),
        Kind::Datasets => Some(ModelKind::Dataset),
        Kind::LinkedServices => Some(ModelKind::LinkedService),
        Kind::Triggers => None,
    }
}

/// The factory's stored definitions, linked services' secrets opened.
pub(crate) async fn load(ctx: &Ctx<'_>, f: &FactoryAt) -> Result<Loaded, ApiError> {
    let rows = ctx
        .api
        .control
        .factory_definitions(ctx.tenant.id, &f.rg, &f.name)
        .await?;
    let mut loaded = Loaded {
        // FileServer hosts are checked as the workers resolve them: under a tenant root (any
        // folder will do for planning, which never touches it).
        factory: Factory {
            files_root: Some(std::path::PathBuf::from("/tenant-files")),
            ..Factory::default()
        },
        secrets: Vec::new(),
    };
    for row in rows {
        let mut body = row.body;
        if row.kind == Kind::LinkedServices {
            let aad = linked_service_aad(ctx.tenant.id, &f.name, &row.name);
            ctx.api
                .config
                .master_key
                .open_secure_strings(&mut body, &aad)?;
        }
        let properties = body.get("properties").cloned().unwrap_or(Value::Null);
        loaded.put(row.kind, &row.name, properties);
    }
    Ok(loaded)
}

/// Refuses a PUT whose definition brings errors into the factory.
pub(crate) async fn check_put(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    kind: Kind,
    name: &str,
    properties: &Value,
) -> Result<(), ApiError> {
    let mut loaded = load(ctx, f).await?;
    loaded.remove(kind, name);
    let new = errors_added(&mut loaded, |l| l.put(kind, name, properties.clone()));
    if new.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "InvalidDefinition",
            message: format!(
                "{} '{name}' is not valid: {}",
                kind_label(kind),
                new.join("; ")
            ),
        })
    }
}

/// Every SecureString value in `json`.
fn collect_secrets(json: &Value, out: &mut Vec<String>) {
    match json {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("SecureString") {
                if let Some(Value::String(v)) = map.get("value") {
                    if v != MASK {
                        out.push(v.clone());
                    }
                }
            }
            for v in map.values() {
                collect_secrets(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, out)),
        _ => {}
    }
}

/// Refuses a DELETE that would leave other definitions referring to a missing one (the errors
/// that appear without it), naming them.
pub(crate) async fn check_delete(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    kind: Kind,
    name: &str,
) -> Result<(), ApiError> {
    let mut loaded = load(ctx, f).await?;
    let new = errors_added(&mut loaded, |l| l.remove(kind, name));
    if new.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "ReferencedByOtherResources",
            message: format!(
                "{} '{name}' is still referred to: {}",
                kind_label(kind),
                new.join("; ")
            ),
        })
    }
}

/// The validation errors (masked) that `change` adds to the factory: only what the request
/// itself breaks counts, not what was wrong before it.
fn errors_added(loaded: &mut Loaded, change: impl FnOnce(&mut Loaded)) -> Vec<String> {
    let before = crate::engine::validate(&loaded.factory).errors;
    change(loaded);
    let after = crate::engine::validate(&loaded.factory).errors;
    after
        .iter()
        .filter(|e| !before.contains(e))
        .map(|e| loaded.redact(e))
        .collect()
}
