//! The Json format: JSON lines (`setOfObjects`, one object per line) or one JSON array of
//! objects (`arrayOfObjects`).
//!
//! Reading streams with `serde_json`'s `StreamDeserializer`; every field is kept as its raw JSON
//! text (`RawValue`) so numbers keep all their digits and `json` documents keep their exact text.
//! Columns are the union of the keys of the first [`INFER_ROWS`] rows, in first-seen order, and
//! their types follow from the values seen there (see `docs/parquet-type-mapping.md`, "Json").
//! An array file is turned into a stream of objects by [`ArrayItems`], which blanks out the
//! brackets and separating commas (keeping byte offsets and line numbers as in the file) and
//! checks the array's punctuation on the way.
//!
//! Writing puts each row out as `{"col": value, ...}` in column order; see [`write_value`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{RowReader, RowWriter};
pub use crate::model::files::formats::{FilePattern, JsonSettings};
use crate::stores::{StoreError, StoreErrorKind};
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::text_form::TextForm;
use crate::types::value::{ArrayValue, Value};

/// Rows read ahead to infer the columns and their types.
pub const INFER_ROWS: usize = 1000;
/// Bytes read ahead for inference at most, however few rows that is.
const INFER_BYTES: u64 = 16 * 1024 * 1024;
/// Read buffer size.
const BUF_SIZE: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Reading

/// One JSON object's fields in file order, values as raw JSON text.
struct RawObject(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (each row must be an object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push((k, v));
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// The JSON kind of a raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Number,
    String,
    Nested,
}

fn kind_of(raw: &str) -> Kind {
    match raw.as_bytes().first() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'"') => Kind::String,
        Some(b'{' | b'[') => Kind::Nested,
        _ if raw.parse::<i64>().is_ok() => Kind::Int,
        _ => Kind::Number,
    }
}

/// What the inference rows showed for one column.
#[derive(Default, Clone, Copy)]
struct Seen {
    bool: bool,
    int: bool,
    number: bool,
    string: bool,
    nested: bool,
}

impl Seen {
    fn add(&mut self, k: Kind) {
        match k {
            Kind::Null => {}
            Kind::Bool => self.bool = true,
            Kind::Int => self.int = true,
            Kind::Number => self.number = true,
            Kind::String => self.string = true,
            Kind::Nested => self.nested = true,
        }
    }

    /// Objects or arrays make a JSON column; one scalar kind its own type; a mix text.
    fn data_type(self) -> (DataType, &'static str) {
        match (self.bool, self.int, self.number, self.string, self.nested) {
            (_, _, _, _, true) => (DataType::Json, "json"),
            (true, false, false, false, false) => (DataType::Bool, "bool"),
            (false, true, false, false, false) => (DataType::Int64, "int8"),
            (false, _, true, false, false) => (DataType::Numeric, "numeric"),
            _ => (DataType::Text, "text"),
        }
    }
}

type Stream = serde_json::StreamDeserializer<
    'static,
    serde_json::de::IoRead<Box<dyn Read + Send>>,
    RawObject,
>;

struct JsonReader {
    label: String,
    schema: SchemaRef,
    index: HashMap<String, usize>,
    stream: Stream,
    /// Rows read for inference, not yet handed out.
    ahead: VecDeque<RawObject>,
    rows: u64,
    /// Byte offset reached by the rows handed out so far.
    offset: u64,
    /// Byte offset after the rows read ahead.
    ahead_offset: u64,
}

/// Skips a UTF-8 byte order mark and leading white space; returns the first byte after them.
fn first_byte(input: &mut BufReader<Box<dyn Read + Send>>) -> io::Result<Option<u8>> {
    let mut start = true;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if start && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            input.consume(3);
            start = false;
            continue;
        }
        start = false;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                input.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

/// Opens a reader over one JSON file (JSON lines or one array of objects, detected from a
/// leading `[`). Reads up to [`INFER_ROWS`] rows ahead to learn the columns.
pub fn open_reader(
    input: Box<dyn Read + Send>,
    _settings: &JsonSettings,
    label: &str,
) -> Result<Box<dyn RowReader>, StoreError> {
    let mut buffered = BufReader::with_capacity(BUF_SIZE, input);
    let first = first_byte(&mut buffered)
        .map_err(|e| StoreError::new(format!("{label}: cannot read: {e}")))?;
    let source: Box<dyn Read + Send> = match first {
        // serde_json reads a byte at a time: buffer after the transformation too.
        Some(b'[') => Box::new(BufReader::with_capacity(
            BUF_SIZE,
            ArrayItems::new(buffered),
        )),
        _ => Box::new(buffered),
    };
    let stream = serde_json::Deserializer::from_reader(source).into_iter::<RawObject>();
    let mut reader = JsonReader {
        label: label.to_string(),
        schema: SchemaRef::default(),
        index: HashMap::new(),
        stream,
        ahead: VecDeque::new(),
        rows: 0,
        offset: 0,
        ahead_offset: 0,
    };
    reader.infer()?;
    Ok(Box::new(reader))
}

impl JsonReader {
    fn next_object(&mut self) -> Result<Option<RawObject>, StoreError> {
        match self.stream.next() {
            None => Ok(None),
            Some(Ok(obj)) => Ok(Some(obj)),
            Some(Err(e)) => {
                let row = self.rows + self.ahead.len() as u64 + 1;
                Err(if e.is_io() {
                    StoreError::new(format!("{}: invalid JSON in row {row}: {e}", self.label))
                } else {
                    StoreError::with_kind(
                        StoreErrorKind::Data,
                        format!(
                            "{}: invalid JSON in row {row} (byte offset {}): {e}",
                            self.label,
                            self.stream.byte_offset()
                        ),
                    )
                })
            }
        }
    }

    fn infer(&mut self) -> Result<(), StoreError> {
        let mut names: Vec<String> = Vec::new();
        let mut seen: Vec<Seen> = Vec::new();
        while self.ahead.len() < INFER_ROWS && (self.stream.byte_offset() as u64) < INFER_BYTES {
            let Some(obj) = self.next_object()? else {
                break;
            };
            for (k, v) in &obj.0 {
                let i = match self.index.get(k) {
                    Some(i) => *i,
                    None => {
                        self.index.insert(k.clone(), names.len());
                        names.push(k.clone());
                        seen.push(Seen::default());
                        names.len() - 1
                    }
                };
                if let Some(s) = seen.get_mut(i) {
                    s.add(kind_of(v.get()));
                }
            }
            self.ahead.push_back(obj);
        }
        self.ahead_offset = self.stream.byte_offset() as u64;
        let columns = names
            .into_iter()
            .zip(seen)
            .map(|(name, s)| {
                let (dt, ty) = s.data_type();
                Column::new(name, dt, ty)
            })
            .collect();
        self.schema = SchemaRef::new(Schema::new(columns));
        Ok(())
    }

    /// Converts one object to a row of the inferred schema.
    fn push_row(&self, obj: RawObject, batch: &mut Batch, row: u64) -> Result<(), StoreError> {
        let mut cells = vec![Value::Null; self.schema.len()];
        for (k, raw) in obj.0 {
            let Some(&i) = self.index.get(&k) else {
                return Err(StoreError::with_kind(
                    StoreErrorKind::Data,
                    format!(
                        "{}: row {row} has a field '{k}' that the first {} rows do not have; \
                     Sluice learns the columns from the start of the file",
                        self.label, INFER_ROWS
                    ),
                ));
            };
            let col = &self.schema.columns[i];
            let v = convert(raw.get(), &col.data_type).ok_or_else(|| {
                StoreError::with_kind(StoreErrorKind::Data, format!(
                    "{}: row {row}, field '{k}': {} does not fit the column's type {} (learnt from the first {} rows)",
                    self.label,
                    short(raw.get()),
                    col.data_type.interim_name(),
                    INFER_ROWS
                ))
            })?;
            if let Some(c) = cells.get_mut(i) {
                *c = v;
            }
        }
        batch.push_row(cells);
        Ok(())
    }
}

fn short(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &raw[..i]),
        None => raw.to_string(),
    }
}

/// A raw JSON value as a cell of type `dt`; `None` when it does not fit.
fn convert(raw: &str, dt: &DataType) -> Option<Value> {
    let kind = kind_of(raw);
    if kind == Kind::Null {
        return Some(Value::Null);
    }
    Some(match dt {
        DataType::Bool => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return None,
        },
        DataType::Int64 => Value::Int64(raw.parse().ok()?),
        DataType::Numeric => match kind {
            Kind::Int | Kind::Number => Value::Numeric(raw.to_string()),
            _ => return None,
        },
        DataType::Json => Value::Json(raw.to_string()),
        _ => match kind {
            Kind::String => Value::Text(serde_json::from_str(raw).ok()?),
            _ => Value::Text(raw.to_string()),
        },
    })
}

impl RowReader for JsonReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, StoreError> {
        let max_rows = max_rows.max(1);
        let mut batch = Batch::with_capacity(self.schema.clone(), max_rows.min(INFER_ROWS));
        let mut taken = 0;
        while taken < max_rows {
            let obj = match self.ahead.pop_front() {
                Some(obj) => obj,
                None => match self.next_object()? {
                    Some(obj) => obj,
                    None => break,
                },
            };
            self.rows += 1;
            self.push_row(obj, &mut batch, self.rows)?;
            taken += 1;
        }
        if taken == 0 {
            return Ok(None);
        }
        let end = if self.ahead.is_empty() {
            (self.stream.byte_offset() as u64).max(self.ahead_offset)
        } else {
            self.offset
        };
        batch.bytes = end.saturating_sub(self.offset);
        self.offset = end;
        Ok(Some(batch))
    }
}

/// Turns `[ {..}, {..} ]` into `  {..}  {..}  ` on the fly, so the stream deserializer reads
/// the elements one by one; every byte keeps its offset and line. Checks the commas and the
/// closing bracket, which the deserializer no longer sees.
struct ArrayItems<R> {
    inner: R,
    /// 0: before `[`, 1: inside the array, 2: after `]`.
    stage: u8,
    /// Nesting inside the current element.
    depth: usize,
    in_string: bool,
    escape: bool,
    in_scalar: bool,
    expect_value: bool,
    seen_value: bool,
    offset: u64,
}

impl<R: BufRead> ArrayItems<R> {
    fn new(inner: R) -> Self {
        ArrayItems {
            inner,
            stage: 0,
            depth: 0,
            in_string: false,
            escape: false,
            in_scalar: false,
            expect_value: true,
            seen_value: false,
            offset: 0,
        }
    }

    fn invalid(&self, msg: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{msg} at byte offset {}", self.offset),
        )
    }

    /// Transforms one byte; `Err` for broken array punctuation.
    fn step(&mut self, b: u8) -> io::Result<u8> {
        match self.stage {
            0 => {
                if b == b'[' {
                    self.stage = 1;
                    return Ok(b' ');
                }
                Ok(b)
            }
            2 => {
                if b.is_ascii_whitespace() {
                    Ok(b)
                } else {
                    Err(self.invalid("unexpected data after the array's closing ']'"))
                }
            }
            _ => {
                if self.in_string {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                    return Ok(b);
                }
                if b.is_ascii_whitespace() {
                    self.in_scalar = false;
                    return Ok(b);
                }
                if self.depth == 0 {
                    match b {
                        b',' => {
                            self.in_scalar = false;
                            if self.expect_value {
                                return Err(self.invalid("unexpected ',' in the array"));
                            }
                            self.expect_value = true;
                            return Ok(b' ');
                        }
                        b']' => {
                            if self.expect_value && self.seen_value {
                                return Err(self.invalid("a ',' before the array's closing ']'"));
                            }
                            self.stage = 2;
                            return Ok(b' ');
                        }
                        _ if !self.in_scalar => {
                            if !self.expect_value {
                                return Err(self.invalid("expected ',' between array elements"));
                            }
                            self.expect_value = false;
                            self.seen_value = true;
                        }
                        _ => {}
                    }
                }
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    _ if self.depth == 0 => self.in_scalar = true,
                    _ => {}
                }
                Ok(b)
            }
        }
    }
}

impl<R: BufRead> Read for ArrayItems<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            if self.stage != 2 {
                return Err(self.invalid("the JSON array is not closed: the file ends"));
            }
            return Ok(0);
        }
        let n = chunk.len().min(out.len());
        out[..n].copy_from_slice(&chunk[..n]);
        self.inner.consume(n);
        for b in &mut out[..n] {
            *b = self.step(*b)?;
            self.offset += 1;
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

struct JsonWriter {
    out: Box<dyn Write + Send>,
    pattern: FilePattern,
    /// Each column's name as a JSON string followed by `:`.
    keys: Vec<String>,
    buf: String,
    rows: u64,
    written: u64,
}

/// Opens a writer producing one JSON file.
pub fn open_writer(
    out: Box<dyn Write + Send>,
    schema: SchemaRef,
    settings: &JsonSettings,
) -> Result<Box<dyn RowWriter>, StoreError> {
    let keys = schema
        .columns
        .iter()
        .map(|c| {
            let mut k = String::new();
            write_string(&c.name, &mut k);
            k.push(':');
            k
        })
        .collect();
    Ok(Box::new(JsonWriter {
        out,
        pattern: settings.file_pattern,
        keys,
        buf: String::new(),
        rows: 0,
        written: 0,
    }))
}

impl JsonWriter {
    fn flush_buf(&mut self) -> Result<(), StoreError> {
        self.out
            .write_all(self.buf.as_bytes())
            .map_err(|e| StoreError::new(format!("cannot write the JSON file: {e}")))?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl RowWriter for JsonWriter {
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let lines = self.pattern == FilePattern::SetOfObjects;
        for row in batch.rows() {
            if !lines {
                self.buf
                    .push_str(if self.rows == 0 { "[\n" } else { ",\n" });
            }
            self.buf.push('{');
            for (i, (key, v)) in self.keys.iter().zip(row).enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                self.buf.push_str(key);
                write_value(v, lines, &mut self.buf);
            }
            self.buf.push('}');
            if lines {
                self.buf.push('\n');
            }
            self.rows += 1;
            if self.buf.len() >= BUF_SIZE {
                self.flush_buf()?;
            }
        }
        self.flush_buf()
    }

    fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        if self.pattern == FilePattern::ArrayOfObjects {
            self.buf
                .push_str(if self.rows == 0 { "[]\n" } else { "\n]\n" });
        }
        self.flush_buf()?;
        self.out
            .flush()
            .map_err(|e| StoreError::new(format!("cannot write the JSON file: {e}")))?;
        Ok(self.written)
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decimal digits every JSON reader keeps exactly: any decimal with at most 15 significant
/// digits survives a trip through a double.
const MAX_EXACT_DIGITS: usize = 15;

/// Significant digits of a decimal's text form (`-0.00120` has 3).
fn significant_digits(s: &str) -> usize {
    let digits: String = s
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.trim_start_matches('0').len().max(1)
}

/// Whether a PostgreSQL numeric/float text form is also a JSON number.
fn is_json_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && !(digits.len() > 1
            && digits.starts_with('0')
            && digits.as_bytes()[1] != b'.'
            && digits.as_bytes()[1] != b'e'
            && digits.as_bytes()[1] != b'E')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

/// Writes one cell as JSON: numbers as numbers (numeric and money only when they have at most
/// 15 significant digits, so any reader gets them exactly; longer ones, NaN and the infinities
/// as strings holding PostgreSQL's text form), json documents embedded as they are, bytes as base64, dates and
/// timestamps in ISO 8601 (PostgreSQL's text form for BC and infinite values), every other type
/// as its PostgreSQL text form in a string. `lines`: a document's line breaks (white space
/// between tokens) become spaces so each row stays on one line.
pub fn write_value(v: &Value, lines: bool, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => v.write_text(out),
        Value::Float32(_) | Value::Float64(_) | Value::Numeric(_) | Value::Money(_) => {
            let mut s = String::new();
            v.write_text(&mut s);
            let exact = matches!(v, Value::Float32(_) | Value::Float64(_))
                || significant_digits(&s) <= MAX_EXACT_DIGITS;
            if exact && is_json_number(&s) {
                out.push_str(&s);
            } else {
                write_string(&s, out);
            }
        }
        Value::Json(doc) => {
            let valid = serde_json::from_str::<serde::de::IgnoredAny>(doc).is_ok();
            if !valid {
                write_string(doc, out);
            } else if lines && doc.contains(['\n', '\r']) {
                out.extend(
                    doc.chars()
                        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
                );
            } else {
                out.push_str(doc);
            }
        }
        Value::Text(s) => write_string(s, out),
        Value::Bytes(b) => write_string(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Value::Timestamp(_) | Value::TimestampTz(_) => {
            let mut s = String::new();
            v.write_text(&mut s);
            if !s.ends_with(" BC") && !s.ends_with("infinity") {
                s = s.replacen(' ', "T", 1);
                if let Some(base) = s.strip_suffix("+00") {
                    s = format!("{base}Z");
                }
            }
            write_string(&s, out);
        }
        Value::Array(a) => write_array(a, lines, out),
        other => {
            let mut s = String::new();
            other.write_text(&mut s);
            write_string(&s, out);
        }
    }
}

/// An array as nested JSON arrays, one level per dimension (lower bounds are not kept).
fn write_array(a: &ArrayValue, lines: bool, out: &mut String) {
    fn level(
        dims: &[(i32, i32)],
        elems: &mut std::slice::Iter<'_, Value>,
        lines: bool,
        out: &mut String,
    ) {
        out.push('[');
        if let Some(((len, _), rest)) = dims.split_first() {
            for i in 0..(*len).max(0) {
                if i > 0 {
                    out.push(',');
                }
                if rest.is_empty() {
                    match elems.next() {
                        Some(v) => write_value(v, lines, out),
                        None => out.push_str("null"),
                    }
                } else {
                    level(rest, elems, lines, out);
                }
            }
        }
        out.push(']');
    }
    let dims: Vec<(i32, i32)> = if a.dims.is_empty() && !a.elements.is_empty() {
        vec![(i32::try_from(a.elements.len()).unwrap_or(i32::MAX), 1)]
    } else {
        a.dims.clone()
    };
    level(&dims, &mut a.elements.iter(), lines, out);
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
