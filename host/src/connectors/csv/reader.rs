//! [`CsvSource`]: streams the rows of one or more delimited text files as text values.
//!
//! Every column is text (`String` in ADF's interim types): the CSV format carries no types, and
//! the sink's own parsing (PostgreSQL's input functions) is the authority on what a value means.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::format::{CsvDataset, CsvFormat};
use super::parse::{ParseError, RawRecord, RecordParser};
use crate::connectors::{BatchTx, Source, SourceStats, StoreError};
use crate::engine::batch::Batch;
use crate::engine::schema::{Column, DataType, Schema, SchemaRef};
use crate::engine::value::Value;

/// Reads a `DelimitedText` dataset's file, or every file of its folder in name order.
pub struct CsvSource {
    files: Vec<PathBuf>,
    format: CsvFormat,
    schema: SchemaRef,
}

impl CsvSource {
    /// Finds the files and reads the first record to learn the schema: the header's names when
    /// `firstRowAsHeader`, else ADF's `Prop_0`, `Prop_1`, ... for the first record's width.
    /// Files without any record are allowed; when all are empty the schema has no columns.
    pub fn open(ds: &CsvDataset) -> Result<CsvSource, StoreError> {
        let files = list_files(ds)?;
        let mut schema = Schema::default();
        for path in &files {
            let mut parser = open_parser(path, &ds.format)?;
            let mut rec = RawRecord::default();
            if next_non_blank(&mut parser, &mut rec, path)? {
                schema = if ds.format.first_row_as_header {
                    Schema::new(
                        header_names(&rec, path)?
                            .into_iter()
                            .map(|n| Column::new(n, DataType::Text, "String"))
                            .collect(),
                    )
                } else {
                    Schema::new(
                        (0..rec.len())
                            .map(|i| Column::new(format!("Prop_{i}"), DataType::Text, "String"))
                            .collect(),
                    )
                };
                break;
            }
        }
        Ok(CsvSource {
            files,
            format: ds.format.clone(),
            schema: Arc::new(schema),
        })
    }

    /// The files this source reads, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Runs on a blocking thread: file reads are synchronous.
    fn read_blocking(self, out: &BatchTx, batch_rows: usize) -> Result<SourceStats, StoreError> {
        let mut stats = SourceStats {
            peak_connections: 1,
            ..SourceStats::default()
        };
        let width = self.schema.len();
        let mut batch = Batch::with_capacity(self.schema.clone(), batch_rows);
        let mut batch_start = 0u64;
        let mut rec = RawRecord::default();
        let mut reference_header: Option<(Vec<String>, &Path)> = None;
        for path in &self.files {
            let mut parser = open_parser(path, &self.format)?;
            let mut row_number = 0u64;
            if self.format.first_row_as_header {
                if !next_non_blank(&mut parser, &mut rec, path)? {
                    continue;
                }
                let names = header_names(&rec, path)?;
                match &reference_header {
                    None => reference_header = Some((names, path)),
                    Some((first, first_path)) if *first != names => {
                        return Err(StoreError::new(format!(
                            "{}: line {}: header ({}) differs from the header of {} ({}); every file of a dataset must have the same columns",
                            path.display(),
                            rec.line,
                            names.join(", "),
                            first_path.display(),
                            first.join(", ")
                        )));
                    }
                    Some(_) => {}
                }
            }
            while parser
                .next_record(&mut rec)
                .map_err(|e| parse_error(path, e))?
            {
                // A blank line is a row only in a one-column file (a NULL there is written as
                // an empty line); elsewhere it is padding, as ADF and most readers treat it.
                if rec.is_blank() && width != 1 {
                    continue;
                }
                row_number += 1;
                if rec.len() != width {
                    return Err(StoreError::new(format!(
                        "{}: line {} (row {row_number}): found {} fields, expected {width} ({})",
                        path.display(),
                        rec.line,
                        rec.len(),
                        self.schema.names().collect::<Vec<_>>().join(", ")
                    )));
                }
                for i in 0..width {
                    let (bytes, _) = rec.field(i);
                    let value = if rec.is_null(i) {
                        Value::Null
                    } else {
                        match std::str::from_utf8(bytes) {
                            Ok(s) => Value::Text(s.to_string()),
                            Err(e) => {
                                return Err(StoreError::new(format!(
                                    "{}: line {} (row {row_number}): column {} ({}) is not valid UTF-8 (invalid byte at offset {} of the value); set encodingName to match the file",
                                    path.display(),
                                    rec.line,
                                    i + 1,
                                    self.schema.columns.get(i).map_or("?", |c| c.name.as_str()),
                                    e.valid_up_to()
                                )))
                            }
                        }
                    };
                    batch.push_value(value);
                }
                stats.rows_read += 1;
                if batch.num_rows() >= batch_rows {
                    let read_so_far = stats.bytes_read + parser.bytes_read();
                    batch.bytes = read_so_far - batch_start;
                    batch_start = read_so_far;
                    let full = std::mem::replace(
                        &mut batch,
                        Batch::with_capacity(self.schema.clone(), batch_rows),
                    );
                    if out.blocking_send(full).is_err() {
                        // The consumer stopped (it failed or needs no more rows).
                        stats.bytes_read += parser.bytes_read();
                        return Ok(stats);
                    }
                }
            }
            stats.bytes_read += parser.bytes_read();
        }
        if !batch.is_empty() {
            batch.bytes = stats.bytes_read - batch_start;
            let _ = out.blocking_send(batch);
        }
        Ok(stats)
    }
}

#[async_trait]
impl Source for CsvSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn read(
        self: Box<Self>,
        out: BatchTx,
        batch_rows: usize,
    ) -> Result<SourceStats, StoreError> {
        let batch_rows = batch_rows.max(1);
        tokio::task::spawn_blocking(move || self.read_blocking(&out, batch_rows))
            .await
            .map_err(|e| StoreError::new(format!("CSV reader stopped unexpectedly: {e}")))?
    }
}

/// The dataset's file, or every regular file in its folder sorted by name.
fn list_files(ds: &CsvDataset) -> Result<Vec<PathBuf>, StoreError> {
    if let Some(name) = &ds.file_name {
        let path = ds.folder.join(name);
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(vec![path]),
            Ok(_) => Err(StoreError::new(format!(
                "{}: is not a regular file",
                path.display()
            ))),
            Err(e) => Err(StoreError::new(format!(
                "{}: cannot open: {e}",
                path.display()
            ))),
        };
    }
    let entries = std::fs::read_dir(&ds.folder).map_err(|e| {
        StoreError::new(format!("{}: cannot list folder: {e}", ds.folder.display()))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            StoreError::new(format!("{}: cannot list folder: {e}", ds.folder.display()))
        })?;
        let path = entry.path();
        // `metadata` follows symbolic links, so a link to a file counts as a file.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(StoreError::new(format!(
            "{}: the folder has no files to read",
            ds.folder.display()
        )));
    }
    files.sort();
    Ok(files)
}

fn open_parser(path: &Path, format: &CsvFormat) -> Result<RecordParser<File>, StoreError> {
    let file = File::open(path)
        .map_err(|e| StoreError::new(format!("{}: cannot open: {e}", path.display())))?;
    RecordParser::new(file, format)
        .map_err(|e| StoreError::new(format!("{}: cannot read: {e}", path.display())))
}

fn parse_error(path: &Path, e: ParseError) -> StoreError {
    StoreError::new(format!("{}: {e}", path.display()))
}

/// Skips blank lines; `false` when the file has no record.
fn next_non_blank(
    parser: &mut RecordParser<File>,
    rec: &mut RawRecord,
    path: &Path,
) -> Result<bool, StoreError> {
    loop {
        if !parser.next_record(rec).map_err(|e| parse_error(path, e))? {
            return Ok(false);
        }
        if !rec.is_blank() {
            return Ok(true);
        }
    }
}

/// Column names from a header record; an empty name becomes ADF's `Prop_<index>`.
fn header_names(rec: &RawRecord, path: &Path) -> Result<Vec<String>, StoreError> {
    (0..rec.len())
        .map(|i| {
            let (bytes, _) = rec.field(i);
            match std::str::from_utf8(bytes) {
                Ok("") => Ok(format!("Prop_{i}")),
                Ok(s) => Ok(s.to_string()),
                Err(_) => Err(StoreError::new(format!(
                    "{}: line {}: header column {} is not valid UTF-8",
                    path.display(),
                    rec.line,
                    i + 1
                ))),
            }
        })
        .collect()
}
