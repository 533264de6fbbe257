//! The one batch type that flows through every stage: sources fill it, transforms and sinks
//! consume it. Values are stored row-major in one flat vector so a batch costs a single
//! allocation however many rows it holds.

use std::sync::Arc;

use bytes::Bytes;
use tokio_postgres::types::Type;

use crate::types::schema::SchemaRef;
use crate::types::value::Value;

/// Whole rows in PostgreSQL's binary COPY tuple format, not decoded: what a PostgreSQL source
/// hands a PostgreSQL sink whose columns have exactly the same types, when nothing between
/// them looks inside rows (see `connectors::postgres::copy_raw`), and what goes between a
/// PostgreSQL store and a plugin that reads or writes its columns (see
/// `plugins::copy_tuples`).
#[derive(Debug, Clone)]
pub struct RawTuples {
    /// Complete tuples, without the COPY header and trailer.
    pub data: Bytes,
    pub rows: usize,
    /// The column types the tuples are encoded for.
    pub types: Arc<[Type]>,
}

/// A block of rows sharing one schema.
#[derive(Debug, Clone)]
pub struct Batch {
    schema: SchemaRef,
    values: Vec<Value>,
    /// Set instead of `values` for a pass-through batch.
    raw: Option<RawTuples>,
    /// Bytes of payload read to produce this batch (store-specific measure, for `dataRead`).
    pub bytes: u64,
}

impl Batch {
    pub fn new(schema: SchemaRef) -> Self {
        Batch {
            schema,
            values: Vec::new(),
            raw: None,
            bytes: 0,
        }
    }

    /// A batch of undecoded binary COPY tuples. Only a consumer that agreed to take them (the
    /// PostgreSQL sink or a plugin stage, after the copy runner's type check) ever receives one.
    pub fn raw(schema: SchemaRef, tuples: RawTuples) -> Self {
        Batch {
            schema,
            values: Vec::new(),
            raw: Some(tuples),
            bytes: 0,
        }
    }

    /// The undecoded tuples of a pass-through batch.
    pub fn raw_tuples(&self) -> Option<&RawTuples> {
        self.raw.as_ref()
    }

    pub fn with_capacity(schema: SchemaRef, rows: usize) -> Self {
        let width = schema.len();
        Batch {
            schema,
            values: Vec::with_capacity(rows * width),
            raw: None,
            bytes: 0,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn width(&self) -> usize {
        self.schema.len()
    }

    pub fn num_rows(&self) -> usize {
        if let Some(raw) = &self.raw {
            return raw.rows;
        }
        match self.width() {
            0 => 0,
            w => self.values.len() / w,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.num_rows() == 0
    }

    /// Appends one row; the caller guarantees `row.len() == width()`.
    pub fn push_row(&mut self, row: impl IntoIterator<Item = Value>) {
        let before = self.values.len();
        self.values.extend(row);
        debug_assert_eq!(self.values.len() - before, self.width());
    }

    /// Appends one value; rows are complete after `width()` pushes.
    pub fn push_value(&mut self, value: Value) {
        self.values.push(value);
    }

    pub fn row(&self, index: usize) -> &[Value] {
        let w = self.width();
        &self.values[index * w..(index + 1) * w]
    }

    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[Value]> {
        self.values.chunks_exact(self.width().max(1))
    }

    /// Consumes the batch, yielding owned rows.
    pub fn into_rows(self) -> impl Iterator<Item = Vec<Value>> {
        let w = self.schema.len().max(1);
        let mut values = self.values.into_iter();
        std::iter::from_fn(move || {
            let row: Vec<Value> = values.by_ref().take(w).collect();
            (!row.is_empty()).then_some(row)
        })
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Consumes the batch, yielding its schema and its values in row-major order: the plugin
    /// runtime moves strings and byte strings into columnar lists without cloning them or
    /// allocating per row.
    pub fn into_values(self) -> (SchemaRef, Vec<Value>) {
        (self.schema, self.values)
    }

    /// Builds a batch from row-major values; `values.len()` must be a multiple of the schema's
    /// width (the caller guarantees it, as with [`Batch::push_row`]).
    pub fn from_values(schema: SchemaRef, values: Vec<Value>) -> Self {
        debug_assert!(schema.is_empty() || values.len() % schema.len() == 0);
        Batch {
            schema,
            values,
            raw: None,
            bytes: 0,
        }
    }
}
