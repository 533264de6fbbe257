//! Reading from PostgreSQL: the query (or table) is described first so the schema is known
//! before any row moves, then streamed with binary `COPY (query) TO STDOUT`, decoded straight
//! into batches. Columns whose type the engine does not model are cast to text in the COPY
//! query, which PostgreSQL reads back losslessly.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{pin_mut, StreamExt};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::connect::connect;
use super::copy_binary::CopyOutDecoder;
use super::errors::{describe, is_timeout};
use super::ident::quote_ident;
use super::types::data_type_of;
use crate::connectors::postgres::endpoint::PgEndpoint;
use crate::connectors::{BatchTx, Source, SourceStats, StoreError};
use crate::engine::batch::Batch;
use crate::engine::schema::{Column, DataType, Schema, SchemaRef};
use crate::model::copy::SourceQuery;
use crate::model::timespan::format_timespan;

/// An opened PostgreSQL source.
pub struct PgSource {
    client: Client,
    copy_sql: String,
    schema: SchemaRef,
    types: Vec<Type>,
    query_timeout: Duration,
    dataset: String,
}

impl PgSource {
    /// Connects and describes the query; fails before any data moves when the query or table
    /// is wrong.
    pub async fn open(
        endpoint: &PgEndpoint,
        query: &SourceQuery,
        query_timeout: Duration,
        dataset: &str,
    ) -> Result<PgSource, StoreError> {
        let client = connect(endpoint, "sluice source").await?;
        let base = match query {
            SourceQuery::Query(q) => q.trim().trim_end_matches(';').trim().to_string(),
            SourceQuery::Table(t) => format!("SELECT * FROM {}", t.quoted()),
        };
        let stmt = client.prepare(&base).await.map_err(|e| {
            let what = match query {
                SourceQuery::Query(_) => "source query".to_string(),
                SourceQuery::Table(t) => format!("source table {t}"),
            };
            StoreError::new(format!(
                "dataset '{dataset}': {what} cannot be read: {}",
                describe(&e)
            ))
        })?;
        if stmt.columns().is_empty() {
            return Err(StoreError::new(format!(
                "dataset '{dataset}': the source query returns no columns (is it a SELECT?)"
            )));
        }
        let mut columns = Vec::new();
        let mut types = Vec::new();
        let mut select = Vec::new();
        let mut casts = false;
        for c in stmt.columns() {
            let q = format!("q.{}", quote_ident(c.name()));
            match data_type_of(c.type_()) {
                Some(dt) => {
                    columns.push(Column::new(c.name(), dt, c.type_().name()));
                    types.push(c.type_().clone());
                    select.push(q);
                }
                None => {
                    casts = true;
                    columns.push(Column::new(c.name(), DataType::Text, c.type_().name()));
                    types.push(Type::TEXT);
                    select.push(format!("{q}::text"));
                }
            }
        }
        let copy_sql = if casts {
            format!(
                "COPY (SELECT {} FROM ({base}) AS q) TO STDOUT (FORMAT binary)",
                select.join(", ")
            )
        } else {
            format!("COPY ({base}) TO STDOUT (FORMAT binary)")
        };
        Ok(PgSource {
            client,
            copy_sql,
            schema: Schema::new(columns).into(),
            types,
            query_timeout,
            dataset: dataset.to_string(),
        })
    }
}

#[async_trait]
impl Source for PgSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn read(
        self: Box<Self>,
        out: BatchTx,
        batch_rows: usize,
    ) -> Result<SourceStats, StoreError> {
        let ds = &self.dataset;
        let fail = |e: tokio_postgres::Error| {
            if is_timeout(&e) {
                StoreError::new(format!(
                    "dataset '{ds}': queryTimeout {} exceeded; the server cancelled the query",
                    format_timespan(self.query_timeout)
                ))
            } else {
                StoreError::new(format!("dataset '{ds}': reading failed: {}", describe(&e)))
            }
        };
        let ms = self.query_timeout.as_millis().to_string();
        self.client
            .query("SELECT set_config('statement_timeout', $1, false)", &[&ms])
            .await
            .map_err(fail)?;
        let stream = self
            .client
            .copy_out(self.copy_sql.as_str())
            .await
            .map_err(fail)?;
        pin_mut!(stream);
        let mut decoder = CopyOutDecoder::new(self.types.clone(), self.schema.clone());
        let mut batch = Batch::with_capacity(self.schema.clone(), batch_rows);
        let mut stats = SourceStats {
            peak_connections: 1,
            ..SourceStats::default()
        };
        let mut last_bytes = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(fail)?;
            decoder
                .feed(&chunk, &mut batch)
                .map_err(|e| StoreError::new(format!("dataset '{ds}': {e}")))?;
            if batch.num_rows() >= batch_rows {
                let full = std::mem::replace(
                    &mut batch,
                    Batch::with_capacity(self.schema.clone(), batch_rows),
                );
                if !send(&out, full, &mut stats, decoder.bytes(), &mut last_bytes).await {
                    return Ok(stats);
                }
            }
        }
        decoder
            .finish()
            .map_err(|e| StoreError::new(format!("dataset '{ds}': {e}")))?;
        if !batch.is_empty() {
            send(&out, batch, &mut stats, decoder.bytes(), &mut last_bytes).await;
        }
        Ok(stats)
    }
}

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
