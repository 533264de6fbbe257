//! What a WIT column's value list holds: its leaf type, its length, and its `var-column`
//! (for the variable-length kinds). Both batch directions and the size checks ask these.

use super::schema::scalar_type_name;
use crate::plugins::bindings::sluice::plugin::types as wit;

/// The `var-column` of a variable-length column, `None` for the others.
pub(super) fn var_column_of(v: &wit::ColumnValues) -> Option<&wit::VarColumn> {
    use wit::ColumnValues as C;
    match v {
        C::Numeric(x) | C::Text(x) | C::Json(x) | C::Bytes(x) => Some(x),
        _ => None,
    }
}

pub(super) fn column_values_kind(v: &wit::ColumnValues, elem: wit::ScalarType) -> String {
    use wit::ColumnValues as C;
    match v {
        C::Array(_) => format!("array of {}", scalar_type_name(elem)),
        C::Range(_) => format!("range of {}", scalar_type_name(elem)),
        _ => scalar_type_name(column_values_scalar(v).unwrap_or(elem)).to_string(),
    }
}

pub(super) fn column_values_scalar(v: &wit::ColumnValues) -> Option<wit::ScalarType> {
    use wit::ColumnValues as C;
    use wit::ScalarType as T;
    Some(match v {
        C::Boolean(_) => T::Boolean,
        C::Int16(_) => T::Int16,
        C::Int32(_) => T::Int32,
        C::Int64(_) => T::Int64,
        C::Float32(_) => T::Float32,
        C::Float64(_) => T::Float64,
        C::Numeric(_) => T::Numeric,
        C::Money(_) => T::Money,
        C::Text(_) => T::Text,
        C::Bytes(_) => T::Bytes,
        C::Uuid(_) => T::Uuid,
        C::Json(_) => T::Json,
        C::Date(_) => T::Date,
        C::Time(_) => T::Time,
        C::Timetz(_) => T::Timetz,
        C::Timestamp(_) => T::Timestamp,
        C::Timestamptz(_) => T::Timestamptz,
        C::Interval(_) => T::Interval,
        C::Inet(_) => T::Inet,
        C::Macaddr(_) => T::Macaddr,
        C::Array(_) | C::Range(_) => return None,
    })
}

pub(super) fn column_values_len(v: &wit::ColumnValues) -> usize {
    use wit::ColumnValues as C;
    match v {
        C::Boolean(x) => x.len(),
        C::Int16(x) => x.len(),
        C::Int32(x) | C::Date(x) => x.len(),
        C::Int64(x) | C::Money(x) | C::Time(x) | C::Timestamp(x) | C::Timestamptz(x) => x.len(),
        C::Float32(x) => x.len(),
        C::Float64(x) => x.len(),
        C::Numeric(x) | C::Text(x) | C::Json(x) | C::Bytes(x) => x.offsets.len().saturating_sub(1),
        C::Uuid(x) => x.len(),
        C::Timetz(x) => x.len(),
        C::Interval(x) => x.len(),
        C::Inet(x) => x.len(),
        C::Macaddr(x) => x.len(),
        C::Array(x) => x.len(),
        C::Range(x) => x.len(),
    }
}

/// The bytes in a column's `var-column` buffer (0 for other columns).
pub(in crate::plugins) fn var_bytes(c: &wit::ColumnData) -> usize {
    var_column_of(&c.values).map_or(0, |v| v.data.len())
}
