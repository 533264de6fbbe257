//! Writing to PostgreSQL with ADF's three write methods.
//!
//! Rows are written in write batches of `writeBatchSize` rows, or fewer when the batch reaches
//! [`MAX_BATCH_BYTES`] first. Each batch is written and committed on its own, within
//! `writeBatchTimeout` (enforced on both sides: a client timer and the session's
//! `statement_timeout`). As in ADF, batches committed before a failure stay; a
//! `preCopyScript` that clears the table makes a re-run clean. With CopyCommand a batch's COPY
//! is opened as its first rows are encoded and fed while the rest arrive
//! ([`super::copy_stream`]); it still commits, or rolls back, as one unit.
//!
//! With `enableSkipIncompatibleRow`, a batch the server refuses because of some rows' values
//! (conversion errors, constraint violations) is written again in halves inside one
//! transaction, with a savepoint per attempt, until the bad rows are isolated (see
//! [`super::bisect`]); the good rows are committed and each bad row is recorded in the
//! [`SkipLog`]. Without it, the activity fails naming the first bad row, its column and the
//! reason, and the failing batch is rolled back. Batches that succeed never pay for this.
//!
//! Values travel in PostgreSQL's binary format when every column's value can be encoded for
//! its target type, and in text-format COPY otherwise (for example CSV text into a range
//! column): PostgreSQL parses the text form of every type.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::binary::{can_encode, encode};
use super::bisect::{
    binary_row_ends, copy_position, is_row_error, render_binary_row, render_text_row,
    render_values, row_reason, text_row_ends, Bisection,
};
use super::connect::connect;
use super::copy_binary::{write_header, write_row, write_trailer};
use super::copy_raw::split_after;
use super::copy_stream::{timed_step, Failure, StreamingCopy};
use super::copy_text::write_text_row;
use super::errors::{describe, is_timeout};
use super::session::PgSession;
use super::upsert::{merge_sql, prepare_upsert};
use crate::model::copy::{PgSinkSettings, WriteMethod};
use crate::model::pg_endpoint::PgEndpoint;
use crate::model::timespan::format_timespan;
use crate::stores::skip_log::SkipLog;
use crate::stores::{BatchRx, Committed, Sink, SinkStats, StoreError, StoreErrorKind};
use crate::types::batch::{Batch, RawTuples};
use crate::types::ident::quote_ident;
use crate::types::schema::SchemaRef;
use crate::types::text_form::TextForm;
use crate::types::value::Value;

/// PostgreSQL's limit on bind parameters in one statement.
const MAX_BIND_PARAMS: usize = 65_535;
/// Bytes of encoded COPY data sent per message.
const COPY_CHUNK: usize = 256 * 1024;
/// A write batch also ends once it holds this much data, whatever `writeBatchSize` says: a
/// batch is kept in memory until it commits (a refused batch is written again in parts, see
/// [`super::bisect`]), so this bounds the sink's memory. With ADF's default of 1,000,000 rows
/// a batch of the bench table's rows (about 170 bytes each) ends near 100,000 rows. Why not
/// smaller: each batch is one more COPY statement and commit, which cost PostgreSQL 15 about
/// 1 ms of its own work (setting up COPY's multi-insert slots) and the client two round trips
/// (about 2 ms per batch measured on one machine); at 10,000-row batches that was 7% of a copy.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// The savepoint each attempt of a bisection runs under, and how it ends.
const SAVEPOINT: &str = "sluice_bisect";
const RELEASE: &str = "RELEASE SAVEPOINT sluice_bisect";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT sluice_bisect";
use super::bisect::SINK_OPERATION as OPERATION;

/// One target column receiving an input column.
struct Target {
    name: String,
    ty: Type,
    /// `format_type` output, for casts.
    sql_type: String,
    /// The value must be sent as text and cast by the server.
    as_text: bool,
}

/// An opened PostgreSQL sink.
pub struct PgSink {
    client: PgSession,
    settings: PgSinkSettings,
    dataset: String,
    targets: Vec<Target>,
    /// The target column types, in input order.
    types: Vec<Type>,
    /// Some column can only be sent as text: COPY uses text format.
    text_copy: bool,
    /// Upsert: conflict keys and the staging table.
    upsert: Option<(Vec<String>, String)>,
    /// Set with `enableSkipIncompatibleRow`: where refused rows are recorded.
    skips: Option<SkipLog>,
    /// Rows received so far, written or skipped: numbers rows in messages.
    seen: AtomicU64,
    /// Rows committed so far, for a failed copy's output ([`Sink::count_committed`]).
    committed: Option<std::sync::Arc<Committed>>,
}

impl PgSink {
    /// Connects, runs the `preCopyScript`, checks the table and columns and prepares staging
    /// for Upsert: all before any row is written.
    pub async fn open(
        endpoint: &PgEndpoint,
        settings: &PgSinkSettings,
        input: &SchemaRef,
        dataset: &str,
    ) -> Result<PgSink, StoreError> {
        let client = connect(endpoint, "sluice sink").await?;
        // commandTimeout bounds the set-up statements, here as on the server.
        let set_up = Self::set_up(&client, endpoint, settings, input, dataset);
        let (targets, upsert) = client
            .bounded(endpoint.command_timeout, set_up)
            .await
            .map_err(|u| u.error(format_args!("dataset '{dataset}'"), "commandTimeout"))??;
        let text_copy = targets.iter().any(|t| t.as_text);
        Ok(PgSink {
            client,
            settings: settings.clone(),
            dataset: dataset.to_string(),
            types: targets.iter().map(|t| t.ty.clone()).collect(),
            targets,
            text_copy,
            upsert,
            skips: None,
            seen: AtomicU64::new(0),
            committed: None,
        })
    }

    /// The `preCopyScript`, the table's columns, Upsert's staging table and the batch timeout.
    async fn set_up(
        client: &Client,
        endpoint: &PgEndpoint,
        settings: &PgSinkSettings,
        input: &SchemaRef,
        dataset: &str,
    ) -> Result<(Vec<Target>, Option<(Vec<String>, String)>), StoreError> {
        let table = &settings.table;
        let err = |what: &str, e: tokio_postgres::Error| {
            StoreError::postgres(format_args!("dataset '{dataset}': {what}"), &e)
        };
        // The script runs first: it may create or clear the table this sink then checks.
        if let Some(script) = &settings.pre_copy_script {
            client
                .batch_execute(script)
                .await
                .map_err(|e| err("preCopyScript failed", e))?;
        }
        let rows = client
            .query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '' \
                 FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&table.quoted()],
            )
            .await
            .map_err(|e| err("cannot look up the sink table", e))?;
        if rows.is_empty() {
            return Err(StoreError::with_kind(StoreErrorKind::NotFound, format!(
                "dataset '{dataset}': sink table {table} does not exist in database '{}' (create it first, e.g. in preCopyScript of an earlier run or with psql)",
                endpoint.database
            )));
        }
        let table_cols: Vec<(String, String, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let mut names = Vec::new();
        for col in &input.columns {
            let found = table_cols
                .iter()
                .find(|(n, _, _)| n == &col.name)
                .or_else(|| {
                    let mut ci = table_cols.iter().filter(|(n, _, _)| n.eq_ignore_ascii_case(&col.name));
                    match (ci.next(), ci.next()) {
                        (Some(one), None) => Some(one),
                        _ => None,
                    }
                })
                .ok_or_else(|| {
                    let have: Vec<&str> = table_cols.iter().map(|(n, _, _)| n.as_str()).collect();
                    StoreError::with_kind(StoreErrorKind::Definition, format!(
                        "dataset '{dataset}': column \"{}\" does not exist in sink table {table} (its columns: {}); map it with a translator or rename it in the query",
                        col.name,
                        have.join(", ")
                    ))
                })?;
            if found.2 {
                return Err(StoreError::with_kind(StoreErrorKind::Definition, format!("dataset '{dataset}': column \"{}\" of {table} is generated and cannot be written", found.0)));
            }
            names.push((found.0.clone(), found.1.clone()));
        }
        let select = format!(
            "SELECT {} FROM {} LIMIT 0",
            names
                .iter()
                .map(|(n, _)| quote_ident(n))
                .collect::<Vec<_>>()
                .join(", "),
            table.quoted()
        );
        let stmt = client
            .prepare(&select)
            .await
            .map_err(|e| err("cannot prepare the sink columns", e))?;
        let mut targets = Vec::new();
        for ((name, sql_type), (col, pg)) in names
            .into_iter()
            .zip(input.columns.iter().zip(stmt.columns()))
        {
            let as_text = !can_encode(&col.data_type, pg.type_());
            targets.push(Target {
                name,
                ty: pg.type_().clone(),
                sql_type,
                as_text,
            });
        }
        let upsert = match &settings.write_method {
            WriteMethod::Upsert { keys } => {
                let columns: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
                let keys = keys.as_deref();
                Some(prepare_upsert(client, table, keys, &columns, dataset).await?)
            }
            _ => None,
        };
        let ms = settings.write_batch_timeout.as_millis().to_string();
        client
            .query("SELECT set_config('statement_timeout', $1, false)", &[&ms])
            .await
            .map_err(|e| err("cannot set the batch timeout", e))?;
        Ok((targets, upsert))
    }

    fn column_list(&self) -> String {
        self.targets
            .iter()
            .map(|t| quote_ident(&t.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `COPY ... FROM STDIN` statement into `target` (the table or the staging table).
    fn copy_sql(&self, target: &str) -> String {
        let format = if self.text_copy {
            ""
        } else {
            " (FORMAT binary)"
        };
        format!("COPY {target} ({}) FROM STDIN{format}", self.column_list())
    }

    /// Sends the encoded rows of the batch being gathered once there is a message's worth,
    /// opening its COPY with the first (CopyCommand only: Upsert merges whole batches).
    async fn send_ready(&self, pending: &mut Pending) {
        let Pending::Copy { buf, stream, .. } = pending else {
            return;
        };
        if buf.len() < COPY_CHUNK || self.upsert.is_some() {
            return;
        }
        let rows = buf.split().freeze();
        self.streaming(stream).await.send(rows).await;
    }

    /// Adds whole encoded rows to the write batch. CopyCommand sends them on as they are (after
    /// any rows still gathered), so undecoded tuples reach the connection without being copied
    /// and the batch keeps the source's buffers rather than copies of them; Upsert gathers them.
    async fn add_encoded(&self, pending: &mut Pending, rows: Bytes) {
        let Pending::Copy { buf, stream, .. } = pending else {
            return;
        };
        if self.upsert.is_some() {
            buf.extend_from_slice(&rows);
            return;
        }
        let open = self.streaming(stream).await;
        if !buf.is_empty() {
            open.send(buf.split().freeze()).await;
        }
        open.send(rows).await;
    }

    /// The batch's open COPY, opened now if this is its first data.
    async fn streaming<'s>(&self, stream: &'s mut Option<StreamingCopy>) -> &'s mut StreamingCopy {
        match stream {
            Some(open) => open,
            None => stream.insert(
                StreamingCopy::open(
                    &self.client,
                    &self.copy_sql(&self.settings.table.quoted()),
                    !self.text_copy,
                    self.settings.write_batch_timeout,
                )
                .await,
            ),
        }
    }

    /// An empty write batch of the kind this sink's write method gathers.
    fn new_pending(&self) -> Pending {
        match self.settings.write_method {
            WriteMethod::BulkInsert => Pending::Rows {
                rows: Vec::new(),
                bytes: 0,
            },
            _ => Pending::Copy {
                buf: BytesMut::new(),
                rows: 0,
                stream: None,
            },
        }
    }

    /// Adds one row to the write batch, encoding it for COPY right away.
    fn append(&self, pending: &mut Pending, row: &[Value]) -> Result<(), String> {
        match pending {
            Pending::Copy { buf, rows, .. } => {
                if self.text_copy {
                    write_text_row(row, buf);
                } else {
                    write_row(row, &self.types, buf).map_err(|e| e.to_string())?;
                }
                *rows += 1;
            }
            Pending::Rows { rows, bytes } => {
                let row = self.to_text_where_needed(row);
                *bytes += row.iter().map(Value::held_size).sum::<usize>();
                rows.push(row);
            }
        }
        Ok(())
    }

    /// Writes and commits one whole write batch.
    async fn write_unit(&self, unit: &Unit) -> Result<u64, tokio_postgres::Error> {
        match unit {
            Unit::Rows(rows) => {
                self.client.batch_execute("BEGIN").await?;
                let result = self.insert_rows(rows).await;
                self.finish_transaction(result).await
            }
            Unit::Copy { body, .. } => match &self.upsert {
                // In a transaction: an autocommit COPY reports success before it commits
                // (see `super::copy_stream`).
                None => {
                    self.client.batch_execute("BEGIN").await?;
                    let result = self
                        .copy_into(&self.settings.table.quoted(), body.clone())
                        .await;
                    self.finish_transaction(result).await
                }
                Some((keys, staging)) => {
                    self.client.batch_execute("BEGIN").await?;
                    let result = self.merge(keys, staging, body.clone(), false).await;
                    self.finish_transaction(result).await
                }
            },
        }
    }

    /// Writes rows `range` of a batch inside the bisection's transaction. `ends` holds the end
    /// offset of every row of a COPY body.
    async fn write_part(
        &self,
        unit: &Unit,
        range: Range<usize>,
        ends: &[usize],
    ) -> Result<u64, tokio_postgres::Error> {
        match unit {
            Unit::Rows(rows) => self.insert_rows(rows.get(range).unwrap_or_default()).await,
            Unit::Copy { body, .. } => {
                let part = body.slice(row_span(ends, range));
                match &self.upsert {
                    None => self.copy_into(&self.settings.table.quoted(), part).await,
                    Some((keys, staging)) => self.merge(keys, staging, part, true).await,
                }
            }
        }
    }

    /// One COPY of encoded rows into `target` (the table or the staging table); the binary
    /// header and trailer are sent around them.
    async fn copy_into(&self, target: &str, mut data: Bytes) -> Result<u64, tokio_postgres::Error> {
        let sink = self
            .client
            .copy_in::<_, Bytes>(self.copy_sql(target).as_str())
            .await?;
        futures_util::pin_mut!(sink);
        let mut total = data.len() as u64;
        if !self.text_copy {
            let mut header = BytesMut::new();
            write_header(&mut header);
            total += header.len() as u64;
            sink.send(header.freeze()).await?;
        }
        while !data.is_empty() {
            let piece = data.split_to(COPY_CHUNK.min(data.len()));
            sink.send(piece).await?;
        }
        if !self.text_copy {
            let mut trailer = BytesMut::new();
            write_trailer(&mut trailer);
            total += trailer.len() as u64;
            sink.send(trailer.freeze()).await?;
        }
        sink.finish().await?;
        Ok(total)
    }

    /// Multi-row INSERTs, each under the bind-parameter limit, in the caller's transaction.
    async fn insert_rows(&self, rows: &[Vec<Value>]) -> Result<u64, tokio_postgres::Error> {
        let width = self.targets.len();
        let per_stmt = (MAX_BIND_PARAMS / width.max(1)).clamp(1, 1000);
        let mut bytes = 0u64;
        let mut full_stmt = None;
        for chunk in rows.chunks(per_stmt) {
            let stmt = if chunk.len() == per_stmt {
                match &full_stmt {
                    Some(s) => s,
                    None => {
                        full_stmt.insert(self.client.prepare(&self.insert_sql(chunk.len())).await?)
                    }
                }
                .clone()
            } else {
                self.client.prepare(&self.insert_sql(chunk.len())).await?
            };
            let cells: Vec<Cell<'_>> = chunk.iter().flat_map(|r| r.iter().map(Cell)).collect();
            bytes += cells.iter().map(|c| c.0.byte_size() as u64).sum::<u64>();
            let params: Vec<&(dyn ToSql + Sync)> =
                cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            self.client.execute(&stmt, &params).await?;
        }
        Ok(bytes)
    }

    fn insert_sql(&self, rows: usize) -> String {
        let width = self.targets.len();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.settings.table.quoted(),
            self.column_list()
        );
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ",(" });
            for (c, t) in self.targets.iter().enumerate() {
                if c > 0 {
                    sql.push(',');
                }
                let n = r * width + c + 1;
                if t.as_text {
                    sql.push_str(&format!("CAST(${n}::text AS {})", t.sql_type));
                } else {
                    sql.push_str(&format!("${n}"));
                }
            }
            sql.push(')');
        }
        sql
    }

    fn to_text_where_needed(&self, row: &[Value]) -> Vec<Value> {
        row.iter()
            .zip(&self.targets)
            .map(|(v, t)| match (t.as_text, v) {
                (true, Value::Text(_)) | (_, Value::Null) | (false, _) => v.clone(),
                (true, other) => other.to_text().map_or(Value::Null, Value::Text),
            })
            .collect()
    }

    /// COPY into the staging table, then merge into the target, in the caller's transaction.
    /// `clear` empties the staging table first (a bisection writes several parts in one
    /// transaction; `ON COMMIT DELETE ROWS` only empties it at the end).
    async fn merge(
        &self,
        keys: &[String],
        staging: &str,
        data: Bytes,
        clear: bool,
    ) -> Result<u64, tokio_postgres::Error> {
        if clear {
            self.client
                .batch_execute(&format!("DELETE FROM {}", quote_ident(staging)))
                .await?;
        }
        let bytes = self.copy_into(&quote_ident(staging), data).await?;
        let columns: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        let sql = merge_sql(&self.settings.table, staging, keys, &columns);
        self.client.execute(sql.as_str(), &[]).await?;
        Ok(bytes)
    }

    async fn finish_transaction(
        &self,
        result: Result<u64, tokio_postgres::Error>,
    ) -> Result<u64, tokio_postgres::Error> {
        match result {
            Ok(bytes) => {
                self.client.batch_execute("COMMIT").await?;
                Ok(bytes)
            }
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }
}

/// Rows gathered for the next write batch (one transaction).
enum Pending {
    /// CopyCommand and Upsert: the COPY data, encoded as rows arrive. Compact (about the size
    /// of the table's data). CopyCommand sends it on as it grows (`stream`, see
    /// [`super::copy_stream`]); Upsert's staging and merge run once the batch is whole.
    Copy {
        buf: BytesMut,
        rows: usize,
        stream: Option<StreamingCopy>,
    },
    /// BulkInsert: rows for the statements' bind parameters, and the memory they hold.
    Rows { rows: Vec<Vec<Value>>, bytes: usize },
}

impl Pending {
    fn rows(&self) -> usize {
        match self {
            Pending::Copy { rows, .. } => *rows,
            Pending::Rows { rows, .. } => rows.len(),
        }
    }

    /// The data the batch holds: encoded COPY rows (sent or not), or BulkInsert's values.
    fn bytes(&self) -> usize {
        match self {
            Pending::Copy { buf, stream, .. } => {
                buf.len() + stream.as_ref().map_or(0, StreamingCopy::kept_bytes)
            }
            Pending::Rows { bytes, .. } => *bytes,
        }
    }

    /// Whether the batch is complete: `writeBatchSize` rows or [`MAX_BATCH_BYTES`] of data.
    fn is_full(&self, batch_rows: usize) -> bool {
        self.rows() >= batch_rows || self.bytes() >= MAX_BATCH_BYTES
    }

    /// The batch, ready to be written (and written again in parts when it fails).
    fn into_unit(self) -> Unit {
        match self {
            Pending::Copy { buf, rows, stream } => {
                let body = match stream {
                    Some(mut sent) => {
                        sent.keep(buf.freeze());
                        sent.into_body()
                    }
                    None => buf.freeze(),
                };
                Unit::Copy { body, rows }
            }
            Pending::Rows { rows, .. } => Unit::Rows(rows),
        }
    }
}

/// A write batch being written: the encoded COPY rows (no binary header or trailer, so any
/// run of rows can be sent on its own) or the rows for INSERTs.
enum Unit {
    Copy { body: Bytes, rows: usize },
    Rows(Vec<Vec<Value>>),
}

impl Unit {
    fn rows(&self) -> usize {
        match self {
            Unit::Copy { rows, .. } => *rows,
            Unit::Rows(r) => r.len(),
        }
    }
}

/// Byte range of rows `range` in a COPY body whose rows end at `ends`.
fn row_span(ends: &[usize], range: Range<usize>) -> Range<usize> {
    let start = match range.start {
        0 => 0,
        i => ends.get(i - 1).copied().unwrap_or(0),
    };
    let end = range
        .end
        .checked_sub(1)
        .and_then(|i| ends.get(i))
        .copied()
        .unwrap_or(start);
    start..end.max(start)
}

/// A value as a bind parameter, encoded by the engine's binary codec.
#[derive(Debug)]
struct Cell<'a>(&'a Value);

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            v => {
                encode(v, ty, out)?;
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl PgSink {
    /// Counts a committed batch: in the stats, and for a failed copy's output.
    fn add_committed(&self, stats: &mut SinkStats, rows: u64, bytes: u64) {
        stats.bytes_written += bytes;
        stats.rows_written += rows;
        if let Some(c) = &self.committed {
            c.rows.fetch_add(rows, Ordering::Relaxed);
            c.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl Sink for PgSink {
    /// Undecoded tuples fit when every column has exactly the target's type and the write
    /// method sends binary COPY data (CopyCommand, and Upsert into its staging table).
    fn column_sql_types(&self) -> Option<Vec<String>> {
        Some(self.targets.iter().map(|t| t.sql_type.clone()).collect())
    }

    fn copy_targets(&self) -> Option<std::sync::Arc<[Type]>> {
        let binary_copy =
            !self.text_copy && !matches!(self.settings.write_method, WriteMethod::BulkInsert);
        binary_copy.then(|| self.types.as_slice().into())
    }

    fn skip_incompatible_rows(&mut self, log: SkipLog) {
        self.skips = Some(log);
    }

    fn count_committed(&mut self, so_far: std::sync::Arc<Committed>) {
        self.committed = Some(so_far);
    }

    async fn write(self: Box<Self>, mut input: BatchRx) -> Result<SinkStats, StoreError> {
        let mut stats = SinkStats {
            peak_connections: 1,
            ..SinkStats::default()
        };
        let mut number = 0u64;
        let mut pending = self.new_pending();
        let size = self.settings.write_batch_size;
        loop {
            let chunk = input.recv().await;
            let done = chunk.is_none();
            if let Some(raw) = chunk.as_ref().and_then(Batch::raw_tuples) {
                self.append_raw(&mut pending, raw, &mut number, &mut stats)
                    .await?;
                continue;
            }
            for row in chunk.iter().flat_map(Batch::rows) {
                if let Err(e) = self.append(&mut pending, row) {
                    // A value that cannot become the column's type: refused before sending.
                    let n = self.seen.load(Ordering::Relaxed) + pending.rows() as u64 + 1;
                    match &self.skips {
                        Some(skips) => {
                            self.seen.fetch_add(1, Ordering::Relaxed);
                            skips.record(OPERATION, &render_values(row), &format!("row {n}: {e}"));
                            continue;
                        }
                        None => {
                            return Err(StoreError::with_kind(StoreErrorKind::Data, format!(
                                "dataset '{}': row {n} cannot be written to {}: {e}; set enableSkipIncompatibleRow to skip incompatible rows",
                                self.dataset, self.settings.table
                            )))
                        }
                    }
                }
                if pending.is_full(size) {
                    number += 1;
                    let full = std::mem::replace(&mut pending, self.new_pending());
                    self.write_timed(full, number, &mut stats).await?;
                } else {
                    self.send_ready(&mut pending).await;
                }
            }
            if done {
                break;
            }
        }
        if pending.rows() > 0 {
            self.write_timed(pending, number + 1, &mut stats).await?;
        }
        Ok(stats)
    }
}

impl PgSink {
    /// Adds undecoded tuples to the write batch, writing each batch as it reaches
    /// `writeBatchSize` rows (splitting the tuples at that row) or, after a whole chunk of
    /// tuples, [`MAX_BATCH_BYTES`].
    async fn append_raw(
        &self,
        pending: &mut Pending,
        raw: &RawTuples,
        number: &mut u64,
        stats: &mut SinkStats,
    ) -> Result<(), StoreError> {
        let size = self.settings.write_batch_size;
        let mut data = raw.data.clone();
        let mut rows = raw.rows;
        while rows > 0 {
            let Pending::Copy { rows: have, .. } = pending else {
                return Err(StoreError::new(
                    "internal error: undecoded rows reached a sink writing with BulkInsert",
                ));
            };
            let take = rows.min(size.saturating_sub(*have).max(1));
            let at = if take == rows {
                data.len()
            } else {
                split_after(&data, take)
                    .map_err(|e| StoreError::new(format!("dataset '{}': {e}", self.dataset)))?
            };
            *have += take;
            let head = data.split_to(at.min(data.len()));
            rows -= take;
            self.add_encoded(pending, head).await;
            if pending.is_full(size) {
                *number += 1;
                let full = std::mem::replace(pending, self.new_pending());
                self.write_timed(full, *number, stats).await?;
            }
        }
        Ok(())
    }

    /// Why the server refused a row, naming the target table where it named Upsert's staging
    /// table (an internal detail).
    fn reason(&self, e: &tokio_postgres::Error) -> String {
        self.unstaged(&row_reason(e))
    }

    /// `text` with Upsert's staging table named as the target table.
    fn unstaged(&self, text: &str) -> String {
        match &self.upsert {
            Some((_, staging)) => text.replace(staging.as_str(), &self.settings.table.to_string()),
            None => text.to_string(),
        }
    }

    /// Runs one write within `writeBatchTimeout` (the client side of it; the session's
    /// `statement_timeout` is the server side). When the client's timer fires the server did
    /// not answer: the statement is cancelled and the connection closed.
    async fn timed<T, F>(&self, write: F) -> Result<T, Failure>
    where
        F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let mut busy = std::time::Duration::ZERO;
        let result = timed_step(&mut busy, self.settings.write_batch_timeout, write).await;
        if let Err(Failure::TimedOut) = &result {
            self.client.abandon().await;
        }
        result
    }

    /// The error for a failure that is not a row's fault.
    fn batch_error(&self, at: &str, failure: Failure) -> StoreError {
        let timeout = format_timespan(self.settings.write_batch_timeout);
        match failure {
            Failure::TimedOut => StoreError::with_kind(
                StoreErrorKind::Timeout,
                format!("{at}: writeBatchTimeout {timeout} exceeded"),
            ),
            Failure::Db(e) if is_timeout(&e) => StoreError::with_kind(
                StoreErrorKind::Timeout,
                format!(
                    "{at}: writeBatchTimeout {timeout} exceeded ({})",
                    describe(&e)
                ),
            ),
            Failure::Db(e) => StoreError::postgres(format_args!("{at} failed"), &e),
        }
    }

    /// Writes one batch, naming the batch and its rows on failure. When the server refuses
    /// some rows' values, [`PgSink::isolate`] finds them.
    async fn write_timed(
        &self,
        batch: Pending,
        number: u64,
        stats: &mut SinkStats,
    ) -> Result<(), StoreError> {
        let rows = batch.rows() as u64;
        let first = self.seen.fetch_add(rows, Ordering::Relaxed) + 1;
        let at = format!(
            "dataset '{}': batch {number} (rows {first}-{}) into {}",
            self.dataset,
            first + rows - 1,
            self.settings.table
        );
        let (result, unit) = match batch {
            Pending::Copy {
                buf,
                rows,
                stream: Some(mut open),
            } => {
                if !buf.is_empty() {
                    open.send(buf.freeze()).await;
                }
                match open.finish(&self.client).await {
                    Ok(bytes) => (Ok(bytes), None),
                    // Kept rows become a whole batch again, to be written in parts.
                    Err(f) => (
                        Err(f),
                        Some(Unit::Copy {
                            body: open.into_body(),
                            rows,
                        }),
                    ),
                }
            }
            whole => {
                let unit = whole.into_unit();
                (self.timed(self.write_unit(&unit)).await, Some(unit))
            }
        };
        match (result, unit) {
            (Ok(bytes), _) => {
                self.add_committed(stats, rows, bytes);
                Ok(())
            }
            (Err(Failure::Db(e)), Some(unit)) if is_row_error(&e) => {
                self.isolate(&unit, e, first, &at, stats).await
            }
            (Err(failure), _) => {
                if let Failure::TimedOut = failure {
                    self.client.abandon().await; // a streamed COPY's own timer fired
                }
                Err(self.batch_error(&at, failure))
            }
        }
    }

    /// A batch failed because of some rows (`error`). With skipping on, writes it again in
    /// halves inside one transaction until the bad rows are isolated, commits the good ones
    /// and records the bad ones. Without it, names the first bad row (from the COPY's own
    /// report when it has one, else by bisecting and rolling back) and fails.
    async fn isolate(
        &self,
        unit: &Unit,
        error: tokio_postgres::Error,
        first: u64,
        at: &str,
        stats: &mut SinkStats,
    ) -> Result<(), StoreError> {
        let rows = unit.rows();
        let skipping = self.skips.is_some();
        // The server's own context (`COPY t, line 2, column id: "abc"`) stays in the message
        // of a failed copy, after the row's number in the whole copy.
        let fail = |index: u64, e: &tokio_postgres::Error| {
            let context = e
                .as_db_error()
                .and_then(|db| db.where_())
                .map(|w| self.unstaged(&format!("; where: {w}")))
                .unwrap_or_default();
            // Only row errors (is_row_error) get here: the row's values are refused.
            StoreError::with_kind(
                StoreErrorKind::Data,
                format!(
                    "{at}: row {} cannot be written: {}{context}; set enableSkipIncompatibleRow to skip incompatible rows",
                    first + index,
                    self.reason(e)
                ),
            )
        };
        if !skipping {
            // A COPY into the table reports the failing row itself; a staging table's merge
            // and INSERTs do not.
            if let (Unit::Copy { .. }, None, Some((line, _))) =
                (unit, &self.upsert, copy_position(&error))
            {
                return Err(fail(line.saturating_sub(1), &error));
            }
        }
        let reason = self.reason(&error);
        let ends = match unit {
            Unit::Copy { body, .. } if self.text_copy => text_row_ends(body),
            Unit::Copy { body, .. } => binary_row_ends(body)
                .map_err(|e| StoreError::new(format!("{at}: internal error: {e}")))?,
            Unit::Rows(_) => Vec::new(),
        };
        let mut bad: Vec<(usize, tokio_postgres::Error)> = Vec::new();
        let (mut written, mut bytes) = (0u64, 0u64);
        if rows <= 1 {
            bad.push((0, error));
        } else {
            let control = |sql: &'static str| self.timed(self.client.batch_execute(sql));
            let sql = |f| self.batch_error(at, f);
            control("BEGIN").await.map_err(sql)?;
            let mut bisection = Bisection::new(rows);
            while let Some(range) = bisection.next_range() {
                let savepoint = async {
                    self.client
                        .batch_execute(&format!("SAVEPOINT {SAVEPOINT}"))
                        .await?;
                    self.write_part(unit, range.clone(), &ends).await
                };
                match self.timed(savepoint).await {
                    Ok(b) => {
                        control(RELEASE).await.map_err(sql)?;
                        written += range.len() as u64;
                        bytes += b;
                    }
                    Err(Failure::Db(e)) if is_row_error(&e) => {
                        control(ROLLBACK_TO).await.map_err(sql)?;
                        if bisection.failed(range.clone()) {
                            bad.push((range.start, e));
                            if !skipping {
                                break;
                            }
                        }
                    }
                    Err(failure) => {
                        let _ = self.client.batch_execute("ROLLBACK").await;
                        return Err(self.batch_error(at, failure));
                    }
                }
            }
            if !skipping {
                let _ = control("ROLLBACK").await;
            } else {
                control("COMMIT").await.map_err(sql)?;
            }
        }
        let Some(skips) = &self.skips else {
            return Err(match bad.first() {
                Some((i, e)) => fail(*i as u64, e),
                // Every part went in on its own: the rows only fail together.
                // A constraint checked at commit (DEFERRABLE) sees the rows together.
                None => StoreError::with_kind(
                    StoreErrorKind::Data,
                    format!(
                        "{at} failed: {reason}; each part of it can be written on its own, so \
                         a constraint checked at commit (DEFERRABLE) refuses the rows together"
                    ),
                ),
            });
        };
        for (i, e) in &bad {
            let item = match unit {
                Unit::Rows(r) => render_values(r.get(*i).map(Vec::as_slice).unwrap_or_default()),
                Unit::Copy { body, .. } => {
                    let row = body.get(row_span(&ends, *i..*i + 1)).unwrap_or_default();
                    if self.text_copy {
                        render_text_row(row)
                    } else {
                        render_binary_row(row, &self.types)
                    }
                }
            };
            let reason = format!("row {}: {}", first + *i as u64, self.reason(e));
            skips.record(OPERATION, &item, &reason);
        }
        tracing::debug!(rows, bad = bad.len(), "bisected a failed write batch");
        self.add_committed(stats, written, bytes);
        Ok(())
    }
}
