//! Engine types and schemas to the WIT's `data-type` / `list<column>` and back.
//!
//! Every WIT type has an engine type; the engine's nested types (an array of arrays, a range of
//! arrays) have no WIT encoding and are refused by name rather than flattened.

use super::ConvertError;
use crate::plugins::bindings::sluice::plugin::types as wit;
use crate::types::schema::{Column, DataType, Schema};

/// The WIT leaf type of an engine leaf type; `None` for arrays and ranges.
fn scalar_type_of(dt: &DataType) -> Option<wit::ScalarType> {
    use wit::ScalarType as S;
    Some(match dt {
        DataType::Bool => S::Boolean,
        DataType::Int16 => S::Int16,
        DataType::Int32 => S::Int32,
        DataType::Int64 => S::Int64,
        DataType::Float32 => S::Float32,
        DataType::Float64 => S::Float64,
        DataType::Numeric => S::Numeric,
        DataType::Money => S::Money,
        DataType::Text => S::Text,
        DataType::Bytes => S::Bytes,
        DataType::Uuid => S::Uuid,
        DataType::Json => S::Json,
        DataType::Date => S::Date,
        DataType::Time => S::Time,
        DataType::TimeTz => S::Timetz,
        DataType::Timestamp => S::Timestamp,
        DataType::TimestampTz => S::Timestamptz,
        DataType::Interval => S::Interval,
        DataType::Inet => S::Inet,
        DataType::MacAddr => S::Macaddr,
        DataType::Array(_) | DataType::Range(_) => return None,
    })
}

fn data_type_of_scalar(st: wit::ScalarType) -> DataType {
    use wit::ScalarType as S;
    match st {
        S::Boolean => DataType::Bool,
        S::Int16 => DataType::Int16,
        S::Int32 => DataType::Int32,
        S::Int64 => DataType::Int64,
        S::Float32 => DataType::Float32,
        S::Float64 => DataType::Float64,
        S::Numeric => DataType::Numeric,
        S::Money => DataType::Money,
        S::Text => DataType::Text,
        S::Bytes => DataType::Bytes,
        S::Uuid => DataType::Uuid,
        S::Json => DataType::Json,
        S::Date => DataType::Date,
        S::Time => DataType::Time,
        S::Timetz => DataType::TimeTz,
        S::Timestamp => DataType::Timestamp,
        S::Timestamptz => DataType::TimestampTz,
        S::Interval => DataType::Interval,
        S::Inet => DataType::Inet,
        S::Macaddr => DataType::MacAddr,
    }
}

pub(super) fn scalar_type_name(st: wit::ScalarType) -> &'static str {
    use wit::ScalarType as S;
    match st {
        S::Boolean => "boolean",
        S::Int16 => "int16",
        S::Int32 => "int32",
        S::Int64 => "int64",
        S::Float32 => "float32",
        S::Float64 => "float64",
        S::Numeric => "numeric",
        S::Money => "money",
        S::Text => "text",
        S::Bytes => "bytes",
        S::Uuid => "uuid",
        S::Json => "json",
        S::Date => "date",
        S::Time => "time",
        S::Timetz => "timetz",
        S::Timestamp => "timestamp",
        S::Timestamptz => "timestamptz",
        S::Interval => "interval",
        S::Inet => "inet",
        S::Macaddr => "macaddr",
    }
}

/// Engine type to WIT type. Arrays of arrays, ranges of arrays and the like have no WIT
/// encoding (PostgreSQL has none either), so they are refused rather than flattened.
pub fn data_type_to_wit(dt: &DataType) -> Result<wit::DataType, String> {
    let leaf = |inner: &DataType, what: &str| {
        scalar_type_of(inner).ok_or_else(|| {
            format!(
                "a {what} of {} cannot cross the plugin boundary (only {what}s of scalar types)",
                inner.interim_name()
            )
        })
    };
    match dt {
        DataType::Array(inner) => Ok(wit::DataType::Array(leaf(inner, "array")?)),
        DataType::Range(inner) => Ok(wit::DataType::Range(leaf(inner, "range")?)),
        other => leaf(other, "scalar").map(wit::DataType::Scalar),
    }
}

/// WIT type to engine type (always possible).
pub fn data_type_from_wit(dt: wit::DataType) -> DataType {
    match dt {
        wit::DataType::Scalar(s) => data_type_of_scalar(s),
        wit::DataType::Array(s) => DataType::Array(Box::new(data_type_of_scalar(s))),
        wit::DataType::Range(s) => DataType::Range(Box::new(data_type_of_scalar(s))),
    }
}

/// Engine schema to the WIT `list<column>` passed to `create`.
pub fn schema_to_wit(schema: &Schema) -> Result<Vec<wit::Column>, ConvertError> {
    schema
        .columns
        .iter()
        .map(|c| {
            Ok(wit::Column {
                name: c.name.clone(),
                data_type: data_type_to_wit(&c.data_type)
                    .map_err(|m| ConvertError::column(&c.name, m))?,
                type_name: c.type_name.clone(),
            })
        })
        .collect()
}

/// WIT `list<column>` (from `output-schema`) to an engine schema.
pub fn schema_from_wit(columns: Vec<wit::Column>) -> Schema {
    Schema::new(
        columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                data_type: data_type_from_wit(c.data_type),
                type_name: c.type_name,
            })
            .collect(),
    )
}
