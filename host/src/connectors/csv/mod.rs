//! `DelimitedText` files on a local folder: reading and writing CSV with ADF's settings.
//!
//! - [`format`]: the dataset (`location`, delimiters, quoting, `nullValue`, encoding) with ADF's
//!   defaults.
//! - [`reader`]: [`CsvSource`], every column as text, rows streamed in bounded batches.
//! - [`writer`]: [`CsvSink`], all-or-nothing writes through a temporary file.
//! - `parse`: the byte-level record parser both sides agree with.

pub mod format;
mod parse;
pub mod reader;
pub mod writer;

pub use format::{CsvDataset, CsvFormat, RowDelimiter, TextEncoding};
pub use reader::CsvSource;
pub use writer::CsvSink;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
