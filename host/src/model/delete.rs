//! The Delete activity, read from ADF's JSON into a [`DeletePlan`] without touching any store:
//! which files of a file dataset go (a file, a folder, or a wildcard `fileName`), the
//! `storeSettings` filters, `maxConcurrentConnections` and where the log file goes.
//!
//! Paths are confined to the dataset's store by the dataset itself; on top of that a plan that
//! would delete the whole root of a store (no folder, no file name, no wildcard) is refused:
//! the dataset must say so clearly, with a `fileName` (or `wildcardFileName`) such as `*`.
//!
//! Shapes follow ADF's documentation page "Delete Activity in Azure Data Factory"
//! (learn.microsoft.com/azure/data-factory/delete-activity).

use serde_json::Value;

use super::dataset::{self, Dataset};
use super::error::ModelError;
use super::fault_tolerance::LogFolder;
use super::files::location::{glob, Selection};
use super::files::FileDataset;
use super::load::Factory;
use super::params::Scope;
use super::props::Props;

/// `maxConcurrentConnections`' default (ADF: 1) and the most Sluice opens.
const DEFAULT_CONNECTIONS: usize = 1;
const MAX_CONNECTIONS: i64 = 64;

/// A resolved Delete activity.
#[derive(Debug, Clone)]
pub struct DeletePlan {
    /// The dataset's name, for messages and the output's `datasetName`.
    pub dataset_name: String,
    /// The dataset; a `fileName` with `*` or `?` has been moved to `selection.wildcard_file`.
    pub file: FileDataset,
    /// `recursive` (default false, as in ADF), wildcards and modified times.
    pub selection: Selection,
    pub max_concurrent_connections: usize,
    /// `enableLogging` with `logStorageSettings`: the folder the log goes in.
    pub log: Option<LogFolder>,
}

impl DeletePlan {
    /// Whether files are chosen by a wildcard rather than named.
    pub fn is_wildcard_used(&self) -> bool {
        self.selection.wildcard_file.is_some() || self.selection.wildcard_folder.is_some()
    }
}

/// Resolves a Delete activity's JSON (`activity` is the whole activity object).
pub fn resolve(
    factory: &Factory,
    activity: &Value,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<DeletePlan, ModelError> {
    let tp_value = dataset::activity_type_properties(activity, at, scope)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let ds = dataset::referenced(
        factory,
        &tp,
        at,
        scope,
        warnings,
        "the files or folder to delete",
    )?;
    let (dataset_name, mut file) = match ds {
        Dataset::File { name, file } => (name, file),
        Dataset::PgTable { name, .. } => {
            return Err(tp.err(
                "dataset",
                format!(
                "dataset '{name}' is a table; Delete removes files and folders of a file dataset"
            ),
            ))
        }
    };
    let store = tp.object("storeSettings")?;
    let mut selection = Selection::from_props(store.as_ref(), file.location.path_kind())?;
    // ADF's default is not to recurse; `recursive` may also sit on typeProperties (older form).
    let in_store = match &store {
        Some(s) => s.bool("recursive")?,
        None => None,
    };
    selection.recursive = in_store.or(tp.bool("recursive")?).unwrap_or(false);
    if let Some(s) = &store {
        s.accept("enablePartitionDiscovery");
        s.accept("deleteFilesAfterCompletion");
        warnings.extend(s.unused());
    }
    // A dataset `fileName` with wildcards (ADF's "fileName": "*.csv") chooses files by pattern.
    if let Some(name) = file.location.file_name.clone() {
        if name.contains(['*', '?']) {
            if selection.wildcard_file.is_none() {
                glob(&name).map_err(|e| tp.err("dataset", e))?;
                selection.wildcard_file = Some(name);
            }
            file.location.file_name = None;
        }
    }
    let whole_root = file.location.folder.is_empty()
        && file.location.file_name.is_none()
        && selection.wildcard_file.is_none()
        && selection.wildcard_folder.is_none();
    if whole_root {
        return Err(tp.err(
            "dataset",
            format!(
                "dataset '{dataset_name}' names the root of its store (no folderPath, no fileName): Delete refuses to empty a whole store; set fileName (or storeSettings.wildcardFileName) to '*' to delete every file in it"
            ),
        ));
    }
    let max_concurrent_connections = tp
        .int_in("maxConcurrentConnections", 1, i64::MAX)?
        .map(|n| n.min(MAX_CONNECTIONS) as usize)
        .or_else(|| {
            store
                .as_ref()
                .and_then(|s| s.int_in("maxConcurrentConnections", 1, i64::MAX).ok())
                .flatten()
                .map(|n| n.min(MAX_CONNECTIONS) as usize)
        })
        .unwrap_or(DEFAULT_CONNECTIONS);
    let enable_logging = tp.bool("enableLogging")?.unwrap_or(false);
    let log = match (enable_logging, tp.object("logStorageSettings")?) {
        (true, Some(ls)) => {
            ls.accept("type");
            ls.accept("logLevel");
            let folder = super::fault_tolerance::folder(factory, &ls, scope, warnings)?;
            warnings.extend(ls.unused());
            Some(folder)
        }
        (true, None) => {
            return Err(tp.err(
                "logStorageSettings",
                "is required when enableLogging is true: the linkedServiceName and path the log file is written to",
            ))
        }
        (false, _) => None,
    };
    warnings.extend(tp.unused());
    Ok(DeletePlan {
        dataset_name,
        file,
        selection,
        max_concurrent_connections,
        log,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    /// A factory with FileServer `Files` on /data, dataset `D` (Binary) on `location` and
    /// PostgreSQL table dataset `T`.
    fn factory(location: Value) -> Factory {
        let defs = json!([
            {"name": "Files", "properties": {"type": "FileServer", "typeProperties": {"host": "/data"}}},
            {"name": "Pg", "properties": {"type": "AzurePostgreSql", "typeProperties": {
                "connectionString": "Server=127.0.0.1;Database=test;Port=5432;UID=postgres"}}},
            {"name": "D", "properties": {"type": "Binary",
                "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
                "typeProperties": {"location": location}}},
            {"name": "T", "properties": {"type": "AzurePostgreSqlTable",
                "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                "typeProperties": {"schema": "s", "table": "t"}}}
        ]);
        Factory::from_json_text(Path::new("/f/factory.json"), &defs.to_string()).unwrap()
    }

    fn resolve_tp(f: &Factory, tp: Value) -> Result<DeletePlan, ModelError> {
        let activity = json!({"name": "Del", "type": "Delete", "typeProperties": tp});
        resolve(
            f,
            &activity,
            "activity 'Del'",
            &Scope::default(),
            &mut Vec::new(),
        )
    }

    fn dataset(name: &str) -> Value {
        json!({"referenceName": name, "type": "DatasetReference"})
    }

    #[test]
    fn wildcard_file_names_recursion_and_connections() {
        let f =
            factory(json!({"type": "FileServerLocation", "folderPath": "in", "fileName": "*.csv"}));
        let plan = resolve_tp(&f, json!({"dataset": dataset("D")})).unwrap();
        // ADF's default is not to recurse (a Copy source's is).
        assert!(!plan.selection.recursive);
        assert_eq!(plan.selection.wildcard_file.as_deref(), Some("*.csv"));
        assert_eq!(plan.file.location.file_name, None);
        assert!(plan.is_wildcard_used());
        assert_eq!(plan.max_concurrent_connections, 1);
        assert!(plan.log.is_none());
        let plan = resolve_tp(
            &f,
            json!({"dataset": dataset("D"), "maxConcurrentConnections": 8,
                   "storeSettings": {"type": "FileServerReadSettings", "recursive": true}}),
        )
        .unwrap();
        assert!(plan.selection.recursive);
        assert_eq!(plan.max_concurrent_connections, 8);
    }

    #[test]
    fn refuses_the_whole_store_tables_and_logging_without_a_place() {
        let f = factory(json!({"type": "FileServerLocation"}));
        let e = resolve_tp(&f, json!({"dataset": dataset("D")}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("root of its store") && e.contains("'D'"), "{e}");
        let e = resolve_tp(&f, json!({"dataset": dataset("T")}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a table"), "{e}");
        let f = factory(json!({"type": "FileServerLocation", "folderPath": "in"}));
        let e = resolve_tp(&f, json!({"dataset": dataset("D"), "enableLogging": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("logStorageSettings"), "{e}");
        let e = resolve_tp(
            &f,
            json!({"dataset": dataset("D"), "enableLogging": true,
                   "logStorageSettings": {"linkedServiceName": {"referenceName": "Files"}, "path": "../up"}}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'../up'") && e.contains("outside"), "{e}");
    }
}
