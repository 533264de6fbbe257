//! The `DelimitedText` dataset: where the files are and how their text is laid out, read from the
//! dataset's `typeProperties` with ADF's defaults for every property left out.
//!
//! Only single-byte (ASCII) delimiter, quote and escape characters are accepted: the Copy
//! activity itself rejects multi-character column delimiters, and keeping every special
//! character one byte lets the parser and writer work on raw bytes and check UTF-8 per field.

use crate::model::props::Props;
use crate::ModelError;

/// How rows are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowDelimiter {
    /// `rowDelimiter` not given: any of `\r\n`, `\r`, `\n` ends a row on read; the Copy
    /// activity writes `\r\n`.
    #[default]
    Any,
    /// `rowDelimiter` is `"\r\n"`: written as `\r\n`; on read a lone `\r` or `\n` also ends a
    /// row, as ADF's reader tolerates mixed line endings.
    CrLf,
    /// One explicit character (for example `\n` or `|`): only this byte ends a row.
    Char(u8),
}

impl RowDelimiter {
    /// The bytes written after each row.
    pub fn write_bytes(&self) -> Vec<u8> {
        match self {
            RowDelimiter::Any | RowDelimiter::CrLf => b"\r\n".to_vec(),
            RowDelimiter::Char(b) => vec![*b],
        }
    }
}

/// Text encodings Sluice reads and writes. Only UTF-8 for now; the enum exists so that adding
/// others does not change the public shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// UTF-8. A byte-order mark is skipped on read and never written, because PostgreSQL's
    /// `COPY` would take it as part of the first value.
    #[default]
    Utf8,
}

/// The layout of a delimited text file (ADF `DelimitedText` format settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFormat {
    /// `columnDelimiter`, default `,`.
    pub column_delimiter: u8,
    /// `rowDelimiter`, default any line ending on read and `\r\n` on write.
    pub row_delimiter: RowDelimiter,
    /// `quoteChar`, default `"`; `None` (an empty `quoteChar`) means values are never quoted
    /// and `escape` protects delimiters instead.
    pub quote: Option<u8>,
    /// `escapeChar`, default `\`. Equal to `quote` (or `None` while quoting) means quotes are
    /// escaped by doubling them.
    pub escape: Option<u8>,
    /// `firstRowAsHeader`, default false.
    pub first_row_as_header: bool,
    /// `nullValue`, default empty: an unquoted field equal to it is NULL.
    pub null_value: String,
    /// `encodingName`, default UTF-8.
    pub encoding: TextEncoding,
}

impl Default for CsvFormat {
    fn default() -> Self {
        CsvFormat {
            column_delimiter: b',',
            row_delimiter: RowDelimiter::Any,
            quote: Some(b'"'),
            escape: Some(b'\\'),
            first_row_as_header: false,
            null_value: String::new(),
            encoding: TextEncoding::Utf8,
        }
    }
}

impl CsvFormat {
    /// The escape character that is distinct from the quote character. When the two are equal
    /// (or no escape is set while quoting), quotes inside quoted values are doubled instead.
    pub fn effective_escape(&self) -> Option<u8> {
        self.escape.filter(|e| Some(*e) != self.quote)
    }
}

impl CsvFormat {
    /// Reads a `DelimitedText` dataset's format properties from its `typeProperties`, with
    /// ADF's defaults. `location` and `compressionCodec` belong to the file store.
    pub fn from_props(type_props: &Props<'_>) -> Result<Self, ModelError> {
        let p = type_props;
        let mut format = CsvFormat::default();
        if let Some(d) = p.str("columnDelimiter")? {
            format.column_delimiter = match single_byte(p, "columnDelimiter", d)? {
                Some(b) => b,
                None => {
                    return Err(p.err(
                        "columnDelimiter",
                        "an empty column delimiter is not supported by the Copy activity",
                    ))
                }
            };
        }
        if let Some(r) = p.str("rowDelimiter")? {
            format.row_delimiter = row_delimiter(p, r)?;
        }
        if let Some(q) = p.str("quoteChar")? {
            format.quote = single_byte(p, "quoteChar", q)?;
        }
        if let Some(e) = p.str("escapeChar")? {
            format.escape = single_byte(p, "escapeChar", e)?;
        }
        if let Some(h) = p.bool("firstRowAsHeader")? {
            format.first_row_as_header = h;
        }
        if let Some(n) = p.str("nullValue")? {
            format.null_value = n.to_string();
        }
        if let Some(enc) = p.str("encodingName")? {
            format.encoding = encoding(p, enc)?;
        }
        check_consistent(p, &format)?;
        Ok(format)
    }
}

/// One special character: a single ASCII character, or a backslash escape written out as two
/// characters (`\t` as backslash-t is common in hand-written JSON). Empty gives `None`.
fn single_byte(p: &Props<'_>, key: &str, value: &str) -> Result<Option<u8>, ModelError> {
    let decoded = match value {
        "" => return Ok(None),
        "\\t" => "\t",
        "\\n" => "\n",
        "\\r" => "\r",
        "\\\\" => "\\",
        other => other,
    };
    let mut chars = decoded.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() => Ok(Some(c as u8)),
        (Some(c), None) => Err(p.err(
            key,
            format!("'{c}' is not an ASCII character; Sluice supports only single-byte special characters"),
        )),
        _ => Err(p.err(
            key,
            format!(
                "must be a single character, found {} characters ({value:?}); multi-character values are not supported by the Copy activity",
                decoded.chars().count()
            ),
        )),
    }
}

fn row_delimiter(p: &Props<'_>, value: &str) -> Result<RowDelimiter, ModelError> {
    match value {
        "" => Err(p.err(
            "rowDelimiter",
            "an empty row delimiter is not supported by the Copy activity",
        )),
        "\r\n" | "\\r\\n" => Ok(RowDelimiter::CrLf),
        other => match single_byte(p, "rowDelimiter", other)? {
            Some(b) => Ok(RowDelimiter::Char(b)),
            None => Ok(RowDelimiter::Any),
        },
    }
}

fn encoding(p: &Props<'_>, value: &str) -> Result<TextEncoding, ModelError> {
    let norm: String = value
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    match norm.as_str() {
        "utf8" | "utf8withoutbom" | "utf8nobom" => Ok(TextEncoding::Utf8),
        _ => Err(p.err(
            "encodingName",
            format!("encodingName '{value}' is not supported yet; use UTF-8"),
        )),
    }
}

/// Rejects combinations that would make files ambiguous to parse.
fn check_consistent(p: &Props<'_>, f: &CsvFormat) -> Result<(), ModelError> {
    let d = f.column_delimiter;
    if matches!(d, b'\r' | b'\n') {
        return Err(p.err(
            "columnDelimiter",
            "a line break cannot be the column delimiter",
        ));
    }
    if f.quote == Some(d) {
        return Err(p.err("quoteChar", "must differ from the column delimiter"));
    }
    if f.escape == Some(d) {
        return Err(p.err("escapeChar", "must differ from the column delimiter"));
    }
    if let Some(q) = f.quote {
        if matches!(q, b'\r' | b'\n') {
            return Err(p.err("quoteChar", "a line break cannot be the quote character"));
        }
    }
    if let RowDelimiter::Char(r) = f.row_delimiter {
        if r == d {
            return Err(p.err("rowDelimiter", "must differ from the column delimiter"));
        }
        if f.quote == Some(r) || f.escape == Some(r) {
            return Err(p.err(
                "rowDelimiter",
                "must differ from the quote and escape characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The format under the name the assertions use.
    struct CsvDataset {
        format: CsvFormat,
    }

    fn parse(v: serde_json::Value) -> Result<CsvFormat, ModelError> {
        let props = Props::of("dataset 'D' typeProperties", &v)?;
        CsvFormat::from_props(&props)
    }

    fn err_text(v: serde_json::Value) -> String {
        match parse(v) {
            Ok(d) => format!("unexpectedly parsed: {d:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_follow_adf() {
        let f = parse(json!({"location": {"type": "FileServerLocation"}})).unwrap();
        assert_eq!(f, CsvFormat::default());
        assert_eq!(f.column_delimiter, b',');
        assert_eq!(f.row_delimiter, RowDelimiter::Any);
        assert_eq!(f.row_delimiter.write_bytes(), b"\r\n");
        assert_eq!(f.quote, Some(b'"'));
        assert_eq!(f.escape, Some(b'\\'));
        assert!(!f.first_row_as_header);
        assert_eq!(f.null_value, "");
        assert_eq!(f.encoding, TextEncoding::Utf8);
    }

    #[test]
    fn every_property_is_read_and_marked_used() {
        let v = json!({
            "location": {"type": "LocalLocation", "folderPath": "in/sub", "fileName": "a.csv"},
            "columnDelimiter": "\\t",
            "rowDelimiter": "\n",
            "quoteChar": "'",
            "escapeChar": "'",
            "firstRowAsHeader": true,
            "nullValue": "NULL",
            "encodingName": "utf-8"
        });
        let props = Props::of("dataset 'D' typeProperties", &v).unwrap();
        let d = CsvFormat::from_props(&props).unwrap();
        props.accept("location");
        assert_eq!(props.unused(), Vec::<String>::new());
        let d = CsvDataset { format: d };
        assert_eq!(d.format.column_delimiter, b'\t');
        assert_eq!(d.format.row_delimiter, RowDelimiter::Char(b'\n'));
        assert_eq!(d.format.quote, Some(b'\''));
        assert_eq!(d.format.escape, Some(b'\''));
        assert_eq!(d.format.effective_escape(), None);
        assert!(d.format.first_row_as_header);
        assert_eq!(d.format.null_value, "NULL");
    }

    #[test]
    fn spellings_of_special_characters() {
        let d = parse(json!({"location": {"type": "FileServerLocation"},
            "columnDelimiter": "\t", "rowDelimiter": "\r\n", "quoteChar": "", "escapeChar": "\\",
            "firstRowAsHeader": "true", "encodingName": "UTF-8 without BOM"}))
        .unwrap();
        let d = CsvDataset { format: d };
        assert_eq!(d.format.column_delimiter, b'\t');
        assert_eq!(d.format.row_delimiter, RowDelimiter::CrLf);
        assert_eq!(d.format.quote, None);
        assert_eq!(d.format.escape, Some(b'\\'));
        assert!(d.format.first_row_as_header);
        let d = parse(json!({"location": {"type": "FileServerLocation"},
            "columnDelimiter": "\u{1}", "rowDelimiter": "\\r\\n", "escapeChar": ""}))
        .unwrap();
        let d = CsvDataset { format: d };
        assert_eq!(d.format.column_delimiter, 1);
        assert_eq!(d.format.row_delimiter, RowDelimiter::CrLf);
        assert_eq!(d.format.escape, None);
    }

    #[test]
    fn bad_values_name_the_property() {
        let loc = json!({"type": "FileServerLocation"});
        let e = err_text(json!({"location": loc, "columnDelimiter": ";;"}));
        assert!(
            e.contains("property 'columnDelimiter'") && e.contains("single character"),
            "{e}"
        );
        let e = err_text(json!({"location": loc, "columnDelimiter": ""}));
        assert!(e.contains("columnDelimiter") && e.contains("empty"), "{e}");
        let e = err_text(json!({"location": loc, "rowDelimiter": "ab"}));
        assert!(e.contains("rowDelimiter"), "{e}");
        let e = err_text(json!({"location": loc, "quoteChar": "§"}));
        assert!(e.contains("quoteChar") && e.contains("ASCII"), "{e}");
        let e = err_text(json!({"location": loc, "encodingName": "UTF-16"}));
        assert!(
            e.contains("encodingName 'UTF-16' is not supported yet; use UTF-8"),
            "{e}"
        );
        let e = err_text(json!({"location": loc, "quoteChar": ","}));
        assert!(e.contains("quoteChar") && e.contains("differ"), "{e}");
        let e = err_text(json!({"location": loc, "firstRowAsHeader": "yes"}));
        assert!(e.contains("firstRowAsHeader"), "{e}");
    }
}
