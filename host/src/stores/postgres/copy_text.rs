//! Text-format COPY rows, for sinks where some column can only be sent as PostgreSQL's text
//! form (types without a binary codec here, or value kinds that do not convert in binary).
//!
//! Each value is written with [`Value::write_text`], which produces PostgreSQL's own input
//! syntax, then escaped for COPY: backslash, newline, carriage return and tab become `\\`,
//! `\n`, `\r`, `\t`; NULL is `\N`; fields are tab-separated and each row ends with a newline.

use std::cell::RefCell;

use bytes::{BufMut, BytesMut};

use crate::types::text_form::TextForm;
use crate::types::value::Value;

thread_local! {
    /// Reused formatting buffer so non-string values do not allocate per value.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Appends one text COPY row (tab-separated, newline-terminated) to `out`.
pub fn write_text_row(row: &[Value], out: &mut BytesMut) {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => write_row_with(row, out, &mut scratch),
        // Only reachable through re-entrancy, which this module never does; stay correct anyway.
        Err(_) => write_row_with(row, out, &mut String::new()),
    });
}

/// [`write_text_row`] with a caller-owned scratch buffer.
#[derive(Debug, Default)]
pub struct TextRowWriter {
    scratch: String,
}

impl TextRowWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn write_row(&mut self, row: &[Value], out: &mut BytesMut) {
        write_row_with(row, out, &mut self.scratch);
    }
}

fn write_row_with(row: &[Value], out: &mut BytesMut, scratch: &mut String) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.put_u8(b'\t');
        }
        match v {
            Value::Null => out.put_slice(b"\\N"),
            // Already text: escape straight from the value.
            Value::Text(s) | Value::Json(s) | Value::Numeric(s) => escape_into(s.as_bytes(), out),
            _ => {
                scratch.clear();
                v.write_text(scratch);
                escape_into(scratch.as_bytes(), out);
            }
        }
    }
    out.put_u8(b'\n');
}

/// Copies `bytes` into `out`, escaping the characters COPY's text format treats specially.
/// Unescaped runs are copied in one piece.
fn escape_into(bytes: &[u8], out: &mut BytesMut) {
    out.reserve(bytes.len());
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped = match b {
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            _ => continue,
        };
        out.put_slice(bytes.get(start..i).unwrap_or_default());
        out.put_u8(b'\\');
        out.put_u8(escaped);
        start = i + 1;
    }
    out.put_slice(bytes.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::value::ArrayValue;

    fn row(values: &[Value]) -> String {
        let mut out = BytesMut::new();
        write_text_row(values, &mut out);
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }

    #[test]
    fn escapes_specials_and_nulls() {
        let line = row(&[
            Value::Text("a\tb\nc\rd\\e \"q\" ✓".into()),
            Value::Null,
            Value::Int32(-5),
            Value::Text(String::new()),
            Value::Text("\\N".into()),
        ]);
        assert_eq!(line, "a\\tb\\nc\\rd\\\\e \"q\" ✓\t\\N\t-5\t\t\\\\N\n");
    }

    #[test]
    fn formatted_values_are_escaped_too() {
        let line = row(&[
            Value::Bytes(vec![0, 255]),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(2, 1)],
                elements: vec![Value::Text("x\ty".into()), Value::Null],
            })),
            Value::Numeric("1.500".into()),
            Value::Bool(true),
        ]);
        assert_eq!(line, "\\\\x00ff\t{\"x\\ty\",NULL}\t1.500\ttrue\n");
    }

    #[test]
    fn writer_matches_free_function() {
        let values = [
            Value::Float64(f64::NEG_INFINITY),
            Value::Date(0),
            Value::Null,
        ];
        let mut a = BytesMut::new();
        let mut b = BytesMut::new();
        write_text_row(&values, &mut a);
        let mut w = TextRowWriter::new();
        w.write_row(&values, &mut b);
        w.write_row(&[], &mut b);
        assert_eq!(&a[..], b"-Infinity\t2000-01-01\t\\N\n");
        assert_eq!(&b[..], b"-Infinity\t2000-01-01\t\\N\n\n");
    }
}
