//! A byte-level delimited-text record parser with ADF's rules.
//!
//! Hand-written rather than the `csv` crate's reader because Sluice needs three things that
//! reader does not give: whether each field was quoted (a quoted empty string is a value, an
//! unquoted empty field is NULL), ADF's no-quote mode where `escapeChar` protects delimiters in
//! unquoted values, and physical line numbers for error messages. Rules:
//!
//! - A field that starts with the quote character is quoted; inside it the escape character
//!   takes the next byte literally and a doubled quote is one quote (accepted even when an
//!   escape character is set, so files from tools that double quotes still read correctly).
//!   Text after the closing quote is kept, as most CSV readers do.
//! - Without a quote character, the escape character takes the next byte literally anywhere in
//!   a field (delimiters, line breaks, itself).
//! - A record ends at the row delimiter or at end of input; input ending right after a row
//!   delimiter does not start another record.

use std::io::{self, Read};

use crate::model::files::csv_format::{CsvFormat, RowDelimiter};

/// Read buffer size: large enough that system calls are rare.
const BUF_SIZE: usize = 256 * 1024;

/// Why a record could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: quoted value is not closed before the end of the file")]
    Unterminated { line: u64 },
}

/// One parsed record: the unescaped bytes of every field, back to back.
#[derive(Debug, Default, Clone)]
pub struct RawRecord {
    buf: Vec<u8>,
    /// End offset in `buf`, whether it was quoted, and whether it is NULL, per field.
    fields: Vec<(usize, bool, bool)>,
    /// Physical line (1-based) where the record starts.
    pub line: u64,
}

impl RawRecord {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The bytes of field `i` and whether it was quoted.
    pub fn field(&self, i: usize) -> (&[u8], bool) {
        let start = if i == 0 {
            0
        } else {
            self.fields.get(i - 1).map_or(0, |f| f.0)
        };
        match self.fields.get(i) {
            Some(&(end, quoted, _)) => (self.buf.get(start..end).unwrap_or_default(), quoted),
            None => (&[], false),
        }
    }

    /// Whether field `i` was written exactly as `nullValue`, unquoted and unescaped.
    pub fn is_null(&self, i: usize) -> bool {
        self.fields.get(i).is_some_and(|f| f.2)
    }

    /// A line with nothing on it (one empty, unquoted field).
    pub fn is_blank(&self) -> bool {
        self.fields.len() == 1 && self.buf.is_empty() && !self.fields.iter().any(|f| f.1)
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.fields.clear();
    }

    fn end_field(&mut self, quoted: bool, null: bool) {
        self.fields.push((self.buf.len(), quoted, null));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the first byte of a field.
    Start,
    Unquoted,
    Quoted,
    /// Just after a quote inside a quoted field: a closing quote or the first of a pair.
    AfterQuote,
}

/// Pulls records one at a time from a reader.
pub struct RecordParser<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes taken from `inner` so far.
    consumed: u64,
    line: u64,
    delimiter: u8,
    quote: Option<u8>,
    escape: Option<u8>,
    terminator: RowDelimiter,
    /// `nullValue`, matched against a field's raw bytes (before unescaping) so that a marker
    /// such as `\N` works with a backslash escape character.
    null: Vec<u8>,
}

impl<R: Read> RecordParser<R> {
    /// A parser for `format`; a leading UTF-8 byte-order mark is skipped.
    pub fn new(inner: R, format: &CsvFormat) -> io::Result<Self> {
        let mut p = RecordParser {
            inner,
            buf: vec![0; BUF_SIZE],
            pos: 0,
            len: 0,
            consumed: 0,
            line: 1,
            delimiter: format.column_delimiter,
            quote: format.quote,
            escape: format.effective_escape(),
            terminator: format.row_delimiter,
            null: format.null_value.as_bytes().to_vec(),
        };
        while p.len < 3 {
            let n = p.read_more(p.len)?;
            if n == 0 {
                break;
            }
        }
        if p.buf.get(..3) == Some(&b"\xEF\xBB\xBF"[..]) && p.len >= 3 {
            p.pos = 3;
        }
        p.consumed = p.len as u64;
        Ok(p)
    }

    /// Bytes read from the underlying reader so far (the file size once parsing is done).
    #[cfg(test)]
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// Reads into the buffer from `at`, retrying interruptions; returns bytes read.
    fn read_more(&mut self, at: usize) -> io::Result<usize> {
        loop {
            let Some(space) = self.buf.get_mut(at..) else {
                return Ok(0);
            };
            match self.inner.read(space) {
                Ok(n) => {
                    self.len = at + n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.pos >= self.len {
            self.pos = 0;
            self.len = 0;
            let n = self.read_more(0)?;
            self.consumed += n as u64;
            if n == 0 {
                return Ok(None);
            }
        }
        Ok(self.buf.get(self.pos).copied())
    }

    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        let b = self.peek()?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    /// Counts a line break that is part of a value.
    fn count_data_newline(&mut self, b: u8) -> io::Result<()> {
        match b {
            b'\n' => self.line += 1,
            b'\r' if self.peek()? != Some(b'\n') => self.line += 1,
            _ => {}
        }
        Ok(())
    }

    fn is_terminator(&self, b: u8) -> bool {
        match self.terminator {
            RowDelimiter::Any | RowDelimiter::CrLf => b == b'\r' || b == b'\n',
            RowDelimiter::Char(t) => b == t,
        }
    }

    /// Consumes the rest of a row delimiter whose first byte `b` was just read.
    fn finish_terminator(&mut self, b: u8) -> io::Result<()> {
        match self.terminator {
            RowDelimiter::Any | RowDelimiter::CrLf => {
                if b == b'\r' && self.peek()? == Some(b'\n') {
                    self.pos += 1;
                }
                self.line += 1;
            }
            RowDelimiter::Char(b'\r') => {
                if self.peek()? != Some(b'\n') {
                    self.line += 1;
                }
            }
            RowDelimiter::Char(_) => self.line += 1,
        }
        Ok(())
    }

    /// Pushes a byte that belongs to a value.
    fn push(&mut self, rec: &mut RawRecord, b: u8) -> io::Result<()> {
        rec.buf.push(b);
        self.count_data_newline(b)
    }

    /// Parses the next record into `rec`; `false` at end of input.
    pub fn next_record(&mut self, rec: &mut RawRecord) -> Result<bool, ParseError> {
        rec.clear();
        rec.line = self.line;
        let mut state = State::Start;
        let mut quoted = false;
        let mut quote_line = self.line;
        // Raw bytes of the current field that match `null` so far; `None` once it differs.
        let mut null_pos = Some(0usize);
        loop {
            let Some(b) = self.next_byte()? else {
                return match state {
                    State::Quoted => Err(ParseError::Unterminated { line: quote_line }),
                    State::Start if rec.fields.is_empty() => Ok(false),
                    _ => {
                        rec.end_field(quoted, self.is_null(quoted, null_pos));
                        Ok(true)
                    }
                };
            };
            match state {
                State::Start | State::Unquoted => {
                    if state == State::Start && self.quote == Some(b) {
                        state = State::Quoted;
                        quoted = true;
                        quote_line = self.line;
                    } else if b == self.delimiter {
                        rec.end_field(quoted, self.is_null(quoted, null_pos));
                        quoted = false;
                        null_pos = Some(0);
                        state = State::Start;
                    } else if self.is_terminator(b) {
                        rec.end_field(quoted, self.is_null(quoted, null_pos));
                        self.finish_terminator(b)?;
                        return Ok(true);
                    } else if self.quote.is_none() && self.escape == Some(b) {
                        null_pos = self.match_null(null_pos, b);
                        match self.next_byte()? {
                            Some(c) => {
                                null_pos = self.match_null(null_pos, c);
                                self.push(rec, c)?;
                            }
                            None => rec.buf.push(b),
                        }
                        state = State::Unquoted;
                    } else {
                        null_pos = self.match_null(null_pos, b);
                        self.push(rec, b)?;
                        state = State::Unquoted;
                    }
                }
                State::Quoted => {
                    if self.escape == Some(b) {
                        match self.next_byte()? {
                            Some(c) => self.push(rec, c)?,
                            None => return Err(ParseError::Unterminated { line: quote_line }),
                        }
                    } else if self.quote == Some(b) {
                        state = State::AfterQuote;
                    } else {
                        self.push(rec, b)?;
                    }
                }
                State::AfterQuote => {
                    if self.quote == Some(b) {
                        rec.buf.push(b);
                        state = State::Quoted;
                    } else if b == self.delimiter {
                        rec.end_field(quoted, false);
                        quoted = false;
                        null_pos = Some(0);
                        state = State::Start;
                    } else if self.is_terminator(b) {
                        rec.end_field(quoted, false);
                        self.finish_terminator(b)?;
                        return Ok(true);
                    } else {
                        self.push(rec, b)?;
                        state = State::Unquoted;
                    }
                }
            }
        }
    }

    fn match_null(&self, pos: Option<usize>, b: u8) -> Option<usize> {
        pos.filter(|&k| self.null.get(k) == Some(&b)).map(|k| k + 1)
    }

    /// Quoted fields are always values, so a quoted `nullValue` stays text.
    fn is_null(&self, quoted: bool, pos: Option<usize>) -> bool {
        !quoted && pos == Some(self.null.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A record's line and its (text, quoted) fields.
    type Parsed = (u64, Vec<(String, bool)>);

    /// Every record of `input`.
    fn records(input: &[u8], format: &CsvFormat) -> Result<Vec<Parsed>, String> {
        let mut p = RecordParser::new(input, format).map_err(|e| e.to_string())?;
        let mut rec = RawRecord::default();
        let mut out = Vec::new();
        while p.next_record(&mut rec).map_err(|e| e.to_string())? {
            let fields = (0..rec.len())
                .map(|i| {
                    let (b, q) = rec.field(i);
                    (String::from_utf8_lossy(b).into_owned(), q)
                })
                .collect();
            out.push((rec.line, fields));
        }
        assert_eq!(p.bytes_read(), input.len() as u64);
        Ok(out)
    }

    fn texts(input: &str, format: &CsvFormat) -> Vec<Vec<String>> {
        records(input.as_bytes(), format)
            .unwrap()
            .into_iter()
            .map(|(_, f)| f.into_iter().map(|(t, _)| t).collect())
            .collect()
    }

    #[test]
    fn any_line_ending_and_no_trailing_record() {
        let f = CsvFormat::default();
        assert_eq!(
            texts("a,b\r\nc,d\re,f\ng,h\n", &f),
            vec![
                vec!["a", "b"],
                vec!["c", "d"],
                vec!["e", "f"],
                vec!["g", "h"]
            ]
        );
        assert_eq!(texts("a,", &f), vec![vec!["a", ""]]);
        assert!(texts("", &f).is_empty());
    }

    #[test]
    fn quoted_fields_hold_delimiters_newlines_and_quotes() {
        let f = CsvFormat::default();
        let r = records(
            b"\"a,b\",\"x\r\ny\",\"q\\\"q\",\"d\"\"d\",\"\"\nnext,1\n",
            &f,
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        let (line, fields) = &r[0];
        assert_eq!(*line, 1);
        assert_eq!(fields[0], ("a,b".to_string(), true));
        assert_eq!(fields[1], ("x\r\ny".to_string(), true));
        assert_eq!(fields[2], ("q\"q".to_string(), true));
        assert_eq!(fields[3], ("d\"d".to_string(), true));
        assert_eq!(fields[4], (String::new(), true));
        assert_eq!(r[1].0, 3, "the embedded line break counts as a line");
    }

    #[test]
    fn escape_equal_to_quote_means_doubling_and_backslash_is_literal() {
        let f = CsvFormat {
            escape: Some(b'"'),
            ..CsvFormat::default()
        };
        assert_eq!(texts("\"a\\\"\"b\"", &f), vec![vec!["a\\\"b"]]);
    }

    #[test]
    fn no_quote_mode_uses_the_escape_character() {
        let f = CsvFormat {
            quote: None,
            ..CsvFormat::default()
        };
        assert_eq!(
            texts("a\\,b,\"c\",d\\\\\\\ne\n", &f),
            vec![vec!["a,b", "\"c\"", "d\\\ne"]]
        );
    }

    #[test]
    fn unterminated_quote_reports_its_line() {
        let e = records(b"a\n\"open,b\n", &CsvFormat::default()).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn bom_is_skipped_and_explicit_row_delimiter() {
        let f = CsvFormat {
            row_delimiter: RowDelimiter::Char(b'|'),
            ..CsvFormat::default()
        };
        let r = records(b"\xEF\xBB\xBFa,b|c\nd,e|", &f).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1[0].0, "a");
        assert_eq!(r[1].1[0].0, "c\nd");
    }
}
