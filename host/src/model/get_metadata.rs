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
use super::params::{substitute, Scope};
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
    let act = Props::of(at.to_string(), activity)?;
    let tp_value = substitute(act.get("typeProperties").unwrap_or(&Value::Null), scope, at)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let reference = tp
        .get("dataset")
        .ok_or_else(|| tp.err("dataset", "is required: the dataset whose metadata to get"))?;
    let ds = dataset::resolve(
        factory,
        reference,
        &format!("{at} typeProperties.dataset"),
        scope,
        warnings,
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
