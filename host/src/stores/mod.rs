//! Stores. Each implements the [`Source`] / [`Sink`] pair over the shared [`Batch`] type; the
//! copy runner connects them with bounded channels so reading and writing overlap and memory
//! stays flat.
//!
//! Layer: above the model (whose store settings they open) and `secrets`; below the plugins
//! and the copy runner. Errors leave as [`StoreError`], phrased for the user and masked by the
//! run's redactor where they leave the run.

pub mod csv;
pub mod error;
pub mod files;
pub mod postgres;
pub mod session_log;
pub mod skip_log;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use error::{StoreError, StoreErrorKind};

use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;

/// Sending half of the bounded queue between stages.
pub type BatchTx = mpsc::Sender<Batch>;
/// Receiving half of the bounded queue between stages.
pub type BatchRx = mpsc::Receiver<Batch>;

/// What a source reports when it has read everything.
#[derive(Debug, Default, Clone)]
pub struct SourceStats {
    pub rows_read: u64,
    pub bytes_read: u64,
    pub peak_connections: u32,
}

/// What a sink reports when it has written everything.
#[derive(Debug, Default, Clone)]
pub struct SinkStats {
    pub rows_written: u64,
    pub bytes_written: u64,
    pub peak_connections: u32,
    /// Files written (file sinks), for the run output.
    pub files: Vec<String>,
}

/// What a sink has committed so far, counted as it goes (see [`Sink::count_committed`]).
#[derive(Debug, Default)]
pub struct Committed {
    pub rows: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
}

/// A source's size as known before reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeHint {
    /// About this many rows (a PostgreSQL table's catalog estimate).
    Rows(u64),
    /// Exactly this many bytes to read from the store (the files' sizes).
    Bytes(u64),
}

/// A store that produces rows. Opening it (connect, describe) happens before `read`, so the
/// schema is known before any row moves.
#[async_trait]
pub trait Source: Send {
    fn schema(&self) -> SchemaRef;
    /// How much this source will read, when it can tell before reading (for progress only:
    /// an estimate, never a limit).
    fn size_hint(&self) -> Option<SizeHint> {
        None
    }
    /// The types of the columns, when this source can hand over undecoded binary COPY tuples
    /// (a PostgreSQL source whose column types are all built in). See
    /// [`Batch::raw`](crate::types::batch::Batch::raw).
    fn raw_copy_types(&self) -> Option<std::sync::Arc<[tokio_postgres::types::Type]>> {
        None
    }
    /// From now on send undecoded tuples. Called only when the first consumer takes them: a
    /// sink whose column types are exactly these, or a plugin stage.
    fn use_raw_copy(&mut self) {}
    /// From now on skip rows this source cannot parse (a DelimitedText row with the wrong
    /// number of fields), recording each in `log` (`enableSkipIncompatibleRow`). A source
    /// that never refuses single rows ignores it.
    fn skip_incompatible_rows(&mut self, _log: crate::stores::skip_log::SkipLog) {}
    /// Streams every row into `out` in batches of at most `batch_rows` rows. Returns when all
    /// rows are sent or `out` is closed (the consumer failed).
    async fn read(
        self: Box<Self>,
        out: BatchTx,
        batch_rows: usize,
    ) -> Result<SourceStats, StoreError>;
}

/// A store that consumes rows. Opened with the schema it will receive.
#[async_trait]
pub trait Sink: Send {
    /// The column types, in input order, when this sink takes undecoded binary COPY tuples
    /// encoded for them (batches made by [`Batch::raw`](crate::types::batch::Batch::raw)).
    fn copy_targets(&self) -> Option<std::sync::Arc<[tokio_postgres::types::Type]>> {
        None
    }
    /// The columns' types as PostgreSQL spells them (`format_type`: `character varying(10)`,
    /// `date`, ...), in input order, for the translator's type conversion; `None` for a sink
    /// without typed columns (files).
    fn column_sql_types(&self) -> Option<Vec<String>> {
        None
    }
    /// From now on skip rows this sink refuses (bad values, constraint violations) instead of
    /// failing, recording each in `log` (`enableSkipIncompatibleRow`). A sink that never
    /// refuses single rows ignores it.
    fn skip_incompatible_rows(&mut self, _log: crate::stores::skip_log::SkipLog) {}
    /// Adds the rows of each batch to `rows` once it is committed, so a failed copy can
    /// report what stays in the sink. A sink that commits only at the end (a file, published
    /// whole) ignores it.
    fn count_committed(&mut self, _so_far: std::sync::Arc<Committed>) {}
    /// Writes every batch from `input` until it closes.
    async fn write(self: Box<Self>, input: BatchRx) -> Result<SinkStats, StoreError>;
}
