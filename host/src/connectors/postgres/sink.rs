//! Writing to PostgreSQL with ADF's three write methods.
//!
//! Each incoming batch (`writeBatchSize` rows) is written and committed on its own, within
//! `writeBatchTimeout` (enforced on both sides: a client timer and the session's
//! `statement_timeout`). As in ADF, batches committed before a failure stay; a
//! `preCopyScript` that clears the table makes a re-run clean.
//!
//! Values travel in PostgreSQL's binary format when every column's value can be encoded for
//! its target type, and in text-format COPY otherwise (for example CSV text into a range
//! column): PostgreSQL parses the text form of every type.

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::binary::{can_encode, encode};
use super::connect::connect;
use super::copy_binary::{write_header, write_row, write_trailer};
use super::copy_text::write_text_row;
use super::endpoint::PgEndpoint;
use super::errors::{describe, is_timeout};
use super::ident::{quote_ident, TableName};
use crate::connectors::{BatchRx, Sink, SinkStats, StoreError};
use crate::engine::batch::Batch;
use crate::engine::schema::SchemaRef;
use crate::engine::value::Value;
use crate::model::copy::{PgSinkSettings, WriteMethod};
use crate::model::timespan::format_timespan;

/// PostgreSQL's limit on bind parameters in one statement.
const MAX_BIND_PARAMS: usize = 65_535;
/// Bytes of encoded COPY data sent per message.
const COPY_CHUNK: usize = 256 * 1024;
/// The staging table's ordering column, so the last of duplicate keys in a batch wins.
const SEQ_COLUMN: &str = "__sluice_seq";

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
    client: Client,
    settings: PgSinkSettings,
    dataset: String,
    targets: Vec<Target>,
    /// The target column types, in input order.
    types: Vec<Type>,
    /// Some column can only be sent as text: COPY uses text format.
    text_copy: bool,
    /// Upsert: conflict keys and the staging table.
    upsert: Option<(Vec<String>, String)>,
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
        let table = &settings.table;
        let err = |what: &str, e: tokio_postgres::Error| {
            StoreError::new(format!("dataset '{dataset}': {what}: {}", describe(&e)))
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
            return Err(StoreError::new(format!(
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
                    StoreError::new(format!(
                        "dataset '{dataset}': column \"{}\" does not exist in sink table {table} (its columns: {}); map it with a translator or rename it in the query",
                        col.name,
                        have.join(", ")
                    ))
                })?;
            if found.2 {
                return Err(StoreError::new(format!("dataset '{dataset}': column \"{}\" of {table} is generated and cannot be written", found.0)));
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
        let text_copy = targets.iter().any(|t| t.as_text);

        let upsert = match &settings.write_method {
            WriteMethod::Upsert { keys } => {
                Some(prepare_upsert(&client, table, keys.as_deref(), &targets, dataset).await?)
            }
            _ => None,
        };
        let ms = settings.write_batch_timeout.as_millis().to_string();
        client
            .query("SELECT set_config('statement_timeout', $1, false)", &[&ms])
            .await
            .map_err(|e| err("cannot set the batch timeout", e))?;
        Ok(PgSink {
            client,
            settings: settings.clone(),
            dataset: dataset.to_string(),
            types: targets.iter().map(|t| t.ty.clone()).collect(),
            targets,
            text_copy,
            upsert,
        })
    }

    fn column_list(&self) -> String {
        self.targets
            .iter()
            .map(|t| quote_ident(&t.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An empty write batch of the kind this sink's write method gathers.
    fn new_pending(&self) -> Pending {
        match self.settings.write_method {
            WriteMethod::BulkInsert => Pending::Rows(Vec::new()),
            _ => Pending::Copy {
                buf: BytesMut::new(),
                rows: 0,
            },
        }
    }

    /// Adds one row to the write batch, encoding it for COPY right away.
    fn append(&self, pending: &mut Pending, row: &[Value]) -> Result<(), String> {
        match pending {
            Pending::Copy { buf, rows } => {
                if *rows == 0 && !self.text_copy {
                    write_header(buf);
                }
                if self.text_copy {
                    write_text_row(row, buf);
                } else {
                    write_row(row, &self.types, buf).map_err(|e| e.to_string())?;
                }
                *rows += 1;
            }
            Pending::Rows(rows) => rows.push(self.to_text_where_needed(row)),
        }
        Ok(())
    }

    /// Writes and commits one write batch.
    async fn flush(&self, pending: Pending) -> Result<u64, tokio_postgres::Error> {
        match pending {
            Pending::Rows(rows) => self.bulk_insert(&rows).await,
            Pending::Copy { mut buf, .. } => {
                if !self.text_copy {
                    write_trailer(&mut buf);
                }
                let data = buf.freeze();
                match &self.upsert {
                    None => self.copy_into(&self.settings.table.quoted(), data).await,
                    Some((keys, staging)) => self.upsert(keys, staging, data).await,
                }
            }
        }
    }

    /// One COPY of encoded data into `target` (the table or the staging table).
    async fn copy_into(&self, target: &str, mut data: Bytes) -> Result<u64, tokio_postgres::Error> {
        let format = if self.text_copy {
            ""
        } else {
            " (FORMAT binary)"
        };
        let sql = format!("COPY {target} ({}) FROM STDIN{format}", self.column_list());
        let sink = self.client.copy_in::<_, Bytes>(sql.as_str()).await?;
        futures_util::pin_mut!(sink);
        let total = data.len() as u64;
        while !data.is_empty() {
            let piece = data.split_to(COPY_CHUNK.min(data.len()));
            sink.send(piece).await?;
        }
        sink.finish().await?;
        Ok(total)
    }

    /// Multi-row INSERTs in one transaction, each under the bind-parameter limit.
    async fn bulk_insert(&self, rows: &[Vec<Value>]) -> Result<u64, tokio_postgres::Error> {
        let width = self.targets.len();
        let per_stmt = (MAX_BIND_PARAMS / width.max(1)).clamp(1, 1000);
        self.client.batch_execute("BEGIN").await?;
        let result = async {
            let mut bytes = 0u64;
            let mut full_stmt = None;
            for chunk in rows.chunks(per_stmt) {
                let stmt = if chunk.len() == per_stmt {
                    match &full_stmt {
                        Some(s) => s,
                        None => full_stmt
                            .insert(self.client.prepare(&self.insert_sql(chunk.len())).await?),
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
            Ok::<u64, tokio_postgres::Error>(bytes)
        }
        .await;
        self.finish_transaction(result).await
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

    /// COPY into the staging table, then merge into the target; one transaction.
    async fn upsert(
        &self,
        keys: &[String],
        staging: &str,
        data: Bytes,
    ) -> Result<u64, tokio_postgres::Error> {
        self.client.batch_execute("BEGIN").await?;
        let result = async {
            let bytes = self.copy_into(&quote_ident(staging), data).await?;
            let cols = self.column_list();
            let key_list = keys.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", ");
            let updates: Vec<String> = self
                .targets
                .iter()
                .filter(|t| !keys.iter().any(|k| k == &t.name))
                .map(|t| format!("{0} = EXCLUDED.{0}", quote_ident(&t.name)))
                .collect();
            let action = if updates.is_empty() { "DO NOTHING".to_string() } else { format!("DO UPDATE SET {}", updates.join(", ")) };
            let sql = format!(
                "INSERT INTO {} ({cols}) SELECT DISTINCT ON ({key_list}) {cols} FROM {} ORDER BY {key_list}, {} DESC ON CONFLICT ({key_list}) {action}",
                self.settings.table.quoted(),
                quote_ident(staging),
                quote_ident(SEQ_COLUMN)
            );
            self.client.execute(sql.as_str(), &[]).await?;
            Ok(bytes)
        }
        .await;
        self.finish_transaction(result).await
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

/// Rows gathered for the next write batch (`writeBatchSize` rows, one transaction).
enum Pending {
    /// CopyCommand and Upsert: the COPY data, encoded as rows arrive. Compact (about the size
    /// of the table's data), and an unencodable value is found before anything is sent.
    Copy { buf: BytesMut, rows: usize },
    /// BulkInsert: rows for the statements' bind parameters.
    Rows(Vec<Vec<Value>>),
}

impl Pending {
    fn rows(&self) -> usize {
        match self {
            Pending::Copy { rows, .. } => *rows,
            Pending::Rows(r) => r.len(),
        }
    }
}

/// Upsert keys (given or the primary key) and a session-private staging table.
async fn prepare_upsert(
    client: &Client,
    table: &TableName,
    keys: Option<&[String]>,
    targets: &[Target],
    dataset: &str,
) -> Result<(Vec<String>, String), StoreError> {
    let keys = match keys {
        Some(k) => k.to_vec(),
        None => {
            let rows = client
                .query(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                     WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
                    &[&table.quoted()],
                )
                .await
                .map_err(|e| StoreError::new(format!("dataset '{dataset}': cannot read the primary key of {table}: {}", describe(&e))))?;
            if rows.is_empty() {
                return Err(StoreError::new(format!(
                    "dataset '{dataset}': Upsert needs upsertSettings.keys because {table} has no primary key"
                )));
            }
            rows.iter().map(|r| r.get::<_, String>(0)).collect()
        }
    };
    for k in &keys {
        if !targets.iter().any(|t| &t.name == k) {
            return Err(StoreError::new(format!("dataset '{dataset}': upsert key \"{k}\" is not among the columns written to {table}")));
        }
    }
    let staging = format!("sluice_stage_{}", uuid::Uuid::new_v4().simple());
    let sql = format!(
        "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS, {} bigserial) ON COMMIT DELETE ROWS",
        quote_ident(&staging),
        table.quoted(),
        quote_ident(SEQ_COLUMN)
    );
    client.batch_execute(&sql).await.map_err(|e| {
        StoreError::new(format!(
            "dataset '{dataset}': cannot create the upsert staging table: {}",
            describe(&e)
        ))
    })?;
    Ok((keys, staging))
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

#[async_trait]
impl Sink for PgSink {
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
            for row in chunk.iter().flat_map(Batch::rows) {
                self.append(&mut pending, row).map_err(|e| {
                    StoreError::new(format!(
                        "dataset '{}': row {} cannot be written to {}: {e}",
                        self.dataset,
                        stats.rows_written + pending.rows() as u64 + 1,
                        self.settings.table
                    ))
                })?;
                if pending.rows() >= size {
                    number += 1;
                    let full = std::mem::replace(&mut pending, self.new_pending());
                    self.write_timed(full, number, &mut stats).await?;
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
    /// Writes one batch within `writeBatchTimeout`, naming the batch and its rows on failure.
    async fn write_timed(
        &self,
        batch: Pending,
        number: u64,
        stats: &mut SinkStats,
    ) -> Result<(), StoreError> {
        let timeout: Duration = self.settings.write_batch_timeout;
        let first = stats.rows_written + 1;
        let last = stats.rows_written + batch.rows() as u64;
        let at = format!(
            "dataset '{}': batch {number} (rows {first}-{last}) into {}",
            self.dataset, self.settings.table
        );
        match tokio::time::timeout(timeout, self.flush(batch)).await {
            Err(_) => Err(StoreError::new(format!(
                "{at}: writeBatchTimeout {} exceeded",
                format_timespan(timeout)
            ))),
            Ok(Err(e)) if is_timeout(&e) => Err(StoreError::new(format!(
                "{at}: writeBatchTimeout {} exceeded ({})",
                format_timespan(timeout),
                describe(&e)
            ))),
            Ok(Err(e)) => Err(StoreError::new(format!("{at} failed: {}", describe(&e)))),
            Ok(Ok(bytes)) => {
                stats.bytes_written += bytes;
                stats.rows_written = last;
                Ok(())
            }
        }
    }
}
