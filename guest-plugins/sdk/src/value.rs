//! The value model plugins see: one cell of a row, and the column types.
//!
//! [`Value`] (with [`ArrayValue`], [`RangeValue`] and the leaf [`ScalarType`]) is the host's
//! own: both build it from the `sluice-value-model` crate (`host/value-model`), so a value read
//! from PostgreSQL reaches the plugin and goes back without loss (numeric as text, PostgreSQL's
//! 2000-01-01 epoch for dates and timestamps, `i32`/`i64` min/max as -infinity/infinity).

use std::fmt;

pub use sluice_value_model::{ArrayValue, PgDate, PgTimestamp, RangeValue, ScalarType, Value};

/// A column's type: a leaf, or an array or range of leaves; the WIT `data-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Scalar(ScalarType),
    Array(ScalarType),
    Range(ScalarType),
}

impl DataType {
    /// The leaf type (the element type of an array or range).
    pub fn scalar_type(self) -> ScalarType {
        match self {
            DataType::Scalar(t) | DataType::Array(t) | DataType::Range(t) => t,
        }
    }

    /// PostgreSQL's type name for this type (`int8`, `_text`, `tstzrange`).
    pub fn pg_name(self) -> String {
        match self {
            DataType::Scalar(t) => t.pg_name().to_string(),
            DataType::Array(t) => format!("_{}", t.pg_name()),
            DataType::Range(t) => match t {
                ScalarType::Int32 => "int4range".into(),
                ScalarType::Int64 => "int8range".into(),
                ScalarType::Numeric => "numrange".into(),
                ScalarType::Date => "daterange".into(),
                ScalarType::Timestamp => "tsrange".into(),
                ScalarType::TimestampTz => "tstzrange".into(),
                other => format!("{}range", other.pg_name()),
            },
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Scalar(t) => write!(f, "{t}"),
            DataType::Array(t) => write!(f, "array<{t}>"),
            DataType::Range(t) => write!(f, "range<{t}>"),
        }
    }
}

impl From<ScalarType> for DataType {
    fn from(t: ScalarType) -> Self {
        DataType::Scalar(t)
    }
}

/// One column of a schema; the WIT `column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    /// The store's own type name (`int4`, `varchar`, `mood`), informational.
    pub type_name: String,
}

impl Column {
    /// A column whose `type_name` is PostgreSQL's name for `data_type`.
    ///
    /// ```
    /// use sluice_plugin_sdk::{Column, ScalarType};
    /// let c = Column::new("amount_cents", ScalarType::Int64);
    /// assert_eq!(c.type_name, "int8");
    /// ```
    pub fn new(name: impl Into<String>, data_type: impl Into<DataType>) -> Column {
        let data_type = data_type.into();
        Column {
            name: name.into(),
            type_name: data_type.pg_name(),
            data_type,
        }
    }
}
