//! Rows a Copy activity skipped under `enableSkipIncompatibleRow`, shared by every stage that
//! can refuse a row (a file reader, a plugin, the sink), so the activity counts them in one
//! place and the session log (`logSettings`) lists them in the order they were met.
//!
//! Memory stays flat however many rows are skipped: each row is streamed to the session log
//! (when there is one) and only the counts and the first [`KEPT`] rows (for the activity's
//! `errors` output) are held.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::secrets::Redactor;

use crate::stores::session_log::{SessionLog, FILE_WRITE, ROW_SKIP};

/// Skipped rows quoted in the activity's `errors` output.
pub const KEPT: usize = 10;

/// One skipped row: what it was and why it was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedRow {
    /// UTC time the row was refused.
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// Where it was refused: `source`, `transform`, `sink`, ...
    pub operation: String,
    /// The row itself as text (ADF's `OperationItem`), already redacted.
    pub item: String,
    /// The reason, naming the column where known, already redacted.
    pub message: String,
}

#[derive(Debug, Default)]
struct Inner {
    total: u64,
    by_operation: Vec<(String, u64)>,
    first: Vec<SkippedRow>,
    log: Option<SessionLog>,
    /// The first failure writing the log; the activity fails with it at the end.
    log_error: Option<String>,
}

/// Cheap to clone; every clone records into the same counts and log.
#[derive(Clone)]
pub struct SkipLog {
    inner: Arc<Mutex<Inner>>,
    /// The run's redactor: rows and messages are masked before they are kept or written.
    redactor: Redactor,
}

impl SkipLog {
    /// Counts only: no session log.
    pub fn new(redactor: &Redactor) -> Self {
        SkipLog {
            inner: Arc::default(),
            redactor: redactor.clone(),
        }
    }

    /// Counts and streams every skipped row to `log`.
    pub fn with_session_log(log: SessionLog, redactor: &Redactor) -> Self {
        let skips = SkipLog::new(redactor);
        skips.lock().log = Some(log);
        skips
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records one skipped row. `item` and `message` are redacted here.
    pub fn record(&self, operation: &str, item: &str, message: &str) {
        let row = SkippedRow {
            timestamp: chrono::Utc::now(),
            operation: operation.to_string(),
            item: self.redactor.redact(item),
            message: self.redactor.redact(message),
        };
        let mut inner = self.lock();
        inner.total += 1;
        match inner
            .by_operation
            .iter_mut()
            .find(|(op, _)| op == operation)
        {
            Some((_, n)) => *n += 1,
            None => inner.by_operation.push((operation.to_string(), 1)),
        }
        let inner = &mut *inner;
        if let Some(log) = inner.log.as_mut() {
            let message = format!("{}: {}", row.operation, row.message);
            if let Err(e) = log.write(row.timestamp, "Warning", ROW_SKIP, &row.item, &message) {
                inner.log_error.get_or_insert_with(|| {
                    format!("cannot write the session log {}: {e}", log.label())
                });
            }
        }
        if inner.first.len() < KEPT {
            inner.first.push(row);
        }
    }

    /// Notes a file the copy wrote, at log level `Info` only.
    pub fn file_written(&self, file: &str, message: &str) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(log) = inner.log.as_mut().filter(|l| l.wants_info()) {
            let (file, message) = (self.redactor.redact(file), self.redactor.redact(message));
            if let Err(e) = log.write(chrono::Utc::now(), "Info", FILE_WRITE, &file, &message) {
                inner.log_error.get_or_insert_with(|| {
                    format!("cannot write the session log {}: {e}", log.label())
                });
            }
        }
    }

    /// How many rows were skipped so far.
    pub fn count(&self) -> u64 {
        self.lock().total
    }

    /// How many rows `operation` skipped so far.
    pub fn count_of(&self, operation: &str) -> u64 {
        self.lock()
            .by_operation
            .iter()
            .find(|(op, _)| op == operation)
            .map_or(0, |(_, n)| *n)
    }

    /// The first [`KEPT`] skipped rows, in the order they were recorded.
    pub fn first(&self) -> Vec<SkippedRow> {
        self.lock().first.clone()
    }

    /// The folder holding the session log (ADF's `logFilePath`), if there is one.
    pub fn log_folder(&self) -> Option<String> {
        self.lock().log.as_ref().map(|l| l.folder().to_string())
    }

    /// Flushes the session log (and uploads it, in a blob container); fails when any line
    /// could not be written, so a copy never reports success with a log that lost rows.
    pub async fn finish(&self) -> Result<(), String> {
        let upload = {
            let mut inner = self.lock();
            let inner = &mut *inner;
            if let Some(e) = &inner.log_error {
                return Err(e.clone());
            }
            match inner.log.as_mut() {
                Some(log) => {
                    log.finish().map_err(|e| {
                        format!("cannot write the session log {}: {e}", log.label())
                    })?;
                    log.take_upload()
                }
                None => None,
            }
        };
        if let Some((store, staged)) = upload {
            store.publish(staged).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fault_tolerance::{LogFolder, LogLevel, SessionLogPlan};

    #[tokio::test]
    async fn counts_per_operation_and_keeps_only_the_first_rows() {
        let skips = SkipLog::new(&Redactor::new());
        for i in 0..25 {
            skips.record(
                if i % 5 == 0 { "source" } else { "sink" },
                &i.to_string(),
                "bad",
            );
        }
        assert_eq!(skips.count(), 25);
        assert_eq!(skips.count_of("source"), 5);
        assert_eq!(skips.count_of("sink"), 20);
        assert_eq!(skips.count_of("transform"), 0);
        let first = skips.first();
        assert_eq!(first.len(), KEPT);
        assert_eq!(first[0].item, "0");
        assert!(skips.finish().await.is_ok());
        assert_eq!(skips.log_folder(), None);
    }

    #[tokio::test]
    async fn streams_rows_to_the_session_log() {
        let dir = tempfile::tempdir().unwrap();
        let plan = SessionLogPlan {
            folder: LogFolder::Local {
                root: dir.path().to_path_buf(),
                folder: String::new(),
            },
            level: LogLevel::Info,
            reliable: false,
            legacy: false,
        };
        let skips =
            SkipLog::with_session_log(SessionLog::create(&plan).await.unwrap(), &Redactor::new());
        let clone = skips.clone();
        clone.record("sink", "\"1\",\"x\"", "column \"n\": invalid");
        skips.file_written("out.csv", "wrote 3 rows");
        skips.finish().await.unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].contains(",Warning,TabularRowSkip,"), "{text}");
        assert!(
            lines[1].contains("sink: column \"\"n\"\": invalid"),
            "{text}"
        );
        assert!(
            lines[2].contains(",Info,FileWrite,out.csv,wrote 3 rows"),
            "{text}"
        );
    }
}
