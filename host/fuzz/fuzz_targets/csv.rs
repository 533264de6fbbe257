//! The CSV reader: any bytes as a delimited text file under a format chosen from the first
//! bytes (delimiter, quote, escape, row delimiter, header, null value), read in batches of a
//! fuzzed size. What reads must write back and read again as the same rows (writer and reader
//! agree on quoting and escaping).
#![no_main]

use std::io::Cursor;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value as Json};
use sluice::model::props::Props;
use sluice::stores::csv::reader::open_reader;
use sluice::stores::csv::writer::open_writer;
use sluice::stores::csv::CsvFormat;
use sluice::stores::files::{RowReader, RowWriter};
use sluice::types::schema::SchemaRef;
use sluice::types::value::Value;

const DELIMITERS: [&str; 5] = [",", ";", "|", "\t", "\\t"];
const QUOTES: [&str; 3] = ["\"", "'", ""];
const ESCAPES: [&str; 4] = ["\\", "\"", "", "'"];
const ROWS: [Option<&str>; 5] = [None, Some("\n"), Some("\r\n"), Some("|"), Some("#")];
const NULLS: [&str; 3] = ["", "NULL", "\\N"];

fn format_of(b: &[u8; 3]) -> Option<CsvFormat> {
    let mut m = Map::new();
    m.insert(
        "columnDelimiter".into(),
        DELIMITERS[usize::from(b[0]) % 5].into(),
    );
    m.insert("quoteChar".into(), QUOTES[usize::from(b[0] / 5) % 3].into());
    m.insert("escapeChar".into(), ESCAPES[usize::from(b[1]) % 4].into());
    if let Some(r) = ROWS[usize::from(b[1] / 4) % 5] {
        m.insert("rowDelimiter".into(), r.into());
    }
    m.insert("nullValue".into(), NULLS[usize::from(b[2]) % 3].into());
    m.insert("firstRowAsHeader".into(), Json::Bool(b[2] & 0x80 != 0));
    CsvFormat::from_props(&Props::new("fuzz", &m)).ok()
}

/// Every row of `input`, or `None` when reading fails.
fn read_all(
    input: Vec<u8>,
    format: &CsvFormat,
    max_rows: usize,
) -> Option<(SchemaRef, Vec<Value>)> {
    let mut reader = open_reader(
        Box::new(Cursor::new(input)),
        format,
        "fuzz.csv",
        Arc::new(OnceLock::new()),
    )
    .ok()?;
    let schema = reader.schema();
    let mut values = Vec::new();
    while let Some(batch) = reader.next_batch(max_rows).ok()? {
        assert!(batch.num_rows() <= max_rows, "a batch over max_rows");
        values.extend_from_slice(batch.values());
    }
    Some((schema, values))
}

/// A `Write` that keeps what was written where the test can read it after the writer is gone.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let Some(format) = format_of(&[data[0], data[1], data[2]]) else {
        return;
    };
    let max_rows = usize::from(data[3] % 16) + 1;
    let Some((schema, values)) = read_all(data[4..].to_vec(), &format, max_rows) else {
        return;
    };
    if schema.is_empty() {
        return;
    }
    let out = Shared::default();
    let Ok(w) = open_writer(Box::new(out.clone()), schema.clone(), &format, false, "out.csv") else {
        return;
    };
    let mut w: Box<dyn RowWriter> = Box::new(w);
    let batch = sluice::types::batch::Batch::from_values(schema.clone(), values.clone());
    if w.write(&batch).is_err() || w.finish().is_err() {
        return;
    }
    let written = out.0.lock().map(|v| v.clone()).unwrap_or_default();
    let again = read_all(written.clone(), &format, max_rows);
    let text = String::from_utf8_lossy(&written);
    assert!(again.is_some(), "written file does not read back: {text:?}");
    if let Some((schema2, values2)) = again {
        assert_eq!(schema, schema2, "header differs after writing {text:?}");
        assert_eq!(values, values2, "rows differ after writing {text:?}");
    }
});
