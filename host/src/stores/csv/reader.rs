//! [`CsvReader`]: the rows of one delimited text file as text values, in bounded batches.
//!
//! Every column is text (`String` in ADF's interim types): the CSV format carries no types, and
//! the sink's own parsing (PostgreSQL's input functions) is the authority on what a value means.
//! The columns are the header's names with `firstRowAsHeader`, else ADF's `Prop_0`, `Prop_1`, ...
//! for the first record's width; a file without any record has no columns.

use std::io::Read;
use std::sync::{Arc, OnceLock};

use super::parse::{ParseError, RawRecord, RecordParser};
use crate::model::files::csv_format::CsvFormat;
use crate::stores::files::RowReader;
use crate::stores::skip_log::SkipLog;
use crate::stores::{StoreError, StoreErrorKind};
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::value::Value;

/// Reads one file's records.
pub struct CsvReader {
    parser: RecordParser<Box<dyn Read + Send>>,
    label: String,
    schema: SchemaRef,
    /// The first record when it is data (no header), read to learn the width.
    pending: Option<RawRecord>,
    /// Blank lines before `pending`: rows when the file has one column.
    leading_blanks: Vec<RawRecord>,
    rec: RawRecord,
    rows: u64,
    /// `enableSkipIncompatibleRow`: once set, rows with the wrong number of fields go here
    /// instead of failing the read.
    skips: Arc<OnceLock<SkipLog>>,
    delimiter: char,
}

/// Opens a reader over one file's (decompressed) bytes; `label` names the file in errors.
pub fn open_reader(
    input: Box<dyn Read + Send>,
    format: &CsvFormat,
    label: &str,
    skips: Arc<OnceLock<SkipLog>>,
) -> Result<CsvReader, StoreError> {
    let mut parser = RecordParser::new(input, format)
        .map_err(|e| StoreError::new(format!("{label}: cannot read: {e}")))?;
    let mut rec = RawRecord::default();
    let mut pending = None;
    let mut schema = Schema::default();
    let mut blanks = Vec::new();
    if next_non_blank(&mut parser, &mut rec, label, &mut blanks)? {
        schema = if format.first_row_as_header {
            Schema::new(
                header_names(&rec, label)?
                    .into_iter()
                    .map(|n| Column::new(n, DataType::Text, "String"))
                    .collect(),
            )
        } else {
            pending = Some(rec.clone());
            Schema::new(
                (0..rec.len())
                    .map(|i| Column::new(format!("Prop_{i}"), DataType::Text, "String"))
                    .collect(),
            )
        };
    }
    Ok(CsvReader {
        parser,
        label: label.to_string(),
        leading_blanks: if pending.is_some() && schema.len() == 1 {
            blanks
        } else {
            Vec::new()
        },
        schema: Arc::new(schema),
        pending,
        rec,
        rows: 0,
        skips,
        delimiter: char::from(format.column_delimiter),
    })
}

impl CsvReader {
    /// The next record that is a row; `false` at the end of the file.
    fn next_row(&mut self) -> Result<bool, StoreError> {
        if !self.leading_blanks.is_empty() {
            self.rec = self.leading_blanks.remove(0);
            return Ok(true);
        }
        if let Some(first) = self.pending.take() {
            self.rec = first;
            return Ok(true);
        }
        let width = self.schema.len();
        loop {
            if !self
                .parser
                .next_record(&mut self.rec)
                .map_err(|e| parse_error(&self.label, e))?
            {
                return Ok(false);
            }
            // A blank line is a row only in a one-column file (a NULL there is written as an
            // empty line); elsewhere it is padding, as ADF and most readers treat it.
            if !(self.rec.is_blank() && width != 1) {
                return Ok(true);
            }
        }
    }

    /// The record as text, for the skipped-rows log.
    fn record_text(&self) -> String {
        (0..self.rec.len())
            .map(|i| String::from_utf8_lossy(self.rec.field(i).0).into_owned())
            .collect::<Vec<_>>()
            .join(&self.delimiter.to_string())
    }
}

impl RowReader for CsvReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, StoreError> {
        let width = self.schema.len();
        if width == 0 {
            return Ok(None);
        }
        let mut batch = Batch::with_capacity(self.schema.clone(), max_rows.min(4096));
        while batch.num_rows() < max_rows && self.next_row()? {
            self.rows += 1;
            let row_number = self.rows;
            if self.rec.len() != width {
                let reason = format!(
                    "{}: line {} (row {row_number}): found {} fields, expected {width} ({})",
                    self.label,
                    self.rec.line,
                    self.rec.len(),
                    self.schema.names().collect::<Vec<_>>().join(", ")
                );
                match self.skips.get() {
                    Some(log) => {
                        log.record("source", &self.record_text(), &reason);
                        continue;
                    }
                    None => return Err(StoreError::with_kind(StoreErrorKind::Data, reason)),
                }
            }
            for i in 0..width {
                let value = if self.rec.is_null(i) {
                    Value::Null
                } else {
                    let (bytes, _) = self.rec.field(i);
                    match std::str::from_utf8(bytes) {
                        Ok(s) => Value::Text(s.to_string()),
                        Err(e) => {
                            return Err(StoreError::with_kind(StoreErrorKind::Data, format!(
                                "{}: line {} (row {row_number}): column {} ({}) is not valid UTF-8 (invalid byte at offset {} of the value); set encodingName to match the file",
                                self.label,
                                self.rec.line,
                                i + 1,
                                self.schema.columns.get(i).map_or("?", |c| c.name.as_str()),
                                e.valid_up_to()
                            )))
                        }
                    }
                };
                batch.push_value(value);
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

fn parse_error(label: &str, e: ParseError) -> StoreError {
    let kind = match &e {
        ParseError::Io(io) => crate::stores::error::io_kind(io.kind()),
        ParseError::Unterminated { .. } => StoreErrorKind::Data,
    };
    StoreError::with_kind(kind, format!("{label}: {e}"))
}

/// Skips blank lines; `false` when the file has no record.
fn next_non_blank(
    parser: &mut RecordParser<Box<dyn Read + Send>>,
    rec: &mut RawRecord,
    label: &str,
    blanks: &mut Vec<RawRecord>,
) -> Result<bool, StoreError> {
    loop {
        if !parser.next_record(rec).map_err(|e| parse_error(label, e))? {
            return Ok(false);
        }
        if !rec.is_blank() {
            return Ok(true);
        }
        blanks.push(rec.clone());
    }
}

/// Column names from a header record; an empty name becomes ADF's `Prop_<index>`.
fn header_names(rec: &RawRecord, label: &str) -> Result<Vec<String>, StoreError> {
    (0..rec.len())
        .map(|i| {
            let (bytes, _) = rec.field(i);
            match std::str::from_utf8(bytes) {
                Ok("") => Ok(format!("Prop_{i}")),
                Ok(s) => Ok(s.to_string()),
                Err(_) => Err(StoreError::with_kind(
                    StoreErrorKind::Data,
                    format!(
                        "{label}: line {}: header column {} is not valid UTF-8",
                        rec.line,
                        i + 1
                    ),
                )),
            }
        })
        .collect()
}
