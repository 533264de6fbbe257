//! The GetMetadata activity, read from ADF's JSON into a [`GetMetadataPlan`] without touching
//! any store: the dataset (a file or folder of a file dataset, or a PostgreSQL table), the
//! `fieldList` and the `storeSettings` filters. Which field fits which dataset is checked here,
//! so `sluice validate` reports a `childItems` asked of a table before anything runs.
//!
//! Shapes follow ADF's documentation page "Get Metadata activity in Azure Data Factory"
//! (learn.microsoft.com/azure/data-factory/control-flow-get-metadata-activity).

use serde_json::Value;

use super::dataset::{self, Dataset};
use super::error::ModelError;
use super::files::location::Selection;
use super::load::Factory;
use super::params::Scope;
use super::props::Props;

/// One `fieldList` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ItemName,
    ItemType,
    Size,
    Created,
    LastModified,
    ChildItems,
    ContentMd5,
    Structure,
    ColumnCount,
    Exists,
}

impl Field {
    const ALL: [Field; 10] = [
        Field::ItemName,
        Field::ItemType,
        Field::Size,
        Field::Created,
        Field::LastModified,
        Field::ChildItems,
        Field::ContentMd5,
        Field::Structure,
        Field::ColumnCount,
        Field::Exists,
    ];

    /// ADF's name, which is also the output's key.
    pub fn name(self) -> &'static str {
        match self {
            Field::ItemName => "itemName",
            Field::ItemType => "itemType",
            Field::Size => "size",
            Field::Created => "created",
            Field::LastModified => "lastModified",
            Field::ChildItems => "childItems",
            Field::ContentMd5 => "contentMD5",
            Field::Structure => "structure",
            Field::ColumnCount => "columnCount",
            Field::Exists => "exists",
        }
    }

    fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The fields a relational table has (ADF's "Relational database" table).
    fn fits_table(self) -> bool {
        matches!(self, Field::Structure | Field::ColumnCount | Field::Exists)
    }
}

/// A resolved GetMetadata activity.
#[derive(Debug, Clone)]
pub struct GetMetadataPlan {
    pub dataset: Dataset,
    /// The fields asked for, in `fieldList` order, without repeats.
    pub fields: Vec<Field>,
    /// `storeSettings`: `modifiedDatetimeStart`/`End` filter a folder's `childItems` (files
    /// only, as in ADF). Wildcards are refused: ADF does not support them here.
    pub selection: Selection,
}

impl GetMetadataPlan {
    pub fn wants(&self, f: Field) -> bool {
        self.fields.contains(&f)
    }
}

/// Resolves a GetMetadata activity's JSON (`activity` is the whole activity object).
pub fn resolve(
    factory: &Factory,
    activity: &Value,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<GetMetadataPlan, ModelError> {
    let tp_value = dataset::activity_type_properties(activity, at, scope)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let ds = dataset::referenced(
        factory,
        &tp,
        at,
        scope,
        warnings,
        "the dataset whose metadata to get",
    )?;
    let list = tp
        .array("fieldList")?
        .ok_or_else(|| tp.err("fieldList", "is required: the metadata to get"))?;
    let mut fields = Vec::new();
    for item in list {
        let Some(name) = item.as_str() else {
            if scope.lenient {
                continue;
            }
            return Err(tp.err("fieldList", format!("{item} is not a field name")));
        };
        let field = match Field::parse(name) {
            Some(f) => f,
            // An expression left for the run to evaluate.
            None if scope.lenient && name.starts_with('@') => continue,
            None => {
                let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                return Err(tp.err(
                    "fieldList",
                    format!(
                        "'{name}' is not a metadata field (known: {})",
                        known.join(", ")
                    ),
                ));
            }
        };
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    if fields.is_empty() && !scope.lenient {
        return Err(tp.err("fieldList", "names no field"));
    }
    let mut selection = Selection::default();
    match &ds {
        Dataset::PgTable { name, table, .. } => {
            if let Some(f) = fields.iter().find(|f| !f.fits_table()) {
                return Err(tp.err(
                    "fieldList",
                    format!(
                        "'{}' does not apply to table dataset '{name}' (a table has structure, columnCount and exists)",
                        f.name()
                    ),
                ));
            }
            if table.is_none() {
                return Err(tp.err(
                    "dataset",
                    format!("dataset '{name}' names no table (typeProperties.schema and table)"),
                ));
            }
            for k in ["storeSettings", "formatSettings"] {
                if tp.get(k).is_some() {
                    warnings.push(format!(
                        "{at} typeProperties.{k}: ignored for table dataset '{name}'"
                    ));
                    tp.accept(k);
                }
            }
        }
        Dataset::File { name, file } => {
            let store = tp.object("storeSettings")?;
            selection = Selection::from_props(store.as_ref(), file.location.path_kind())?;
            if let Some(s) = &store {
                s.accept("enablePartitionDiscovery");
                if selection.wildcard_file.is_some() || selection.wildcard_folder.is_some() {
                    return Err(s.err(
                        "wildcardFileName",
                        "wildcards are not supported by GetMetadata (as in ADF); name the folder in the dataset and filter its childItems with a Filter activity",
                    ));
                }
                warnings.extend(s.unused());
            }
            if let Some(fs) = tp.object("formatSettings")? {
                for k in ["type", "skipLineCount", "compressionProperties"] {
                    fs.accept(k);
                }
                warnings.extend(fs.unused());
            }
            let columns = fields
                .iter()
                .find(|f| matches!(f, Field::Structure | Field::ColumnCount));
            if let (Some(f), "Json" | "Binary") = (columns, file.format.type_label()) {
                return Err(tp.err(
                    "fieldList",
                    format!(
                        "'{}' is not supported for {} dataset '{name}' (ADF reads columns only from DelimitedText and Parquet files)",
                        f.name(),
                        file.format.type_label()
                    ),
                ));
            }
        }
    }
    warnings.extend(tp.unused());
    Ok(GetMetadataPlan {
        dataset: ds,
        fields,
        selection,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn factory() -> Factory {
        let defs = json!([
            {"name": "Files", "properties": {"type": "FileServer", "typeProperties": {"host": "/data"}}},
            {"name": "Pg", "properties": {"type": "AzurePostgreSql", "typeProperties": {
                "connectionString": "Server=127.0.0.1;Database=test;Port=5432;UID=postgres"}}},
            {"name": "J", "properties": {"type": "Json",
                "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
                "typeProperties": {"location": {"type": "FileServerLocation", "folderPath": "in", "fileName": "a.json"}}}},
            {"name": "T", "properties": {"type": "AzurePostgreSqlTable",
                "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                "typeProperties": {"schema": "s", "table": "t"}}}
        ]);
        Factory::from_json_text(Path::new("/f/factory.json"), &defs.to_string()).unwrap()
    }

    fn resolve_tp(tp: Value) -> Result<GetMetadataPlan, ModelError> {
        let activity = json!({"name": "M", "type": "GetMetadata", "typeProperties": tp});
        resolve(
            &factory(),
            &activity,
            "activity 'M'",
            &Scope::default(),
            &mut Vec::new(),
        )
    }

    fn on(ds: &str, fields: Value) -> Value {
        json!({"dataset": {"referenceName": ds, "type": "DatasetReference"}, "fieldList": fields})
    }

    #[test]
    fn fields_in_order_without_repeats() {
        let plan = resolve_tp(on("J", json!(["size", "exists", "size", "contentMD5"]))).unwrap();
        assert_eq!(plan.fields, [Field::Size, Field::Exists, Field::ContentMd5]);
        let plan = resolve_tp(on("T", json!(["structure", "columnCount", "exists"]))).unwrap();
        assert!(plan.wants(Field::ColumnCount));
    }

    #[test]
    fn refuses_what_adf_refuses() {
        let cases = [
            (on("J", json!(["sizes"])), "'sizes' is not a metadata field"),
            (on("J", json!([])), "names no field"),
            (
                on("J", json!(["structure"])),
                "not supported for Json dataset 'J'",
            ),
            (
                on("T", json!(["childItems"])),
                "'childItems' does not apply to table dataset 'T'",
            ),
            (json!({"fieldList": ["exists"]}), "dataset"),
        ];
        for (tp, needle) in cases {
            let e = resolve_tp(tp).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let mut tp = on("J", json!(["childItems"]));
        tp["storeSettings"] =
            json!({"type": "FileServerReadSettings", "wildcardFileName": "*.csv"});
        let e = resolve_tp(tp).unwrap_err().to_string();
        assert!(e.contains("wildcards are not supported"), "{e}");
    }
}
