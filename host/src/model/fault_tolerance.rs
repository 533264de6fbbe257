//! The Copy activity's fault-tolerance properties: `enableSkipIncompatibleRow`, the session
//! log (`logSettings`, or the legacy `redirectIncompatibleRowSettings`) and
//! `validateDataConsistency`.
//!
//! Where the log goes is decided here, so `validate` reports a bad location before any row
//! moves: ADF's path shape `{path}/copyactivity-logs/{activity}/{runId}/` for `logSettings`,
//! and `{path}/{runId}/` for the legacy setting (the folder ADF names in `redirectRowPath`).
//! The location is a `FileServer` folder or, as in ADF, a container of an `AzureBlobStorage`
//! account (`path` then starts with the container's name). `path` is relative to the linked
//! service's root (or container) and may not leave it; the activity's name is one folder name
//! whatever it holds (`/`, `\`, `..` are replaced).

use std::path::PathBuf;

use super::dataset;
use super::error::ModelError;
use super::linked_service::LinkedService;
use super::load::Factory;
use super::params::Scope;
use super::props::Props;
use crate::model::files::blob_account::BlobAccount;
use crate::model::files::confine::{self, PathKind};

/// `copyActivityLogSettings.logLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Skipped rows (and files) only: ADF's default.
    #[default]
    Warning,
    /// Also the files read and written, and a summary of the copy.
    Info,
}

/// The folder the log file (`{guid}.txt`) is created in.
#[derive(Debug, Clone)]
pub enum LogFolder {
    /// A folder (`/`-separated, may be empty) under a `FileServer`'s root.
    Local { root: PathBuf, folder: String },
    /// A folder (`/`-separated, may be empty) in a container of a storage account.
    Blob {
        account: BlobAccount,
        container: String,
        folder: String,
    },
}

impl LogFolder {
    /// This folder's subfolder `names`, each made one folder name ([`confine::segment`]).
    fn join(self, names: &[&str]) -> LogFolder {
        let deeper = |folder: String| {
            let mut segments: Vec<String> = folder
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            segments.extend(names.iter().map(|n| confine::segment(n)));
            segments.join("/")
        };
        match self {
            LogFolder::Local { root, folder } => LogFolder::Local {
                root,
                folder: deeper(folder),
            },
            LogFolder::Blob {
                account,
                container,
                folder,
            } => LogFolder::Blob {
                account,
                container,
                folder: deeper(folder),
            },
        }
    }

    /// As `logFilePath` shows it: the local path, or `container/folder`.
    pub fn display(&self) -> String {
        match self {
            LogFolder::Local { root, folder } if folder.is_empty() => root.display().to_string(),
            LogFolder::Local { root, folder } => root.join(folder).display().to_string(),
            LogFolder::Blob {
                container, folder, ..
            } => format!("{container}/{folder}"),
        }
    }
}

/// Where and how the session log is written.
#[derive(Debug, Clone)]
pub struct SessionLogPlan {
    pub folder: LogFolder,
    pub level: LogLevel,
    /// `enableReliableLogging`: every line reaches the file before the copy goes on.
    pub reliable: bool,
    /// Set through the legacy `redirectIncompatibleRowSettings` (the output then also carries
    /// `redirectRowPath`, as ADF's did).
    pub legacy: bool,
}

/// The fault-tolerance part of a Copy activity.
#[derive(Debug, Clone, Default)]
pub struct FaultTolerance {
    pub skip_incompatible_rows: bool,
    pub session_log: Option<SessionLogPlan>,
    /// `validateDataConsistency` as written (`None` when absent).
    pub validate_data_consistency: Option<bool>,
}

/// Reads the fault-tolerance properties of a Copy activity's `typeProperties` (`tp`).
/// `activity` is the activity's name (a folder of the log path).
pub fn resolve(
    factory: &Factory,
    tp: &Props<'_>,
    activity: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<FaultTolerance, ModelError> {
    let skip_incompatible_rows = tp.bool("enableSkipIncompatibleRow")?.unwrap_or(false);
    let validate_data_consistency = tp.bool("validateDataConsistency")?;
    let run_id = scope
        .run_id()
        .map(str::to_string)
        // `validate` has no run: any id shows the path is well formed.
        .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".to_string());

    let mut session_log = None;
    if let Some(ls) = tp.object("logSettings")? {
        let enabled = ls.bool("enableCopyActivityLog")?.unwrap_or(false);
        let (mut level, mut reliable) = (LogLevel::Warning, false);
        if let Some(s) = ls.object("copyActivityLogSettings")? {
            level = match s.str("logLevel")? {
                None => LogLevel::Warning,
                Some(l) if l.eq_ignore_ascii_case("Warning") => LogLevel::Warning,
                Some(l) if l.eq_ignore_ascii_case("Info") => LogLevel::Info,
                Some(other) => {
                    return Err(s.err(
                        "logLevel",
                        format!("{other:?} is not a log level; use Warning or Info"),
                    ))
                }
            };
            reliable = s.bool("enableReliableLogging")?.unwrap_or(false);
            warnings.extend(s.unused());
        }
        let location = ls.object("logLocationSettings")?;
        match (enabled, location) {
            (true, None) => return Err(ls.err(
                "logLocationSettings",
                "is required when enableCopyActivityLog is true (a linkedServiceName and a path)",
            )),
            (true, Some(loc)) => {
                let base = folder(factory, &loc, scope, warnings)?;
                session_log = Some(SessionLogPlan {
                    folder: base.join(&["copyactivity-logs", activity, &run_id]),
                    level,
                    reliable,
                    legacy: false,
                });
                warnings.extend(loc.unused());
            }
            (false, loc) => {
                if let Some(loc) = loc {
                    loc.accept("linkedServiceName");
                    loc.accept("path");
                }
            }
        }
        warnings.extend(ls.unused());
    }
    if let Some(redirect) = tp.object("redirectIncompatibleRowSettings")? {
        if !skip_incompatible_rows {
            return Err(redirect.err(
                "",
                "applies only when enableSkipIncompatibleRow is true (it says where skipped rows are written)",
            ));
        }
        let base = folder(factory, &redirect, scope, warnings)?;
        if session_log.is_none() {
            session_log = Some(SessionLogPlan {
                folder: base.join(&[&run_id]),
                level: LogLevel::Warning,
                reliable: false,
                legacy: true,
            });
        } else {
            warnings.push(format!(
                "{}: ignored because logSettings also sets where the session log goes",
                redirect.path
            ));
        }
        warnings.extend(redirect.unused());
    }
    Ok(FaultTolerance {
        skip_incompatible_rows,
        session_log,
        validate_data_consistency,
    })
}

/// The folder `linkedServiceName` + `path` of a log location names: `path` is relative to the
/// FileServer's root, or starts with a container's name; it may not leave either.
pub fn folder(
    factory: &Factory,
    loc: &Props<'_>,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<LogFolder, ModelError> {
    let reference = loc
        .object("linkedServiceName")?
        .ok_or_else(|| loc.err("linkedServiceName", "is required"))?;
    let name = reference.req_str("referenceName")?;
    reference.accept("type");
    let given = reference.get("parameters");
    let linked = dataset::linked(factory, name, given, &loc.path, scope, warnings)?;
    let path = loc.str("path")?.unwrap_or("").trim();
    match linked {
        LinkedService::Files { root } => Ok(LogFolder::Local {
            folder: confine::confined(loc, "path", path, PathKind::Local)?,
            root,
        }),
        LinkedService::AzureBlob(account) => {
            let mut segments = path.split(['/', '\\']).filter(|s| !s.is_empty());
            let container = segments.next().ok_or_else(|| {
                loc.err(
                    "path",
                    format!(
                        "must start with a container of storage account '{}' (container/folder)",
                        account.account
                    ),
                )
            })?;
            confine::container_name(loc, "path", container)?;
            let rest = segments.collect::<Vec<_>>().join("/");
            let folder = confine::confine(&rest, PathKind::Blob)
                .map_err(|why| loc.err("path", format!("'{path}' {why}")))?;
            Ok(LogFolder::Blob {
                container: container.to_string(),
                folder,
                account,
            })
        }
        _ => Err(loc.err(
            "linkedServiceName",
            format!(
                "linked service '{name}' is neither a FileServer nor an AzureBlobStorage account: session logs are written to a folder or a blob container"
            ),
        )),
    }
}
