//! The engine's value model: one cell of a [`Batch`](crate::types::batch::Batch).
//!
//! Every PostgreSQL built-in type maps onto one variant without loss. Types that the engine does
//! not model (geometric, tsvector, composite, bit strings, ...) are read as their PostgreSQL text
//! form (`Value::Text`) by the source, which PostgreSQL accepts back losslessly; see
//! `connectors::postgres::types` for the mapping.
//!
//! Date/time values keep PostgreSQL's own epoch and resolution (microseconds since
//! 2000-01-01) so they round-trip bit for bit, including `infinity` and `-infinity`.

use std::net::IpAddr;

/// Microseconds since 2000-01-01 00:00:00; `i64::MAX` is `infinity`, `i64::MIN` is `-infinity`.
pub type PgTimestamp = i64;
/// Days since 2000-01-01; `i32::MAX` is `infinity`, `i32::MIN` is `-infinity`.
pub type PgDate = i32;

/// One cell value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    /// Exact decimal in PostgreSQL's text form (`-12.340`, `NaN`, `Infinity`, `-Infinity`):
    /// any precision and scale survives, unlike a fixed-width decimal type.
    Numeric(String),
    /// `money` in the currency's smallest unit (cents), as PostgreSQL stores it.
    Money(i64),
    /// text, varchar, char, name, xml, enum labels and the text form of unmodelled types.
    Text(String),
    Bytes(Vec<u8>),
    Uuid([u8; 16]),
    /// json or jsonb document text.
    Json(String),
    Date(PgDate),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight and the zone's offset in seconds east of UTC.
    TimeTz {
        micros: i64,
        offset_secs: i32,
    },
    Timestamp(PgTimestamp),
    /// UTC instant.
    TimestampTz(PgTimestamp),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Inet {
        addr: IpAddr,
        prefix: u8,
        cidr: bool,
    },
    MacAddr([u8; 6]),
    Array(Box<ArrayValue>),
    Range(Box<RangeValue>),
}

/// A PostgreSQL array of any dimension, elements in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayValue {
    /// `(length, lower bound)` per dimension; empty for an empty array.
    pub dims: Vec<(i32, i32)>,
    pub elements: Vec<Value>,
}

/// A PostgreSQL range; `None` bounds are unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeValue {
    pub empty: bool,
    pub lower: Option<Value>,
    pub upper: Option<Value>,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Approximate memory a value held in a row takes: its payload plus the `Value` itself.
    pub fn held_size(&self) -> usize {
        self.byte_size() + std::mem::size_of::<Value>()
    }

    /// Approximate payload size in bytes, used for `dataRead`/`dataWritten` and throughput.
    pub fn byte_size(&self) -> usize {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int16(_) => 2,
            Value::Int32(_) | Value::Float32(_) | Value::Date(_) => 4,
            Value::Int64(_)
            | Value::Float64(_)
            | Value::Money(_)
            | Value::Time(_)
            | Value::Timestamp(_)
            | Value::TimestampTz(_) => 8,
            Value::TimeTz { .. } => 12,
            Value::Interval { .. } | Value::Uuid(_) => 16,
            Value::Numeric(s) | Value::Text(s) | Value::Json(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Inet { addr, .. } => match addr {
                IpAddr::V4(_) => 8,
                IpAddr::V6(_) => 20,
            },
            Value::MacAddr(_) => 6,
            Value::Array(a) => a.elements.iter().map(Value::byte_size).sum::<usize>() + 12,
            Value::Range(r) => {
                1 + r.lower.as_ref().map_or(0, Value::byte_size)
                    + r.upper.as_ref().map_or(0, Value::byte_size)
            }
        }
    }
}
