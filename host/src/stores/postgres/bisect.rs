//! Finding the rows PostgreSQL refuses in a failed write batch, as pgloader does: the batch
//! is split in halves, each half is written again on its own, and only a half that fails is
//! split further, down to single rows. Writing a batch with `b` bad rows out of `n` costs
//! about `2·b·log2(n)` statements, and nothing at all while batches succeed.
//!
//! Also here: which server errors are a row's fault ([`is_row_error`]), where in a COPY the
//! server found it ([`copy_position`]), one readable reason per row ([`row_reason`]), and the
//! row's own values as text for the session log, recovered from the encoded batch.

use std::ops::Range;

use tokio_postgres::types::Type;

use super::binary::decode;
use crate::types::text_form::TextForm;
use crate::types::value::Value;

/// The stage name a sink records the rows it refused under in the
/// [`SkipLog`](crate::stores::skip_log::SkipLog).
pub const SINK_OPERATION: &str = "sink";

/// The order in which parts of a failed batch are written again. The whole batch is known to
/// have failed; ranges come out left to right, so the rows kept are those an all-good batch
/// would have kept (the first of two duplicate keys wins, as in one COPY).
#[derive(Debug)]
pub struct Bisection {
    /// Ranges still to try, the next one last.
    stack: Vec<Range<usize>>,
}

impl Bisection {
    /// A bisection of a failed batch of `rows` rows (at least two).
    pub fn new(rows: usize) -> Bisection {
        let mut b = Bisection { stack: Vec::new() };
        b.split(0..rows);
        b
    }

    fn split(&mut self, r: Range<usize>) {
        let mid = r.start + (r.end - r.start) / 2;
        self.stack.push(mid..r.end);
        self.stack.push(r.start..mid);
    }

    /// The next range to write.
    pub fn next_range(&mut self) -> Option<Range<usize>> {
        self.stack.pop()
    }

    /// `r` failed with a row error: true when it is a single row (the bad row itself);
    /// otherwise its halves are tried next.
    pub fn failed(&mut self, r: Range<usize>) -> bool {
        if r.len() <= 1 {
            return true;
        }
        self.split(r);
        false
    }
}

/// Whether a server error is caused by the values of a row rather than by the connection,
/// the table or the server: data exceptions (class 22: bad input syntax, value too long, out
/// of range), integrity constraint violations (class 23: NOT NULL, unique, check, foreign
/// key), a datatype mismatch (42804) and a row too large for an index (54000). Anything else
/// (a lost connection, a missing table or column, a timeout, permissions) still fails the
/// activity, since skipping rows would not make it go away.
pub fn is_row_error(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("22") || c.starts_with("23") || c == "42804" || c == "54000"
        }
        None => false,
    }
}

/// Where in a COPY the server met the error: the 1-based row number within that COPY, and the
/// column when it names one, from the error's context (`COPY t, line 3, column n: "abc"`).
pub fn copy_position(e: &tokio_postgres::Error) -> Option<(u64, Option<String>)> {
    let db = e.as_db_error()?;
    let context = db.where_()?;
    context.lines().find_map(parse_copy_context)
}

fn parse_copy_context(line: &str) -> Option<(u64, Option<String>)> {
    let rest = line.strip_prefix("COPY ")?;
    let at = rest.find(", line ")?;
    let rest = &rest[at + ", line ".len()..];
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let number: u64 = rest.get(..digits)?.parse().ok()?;
    let rest = &rest[digits..];
    let column = rest.strip_prefix(", column ").map(|c| {
        let end = c.find(": ").unwrap_or(c.len());
        c[..end].to_string()
    });
    Some((number, column))
}

/// One line saying why the server refused a row, naming the column when the server does:
/// `column "n": invalid input syntax for type integer: "abc" (22P02)`.
pub fn row_reason(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let column = db
        .column()
        .map(str::to_string)
        .or_else(|| copy_position(e).and_then(|(_, c)| c));
    let mut s = String::new();
    if let Some(c) = column {
        s.push_str(&format!("column \"{c}\": "));
    }
    s.push_str(&format!("{} ({})", db.message(), db.code().code()));
    if let Some(d) = db.detail() {
        s.push_str(&format!("; detail: {d}"));
    }
    if let Some(c) = db.constraint() {
        if !db.message().contains(c) {
            s.push_str(&format!("; constraint: {c}"));
        }
    }
    s
}

/// End offsets of each tuple in a binary COPY body (no header, no trailer).
pub fn binary_row_ends(body: &[u8]) -> Result<Vec<usize>, String> {
    let mut ends = Vec::new();
    let mut pos = 0usize;
    while pos < body.len() {
        let count = read_i16(body, pos)?;
        pos += 2;
        for _ in 0..count.max(0) {
            let len = read_i32(body, pos)?;
            pos += 4;
            if len > 0 {
                pos += len as usize;
            }
        }
        if pos > body.len() {
            return Err("a tuple runs past the end of the batch".into());
        }
        ends.push(pos);
    }
    Ok(ends)
}

/// End offsets of each line in a text COPY body. Newlines inside values are escaped, so
/// every raw newline ends a row.
pub fn text_row_ends(body: &[u8]) -> Vec<usize> {
    body.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect()
}

fn read_i16(b: &[u8], at: usize) -> Result<i16, String> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(i16::from_be_bytes)
        .ok_or_else(|| "a tuple is cut short".to_string())
}

fn read_i32(b: &[u8], at: usize) -> Result<i32, String> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(i32::from_be_bytes)
        .ok_or_else(|| "a tuple is cut short".to_string())
}

/// A row as the session log shows it (ADF's `OperationItem`): every value in PostgreSQL's
/// text form, double-quoted with inner quotes doubled, comma-separated; NULL as nothing.
pub fn render_fields<I, S>(fields: I) -> String
where
    I: IntoIterator<Item = Option<S>>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(s) = f {
            out.push('"');
            out.push_str(&s.as_ref().replace('"', "\"\""));
            out.push('"');
        }
    }
    out
}

/// [`render_fields`] of engine values.
pub fn render_values(row: &[Value]) -> String {
    render_fields(row.iter().map(Value::to_text))
}

/// [`render_fields`] of one binary COPY tuple, decoded with the target column types.
pub fn render_binary_row(tuple: &[u8], types: &[Type]) -> String {
    let mut fields: Vec<Option<String>> = Vec::new();
    let Ok(count) = read_i16(tuple, 0) else {
        return String::new();
    };
    let mut pos = 2usize;
    for i in 0..count.max(0) as usize {
        let Ok(len) = read_i32(tuple, pos) else {
            break;
        };
        pos += 4;
        if len < 0 {
            fields.push(None);
            continue;
        }
        let raw = tuple.get(pos..pos + len as usize).unwrap_or_default();
        pos += len as usize;
        let text = match types.get(i).map(|ty| decode(ty, raw)) {
            Some(Ok(v)) => v.to_text(),
            _ => Some(format!("\\x{}", hex::encode(raw))),
        };
        fields.push(text);
    }
    render_fields(fields)
}

/// [`render_fields`] of one text COPY line: tab-separated, `\N` for NULL, backslash escapes.
pub fn render_text_row(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    render_fields(line.split(|b| *b == b'\t').map(|f| {
        if f == b"\\N" {
            return None;
        }
        let mut out = Vec::with_capacity(f.len());
        let mut it = f.iter();
        while let Some(&b) = it.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            match it.next() {
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b't') => out.push(b'\t'),
                Some(&other) => out.push(other),
                None => out.push(b'\\'),
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::postgres::copy_binary::write_row;
    use crate::stores::postgres::copy_text::write_text_row;
    use bytes::BytesMut;

    /// Runs a bisection against a predicate "this range writes" and returns the bad rows and
    /// the number of attempts.
    fn run(rows: usize, bad: &[usize]) -> (Vec<usize>, usize) {
        let mut b = Bisection::new(rows);
        let (mut found, mut attempts) = (Vec::new(), 0);
        while let Some(r) = b.next_range() {
            attempts += 1;
            if bad.iter().any(|i| r.contains(i)) && b.failed(r.clone()) {
                found.push(r.start);
            }
        }
        (found, attempts)
    }

    #[test]
    fn bisection_finds_exactly_the_bad_rows_in_order() {
        assert_eq!(run(10, &[3]).0, vec![3]);
        assert_eq!(run(10, &[0, 9]).0, vec![0, 9]);
        assert_eq!(run(2, &[0, 1]).0, vec![0, 1]);
        assert_eq!(run(7, &[1, 2, 3, 4, 5]).0, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn bisection_costs_about_two_log_n_per_bad_row() {
        let (found, attempts) = run(10_000, &[1234]);
        assert_eq!(found, vec![1234]);
        // 2 ranges per level, 14 levels for 10,000 rows.
        assert!(attempts <= 2 * 14, "{attempts}");
        let bad: Vec<usize> = (0..10_000).step_by(1000).collect();
        let (found, attempts) = run(10_000, &bad);
        assert_eq!(found, bad);
        assert!(attempts <= 10 * 2 * 14, "{attempts}");
    }

    #[test]
    fn parses_copy_context() {
        assert_eq!(
            parse_copy_context("COPY t, line 3, column n: \"abc\""),
            Some((3, Some("n".to_string())))
        );
        assert_eq!(
            parse_copy_context("COPY t, line 12: \"1\t2, line 5\""),
            Some((12, None))
        );
        assert_eq!(parse_copy_context("COPY t, line 7"), Some((7, None)));
        assert_eq!(parse_copy_context("SQL statement"), None);
    }

    #[test]
    fn renders_rows_from_encoded_batches() {
        let types = vec![Type::INT4, Type::TEXT, Type::TEXT];
        let rows = [
            vec![
                Value::Int32(1),
                Value::Text("a \"q\", b".into()),
                Value::Null,
            ],
            vec![
                Value::Int32(-2),
                Value::Text(String::new()),
                Value::Text("x\ty".into()),
            ],
        ];
        let mut bin = BytesMut::new();
        let mut text = BytesMut::new();
        for r in &rows {
            write_row(r, &types, &mut bin).unwrap();
            write_text_row(r, &mut text);
        }
        let ends = binary_row_ends(&bin).unwrap();
        assert_eq!(ends.len(), 2);
        assert_eq!(ends[1], bin.len());
        let first = render_binary_row(&bin[..ends[0]], &types);
        assert_eq!(first, "\"1\",\"a \"\"q\"\", b\",");
        assert_eq!(first, render_values(&rows[0]));
        let tends = text_row_ends(&text);
        assert_eq!(tends.len(), 2);
        let second = render_text_row(&text[tends[0]..tends[1]]);
        assert_eq!(second, "\"-2\",\"\",\"x\ty\"");
        assert_eq!(second, render_values(&rows[1]));
        assert!(binary_row_ends(&bin[..bin.len() - 1]).is_err());
    }
}
