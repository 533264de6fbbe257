//! Helpers for plugin unit tests on the host target: run a plugin over rows through the same
//! path the component uses (config parsing, rows to WIT batch and back).

use crate::convert::{batch_to_rows, rows_to_batch};
use crate::plugin::{RowPlugin, Stream};
use crate::value::{Column, Value};

/// What a call returned, back in row form: the emitted rows and `(input row, message)`
/// rejections.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsOut {
    pub rows: Vec<Vec<Value>>,
    pub rejected: Vec<(u32, String)>,
}

/// Creates `P` with `config` and runs `rows` through it as one batch (converted to the WIT
/// columnar form first, so `process_batch` sees what the host would send).
pub fn run<P: RowPlugin>(
    config: &str,
    input: Vec<Column>,
    rows: Vec<Vec<Value>>,
) -> Result<RowsOut, String> {
    let mut stream = Stream::<P>::create(config, input)?;
    process(&mut stream, rows)
}

/// Runs one batch of `rows` through an existing stream.
pub fn process<P: RowPlugin>(
    stream: &mut Stream<P>,
    rows: Vec<Vec<Value>>,
) -> Result<RowsOut, String> {
    let batch = rows_to_batch(rows, stream.input_schema().columns())?;
    let out = stream.process(batch)?;
    to_rows(stream, out)
}

/// Flushes a stream.
pub fn flush<P: RowPlugin>(stream: &mut Stream<P>) -> Result<RowsOut, String> {
    let out = stream.flush()?;
    to_rows(stream, out)
}

fn to_rows<P: RowPlugin>(stream: &Stream<P>, out: crate::Output) -> Result<RowsOut, String> {
    Ok(RowsOut {
        rows: batch_to_rows(out.batch, stream.output_schema().len())?,
        rejected: out
            .rejected
            .into_iter()
            .map(|r| (r.row, r.message))
            .collect(),
    })
}
