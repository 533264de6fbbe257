//! The Delete activity at run time: lists the files a [`DeletePlan`] chooses (the store
//! listing Copy sources use, so wildcards, `recursive` and modified times mean the same), deletes
//! them with at most `maxConcurrentConnections` at once, removes the folders a recursive folder
//! deletion leaves empty, and writes ADF's log file (CSV: `Name,Category,Status,Error`) when
//! `enableLogging` is on. The output has ADF's keys (`datasetName`, `recursive`,
//! `isWildcardUsed`, `maxConcurrentConnections`, `filesDeleted`, `logPath`).
//!
//! A file that cannot be deleted does not stop the others; the activity then fails naming it
//! (after the log, which records each file's outcome, is written).

use std::io::Write;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{json, Value as Json};

use crate::model::delete::DeletePlan;
use crate::model::fault_tolerance::LogFolder;
use crate::model::files::location::{FileLocation, StoreRef};
use crate::stores::files::items::join;
use crate::stores::{StoreError, StoreErrorKind};

/// ADF's log columns.
const LOG_HEADER: [&str; 4] = ["Name", "Category", "Status", "Error"];
/// The log file's name in its run's folder.
const LOG_FILE: &str = "DeleteActivityLog.csv";

/// One line of the log.
struct Outcome {
    name: String,
    category: &'static str,
    error: Option<String>,
}

/// Runs a Delete activity to its output.
pub async fn run_delete(plan: &DeletePlan) -> Result<Json, StoreError> {
    let started = Instant::now();
    let named = |e: StoreError| e.context(format_args!("dataset '{}'", plan.dataset_name));
    let loc = &plan.file.location;
    let store = loc.open().map_err(named)?;
    let files = match store.list(loc, &plan.selection).await {
        Ok(files) => files,
        // An empty folder, or no file matching the pattern: nothing to delete. A file the
        // dataset names must exist.
        Err(e) if e.kind() == StoreErrorKind::NotFound && loc.file_name.is_none() => Vec::new(),
        Err(e) => return Err(named(e)),
    };
    let store_ref = &store;
    let mut outcomes: Vec<Outcome> = futures_util::stream::iter(files)
        .map(|f| async move {
            let result = store_ref.delete_file(&f.key).await;
            Outcome {
                name: join(&loc.folder, &f.relative),
                category: "File",
                error: result.err().map(|e| e.to_string()),
            }
        })
        .buffer_unordered(plan.max_concurrent_connections.max(1))
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    let deleted = outcomes.iter().filter(|o| o.error.is_none()).count();
    // A recursive deletion of a folder takes the folder (and its emptied subfolders) too.
    if plan.selection.recursive && loc.file_name.is_none() && !plan.is_wildcard_used() {
        for folder in store.remove_empty_folders(&loc.folder).map_err(named)? {
            outcomes.push(Outcome {
                name: folder,
                category: "Folder",
                error: None,
            });
        }
    }
    let log_path = match &plan.log {
        Some(folder) => Some(write_log(folder, &outcomes).await?),
        None => None,
    };
    if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
        let count = outcomes.iter().filter(|o| o.error.is_some()).count();
        return Err(named(StoreError::new(format!(
            "{count} of {} files could not be deleted; first '{}': {}{}",
            count + deleted,
            failed.name,
            failed.error.as_deref().unwrap_or_default(),
            log_path
                .as_deref()
                .map(|p| format!(" (log: {p})"))
                .unwrap_or_default()
        ))));
    }
    let mut out = json!({
        "datasetName": plan.dataset_name,
        "recursive": plan.selection.recursive,
        "isWildcardUsed": plan.is_wildcard_used(),
        "maxConcurrentConnections": plan.max_concurrent_connections,
        "filesDeleted": deleted,
        "executionDuration": started.elapsed().as_secs(),
    });
    if let (Some(p), Some(obj)) = (log_path, out.as_object_mut()) {
        obj.insert("logPath".into(), Json::String(p));
    }
    Ok(out)
}

/// Writes the log to a new folder (named by a fresh GUID, as ADF's `logPath` is) under the
/// log settings' folder; returns that folder as `logPath` shows it.
async fn write_log(folder: &LogFolder, outcomes: &[Outcome]) -> Result<String, StoreError> {
    let run = uuid::Uuid::new_v4().to_string();
    let (location, shown) = match folder {
        LogFolder::Local { root, folder } => (
            FileLocation {
                store: StoreRef::Local { root: root.clone() },
                folder: join(folder, &run),
                file_name: None,
            },
            LogFolder::Local {
                root: root.clone(),
                folder: join(folder, &run),
            },
        ),
        LogFolder::Blob {
            account,
            container,
            folder,
        } => (
            FileLocation {
                store: StoreRef::Blob {
                    account: account.clone(),
                    container: container.clone(),
                },
                folder: join(folder, &run),
                file_name: None,
            },
            LogFolder::Blob {
                account: account.clone(),
                container: container.clone(),
                folder: join(folder, &run),
            },
        ),
    };
    let fail = |e: StoreError| e.context("cannot write the Delete activity's log");
    let store = location.open().map_err(fail)?;
    store.prepare_folder(&location.folder).await.map_err(fail)?;
    let staged = store
        .stage(store.key(&location.folder, LOG_FILE).map_err(fail)?)
        .map_err(fail)?;
    let io = |e: std::io::Error| StoreError::io(format_args!("{}: cannot write", staged.label), &e);
    {
        let mut out = csv::Writer::from_writer(staged.tmp.as_file());
        out.write_record(LOG_HEADER).map_err(|e| io(e.into()))?;
        for o in outcomes {
            let status = if o.error.is_some() {
                "Failed"
            } else {
                "Deleted"
            };
            out.write_record([
                o.name.as_str(),
                o.category,
                status,
                o.error.as_deref().unwrap_or(""),
            ])
            .map_err(|e| io(e.into()))?;
        }
        out.flush().map_err(io)?;
    }
    staged.tmp.as_file().flush().map_err(io)?;
    store.publish(staged).await.map_err(fail)?;
    Ok(shown.display())
}
