//! The `DelimitedText` format: reading and writing CSV with ADF's settings. Where the files are
//! (a local folder, a blob container) and their compression are `connectors::files`' concern.
//!
//! - [`format`]: the dataset's format properties (delimiters, quoting, `nullValue`, encoding)
//!   with ADF's defaults.
//! - [`reader`]: [`CsvReader`], every column as text, rows in bounded batches.
//! - [`writer`]: [`CsvWriter`], values in PostgreSQL's text form, quoted only when needed.
//! - `parse`: the byte-level record parser both sides agree with.

mod parse;
pub mod reader;
pub mod writer;

pub use crate::model::files::csv_format::{CsvFormat, RowDelimiter, TextEncoding};
pub use reader::CsvReader;
pub use writer::CsvWriter;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
