//! The Parquet format, through the `parquet` crate's arrow reader and writer.
//!
//! Types map as `docs/parquet-type-mapping.md` describes (see [`super::arrow_values`]). The
//! writer cuts a row group every [`ROW_GROUP_ROWS`] rows or [`ROW_GROUP_BYTES`] of buffered
//! data, whichever comes first, so memory stays flat however large the file; the reader streams
//! one row group's pages at a time.

use std::io::{Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::arrow_values::{ArrowPlan, EnginePlan};
use super::{RowReader, RowWriter};
pub use crate::model::files::formats::{ParquetCodec, ParquetSettings};
use crate::stores::{StoreError, StoreErrorKind};
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;

/// Rows per row group at most: large enough for good compression and fast scans, small
/// enough that the writer's buffer stays modest.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Encoded bytes buffered for one row group at most before it is written out.
pub const ROW_GROUP_BYTES: usize = 128 * 1024 * 1024;
/// Rows the reader decodes at a time when the caller asks for more.
const READ_BATCH_ROWS: usize = 8192;

impl ParquetCodec {
    fn compression(self) -> Compression {
        match self {
            ParquetCodec::None => Compression::UNCOMPRESSED,
            ParquetCodec::Snappy => Compression::SNAPPY,
            ParquetCodec::Gzip => Compression::GZIP(GzipLevel::default()),
            ParquetCodec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            ParquetCodec::Lz4 => Compression::LZ4_RAW,
        }
    }
}

/// Runs a `parquet`/`arrow` call that might panic on malformed input, turning a panic into an
/// error: a corrupt file must fail its copy, not the process.
fn guarded<T>(label: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(StoreError::with_kind(
            StoreErrorKind::Data,
            format!("{label}: corrupt Parquet file (the decoder failed on malformed data)"),
        ))
    })
}

/// Checks the `PAR1` magic bytes at both ends, so a file that is not Parquet, or was cut short,
/// gets a plain message instead of a decoder error. Returns the file's length in bytes.
fn check_magic(file: &mut std::fs::File, label: &str) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| StoreError::new(format!("{label}: cannot read: {e}"));
    let len = file.metadata().map_err(io)?.len();
    if len < 12 {
        return Err(StoreError::with_kind(
            StoreErrorKind::Data,
            format!(
                "{label}: not a Parquet file ({len} bytes, too short to hold a Parquet footer)"
            ),
        ));
    }
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_exact(&mut head).map_err(io)?;
    file.seek(SeekFrom::End(-4)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if &head != b"PAR1" {
        return Err(StoreError::with_kind(
            StoreErrorKind::Data,
            format!("{label}: not a Parquet file (bad magic bytes)"),
        ));
    }
    if &tail != b"PAR1" {
        return Err(StoreError::with_kind(
            StoreErrorKind::Data,
            format!(
                "{label}: corrupt Parquet file: the footer is missing (was the file cut short?)"
            ),
        ));
    }
    Ok(len)
}

/// Opens a reader over one Parquet file. The schema (and any unreadable column type) is known
/// here, before any row is read, and so are page sizes the file could not hold (see
/// [`bounds`]).
pub fn open_reader(mut file: std::fs::File, label: &str) -> Result<Box<dyn RowReader>, StoreError> {
    let len = check_magic(&mut file, label)?;
    let pages = file
        .try_clone()
        .map_err(|e| StoreError::new(format!("{label}: cannot read: {e}")))?;
    let builder = guarded(label, || {
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            StoreError::with_kind(
                StoreErrorKind::Data,
                format!("{label}: corrupt Parquet file: {e}"),
            )
        })
    })?;
    bounds::check_pages(&pages, len, builder.metadata(), label)?;
    let plan =
        EnginePlan::new(builder.schema()).map_err(|e| StoreError::new(format!("{label}: {e}")))?;
    Ok(Box::new(ParquetReader {
        label: label.to_string(),
        plan,
        state: ReaderState::Opened(Box::new(builder)),
        pending: None,
    }))
}

enum ReaderState {
    /// Not yet reading: the first `next_batch` picks the decode batch size.
    Opened(Box<ParquetRecordBatchReaderBuilder<std::fs::File>>),
    Reading(ParquetRecordBatchReader),
    Done,
}

struct ParquetReader {
    label: String,
    plan: EnginePlan,
    state: ReaderState,
    /// Rows decoded but not yet handed out.
    pending: Option<RecordBatch>,
}

impl ParquetReader {
    fn next_record_batch(&mut self, max_rows: usize) -> Result<Option<RecordBatch>, StoreError> {
        let label = self.label.clone();
        loop {
            match std::mem::replace(&mut self.state, ReaderState::Done) {
                ReaderState::Opened(builder) => {
                    let rows = max_rows.clamp(1, READ_BATCH_ROWS.max(max_rows));
                    let reader = guarded(&label, || {
                        builder.with_batch_size(rows).build().map_err(|e| {
                            StoreError::with_kind(
                                StoreErrorKind::Data,
                                format!("{label}: corrupt Parquet file: {e}"),
                            )
                        })
                    })?;
                    self.state = ReaderState::Reading(reader);
                }
                ReaderState::Reading(mut reader) => {
                    let next = guarded(&label, || {
                        reader.next().transpose().map_err(|e| {
                            StoreError::with_kind(
                                StoreErrorKind::Data,
                                format!("{label}: corrupt Parquet file: {e}"),
                            )
                        })
                    })?;
                    if next.is_some() {
                        self.state = ReaderState::Reading(reader);
                    }
                    return Ok(next);
                }
                ReaderState::Done => return Ok(None),
            }
        }
    }
}

impl RowReader for ParquetReader {
    fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, StoreError> {
        let max_rows = max_rows.max(1);
        let rb = match self.pending.take() {
            Some(rb) => rb,
            None => loop {
                match self.next_record_batch(max_rows)? {
                    None => return Ok(None),
                    Some(rb) if rb.num_rows() == 0 => continue,
                    Some(rb) => break rb,
                }
            },
        };
        let rb = if rb.num_rows() > max_rows {
            self.pending = Some(rb.slice(max_rows, rb.num_rows() - max_rows));
            rb.slice(0, max_rows)
        } else {
            rb
        };
        let label = &self.label;
        let mut batch = guarded(label, || {
            self.plan
                .to_batch(&rb)
                .map_err(|e| StoreError::new(format!("{label}: {e}")))
        })?;
        batch.bytes = batch.values().iter().map(|v| v.byte_size() as u64).sum();
        Ok(Some(batch))
    }
}

/// Counts the bytes that reach the underlying writer.
struct Counting {
    inner: Box<dyn Write + Send>,
    written: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a writer producing one Parquet file with the settings' compression.
pub fn open_writer(
    out: Box<dyn Write + Send>,
    schema: SchemaRef,
    settings: &ParquetSettings,
) -> Result<Box<dyn RowWriter>, StoreError> {
    let plan = ArrowPlan::new(&schema);
    let props = WriterProperties::builder()
        .set_compression(settings.codec.compression())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .build();
    let written = Arc::new(AtomicU64::new(0));
    let sink = Counting {
        inner: out,
        written: written.clone(),
    };
    let writer = ArrowWriter::try_new(sink, plan.arrow_schema(), Some(props))
        .map_err(|e| StoreError::new(format!("cannot start the Parquet file: {e}")))?;
    Ok(Box::new(ParquetWriter {
        plan,
        writer,
        written,
    }))
}

struct ParquetWriter {
    plan: ArrowPlan,
    writer: ArrowWriter<Counting>,
    written: Arc<AtomicU64>,
}

impl RowWriter for ParquetWriter {
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        for rb in self.plan.to_record_batches(batch)? {
            self.writer
                .write(&rb)
                .map_err(|e| StoreError::new(format!("cannot write the Parquet file: {e}")))?;
            if self.writer.in_progress_size() > ROW_GROUP_BYTES {
                self.writer
                    .flush()
                    .map_err(|e| StoreError::new(format!("cannot write the Parquet file: {e}")))?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let fail = |e: &dyn std::fmt::Display| {
            StoreError::new(format!("cannot finish the Parquet file: {e}"))
        };
        self.writer.finish().map_err(|e| fail(&e))?;
        self.writer.inner_mut().flush().map_err(|e| fail(&e))?;
        Ok(self.written.load(Ordering::Relaxed))
    }
}

#[path = "parquet_bounds.rs"]
mod bounds;

#[cfg(test)]
#[path = "parquet_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "parquet_proptests.rs"]
mod proptests;
