//! [`FileSink`]: writes rows to one file, or to numbered files of at most `maxRowsPerFile` rows,
//! in any format, to any location, all or nothing.
//!
//! Every file is first written to a temporary file (beside the target for a local folder, in the
//! system's temporary folder for a blob). Only when the `write` future has received every batch
//! and finished every file does it publish them: rename over the target, or upload the blob
//! (a block blob is invisible until its block list is committed). A failed copy, or one whose
//! `write` future is dropped because its source failed, publishes nothing and leaves earlier
//! target files untouched; the temporary files are deleted.

use async_trait::async_trait;

use super::compression::Encoder;
use super::location::{OpenStore, Staged};
use super::{json, parquet, RowWriter};
use crate::model::files::dataset::{FileFormat, FileWrite};
use crate::stores::csv;
use crate::stores::{BatchRx, Sink, SinkStats, StoreError, StoreErrorKind};
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;

/// Writes a file dataset.
pub struct FileSink {
    dataset: String,
    write: FileWrite,
    store: OpenStore,
    schema: SchemaRef,
    /// The stem of generated file names (`Data.<guid>`, or the source table's name), for a
    /// dataset without `fileName`: one per copy, as ADF's names carry the activity run's GUID.
    generated: String,
}

/// One output file being written.
struct Part {
    staged: Staged,
    encoder: Encoder,
    writer: Box<dyn RowWriter>,
    rows: u64,
}

impl FileSink {
    /// Checks the target before any row moves: creates a local folder, or makes sure the blob
    /// container exists and the credentials work.
    pub async fn open(
        dataset: &str,
        write: &FileWrite,
        schema: SchemaRef,
    ) -> Result<FileSink, StoreError> {
        let named = |e: StoreError| e.context(format_args!("dataset '{dataset}'"));
        let store = write.dataset.location.open().map_err(named)?;
        store
            .prepare_folder(&write.dataset.location.folder)
            .await
            .map_err(named)?;
        Ok(FileSink {
            dataset: dataset.to_string(),
            write: write.clone(),
            store,
            schema,
            generated: write
                .table_stem
                .clone()
                .unwrap_or_else(|| format!("Data.{}", uuid::Uuid::new_v4())),
        })
    }

    fn start_part(&self, n: usize) -> Result<Part, StoreError> {
        let name = self.write.file_name(n, &self.generated);
        let target = self.store.key(&self.write.dataset.location.folder, &name)?;
        let staged = self.store.stage(target)?;
        let label = staged.label.clone();
        let file = staged.tmp.as_file().try_clone().map_err(|e| {
            StoreError::new(format!("{label}: cannot open the temporary file: {e}"))
        })?;
        let encoder = self.write.dataset.compression.writer(file);
        let out = encoder.handle();
        let schema = self.schema.clone();
        let named = |e: StoreError| {
            if e.message().contains(&label) {
                e
            } else {
                e.context(&label)
            }
        };
        let writer: Box<dyn RowWriter> = match &self.write.dataset.format {
            FileFormat::DelimitedText(f) => {
                let quote_all = self.write.quote_all_text;
                Box::new(csv::writer::open_writer(out, schema, f, quote_all, &label)?)
            }
            FileFormat::Json(s) => json::open_writer(out, schema, s).map_err(named)?,
            FileFormat::Parquet(s) => parquet::open_writer(out, schema, s).map_err(named)?,
            FileFormat::Binary => {
                return Err(named(StoreError::with_kind(
                    StoreErrorKind::Definition,
                    "a Binary dataset takes no rows",
                )))
            }
        };
        Ok(Part {
            staged,
            encoder,
            writer,
            rows: 0,
        })
    }

    /// Runs on a blocking thread; returns the finished temporary files for the caller to
    /// publish.
    fn write_blocking(&self, mut input: BatchRx) -> Result<(Vec<Staged>, SinkStats), StoreError> {
        let mut stats = SinkStats {
            peak_connections: 1,
            ..SinkStats::default()
        };
        let mut done = Vec::new();
        let mut part = self.start_part(0)?;
        let max = self.write.max_rows_per_file.unwrap_or(u64::MAX);
        while let Some(batch) = input.blocking_recv() {
            let rows = batch.num_rows() as u64;
            if part.rows + rows <= max {
                write(&mut part, &batch)?;
                continue;
            }
            // Split the batch across files.
            let mut row_iter = batch.rows();
            let mut left = rows;
            while left > 0 {
                if part.rows == max {
                    let next = self.start_part(done.len() + 1)?;
                    let full = std::mem::replace(&mut part, next);
                    done.push(finish(full, &mut stats)?);
                }
                let take = (max - part.rows).min(left);
                let mut piece = Batch::with_capacity(self.schema.clone(), take as usize);
                for row in row_iter.by_ref().take(take as usize) {
                    piece.push_row(row.iter().cloned());
                }
                write(&mut part, &piece)?;
                left -= take;
            }
        }
        done.push(finish(part, &mut stats)?);
        Ok((done, stats))
    }
}

fn write(part: &mut Part, batch: &Batch) -> Result<(), StoreError> {
    part.writer.write(batch)?;
    part.rows += batch.num_rows() as u64;
    Ok(())
}

/// Ends one file: the format's trailer, the compressed stream, the sync.
fn finish(part: Part, stats: &mut SinkStats) -> Result<Staged, StoreError> {
    let Part {
        staged,
        encoder,
        writer,
        rows,
    } = part;
    writer.finish().map_err(|e| {
        if e.message().contains(&staged.label) {
            e
        } else {
            e.context(&staged.label)
        }
    })?;
    let stored = encoder
        .finish()
        .map_err(|e| StoreError::new(format!("{}: cannot write: {e}", staged.label)))?;
    stats.bytes_written += stored;
    stats.rows_written += rows;
    Ok(staged)
}

#[async_trait]
impl Sink for FileSink {
    async fn write(self: Box<Self>, input: BatchRx) -> Result<SinkStats, StoreError> {
        let this = *self;
        let (this, written) = tokio::task::spawn_blocking(move || {
            let result = this.write_blocking(input);
            (this, result)
        })
        .await
        .map_err(|e| StoreError::new(format!("the file writer stopped unexpectedly: {e}")))?;
        let named = |e: StoreError| e.context(format_args!("dataset '{}'", this.dataset));
        let (staged, mut stats) = written.map_err(named)?;
        // Published here, in the future itself: if the caller drops this future the temporary
        // files are dropped (and deleted) instead.
        for s in staged {
            let label = s.label.clone();
            this.store.publish(s).await.map_err(named)?;
            stats.files.push(label);
        }
        Ok(stats)
    }
}
