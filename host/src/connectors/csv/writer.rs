//! [`CsvSink`]: writes rows to one delimited text file, all or nothing.
//!
//! Rows go to a temporary file in the target folder, which is renamed over the target only
//! after the last batch has been written and synced, and only when the `write` future runs to
//! completion. A failed write, or a run that drops the `write` future because its source
//! failed, leaves any earlier target file untouched and no partial file behind.
//!
//! Values are written in their text form ([`Value::write_text`]), which PostgreSQL reads back
//! without loss. Fields are quoted only when needed: when they contain the column or row
//! delimiter, the quote or escape character or a line break, and when a value would otherwise
//! read back as NULL (a non-null value equal to `nullValue`, including the empty string when
//! `nullValue` is empty). Without a quote character that last distinction cannot be made: a
//! value equal to `nullValue` reads back as NULL.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use async_trait::async_trait;

use super::format::{CsvDataset, CsvFormat};
use crate::connectors::{BatchRx, Sink, SinkStats, StoreError};
use crate::engine::schema::SchemaRef;
use crate::engine::value::Value;

/// Write buffer size: big enough that each system call moves a lot of rows.
const WRITE_BUF: usize = 1 << 20;

/// Writes a `DelimitedText` dataset's file.
pub struct CsvSink {
    path: PathBuf,
    format: CsvFormat,
    schema: SchemaRef,
}

impl CsvSink {
    /// Checks the target and creates its folder. A sink needs `location.fileName`.
    pub fn open(ds: &CsvDataset, schema: SchemaRef) -> Result<CsvSink, StoreError> {
        let Some(name) = &ds.file_name else {
            return Err(StoreError::new(format!(
                "{}: a DelimitedText sink dataset needs location.fileName",
                ds.folder.display()
            )));
        };
        std::fs::create_dir_all(&ds.folder).map_err(|e| {
            StoreError::new(format!(
                "{}: cannot create folder: {e}",
                ds.folder.display()
            ))
        })?;
        let path = ds.folder.join(name);
        if path.is_dir() {
            return Err(StoreError::new(format!(
                "{}: is a folder, not a file",
                path.display()
            )));
        }
        Ok(CsvSink {
            path,
            format: ds.format.clone(),
            schema,
        })
    }

    /// The file this sink writes.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs on a blocking thread; returns the finished temporary file for the caller to rename.
    fn write_blocking(
        &self,
        mut input: BatchRx,
    ) -> Result<(tempfile::NamedTempFile, SinkStats), StoreError> {
        let folder = self
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        let prefix = format!(
            ".{}.",
            self.path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(&folder)
            .map_err(|e| {
                StoreError::new(format!(
                    "{}: cannot create a temporary file: {e}",
                    folder.display()
                ))
            })?;
        let io_err = |e: std::io::Error| {
            StoreError::new(format!("{}: cannot write: {e}", tmp.path().display()))
        };
        let encoder = FieldEncoder::new(&self.format);
        let mut out = BufWriter::with_capacity(WRITE_BUF, tmp.as_file());
        let mut line: Vec<u8> = Vec::with_capacity(4096);
        let mut text = String::new();
        let mut stats = SinkStats {
            peak_connections: 1,
            ..SinkStats::default()
        };
        let width = self.schema.len();
        let name_of = |i: usize| self.schema.columns.get(i).map_or("?", |c| c.name.as_str());

        if self.format.first_row_as_header {
            for (i, col) in self.schema.columns.iter().enumerate() {
                if i > 0 {
                    line.push(self.format.column_delimiter);
                }
                encoder
                    .text(&mut line, &col.name)
                    .map_err(|reason| self.err(&format!("header column {}: {reason}", i + 1)))?;
            }
            line.extend_from_slice(&encoder.row_end);
            out.write_all(&line).map_err(io_err)?;
            stats.bytes_written += line.len() as u64;
        }

        while let Some(batch) = input.blocking_recv() {
            if batch.width() != width {
                return Err(self.err(&format!(
                    "received rows with {} columns, but the sink was opened for {width} ({})",
                    batch.width(),
                    self.schema.names().collect::<Vec<_>>().join(", ")
                )));
            }
            for row in batch.rows() {
                line.clear();
                for (i, value) in row.iter().enumerate() {
                    if i > 0 {
                        line.push(self.format.column_delimiter);
                    }
                    if let Value::Null = value {
                        line.extend_from_slice(self.format.null_value.as_bytes());
                    } else {
                        text.clear();
                        value.write_text(&mut text);
                        encoder.text(&mut line, &text).map_err(|reason| {
                            self.err(&format!(
                                "row {}, column {}: {reason}",
                                stats.rows_written + 1,
                                name_of(i)
                            ))
                        })?;
                    }
                }
                line.extend_from_slice(&encoder.row_end);
                out.write_all(&line).map_err(io_err)?;
                stats.bytes_written += line.len() as u64;
                stats.rows_written += 1;
            }
        }
        out.flush().map_err(io_err)?;
        drop(out);
        tmp.as_file().sync_all().map_err(io_err)?;
        Ok((tmp, stats))
    }

    fn err(&self, reason: &str) -> StoreError {
        StoreError::new(format!("{}: {reason}", self.path.display()))
    }
}

#[async_trait]
impl Sink for CsvSink {
    async fn write(self: Box<Self>, input: BatchRx) -> Result<SinkStats, StoreError> {
        let this = *self;
        let (path, written) = tokio::task::spawn_blocking(move || {
            let result = this.write_blocking(input);
            (this.path, result)
        })
        .await
        .map_err(|e| StoreError::new(format!("CSV writer stopped unexpectedly: {e}")))?;
        let (tmp, mut stats) = written?;
        // Committed here, in the future itself: if the caller drops this future the temporary
        // file is dropped (and deleted) instead.
        set_readable(&tmp);
        tmp.persist(&path).map_err(|e| {
            StoreError::new(format!(
                "{}: cannot replace the file: {}",
                path.display(),
                e.error
            ))
        })?;
        stats.files = vec![path.display().to_string()];
        Ok(stats)
    }
}

/// Temporary files are created private (0600); a data file should have the usual 0644.
fn set_readable(tmp: &tempfile::NamedTempFile) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    let _ = tmp;
}

/// Encodes one non-null field's text with the dataset's quoting rules.
struct FieldEncoder {
    delimiter: u8,
    quote: Option<u8>,
    /// While quoting: the escape character distinct from the quote (`None` = doubling).
    /// Without quoting: the configured escape character.
    escape: Option<u8>,
    row_end: Vec<u8>,
    null_value: Vec<u8>,
}

impl FieldEncoder {
    fn new(f: &CsvFormat) -> Self {
        FieldEncoder {
            delimiter: f.column_delimiter,
            quote: f.quote,
            escape: if f.quote.is_some() {
                f.effective_escape()
            } else {
                f.escape
            },
            row_end: f.row_delimiter.write_bytes(),
            null_value: f.null_value.as_bytes().to_vec(),
        }
    }

    /// Bytes that end or split a field unless protected.
    fn is_special(&self, b: u8) -> bool {
        b == self.delimiter
            || b == b'\r'
            || b == b'\n'
            || self.row_end.contains(&b)
            || Some(b) == self.quote
            || Some(b) == self.escape
    }

    /// Appends `text` to `out`, quoted or escaped as needed; `Err` names why it cannot be
    /// written faithfully (no quote and no escape character while the text needs one).
    fn text(&self, out: &mut Vec<u8>, text: &str) -> Result<(), String> {
        let bytes = text.as_bytes();
        match self.quote {
            Some(q) => {
                let needs_quotes =
                    bytes == self.null_value.as_slice() || bytes.iter().any(|&b| self.is_special(b));
                if !needs_quotes {
                    out.extend_from_slice(bytes);
                    return Ok(());
                }
                out.push(q);
                for &b in bytes {
                    if b == q {
                        out.push(self.escape.unwrap_or(q));
                    } else if Some(b) == self.escape {
                        out.push(b);
                    }
                    out.push(b);
                }
                out.push(q);
                Ok(())
            }
            None => match self.escape {
                Some(e) => {
                    for &b in bytes {
                        if self.is_special(b) {
                            out.push(e);
                        }
                        out.push(b);
                    }
                    Ok(())
                }
                None if bytes.iter().any(|&b| self.is_special(b)) => Err(
                    "the value contains the column delimiter or a line break, but quoteChar and escapeChar are both empty".to_string(),
                ),
                None => {
                    out.extend_from_slice(bytes);
                    Ok(())
                }
            },
        }
    }
}
