//! The copy runner: `Source --queue--> relay (count, map columns) --queue--> Sink`, each stage
//! its own task so reading and writing overlap, every queue bounded so memory stays flat.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::mapping::Projection;
use super::progress::Progress;
use crate::connectors::csv::{CsvSink, CsvSource};
use crate::connectors::postgres::sink::PgSink;
use crate::connectors::postgres::source::PgSource;
use crate::connectors::{Sink, SinkStats, Source, SourceStats, StoreError};
use crate::model::copy::{CopyPlan, SinkPlan, SourcePlan};

/// Batches in flight per queue: enough to keep both ends busy, few enough to bound memory.
const QUEUE_BATCHES: usize = 2;
/// Rows per batch between stages. Independent of the sink's `writeBatchSize` (its commit
/// unit, which the sink assembles itself) so that memory stays small and flat whatever the
/// table size and batch settings.
pub const CHUNK_ROWS: usize = 4096;

/// The Copy activity's output, with ADF's property names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyOutput {
    pub data_read: u64,
    pub data_written: u64,
    pub rows_read: u64,
    pub rows_copied: u64,
    pub rows_skipped: u64,
    /// Seconds.
    pub copy_duration: f64,
    /// KB/s: dataRead / copyDuration.
    pub throughput: f64,
    pub source_peak_connections: u32,
    pub sink_peak_connections: u32,
    pub used_parallel_copies: u32,
    pub errors: Vec<serde_json::Value>,
    pub execution_details: Vec<serde_json::Value>,
}

async fn open_source(plan: &SourcePlan) -> Result<Box<dyn Source>, StoreError> {
    Ok(match plan {
        SourcePlan::Postgres {
            dataset,
            endpoint,
            query,
            query_timeout,
        } => Box::new(PgSource::open(endpoint, query, *query_timeout, dataset).await?),
        SourcePlan::Csv { dataset, csv } => Box::new(
            CsvSource::open(csv)
                .map_err(|e| StoreError::new(format!("dataset '{dataset}': {e}")))?,
        ),
    })
}

async fn open_sink(
    plan: &SinkPlan,
    schema: &crate::engine::schema::SchemaRef,
) -> Result<Box<dyn Sink>, StoreError> {
    Ok(match plan {
        SinkPlan::Postgres {
            dataset,
            endpoint,
            settings,
        } => Box::new(PgSink::open(endpoint, settings, schema, dataset).await?),
        SinkPlan::Csv { dataset, csv } => Box::new(
            CsvSink::open(csv, schema.clone())
                .map_err(|e| StoreError::new(format!("dataset '{dataset}': {e}")))?,
        ),
    })
}

/// Runs one copy to completion. On failure, batches the sink already committed stay written.
pub async fn run_copy(plan: &CopyPlan, progress: &Progress) -> Result<CopyOutput, StoreError> {
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let source = open_source(&plan.source).await?;
    let projection =
        Projection::build(&source.schema(), plan.mappings.as_deref()).map_err(StoreError::new)?;
    let sink = open_sink(&plan.sink, &projection.output).await?;

    let (src_tx, mut src_rx) = mpsc::channel(QUEUE_BATCHES);
    let (sink_tx, sink_rx) = mpsc::channel(QUEUE_BATCHES);
    let reader = tokio::spawn(async move {
        let t = Instant::now();
        (source.read(src_tx, CHUNK_ROWS).await, t.elapsed())
    });
    let writer = tokio::spawn(async move {
        let t = Instant::now();
        (sink.write(sink_rx).await, t.elapsed())
    });
    // The relay runs here and keeps `sink_tx` open until the reader's result is known: the
    // sink must only see the end of its input after a complete read. On a failed read the
    // writer is aborted, so a file sink never publishes a partial file.
    while let Some(batch) = src_rx.recv().await {
        progress.add(batch.num_rows() as u64, batch.bytes);
        if sink_tx.send(projection.apply(batch)).await.is_err() {
            break; // the sink failed; its error is reported below
        }
    }
    drop(src_rx); // unblocks a reader still sending after the sink failed
    let (read_result, read_time) = join(reader).await?;
    if let Err(e) = read_result {
        writer.abort();
        let _ = writer.await;
        progress.finish();
        return Err(e);
    }
    drop(sink_tx);
    let (write_result, write_time) = join(writer).await?;
    progress.finish();
    let src: SourceStats = read_result?;
    let sink: SinkStats = write_result?;
    if src.rows_read != sink.rows_written {
        return Err(StoreError::new(format!(
            "read {} rows but wrote {}: the copy did not complete",
            src.rows_read, sink.rows_written
        )));
    }
    let secs = t0.elapsed().as_secs_f64();
    let throughput = if secs > 0.0 {
        (src.bytes_read as f64 / 1024.0) / secs
    } else {
        0.0
    };
    let details = json!({
        "source": {"type": plan.source.type_label()},
        "sink": {"type": plan.sink.type_label()},
        "status": "Succeeded",
        "start": started.to_rfc3339(),
        "duration": round3(secs),
        "usedParallelCopies": 1,
        "profile": {
            "queue": {"status": "Completed", "duration": 0},
            "transfer": {
                "status": "Completed",
                "duration": round3(secs),
                "details": {
                    "readingFromSource": {"type": plan.source.type_label(), "workingDuration": round3(read_time.as_secs_f64())},
                    "writingToSink": {"type": plan.sink.type_label(), "workingDuration": round3(write_time.as_secs_f64())}
                }
            }
        }
    });
    Ok(CopyOutput {
        data_read: src.bytes_read,
        data_written: sink.bytes_written,
        rows_read: src.rows_read,
        rows_copied: sink.rows_written,
        rows_skipped: 0,
        copy_duration: round3(secs),
        throughput: round3(throughput),
        source_peak_connections: src.peak_connections,
        sink_peak_connections: sink.peak_connections,
        used_parallel_copies: 1,
        errors: Vec::new(),
        execution_details: vec![details],
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

async fn join<T>(handle: tokio::task::JoinHandle<T>) -> Result<T, StoreError> {
    handle.await.map_err(|e| {
        StoreError::new(format!(
            "internal error: a copy stage stopped unexpectedly: {e}"
        ))
    })
}
