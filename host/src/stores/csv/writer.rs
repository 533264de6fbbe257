//! [`CsvWriter`]: writes rows to one delimited text file.
//!
//! Values are written in their text form ([`Value::write_text`]), which PostgreSQL reads back
//! without loss. Fields are quoted only when needed: when they contain the column or row
//! delimiter, the quote or escape character or a line break, and when a value would otherwise
//! read back as NULL (a non-null value equal to `nullValue`, including the empty string when
//! `nullValue` is empty). Without a quote character that last distinction cannot be made: a
//! value equal to `nullValue` reads back as NULL. With the sink's `quoteAllText` every string
//! value (and the header's names) is quoted whether it needs it or not, as ADF's
//! `DelimitedTextWriteSettings.quoteAllText` says ("whether string values should always be
//! enclosed with quotes"); numbers, booleans, dates and NULLs stay unquoted.
//!
//! Making the file appear all at once (temporary file, then rename or upload) is the file
//! sink's job (`connectors::files::sink`); this writer only produces the bytes.

use std::io::Write;

use crate::model::files::csv_format::CsvFormat;
use crate::stores::files::RowWriter;
use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;
use crate::types::text_form::TextForm;
use crate::types::value::Value;

/// Writes one file's rows (and its header with `firstRowAsHeader`).
pub struct CsvWriter {
    out: Box<dyn Write + Send>,
    label: String,
    format: CsvFormat,
    schema: SchemaRef,
    encoder: FieldEncoder,
    line: Vec<u8>,
    text: String,
    rows: u64,
    written: u64,
}

/// Opens a writer and writes the header when the format has one. `quote_all_text`: the
/// sink's `quoteAllText`. `label` names the file in errors.
pub fn open_writer(
    out: Box<dyn Write + Send>,
    schema: SchemaRef,
    format: &CsvFormat,
    quote_all_text: bool,
    label: &str,
) -> Result<CsvWriter, StoreError> {
    let mut encoder = FieldEncoder::new(format);
    encoder.quote_all = quote_all_text && format.quote.is_some();
    let mut w = CsvWriter {
        out,
        label: label.to_string(),
        format: format.clone(),
        encoder,
        schema,
        line: Vec::with_capacity(4096),
        text: String::new(),
        rows: 0,
        written: 0,
    };
    if w.format.first_row_as_header {
        w.line.clear();
        for (i, col) in w.schema.columns.iter().enumerate() {
            if i > 0 {
                w.line.push(w.format.column_delimiter);
            }
            w.encoder
                .field(&mut w.line, &col.name, i == 0, true)
                .map_err(|reason| {
                    StoreError::new(format!("{label}: header column {}: {reason}", i + 1))
                })?;
        }
        w.line.extend_from_slice(&w.encoder.row_end);
        w.flush_line()?;
    }
    Ok(w)
}

impl CsvWriter {
    fn flush_line(&mut self) -> Result<(), StoreError> {
        self.out
            .write_all(&self.line)
            .map_err(|e| StoreError::new(format!("{}: cannot write: {e}", self.label)))?;
        self.written += self.line.len() as u64;
        Ok(())
    }
}

impl RowWriter for CsvWriter {
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let width = self.schema.len();
        if batch.width() != width {
            return Err(StoreError::new(format!(
                "{}: received rows with {} columns, but the sink was opened for {width} ({})",
                self.label,
                batch.width(),
                self.schema.names().collect::<Vec<_>>().join(", ")
            )));
        }
        for row in batch.rows() {
            self.line.clear();
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    self.line.push(self.format.column_delimiter);
                }
                if let Value::Null = value {
                    self.line
                        .extend_from_slice(self.format.null_value.as_bytes());
                } else {
                    self.text.clear();
                    value.write_text(&mut self.text);
                    if let (true, Some(q)) =
                        (width == 1 && self.text.is_empty(), self.encoder.quote)
                    {
                        // A one-column row holding the empty string would be a blank line, which
                        // readers skip (a file of only such rows would read back as no rows):
                        // quoted, it is a line of its own. (Found by the `csv` fuzz target.)
                        self.line.extend_from_slice(&[q, q]);
                    } else if let Err(reason) = self.encoder.field(
                        &mut self.line,
                        &self.text,
                        self.written == 0 && i == 0,
                        matches!(value, Value::Text(_)),
                    ) {
                        return Err(StoreError::new(format!(
                            "{}: row {}, column {}: {reason}",
                            self.label,
                            self.rows + 1,
                            self.schema.columns.get(i).map_or("?", |c| c.name.as_str())
                        )));
                    }
                }
            }
            self.line.extend_from_slice(&self.encoder.row_end);
            self.flush_line()?;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        self.out
            .flush()
            .map_err(|e| StoreError::new(format!("{}: cannot write: {e}", self.label)))?;
        Ok(self.written)
    }
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
    /// `quoteAllText` (only with a quote character): string values are always quoted.
    quote_all: bool,
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
            quote_all: false,
        }
    }

    /// Appends one value's text: quoted whatever it holds when it is a string and
    /// `quoteAllText` is on, else as [`FieldEncoder::text`] decides.
    fn field(
        &self,
        out: &mut Vec<u8>,
        text: &str,
        file_start: bool,
        is_string: bool,
    ) -> Result<(), String> {
        match self.quote {
            Some(q) if self.quote_all && is_string => {
                self.quoted(out, q, text.as_bytes());
                Ok(())
            }
            _ => self.text(out, text, file_start),
        }
    }

    /// Appends `bytes` between quotes, escaping quotes (and the escape character) inside.
    fn quoted(&self, out: &mut Vec<u8>, q: u8, bytes: &[u8]) {
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
    /// `file_start`: the text opens the file, where a leading U+FEFF would read back as a
    /// byte-order mark and be dropped, so it is quoted (found by the `csv` fuzz target).
    fn text(&self, out: &mut Vec<u8>, text: &str, file_start: bool) -> Result<(), String> {
        let bytes = text.as_bytes();
        match self.quote {
            Some(q) => {
                let needs_quotes = bytes == self.null_value.as_slice()
                    || bytes.iter().any(|&b| self.is_special(b))
                    || (file_start && text.starts_with('\u{feff}'));
                if !needs_quotes {
                    out.extend_from_slice(bytes);
                    return Ok(());
                }
                self.quoted(out, q, bytes);
                Ok(())
            }
            None => match self.escape {
                Some(e) => {
                    // A text equal to a non-empty `nullValue` would read back as NULL; an
                    // escaped first byte keeps it text (found by the `csv` fuzz target).
                    // So is a leading U+FEFF at the start of the file (a byte-order mark).
                    let is_marker = !bytes.is_empty() && bytes == self.null_value.as_slice();
                    let protect_first = is_marker || (file_start && text.starts_with('\u{feff}'));
                    for (i, &b) in bytes.iter().enumerate() {
                        if self.is_special(b) || (protect_first && i == 0) {
                            out.push(e);
                        }
                        out.push(b);
                    }
                    Ok(())
                }
                None if file_start && text.starts_with('\u{feff}') => Err(
                    "the file's first value starts with U+FEFF, which would read back as a byte-order mark, but quoteChar and escapeChar are both empty"
                        .to_string(),
                ),
                None if !bytes.is_empty() && bytes == self.null_value.as_slice() => Err(
                    "the value equals nullValue, but quoteChar and escapeChar are both empty"
                        .to_string(),
                ),
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
