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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bindings::sluice::plugin::types as wit;
use crate::stores::postgres::binary::ValueRef;
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::value::{ArrayValue, RangeValue, Value};

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

// ---------------------------------------------------------------------------------------------
// Types and schemas
// ---------------------------------------------------------------------------------------------

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

fn scalar_type_name(st: wit::ScalarType) -> &'static str {
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

// ---------------------------------------------------------------------------------------------
// Leaf values
// ---------------------------------------------------------------------------------------------

fn uuid_to_wit(u: [u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&u[..8]);
    lo.copy_from_slice(&u[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

fn uuid_from_wit((hi, lo): (u64, u64)) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&lo.to_be_bytes());
    out
}

/// The six bytes, big-endian, in the low 48 bits.
fn mac_to_wit(m: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&m);
    u64::from_be_bytes(b)
}

fn mac_from_wit(v: u64) -> Result<[u8; 6], String> {
    if v >> 48 != 0 {
        return Err(format!("macaddr {v:#x} does not fit in 48 bits"));
    }
    let b = v.to_be_bytes();
    let mut out = [0u8; 6];
    out.copy_from_slice(&b[2..]);
    Ok(out)
}

fn inet_to_wit(addr: IpAddr, prefix: u8, cidr: bool) -> wit::Inet {
    let addr = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    wit::Inet { addr, prefix, cidr }
}

fn inet_from_wit(i: wit::Inet) -> Result<Value, String> {
    let addr = match i.addr.len() {
        4 => {
            let mut o = [0u8; 4];
            o.copy_from_slice(&i.addr);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&i.addr);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        n => return Err(format!("inet address has {n} bytes (expected 4 or 16)")),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if i.prefix > max {
        return Err(format!("inet prefix /{} exceeds /{max}", i.prefix));
    }
    Ok(Value::Inet {
        addr,
        prefix: i.prefix,
        cidr: i.cidr,
    })
}

/// One array element or range bound. `Null` becomes `None`; nested arrays and ranges have no
/// WIT encoding.
fn scalar_to_wit(v: Value, expected: wit::ScalarType) -> Result<Option<wit::Scalar>, String> {
    use wit::Scalar as S;
    use wit::ScalarType as T;
    let s = match (expected, v) {
        (_, Value::Null) => return Ok(None),
        (T::Boolean, Value::Bool(x)) => S::Boolean(x),
        (T::Int16, Value::Int16(x)) => S::Int16(x),
        (T::Int32, Value::Int32(x)) => S::Int32(x),
        (T::Int64, Value::Int64(x)) => S::Int64(x),
        (T::Float32, Value::Float32(x)) => S::Float32(x),
        (T::Float64, Value::Float64(x)) => S::Float64(x),
        (T::Numeric, Value::Numeric(x)) => S::Numeric(x),
        (T::Money, Value::Money(x)) => S::Money(x),
        (T::Text, Value::Text(x)) => S::Text(x),
        (T::Bytes, Value::Bytes(x)) => S::Bytes(x),
        (T::Uuid, Value::Uuid(x)) => S::Uuid(uuid_to_wit(x)),
        (T::Json, Value::Json(x)) => S::Json(x),
        (T::Date, Value::Date(x)) => S::Date(x),
        (T::Time, Value::Time(x)) => S::Time(x),
        (
            T::Timetz,
            Value::TimeTz {
                micros,
                offset_secs,
            },
        ) => S::Timetz(wit::Timetz {
            micros,
            offset_secs,
        }),
        (T::Timestamp, Value::Timestamp(x)) => S::Timestamp(x),
        (T::Timestamptz, Value::TimestampTz(x)) => S::Timestamptz(x),
        (
            T::Interval,
            Value::Interval {
                months,
                days,
                micros,
            },
        ) => S::Interval(wit::Interval {
            months,
            days,
            micros,
        }),
        (T::Inet, Value::Inet { addr, prefix, cidr }) => S::Inet(inet_to_wit(addr, prefix, cidr)),
        (T::Macaddr, Value::MacAddr(m)) => S::Macaddr(mac_to_wit(m)),
        (expected, other) => {
            return Err(format!(
                "element is {}, expected {}",
                value_kind(&other),
                scalar_type_name(expected)
            ))
        }
    };
    Ok(Some(s))
}

fn scalar_from_wit(s: Option<wit::Scalar>, expected: wit::ScalarType) -> Result<Value, String> {
    use wit::Scalar as S;
    use wit::ScalarType as T;
    let Some(s) = s else {
        return Ok(Value::Null);
    };
    Ok(match (expected, s) {
        (T::Boolean, S::Boolean(x)) => Value::Bool(x),
        (T::Int16, S::Int16(x)) => Value::Int16(x),
        (T::Int32, S::Int32(x)) => Value::Int32(x),
        (T::Int64, S::Int64(x)) => Value::Int64(x),
        (T::Float32, S::Float32(x)) => Value::Float32(x),
        (T::Float64, S::Float64(x)) => Value::Float64(x),
        (T::Numeric, S::Numeric(x)) => Value::Numeric(x),
        (T::Money, S::Money(x)) => Value::Money(x),
        (T::Text, S::Text(x)) => Value::Text(x),
        (T::Bytes, S::Bytes(x)) => Value::Bytes(x),
        (T::Uuid, S::Uuid(x)) => Value::Uuid(uuid_from_wit(x)),
        (T::Json, S::Json(x)) => Value::Json(x),
        (T::Date, S::Date(x)) => Value::Date(x),
        (T::Time, S::Time(x)) => Value::Time(x),
        (T::Timetz, S::Timetz(x)) => Value::TimeTz {
            micros: x.micros,
            offset_secs: x.offset_secs,
        },
        (T::Timestamp, S::Timestamp(x)) => Value::Timestamp(x),
        (T::Timestamptz, S::Timestamptz(x)) => Value::TimestampTz(x),
        (T::Interval, S::Interval(x)) => Value::Interval {
            months: x.months,
            days: x.days,
            micros: x.micros,
        },
        (T::Inet, S::Inet(x)) => inet_from_wit(x)?,
        (T::Macaddr, S::Macaddr(x)) => Value::MacAddr(mac_from_wit(x)?),
        (expected, other) => {
            return Err(format!(
                "element is {}, expected {}",
                scalar_type_name(wit_scalar_kind(&other)),
                scalar_type_name(expected)
            ))
        }
    })
}

fn wit_scalar_kind(s: &wit::Scalar) -> wit::ScalarType {
    use wit::Scalar as S;
    use wit::ScalarType as T;
    match s {
        S::Boolean(_) => T::Boolean,
        S::Int16(_) => T::Int16,
        S::Int32(_) => T::Int32,
        S::Int64(_) => T::Int64,
        S::Float32(_) => T::Float32,
        S::Float64(_) => T::Float64,
        S::Numeric(_) => T::Numeric,
        S::Money(_) => T::Money,
        S::Text(_) => T::Text,
        S::Bytes(_) => T::Bytes,
        S::Uuid(_) => T::Uuid,
        S::Json(_) => T::Json,
        S::Date(_) => T::Date,
        S::Time(_) => T::Time,
        S::Timetz(_) => T::Timetz,
        S::Timestamp(_) => T::Timestamp,
        S::Timestamptz(_) => T::Timestamptz,
        S::Interval(_) => T::Interval,
        S::Inet(_) => T::Inet,
        S::Macaddr(_) => T::Macaddr,
    }
}

/// The variant name of a value, for mismatch messages.
fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::Numeric(_) => "numeric",
        Value::Money(_) => "money",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::Uuid(_) => "uuid",
        Value::Json(_) => "json",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::TimeTz { .. } => "timetz",
        Value::Timestamp(_) => "timestamp",
        Value::TimestampTz(_) => "timestamptz",
        Value::Interval { .. } => "interval",
        Value::Inet { .. } => "inet",
        Value::MacAddr(_) => "macaddr",
        Value::Array(_) => "array",
        Value::Range(_) => "range",
    }
}

fn array_to_wit(a: ArrayValue, elem: wit::ScalarType) -> Result<wit::ArrayValue, String> {
    let mut elements = Vec::with_capacity(a.elements.len());
    for (i, e) in a.elements.into_iter().enumerate() {
        elements.push(scalar_to_wit(e, elem).map_err(|m| format!("array element {i}: {m}"))?);
    }
    Ok(wit::ArrayValue {
        dims: a.dims,
        elements,
    })
}

fn array_from_wit(a: wit::ArrayValue, elem: wit::ScalarType) -> Result<Value, String> {
    let expected: i64 = if a.dims.is_empty() {
        0
    } else {
        a.dims
            .iter()
            .map(|&(len, _)| i64::from(len.max(0)))
            .product()
    };
    if i64::try_from(a.elements.len()).ok() != Some(expected) {
        return Err(format!(
            "array has {} elements but its dimensions {:?} call for {expected}",
            a.elements.len(),
            a.dims
        ));
    }
    let mut elements = Vec::with_capacity(a.elements.len());
    for (i, e) in a.elements.into_iter().enumerate() {
        elements.push(scalar_from_wit(e, elem).map_err(|m| format!("array element {i}: {m}"))?);
    }
    Ok(Value::Array(Box::new(ArrayValue {
        dims: a.dims,
        elements,
    })))
}

fn range_to_wit(r: RangeValue, elem: wit::ScalarType) -> Result<wit::RangeValue, String> {
    // A `Some(Value::Null)` bound means "unbounded" exactly as `None` does (PostgreSQL's range
    // constructors treat a NULL bound so); WIT has only the `none` spelling.
    let bound = |b: Option<Value>, which: &str| match b {
        None => Ok(None),
        Some(v) => scalar_to_wit(v, elem).map_err(|m| format!("range {which} bound: {m}")),
    };
    Ok(wit::RangeValue {
        empty: r.empty,
        lower: bound(r.lower, "lower")?,
        upper: bound(r.upper, "upper")?,
        lower_inclusive: r.lower_inclusive,
        upper_inclusive: r.upper_inclusive,
    })
}

fn range_from_wit(r: wit::RangeValue, elem: wit::ScalarType) -> Result<Value, String> {
    let bound = |b: Option<wit::Scalar>, which: &str| match b {
        None => Ok(None),
        Some(s) => scalar_from_wit(Some(s), elem)
            .map(Some)
            .map_err(|m| format!("range {which} bound: {m}")),
    };
    Ok(Value::Range(Box::new(RangeValue {
        empty: r.empty,
        lower: bound(r.lower, "lower")?,
        upper: bound(r.upper, "upper")?,
        lower_inclusive: r.lower_inclusive,
        upper_inclusive: r.upper_inclusive,
    })))
}

// ---------------------------------------------------------------------------------------------
// Batches: engine -> WIT
// ---------------------------------------------------------------------------------------------

/// Builds one WIT column while the row-major values stream past.
pub(super) struct ColumnBuilder {
    values: wit::ColumnValues,
    /// Element type for arrays and ranges.
    elem: wit::ScalarType,
    /// Stays empty until the first NULL, as the WIT contract asks.
    nulls: Vec<bool>,
    rows: usize,
}

impl ColumnBuilder {
    pub(super) fn new(dt: wit::DataType, rows: usize) -> Self {
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

    pub(super) fn push_null(&mut self, capacity: usize) {
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
            (C::Uuid(v), Value::Uuid(x)) => v.push(uuid_to_wit(x)),
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
            (C::Macaddr(v), Value::MacAddr(m)) => v.push(mac_to_wit(m)),
            (C::Array(v), Value::Array(a)) => v.push(array_to_wit(*a, self.elem)?),
            (C::Range(v), Value::Range(r)) => v.push(range_to_wit(*r, self.elem)?),
            (values, other) => {
                return Err(format!(
                    "value is {}, but the column is declared {}",
                    value_kind(&other),
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
    pub(super) fn push_ref(&mut self, value: ValueRef<'_>, capacity: usize) -> Result<(), String> {
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

    pub(super) fn finish(self) -> wit::ColumnData {
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

/// The `var-column` of a variable-length column, `None` for the others.
fn var_column_of(v: &wit::ColumnValues) -> Option<&wit::VarColumn> {
    use wit::ColumnValues as C;
    match v {
        C::Numeric(x) | C::Text(x) | C::Json(x) | C::Bytes(x) => Some(x),
        _ => None,
    }
}

fn column_values_kind(v: &wit::ColumnValues, elem: wit::ScalarType) -> String {
    use wit::ColumnValues as C;
    match v {
        C::Array(_) => format!("array of {}", scalar_type_name(elem)),
        C::Range(_) => format!("range of {}", scalar_type_name(elem)),
        _ => scalar_type_name(column_values_scalar(v).unwrap_or(elem)).to_string(),
    }
}

fn column_values_scalar(v: &wit::ColumnValues) -> Option<wit::ScalarType> {
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

fn column_values_len(v: &wit::ColumnValues) -> usize {
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
pub(super) fn var_bytes(c: &wit::ColumnData) -> usize {
    var_column_of(&c.values).map_or(0, |v| v.data.len())
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

// ---------------------------------------------------------------------------------------------
// Batches: WIT -> engine
// ---------------------------------------------------------------------------------------------

/// Converts a WIT batch (returned by a guest) into an engine batch of `schema`, checking the
/// batch's shape (column count, list lengths, null flags) and every column's type.
pub fn batch_from_wit(schema: &SchemaRef, batch: wit::Batch) -> Result<Batch, ConvertError> {
    let width = schema.len();
    let rows = batch.num_rows as usize;
    check_shape(schema, &batch)?;
    if width == 0 {
        return Ok(Batch::new(schema.clone()));
    }
    let cells = rows
        .checked_mul(width)
        .ok_or_else(|| ConvertError::shape("batch too large"))?;
    let mut out = vec![Value::Null; cells];
    for (col, (data, column)) in batch.columns.into_iter().zip(&schema.columns).enumerate() {
        let name = column.name.as_str();
        let mut cells = ColumnCells::new(name, &column.data_type, data)?;
        for row in 0..rows {
            if cells.is_null(row) {
                continue;
            }
            let value = cells
                .take(row)
                .map_err(|m| ConvertError::at(name, row, m))?
                .into_owned();
            if let Some(slot) = out.get_mut(row * width + col) {
                *slot = value;
            }
        }
    }
    Ok(Batch::from_values(schema.clone(), out))
}

/// Checks a guest batch's shape against `schema`: the column count, and every column's list
/// lengths and null flags against `num-rows`. Nothing is sized by `num-rows` before this: that
/// is the guest's claim, and a forged one must not make the host allocate for it.
pub(super) fn check_shape(schema: &Schema, batch: &wit::Batch) -> Result<(), ConvertError> {
    let width = schema.len();
    let rows = batch.num_rows as usize;
    if batch.columns.len() != width {
        return Err(ConvertError::shape(format!(
            "batch has {} columns but the output schema has {width}",
            batch.columns.len()
        )));
    }
    for (data, column) in batch.columns.iter().zip(&schema.columns) {
        let name = column.name.as_str();
        if let Some(var) = var_column_of(&data.values) {
            let n = var.offsets.len();
            if n.checked_sub(1) != Some(rows) {
                return Err(ConvertError::column(
                    name,
                    format!(
                        "has {n} offsets but the batch has {rows} rows \
                         (a var-column has one offset more than rows)"
                    ),
                ));
            }
        }
        let len = column_values_len(&data.values);
        if len != rows {
            return Err(ConvertError::column(
                name,
                format!("has {len} values but the batch has {rows} rows"),
            ));
        }
        if !data.nulls.is_empty() && data.nulls.len() != rows {
            return Err(ConvertError::column(
                name,
                format!(
                    "has {} null flags but the batch has {rows} rows",
                    data.nulls.len()
                ),
            ));
        }
    }
    Ok(())
}

/// One column of a guest batch, checked against its declared type, from which rows are taken
/// one at a time. A var-column's buffer is validated once (offsets, and UTF-8 for the text
/// kinds) and each row borrows a slice of it, so nothing is allocated per value until a
/// consumer wants owned values.
pub(super) struct ColumnCells {
    nulls: Vec<bool>,
    values: Cells,
}

enum Cells {
    /// A text-like var-column: valid UTF-8, every row's range on character boundaries.
    Text {
        text: String,
        offsets: Vec<u32>,
        kind: TextKind,
    },
    Bytes {
        data: Vec<u8>,
        offsets: Vec<u32>,
    },
    /// Fixed-width values, arrays and ranges (`elem`: the element type of the latter two).
    Other {
        values: wit::ColumnValues,
        elem: wit::ScalarType,
    },
}

#[derive(Clone, Copy)]
enum TextKind {
    Numeric,
    Text,
    Json,
}

impl ColumnCells {
    /// Checks one guest column (whose lengths [`check_shape`] checked) against the type the
    /// schema declares for it.
    pub(super) fn new(
        name: &str,
        declared: &DataType,
        data: wit::ColumnData,
    ) -> Result<Self, ConvertError> {
        use wit::ColumnValues as C;
        let declared = data_type_to_wit(declared).map_err(|m| ConvertError::column(name, m))?;
        let values = match (declared, data.values) {
            (wit::DataType::Array(elem), values @ C::Array(_))
            | (wit::DataType::Range(elem), values @ C::Range(_)) => Cells::Other { values, elem },
            (wit::DataType::Scalar(s), values) if column_values_scalar(&values) == Some(s) => {
                match values {
                    C::Numeric(v) => text_cells(name, v, TextKind::Numeric)?,
                    C::Text(v) => text_cells(name, v, TextKind::Text)?,
                    C::Json(v) => text_cells(name, v, TextKind::Json)?,
                    C::Bytes(v) => {
                        check_offsets(name, &v.offsets, v.data.len())?;
                        Cells::Bytes {
                            data: v.data,
                            offsets: v.offsets,
                        }
                    }
                    values => Cells::Other { values, elem: s },
                }
            }
            (declared, values) => {
                return Err(ConvertError::column(
                    name,
                    format!(
                        "values are {}, but the output schema declares {}",
                        column_values_kind(&values, elem_of(declared)),
                        describe_wit_type(declared)
                    ),
                ))
            }
        };
        Ok(ColumnCells {
            nulls: data.nulls,
            values,
        })
    }

    pub(super) fn is_null(&self, row: usize) -> bool {
        self.nulls.get(row).copied().unwrap_or(false)
    }

    /// The value of a row that is not NULL. Var-column values borrow the column's buffer;
    /// arrays and ranges are moved out, so each row is taken once.
    pub(super) fn take(&mut self, row: usize) -> Result<ValueRef<'_>, String> {
        let range = |offsets: &[u32]| {
            let start = *offsets.get(row)? as usize;
            let end = *offsets.get(row + 1)? as usize;
            Some(start..end)
        };
        let outside = || format!("row {row} is outside its var-column");
        Ok(match &mut self.values {
            Cells::Text {
                text,
                offsets,
                kind,
            } => {
                let s = range(offsets)
                    .and_then(|r| text.get(r))
                    .ok_or_else(outside)?;
                match kind {
                    TextKind::Numeric => ValueRef::Numeric(s),
                    TextKind::Text => ValueRef::Text(s),
                    TextKind::Json => ValueRef::Json(s),
                }
            }
            Cells::Bytes { data, offsets } => ValueRef::Bytes(
                range(offsets)
                    .and_then(|r| data.get(r))
                    .ok_or_else(outside)?,
            ),
            Cells::Other { values, elem } => ValueRef::Owned(take_fixed(values, *elem, row)?),
        })
    }
}

/// Checks a text-like var-column: offsets, UTF-8 (the error names the row holding the first
/// bad byte), and every row's range on character boundaries, NULL rows' too (a NULL row's
/// bytes are otherwise ignored).
fn text_cells(name: &str, values: wit::VarColumn, kind: TextKind) -> Result<Cells, ConvertError> {
    let wit::VarColumn { data, offsets } = values;
    check_offsets(name, &offsets, data.len())?;
    let text = match String::from_utf8(data) {
        Ok(text) => text,
        Err(e) => {
            // The row whose range holds the first bad byte (offsets are in order by now).
            let bad = e.utf8_error().valid_up_to();
            let row = offsets
                .partition_point(|&o| o as usize <= bad)
                .saturating_sub(1);
            return Err(ConvertError::at(
                name,
                row,
                format!("value is not valid UTF-8 (byte {bad} of the var-column)"),
            ));
        }
    };
    for (row, w) in offsets.windows(2).enumerate() {
        let &[start, end] = w else { continue };
        if !text.is_char_boundary(start as usize) || !text.is_char_boundary(end as usize) {
            return Err(ConvertError::at(
                name,
                row,
                format!(
                    "value (bytes {start}..{end} of the var-column) starts or ends inside a \
                     UTF-8 character"
                ),
            ));
        }
    }
    Ok(Cells::Text {
        text,
        offsets,
        kind,
    })
}

/// Checks a guest's `var-column` offsets against its buffer of `len` bytes (their count was
/// checked with the batch's shape): they start at 0, never decrease, stay within the buffer and
/// end exactly at its end. After this, every row's range is a valid slice of the buffer.
fn check_offsets(name: &str, offsets: &[u32], len: usize) -> Result<(), ConvertError> {
    match offsets.first() {
        Some(0) => {}
        Some(first) => {
            return Err(ConvertError::column(
                name,
                format!("var-column offsets start at {first}, not 0"),
            ))
        }
        None => return Err(ConvertError::column(name, "var-column has no offsets")),
    }
    for (row, w) in offsets.windows(2).enumerate() {
        let &[start, end] = w else { continue };
        if end < start {
            return Err(ConvertError::at(
                name,
                row,
                format!("var-column offsets go backwards (value from byte {start} to {end})"),
            ));
        }
        if end as usize > len {
            return Err(ConvertError::at(
                name,
                row,
                format!("value ends at byte {end}, past the end of the {len}-byte var-column"),
            ));
        }
    }
    let last = offsets.last().copied().unwrap_or(0);
    if last as usize != len {
        return Err(ConvertError::column(
            name,
            format!("var-column offsets end at byte {last}, but its buffer has {len} bytes"),
        ));
    }
    Ok(())
}

fn elem_of(dt: wit::DataType) -> wit::ScalarType {
    match dt {
        wit::DataType::Scalar(s) | wit::DataType::Array(s) | wit::DataType::Range(s) => s,
    }
}

fn describe_wit_type(dt: wit::DataType) -> String {
    match dt {
        wit::DataType::Scalar(s) => scalar_type_name(s).to_string(),
        wit::DataType::Array(s) => format!("array of {}", scalar_type_name(s)),
        wit::DataType::Range(s) => format!("range of {}", scalar_type_name(s)),
    }
}

/// Row `row` of a fixed-width, array or range column as an engine value.
fn take_fixed(
    values: &mut wit::ColumnValues,
    elem: wit::ScalarType,
    row: usize,
) -> Result<Value, String> {
    use wit::ColumnValues as C;
    fn at<T: Copy>(v: &[T], row: usize) -> Result<T, String> {
        v.get(row)
            .copied()
            .ok_or_else(|| format!("row {row} is missing from its column"))
    }
    Ok(match values {
        C::Boolean(v) => Value::Bool(at(v, row)?),
        C::Int16(v) => Value::Int16(at(v, row)?),
        C::Int32(v) => Value::Int32(at(v, row)?),
        C::Int64(v) => Value::Int64(at(v, row)?),
        C::Float32(v) => Value::Float32(at(v, row)?),
        C::Float64(v) => Value::Float64(at(v, row)?),
        C::Money(v) => Value::Money(at(v, row)?),
        C::Uuid(v) => Value::Uuid(uuid_from_wit(at(v, row)?)),
        C::Date(v) => Value::Date(at(v, row)?),
        C::Time(v) => Value::Time(at(v, row)?),
        C::Timetz(v) => {
            let x = at(v, row)?;
            Value::TimeTz {
                micros: x.micros,
                offset_secs: x.offset_secs,
            }
        }
        C::Timestamp(v) => Value::Timestamp(at(v, row)?),
        C::Timestamptz(v) => Value::TimestampTz(at(v, row)?),
        C::Interval(v) => {
            let x = at(v, row)?;
            Value::Interval {
                months: x.months,
                days: x.days,
                micros: x.micros,
            }
        }
        C::Inet(v) => inet_from_wit(take_at(v, row, || wit::Inet {
            addr: Vec::new(),
            prefix: 0,
            cidr: false,
        })?)?,
        C::Macaddr(v) => Value::MacAddr(mac_from_wit(at(v, row)?)?),
        C::Array(v) => array_from_wit(
            take_at(v, row, || wit::ArrayValue {
                dims: Vec::new(),
                elements: Vec::new(),
            })?,
            elem,
        )?,
        C::Range(v) => range_from_wit(
            take_at(v, row, || wit::RangeValue {
                empty: true,
                lower: None,
                upper: None,
                lower_inclusive: false,
                upper_inclusive: false,
            })?,
            elem,
        )?,
        // Variable-length columns are `Cells::Text` / `Cells::Bytes`.
        C::Numeric(_) | C::Text(_) | C::Json(_) | C::Bytes(_) => {
            return Err("var-column passed to the fixed-width path".into())
        }
    })
}

/// Moves row `row` out of a column list, leaving a placeholder.
fn take_at<T>(v: &mut [T], row: usize, placeholder: impl FnOnce() -> T) -> Result<T, String> {
    v.get_mut(row)
        .map(|slot| std::mem::replace(slot, placeholder()))
        .ok_or_else(|| format!("row {row} is missing from its column"))
}

// ---------------------------------------------------------------------------------------------
// Boundary size estimates
// ---------------------------------------------------------------------------------------------

/// Approximate bytes a scalar occupies in the guest's memory (canonical ABI layout plus its
/// heap payload).
fn scalar_size(s: &wit::Scalar) -> u64 {
    use wit::Scalar as S;
    24 + match s {
        S::Numeric(x) | S::Text(x) | S::Json(x) => x.len() as u64,
        S::Bytes(x) => x.len() as u64,
        S::Inet(x) => x.addr.len() as u64,
        _ => 0,
    }
}

/// Approximate bytes a column occupies on the guest side of the boundary. Counts the canonical
/// ABI element size of each list plus heap payloads; used for the per-call crossing cap, so it
/// errs on the generous side rather than walking every fixed-width element.
pub fn column_size(c: &wit::ColumnData) -> u64 {
    use wit::ColumnValues as C;
    let n = |len: usize, each: u64| len as u64 * each;
    let opt = |s: &Option<wit::Scalar>| 8 + s.as_ref().map_or(0, scalar_size);
    c.nulls.len() as u64
        + match &c.values {
            C::Boolean(v) => n(v.len(), 1),
            C::Int16(v) => n(v.len(), 2),
            C::Int32(v) | C::Date(v) => n(v.len(), 4),
            C::Int64(v) | C::Money(v) | C::Time(v) | C::Timestamp(v) | C::Timestamptz(v) => {
                n(v.len(), 8)
            }
            C::Float32(v) => n(v.len(), 4),
            C::Float64(v) => n(v.len(), 8),
            C::Macaddr(v) => n(v.len(), 8),
            C::Uuid(v) => n(v.len(), 16),
            C::Timetz(v) => n(v.len(), 16),
            C::Interval(v) => n(v.len(), 16),
            C::Numeric(v) | C::Text(v) | C::Json(v) | C::Bytes(v) => {
                v.data.len() as u64 + n(v.offsets.len(), 4)
            }
            C::Inet(v) => v.iter().map(|i| 12 + i.addr.len() as u64).sum(),
            C::Array(v) => v
                .iter()
                .map(|a| 16 + 8 * a.dims.len() as u64 + a.elements.iter().map(opt).sum::<u64>())
                .sum(),
            C::Range(v) => v.iter().map(|r| 8 + opt(&r.lower) + opt(&r.upper)).sum(),
        }
}

/// Approximate bytes of a whole batch on the guest side.
pub fn batch_size(b: &wit::Batch) -> u64 {
    8 + b.columns.iter().map(column_size).sum::<u64>()
}

/// Approximate bytes of a guest's `output` (batch plus rejections).
pub fn output_size(o: &wit::Output) -> u64 {
    batch_size(&o.batch)
        + o.rejected
            .iter()
            .map(|r| 12 + r.message.len() as u64)
            .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn every_type_schema() -> SchemaRef {
        use DataType as D;
        let cols = vec![
            ("b", D::Bool),
            ("i16", D::Int16),
            ("i32", D::Int32),
            ("i64", D::Int64),
            ("f32", D::Float32),
            ("f64", D::Float64),
            ("num", D::Numeric),
            ("money", D::Money),
            ("txt", D::Text),
            ("bytes", D::Bytes),
            ("uuid", D::Uuid),
            ("json", D::Json),
            ("date", D::Date),
            ("time", D::Time),
            ("timetz", D::TimeTz),
            ("ts", D::Timestamp),
            ("tstz", D::TimestampTz),
            ("iv", D::Interval),
            ("inet", D::Inet),
            ("mac", D::MacAddr),
            ("arr", D::Array(Box::new(D::Int32))),
            ("tarr", D::Array(Box::new(D::Text))),
            ("rng", D::Range(Box::new(D::Int64))),
            ("tsrng", D::Range(Box::new(D::TimestampTz))),
        ];
        Arc::new(Schema::new(
            cols.into_iter()
                .map(|(n, t)| Column::new(n, t, format!("pg_{n}")))
                .collect(),
        ))
    }

    /// Three rows: ordinary values, extremes, and all NULLs.
    pub(crate) fn every_type_rows() -> Vec<Vec<Value>> {
        let row1 = vec![
            Value::Bool(true),
            Value::Int16(-7),
            Value::Int32(42),
            Value::Int64(-9_000_000_000),
            Value::Float32(1.5),
            Value::Float64(-2.25e300),
            Value::Numeric("-12345678901234567890.000000000000000001".into()),
            Value::Money(12_345),
            Value::Text("héllo, wörld ✓".into()),
            Value::Bytes(vec![0, 1, 2, 255]),
            Value::Uuid([
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
                0x32, 0x10,
            ]),
            Value::Json(r#"{"a":[1,2,{"b":null}]}"#.into()),
            Value::Date(-10_957),
            Value::Time(86_399_999_999),
            Value::TimeTz {
                micros: 3_600_000_000,
                offset_secs: -19_800,
            },
            Value::Timestamp(1),
            Value::TimestampTz(-1),
            Value::Interval {
                months: -14,
                days: 3,
                micros: 4_000_001,
            },
            Value::Inet {
                addr: "192.168.1.7".parse().unwrap(),
                prefix: 24,
                cidr: false,
            },
            Value::MacAddr([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03]),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(2, 1), (2, 0)],
                elements: vec![
                    Value::Int32(1),
                    Value::Null,
                    Value::Int32(3),
                    Value::Int32(-4),
                ],
            })),
            Value::Array(Box::new(ArrayValue {
                dims: vec![],
                elements: vec![],
            })),
            Value::Range(Box::new(RangeValue {
                empty: false,
                lower: Some(Value::Int64(1)),
                upper: None,
                lower_inclusive: true,
                upper_inclusive: false,
            })),
            Value::Range(Box::new(RangeValue {
                empty: true,
                lower: None,
                upper: None,
                lower_inclusive: false,
                upper_inclusive: false,
            })),
        ];
        let row2 = vec![
            Value::Bool(false),
            Value::Int16(i16::MIN),
            Value::Int32(i32::MAX),
            Value::Int64(i64::MIN),
            Value::Float32(f32::NAN),
            Value::Float64(f64::NEG_INFINITY),
            Value::Numeric("NaN".into()),
            Value::Money(i64::MIN),
            Value::Text(String::new()),
            Value::Bytes(vec![]),
            Value::Uuid([0xff; 16]),
            Value::Json("null".into()),
            Value::Date(i32::MAX),
            Value::Time(0),
            Value::TimeTz {
                micros: 0,
                offset_secs: 50_400,
            },
            Value::Timestamp(i64::MAX),
            Value::TimestampTz(i64::MIN),
            Value::Interval {
                months: i32::MAX,
                days: i32::MIN,
                micros: i64::MAX,
            },
            Value::Inet {
                addr: "2001:db8::ff00:42:8329".parse().unwrap(),
                prefix: 64,
                cidr: true,
            },
            Value::MacAddr([0xff; 6]),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(1, -3)],
                elements: vec![Value::Null],
            })),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(3, 1)],
                elements: vec![Value::Text("a".into()), Value::Null, Value::Text("".into())],
            })),
            Value::Range(Box::new(RangeValue {
                empty: false,
                lower: None,
                upper: Some(Value::Int64(-5)),
                lower_inclusive: false,
                upper_inclusive: true,
            })),
            Value::Range(Box::new(RangeValue {
                empty: false,
                lower: Some(Value::TimestampTz(i64::MIN)),
                upper: Some(Value::TimestampTz(i64::MAX)),
                lower_inclusive: true,
                upper_inclusive: true,
            })),
        ];
        let row3 = vec![Value::Null; row1.len()];
        vec![row1, row2, row3]
    }

    pub(crate) fn every_type_batch() -> Batch {
        let mut b = Batch::new(every_type_schema());
        for r in every_type_rows() {
            b.push_row(r);
        }
        b
    }

    /// `Value` is `PartialEq` but NaN != NaN; compare the debug form instead, which is exact for
    /// every variant here.
    fn same(a: &Batch, b: &Batch) -> bool {
        format!("{:?}", a.values()) == format!("{:?}", b.values()) && a.schema() == b.schema()
    }

    #[test]
    fn every_variant_round_trips() {
        let batch = every_type_batch();
        let expected = batch.clone();
        let schema = batch.schema().clone();
        let wit_schema = schema_to_wit(&schema).unwrap();
        assert_eq!(Arc::new(schema_from_wit(wit_schema)), schema);
        let w = batch_to_wit(batch).unwrap();
        assert_eq!(w.num_rows, 3);
        // Every column has a NULL in row 3, so every nulls list is present.
        assert!(w
            .columns
            .iter()
            .all(|c| c.nulls == vec![false, false, true]));
        let back = batch_from_wit(&schema, w).unwrap();
        assert!(
            same(&back, &expected),
            "{:?}\n!=\n{:?}",
            back.values(),
            expected.values()
        );
    }

    #[test]
    fn nulls_list_is_empty_without_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Column::new("a", DataType::Int32, "int4"),
            Column::new("b", DataType::Text, "text"),
        ]));
        let mut b = Batch::new(schema.clone());
        b.push_row([Value::Int32(1), Value::Text("x".into())]);
        b.push_row([Value::Int32(2), Value::Null]);
        let w = batch_to_wit(b).unwrap();
        assert!(w.columns[0].nulls.is_empty());
        assert_eq!(w.columns[1].nulls, vec![false, true]);
        // A NULL row is an empty range in the var-column.
        match &w.columns[1].values {
            wit::ColumnValues::Text(v) => {
                assert_eq!(v.data, b"x");
                assert_eq!(v.offsets, vec![0, 1, 1]);
            }
            other => panic!("{other:?}"),
        }
        let back = batch_from_wit(&schema, w).unwrap();
        assert_eq!(back.row(1), &[Value::Int32(2), Value::Null]);
    }

    #[test]
    fn uuid_and_mac_encodings_are_big_endian() {
        let u = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        assert_eq!(
            uuid_to_wit(u),
            (0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10)
        );
        assert_eq!(
            mac_to_wit([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
            0xaabb_ccdd_eeff
        );
        assert!(mac_from_wit(1 << 48).is_err());
    }

    #[test]
    fn mismatched_value_names_column_and_row() {
        let schema = Arc::new(Schema::new(vec![
            Column::new("id", DataType::Int32, "int4"),
            Column::new("tags", DataType::Array(Box::new(DataType::Text)), "_text"),
        ]));
        let mut b = Batch::new(schema.clone());
        b.push_row([Value::Int32(1), Value::Null]);
        b.push_row([Value::Int64(2), Value::Null]);
        let e = batch_to_wit(b).unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("id", Some(1)));
        assert!(e.to_string().contains("int64"), "{e}");

        let mut b = Batch::new(schema);
        b.push_row([
            Value::Int32(1),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(1, 1)],
                elements: vec![Value::Int32(5)],
            })),
        ]);
        let e = batch_to_wit(b).unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("tags", Some(0)));
        assert!(e.to_string().contains("array element 0"), "{e}");
    }

    #[test]
    fn nested_arrays_are_refused_by_name() {
        let schema = Schema::new(vec![Column::new(
            "grid",
            DataType::Array(Box::new(DataType::Array(Box::new(DataType::Int32)))),
            "_int4",
        )]);
        let e = schema_to_wit(&schema).unwrap_err();
        assert_eq!(e.column, "grid");
    }

    #[test]
    fn malformed_guest_batches_are_errors() {
        let schema = Arc::new(Schema::new(vec![
            Column::new("a", DataType::Int32, "int4"),
            Column::new("n", DataType::Inet, "inet"),
        ]));
        let ok_col = |v| wit::ColumnData {
            nulls: vec![],
            values: v,
        };
        // Wrong column count.
        let e = batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: 1,
                columns: vec![ok_col(wit::ColumnValues::Int32(vec![1]))],
            },
        )
        .unwrap_err();
        assert!(e.message.contains("1 columns"), "{e}");
        // Wrong type.
        let e = batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: 1,
                columns: vec![
                    ok_col(wit::ColumnValues::Int64(vec![1])),
                    ok_col(wit::ColumnValues::Inet(vec![wit::Inet {
                        addr: vec![127, 0, 0, 1],
                        prefix: 32,
                        cidr: false,
                    }])),
                ],
            },
        )
        .unwrap_err();
        assert_eq!(e.column, "a");
        assert!(e.message.contains("int64"), "{e}");
        // Wrong length.
        let e = batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: 1,
                columns: vec![
                    ok_col(wit::ColumnValues::Int32(vec![1])),
                    ok_col(wit::ColumnValues::Inet(vec![])),
                ],
            },
        )
        .unwrap_err();
        assert_eq!(e.column, "n");
        // Bad inet address length names the row.
        let e = batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: 2,
                columns: vec![
                    ok_col(wit::ColumnValues::Int32(vec![1, 2])),
                    wit::ColumnData {
                        nulls: vec![true, false],
                        values: wit::ColumnValues::Inet(vec![
                            wit::Inet {
                                addr: vec![],
                                prefix: 0,
                                cidr: false,
                            },
                            wit::Inet {
                                addr: vec![1, 2, 3],
                                prefix: 0,
                                cidr: false,
                            },
                        ]),
                    },
                ],
            },
        )
        .unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("n", Some(1)));
    }

    /// `num_rows` is the guest's word: a huge one with no values behind it must be refused
    /// before the host sizes anything by it (it used to allocate rows × width values first).
    #[test]
    fn forged_row_count_is_refused_before_allocating() {
        let schema = Arc::new(Schema::new(vec![
            Column::new("a", DataType::Int32, "int4"),
            Column::new("b", DataType::Text, "text"),
        ]));
        let e = batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: u32::MAX,
                columns: vec![
                    wit::ColumnData {
                        nulls: vec![],
                        values: wit::ColumnValues::Int32(vec![1]),
                    },
                    wit::ColumnData {
                        nulls: vec![],
                        values: wit::ColumnValues::Text(var(b"", &[0])),
                    },
                ],
            },
        )
        .unwrap_err();
        assert_eq!(e.column, "a");
        assert!(e.message.contains(&u32::MAX.to_string()), "{e}");
        // The same with the var-column checked first: its offsets must back the row count.
        let schema = Arc::new(Schema::new(vec![Column::new("b", DataType::Text, "text")]));
        let e = batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: u32::MAX,
                columns: vec![wit::ColumnData {
                    nulls: vec![],
                    values: wit::ColumnValues::Text(var(b"ab", &[0, 1, 2])),
                }],
            },
        )
        .unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("b", None));
        assert!(e.message.contains("3 offsets"), "{e}");
    }

    fn var(data: &[u8], offsets: &[u32]) -> wit::VarColumn {
        wit::VarColumn {
            data: data.to_vec(),
            offsets: offsets.to_vec(),
        }
    }

    /// What a guest sends back in one text, bytes or json column of `rows` rows.
    fn one_var_column(
        dt: DataType,
        rows: u32,
        nulls: Vec<bool>,
        values: wit::ColumnValues,
    ) -> Result<Batch, ConvertError> {
        let schema = Arc::new(Schema::new(vec![Column::new("v", dt, "x")]));
        batch_from_wit(
            &schema,
            wit::Batch {
                num_rows: rows,
                columns: vec![wit::ColumnData { nulls, values }],
            },
        )
    }

    #[test]
    fn var_columns_decode_with_nulls_and_empty_values() {
        use wit::ColumnValues as C;
        let b = one_var_column(
            DataType::Text,
            4,
            vec![false, true, false, false],
            C::Text(var("héé✓".as_bytes(), &[0, 3, 3, 3, 8])),
        )
        .unwrap();
        let got: Vec<&Value> = (0..4).map(|r| &b.row(r)[0]).collect();
        assert_eq!(
            got,
            vec![
                &Value::Text("hé".into()),
                &Value::Null,
                &Value::Text(String::new()),
                &Value::Text("é✓".into())
            ]
        );
        // Bytes need not be UTF-8; a NULL row's bytes are ignored.
        let b = one_var_column(
            DataType::Bytes,
            2,
            vec![true, false],
            C::Bytes(var(&[0xff, 0xfe, 0x00], &[0, 2, 3])),
        )
        .unwrap();
        assert_eq!(b.row(0), &[Value::Null]);
        assert_eq!(b.row(1), &[Value::Bytes(vec![0])]);
        // Zero rows: one offset.
        let b = one_var_column(DataType::Json, 0, vec![], C::Json(var(b"", &[0]))).unwrap();
        assert_eq!(b.num_rows(), 0);
    }

    /// Every way a guest can get a var-column wrong is a `ConvertError` naming the column (and
    /// the row, when one row is at fault), never a panic or an allocation sized by its claims.
    #[test]
    fn malformed_var_columns_are_errors() {
        use wit::ColumnValues as C;
        let text = |rows, data: &[u8], offsets: &[u32]| {
            one_var_column(DataType::Text, rows, vec![], C::Text(var(data, offsets))).unwrap_err()
        };
        let check = |e: ConvertError, row: Option<usize>, needle: &str| {
            assert_eq!((e.column.as_str(), e.row), ("v", row), "{e}");
            assert!(e.message.contains(needle), "{e:?} lacks {needle:?}");
        };
        // Wrong number of offsets: none, one per row (the classic off-by-one), one too many.
        check(text(0, b"", &[]), None, "0 offsets");
        check(
            text(2, b"ab", &[0, 2]),
            None,
            "2 offsets but the batch has 2 rows",
        );
        check(text(1, b"ab", &[0, 1, 2]), None, "3 offsets");
        // Not starting at 0 (leading garbage).
        check(text(1, b"ab", &[1, 2]), None, "start at 1");
        // Going backwards.
        check(text(3, b"abc", &[0, 2, 1, 3]), Some(1), "backwards");
        // Past the end of the data, also by a huge amount.
        check(text(2, b"abc", &[0, 1, 4]), Some(1), "past the end");
        check(text(1, b"abc", &[0, u32::MAX]), Some(0), "past the end");
        // Ending before the end of the data (trailing garbage).
        check(text(1, b"abc", &[0, 2]), None, "buffer has 3 bytes");
        // Invalid UTF-8 names the row holding the bad byte.
        check(
            text(3, b"okok\xffok", &[0, 2, 4, 7]),
            Some(2),
            "not valid UTF-8",
        );
        check(text(2, b"\xc3", &[0, 0, 1]), Some(1), "not valid UTF-8");
        // Valid UTF-8 overall, but an offset cuts "é" (2 bytes) in two.
        check(
            text(2, "é".as_bytes(), &[0, 1, 2]),
            Some(0),
            "inside a UTF-8 character",
        );
        // ... also when the cut is between two NULL rows (the contract covers every offset).
        let e = one_var_column(
            DataType::Text,
            2,
            vec![true, true],
            C::Text(var("é".as_bytes(), &[0, 1, 2])),
        )
        .unwrap_err();
        check(e, Some(0), "inside a UTF-8 character");
        // numeric and json are text too.
        let e = one_var_column(
            DataType::Numeric,
            1,
            vec![],
            C::Numeric(var(b"1\xff", &[0, 2])),
        )
        .unwrap_err();
        check(e, Some(0), "not valid UTF-8");
        let e =
            one_var_column(DataType::Json, 1, vec![], C::Json(var(b"\xff", &[0, 1]))).unwrap_err();
        check(e, Some(0), "not valid UTF-8");
        // Bytes are checked for offsets, not UTF-8.
        let e = one_var_column(
            DataType::Bytes,
            2,
            vec![],
            C::Bytes(var(b"\xff", &[0, 2, 1])),
        )
        .unwrap_err();
        check(e, Some(0), "past the end");
        // A var-column of the wrong type (bytes for a text column) is a type error.
        let e =
            one_var_column(DataType::Text, 1, vec![], C::Bytes(var(b"a", &[0, 1]))).unwrap_err();
        check(e, None, "values are bytes");
        // Null flags of the wrong length.
        let e = one_var_column(
            DataType::Text,
            1,
            vec![true, false],
            C::Text(var(b"a", &[0, 1])),
        )
        .unwrap_err();
        check(e, None, "2 null flags");
    }

    #[test]
    fn var_column_size_counts_data_and_offsets() {
        let c = wit::ColumnData {
            nulls: vec![],
            values: wit::ColumnValues::Bytes(var(&[0; 100], &[0, 50, 100])),
        };
        assert_eq!(column_size(&c), 100 + 3 * 4);
    }

    #[test]
    fn size_estimate_counts_payload() {
        let w = batch_to_wit(every_type_batch()).unwrap();
        let s = batch_size(&w);
        assert!(s > 200 && s < 10_000, "{s}");
    }

    /// Informational: conversion throughput for a typical 10k-row, 6-column batch.
    #[test]
    fn conversion_speed() {
        let schema = Arc::new(Schema::new(vec![
            Column::new("id", DataType::Int64, "int8"),
            Column::new("name", DataType::Text, "text"),
            Column::new("amount", DataType::Numeric, "numeric"),
            Column::new("at", DataType::TimestampTz, "timestamptz"),
            Column::new("ok", DataType::Bool, "bool"),
            Column::new("note", DataType::Text, "text"),
        ]));
        let rows = 10_000;
        let mut b = Batch::with_capacity(schema.clone(), rows);
        for i in 0..rows as i64 {
            b.push_row([
                Value::Int64(i),
                Value::Text(format!("customer {i}")),
                Value::Numeric(format!("{i}.25")),
                Value::TimestampTz(i * 1_000_000),
                Value::Bool(i % 2 == 0),
                if i % 7 == 0 {
                    Value::Null
                } else {
                    Value::Text("some note".into())
                },
            ]);
        }
        let t = std::time::Instant::now();
        let w = batch_to_wit(b).unwrap();
        let out = t.elapsed();
        let t = std::time::Instant::now();
        let back = batch_from_wit(&schema, w).unwrap();
        let inn = t.elapsed();
        assert_eq!(back.num_rows(), rows);
        eprintln!("convert 10k x 6: to wit {out:?}, from wit {inn:?}");
    }
}
