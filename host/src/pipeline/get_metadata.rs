//! The GetMetadata activity at run time: the fields of a [`GetMetadataPlan`] read from a file
//! store (a file or a folder, local or in Blob Storage) or from PostgreSQL (a table), in ADF's
//! output shape: `itemName`, `itemType`, `size`, `created`, `lastModified` (ISO 8601, UTC),
//! `childItems` (`[{"name", "type": "File"|"Folder"}]`), `contentMD5` (base64), `structure`
//! (`[{"name", "type"}]` with ADF's interim type names), `columnCount` and `exists`.
//!
//! As in ADF, a missing item gives `{"exists": false}` when `exists` is asked for, and fails
//! otherwise; a field that does not apply to the item (a folder's `size`, a file's
//! `childItems`) fails naming the field.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value as Json};

use crate::model::dataset::Dataset;
use crate::model::files::location::Selection;
use crate::model::files::{FileDataset, FileRead};
use crate::model::get_metadata::{Field, GetMetadataPlan};
use crate::model::lookup::MAX_OUTPUT_BYTES;
use crate::model::pg_endpoint::PgEndpoint;
use crate::stores::files::items::{Item, ItemType};
use crate::stores::files::location::OpenStore;
use crate::stores::files::FileSource;
use crate::stores::postgres::connect::connect;
use crate::stores::postgres::types::data_type_of;
use crate::stores::{Source, StoreError, StoreErrorKind};
use crate::types::ident::TableName;
use crate::types::schema::Schema;

/// Runs a GetMetadata activity to its output.
pub async fn run_get_metadata(plan: &GetMetadataPlan) -> Result<Json, StoreError> {
    match &plan.dataset {
        Dataset::File { name, file } => file_metadata(plan, name, file)
            .await
            .map_err(|e| e.context(format_args!("dataset '{name}'"))),
        Dataset::PgTable {
            name,
            endpoint,
            table,
        } => {
            let Some(table) = table else {
                return Err(StoreError::with_kind(
                    StoreErrorKind::Definition,
                    format!("dataset '{name}' names no table"),
                ));
            };
            table_metadata(plan, endpoint, table)
                .await
                .map_err(|e| e.context(format_args!("dataset '{name}'")))
        }
    }
}

/// ISO 8601 in UTC, to the second, as ADF shows `lastModified` (`2017-02-23T06:17:09Z`).
fn iso(t: Option<DateTime<Utc>>) -> Json {
    t.map_or(Json::Null, |t| {
        Json::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    })
}

fn not_applicable(field: Field, item: &Item) -> StoreError {
    StoreError::with_kind(
        StoreErrorKind::Definition,
        format!(
            "fieldList '{}' does not apply to {} '{}' (it is a {})",
            field.name(),
            item.item_type.name().to_lowercase(),
            item.name,
            item.item_type.name().to_lowercase()
        ),
    )
}

async fn file_metadata(
    plan: &GetMetadataPlan,
    name: &str,
    file: &FileDataset,
) -> Result<Json, StoreError> {
    let loc = &file.location;
    let store = loc.open()?;
    let Some(item) = store.item(&loc.folder, loc.file_name.as_deref()).await? else {
        if plan.wants(Field::Exists) {
            return Ok(json!({ "exists": false }));
        }
        let what = match &loc.file_name {
            Some(f) => format!(
                "file '{}'",
                crate::stores::files::items::join(&loc.folder, f)
            ),
            None => format!("folder '{}'", loc.folder),
        };
        return Err(StoreError::with_kind(
            StoreErrorKind::NotFound,
            format!(
                "{}: {what} does not exist (add 'exists' to fieldList to test for it)",
                store.describe()
            ),
        ));
    };
    let is_file = item.item_type == ItemType::File;
    let mut out = Map::new();
    for &field in &plan.fields {
        let value =
            match field {
                Field::Exists => Json::Bool(true),
                Field::ItemName => Json::String(item.name.clone()),
                Field::ItemType => Json::String(item.item_type.name().into()),
                Field::Size => match item.size {
                    Some(s) if is_file => Json::from(s),
                    _ => return Err(not_applicable(field, &item)),
                },
                Field::Created => match &store {
                    OpenStore::Blob { .. } => return Err(StoreError::with_kind(
                        StoreErrorKind::Definition,
                        "fieldList 'created' is not available from Azure Blob Storage (as in ADF)",
                    )),
                    OpenStore::Local { .. } => iso(item.created),
                },
                Field::LastModified => iso(item.modified),
                Field::ChildItems => {
                    if is_file {
                        return Err(not_applicable(field, &item));
                    }
                    child_items(&store, &loc.folder, &plan.selection).await?
                }
                Field::ContentMd5 => {
                    if !is_file {
                        return Err(not_applicable(field, &item));
                    }
                    let digest = store.md5(&item.key).await?;
                    Json::String(base64::engine::general_purpose::STANDARD.encode(digest))
                }
                Field::Structure | Field::ColumnCount => {
                    if !is_file {
                        return Err(not_applicable(field, &item));
                    }
                    let schema = file_schema(name, file).await?;
                    if field == Field::ColumnCount {
                        Json::from(schema.len())
                    } else {
                        structure(&schema)
                    }
                }
            };
        out.insert(field.name().to_string(), value);
    }
    within_limit(Json::Object(out))
}

/// ADF's limit on GetMetadata's output (4 MB): a folder with too many children fails rather
/// than handing the pipeline an output ADF could not.
fn within_limit(out: Json) -> Result<Json, StoreError> {
    let size = out.to_string().len();
    if size > MAX_OUTPUT_BYTES {
        return Err(StoreError::new(format!(
            "the metadata is {size} bytes, over ADF's {} MB limit for GetMetadata; point the dataset at a folder with fewer items",
            MAX_OUTPUT_BYTES / (1024 * 1024)
        )));
    }
    Ok(out)
}

/// A folder's direct children; with `modifiedDatetimeStart`/`End`, only the files modified in
/// that range and no folders (ADF's documented behaviour).
async fn child_items(store: &OpenStore, folder: &str, sel: &Selection) -> Result<Json, StoreError> {
    let filtered = sel.modified_start.is_some() || sel.modified_end.is_some();
    let items: Vec<Json> = store
        .children(folder)
        .await?
        .into_iter()
        .filter(|c| {
            if !filtered {
                return true;
            }
            c.item_type == ItemType::File
                && c.modified.is_some_and(|m| {
                    sel.modified_start.is_none_or(|s| m >= s)
                        && sel.modified_end.is_none_or(|e| m < e)
                })
        })
        .map(|c| json!({"name": c.name, "type": c.item_type.name()}))
        .collect();
    Ok(Json::Array(items))
}

/// The columns of the dataset's file, read as a Copy source reads it (the DelimitedText
/// header, the Parquet schema).
async fn file_schema(name: &str, file: &FileDataset) -> Result<std::sync::Arc<Schema>, StoreError> {
    let read = FileRead {
        dataset: file.clone(),
        selection: Selection::default(),
        additional_columns: Vec::new(),
    };
    let source = FileSource::open(name, &read, None).await?;
    Ok(source.schema())
}

fn structure(schema: &Schema) -> Json {
    Json::Array(
        schema
            .columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.data_type.interim_name()}))
            .collect(),
    )
}

/// `exists`, `structure` and `columnCount` of a PostgreSQL table.
async fn table_metadata(
    plan: &GetMetadataPlan,
    endpoint: &PgEndpoint,
    table: &TableName,
) -> Result<Json, StoreError> {
    let client = connect(endpoint, "sluice getmetadata").await?;
    let quoted = table.quoted();
    // The name is bound as a value; to_regclass resolves it as the server would (search_path
    // for an unqualified name) and gives NULL when there is no such table.
    let found: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&quoted])
        .await
        .map_err(|e| StoreError::postgres(format_args!("cannot look up table {quoted}"), &e))?
        .get(0);
    if found.is_none() {
        if plan.wants(Field::Exists) {
            return Ok(json!({ "exists": false }));
        }
        return Err(StoreError::with_kind(
            StoreErrorKind::NotFound,
            format!("table {quoted} does not exist (add 'exists' to fieldList to test for it)"),
        ));
    }
    let mut out = Map::new();
    let needs_columns = plan.wants(Field::Structure) || plan.wants(Field::ColumnCount);
    let columns: Vec<(String, String)> = if needs_columns {
        let stmt = client
            .prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))
            .await
            .map_err(|e| {
                StoreError::postgres(format_args!("cannot describe table {quoted}"), &e)
            })?;
        stmt.columns()
            .iter()
            .map(|c| {
                let ty = data_type_of(c.type_())
                    .map_or_else(|| "String".to_string(), |t| t.interim_name());
                (c.name().to_string(), ty)
            })
            .collect()
    } else {
        Vec::new()
    };
    for &field in &plan.fields {
        let value = match field {
            Field::Exists => Json::Bool(true),
            Field::ColumnCount => Json::from(columns.len()),
            Field::Structure => Json::Array(
                columns
                    .iter()
                    .map(|(n, t)| json!({"name": n, "type": t}))
                    .collect(),
            ),
            other => {
                return Err(StoreError::with_kind(
                    StoreErrorKind::Definition,
                    format!("fieldList '{}' does not apply to a table", other.name()),
                ))
            }
        };
        out.insert(field.name().to_string(), value);
    }
    Ok(Json::Object(out))
}
