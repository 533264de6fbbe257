//! Reading from PostgreSQL: the query (or table) is described first so the schema is known
//! before any row moves, then streamed with binary `COPY (query) TO STDOUT`, decoded straight
//! into batches. Columns whose type the engine does not model are cast to text in the COPY
//! query, which PostgreSQL reads back losslessly.
//!
//! A partitioned read (`partitionOption`) opens a coordinator connection that starts a
//! REPEATABLE READ transaction and exports its snapshot; the partitions are planned in that
//! snapshot, then read by up to `parallelCopies` readers, each on its own connection that
//! imports the snapshot, so together they copy one consistent state of the data. The readers
//! feed the same bounded queue, so memory stays flat whatever the degree.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::BytesMut;
use futures_util::{pin_mut, StreamExt};
use tokio::task::JoinSet;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::session::PgSession;

use super::connect::connect;
use super::copy_binary::CopyOutDecoder;
use super::copy_raw::{TupleFramer, FIRST_USER_OID};
use super::errors::is_timeout;
use super::partition::{self, apply_settings, set_snapshot_sql, Part, PartStat, ReadReport};
use super::types::data_type_of;
use crate::model::copy::{PgPartitioning, SourceQuery};
use crate::model::pg_endpoint::PgEndpoint;
use crate::model::timespan::format_timespan;
use crate::stores::{BatchTx, Source, SourceStats, StoreError, StoreErrorKind};
use crate::types::batch::{Batch, RawTuples};
use crate::types::ident::quote_ident;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};

/// An opened PostgreSQL source.
pub struct PgSource {
    client: PgSession,
    schema: SchemaRef,
    types: Vec<Type>,
    query_timeout: Duration,
    dataset: String,
    mode: Mode,
    /// Every column's type OID when all are built-in types the engine models: the rows can
    /// then be handed over undecoded (see `copy_raw`).
    raw_types: Option<Arc<[Type]>>,
    /// Hand over undecoded tuples (`Source::use_raw_copy`).
    raw: bool,
    /// The catalog's row estimate of a whole-table source, for progress.
    estimated_rows: Option<u64>,
}

enum Mode {
    /// One `COPY` on the opening connection.
    Single { copy_sql: String },
    /// Partitions read by `degree` readers, each on its own connection in the snapshot the
    /// opening connection exported (it stays open, in its transaction, until all are done).
    Parallel {
        endpoint: Box<PgEndpoint>,
        snapshot: String,
        jobs: Vec<Job>,
        degree: usize,
        report: Arc<ReadReport>,
    },
}

/// One partition's `COPY`.
struct Job {
    part: Part,
    copy_sql: String,
}

/// The read's columns: what the engine sees, the wire types, and the select list that casts
/// types the engine does not model to text.
struct Described {
    columns: Vec<Column>,
    types: Vec<Type>,
    select: Vec<String>,
    casts: bool,
}

impl Described {
    /// The column OIDs when rows may pass through undecoded: no column needed a cast to text
    /// and every type is built in (the same OID and binary form on every server).
    fn raw_types(&self) -> Option<Arc<[Type]>> {
        (!self.casts && self.types.iter().all(|t| t.oid() < FIRST_USER_OID))
            .then(|| self.types.as_slice().into())
    }
}

impl Described {
    fn copy_sql(&self, inner: &str) -> String {
        if self.casts {
            format!(
                "COPY (SELECT {} FROM ({inner}) AS q) TO STDOUT (FORMAT binary)",
                self.select.join(", ")
            )
        } else {
            format!("COPY ({inner}) TO STDOUT (FORMAT binary)")
        }
    }
}

async fn describe_query(
    client: &Client,
    sql: &str,
    what: &str,
    dataset: &str,
) -> Result<Described, StoreError> {
    let stmt = client.prepare(sql).await.map_err(|e| {
        StoreError::postgres(
            format_args!("dataset '{dataset}': {what} cannot be read"),
            &e,
        )
    })?;
    if stmt.columns().is_empty() {
        return Err(StoreError::with_kind(
            StoreErrorKind::Definition,
            format!("dataset '{dataset}': the source query returns no columns (is it a SELECT?)"),
        ));
    }
    let mut d = Described {
        columns: Vec::new(),
        types: Vec::new(),
        select: Vec::new(),
        casts: false,
    };
    for c in stmt.columns() {
        let q = format!("q.{}", quote_ident(c.name()));
        match data_type_of(c.type_()) {
            Some(dt) => {
                d.columns.push(Column::new(c.name(), dt, c.type_().name()));
                d.types.push(c.type_().clone());
                d.select.push(q);
            }
            None => {
                d.casts = true;
                d.columns
                    .push(Column::new(c.name(), DataType::Text, c.type_().name()));
                d.types.push(Type::TEXT);
                d.select.push(format!("{q}::text"));
            }
        }
    }
    Ok(d)
}

impl PgSource {
    /// Connects and describes the query; fails before any data moves when the query or table
    /// is wrong. A partitioned read also exports its snapshot and plans its partitions here.
    pub async fn open(
        endpoint: &PgEndpoint,
        query: &SourceQuery,
        query_timeout: Duration,
        dataset: &str,
        partitioning: &PgPartitioning,
        parallel_copies: Option<u32>,
    ) -> Result<PgSource, StoreError> {
        let client = connect(endpoint, "sluice source").await?;
        // Everything sent while opening is part of reading the source: queryTimeout bounds it.
        let bound = Some(query_timeout);
        let unanswered = |u: super::session::Unanswered| {
            u.error(format_args!("dataset '{dataset}'"), "queryTimeout")
        };
        let what = match query {
            SourceQuery::Query(_) => "source query".to_string(),
            SourceQuery::Table(t) => format!("source table {t}"),
        };
        if *partitioning == PgPartitioning::None {
            let base = match query {
                SourceQuery::Query(q) => q.trim().trim_end_matches(';').trim().to_string(),
                SourceQuery::Table(t) => format!("SELECT * FROM {}", t.quoted()),
            };
            let described = async {
                let estimated = estimate_rows(&client, query).await;
                Ok::<_, StoreError>((
                    estimated,
                    describe_query(&client, &base, &what, dataset).await?,
                ))
            };
            let (estimated_rows, d) = client
                .bounded(bound, described)
                .await
                .map_err(unanswered)??;
            let copy_sql = d.copy_sql(&base);
            let raw_types = d.raw_types();
            return Ok(PgSource {
                client,
                schema: Schema::new(d.columns).into(),
                types: d.types,
                query_timeout,
                dataset: dataset.to_string(),
                mode: Mode::Single { copy_sql },
                raw_types,
                raw: false,
                estimated_rows,
            });
        }
        let fail = |e: tokio_postgres::Error| {
            StoreError::postgres(
                format_args!("dataset '{dataset}': cannot start the partitioned read"),
                &e,
            )
        };
        let planned = async {
            // Before the transaction: a failed estimate must not abort it.
            let estimated = estimate_rows(&client, query).await;
            set_timeout(&client, query_timeout).await.map_err(fail)?;
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .await
                .map_err(fail)?;
            let snapshot: String = client
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(fail)?
                .get(0);
            let plan =
                partition::plan(&client, query, partitioning, parallel_copies, dataset).await?;
            let d = describe_query(&client, &plan.describe_sql, &what, dataset).await?;
            Ok::<_, StoreError>((snapshot, plan, d, estimated))
        };
        let (snapshot, plan, d, estimated_rows) =
            client.bounded(bound, planned).await.map_err(unanswered)??;
        let jobs: Vec<Job> = plan
            .parts
            .into_iter()
            .map(|part| Job {
                copy_sql: d.copy_sql(&part.sql),
                part,
            })
            .collect();
        tracing::debug!(
            "dataset '{dataset}': {} reads {} partitions with {} readers in snapshot {snapshot}",
            plan.option,
            jobs.len(),
            plan.degree
        );
        let report = Arc::new(ReadReport {
            option: plan.option,
            parallel_copies: plan.degree as u32,
            partitions: jobs.len(),
            ..ReadReport::default()
        });
        let raw_types = d.raw_types();
        Ok(PgSource {
            client,
            raw_types,
            raw: false,
            estimated_rows,
            schema: Schema::new(d.columns).into(),
            types: d.types,
            query_timeout,
            dataset: dataset.to_string(),
            mode: Mode::Parallel {
                endpoint: Box::new(endpoint.clone()),
                snapshot,
                jobs,
                degree: plan.degree,
                report,
            },
        })
    }

    /// What a partitioned read reports (filled while it runs); `None` for a single read.
    pub fn report(&self) -> Option<Arc<ReadReport>> {
        match &self.mode {
            Mode::Single { .. } => None,
            Mode::Parallel { report, .. } => Some(report.clone()),
        }
    }
}

/// The catalog's row estimate of a whole-table source (`reltuples`, as of the table's last
/// VACUUM or ANALYZE); `None` for a query, or a table never analyzed (-1) or empty (0). It only
/// sizes the progress line, so failing to read it is not an error.
async fn estimate_rows(client: &Client, query: &SourceQuery) -> Option<u64> {
    let SourceQuery::Table(t) = query else {
        return None;
    };
    let row = client
        .query_opt(
            "SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)",
            &[&t.quoted()],
        )
        .await
        .ok()??;
    let n: f64 = row.try_get(0).ok()?;
    (n >= 1.0).then_some(n as u64)
}

async fn set_timeout(client: &Client, timeout: Duration) -> Result<(), tokio_postgres::Error> {
    let ms = timeout.as_millis().to_string();
    client
        .query("SELECT set_config('statement_timeout', $1, false)", &[&ms])
        .await
        .map(|_| ())
}

/// Turns a driver error during reading into the user's message.
fn read_error(
    ds: &str,
    timeout: Duration,
    e: &tokio_postgres::Error,
    part: Option<&str>,
) -> StoreError {
    let where_ = part.map_or(String::new(), |p| format!(" (partition {p})"));
    if is_timeout(e) {
        StoreError::with_kind(
            StoreErrorKind::Timeout,
            format!(
                "dataset '{ds}': queryTimeout {} exceeded{where_}; the server cancelled the query",
                format_timespan(timeout)
            ),
        )
    } else {
        StoreError::postgres(format_args!("dataset '{ds}': reading failed{where_}"), e)
    }
}

/// Streams one `COPY` into `out`; false when the consumer has gone.
#[allow(clippy::too_many_arguments)]
async fn stream_copy(
    client: &Client,
    copy_sql: &str,
    types: &[Type],
    schema: &SchemaRef,
    out: &BatchTx,
    batch_rows: usize,
    stats: &mut SourceStats,
    fail: &(dyn Fn(&tokio_postgres::Error) -> StoreError + Sync),
    ds: &str,
    raw: bool,
) -> Result<bool, StoreError> {
    if raw {
        let types: Arc<[Type]> = types.into();
        let sql = copy_sql;
        return stream_raw(client, sql, types, schema, out, batch_rows, stats, fail, ds).await;
    }
    let stream = client.copy_out(copy_sql).await.map_err(|e| fail(&e))?;
    pin_mut!(stream);
    let mut decoder = CopyOutDecoder::new(types.to_vec(), schema.clone());
    let mut batch = Batch::with_capacity(schema.clone(), batch_rows);
    let mut last_bytes = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(&e))?;
        decoder
            .feed(&chunk, &mut batch)
            .map_err(|e| StoreError::new(format!("dataset '{ds}': {e}")))?;
        if batch.num_rows() >= batch_rows {
            let full =
                std::mem::replace(&mut batch, Batch::with_capacity(schema.clone(), batch_rows));
            if !send(out, full, stats, decoder.bytes(), &mut last_bytes).await {
                return Ok(false);
            }
        }
    }
    decoder
        .finish()
        .map_err(|e| StoreError::new(format!("dataset '{ds}': {e}")))?;
    if !batch.is_empty() && !send(out, batch, stats, decoder.bytes(), &mut last_bytes).await {
        return Ok(false);
    }
    Ok(true)
}

#[async_trait]
impl Source for PgSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn size_hint(&self) -> Option<crate::stores::SizeHint> {
        self.estimated_rows.map(crate::stores::SizeHint::Rows)
    }

    fn raw_copy_types(&self) -> Option<Arc<[Type]>> {
        self.raw_types.clone()
    }

    fn use_raw_copy(&mut self) {
        self.raw = self.raw_types.is_some();
    }

    async fn read(
        self: Box<Self>,
        out: BatchTx,
        batch_rows: usize,
    ) -> Result<SourceStats, StoreError> {
        let this = *self;
        let ds = this.dataset.clone();
        let timeout = this.query_timeout;
        match this.mode {
            Mode::Single { copy_sql } => {
                let fail = |e: &tokio_postgres::Error| read_error(&ds, timeout, e, None);
                let mut stats = SourceStats {
                    peak_connections: 1,
                    ..SourceStats::default()
                };
                let copy = async {
                    set_timeout(&this.client, timeout)
                        .await
                        .map_err(|e| fail(&e))?;
                    stream_copy(
                        &this.client,
                        &copy_sql,
                        &this.types,
                        &this.schema,
                        &out,
                        batch_rows,
                        &mut stats,
                        &fail,
                        &ds,
                        this.raw,
                    )
                    .await
                };
                this.client
                    .bounded(Some(timeout), copy)
                    .await
                    .map_err(|u| u.error(format_args!("dataset '{ds}'"), "queryTimeout"))??;
                Ok(stats)
            }
            Mode::Parallel {
                endpoint,
                snapshot,
                jobs,
                degree,
                report,
            } => {
                let set_snapshot = set_snapshot_sql(&snapshot)
                    .map_err(|e| StoreError::new(format!("dataset '{ds}': {e}")))?;
                let shared = Arc::new(Shared {
                    endpoint: *endpoint,
                    set_snapshot,
                    jobs: Mutex::new(jobs.into_iter().collect()),
                    types: this.types,
                    schema: this.schema,
                    timeout,
                    dataset: ds.clone(),
                    report,
                    raw: this.raw,
                });
                let mut readers = JoinSet::new();
                for _ in 0..degree {
                    readers.spawn(reader(shared.clone(), out.clone(), batch_rows));
                }
                drop(out);
                let mut stats = SourceStats {
                    // the coordinator holding the snapshot, and the readers
                    peak_connections: 1 + degree as u32,
                    ..SourceStats::default()
                };
                while let Some(joined) = readers.join_next().await {
                    let result = joined.map_err(|e| {
                        StoreError::new(format!(
                            "dataset '{ds}': internal error: a partition reader stopped: {e}"
                        ))
                    });
                    match result.and_then(|r| r) {
                        Ok(s) => {
                            stats.rows_read += s.rows_read;
                            stats.bytes_read += s.bytes_read;
                        }
                        Err(e) => {
                            readers.abort_all();
                            while readers.join_next().await.is_some() {}
                            return Err(e);
                        }
                    }
                }
                // Every reader is done with the snapshot; end the coordinator's transaction.
                let commit = this.client.batch_execute("COMMIT");
                match this.client.bounded(Some(timeout), commit).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!("dataset '{ds}': ending the snapshot transaction: {e}")
                    }
                    Err(_) => tracing::debug!(
                        "dataset '{ds}': no answer to ending the snapshot transaction"
                    ),
                }
                Ok(stats)
            }
        }
    }
}

/// What every reader of a partitioned read shares.
struct Shared {
    endpoint: PgEndpoint,
    set_snapshot: String,
    /// Partitions not yet taken by a reader.
    jobs: Mutex<VecDeque<Job>>,
    types: Vec<Type>,
    schema: SchemaRef,
    timeout: Duration,
    dataset: String,
    report: Arc<ReadReport>,
    raw: bool,
}

impl Shared {
    fn next_job(&self) -> Option<Job> {
        match self.jobs.lock() {
            Ok(mut q) => q.pop_front(),
            Err(poisoned) => poisoned.into_inner().pop_front(),
        }
    }
}

/// One reader: its own connection in the shared snapshot, taking partitions until none are
/// left, feeding the same bounded queue as the others.
async fn reader(
    shared: Arc<Shared>,
    out: BatchTx,
    batch_rows: usize,
) -> Result<SourceStats, StoreError> {
    let ds = shared.dataset.as_str();
    let client = connect(&shared.endpoint, "sluice source reader").await?;
    let start_fail = |e: tokio_postgres::Error| {
        StoreError::postgres(
            format_args!("dataset '{ds}': a partition reader cannot join the copy's snapshot"),
            &e,
        )
    };
    let bound = Some(shared.timeout);
    let unanswered = |u: super::session::Unanswered, part: Option<&str>| {
        let where_ = part.map_or(String::new(), |p| format!(" (partition {p})"));
        u.error(format_args!("dataset '{ds}'{where_}"), "queryTimeout")
    };
    let joined = async {
        set_timeout(&client, shared.timeout).await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await?;
        client.batch_execute(&shared.set_snapshot).await
    };
    client
        .bounded(bound, joined)
        .await
        .map_err(|u| unanswered(u, None))?
        .map_err(start_fail)?;
    let mut stats = SourceStats::default();
    while let Some(job) = shared.next_job() {
        let label = job.part.label.as_str();
        let fail = |e: &tokio_postgres::Error| read_error(ds, shared.timeout, e, Some(label));
        let t = Instant::now();
        let mut part_stats = SourceStats::default();
        let copy = async {
            apply_settings(&client, &job.part)
                .await
                .map_err(|e| fail(&e))?;
            stream_copy(
                &client,
                &job.copy_sql,
                &shared.types,
                &shared.schema,
                &out,
                batch_rows,
                &mut part_stats,
                &fail,
                ds,
                shared.raw,
            )
            .await
        };
        let open = client
            .bounded(bound, copy)
            .await
            .map_err(|u| unanswered(u, Some(label)))??;
        stats.rows_read += part_stats.rows_read;
        stats.bytes_read += part_stats.bytes_read;
        shared.report.record(PartStat {
            label: label.to_string(),
            rows: part_stats.rows_read,
            bytes: part_stats.bytes_read,
            duration: t.elapsed(),
        });
        if !open {
            return Ok(stats); // the consumer has gone; it reports why
        }
    }
    let _ = client.bounded(bound, client.batch_execute("COMMIT")).await;
    Ok(stats)
}

/// Streams one `COPY` into `out` as undecoded tuples, in batches of `batch_rows` rows or
/// [`RAW_BATCH_BYTES`], whichever comes first; false when the consumer has gone.
#[allow(clippy::too_many_arguments)]
async fn stream_raw(
    client: &Client,
    copy_sql: &str,
    types: Arc<[Type]>,
    schema: &SchemaRef,
    out: &BatchTx,
    batch_rows: usize,
    stats: &mut SourceStats,
    fail: &(dyn Fn(&tokio_postgres::Error) -> StoreError + Sync),
    ds: &str,
) -> Result<bool, StoreError> {
    let stream = client.copy_out(copy_sql).await.map_err(|e| fail(&e))?;
    pin_mut!(stream);
    let mut framer = TupleFramer::new(schema.len());
    let mut buf = BytesMut::with_capacity(RAW_BATCH_BYTES + RAW_BATCH_BYTES / 4);
    let mut rows = 0;
    let mut last_bytes = 0;
    let bad = |e: super::binary::CodecError| StoreError::new(format!("dataset '{ds}': {e}"));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(&e))?;
        rows += framer.feed(&chunk, &mut buf).map_err(bad)?;
        if rows >= batch_rows || buf.len() >= RAW_BATCH_BYTES {
            let data = buf.split().freeze();
            buf.reserve(RAW_BATCH_BYTES + RAW_BATCH_BYTES / 4);
            let tuples = RawTuples {
                data,
                rows,
                types: types.clone(),
            };
            let batch = Batch::raw(schema.clone(), tuples);
            rows = 0;
            if !send(out, batch, stats, framer.bytes(), &mut last_bytes).await {
                return Ok(false);
            }
        }
    }
    framer.finish().map_err(bad)?;
    if rows > 0 {
        let batch = Batch::raw(
            schema.clone(),
            RawTuples {
                data: buf.freeze(),
                rows,
                types,
            },
        );
        if !send(out, batch, stats, framer.bytes(), &mut last_bytes).await {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Bytes of undecoded tuples per batch: large enough that per-batch costs vanish, small enough
/// that the bounded queues stay a few megabytes however wide the rows.
const RAW_BATCH_BYTES: usize = 1 << 20;

/// Sends a batch with its byte count; false when the consumer has gone (it reports why).
async fn send(
    out: &BatchTx,
    mut batch: Batch,
    stats: &mut SourceStats,
    bytes: u64,
    last: &mut u64,
) -> bool {
    batch.bytes = bytes - *last;
    *last = bytes;
    stats.rows_read += batch.num_rows() as u64;
    stats.bytes_read += batch.bytes;
    out.send(batch).await.is_ok()
}
