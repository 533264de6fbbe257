//! The copy runner: `Source --queue--> relay --queue--> Sink`, each end its own task so reading
//! and writing overlap, every queue bounded so memory stays flat. The relay counts rows and runs
//! the row stages in order: `source.transforms` plugins, the translator's column mapping, then
//! the `sink.rowMapper` plugin.
//!
//! Fault tolerance: with `enableSkipIncompatibleRow`, every stage that refuses a row (the
//! source, a plugin, the sink) records it in one [`SkipLog`], which streams it to the session
//! log (`logSettings`) and counts it in `rowsSkipped`. `validateDataConsistency` then checks
//! that every row read was either copied or skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use tokio_util::sync::CancellationToken;

use crate::copy::context::RunContext;
use crate::copy::conversion::Conversion;
use crate::copy::mapping::Projection;
use crate::copy::progress::Progress;
use crate::copy::transform::{PluginChain, PluginHost};
use crate::model::copy::{CopyPlan, SinkPlan, SourcePlan};
use crate::stores::files::{FileSink, FileSource};
use crate::stores::postgres::partition::ReadReport;
use crate::stores::postgres::sink::PgSink;
use crate::stores::postgres::source::PgSource;
use crate::stores::session_log::SessionLog;
use crate::stores::skip_log::SkipLog;
use crate::stores::{Committed, Sink, SinkStats, Source, SourceStats, StoreError, StoreErrorKind};
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;

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
    /// The folder holding the session log (`logSettings` or `redirectIncompatibleRowSettings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file_path: Option<String>,
    /// The same folder under the legacy name, when set through `redirectIncompatibleRowSettings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_row_path: Option<String>,
    /// `{"VerificationResult": ..., "InconsistentData": ...}` when `validateDataConsistency`
    /// is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_consistency_verification: Option<serde_json::Value>,
    pub execution_details: Vec<serde_json::Value>,
}

pub(crate) async fn open_source(plan: &SourcePlan) -> Result<Box<dyn Source>, StoreError> {
    Ok(open_source_reporting(plan).await?.0)
}

/// Opens the source, with the report of a partitioned PostgreSQL read when it is one.
async fn open_source_reporting(
    plan: &SourcePlan,
) -> Result<(Box<dyn Source>, Option<Arc<ReadReport>>), StoreError> {
    Ok(match plan {
        SourcePlan::Postgres {
            dataset,
            endpoint,
            query,
            query_timeout,
            partitioning,
            parallel_copies,
        } => {
            let source = PgSource::open(
                endpoint,
                query,
                *query_timeout,
                dataset,
                partitioning,
                *parallel_copies,
            )
            .await?;
            let report = source.report();
            (Box::new(source), report)
        }
        // Skipped rows reach the copy's log through `Source::skip_incompatible_rows`.
        SourcePlan::File { dataset, read } => {
            (Box::new(FileSource::open(dataset, read, None).await?), None)
        }
    })
}

async fn open_sink(
    plan: &SinkPlan,
    schema: &crate::types::schema::SchemaRef,
) -> Result<Box<dyn Sink>, StoreError> {
    Ok(match plan {
        SinkPlan::Postgres {
            dataset,
            endpoint,
            settings,
        } => Box::new(PgSink::open(endpoint, settings, schema, dataset).await?),
        SinkPlan::File { dataset, write } => {
            Box::new(FileSink::open(dataset, write, schema.clone()).await?)
        }
    })
}

/// The row stages between source and sink.
struct Stages {
    transforms: PluginChain,
    projection: Projection,
    mapper: PluginChain,
    /// The translator's type conversion, set once the sink's column types are known.
    conversion: Option<Conversion>,
}

impl Stages {
    async fn build(
        plan: &CopyPlan,
        plugins: Option<&PluginHost>,
        source: SchemaRef,
        skips: &SkipLog,
    ) -> Result<(Stages, SchemaRef), StoreError> {
        let first_use = plan.transforms.first().or(plan.row_mapper.as_ref());
        let host = match (plugins, first_use) {
            (Some(h), _) => Some(h),
            (None, None) => None,
            (None, Some(u)) => {
                return Err(StoreError::new(format!(
                    "{}: this host runs no plugins (no plugin directory configured)",
                    u.property
                )))
            }
        };
        let skip = plan.skip_incompatible_rows.then(|| skips.clone());
        let (transforms, schema) = match host {
            Some(h) => PluginChain::build(h, &plan.transforms, source, skip.clone()).await?,
            None => (PluginChain::empty(skip.clone()), source),
        };
        let projection =
            Projection::build(&schema, plan.mappings.as_deref()).map_err(StoreError::new)?;
        let (mapper, schema) = match (host, &plan.row_mapper) {
            (Some(h), Some(m)) => {
                PluginChain::build(h, std::slice::from_ref(m), projection.output.clone(), skip)
                    .await?
            }
            _ => (PluginChain::empty(skip), projection.output.clone()),
        };
        Ok((
            Stages {
                transforms,
                projection,
                mapper,
                conversion: None,
            },
            schema,
        ))
    }

    async fn apply(&mut self, batch: Batch) -> Result<Batch, StoreError> {
        let batch = self.transforms.process(batch).await?;
        let batch = self.projection.apply(batch);
        let batch = self.mapper.process(batch).await?;
        self.convert(batch)
    }

    fn convert(&mut self, batch: Batch) -> Result<Batch, StoreError> {
        match &mut self.conversion {
            Some(c) => c.apply(batch).map_err(StoreError::new),
            None => Ok(batch),
        }
    }

    /// Rows the stateful plugins held back, after the last input batch.
    async fn finish(&mut self) -> Result<Vec<Batch>, StoreError> {
        let mut out = Vec::new();
        for batch in self.transforms.finish().await? {
            let batch = self.projection.apply(batch);
            let batch = self.mapper.process(batch).await?;
            out.push(self.convert(batch)?);
        }
        for batch in self.mapper.finish().await? {
            out.push(self.convert(batch)?);
        }
        Ok(out)
    }
}

/// Runs one copy to completion. On failure, batches the sink already committed stay written.
/// The run context's plugin host serves the copy's `transforms` and `rowMapper` (a plan that
/// uses plugins fails without one); its redactor masks the skip log.
pub async fn run_copy(
    plan: &CopyPlan,
    ctx: &RunContext,
    progress: &Progress,
) -> Result<CopyOutput, CopyFailure> {
    let so_far = SoFar::new();
    let fail = |error: StoreError, skips: &SkipLog| CopyFailure {
        partial: so_far.output(plan, &error, skips),
        error,
    };
    let skips = open_skip_log(plan, ctx)
        .await
        .map_err(|e| fail(e, &SkipLog::new(ctx.redactor())))?;
    run_copy_counted(plan, ctx, progress, &so_far, &skips)
        .await
        .map_err(|e| fail(e, &skips))
}

/// Where skipped rows are counted, and logged when the copy has a session log.
async fn open_skip_log(plan: &CopyPlan, ctx: &RunContext) -> Result<SkipLog, StoreError> {
    Ok(match &plan.session_log {
        Some(log) => SkipLog::with_session_log(
            SessionLog::create(log).await.map_err(|e| {
                e.context("logSettings.logLocationSettings / redirectIncompatibleRowSettings")
            })?,
            ctx.redactor(),
        ),
        None => SkipLog::new(ctx.redactor()),
    })
}

/// A failed copy: why, and what it did before it stopped. As in ADF, a failed copy reports
/// the rows it read and the rows its committed batches hold (they stay in the sink).
#[derive(Debug)]
pub struct CopyFailure {
    pub error: StoreError,
    pub partial: CopyOutput,
}

/// What a copy has read and committed so far, counted as it goes, and when it started.
struct SoFar {
    started: chrono::DateTime<chrono::Utc>,
    t0: Instant,
    rows_read: AtomicU64,
    data_read: AtomicU64,
    committed: Arc<Committed>,
}

impl SoFar {
    fn new() -> Self {
        SoFar {
            started: chrono::Utc::now(),
            t0: Instant::now(),
            rows_read: AtomicU64::new(0),
            data_read: AtomicU64::new(0),
            committed: Arc::default(),
        }
    }

    fn read(&self, rows: u64, bytes: u64) {
        self.rows_read.fetch_add(rows, Ordering::Relaxed);
        self.data_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A failed copy's output: the counts so far, the error, status `Failed`.
    fn output(&self, plan: &CopyPlan, error: &StoreError, skips: &SkipLog) -> CopyOutput {
        let secs = self.t0.elapsed().as_secs_f64();
        let data_read = self.data_read.load(Ordering::Relaxed);
        CopyOutput {
            data_read,
            data_written: self.committed.bytes.load(Ordering::Relaxed),
            rows_read: self.rows_read.load(Ordering::Relaxed),
            rows_copied: self.committed.rows.load(Ordering::Relaxed),
            rows_skipped: skips.count(),
            copy_duration: round3(secs),
            throughput: if secs > 0.0 {
                round3(data_read as f64 / 1024.0 / secs)
            } else {
                0.0
            },
            source_peak_connections: 0,
            sink_peak_connections: 0,
            used_parallel_copies: 1,
            errors: vec![json!({"Code": error.kind().name(), "Message": error.to_string()})],
            log_file_path: skips.log_folder(),
            redirect_row_path: None,
            data_consistency_verification: None,
            execution_details: vec![json!({
                "source": {"type": plan.source.type_label()},
                "sink": {"type": plan.sink.type_label()},
                "status": "Failed",
                "start": self.started.to_rfc3339(),
                "duration": round3(secs),
            })],
        }
    }
}

/// [`run_copy`], counting what it reads and commits in `so_far` and its skipped rows in
/// `skips`.
async fn run_copy_counted(
    plan: &CopyPlan,
    ctx: &RunContext,
    progress: &Progress,
    so_far: &SoFar,
    skips: &SkipLog,
) -> Result<CopyOutput, StoreError> {
    let plugins = ctx.plugins.as_deref();
    let copied = copy_rows(plan, plugins, progress, skips, &ctx.cancel, so_far).await;
    // The log is flushed also when the copy failed: it lists the rows skipped until then.
    let logged = skips.finish().await.map_err(StoreError::new);
    let mut out = copied?;
    logged?;
    if let Some(folder) = skips.log_folder() {
        if plan.session_log.as_ref().is_some_and(|l| l.legacy) {
            out.redirect_row_path = Some(folder.clone());
        }
        out.log_file_path = Some(folder);
    }
    out.data_consistency_verification = verify_consistency(plan, &out)?;
    Ok(out)
}

/// `validateDataConsistency`: every row read was copied or skipped. Plugins may drop or add
/// rows on purpose (a filter, a dedupe), so with plugins the counts cannot be compared and
/// the result is `Unsupported`.
fn verify_consistency(
    plan: &CopyPlan,
    out: &CopyOutput,
) -> Result<Option<serde_json::Value>, StoreError> {
    match plan.validate_data_consistency {
        None => Ok(None),
        Some(false) => Ok(Some(json!({"VerificationResult": "NotVerified"}))),
        Some(true) if !plan.transforms.is_empty() || plan.row_mapper.is_some() => {
            Ok(Some(json!({"VerificationResult": "Unsupported"})))
        }
        Some(true) => {
            let accounted = out.rows_copied + out.rows_skipped;
            if out.rows_read != accounted {
                return Err(StoreError::new(format!(
                    "validateDataConsistency: the source read {} rows but {} were copied and {} skipped ({accounted} in all): the sink does not hold what was read",
                    out.rows_read, out.rows_copied, out.rows_skipped
                )));
            }
            let inconsistent = if out.rows_skipped > 0 {
                "Skipped"
            } else {
                "None"
            };
            Ok(Some(
                json!({"VerificationResult": "Verified", "InconsistentData": inconsistent}),
            ))
        }
    }
}

/// Moves the rows: source, stages, sink.
///
/// When `cancel` fires the copy stops reading, aborts the sink's open write (an open COPY is
/// abandoned, so nothing of the unfinished batch is committed; batches committed before stay)
/// and ends with a [`cancelled`] error.
async fn copy_rows(
    plan: &CopyPlan,
    plugins: Option<&PluginHost>,
    progress: &Progress,
    skips: &SkipLog,
    cancel: &CancellationToken,
    so_far: &SoFar,
) -> Result<CopyOutput, StoreError> {
    let (started, t0) = (so_far.started, so_far.t0);
    let (mut source, read_report) = tokio::select! {
        r = open_source_reporting(&plan.source) => r?,
        _ = cancel.cancelled() => return Err(cancelled()),
    };
    progress.set_size(source.size_hint());
    let (mut stages, sink_schema) = Stages::build(plan, plugins, source.schema(), skips).await?;
    let opened = tokio::select! {
        r = open_sink(&plan.sink, &sink_schema) => r,
        _ = cancel.cancelled() => return Err(cancelled()),
    };
    let mut sink = opened.map_err(|e| match &plan.row_mapper {
        Some(m) => StoreError::with_kind(
            e.kind(),
            format!(
                "{e} (the columns come from {} {}: {})",
                m.property,
                m.reference,
                sink_schema.names().collect::<Vec<_>>().join(", ")
            ),
        ),
        None => e,
    })?;

    if let (Some(settings), Some(types)) = (&plan.type_conversion, sink.column_sql_types()) {
        let skip = plan.skip_incompatible_rows.then(|| skips.clone());
        stages.conversion = Conversion::build(settings, &sink_schema, &types, skip);
    }
    sink.count_committed(so_far.committed.clone());
    if plan.skip_incompatible_rows {
        source.skip_incompatible_rows(skips.clone());
        sink.skip_incompatible_rows(skips.clone());
    }
    let undecoded = offer_undecoded(plan, &mut stages, source.as_mut(), sink.as_ref());

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
    // sink must only see the end of its input after a complete read. On a failed read or
    // plugin the writer is aborted, so a file sink never publishes a partial file.
    let mut sent = Sent::default();
    let mut stage_error = None;
    loop {
        let batch = tokio::select! {
            b = src_rx.recv() => match b {
                Some(b) => b,
                None => break,
            },
            _ = cancel.cancelled() => {
                // The writer first, so its open COPY is abandoned before the input ends.
                stop(writer).await;
                stop(reader).await;
                progress.finish();
                return Err(cancelled());
            }
        };
        progress.add(batch.num_rows() as u64, batch.bytes);
        so_far.read(batch.num_rows() as u64, batch.bytes);
        let batch = match stages.apply(batch).await {
            Ok(b) => b,
            Err(e) => {
                stage_error = Some(e);
                break;
            }
        };
        if !sent.send(&sink_tx, batch).await {
            break; // the sink failed; its error is reported below
        }
    }
    drop(src_rx); // unblocks a reader still sending after the sink failed
    let (read_result, read_time) = join(reader).await?;
    // Rows held back by stateful plugins go out only after a complete read.
    let read = match (stage_error, read_result) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(src)) => match stages.finish().await {
            Ok(rest) => {
                for batch in rest {
                    if !sent.send(&sink_tx, batch).await {
                        break;
                    }
                }
                Ok(src)
            }
            Err(e) => Err(e),
        },
    };
    let src: SourceStats = match read {
        Ok(src) => src,
        Err(e) => {
            stop(writer).await;
            progress.finish();
            return Err(e);
        }
    };
    drop(sink_tx);
    let mut writer = writer;
    let (write_result, write_time) = tokio::select! {
        r = &mut writer => r.map_err(stage_stopped)?,
        _ = cancel.cancelled() => {
            stop(writer).await;
            progress.finish();
            return Err(cancelled());
        }
    };
    progress.finish();
    let sink: SinkStats = write_result?;
    let rows_sent = sent.rows;
    let sink_skipped = skips.count_of(crate::stores::postgres::bisect::SINK_OPERATION);
    if rows_sent != sink.rows_written + sink_skipped {
        return Err(StoreError::new(format!(
            "sent {rows_sent} rows to the sink but it wrote {} and skipped {sink_skipped}: the copy did not complete",
            sink.rows_written
        )));
    }
    for file in &sink.files {
        skips.file_written(file, &format!("wrote {} rows", sink.rows_written));
    }
    let secs = t0.elapsed().as_secs_f64();
    let throughput = if secs > 0.0 {
        (src.bytes_read as f64 / 1024.0) / secs
    } else {
        0.0
    };
    let used_parallel_copies = read_report.as_ref().map_or(1, |r| r.parallel_copies.max(1));
    let mut reading = json!({"type": plan.source.type_label(), "workingDuration": round3(read_time.as_secs_f64())});
    if let Some(r) = &read_report {
        // Sluice extension: how the partitioned read went, partition by partition.
        reading["partitionOption"] = json!(r.option);
        reading["partitionCount"] = json!(r.partitions);
        reading["partitions"] = r
            .stats()
            .iter()
            .map(|p| {
                json!({"partition": p.label, "rowsRead": p.rows, "dataRead": p.bytes,
                       "duration": round3(p.duration.as_secs_f64())})
            })
            .collect();
    }
    let details = json!({
        "source": {"type": plan.source.type_label()},
        "sink": {"type": plan.sink.type_label()},
        "status": "Succeeded",
        "start": started.to_rfc3339(),
        "duration": round3(secs),
        "usedParallelCopies": used_parallel_copies,
        // Sluice extension: rows moved as undecoded binary COPY tuples.
        "passThrough": undecoded.pass_through,
        // Sluice extension: the plugins read the source's / wrote the sink's COPY tuples.
        "pluginCopyTuples": {"input": undecoded.plugin_input, "output": undecoded.plugin_output},
        "profile": {
            "queue": {"status": "Completed", "duration": 0},
            "transfer": {
                "status": "Completed",
                "duration": round3(secs),
                "details": {
                    "readingFromSource": reading,
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
        rows_skipped: skips.count(),
        copy_duration: round3(secs),
        throughput: round3(throughput),
        source_peak_connections: src.peak_connections,
        sink_peak_connections: sink.peak_connections,
        used_parallel_copies,
        errors: skips
            .first()
            .iter()
            .map(|r| json!({"Code": error_code(&r.operation), "Message": r.message}))
            .collect(),
        log_file_path: None,
        redirect_row_path: None,
        data_consistency_verification: None,
        execution_details: vec![details],
    })
}

/// Where rows travel as undecoded binary COPY tuples instead of engine values.
#[derive(Default)]
struct Undecoded {
    /// Source to sink untouched.
    pass_through: bool,
    /// The first plugin reads the source's tuples.
    plugin_input: bool,
    /// The last plugin writes the sink's tuples.
    plugin_output: bool,
}

/// Lets rows travel as undecoded binary COPY tuples wherever no step needs engine values:
/// decoding and re-encoding every value is then pure overhead, CPU the database servers need
/// (see `connectors::postgres::copy_raw` and `plugins::copy_tuples`). Without plugins that
/// takes a sink with exactly the source's column types and a mapping that keeps the columns
/// as they are; with plugins, the first one reads a PostgreSQL source's tuples and the last
/// one writes a PostgreSQL sink's (binary COPY: CopyCommand or Upsert) when no mapping stands
/// between them and the store. Skipping incompatible rows needs the rows' values (for the
/// session log, and to bisect a refused batch), so it keeps the value path throughout.
fn offer_undecoded(
    plan: &CopyPlan,
    stages: &mut Stages,
    source: &mut dyn Source,
    sink: &dyn Sink,
) -> Undecoded {
    let mut undecoded = Undecoded::default();
    // Converted values are engine values: no undecoded tuples around the conversion.
    if plan.skip_incompatible_rows || stages.conversion.is_some() {
        return undecoded;
    }
    let identity = stages.projection.is_identity();
    let source_types = source.raw_copy_types();
    let targets = sink.copy_targets();
    if stages.transforms.is_empty() && stages.mapper.is_empty() {
        undecoded.pass_through = identity
            && matches!((&source_types, &targets), (Some(from), Some(to))
                if from.len() == to.len() && from.iter().zip(to.iter()).all(|(a, b)| a.oid() == b.oid()));
    } else {
        undecoded.plugin_input =
            source_types.is_some() && (!stages.transforms.is_empty() || identity);
        let last = if stages.mapper.is_empty() {
            identity.then_some(&mut stages.transforms)
        } else {
            Some(&mut stages.mapper)
        };
        if let (Some(chain), Some(targets)) = (last, targets) {
            undecoded.plugin_output = chain.emit_copy_tuples(targets);
        }
    }
    if undecoded.pass_through || undecoded.plugin_input {
        source.use_raw_copy();
    }
    undecoded
}

/// What the relay has handed to the sink.
#[derive(Default)]
struct Sent {
    rows: u64,
}

impl Sent {
    /// Sends a non-empty batch (a filter may leave none) and counts its rows; false when the
    /// sink has stopped.
    async fn send(&mut self, tx: &mpsc::Sender<Batch>, batch: Batch) -> bool {
        if batch.num_rows() == 0 {
            return true;
        }
        self.rows += batch.num_rows() as u64;
        tx.send(batch).await.is_ok()
    }
}

/// The `Code` of a skipped row in the activity's `errors` output, by the stage that refused it.
fn error_code(operation: &str) -> &'static str {
    match operation {
        crate::copy::transform::OPERATION => "RowRejectedByPlugin",
        "source" => "SourceRowSkipped",
        _ => "SinkRowSkipped",
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The error of a copy stopped by its cancellation token.
pub fn cancelled() -> StoreError {
    StoreError::with_kind(StoreErrorKind::Cancelled, "the copy was cancelled")
}

/// Aborts a stage task and waits until it is gone (a writer's open COPY is then abandoned).
async fn stop<T>(handle: tokio::task::JoinHandle<T>) {
    handle.abort();
    let _ = handle.await;
}

async fn join<T>(handle: tokio::task::JoinHandle<T>) -> Result<T, StoreError> {
    handle.await.map_err(stage_stopped)
}

fn stage_stopped(e: tokio::task::JoinError) -> StoreError {
    StoreError::new(format!(
        "internal error: a copy stage stopped unexpectedly: {e}"
    ))
}
