//! Conversion between the engine's row-major [`Batch`] / [`Schema`] and the WIT world's columnar
//! `batch` / `list<column>`.
//!
//! Both directions are lossless for every [`Value`] variant. Going out, the batch is consumed:
//! fixed-width values move into their column lists, and the values of a variable-length column
//! (`numeric`, `text`, `json`, `bytes`) are appended to that column's one `var-column` buffer,
//! with an offset per row; every list is sized for the batch up front. Coming back, the
//! row-major value vector is allocated once and each column is written into its stride. A value
//! whose variant does not match its column's declared type, or a `var-column` whose offsets or
//! UTF-8 are not what the WIT promises, is a [`ConvertError`] naming the column and row, never a
//! panic: the data comes from a source we do not control on one side and from an untrusted guest
//! on the other.
//!
//! Split by role:
//! - `schema`: engine types and schemas to WIT and back;
//! - `values`: leaf values, arrays and ranges (one value at a time, both ways);
//! - `columns`: what a WIT column's value list holds (its type, length, var-column);
//! - `to_wit`: engine batches into WIT columns ([`batch_to_wit`], and the column builder the
//!   COPY tuple path shares);
//! - `from_wit`: guest output checked and converted back ([`batch_from_wit`]);
//! - `size`: estimates of the bytes a batch occupies on the guest side.
//!
//! [`Batch`]: crate::types::batch::Batch
//! [`Schema`]: crate::types::schema::Schema
//! [`Value`]: crate::types::value::Value

use std::fmt;

mod columns;
mod from_wit;
#[cfg(test)]
mod proptests;
mod schema;
mod size;
#[cfg(test)]
mod tests;
mod to_wit;
mod values;

pub(super) use columns::var_bytes;
pub use from_wit::batch_from_wit;
pub(super) use from_wit::{check_shape, ColumnCells};
pub use schema::{data_type_from_wit, data_type_to_wit, schema_from_wit, schema_to_wit};
pub use size::{batch_size, column_size, output_size};
pub use to_wit::batch_to_wit;
pub(super) use to_wit::ColumnBuilder;

/// A value or column that cannot cross the boundary as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    /// Column name (empty when the problem is the batch's shape).
    pub column: String,
    /// Row index within the batch, when one row is at fault.
    pub row: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.column.is_empty(), self.row) {
            (true, _) => write!(f, "{}", self.message),
            (false, None) => write!(f, "column \"{}\": {}", self.column, self.message),
            (false, Some(row)) => {
                write!(f, "column \"{}\", row {row}: {}", self.column, self.message)
            }
        }
    }
}

impl std::error::Error for ConvertError {}

impl ConvertError {
    pub(super) fn shape(message: impl Into<String>) -> Self {
        ConvertError {
            column: String::new(),
            row: None,
            message: message.into(),
        }
    }

    pub(super) fn column(column: &str, message: impl Into<String>) -> Self {
        ConvertError {
            column: column.to_string(),
            row: None,
            message: message.into(),
        }
    }

    pub(super) fn at(column: &str, row: usize, message: impl Into<String>) -> Self {
        ConvertError {
            column: column.to_string(),
            row: Some(row),
            message: message.into(),
        }
    }
}
