//! The Copy activity's session log file: ADF's CSV with the header
//! `Timestamp,Level,OperationName,OperationItem,Message`, one line per skipped row
//! (`Warning`, `TabularRowSkip`) and, at log level `Info`, per file written (`FileWrite`).
//!
//! Lines are streamed to the file as rows are skipped, so a copy that skips millions of rows
//! keeps only counts in memory. The file is `{folder}/{guid}.txt`, created when the copy
//! starts so that `logFilePath` always names an existing folder. In a blob container the
//! lines go to a local temporary file that is uploaded when the copy ends (also when it
//! fails), through the same store layer the file datasets use, which keeps the folder under
//! its root (also through symbolic links) as it does for datasets.

use std::fs::File;
use std::io::{self, BufWriter};

use chrono::{DateTime, Utc};

use crate::model::fault_tolerance::{LogFolder, LogLevel, SessionLogPlan};
use crate::stores::files::confine::local_path;
use crate::stores::files::location::{FileLocation, OpenStore, Staged, StoreRef};
use crate::stores::StoreError;

/// ADF's `OperationName` of a skipped row.
pub const ROW_SKIP: &str = "TabularRowSkip";
/// ADF's `OperationName` of a file written.
pub const FILE_WRITE: &str = "FileWrite";

/// An open session log.
pub struct SessionLog {
    /// The log file, for messages: a local path or `container/blob`.
    label: String,
    /// The folder, as `logFilePath` shows it.
    folder: String,
    out: csv::Writer<BufWriter<File>>,
    level: LogLevel,
    reliable: bool,
    /// A blob log: the store and the temporary file uploaded at the end.
    upload: Option<(OpenStore, Staged)>,
}

impl std::fmt::Debug for SessionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLog")
            .field("file", &self.label)
            .finish()
    }
}

impl SessionLog {
    /// Creates the folder and a new log file in it, with the header line. A blob container
    /// is checked now, so a wrong key or a missing container fails before any row moves.
    pub async fn create(plan: &SessionLogPlan) -> Result<SessionLog, StoreError> {
        let name = format!("{}.txt", uuid::Uuid::new_v4());
        let (file, label, upload) = match &plan.folder {
            LogFolder::Local { root, folder } => {
                let dir = local_path(root, folder)
                    .map_err(|e| e.context("cannot create the session log"))?;
                let path = dir.join(&name);
                let fail = |e: io::Error| {
                    StoreError::io(
                        format_args!("cannot create the session log {}", path.display()),
                        &e,
                    )
                };
                std::fs::create_dir_all(&dir).map_err(fail)?;
                let file = File::options()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(fail)?;
                (file, path.display().to_string(), None)
            }
            LogFolder::Blob {
                account,
                container,
                folder,
            } => {
                let location = FileLocation {
                    store: StoreRef::Blob {
                        account: account.clone(),
                        container: container.clone(),
                    },
                    folder: folder.clone(),
                    file_name: None,
                };
                let store = location.open()?;
                store.prepare_folder(folder).await?;
                let staged = store.stage(store.key(folder, &name)?)?;
                let file = staged.tmp.reopen().map_err(|e| {
                    StoreError::io(
                        format_args!("{}: cannot write the session log", staged.label),
                        &e,
                    )
                })?;
                (file, staged.label.clone(), Some((store, staged)))
            }
        };
        Self::start(plan, file, label, upload).map_err(StoreError::new)
    }

    fn start(
        plan: &SessionLogPlan,
        file: File,
        label: String,
        upload: Option<(OpenStore, Staged)>,
    ) -> Result<SessionLog, String> {
        let fail = |e: io::Error| format!("cannot write the session log {label}: {e}");
        let mut out = csv::WriterBuilder::new().from_writer(BufWriter::new(file));
        out.write_record([
            "Timestamp",
            "Level",
            "OperationName",
            "OperationItem",
            "Message",
        ])
        .map_err(|e| fail(e.into()))?;
        if plan.reliable {
            out.flush().map_err(fail)?;
        }
        Ok(SessionLog {
            folder: plan.folder.display(),
            label,
            out,
            level: plan.level,
            reliable: plan.reliable,
            upload,
        })
    }

    /// The log file, for messages: a local path or `container/blob`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The folder holding the log file (ADF's `logFilePath`).
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// For a blob log: the store and the finished temporary file to upload.
    pub fn take_upload(&mut self) -> Option<(OpenStore, Staged)> {
        self.upload.take()
    }

    /// Whether `Info` lines are wanted.
    pub fn wants_info(&self) -> bool {
        self.level == LogLevel::Info
    }

    /// Appends one line. `item` and `message` must already be redacted.
    pub fn write(
        &mut self,
        at: DateTime<Utc>,
        level: &str,
        operation: &str,
        item: &str,
        message: &str,
    ) -> io::Result<()> {
        self.out
            .write_record([timestamp(at).as_str(), level, operation, item, message])?;
        if self.reliable {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Flushes everything to disk (for a blob log, to the temporary file).
    pub fn finish(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().get_ref().sync_all()
    }
}

/// ADF's timestamp form: `2020-02-26 06:22:32.2586581` (UTC, 100 ns ticks).
pub fn timestamp(at: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}",
        at.format("%Y-%m-%d %H:%M:%S"),
        at.timestamp_subsec_nanos() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_seven_fraction_digits() {
        let at = Utc
            .with_ymd_and_hms(2020, 2, 26, 6, 22, 32)
            .single()
            .unwrap()
            + chrono::Duration::nanoseconds(258_658_100);
        assert_eq!(timestamp(at), "2020-02-26 06:22:32.2586581");
    }

    #[tokio::test]
    async fn writes_adf_header_and_quoted_lines() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("copyactivity-logs/Copy/run");
        let plan = SessionLogPlan {
            folder: LogFolder::Local {
                root: dir.path().to_path_buf(),
                folder: "copyactivity-logs/Copy/run".to_string(),
            },
            level: LogLevel::Warning,
            reliable: true,
            legacy: false,
        };
        let mut log = SessionLog::create(&plan).await.unwrap();
        log.write(
            Utc::now(),
            "Warning",
            ROW_SKIP,
            "\"1\",\"a,b\"",
            "sink: bad",
        )
        .unwrap();
        log.finish().unwrap();
        assert_eq!(log.folder(), folder.display().to_string());
        let text = std::fs::read_to_string(log.label()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("Timestamp,Level,OperationName,OperationItem,Message")
        );
        let line = lines.next().unwrap();
        assert!(
            line.ends_with(",Warning,TabularRowSkip,\"\"\"1\"\",\"\"a,b\"\"\",sink: bad"),
            "{line}"
        );
        assert!(log.label().ends_with(".txt"));
        assert!(!log.wants_info());
    }
}
