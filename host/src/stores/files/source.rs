//! [`FileSource`]: the rows of one file or many (a folder, wildcards), in any format, from any
//! location.
//!
//! Files are read one after the other in name order, each through its format's
//! [`RowReader`](super::RowReader) on a blocking thread, in bounded batches so memory stays flat.
//! The first file with any columns sets the schema; every later file must have the same column
//! names (in any order: they are matched by name) or the read fails naming both files and the
//! difference. `additionalColumns` are appended to every row.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::compression::Counting;
use super::location::{FileRef, OpenStore};
use super::{json, parquet, RowReader};
use crate::model::files::dataset::{AdditionalValue, FileFormat, FileRead};
use crate::stores::csv;
use crate::stores::skip_log::SkipLog;
use crate::stores::{BatchTx, Source, SourceStats, StoreError, StoreErrorKind};
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::value::Value;

/// One open file.
struct Opened {
    reader: Box<dyn RowReader>,
    /// Bytes read from the store so far (compressed size for compressed files).
    read: Arc<AtomicU64>,
}

/// Reads a file dataset.
pub struct FileSource {
    dataset: String,
    read: FileRead,
    store: OpenStore,
    files: Vec<FileRef>,
    /// The first file with columns, already open (its index in `files`).
    first: Option<(usize, Opened)>,
    /// The first file's column names: every file must have these.
    file_columns: Vec<String>,
    schema: SchemaRef,
    /// The copy's skipped-row log, once `enableSkipIncompatibleRow` hands it over.
    skips: Arc<OnceLock<SkipLog>>,
}

impl FileSource {
    /// Lists the files and opens the first one that has columns to learn the schema.
    /// `skips` is the copy's skipped-row log when `enableSkipIncompatibleRow` is on: a
    /// DelimitedText row with the wrong number of fields is then recorded there and skipped.
    pub async fn open(
        dataset: &str,
        read: &FileRead,
        skips: Option<SkipLog>,
    ) -> Result<FileSource, StoreError> {
        let named = |e: StoreError| e.context(format_args!("dataset '{dataset}'"));
        let slot = Arc::new(OnceLock::new());
        if let Some(log) = skips {
            let _ = slot.set(log);
        }
        let skips = slot;
        let store = read.dataset.location.open().map_err(named)?;
        let files = store
            .list(&read.dataset.location, &read.selection)
            .await
            .map_err(named)?;
        let mut first = None;
        for (i, f) in files.iter().enumerate() {
            let opened = open_file(&store, f, read, skips.clone())
                .await
                .map_err(named)?;
            if !opened.reader.schema().is_empty() {
                first = Some((i, opened));
                break;
            }
        }
        let file_columns: Vec<String> = first
            .as_ref()
            .map(|(_, o)| o.reader.schema().names().map(str::to_string).collect())
            .unwrap_or_default();
        let mut columns: Vec<Column> = first
            .as_ref()
            .map(|(_, o)| o.reader.schema().columns.clone())
            .unwrap_or_default();
        for extra in &read.additional_columns {
            if let AdditionalValue::Column(c) = &extra.value {
                if !file_columns.contains(c) {
                    return Err(named(StoreError::with_kind(
                        StoreErrorKind::Definition,
                        format!(
                        "additionalColumns '{}': $$COLUMN:{c} names no column of the files ({})",
                        extra.name,
                        file_columns.join(", ")
                    ),
                    )));
                }
            }
            if columns.iter().any(|col| col.name == extra.name) {
                return Err(named(StoreError::with_kind(
                    StoreErrorKind::Definition,
                    format!(
                        "additionalColumns '{}': the files already have a column of that name",
                        extra.name
                    ),
                )));
            }
            columns.push(Column::new(extra.name.clone(), DataType::Text, "String"));
        }
        Ok(FileSource {
            dataset: dataset.to_string(),
            read: read.clone(),
            store,
            files,
            first,
            file_columns,
            schema: Arc::new(Schema::new(columns)),
            skips,
        })
    }

    /// Labels of the files this source reads, in order.
    pub fn files(&self) -> Vec<String> {
        self.files.iter().map(|f| f.label.clone()).collect()
    }

    /// Runs on a blocking thread; `rt` runs the downloads of later files.
    fn read_blocking(
        mut self,
        out: &BatchTx,
        batch_rows: usize,
        rt: &tokio::runtime::Handle,
    ) -> Result<SourceStats, StoreError> {
        let mut stats = SourceStats {
            peak_connections: 1,
            ..SourceStats::default()
        };
        let skipped_before = self.skipped();
        let Some((start, first)) = self.first.take() else {
            return Ok(stats);
        };
        let mut pending = Some(first);
        let files = std::mem::take(&mut self.files);
        let first_label = files
            .get(start)
            .map(|f| f.label.clone())
            .unwrap_or_default();
        for f in files.iter().skip(start) {
            let opened = match pending.take() {
                Some(o) => o,
                None => rt.block_on(open_file(&self.store, f, &self.read, self.skips.clone()))?,
            };
            let Opened { mut reader, read } = opened;
            let file_schema = reader.schema();
            if file_schema.is_empty() {
                stats.bytes_read += read.load(Ordering::Relaxed);
                continue;
            }
            let order = self.column_order(&file_schema, &f.label, &first_label)?;
            let mut counted = 0u64;
            while let Some(batch) = reader.next_batch(batch_rows)? {
                let now = read.load(Ordering::Relaxed);
                let rows = batch.num_rows() as u64;
                let mut batch = self.shape(batch, order.as_deref(), f);
                batch.bytes = now - counted;
                counted = now;
                stats.rows_read += rows;
                if out.blocking_send(batch).is_err() {
                    // The consumer stopped (it failed or needs no more rows).
                    stats.bytes_read += counted;
                    return Ok(stats);
                }
            }
            stats.bytes_read += read.load(Ordering::Relaxed).max(counted);
        }
        // Rows the reader skipped (enableSkipIncompatibleRow) were read too.
        stats.rows_read += self.skipped() - skipped_before;
        Ok(stats)
    }

    fn skipped(&self) -> u64 {
        self.skips.get().map_or(0, |s| s.count_of("source"))
    }

    /// `None` when the file's columns are the first file's in the same order; else where each
    /// of the first file's columns is in this file.
    fn column_order(
        &self,
        file_schema: &Schema,
        label: &str,
        first_label: &str,
    ) -> Result<Option<Vec<usize>>, StoreError> {
        let names: Vec<&str> = file_schema.names().collect();
        if names
            .iter()
            .copied()
            .eq(self.file_columns.iter().map(String::as_str))
        {
            return Ok(None);
        }
        let missing: Vec<&str> = self
            .file_columns
            .iter()
            .map(String::as_str)
            .filter(|c| !names.contains(c))
            .collect();
        let extra: Vec<&str> = names
            .iter()
            .copied()
            .filter(|c| !self.file_columns.iter().any(|f| f == c))
            .collect();
        if !missing.is_empty() || !extra.is_empty() || names.len() != self.file_columns.len() {
            let mut diff = Vec::new();
            if !missing.is_empty() {
                diff.push(format!("it lacks {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                diff.push(format!("it has {} in addition", extra.join(", ")));
            }
            if diff.is_empty() {
                diff.push("a column name repeats".to_string());
            }
            return Err(StoreError::new(format!(
                "dataset '{}': {label} has columns ({}) but the first file {first_label} has ({}): {}; every file read together must have the same columns",
                self.dataset,
                names.join(", "),
                self.file_columns.join(", "),
                diff.join(" and ")
            )));
        }
        Ok(Some(
            self.file_columns
                .iter()
                .map(|c| names.iter().position(|n| n == c).unwrap_or(0))
                .collect(),
        ))
    }

    /// Reorders a file's batch to the first file's column order and appends the additional
    /// columns.
    fn shape(&self, batch: Batch, order: Option<&[usize]>, f: &FileRef) -> Batch {
        let extras = &self.read.additional_columns;
        if order.is_none() && extras.is_empty() {
            let (_, values) = batch.into_values();
            return Batch::from_values(self.schema.clone(), values);
        }
        let mut out = Batch::with_capacity(self.schema.clone(), batch.num_rows());
        for row in batch.rows() {
            match order {
                Some(o) => {
                    for &i in o {
                        out.push_value(row.get(i).cloned().unwrap_or(Value::Null));
                    }
                }
                None => {
                    for v in row {
                        out.push_value(v.clone());
                    }
                }
            }
            for e in extras {
                out.push_value(match &e.value {
                    AdditionalValue::FilePath => Value::Text(f.relative.clone()),
                    AdditionalValue::Constant(c) => Value::Text(c.clone()),
                    AdditionalValue::Column(c) => {
                        let i = self
                            .file_columns
                            .iter()
                            .position(|n| n == c)
                            .map(|i| order.and_then(|o| o.get(i).copied()).unwrap_or(i));
                        i.and_then(|i| row.get(i)).cloned().unwrap_or(Value::Null)
                    }
                });
            }
        }
        out
    }
}

/// Fetches a file and opens its format's reader (on a blocking thread: readers read ahead).
async fn open_file(
    store: &OpenStore,
    f: &FileRef,
    read: &FileRead,
    skips: Arc<OnceLock<SkipLog>>,
) -> Result<Opened, StoreError> {
    let fetched = store.fetch(f).await?;
    let format = read.dataset.format.clone();
    let compression = read.dataset.compression;
    let label = f.label.clone();
    let size = f.size;
    tokio::task::spawn_blocking(move || {
        let file = fetched.file;
        if let FileFormat::Parquet(_) = &format {
            // Parquet reads through its own file handle: count the file's size.
            let reader = parquet::open_reader(file, &label)?;
            return Ok(Opened {
                reader,
                read: Arc::new(AtomicU64::new(size)),
            });
        }
        let counted = Counting::new(file);
        let read = counted.count.clone();
        let input = compression.reader(Box::new(counted) as Box<dyn Read + Send>);
        let reader: Box<dyn RowReader> = match &format {
            FileFormat::DelimitedText(fmt) => {
                Box::new(csv::reader::open_reader(input, fmt, &label, skips)?)
            }
            FileFormat::Json(settings) => json::open_reader(input, settings, &label)?,
            FileFormat::Parquet(_) => {
                return Err(StoreError::new("internal error: Parquet handled above"))
            }
            FileFormat::Binary => {
                return Err(StoreError::with_kind(
                    StoreErrorKind::Definition,
                    format!("{label}: a Binary dataset has no rows to read"),
                ))
            }
        };
        Ok(Opened { reader, read })
    })
    .await
    .map_err(|e| StoreError::new(format!("the file reader stopped unexpectedly: {e}")))?
}

#[async_trait]
impl Source for FileSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The listed files' sizes: what reading them takes from the store.
    fn size_hint(&self) -> Option<crate::stores::SizeHint> {
        Some(crate::stores::SizeHint::Bytes(
            self.files.iter().map(|f| f.size).sum(),
        ))
    }

    fn skip_incompatible_rows(&mut self, log: SkipLog) {
        let _ = self.skips.set(log);
    }

    async fn read(
        self: Box<Self>,
        out: BatchTx,
        batch_rows: usize,
    ) -> Result<SourceStats, StoreError> {
        let batch_rows = batch_rows.max(1);
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || self.read_blocking(&out, batch_rows, &rt))
            .await
            .map_err(|e| StoreError::new(format!("the file reader stopped unexpectedly: {e}")))?
    }
}
