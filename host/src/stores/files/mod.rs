//! File stores: where files live (a local folder or Azure Blob Storage) and how their rows are
//! laid out (DelimitedText, Json, Parquet).
//!
//! Formats read and write through two small traits so that every format works on every
//! location: a format reader turns one file's bytes into [`Batch`]es, a format writer turns
//! batches into one file's bytes. Locations hand formats plain synchronous `std::io` readers
//! and writers, run on blocking threads.
//!
//! - [`location`]: a local folder or a blob container; listing (wildcards, recursion), fetching
//!   (blobs are downloaded to a temporary file first) and publishing (rename or upload).
//! - [`blob`]: the `AzureBlobStorage` / `AzureBlobFS` linked services and their `object_store`
//!   client; [`azure_auth`]: its Entra ID credentials (service principal, managed identity).
//! - [`compression`]: gzip / deflate around text formats.
//! - [`confine`]: every path checked again right before I/O: it stays under its root, also
//!   through symbolic links.
//! - [`dataset`]: the datasets and the Copy source's and sink's settings.
//! - [`source`] / [`sink`]: [`FileSource`] and [`FileSink`], any format on any location.
//! - `json`, `parquet`, `arrow_values`: the Json and Parquet formats; DelimitedText is in
//!   `connectors::csv`.

pub mod arrow_values;
pub mod azure_auth;
pub mod blob;
pub mod compression;
pub mod confine;
pub mod items;
pub mod json;
pub mod location;
pub mod parquet;
pub mod sink;
pub mod source;

pub use crate::model::files::{FileDataset, FileFormat, FileRead, FileWrite, FILE_DATASET_TYPES};
pub use sink::FileSink;
pub use source::FileSource;

use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;

/// Reads the rows of one file.
pub trait RowReader: Send {
    /// The file's columns, known once the reader is open.
    fn schema(&self) -> SchemaRef;
    /// The next batch of at most `max_rows` rows; `None` at the end of the file.
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, StoreError>;
}

/// Writes rows to one file.
pub trait RowWriter: Send {
    /// Appends a batch; its schema is the one the writer was opened with.
    fn write(&mut self, batch: &Batch) -> Result<(), StoreError>;
    /// Writes what the format needs at the end (a Parquet footer, a JSON array's `]`), flushes,
    /// and returns the bytes written.
    fn finish(self: Box<Self>) -> Result<u64, StoreError>;
}
