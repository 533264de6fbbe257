//! Engine batches into WIT batches: the batch is consumed, fixed-width values move into their
//! column lists and variable-length values are appended to their column's one `var-column`
//! buffer, every list sized for the batch up front.
//!
//! [`ColumnBuilder`] is shared with the COPY tuple path (`copy_tuples`), which feeds it
//! borrowed values.

use sluice_value_model::wit_encoding::{mac_to_u64, uuid_to_pair};

use super::columns::column_values_kind;
use super::schema::data_type_to_wit;
use super::values::{array_to_wit, inet_to_wit, range_to_wit};
use super::ConvertError;
use crate::plugins::bindings::sluice::plugin::types as wit;
use crate::stores::postgres::binary::ValueRef;
use crate::types::batch::Batch;
use crate::types::value::Value;

/// Builds one WIT column while the row-major values stream past.
pub(in crate::plugins) struct ColumnBuilder {
    values: wit::ColumnValues,
    /// Element type for arrays and ranges.
    elem: wit::ScalarType,
    /// Stays empty until the first NULL, as the WIT contract asks.
    nulls: Vec<bool>,
    rows: usize,
}

impl ColumnBuilder {
    pub(in crate::plugins) fn new(dt: wit::DataType, rows: usize) -> Self {
        use wit::ColumnValues as C;
        use wit::ScalarType as T;
        let (values, elem) = match dt {
            wit::DataType::Array(e) => (C::Array(Vec::with_capacity(rows)), e),
            wit::DataType::Range(e) => (C::Range(Vec::with_capacity(rows)), e),
            wit::DataType::Scalar(s) => {
                let v = match s {
                    T::Boolean => C::Boolean(Vec::with_capacity(rows)),
                    T::Int16 => C::Int16(Vec::with_capacity(rows)),
                    T::Int32 => C::Int32(Vec::with_capacity(rows)),
                    T::Int64 => C::Int64(Vec::with_capacity(rows)),
                    T::Float32 => C::Float32(Vec::with_capacity(rows)),
                    T::Float64 => C::Float64(Vec::with_capacity(rows)),
                    T::Numeric => C::Numeric(var_column(rows)),
                    T::Money => C::Money(Vec::with_capacity(rows)),
                    T::Text => C::Text(var_column(rows)),
                    T::Bytes => C::Bytes(var_column(rows)),
                    T::Uuid => C::Uuid(Vec::with_capacity(rows)),
                    T::Json => C::Json(var_column(rows)),
                    T::Date => C::Date(Vec::with_capacity(rows)),
                    T::Time => C::Time(Vec::with_capacity(rows)),
                    T::Timetz => C::Timetz(Vec::with_capacity(rows)),
                    T::Timestamp => C::Timestamp(Vec::with_capacity(rows)),
                    T::Timestamptz => C::Timestamptz(Vec::with_capacity(rows)),
                    T::Interval => C::Interval(Vec::with_capacity(rows)),
                    T::Inet => C::Inet(Vec::with_capacity(rows)),
                    T::Macaddr => C::Macaddr(Vec::with_capacity(rows)),
                };
                (v, s)
            }
        };
        ColumnBuilder {
            values,
            elem,
            nulls: Vec::new(),
            rows: 0,
        }
    }

    pub(in crate::plugins) fn push_null(&mut self, capacity: usize) {
        use wit::ColumnValues as C;
        if self.nulls.is_empty() {
            self.nulls.reserve_exact(capacity);
            self.nulls.resize(self.rows, false);
        }
        self.nulls.push(true);
        match &mut self.values {
            C::Boolean(v) => v.push(false),
            C::Int16(v) => v.push(0),
            C::Int32(v) | C::Date(v) => v.push(0),
            C::Int64(v) | C::Money(v) | C::Time(v) | C::Timestamp(v) | C::Timestamptz(v) => {
                v.push(0)
            }
            C::Float32(v) => v.push(0.0),
            C::Float64(v) => v.push(0.0),
            C::Numeric(v) | C::Text(v) | C::Json(v) | C::Bytes(v) => {
                // An empty range: the end of the previous row again.
                let end = v.offsets.last().copied().unwrap_or(0);
                v.offsets.push(end);
            }
            C::Uuid(v) => v.push((0, 0)),
            C::Timetz(v) => v.push(wit::Timetz {
                micros: 0,
                offset_secs: 0,
            }),
            C::Interval(v) => v.push(wit::Interval {
                months: 0,
                days: 0,
                micros: 0,
            }),
            C::Inet(v) => v.push(wit::Inet {
                addr: Vec::new(),
                prefix: 0,
                cidr: false,
            }),
            C::Macaddr(v) => v.push(0),
            C::Array(v) => v.push(wit::ArrayValue {
                dims: Vec::new(),
                elements: Vec::new(),
            }),
            C::Range(v) => v.push(wit::RangeValue {
                empty: true,
                lower: None,
                upper: None,
                lower_inclusive: false,
                upper_inclusive: false,
            }),
        }
        self.rows += 1;
    }

    /// Appends one value; `Err` is the mismatch message (the caller adds column and row).
    fn push(&mut self, value: Value, capacity: usize) -> Result<(), String> {
        use wit::ColumnValues as C;
        if value.is_null() {
            self.push_null(capacity);
            return Ok(());
        }
        match (&mut self.values, value) {
            (C::Boolean(v), Value::Bool(x)) => v.push(x),
            (C::Int16(v), Value::Int16(x)) => v.push(x),
            (C::Int32(v), Value::Int32(x)) => v.push(x),
            (C::Int64(v), Value::Int64(x)) => v.push(x),
            (C::Float32(v), Value::Float32(x)) => v.push(x),
            (C::Float64(v), Value::Float64(x)) => v.push(x),
            (C::Numeric(v), Value::Numeric(x)) => push_var(v, x.as_bytes())?,
            (C::Money(v), Value::Money(x)) => v.push(x),
            (C::Text(v), Value::Text(x)) => push_var(v, x.as_bytes())?,
            (C::Bytes(v), Value::Bytes(x)) => push_var(v, &x)?,
            (C::Uuid(v), Value::Uuid(x)) => v.push(uuid_to_pair(x)),
            (C::Json(v), Value::Json(x)) => push_var(v, x.as_bytes())?,
            (C::Date(v), Value::Date(x)) => v.push(x),
            (C::Time(v), Value::Time(x)) => v.push(x),
            (
                C::Timetz(v),
                Value::TimeTz {
                    micros,
                    offset_secs,
                },
            ) => v.push(wit::Timetz {
                micros,
                offset_secs,
            }),
            (C::Timestamp(v), Value::Timestamp(x)) => v.push(x),
            (C::Timestamptz(v), Value::TimestampTz(x)) => v.push(x),
            (
                C::Interval(v),
                Value::Interval {
                    months,
                    days,
                    micros,
                },
            ) => v.push(wit::Interval {
                months,
                days,
                micros,
            }),
            (C::Inet(v), Value::Inet { addr, prefix, cidr }) => {
                v.push(inet_to_wit(addr, prefix, cidr))
            }
            (C::Macaddr(v), Value::MacAddr(m)) => v.push(mac_to_u64(m)),
            (C::Array(v), Value::Array(a)) => v.push(array_to_wit(*a, self.elem)?),
            (C::Range(v), Value::Range(r)) => v.push(range_to_wit(*r, self.elem)?),
            (values, other) => {
                return Err(format!(
                    "value is {}, but the column is declared {}",
                    other.kind(),
                    column_values_kind(values, self.elem)
                ))
            }
        }
        if !self.nulls.is_empty() {
            self.nulls.push(false);
        }
        self.rows += 1;
        Ok(())
    }

    /// [`ColumnBuilder::push`] for a borrowed value: var-column bytes are copied straight from
    /// where they lie (a COPY tuple), without an owned value in between.
    pub(in crate::plugins) fn push_ref(
        &mut self,
        value: ValueRef<'_>,
        capacity: usize,
    ) -> Result<(), String> {
        use wit::ColumnValues as C;
        match (&mut self.values, value) {
            (_, ValueRef::Owned(v)) => return self.push(v, capacity),
            (C::Text(v), ValueRef::Text(x))
            | (C::Json(v), ValueRef::Json(x))
            | (C::Numeric(v), ValueRef::Numeric(x)) => push_var(v, x.as_bytes())?,
            (C::Bytes(v), ValueRef::Bytes(x)) => push_var(v, x)?,
            (values, other) => {
                return Err(format!(
                    "value is {}, but the column is declared {}",
                    other.kind().to_lowercase(),
                    column_values_kind(values, self.elem)
                ))
            }
        }
        if !self.nulls.is_empty() {
            self.nulls.push(false);
        }
        self.rows += 1;
        Ok(())
    }

    pub(in crate::plugins) fn finish(self) -> wit::ColumnData {
        wit::ColumnData {
            nulls: self.nulls,
            values: self.values,
        }
    }
}

/// An empty `var-column` for `rows` rows: offsets sized up front and starting at 0; the data
/// buffer grows as values arrive (its size is not known before the batch has been walked).
fn var_column(rows: usize) -> wit::VarColumn {
    let mut offsets = Vec::with_capacity(rows.saturating_add(1));
    offsets.push(0);
    wit::VarColumn {
        data: Vec::new(),
        offsets,
    }
}

/// Appends one value to a `var-column`. Offsets are `u32`, so one column of one batch holds at
/// most 4 GiB (far beyond the per-call data cap).
fn push_var(col: &mut wit::VarColumn, bytes: &[u8]) -> Result<(), String> {
    col.data.extend_from_slice(bytes);
    let end = u32::try_from(col.data.len()).map_err(|_| {
        "the column's values in this batch exceed 4 GiB, more than a var-column can address"
            .to_string()
    })?;
    col.offsets.push(end);
    Ok(())
}

/// The bytes a value adds to a `var-column`.
fn var_len(v: &Value) -> usize {
    match v {
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

/// Consumes an engine batch into a WIT batch, checking every value against its column's type.
pub fn batch_to_wit(batch: Batch) -> Result<wit::Batch, ConvertError> {
    use wit::ColumnValues as C;
    let rows = batch.num_rows();
    let (schema, values) = batch.into_values();
    let num_rows = u32::try_from(rows)
        .map_err(|_| ConvertError::shape(format!("batch of {rows} rows exceeds u32")))?;
    let width = schema.len();
    let mut builders = Vec::with_capacity(width);
    for c in &schema.columns {
        let dt = data_type_to_wit(&c.data_type).map_err(|m| ConvertError::column(&c.name, m))?;
        builders.push(ColumnBuilder::new(dt, rows));
    }
    if width > 0 {
        // Size each var-column's buffer for its values up front: one walk over the lengths
        // saves growing (and copying) the buffers while the values are appended.
        let mut bytes = vec![0usize; width];
        for (i, v) in values.iter().enumerate() {
            if let Some(b) = bytes.get_mut(i % width) {
                *b += var_len(v);
            }
        }
        for (b, n) in builders.iter_mut().zip(bytes) {
            if let C::Numeric(v) | C::Text(v) | C::Json(v) | C::Bytes(v) = &mut b.values {
                v.data.reserve_exact(n);
            }
        }
        for (i, v) in values.into_iter().enumerate() {
            let col = i % width;
            if let Some(b) = builders.get_mut(col) {
                b.push(v, rows).map_err(|m| {
                    let name = schema.columns.get(col).map_or("", |c| c.name.as_str());
                    ConvertError::at(name, i / width, m)
                })?;
            }
        }
    }
    Ok(wit::Batch {
        num_rows,
        columns: builders.into_iter().map(ColumnBuilder::finish).collect(),
    })
}
