//! One value model for the Sluice engine (`host/`) and the plugin SDK (`guest-plugins/sdk`), so
//! that a value crosses the plugin boundary without loss: the engine reads a cell from
//! PostgreSQL or a file into a [`Value`], a plugin sees that same `Value`, and what the plugin
//! returns is the engine's `Value` again. Defining it once keeps the two sides from drifting
//! apart variant by variant.
//!
//! Every PostgreSQL built-in type maps onto one variant without loss. Types the engine does not
//! model (geometric, tsvector, composite, bit strings, ...) are read as their PostgreSQL text
//! form (`Value::Text`), which PostgreSQL accepts back losslessly.
//!
//! Date/time values keep PostgreSQL's own epoch and resolution (microseconds since
//! 2000-01-01) so they round-trip bit for bit, including `infinity` and `-infinity`; numeric
//! stays in its text form, so any precision and scale survives.
//!
//! Beside the value itself: [`ScalarType`], the leaf types (the WIT `scalar-type`), and
//! [`wit_encoding`], how the WIT carries the values it gives no byte order of its own (uuid,
//! macaddr, inet addresses). Both sides must encode those alike.
//!
//! Standard library only, no dependencies: the host builds this crate natively, the SDK for
//! `wasm32-wasip2`.

use std::net::IpAddr;

mod scalar_type;
pub mod wit_encoding;

pub use scalar_type::ScalarType;

/// Microseconds since 2000-01-01 00:00:00; `i64::MAX` is `infinity`, `i64::MIN` is `-infinity`.
pub type PgTimestamp = i64;
/// Days since 2000-01-01; `i32::MAX` is `infinity`, `i32::MIN` is `-infinity`.
pub type PgDate = i32;

/// One cell value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
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
    /// The 16 bytes in network order.
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArrayValue {
    /// `(length, lower bound)` per dimension; empty for an empty array.
    pub dims: Vec<(i32, i32)>,
    /// Leaf values or `Value::Null`. The engine also holds ranges here (PostgreSQL arrays of
    /// ranges), but those cannot cross the plugin boundary: a plugin sees only leaves and NULL.
    pub elements: Vec<Value>,
}

/// A PostgreSQL range; `None` bounds are unbounded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeValue {
    pub empty: bool,
    pub lower: Option<Value>,
    pub upper: Option<Value>,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
}

impl Value {
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a `Text`, `Json` or `Numeric` value.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Json(s) | Value::Numeric(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer value widened to `i64`.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => None,
        }
    }

    /// Any number as `f64`: integers, floats, and numeric text (`NaN`, `Infinity` included).
    /// Large integers and long decimals round; compare exactly with the values themselves.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int16(v) => Some((*v).into()),
            Value::Int32(v) => Some((*v).into()),
            Value::Int64(v) => Some(*v as f64),
            Value::Float32(v) => Some((*v).into()),
            Value::Float64(v) => Some(*v),
            Value::Numeric(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The variant's name as the WIT spells its types (`null`, `int64`, `timestamptz`,
    /// `array`), for error messages.
    #[inline]
    pub fn kind(&self) -> &'static str {
        match self {
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

    /// The scalar type of a non-null leaf value; `None` for NULL, arrays and ranges.
    #[inline]
    pub fn scalar_type(&self) -> Option<ScalarType> {
        Some(match self {
            Value::Null | Value::Array(_) | Value::Range(_) => return None,
            Value::Bool(_) => ScalarType::Boolean,
            Value::Int16(_) => ScalarType::Int16,
            Value::Int32(_) => ScalarType::Int32,
            Value::Int64(_) => ScalarType::Int64,
            Value::Float32(_) => ScalarType::Float32,
            Value::Float64(_) => ScalarType::Float64,
            Value::Numeric(_) => ScalarType::Numeric,
            Value::Money(_) => ScalarType::Money,
            Value::Text(_) => ScalarType::Text,
            Value::Bytes(_) => ScalarType::Bytes,
            Value::Uuid(_) => ScalarType::Uuid,
            Value::Json(_) => ScalarType::Json,
            Value::Date(_) => ScalarType::Date,
            Value::Time(_) => ScalarType::Time,
            Value::TimeTz { .. } => ScalarType::TimeTz,
            Value::Timestamp(_) => ScalarType::Timestamp,
            Value::TimestampTz(_) => ScalarType::TimestampTz,
            Value::Interval { .. } => ScalarType::Interval,
            Value::Inet { .. } => ScalarType::Inet,
            Value::MacAddr(_) => ScalarType::MacAddr,
        })
    }

    /// Approximate memory a value held in a row takes: its payload plus the `Value` itself.
    #[inline]
    pub fn held_size(&self) -> usize {
        self.byte_size() + std::mem::size_of::<Value>()
    }

    /// Approximate payload size in bytes, used for `dataRead`/`dataWritten` and throughput.
    #[inline]
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

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i16> for Value {
    fn from(v: i16) -> Self {
        Value::Int16(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int32(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float32(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_scalar_type_agree() {
        let leaves = [
            Value::Bool(true),
            Value::Int16(1),
            Value::Int32(1),
            Value::Int64(1),
            Value::Float32(1.0),
            Value::Float64(1.0),
            Value::Numeric("1".into()),
            Value::Money(1),
            Value::Text("a".into()),
            Value::Bytes(vec![1]),
            Value::Uuid([0; 16]),
            Value::Json("{}".into()),
            Value::Date(0),
            Value::Time(0),
            Value::TimeTz {
                micros: 0,
                offset_secs: 0,
            },
            Value::Timestamp(0),
            Value::TimestampTz(0),
            Value::Interval {
                months: 0,
                days: 0,
                micros: 0,
            },
            Value::Inet {
                addr: IpAddr::from([127, 0, 0, 1]),
                prefix: 32,
                cidr: false,
            },
            Value::MacAddr([0; 6]),
        ];
        assert_eq!(leaves.len(), ScalarType::ALL.len());
        for (v, t) in leaves.iter().zip(ScalarType::ALL) {
            assert_eq!(v.scalar_type(), Some(t));
            assert_eq!(v.kind(), t.name());
        }
        for v in [
            Value::Null,
            Value::Array(Box::default()),
            Value::Range(Box::default()),
        ] {
            assert_eq!(v.scalar_type(), None);
        }
    }

    #[test]
    fn accessors_and_sizes() {
        assert_eq!(Value::default(), Value::Null);
        assert!(Value::from(None::<i32>).is_null());
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::Int16(-3).as_i64(), Some(-3));
        assert_eq!(Value::Numeric(" 2.5 ".into()).as_f64(), Some(2.5));
        assert_eq!(Value::Float32(1.0).as_i64(), None);
        assert_eq!(Value::Text("abc".into()).byte_size(), 3);
        let array = Value::Array(Box::new(ArrayValue {
            dims: vec![(2, 1)],
            elements: vec![Value::Int32(1), Value::Null],
        }));
        assert_eq!(array.byte_size(), 4 + 12);
        assert_eq!(
            Value::Null.held_size(),
            std::mem::size_of::<Value>(),
            "NULL holds only the Value itself"
        );
    }
}
