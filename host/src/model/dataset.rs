//! Datasets: a table on a PostgreSQL linked service, or files (DelimitedText, Json, Parquet,
//! Binary) on a local folder or in Azure Blob Storage.

use serde_json::{Map, Value};

use super::error::ModelError;
use super::linked_service::{self, LinkedService};
use super::load::{Factory, Kind};
use super::params::{substitute, Scope};
use super::props::Props;
use crate::model::files::{FileDataset, FILE_DATASET_TYPES};
use crate::model::pg_endpoint::PgEndpoint;
use crate::types::ident::TableName;

/// Dataset types that name a PostgreSQL table.
pub const POSTGRES_TABLE_TYPES: [&str; 3] = [
    "AzurePostgreSqlTable",
    "PostgreSqlV2Table",
    "PostgreSqlTable",
];

/// A dataset with its linked service resolved.
#[derive(Debug, Clone)]
pub enum Dataset {
    PgTable {
        name: String,
        endpoint: PgEndpoint,
        table: Option<TableName>,
    },
    File {
        name: String,
        file: FileDataset,
    },
}

impl Dataset {
    pub fn name(&self) -> &str {
        match self {
            Dataset::PgTable { name, .. } | Dataset::File { name, .. } => name,
        }
    }

    pub fn type_label(&self) -> &'static str {
        match self {
            Dataset::PgTable { .. } => "AzurePostgreSqlTable",
            Dataset::File { file, .. } => file.format.type_label(),
        }
    }
}

/// The linked service `name`, referenced from `from` with the reference's `parameters`
/// (`given`, already evaluated), with `--connection` overrides applied. `linkedService().p`
/// inside it sees the declared defaults overridden by `given`.
pub fn linked(
    factory: &Factory,
    name: &str,
    given: Option<&Value>,
    from: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<LinkedService, ModelError> {
    let def = factory.get(Kind::LinkedService, name, from)?;
    if let Some(endpoint) = factory.pg_overrides.get(name) {
        let mut endpoint = endpoint.clone();
        endpoint.linked_service = Some(name.to_string());
        return Ok(LinkedService::Postgres(endpoint));
    }
    let at = format!("linked service '{name}' ({})", def.file.display());
    let declared = Props::of(at, &def.properties)?;
    let mut values = Map::new();
    if let Some(params) = declared.object("parameters")? {
        for (k, v) in params_defaults(&params)? {
            values.insert(k, v);
        }
    }
    if let Some(Value::Object(given)) = given {
        for (k, v) in given {
            values.insert(k.clone(), v.clone());
        }
    }
    // The caller's `pipeline()` too: system variables (`pipeline().RunId`, ...) resolve in
    // the context of the activity that uses the linked service.
    let ls_scope = Scope {
        linked_service: Value::Object(values),
        lenient: scope.lenient,
        secrets: scope.secrets.clone(),
        trigger: scope.trigger.clone(),
        ..Scope::with_pipeline(scope.pipeline.clone())
    };
    let props = substitute(&def.properties, &ls_scope, from)?;
    linked_service::parse(def, &props, &scope.secrets, warnings)
}

/// An activity's `typeProperties`, evaluated in `scope` (`null` when it has none), for the
/// activities that read one dataset (Lookup, GetMetadata, Delete).
pub fn activity_type_properties(
    activity: &Value,
    at: &str,
    scope: &Scope,
) -> Result<Value, ModelError> {
    substitute(
        activity.get("typeProperties").unwrap_or(&Value::Null),
        scope,
        at,
    )
}

/// The dataset `typeProperties.dataset` references, resolved in `scope`; `purpose` says what
/// the dataset is for when the property is missing.
pub fn referenced(
    factory: &Factory,
    tp: &Props<'_>,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
    purpose: &str,
) -> Result<Dataset, ModelError> {
    let reference = tp
        .get("dataset")
        .ok_or_else(|| tp.err("dataset", format!("is required: {purpose}")))?;
    resolve(
        factory,
        reference,
        &format!("{at} typeProperties.dataset"),
        scope,
        warnings,
    )
}

/// Resolves a `DatasetReference` (`{"referenceName": ..., "parameters": {...}}`) from `from`.
pub fn resolve(
    factory: &Factory,
    reference: &Value,
    from: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<Dataset, ModelError> {
    let reference = substitute(reference, scope, from)?;
    let refp = Props::of(from.to_string(), &reference)?;
    let name = refp.req_str("referenceName")?;
    refp.accept("type");
    let def = factory.get(Kind::Dataset, name, from)?;
    let at = format!("dataset '{name}' ({})", def.file.display());

    // Dataset parameters: declared defaults, overridden by the reference's values.
    let declared = Props::of(at.clone(), &def.properties)?;
    let mut values = Map::new();
    if let Some(params) = declared.object("parameters")? {
        for (k, v) in params_defaults(&params)? {
            values.insert(k, v);
        }
    }
    if let Some(Value::Object(given)) = refp.get("parameters") {
        for (k, v) in given {
            values.insert(k.clone(), v.clone());
        }
    }
    let ds_scope = Scope {
        dataset: Value::Object(values),
        lenient: scope.lenient,
        trigger: scope.trigger.clone(),
        ..Scope::with_pipeline(scope.pipeline.clone())
    };
    let properties = substitute(&def.properties, &ds_scope, &at)?;
    let props = Props::of(at.clone(), &properties)?;
    for k in [
        "description",
        "annotations",
        "parameters",
        "schema",
        "structure",
        "folder",
    ] {
        props.accept(k);
    }
    let ty = props.req_str("type")?;
    let ls_ref = props
        .object("linkedServiceName")?
        .ok_or_else(|| props.err("linkedServiceName", "is required"))?;
    let ls_name = ls_ref.req_str("referenceName")?;
    ls_ref.accept("type");
    let ls_params = ls_ref.get("parameters");
    let linked = linked(factory, ls_name, ls_params, &at, scope, warnings)?;
    let empty = Value::Object(Map::new());
    let tp = Props::of(
        format!("{at} typeProperties"),
        props.get("typeProperties").unwrap_or(&empty),
    )?;

    let ds = if POSTGRES_TABLE_TYPES.contains(&ty) {
        let LinkedService::Postgres(endpoint) = linked else {
            return Err(props.err(
                "linkedServiceName",
                format!(
                    "a {ty} dataset needs a PostgreSQL linked service, and '{ls_name}' is not one"
                ),
            ));
        };
        let schema = tp.str("schema")?;
        let table = tp.str("table")?;
        let table = match (schema, table, tp.str("tableName")?) {
            (_, Some(t), _) => Some(TableName {
                schema: schema.map(str::to_string),
                table: t.to_string(),
            }),
            (None, None, Some(qualified)) => {
                Some(TableName::parse(qualified).map_err(|e| tp.err("tableName", e))?)
            }
            (Some(s), None, Some(t)) => Some(TableName {
                schema: Some(s.to_string()),
                table: t.to_string(),
            }),
            (Some(_), None, None) => return Err(tp.err("table", "schema is given without a table")),
            (None, None, None) => None,
        };
        Dataset::PgTable {
            name: name.to_string(),
            endpoint,
            table,
        }
    } else if FILE_DATASET_TYPES.contains(&ty) {
        if !matches!(
            linked,
            LinkedService::Files { .. } | LinkedService::AzureBlob(_)
        ) {
            return Err(props.err("linkedServiceName", format!("a {ty} dataset needs a FileServer or AzureBlobStorage linked service, and '{ls_name}' is not one")));
        }
        Dataset::File {
            name: name.to_string(),
            file: FileDataset::from_props(ty, &tp, &linked, ls_name)?,
        }
    } else {
        return Err(props.err(
            "type",
            format!(
                "dataset type {ty:?} is not supported (supported: {}, {})",
                POSTGRES_TABLE_TYPES.join(", "),
                FILE_DATASET_TYPES.join(", ")
            ),
        ));
    };
    warnings.extend(refp.unused());
    warnings.extend(props.unused());
    warnings.extend(tp.unused());
    Ok(ds)
}

/// `{"p": {"type": "String", "defaultValue": ...}}` to the defaults that are given.
pub fn params_defaults(params: &Props<'_>) -> Result<Vec<(String, Value)>, ModelError> {
    let mut out = Vec::new();
    for key in params.keys() {
        let p = params
            .object(&key)?
            .ok_or_else(|| params.err(&key, "a parameter needs an object"))?;
        p.accept("type");
        if let Some(v) = p.get("defaultValue") {
            out.push((key.clone(), v.clone()));
        }
    }
    Ok(out)
}
